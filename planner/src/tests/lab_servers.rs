//! Every lab server (`tests/lab/lab.sh`'s kinds) as a model the planner plays against: what
//! it selects from an X.224 offer, which TLS it speaks, how it fails. Per server: the
//! attempts a cold run makes (no profile), the configuration that connected as it is
//! recorded and the fallbacks named, or the causes of the verdict; then the warm run from
//! that profile. The lab tests (`tests/integration/lab/ladder.rs`) make the same runs
//! against the real servers.

use super::*;

/// What a server answers an X.224 Connection Request offering `offer` (requestedProtocols):
/// the protocol it selects, or how the attempt fails at X.224.
type Selects = fn(u32) -> Result<Protocol, FailureClass>;

const SSL: u32 = 0x1;
const HYBRID: u32 = 0x2;
const HYBRID_EX: u32 = 0x8;

/// TLS-only xrdp and freerdp-shadow: TLS when offered, else SSL_REQUIRED_BY_SERVER.
fn tls_only(offer: u32) -> Result<Protocol, FailureClass> {
    if offer & SSL != 0 {
        Ok(Protocol::Ssl)
    } else {
        Err(FailureClass::NegotiationFailure(
            NegotiationCode::SslRequiredByServer,
        ))
    }
}

/// freerdp-shadow with NLA: HYBRID_EX or HYBRID when offered, else HYBRID_REQUIRED.
fn nla_only(offer: u32) -> Result<Protocol, FailureClass> {
    if offer & HYBRID_EX != 0 {
        Ok(Protocol::HybridEx)
    } else if offer & HYBRID != 0 {
        Ok(Protocol::Hybrid)
    } else {
        Err(FailureClass::NegotiationFailure(
            NegotiationCode::HybridRequiredByServer,
        ))
    }
}

/// xrdp with security_layer=negotiate: TLS when offered, else Standard RDP Security.
fn tls_or_rdp(offer: u32) -> Result<Protocol, FailureClass> {
    Ok(if offer & SSL != 0 {
        Protocol::Ssl
    } else {
        Protocol::Rdp
    })
}

/// win-reset: the strongest protocol it was offered (a Windows server picks NLA when it can).
fn asked(offer: u32) -> Result<Protocol, FailureClass> {
    [Protocol::HybridEx, Protocol::Hybrid, Protocol::Ssl]
        .into_iter()
        .find(|p| offer & p.bits() != 0)
        .ok_or(FailureClass::ProtocolError)
}

/// The python servers that select PROTOCOL_SSL whatever was asked.
fn always_ssl(_: u32) -> Result<Protocol, FailureClass> {
    Ok(Protocol::Ssl)
}

/// xrdp with security_layer=rdp: Standard RDP Security whatever was asked.
fn always_rdp(_: u32) -> Result<Protocol, FailureClass> {
    Ok(Protocol::Rdp)
}

fn closes(_: u32) -> Result<Protocol, FailureClass> {
    Err(FailureClass::PeerClosed)
}

fn stalls(_: u32) -> Result<Protocol, FailureClass> {
    Err(FailureClass::Timeout)
}

fn not_rdp(_: u32) -> Result<Protocol, FailureClass> {
    Err(FailureClass::ProtocolError)
}

/// The TLS a server speaks after selecting TLS or NLA.
enum Tls {
    /// These versions, with this suite (an OpenSSL name; rustls offers only AEAD suites
    /// with forward secrecy, so a legacy suite is a `handshake_failure` for it).
    Speaks(&'static [TlsVersion], &'static str),
    /// Every ClientHello ends so (reset, or no answer).
    Hangs(FailureClass),
}

const MODERN: Tls = Tls::Speaks(
    &[TlsVersion::Tls12, TlsVersion::Tls13],
    "TLS_AES_256_GCM_SHA384",
);

/// How TCP goes.
#[derive(PartialEq)]
enum Net {
    Up,
    /// The name resolves to ::1 first, where nothing listens (ipv6-first).
    V6Refused,
    /// Every address fails so (netns-drop, netns-reject).
    Down(FailureClass),
}

