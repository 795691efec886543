//! Why an attempt failed, in the terms the planner branches on.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::protocol::Protocol;

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

    /// The code on the wire, the inverse of [`NegotiationCode::from_u32`]: what a bridge
    /// passes on to its client when the server refused the negotiation.
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
            Self::SslRequiredByServer => "SSL_REQUIRED_BY_SERVER".to_owned(),
            Self::SslNotAllowedByServer => "SSL_NOT_ALLOWED_BY_SERVER".to_owned(),
            Self::SslCertNotOnServer => "SSL_CERT_NOT_ON_SERVER".to_owned(),
            Self::InconsistentFlags => "INCONSISTENT_FLAGS".to_owned(),
            Self::HybridRequiredByServer => "HYBRID_REQUIRED_BY_SERVER".to_owned(),
            Self::SslWithUserAuthRequiredByServer => {
                "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER".to_owned()
            }
            Self::EntraAuthRequiredByServer => "ENTRA_AUTH_REQUIRED_BY_SERVER".to_owned(),
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
    /// The server selected a protocol the attempt did not offer (MS-RDPBCGR 2.2.1.2.1 has
    /// it choose from the offer): a Windows server without NLA selects TLS when asked for
    /// NLA only. Not an error to give up on: the planner follows the selection.
    UnrequestedProtocol(Protocol),
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
    /// The RD Gateway refused our HTTP authentication. Not `AuthFailed`: the gateway account
    /// may differ from the host's (`--gateway-user`), and which schemes it offered (its
    /// `WWW-Authenticate` challenges) against which we tried is what would change the outcome.
    GatewayAuthFailed {
        offered: Vec<String>,
        tried: Vec<String>,
    },
    /// The gateway's resource authorization policy refuses this host
    /// (`E_PROXY_RAP_ACCESSDENIED`, MS-TSGU 2.2.6): only going direct changes that.
    GatewayResourceRefused,
    /// The gateway did not upgrade `RDG_OUT_DATA` to a WebSocket when only the WebSocket
    /// transport was asked for: the legacy HTTP transport would change the outcome.
    GatewayTransportRefused,
    /// The gateway answered the tunnel with another HRESULT (MS-TSGU 2.2.6), named in the
    /// detail: `E_PROXY_NAP_ACCESSDENIED`, `E_PROXY_MAXCONNECTIONSREACHED`, ...
    GatewayRefused(u32),
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
            Self::UnrequestedProtocol(_) => "unrequested-protocol",
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
            Self::GatewayAuthFailed { .. } => "gateway-auth-failed",
            Self::GatewayResourceRefused => "gateway-resource-refused",
            Self::GatewayTransportRefused => "gateway-transport-refused",
            Self::GatewayRefused(_) => "gateway-refused",
        }
    }
}

/// The `tls-other` reason for a server certificate that cannot be read: the TLS stack
/// refused it in the handshake (malformed DER, a chain over the stack's size limit), or it
/// passed the handshake and rdpshim's X.509 parser cannot read it (impossible dates). The
/// certificate is the same for every TLS version and suite: rustls refusing it leaves
/// OpenSSL (which reads what webpki does not, such as X.509 v1 and chains up to 100 KB) one
/// try; OpenSSL refusing it ends the run (`learn.rs`, `verdict.rs`).
pub const BAD_CERTIFICATE: &str = "bad-certificate";

impl FailureClass {
    /// `tls-other (bad-certificate)`: see [`BAD_CERTIFICATE`].
    pub fn bad_certificate() -> Self {
        Self::TlsOther(BAD_CERTIFICATE.to_owned())
    }

    /// Is this `tls-other (bad-certificate)`?
    pub fn is_bad_certificate(&self) -> bool {
        matches!(self, Self::TlsOther(reason) if reason == BAD_CERTIFICATE)
    }

    /// The protocol the server selected, when the failure says (the attempt failed at the
    /// selection itself).
    pub fn selected(&self) -> Option<Protocol> {
        match self {
            Self::RdpSecuritySelected => Some(Protocol::Rdp),
            Self::UnrequestedProtocol(selected) => Some(*selected),
            _ => None,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NegotiationFailure(code) => write!(f, "negotiation-failure ({})", code.name()),
            Self::TlsOther(alert) => write!(f, "tls-other ({alert})"),
            Self::GatewayAuthFailed { offered, tried } => write!(
                f,
                "gateway-auth-failed (offered: {}; tried: {})",
                list_or_none(offered),
                list_or_none(tried)
            ),
            Self::GatewayRefused(code) => write!(f, "gateway-refused (0x{code:08x})"),
            Self::UnrequestedProtocol(selected) => write!(f, "unrequested-protocol ({selected})"),
            other => f.write_str(other.as_str()),
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
