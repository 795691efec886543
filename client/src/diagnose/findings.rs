//! What the probes found, as plain data: filled in by `engine::probe`, judged by
//! [`super::verdicts`], printed by the CLI and serialized as-is for `--json`.
//!
//! Every probe records what it saw even when it failed, because "the server closed the
//! socket after our X.224 request" is evidence too.

use std::net::SocketAddr;

use serde::Serialize;

use crate::attempt::{TlsStack, TlsVersion};
use crate::report::{CertificateInfo, NegotiationCode};

/// How probes begin a message when the server hung up on a completed TLS channel, before
/// answering the first message sent over it (a broken certificate binding, CredSSP policy,
/// or a security product does this on Windows).
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
    /// Why the server's certificate could not be read, when a handshake reached it and it
    /// could not (malformed DER, impossible dates, a chain over a TLS stack's size limit).
    pub certificate_error: Option<String>,
    pub nla: NlaFinding,
    pub multitransport: MultitransportFinding,
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
    /// The TCP connect itself failed (the host stopped accepting between probes).
    NotConnected { detail: String },
    /// Not sent: the first request timed out, and a server that ignores one request
    /// ignores them all (sending them would only multiply the wait).
    NotProbed,
}

/// TLS versions and suites, as both stacks saw them.
#[derive(Debug, Clone, Serialize)]
pub struct TlsScan {
    /// requestedProtocols of the X.224 requests that preceded each handshake.
    pub requested: u32,
    /// 1.0, 1.1, 1.2, 1.3 in that order.
    pub versions: Vec<VersionScan>,
    /// A handshake with rustls, the modern stack (TLS 1.3/1.2, AEAD, forward secrecy)
    /// succeeded: what current mstsc and FreeRDP 3 accept by default.
    pub modern_client_ok: bool,
    /// How many handshakes the scan took.
    pub handshakes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionScan {
    pub version: TlsVersion,
    pub accepted: bool,
    /// The suite the server chose from everything we offered (its preference).
    pub preferred: Option<String>,
    pub suites: Vec<SuiteFinding>,
    /// Why the handshake offering everything failed, when it did.
    pub refusal: Option<String>,
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
    /// The version field of the server's first TSRequest (MS-CSSP 2.2.1): 6 after the
    /// CVE-2018-0886 update, 2-4 before it.
    pub credssp_version: Option<u32>,
    pub ntlm: Option<NtlmIdentity>,
    /// Why the NTLM exchange did not produce an identity, when NLA is offered.
    pub error: Option<String>,
}

impl NlaFinding {
    /// The server closed the TLS channel instead of answering our NTLM NEGOTIATE.
    pub fn closed_after_tls(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with(CLOSED_AFTER_TLS))
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
    pub detail: Option<String>,
}

impl MultitransportFinding {
    /// The server closed the TLS channel instead of answering our MCS Connect Initial.
    pub fn closed_after_tls(&self) -> bool {
        self.detail
            .as_deref()
            .is_some_and(|e| e.starts_with(CLOSED_AFTER_TLS))
    }
}
