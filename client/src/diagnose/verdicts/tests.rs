//! Every lab scenario (and a few the lab cannot stage) as findings, and the exact set of
//! causes each must be found to have: the right one, and no wrong one.

use std::net::SocketAddr;

use super::*;
use crate::attempt::TlsStack;
use crate::diagnose::findings::*;
use crate::report::{CertificateInfo, Failure, Stage};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn selected(value: u32) -> X224Answer {
    X224Answer::Selected {
        selected: value,
        name: protocol::name(value).into(),
    }
}

fn refused(code: NegotiationCode) -> X224Answer {
    X224Answer::Refused { code }
}

/// The handshake failed with `class` after X.224 selected TLS.
fn tls_failed(class: FailureClass, detail: &str) -> Refusal {
    Refusal::Failed(Failure::new(Stage::Tls, class, detail))
}

fn suite(name: &str, aead: bool, forward_secrecy: bool) -> SuiteFinding {
    SuiteFinding {
        name: name.into(),
        iana: name.into(),
        stacks: vec![TlsStack::Openssl],
        aead,
        forward_secrecy,
        bits: 128,
    }
}

fn version(version: TlsVersion, suites: Vec<SuiteFinding>) -> VersionScan {
    VersionScan {
        version,
        accepted: !suites.is_empty(),
        preferred: suites.first().map(|s| s.name.clone()),
        suites,
        refusal: None,
    }
}

/// A healthy server: TLS and NLA (not Standard RDP Security, not RDSTLS), TLS 1.2 with
/// AEAD and forward secrecy, a valid CA-issued certificate for its name, CredSSP 6, reached
/// at its only address.
fn healthy() -> Findings {
    let layers = [
        (Layer::Rdp, refused(NegotiationCode::SslRequiredByServer)),
        (Layer::Tls, selected(protocol::SSL)),
        (Layer::Nla, selected(protocol::HYBRID)),
        (Layer::HybridEx, selected(protocol::HYBRID_EX)),
        (
            Layer::Rdstls,
            refused(NegotiationCode::SslNotAllowedByServer),
        ),
    ];
    let mut f = Findings {
        host: "rds01".into(),
        port: 3389,
        dns: DnsFinding {
            ip_literal: false,
            error: None,
            addresses: vec![AddressReach {
                address: addr("10.0.0.5:3389"),
                tcp: Reach::Connected,
                ms: 0.4,
                detail: None,
            }],
        },
        probed: Some(addr("10.0.0.5:3389")),
        security_layers: Vec::new(),
        tls: Some(TlsScan {
            requested: Some(0xB),
            versions: vec![
                version(TlsVersion::Tls10, vec![]),
                version(TlsVersion::Tls11, vec![]),
                version(
                    TlsVersion::Tls12,
                    vec![suite("ECDHE-RSA-AES256-GCM-SHA384", true, true)],
                ),
                version(TlsVersion::Tls13, vec![]),
            ],
            modern_client_ok: true,
            handshakes: 4,
        }),
        certificate: Some(CertificateDetails {
            info: CertificateInfo {
                sha256: "AB".into(),
                subject: "CN=rds01".into(),
                issuer: "CN=Corp CA".into(),
                not_before: "2026-01-01T00:00:00Z".into(),
                not_after: "2027-01-01T00:00:00Z".into(),
                self_signed: false,
                expired: false,
                not_yet_valid: false,
                names: vec!["rds01".into()],
            },
            san: vec![],
            key_type: "RSA".into(),
            key_bits: 2048,
            signature_algorithm: "sha256WithRSAEncryption".into(),
        }),
        certificate_error: None,
        tls_without_x224: Tri::Unknown,
        rdp_security: None,
        nla: NlaFinding {
            offered: Tri::Yes,
            required: Tri::No,
            credssp_version: Some(6),
            ntlm: Some(NtlmIdentity::default()),
            error: None,
        },
        multitransport: MultitransportFinding {
            advertised: Tri::Yes,
            flags: vec!["TRANSPORT_TYPE_UDP_FECR".into()],
            rdp_version: Some("10.7".into()),
            detail: None,
        },
        gateway: None,
        ms: 100.0,
    };
    set_layers(&mut f, layers.to_vec());
    f
}

