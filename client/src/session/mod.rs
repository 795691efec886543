//! What `connect`, `matrix`, `bridge` and `open` share: given a connect
//! request and the profile store, run the ladder from the host's profile and record the
//! outcome; find the credentials (stdin, `RDPSHIM_PASSWORD`, keyring, a person) and keep
//! them; merge an imported `.rdp` into a profile.
//!
//! The person at the other end is a [`Frontend`]: the session tells it typed notices and
//! asks it questions, and never prints. The CLI's frontend is a terminal (for `bridge` too:
//! it finds its configuration as `connect` does, then goes on from [`Outcome::winner`]).
//!
//! - [`profile`]: read the profile, start a request from it, record a run in it;
//!   [`saved`]: the profile <-> planner knobs conversions;
//! - [`credentials`]: where a password comes from, and saving it to the keyring;
//! - [`import`]: an imported `.rdp` merged into a profile;
//! - [`frontend`]: the [`Frontend`] trait and its [`Notice`]s.

pub mod credentials;
pub mod frontend;
pub mod import;
pub mod profile;
pub mod saved;

use rdpshim_profiles::{Profile, ProfileStore};

use crate::attempt::{AttemptSpec, Credentials, DialTarget};
use crate::ladder::{self, Observer, Run, Step};
use crate::planner::{Fallback, GatewayUsage, Knobs};
use crate::secret::PasswordError;

pub use credentials::{Keyring, Origin};
pub use frontend::{Frontend, Notice};
pub use profile::gateway_usage;
pub use profile::open_store;

/// A connection as the caller asks for it: the ladder's request (policy, pins, timeouts)
/// and what the session adds around it.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub ladder: ladder::Request,
    /// `-u`; else the profile's.
    pub user: Option<String>,
    /// `-d`; else the profile's.
    pub domain: Option<String>,
    /// Read the password from standard input (`--password-stdin`).
    pub password_stdin: bool,
    /// Trust a certificate that differs from the pinned one, and pin it.
    pub accept_new_cert: bool,
    /// Record the run in the profile and save the password (`--no-save` turns it off).
    pub save: bool,
    /// `--gateway`: an RD Gateway in front of the host (else the profile's, if it has one).
    pub gateway: Option<GatewayRequest>,
}

/// An RD Gateway as the caller names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRequest {
    pub host: String,
    pub port: u16,
    /// When to use it (`--gateway-usage`; mstsc's `gatewayusagemethod` 1 or 2).
    pub usage: GatewayUsage,
    /// `--gateway-user`: a gateway account of its own; `None`: the host's credentials
    /// (or the profile's gateway account).
    pub user: Option<String>,
    /// `--gateway-domain`.
    pub domain: Option<String>,
}

impl ConnectRequest {
    /// The request for `ladder` with no user, no stdin password, the pin kept, and saving on.
    pub fn new(ladder: ladder::Request) -> Self {
        Self {
            ladder,
            user: None,
            domain: None,
            password_stdin: false,
            accept_new_cert: false,
            save: true,
            gateway: None,
        }
    }
}

/// A request the session cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("--password-stdin needs a user name (-u USER, or --gateway-user USER)")]
    PasswordStdinNeedsUser,
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// A finished session.
#[derive(Debug)]
pub struct Outcome {
    pub host: String,
    pub port: u16,
    pub run: Run,
    /// Warnings for people about what the run found (certificate, screenshot, UDP).
    pub warnings: Vec<String>,
    /// The profile as recorded after the run; `None` when nothing was recorded.
    pub profile: Option<Profile>,
    /// After a success: the profile as recorded, or (nothing saved: `--no-save`, no profile
    /// directory, a failed write) as it would have been. What `open` hands to a client.
    pub configuration: Option<Profile>,
}

/// The configuration that connected, for a caller that opens its own connection with it
/// (the bridge's server leg) or hands it to another client (`open`).
#[derive(Debug, Clone, Copy)]
pub struct Winner<'a> {
    pub knobs: &'a Knobs,
    /// The fallbacks it carries, in the order they were applied.
    pub fallbacks: &'a [Fallback],
    /// The winning attempt, credentials included.
    pub step: &'a Step,
}

