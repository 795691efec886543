//! What an attempt tells us: the stage it reached and, on failure, a class a planner can
//! branch on. Plain data with stable string names (they appear in `--json`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::attempt::{TlsStack, TlsVersion};

/// Stages of the RDP connection sequence, in order (MS-RDPBCGR 1.3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Dns,
    Tcp,
    /// X.224 Connection Request / Confirm with RDP_NEG_REQ / RDP_NEG_RSP.
    X224,
    Tls,
    Credssp,
    /// MCS Connect Initial/Response (GCC blocks), channel joins, Client Info.
    Mcs,
    Licensing,
    /// Multitransport bootstrapping, Demand/Confirm Active, finalization.
    Capabilities,
    /// Active session until the first graphics update is decoded.
    FirstFrame,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::X224 => "x224",
            Self::Tls => "tls",
            Self::Credssp => "credssp",
            Self::Mcs => "mcs",
            Self::Licensing => "licensing",
            Self::Capabilities => "capabilities",
            Self::FirstFrame => "first-frame",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RDP_NEG_FAILURE codes (MS-RDPBCGR 2.2.1.2.2), named as the spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NegotiationCode {
    SslRequiredByServer,
    SslNotAllowedByServer,
    SslCertNotOnServer,
    InconsistentFlags,
    HybridRequiredByServer,
    SslWithUserAuthRequiredByServer,
    EntraAuthRequiredByServer,
    Unknown(u32),
}

impl NegotiationCode {
    pub fn from_u32(code: u32) -> Self {
        match code {
            1 => Self::SslRequiredByServer,
            2 => Self::SslNotAllowedByServer,
            3 => Self::SslCertNotOnServer,
            4 => Self::InconsistentFlags,
            5 => Self::HybridRequiredByServer,
            6 => Self::SslWithUserAuthRequiredByServer,
            7 => Self::EntraAuthRequiredByServer,
            other => Self::Unknown(other),
        }
    }

    /// The code on the wire (MS-RDPBCGR 2.2.1.2.2), the inverse of [`NegotiationCode::from_u32`].
    pub fn code(self) -> u32 {
        match self {
            Self::SslRequiredByServer => 1,
            Self::SslNotAllowedByServer => 2,
            Self::SslCertNotOnServer => 3,
            Self::InconsistentFlags => 4,
            Self::HybridRequiredByServer => 5,
            Self::SslWithUserAuthRequiredByServer => 6,
            Self::EntraAuthRequiredByServer => 7,
            Self::Unknown(code) => code,
        }
    }

    pub fn name(self) -> String {
        match self {
            Self::SslRequiredByServer => "SSL_REQUIRED_BY_SERVER".into(),
            Self::SslNotAllowedByServer => "SSL_NOT_ALLOWED_BY_SERVER".into(),
            Self::SslCertNotOnServer => "SSL_CERT_NOT_ON_SERVER".into(),
            Self::InconsistentFlags => "INCONSISTENT_FLAGS".into(),
            Self::HybridRequiredByServer => "HYBRID_REQUIRED_BY_SERVER".into(),
            Self::SslWithUserAuthRequiredByServer => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER".into(),
            Self::EntraAuthRequiredByServer => "ENTRA_AUTH_REQUIRED_BY_SERVER".into(),
            Self::Unknown(code) => format!("UNKNOWN_0x{code:08x}"),
        }
    }
}

impl Serialize for NegotiationCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

/// Why an attempt failed. The fallback planner branches on this, so each class has one
/// meaning: "what would change the outcome".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The host name did not resolve.
    Dns,
    /// Connection refused (RST or ICMP unreachable): nothing listens, or a REJECT rule.
    TcpRefused,
    /// No answer to SYN: a DROP firewall or a dead host.
    TcpTimeout,
    /// The server sent RDP_NEG_FAILURE.
    NegotiationFailure(NegotiationCode),
    /// The server selected Standard RDP Security, which this client does not do.
    RdpSecuritySelected,
    /// TLS alert `protocol_version` (or OpenSSL "unsupported protocol"): no common version.
    TlsVersionMismatch,
    /// TLS alert `handshake_failure` (or "no shared cipher"): no common suite.
    TlsCipherMismatch,
    /// Any other TLS failure; the alert or reason is named.
    TlsOther(String),
    /// The server closed the connection; the stage says where.
    PeerClosed,
    /// Logon failure, wrong password, account restrictions, early-user-auth denied.
    AuthFailed,
    /// CredSSP broke for a reason other than the credentials.
    CredsspError,
    /// The licensing exchange failed.
    Licensing,
    /// The stage's time limit passed with no answer.
    Timeout,
    /// The server sent something we could not decode or did not expect.
    ProtocolError,
    /// The server requires NLA and no credentials were given: ask for them, do not downgrade.
    CredentialsRequired,
    /// The certificate differs from the pinned one; stopped before any credential was sent.
    CertificateChanged,
}

