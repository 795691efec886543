//! What the probes found, as plain data: filled in by `engine::probe`, judged by
//! [`super::verdicts`], printed by the CLI and serialized as-is for `--json`.
//!
//! Every probe records what it saw even when it failed, because "the server closed the
//! socket after our X.224 request" is evidence too.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

use crate::attempt::{TlsStack, TlsVersion};
use crate::report::{CertificateInfo, Failure, FailureClass, NegotiationCode, Stage};

/// How an [`ExchangeError::ClosedAfterTls`] reads: the server hung up on a completed TLS
/// channel, before answering the first message sent over it (a broken certificate binding,
/// CredSSP policy, or a security product does this on Windows).
pub const CLOSED_AFTER_TLS: &str = "the server closed the connection after the TLS handshake";

/// Everything `rdpshim diagnose` learned about one `HOST:PORT`.
#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub host: String,
    pub port: u16,
    pub dns: DnsFinding,
    /// The address every later probe used: the first one that accepted TCP.
    pub probed: Option<SocketAddr>,
    /// One X.224 Connection Request per security protocol, each requested alone.
    pub security_layers: Vec<LayerProbe>,
    /// `None` when no TLS-based protocol was selected, so no handshake was possible.
    pub tls: Option<TlsScan>,
    pub certificate: Option<CertificateDetails>,
    /// Why the server's certificate cannot be read, when a handshake reached it: the TLS
    /// stacks refused it, or rdpshim's parser cannot read what they accepted.
    pub certificate_error: Option<UnreadableCertificate>,
    /// A TLS handshake straight away, without X.224: probed only when no X.224 request got
    /// a Connection Confirm (`yes`: the port speaks TLS, e.g. HTTPS or an RD Gateway).
    pub tls_without_x224: Tri,
    /// Standard RDP Security's encryption levels, probed when the server selects Standard
    /// RDP Security for a request of it.
    pub rdp_security: Option<RdpSecurityFinding>,
    pub nla: NlaFinding,
    pub multitransport: MultitransportFinding,
    /// `--gateway`: the RD Gateway in front of the host (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<super::gateway::GatewayFindings>,
    /// Milliseconds for the whole diagnosis.
    pub ms: f64,
}

/// Name resolution and TCP reachability of every address.
#[derive(Debug, Clone, Serialize)]
pub struct DnsFinding {
    /// The user gave an IP literal: no resolver was involved.
    pub ip_literal: bool,
    /// Why resolution failed, when it did.
    pub error: Option<String>,
    /// In resolver order (the order mstsc dials them).
    pub addresses: Vec<AddressReach>,
}

impl DnsFinding {
    /// The first address that accepted TCP: the one every later probe uses.
    pub fn first_connected(&self) -> Option<SocketAddr> {
        self.addresses
            .iter()
            .find(|a| a.tcp == Reach::Connected)
            .map(|a| a.address)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressReach {
    pub address: SocketAddr,
    pub tcp: Reach,
    /// Milliseconds until connected or until the failure was known.
    pub ms: f64,
    pub detail: Option<String>,
}

/// What a TCP connect to one address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    Connected,
    /// An RST: nothing listens, or a firewall REJECTs with tcp-reset.
    Refused,
    /// No answer at all: a firewall DROPs, or the host is down.
    Timeout,
    /// ICMP unreachable, no route, or another local error.
    Unreachable,
}

/// Security protocols of the RDP Negotiation Request (MS-RDPBCGR 2.2.1.1.1), in the order
/// `diagnose` asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// Standard RDP Security (requestedProtocols = 0).
    Rdp,
    /// TLS without NLA (PROTOCOL_SSL).
    Tls,
    /// NLA: CredSSP over TLS (PROTOCOL_HYBRID, requested with PROTOCOL_SSL as mstsc does).
    Nla,
    /// CredSSP with Early User Authorization Result (PROTOCOL_HYBRID_EX alone).
    HybridEx,
    /// RDSTLS (PROTOCOL_RDSTLS alone; used by Azure and brokers).
    Rdstls,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Rdp,
        Layer::Tls,
        Layer::Nla,
        Layer::HybridEx,
        Layer::Rdstls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rdp => "rdp",
            Self::Tls => "tls",
            Self::Nla => "nla",
            Self::HybridEx => "hybrid-ex",
            Self::Rdstls => "rdstls",
        }
    }

    /// The requestedProtocols value sent. NLA carries SSL too (CredSSP runs over TLS; mstsc
    /// and nmap send 0x3); the others are alone.
    pub fn requested(self) -> u32 {
        match self {
            Self::Rdp => 0,
            Self::Tls => protocol::SSL,
            Self::Nla => protocol::SSL | protocol::HYBRID,
            Self::HybridEx => protocol::HYBRID_EX,
            Self::Rdstls => protocol::RDSTLS,
        }
    }

    /// The selectedProtocol that means the server accepts this layer.
    pub fn accepted_when_selected(self) -> u32 {
        match self {
            Self::Rdp => 0,
            Self::Tls => protocol::SSL,
            Self::Nla => protocol::HYBRID,
            Self::HybridEx => protocol::HYBRID_EX,
            Self::Rdstls => protocol::RDSTLS,
        }
    }
}

