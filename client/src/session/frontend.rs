//! The person's side of a session, as the library sees it: things to tell (typed
//! [`Notice`]s, worded by the front end) and things to ask (a password, a user name). The
//! CLI implements it with a terminal; a test or the bridge can implement it without one.

use crate::ladder::Observer;
use crate::secret::{store, Password, PasswordError};

/// What a session tells the person, besides the ladder's own progress.
#[derive(Debug)]
pub enum Notice {
    /// There is no profile directory; nothing is read or saved.
    NoProfileDirectory(rdpshim_profiles::StoreError),
    /// The host's profile cannot be read; the run goes on without it (the file is left as
    /// it is: `rdpshim profile repair` moves it aside).
    ProfileUnreadable {
        host: String,
        port: u16,
        error: rdpshim_profiles::StoreError,
    },
    /// The run was not recorded in the profile.
    ProfileNotSaved(rdpshim_profiles::StoreError),
    /// The OS keyring cannot be used: passwords are neither read from it nor saved.
    KeyringUnavailable(store::Unavailable),
    /// The keyring is there but reading the password failed.
    KeyringReadFailed {
        store: &'static str,
        error: store::StoreError,
    },
    PasswordSaved {
        user: String,
        host: String,
        store: &'static str,
    },
    PasswordNotSaved(store::StoreError),
    /// No password for `user` from any source (matrix: its NLA cells will say so).
    NoPassword {
        user: String,
    },
}

/// The person at the other end of a session: the ladder's progress ([`Observer`]), notices,
/// and questions. Every question may go unanswered (`None`: nobody can be asked, e.g. no
/// terminal); the session then goes on without the answer.
pub trait Frontend: Observer {
    fn notice(&mut self, notice: &Notice);

    /// A password for `who` (`user@host`, or a description of the hosts it is for).
    fn ask_password(&mut self, who: &str) -> Option<Result<Password, PasswordError>>;

    /// The server requires NLA and the run has no credentials: the user name (`user`, when
    /// known, is not asked again) and the password.
    fn ask_credentials(&mut self, host: &str, user: Option<&str>) -> Option<(String, Password)>;

    /// The RD Gateway `gateway` needs credentials: the user name (`user`, when known, is
    /// not asked again) and the password. Nobody to ask by default.
    fn ask_gateway_credentials(
        &mut self,
        _gateway: &str,
        _user: Option<&str>,
    ) -> Option<(String, Password)> {
        None
    }
}