fn set_layers(f: &mut Findings, layers: Vec<(Layer, X224Answer)>) {
    f.security_layers = layers
        .into_iter()
        .map(|(layer, answer)| LayerProbe {
            layer,
            requested: layer.requested(),
            accepted: matches!(&answer, X224Answer::Selected { selected, .. } if *selected == layer.accepted_when_selected()),
            answer,
        })
        .collect();
}

fn all_layers(answer: X224Answer) -> Vec<(Layer, X224Answer)> {
    Layer::ALL.iter().map(|&l| (l, answer.clone())).collect()
}

/// Findings of a server that never completed TLS.
fn no_tls(f: &mut Findings) {
    f.tls = None;
    f.certificate = None;
    f.nla = NlaFinding {
        offered: Tri::Unknown,
        required: Tri::Unknown,
        credssp_version: None,
        ntlm: None,
        error: None,
    };
    f.multitransport.advertised = Tri::Unknown;
    f.multitransport.rdp_version = None;
}

fn unreached(f: &mut Findings, reach: Reach) {
    no_tls(f);
    f.probed = None;
    f.security_layers.clear();
    f.dns.addresses[0].tcp = reach;
}

/// xrdp: TLS only, asked for NLA it selects TLS.
fn tls_only(f: &mut Findings) {
    set_layers(
        f,
        vec![
            (Layer::Rdp, refused(NegotiationCode::SslRequiredByServer)),
            (Layer::Tls, selected(protocol::SSL)),
            (Layer::Nla, selected(protocol::SSL)),
            (
                Layer::HybridEx,
                refused(NegotiationCode::SslRequiredByServer),
            ),
            (Layer::Rdstls, refused(NegotiationCode::SslRequiredByServer)),
        ],
    );
    f.nla = NlaFinding {
        offered: Tri::No,
        required: Tri::No,
        credssp_version: None,
        ntlm: None,
        error: None,
    };
}

fn version_ntlm(f: &mut Findings, version: &str) {
    f.nla.ntlm = Some(NtlmIdentity {
        product_version: Some(version.into()),
        ..NtlmIdentity::default()
    });
}

fn every_hello(f: &mut Findings, class: FailureClass, detail: &str) {
    for v in &mut f.tls.as_mut().unwrap().versions {
        *v = version(v.version, vec![]);
        v.refusal = Some(tls_failed(class.clone(), detail));
    }
    f.certificate = None;
    f.nla.credssp_version = None;
    f.multitransport.rdp_version = None;
}