impl FailureClass {
    /// The string used in `--json` `outcome` and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::TcpRefused => "tcp-refused",
            Self::TcpTimeout => "tcp-timeout",
            Self::NegotiationFailure(_) => "negotiation-failure",
            Self::RdpSecuritySelected => "rdp-security-only",
            Self::TlsVersionMismatch => "tls-version-mismatch",
            Self::TlsCipherMismatch => "tls-cipher-mismatch",
            Self::TlsOther(_) => "tls-other",
            Self::PeerClosed => "peer-closed",
            Self::AuthFailed => "auth-failed",
            Self::CredsspError => "credssp-error",
            Self::Licensing => "licensing",
            Self::Timeout => "timeout",
            Self::ProtocolError => "protocol-error",
            Self::CredentialsRequired => "credentials-required",
            Self::CertificateChanged => "certificate-changed",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NegotiationFailure(code) => write!(f, "negotiation-failure ({})", code.name()),
            Self::TlsOther(alert) => write!(f, "tls-other ({alert})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A failed attempt: where, what class, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub class: FailureClass,
    pub detail: String,
}

impl Failure {
    pub fn new(stage: Stage, class: FailureClass, detail: impl Into<String>) -> Self {
        Self {
            stage,
            class,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.class, self.stage, self.detail)
    }
}

/// The server certificate as the TLS handshake presented it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// SHA-256 of the DER certificate, colon-separated upper-case hex.
    pub sha256: String,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    pub self_signed: bool,
    pub expired: bool,
    pub not_yet_valid: bool,
    /// DNS names and IP addresses the certificate is for (subjectAltName, else the CN).
    pub names: Vec<String>,
}

/// The TLS session that was negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsSession {
    pub stack: TlsStack,
    pub version: TlsVersion,
    /// Suite name as the stack reports it.
    pub cipher: String,
}

/// How long one stage took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    #[serde(serialize_with = "serialize_ms")]
    pub elapsed: Duration,
}

/// Milliseconds rounded to 0.1, the unit of every `ms` field in `--json`.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn serialize_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

/// What the connection reached on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// X.224 selected protocol: "ssl", "hybrid", "hybrid-ex".
    pub selected_protocol: String,
    pub desktop_width: u16,
    pub desktop_height: u16,
    /// The server asked for UDP multitransport and we declined it.
    pub declined_multitransport: bool,
    /// Path of the PNG, when one was asked for and written.
    pub screenshot: Option<std::path::PathBuf>,
    /// A screenshot was asked for but could not be written.
    pub screenshot_error: Option<String>,
}

/// Everything an attempt observed, success or not.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// The address dialled, when resolution got that far.
    pub address: Option<SocketAddr>,
    /// Every address the host name resolved to (empty when an address was given).
    pub resolved: Vec<SocketAddr>,
    pub server_name: String,
    pub nla: bool,
    pub udp: bool,
    pub tls_requested: crate::attempt::TlsChoice,
    /// Negotiated TLS session, when the handshake completed.
    pub tls: Option<TlsSession>,
    pub certificate: Option<CertificateInfo>,
    /// Time per stage reached, in order; the last one is where a failure happened.
    pub stages: Vec<StageTime>,
    pub total: Duration,
    pub result: Result<Connected, Failure>,
}

impl AttemptReport {
    pub fn is_connected(&self) -> bool {
        self.result.is_ok()
    }

    /// The last stage reached (the failing stage, or `first-frame` on success).
    pub fn stage(&self) -> Stage {
        match &self.result {
            Ok(_) => Stage::FirstFrame,
            Err(failure) => failure.stage,
        }
    }

    /// Time from TCP connect start to the first decoded frame (or to the failure).
    pub fn connect_to_first_frame(&self) -> Duration {
        self.stages
            .iter()
            .filter(|t| t.stage != Stage::Dns)
            .map(|t| t.elapsed)
            .sum()
    }
}
