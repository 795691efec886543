//! What can go wrong with the profile store, each case naming the file, rendered for people.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::file_name::HostNameProblem;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "no configuration directory: set RDPSHIM_CONFIG_DIR, or HOME (XDG_CONFIG_HOME, APPDATA)"
    )]
    NoConfigDir,

    #[error("cannot keep a profile for host {host:?}: {problem}")]
    InvalidHost {
        host: String,
        problem: HostNameProblem,
    },

    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        /// What was being done, as a verb phrase: "read", "create directory", "lock", ...
        action: &'static str,
        #[source]
        source: io::Error,
    },

    #[error(
        "{} is {size} bytes, over the {limit}-byte limit for a profile; it was not read \
         (repair moves it aside)",
        .path.display()
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("{} is not a regular file", .path.display())]
    NotAFile { path: PathBuf },

    #[error(
        "{}:{line}:{column}: {message}. The file was left as it is: fix it by hand, or \
         repair it (the broken file is kept as a backup)",
        .path.display()
    )]
    Unparsable {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        message: String,
    },

    #[error(
        "{} was written by a newer rdpshim (schema {found}; this one reads up to {supported}); \
         it was left as it is",
        .path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error(
        "the profile for {found:?} cannot be saved as {}, which holds the profile for {expected:?}",
        .path.display()
    )]
    HostMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("cannot write the profile {} as TOML: {message}", .path.display())]
    Serialize { path: PathBuf, message: String },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