#[test]
fn each_scenario_finds_exactly_its_causes() {
    use Cause::{
        CertificateExpired, CertificateMissing, CertificateName, CertificateSelfSigned,
        CertificateUnreadable, Cipher, ClosedAfterTls, ClosedBeforeTls, ClosedDuringTls,
        CredsspVersion, LegacyTls, NameResolution, NlaRefused, NlaRequired, NoForwardSecrecy,
        NotAnswering, NotRdp, PortFiltered, PortRefused, RdpSecurityOffered, RdpSecurityOnly,
    };
    type Scenario = (&'static str, fn(&mut Findings), &'static [Cause]);
    let scenarios: &[Scenario] = &[
        ("healthy", |_| {}, &[]),
        ("xrdp TLS only", tls_only, &[NlaRefused]),
        (
            "expired certificate",
            |f| {
                f.certificate.as_mut().unwrap().info.expired = true;
            },
            &[CertificateExpired],
        ),
        (
            "clock behind: not yet valid",
            |f| {
                f.certificate.as_mut().unwrap().info.not_yet_valid = true;
            },
            &[CertificateExpired],
        ),
        (
            "self-signed",
            |f| {
                let info = &mut f.certificate.as_mut().unwrap().info;
                info.self_signed = true;
                info.issuer = info.subject.clone();
            },
            &[CertificateSelfSigned],
        ),
        (
            "connected by IP, the certificate names the host only",
            |f| {
                f.host = "10.0.0.5".into();
                f.dns.ip_literal = true;
            },
            &[CertificateName],
        ),
        (
            "connected by another name",
            |f| f.host = "rds01.corp.example".into(),
            &[CertificateName],
        ),
        (
            "a wildcard certificate covers the name",
            |f| {
                f.host = "rds01.corp.example".into();
                f.certificate.as_mut().unwrap().info.names = vec!["*.corp.example".into()];
            },
            &[],
        ),
        (
            "SSL_CERT_NOT_ON_SERVER",
            |f| {
                set_layers(
                    f,
                    vec![
                        (Layer::Rdp, refused(NegotiationCode::SslRequiredByServer)),
                        (Layer::Tls, refused(NegotiationCode::SslCertNotOnServer)),
                        (Layer::Nla, selected(protocol::HYBRID)),
                    ],
                );
            },
            &[CertificateMissing],
        ),
        (
            "TLS 1.0 only",
            |f| {
                f.tls.as_mut().unwrap().versions = vec![
                    version(
                        TlsVersion::Tls10,
                        vec![suite("ECDHE-RSA-AES128-SHA", false, true)],
                    ),
                    version(TlsVersion::Tls11, vec![]),
                    version(TlsVersion::Tls12, vec![]),
                    version(TlsVersion::Tls13, vec![]),
                ];
            },
            &[Cause::TlsVersion],
        ),
        (
            "TLS 1.0 besides TLS 1.2",
            |f| {
                f.tls.as_mut().unwrap().versions[0] = version(
                    TlsVersion::Tls10,
                    vec![suite("ECDHE-RSA-AES128-SHA", false, true)],
                );
            },
            &[LegacyTls],
        ),
        (
            "RSA key exchange besides ECDHE",
            |f| {
                f.tls.as_mut().unwrap().versions[2]
                    .suites
                    .push(suite("AES128-SHA", false, false));
            },
            &[NoForwardSecrecy],
        ),
        (
            "CBC only",
            |f| {
                f.tls.as_mut().unwrap().versions[2] =
                    version(TlsVersion::Tls12, vec![suite("AES128-SHA", false, false)]);
            },
            &[Cipher],
        ),
        (
            "RSA key exchange with GCM is still refused by modern clients",
            |f| {
                f.tls.as_mut().unwrap().versions[2] = version(
                    TlsVersion::Tls12,
                    vec![suite("AES128-GCM-SHA256", true, false)],
                );
            },
            &[Cipher],
        ),
        (
            "NLA required",
            |f| {
                set_layers(
                    f,
                    vec![
                        (Layer::Rdp, refused(NegotiationCode::HybridRequiredByServer)),
                        (Layer::Tls, refused(NegotiationCode::HybridRequiredByServer)),
                        (Layer::Nla, selected(protocol::HYBRID)),
                        (
                            Layer::HybridEx,
                            refused(NegotiationCode::HybridRequiredByServer),
                        ),
                    ],
                );
                f.nla.required = Tri::Yes;
            },
            &[NlaRequired],
        ),
        (
            "Standard RDP Security only",
            |f| {
                set_layers(f, all_layers(selected(0)));
                no_tls(f);
                f.nla.offered = Tri::No;
                f.nla.required = Tri::No;
            },
            &[RdpSecurityOnly, NlaRefused],
        ),
        (
            "Standard RDP Security besides TLS, at 128 bits",
            |f| {
                set_layers(
                    f,
                    vec![
                        (Layer::Rdp, selected(0)),
                        (Layer::Tls, selected(protocol::SSL)),
                        (Layer::Nla, selected(protocol::HYBRID)),
                    ],
                );
                f.rdp_security = Some(RdpSecurityFinding {
                    level: Some(EncryptionLevel::High),
                    methods: EncryptionMethod::ALL
                        .iter()
                        .map(|&method| MethodProbe {
                            method,
                            accepted: method == EncryptionMethod::Bit128,
                            detail: None,
                        })
                        .collect(),
                });
            },
            &[RdpSecurityOffered],
        ),
        (
            "pre-2003 confirm without negotiation data",
            |f| {
                set_layers(f, all_layers(X224Answer::NoNegotiationData));
                no_tls(f);
                f.nla.offered = Tri::No;
            },
            &[RdpSecurityOnly, NlaRefused],
        ),
        (
            "socket closed after X.224",
            |f| {
                set_layers(
                    f,
                    all_layers(X224Answer::Closed {
                        detail: "eof".into(),
                    }),
                );
                no_tls(f);
                f.tls_without_x224 = Tri::No;
            },
            &[ClosedBeforeTls],
        ),
        (
            "closed after X.224, and TLS straight away works: a TLS port",
            |f| {
                set_layers(
                    f,
                    all_layers(X224Answer::Closed {
                        detail: "eof".into(),
                    }),
                );
                no_tls(f);
                f.tls_without_x224 = Tri::Yes;
            },
            &[ClosedBeforeTls, NotRdp],
        ),
        (
            "a web server answers",
            |f| {
                set_layers(
                    f,
                    all_layers(X224Answer::NotRdp {
                        speaks: Speaks::Http,
                        first_bytes: "HTTP/1.0 400 Bad Request".into(),
                    }),
                );
                no_tls(f);
                f.tls_without_x224 = Tri::No;
            },
            &[NotRdp],
        ),
        (
            "a TPKT that is not a Connection Confirm",
            |f| {
                set_layers(
                    f,
                    all_layers(X224Answer::Garbage {
                        detail: "not an X.224 Connection Confirm".into(),
                    }),
                );
                no_tls(f);
            },
            &[NotRdp],
        ),
        (
            "reset on every ClientHello (a Windows certificate it cannot use)",
            |f| every_hello(f, FailureClass::PeerClosed, "Connection reset by peer"),
            &[ClosedDuringTls],
        ),
        (
            "selects TLS for everything, then resets every ClientHello",
            |f| {
                tls_only(f);
                set_layers(f, all_layers(selected(protocol::SSL)));
                every_hello(f, FailureClass::PeerClosed, "Connection reset by peer");
            },
            &[ClosedDuringTls, NlaRefused],
        ),
        (
            "a confirm selecting several protocols at once, on every request",
            |f| {
                set_layers(
                    f,
                    all_layers(X224Answer::Garbage {
                        detail: "selectedProtocol 0x00000003 is not one protocol".into(),
                    }),
                );
                no_tls(f);
            },
            &[NotRdp],
        ),
        (
            "a certificate no TLS stack can read",
            |f| {
                let refusal = Failure::new(
                    Stage::Tls,
                    FailureClass::bad_certificate(),
                    "TLS handshake (OpenSSL): ASN1 lib",
                );
                every_hello(f, refusal.class.clone(), &refusal.detail);
                f.certificate_error = Some(UnreadableCertificate::Refused(refusal));
            },
            &[CertificateUnreadable],
        ),
        (
            "a certificate with impossible dates",
            |f| {
                f.certificate = None;
                f.certificate_error = Some(UnreadableCertificate::Unparsable(
                    "unparsable server certificate: Parsing Error: InvalidDate".into(),
                ));
            },
            &[CertificateUnreadable],
        ),
        (
            "bytes that are not TLS after the confirm",
            |f| {
                every_hello(
                    f,
                    FailureClass::ProtocolError,
                    "TLS handshake (rustls): received corrupt message of type InvalidContentType",
                )
            },
            &[NotRdp],
        ),
        (
            "X.224 staller",
            |f| {
                set_layers(f, all_layers(X224Answer::Timeout));
                no_tls(f);
            },
            &[NotAnswering],
        ),
        (
            "TLS staller",
            |f| {
                every_hello(
                    f,
                    FailureClass::Timeout,
                    "no TLS handshake within the limit",
                )
            },
            &[NotAnswering],
        ),
        (
            "selects TLS for everything, then never answers the ClientHello",
            |f| {
                tls_only(f);
                set_layers(f, all_layers(selected(protocol::SSL)));
                every_hello(
                    f,
                    FailureClass::Timeout,
                    "no TLS handshake within the limit",
                );
            },
            &[NotAnswering, NlaRefused],
        ),
        (
            "firewall DROP",
            |f| unreached(f, Reach::Timeout),
            &[PortFiltered],
        ),
        (
            "firewall REJECT",
            |f| unreached(f, Reach::Refused),
            &[PortRefused],
        ),
        (
            "name does not resolve",
            |f| {
                unreached(f, Reach::Timeout);
                f.dns.addresses.clear();
                f.dns.error = Some("`rds01` does not resolve".into());
            },
            &[NameResolution],
        ),
        (
            "first address dead, second works",
            |f| {
                f.dns.addresses.insert(
                    0,
                    AddressReach {
                        address: addr("[::1]:3389"),
                        tcp: Reach::Refused,
                        ms: 0.1,
                        detail: None,
                    },
                );
            },
            &[NameResolution],
        ),
        (
            "CredSSP before the 2018 update",
            |f| f.nla.credssp_version = Some(4),
            &[CredsspVersion],
        ),
        (
            "Windows Server 2008 R2 by its NTLM version",
            |f| version_ntlm(f, "6.1.7601"),
            &[Cause::Bluekeep],
        ),
        (
            "Windows Server 2012 by its NTLM version",
            |f| version_ntlm(f, "6.2.9200"),
            &[],
        ),
        (
            "closed after TLS",
            |f| {
                f.nla.credssp_version = None;
                f.nla.error = Some(ExchangeError::ClosedAfterTls("eof".into()));
            },
            &[ClosedAfterTls],
        ),
    ];
    for (name, stage, expected) in scenarios {
        let mut f = healthy();
        stage(&mut f);
        let verdicts = verdicts(&f);
        let mut got = found(&verdicts);
        got.sort();
        let mut want = expected.to_vec();
        want.sort();
        assert_eq!(got, want, "{name}: {verdicts:#?}");
        for v in &verdicts {
            assert_eq!(
                v.remedy.is_some(),
                v.status == Status::Found,
                "{name}: {v:?}"
            );
            assert_eq!(v.severity, v.cause.severity());
            assert!(
                !v.evidence.is_empty(),
                "{name}: {:?} has no evidence",
                v.cause
            );
        }
    }
}