/// requestedProtocols / selectedProtocol bits.
pub mod protocol {
    pub const SSL: u32 = 0x1;
    pub const HYBRID: u32 = 0x2;
    pub const RDSTLS: u32 = 0x4;
    pub const HYBRID_EX: u32 = 0x8;

    /// `ssl`, `hybrid`, ... for a selectedProtocol value.
    pub fn name(selected: u32) -> &'static str {
        match selected {
            0 => "rdp",
            SSL => "ssl",
            HYBRID => "hybrid",
            RDSTLS => "rdstls",
            HYBRID_EX => "hybrid-ex",
            _ => "other",
        }
    }
}

/// One X.224 probe.
#[derive(Debug, Clone, Serialize)]
pub struct LayerProbe {
    pub layer: Layer,
    pub requested: u32,
    pub answer: X224Answer,
    /// The server selected exactly this layer.
    pub accepted: bool,
}

/// The Connection Confirm, or what came instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum X224Answer {
    /// RDP_NEG_RSP: the server picked `selected` (possibly not what was asked: xrdp answers
    /// a request for NLA by selecting TLS).
    Selected { selected: u32, name: String },
    /// RDP_NEG_FAILURE with its code.
    Refused { code: NegotiationCode },
    /// A Connection Confirm without negotiation data: a pre-RDP 5.2 server, Standard RDP
    /// Security only.
    NoNegotiationData,
    /// The server closed the connection instead of answering.
    Closed { detail: String },
    /// No answer within the time limit.
    Timeout,
    /// An answer that is not an X.224 Connection Confirm.
    Garbage { detail: String },
    /// An answer that is not TPKT at all: another protocol answers on the port.
    NotRdp {
        speaks: Speaks,
        /// The first bytes, printable ASCII as is and the rest as `\xNN`.
        first_bytes: String,
    },
    /// The TCP connect itself failed (the host stopped accepting between probes).
    NotConnected { detail: String },
    /// Not sent: the first request timed out, and a server that ignores one request
    /// ignores them all (sending them would only multiply the wait).
    NotProbed,
}

impl fmt::Display for X224Answer {
    /// What the answer was, for messages: `selected ssl`, `refused: HYBRID_REQUIRED_BY_SERVER`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Selected { name, .. } => write!(f, "selected {name}"),
            Self::Refused { code } => write!(f, "refused: {}", code.name()),
            Self::NoNegotiationData => {
                f.write_str("a confirm without negotiation data (Standard RDP Security)")
            }
            Self::Closed { detail } => write!(f, "closed: {detail}"),
            Self::Timeout => f.write_str("no answer"),
            Self::Garbage { detail } => write!(f, "not an X.224 confirm: {detail}"),
            Self::NotRdp {
                speaks,
                first_bytes,
            } => {
                write!(f, "not RDP: {} (`{first_bytes}`)", speaks.describe())
            }
            Self::NotConnected { detail } => write!(f, "no TCP connection: {detail}"),
            Self::NotProbed => f.write_str("not sent (the first request got no answer)"),
        }
    }
}

