//! Between the ladder and a saved profile: the profile's winning configuration as planner
//! knobs (tried first, and the strength a later connect must not silently fall below), and
//! a finished run written back as the profile's new state. Pure conversions; the store does
//! the file I/O.

use std::net::SocketAddr;

use rdpshim_profiles::model::{
    Dial as SavedDial, OutcomeRecord, PinnedCertificate, Profile, Winning, WinningGateway,
};

use crate::attempt::{TlsChoice, TlsStack, TlsVersion};
use crate::ladder::{Run, Success};
use crate::planner::{
    Dial, GatewayAuth, GatewayTransport, Knobs, Nla, Remembered, Route, ViaGateway,
};
use crate::report::{CertificateInfo, GatewayLeg};

/// Everything the planner takes from a profile: the configuration to try first, the
/// strength to defend, the addresses that worked.
pub fn remembered(profile: &Profile) -> Remembered {
    Remembered {
        preferred: preferred(profile),
        baseline: baseline(profile),
        addresses: known_addresses(profile),
    }
}

/// The configuration to try first: the profile's winning one, else what an imported `.rdp`
/// said about NLA (`enablecredsspsupport:i:0`); `None` when there is nothing to go on or it
/// does not parse (a hand edit gone wrong: the ladder then starts from the strongest).
pub fn preferred(profile: &Profile) -> Option<Knobs> {
    if profile.winning.is_some() {
        return knobs(profile);
    }
    let nla_off = profile
        .rdp_extra
        .get("enablecredsspsupport")
        .is_some_and(|v| v.trim() == "i:0");
    nla_off.then(|| Knobs {
        nla: Nla::Off,
        ..Knobs::strongest()
    })
}

/// The configuration that connected before, if the profile has seen a success: the
/// strength below which the ladder refuses to go without `--accept-downgrade`.
pub fn baseline(profile: &Profile) -> Option<Knobs> {
    profile.last_success.as_ref()?;
    knobs(profile)
}

/// The profile's winning configuration as knobs.
pub fn knobs(profile: &Profile) -> Option<Knobs> {
    let winning = profile.winning.as_ref()?;
    let dial = match winning.dial {
        SavedDial::Name => Dial::ByName,
        SavedDial::Ip => Dial::Ip(winning.address.as_deref()?.parse::<SocketAddr>().ok()?),
    };
    let route = match &winning.gateway {
        None => Route::Direct,
        Some(leg) => Route::Gateway(ViaGateway {
            tls: tls_choice(&leg.tls_stack, leg.tls_version.as_deref(), &leg.ciphers)?,
            transport: GatewayTransport::parse(&leg.transport)?,
            auth: GatewayAuth::parse(&leg.auth)?,
        }),
    };
    Some(Knobs {
        dial,
        ip_as_server_name: winning.ip_as_server_name,
        nla: Nla::exact(winning.nla),
        tls: tls_choice(
            &winning.tls_stack,
            winning.tls_version.as_deref(),
            &winning.ciphers,
        )?,
        udp: winning.udp,
        route,
    })
}

/// A TLS choice as a profile writes it; `None` for a stack or version this build does not
/// know (a hand edit gone wrong).
fn tls_choice(stack: &str, version: Option<&str>, ciphers: &Option<String>) -> Option<TlsChoice> {
    Some(TlsChoice {
        stack: TlsStack::parse(stack)?,
        version: match version {
            None => None,
            Some(text) => Some(TlsVersion::parse(text)?),
        },
        ciphers: ciphers.clone(),
    })
}

/// The winning attempt's gateway leg, as a profile keeps it.
fn winning_gateway(via: &ViaGateway, leg: Option<&GatewayLeg>) -> WinningGateway {
    WinningGateway {
        tls_stack: via.tls.stack.as_str().to_owned(),
        tls_version: via.tls.version.map(|v| v.as_str().to_owned()),
        ciphers: via.tls.ciphers.clone(),
        transport: via.transport.as_str().to_owned(),
        auth: via.auth.as_str().to_owned(),
        transport_used: leg.and_then(|l| l.transport).map(|t| t.as_str().to_owned()),
        negotiated_tls_version: leg
            .and_then(|l| l.tls.as_ref())
            .map(|t| t.version.as_str().to_owned()),
        negotiated_cipher: leg.and_then(|l| l.tls.as_ref()).map(|t| t.cipher.clone()),
    }
}