/// Exit 4 means a blocking cause: conditional causes and weaknesses alone are a healthy
/// server that some clients or policies refuse.
#[test]
fn only_blocking_causes_block() {
    let mut f = healthy();
    tls_only(&mut f);
    f.certificate.as_mut().unwrap().info.self_signed = true;
    f.tls.as_mut().unwrap().versions[2]
        .suites
        .push(suite("AES128-SHA", false, false));
    let v = verdicts(&f);
    assert_eq!(
        found(&v),
        [
            Cause::NlaRefused,
            Cause::CertificateSelfSigned,
            Cause::NoForwardSecrecy
        ]
    );
    assert!(blocking(&v).is_empty());
    f.nla.credssp_version = Some(3);
    f.nla.offered = Tri::Yes;
    assert_eq!(blocking(&verdicts(&f)), [Cause::CredsspVersion]);
}

#[test]
fn bluekeep_is_an_estimate_that_names_nla() {
    let mut f = healthy();
    version_ntlm(&mut f, "6.1.7601");
    f.nla.required = Tri::Yes;
    let v = verdicts(&f);
    let b = v.iter().find(|v| v.cause == Cause::Bluekeep).unwrap();
    assert!(b.evidence.contains("may be exposed") && b.evidence.contains("NLA is required"));
    assert!(b.title.contains("estimate"));
    version_ntlm(&mut f, "5.2.3790");
    f.nla.required = Tri::No;
    let v = verdicts(&f);
    let b = v.iter().find(|v| v.cause == Cause::Bluekeep).unwrap();
    assert!(b.evidence.contains("Server 2003") && b.evidence.contains("without credentials"));
    f.nla.ntlm = None;
    let v = verdicts(&f);
    assert_eq!(
        v.iter()
            .find(|v| v.cause == Cause::Bluekeep)
            .unwrap()
            .status,
        Status::CannotTell
    );
}

