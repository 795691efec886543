//! Through an RD Gateway (MS-TSGU HTTP transport, ironrdp-mstsgu): HTTPS to the gateway
//! with our own TLS (the stacks and rungs of the RDP leg, [`crate::attempt::TlsChoice`]),
//! HTTP authentication (NTLM, Negotiate, Basic: whatever the gateway's 401 offers), the
//! WebSocket transport first and the legacy `RDG_OUT_DATA`/`RDG_IN_DATA` pair second, then
//! the tunnel to `HOST:PORT`. The result is a byte stream to the RDP server.
//!
//! The ladder's attempts through a gateway go through [`crate::route::run_attempt`], which
//! opens the tunnel and makes the attempt over it. Every failure comes back as a
//! [`GatewayError`] with its stage and failure class. Every
//! stage is under a time limit; the HTTP layer's reads are bounded by ironrdp-mstsgu (hyper's
//! header limits, 16 KiB error bodies, 16 MiB packets and WebSocket messages: see the
//! vendored crate's PATCHES.md).

pub mod diagnose;
mod error;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ironrdp_mstsgu::{
    GwClient, GwConnectTarget, GwErrorKind, GwTransportKind, GwTransportPreference,
};
use tokio::time::Instant;

pub use error::GatewayError;

use crate::attempt::{TlsChoice, DEFAULT_RDP_PORT};
use crate::engine::tls::BoxStream;
use crate::engine::{open_tls_channel, ChannelLimits};
use crate::report::{CertificateInfo, Failure, Stage, StageTime, TlsSession};
use crate::secret::Password;

/// Which of the gateway's HTTP authentication schemes to answer with.
pub use crate::planner::GatewayAuth;
/// Which HTTP transports to try: `Auto` asks for the WebSocket upgrade and takes the
/// legacy OUT channel when the gateway answers with it (what mstsc does); `WebSocket`
/// fails with `gateway-transport-refused` on a gateway that does not upgrade;
/// `LegacyHttp` opens the `RDG_OUT_DATA` + `RDG_IN_DATA` pair without asking.
pub use crate::planner::GatewayTransport as Transport;
/// The transport a tunnel runs over.
pub use crate::report::TransportUsed;

/// The port an RD Gateway listens on unless told otherwise (HTTPS).
pub const DEFAULT_GATEWAY_PORT: u16 = rdpshim_profiles::model::DEFAULT_GATEWAY_PORT;

/// The gateway account (mstsc's "use my RD Gateway credentials for the remote computer":
/// usually the target's).
#[derive(Debug, Clone)]
pub struct GatewayCredentials {
    pub username: String,
    pub domain: Option<String>,
    pub password: Password,
}

/// Time limits of the gateway's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayTimeouts {
    pub dns: Duration,
    pub tcp: Duration,
    pub tls: Duration,
    /// HTTP authentication, the transport and the tunnel setup together (ironrdp-mstsgu
    /// runs them as one exchange).
    pub tunnel: Duration,
}

impl GatewayTimeouts {
    pub fn uniform(limit: Duration) -> Self {
        Self {
            dns: limit,
            tcp: limit,
            tls: limit,
            tunnel: limit,
        }
    }

    /// The gateway leg's limits from the RDP leg's: DNS, TCP and TLS alike, and the
    /// tunnel's exchange under the connection stage's limit.
    pub fn from_stages(stages: &crate::attempt::StageTimeouts) -> Self {
        Self {
            dns: stages.dns,
            tcp: stages.tcp,
            tls: stages.tls,
            tunnel: stages.connection,
        }
    }
}

/// Everything one route through a gateway needs.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    pub host: String,
    pub port: u16,
    pub tls: TlsChoice,
    pub credentials: GatewayCredentials,
    pub transport: Transport,
    /// Answer only with this scheme (`Offered`: the strongest the gateway offers).
    pub auth: GatewayAuth,
    pub timeouts: GatewayTimeouts,
    /// SHA-256 fingerprint the gateway's certificate must have; another one stops the
    /// route before any credential is sent.
    pub pinned_certificate: Option<String>,
    /// The machine name the gateway logs (HTTP_TUNNEL_AUTH_PACKET).
    pub client_name: String,
}

