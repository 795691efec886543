//! Profiles on disk: one TOML file per `host:port` under `<root>/profiles/`.
//!
//! Rules this module keeps, and why:
//! - **Every change is read-modify-write under an exclusive lock** on a sidecar
//!   `<name>.lock` (std `File::lock`: flock on Unix, LockFileEx on Windows), so concurrent
//!   rdpshim processes (a script connecting to ten hosts at once, two terminals) lose no
//!   update. Lock files are never deleted: unlinking one while another process waits on it
//!   would let a third process lock a fresh file and two writers in at once.
//! - **Writes are atomic** ([`crate::safe_file`]): a crash leaves the old or the new file.
//! - **Nothing is reached through a link**: the profile directory is opened once and must
//!   be a real directory (not a symbolic link), owned by the user or root, that group and
//!   others cannot write to; profile and lock files are opened `O_NOFOLLOW` relative to it
//!   (a link there is an error, never followed; `repair` moves it aside, `rm` deletes the
//!   link itself). The root above it (`RDPSHIM_CONFIG_DIR`, `~/.config/rdpshim`) may be a
//!   link: it is the user's path. New directories are 0700, new files 0600.
//! - **A file that does not parse is never overwritten by [`ProfileStore::update`]**: it
//!   may be a hand edit with one typo. Only [`ProfileStore::repair`] (which keeps a backup)
//!   and [`ProfileStore::remove`] touch it. The same holds for a file from a newer rdpshim.
//! - **Bounded reads**: files over [`MAX_PROFILE_BYTES`] are refused unread, and only
//!   regular files are opened (a FIFO there would block a reader forever).

mod error;
pub mod file_name;
mod salvage;
pub mod timestamp;

use std::path::{Path, PathBuf};

pub use error::StoreError;
pub use file_name::HostNameProblem;

use crate::model::{Profile, SCHEMA};
use crate::profile_toml::{parse_profile, profile_to_toml, ProfileParseError};
use crate::safe_file::{self, Dir, FileError, Lock};

/// 1 MiB: hundreds of times a real profile, small enough to read at once.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

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

