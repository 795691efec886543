//! One verdict per known cause in the table of causes (`rdpshim_planner::causes`), decided
//! from [`Findings`] alone: pure, no I/O, no clock.
//!
//! Each cause is "found" only on positive evidence, "not found" when the findings rule it
//! out, and "cannot tell" when the probes that would show it did not get that far (a server
//! that was not reached says nothing about its certificate). Every verdict carries the
//! evidence it rests on and, when found, the remedies from the table, the same words
//! `connect`'s verdict carries.

use serde::Serialize;

use super::findings::{Findings, Layer, Reach, Speaks, Tri, X224Answer};
use super::names::name_matches;
use crate::attempt::TlsVersion;
use crate::planner::causes::SeenBy;
use crate::planner::Fallback;
use crate::report::{FailureClass, NegotiationCode};

pub use crate::planner::causes::{CauseId as Cause, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Found,
    NotFound,
    CannotTell,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::NotFound => "not found",
            Self::CannotTell => "cannot tell",
        }
    }
}

/// What to change, on each side (the table's words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remedy {
    pub server: &'static str,
    pub client: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub cause: Cause,
    pub title: &'static str,
    pub severity: Severity,
    pub status: Status,
    pub evidence: String,
    /// Present when found.
    pub remedy: Option<Remedy>,
    /// The fallback with which `rdpshim connect` gets through anyway, when found.
    pub workaround: Option<Fallback>,
}

/// The causes `diagnose` can judge, in table order (licensing comes after a logon; the
/// `gateway-*` causes when a gateway was probed).
pub fn judged(gateway: bool) -> impl Iterator<Item = Cause> {
    Cause::ALL.into_iter().filter(move |c| {
        c.info().seen_by != SeenBy::Connect && (gateway || !super::gateway::is_gateway_cause(*c))
    })
}

/// The verdict for every cause `diagnose` judges, in table order.
pub fn verdicts(f: &Findings) -> Vec<Verdict> {
    judged(f.gateway.is_some())
        .map(|cause| judge(cause, f))
        .collect()
}

/// The causes found, for summaries.
pub fn found(verdicts: &[Verdict]) -> Vec<Cause> {
    verdicts
        .iter()
        .filter(|v| v.status == Status::Found)
        .map(|v| v.cause)
        .collect()
}

/// The blocking causes found: what `diagnose`'s exit code 4 means.
pub fn blocking(verdicts: &[Verdict]) -> Vec<Cause> {
    verdicts
        .iter()
        .filter(|v| v.status == Status::Found && v.severity == Severity::Blocking)
        .map(|v| v.cause)
        .collect()
}

fn judge(cause: Cause, f: &Findings) -> Verdict {
    let (status, evidence) = match cause {
        Cause::GatewayUnreachable
        | Cause::GatewayTls
        | Cause::GatewayCertificate
        | Cause::GatewayAuth
        | Cause::GatewayResourcePolicy => match &f.gateway {
            Some(gateway) => super::gateway::judge(cause, gateway),
            None => (Status::CannotTell, "no gateway was given".to_owned()),
        },
        Cause::NameResolution => name_resolution(f),
        Cause::PortRefused => port(f, |r| r == Reach::Refused, "answered with a reset (RST)"),
        Cause::PortFiltered => port(
            f,
            |r| matches!(r, Reach::Timeout | Reach::Unreachable),
            "did not answer, or answered with ICMP unreachable",
        ),
        _ if f.probed.is_none() => (
            Status::CannotTell,
            "the server was not reached over TCP".to_owned(),
        ),
        Cause::NotAnswering => not_answering(f),
        Cause::NotRdp => not_rdp(f),
        Cause::ClosedBeforeTls => closed_before_tls(f),
        Cause::ClosedDuringTls => closed_during_tls(f),
        Cause::RdpSecurityOnly => rdp_security_only(f),
        Cause::CertificateMissing => certificate_missing(f),
        Cause::CertificateUnreadable => certificate_unreadable(f),
        Cause::TlsVersion => tls_version(f),
        Cause::Cipher => cipher(f),
        Cause::CredsspVersion => credssp_version(f),
        Cause::ClosedAfterTls => closed_after_tls(f),
        Cause::NlaRequired => nla_required(f),
        Cause::NlaRefused => nla_refused(f),
        Cause::CertificateExpired => certificate_expired(f),
        Cause::CertificateName => certificate_name(f),
        Cause::CertificateSelfSigned => certificate_self_signed(f),
        Cause::LegacyTls => legacy_tls(f),
        Cause::NoForwardSecrecy => no_forward_secrecy(f),
        Cause::RdpSecurityOffered => rdp_security_offered(f),
        Cause::Bluekeep => bluekeep(f),
        Cause::Licensing => (
            Status::CannotTell,
            "only a logon shows it (rdpshim connect)".to_owned(),
        ),
    };
    let info = cause.info();
    let found = status == Status::Found;
    Verdict {
        cause,
        title: info.title,
        severity: info.severity,
        status,
        remedy: found.then_some(Remedy {
            server: info.server,
            client: info.client,
        }),
        workaround: info.workaround.filter(|_| found),
        evidence,
    }
}