impl Winner<'_> {
    /// The winning attempt's spec again, for a new connection to the same server: dialling
    /// the address that worked, asking for exactly the NLA and TLS it used (not the offer
    /// that let the server choose) and pinning the certificate it presented, so the new
    /// connection is the one the ladder proved or nothing. Through an RD Gateway the same
    /// for the gateway leg: the transport its tunnel ran over (not `auto`, which lets the
    /// gateway choose) and its certificate pinned, with the account the attempt used.
    pub fn spec(&self) -> AttemptSpec {
        let mut spec = self.step.spec.clone();
        spec.nla = self.knobs.nla;
        spec.tls = self.knobs.tls.clone();
        if let Some(address) = self.step.report.address {
            spec.dial = DialTarget::Address(address);
        }
        if let Some(certificate) = &self.step.report.certificate {
            spec.pinned_certificate = Some(certificate.sha256.clone());
        }
        if let (Some(gateway), Some(leg)) = (&mut spec.gateway, &self.step.report.gateway) {
            if let Some(transport) = leg.transport {
                gateway.transport = transport.as_requested();
            }
            if let Some(certificate) = &leg.certificate {
                gateway.pinned_certificate = Some(certificate.sha256.clone());
            }
        }
        spec
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.step.spec.credentials.as_ref()
    }
}

impl Outcome {
    /// The configuration that connected, when one did.
    pub fn winner(&self) -> Option<Winner<'_>> {
        let success = self.run.result.as_ref().ok()?;
        let step = self.run.steps.last()?;
        Some(Winner {
            knobs: &success.winner,
            fallbacks: &success.fallbacks,
            step,
        })
    }
}

/// Runs the ladder for `request`, starting from the host's profile in `store` (when there
/// is a store), and records the outcome: the run in the profile, the password in the
/// keyring (after an NLA connection, when it did not come from there), unless
/// `request.save` is off.
///
/// Reading the keyring may block the calling thread for its time limit (the keyring runs
/// on worker threads); call this from a runtime thread that may block.
pub async fn connect(
    mut request: ConnectRequest,
    store: Option<&ProfileStore>,
    frontend: &mut dyn Frontend,
) -> Result<Outcome, SessionError> {
    let (host, port) = (request.ladder.host.clone(), request.ladder.port);
    let saved = store.and_then(|s| profile::load(s, &host, port, frontend));
    let user_given = request.user.is_some();
    if let Some(saved) = &saved {
        profile::apply(saved, &mut request);
    }
    profile::route_through_gateway(saved.as_ref(), &mut request);
    let gateway_user = request
        .ladder
        .gateway
        .as_ref()
        .and_then(|g| g.account.as_ref())
        .is_some();
    if request.password_stdin && request.user.is_none() && !gateway_user {
        return Err(SessionError::PasswordStdinNeedsUser);
    }

    let mut keyring = Keyring::new();
    let origin = up_front(&mut request, &host, user_given, &mut keyring, frontend)?;
    let gateway_origin = gateway_up_front(&mut request, &mut keyring, frontend)?;
    let had_credentials = request.ladder.credentials.is_some();

    let request_gateway_host = request
        .ladder
        .gateway
        .as_ref()
        .map(|g| g.host.clone())
        .unwrap_or_default();
    let mut asking = Asking {
        frontend: &mut *frontend,
        host: &host,
        user: request.user.as_deref(),
        domain: request.domain.as_deref(),
    };
    let run = ladder::run(request.ladder, &mut asking).await;

    let mut recorded = None;
    let had_profile = saved.is_some();
    if request.save {
        if let Some(store) = store {
            let accept_new_cert = request.accept_new_cert;
            let gateway = request.gateway.as_ref();
            match profile::record(
                store,
                &host,
                port,
                &run,
                had_profile,
                accept_new_cert,
                gateway,
            ) {
                Ok(profile) => recorded = profile,
                Err(error) => frontend.notice(&Notice::ProfileNotSaved(error)),
            }
        }
        // A password typed during the run (the ladder asked) has no origin yet.
        let origin = if had_credentials {
            origin
        } else {
            Some(Origin::Prompt)
        };
        keep_password(&run, &host, origin, &mut keyring, frontend);
        keep_gateway_password(
            &run,
            &request_gateway_host,
            gateway_origin,
            &mut keyring,
            frontend,
        );
    }
    let configuration = match &recorded {
        Some(profile) if run.result.is_ok() => Some(profile.clone()),
        _ => profile::as_recorded(saved, &host, port, &run, request.accept_new_cert),
    };
    Ok(Outcome {
        warnings: crate::advice::run_warnings(&run),
        host,
        port,
        run,
        profile: recorded,
        configuration,
    })
}

