//! Profiles on disk: one TOML file per `host:port` under `<root>/profiles/`.
//!
//! Rules this module keeps, and why:
//! - **Every change is read-modify-write under an exclusive lock** on a sidecar
//!   `<name>.lock` (std `File::lock`: flock on Unix, LockFileEx on Windows), so concurrent
//!   rdpshim processes (a script connecting to ten hosts at once, two terminals) lose no
//!   update. Lock files are never deleted: unlinking one while another process waits on it
//!   would let a third process lock a fresh file and two writers in at once.
//! - **Writes are atomic** ([`atomic_write`]): a crash leaves the old or the new file.
//! - **A file that does not parse is never overwritten by [`ProfileStore::update`]**: it
//!   may be a hand edit with one typo. Only [`ProfileStore::repair`] (which keeps a backup)
//!   and [`ProfileStore::remove`] touch it. The same holds for a file from a newer rdpshim.
//! - **Bounded reads**: files over 1 MiB are refused unread ([`read_limited`]).

mod atomic_write;
mod error;
pub mod file_name;
mod read_limited;
mod salvage;
pub mod timestamp;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

pub use error::StoreError;
pub use file_name::HostNameProblem;
pub use read_limited::MAX_PROFILE_BYTES;

use crate::model::{Profile, SCHEMA};
use crate::profile_toml::{parse_profile, profile_to_toml, ProfileParseError};
use atomic_write::{
    create_private_dir, open_lock_file, remove_stale_temps, sync_dir, write_atomically,
};
use read_limited::read_limited;

/// Environment variable that overrides the configuration root (tests, portable setups).
pub const CONFIG_DIR_ENV: &str = "RDPSHIM_CONFIG_DIR";

/// The profile directory of one configuration root.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    root: PathBuf,
    dir: PathBuf,
}

/// Each profile file with what reading it gave.
pub type Listing = Vec<(PathBuf, Result<Profile, StoreError>)>;

/// What [`ProfileStore::repair`] found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairReport {
    /// The profile file.
    pub path: PathBuf,
    pub outcome: RepairOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RepairOutcome {
    /// There was no file; nothing was written.
    Missing,
    /// The file parsed; nothing was changed.
    Healthy,
    /// The file was moved to `backup` and a fresh profile written in its place.
    Repaired {
        backup: PathBuf,
        /// Why the old file was unusable, for the user.
        problem: String,
        /// Fields carried over from the old file (`host`, `username`, ...).
        salvaged: Vec<&'static str>,
        /// The profile now on disk.
        profile: Box<Profile>,
    },
}

/// Atomically writes `dir/name` (mode 0600; `dir` created 0700 if missing), for the other
/// private files rdpshim keeps beside the profiles (the bridge's key and certificate). The
/// bytes go to a fresh temporary file (created exclusively, so never through a symlink)
/// that is renamed over the name: a crash leaves the old file or the new one.
pub fn write_private_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    create_private_dir(dir)?;
    write_atomically(dir, name, bytes)
}

impl ProfileStore {
    /// `$RDPSHIM_CONFIG_DIR` if set and not empty, else `<config dir>/rdpshim`
    /// (`~/.config/rdpshim` on Linux, `~/Library/Application Support/rdpshim` on macOS,
    /// `%APPDATA%\rdpshim` on Windows).
    pub fn default_root() -> Result<PathBuf, StoreError> {
        root_from(std::env::var_os(CONFIG_DIR_ENV), dirs::config_dir())
    }

    /// The store under `root` (profiles in `root/profiles`). Touches nothing on disk:
    /// directories are created, 0700, by the first write.
    pub fn open(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let dir = root.join("profiles");
        Self { root, dir }
    }

