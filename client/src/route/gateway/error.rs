//! Why a gateway route failed, typed, and the stage and failure class each cause maps to
//! (`report::FailureClass`; the planner branches on them).

use std::fmt;

use ironrdp_mstsgu::GwErrorKind;
use thiserror::Error;

use crate::report::{Failure, FailureClass, Stage};

/// HRESULTs (MS-TSGU 2.2.6) with their own meaning here; both the HRESULT and the bare
/// Win32 form occur on the wire.
const E_PROXY_RAP_ACCESSDENIED: [u32; 2] = [0x8007_59DA, 0x0000_59DA];
const E_PROXY_TS_CONNECTFAILED: [u32; 2] = [0x8007_59DD, 0x0000_59DD];

/// A gateway route that did not produce a tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GatewayError {
    /// DNS or TCP to the gateway failed (`class`: dns, tcp-refused, tcp-timeout, timeout).
    #[error("the gateway {gateway} is unreachable: {detail}")]
    Unreachable {
        gateway: String,
        class: FailureClass,
        detail: String,
    },
    /// The gateway's TLS handshake failed (`class`: tls-version-mismatch,
    /// tls-cipher-mismatch, tls-other, peer-closed, timeout): its TLS rung would change that.
    #[error("the gateway's TLS handshake failed: {detail}")]
    Tls { class: FailureClass, detail: String },
    /// The gateway presented another certificate than the pinned one; nothing was sent.
    #[error(
        "the gateway certificate changed: pinned {pinned}, presented {presented}; nothing was sent"
    )]
    CertificateChanged { pinned: String, presented: String },
    /// HTTP authentication failed: what the gateway's 401s offered, what we answered with.
    #[error("the gateway refused our HTTP authentication (it offered: {}; we tried: {})", list(.offered), list(.tried))]
    Authentication {
        offered: Vec<String>,
        tried: Vec<String>,
    },
    /// The resource authorization policy refuses the target (`E_PROXY_RAP_ACCESSDENIED`).
    #[error(
        "the gateway's resource authorization policy refuses {target} (E_PROXY_RAP_ACCESSDENIED)"
    )]
    ResourceRefused { target: String },
    /// Only the WebSocket transport was allowed and the gateway answered with `status`.
    #[error("the gateway did not switch to WebSocket (HTTP status {status}); it may speak only the legacy HTTP transport")]
    TransportRefused { status: u16 },
    /// The gateway could not reach the target itself (`E_PROXY_TS_CONNECTFAILED`).
    #[error("the gateway could not connect to {target} (E_PROXY_TS_CONNECTFAILED)")]
    TargetUnreachable { target: String },
    /// Another HRESULT in the tunnel setup.
    #[error("the gateway refused the tunnel: {label}")]
    Refused { code: u32, label: String },
    /// Anything else the gateway sent that we did not expect (an HTTP status, a malformed
    /// packet, a closed connection), at `stage`.
    #[error("gateway protocol error at {stage}: {detail}")]
    Protocol { stage: Stage, detail: String },
    /// `stage` did not finish within its limit.
    #[error("{detail}")]
    Timeout { stage: Stage, detail: String },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}

impl GatewayError {
    /// Where it failed.
    pub fn stage(&self) -> Stage {
        match self {
            Self::Unreachable { .. } => Stage::GatewayConnect,
            Self::Tls { .. } | Self::CertificateChanged { .. } => Stage::GatewayTls,
            Self::Authentication { .. } | Self::TransportRefused { .. } => Stage::GatewayHttp,
            Self::ResourceRefused { .. }
            | Self::TargetUnreachable { .. }
            | Self::Refused { .. } => Stage::GatewayTunnel,
            Self::Protocol { stage, .. } | Self::Timeout { stage, .. } => *stage,
        }
    }

