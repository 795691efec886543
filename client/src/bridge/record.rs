//! What one bridged session did, for the session log: who connected, how each leg was
//! secured, what was rewritten, bytes each way, how long, and which side ended it and why.
//! Plain data; one line for people ([`SessionRecord::line`]) and one JSON object
//! ([`SessionRecord::json`]). Text a peer controls (error messages quoting it) is escaped
//! in the line (`terminal::escape`) and exact in the JSON. A server leg failure names the
//! cause from the table of causes that it proves, as connect's verdict and the matrix do.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::client_leg::ClientTls;
use super::splice::{Ending, Side};
use crate::planner::causes::CauseId;
use crate::planner::Protocol;
use crate::report::{Failure, FailureClass, Stage, TlsSession, TransportUsed};
use crate::terminal::escape;

/// The handshake steps of a session, each timed from the accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The client's X.224 Connection Request arrived.
    ClientRequest,
    /// TLS is up on the client leg alone, before its CredSSP and before any server leg
    /// (through an RD Gateway, where the client proves its account first).
    ClientTls,
    /// The server leg's tunnel through the RD Gateway is open (gateway routes only).
    GatewayTunnel,
    /// The server leg's TCP and X.224 are done.
    ServerNegotiated,
    /// TLS is up on both legs (the two handshakes run at once).
    Tls,
    /// The client proved the bridge's credentials (NLA only).
    ClientCredssp,
    /// The bridge authenticated to the server (NLA only).
    ServerCredssp,
    /// The MCS Connect Initial/Response went through; the splice starts.
    Mcs,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientRequest => "client-request",
            Self::ClientTls => "client-tls",
            Self::GatewayTunnel => "gateway-tunnel",
            Self::ServerNegotiated => "server-negotiated",
            Self::Tls => "tls",
            Self::ClientCredssp => "client-credssp",
            Self::ServerCredssp => "server-credssp",
            Self::Mcs => "mcs",
        }
    }
}

/// How the session ended.
#[derive(Debug)]
pub enum Outcome {
    /// The session was carried until one side ended it.
    Carried { ended_by: Side, ending: Ending },
    /// The client was turned away on purpose: wrong credentials (`auth-failed`), a client
    /// that cannot do what the server leg needs (`negotiation-failure`, with the code it
    /// was sent).
    Refused { failure: Failure },
    /// A leg failed before the session could start; a server leg failure names the cause
    /// it proves when the table of causes has one.
    Failed {
        side: Side,
        failure: Failure,
        cause: Option<CauseId>,
    },
}

/// The RD Gateway a session's server leg went through: its own tunnel.
#[derive(Debug, Clone)]
pub struct GatewayHop {
    /// `host:port` of the gateway, as the configuration names it.
    pub endpoint: String,
    /// `host:port` the gateway was asked to reach (it resolves the name).
    pub target: String,
    /// The gateway's address, once TCP got there.
    pub address: Option<SocketAddr>,
    /// The gateway's TLS, once its handshake completed.
    pub tls: Option<TlsSession>,
    /// The transport the tunnel ran over, once it opened.
    pub transport: Option<TransportUsed>,
}

/// One session, start to end.
#[derive(Debug)]
pub struct SessionRecord {
    pub number: usize,
    pub client: SocketAddr,
    /// The server leg's address, once dialled (`None` through a gateway's tunnel).
    pub server: Option<SocketAddr>,
    /// The RD Gateway the server leg went through, when the configuration has one.
    pub gateway: Option<GatewayHop>,
    /// What each leg selected: `ssl`, `hybrid`, `hybrid-ex`.
    pub client_protocol: Option<Protocol>,
    pub server_protocol: Option<Protocol>,
    pub client_tls: Option<ClientTls>,
    pub server_tls: Option<TlsSession>,
    /// What the bridge rewrote (GCC), for the log.
    pub changes: Vec<String>,
    pub to_server: u64,
    pub to_client: u64,
    pub phases: Vec<(Phase, Duration)>,
    /// Handshake time spent waiting on the server leg (its X.224, TLS, CredSSP and MCS
    /// Connect Response): what a client straight to the server would wait for too.
    pub server_leg: Duration,
    /// Handshake time the bridge itself adds on the client's critical path: the client
    /// leg's TLS beyond the server leg's (they run at once), CredSSP with the client, the
    /// GCC rewrites. (Forwarding each later round trip is one more loopback hop.)
    pub own: Duration,
    pub duration: Duration,
    pub outcome: Outcome,
}