struct Server {
    kind: &'static str,
    net: Net,
    x224: Selects,
    tls: Tls,
}

const fn up(kind: &'static str, x224: Selects, tls: Tls) -> Server {
    Server {
        kind,
        net: Net::Up,
        x224,
        tls,
    }
}

const SERVERS: &[Server] = &[
    up("xrdp-modern", tls_only, MODERN),
    up(
        "xrdp-tls10",
        tls_only,
        Tls::Speaks(&[TlsVersion::Tls10], "ECDHE-RSA-AES128-SHA"),
    ),
    up(
        "xrdp-aes128sha",
        tls_only,
        Tls::Speaks(&[TlsVersion::Tls12], "AES128-SHA"),
    ),
    up("xrdp-expired", tls_only, MODERN),
    up("xrdp-rdp-only", always_rdp, MODERN),
    up(
        "shadow-nla",
        nla_only,
        Tls::Speaks(&[TlsVersion::Tls12], "ECDHE-RSA-AES256-GCM-SHA384"),
    ),
    up(
        "shadow-tls",
        tls_only,
        Tls::Speaks(&[TlsVersion::Tls12], "ECDHE-RSA-AES256-GCM-SHA384"),
    ),
    up("closer", closes, MODERN),
    up("staller", stalls, MODERN),
    up("staller-tls", always_ssl, Tls::Hangs(FailureClass::Timeout)),
    Server {
        kind: "ipv6-first",
        net: Net::V6Refused,
        x224: tls_only,
        tls: MODERN,
    },
    Server {
        kind: "netns-drop",
        net: Net::Down(FailureClass::TcpTimeout),
        x224: tls_only,
        tls: MODERN,
    },
    Server {
        kind: "netns-reject",
        net: Net::Down(FailureClass::TcpRefused),
        x224: tls_only,
        tls: MODERN,
    },
    up("win-reset", asked, Tls::Hangs(FailureClass::PeerClosed)),
    up(
        "win-reset-ssl",
        always_ssl,
        Tls::Hangs(FailureClass::PeerClosed),
    ),
    up("http", not_rdp, MODERN),
    up("tls-plain", closes, MODERN),
    up("xrdp-negotiate", tls_or_rdp, MODERN),
    up("xrdp-rdp-low", always_rdp, MODERN),
    up("xrdp-rdp-fips", always_rdp, MODERN),
    up("selects-tls", always_ssl, MODERN),
];

/// One attempt against `server`: what the planner learns, and the knobs as used when TLS
/// completed.
fn attempt(server: &Server, knobs: &Knobs, credentials: bool) -> (Tried, Option<Knobs>) {
    let v6 = addr(V6);
    let v4 = addr(V4);
    let (dialled, resolved) = match &knobs.dial {
        Dial::ByName => (v6, vec![v6, v4]),
        Dial::Ip(a) => (*a, Vec::new()),
    };
    let mut tried = Tried {
        knobs: knobs.clone(),
        with_credentials: credentials,
        failure: None,
        resolved,
        dialled: Some(dialled),
        selected: None,
    };
    let tcp = match &server.net {
        Net::Down(class) => Some(class.clone()),
        Net::V6Refused if dialled == v6 => Some(FailureClass::TcpRefused),
        _ => None,
    };
    if let Some(class) = tcp {
        tried.failure = Some((Stage::Tcp, class));
        return (tried, None);
    }
    let selected = match (server.x224)(protocol::offered(knobs)) {
        Ok(selected) => selected,
        Err(class) => {
            tried.failure = Some((Stage::X224, class));
            return (tried, None);
        }
    };
    tried.selected = Some(selected);
    if selected == Protocol::Rdp {
        tried.failure = Some((Stage::X224, FailureClass::RdpSecuritySelected));
        return (tried, None);
    }
    if !protocol::was_offered(knobs, selected) {
        let class = FailureClass::UnrequestedProtocol(selected);
        tried.failure = Some((Stage::X224, class));
        return (tried, None);
    }
    let (versions, suite) = match &server.tls {
        Tls::Hangs(class) => {
            tried.failure = Some((Stage::Tls, class.clone()));
            return (tried, None);
        }
        Tls::Speaks(versions, suite) => (*versions, *suite),
    };
    let common = offered_versions(&knobs.tls)
        .into_iter()
        .filter(|v| versions.contains(v))
        .max();
    let Some(version) = common else {
        tried.failure = Some((Stage::Tls, FailureClass::TlsVersionMismatch));
        return (tried, None);
    };
    let suite_offered = match (knobs.tls.stack, &knobs.tls.ciphers) {
        (TlsStack::Rustls, _) => !is_legacy_suite(suite),
        (TlsStack::Openssl, None) => true,
        (TlsStack::Openssl, Some(list)) => list.split(':').any(|s| s == suite),
    };
    if !suite_offered {
        tried.failure = Some((Stage::Tls, FailureClass::TlsCipherMismatch));
        return (tried, None);
    }
    let used = knobs.as_used(Some(selected), Some((version, suite)));
    if selected.nla() == Some(true) && !credentials {
        tried.failure = Some((Stage::Credssp, FailureClass::CredentialsRequired));
    }
    (tried, Some(used))
}