    /// The failure class: existing classes where the meaning is the same one leg out (the
    /// stage says it was the gateway's), new ones where only a gateway can cause it.
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Unreachable { class, .. } | Self::Tls { class, .. } => class.clone(),
            Self::CertificateChanged { .. } => FailureClass::CertificateChanged,
            Self::Authentication { offered, tried } => FailureClass::GatewayAuthFailed {
                offered: offered.clone(),
                tried: tried.clone(),
            },
            Self::ResourceRefused { .. } => FailureClass::GatewayResourceRefused,
            Self::TransportRefused { .. } => FailureClass::GatewayTransportRefused,
            // The host does not answer the gateway: what a refused TCP connect means directly.
            Self::TargetUnreachable { .. } => FailureClass::TcpRefused,
            Self::Refused { code, .. } => FailureClass::GatewayRefused(*code),
            Self::Protocol { .. } => FailureClass::ProtocolError,
            Self::Timeout { .. } => FailureClass::Timeout,
        }
    }

    /// As an attempt failure.
    pub fn failure(&self) -> Failure {
        Failure::new(self.stage(), self.class(), self.to_string())
    }

    /// An engine failure of the gateway's TCP/TLS channel, moved to the gateway's stages.
    pub(super) fn from_channel(gateway: &str, failure: Failure) -> Self {
        match failure.stage {
            Stage::Dns | Stage::Tcp => Self::Unreachable {
                gateway: gateway.to_owned(),
                class: failure.class,
                detail: failure.detail,
            },
            _ if failure.class == FailureClass::Timeout => Self::Timeout {
                stage: Stage::GatewayTls,
                detail: format!("the gateway's {}", failure.detail),
            },
            _ => Self::Tls {
                class: failure.class,
                detail: failure.detail,
            },
        }
    }

    /// An ironrdp-mstsgu failure after the channel was up.
    pub(super) fn from_mstsgu(target: &str, error: &ironrdp_mstsgu_error::Error) -> Self {
        match error.kind() {
            GwErrorKind::HttpAuthentication { offered, tried } => Self::Authentication {
                offered: offered.iter().map(|s| printable(s)).collect(),
                tried: tried.iter().map(|s| printable(s)).collect(),
            },
            GwErrorKind::HttpStatus(401) => Self::Authentication {
                offered: Vec::new(),
                tried: Vec::new(),
            },
            GwErrorKind::WebSocketRefused { status } => Self::TransportRefused { status: *status },
            GwErrorKind::GatewayCode(code) if E_PROXY_RAP_ACCESSDENIED.contains(code) => {
                Self::ResourceRefused {
                    target: target.to_owned(),
                }
            }
            GwErrorKind::GatewayCode(code) if E_PROXY_TS_CONNECTFAILED.contains(code) => {
                Self::TargetUnreachable {
                    target: target.to_owned(),
                }
            }
            GwErrorKind::GatewayCode(code) => Self::Refused {
                code: *code,
                label: match ironrdp_mstsgu::gateway_code_label(*code) {
                    Some(label) => format!("{label} (0x{code:08x})"),
                    None => format!("0x{code:08x}"),
                },
            },
            GwErrorKind::HttpStatus(status) => Self::Protocol {
                stage: Stage::GatewayHttp,
                detail: format!("unexpected HTTP status {status}"),
            },
            _ => Self::Protocol {
                stage: Stage::GatewayTunnel,
                detail: printable(&Report(error).to_string()),
            },
        }
    }
}

/// The error and its sources on one line.
struct Report<'a>(&'a ironrdp_mstsgu_error::Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(inner) = source {
            write!(f, ": {inner}")?;
            source = inner.source();
        }
        Ok(())
    }
}

/// Server-controlled text, made safe for a terminal: control characters become `?`, and it
/// is cut at 200 characters.
fn printable(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// ironrdp-mstsgu's error type (its alias is private).
pub(super) mod ironrdp_mstsgu_error {
    pub type Error = ironrdp_error::Error<ironrdp_mstsgu::GwErrorKind>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mstsgu(kind: GwErrorKind) -> GatewayError {
        GatewayError::from_mstsgu("host:3389", &ironrdp_error::Error::new("test", kind))
    }

    #[test]
    fn each_cause_has_its_stage_and_class() {
        let cases = [
            (
                mstsgu(GwErrorKind::GatewayCode(0x8007_59DA)),
                Stage::GatewayTunnel,
                "gateway-resource-refused",
            ),
            (
                mstsgu(GwErrorKind::GatewayCode(0x8007_59DD)),
                Stage::GatewayTunnel,
                "tcp-refused",
            ),
            (
                mstsgu(GwErrorKind::GatewayCode(0x8007_59DB)),
                Stage::GatewayTunnel,
                "gateway-refused",
            ),
            (
                mstsgu(GwErrorKind::WebSocketRefused { status: 200 }),
                Stage::GatewayHttp,
                "gateway-transport-refused",
            ),
            (
                mstsgu(GwErrorKind::HttpAuthentication {
                    offered: vec!["Negotiate".into()],
                    tried: vec!["Negotiate".into()],
                }),
                Stage::GatewayHttp,
                "gateway-auth-failed",
            ),
            (
                mstsgu(GwErrorKind::HttpStatus(404)),
                Stage::GatewayHttp,
                "protocol-error",
            ),
            (
                mstsgu(GwErrorKind::Decode),
                Stage::GatewayTunnel,
                "protocol-error",
            ),
        ];
        for (error, stage, class) in cases {
            assert_eq!(error.stage(), stage, "{error}");
            assert_eq!(error.class().as_str(), class, "{error}");
        }
    }

    #[test]
    fn channel_failures_move_to_the_gateway_stages() {
        let refused = Failure::new(Stage::Tcp, FailureClass::TcpRefused, "refused");
        let error = GatewayError::from_channel("gw:443", refused);
        assert_eq!(error.stage(), Stage::GatewayConnect);
        assert_eq!(error.class(), FailureClass::TcpRefused);
        let version = Failure::new(Stage::Tls, FailureClass::TlsVersionMismatch, "alert");
        let error = GatewayError::from_channel("gw:443", version);
        assert_eq!(error.stage(), Stage::GatewayTls);
        assert_eq!(error.class(), FailureClass::TlsVersionMismatch);
    }

    #[test]
    fn gateway_text_is_made_printable() {
        let error = mstsgu(GwErrorKind::HttpAuthentication {
            offered: vec!["Ev\u{1b}[2Jil".into()],
            tried: vec![],
        });
        assert!(!error.to_string().contains('\u{1b}'), "{error}");
    }
}
