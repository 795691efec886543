//! The gateway verdicts from findings alone: one row per scenario, each cause's status.

use std::net::SocketAddr;

use super::*;
use crate::diagnose::findings::{AddressReach, CertificateDetails, SuiteFinding, VersionScan};
use crate::report::{CertificateInfo, Failure};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn version(version: TlsVersion, accepted: bool) -> VersionScan {
    VersionScan {
        version,
        accepted,
        preferred: None,
        suites: if accepted {
            vec![SuiteFinding {
                name: "ECDHE-RSA-AES128-SHA".into(),
                iana: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into(),
                stacks: vec![crate::attempt::TlsStack::Openssl],
                aead: false,
                forward_secrecy: true,
                bits: 128,
            }]
        } else {
            vec![]
        },
        refusal: None,
    }
}

/// A modern gateway at `gw.corp` with a CA certificate for its name, offering NTLM and
/// Basic, probed without credentials.
fn healthy() -> GatewayFindings {
    GatewayFindings {
        host: "gw.corp".into(),
        port: 443,
        dns: DnsFinding {
            ip_literal: false,
            error: None,
            addresses: vec![AddressReach {
                address: addr("10.0.0.1:443"),
                tcp: Reach::Connected,
                ms: 0.5,
                detail: None,
            }],
        },
        probed: Some(addr("10.0.0.1:443")),
        tls: Some(TlsScan {
            requested: None,
            versions: vec![
                version(TlsVersion::Tls10, false),
                version(TlsVersion::Tls11, false),
                version(TlsVersion::Tls12, true),
                version(TlsVersion::Tls13, true),
            ],
            modern_client_ok: true,
            handshakes: 9,
        }),
        certificate: Some(CertificateDetails {
            info: CertificateInfo {
                sha256: "AB:CD".into(),
                subject: "CN=gw.corp".into(),
                issuer: "CN=Corp CA".into(),
                not_before: "2026-01-01T00:00:00Z".into(),
                not_after: "2027-01-01T00:00:00Z".into(),
                self_signed: false,
                expired: false,
                not_yet_valid: false,
                names: vec!["gw.corp".into()],
            },
            san: vec!["DNS:gw.corp".into()],
            key_type: "RSA".into(),
            key_bits: 2048,
            signature_algorithm: "sha256WithRSAEncryption".into(),
        }),
        http: HttpOffer {
            status: Some(401),
            schemes: vec!["NTLM".into(), "Basic".into()],
            error: None,
        },
        websocket: Tri::Unknown,
        tunnel: None,
    }
}

fn status(cause: CauseId, g: &GatewayFindings) -> Status {
    judge(cause, g).0
}

fn with(change: impl FnOnce(&mut GatewayFindings)) -> GatewayFindings {
    let mut g = healthy();
    change(&mut g);
    g
}

fn tunnel(refusal: Option<(Stage, FailureClass)>) -> Option<TunnelFinding> {
    Some(TunnelFinding {
        user: "alice".into(),
        transport: refusal.is_none().then_some(TransportUsed::WebSocket),
        refusal: refusal.map(|(stage, class)| Refusal::Failed(Failure::new(stage, class, "x"))),
    })
}

#[test]
fn a_healthy_gateway_has_no_blocking_cause_and_says_what_it_cannot_tell() {
    let g = healthy();
    for cause in [
        CauseId::GatewayUnreachable,
        CauseId::GatewayTls,
        CauseId::GatewayCertificate,
        CauseId::GatewayAuth,
    ] {
        assert_eq!(
            status(cause, &g),
            Status::NotFound,
            "{cause}: {:?}",
            judge(cause, &g)
        );
    }
    let (s, evidence) = judge(CauseId::GatewayResourcePolicy, &g);
    assert_eq!(s, Status::CannotTell);
    assert!(evidence.contains("credentials"), "{evidence}");
}

#[test]
fn each_gateway_cause_is_found_on_its_evidence() {
    use FailureClass as F;
    let rows: Vec<(CauseId, GatewayFindings, Status)> = vec![
        (
            CauseId::GatewayUnreachable,
            with(|g| {
                g.probed = None;
                g.dns.addresses[0].tcp = Reach::Refused;
            }),
            Status::Found,
        ),
        (
            CauseId::GatewayUnreachable,
            with(|g| {
                g.probed = None;
                g.dns.error = Some("no such name".into());
                g.dns.addresses.clear();
            }),
            Status::Found,
        ),
        (
            CauseId::GatewayTls,
            with(|g| {
                let scan = g.tls.as_mut().unwrap();
                scan.versions = vec![
                    version(TlsVersion::Tls10, true),
                    version(TlsVersion::Tls11, false),
                    version(TlsVersion::Tls12, false),
                    version(TlsVersion::Tls13, false),
                ];
                scan.modern_client_ok = false;
            }),
            Status::Found,
        ),
        (
            CauseId::GatewayTls,
            with(|g| g.tls.as_mut().unwrap().modern_client_ok = false),
            Status::Found,
        ),
        (
            CauseId::GatewayCertificate,
            with(|g| g.certificate.as_mut().unwrap().info.self_signed = true),
            Status::Found,
        ),
        (
            CauseId::GatewayCertificate,
            with(|g| g.host = "127.0.0.1".into()),
            Status::Found,
        ),
        (
            CauseId::GatewayCertificate,
            with(|g| g.certificate.as_mut().unwrap().info.expired = true),
            Status::Found,
        ),
        (
            CauseId::GatewayAuth,
            with(|g| g.http.schemes = vec!["Negotiate".into()]),
            Status::CannotTell,
        ),
        (
            CauseId::GatewayAuth,
            with(|g| g.http.schemes = vec!["Bearer".into()]),
            Status::Found,
        ),
        (
            CauseId::GatewayAuth,
            with(|g| {
                g.tunnel = tunnel(Some((
                    Stage::GatewayHttp,
                    F::GatewayAuthFailed {
                        offered: vec!["NTLM".into()],
                        tried: vec!["NTLM".into()],
                    },
                )))
            }),
            Status::Found,
        ),
        (
            CauseId::GatewayAuth,
            with(|g| g.tunnel = tunnel(Some((Stage::GatewayTunnel, F::GatewayResourceRefused)))),
            Status::NotFound,
        ),
        (
            CauseId::GatewayResourcePolicy,
            with(|g| g.tunnel = tunnel(Some((Stage::GatewayTunnel, F::GatewayResourceRefused)))),
            Status::Found,
        ),
        (
            CauseId::GatewayResourcePolicy,
            with(|g| g.tunnel = tunnel(None)),
            Status::NotFound,
        ),
        (
            CauseId::GatewayResourcePolicy,
            with(|g| {
                g.tunnel = tunnel(Some((
                    Stage::GatewayHttp,
                    F::GatewayAuthFailed {
                        offered: vec![],
                        tried: vec![],
                    },
                )))
            }),
            Status::CannotTell,
        ),
    ];
    for (cause, findings, expected) in rows {
        let (got, evidence) = judge(cause, &findings);
        assert_eq!(got, expected, "{cause}: {evidence}");
        assert!(!evidence.is_empty());
    }
}

#[test]
fn an_unreached_gateway_tells_nothing_else() {
    let g = with(|g| {
        g.probed = None;
        g.dns.addresses[0].tcp = Reach::Timeout;
        g.tls = None;
        g.certificate = None;
    });
    for cause in [
        CauseId::GatewayTls,
        CauseId::GatewayCertificate,
        CauseId::GatewayAuth,
        CauseId::GatewayResourcePolicy,
    ] {
        assert_eq!(status(cause, &g), Status::CannotTell, "{cause}");
    }
}