type Judged = (Status, String);

fn layer(f: &Findings, layer: Layer) -> Option<&X224Answer> {
    f.security_layers
        .iter()
        .find(|p| p.layer == layer)
        .map(|p| &p.answer)
}

fn accepted(f: &Findings, which: Layer) -> bool {
    f.security_layers
        .iter()
        .any(|p| p.layer == which && p.accepted)
}

/// The server answered at least one X.224 request with a Connection Confirm.
fn x224_answered(f: &Findings) -> bool {
    f.security_layers.iter().any(|p| {
        matches!(
            p.answer,
            X224Answer::Selected { .. }
                | X224Answer::Refused { .. }
                | X224Answer::NoNegotiationData
        )
    })
}

fn refused_with(f: &Findings, code: NegotiationCode) -> Vec<Layer> {
    f.security_layers
        .iter()
        .filter(|p| p.answer == X224Answer::Refused { code })
        .map(|p| p.layer)
        .collect()
}

fn name_resolution(f: &Findings) -> Judged {
    let dns = &f.dns;
    if dns.ip_literal {
        return (
            Status::NotFound,
            "an IP address was given: no name to resolve".into(),
        );
    }
    if let Some(error) = &dns.error {
        return (Status::Found, error.clone());
    }
    let list = dns
        .addresses
        .iter()
        .map(|a| a.address.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match dns.addresses.first() {
        Some(first) if first.tcp != Reach::Connected => {
            match dns.addresses.iter().find(|a| a.tcp == Reach::Connected) {
                Some(working) => (
                    Status::Found,
                    format!(
                        "`{}` resolves to {list}; the first, {}, which mstsc dials, is {}; {} accepts TCP",
                        f.host,
                        first.address.ip(),
                        reach_words(first.tcp),
                        working.address.ip()
                    ),
                ),
                None => (
                    Status::NotFound,
                    format!("`{}` resolves to {list}; none accepts TCP (see the port verdicts)", f.host),
                ),
            }
        }
        _ => (
            Status::NotFound,
            format!("`{}` resolves to {list}; the first accepts TCP", f.host),
        ),
    }
}

fn reach_words(reach: Reach) -> &'static str {
    match reach {
        Reach::Connected => "reachable",
        Reach::Refused => "refused (RST)",
        Reach::Timeout => "silent (no answer)",
        Reach::Unreachable => "unreachable",
    }
}

