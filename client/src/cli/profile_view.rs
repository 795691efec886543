//! `rdpshim profile show` for people: what works on the host and at what cost, the
//! certificate it pins and how long that has left, the last outcomes. Every value is
//! escaped (a profile holds server text, and may have been edited by hand); `--json` and
//! `--toml` give the exact values.

use std::fmt::Write as _;
use std::path::Path;

use rdpshim::terminal::escape;
use rdpshim_profiles::model::{Dial, Gateway, GatewayUsage, Winning};
use rdpshim_profiles::store::timestamp::days_between;
use rdpshim_profiles::Profile;

/// The summary of `profile` (read from `file`), with the certificate's days left counted
/// from `now` (RFC 3339).
pub fn summary(profile: &Profile, file: &Path, now: &str) -> String {
    let mut out = String::new();
    let e = |text: &str| escape(text).into_owned();
    let host = rdpshim::host::HostPort {
        host: profile.host.clone(),
        port: profile.port,
    };
    let _ = writeln!(out, "{}", e(&host.label()));
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<13} {value}");
    };

    let user = match (profile.username.as_deref(), profile.domain.as_deref()) {
        (Some(user), Some(domain)) if !domain.is_empty() => format!("{}\\{}", e(domain), e(user)),
        (Some(user), _) => e(user),
        (None, _) => "none saved (TLS-only logon, or not asked yet)".to_owned(),
    };
    row("user", user);

    match &profile.winning {
        Some(w) => {
            row("works", works(w));
            row(
                "fallbacks",
                if w.fallbacks.is_empty() {
                    "none: what mstsc does worked".to_owned()
                } else {
                    e(&w.fallbacks.join(", "))
                },
            );
            row("grade", grade(&w.grade));
        }
        None => row(
            "works",
            "nothing yet (no connection has succeeded; `rdpshim connect` finds one)".to_owned(),
        ),
    }
    if !profile.addresses.is_empty() {
        row("addresses", e(&profile.addresses.join(", ")));
    }
    if let Some(g) = &profile.gateway {
        row("gateway", gateway(g, profile.winning.as_ref()));
        if let Some(c) = &g.certificate {
            row("", format!("its certificate sha256 {}", e(&c.sha256)));
        }
    }

    match &profile.certificate {
        Some(c) => {
            row(
                "certificate",
                format!("{} (issuer {})", e(&c.subject), e(&c.issuer)),
            );
            row("", format!("sha256 {}", e(&c.sha256)));
            row("", validity(&c.not_before, &c.not_after, now));
        }
        None => row("certificate", "none pinned".to_owned()),
    }
    row(
        "last success",
        profile
            .last_success
            .as_deref()
            .map_or_else(|| "never".to_owned(), e),
    );
    if profile.outcomes.is_empty() {
        row("outcomes", "none recorded".to_owned());
    }
    for (i, o) in profile.outcomes.iter().rev().take(5).enumerate() {
        let mut line = format!("{}  {}", e(&o.at), e(&o.outcome));
        if o.outcome != "ok" && !o.stage.is_empty() {
            let _ = write!(line, " at {}", e(&o.stage));
        }
        let _ = write!(
            line,
            ", {} attempt{}",
            o.attempts,
            if o.attempts == 1 { "" } else { "s" }
        );
        if !o.fallbacks.is_empty() {
            let _ = write!(line, ", {}", e(&o.fallbacks.join(" + ")));
        }
        row(if i == 0 { "last outcomes" } else { "" }, line);
    }
    row("file", e(&file.display().to_string()));
    out
}