/// The password before the run, when a user is known: from stdin, the environment, the
/// keyring, or (only when NLA is likely: the caller named the user, or the profile
/// connected with NLA; TLS-only servers need none) a person. Where it came from.
fn up_front(
    request: &mut ConnectRequest,
    host: &str,
    user_given: bool,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) -> Result<Option<Origin>, SessionError> {
    let Some(user) = request.user.clone() else {
        return Ok(None);
    };
    // The gateway takes the host's credentials when it has no account of its own: a
    // gateway that is used first needs them as surely as NLA does.
    let gateway_needs_them = request.ladder.policy.gateway == Some(GatewayUsage::Always)
        && request
            .ladder
            .gateway
            .as_ref()
            .is_some_and(|g| g.account.is_none());
    let nla_likely = user_given
        || gateway_needs_them
        || request
            .ladder
            .policy
            .profile
            .as_ref()
            .is_some_and(|k| k.nla.is_on());
    let stdin = request.password_stdin;
    let Some((password, origin)) =
        credentials::find(&user, host, stdin, nla_likely, keyring, frontend)?
    else {
        return Ok(None);
    };
    request.ladder.credentials = Some(Credentials {
        username: user,
        domain: request.domain.clone(),
        password,
    });
    Ok(Some(origin))
}

/// The gateway account's password before the run, when the gateway has an account of its
/// own: standard input (when no -u takes it), `RDPSHIM_GATEWAY_PASSWORD`, the keyring
/// (`user@gateway`), or (when the gateway is used first) a person.
fn gateway_up_front(
    request: &mut ConnectRequest,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) -> Result<Option<Origin>, SessionError> {
    let always = request.ladder.policy.gateway == Some(GatewayUsage::Always);
    let stdin = request.password_stdin && request.user.is_none();
    let Some(gateway) = request.ladder.gateway.as_mut() else {
        return Ok(None);
    };
    let Some(account) = gateway.account.as_mut() else {
        return Ok(None);
    };
    let found = credentials::find_gateway(
        &account.username,
        &gateway.host,
        stdin,
        always,
        keyring,
        frontend,
    )?;
    Ok(found.map(|(password, origin)| {
        account.password = Some(password);
        origin
    }))
}

/// After an NLA connection (or one through a gateway that took the host's credentials), the
/// password it used goes to the keyring (unless it came from there).
fn keep_password(
    run: &Run,
    host: &str,
    origin: Option<Origin>,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) {
    if let (Ok(success), Some(used)) = (&run.result, &run.credentials) {
        let gateway_used_it =
            success.winner.route.is_gateway() && run.gateway_credentials.is_none();
        if success.winner.nla.is_on() || gateway_used_it {
            credentials::remember(used, host, origin, keyring, frontend);
        }
    }
}

/// After a connection through the gateway with its own account, that password goes to the
/// keyring under `user@gateway` (unless it came from there).
fn keep_gateway_password(
    run: &Run,
    gateway: &str,
    origin: Option<Origin>,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) {
    if let (Ok(success), Some(used)) = (&run.result, &run.gateway_credentials) {
        if success.winner.route.is_gateway() {
            // A password typed during the run has no origin yet.
            let origin = origin.or(Some(Origin::Prompt));
            credentials::remember(used, gateway, origin, keyring, frontend);
        }
    }
}

/// The ladder's observer during a session: progress goes to the frontend, and credentials
/// the server turns out to need are asked of it with the user and domain already known.
struct Asking<'a> {
    frontend: &'a mut dyn Frontend,
    host: &'a str,
    user: Option<&'a str>,
    domain: Option<&'a str>,
}

impl Observer for Asking<'_> {
    fn starting(&mut self, number: usize, knobs: &Knobs, fallbacks: &[Fallback]) {
        self.frontend.starting(number, knobs, fallbacks);
    }

    fn secured(&mut self, number: usize, used: &Knobs) {
        self.frontend.secured(number, used);
    }

    fn finished(&mut self, step: &Step) {
        self.frontend.finished(step);
    }

    fn credentials(&mut self) -> Option<Credentials> {
        let (username, password) = self.frontend.ask_credentials(self.host, self.user)?;
        Some(Credentials {
            username,
            domain: self.domain.map(str::to_owned),
            password,
        })
    }

    fn gateway_credentials(&mut self, gateway: &str, user: Option<&str>) -> Option<Credentials> {
        // The host's account when the gateway has none of its own: the user already known.
        let user = user.or(self.user);
        let (username, password) = self.frontend.ask_gateway_credentials(gateway, user)?;
        Some(Credentials {
            username,
            domain: self.domain.map(str::to_owned),
            password,
        })
    }
}
