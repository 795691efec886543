//! One verdict per known cause of mstsc's "error 0x904, extended 0x7" (and its cousins),
//! decided from [`Findings`] alone: pure, no I/O, no clock.
//!
//! Each cause is "found" only on positive evidence, "not found" when the findings rule it
//! out, and "cannot tell" when the probes that would show it did not get that far (a server
//! that was not reached says nothing about its certificate). Every verdict carries the
//! evidence it rests on and, when found, the remedy on the server and on the client.

use serde::Serialize;

use super::findings::{Findings, Layer, Reach, Tri, X224Answer};
use crate::attempt::TlsVersion;
use crate::report::NegotiationCode;

/// A known root cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    NameResolution,
    PortRefused,
    PortFiltered,
    NotAnswering,
    ClosedBeforeTls,
    NotRdp,
    RdpSecurityOnly,
    Certificate,
    TlsVersion,
    Cipher,
    NlaRequired,
    NlaRefused,
    CredsspVersion,
    ClosedAfterTls,
}

impl Cause {
    pub const ALL: [Cause; 14] = [
        Cause::NameResolution,
        Cause::PortRefused,
        Cause::PortFiltered,
        Cause::NotAnswering,
        Cause::ClosedBeforeTls,
        Cause::NotRdp,
        Cause::RdpSecurityOnly,
        Cause::Certificate,
        Cause::TlsVersion,
        Cause::Cipher,
        Cause::NlaRequired,
        Cause::NlaRefused,
        Cause::CredsspVersion,
        Cause::ClosedAfterTls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NameResolution => "name-resolution",
            Self::PortRefused => "port-refused",
            Self::PortFiltered => "port-filtered",
            Self::NotAnswering => "not-answering",
            Self::ClosedBeforeTls => "closed-before-tls",
            Self::NotRdp => "not-rdp",
            Self::RdpSecurityOnly => "rdp-security-only",
            Self::Certificate => "certificate",
            Self::TlsVersion => "tls-version",
            Self::Cipher => "cipher",
            Self::NlaRequired => "nla-required",
            Self::NlaRefused => "nla-refused",
            Self::CredsspVersion => "credssp-version",
            Self::ClosedAfterTls => "closed-after-tls",
        }
    }

    /// One line for people.
    pub fn title(self) -> &'static str {
        match self {
            Self::NameResolution => "name resolution",
            Self::PortRefused => "port closed or rejected (RST)",
            Self::PortFiltered => "port filtered (no answer)",
            Self::NotAnswering => "server accepts TCP but does not answer",
            Self::ClosedBeforeTls => "socket closed before TLS",
            Self::NotRdp => "the server does not answer in RDP",
            Self::RdpSecurityOnly => "Standard RDP Security only",
            Self::Certificate => "certificate expired, missing or unreadable",
            Self::TlsVersion => "TLS version mismatch with modern clients",
            Self::Cipher => "cipher suite mismatch with modern clients",
            Self::NlaRequired => "NLA required by the server",
            Self::NlaRefused => "NLA refused (TLS only)",
            Self::CredsspVersion => "CredSSP version (CVE-2018-0886 update)",
            Self::ClosedAfterTls => "socket closed after TLS",
        }
    }
}

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

/// What to change, on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remedy {
    pub server: String,
    pub client: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub cause: Cause,
    pub title: &'static str,
    pub status: Status,
    pub evidence: String,
    /// Present when found.
    pub remedy: Option<Remedy>,
}

/// The verdict for every cause, in [`Cause::ALL`] order.
pub fn verdicts(f: &Findings) -> Vec<Verdict> {
    Cause::ALL.iter().map(|&cause| judge(cause, f)).collect()
}

/// The causes found, for exit codes and summaries.
pub fn found(verdicts: &[Verdict]) -> Vec<Cause> {
    verdicts
        .iter()
        .filter(|v| v.status == Status::Found)
        .map(|v| v.cause)
        .collect()
}

