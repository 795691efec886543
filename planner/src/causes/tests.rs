//! The table holds together, its texts cannot drift from the fallbacks, each failure points
//! to the cause it proves, and README's table is the code's.

use std::string::ToString;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::knobs::{Knobs, Nla};
use crate::rungs::{tolerant, Grade};
use crate::tls::TlsChoice;

#[test]
fn the_table_is_in_id_order_with_unique_ids() {
    for (index, cause) in CAUSES.iter().enumerate() {
        assert_eq!(cause.id, CauseId::ALL[index], "row {index}");
        assert_eq!(CauseId::parse(cause.id.as_str()), Some(cause.id));
        assert!(!cause.title.is_empty() && !cause.proof.is_empty());
        assert!(!cause.server.is_empty() && !cause.client.is_empty());
    }
    let mut ids: Vec<&str> = CauseId::ALL.iter().map(|c| c.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), CAUSES.len());
    // Blocking first, then conditional, then weaknesses: the report's order.
    assert!(CAUSES.windows(2).all(|w| w[0].severity <= w[1].severity));
}

/// Remedies are prose: the fallback that works around a cause is the typed `workaround`,
/// so no text can name a fallback that does not exist (the old `ip-address`).
#[test]
fn no_remedy_names_a_fallback() {
    for cause in &CAUSES {
        for text in [cause.title, cause.proof, cause.server, cause.client] {
            assert!(
                !text.contains("fallback") && !text.contains("rdpshim's"),
                "{}: name the fallback in `workaround`, not in the text: {text}",
                cause.id
            );
            for fallback in [
                Fallback::IpForHostname,
                Fallback::TlsVersionDowngrade,
                Fallback::CipherDowngrade,
                Fallback::NlaOff,
                Fallback::NlaOn,
                Fallback::UdpOff,
                Fallback::DirectInsteadOfGateway,
                Fallback::ViaGateway,
                Fallback::GatewayTransport,
                Fallback::GatewayAuthScheme,
            ] {
                assert!(!text.contains(fallback.as_str()), "{}: {text}", cause.id);
            }
        }
    }
    assert_eq!(
        CauseId::worked_around_by(Fallback::NlaOff),
        Some(CauseId::NlaRefused)
    );
    assert_eq!(CauseId::worked_around_by(Fallback::UdpOff), None);
}

/// Rung 0: rustls TLS 1.3/1.2; 1: rustls TLS 1.2; 2, 3, 4: OpenSSL pinned to TLS 1.2, 1.1,
/// 1.0 (`--tls-stack openssl --tls V`, or a saved profile); 5: the most tolerant hello.
fn knobs(nla: bool, rung: usize) -> Knobs {
    let mut k = Knobs::strongest();
    k.nla = Nla::exact(nla);
    let choice = |stack, version| TlsChoice {
        stack,
        version,
        ciphers: None,
    };
    k.tls = [
        TlsChoice::modern(),
        choice(TlsStack::Rustls, Some(TlsVersion::Tls12)),
        choice(TlsStack::Openssl, Some(TlsVersion::Tls12)),
        choice(TlsStack::Openssl, Some(TlsVersion::Tls11)),
        choice(TlsStack::Openssl, Some(TlsVersion::Tls10)),
        tolerant(Grade::NoNla),
    ][rung]
        .clone();
    k
}

/// mstsc's offer (TLS|HYBRID|HYBRID_EX) on `rung`.
fn negotiate(rung: usize) -> Knobs {
    Knobs {
        nla: Nla::Negotiate,
        ..knobs(true, rung)
    }
}

