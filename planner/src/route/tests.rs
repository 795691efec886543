//! The route dimension's tables: every gateway failure from every gateway state, each path
//! (through, around, via the gateway; its TLS rungs, transport and schemes), the usage
//! methods, the floor, the downgrade guard, a single attempt and the gateway scenarios of
//! the lab replayed.

use std::net::SocketAddr;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;
use std::{format, vec};

use super::*;
use crate::causes::CauseId;
use crate::decide::{next, Decision};
use crate::fallback::{downgrades, fallbacks_used};
use crate::knobs::{Dial, Nla};
use crate::policy::{weakened_property, Remembered};
use crate::rungs::{lowest_version, offered_versions, tolerant};
use crate::tls::TlsStack;
use crate::tls::TlsVersion;

const V4: &str = "127.0.0.1:3389";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn policy(usage: Option<GatewayUsage>) -> Policy {
    let mut policy = Policy::new(None, 3389);
    policy.gateway = usage;
    policy
}

fn always() -> Policy {
    policy(Some(GatewayUsage::Always))
}

fn detect() -> Policy {
    policy(Some(GatewayUsage::Detect))
}

fn rung(index: usize) -> TlsChoice {
    tls_ladder(Grade::NoNla)[index].clone()
}

/// What a first attempt offers when nothing requires NLA: mstsc's X.224 request.
fn mstsc() -> Knobs {
    Knobs {
        nla: Nla::Negotiate,
        ..Knobs::strongest()
    }
}

fn via(change: impl FnOnce(&mut ViaGateway)) -> Knobs {
    let mut gateway = ViaGateway::strongest();
    change(&mut gateway);
    Knobs {
        route: Route::Gateway(gateway),
        ..mstsc()
    }
}

fn with(knobs: &Knobs, change: impl FnOnce(&mut Knobs)) -> Knobs {
    let mut k = knobs.clone();
    change(&mut k);
    k
}

/// A failed attempt as the ladder reports it: a direct one resolved the name to one
/// address and dialled it; a gateway one has no target address.
fn failed(knobs: Knobs, stage: Stage, class: FailureClass) -> Tried {
    let direct = !knobs.route.is_gateway();
    let resolved = if direct && stage != Stage::Dns && knobs.dial == Dial::ByName {
        vec![addr(V4)]
    } else {
        Vec::new()
    };
    let dialled = match (&knobs.dial, direct, stage) {
        (_, false, _) | (_, true, Stage::Dns) => None,
        (Dial::Ip(a), true, _) => Some(*a),
        (Dial::ByName, true, _) => Some(addr(V4)),
    };
    Tried {
        knobs,
        with_credentials: true,
        selected: class.selected(),
        failure: Some((stage, class)),
        resolved,
        dialled,
    }
}

fn decide(policy: &Policy, history: &[Tried]) -> Decision {
    next(policy, history, true, Duration::ZERO)
}

fn attempt(policy: &Policy, history: &[Tried]) -> (Knobs, Vec<Fallback>) {
    match decide(policy, history) {
        Decision::Attempt { knobs, fallbacks } | Decision::NeedCredentials { knobs, fallbacks } => {
            (knobs, fallbacks)
        }
        Decision::Verdict(v) => panic!("expected an attempt, got {v:?}"),
    }
}