fn judge(cause: Cause, f: &Findings) -> Verdict {
    let (status, evidence) = match cause {
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
        Cause::ClosedBeforeTls => closed_before_tls(f),
        Cause::NotRdp => not_rdp(f),
        Cause::RdpSecurityOnly => rdp_security_only(f),
        Cause::Certificate => certificate(f),
        Cause::TlsVersion => tls_version(f),
        Cause::Cipher => cipher(f),
        Cause::NlaRequired => nla_required(f),
        Cause::NlaRefused => nla_refused(f),
        Cause::CredsspVersion => credssp_version(f),
        Cause::ClosedAfterTls => closed_after_tls(f),
    };
    Verdict {
        cause,
        title: cause.title(),
        status,
        remedy: (status == Status::Found).then(|| remedy(cause, f)),
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
        let timed_out = tls
            .versions
            .iter()
            .filter(|v| {
                v.refusal
                    .as_deref()
                    .is_some_and(|r| r.starts_with("timeout"))
            })
            .count();
        if !tls.versions.iter().any(|v| v.accepted) && timed_out > 0 {
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

/// No TLS version was accepted and every one was refused with a failure of `class`.
fn every_tls_version_refused(f: &Findings, class: &str) -> bool {
    f.tls.as_ref().is_some_and(|tls| {
        !tls.versions.iter().any(|v| v.accepted)
            && tls
                .versions
                .iter()
                .all(|v| v.refusal.as_deref().is_some_and(|r| r.starts_with(class)))
    })
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
    if every_tls_version_refused(f, "peer-closed") {
        return (
            Status::Found,
            "the server confirmed X.224 but closed the socket on every TLS ClientHello, without an alert".into(),
        );
    }
    if x224_answered(f) {
        (Status::NotFound, "the server answers X.224".into())
    } else {
        (Status::CannotTell, "no X.224 answer".into())
    }
}

/// Answers that are not a Connection Confirm at all (another service on the port, or a
/// confirm selecting no single protocol), or a TLS handshake answered with bytes that are not
/// TLS: the server answers, but not in RDP.
fn not_rdp(f: &Findings) -> Judged {
    let garbage: Vec<String> = f
        .security_layers
        .iter()
        .filter_map(|p| match &p.answer {
            X224Answer::Garbage { detail } => Some(format!("{}: {detail}", p.layer.as_str())),
            _ => None,
        })
        .collect();
    if !x224_answered(f) && !garbage.is_empty() {
        return (
            Status::Found,
            format!(
                "the server answered our X.224 Connection Request with something that is not a valid Connection Confirm ({})",
                garbage.join("; ")
            ),
        );
    }
    if every_tls_version_refused(f, "protocol-error") {
        return (
            Status::Found,
            "the server confirmed X.224, then answered every TLS ClientHello with bytes that are not TLS".into(),
        );
    }
    if x224_answered(f) {
        (Status::NotFound, "the server answers X.224".into())
    } else {
        (Status::CannotTell, "no X.224 answer".into())
    }
}

fn rdp_security_only(f: &Findings) -> Judged {
    let tls_like =
        accepted(f, Layer::Tls) || accepted(f, Layer::Nla) || accepted(f, Layer::HybridEx);
    if tls_like {
        return (Status::NotFound, "the server accepts TLS or NLA".into());
    }
    let not_allowed = refused_with(f, NegotiationCode::SslNotAllowedByServer);
    let answer = layer(f, Layer::Tls);
    let selected_rdp = matches!(
        answer,
        Some(X224Answer::Selected { selected: 0, .. } | X224Answer::NoNegotiationData)
    );
    if selected_rdp {
        (
            Status::Found,
            "asked for TLS alone, the server selected Standard RDP Security; NLA was not selected either".into(),
        )
    } else if !not_allowed.is_empty() {
        (
            Status::Found,
            "the server refuses TLS with SSL_NOT_ALLOWED_BY_SERVER".into(),
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

fn certificate(f: &Findings) -> Judged {
    if !refused_with(f, NegotiationCode::SslCertNotOnServer).is_empty() {
        return (
            Status::Found,
            "the server refuses TLS with SSL_CERT_NOT_ON_SERVER: it has no certificate it can use"
                .into(),
        );
    }
    let Some(cert) = &f.certificate else {
        return match &f.certificate_error {
            Some(error) => (
                Status::Found,
                format!("the server's certificate cannot be read: {error}"),
            ),
            None => (Status::CannotTell, "no TLS handshake completed".into()),
        };
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
                "`{}` valid {} to {}{}",
                info.subject,
                info.not_before,
                info.not_after,
                if info.self_signed {
                    ", self-signed"
                } else {
                    ""
                }
            ),
        )
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
    if f.nla.offered == Tri::Yes {
        return (Status::NotFound, "the server selects NLA (HYBRID)".into());
    }
    let tls_works = !accepted_versions(f).is_empty();
    if f.nla.offered == Tri::No && accepted(f, Layer::Tls) && !tls_works {
        return (
            Status::CannotTell,
            "the server selects TLS without NLA, but no TLS handshake completed".into(),
        );
    }
    if f.nla.offered == Tri::No && accepted(f, Layer::Tls) {
        let how = match layer(f, Layer::Nla) {
            Some(X224Answer::Selected { name, .. }) => format!("selected {name}"),
            Some(X224Answer::Refused { code }) => format!("refused it with {}", code.name()),
            _ => "did not select it".into(),
        };
        return (
            Status::Found,
            format!("asked for NLA (HYBRID|SSL), the server {how}: it speaks TLS without NLA only"),
        );
    }
    if f.nla.offered == Tri::No {
        (
            Status::NotFound,
            "the server offers neither NLA nor TLS (see the other verdicts)".into(),
        )
    } else {
        (Status::CannotTell, "no answer to a request for NLA".into())
    }
}

fn credssp_version(f: &Findings) -> Judged {
    match (f.nla.offered, f.nla.credssp_version) {
        (Tri::No, _) => (Status::NotFound, "no NLA, so no CredSSP".into()),
        (_, Some(v)) if v < 5 => (
            Status::Found,
            format!(
                "the server speaks CredSSP version {v}: it predates the CVE-2018-0886 update (version 6)"
            ),
        ),
        (_, Some(v)) => (Status::NotFound, format!("the server speaks CredSSP version {v}")),
        (_, None) => (
            Status::CannotTell,
            f.nla
                .error
                .clone()
                .unwrap_or_else(|| "no CredSSP exchange".into()),
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

fn remedy(cause: Cause, f: &Findings) -> Remedy {
    let (server, client) = match cause {
        Cause::NameResolution => (
            "register the host in DNS with the addresses it listens on (drop a stale AAAA record, or make Remote Desktop listen on IPv6 too)".to_owned(),
            format!(
                "connect by IP address (rdpshim does this as its `ip-address` fallback; mstsc: use {} in `full address`)",
                f.dns
                    .addresses
                    .iter()
                    .find(|a| a.tcp == Reach::Connected)
                    .map(|a| a.address.ip().to_string())
                    .unwrap_or_else(|| "the IP".into())
            ),
        ),
        Cause::PortRefused => (
            "start Remote Desktop Services (TermService) or xrdp, check the listening port (HKLM\\...\\WinStations\\RDP-Tcp\\PortNumber), and allow TCP 3389 in the firewall".into(),
            "check the port number; a firewall REJECT rule on the path looks the same".into(),
        ),
        Cause::PortFiltered => (
            "allow inbound TCP on the RDP port in the host firewall (Remote Desktop rule group) and any network firewall".into(),
            "check VPN/routing to the host; nothing the client does gets through a DROP".into(),
        ),
        Cause::NotAnswering => (
            "restart the Remote Desktop service; check for a hung TermService or a proxy/IPS that accepts TCP without forwarding".into(),
            "none on the client; a longer timeout only helps a very slow server".into(),
        ),
        Cause::ClosedBeforeTls => (
            "check the RDP listener (RDP-Tcp) is enabled and not bound to another protocol; a security product or load balancer may be closing RDP connections".into(),
            "none on the client: the server hangs up before any security is negotiated".into(),
        ),
        Cause::NotRdp => (
            "check what listens on this port: another service, or a proxy or load balancer that does not pass RDP through; a Remote Desktop server answers with a Connection Confirm".into(),
            "check the host and port; no client setting makes a service that is not RDP answer in RDP".into(),
        ),
        Cause::RdpSecurityOnly => (
            "set the security layer to Negotiate or SSL (GPO: Require use of specific security layer; xrdp: security_layer=negotiate)".into(),
            "modern clients refuse Standard RDP Security; FreeRDP `/sec:rdp` still speaks it (no server authentication)".into(),
        ),
        Cause::Certificate => (
            "renew the Remote Desktop certificate: delete it from the Remote Desktop certificate store and restart TermService (Windows makes a new one); SSL_CERT_NOT_ON_SERVER means Windows cannot read the private key: fix the permissions of C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys (SYSTEM and NETWORK SERVICE need access)".into(),
            "rdpshim connects anyway and pins the certificate (trust on first use); mstsc needs `authentication level:i:0` or the certificate installed as trusted".into(),
        ),
        Cause::TlsVersion => (
            "enable TLS 1.2 (Windows Server 2008 R2: KB3080079 and the SChannel Protocols registry keys; xrdp: ssl_protocols=TLSv1.2, TLSv1.3)".into(),
            "allow TLS 1.0/1.1 for this host only: rdpshim's OpenSSL rungs do it with an announced downgrade; FreeRDP 3: `/tls:seclevel:0,enforce:1.0`; Windows: enable TLS 1.0 under SChannel Protocols\\TLS 1.0\\Client".into(),
        ),
        Cause::Cipher => (
            "enable ECDHE with AES-GCM suites (GPO: SSL Cipher Suite Order; xrdp: tls_ciphers=HIGH)".into(),
            "allow CBC/RSA suites for this host only: rdpshim's OpenSSL rung does it with an announced downgrade; FreeRDP: `/tls:seclevel:0` or `/cipher-list:AES128-SHA`".into(),
        ),
        Cause::NlaRequired => (
            "if clients cannot do NLA, clear \"Allow connections only from computers running Remote Desktop with Network Level Authentication\"".into(),
            "turn NLA on and give credentials up front (`rdpshim connect -u USER`, .rdp `enablecredsspsupport:i:1`, FreeRDP `/sec:nla /u:USER`)".into(),
        ),
        Cause::NlaRefused => (
            "enable NLA (\"Allow connections only from computers running Remote Desktop with Network Level Authentication\"); xrdp has no NLA".into(),
            "turn NLA off for this host (.rdp `enablecredsspsupport:i:0`, FreeRDP `/sec:tls`; rdpshim announces it as the `nla-off` fallback)".into(),
        ),
        Cause::CredsspVersion => (
            "install the May 2018 CredSSP update (CVE-2018-0886) or any later cumulative update".into(),
            "temporarily, on the client only: Encryption Oracle Remediation = Vulnerable (AllowEncryptionOracle=2); undo it once the server is updated".into(),
        ),
        Cause::ClosedAfterTls => (
            "check the System and TerminalServices event logs: a broken certificate binding, a CredSSP policy, or a security product ends the connection after TLS".into(),
            "try without NLA or with another TLS version (rdpshim's fallbacks do); if every configuration is cut the same way the fix is on the server".into(),
        ),
    };
    Remedy { server, client }
}

#[cfg(test)]
mod tests;