/// What a port that is not an RDP server answered with, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Speaks {
    /// `HTTP/1.x ...`, or an HTML error page without a status line (HTTP/0.9 style, as
    /// Python's http.server answers a request line it cannot parse).
    Http,
    /// A TLS record (handshake or alert): the port expects TLS straight away.
    Tls,
    /// An SSH banner (`SSH-2.0-...`): the server speaks first.
    Ssh,
    /// Anything else.
    Other,
}

impl Speaks {
    /// Reads the first bytes a server sent (at least four, when it sent that many).
    pub fn from_first_bytes(bytes: &[u8]) -> Self {
        let starts = |prefix: &[u8]| {
            bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
        };
        if starts(b"HTTP/") || starts(b"<!DOCTYPE") || starts(b"<html") || starts(b"<?xml") {
            Self::Http
        } else if bytes.len() >= 2 && matches!(bytes[0], 0x15 | 0x16) && bytes[1] == 0x03 {
            Self::Tls
        } else if starts(b"SSH-") {
            Self::Ssh
        } else {
            Self::Other
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Http => "an HTTP answer (a web server)",
            Self::Tls => "a TLS record (the port expects TLS straight away)",
            Self::Ssh => "an SSH banner",
            Self::Other => "bytes that are not TPKT",
        }
    }
}

/// Bytes a server sent, for people and JSON: printable ASCII as is, the rest `\xNN`.
pub fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Standard RDP Security encryption methods (MS-RDPBCGR 2.2.1.3.3 encryptionMethods), in
/// the order nmap's rdp-enum-encryption tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EncryptionMethod {
    #[serde(rename = "40-bit")]
    Bit40,
    #[serde(rename = "56-bit")]
    Bit56,
    #[serde(rename = "128-bit")]
    Bit128,
    #[serde(rename = "fips")]
    Fips,
}

impl EncryptionMethod {
    pub const ALL: [EncryptionMethod; 4] = [Self::Bit40, Self::Bit56, Self::Bit128, Self::Fips];

    /// The ENCRYPTION_METHOD_* flag.
    pub fn flag(self) -> u32 {
        match self {
            Self::Bit40 => 0x1,
            Self::Bit56 => 0x8,
            Self::Bit128 => 0x2,
            Self::Fips => 0x10,
        }
    }

    /// How nmap's rdp-enum-encryption names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bit40 => "40-bit RC4",
            Self::Bit56 => "56-bit RC4",
            Self::Bit128 => "128-bit RC4",
            Self::Fips => "FIPS 140-1",
        }
    }
}

/// Server Security Data's encryptionLevel (MS-RDPBCGR 2.2.1.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncryptionLevel {
    None,
    Low,
    ClientCompatible,
    High,
    Fips,
}

impl EncryptionLevel {
    /// How nmap's rdp-enum-encryption names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Low => "Low",
            Self::ClientCompatible => "Client Compatible",
            Self::High => "High",
            Self::Fips => "FIPS Compliant",
        }
    }
}

/// What the server did with an MCS Connect Initial offering one encryption method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodProbe {
    pub method: EncryptionMethod,
    /// The server answered selecting exactly this method.
    pub accepted: bool,
    /// Why the exchange did not produce an answer, when it did not.
    pub detail: Option<String>,
}

/// Standard RDP Security as an MCS Connect Initial per method shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdpSecurityFinding {
    /// The server's encryptionLevel, from any answer.
    pub level: Option<EncryptionLevel>,
    pub methods: Vec<MethodProbe>,
}

impl RdpSecurityFinding {
    /// `40-bit RC4, 128-bit RC4`, or `no encryption` when the level is None.
    pub fn accepted(&self) -> Vec<EncryptionMethod> {
        self.methods
            .iter()
            .filter(|m| m.accepted)
            .map(|m| m.method)
            .collect()
    }

