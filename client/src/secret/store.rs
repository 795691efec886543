//! Passwords kept in the OS keyring, one entry per `user@host`.
//!
//! [`os_store`] opens the platform's store and proves it works (a test write, read and
//! delete) before handing it out; [`MemoryStore`] is the in-process stand-in for tests.
//!
//! # What is stored where
//!
//! Every store keeps one entry per `user@host` under the service name [`SERVICE`]
//! (`rdpshim`); the account is [`account`]`(user, host)`, i.e. `user@host` with the host
//! ASCII-lowercased. The secret is the password's UTF-8 bytes and nothing else.
//!
//! - **Secret Service** (Linux: gnome-keyring, KWallet, KeePassXC...): an item in the
//!   default collection with the attributes `service` = `rdpshim` and `username` =
//!   `user@host`, the label `rdpshim password for user@host`, content type
//!   `application/octet-stream`. `secret-tool lookup service rdpshim username alice@host`
//!   prints it; `secret-tool clear service rdpshim username alice@host` removes it.
//! - **macOS Keychain**: a generic password in the login keychain with service `rdpshim`
//!   and account `user@host` (`security find-generic-password -s rdpshim -a alice@host -w`).
//!
//! The probe in [`os_store`] uses the service `rdpshim-probe` and a per-process account,
//! and deletes its entry again.
//!
//! # The password
//!
//! Passwords go in and out as [`Password`] only. Errors carry user, host and the store's
//! own description of what failed, never secret bytes (a stored secret that is not UTF-8 is
//! zeroed and reported as such). There is no fallback to a file: if the keyring does not
//! work, [`os_store`] says why and nothing is written.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use super::Password;

#[cfg(any(target_os = "linux", target_os = "macos"))]
mod os;

/// Service name of every rdpshim entry in the OS keyring.
pub const SERVICE: &str = "rdpshim";

/// Service name of the short-lived entry [`os_store`] writes to prove the store works.
pub const PROBE_SERVICE: &str = "rdpshim-probe";

/// How long [`os_store`] waits for the probe, and the store for each call, before giving
/// up. Generous because on a desktop the first call may raise an unlock prompt that a
/// person has to answer; headless, a locked keyring fails at once (no prompter).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A place to keep one password per `user@host`.
pub trait SecretStore: Send + Sync {
    /// The password stored for `user@host`, or `None` when there is none.
    fn get(&self, user: &str, host: &str) -> Result<Option<Password>, StoreError>;
    /// Stores (or replaces) the password for `user@host`. Empty passwords are refused.
    fn set(&self, user: &str, host: &str, password: &Password) -> Result<(), StoreError>;
    /// Removes the password for `user@host`; succeeds when there was none.
    fn delete(&self, user: &str, host: &str) -> Result<(), StoreError>;
    /// What this store is, for people: "Secret Service", "macOS Keychain", "memory".
    fn describe(&self) -> &'static str;
}

/// The account name of the entry for `user@host`: `user@host` with the host
/// ASCII-lowercased (host names are case-insensitive; user names are kept as given).
///
/// Neither part may be empty or contain control characters, and the host may not contain
/// `@`, so the account splits back into user and host unambiguously at its last `@`
/// (a user may contain `@`, e.g. `alice@corp.example`).
pub fn account(user: &str, host: &str) -> Result<String, StoreError> {
    let invalid = |reason: &'static str| StoreError::InvalidName {
        user: user.to_string(),
        host: host.to_string(),
        reason,
    };
    if user.is_empty() {
        return Err(invalid("the user name is empty"));
    }
    if host.is_empty() {
        return Err(invalid("the host name is empty"));
    }
    if host.contains('@') {
        return Err(invalid("the host name contains '@'"));
    }
    if user.chars().chain(host.chars()).any(char::is_control) {
        return Err(invalid("the name contains control characters"));
    }
    Ok(format!("{user}@{}", host.to_ascii_lowercase()))
}

/// Why a store call failed. Rendered for people; never contains a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot keep a password for {user:?} at {host:?}: {reason}")]
    InvalidName {
        user: String,
        host: String,
        reason: &'static str,
    },
    #[error("refusing to store an empty password for {account}")]
    EmptyPassword { account: String },
    #[error("the {store} is locked or refused access to the password for {account} ({detail})")]
    Locked {
        store: &'static str,
        account: String,
        detail: String,
    },
    #[error(
        "the {store} holds {count} passwords for {account}; delete the extra ones with a \
         keyring manager (seahorse, Keychain Access) and try again"
    )]
    Ambiguous {
        store: &'static str,
        account: String,
        count: usize,
    },
    #[error("the password stored for {account} in the {store} is not valid UTF-8")]
    NotUtf8 {
        store: &'static str,
        account: String,
    },
    #[error("the {store} did not answer within {} s", timeout.as_secs())]
    TimedOut {
        store: &'static str,
        timeout: Duration,
    },
    #[error("the {store} failed on the password for {account}: {detail}")]
    Failed {
        store: &'static str,
        account: String,
        detail: String,
    },
}

