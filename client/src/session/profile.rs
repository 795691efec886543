//! A session and the host's saved profile: read it before the run (a profile that cannot be
//! read is reported and left alone), start the request from it, and record the run in it
//! afterwards. The conversions themselves are [`super::saved`].

use rdpshim_profiles::store::timestamp::now_rfc3339;
use rdpshim_profiles::{Profile, ProfileStore, StoreError};

use rdpshim_profiles::model::{Gateway, GatewayUsage as SavedUsage};

use super::frontend::{Frontend, Notice};
use super::saved;
use super::{ConnectRequest, GatewayRequest};
use crate::ladder::{GatewayAccount, GatewayTarget, Run};
use crate::planner::GatewayUsage;

/// The default profile store, or `None` (with a notice) when there is no profile directory.
pub fn open_store(frontend: &mut dyn Frontend) -> Option<ProfileStore> {
    match ProfileStore::open_default() {
        Ok(store) => Some(store),
        Err(error) => {
            frontend.notice(&Notice::NoProfileDirectory(error));
            None
        }
    }
}

/// The saved profile of `host:port`; `None` when there is none, or (with a notice) when it
/// cannot be read: never fatal, and the file is left as it is.
pub fn load(
    store: &ProfileStore,
    host: &str,
    port: u16,
    frontend: &mut dyn Frontend,
) -> Option<Profile> {
    match store.load(host, port) {
        Ok(profile) => profile,
        Err(error) => {
            frontend.notice(&Notice::ProfileUnreadable {
                host: host.to_owned(),
                port,
                error,
            });
            None
        }
    }
}

/// Starts `request` from `profile`: its configuration first, its strength defended and its
/// addresses known (the planner ignores these for a single attempt), its certificate pinned
/// (unless the request accepts a new one), its user and domain where the request has none.
pub fn apply(profile: &Profile, request: &mut ConnectRequest) {
    request.ladder.policy.start_from(saved::remembered(profile));
    if !request.accept_new_cert {
        request.ladder.pinned_certificate = profile.certificate.as_ref().map(|c| c.sha256.clone());
    }
    if request.user.is_none() {
        request.user.clone_from(&profile.username);
    }
    if request.domain.is_none() {
        request.domain.clone_from(&profile.domain);
    }
}

/// When a gateway is used: mstsc's usage methods 1 (always) and 2 (when direct fails);
/// 0, 3 and 4 keep the gateway for export but do not use it (3, "the computer's default
/// settings", means group policy, which rdpshim does not read).
pub fn gateway_usage(gateway: &Gateway) -> Option<GatewayUsage> {
    match gateway.usage {
        SavedUsage::Always => Some(GatewayUsage::Always),
        SavedUsage::Detect => Some(GatewayUsage::Detect),
        SavedUsage::Off | SavedUsage::Default | SavedUsage::OffBypassLocal => None,
    }
}

/// Sets the run's gateway: `--gateway` (with the profile's account and pin for that same
/// gateway), else the profile's when it says to use it. The policy learns when to use it,
/// the ladder where it is. (A single attempt's route was pinned from `--gateway` alone.)
pub fn route_through_gateway(saved: Option<&Profile>, request: &mut ConnectRequest) {
    let saved_gateway = saved.and_then(|p| p.gateway.as_ref());
    let chosen = match (&request.gateway, saved_gateway) {
        (Some(given), _) => given.clone(),
        (None, Some(g)) => match gateway_usage(g) {
            Some(usage) => GatewayRequest {
                host: g.host.clone(),
                port: g.port,
                usage,
                user: g.username.clone(),
                domain: g.domain.clone(),
            },
            None => return,
        },
        (None, None) => return,
    };
    let same = saved_gateway.filter(|g| same_gateway(g, &chosen.host, chosen.port));
    let user = chosen
        .user
        .clone()
        .or_else(|| same.and_then(|g| g.username.clone()));
    let domain = chosen
        .domain
        .clone()
        .or_else(|| same.and_then(|g| g.domain.clone()));
    let pinned_certificate = if request.accept_new_cert {
        None
    } else {
        same.and_then(|g| g.certificate.as_ref())
            .map(|c| c.sha256.clone())
    };
    request.ladder.policy.gateway = Some(chosen.usage);
    request.ladder.gateway = Some(GatewayTarget {
        host: chosen.host.clone(),
        port: chosen.port,
        account: user.map(|username| GatewayAccount {
            username,
            domain,
            password: None,
        }),
        pinned_certificate,
    });
    request.gateway = Some(chosen);
}

fn same_gateway(gateway: &Gateway, host: &str, port: u16) -> bool {
    gateway.host.eq_ignore_ascii_case(host) && gateway.port == port
}

