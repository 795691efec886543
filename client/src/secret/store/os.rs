//! The OS keyring through keyring-core: zbus-secret-service-keyring-store on Linux,
//! apple-native-keyring-store (`keychain`) on macOS. Each call runs on a worker thread so
//! a keyring that never answers (an unlock prompt nobody sees) costs a timeout, not a hang.

use std::collections::HashMap;
use std::process;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyring_core::api::CredentialStore;
use keyring_core::{Entry, Error};
use zeroize::Zeroize as _;

use super::{
    account, Password, SecretStore, StoreError, Unavailable, UnavailableKind, PROBE_SERVICE,
    SERVICE,
};

#[cfg(target_os = "linux")]
const NAME: &str = "Secret Service";
#[cfg(target_os = "macos")]
const NAME: &str = "macOS Keychain";

/// Connects to the Secret Service on the session bus (`DBUS_SESSION_BUS_ADDRESS`, else
/// `$XDG_RUNTIME_DIR/bus`).
#[cfg(target_os = "linux")]
fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

/// The user's login keychain.
#[cfg(target_os = "macos")]
fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

/// Entry modifiers: the Secret Service shows a label in keyring managers; the Keychain
/// store accepts no label (its UI shows the service name).
fn modifiers(account: &str) -> Option<HashMap<&'static str, String>> {
    if cfg!(target_os = "linux") {
        Some(HashMap::from([(
            "label",
            format!("{SERVICE} password for {account}"),
        )]))
    } else {
        None
    }
}

pub(super) struct KeyringStore {
    store: Arc<CredentialStore>,
    timeout: Duration,
}

pub(super) fn open(timeout: Duration) -> Result<KeyringStore, Unavailable> {
    let started = Instant::now();
    let outcome = run_with_timeout(timeout, move || -> Result<_, Unavailable> {
        let store =
            connect().map_err(|e| Unavailable::new(classify_connect(&e), NAME, text(&e)))?;
        let store = KeyringStore { store, timeout };
        store.probe()?;
        Ok(store.store)
    });
    let result = match outcome {
        Ok(Ok(store)) => Ok(KeyringStore { store, timeout }),
        Ok(Err(unavailable)) => Err(unavailable),
        Err(Stuck::TimedOut) => Err(Unavailable::new(
            UnavailableKind::TimedOut,
            NAME,
            format!("no answer within {} s", timeout.as_secs()),
        )),
        Err(Stuck::Crashed(why)) => Err(Unavailable::new(UnavailableKind::ProbeFailed, NAME, why)),
    };
    match &result {
        Ok(_) => {
            tracing::debug!(store = NAME, elapsed = ?started.elapsed(), "keyring probe passed")
        }
        Err(e) => {
            tracing::debug!(store = NAME, elapsed = ?started.elapsed(), "keyring unavailable: {e}")
        }
    }
    result
}