fn verdict(policy: &Policy, history: &[Tried]) -> Verdict {
    match decide(policy, history) {
        Decision::Verdict(v) => v,
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn auth_failed(offered: &[&str], tried: &[&str]) -> FailureClass {
    FailureClass::GatewayAuthFailed {
        offered: offered.iter().map(|s| s.to_string()).collect(),
        tried: tried.iter().map(|s| s.to_string()).collect(),
    }
}

/// Plays a run against a network that answers each attempt with `answer` (`None`:
/// connected), returning the attempts, the fallbacks each applied, and the verdict.
fn replay(
    policy: &Policy,
    answer: impl Fn(&Knobs) -> Option<(Stage, FailureClass)>,
) -> (Vec<(Knobs, Vec<Fallback>)>, Option<Verdict>) {
    let mut history: Vec<Tried> = Vec::new();
    let mut steps = Vec::new();
    loop {
        match decide(policy, &history) {
            Decision::Attempt { knobs, fallbacks }
            | Decision::NeedCredentials { knobs, fallbacks } => {
                steps.push((knobs.clone(), fallbacks));
                match answer(&knobs) {
                    None => return (steps, None),
                    Some((stage, class)) => history.push(failed(knobs, stage, class)),
                }
                assert!(history.len() <= policy.max_attempts, "{history:?}");
            }
            Decision::Verdict(v) => return (steps, Some(v)),
        }
    }
}

#[test]
fn always_goes_through_the_gateway_first_and_detect_goes_direct_first() {
    assert_eq!(attempt(&always(), &[]), (via(|_| {}), vec![]));
    assert_eq!(attempt(&detect(), &[]), (mstsc(), vec![]));
    assert_eq!(attempt(&policy(None), &[]), (mstsc(), vec![]));
}

/// mstsc's "bypass the RD Gateway for local addresses": the host name does not resolve
/// here (an internal name), so the gateway, which resolves it, is next.
#[test]
fn detect_goes_via_the_gateway_when_the_host_cannot_be_reached_directly() {
    let history = [failed(mstsc(), Stage::Dns, FailureClass::Dns)];
    assert_eq!(
        attempt(&detect(), &history),
        (via(|_| {}), vec![Fallback::ViaGateway])
    );
    // A firewall that drops the host: the resolved address is tried by IP first (what
    // ip-for-hostname does for any host), then the gateway.
    let (steps, end) = replay(&detect(), |k| match k.route {
        Route::Direct => Some((Stage::Tcp, FailureClass::TcpTimeout)),
        Route::Gateway(_) => None,
    });
    assert!(end.is_none());
    let last = steps.last().unwrap();
    assert_eq!(last.0, via(|_| {}));
    assert_eq!(last.1, [Fallback::ViaGateway]);
    assert!(steps.len() <= 3, "{steps:?}");
    // Without a gateway the same network is a verdict.
    let (_, end) = replay(&policy(None), |_| {
        Some((Stage::Tcp, FailureClass::TcpTimeout))
    });
    assert_eq!(end.unwrap().kind, VerdictKind::Unreachable);
}

/// Each row: what the first attempt through the gateway met, and the next attempt.
#[test]
fn what_each_gateway_failure_changes() {
    use FailureClass as F;
    type Row = (Stage, FailureClass, Knobs, &'static [Fallback]);
    let rows: Vec<Row> = vec![
        (
            Stage::GatewayConnect,
            F::Dns,
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        (
            Stage::GatewayConnect,
            F::TcpRefused,
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        (
            Stage::GatewayConnect,
            F::TcpTimeout,
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        (
            Stage::GatewayTls,
            F::TlsVersionMismatch,
            via(|g| g.tls = rung(2)),
            &[Fallback::TlsVersionDowngrade],
        ),
        (
            Stage::GatewayTls,
            F::TlsCipherMismatch,
            via(|g| g.tls = rung(2)),
            &[Fallback::CipherDowngrade],
        ),
        (
            Stage::GatewayTls,
            F::PeerClosed,
            via(|g| g.tls = rung(1)),
            &[Fallback::TlsVersionDowngrade],
        ),
        (
            Stage::GatewayHttp,
            F::ProtocolError,
            via(|g| g.transport = GatewayTransport::LegacyHttp),
            &[Fallback::GatewayTransport],
        ),
        (
            Stage::GatewayTunnel,
            F::PeerClosed,
            via(|g| g.transport = GatewayTransport::LegacyHttp),
            &[Fallback::GatewayTransport],
        ),
        (
            Stage::GatewayHttp,
            auth_failed(&["Negotiate", "NTLM", "Basic"], &["Negotiate"]),
            via(|g| g.auth = GatewayAuth::Ntlm),
            &[Fallback::GatewayAuthScheme],
        ),
        (
            Stage::GatewayHttp,
            auth_failed(&["Negotiate", "Basic"], &["Negotiate"]),
            via(|g| g.auth = GatewayAuth::Basic),
            &[Fallback::GatewayAuthScheme],
        ),
        (
            Stage::GatewayTunnel,
            F::GatewayResourceRefused,
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        (
            Stage::GatewayTunnel,
            F::GatewayRefused(0x8007_59DB),
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        (
            Stage::GatewayTunnel,
            F::TcpRefused,
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        (
            Stage::X224,
            F::PeerClosed,
            mstsc(),
            &[Fallback::DirectInsteadOfGateway],
        ),
        // The RDP leg's failures through the tunnel are the RDP leg's, unchanged.
        (
            Stage::X224,
            F::NegotiationFailure(crate::failure::NegotiationCode::SslRequiredByServer),
            via(|_| {}).with_nla(false),
            &[Fallback::NlaOff],
        ),
        (
            Stage::Tls,
            F::TlsVersionMismatch,
            with(&via(|_| {}), |k| k.tls = rung(2)),
            &[Fallback::TlsVersionDowngrade],
        ),
        (
            Stage::Capabilities,
            F::PeerClosed,
            with(&via(|_| {}), |k| k.udp = false),
            &[Fallback::UdpOff],
        ),
    ];
    for (stage, class, expected, names) in rows {
        let history = [failed(via(|_| {}), stage, class.clone())];
        let (knobs, fallbacks) = attempt(&always(), &history);
        assert_eq!(knobs, expected, "{class} at {stage}");
        assert_eq!(fallbacks, names, "{class} at {stage}");
    }
}

impl Knobs {
    fn with_nla(mut self, nla: bool) -> Self {
        self.nla = Nla::exact(nla);
        self
    }
}

/// The properties that hold for every failure from every state through the gateway: a
/// password problem or a changed certificate stops, nothing is tried twice, and every run
/// ends within the budget.
#[test]
fn every_gateway_failure_from_every_gateway_state() {
    use FailureClass as F;
    let states = [
        via(|_| {}),
        via(|g| g.tls = rung(2)),
        via(|g| g.transport = GatewayTransport::LegacyHttp),
        via(|g| g.auth = GatewayAuth::Ntlm),
        with(&via(|_| {}), |k| k.nla = Nla::Off),
    ];
    let classes = [
        F::Dns,
        F::TcpRefused,
        F::TcpTimeout,
        F::Timeout,
        F::PeerClosed,
        F::ProtocolError,
        F::TlsVersionMismatch,
        F::TlsCipherMismatch,
        F::TlsOther("bad-record-mac".into()),
        F::CertificateChanged,
        auth_failed(&["Negotiate", "NTLM"], &["Negotiate"]),
        auth_failed(&["NTLM", "Basic"], &["NTLM"]),
        auth_failed(&["Negotiate"], &["Negotiate"]),
        F::GatewayTransportRefused,
        F::GatewayResourceRefused,
        F::GatewayRefused(0x8007_59DB),
    ];
    let stages = [
        Stage::GatewayConnect,
        Stage::GatewayTls,
        Stage::GatewayHttp,
        Stage::GatewayTunnel,
    ];
    for usage in [GatewayUsage::Always, GatewayUsage::Detect] {
        for state in &states {
            for class in &classes {
                for stage in stages {
                    let policy = policy(Some(usage));
                    let history = [failed(state.clone(), stage, class.clone())];
                    let decision = decide(&policy, &history);
                    let context =
                        format!("{usage:?}: {class} at {stage} from {state:?}: {decision:?}");
                    let wrong_password = stage == Stage::GatewayHttp
                        && matches!(class, F::GatewayAuthFailed { tried, .. } if tried.iter().any(|t| t == "NTLM"));
                    match &decision {
                        Decision::Verdict(v) if *class == F::CertificateChanged => {
                            assert_eq!(v.kind, VerdictKind::CertificateChanged, "{context}")
                        }
                        _ if *class == F::CertificateChanged => panic!("must stop: {context}"),
                        Decision::Verdict(v) if wrong_password => {
                            assert_eq!(v.kind, VerdictKind::AuthFailed, "{context}")
                        }
                        _ if wrong_password => panic!("a wrong password must stop: {context}"),
                        Decision::Attempt { knobs, .. } => {
                            assert_ne!(knobs, state, "never the same twice: {context}")
                        }
                        _ => {}
                    }
                    // And the run ends, whatever the network keeps answering.
                    let (steps, _) = replay(&policy, |k| {
                        Some(if k.route.is_gateway() {
                            (stage, class.clone())
                        } else {
                            (Stage::Tcp, F::TcpTimeout)
                        })
                    });
                    assert!(steps.len() <= 12, "{context}: {steps:?}");
                }
            }
        }
    }
}

/// The lab's TLS 1.0-only test gateway (`--tls legacy`) in front of a modern server: the
/// gateway's TLS walks down the RDP leg's rungs, announced with their names, and the route
/// stays the gateway.
#[test]
fn a_tls_1_0_gateway_walks_down_its_own_rungs() {
    let (steps, end) = replay(&always(), |k| match k.route.gateway() {
        Some(g) if !offered_versions(&g.tls).contains(&TlsVersion::Tls10) => {
            Some((Stage::GatewayTls, FailureClass::TlsVersionMismatch))
        }
        _ => None,
    });
    assert!(end.is_none(), "{end:?}");
    let names: Vec<Vec<Fallback>> = steps.iter().map(|s| s.1.clone()).collect();
    // The refusal of TLS 1.3/1.2 rules out rustls's TLS 1.2 rung too: the legacy hello next.
    assert_eq!(names, [vec![], vec![Fallback::TlsVersionDowngrade]]);
    let winner = &steps.last().unwrap().0;
    assert_eq!(winner.route.gateway().unwrap().tls, rung(2));
    assert_eq!(winner.tls, rung(0), "the RDP leg keeps modern TLS");
    assert_eq!(
        with(winner, |k| k.nla = Nla::On).grade(),
        Grade::Legacy,
        "the gateway's TLS grades the run"
    );
    assert_eq!(
        fallbacks_used(&steps[0].0, winner),
        [Fallback::TlsVersionDowngrade]
    );
    assert_eq!(downgrades(winner), [Fallback::TlsVersionDowngrade]);
}

/// xrdp-tls10 through a modern gateway: the RDP leg's own ladder, through the tunnel.
#[test]
fn the_rdp_leg_walks_its_ladder_through_the_tunnel() {
    use crate::failure::NegotiationCode;
    let (steps, end) = replay(&always(), |k| {
        assert!(k.route.is_gateway(), "stays on the gateway: {k:?}");
        if k.nla.is_on() {
            Some((
                Stage::X224,
                FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
            ))
        } else if !offered_versions(&k.tls).contains(&TlsVersion::Tls10) {
            // mstsc's offer: the server selects TLS, then refuses TLS 1.3/1.2.
            Some((Stage::Tls, FailureClass::TlsVersionMismatch))
        } else {
            None
        }
    });
    assert!(end.is_none());
    // What the ladder records: what the server chose from the offer and the legacy hello.
    let winner = steps.last().unwrap().0.as_used(
        Some(crate::protocol::Protocol::Ssl),
        Some((TlsVersion::Tls10, "ECDHE-RSA-AES128-SHA")),
    );
    assert_eq!(
        fallbacks_used(&steps[0].0, &winner),
        [Fallback::NlaOff, Fallback::TlsVersionDowngrade]
    );
    assert_eq!(winner.route, Route::Gateway(ViaGateway::strongest()));
    assert_eq!(steps.len(), 2);
}

/// A proxy in front of the gateway that answers the WebSocket upgrade with an error: the
/// legacy transport next; when that breaks too, the gateway is given up and, under
/// "always", the host is tried directly, announced.
#[test]
fn the_transport_falls_back_then_the_gateway_is_given_up() {
    let (steps, end) = replay(&always(), |k| {
        k.route
            .gateway()
            .map(|_| (Stage::GatewayHttp, FailureClass::ProtocolError))
    });
    assert!(end.is_none());
    let routes: Vec<(Option<GatewayTransport>, Vec<Fallback>)> = steps
        .iter()
        .map(|(k, f)| (k.route.gateway().map(|g| g.transport), f.clone()))
        .collect();
    assert_eq!(
        routes,
        [
            (Some(GatewayTransport::Auto), vec![]),
            (
                Some(GatewayTransport::LegacyHttp),
                vec![Fallback::GatewayTransport]
            ),
            (None, vec![Fallback::DirectInsteadOfGateway]),
        ]
    );
}

/// A Kerberos-only Negotiate offered first, NTLM and Basic behind it (the test gateway's
/// `--auth negotiate,ntlm,basic`): NTLM next, and a wrong password there ends the run.
#[test]
fn the_next_offered_scheme_then_a_wrong_password_stops() {
    let offered = ["Negotiate", "NTLM", "Basic"];
    let (steps, end) = replay(&always(), |k| match k.route.gateway().map(|g| g.auth) {
        Some(GatewayAuth::Offered) => {
            Some((Stage::GatewayHttp, auth_failed(&offered, &["Negotiate"])))
        }
        Some(GatewayAuth::Ntlm) => None,
        other => panic!("{other:?}"),
    });
    assert!(end.is_none());
    assert_eq!(steps[1].1, [Fallback::GatewayAuthScheme]);

    let (steps, end) = replay(&always(), |k| match k.route.gateway().map(|g| g.auth) {
        Some(GatewayAuth::Offered) => {
            Some((Stage::GatewayHttp, auth_failed(&offered, &["Negotiate"])))
        }
        Some(_) => Some((Stage::GatewayHttp, auth_failed(&offered, &["NTLM"]))),
        None => panic!("a credential problem never goes around the gateway"),
    });
    assert_eq!(steps.len(), 2);
    let end = end.unwrap();
    assert_eq!(end.kind, VerdictKind::AuthFailed, "{}", end.reason);
    assert!(end.reason.contains("--gateway-user"), "{}", end.reason);
    assert_eq!(end.causes[0].id, CauseId::GatewayAuth);

    // Only a scheme rdpshim cannot complete: the gateway is unusable; around it, announced.
    let (steps, end) = replay(&always(), |k| match k.route {
        Route::Gateway(_) => Some((
            Stage::GatewayHttp,
            auth_failed(&["Negotiate"], &["Negotiate"]),
        )),
        Route::Direct => Some((Stage::Dns, FailureClass::Dns)),
    });
    assert_eq!(steps.len(), 2);
    let end = end.unwrap();
    assert!(
        end.reason.contains("offers no HTTP authentication"),
        "{}",
        end.reason
    );
    assert!(end.reason.contains("directly"), "{}", end.reason);
}

#[test]
fn a_refused_host_goes_direct_only_when_the_host_answers() {
    // Under "always", resource policy refusal, then the host directly.
    let (steps, end) = replay(&always(), |k| match k.route {
        Route::Gateway(_) => Some((Stage::GatewayTunnel, FailureClass::GatewayResourceRefused)),
        Route::Direct => None,
    });
    assert!(end.is_none());
    assert_eq!(steps[1], (mstsc(), vec![Fallback::DirectInsteadOfGateway]));
    assert_eq!(
        fallbacks_used(&steps[0].0, &steps[1].0),
        [Fallback::DirectInsteadOfGateway]
    );
    // Not reachable directly either: both reasons, the gateway's cause first.
    let (_, end) = replay(&always(), |k| match k.route {
        Route::Gateway(_) => Some((Stage::GatewayTunnel, FailureClass::GatewayResourceRefused)),
        Route::Direct => Some((Stage::Dns, FailureClass::Dns)),
    });
    let end = end.unwrap();
    assert_eq!(end.kind, VerdictKind::NoWorkingConfiguration);
    assert!(
        end.reason.contains("resource authorization policy"),
        "{}",
        end.reason
    );
    assert!(end.reason.contains("does not resolve"), "{}", end.reason);
    let ids: Vec<CauseId> = end.causes.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [CauseId::GatewayResourcePolicy, CauseId::NameResolution]
    );
}

#[test]
fn nothing_answers_is_unreachable_with_both_reasons() {
    let (steps, end) = replay(&always(), |k| match k.route {
        Route::Gateway(_) => Some((Stage::GatewayConnect, FailureClass::TcpRefused)),
        Route::Direct => Some((Stage::Tcp, FailureClass::TcpRefused)),
    });
    let end = end.unwrap();
    assert_eq!(end.kind, VerdictKind::Unreachable, "{}", end.reason);
    assert!(end.reason.contains("RD Gateway refuses"), "{}", end.reason);
    assert!(end.reason.contains("directly"), "{}", end.reason);
    assert!(steps.len() <= 3, "{steps:?}");
    let ids: Vec<CauseId> = end.causes.iter().map(|f| f.id).collect();
    assert_eq!(ids, [CauseId::GatewayUnreachable, CauseId::PortRefused]);
}

#[test]
fn a_changed_gateway_certificate_stops_before_any_credential() {
    let history = [failed(
        via(|_| {}),
        Stage::GatewayTls,
        FailureClass::CertificateChanged,
    )];
    let v = verdict(&always(), &history);
    assert_eq!(v.kind, VerdictKind::CertificateChanged);
    assert!(v.reason.contains("RD Gateway"), "{}", v.reason);
}

#[test]
fn the_floor_holds_for_the_gateway_leg() {
    let mut floor = always();
    floor.floor = Grade::Tls12;
    let history = [failed(
        via(|_| {}),
        Stage::GatewayTls,
        FailureClass::TlsVersionMismatch,
    )];
    // The gateway's ladder under the floor has nothing left (TLS 1.3/1.2 refused): the
    // gateway is given up, announced, and never offered TLS below 1.2.
    let (next, steps) = attempt(&floor, &history);
    assert_eq!(next.route, Route::Direct);
    assert_eq!(steps, [Fallback::DirectInsteadOfGateway]);
    let (steps, _) = replay(&floor, |k| match k.route.gateway() {
        Some(_) => Some((Stage::GatewayTls, FailureClass::TlsVersionMismatch)),
        None => Some((Stage::Tcp, FailureClass::TcpTimeout)),
    });
    for (k, _) in &steps {
        if let Some(g) = k.route.gateway() {
            assert!(lowest_version(&g.tls) >= TlsVersion::Tls12, "{k:?}");
        }
    }
    // A cipher downgrade stays at TLS 1.2: within that floor.
    let history = [failed(
        via(|_| {}),
        Stage::GatewayTls,
        FailureClass::TlsCipherMismatch,
    )];
    assert_eq!(
        attempt(&floor, &history).0,
        with(&via(|g| g.tls = tolerant(Grade::Tls12)), |k| k.nla =
            Nla::On)
    );
}

#[test]
fn the_downgrade_guard_defends_the_gateway_leg() {
    let saved = via(|g| g.tls = rung(1));
    let mut guarded = always();
    guarded.start_from(Remembered {
        preferred: Some(saved.clone()),
        baseline: Some(saved.clone()),
        addresses: vec![],
    });
    assert_eq!(
        attempt(&guarded, &[]).0,
        saved,
        "the saved gateway leg first"
    );
    // TLS 1.2 refused: the modern hello (1.3) next, never weaker; refused too, the next
    // rung would be the legacy hello (down to TLS 1.0), below what the profile proved.
    let mut history = vec![failed(
        saved.clone(),
        Stage::GatewayTls,
        FailureClass::TlsVersionMismatch,
    )];
    let (modern, _) = attempt(&guarded, &history);
    assert_eq!(modern, via(|_| {}));
    history.push(failed(
        modern,
        Stage::GatewayTls,
        FailureClass::TlsVersionMismatch,
    ));
    let v = verdict(&guarded, &history);
    assert_eq!(v.kind, VerdictKind::RefusedByPolicy);
    assert!(
        v.reason.contains("RD Gateway's TLS 1.2 -> TLS 1.0"),
        "{}",
        v.reason
    );
    assert_eq!(
        weakened_property(&saved, &via(|g| g.auth = GatewayAuth::Basic)).as_deref(),
        Some("the RD Gateway's authentication -> HTTP Basic")
    );
    assert_eq!(weakened_property(&saved, &mstsc()), None);
}

#[test]
fn a_saved_route_comes_first_except_around_an_always_gateway() {
    let saved = via(|g| g.transport = GatewayTransport::LegacyHttp);
    let mut remembered = detect();
    remembered.start_from(Remembered {
        preferred: Some(saved.clone()),
        baseline: None,
        addresses: vec![],
    });
    assert_eq!(
        attempt(&remembered, &[]),
        (saved, vec![Fallback::ViaGateway])
    );

    // "Always" is the user's own configuration: a run that last went around the gateway
    // tries the gateway first again (with the saved RDP knobs).
    let saved_direct = with(&mstsc(), |k| k.tls = rung(2));
    let mut always = always();
    always.start_from(Remembered {
        preferred: Some(saved_direct.clone()),
        baseline: None,
        addresses: vec![],
    });
    let (first, steps) = attempt(&always, &[]);
    assert!(first.route.is_gateway());
    assert_eq!(first.tls, rung(2));
    assert!(steps.is_empty());
}

#[test]
fn a_single_attempt_through_the_gateway_is_exactly_that() {
    let single = always().single_attempt();
    let first = attempt(&single, &[]).0;
    // `--no-fallback`: the strongest configuration, NLA required.
    assert_eq!(first, with(&via(|_| {}), |k| k.nla = Nla::On));
    let history = [failed(
        first,
        Stage::GatewayTunnel,
        FailureClass::GatewayResourceRefused,
    )];
    let v = verdict(&single, &history);
    assert!(v.reason.contains("budget"), "{}", v.reason);
    assert_eq!(
        attempt(&detect().single_attempt(), &[]).0,
        Knobs::strongest()
    );
}

#[test]
fn a_pinned_websocket_that_is_refused_is_a_verdict() {
    let mut pinned = always();
    pinned.pins.route = Some(Route::Gateway(ViaGateway {
        transport: GatewayTransport::WebSocket,
        ..ViaGateway::strongest()
    }));
    let first = attempt(&pinned, &[]).0;
    let history = [failed(
        first,
        Stage::GatewayHttp,
        FailureClass::GatewayTransportRefused,
    )];
    let v = verdict(&pinned, &history);
    assert!(v.reason.contains("pinned gateway settings"), "{}", v.reason);
}

#[test]
fn routes_are_described_and_graded() {
    let k = with(
        &via(|g| {
            g.tls = rung(2);
            g.transport = GatewayTransport::LegacyHttp;
        }),
        |k| k.nla = Nla::On,
    );
    assert_eq!(
        crate::knobs::describe(&k),
        "NLA on, TLS 1.3/1.2 (rustls), via the RD Gateway (TLS 1.2/1.1/1.0 (openssl), legacy-http)"
    );
    assert_eq!(
        crate::knobs::describe(&Knobs::strongest()),
        "NLA on, TLS 1.3/1.2 (rustls)"
    );
    assert_eq!(k.grade(), Grade::Legacy);
    assert_eq!(
        with(&via(|_| {}), |k| k.nla = Nla::On).grade(),
        Grade::Modern
    );
    assert_eq!(
        downgrades(&via(|g| g.auth = GatewayAuth::Basic)),
        [Fallback::GatewayAuthScheme]
    );
    for t in GatewayTransport::ALL {
        assert_eq!(GatewayTransport::parse(t.as_str()), Some(t));
    }
    for a in GatewayAuth::ALL {
        assert_eq!(GatewayAuth::parse(a.as_str()), Some(a));
    }
    let _ = tolerant(Grade::NoNla);
    let _: String = Route::Direct.to_string();
}

/// Each gateway failure points to the cause it proves.
#[test]
fn gateway_failures_point_to_their_causes() {
    use crate::causes::of_failure;
    use FailureClass as F;
    let rows = [
        (
            via(|_| {}),
            Stage::GatewayConnect,
            F::Dns,
            Some(CauseId::GatewayUnreachable),
        ),
        (
            via(|_| {}),
            Stage::GatewayConnect,
            F::TcpTimeout,
            Some(CauseId::GatewayUnreachable),
        ),
        (
            via(|_| {}),
            Stage::GatewayTls,
            F::TlsVersionMismatch,
            Some(CauseId::GatewayTls),
        ),
        (
            // A pinned TLS 1.0 hello refused proves nothing about legacy TLS.
            via(|g| {
                g.tls = TlsChoice {
                    stack: TlsStack::Openssl,
                    version: Some(TlsVersion::Tls10),
                    ciphers: None,
                }
            }),
            Stage::GatewayTls,
            F::TlsVersionMismatch,
            None,
        ),
        (
            via(|_| {}),
            Stage::GatewayTls,
            F::TlsCipherMismatch,
            Some(CauseId::GatewayTls),
        ),
        (
            via(|_| {}),
            Stage::GatewayHttp,
            auth_failed(&["NTLM"], &["NTLM"]),
            Some(CauseId::GatewayAuth),
        ),
        (
            via(|_| {}),
            Stage::GatewayTunnel,
            F::GatewayResourceRefused,
            Some(CauseId::GatewayResourcePolicy),
        ),
        (
            via(|_| {}),
            Stage::GatewayHttp,
            F::GatewayTransportRefused,
            None,
        ),
    ];
    for (knobs, stage, class, cause) in rows {
        assert_eq!(
            of_failure(&knobs, stage, &class),
            cause,
            "{class} at {stage}"
        );
    }
}

/// An IP-literal host dialled by its literal: going around the gateway is that one step,
/// not also ip-for-hostname.
#[test]
fn going_around_the_gateway_to_an_ip_host_is_one_step() {
    let mut policy = always();
    policy.host_ip = Some(addr(V4).ip());
    let history = [failed(
        via(|_| {}),
        Stage::GatewayTunnel,
        FailureClass::GatewayResourceRefused,
    )];
    let (knobs, steps) = attempt(&policy, &history);
    assert_eq!(knobs.dial, Dial::Ip(addr(V4)));
    assert_eq!(steps, [Fallback::DirectInsteadOfGateway]);
    assert_eq!(
        fallbacks_used(&history[0].knobs, &knobs),
        [Fallback::DirectInsteadOfGateway]
    );
}