/// A run against `server` under `policy`, as the ladder makes it.
struct Played {
    attempts: Vec<Knobs>,
    /// Per attempt: the downgrades announced before it (what its knobs are sure to give
    /// up), and after its TLS handshake (what it gave up, once the server had chosen).
    before: Vec<Vec<Fallback>>,
    after: Vec<Vec<Fallback>>,
    /// The configuration as used and the run's fallbacks, or the verdict.
    result: Result<(Knobs, Vec<Fallback>), Verdict>,
}

fn play(server: &Server, policy: &Policy, credentials: bool) -> Played {
    let mut history: Vec<Tried> = Vec::new();
    let mut played = Played {
        attempts: Vec::new(),
        before: Vec::new(),
        after: Vec::new(),
        result: Err(Verdict::new(VerdictKind::NoWorkingConfiguration, "")),
    };
    loop {
        let knobs = match next(policy, &history, credentials, Duration::ZERO) {
            Decision::Attempt { knobs, .. } => knobs,
            Decision::NeedCredentials { knobs, .. } if credentials => knobs,
            Decision::NeedCredentials { .. } => {
                played.result = Err(Verdict::new(VerdictKind::AuthFailed, "no credentials"));
                return played;
            }
            Decision::Verdict(v) => {
                played.result = Err(v);
                return played;
            }
        };
        let (tried, used) = attempt(server, &knobs, credentials);
        played.before.push(downgrades(&knobs));
        played
            .after
            .push(used.as_ref().map(downgrades).unwrap_or_default());
        played.attempts.push(knobs);
        let connected = tried.failure.is_none();
        history.push(tried);
        assert!(history.len() <= policy.max_attempts, "{}", server.kind);
        if let (true, Some(used)) = (connected, used) {
            let fallbacks = fallbacks_used(&played.attempts[0], &used);
            played.result = Ok((used, fallbacks));
            return played;
        }
    }
}

fn server(kind: &str) -> &'static Server {
    SERVERS
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("no model of {kind}"))
}

/// The policy the lab tests connect with: the server's IP literal, or for ipv6-first its
/// name.
fn lab_policy(server: &Server) -> Policy {
    if server.net == Net::V6Refused {
        named()
    } else {
        Policy::new(Some(addr(V4).ip()), 3389)
    }
}