impl KeyringStore {
    /// Write, read back and delete a throwaway entry, so a store that connects but cannot
    /// write (locked, no default collection, read-only) is caught before it is trusted.
    fn probe(&self) -> Result<(), Unavailable> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let user = format!("probe-{}-{nanos}", process::id());
        let token = format!("rdpshim-probe-{nanos}");
        let failed = |step: &str, e: Error| {
            let kind = if matches!(e, Error::NoStorageAccess(_)) {
                UnavailableKind::Locked
            } else {
                UnavailableKind::ProbeFailed
            };
            Unavailable::new(kind, NAME, format!("{step}: {}", text(&e)))
        };
        let entry = self
            .store
            .build(PROBE_SERVICE, &user, None)
            .map_err(|e| failed("creating the test entry", e))?;
        entry
            .set_password(&token)
            .map_err(|e| failed("writing the test entry", e))?;
        let read = entry.get_password();
        let deleted = entry.delete_credential();
        match read {
            Ok(value) if value == token => {}
            Ok(_) => {
                return Err(Unavailable::new(
                    UnavailableKind::ProbeFailed,
                    NAME,
                    "the test entry read back differently",
                ))
            }
            Err(e) => return Err(failed("reading the test entry back", e)),
        }
        deleted.map_err(|e| failed("deleting the test entry", e))
    }

    fn entry(&self, account: &str) -> Result<Entry, StoreError> {
        let mods = modifiers(account);
        let mods: Option<HashMap<&str, &str>> = mods
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (*k, v.as_str())).collect());
        self.store
            .build(SERVICE, account, mods.as_ref())
            .map_err(|e| store_error(e, account))
    }

    /// Runs `f` on the entry for `account` on a worker thread, within the timeout.
    fn call<T: Send + 'static>(
        &self,
        account: String,
        f: impl FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<Result<T, Error>, StoreError> {
        let entry = self.entry(&account)?;
        match run_with_timeout(self.timeout, move || f(&entry)) {
            Ok(result) => Ok(result),
            Err(Stuck::TimedOut) => Err(StoreError::TimedOut {
                store: NAME,
                timeout: self.timeout,
            }),
            Err(Stuck::Crashed(detail)) => Err(StoreError::Failed {
                store: NAME,
                account,
                detail,
            }),
        }
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, user: &str, host: &str) -> Result<Option<Password>, StoreError> {
        let account = account(user, host)?;
        match self.call(account.clone(), |entry| entry.get_password())? {
            Ok(password) => Ok(Some(Password::new(password))),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(store_error(e, &account)),
        }
    }

    fn set(&self, user: &str, host: &str, password: &Password) -> Result<(), StoreError> {
        let account = account(user, host)?;
        if password.is_empty() {
            return Err(StoreError::EmptyPassword { account });
        }
        let password = password.clone();
        self.call(account.clone(), move |entry| {
            entry.set_password(password.expose())
        })?
        .map_err(|e| store_error(e, &account))
    }

    fn delete(&self, user: &str, host: &str) -> Result<(), StoreError> {
        let account = account(user, host)?;
        match self.call(account.clone(), |entry| entry.delete_credential())? {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(store_error(e, &account)),
        }
    }

    fn describe(&self) -> &'static str {
        NAME
    }
}

/// A keyring-core error as a [`StoreError`]; secret bytes it may carry are zeroed, never
/// shown.
fn store_error(err: Error, account: &str) -> StoreError {
    let account = account.to_string();
    match err {
        Error::NoStorageAccess(e) => StoreError::Locked {
            store: NAME,
            account,
            detail: e.to_string(),
        },
        Error::Ambiguous(entries) => StoreError::Ambiguous {
            store: NAME,
            account,
            count: entries.len(),
        },
        Error::BadEncoding(mut bytes) => {
            bytes.zeroize();
            StoreError::NotUtf8 {
                store: NAME,
                account,
            }
        }
        Error::BadDataFormat(mut bytes, _) => {
            bytes.zeroize();
            StoreError::Failed {
                store: NAME,
                account,
                detail: "the stored secret is malformed".to_string(),
            }
        }
        // The remaining variants carry names, limits and platform messages, no secret data.
        other => StoreError::Failed {
            store: NAME,
            account,
            detail: text(&other),
        },
    }
}

/// Why connecting failed, from the error chain: D-Bus names the missing service
/// (`org.freedesktop.DBus.Error.ServiceUnknown`); a missing or refused socket is an I/O
/// error; secret-service reports an unusable address as "no ... dbus session found".
fn classify_connect(err: &Error) -> UnavailableKind {
    let text = text(err);
    if text.contains("ServiceUnknown") || text.contains("NameHasNoOwner") {
        return UnavailableKind::NoService;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<std::io::Error>() || e.is::<Arc<std::io::Error>>() {
            return UnavailableKind::NoSessionBus;
        }
        source = e.source();
    }
    if text.contains("dbus session") {
        UnavailableKind::NoSessionBus
    } else {
        UnavailableKind::ProbeFailed
    }
}

/// An error as one line.
fn text(err: &Error) -> String {
    err.to_string().replace('\n', " ")
}

enum Stuck {
    TimedOut,
    Crashed(String),
}

/// Runs `f` on its own thread and waits at most `timeout`. A call that times out is left
/// running (it is blocked on the keyring and holds nothing of ours but the store).
fn run_with_timeout<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stuck> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("rdpshim-keyring".to_string())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Stuck::Crashed(format!("cannot start a keyring thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(value) => Ok(value),
        Err(RecvTimeoutError::Timeout) => Err(Stuck::TimedOut),
        Err(RecvTimeoutError::Disconnected) => {
            Err(Stuck::Crashed("the keyring call panicked".to_string()))
        }
    }
}