/// Each row: what the attempt offered, how it failed, the cause it proves.
#[test]
fn each_failure_points_to_the_cause_it_proves() {
    use FailureClass as F;
    let code = |c| F::NegotiationFailure(NegotiationCode::from_u32(c));
    let rows: Vec<(Knobs, Stage, FailureClass, Option<CauseId>)> = vec![
        (
            knobs(true, 0),
            Stage::Dns,
            F::Dns,
            Some(CauseId::NameResolution),
        ),
        (
            knobs(true, 0),
            Stage::Tcp,
            F::TcpRefused,
            Some(CauseId::PortRefused),
        ),
        (
            knobs(true, 0),
            Stage::Tcp,
            F::TcpTimeout,
            Some(CauseId::PortFiltered),
        ),
        (
            knobs(true, 0),
            Stage::X224,
            F::Timeout,
            Some(CauseId::NotAnswering),
        ),
        (
            knobs(true, 0),
            Stage::X224,
            F::PeerClosed,
            Some(CauseId::ClosedBeforeTls),
        ),
        (
            knobs(true, 0),
            Stage::X224,
            F::ProtocolError,
            Some(CauseId::NotRdp),
        ),
        (
            knobs(true, 0),
            Stage::X224,
            code(1),
            Some(CauseId::NlaRefused),
        ),
        (
            knobs(false, 0),
            Stage::X224,
            code(2),
            Some(CauseId::RdpSecurityOnly),
        ),
        (
            knobs(false, 0),
            Stage::X224,
            code(3),
            Some(CauseId::CertificateMissing),
        ),
        (
            knobs(false, 0),
            Stage::X224,
            code(5),
            Some(CauseId::NlaRequired),
        ),
        (knobs(false, 0), Stage::X224, code(6), None),
        (
            knobs(true, 0),
            Stage::X224,
            F::RdpSecuritySelected,
            Some(CauseId::NlaRefused),
        ),
        (
            knobs(false, 0),
            Stage::X224,
            F::RdpSecuritySelected,
            Some(CauseId::RdpSecurityOnly),
        ),
        (
            knobs(true, 0),
            Stage::X224,
            F::UnrequestedProtocol(Protocol::Ssl),
            Some(CauseId::NlaRefused),
        ),
        (
            knobs(false, 0),
            Stage::X224,
            F::UnrequestedProtocol(Protocol::HybridEx),
            Some(CauseId::NlaRequired),
        ),
        (
            knobs(true, 0),
            Stage::X224,
            F::UnrequestedProtocol(Protocol::Rdstls),
            None,
        ),
        // A version mismatch is the server's only when TLS 1.2 was offered.
        (
            knobs(false, 0),
            Stage::Tls,
            F::TlsVersionMismatch,
            Some(CauseId::TlsVersion),
        ),
        (
            knobs(false, 2),
            Stage::Tls,
            F::TlsVersionMismatch,
            Some(CauseId::TlsVersion),
        ),
        (knobs(false, 4), Stage::Tls, F::TlsVersionMismatch, None),
        // A suite mismatch is the server's when the modern suites were offered.
        (
            knobs(false, 0),
            Stage::Tls,
            F::TlsCipherMismatch,
            Some(CauseId::Cipher),
        ),
        (knobs(false, 2), Stage::Tls, F::TlsCipherMismatch, None),
        (
            knobs(false, 0),
            Stage::Tls,
            F::PeerClosed,
            Some(CauseId::ClosedDuringTls),
        ),
        (
            knobs(false, 0),
            Stage::Tls,
            F::Timeout,
            Some(CauseId::NotAnswering),
        ),
        // An unreadable certificate: OpenSSL's refusal (or our parser's after an OpenSSL
        // handshake) proves it; rustls' alone does not.
        (knobs(false, 0), Stage::Tls, F::bad_certificate(), None),
        (
            knobs(false, 2),
            Stage::Tls,
            F::bad_certificate(),
            Some(CauseId::CertificateUnreadable),
        ),
        (
            knobs(false, 4),
            Stage::Tls,
            F::bad_certificate(),
            Some(CauseId::CertificateUnreadable),
        ),
        (
            knobs(false, 0),
            Stage::Tls,
            F::TlsOther("internal-error".into()),
            None,
        ),
        (
            knobs(true, 0),
            Stage::Credssp,
            F::PeerClosed,
            Some(CauseId::ClosedAfterTls),
        ),
        (
            knobs(false, 0),
            Stage::Mcs,
            F::PeerClosed,
            Some(CauseId::ClosedAfterTls),
        ),
        (knobs(true, 0), Stage::Credssp, F::AuthFailed, None),
        (
            knobs(true, 0),
            Stage::Licensing,
            F::Licensing,
            Some(CauseId::Licensing),
        ),
        (knobs(true, 0), Stage::Tls, F::CertificateChanged, None),
        // mstsc's offer includes TLS: Standard RDP Security selected from it refuses TLS.
        (
            negotiate(0),
            Stage::X224,
            F::RdpSecuritySelected,
            Some(CauseId::RdpSecurityOnly),
        ),
        (
            negotiate(0),
            Stage::X224,
            F::UnrequestedProtocol(Protocol::Rdstls),
            None,
        ),
        // The most tolerant hello offers TLS 1.2 among others: refusing it is the server's.
        (
            negotiate(5),
            Stage::Tls,
            F::TlsVersionMismatch,
            Some(CauseId::TlsVersion),
        ),
        (negotiate(5), Stage::Tls, F::TlsCipherMismatch, None),
        (
            negotiate(5),
            Stage::Tls,
            F::PeerClosed,
            Some(CauseId::ClosedDuringTls),
        ),
    ];
    for (knobs, stage, class, cause) in rows {
        assert_eq!(
            of_failure(&knobs, stage, &class),
            cause,
            "{class} at {stage} with {}",
            describe(&knobs)
        );
    }
}

