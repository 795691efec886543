//! Where the password comes from, in order: `--password-stdin`, `RDPSHIM_PASSWORD`, the OS
//! keyring (`user@host`), a prompt on a terminal. Never an argument, never a file.

use std::io::IsTerminal as _;

use rdpshim::attempt::Credentials;
use rdpshim::secret::store::{self, SecretStore};
use rdpshim::secret::{self, Password, PasswordSource};

/// Set to `1` to never touch the OS keyring (CI, shared accounts).
pub const NO_KEYRING_ENV: &str = "RDPSHIM_NO_KEYRING";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Stdin,
    Environment,
    Keyring,
    Prompt,
}

/// The OS keyring, opened on first use; when it cannot be used, says so once.
pub struct Keyring {
    opened: Option<Option<Box<dyn SecretStore>>>,
    quiet: bool,
}

impl Keyring {
    pub fn new(quiet: bool) -> Self {
        Self {
            opened: None,
            quiet,
        }
    }

    pub fn store(&mut self) -> Option<&dyn SecretStore> {
        if self.opened.is_none() {
            let store = if std::env::var(NO_KEYRING_ENV).is_ok_and(|v| v == "1") {
                None
            } else {
                match store::os_store() {
                    Ok(store) => Some(store),
                    Err(unavailable) => {
                        if !self.quiet {
                            eprintln!(
                                "note: {unavailable}; passwords are not saved and will be asked for each time"
                            );
                        }
                        None
                    }
                }
            };
            self.opened = Some(store);
        }
        self.opened.as_ref().and_then(|s| s.as_deref())
    }
}

/// The password for `user@host` from a non-interactive source, or a prompt when `prompt`.
pub fn find(
    user: &str,
    host: &str,
    stdin: bool,
    prompt: bool,
    keyring: &mut Keyring,
) -> Result<Option<(Password, Origin)>, String> {
    if stdin {
        return secret::read_password(PasswordSource::Stdin, "")
            .map(|p| Some((p, Origin::Stdin)))
            .map_err(|e| e.to_string());
    }
    if let Some(password) = secret::from_environment() {
        return Ok(Some((password, Origin::Environment)));
    }
    if let Some(store) = keyring.store() {
        match store.get(user, host) {
            Ok(Some(password)) => return Ok(Some((password, Origin::Keyring))),
            Ok(None) => {}
            Err(e) => eprintln!(
                "note: reading the password from the {}: {e}",
                store.describe()
            ),
        }
    }
    if prompt && std::io::stdin().is_terminal() {
        return secret::read_password(PasswordSource::Prompt, &format!("{user}@{host}"))
            .map(|p| Some((p, Origin::Prompt)))
            .map_err(|e| e.to_string());
    }
    Ok(None)
}

/// Saves the password after a connection that used it, unless it came from the keyring.
pub fn remember(
    credentials: &Credentials,
    host: &str,
    origin: Option<Origin>,
    keyring: &mut Keyring,
) {
    if origin == Some(Origin::Keyring) || credentials.password.is_empty() {
        return;
    }
    let Some(store) = keyring.store() else { return };
    match store.set(&credentials.username, host, &credentials.password) {
        Ok(()) => eprintln!(
            "saved the password for {}@{host} in the {}",
            credentials.username,
            store.describe()
        ),
        Err(e) => eprintln!("note: the password was not saved: {e}"),
    }
}