fn port(f: &Findings, matches: impl Fn(Reach) -> bool, words: &str) -> Judged {
    if f.dns.error.is_some() {
        return (Status::CannotTell, "the name does not resolve".into());
    }
    if f.probed.is_some() {
        let address = f.probed.map(|a| a.to_string()).unwrap_or_default();
        return (Status::NotFound, format!("{address} accepts TCP"));
    }
    let hits: Vec<String> = f
        .dns
        .addresses
        .iter()
        .filter(|a| matches(a.tcp))
        .map(|a| {
            format!(
                "{} {words} ({} ms{})",
                a.address,
                a.ms,
                a.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if hits.is_empty() {
        (Status::NotFound, "no address behaved this way".into())
    } else {
        (Status::Found, hits.join("; "))
    }
}

fn not_answering(f: &Findings) -> Judged {
    let timeouts = f
        .security_layers
        .iter()
        .filter(|p| p.answer == X224Answer::Timeout)
        .count();
    if !x224_answered(f) && timeouts > 0 {
        return (
            Status::Found,
            format!(
                "the server accepts TCP but sent no X.224 Connection Confirm to {timeouts} of {} requests within the time limit",
                f.security_layers.len()
            ),
        );
    }
    if let Some(tls) = &f.tls {
        if !tls.any_accepted() && tls.refused_with(&FailureClass::Timeout) > 0 {
            return (
                Status::Found,
                "the server confirms X.224 but never answers the TLS ClientHello".into(),
            );
        }
    }
    if x224_answered(f) {
        (Status::NotFound, "the server answers X.224".into())
    } else {
        (
            Status::CannotTell,
            "no X.224 answer, and no time-out either".into(),
        )
    }
}

fn closed_before_tls(f: &Findings) -> Judged {
    let closed: Vec<&str> = f
        .security_layers
        .iter()
        .filter(|p| matches!(p.answer, X224Answer::Closed { .. }))
        .map(|p| p.layer.as_str())
        .collect();
    if !x224_answered(f) && !closed.is_empty() {
        return (
            Status::Found,
            format!(
                "the server accepted TCP, read our X.224 Connection Request and closed the socket without a confirm (requests: {})",
                closed.join(", ")
            ),
        );
    }
    if x224_answered(f) {
        (Status::NotFound, "the server answers X.224".into())
    } else {
        (Status::CannotTell, "no X.224 answer".into())
    }
}

/// Another protocol answered the X.224 request, or the port speaks TLS straight away.
fn not_rdp(f: &Findings) -> Judged {
    let others: Vec<String> = f
        .security_layers
        .iter()
        .filter_map(|p| match &p.answer {
            X224Answer::NotRdp {
                speaks,
                first_bytes,
            } => Some(format!("{} (`{first_bytes}`)", speaks.describe())),
            X224Answer::Garbage { detail } => Some(format!(
                "a TPKT that is not a Connection Confirm ({detail})"
            )),
            _ => None,
        })
        .collect();
    if !x224_answered(f) {
        if let Some(first) = others.first() {
            return (
                Status::Found,
                format!(
                    "the server answered our X.224 Connection Request with {first}{}",
                    if others.iter().any(|o| o != first) {
                        " (and other answers to the other requests)"
                    } else {
                        ""
                    }
                ),
            );
        }
        if f.tls_without_x224 == Tri::Yes {
            return (
                Status::Found,
                format!(
                    "no X.224 Connection Confirm, but a TLS handshake straight away, without X.224, completes: the port speaks {} (HTTPS, an RD Gateway, a TLS proxy)",
                    Speaks::Tls.describe().trim_start_matches("a ")
                ),
            );
        }
    }
    // A TLS handshake answered with bytes that are not TLS records, for every version: the
    // scan offers TLS 1.0 to 1.3 with every suite, so no version mismatch explains it.
    if let Some(tls) = &f.tls {
        let refused = tls.refused_with(&FailureClass::ProtocolError);
        if !tls.any_accepted() && refused > 0 && refused == tls.versions.len() {
            return (
                Status::Found,
                "the server confirmed X.224, then answered every TLS ClientHello with bytes that are not TLS".into(),
            );
        }
    }
    if x224_answered(f) {
        (Status::NotFound, "the server answers X.224".into())
    } else if f.tls_without_x224 == Tri::No {
        (
            Status::NotFound,
            "no X.224 answer, and no TLS handshake without X.224 either".into(),
        )
    } else {
        (Status::CannotTell, "no X.224 answer".into())
    }
}

/// Reset (or closed) at the ClientHello for every version scanned.
fn closed_during_tls(f: &Findings) -> Judged {
    let Some(tls) = &f.tls else {
        return if x224_answered(f) {
            (
                Status::NotFound,
                "the server never selected TLS, so no ClientHello was sent".into(),
            )
        } else {
            (Status::CannotTell, "no X.224 answer".into())
        };
    };
    let closed = tls.refused_with(&FailureClass::PeerClosed);
    if !tls.any_accepted() && closed == tls.versions.len() {
        let versions: Vec<&str> = tls.versions.iter().map(|v| v.version.as_str()).collect();
        (
            Status::Found,
            format!(
                "X.224 selected TLS, then the server closed or reset the connection at the ClientHello for every version (TLS {}), each offered with every suite at security level 0: not a version or suite mismatch",
                versions.join(", ")
            ),
        )
    } else if tls.any_accepted() {
        (Status::NotFound, "a TLS handshake completed".into())
    } else {
        (
            Status::NotFound,
            format!(
                "the server answered {} of {} ClientHellos with an alert or a time-out rather than a reset",
                tls.versions.len() - closed,
                tls.versions.len()
            ),
        )
    }
}

fn rdp_security_only(f: &Findings) -> Judged {
    let tls_like =
        accepted(f, Layer::Tls) || accepted(f, Layer::Nla) || accepted(f, Layer::HybridEx);
    if tls_like {
        return (Status::NotFound, "the server accepts TLS or NLA".into());
    }
    let levels = f
        .rdp_security
        .as_ref()
        .map(|r| format!(" ({})", r.describe()))
        .unwrap_or_default();
    let not_allowed = refused_with(f, NegotiationCode::SslNotAllowedByServer);
    let answer = layer(f, Layer::Tls);
    let selected_rdp = matches!(
        answer,
        Some(X224Answer::Selected { selected: 0, .. } | X224Answer::NoNegotiationData)
    );
    if selected_rdp {
        (
            Status::Found,
            format!("asked for TLS alone, the server selected Standard RDP Security; NLA was not selected either{levels}"),
        )
    } else if !not_allowed.is_empty() {
        (
            Status::Found,
            format!("the server refuses TLS with SSL_NOT_ALLOWED_BY_SERVER{levels}"),
        )
    } else if x224_answered(f) {
        (
            Status::NotFound,
            "the server does not select Standard RDP Security".into(),
        )
    } else {
        (Status::CannotTell, "no X.224 answer".into())
    }
}

fn certificate_missing(f: &Findings) -> Judged {
    if !refused_with(f, NegotiationCode::SslCertNotOnServer).is_empty() {
        return (
            Status::Found,
            "the server refuses TLS with SSL_CERT_NOT_ON_SERVER: it has no certificate it can use"
                .into(),
        );
    }
    match &f.certificate {
        Some(cert) => (
            Status::NotFound,
            format!("the server presents `{}`", cert.info.subject),
        ),
        None => (Status::CannotTell, "no TLS handshake completed".into()),
    }
}

/// The TLS stacks refused the certificate itself, or rdpshim's parser cannot read it.
fn certificate_unreadable(f: &Findings) -> Judged {
    if let Some(error) = &f.certificate_error {
        return (
            Status::Found,
            format!("the server's certificate cannot be read: {error}"),
        );
    }
    match &f.certificate {
        Some(cert) => (
            Status::NotFound,
            format!("`{}` reads as an X.509 certificate", cert.info.subject),
        ),
        None => (Status::CannotTell, "no TLS handshake completed".into()),
    }
}

fn certificate_expired(f: &Findings) -> Judged {
    let Some(cert) = &f.certificate else {
        return (Status::CannotTell, "no TLS handshake completed".into());
    };
    let info = &cert.info;
    if info.expired {
        (
            Status::Found,
            format!(
                "the certificate `{}` expired on {}",
                info.subject, info.not_after
            ),
        )
    } else if info.not_yet_valid {
        (
            Status::Found,
            format!(
                "the certificate `{}` is not valid before {} (check the server's clock)",
                info.subject, info.not_before
            ),
        )
    } else {
        (
            Status::NotFound,
            format!(
                "`{}` valid {} to {}",
                info.subject, info.not_before, info.not_after
            ),
        )
    }
}

/// The host as the user typed it against the names the certificate carries.
fn certificate_name(f: &Findings) -> Judged {
    let Some(cert) = &f.certificate else {
        return (Status::CannotTell, "no TLS handshake completed".into());
    };
    let names = &cert.info.names;
    let carried = if names.is_empty() {
        "no name at all".to_owned()
    } else {
        names.join(", ")
    };
    if name_matches(names, &f.host) {
        return (
            Status::NotFound,
            format!("the certificate names `{}` ({carried})", f.host),
        );
    }
    let how = if f.dns.ip_literal {
        "by IP address"
    } else {
        "by name"
    };
    (
        Status::Found,
        format!(
            "connected {how} to `{}`; the certificate names {carried}",
            f.host
        ),
    )
}

fn certificate_self_signed(f: &Findings) -> Judged {
    match &f.certificate {
        None => (Status::CannotTell, "no TLS handshake completed".into()),
        Some(cert) if cert.info.self_signed => (
            Status::Found,
            format!(
                "`{}` is issued by itself (SHA-256 {})",
                cert.info.subject, cert.info.sha256
            ),
        ),
        Some(cert) => (
            Status::NotFound,
            format!(
                "`{}` is issued by `{}`",
                cert.info.subject, cert.info.issuer
            ),
        ),
    }
}

fn accepted_versions(f: &Findings) -> Vec<TlsVersion> {
    f.tls
        .iter()
        .flat_map(|t| t.versions.iter())
        .filter(|v| v.accepted)
        .map(|v| v.version)
        .collect()
}

fn version_list(versions: &[TlsVersion]) -> String {
    versions
        .iter()
        .map(|v| format!("TLS {}", v.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tls_version(f: &Findings) -> Judged {
    let versions = accepted_versions(f);
    match versions.iter().max() {
        None => (Status::CannotTell, "no TLS version was accepted".into()),
        Some(&max) if max < TlsVersion::Tls12 => (
            Status::Found,
            format!(
                "the server accepts only {}; current clients require TLS 1.2 or newer",
                version_list(&versions)
            ),
        ),
        Some(_) => (
            Status::NotFound,
            format!("the server accepts {}", version_list(&versions)),
        ),
    }
}

fn cipher(f: &Findings) -> Judged {
    let Some(tls) = &f.tls else {
        return (Status::CannotTell, "no TLS handshake was possible".into());
    };
    let modern: Vec<_> = tls
        .versions
        .iter()
        .filter(|v| v.version >= TlsVersion::Tls12)
        .flat_map(|v| v.suites.iter())
        .collect();
    if modern.is_empty() {
        return if accepted_versions(f).is_empty() {
            (Status::CannotTell, "no TLS version was accepted".into())
        } else {
            (
                Status::NotFound,
                "no TLS 1.2 or newer at all: the version is the problem".into(),
            )
        };
    }
    let good: Vec<&str> = modern
        .iter()
        .filter(|s| s.aead && s.forward_secrecy)
        .map(|s| s.name.as_str())
        .collect();
    if good.is_empty() {
        let names: Vec<&str> = modern.iter().map(|s| s.name.as_str()).collect();
        (
            Status::Found,
            format!(
                "TLS 1.2+ only with suites modern clients no longer offer (CBC or RSA key exchange): {}",
                names.join(", ")
            ),
        )
    } else {
        (
            Status::NotFound,
            format!(
                "{} AEAD suite(s) with forward secrecy, e.g. {}",
                good.len(),
                good[0]
            ),
        )
    }
}

fn nla_required(f: &Findings) -> Judged {
    match f.nla.required {
        Tri::Yes => (
            Status::Found,
            "asked for TLS without NLA, the server answered HYBRID_REQUIRED_BY_SERVER".into(),
        ),
        Tri::No => (
            Status::NotFound,
            "the server accepts a connection without NLA".into(),
        ),
        Tri::Unknown => (
            Status::CannotTell,
            "no answer to a request without NLA".into(),
        ),
    }
}

fn nla_refused(f: &Findings) -> Judged {
    match f.nla.offered {
        Tri::Yes => (Status::NotFound, "the server selects NLA (HYBRID)".into()),
        Tri::No => {
            let how = match layer(f, Layer::Nla) {
                Some(X224Answer::Selected { name, .. }) => format!("selected {name}"),
                Some(X224Answer::Refused { code }) => format!("refused it with {}", code.name()),
                _ => "did not select it".into(),
            };
            (
                Status::Found,
                format!("asked for NLA (HYBRID|SSL), the server {how}: it does not do NLA"),
            )
        }
        Tri::Unknown => (Status::CannotTell, "no answer to a request for NLA".into()),
    }
}

fn credssp_version(f: &Findings) -> Judged {
    match (f.nla.offered, f.nla.credssp_version) {
        (Tri::No, _) => (Status::NotFound, "no NLA, so no CredSSP".into()),
        (_, Some(v)) if v < 5 => (
            Status::Found,
            format!(
                "the server's TSRequest carries CredSSP version {v}: it predates the CVE-2018-0886 update (versions 5 and 6 carry the client nonce that closes it)"
            ),
        ),
        (_, Some(v)) => (Status::NotFound, format!("the server speaks CredSSP version {v}")),
        (_, None) => (
            Status::CannotTell,
            f.nla
                .error
                .as_ref()
                .map_or_else(|| "no CredSSP exchange".into(), ToString::to_string),
        ),
    }
}

fn closed_after_tls(f: &Findings) -> Judged {
    let mut closes = Vec::new();
    if f.nla.closed_after_tls() {
        closes.push("our NTLM NEGOTIATE");
    }
    if f.multitransport.closed_after_tls() {
        closes.push("our MCS Connect Initial");
    }
    if !closes.is_empty() {
        return (
            Status::Found,
            format!(
                "the TLS handshake completed, then the server closed the socket instead of answering {}",
                closes.join(" and ")
            ),
        );
    }
    let answered = f.nla.credssp_version.is_some() || f.multitransport.rdp_version.is_some();
    if answered {
        (Status::NotFound, "the server answers over TLS".into())
    } else {
        (Status::CannotTell, "nothing was exchanged over TLS".into())
    }
}

/// TLS 1.0 or 1.1 besides 1.2 or newer (alone, they are `tls-version`).
fn legacy_tls(f: &Findings) -> Judged {
    let versions = accepted_versions(f);
    if versions.is_empty() {
        return (Status::CannotTell, "no TLS version was accepted".into());
    }
    let old: Vec<TlsVersion> = versions
        .iter()
        .copied()
        .filter(|v| *v < TlsVersion::Tls12)
        .collect();
    let modern = versions.iter().any(|v| *v >= TlsVersion::Tls12);
    if !old.is_empty() && modern {
        (
            Status::Found,
            format!(
                "the server accepts {} as well as {}",
                version_list(&old),
                version_list(
                    &versions
                        .iter()
                        .copied()
                        .filter(|v| *v >= TlsVersion::Tls12)
                        .collect::<Vec<_>>()
                )
            ),
        )
    } else {
        (
            Status::NotFound,
            format!("the server accepts {}", version_list(&versions)),
        )
    }
}

/// Suites with RSA key exchange besides suites with forward secrecy (alone, they are
/// `cipher`).
fn no_forward_secrecy(f: &Findings) -> Judged {
    let Some(tls) = &f.tls else {
        return (Status::CannotTell, "no TLS handshake was possible".into());
    };
    let suites: Vec<_> = tls.versions.iter().flat_map(|v| v.suites.iter()).collect();
    if suites.is_empty() {
        return (Status::CannotTell, "no suite was accepted".into());
    }
    let mut without: Vec<&str> = suites
        .iter()
        .filter(|s| !s.forward_secrecy)
        .map(|s| s.name.as_str())
        .collect();
    without.sort_unstable();
    without.dedup();
    let with = suites.iter().any(|s| s.forward_secrecy);
    if with && !without.is_empty() {
        (
            Status::Found,
            format!(
                "{} suite(s) with RSA key exchange accepted: {}",
                without.len(),
                without.join(", ")
            ),
        )
    } else {
        (
            Status::NotFound,
            if without.is_empty() {
                "every suite accepted has forward secrecy".into()
            } else {
                "no suite with forward secrecy at all: see the cipher verdict".into()
            },
        )
    }
}

/// Standard RDP Security besides TLS or NLA, with the encryption levels it accepts.
fn rdp_security_offered(f: &Findings) -> Judged {
    let rdp = accepted(f, Layer::Rdp);
    let tls_like =
        accepted(f, Layer::Tls) || accepted(f, Layer::Nla) || accepted(f, Layer::HybridEx);
    match (rdp, tls_like) {
        (true, true) => (
            Status::Found,
            format!(
                "asked for Standard RDP Security, the server selects it; {}",
                f.rdp_security
                    .as_ref()
                    .map(|r| r.describe())
                    .unwrap_or_else(|| "its encryption levels were not probed".into())
            ),
        ),
        (true, false) => (
            Status::NotFound,
            "Standard RDP Security is all the server offers: see rdp-security-only".into(),
        ),
        (false, _) if layer(f, Layer::Rdp).is_some() && x224_answered(f) => (
            Status::NotFound,
            format!(
                "asked for Standard RDP Security, the server answered: {}",
                layer(f, Layer::Rdp)
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            ),
        ),
        (false, _) => (Status::CannotTell, "no X.224 answer".into()),
    }
}

/// CVE-2019-0708 affects Windows XP, Server 2003, Vista, Server 2008, 7 and Server 2008 R2:
/// NT versions 5.x, 6.0 and 6.1. An estimate: the update cannot be seen from outside.
fn bluekeep(f: &Findings) -> Judged {
    let Some(version) = f
        .nla
        .ntlm
        .as_ref()
        .and_then(|n| n.product_version.as_deref())
    else {
        return (
            Status::CannotTell,
            "the server's OS version is unknown (its NTLM CHALLENGE comes only with NLA)".into(),
        );
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return (
            Status::CannotTell,
            format!("the NTLM version `{version}` does not read as major.minor"),
        );
    };
    if major < 6 || (major == 6 && minor <= 1) {
        let family = match (major, minor) {
            (6, 1) => "Windows 7 / Server 2008 R2",
            (6, 0) => "Windows Vista / Server 2008",
            _ => "Windows XP / Server 2003 or older",
        };
        let nla = if f.nla.required == Tri::Yes {
            "NLA is required, which limits an attack to holders of valid credentials"
        } else {
            "NLA is not required, so the flaw is reachable without credentials"
        };
        (
            Status::Found,
            format!("the NTLM CHALLENGE says OS version {version} ({family}): may be exposed if the May 2019 update is missing; {nla}"),
        )
    } else {
        (
            Status::NotFound,
            format!("the NTLM CHALLENGE says OS version {version}, newer than the versions CVE-2019-0708 affects"),
        )
    }
}

#[cfg(test)]
mod tests;