impl SessionRecord {
    pub fn new(number: usize, client: SocketAddr) -> Self {
        Self {
            number,
            client,
            server: None,
            gateway: None,
            client_protocol: None,
            server_protocol: None,
            client_tls: None,
            server_tls: None,
            changes: Vec::new(),
            to_server: 0,
            to_client: 0,
            phases: Vec::new(),
            server_leg: Duration::ZERO,
            own: Duration::ZERO,
            duration: Duration::ZERO,
            outcome: Outcome::Refused {
                failure: Failure::new(Stage::X224, FailureClass::ProtocolError, "not started"),
            },
        }
    }

    /// Whether the session reached the splice.
    pub fn carried(&self) -> bool {
        matches!(self.outcome, Outcome::Carried { .. })
    }

    /// The session log line for people.
    pub fn line(&self) -> String {
        let head = format!("session {} from {}", self.number, self.client);
        let legs = self.legs();
        match &self.outcome {
            Outcome::Carried { ended_by, ending } => {
                let side = ended_by.as_str();
                let why = match ending {
                    Ending::Closed => format!("the {side} closed the connection"),
                    Ending::Abrupt => format!(
                        "the {side} closed the connection without TLS close_notify (ended or killed)"
                    ),
                    Ending::Reset => format!("the {side} reset the connection"),
                    Ending::Failed(e) => {
                        format!("the {side} connection failed: {}", escape(e))
                    }
                };
                let other = match ended_by {
                    Side::Client => "the server leg was closed",
                    Side::Server => "the client was disconnected",
                };
                let traffic = format!(
                    "{} to the server, {} to the client",
                    bytes(self.to_server),
                    bytes(self.to_client)
                );
                let details = if legs.is_empty() {
                    traffic
                } else {
                    format!("{legs}; {traffic}")
                };
                format!(
                    "{head} ended after {:.1} s: {why}; {other} ({details})",
                    self.duration.as_secs_f64(),
                )
            }
            Outcome::Refused { failure } => {
                format!("{head} refused: {}", escape(&failure.detail))
            }
            Outcome::Failed {
                side,
                failure,
                cause,
            } => format!(
                "{head} failed on the {} leg at {} ({}): {}{}{}",
                side.as_str(),
                failure.stage,
                failure.class,
                escape(&failure.detail),
                if legs.is_empty() {
                    String::new()
                } else {
                    format!(" ({legs})")
                },
                cause.map_or_else(String::new, |id| format!("; cause {id}: {}", id.title())),
            ),
        }
    }

    /// "client TLS 1.3 + NLA, server 10.0.0.5:3389 TLS 1.0 (OpenSSL, ECDHE-RSA-AES128-SHA)".
    fn legs(&self) -> String {
        let mut parts = Vec::new();
        if let Some(tls) = &self.client_tls {
            parts.push(format!(
                "client leg TLS {}{}",
                tls.version.as_str(),
                nla_suffix(self.client_protocol)
            ));
        }
        let server = match (self.server, &self.gateway) {
            (Some(address), _) => Some(address.to_string()),
            (None, Some(hop)) => Some(format!(
                "{} through the RD Gateway {}",
                escape(&hop.target),
                escape(&hop.endpoint)
            )),
            (None, None) => None,
        };
        if let (Some(server), Some(tls)) = (server, &self.server_tls) {
            parts.push(format!(
                "server leg {server} TLS {} ({}, {}){}",
                tls.version.as_str(),
                tls.stack.name(),
                tls.cipher,
                nla_suffix(self.server_protocol)
            ));
        }
        parts.join(", ")
    }

    /// The session as one JSON object (`"event": "session"`).
    pub fn json(&self) -> Value {
        let (outcome, detail) = match &self.outcome {
            Outcome::Carried { ended_by, ending } => {
                let (how, error) = match ending {
                    Ending::Closed => ("closed", None),
                    Ending::Abrupt => ("closed-abruptly", None),
                    Ending::Reset => ("reset", None),
                    Ending::Failed(e) => ("failed", Some(e)),
                };
                (
                    "carried",
                    json!({"ended_by": ended_by, "how": how, "error": error}),
                )
            }
            Outcome::Refused { failure } => (
                "refused",
                json!({
                    "reason": failure.detail,
                    "stage": failure.stage,
                    "class": failure.class.as_str(),
                    "code": negotiation_code(&failure.class),
                }),
            ),
            Outcome::Failed {
                side,
                failure,
                cause,
            } => (
                "failed",
                json!({
                    "side": side,
                    "stage": failure.stage,
                    "class": failure.class.as_str(),
                    "code": negotiation_code(&failure.class),
                    "detail": failure.detail,
                    "cause": cause,
                }),
            ),
        };
        let phases: serde_json::Map<String, Value> = self
            .phases
            .iter()
            .map(|(phase, at)| (phase.as_str().to_owned(), json!(crate::report::millis(*at))))
            .collect();
        json!({
            "event": "session",
            "number": self.number,
            "client": self.client.to_string(),
            "server": self.server.map(|a| a.to_string()),
            "gateway": self.gateway.as_ref().map(|hop| json!({
                "endpoint": hop.endpoint,
                "target": hop.target,
                "address": hop.address.map(|a| a.to_string()),
                "tls": hop.tls,
                "transport": hop.transport,
            })),
            "client_leg": {
                "protocol": self.client_protocol,
                "tls": self.client_tls.as_ref().map(|t| json!({"version": t.version, "cipher": t.cipher})),
            },
            "server_leg": {
                "protocol": self.server_protocol,
                "tls": self.server_tls.as_ref().map(|t| json!({"stack": t.stack, "version": t.version, "cipher": t.cipher})),
            },
            "rewritten": self.changes,
            "outcome": outcome,
            "detail": detail,
            "bytes_to_server": self.to_server,
            "bytes_to_client": self.to_client,
            "phases_ms": phases,
            "server_leg_ms": crate::report::millis(self.server_leg),
            "bridge_own_ms": crate::report::millis(self.own),
            "ms": crate::report::millis(self.duration),
        })
    }
}