#[test]
fn an_unreached_server_says_nothing_about_what_lies_beyond_tcp() {
    let mut f = healthy();
    unreached(&mut f, Reach::Timeout);
    for v in verdicts(&f) {
        let expected = match v.cause {
            Cause::PortFiltered => Status::Found,
            Cause::NameResolution | Cause::PortRefused => Status::NotFound,
            _ => Status::CannotTell,
        };
        assert_eq!(v.status, expected, "{:?}", v.cause);
    }
}

#[test]
fn an_ip_literal_has_no_name_to_resolve() {
    let mut f = healthy();
    f.dns.ip_literal = true;
    let v = verdicts(&f);
    assert_eq!(v[0].cause, Cause::NameResolution);
    assert_eq!(v[0].status, Status::NotFound);
}

#[test]
fn every_cause_diagnose_can_see_has_a_verdict_in_table_order() {
    let v = verdicts(&healthy());
    let judged: Vec<Cause> = judged(false).collect();
    assert_eq!(v.iter().map(|v| v.cause).collect::<Vec<_>>(), judged);
    assert!(!judged.contains(&Cause::Licensing), "only a logon shows it");
    assert!(!judged.contains(&Cause::GatewayTls), "no gateway given");
    assert_eq!(judged.len(), Cause::ALL.len() - 6);
    assert_eq!(judged_with_gateway_count(), Cause::ALL.len() - 1);
}

fn judged_with_gateway_count() -> usize {
    judged(true).count()
}
