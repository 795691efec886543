//! `rdpshim bridge`: the user's own RDP client reaches the server through rdpshim, over the
//! configuration the ladder found.
//!
//! The client leg speaks modern RDP (TLS 1.3/1.2 with rustls and the bridge's own
//! certificate, NLA when the server needs credentials); the server leg is the engine's
//! ([`crate::engine::server_leg`]), with whatever stack, version, suites and NLA setting
//! connected, and through the RD Gateway the configuration was found through, if any
//! (every session opens its own tunnel with `route::gateway`, the gateway leg as found:
//! its TLS version, transport, certificate and account). After the security handshakes the
//! session flows unchanged in both directions, except the two GCC fields the separate negotiations make wrong ([`gcc`]), and the
//! multitransport advertisement, which is removed (the bridge carries TCP only).
//!
//! Invariants (ARCHITECTURE.md, checked by tests):
//! - **The bridge never gives anyone a session they could not get without it.** The client
//!   proves, with CredSSP toward the bridge, every account the bridge would use for it
//!   ([`proof`], verified by [`client_credssp`]) before the bridge uses it: a server leg
//!   with NLA is authenticated only after the client proved the host's user name and
//!   password; a tunnel through an RD Gateway is opened only after the client proved the
//!   gateway's account (the host's by default), whatever the server needs; a wrong
//!   password is refused although the bridge holds the right one. A gateway with an
//!   account of its own is refused by [`Bridge::open`] ([`BridgeError::OwnGatewayAccount`]:
//!   two accounts to prove, or the gateway's password carried to the server). A server leg without NLA gets no
//!   credentials from the bridge: the user logs on at the server's own login screen (the
//!   client leg is TLS only when the server is dialled directly).
//! - **Listening is loopback unless asked**: [`Bridge::open`] binds 127.0.0.1 unless the
//!   request names another address ([`Ready::loopback`] tells the front end to say so).
//! - **Bounded**: every read before the splice is capped and under a stage time limit; the
//!   splice holds two fixed buffers ([`splice`]).
//!
//! Files: [`identity`] (the bridge's own certificate), [`proof`] (what a client proves
//! before the bridge uses what it holds: pure), [`protocols`] (which protocol each leg
//! uses: pure), [`client_leg`] (X.224 and TLS toward the client), [`client_credssp`]
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
pub mod proof;
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

use crate::attempt::{AttemptSpec, Credentials, StageTimeouts, TlsChoice};
use crate::planner::{Knobs, Nla, Protocol};
use crate::report::{GatewayLeg, TlsSession};
use crate::route::gateway::GatewayTimeouts;
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
    /// [`proof::ProofError::OwnGatewayAccount`]: the gateway signs in with an account of its
    /// own.
    #[error(
        "the RD Gateway signs in as {gateway_user}, an account of its own: the bridge lets a \
         client through only on an account the client proved to it (CredSSP), one account per \
         client, and a client proving the gateway's account would then log on to the server \
         with it, carrying the gateway's password to the server. Use the server's account for \
         the gateway too (drop --gateway-user), or connect your client to the gateway directly \
         (`rdpshim profile export HOST --format freerdp` or `--format rdp` keeps the gateway)"
    )]
    OwnGatewayAccount { gateway_user: String },
}

/// Everything a session needs: how to reach the server, and what to show the client.
pub struct BridgeConfig {
    /// The server leg's configuration (see [`server_leg_spec`]).
    pub server: AttemptSpec,
    /// The knobs that connected: what a server leg failure is judged against when it is
    /// named by the table of causes (`planner::causes::of_failure`).
    pub knobs: Knobs,
    pub identity: Identity,
    /// The account a client must prove (CredSSP toward the bridge) before the bridge uses
    /// anything for it ([`proof`]); `None`: nothing, the client leg is TLS only.
    pub client_account: Option<Credentials>,
}

impl BridgeConfig {
    /// Whether the client proves its account before the server leg starts: through an RD
    /// Gateway, whose tunnel the bridge opens with the account it holds (see
    /// `session.rs` for the order).
    pub fn proof_first(&self) -> bool {
        self.server.gateway.is_some()
    }
}