fn nla_suffix(protocol: Option<Protocol>) -> &'static str {
    match protocol.and_then(Protocol::nla) {
        Some(true) => " + NLA",
        _ => "",
    }
}

/// The RDP_NEG_FAILURE code's name, as connect's `--json` gives it.
fn negotiation_code(class: &FailureClass) -> Option<String> {
    match class {
        FailureClass::NegotiationFailure(code) => Some(code.name()),
        _ => None,
    }
}

/// `1.2 MB`, `850 B`.
fn bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=999_999 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_who_ended_the_session_and_escape_peer_text() {
        let mut record = SessionRecord::new(3, "127.0.0.1:5000".parse().unwrap());
        record.duration = Duration::from_millis(12_300);
        record.to_client = 3_400_000;
        record.to_server = 1_234;
        record.outcome = Outcome::Carried {
            ended_by: Side::Server,
            ending: Ending::Failed("bad record\x1b[31m".into()),
        };
        let line = record.line();
        assert!(
            line.contains("session 3 from 127.0.0.1:5000 ended after 12.3 s"),
            "{line}"
        );
        assert!(line.contains("the client was disconnected"), "{line}");
        assert!(line.contains("3.4 MB to the client"), "{line}");
        assert!(!line.contains('\x1b'), "{line}");

        record.outcome = Outcome::Failed {
            side: Side::Server,
            failure: Failure::new(Stage::Tcp, FailureClass::TcpRefused, "refused"),
            cause: Some(CauseId::PortRefused),
        };
        let line = record.line();
        assert!(
            line.contains("failed on the server leg at tcp (tcp-refused)"),
            "{line}"
        );
        assert!(line.contains("; cause port-refused: "), "{line}");
        assert_eq!(record.json()["outcome"], "failed");
        assert_eq!(record.json()["detail"]["class"], "tcp-refused");
        assert_eq!(record.json()["detail"]["cause"], "port-refused");
    }

    /// Through an RD Gateway the server leg has no address of its own: the line names the
    /// target and the gateway, the JSON the gateway's side of it.
    #[test]
    fn a_server_leg_through_a_gateway_names_the_gateway() {
        use crate::attempt::{TlsStack, TlsVersion};
        let tls = |stack, version| TlsSession {
            stack,
            version,
            cipher: "X".into(),
        };
        let mut record = SessionRecord::new(1, "127.0.0.1:5000".parse().unwrap());
        record.server_tls = Some(tls(TlsStack::Openssl, TlsVersion::Tls10));
        record.gateway = Some(GatewayHop {
            endpoint: "rdg.example:443".into(),
            target: "desk7:3389".into(),
            address: Some("192.0.2.7:443".parse().unwrap()),
            tls: Some(tls(TlsStack::Rustls, TlsVersion::Tls13)),
            transport: Some(TransportUsed::WebSocket),
        });
        record.outcome = Outcome::Carried {
            ended_by: Side::Client,
            ending: Ending::Closed,
        };
        let line = record.line();
        assert!(
            line.contains("server leg desk7:3389 through the RD Gateway rdg.example:443 TLS 1.0"),
            "{line}"
        );
        let json = record.json();
        assert_eq!(json["server"], serde_json::Value::Null);
        assert_eq!(json["gateway"]["endpoint"], "rdg.example:443");
        assert_eq!(json["gateway"]["transport"], "websocket");
        assert_eq!(json["gateway"]["tls"]["version"], "1.3");
    }
}