#[test]
fn a_history_merges_the_evidence_of_each_cause() {
    let tried = |nla, rung, stage, class| Tried {
        knobs: knobs(nla, rung),
        with_credentials: false,
        failure: Some((stage, class)),
        resolved: Vec::new(),
        dialled: None,
        selected: None,
    };
    let history = [
        tried(
            true,
            0,
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::SslRequiredByServer),
        ),
        tried(false, 0, Stage::Tls, FailureClass::PeerClosed),
        tried(false, 4, Stage::Tls, FailureClass::PeerClosed),
    ];
    let found = from_history(&history);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].id, CauseId::ClosedDuringTls, "blocking first");
    assert!(found[0].evidence.starts_with("attempt 2 (NLA off"));
    assert!(found[0]
        .evidence
        .contains("; attempt 3 (NLA off, TLS 1.0 (openssl))"));
    assert_eq!(found[1].id, CauseId::NlaRefused);
}

/// A server that, offered TLS|HYBRID|HYBRID_EX, chooses TLS or Standard RDP Security
/// refuses NLA: mstsc's offer proves `nla-refused` on the attempt that failed for another
/// reason, with the selection as evidence; choosing NLA proves nothing of the kind.
#[test]
fn mstsc_s_offer_answered_without_nla_proves_nla_refused() {
    let tried = |selected, stage, class| Tried {
        knobs: negotiate(0),
        with_credentials: false,
        failure: Some((stage, class)),
        resolved: Vec::new(),
        dialled: None,
        selected: Some(selected),
    };
    let found = from_history(&[tried(Protocol::Ssl, Stage::Tls, FailureClass::PeerClosed)]);
    let ids: Vec<CauseId> = found.iter().map(|f| f.id).collect();
    assert_eq!(ids, [CauseId::ClosedDuringTls, CauseId::NlaRefused]);
    assert!(
        found[1]
            .evidence
            .contains("offered ssl|hybrid|hybrid-ex, the server selected ssl"),
        "{found:?}"
    );

    let found = from_history(&[tried(
        Protocol::Rdp,
        Stage::X224,
        FailureClass::RdpSecuritySelected,
    )]);
    let ids: Vec<CauseId> = found.iter().map(|f| f.id).collect();
    assert_eq!(ids, [CauseId::RdpSecurityOnly, CauseId::NlaRefused]);

    let found = from_history(&[tried(
        Protocol::HybridEx,
        Stage::Tls,
        FailureClass::PeerClosed,
    )]);
    let ids: Vec<CauseId> = found.iter().map(|f| f.id).collect();
    assert_eq!(ids, [CauseId::ClosedDuringTls], "NLA selected: not refused");
}

/// README's table of causes is the code's (regenerate it from the message below).
#[test]
fn readme_holds_the_table_of_causes() {
    let readme = include_str!("../../../README.md");
    let begin = "<!-- causes:begin (generated from planner/src/causes.rs; see its tests) -->\n";
    let end = "<!-- causes:end -->";
    let table = markdown_table();
    let section = readme
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(section, _)| section.to_string());
    assert_eq!(
        section.as_deref(),
        Some(table.as_str()),
        "README's table of causes differs from the code; put this between the markers:\n{begin}{table}{end}"
    );
}
