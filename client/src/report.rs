//! What an attempt tells us: the stage it reached and, on failure, a class a planner can
//! branch on. Plain data with stable string names (they appear in `--json`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::attempt::{Nla, TlsStack, TlsVersion};

pub use rdpshim_planner::{FailureClass, NegotiationCode, Protocol, Stage};

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

/// How long one stage took, and how many round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    #[serde(serialize_with = "serialize_ms")]
    pub elapsed: Duration,
    /// Round trips the stage waited for: for `tcp` the handshake (1, or 0 when nothing
    /// answered), for the others each flight of ours the server answered (see
    /// `engine::rtt`).
    pub round_trips: u32,
}

/// One address of a by-name dial that raced several (Happy Eyeballs, RFC 8305).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RacedAddress {
    pub address: SocketAddr,
    /// When its connect started, from the start of the `tcp` stage.
    pub started: Duration,
    /// From its start until it connected, failed, or the race ended without it.
    pub elapsed: Duration,
    pub outcome: RaceOutcome,
}

/// How one raced connect ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaceOutcome {
    /// The connection kept: the attempt went on over it.
    Connected,
    /// Still connecting when another address connected; closed.
    Abandoned,
    /// Refused, unreachable, or no answer within the stage limit (`tcp-refused`, `tcp-timeout`).
    Failed(Failure),
}

impl RaceOutcome {
    /// `connected`, `abandoned`, or the failure class (`--json`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Abandoned => "abandoned",
            Self::Failed(failure) => failure.class.as_str(),
        }
    }
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

#[cfg(test)]
impl Connected {
    /// A 1024x768 session with `selected_protocol` and nothing else to say: the unit tests'.
    pub(crate) fn for_tests(selected_protocol: &str) -> Self {
        Self {
            selected_protocol: selected_protocol.into(),
            desktop_width: 1024,
            desktop_height: 768,
            declined_multitransport: false,
            screenshot: None,
            screenshot_error: None,
        }
    }
}

/// The transport a gateway tunnel runs over (MS-TSGU 3.3.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransportUsed {
    #[serde(rename = "websocket")]
    WebSocket,
    #[serde(rename = "legacy-http")]
    LegacyHttp,
}

impl TransportUsed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::LegacyHttp => "legacy-http",
        }
    }

    /// This transport and no other, as a gateway spec asks for it (a pin).
    pub fn as_requested(self) -> rdpshim_planner::GatewayTransport {
        match self {
            Self::WebSocket => rdpshim_planner::GatewayTransport::WebSocket,
            Self::LegacyHttp => rdpshim_planner::GatewayTransport::LegacyHttp,
        }
    }
}

/// The RD Gateway leg of an attempt that went through one.
#[derive(Debug, Clone)]
pub struct GatewayLeg {
    /// `host:port` as given (`--gateway`, the profile).
    pub endpoint: String,
    /// The gateway's address, when TCP got there.
    pub address: Option<SocketAddr>,
    pub tls_requested: crate::attempt::TlsChoice,
    pub transport_requested: rdpshim_planner::GatewayTransport,
    pub auth: rdpshim_planner::GatewayAuth,
    /// The gateway's TLS session and certificate, when its handshake completed.
    pub tls: Option<TlsSession>,
    pub certificate: Option<CertificateInfo>,
    /// The transport the tunnel ran over, when it opened.
    pub transport: Option<TransportUsed>,
}

/// Everything an attempt observed, success or not.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// The address dialled, when resolution got that far: when a by-name dial raced
    /// several addresses, the one that connected, or the first raced when none did.
    pub address: Option<SocketAddr>,
    /// Every address the host name resolved to (empty when an address was given).
    pub resolved: Vec<SocketAddr>,
    /// The addresses a by-name dial raced (Happy Eyeballs), in the order started; empty when
    /// there was one address to dial.
    pub raced: Vec<RacedAddress>,
    pub server_name: String,
    /// What the X.224 request offered about NLA.
    pub nla: Nla,
    pub udp: bool,
    pub tls_requested: crate::attempt::TlsChoice,
    /// The protocol the server selected at X.224, when it got that far.
    pub selected: Option<Protocol>,
    /// Negotiated TLS session, when the handshake completed.
    pub tls: Option<TlsSession>,
    pub certificate: Option<CertificateInfo>,
    /// Through an RD Gateway: its leg (`None`: direct).
    pub gateway: Option<GatewayLeg>,
    /// Time per stage reached, in order; the last one is where a failure happened.
    pub stages: Vec<StageTime>,
    /// The measured round trip: the shortest wait for an answer (see `engine::rtt`); `None`
    /// when nothing was answered.
    pub rtt: Option<Duration>,
    pub total: Duration,
    pub result: Result<Connected, Failure>,
}

impl AttemptReport {
    /// The report of an attempt with `spec` that the engine never ran (a gateway leg that
    /// failed before its tunnel opened): what was asked, nothing observed.
    pub fn not_run(
        spec: &crate::attempt::AttemptSpec,
        total: Duration,
        result: Result<Connected, Failure>,
    ) -> Self {
        Self {
            address: None,
            resolved: Vec::new(),
            raced: Vec::new(),
            server_name: spec.effective_server_name().to_owned(),
            nla: spec.nla,
            udp: spec.udp,
            tls_requested: spec.tls.clone(),
            selected: None,
            tls: None,
            certificate: None,
            gateway: None,
            stages: Vec::new(),
            rtt: None,
            total,
            result,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.result.is_ok()
    }

    /// NLA as the attempt used it: what the server selected when it got that far (CredSSP
    /// or not), else what the request offered (mstsc's offer counts as NLA).
    pub fn nla_used(&self) -> bool {
        self.selected
            .and_then(Protocol::nla)
            .unwrap_or(self.nla != Nla::Off)
    }

    /// The last stage reached (the failing stage, or `first-frame` on success).
    pub fn stage(&self) -> Stage {
        match &self.result {
            Ok(_) => Stage::FirstFrame,
            Err(failure) => failure.stage,
        }
    }

    /// Round trips of every stage.
    pub fn round_trips(&self) -> u32 {
        self.stages.iter().map(|t| t.round_trips).sum()
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