    /// For evidence: `encryption level Low: 40-bit RC4`.
    pub fn describe(&self) -> String {
        let methods: Vec<&str> = self
            .accepted()
            .into_iter()
            .map(EncryptionMethod::name)
            .collect();
        let level = self
            .level
            .map_or_else(|| "unknown".to_owned(), |l| l.name().to_owned());
        match (self.level, methods.is_empty()) {
            (Some(EncryptionLevel::None), _) => {
                "encryption level None: the session goes in the clear".to_owned()
            }
            (_, true) => format!("encryption level {level}, no method accepted alone"),
            (_, false) => format!("encryption level {level}: {}", methods.join(", ")),
        }
    }
}

/// Why a diagnostic TLS handshake did not complete. Verdicts branch on the variant and the
/// failure class; `--json` shows it as one string (`X.224: selected rdp`,
/// `peer-closed: ...`, `timeout: no TLS handshake within the limit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The X.224 exchange before the handshake did not select a TLS-based protocol.
    X224(X224Answer),
    /// TCP or the TLS handshake failed, classed as an attempt's failure would be.
    Failed(Failure),
    /// rdpshim stopped the probe itself (its connection gate closed): nothing about the
    /// server.
    Cancelled,
}

impl Refusal {
    /// The handshake itself failed with `class` (TCP and X.224 went through).
    pub fn is_tls(&self, class: &FailureClass) -> bool {
        matches!(self, Self::Failed(f) if f.stage == Stage::Tls && f.class == *class)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::X224(answer) => write!(f, "X.224: {answer}"),
            Self::Failed(failure) => write!(f, "{}: {}", failure.class, failure.detail),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl Serialize for Refusal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// TLS versions and suites, as both stacks saw them.
#[derive(Debug, Clone, Serialize)]
pub struct TlsScan {
    /// requestedProtocols of the X.224 requests that preceded each handshake; `None` for
    /// an RD Gateway's HTTPS (TLS straight away).
    pub requested: Option<u32>,
    /// 1.0, 1.1, 1.2, 1.3 in that order.
    pub versions: Vec<VersionScan>,
    /// A handshake with rustls, the modern stack (TLS 1.3/1.2, AEAD, forward secrecy)
    /// succeeded: what current mstsc and FreeRDP 3 accept by default.
    pub modern_client_ok: bool,
    /// How many handshakes the scan took.
    pub handshakes: usize,
}

impl TlsScan {
    /// Some version completed a handshake.
    pub fn any_accepted(&self) -> bool {
        self.versions.iter().any(|v| v.accepted)
    }

    /// How many versions' handshakes failed with `class` (after X.224 selected TLS).
    pub fn refused_with(&self, class: &FailureClass) -> usize {
        self.versions
            .iter()
            .filter(|v| v.refusal.as_ref().is_some_and(|r| r.is_tls(class)))
            .count()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionScan {
    pub version: TlsVersion,
    pub accepted: bool,
    /// The suite the server chose from everything we offered (its preference).
    pub preferred: Option<String>,
    pub suites: Vec<SuiteFinding>,
    /// Why the handshake offering everything failed, when it did.
    pub refusal: Option<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuiteFinding {
    /// The OpenSSL name (what `sslscan` and `openssl ciphers` print).
    pub name: String,
    /// The IANA name (what rustls and Windows print).
    pub iana: String,
    /// Which of rdpshim's stacks completed a handshake with it.
    pub stacks: Vec<TlsStack>,
    /// AES-GCM, ChaCha20-Poly1305 or AES-CCM; the others are CBC (or worse).
    pub aead: bool,
    /// ECDHE or DHE key exchange (TLS 1.3 always).
    pub forward_secrecy: bool,
    pub bits: u32,
}

/// A server certificate that cannot be read (`certificate-unreadable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnreadableCertificate {
    /// Both TLS stacks refused it in the handshake, `tls-other (bad-certificate)`: malformed
    /// DER, or a chain over their size limits (rustls 64 KB, OpenSSL 100 KB). The first
    /// version's failure.
    Refused(Failure),
    /// A handshake completed, and rdpshim's X.509 parser cannot read the certificate it
    /// presented (impossible dates, say), so `connect` cannot pin it or bind CredSSP to it.
    Unparsable(String),
}

impl fmt::Display for UnreadableCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(failure) => write!(
                f,
                "the TLS stacks refuse it in the handshake ({})",
                failure.detail
            ),
            Self::Unparsable(why) => f.write_str(why),
        }
    }
}

impl Serialize for UnreadableCertificate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The certificate with what a reviewer checks beyond the pinning facts.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateDetails {
    #[serde(flatten)]
    pub info: CertificateInfo,
    /// subjectAltName entries (`DNS:`, `IP:`), empty when there is none.
    pub san: Vec<String>,
    /// `RSA`, `EC`, `Ed25519`, ...
    pub key_type: String,
    pub key_bits: u32,
    /// `sha256WithRSAEncryption`, ...
    pub signature_algorithm: String,
}

/// A yes/no that a probe may not be able to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tri {
    Yes,
    No,
    Unknown,
}