/// Addresses that worked before, last good first (for when DNS fails).
pub fn known_addresses(profile: &Profile) -> Vec<SocketAddr> {
    profile
        .addresses
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// What a successful run leaves in the profile.
pub struct SuccessRecord<'a> {
    pub run: &'a Run,
    pub success: &'a Success,
    pub username: Option<String>,
    pub domain: Option<String>,
    /// Replace a pinned certificate that differs (`--accept-new-cert`).
    pub accept_new_cert: bool,
    /// RFC 3339 UTC.
    pub now: &'a str,
}

/// Writes a successful run into `profile` (a fresh one when there was none).
pub fn record_success(
    profile: Option<Profile>,
    host: &str,
    port: u16,
    record: &SuccessRecord<'_>,
) -> Profile {
    let mut profile = profile.unwrap_or_else(|| Profile::new(host, port, record.now));
    let Some(step) = record.run.steps.last() else {
        return profile;
    };
    let report = &step.report;
    let winner = &record.success.winner;
    let winning = Winning {
        dial: match winner.dial {
            Dial::ByName => SavedDial::Name,
            Dial::Ip(_) => SavedDial::Ip,
        },
        address: report.address.map(|a| a.to_string()),
        server_name: report.server_name.clone(),
        ip_as_server_name: winner.ip_as_server_name,
        nla: winner.nla.is_on(),
        tls_stack: winner.tls.stack.as_str().to_owned(),
        tls_version: winner.tls.version.map(|v| v.as_str().to_owned()),
        ciphers: winner.tls.ciphers.clone(),
        negotiated_tls_version: report.tls.as_ref().map(|t| t.version.as_str().to_owned()),
        negotiated_cipher: report.tls.as_ref().map(|t| t.cipher.clone()),
        udp: winner.udp,
        grade: winner.grade().as_str().to_owned(),
        fallbacks: record
            .success
            .fallbacks
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect(),
        gateway: winner
            .route
            .gateway()
            .map(|via| winning_gateway(via, report.gateway.as_ref())),
    };
    // A success that started from the saved configuration and needed no fallback keeps the
    // history of how that configuration was found. (Compared with what the run offered
    // first, not with the winner as used: a profile saved before the legacy hello was
    // recorded exactly has no suite, and the winner now has one.)
    let first = record.run.steps.first().map(|s| &s.knobs);
    let winning = match &profile.winning {
        Some(old) if winning.fallbacks.is_empty() && knobs(&profile).as_ref() == first => Winning {
            fallbacks: old.fallbacks.clone(),
            ..winning
        },
        _ => winning,
    };
    profile.record_success(winning, record.now);
    if record.username.is_some() {
        profile.username = record.username.clone();
        profile.domain = record.domain.clone();
    }
    if let Some(cert) = &report.certificate {
        let keep_old = profile
            .certificate
            .as_ref()
            .is_some_and(|pinned| !record.accept_new_cert && pinned.sha256 != cert.sha256);
        if !keep_old {
            profile.certificate = Some(pin(cert));
        }
    }
    profile.record_outcome(outcome(record.run, record.now));
    profile
}

/// Writes the run's gateway into `profile`: where it is, when to use it, its own account
/// (never a password), and the certificate the winning attempt's gateway leg showed,
/// pinned on first use (a pinned one that differs is kept unless `accept_new_cert`; a
/// different gateway gets a fresh pin). `.rdp` settings of the same gateway are kept.
pub fn record_gateway(
    profile: &mut Profile,
    gateway: &super::GatewayRequest,
    run: &Run,
    accept_new_cert: bool,
) {
    use rdpshim_profiles::model::{Gateway, GatewayUsage as SavedUsage};
    let same = profile
        .gateway
        .take()
        .filter(|g| g.host.eq_ignore_ascii_case(&gateway.host) && g.port == gateway.port);
    let mut saved = same.unwrap_or_else(|| Gateway::new(gateway.host.clone(), gateway.port));
    saved.usage = match gateway.usage {
        crate::planner::GatewayUsage::Always => SavedUsage::Always,
        crate::planner::GatewayUsage::Detect => SavedUsage::Detect,
    };
    if gateway.user.is_some() {
        saved.username.clone_from(&gateway.user);
        saved.domain.clone_from(&gateway.domain);
    }
    let seen = run
        .steps
        .last()
        .and_then(|s| s.report.gateway.as_ref())
        .and_then(|leg| leg.certificate.as_ref());
    if let Some(cert) = seen {
        let keep_old = saved
            .certificate
            .as_ref()
            .is_some_and(|pinned| !accept_new_cert && pinned.sha256 != cert.sha256);
        if !keep_old {
            saved.certificate = Some(pin(cert));
        }
    }
    profile.gateway = Some(saved);
}