/// What a person needs to point their client at the bridge (the ready line, the `ready`
/// event, the `.rdp` file).
#[derive(Debug)]
pub struct Ready {
    pub listen: SocketAddr,
    /// Whether only this machine can reach the listener.
    pub loopback: bool,
    /// The server as every session's leg reaches it: the address that connected (through
    /// a gateway, the host and port the gateway is asked for).
    pub server: String,
    /// The RD Gateway every session's server leg goes through, as the configuration found
    /// it (endpoint, TLS, transport); `None`: the server is dialled directly.
    pub gateway: Option<GatewayLeg>,
    /// The TLS the server leg negotiated when the configuration was found.
    pub server_tls: Option<TlsSession>,
    /// NLA on the server leg.
    pub nla: bool,
    /// NLA on the client leg: the client proves [`Ready::client_user`]'s password before
    /// the bridge uses anything it holds ([`proof`]). Through an RD Gateway always, even
    /// in front of a server without NLA.
    pub client_nla: bool,
    /// The account the client proves, as the user types it (`None` without NLA); through a
    /// gateway in front of a server without NLA, the gateway's.
    pub client_user: Option<String>,
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
    /// A configuration no client could be let through on ([`BridgeError::OwnGatewayAccount`]) is
    /// refused first, before anything is created or bound.
    pub async fn open(winner: Winner<'_>, request: Request) -> Result<Self, BridgeError> {
        let server = server_leg_spec(&winner, request.timeouts);
        let client_account = client_account(&server, winner.credentials())?;
        let root = ProfileStore::default_root().map_err(BridgeError::NoConfigDirectory)?;
        let identity = Identity::load_or_create(&root.join(IDENTITY_DIR))?;
        let address = request.listen.unwrap_or(DEFAULT_LISTEN);
        let (listener, local) = listener::bind(address)
            .await
            .map_err(|source| BridgeError::Listen { address, source })?;
        let report = &winner.step.report;
        let client_profile = client_files::bridge_profile(
            local,
            client_account.is_some(),
            client_account.as_ref().map(|c| c.username.as_str()),
            client_account.as_ref().and_then(|c| c.domain.as_deref()),
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
            gateway: server.gateway.as_ref().and(report.gateway.clone()),
            server_tls: report.tls.clone(),
            nla: server.nla.is_on(),
            client_nla: client_account.is_some(),
            client_user: client_account.as_ref().map(|c| match &c.domain {
                Some(domain) => format!("{domain}\\{}", c.username),
                None => c.username.clone(),
            }),
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
            client_account,
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

    /// The account a client must prove to this bridge (`open` hands it to the client it
    /// starts); `None`: the client leg is TLS only.
    pub fn client_account(&self) -> Option<&Credentials> {
        self.config.client_account.as_ref()
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

/// The server leg's configuration from the attempt that connected: [`Winner::spec`] (its
/// knobs, the address it reached, the certificate it saw pinned: every session dials what
/// worked, whatever DNS answers next, and a different certificate ends the leg before
/// anything is sent), with the TLS version it negotiated pinned too (the bridge carries the
/// configuration it announced, not whatever "auto" gives later), credentials only when NLA
/// was used, `timeouts` per stage, and no screenshot. Through an RD Gateway, the gateway
/// leg as found ([`Winner::spec`]: its transport, certificate and account) with its TLS
/// version pinned the same way and the same per-stage limits: every session opens its own
/// tunnel through it.
pub fn server_leg_spec(winner: &Winner<'_>, timeouts: StageTimeouts) -> AttemptSpec {
    let mut spec = winner.spec();
    if let Some(tls) = &winner.step.report.tls {
        spec.tls = as_negotiated(&spec.tls, tls);
    }
    if let Some(gateway) = &mut spec.gateway {
        if let Some(tls) = winner
            .step
            .report
            .gateway
            .as_ref()
            .and_then(|g| g.tls.as_ref())
        {
            gateway.tls = as_negotiated(&gateway.tls, tls);
        }
        gateway.timeouts = GatewayTimeouts::from_stages(&timeouts);
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

/// The account a client must prove for the server leg `server` ([`proof::required`]):
/// the host's (`server.credentials`, present exactly when the leg uses NLA), the gateway's,
/// or none; refused when a gateway with its own account stands in front of an NLA server.
/// `host`: the run's host credentials before the server leg dropped them (a gateway that
/// took them is the host's account, not one of its own).
fn client_account(
    server: &AttemptSpec,
    host: Option<&Credentials>,
) -> Result<Option<Credentials>, BridgeError> {
    let gateway = server.gateway.as_ref().map(|g| &g.credentials);
    let account = gateway.map(|g| proof::gateway_account(host, g));
    let proof = proof::required(account, server.nla.is_on()).map_err(|e| match e {
        proof::ProofError::OwnGatewayAccount => BridgeError::OwnGatewayAccount {
            gateway_user: gateway.map(|g| g.username.clone()).unwrap_or_default(),
        },
    })?;
    Ok(match (proof, gateway) {
        (proof::Proof::Nothing, _) => None,
        (proof::Proof::HostAccount, _) => server.credentials.clone(),
        (proof::Proof::GatewayAccount, Some(gateway)) => Some(proof::gateway_credentials(gateway)),
        (proof::Proof::GatewayAccount, None) => None,
    })
}

/// `choice` with the stack and version `session` negotiated (the suites as asked).
fn as_negotiated(choice: &TlsChoice, session: &TlsSession) -> TlsChoice {
    TlsChoice {
        stack: session.stack,
        version: Some(session.version),
        ciphers: choice.ciphers.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::attempt::{Credentials, TlsStack, TlsVersion};
    use crate::ladder::Step;
    use crate::planner::{GatewayAuth, GatewayTransport, Route, ViaGateway};
    use crate::report::{AttemptReport, CertificateInfo, Connected, TransportUsed};
    use crate::route::gateway::{GatewayCredentials, GatewaySpec};
    use crate::secret::Password;

    fn certificate(sha256: &str) -> CertificateInfo {
        CertificateInfo {
            sha256: sha256.into(),
            subject: "CN=x".into(),
            issuer: "CN=x".into(),
            not_before: "2020-01-01T00:00:00Z".into(),
            not_after: "2040-01-01T00:00:00Z".into(),
            self_signed: true,
            expired: false,
            not_yet_valid: false,
            names: Vec::new(),
        }
    }

    fn tls(stack: TlsStack, version: TlsVersion) -> TlsSession {
        TlsSession {
            stack,
            version,
            cipher: "X".into(),
        }
    }

    /// A configuration found through an RD Gateway is carried through it: every session's
    /// server leg asks the gateway for exactly what the winning attempt got (its TLS
    /// version, the transport its tunnel ran over, its certificate pinned), with the
    /// gateway account the attempt used and the bridge's stage limits, and the RDP leg's
    /// own pin as over a direct route. TLS without NLA: no host credentials on the server
    /// leg, while the gateway keeps its own account's.
    #[test]
    fn a_gateway_configuration_is_carried_through_the_gateway_as_found() {
        let via = ViaGateway::strongest();
        let knobs = Knobs {
            nla: Nla::Off,
            tls: TlsChoice {
                stack: TlsStack::Openssl,
                version: Some(TlsVersion::Tls10),
                ciphers: None,
            },
            route: Route::Gateway(via.clone()),
            ..Knobs::strongest()
        };
        let mut spec = AttemptSpec::strongest("desk7.corp.local", 3389);
        spec.nla = Nla::Negotiate;
        spec.credentials = Some(Credentials {
            username: "alice".into(),
            domain: None,
            password: Password::new("host-secret"),
        });
        let mut gateway = GatewaySpec::new(
            "rdg.corp.example",
            443,
            GatewayCredentials {
                username: "gwuser".into(),
                domain: None,
                password: Password::new("gw-secret"),
            },
        );
        gateway.tls = via.tls.clone();
        gateway.transport = via.transport;
        gateway.timeouts = GatewayTimeouts::uniform(Duration::from_millis(700));
        spec.gateway = Some(gateway);
        let connected = Ok(Connected::for_tests("ssl"));
        let mut report = AttemptReport::not_run(&spec, Duration::from_millis(90), connected);
        report.selected = Some(Protocol::Ssl);
        report.tls = Some(tls(TlsStack::Openssl, TlsVersion::Tls10));
        report.certificate = Some(certificate("AA:01"));
        report.gateway = Some(GatewayLeg {
            endpoint: "rdg.corp.example:443".into(),
            address: Some("192.0.2.7:443".parse().unwrap()),
            tls_requested: via.tls.clone(),
            transport_requested: via.transport,
            auth: via.auth,
            tls: Some(tls(TlsStack::Rustls, TlsVersion::Tls13)),
            certificate: Some(certificate("BB:02")),
            transport: Some(TransportUsed::LegacyHttp),
        });
        let step = Step {
            number: 3,
            knobs: knobs.clone(),
            fallbacks: Vec::new(),
            spec,
            report,
        };
        let winner = Winner {
            knobs: &knobs,
            fallbacks: &[],
            step: &step,
        };
        let limits = StageTimeouts::uniform(Duration::from_secs(7));
        let leg = server_leg_spec(&winner, limits);

        assert_eq!(leg.nla, Nla::Off);
        assert!(leg.credentials.is_none(), "no NLA: no host credentials");
        assert_eq!(leg.pinned_certificate.as_deref(), Some("AA:01"));
        assert_eq!(leg.tls.version, Some(TlsVersion::Tls10));
        let gateway = leg
            .gateway
            .expect("the server leg goes through the gateway");
        assert_eq!(gateway.endpoint(), "rdg.corp.example:443");
        assert_eq!(gateway.transport, GatewayTransport::LegacyHttp);
        assert_eq!(gateway.auth, GatewayAuth::Offered);
        assert_eq!(gateway.pinned_certificate.as_deref(), Some("BB:02"));
        assert_eq!(
            (gateway.tls.stack, gateway.tls.version),
            (TlsStack::Rustls, Some(TlsVersion::Tls13))
        );
        assert_eq!(
            gateway.timeouts,
            GatewayTimeouts::uniform(Duration::from_secs(7))
        );
        assert_eq!(gateway.credentials.username, "gwuser");
    }

    /// Which account each server leg makes the client prove (`client_account`, from the
    /// leg `server_leg_spec` derived): none direct without NLA, the host's with NLA, the
    /// host's (which is the gateway's) in front of a TLS server and of an NLA server, and a
    /// refusal naming the gateway's user when the gateway has an account of its own.
    #[test]
    fn the_client_proves_the_account_of_each_server_leg() {
        let host = Credentials {
            username: "alice".into(),
            domain: Some("CORP".into()),
            password: Password::new("host-secret"),
        };
        let own = GatewayCredentials {
            username: "gwuser".into(),
            domain: None,
            password: Password::new("gw-secret"),
        };
        let hosts = GatewayCredentials {
            username: "alice".into(),
            domain: Some("CORP".into()),
            password: Password::new("host-secret"),
        };
        // (gateway account, server NLA, the user the client proves, or refused)
        let cases = [
            (None, false, Ok(None)),
            (None, true, Ok(Some("alice"))),
            (Some(&own), false, Err("gwuser")),
            (Some(&hosts), false, Ok(Some("alice"))),
            (Some(&hosts), true, Ok(Some("alice"))),
            (Some(&own), true, Err("gwuser")),
        ];
        for (gateway, nla, expected) in cases {
            let mut spec = AttemptSpec::strongest("desk7.corp.local", 3389);
            spec.nla = Nla::exact(nla);
            // As `server_leg_spec` leaves them: host credentials only with NLA.
            spec.credentials = nla.then(|| host.clone());
            spec.gateway = gateway.map(|g| GatewaySpec::new("rdg.corp.example", 443, g.clone()));
            let got = client_account(&spec, Some(&host));
            let what = format!("gateway {:?}, NLA {nla}", gateway.map(|g| &g.username));
            match (got, expected) {
                (Ok(account), Ok(user)) => {
                    assert_eq!(
                        account.as_ref().map(|a| a.username.as_str()),
                        user,
                        "{what}"
                    );
                    if let Some(account) = account {
                        let password = if user == Some("gwuser") {
                            "gw-secret"
                        } else {
                            "host-secret"
                        };
                        assert!(account.password.matches(password), "{what}");
                    }
                }
                (Err(BridgeError::OwnGatewayAccount { gateway_user }), Err(user)) => {
                    assert_eq!(gateway_user, user, "{what}");
                }
                (got, expected) => panic!(
                    "{what}: {got:?} vs {expected:?}",
                    got = got.map(|a| a.map(|a| a.username))
                ),
            }
        }
        let message = BridgeError::OwnGatewayAccount {
            gateway_user: "gwuser".into(),
        }
        .to_string();
        assert!(
            message.contains("--gateway-user") && message.contains("--format freerdp"),
            "{message}"
        );
    }
}