/// `rdg.corp:443, always, the host's account; last through it: TLS 1.2 (rustls), websocket`.
fn gateway(g: &Gateway, winning: Option<&Winning>) -> String {
    let e = |text: &str| escape(text).into_owned();
    let endpoint = rdpshim::host::HostPort {
        host: g.host.clone(),
        port: g.port,
    };
    let usage = match g.usage {
        GatewayUsage::Always => "always",
        GatewayUsage::Detect => "when the host cannot be reached directly",
        _ => "not used (the .rdp file's setting, kept for export)",
    };
    let account = match (g.username.as_deref(), g.domain.as_deref()) {
        (Some(user), Some(domain)) if !domain.is_empty() => {
            format!("account {}\\{}", e(domain), e(user))
        }
        (Some(user), _) => format!("account {}", e(user)),
        (None, _) => "the host's account".to_owned(),
    };
    let mut out = format!("{}, {usage}, {account}", e(&endpoint.label()));
    match winning.and_then(|w| w.gateway.as_ref()) {
        Some(leg) => {
            let version = leg
                .negotiated_tls_version
                .as_deref()
                .or(leg.tls_version.as_deref())
                .unwrap_or("auto");
            let transport = leg.transport_used.as_deref().unwrap_or(&leg.transport);
            let _ = write!(
                out,
                "; last through it: TLS {} ({}), {}",
                e(version),
                e(&leg.tls_stack),
                e(transport)
            );
        }
        None if winning.is_some() => out.push_str("; the last success went directly"),
        None => {}
    }
    out
}

/// `NLA, TLS 1.0 (openssl, ECDHE-RSA-AES128-SHA), UDP off, by IP 192.0.2.5:3389`.
fn works(w: &Winning) -> String {
    let e = |text: &str| escape(text).into_owned();
    let version = w
        .negotiated_tls_version
        .as_deref()
        .or(w.tls_version.as_deref())
        .unwrap_or("auto");
    let mut tls = format!("TLS {} ({}", e(version), e(&w.tls_stack));
    if let Some(cipher) = w.negotiated_cipher.as_deref().or(w.ciphers.as_deref()) {
        let _ = write!(tls, ", {}", e(cipher));
    }
    tls.push(')');
    let dial = match (w.dial, w.address.as_deref()) {
        (Dial::Ip, Some(address)) => format!("by IP {}", e(address)),
        (Dial::Name, Some(address)) => format!("by name ({})", e(address)),
        (_, None) => "by name".to_owned(),
    };
    let name = if w.ip_as_server_name {
        ", the IP as server name"
    } else {
        ""
    };
    format!(
        "{}, {tls}, UDP {}, {dial}{name}",
        if w.nla {
            "NLA"
        } else {
            "no NLA (TLS-only logon)"
        },
        if w.udp { "on" } else { "off" }
    )
}

/// The grade and what it means (the `--min-security` levels).
fn grade(grade: &str) -> String {
    let meaning = match grade {
        "modern" => "NLA with rustls: TLS 1.3/1.2, AEAD suites only",
        "tls12" => "NLA with TLS 1.2 at least (CBC suites allowed)",
        "legacy" => "NLA with a TLS version below 1.2 or legacy suites",
        "no-nla" => "no NLA: the logon happens inside the session",
        _ => "unknown grade",
    };
    format!("{} ({meaning})", escape(grade))
}

