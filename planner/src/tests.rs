//! Table tests: every failure class from every state, the floor, the profile and the pins,
//! and (in `lab_servers.rs`) every lab server replayed without a server.

mod lab_servers;

use std::net::SocketAddr;
use std::time::Duration;
use std::vec::Vec;
use std::{format, vec};

use super::*;
use crate::protocol::Protocol;

const V6: &str = "[::1]:3389";
const V4: &str = "127.0.0.1:3389";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn named() -> Policy {
    Policy::new(None, 3389)
}

/// NLA required (HYBRID|HYBRID_EX only), rustls TLS 1.3/1.2, by name, UDP: what the
/// fallbacks are measured from, and the first attempt when something requires NLA.
fn strongest() -> Knobs {
    Knobs {
        dial: Dial::ByName,
        ip_as_server_name: false,
        nla: Nla::On,
        tls: rung(0),
        udp: true,
        route: Route::Direct,
    }
}

/// The ladder's first attempt when nothing is pinned, saved or required: mstsc's offer.
fn first() -> Knobs {
    with(&strongest(), |k| k.nla = Nla::Negotiate)
}

/// 0: rustls TLS 1.3/1.2; 1: rustls TLS 1.2; 2: the legacy hello (OpenSSL, TLS 1.0-1.2,
/// every suite at security level 0).
fn rung(index: usize) -> TlsChoice {
    tls_ladder(Grade::NoNla)[index].clone()
}

/// OpenSSL pinned to one version (`--tls V --tls-stack openssl`, or a profile), with the
/// suite the server picked when `suite` is given.
fn openssl(version: TlsVersion, suite: Option<&str>) -> TlsChoice {
    TlsChoice {
        stack: TlsStack::Openssl,
        version: Some(version),
        ciphers: suite.map(Into::into),
    }
}

fn with(knobs: &Knobs, change: impl FnOnce(&mut Knobs)) -> Knobs {
    let mut k = knobs.clone();
    change(&mut k);
    k
}

fn failed(knobs: Knobs, stage: Stage, class: FailureClass) -> Tried {
    let dialled = match &knobs.dial {
        Dial::Ip(a) => Some(*a),
        Dial::ByName => Some(addr(V6)),
    };
    let resolved = match knobs.dial {
        Dial::ByName if stage != Stage::Dns => vec![addr(V6), addr(V4)],
        _ => Vec::new(),
    };
    Tried {
        knobs,
        with_credentials: true,
        selected: class.selected(),
        failure: Some((stage, class)),
        resolved,
        dialled: if stage == Stage::Dns { None } else { dialled },
    }
}

fn next_knobs(policy: &Policy, history: &[Tried]) -> Knobs {
    match next(policy, history, true, Duration::ZERO) {
        Decision::Attempt { knobs, .. } | Decision::NeedCredentials { knobs, .. } => knobs,
        Decision::Verdict(v) => panic!("expected an attempt, got verdict {v:?}"),
    }
}

