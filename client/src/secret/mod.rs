//! The only module that touches the password.
//!
//! A [`Password`] cannot be printed: its `Debug` and `Display` say `<redacted>`, it has no
//! `Serialize`, and its bytes are zeroed on drop. Its clear text leaves through
//! [`Password::expose`] in exactly four places: the engine's connector configuration (for
//! CredSSP as a client), the gateway route (ironrdp-mstsgu's HTTP authentication), the
//! bridge's CredSSP server (`bridge/client_credssp.rs`, which checks a client's NTLM
//! response with it) and the keyring store below; a grep for `expose(` finds every use
//! (and `tests/integration/architecture` fails on a new one). A bridged client's delegated
//! password is compared here, [`Password::matches`], never exposed for it. The one other
//! way out is [`Password::write_line_to`], a client's standard input (`rdpshim open`).

use std::fmt;
use std::io::{self, BufRead};

use zeroize::Zeroizing;

pub mod store;

/// Environment variable read when neither `--password-stdin` nor a prompt is used.
pub const PASSWORD_ENV: &str = "RDPSHIM_PASSWORD";
/// The gateway account's password (`--gateway-user`), when it is not the host's.
pub const GATEWAY_PASSWORD_ENV: &str = "RDPSHIM_GATEWAY_PASSWORD";

/// A secret that never appears in logs, JSON, or debug output.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The clear text, for the one place that must send it (CredSSP).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is this password, compared in constant time (a bridged client's
    /// delegated password against the bridge's own; the clear text stays here).
    pub fn matches(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// Whether `other` holds the same password, in constant time (is an RD Gateway's
    /// account the host's: `bridge::proof`).
    pub fn same_as(&self, other: &Password) -> bool {
        self.matches(&other.0)
    }

    /// Writes the password and a line feed to `to`: another program's standard input
    /// (`rdpshim open` hands it to FreeRDP, whose `/from-stdin:force` reads one line), never
    /// its argv or environment, which other local users read with `ps`. A password holding
    /// a line break cannot travel as one line and is refused.
    pub fn write_line_to(&self, to: &mut dyn io::Write) -> io::Result<()> {
        if self.0.contains(['\n', '\r']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the password holds a line break, which a client reading one line cannot take",
            ));
        }
        let mut line = Zeroizing::new(String::with_capacity(self.0.len() + 1));
        line.push_str(&self.0);
        line.push('\n');
        to.write_all(line.as_bytes())?;
        to.flush()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the password comes from. Never from an argument: argv is world-readable in `ps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource {
    /// One line read from standard input (`--password-stdin`).
    Stdin,
    /// An interactive prompt on the terminal.
    Prompt,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("reading the password from standard input: {0}")]
    Stdin(io::Error),
    #[error("standard input ended before a password line")]
    StdinEmpty,
    #[error("reading the password at the prompt: {0}")]
    Prompt(io::Error),
}

/// The password in `RDPSHIM_PASSWORD`, if set.
pub fn from_environment() -> Option<Password> {
    std::env::var(PASSWORD_ENV).ok().map(Password::new)
}

/// The gateway account's password in `RDPSHIM_GATEWAY_PASSWORD`, if set.
pub fn gateway_from_environment() -> Option<Password> {
    std::env::var(GATEWAY_PASSWORD_ENV).ok().map(Password::new)
}

/// Obtains the password for `user@host` from the chosen source.
pub fn read_password(source: PasswordSource, prompt_for: &str) -> Result<Password, PasswordError> {
    match source {
        PasswordSource::Stdin => read_stdin_line(),
        PasswordSource::Prompt => {
            rpassword::prompt_password(format!("Password for {prompt_for}: "))
                .map(Password::new)
                .map_err(PasswordError::Prompt)
        }
    }
}

fn read_stdin_line() -> Result<Password, PasswordError> {
    let mut line = Zeroizing::new(String::new());
    let read = io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(PasswordError::Stdin)?;
    if read == 0 {
        return Err(PasswordError::StdinEmpty);
    }
    let trimmed = line.trim_end_matches(['\r', '\n']);
    Ok(Password::new(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_goes_to_a_stdin_as_one_line_or_not_at_all() {
        let mut out = Vec::new();
        Password::new("p w!").write_line_to(&mut out).unwrap();
        assert_eq!(out, b"p w!\n");
        let mut out = Vec::new();
        assert!(Password::new("a\nb").write_line_to(&mut out).is_err());
        assert!(out.is_empty(), "nothing written");
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let password = Password::new("hunter2-secret");
        assert!(!format!("{password:?}").contains("hunter2"));
        assert!(!format!("{password}").contains("hunter2"));
        assert_eq!(password.expose(), "hunter2-secret");
    }
}