/// NLA: whether it is required, and what the server says about itself in NTLM.
#[derive(Debug, Clone, Serialize)]
pub struct NlaFinding {
    pub offered: Tri,
    pub required: Tri,
    /// The version field of the server's first TSRequest (MS-CSSP 2.2.1): 5 or 6 after the
    /// CVE-2018-0886 update (the version that brought `clientNonce`), 2-4 before it.
    pub credssp_version: Option<u32>,
    pub ntlm: Option<NtlmIdentity>,
    /// Why the NTLM exchange did not produce an identity, when NLA is offered.
    pub error: Option<ExchangeError>,
}

impl NlaFinding {
    /// The server closed the TLS channel instead of answering our NTLM NEGOTIATE.
    pub fn closed_after_tls(&self) -> bool {
        matches!(self.error, Some(ExchangeError::ClosedAfterTls(_)))
    }
}

/// The server's NTLM CHALLENGE target information (MS-NLMP 2.2.2.1), as nmap's
/// rdp-ntlm-info reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NtlmIdentity {
    pub target_name: Option<String>,
    pub netbios_domain: Option<String>,
    pub netbios_computer: Option<String>,
    pub dns_domain: Option<String>,
    pub dns_computer: Option<String>,
    pub dns_tree: Option<String>,
    /// `10.0.17763` (major.minor.build) from the VERSION field.
    pub product_version: Option<String>,
    /// The server's clock (MsvAvTimestamp), RFC 3339.
    pub system_time: Option<String>,
}

/// Server Multitransport Channel Data in the MCS Connect Response (MS-RDPBCGR 2.2.1.4.6).
#[derive(Debug, Clone, Serialize)]
pub struct MultitransportFinding {
    pub advertised: Tri,
    /// TRANSPORT_TYPE_UDP_FECR, ... when advertised.
    pub flags: Vec<String>,
    /// The server's RDP version from Server Core Data, when the GCC exchange was reached.
    pub rdp_version: Option<String>,
    /// Why it could not be told, or what went wrong.
    pub detail: Option<ExchangeError>,
}

impl MultitransportFinding {
    /// The server closed the TLS channel instead of answering our MCS Connect Initial.
    pub fn closed_after_tls(&self) -> bool {
        matches!(self.detail, Some(ExchangeError::ClosedAfterTls(_)))
    }
}

/// Why a probe's exchange beyond X.224 (the NTLM CHALLENGE, the MCS Connect Response)
/// learned nothing. Verdicts branch on the variant; `--json` shows it as one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// The TLS handshake completed, then the server closed the connection instead of
    /// answering our first message over it (`closed-after-tls`).
    ClosedAfterTls(String),
    /// Anything else, in words: a time limit, a refusal before TLS, an answer that does not
    /// decode, a server that sends this only after authentication.
    Other(String),
}

impl From<&str> for ExchangeError {
    fn from(words: &str) -> Self {
        Self::Other(words.to_owned())
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClosedAfterTls(detail) => write!(f, "{CLOSED_AFTER_TLS}: {detail}"),
            Self::Other(words) => f.write_str(words),
        }
    }
}

impl Serialize for ExchangeError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
