//! `diagnose HOST --gateway GW`: what the probes found about the RD Gateway in front of the
//! host ([`GatewayFindings`], part of the `--json` of `diagnose`), and the verdicts on the
//! table's `gateway-*` causes, decided from those findings alone (pure, as the rest of
//! [`super::verdicts`]).
//!
//! Without credentials the probes see the gateway's reachability, its TLS versions and
//! suites (the same scan as the RDP leg's, without X.224 before each handshake), its
//! certificate, and the HTTP authentication schemes its 401 offers. With credentials (the
//! host's, or `--gateway-user`) they also open a tunnel to the host: whether the gateway
//! upgrades to a WebSocket, and whether it lets this user reach the host.

use std::net::SocketAddr;

use serde::Serialize;

use super::findings::{CertificateDetails, DnsFinding, Reach, Refusal, TlsScan, Tri};
use super::names::name_matches;
use super::verdicts::Status;
use crate::attempt::TlsVersion;
use crate::planner::CauseId;
use crate::report::{FailureClass, Stage, TransportUsed};

/// Everything `diagnose` learned about the RD Gateway.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayFindings {
    pub host: String,
    pub port: u16,
    pub dns: DnsFinding,
    /// The address the other probes used: the first that accepted TCP.
    pub probed: Option<SocketAddr>,
    /// Its HTTPS versions and suites (`requested` is null: no X.224 before a gateway's TLS).
    pub tls: Option<TlsScan>,
    pub certificate: Option<CertificateDetails>,
    /// Its answer to an `RDG_OUT_DATA` request without credentials.
    pub http: HttpOffer,
    /// It upgrades `RDG_OUT_DATA` to a WebSocket (MS-TSGU 3.3.5.1): told only by a request
    /// that gets past authentication, so `unknown` without credentials.
    pub websocket: Tri,
    /// With credentials: the tunnel to the host.
    pub tunnel: Option<TunnelFinding>,
}

/// A gateway's answer to an unauthenticated request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpOffer {
    /// The HTTP status (401 from an RD Gateway), when it answered.
    pub status: Option<u16>,
    /// The schemes of its `WWW-Authenticate` challenges, in its order (`Negotiate`,
    /// `NTLM`, `Basic`), made printable.
    pub schemes: Vec<String>,
    /// Why there is no answer, when there is none.
    pub error: Option<String>,
}

/// A tunnel attempt through the gateway to the host, with credentials.
#[derive(Debug, Clone, Serialize)]
pub struct TunnelFinding {
    /// The account that authenticated (never the password).
    pub user: String,
    /// The transport the tunnel opened over, when it opened.
    pub transport: Option<TransportUsed>,
    /// `None`: the tunnel opened; else why not (`gateway-auth-failed: ...` and the like).
    pub refusal: Option<Refusal>,
}

impl TunnelFinding {
    fn failure(&self) -> Option<(Stage, &FailureClass)> {
        match &self.refusal {
            Some(Refusal::Failed(f)) => Some((f.stage, &f.class)),
            _ => None,
        }
    }
}

/// The `gateway-*` causes judged when `--gateway` was given.
pub fn is_gateway_cause(cause: CauseId) -> bool {
    matches!(
        cause,
        CauseId::GatewayUnreachable
            | CauseId::GatewayTls
            | CauseId::GatewayCertificate
            | CauseId::GatewayAuth
            | CauseId::GatewayResourcePolicy
    )
}

/// The verdict on one `gateway-*` cause.
pub fn judge(cause: CauseId, g: &GatewayFindings) -> (Status, String) {
    match cause {
        CauseId::GatewayUnreachable => unreachable(g),
        _ if g.probed.is_none() => (
            Status::CannotTell,
            "the gateway was not reached over TCP".to_owned(),
        ),
        CauseId::GatewayTls => tls(g),
        CauseId::GatewayCertificate => certificate(g),
        CauseId::GatewayAuth => auth(g),
        CauseId::GatewayResourcePolicy => resource_policy(g),
        _ => (Status::CannotTell, "not a gateway cause".to_owned()),
    }
}

fn unreachable(g: &GatewayFindings) -> (Status, String) {
    if let Some(error) = &g.dns.error {
        return (Status::Found, format!("`{}`: {error}", g.host));
    }
    if let Some(address) = g.probed {
        return (Status::NotFound, format!("{address} accepts TCP"));
    }
    let words = |reach: Reach| match reach {
        Reach::Refused => "refused (RST)",
        Reach::Timeout => "silent (no answer)",
        Reach::Unreachable => "unreachable",
        Reach::Connected => "reachable",
    };
    let each: Vec<String> = g
        .dns
        .addresses
        .iter()
        .map(|a| format!("{} {}", a.address, words(a.tcp)))
        .collect();
    (
        Status::Found,
        format!(
            "no address of `{}` accepts TCP: {}",
            g.host,
            each.join("; ")
        ),
    )
}