/// Records a finished run: a success in the profile (a fresh one when there was none), a
/// failure only in a profile that exists (a failure never creates one). The profile as
/// saved, or `None` when nothing was written.
pub fn record(
    store: &ProfileStore,
    host: &str,
    port: u16,
    run: &Run,
    had_profile: bool,
    accept_new_cert: bool,
    gateway: Option<&GatewayRequest>,
) -> Result<Option<Profile>, StoreError> {
    let now = now_rfc3339();
    match &run.result {
        Ok(success) => {
            let record = success_record(run, success, accept_new_cert, &now);
            store
                .update(host, port, |old| {
                    let mut profile = saved::record_success(old, host, port, &record);
                    if let Some(gateway) = gateway {
                        saved::record_gateway(&mut profile, gateway, run, accept_new_cert);
                    }
                    profile
                })
                .map(Some)
        }
        Err(_) if had_profile => store
            .update(host, port, |old| match old {
                Some(profile) => saved::record_failure(profile, run, &now),
                None => Profile::new(host, port, &now),
            })
            .map(Some),
        Err(_) => Ok(None),
    }
}

/// The profile a successful run would record into `saved` (nothing is written): what
/// `open` hands over when nothing was saved (`--no-save`, no profile directory).
pub fn as_recorded(
    saved: Option<Profile>,
    host: &str,
    port: u16,
    run: &Run,
    accept_new_cert: bool,
) -> Option<Profile> {
    let success = run.result.as_ref().ok()?;
    let now = now_rfc3339();
    let record = success_record(run, success, accept_new_cert, &now);
    Some(saved::record_success(saved, host, port, &record))
}

/// What a success leaves in a profile: the user (and domain) only when NLA used them.
fn success_record<'a>(
    run: &'a Run,
    success: &'a crate::ladder::Success,
    accept_new_cert: bool,
    now: &'a str,
) -> saved::SuccessRecord<'a> {
    let credentials = run.credentials.as_ref();
    let nla = success.winner.nla.is_on();
    saved::SuccessRecord {
        run,
        success,
        username: credentials.map(|c| c.username.clone()).filter(|_| nla),
        domain: credentials.and_then(|c| c.domain.clone()),
        accept_new_cert,
        now,
    }
}

#[cfg(test)]
mod tests {
    use rdpshim_profiles::model::{Dial as SavedDial, PinnedCertificate, Winning};

    use super::*;
    use crate::attempt::StageTimeouts;
    use crate::ladder::Request;
    use crate::planner::Policy;

    fn request(policy: Policy) -> ConnectRequest {
        ConnectRequest::new(Request {
            host: "srv".into(),
            port: 3389,
            policy,
            server_name: None,
            credentials: None,
            timeouts: StageTimeouts::default(),
            screenshot: None,
            pinned_certificate: None,
            gateway: None,
        })
    }

    fn connected_before() -> Profile {
        let mut profile = Profile::new("srv", 3389, "2026-01-01T00:00:00Z");
        profile.username = Some("alice".into());
        profile.domain = Some("CORP".into());
        profile.last_success = Some("2026-01-02T00:00:00Z".into());
        profile.remember_address("10.0.0.7:3389");
        profile.winning = Some(Winning {
            dial: SavedDial::Name,
            address: Some("10.0.0.7:3389".into()),
            server_name: "srv".into(),
            ip_as_server_name: false,
            nla: true,
            tls_stack: "openssl".into(),
            tls_version: Some("1.2".into()),
            ciphers: None,
            negotiated_tls_version: Some("1.2".into()),
            negotiated_cipher: None,
            udp: false,
            grade: "tls12".into(),
            fallbacks: vec!["cipher-downgrade".into()],
            gateway: None,
        });
        profile.certificate = Some(PinnedCertificate {
            sha256: "AB:CD".into(),
            subject: "CN=srv".into(),
            issuer: "CN=srv".into(),
            not_before: String::new(),
            not_after: String::new(),
        });
        profile
    }

    #[test]
    fn a_run_starts_from_the_profile() {
        let mut request = request(Policy::new(None, 3389));
        request.user = Some("bob".into());
        apply(&connected_before(), &mut request);
        let policy = &request.ladder.policy;
        let saved = saved::knobs(&connected_before());
        assert_eq!(policy.profile, saved, "its configuration first");
        assert_eq!(policy.baseline, saved, "its strength defended");
        assert_eq!(policy.known_addresses, ["10.0.0.7:3389".parse().unwrap()]);
        assert_eq!(request.ladder.pinned_certificate.as_deref(), Some("AB:CD"));
        assert_eq!(
            request.user.as_deref(),
            Some("bob"),
            "the caller's user wins"
        );
        assert_eq!(
            request.domain.as_deref(),
            Some("CORP"),
            "the profile's domain fills in"
        );
    }

    #[test]
    fn a_single_attempt_keeps_only_the_pin_and_the_user() {
        let mut request = request(Policy::new(None, 3389).single_attempt());
        request.accept_new_cert = true;
        apply(&connected_before(), &mut request);
        let policy = &request.ladder.policy;
        assert!(policy.profile.is_none() && policy.baseline.is_none());
        assert!(policy.known_addresses.is_empty());
        assert_eq!(request.ladder.pinned_certificate, None, "--accept-new-cert");
        assert_eq!(request.user.as_deref(), Some("alice"));
    }
}