impl ProfileStore {
    /// `$RDPSHIM_CONFIG_DIR` if set and not empty, else `<config dir>/rdpshim`
    /// (`~/.config/rdpshim` on Linux, `~/Library/Application Support/rdpshim` on macOS).
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
        let name = name_for(host, port)?;
        match self.open_dir(false)? {
            Some(dir) => read_profile(&dir, &name),
            None => Ok(None),
        }
    }

    /// Every `*.toml` in the profile directory with its parse result, sorted by path, so a
    /// listing can show broken files next to good ones. No directory = no profiles.
    pub fn list(&self) -> Result<Listing, StoreError> {
        let Some(dir) = self.open_dir(false)? else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = dir
            .names()?
            .into_iter()
            .filter(|n| n.ends_with(".toml") && !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| {
                let profile = read_profile(&dir, &name).and_then(|p| {
                    p.ok_or_else(|| {
                        FileError::Missing {
                            path: dir.join(&name),
                        }
                        .into()
                    })
                });
                (dir.join(&name), profile)
            })
            .collect())
    }

    /// Read-modify-write of `host:port` under its lock: `f` gets the current profile
    /// (`None` if there is none) and returns the one to store, which is written atomically
    /// and returned. If the current file does not parse (or is from a newer rdpshim, or too
    /// large), `f` is not called and the file is left byte for byte as it was.
    ///
    /// The returned profile must belong to the same file (same host up to case and IP
    /// spelling, same port); `schema` is set to the oldest that holds it
    /// ([`Profile::required_schema`]) and the list limits are applied.
    pub fn update<F>(&self, host: &str, port: u16, f: F) -> Result<Profile, StoreError>
    where
        F: FnOnce(Option<Profile>) -> Profile,
    {
        let name = name_for(host, port)?;
        let dir = self.open_dir(true)?.ok_or_else(|| self.vanished())?;
        let _lock = lock(&dir, &name)?;
        dir.remove_temps_of(&name);

        let current = read_profile(&dir, &name)?;
        let mut next = f(current);
        if name_for(&next.host, next.port).ok().as_deref() != Some(name.as_str()) {
            return Err(StoreError::HostMismatch {
                path: dir.join(&name),
                expected: format!("{host}:{port}"),
                found: format!("{}:{}", next.host, next.port),
            });
        }
        next.schema = next.required_schema();
        next.enforce_limits();
        write(&dir, &name, &next)?;
        Ok(next)
    }

    /// Deletes the profile of `host:port` (parsable or not); `true` if there was one.
    pub fn remove(&self, host: &str, port: u16) -> Result<bool, StoreError> {
        let name = name_for(host, port)?;
        let Some(dir) = self.open_dir(false)? else {
            return Ok(false);
        };
        let _lock = lock(&dir, &name)?;
        Ok(dir.remove(&name)?)
    }

    /// Makes the profile of `host:port` usable again. A file that does not parse (or is
    /// too large, or from a newer rdpshim) is renamed to `<name>.toml.broken-<UTC time>`,
    /// never deleted, and a fresh profile with what could be salvaged is written.
    pub fn repair(&self, host: &str, port: u16) -> Result<RepairReport, StoreError> {
        let name = name_for(host, port)?;
        let path = self.dir.join(&name);
        let Some(dir) = self.open_dir(false)? else {
            return Ok(RepairReport {
                path,
                outcome: RepairOutcome::Missing,
            });
        };
        let _lock = lock(&dir, &name)?;
        dir.remove_temps_of(&name);

        let (problem, bytes) = match dir.read(&name, MAX_PROFILE_BYTES) {
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
            // Too large, a FIFO or device, a link: moved aside unread (a link is moved
            // itself; what it points to is not touched).
            Err(
                problem @ (FileError::TooLarge { .. }
                | FileError::NotAFile { .. }
                | FileError::Symlink { .. }),
            ) => (StoreError::File(problem), None),
            Err(other) => return Err(other.into()),
        };

        let now = timestamp::now();
        let backup = backup_name(&dir, &name, &timestamp::compact(now))?;
        dir.rename(&name, &backup)?;

        let (mut profile, salvaged) =
            salvage::salvage(bytes.as_deref(), host, port, &timestamp::rfc3339(now));
        profile.enforce_limits();
        write(&dir, &name, &profile)?;
        Ok(RepairReport {
            path,
            outcome: RepairOutcome::Repaired {
                backup: dir.join(&backup),
                problem: problem.to_string(),
                salvaged,
                profile: Box::new(profile),
            },
        })
    }

    /// The profile directory, checked ([`Dir::open_private`]); created (0700, with the
    /// root) when `create`, else `None` if there is none yet.
    fn open_dir(&self, create: bool) -> Result<Option<Dir>, StoreError> {
        Ok(Dir::open_private(&self.dir, create)?)
    }

    fn vanished(&self) -> StoreError {
        FileError::Missing {
            path: self.dir.clone(),
        }
        .into()
    }
}

/// The exclusive lock of profile `name`, held until the file is dropped.
fn lock(dir: &Dir, name: &str) -> Result<Lock, StoreError> {
    Ok(dir.lock(&format!("{name}.lock"))?)
}

fn write(dir: &Dir, name: &str, profile: &Profile) -> Result<(), StoreError> {
    let text = profile_to_toml(profile).map_err(|e| StoreError::Serialize {
        path: dir.join(name),
        message: e.to_string(),
    })?;
    Ok(dir.replace(name, text.as_bytes(), safe_file::PRIVATE)?)
}

/// `<name>.broken-<stamp>`, with `-2`, `-3`... if repairs happen within one second. Only
/// called under the profile's lock, so no other rdpshim takes the name in between.
fn backup_name(dir: &Dir, name: &str, stamp: &str) -> Result<String, StoreError> {
    let base = format!("{name}.broken-{stamp}");
    let mut candidate = base.clone();
    let mut n = 2;
    while dir.exists(&candidate)? {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    Ok(candidate)
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

fn read_profile(dir: &Dir, name: &str) -> Result<Option<Profile>, StoreError> {
    match dir.read(name, MAX_PROFILE_BYTES)? {
        None => Ok(None),
        Some(bytes) => parse_at(&dir.join(name), &bytes).map(Some),
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
pub(crate) mod tests;