/// How a cold run ends.
enum Cold {
    /// Connects in this many attempts with NLA as used, TLS as recorded, these fallbacks.
    Connects(usize, Nla, TlsChoice, &'static [Fallback]),
    /// Ends in this many attempts with a verdict naming these causes, blocking first.
    Fails(usize, &'static [CauseId]),
}

fn rustls_auto() -> TlsChoice {
    TlsChoice::modern()
}

/// Every lab server, cold and warm. Before mstsc's offer and the one legacy hello, the same
/// servers took 41 attempts cold (bench/ATTEMPTS.md); now 27.
#[test]
fn every_lab_server_cold_and_warm() {
    use CauseId as C;
    use Fallback as F;
    let rows: Vec<(&str, Cold)> = vec![
        (
            "xrdp-modern",
            Cold::Connects(1, Nla::Off, rustls_auto(), &[F::NlaOff]),
        ),
        (
            "xrdp-tls10",
            Cold::Connects(
                2,
                Nla::Off,
                openssl(TlsVersion::Tls10, Some("ECDHE-RSA-AES128-SHA")),
                &[F::NlaOff, F::TlsVersionDowngrade],
            ),
        ),
        (
            "xrdp-aes128sha",
            Cold::Connects(
                2,
                Nla::Off,
                openssl(TlsVersion::Tls12, Some("AES128-SHA")),
                &[F::NlaOff, F::CipherDowngrade],
            ),
        ),
        (
            "xrdp-expired",
            Cold::Connects(1, Nla::Off, rustls_auto(), &[F::NlaOff]),
        ),
        (
            "xrdp-rdp-only",
            Cold::Fails(1, &[C::RdpSecurityOnly, C::NlaRefused]),
        ),
        ("shadow-nla", Cold::Connects(1, Nla::On, rustls_auto(), &[])),
        (
            "shadow-tls",
            Cold::Connects(1, Nla::Off, rustls_auto(), &[F::NlaOff]),
        ),
        ("closer", Cold::Fails(1, &[C::ClosedBeforeTls])),
        ("staller", Cold::Fails(1, &[C::NotAnswering])),
        (
            "staller-tls",
            Cold::Fails(2, &[C::NotAnswering, C::NlaRefused]),
        ),
        (
            "ipv6-first",
            Cold::Connects(2, Nla::Off, rustls_auto(), &[F::IpForHostname, F::NlaOff]),
        ),
        ("netns-drop", Cold::Fails(1, &[C::PortFiltered])),
        ("netns-reject", Cold::Fails(1, &[C::PortRefused])),
        ("win-reset", Cold::Fails(2, &[C::ClosedDuringTls])),
        (
            "win-reset-ssl",
            Cold::Fails(2, &[C::ClosedDuringTls, C::NlaRefused]),
        ),
        ("http", Cold::Fails(1, &[C::NotRdp])),
        ("tls-plain", Cold::Fails(1, &[C::ClosedBeforeTls])),
        (
            "xrdp-negotiate",
            Cold::Connects(1, Nla::Off, rustls_auto(), &[F::NlaOff]),
        ),
        (
            "xrdp-rdp-low",
            Cold::Fails(1, &[C::RdpSecurityOnly, C::NlaRefused]),
        ),
        (
            "xrdp-rdp-fips",
            Cold::Fails(1, &[C::RdpSecurityOnly, C::NlaRefused]),
        ),
        (
            "selects-tls",
            Cold::Connects(1, Nla::Off, rustls_auto(), &[F::NlaOff]),
        ),
    ];
    let kinds: Vec<&str> = rows.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, lab_kinds(), "a row per lab kind, in lab.sh's order");

    let mut total = 0;
    for (kind, cold) in rows {
        let server = server(kind);
        let policy = lab_policy(server);
        let played = play(server, &policy, true);
        let context = format!("{kind}: {:?} -> {:?}", played.attempts, played.result);
        assert_eq!(
            played.attempts[0].nla,
            Nla::Negotiate,
            "mstsc's offer first: {context}"
        );
        total += played.attempts.len();
        match cold {
            Cold::Connects(attempts, nla, tls, fallbacks) => {
                assert_eq!(played.attempts.len(), attempts, "{context}");
                let Ok((used, named)) = &played.result else {
                    panic!("must connect: {context}")
                };
                assert_eq!(used.nla, nla, "recorded NLA, never negotiate: {context}");
                assert_eq!(used.tls, tls, "recorded TLS: {context}");
                assert_eq!(named, fallbacks, "{context}");
                // Nothing the server could still refuse is announced before the attempt;
                // what it gave up is, after the handshake (before anything is sent).
                assert!(played.before.iter().all(Vec::is_empty), "{context}");
                let mut announced = played.after.last().cloned().unwrap_or_default();
                announced.sort();
                let mut expected = fallbacks.to_vec();
                expected.retain(|f| f.gives_up().is_some());
                expected.sort();
                assert_eq!(announced, expected, "announced after TLS: {context}");

                // Warm: the profile's configuration, first time, NLA and TLS exactly.
                let mut warm = lab_policy(server);
                warm.start_from(Remembered {
                    preferred: Some(used.clone()),
                    baseline: Some(used.clone()),
                    addresses: Vec::new(),
                });
                let again = play(server, &warm, true);
                assert_eq!(again.attempts.len(), 1, "warm {context}");
                assert_eq!(again.attempts[0].nla, nla, "warm {context}");
                assert_eq!(again.attempts[0].tls, tls, "warm {context}");
                assert!(matches!(&again.result, Ok((u, f)) if u == used && f.is_empty()));
            }
            Cold::Fails(attempts, causes) => {
                assert_eq!(played.attempts.len(), attempts, "{context}");
                let Err(verdict) = &played.result else {
                    panic!("must fail: {context}")
                };
                let ids: Vec<CauseId> = verdict.causes.iter().map(|f| f.id).collect();
                assert_eq!(ids, causes, "{context}");
            }
        }
    }
    assert_eq!(total, 27, "attempts over every lab server, cold");
}

/// `tests/lab/lab.sh`'s kinds, in order.
fn lab_kinds() -> Vec<&'static str> {
    let script = include_str!("../../../tests/lab/lab.sh");
    let list = script
        .split_once("\nKINDS=(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(list, _)| list)
        .expect("KINDS=(...) in lab.sh");
    list.split_whitespace().collect()
}

/// The NLA server without credentials: asked for, on the same offer (never a downgrade).
#[test]
fn an_nla_server_without_credentials_asks_for_them_on_the_same_offer() {
    let server = server("shadow-nla");
    let policy = lab_policy(server);
    let (tried, _) = attempt(server, &next_knobs(&policy, &[]), false);
    assert_eq!(
        tried.failure,
        Some((Stage::Credssp, FailureClass::CredentialsRequired))
    );
    match next(&policy, std::slice::from_ref(&tried), false, Duration::ZERO) {
        Decision::NeedCredentials { knobs, fallbacks } => {
            assert_eq!(knobs, tried.knobs, "the same offer, with credentials");
            assert!(fallbacks.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

/// Pins, the floor and the guard on the lab servers: `--nla on|off` and `--tls V
/// --tls-stack openssl` make exactly the attempt they name, a floor that requires NLA never
/// offers TLS alone, and the legacy hello is narrowed by the floor.
#[test]
fn pins_floors_and_the_guard_on_lab_servers() {
    use Fallback as F;
    let pinned = |nla: Option<bool>, tls: Option<TlsChoice>| {
        let mut policy = Policy::new(Some(addr(V4).ip()), 3389);
        policy.pins.nla = nla;
        policy.pins.tls = tls;
        policy
    };
    let floor = |grade| {
        let mut policy = Policy::new(Some(addr(V4).ip()), 3389);
        policy.floor = grade;
        policy
    };

    // --nla off --tls 1.0 --tls-stack openssl on the TLS 1.0 server: one attempt, exactly.
    let tls10 = openssl(TlsVersion::Tls10, None);
    let played = play(
        server("xrdp-tls10"),
        &pinned(Some(false), Some(tls10.clone())),
        true,
    );
    assert_eq!(played.attempts.len(), 1);
    assert_eq!(played.attempts[0].tls, tls10);
    assert_eq!(played.attempts[0].nla, Nla::Off);
    assert_eq!(
        played.before[0],
        [F::NlaOff, F::TlsVersionDowngrade],
        "sure, so announced first"
    );
    let (used, fallbacks) = played.result.unwrap();
    assert_eq!(
        used.tls,
        openssl(TlsVersion::Tls10, Some("ECDHE-RSA-AES128-SHA"))
    );
    assert!(
        fallbacks.is_empty(),
        "the first attempt's own settings are no fallback"
    );
    // A pinned version it does not speak: the verdict says the pin is the problem.
    let played = play(
        server("xrdp-tls10"),
        &pinned(None, Some(openssl(TlsVersion::Tls11, None))),
        true,
    );
    assert_eq!(played.attempts.len(), 1);
    assert!(played.result.unwrap_err().reason.contains("pinned TLS"));

    // --nla on on the server that selects TLS whatever was asked: HYBRID|HYBRID_EX only.
    let played = play(server("selects-tls"), &pinned(Some(true), None), true);
    assert_eq!(played.attempts.len(), 1);
    assert_eq!(protocol::offered(&played.attempts[0]), 0xA);
    let verdict = played.result.unwrap_err();
    assert!(verdict.reason.contains("--nla on"), "{}", verdict.reason);
    assert_eq!(verdict.causes[0].id, CauseId::NlaRefused);
    // --nla off on a Windows-like reset server: two attempts, TLS only.
    let played = play(server("win-reset"), &pinned(Some(false), None), true);
    assert_eq!(played.attempts.len(), 2);
    assert!(played.attempts.iter().all(|k| k.nla == Nla::Off));

    // A floor that requires NLA: no offer includes TLS alone; the server that wants TLS is
    // refused by policy after one attempt.
    for kind in ["selects-tls", "xrdp-modern", "xrdp-tls10"] {
        let played = play(server(kind), &floor(Grade::Legacy), true);
        assert_eq!(played.attempts.len(), 1, "{kind}");
        assert!(played.attempts.iter().all(|k| k.nla == Nla::On), "{kind}");
        assert_eq!(
            played.result.unwrap_err().kind,
            VerdictKind::RefusedByPolicy
        );
    }
    // --min-security tls12 on the reset server: the most tolerant hello is TLS 1.2 only.
    let played = play(server("win-reset"), &floor(Grade::Tls12), true);
    assert_eq!(played.attempts.len(), 2);
    assert_eq!(played.attempts[1].tls, tolerant(Grade::Tls12));
    assert_eq!(
        played.result.unwrap_err().causes[0].id,
        CauseId::ClosedDuringTls
    );
    // --min-security tls12 on the NLA server: NLA only, and it connects.
    let played = play(server("shadow-nla"), &floor(Grade::Tls12), true);
    assert_eq!(played.attempts.len(), 1);
    assert!(played.result.is_ok());
}

/// A profile that connected with the legacy hello's choice (TLS 1.2, AES128-SHA) guards it:
/// a server that now speaks TLS 1.0 only is refused as a possible downgrade attack, after
/// the hellos the guard allows; with `--accept-downgrade` the legacy hello finds TLS 1.0.
#[test]
fn the_guard_compares_the_versions_that_connected() {
    let saved = play(
        server("xrdp-aes128sha"),
        &lab_policy(server("xrdp-aes128sha")),
        true,
    )
    .result
    .unwrap()
    .0;
    let mut policy = lab_policy(server("xrdp-tls10"));
    policy.start_from(Remembered {
        preferred: Some(saved.clone()),
        baseline: Some(saved.clone()),
        addresses: Vec::new(),
    });
    let played = play(server("xrdp-tls10"), &policy, true);
    let verdict = played.result.unwrap_err();
    assert_eq!(verdict.kind, VerdictKind::RefusedByPolicy, "{verdict:?}");
    assert!(
        verdict.reason.contains("TLS 1.2 -> TLS 1.0"),
        "{}",
        verdict.reason
    );
    assert!(
        played
            .attempts
            .iter()
            .all(|k| weakened_property(&saved, k).is_none()),
        "nothing below the profile was tried: {:?}",
        played.attempts
    );

    policy.accept_downgrade = true;
    let played = play(server("xrdp-tls10"), &policy, true);
    let (used, _) = played.result.unwrap();
    assert_eq!(
        used.tls,
        openssl(TlsVersion::Tls10, Some("ECDHE-RSA-AES128-SHA"))
    );
}