/// `valid 2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z: 32 days left` (or `EXPIRED 3 days
/// ago`, `not yet valid`).
fn validity(not_before: &str, not_after: &str, now: &str) -> String {
    let e = |text: &str| escape(text).into_owned();
    let mut text = format!("valid {} to {}", e(not_before), e(not_after));
    match (days_between(now, not_before), days_between(now, not_after)) {
        (Some(start), _) if start > 0 => {
            let _ = write!(text, ": not yet valid (starts in {start} days)");
        }
        (_, Some(left)) if left < 0 => {
            let _ = write!(
                text,
                ": EXPIRED {} day{} ago",
                -left,
                if left == -1 { "" } else { "s" }
            );
        }
        (_, Some(left)) => {
            let _ = write!(
                text,
                ": {left} day{} left",
                if left == 1 { "" } else { "s" }
            );
        }
        _ => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdpshim_profiles::model::{OutcomeRecord, PinnedCertificate};

    const NOW: &str = "2026-11-21T12:00:00Z";

    fn profile() -> Profile {
        let mut p = Profile::new("old.example", 3390, NOW);
        p.username = Some("alice".into());
        p.domain = Some("CORP".into());
        p.record_success(
            Winning {
                dial: Dial::Ip,
                address: Some("192.0.2.5:3390".into()),
                server_name: "old.example".into(),
                ip_as_server_name: false,
                nla: true,
                tls_stack: "openssl".into(),
                tls_version: None,
                ciphers: None,
                negotiated_tls_version: Some("1.0".into()),
                negotiated_cipher: Some("ECDHE-RSA-AES128-SHA".into()),
                udp: false,
                grade: "legacy".into(),
                fallbacks: vec!["tls-version-downgrade".into()],
                gateway: None,
            },
            NOW,
        );
        p.certificate = Some(PinnedCertificate {
            sha256: "AB:CD".into(),
            subject: "CN=old\u{1b}[2J".into(),
            issuer: "CN=old".into(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2026-12-21T12:00:00Z".into(),
        });
        p.record_outcome(OutcomeRecord {
            at: "2026-11-20T08:00:00Z".into(),
            outcome: "tls-version-mismatch".into(),
            stage: "tls".into(),
            attempts: 3,
            fallbacks: vec![],
        });
        p.record_outcome(OutcomeRecord {
            at: NOW.into(),
            outcome: "ok".into(),
            stage: "first-frame".into(),
            attempts: 4,
            fallbacks: vec!["tls-version-downgrade".into()],
        });
        p
    }

    #[test]
    fn a_summary_says_what_works_its_cost_the_certificate_and_the_history() {
        let text = summary(&profile(), Path::new("/p/old.example_3390.toml"), NOW);
        for expected in [
            "old.example:3390\n",
            "  user          CORP\\alice\n",
            "  works         NLA, TLS 1.0 (openssl, ECDHE-RSA-AES128-SHA), UDP off, by IP 192.0.2.5:3390\n",
            "  fallbacks     tls-version-downgrade\n",
            "  grade         legacy (NLA with a TLS version below 1.2 or legacy suites)\n",
            "  certificate   CN=old\\x1b[2J (issuer CN=old)\n",
            "                sha256 AB:CD\n",
            ": 30 days left\n",
            "  last outcomes 2026-11-21T12:00:00Z  ok, 4 attempts, tls-version-downgrade\n",
            "                2026-11-20T08:00:00Z  tls-version-mismatch at tls, 3 attempts\n",
            "  file          /p/old.example_3390.toml\n",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        assert!(!text.contains('\u{1b}'), "escaped");
    }

    #[test]
    fn expiry() {
        assert!(
            validity("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", NOW)
                .ends_with("EXPIRED 2150 days ago")
        );
        assert!(
            validity("2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", NOW).contains("not yet valid")
        );
        assert_eq!(validity("x", "y", NOW), "valid x to y");
    }

    #[test]
    fn a_gateway_says_where_when_whose_account_and_how_it_was_last_crossed() {
        let mut p = profile();
        let mut gateway = Gateway::new("rdg.example", 443);
        gateway.username = Some("bob".into());
        gateway.domain = Some("EDGE".into());
        p.gateway = Some(gateway);
        let text = summary(&p, Path::new("/p/old.toml"), NOW);
        assert!(
            text.contains("  gateway       rdg.example:443, always, account EDGE\\bob; the last success went directly\n"),
            "{text}"
        );
        if let Some(w) = p.winning.as_mut() {
            w.gateway = Some(rdpshim_profiles::model::WinningGateway {
                tls_stack: "openssl".into(),
                tls_version: None,
                ciphers: None,
                transport: "auto".into(),
                auth: "offered".into(),
                transport_used: Some("legacy-http".into()),
                negotiated_tls_version: Some("1.0".into()),
                negotiated_cipher: None,
            });
        }
        let text = summary(&p, Path::new("/p/old.toml"), NOW);
        assert!(
            text.contains("; last through it: TLS 1.0 (openssl), legacy-http\n"),
            "{text}"
        );
    }

    #[test]
    fn a_profile_without_a_success() {
        let p = Profile::new("h", 3389, NOW);
        let text = summary(&p, Path::new("/p/h.toml"), NOW);
        assert!(text.contains("works         nothing yet"), "{text}");
        assert!(text.contains("certificate   none pinned"));
        assert!(text.contains("last success  never"));
    }
}