/// Why [`os_store`] offers no store, in one sentence ([`fmt::Display`]).
#[derive(Debug)]
pub struct Unavailable {
    kind: UnavailableKind,
    store: &'static str,
    detail: String,
}

/// The broad reason behind an [`Unavailable`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnavailableKind {
    /// No keyring support on this platform.
    Unsupported,
    /// No D-Bus session bus to reach (headless, ssh, container, cron).
    NoSessionBus,
    /// A session bus, but nothing provides the Secret Service on it.
    NoService,
    /// The keyring is locked (or has no default collection) and was not unlocked.
    Locked,
    /// The probe got no answer in time (an unlock prompt nobody answers?).
    TimedOut,
    /// The store answered but the test write, read or delete failed.
    ProbeFailed,
}

impl Unavailable {
    fn new(kind: UnavailableKind, store: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            store,
            detail: detail.into(),
        }
    }

    pub fn kind(&self) -> UnavailableKind {
        self.kind
    }

    /// The store that was tried ("Secret Service", "macOS Keychain"), or "OS keyring".
    pub fn store(&self) -> &'static str {
        self.store
    }

    /// The underlying error text (may be empty).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.store;
        match self.kind {
            UnavailableKind::Unsupported => {
                write!(f, "no OS keyring is supported on this platform")?
            }
            UnavailableKind::NoSessionBus => write!(
                f,
                "the {store} cannot be used: no D-Bus session bus is reachable \
                 (DBUS_SESSION_BUS_ADDRESS unset or stale, e.g. over ssh or in a container)"
            )?,
            UnavailableKind::NoService => write!(
                f,
                "the {store} cannot be used: nothing provides it on the session bus \
                 (install and start gnome-keyring, KWallet or KeePassXC)"
            )?,
            UnavailableKind::Locked => write!(
                f,
                "the {store} is locked or has no default keyring, and it was not unlocked"
            )?,
            UnavailableKind::TimedOut => write!(
                f,
                "the {store} did not answer a test write in time (an unlock prompt left open?)"
            )?,
            UnavailableKind::ProbeFailed => {
                write!(f, "the {store} failed a test write, read and delete")?
            }
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Unavailable {}

/// The OS keyring (Secret Service on Linux, the login Keychain on macOS), checked with a
/// test write, read and delete of a [`PROBE_SERVICE`] entry before it is returned.
/// Waits at most [`DEFAULT_TIMEOUT`] for the probe and for each later call.
///
/// Blocking; call it from ordinary (non-async) code such as the CLI thread.
pub fn os_store() -> Result<Box<dyn SecretStore>, Unavailable> {
    os_store_with_timeout(DEFAULT_TIMEOUT)
}

/// [`os_store`] with another limit for the probe and for each later call.
pub fn os_store_with_timeout(timeout: Duration) -> Result<Box<dyn SecretStore>, Unavailable> {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        os::open(timeout).map(|store| Box::new(store) as Box<dyn SecretStore>)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = timeout;
        Err(Unavailable::new(
            UnavailableKind::Unsupported,
            "OS keyring",
            "",
        ))
    }
}