fn verdict(policy: &Policy, history: &[Tried]) -> Verdict {
    match next(policy, history, true, Duration::ZERO) {
        Decision::Verdict(v) => v,
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn all_classes() -> Vec<FailureClass> {
    use FailureClass as F;
    let mut classes = vec![
        F::Dns,
        F::TcpRefused,
        F::TcpTimeout,
        F::RdpSecuritySelected,
        F::TlsVersionMismatch,
        F::TlsCipherMismatch,
        F::TlsOther("bad-record-mac".into()),
        F::TlsOther("unrecognized-name".into()),
        F::TlsOther("bad-certificate".into()),
        F::PeerClosed,
        F::AuthFailed,
        F::CredsspError,
        F::Licensing,
        F::Timeout,
        F::ProtocolError,
        F::CredentialsRequired,
        F::CertificateChanged,
    ];
    for code in 1..=8 {
        classes.push(F::NegotiationFailure(NegotiationCode::from_u32(code)));
    }
    for selected in Protocol::ALL {
        classes.push(F::UnrequestedProtocol(selected));
    }
    classes
}

const ALL_STAGES: [Stage; 9] = [
    Stage::Dns,
    Stage::Tcp,
    Stage::X224,
    Stage::Tls,
    Stage::Credssp,
    Stage::Mcs,
    Stage::Licensing,
    Stage::Capabilities,
    Stage::FirstFrame,
];

fn states() -> Vec<Knobs> {
    let s = strongest();
    vec![
        s.clone(),
        first(),
        with(&first(), |k| k.tls = rung(2)),
        with(&s, |k| k.nla = Nla::Off),
        with(&s, |k| k.tls = rung(1)),
        with(&s, |k| k.tls = rung(2)),
        with(&s, |k| {
            k.tls = openssl(TlsVersion::Tls10, None);
            k.nla = Nla::Off
        }),
        with(&s, |k| k.udp = false),
        with(&s, |k| k.dial = Dial::Ip(addr(V4))),
        with(&s, |k| {
            k.dial = Dial::Ip(addr(V4));
            k.ip_as_server_name = true
        }),
    ]
}

/// With nothing pinned, saved or required, the first X.224 request is mstsc's
/// (TLS|HYBRID|HYBRID_EX), so a server without NLA costs no attempt; whatever requires NLA
/// (a floor, a profile that connected with NLA, `--nla on`) makes it NLA only, and
/// `--nla off` TLS only.
#[test]
fn the_first_attempt_is_what_mstsc_would_do() {
    let decision = next(&named(), &[], false, Duration::ZERO);
    assert_eq!(
        decision,
        Decision::Attempt {
            knobs: first(),
            fallbacks: vec![]
        }
    );
    assert_eq!(protocol::offered(&first()), 0xB, "SSL|HYBRID|HYBRID_EX");

    let mut floor = named();
    floor.floor = Grade::Legacy;
    assert_eq!(
        next_knobs(&floor, &[]).nla,
        Nla::On,
        "a floor that requires NLA"
    );
    let mut guarded = named();
    guarded.baseline = Some(strongest());
    guarded.profile = Some(with(&strongest(), |k| k.tls = rung(1)));
    assert_eq!(next_knobs(&guarded, &[]).nla, Nla::On, "the profile's NLA");
    for (pin, nla) in [(true, Nla::On), (false, Nla::Off)] {
        let mut pinned = named();
        pinned.pins.nla = Some(pin);
        assert_eq!(next_knobs(&pinned, &[]).nla, nla, "--nla pins exactly");
    }
    // The offer is never a downgrade in itself: nothing is announced before the server
    // has chosen.
    assert!(downgrades(&first()).is_empty());
    assert_eq!(first().grade(), Grade::NoNla, "it may end without NLA");
}

/// The properties that must hold for every failure class from every state.
#[test]
fn every_class_from_every_state() {
    for state in states() {
        for class in all_classes() {
            for stage in ALL_STAGES {
                let history = [failed(state.clone(), stage, class.clone())];
                let decision = next(&named(), &history, true, Duration::ZERO);
                let context = format!("{class} at {stage} from {state:?}: {decision:?}");
                match (&class, &decision) {
                    (FailureClass::AuthFailed, Decision::Verdict(v)) => {
                        assert_eq!(v.kind, VerdictKind::AuthFailed, "{context}")
                    }
                    (FailureClass::AuthFailed, _) => {
                        panic!("auth failure must stop at once: {context}")
                    }
                    (FailureClass::CertificateChanged, Decision::Verdict(v)) => {
                        assert_eq!(v.kind, VerdictKind::CertificateChanged, "{context}")
                    }
                    (FailureClass::CertificateChanged, _) => {
                        panic!("a changed certificate must stop: {context}")
                    }
                    // Asked for TLS (alone or in mstsc's offer), Standard RDP Security is
                    // the end; asked for NLA only, the server may still take TLS.
                    (FailureClass::RdpSecuritySelected, d)
                        if stage == Stage::X224 && protocol::offers_tls_without_nla(&state) =>
                    {
                        assert!(matches!(d, Decision::Verdict(_)), "{context}")
                    }
                    (FailureClass::RdpSecuritySelected, Decision::Attempt { knobs, .. })
                        if stage == Stage::X224 =>
                    {
                        assert!(
                            protocol::offers_tls_without_nla(knobs),
                            "followed to TLS: {context}"
                        )
                    }
                    (_, Decision::Attempt { knobs, .. }) => {
                        assert_ne!(
                            knobs, &state,
                            "never the same configuration twice: {context}"
                        );
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A certificate that cannot be read is the same for every TLS version: rustls failing on
/// it leaves OpenSSL one try, OpenSSL failing on it ends the ladder with the cause (never
/// five downgrades ending in "no TLS version in common").
#[test]
fn an_unreadable_certificate_ends_the_ladder_after_openssl() {
    let first = failed(strongest(), Stage::Tls, FailureClass::bad_certificate());
    let next = next_knobs(&named(), std::slice::from_ref(&first));
    assert_eq!(
        next.tls.stack,
        TlsStack::Openssl,
        "straight to OpenSSL: {next:?}"
    );
    assert_eq!(next.tls, rung(2));
    let second = failed(next, Stage::Tls, FailureClass::bad_certificate());
    let v = verdict(&named(), &[first, second]);
    assert_eq!(v.kind, VerdictKind::NoWorkingConfiguration);
    assert_eq!(v.reason, CauseId::CertificateUnreadable.title());
    let causes: Vec<CauseId> = v.causes.iter().map(|c| c.id).collect();
    assert_eq!(causes, [CauseId::CertificateUnreadable], "{:?}", v.causes);
    assert!(
        v.causes[0].evidence.starts_with("attempt 2 ("),
        "{:?}",
        v.causes
    );
}

/// Garbage instead of a Connection Confirm (or a selection of several protocols) is named
/// as such, not "does not answer".
#[test]
fn a_server_answering_x224_with_garbage_is_named() {
    let policy = Policy::new(Some(addr(V4).ip()), 3389);
    let knobs = with(&strongest(), |k| k.dial = Dial::Ip(addr(V4)));
    let v = verdict(
        &policy,
        &[failed(knobs, Stage::X224, FailureClass::ProtocolError)],
    );
    assert_eq!(v.kind, VerdictKind::NoWorkingConfiguration);
    assert!(v.reason.contains("not RDP"), "{}", v.reason);
    let causes: Vec<CauseId> = v.causes.iter().map(|c| c.id).collect();
    assert_eq!(causes, [CauseId::NotRdp]);
}

#[test]
fn credential_problems_never_downgrade() {
    for state in states() {
        let history = [failed(
            state.clone(),
            Stage::Credssp,
            FailureClass::AuthFailed,
        )];
        assert_eq!(verdict(&named(), &history).kind, VerdictKind::AuthFailed);

        let mut history = [failed(
            state.clone(),
            Stage::Credssp,
            FailureClass::CredentialsRequired,
        )];
        history[0].with_credentials = false;
        match next(&named(), &history, false, Duration::ZERO) {
            Decision::NeedCredentials { knobs, fallbacks } => {
                assert_eq!(knobs, state, "same knobs, with credentials");
                assert!(fallbacks.is_empty());
            }
            other => panic!("expected a request for credentials, got {other:?}"),
        }
    }
}

/// Each row: an attempt (the ladder's first, mstsc's offer, unless the row says), its
/// failure, and the change the next attempt makes with the steps it names.
#[test]
fn what_each_failure_changes() {
    type Row = (
        Knobs,
        Stage,
        FailureClass,
        fn(&Knobs) -> Knobs,
        &'static [Fallback],
    );
    let rows: Vec<Row> = vec![
        (
            // A server that refuses even mstsc's offer this way gets exactly what it wants.
            first(),
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
            |k| with(k, |k| k.nla = Nla::Off),
            &[Fallback::NlaOff],
        ),
        (
            first(),
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::HybridRequiredByServer),
            |k| with(k, |k| k.nla = Nla::On),
            &[],
        ),
        (
            strongest(),
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
            |k| with(k, |k| k.nla = Nla::Off),
            &[Fallback::NlaOff],
        ),
        (
            // The one legacy hello next: TLS 1.0 to 1.2 in one ClientHello, NLA as offered.
            first(),
            Stage::Tls,
            FailureClass::TlsVersionMismatch,
            |k| with(k, |k| k.tls = rung(2)),
            &[Fallback::TlsVersionDowngrade],
        ),
        (
            first(),
            Stage::Tls,
            FailureClass::TlsCipherMismatch,
            |k| with(k, |k| k.tls = rung(2)),
            &[Fallback::CipherDowngrade],
        ),
        (
            // Reset at the ClientHello: the most tolerant hello next, which is the legacy one.
            first(),
            Stage::Tls,
            FailureClass::PeerClosed,
            |k| with(k, |k| k.tls = tolerant(Grade::NoNla)),
            &[Fallback::CipherDowngrade, Fallback::TlsVersionDowngrade],
        ),
        (
            // Asked for NLA only, the server selected TLS: follow it, exactly.
            strongest(),
            Stage::X224,
            FailureClass::UnrequestedProtocol(Protocol::Ssl),
            |k| with(k, |k| k.nla = Nla::Off),
            &[Fallback::NlaOff],
        ),
        (
            // Asked for NLA only, xrdp (security_layer=negotiate) selects Standard RDP
            // Security; offered TLS too, it selects TLS: mstsc's offer lets it.
            strongest(),
            Stage::X224,
            FailureClass::RdpSecuritySelected,
            |k| with(k, |k| k.nla = Nla::Negotiate),
            &[],
        ),
        (
            // RDSTLS selected from mstsc's offer: NLA required next (and TLS alone after).
            first(),
            Stage::X224,
            FailureClass::UnrequestedProtocol(Protocol::Rdstls),
            |k| with(k, |k| k.nla = Nla::On),
            &[],
        ),
        (
            first(),
            Stage::Tcp,
            FailureClass::TcpRefused,
            |k| with(k, |k| k.dial = Dial::Ip(addr(V4))),
            &[Fallback::IpForHostname],
        ),
        (
            first(),
            Stage::Tcp,
            FailureClass::TcpTimeout,
            |k| with(k, |k| k.dial = Dial::Ip(addr(V4))),
            &[Fallback::IpForHostname],
        ),
        (
            first(),
            Stage::Credssp,
            FailureClass::CredsspError,
            |k| with(k, |k| k.ip_as_server_name = true),
            &[Fallback::IpForHostname],
        ),
        (
            first(),
            Stage::Capabilities,
            FailureClass::PeerClosed,
            |k| with(k, |k| k.udp = false),
            &[Fallback::UdpOff],
        ),
        (
            first(),
            Stage::FirstFrame,
            FailureClass::Timeout,
            |k| with(k, |k| k.udp = false),
            &[Fallback::UdpOff],
        ),
    ];
    for (from, stage, class, expected, names) in rows {
        let history = [failed(from.clone(), stage, class.clone())];
        let context = format!("{class} at {stage} after NLA {}", from.nla);
        match next(&named(), &history, true, Duration::ZERO) {
            Decision::Attempt { knobs, fallbacks } => {
                assert_eq!(knobs, expected(&from), "{context}");
                assert_eq!(fallbacks, names, "{context}");
            }
            other => panic!("{context}: expected an attempt, got {other:?}"),
        }
    }
}

/// Failures no configuration can fix, with the cause the verdict names.
#[test]
fn dead_ends_are_verdicts() {
    use FailureClass as F;
    let tls_only = with(&strongest(), |k| k.nla = Nla::Off);
    let rows = [
        (
            tls_only.clone(),
            Stage::X224,
            F::RdpSecuritySelected,
            CauseId::RdpSecurityOnly,
        ),
        (
            first(),
            Stage::X224,
            F::RdpSecuritySelected,
            CauseId::RdpSecurityOnly,
        ),
        (
            strongest(),
            Stage::X224,
            F::NegotiationFailure(NegotiationCode::SslNotAllowedByServer),
            CauseId::RdpSecurityOnly,
        ),
        (
            strongest(),
            Stage::X224,
            F::NegotiationFailure(NegotiationCode::SslCertNotOnServer),
            CauseId::CertificateMissing,
        ),
        (
            strongest(),
            Stage::Licensing,
            F::Licensing,
            CauseId::Licensing,
        ),
        (
            strongest(),
            Stage::Credssp,
            F::PeerClosed,
            CauseId::ClosedAfterTls,
        ),
    ];
    for (knobs, stage, class, cause) in rows {
        let v = verdict(&named(), &[failed(knobs, stage, class.clone())]);
        assert_eq!(
            v.kind,
            VerdictKind::NoWorkingConfiguration,
            "{class} at {stage}: {}",
            v.reason
        );
        assert_eq!(
            v.causes.first().map(|f| f.id),
            Some(cause),
            "{class} at {stage}: {v:?}"
        );
        assert!(v.causes[0].evidence.contains("attempt 1"), "{v:?}");
    }
    let v = verdict(&named(), &[failed(strongest(), Stage::Credssp, F::Timeout)]);
    assert_eq!(v.kind, VerdictKind::NoWorkingConfiguration, "{}", v.reason);
}

#[test]
fn an_ip_host_that_refuses_or_closes_ends_at_once() {
    let ip = addr(V4);
    let policy = Policy::new(Some(ip.ip()), 3389);
    let first = next_knobs(&policy, &[]);
    assert_eq!(first.dial, Dial::Ip(ip));
    for (stage, class, kind) in [
        (
            Stage::Tcp,
            FailureClass::TcpRefused,
            VerdictKind::Unreachable,
        ),
        (
            Stage::Tcp,
            FailureClass::TcpTimeout,
            VerdictKind::Unreachable,
        ),
        (
            Stage::X224,
            FailureClass::PeerClosed,
            VerdictKind::NoWorkingConfiguration,
        ),
        (
            Stage::X224,
            FailureClass::Timeout,
            VerdictKind::NoWorkingConfiguration,
        ),
    ] {
        let v = verdict(&policy, &[failed(first.clone(), stage, class.clone())]);
        assert_eq!(v.kind, kind, "{class}: {}", v.reason);
    }
}

#[test]
fn dns_failure_uses_known_addresses_or_stops() {
    let history = [failed(strongest(), Stage::Dns, FailureClass::Dns)];
    let v = verdict(&named(), &history);
    assert_eq!(v.kind, VerdictKind::Unreachable);
    assert!(v.reason.contains("--resolve"), "{}", v.reason);

    let mut policy = named();
    policy.known_addresses = vec![addr("192.0.2.7:3389")];
    let mut history = history.to_vec();
    history[0].resolved.clear();
    let knobs = next_knobs(&policy, &history);
    assert_eq!(knobs.dial, Dial::Ip(addr("192.0.2.7:3389")));
}

#[test]
fn a_floor_is_never_crossed() {
    let mut policy = named();
    policy.floor = Grade::Tls12;
    let history = [failed(
        strongest(),
        Stage::Tls,
        FailureClass::TlsVersionMismatch,
    )];
    let v = verdict(&policy, &history);
    assert_eq!(v.kind, VerdictKind::RefusedByPolicy);
    assert!(v.reason.contains("--min-security tls12"), "{}", v.reason);

    policy.floor = Grade::Legacy;
    let history = [failed(
        strongest(),
        Stage::X224,
        FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
    )];
    assert_eq!(
        verdict(&policy, &history).kind,
        VerdictKind::RefusedByPolicy
    );

    policy.floor = Grade::Modern;
    let history = [failed(
        strongest(),
        Stage::Tls,
        FailureClass::TlsCipherMismatch,
    )];
    assert_eq!(
        verdict(&policy, &history).kind,
        VerdictKind::RefusedByPolicy
    );
}

/// A saved profile goes first; when it stops working, only configurations at least as
/// strong are tried without `--accept-downgrade`, compared on the versions and suites that
/// connected (the legacy hello's choice is recorded exactly), and the legacy hello is
/// narrowed to the profile's TLS version so that it stays within the guard.
#[test]
fn the_profile_goes_first_and_guards_against_downgrades() {
    let saved = with(&strongest(), |k| {
        k.tls = openssl(TlsVersion::Tls12, Some("AES128-SHA"))
    });
    let mut policy = named();
    policy.profile = Some(saved.clone());
    policy.baseline = Some(saved.clone());
    assert_eq!(next_knobs(&policy, &[]), saved, "profile first");

    // The saved configuration stops working; TLS 1.3 is still worth a try (stronger)...
    let mut history = vec![failed(
        saved.clone(),
        Stage::Tls,
        FailureClass::TlsVersionMismatch,
    )];
    let knobs = next_knobs(&policy, &history);
    assert_eq!(knobs.tls, rung(0));
    // ...but when only TLS 1.1 and below remain: refuse.
    history.push(failed(knobs, Stage::Tls, FailureClass::TlsVersionMismatch));
    let v = verdict(&policy, &history);
    assert_eq!(v.kind, VerdictKind::RefusedByPolicy);
    assert!(
        v.reason.contains("downgrade") && v.reason.contains("TLS 1.2 -> TLS 1.0"),
        "{}",
        v.reason
    );

    policy.accept_downgrade = true;
    assert_eq!(next_knobs(&policy, &history).tls, rung(2));

    // A hung-up hello gets the most tolerant one the guard allows: OpenSSL, TLS 1.2 only.
    policy.accept_downgrade = false;
    let history = [failed(saved.clone(), Stage::Tls, FailureClass::PeerClosed)];
    let knobs = next_knobs(&policy, &history);
    assert_eq!(knobs.tls, tolerant(Grade::Tls12));
    assert_eq!(weakened_property(&saved, &knobs), None);

    // A stronger configuration is never a downgrade: the ladder starts over from the top.
    let old = with(&strongest(), |k| k.tls = openssl(TlsVersion::Tls10, None));
    policy.profile = Some(old.clone());
    policy.baseline = Some(old.clone());
    let history = [failed(old, Stage::Tls, FailureClass::TlsVersionMismatch)];
    assert_eq!(next_knobs(&policy, &history).tls, rung(0));
}

#[test]
fn an_unverified_profile_is_a_preference_not_a_baseline() {
    let imported = with(&strongest(), |k| k.nla = Nla::Off);
    let mut policy = named();
    policy.profile = Some(imported.clone());
    assert_eq!(next_knobs(&policy, &[]), imported);
    let history = [failed(
        imported,
        Stage::Tls,
        FailureClass::TlsVersionMismatch,
    )];
    assert_eq!(
        next_knobs(&policy, &history).tls,
        rung(2),
        "no downgrade guard without a baseline"
    );
}

#[test]
fn pinned_dimensions_are_never_varied() {
    let mut policy = named();
    policy.pins.nla = Some(true);
    let history = [failed(
        strongest(),
        Stage::X224,
        FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
    )];
    let v = verdict(&policy, &history);
    assert!(v.reason.contains("--nla on"), "{}", v.reason);

    let mut policy = named();
    policy.pins.tls = Some(rung(0));
    let history = [failed(
        strongest(),
        Stage::Tls,
        FailureClass::TlsVersionMismatch,
    )];
    assert!(verdict(&policy, &history).reason.contains("pinned TLS"));
}

#[test]
fn hybrid_required_without_credentials_asks_for_them() {
    let off = with(&strongest(), |k| k.nla = Nla::Off);
    let mut policy = named();
    policy.profile = Some(off.clone());
    let history = [Tried {
        with_credentials: false,
        ..failed(
            off,
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::HybridRequiredByServer),
        )
    }];
    match next(&policy, &history, false, Duration::ZERO) {
        Decision::NeedCredentials { knobs, fallbacks } => {
            assert_eq!(knobs.nla, Nla::On);
            assert_eq!(fallbacks, [Fallback::NlaOn]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn budget_and_deadline_end_the_ladder() {
    let mut policy = named();
    policy.max_attempts = 1;
    let history = [failed(
        strongest(),
        Stage::Tls,
        FailureClass::TlsVersionMismatch,
    )];
    assert!(verdict(&policy, &history).reason.contains("budget"));

    let policy = named();
    match next(&policy, &history, true, Duration::from_secs(600)) {
        Decision::Verdict(v) => assert!(v.reason.contains("deadline"), "{}", v.reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ladders_always_terminate() {
    // Whatever the server answers, the planner ends within the rungs it has.
    for class in all_classes() {
        for stage in ALL_STAGES {
            let policy = named();
            let mut history = Vec::new();
            let mut steps = 0;
            while let Decision::Attempt { knobs, .. } | Decision::NeedCredentials { knobs, .. } =
                next(&policy, &history, true, Duration::ZERO)
            {
                history.push(failed(knobs, stage, class.clone()));
                steps += 1;
                assert!(
                    steps <= policy.max_attempts,
                    "{class} at {stage} does not terminate"
                );
            }
        }
    }
}

#[test]
fn weakened_properties_are_named() {
    let s = strongest();
    assert_eq!(
        weakened_property(&s, &with(&s, |k| k.nla = Nla::Off)).unwrap(),
        "NLA turned off"
    );
    assert_eq!(
        weakened_property(&s, &first()).unwrap(),
        "NLA left to the server"
    );
    let tls12_cbc = with(&s, |k| k.tls = openssl(TlsVersion::Tls12, None));
    assert!(weakened_property(&s, &tls12_cbc).unwrap().contains("CBC"));
    assert_eq!(
        weakened_property(&tls12_cbc, &with(&s, |k| k.tls = rung(2))).unwrap(),
        "TLS 1.2 -> TLS 1.0",
        "the legacy hello may end at TLS 1.0"
    );
    assert_eq!(weakened_property(&s, &with(&s, |k| k.udp = false)), None);
    let tls10 = with(&s, |k| k.tls = openssl(TlsVersion::Tls10, None));
    assert_eq!(weakened_property(&tls10, &s), None);
}

#[test]
fn a_single_attempt_is_exactly_what_was_asked() {
    let mut policy = Policy::new(None, 3389);
    policy.pins.nla = Some(false);
    let mut policy = policy.single_attempt();
    let saved = with(&strongest(), |k| k.tls = openssl(TlsVersion::Tls10, None));
    policy.start_from(Remembered {
        preferred: Some(saved.clone()),
        baseline: Some(saved),
        addresses: vec![addr(V4)],
    });
    assert!(policy.is_single_attempt());
    assert_eq!(policy.max_attempts, 1);
    assert!(policy.profile.is_none() && policy.baseline.is_none());
    assert!(
        policy.known_addresses.is_empty(),
        "a saved profile does not come into it"
    );
    let knobs = next_knobs(&policy, &[]);
    assert_eq!(
        knobs,
        with(&strongest(), |k| k.nla = Nla::Off),
        "the pin, else the strongest"
    );
    // Without --nla, one attempt is NLA required (HYBRID|HYBRID_EX only), as before.
    let policy = Policy::new(None, 3389).single_attempt();
    assert_eq!(next_knobs(&policy, &[]), strongest());
    let history = [failed(knobs, Stage::Tls, FailureClass::TlsVersionMismatch)];
    assert!(verdict(&policy, &history).reason.contains("budget"));

    // By IP literal there is no name to pin: the dial is the literal.
    let policy = Policy::new(Some("10.0.0.5".parse().unwrap()), 3390).single_attempt();
    assert_eq!(
        next_knobs(&policy, &[]).dial,
        Dial::Ip("10.0.0.5:3390".parse().unwrap())
    );
}

#[test]
fn a_saved_profile_is_tried_first_by_the_ladder() {
    let mut policy = named();
    let saved = with(&strongest(), |k| k.tls = rung(2));
    policy.start_from(Remembered {
        preferred: Some(saved.clone()),
        baseline: None,
        addresses: vec![addr(V4)],
    });
    assert_eq!(next_knobs(&policy, &[]), saved);
    assert_eq!(policy.known_addresses, [addr(V4)]);
}

/// A selection outside the offer is followed, like any other fallback: the pin, the floor
/// and the downgrade guard still decide. A selection that says which way to go (TLS, NLA)
/// is followed exactly; one rdpshim cannot take (Standard RDP Security, RDSTLS) after an
/// NLA-only offer leads to mstsc's offer, which lets the server pick TLS.
#[test]
fn the_server_s_selection_is_followed() {
    let tls_only = with(&strongest(), |k| k.nla = Nla::Off);
    // (what the attempt offered, what the server selected, NLA next: None = a verdict, the
    // steps named)
    let rows: [(Knobs, Protocol, Option<Nla>, &[Fallback]); 8] = [
        (
            strongest(),
            Protocol::Ssl,
            Some(Nla::Off),
            &[Fallback::NlaOff],
        ),
        (strongest(), Protocol::Rdp, Some(Nla::Negotiate), &[]),
        (strongest(), Protocol::Rdstls, Some(Nla::Negotiate), &[]),
        (
            tls_only.clone(),
            Protocol::Hybrid,
            Some(Nla::On),
            &[Fallback::NlaOn],
        ),
        (
            tls_only.clone(),
            Protocol::HybridEx,
            Some(Nla::On),
            &[Fallback::NlaOn],
        ),
        (tls_only.clone(), Protocol::Rdp, None, &[]),
        (first(), Protocol::Rdp, None, &[]),
        (first(), Protocol::Rdstls, Some(Nla::On), &[]),
    ];
    for (offered, selected, nla, steps) in rows {
        let class = if selected == Protocol::Rdp {
            FailureClass::RdpSecuritySelected
        } else {
            FailureClass::UnrequestedProtocol(selected)
        };
        let history = [failed(offered.clone(), Stage::X224, class)];
        match (next(&named(), &history, true, Duration::ZERO), nla) {
            (Decision::Attempt { knobs, fallbacks }, Some(nla)) => {
                assert_eq!(knobs.nla, nla, "{selected} after {offered:?}");
                assert_eq!(knobs.tls, offered.tls, "only NLA changes");
                assert_eq!(fallbacks, steps, "announced like any other");
            }
            (Decision::Verdict(v), None) => {
                assert_eq!(v.causes[0].id, CauseId::RdpSecurityOnly, "{v:?}")
            }
            (other, _) => panic!("{selected} after {offered:?}: {other:?}"),
        }
    }

    let selected_tls = [failed(
        strongest(),
        Stage::X224,
        FailureClass::UnrequestedProtocol(Protocol::Ssl),
    )];
    // --nla on pins it: no following, and the verdict says why.
    let mut pinned = named();
    pinned.pins.nla = Some(true);
    let v = verdict(&pinned, &selected_tls);
    assert!(v.reason.contains("--nla on"), "{}", v.reason);
    assert_eq!(v.causes[0].id, CauseId::NlaRefused);
    // A floor that requires NLA refuses to follow.
    let mut floor = named();
    floor.floor = Grade::Legacy;
    assert_eq!(
        verdict(&floor, &selected_tls).kind,
        VerdictKind::RefusedByPolicy
    );
    // So does a profile that connected with NLA, unless the user accepts the downgrade.
    let mut guarded = named();
    guarded.baseline = Some(strongest());
    assert_eq!(
        verdict(&guarded, &selected_tls).kind,
        VerdictKind::RefusedByPolicy
    );
    guarded.accept_downgrade = true;
    assert_eq!(next_knobs(&guarded, &selected_tls).nla, Nla::Off);
}

/// A server that hangs up on the modern hello only (no TLS 1.3, CBC suites, an old stack)
/// gets the most tolerant hello next and connects with it.
#[test]
fn a_server_that_resets_only_the_modern_hello_gets_the_tolerant_one() {
    let history = [failed(first(), Stage::Tls, FailureClass::PeerClosed)];
    match next(&named(), &history, true, Duration::ZERO) {
        Decision::Attempt { knobs, fallbacks } => {
            assert_eq!(knobs.tls, tolerant(Grade::NoNla));
            assert_eq!(knobs.nla, Nla::Negotiate, "the same offer");
            assert_eq!(
                fallbacks,
                [Fallback::CipherDowngrade, Fallback::TlsVersionDowngrade]
            );
        }
        other => panic!("{other:?}"),
    }
    // A mismatch on the tolerant hello is not a dead end: the ladder goes on (OpenSSL's
    // suites refused, rustls TLS 1.2 is left).
    let tolerant_failed = failed(
        with(&first(), |k| k.tls = tolerant(Grade::NoNla)),
        Stage::Tls,
        FailureClass::TlsCipherMismatch,
    );
    let knobs = next_knobs(&named(), &[history[0].clone(), tolerant_failed]);
    assert_eq!(knobs.tls, rung(1));
}

/// Every verdict names the causes its attempts proved, blocking first.
#[test]
fn verdicts_name_the_causes_the_attempts_proved() {
    let history = [
        failed(
            strongest(),
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
        ),
        failed(
            with(&strongest(), |k| k.nla = Nla::Off),
            Stage::Tls,
            FailureClass::TlsVersionMismatch,
        ),
    ];
    let mut policy = named();
    policy.floor = Grade::Legacy;
    let v = verdict(&policy, &history[..1]);
    assert_eq!(v.kind, VerdictKind::RefusedByPolicy);
    assert_eq!(v.causes[0].id, CauseId::NlaRefused);
    let mut policy = named();
    policy.max_attempts = 2;
    let v = verdict(&policy, &history);
    let ids: Vec<CauseId> = v.causes.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [CauseId::TlsVersion, CauseId::NlaRefused],
        "blocking first"
    );
}

#[test]
fn a_negotiation_code_reads_back_to_the_code_on_the_wire() {
    for code in 0..=9 {
        assert_eq!(NegotiationCode::from_u32(code).code(), code);
    }
}