    /// The store under [`ProfileStore::default_root`].
    pub fn open_default() -> Result<Self, StoreError> {
        Ok(Self::open(Self::default_root()?))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the profile files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the profile of `host:port` lives (see [`file_name`] for the mapping).
    pub fn path_for(&self, host: &str, port: u16) -> Result<PathBuf, StoreError> {
        Ok(self.dir.join(name_for(host, port)?))
    }

    /// The profile of `host:port`, `None` if there is none.
    pub fn load(&self, host: &str, port: u16) -> Result<Option<Profile>, StoreError> {
        let path = self.path_for(host, port)?;
        read_profile(&path)
    }

    /// Every `*.toml` in the profile directory with its parse result, sorted by path, so a
    /// listing can show broken files next to good ones. No directory = no profiles.
    pub fn list(&self) -> Result<Listing, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&self.dir, "list", e)),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".toml") && !n.starts_with('.'))
            })
            .collect();
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|path| {
                let profile = read_profile(&path).and_then(|p| {
                    p.ok_or_else(|| StoreError::io(&path, "read", io::ErrorKind::NotFound.into()))
                });
                (path, profile)
            })
            .collect())
    }

    /// Read-modify-write of `host:port` under its lock: `f` gets the current profile
    /// (`None` if there is none) and returns the one to store, which is written atomically
    /// and returned. If the current file does not parse (or is from a newer rdpshim, or too
    /// large), `f` is not called and the file is left byte for byte as it was.
    ///
    /// The returned profile must belong to the same file (same host up to case and IP
    /// spelling, same port); `schema` is set to [`SCHEMA`] and the list limits are applied.
    pub fn update<F>(&self, host: &str, port: u16, f: F) -> Result<Profile, StoreError>
    where
        F: FnOnce(Option<Profile>) -> Profile,
    {
        let name = name_for(host, port)?;
        let path = self.dir.join(&name);
        let _lock = self.lock(&name)?;
        remove_stale_temps(&self.dir, &name);

        let current = read_profile(&path)?;
        let mut next = f(current);
        if name_for(&next.host, next.port).ok().as_deref() != Some(name.as_str()) {
            return Err(StoreError::HostMismatch {
                path,
                expected: format!("{host}:{port}"),
                found: format!("{}:{}", next.host, next.port),
            });
        }
        next.schema = SCHEMA;
        next.enforce_limits();
        self.write(&name, &path, &next)?;
        Ok(next)
    }

    /// Deletes the profile of `host:port` (parsable or not); `true` if there was one.
    pub fn remove(&self, host: &str, port: u16) -> Result<bool, StoreError> {
        let name = name_for(host, port)?;
        let path = self.dir.join(&name);
        if !self.dir.is_dir() {
            return Ok(false);
        }
        let _lock = self.lock(&name)?;
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&path, "remove", e)),
        }
    }

    /// Makes the profile of `host:port` usable again. A file that does not parse (or is
    /// too large, or from a newer rdpshim) is renamed to `<name>.toml.broken-<UTC time>`,
    /// never deleted, and a fresh profile with what could be salvaged is written.
    pub fn repair(&self, host: &str, port: u16) -> Result<RepairReport, StoreError> {
        let name = name_for(host, port)?;
        let path = self.dir.join(&name);
        if !self.dir.is_dir() {
            return Ok(RepairReport {
                path,
                outcome: RepairOutcome::Missing,
            });
        }
        let _lock = self.lock(&name)?;
        remove_stale_temps(&self.dir, &name);

        let (problem, bytes) = match read_limited(&path) {
            Ok(None) => {
                return Ok(RepairReport {
                    path,
                    outcome: RepairOutcome::Missing,
                })
            }
            Ok(Some(bytes)) => match parse_at(&path, &bytes) {
                Ok(_) => {
                    return Ok(RepairReport {
                        path,
                        outcome: RepairOutcome::Healthy,
                    })
                }
                Err(problem) => (problem, Some(bytes)),
            },
            Err(problem @ (StoreError::TooLarge { .. } | StoreError::NotAFile { .. })) => {
                (problem, None)
            }
            Err(other) => return Err(other),
        };

        let now = timestamp::now();
        let backup = self.backup_path(&name, &timestamp::compact(now));
        fs::rename(&path, &backup).map_err(|e| StoreError::io(&backup, "move aside to", e))?;
        sync_dir(&self.dir)?;

        let (mut profile, salvaged) =
            salvage::salvage(bytes.as_deref(), host, port, &timestamp::rfc3339(now));
        profile.enforce_limits();
        self.write(&name, &path, &profile)?;
        Ok(RepairReport {
            path,
            outcome: RepairOutcome::Repaired {
                backup,
                problem: problem.to_string(),
                salvaged,
                profile: Box::new(profile),
            },
        })
    }

    fn lock(&self, name: &str) -> Result<File, StoreError> {
        create_private_dir(&self.dir)?;
        let lock_path = self.dir.join(format!("{name}.lock"));
        let file = open_lock_file(&lock_path)?;
        file.lock()
            .map_err(|e| StoreError::io(&lock_path, "lock", e))?;
        Ok(file)
    }

    fn write(&self, name: &str, path: &Path, profile: &Profile) -> Result<(), StoreError> {
        let text = profile_to_toml(profile).map_err(|e| StoreError::Serialize {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        write_atomically(&self.dir, name, text.as_bytes())
    }

    /// `<name>.broken-<stamp>`, with `-2`, `-3`... if repairs happen within one second.
    fn backup_path(&self, name: &str, stamp: &str) -> PathBuf {
        let base = format!("{name}.broken-{stamp}");
        let mut candidate = self.dir.join(&base);
        let mut n = 2;
        while candidate.exists() {
            candidate = self.dir.join(format!("{base}-{n}"));
            n += 1;
        }
        candidate
    }
}

fn root_from(
    override_dir: Option<std::ffi::OsString>,
    config_dir: Option<PathBuf>,
) -> Result<PathBuf, StoreError> {
    match override_dir.filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => config_dir
            .map(|d| d.join("rdpshim"))
            .ok_or(StoreError::NoConfigDir),
    }
}

fn name_for(host: &str, port: u16) -> Result<String, StoreError> {
    file_name::file_name(host, port).map_err(|problem| StoreError::InvalidHost {
        host: host.to_owned(),
        problem,
    })
}

fn read_profile(path: &Path) -> Result<Option<Profile>, StoreError> {
    match read_limited(path)? {
        None => Ok(None),
        Some(bytes) => parse_at(path, &bytes).map(Some),
    }
}

fn parse_at(path: &Path, bytes: &[u8]) -> Result<Profile, StoreError> {
    parse_profile(bytes).map_err(|e| match e {
        ProfileParseError::Invalid {
            line,
            column,
            message,
        } => StoreError::Unparsable {
            path: path.to_owned(),
            line,
            column,
            message,
        },
        ProfileParseError::NewerSchema { found } => StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: SCHEMA,
        },
    })
}

#[cfg(test)]
mod tests;