/// A store in process memory, gone at exit. For tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Password>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many passwords it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Password>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, user: &str, host: &str) -> Result<Option<Password>, StoreError> {
        let account = account(user, host)?;
        Ok(self.lock().get(&account).cloned())
    }

    fn set(&self, user: &str, host: &str, password: &Password) -> Result<(), StoreError> {
        let account = account(user, host)?;
        if password.is_empty() {
            return Err(StoreError::EmptyPassword { account });
        }
        self.lock().insert(account, password.clone());
        Ok(())
    }

    fn delete(&self, user: &str, host: &str) -> Result<(), StoreError> {
        let account = account(user, host)?;
        self.lock().remove(&account);
        Ok(())
    }

    fn describe(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::new(s)
    }

    #[test]
    fn set_then_get_returns_the_same_password() {
        let store = MemoryStore::new();
        store.set("alice", "srv1", &pw("s3cret-A")).unwrap();
        let got = store.get("alice", "srv1").unwrap().expect("stored");
        assert_eq!(got.expose(), "s3cret-A");
    }

    #[test]
    fn entries_are_per_user_and_host() {
        let store = MemoryStore::new();
        store.set("alice", "srv1", &pw("one")).unwrap();
        store.set("alice", "srv2", &pw("two")).unwrap();
        store.set("bob", "srv1", &pw("three")).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.get("alice", "srv1").unwrap().unwrap().expose(), "one");
        assert_eq!(store.get("alice", "srv2").unwrap().unwrap().expose(), "two");
        assert_eq!(store.get("bob", "srv1").unwrap().unwrap().expose(), "three");
        assert!(store.get("bob", "srv2").unwrap().is_none());
        assert!(store.get("carol", "srv1").unwrap().is_none());
    }

    #[test]
    fn set_replaces() {
        let store = MemoryStore::new();
        store.set("alice", "srv1", &pw("old")).unwrap();
        store.set("alice", "srv1", &pw("new")).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.get("alice", "srv1").unwrap().unwrap().expose(), "new");
    }

    #[test]
    fn delete_removes_and_is_idempotent() {
        let store = MemoryStore::new();
        store.set("alice", "srv1", &pw("x")).unwrap();
        store.set("alice", "srv2", &pw("y")).unwrap();
        store.delete("alice", "srv1").unwrap();
        assert!(store.get("alice", "srv1").unwrap().is_none());
        assert!(store.get("alice", "srv2").unwrap().is_some());
        store.delete("alice", "srv1").unwrap();
        store.delete("nobody", "nowhere").unwrap();
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn host_is_case_insensitive_user_is_not() {
        let store = MemoryStore::new();
        store.set("Alice", "SRV1.Example", &pw("x")).unwrap();
        assert!(store.get("Alice", "srv1.example").unwrap().is_some());
        assert!(store.get("alice", "srv1.example").unwrap().is_none());
        assert_eq!(
            account("Alice", "SRV1.Example").unwrap(),
            "Alice@srv1.example"
        );
    }

    #[test]
    fn account_is_unambiguous() {
        assert_eq!(
            account("alice@corp.example", "srv1").unwrap(),
            "alice@corp.example@srv1"
        );
        assert_eq!(
            account(r"CORP\alice", "10.0.0.5").unwrap(),
            r"CORP\alice@10.0.0.5"
        );
        for (user, host) in [
            ("", "h"),
            ("u", ""),
            ("a", "b@c"),
            ("a\n", "h"),
            ("u", "h\t"),
        ] {
            let err = account(user, host).unwrap_err();
            assert!(matches!(err, StoreError::InvalidName { .. }), "{err}");
        }
        let store = MemoryStore::new();
        assert!(store.set("a", "b@c", &pw("x")).is_err());
        assert!(store.get("", "h").is_err());
        assert!(store.delete("u", "").is_err());
        assert!(store.is_empty());
    }

    #[test]
    fn empty_password_is_refused() {
        let store = MemoryStore::new();
        let err = store.set("alice", "srv1", &pw("")).unwrap_err();
        assert!(matches!(err, StoreError::EmptyPassword { .. }), "{err}");
        assert!(store.is_empty());
    }

    #[test]
    fn errors_never_show_the_password() {
        let secret = "Hunter2-Do-Not-Print";
        let errors = [
            StoreError::EmptyPassword {
                account: "alice@srv1".into(),
            },
            StoreError::Locked {
                store: "memory",
                account: "alice@srv1".into(),
                detail: "locked".into(),
            },
            StoreError::NotUtf8 {
                store: "memory",
                account: "alice@srv1".into(),
            },
        ];
        for err in errors {
            assert!(!format!("{err} {err:?}").contains(secret));
        }
        let store = MemoryStore::new();
        store.set("alice", "srv1", &pw(secret)).unwrap();
        assert!(!format!("{store:?}").contains(secret), "{store:?}");
    }

    #[test]
    fn works_as_a_trait_object_across_threads() {
        let store: std::sync::Arc<dyn SecretStore> = std::sync::Arc::new(MemoryStore::new());
        assert_eq!(store.describe(), "memory");
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let host = format!("srv{i}");
                    store.set("alice", &host, &pw(&format!("pw{i}"))).unwrap();
                    store
                        .get("alice", &host)
                        .unwrap()
                        .unwrap()
                        .expose()
                        .to_string()
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), format!("pw{i}"));
        }
    }

    #[test]
    fn unavailable_is_one_readable_sentence() {
        let u = Unavailable::new(
            UnavailableKind::NoSessionBus,
            "Secret Service",
            "Failed to connect to address `unix:path=/nope`",
        );
        let text = u.to_string();
        assert!(
            text.starts_with("the Secret Service cannot be used"),
            "{text}"
        );
        assert!(text.contains("/nope"), "{text}");
        assert!(!text.contains('\n'));
        assert_eq!(u.kind(), UnavailableKind::NoSessionBus);
        let bare = Unavailable::new(UnavailableKind::Unsupported, "OS keyring", "");
        assert_eq!(
            bare.to_string(),
            "no OS keyring is supported on this platform"
        );
    }
}
