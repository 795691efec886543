//! `rdpshim bridge`: the user's own RDP client reaches the server through rdpshim, over the
//! configuration the ladder found.
//!
//! The client leg speaks modern RDP (TLS 1.3/1.2 with rustls and the bridge's own
//! certificate, NLA when the server needs credentials); the server leg is the engine's
//! ([`crate::engine::server_leg`]), with whatever stack, version, suites and NLA setting
//! connected. After the security handshakes the session flows unchanged in both directions,
//! except the two GCC fields the separate negotiations make wrong ([`gcc`]), and the
//! multitransport advertisement, which is removed (the bridge carries TCP only).
//!
//! Invariants (ARCHITECTURE.md, checked by tests):
//! - **The bridge never gives anyone a session they could not get without it.** A server
//!   leg with NLA is used only after the client proved, with CredSSP toward the bridge,
//!   the same user name and password the bridge holds ([`client_credssp`]); a wrong
//!   password is refused although the bridge holds the right one. A server leg without NLA
//!   gets no credentials from the bridge: the client leg is TLS only and the user logs on
//!   at the server's own login screen.
//! - **Listening is loopback unless asked**: [`Bridge::open`] binds 127.0.0.1 unless the
//!   request names another address ([`Ready::loopback`] tells the front end to say so).
//! - **Bounded**: every read before the splice is capped and under a stage time limit; the
//!   splice holds two fixed buffers ([`splice`]).
//!
//! Files: [`identity`] (the bridge's own certificate), [`protocols`] (which protocol each
//! leg uses: pure), [`client_leg`] (X.224 and TLS toward the client), [`client_credssp`]
//! (CredSSP as a server, the credential check), [`gcc`] (the Connect Initial/Response
//! rewrites), [`splice`] (both directions until either side ends), [`session`] (one
//! session, in order), [`listener`] (accepting, limits, Ctrl-C), [`record`] (the session
//! log), [`client_files`] (the `.rdp` file and FreeRDP line for the bridge).
//!
//! How it starts: `session::connect` finds the configuration (the profile first, the
//! ladder, every fallback announced, the floor, the downgrade guard, the certificate pin,
//! the credentials), then [`Bridge::open`] takes its [`Winner`] (the spec that connected,
//! pinned to its address and certificate), loads the bridge's certificate and listens;
//! [`Bridge::serve`] carries sessions until Ctrl-C or (`once`) the first one ends.

pub mod client_credssp;
pub mod client_files;
pub mod client_leg;
pub mod gcc;
pub mod identity;
pub mod listener;
pub mod protocols;
pub mod record;
pub mod session;
pub mod splice;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;

use rdpshim_profiles::{Profile, ProfileStore};
use tokio::net::TcpListener;

use crate::attempt::{AttemptSpec, StageTimeouts, TlsChoice};
use crate::planner::{Knobs, Nla, Protocol};
use crate::report::TlsSession;
use crate::session::Winner;

pub use identity::{Identity, IdentityError};
pub use listener::{Events, Interrupt, Stopped};
pub use record::SessionRecord;

/// Where the bridge listens unless told otherwise: loopback, a free port.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The directory under the configuration root that holds the bridge's certificate and key.
pub const IDENTITY_DIR: &str = "bridge";

/// How the bridge serves, as the caller asks for it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where to listen; `None`: [`DEFAULT_LISTEN`].
    pub listen: Option<SocketAddr>,
    /// Stop when the first session ends.
    pub once: bool,
    /// Sessions carried at once.
    pub max_sessions: usize,
    /// Each stage's limit on both legs of every session.
    pub timeouts: StageTimeouts,
}

/// Why the bridge cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("no configuration directory for the bridge's certificate: {0}")]
    NoConfigDirectory(rdpshim_profiles::StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    /// The server leg dials the server; a configuration that reached it through an RD
    /// Gateway would be carried around the gateway, which the user did not choose.
    #[error(
        "the configuration found reaches the server through the RD Gateway {gateway}, which \
         the bridge does not carry (its server leg would go around the gateway): point your \
         client at the gateway itself (`rdpshim profile export` writes its gateway settings)"
    )]
    ThroughGateway { gateway: String },
}

/// Everything a session needs: how to reach the server, and what to show the client.
pub struct BridgeConfig {
    /// The server leg's configuration (see [`server_leg_spec`]).
    pub server: AttemptSpec,
    /// The knobs that connected: what a server leg failure is judged against when it is
    /// named by the table of causes (`planner::causes::of_failure`).
    pub knobs: Knobs,
    pub identity: Identity,
}

/// What a person needs to point their client at the bridge (the ready line, the `ready`
/// event, the `.rdp` file).
#[derive(Debug)]
pub struct Ready {
    pub listen: SocketAddr,
    /// Whether only this machine can reach the listener.
    pub loopback: bool,
    /// The server as every session's leg reaches it: the address that connected.
    pub server: String,
    /// The TLS the server leg negotiated when the configuration was found.
    pub server_tls: Option<TlsSession>,
    /// NLA on the server leg, and so on the client leg.
    pub nla: bool,
    /// The name the server leg gives TLS and CredSSP.
    pub server_name: String,
    pub certificate_sha256: String,
    /// The certificate was generated by this run (the user sees a new fingerprint).
    pub certificate_new: bool,
    pub certificate_path: PathBuf,
    /// The client leg as a profile: what the `.rdp` file and the FreeRDP line are made of.
    pub client_profile: Profile,
}

impl Ready {
    /// The FreeRDP 2 command line for the bridge.
    pub fn freerdp(&self) -> String {
        client_files::freerdp(&self.client_profile).shell_line()
    }

