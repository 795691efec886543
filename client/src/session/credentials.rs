//! Where the password comes from, in order: `--password-stdin`, `RDPSHIM_PASSWORD`, the OS
//! keyring (`user@host`), a person at a terminal (asked through the [`Frontend`], which
//! does the terminal I/O). Never an argument, never a file. After a connection that used
//! it, a password that did not come from the keyring is saved there. An RD Gateway account
//! of its own (`--gateway-user`) follows the same rules with `RDPSHIM_GATEWAY_PASSWORD` and
//! the keyring entry `user@gateway` ([`find_gateway`]).

use crate::attempt::Credentials;
use crate::host::HostPort;
use crate::secret::store::{self, SecretStore};
use crate::secret::{self, Password, PasswordError, PasswordSource};

use super::frontend::{Frontend, Notice};

/// Set to `1` to never touch the OS keyring (CI, shared accounts).
pub const NO_KEYRING_ENV: &str = "RDPSHIM_NO_KEYRING";

/// Where a password came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Stdin,
    Environment,
    Keyring,
    /// Typed by a person.
    Prompt,
}

/// The OS keyring, opened on first use (a test write first, which may take a while); when
/// it cannot be used, the frontend hears so once.
#[derive(Default)]
pub struct Keyring {
    opened: Option<Option<Box<dyn SecretStore>>>,
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store, or `None` when it is switched off ([`NO_KEYRING_ENV`]) or unavailable.
    pub fn store(&mut self, frontend: &mut dyn Frontend) -> Option<&dyn SecretStore> {
        if self.opened.is_none() {
            let store = if std::env::var(NO_KEYRING_ENV).is_ok_and(|v| v == "1") {
                None
            } else {
                match store::os_store() {
                    Ok(store) => Some(store),
                    Err(unavailable) => {
                        frontend.notice(&Notice::KeyringUnavailable(unavailable));
                        None
                    }
                }
            };
            self.opened = Some(store);
        }
        self.opened.as_ref().and_then(|s| s.as_deref())
    }
}

/// The password for `user@host`: standard input when `stdin`, else the environment, else
/// the keyring, else (when `ask`) a person. `None` when none of them has one.
pub fn find(
    user: &str,
    host: &str,
    stdin: bool,
    ask: bool,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) -> Result<Option<(Password, Origin)>, PasswordError> {
    let sources = Sources {
        environment: secret::from_environment,
        prompt: format!("{user}@{host}"),
    };
    find_in(user, host, stdin, ask, &sources, keyring, frontend)
}

/// The password of a gateway account of its own (`user@gateway`): standard input when
/// `stdin`, else `RDPSHIM_GATEWAY_PASSWORD`, else the keyring, else (when `ask`) a person.
pub fn find_gateway(
    user: &str,
    gateway: &str,
    stdin: bool,
    ask: bool,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) -> Result<Option<(Password, Origin)>, PasswordError> {
    let sources = Sources {
        environment: secret::gateway_from_environment,
        prompt: format!("{user}@{gateway} (RD Gateway)"),
    };
    find_in(user, gateway, stdin, ask, &sources, keyring, frontend)
}

/// Where an account's password may come from besides standard input and the keyring.
struct Sources {
    environment: fn() -> Option<Password>,
    /// Whom the prompt names.
    prompt: String,
}

fn find_in(
    user: &str,
    host: &str,
    stdin: bool,
    ask: bool,
    sources: &Sources,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) -> Result<Option<(Password, Origin)>, PasswordError> {
    if stdin {
        return secret::read_password(PasswordSource::Stdin, "").map(|p| Some((p, Origin::Stdin)));
    }
    if let Some(password) = (sources.environment)() {
        return Ok(Some((password, Origin::Environment)));
    }
    if let Some(found) = from_keyring(user, host, keyring, frontend) {
        return Ok(Some((found, Origin::Keyring)));
    }
    if ask {
        if let Some(typed) = frontend.ask_password(&sources.prompt) {
            return typed.map(|p| Some((p, Origin::Prompt)));
        }
    }
    Ok(None)
}