/// Records a failed run in an existing profile's history (a failure never creates one).
pub fn record_failure(profile: Profile, run: &Run, now: &str) -> Profile {
    let mut profile = profile;
    profile.record_outcome(outcome(run, now));
    profile
}

fn outcome(run: &Run, now: &str) -> OutcomeRecord {
    let last = run.steps.last().map(|s| &s.report);
    OutcomeRecord {
        at: now.to_owned(),
        outcome: match last.map(|r| &r.result) {
            Some(Ok(_)) => "ok".to_owned(),
            Some(Err(failure)) => failure.class.as_str().to_owned(),
            None => "no-attempt".to_owned(),
        },
        stage: last
            .map(|r| r.stage().as_str().to_owned())
            .unwrap_or_default(),
        attempts: run.steps.len() as u32,
        fallbacks: run
            .result
            .as_ref()
            .map(|s| s.fallbacks.iter().map(|f| f.as_str().to_owned()).collect())
            .unwrap_or_default(),
    }
}

pub fn pin(cert: &CertificateInfo) -> PinnedCertificate {
    PinnedCertificate {
        sha256: cert.sha256.clone(),
        subject: cert.subject.clone(),
        issuer: cert.issuer.clone(),
        not_before: cert.not_before.clone(),
        not_after: cert.not_after.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn winning(dial: SavedDial, stack: &str, version: Option<&str>) -> Winning {
        Winning {
            dial,
            address: Some("127.0.0.1:3390".into()),
            server_name: "srv".into(),
            ip_as_server_name: false,
            nla: false,
            tls_stack: stack.into(),
            tls_version: version.map(str::to_owned),
            ciphers: None,
            negotiated_tls_version: Some("1.0".into()),
            negotiated_cipher: None,
            udp: true,
            grade: "no-nla".into(),
            fallbacks: vec![],
            gateway: None,
        }
    }

    #[test]
    fn saved_knobs_round_trip() {
        let mut profile = Profile::new("srv", 3390, "2026-01-01T00:00:00Z");
        profile.winning = Some(winning(SavedDial::Ip, "openssl", Some("1.0")));
        let k = knobs(&profile).unwrap();
        assert_eq!(k.dial, Dial::Ip("127.0.0.1:3390".parse().unwrap()));
        assert_eq!(k.tls.stack, TlsStack::Openssl);
        assert_eq!(k.tls.version, Some(TlsVersion::Tls10));
        assert_eq!(k.nla, Nla::Off);
    }

    #[test]
    fn imported_nla_off_is_a_preference_only() {
        let mut profile = Profile::new("srv", 3389, "2026-01-01T00:00:00Z");
        assert!(preferred(&profile).is_none());
        profile
            .rdp_extra
            .insert("enablecredsspsupport".into(), "i:0".into());
        assert_eq!(preferred(&profile).unwrap().nla, Nla::Off);
        assert!(baseline(&profile).is_none(), "never connected: no baseline");
    }

    #[test]
    fn a_hand_edit_gone_wrong_is_ignored_not_fatal() {
        let mut profile = Profile::new("srv", 3390, "2026-01-01T00:00:00Z");
        profile.winning = Some(winning(SavedDial::Name, "gnutls", None));
        assert!(knobs(&profile).is_none());
        profile.winning = Some(winning(SavedDial::Name, "rustls", Some("2.0")));
        assert!(knobs(&profile).is_none());
        profile.winning = Some(winning(SavedDial::Name, "rustls", None));
        assert_eq!(knobs(&profile).unwrap().dial, Dial::ByName);
    }
}