fn tls(g: &GatewayFindings) -> (Status, String) {
    let Some(scan) = &g.tls else {
        return (
            Status::CannotTell,
            "no TLS handshake was possible".to_owned(),
        );
    };
    let versions: Vec<TlsVersion> = scan
        .versions
        .iter()
        .filter(|v| v.accepted)
        .map(|v| v.version)
        .collect();
    let list = versions
        .iter()
        .map(|v| format!("TLS {}", v.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    match versions.iter().max() {
        None => (
            Status::CannotTell,
            "the gateway accepted no TLS version".to_owned(),
        ),
        Some(max) if *max < TlsVersion::Tls12 => (
            Status::Found,
            format!("the gateway accepts only {list}; current clients require TLS 1.2 or newer"),
        ),
        Some(_) if !scan.modern_client_ok => (
            Status::Found,
            format!(
                "the gateway accepts {list}, but TLS 1.2+ only with suites modern clients no longer \
                 offer (CBC or RSA key exchange)"
            ),
        ),
        Some(_) => (
            Status::NotFound,
            format!("the gateway accepts {list}, with suites a modern client offers"),
        ),
    }
}

fn certificate(g: &GatewayFindings) -> (Status, String) {
    let Some(cert) = &g.certificate else {
        return (
            Status::CannotTell,
            "no TLS handshake with the gateway completed".to_owned(),
        );
    };
    let info = &cert.info;
    let mut problems = Vec::new();
    if info.expired {
        problems.push(format!("it expired on {}", info.not_after));
    }
    if info.not_yet_valid {
        problems.push(format!("it is not valid before {}", info.not_before));
    }
    if !name_matches(&info.names, &g.host) {
        let names = if info.names.is_empty() {
            "no name".to_owned()
        } else {
            info.names.join(", ")
        };
        problems.push(format!("it names {names}, not `{}`", g.host));
    }
    if info.self_signed {
        problems.push(format!("it is self-signed (SHA-256 {})", info.sha256));
    }
    if problems.is_empty() {
        (
            Status::NotFound,
            format!(
                "`{}` issued by `{}`, valid to {}, names `{}`",
                info.subject, info.issuer, info.not_after, g.host
            ),
        )
    } else {
        (
            Status::Found,
            format!(
                "the gateway's certificate `{}`: {}",
                info.subject,
                problems.join("; ")
            ),
        )
    }
}

fn auth(g: &GatewayFindings) -> (Status, String) {
    let offered = offered_words(&g.http);
    if let Some(tunnel) = &g.tunnel {
        return match tunnel.failure() {
            Some((_, FailureClass::GatewayAuthFailed { offered, tried })) => (
                Status::Found,
                format!(
                    "the gateway refused {} (it offered {}; rdpshim answered with {})",
                    tunnel.user,
                    words(offered),
                    words(tried)
                ),
            ),
            Some((stage, _)) if stage <= Stage::GatewayHttp => (
                Status::CannotTell,
                format!(
                    "the tunnel attempt ended before authentication ({})",
                    tunnel
                        .refusal
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            ),
            _ => (
                Status::NotFound,
                format!(
                    "{} authenticated; the gateway offered {offered}",
                    tunnel.user
                ),
            ),
        };
    }
    let has = |scheme: &str| {
        g.http
            .schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
    };
    match g.http.status {
        None => (
            Status::CannotTell,
            format!(
                "no HTTP answer ({})",
                g.http.error.as_deref().unwrap_or("none")
            ),
        ),
        Some(401) if has("NTLM") || has("Basic") => (
            Status::NotFound,
            format!("the gateway offers {offered}; give credentials to check an account"),
        ),
        Some(401) if has("Negotiate") => (
            Status::CannotTell,
            "the gateway offers only Negotiate: it works where Kerberos does (or NTLM inside \
             SPNEGO, where the gateway accepts that); give credentials to check"
                .to_owned(),
        ),
        Some(401) => (
            Status::Found,
            format!("the gateway's 401 offers no scheme a client can use ({offered})"),
        ),
        Some(status) => (
            Status::CannotTell,
            format!("the gateway answered a request without credentials with HTTP {status}"),
        ),
    }
}

fn resource_policy(g: &GatewayFindings) -> (Status, String) {
    let Some(tunnel) = &g.tunnel else {
        return (
            Status::CannotTell,
            "only a tunnel with credentials shows it (-u USER, or --gateway-user, and a password)"
                .to_owned(),
        );
    };
    match tunnel.failure() {
        None => (
            Status::NotFound,
            format!(
                "the gateway opened a tunnel to the host for {} ({})",
                tunnel.user,
                tunnel.transport.map_or("", TransportUsed::as_str)
            ),
        ),
        Some((_, FailureClass::GatewayResourceRefused)) => (
            Status::Found,
            format!(
                "the gateway answered E_PROXY_RAP_ACCESSDENIED for {} to this host",
                tunnel.user
            ),
        ),
        Some((stage, class)) => (
            Status::CannotTell,
            format!("the tunnel attempt ended at {stage} ({class}), before the policy answered"),
        ),
    }
}

fn offered_words(http: &HttpOffer) -> String {
    words(&http.schemes)
}

fn words(schemes: &[String]) -> String {
    if schemes.is_empty() {
        "no scheme".to_owned()
    } else {
        schemes.join(", ")
    }
}

#[cfg(test)]
mod tests;