/// Who `diagnose --gateway` tries the tunnel as.
#[derive(Debug, Clone, Default)]
pub struct GatewayAccountNames<'a> {
    /// `--gateway-user` / `--gateway-domain`: the gateway's own account.
    pub gateway_user: Option<&'a str>,
    pub gateway_domain: Option<&'a str>,
    /// `-u` / `-d`: the host's account, which serves for the gateway without the above.
    pub host_user: Option<&'a str>,
    pub host_domain: Option<&'a str>,
}

/// The credentials `diagnose --gateway` opens a tunnel with: the gateway's own account
/// ([`find_gateway`]'s sources), else the host's ([`find`]'s, keyring entry `user@host`);
/// `None` without a user or a password. Nothing is saved.
pub fn for_gateway_diagnosis(
    names: &GatewayAccountNames<'_>,
    host: &str,
    gateway: &str,
    stdin: bool,
    frontend: &mut dyn Frontend,
) -> Result<Option<Credentials>, PasswordError> {
    let mut keyring = Keyring::new();
    let (user, domain, found) = match (names.gateway_user, names.host_user) {
        (Some(user), _) => (
            user,
            names.gateway_domain,
            find_gateway(user, gateway, stdin, true, &mut keyring, frontend)?,
        ),
        (None, Some(user)) => (
            user,
            names.host_domain,
            find(user, host, stdin, true, &mut keyring, frontend)?,
        ),
        (None, None) => return Ok(None),
    };
    Ok(found.map(|(password, _)| Credentials {
        username: user.to_owned(),
        domain: domain.map(str::to_owned),
        password,
    }))
}

fn from_keyring(
    user: &str,
    host: &str,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) -> Option<Password> {
    let store = keyring.store(frontend)?;
    match store.get(user, host) {
        Ok(found) => found,
        Err(error) => {
            let store = store.describe();
            frontend.notice(&Notice::KeyringReadFailed { store, error });
            None
        }
    }
}

/// The credentials of each host of a matrix: one password from stdin or
/// `RDPSHIM_PASSWORD` for all, else each host's keyring entry, else one password asked of a
/// person for the hosts without one. `None` for a host nothing had a password for. Nothing
/// is saved.
pub fn for_hosts(
    user: &str,
    domain: Option<&str>,
    hosts: &[HostPort],
    stdin: bool,
    frontend: &mut dyn Frontend,
) -> Result<Vec<Option<Credentials>>, PasswordError> {
    let shared = if stdin {
        Some(secret::read_password(PasswordSource::Stdin, "")?)
    } else {
        secret::from_environment()
    };
    let mut keyring = Keyring::new();
    let mut passwords: Vec<Option<Password>> = hosts
        .iter()
        .map(|target| match &shared {
            Some(password) => Some(password.clone()),
            None => from_keyring(user, &target.host, &mut keyring, frontend),
        })
        .collect();
    if passwords.iter().any(Option::is_none) {
        let what = format!("{user} (hosts without a saved password)");
        let typed = frontend.ask_password(&what).transpose()?;
        if typed.is_none() {
            frontend.notice(&Notice::NoPassword {
                user: user.to_owned(),
            });
        }
        for password in passwords.iter_mut().filter(|p| p.is_none()) {
            password.clone_from(&typed);
        }
    }
    Ok(passwords
        .into_iter()
        .map(|password| {
            password.map(|password| Credentials {
                username: user.to_owned(),
                domain: domain.map(str::to_owned),
                password,
            })
        })
        .collect())
}

/// Saves the password after a connection that used it, unless it came from the keyring.
pub fn remember(
    credentials: &Credentials,
    host: &str,
    origin: Option<Origin>,
    keyring: &mut Keyring,
    frontend: &mut dyn Frontend,
) {
    if origin == Some(Origin::Keyring) || credentials.password.is_empty() {
        return;
    }
    let Some(store) = keyring.store(frontend) else {
        return;
    };
    let notice = match store.set(&credentials.username, host, &credentials.password) {
        Ok(()) => Notice::PasswordSaved {
            user: credentials.username.clone(),
            host: host.to_owned(),
            store: store.describe(),
        },
        Err(error) => Notice::PasswordNotSaved(error),
    };
    frontend.notice(&notice);
}