    /// The `.rdp` file for the bridge (mstsc's encoding; no password).
    pub fn rdp_file(&self) -> Vec<u8> {
        client_files::rdp_file(&self.client_profile)
    }
}

/// A bridge that is listening.
pub struct Bridge {
    listener: TcpListener,
    config: Rc<BridgeConfig>,
    request: Request,
    ready: Ready,
}

impl Bridge {
    /// The bridge over the configuration that connected: its own certificate, kept beside
    /// the profiles (in [`IDENTITY_DIR`] under the configuration root the session's profile
    /// store uses, generated on first use), and its listener.
    pub async fn open(winner: Winner<'_>, request: Request) -> Result<Self, BridgeError> {
        direct_only(&winner.step.spec)?;
        let root = ProfileStore::default_root().map_err(BridgeError::NoConfigDirectory)?;
        let identity = Identity::load_or_create(&root.join(IDENTITY_DIR))?;
        let address = request.listen.unwrap_or(DEFAULT_LISTEN);
        let (listener, local) = listener::bind(address)
            .await
            .map_err(|source| BridgeError::Listen { address, source })?;
        let server = server_leg_spec(&winner, request.timeouts);
        let report = &winner.step.report;
        let credentials = server.credentials.as_ref();
        let client_profile = client_files::bridge_profile(
            local,
            server.nla.is_on(),
            credentials.map(|c| c.username.as_str()),
            credentials.and_then(|c| c.domain.as_deref()),
            &identity.sha256,
            &rdpshim_profiles::store::timestamp::now_rfc3339(),
        );
        let ready = Ready {
            listen: local,
            loopback: local.ip().is_loopback(),
            server: report.address.map_or_else(
                || format!("{}:{}", server.host, server.port),
                |a| a.to_string(),
            ),
            server_tls: report.tls.clone(),
            nla: server.nla.is_on(),
            server_name: server.effective_server_name().to_owned(),
            certificate_sha256: identity.sha256.clone(),
            certificate_new: identity.created,
            certificate_path: identity.certificate_path.clone(),
            client_profile,
        };
        let config = Rc::new(BridgeConfig {
            server,
            knobs: winner.knobs.clone(),
            identity,
        });
        Ok(Self {
            listener,
            config,
            request,
            ready,
        })
    }

    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Carries sessions until `stop` resolves or (`once`) the first one ends; the records
    /// of every session that ended, in order.
    pub async fn serve(
        self,
        events: &mut dyn Events,
        stop: impl Future<Output = ()>,
    ) -> (Stopped, Vec<SessionRecord>) {
        let options = listener::ServeOptions {
            max_sessions: self.request.max_sessions,
            once: self.request.once,
        };
        listener::serve(self.listener, self.config, options, events, stop).await
    }
}

/// The bridge carries only a configuration that reaches the server directly: its server
/// leg dials (`engine::server_leg`), and going around a gateway is a step the ladder
/// announces, never one the bridge takes quietly.
fn direct_only(spec: &AttemptSpec) -> Result<(), BridgeError> {
    match &spec.gateway {
        Some(gateway) => Err(BridgeError::ThroughGateway {
            gateway: crate::host::HostPort {
                host: gateway.host.clone(),
                port: gateway.port,
            }
            .label(),
        }),
        None => Ok(()),
    }
}

/// The server leg's configuration from the attempt that connected: [`Winner::spec`] (its
/// knobs, the address it reached, the certificate it saw pinned: every session dials what
/// worked, whatever DNS answers next, and a different certificate ends the leg before
/// anything is sent), with the TLS version it negotiated pinned too (the bridge carries the
/// configuration it announced, not whatever "auto" gives later), credentials only when NLA
/// was used, `timeouts` per stage, and no screenshot.
pub fn server_leg_spec(winner: &Winner<'_>, timeouts: StageTimeouts) -> AttemptSpec {
    let mut spec = winner.spec();
    if let Some(tls) = &winner.step.report.tls {
        spec.tls = TlsChoice {
            stack: tls.stack,
            version: Some(tls.version),
            ciphers: spec.tls.ciphers.clone(),
        };
    }
    // The winner's knobs are as used (`Knobs::as_used`): NLA on or off as the server
    // selected, which is what every session's server leg must get again.
    if spec.nla == Nla::Negotiate {
        let selected_nla = winner.step.report.selected.and_then(Protocol::nla);
        spec.nla = Nla::exact(selected_nla.unwrap_or(true));
    }
    if !spec.nla.is_on() {
        spec.credentials = None;
    }
    spec.timeouts = timeouts;
    spec.screenshot = None;
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::gateway::{GatewayCredentials, GatewaySpec};
    use crate::secret::Password;

    /// A configuration found through an RD Gateway is refused before anything listens: the
    /// server leg would dial the server around the gateway.
    #[test]
    fn only_a_direct_configuration_is_carried() {
        let mut spec = AttemptSpec::strongest("desk7.corp.local", 3389);
        assert!(direct_only(&spec).is_ok());
        spec.gateway = Some(GatewaySpec::new(
            "rdg.corp.example",
            443,
            GatewayCredentials {
                username: "alice".into(),
                domain: None,
                password: Password::new("s3cret"),
            },
        ));
        let refused = direct_only(&spec).unwrap_err();
        assert!(
            matches!(&refused, BridgeError::ThroughGateway { gateway } if gateway == "rdg.corp.example:443"),
            "{refused}"
        );
        assert!(!refused.to_string().contains("s3cret"));
    }
}