impl GatewaySpec {
    /// A gateway at `host:port` with modern TLS, WebSocket then legacy HTTP, 10 s limits.
    pub fn new(host: impl Into<String>, port: u16, credentials: GatewayCredentials) -> Self {
        Self {
            host: host.into(),
            port,
            tls: TlsChoice::modern(),
            credentials,
            transport: Transport::Auto,
            auth: GatewayAuth::Offered,
            timeouts: GatewayTimeouts::uniform(Duration::from_secs(10)),
            pinned_certificate: None,
            client_name: "rdpshim".to_owned(),
        }
    }

    /// `host:port`, brackets around an IPv6 literal (the `Host` header's form).
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An open tunnel to the target.
pub struct Tunnel {
    /// Bytes to and from the RDP server.
    pub stream: BoxStream,
    pub transport: TransportUsed,
    /// The gateway's address.
    pub address: SocketAddr,
    /// The gateway's TLS session and certificate.
    pub tls: TlsSession,
    pub certificate: CertificateInfo,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("transport", &self.transport)
            .field("address", &self.address)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// What the way through the gateway showed before it ended, tunnel or not: the gateway's
/// address, TLS session and certificate once its handshake completed, and the time of its
/// two parts (`gateway-tls`: DNS, TCP and TLS to the gateway; `gateway-tunnel`: HTTP
/// authentication, the transport and the tunnel, which ironrdp-mstsgu runs as one
/// exchange).
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub address: Option<SocketAddr>,
    pub tls: Option<TlsSession>,
    pub certificate: Option<CertificateInfo>,
    pub times: Vec<StageTime>,
}

/// Opens a tunnel through the gateway in `spec` to `target_host:target_port`.
pub async fn open(
    spec: &GatewaySpec,
    target_host: &str,
    target_port: u16,
) -> Result<Tunnel, GatewayError> {
    open_observed(spec, target_host, target_port, &mut Observed::default()).await
}

/// [`open`], recording in `observed` what the gateway showed on the way.
pub async fn open_observed(
    spec: &GatewaySpec,
    target_host: &str,
    target_port: u16,
    observed: &mut Observed,
) -> Result<Tunnel, GatewayError> {
    let started = Instant::now();
    let limits = ChannelLimits {
        dns: spec.timeouts.dns,
        tcp: spec.timeouts.tcp,
        tls: spec.timeouts.tls,
    };
    let endpoint = spec.endpoint();
    let out = open_tls_channel(&spec.host, spec.port, None, &spec.tls, limits).await;
    let stage = |channel: &Result<_, Failure>| match channel {
        Err(f) if matches!(f.stage, Stage::Dns | Stage::Tcp) => Stage::GatewayConnect,
        _ => Stage::GatewayTls,
    };
    observed.times.push(StageTime {
        stage: stage(&out),
        elapsed: started.elapsed(),
        // The gateway leg is not metered (its own TLS, HTTP and tunnel set-up).
        round_trips: 0,
    });
    let out = out.map_err(|f| GatewayError::from_channel(&endpoint, f))?;
    observed.address = Some(out.address);
    observed.tls = Some(out.session.clone());
    observed.certificate = Some(out.certificate.clone());
    let tunnel_started = Instant::now();
    if let Some(pinned) = &spec.pinned_certificate {
        if !pinned.eq_ignore_ascii_case(&out.certificate.sha256) {
            return Err(GatewayError::CertificateChanged {
                pinned: pinned.clone(),
                presented: out.certificate.sha256.clone(),
            });
        }
    }
    tracing::debug!(gateway = %out.address, tls = ?out.session, "gateway TLS up");

    // The legacy IN channel goes to the same gateway machine as the OUT channel (a name
    // may resolve to several, which would not share the channel pairing), with the same
    // TLS and the same certificate.
    let in_failure: Arc<Mutex<Option<GatewayError>>> = Arc::default();
    let open_in = {
        let host = spec.host.clone();
        let tls = spec.tls.clone();
        let address = out.address;
        let sha256 = out.certificate.sha256.clone();
        let in_failure = Arc::clone(&in_failure);
        let endpoint = endpoint.clone();
        move || async move {
            let failed = |error: GatewayError| {
                *in_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                ironrdp_error::Error::new("RDG_IN_DATA channel", GwErrorKind::Connect)
            };
            let channel = open_tls_channel(&host, port_of(address), Some(address), &tls, limits)
                .await
                .map_err(|f: Failure| failed(GatewayError::from_channel(&endpoint, f)))?;
            if channel.certificate.sha256 != sha256 {
                return Err(failed(GatewayError::CertificateChanged {
                    pinned: sha256,
                    presented: channel.certificate.sha256,
                }));
            }
            Ok(channel.stream)
        }
    };

    let target = target_resource(target_host, target_port);
    let gw_target = connect_target(spec, target_host);
    let connect = GwClient::connect_over_streams(
        &gw_target,
        &spec.client_name,
        target_port,
        preference(spec.transport),
        out.stream,
        open_in,
    );
    let connected = tokio::time::timeout(spec.timeouts.tunnel, connect).await;
    observed.times.push(StageTime {
        stage: Stage::GatewayTunnel,
        elapsed: tunnel_started.elapsed(),
        round_trips: 0,
    });
    let connected = match connected {
        Err(_) => {
            return Err(GatewayError::Timeout {
                stage: crate::report::Stage::GatewayHttp,
                detail: format!(
                    "the gateway did not complete authentication and the tunnel to {target} within {:.1} s",
                    spec.timeouts.tunnel.as_secs_f64()
                ),
            });
        }
        Ok(connected) => connected,
    };
    let (client, kind) = match connected {
        Ok(connected) => connected,
        Err(error) => {
            let in_failure = in_failure.lock().unwrap_or_else(|e| e.into_inner()).take();
            return Err(in_failure.unwrap_or_else(|| GatewayError::from_mstsgu(&target, &error)));
        }
    };
    let transport = match kind {
        GwTransportKind::WebSocket => TransportUsed::WebSocket,
        GwTransportKind::DualHttp => TransportUsed::LegacyHttp,
    };
    tracing::debug!(transport = transport.as_str(), %target, "gateway tunnel open");
    Ok(Tunnel {
        stream: Box::new(client),
        transport,
        address: out.address,
        tls: out.session,
        certificate: out.certificate,
    })
}

fn port_of(address: SocketAddr) -> u16 {
    address.port()
}

/// `host:port` for messages (the port only when it is not 3389).
fn target_resource(host: &str, port: u16) -> String {
    if port == DEFAULT_RDP_PORT {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

fn preference(transport: Transport) -> GwTransportPreference {
    match transport {
        Transport::Auto => GwTransportPreference::WebSocketThenHttp,
        Transport::WebSocket => GwTransportPreference::WebSocketOnly,
        Transport::LegacyHttp => GwTransportPreference::HttpOnly,
    }
}

/// The one place the gateway password leaves [`Password`]: ironrdp-mstsgu's target holds it
/// as a `String` for its NTLM/Negotiate/Basic exchange (and drops it with the tunnel).
fn connect_target(spec: &GatewaySpec, target_host: &str) -> GwConnectTarget {
    let credentials = &spec.credentials;
    let gw_user = match &credentials.domain {
        Some(domain) if !domain.is_empty() => format!("{domain}\\{}", credentials.username),
        _ => credentials.username.clone(),
    };
    GwConnectTarget {
        gw_endpoint: spec.endpoint(),
        gw_user,
        gw_pass: credentials.password.expose().to_owned(),
        smart_card: None,
        server: target_host.to_owned(),
        http_schemes: spec.auth.scheme().map(|scheme| vec![scheme.to_owned()]),
    }
}

#[cfg(test)]
mod tests;
