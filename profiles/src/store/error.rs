//! What can go wrong with the profile store, each case naming the file, rendered for people.

use std::path::PathBuf;

use thiserror::Error;

use super::file_name::HostNameProblem;
use crate::safe_file::FileError;

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

    /// The profile directory, a profile or its lock cannot be used: missing, not a regular
    /// file, a symbolic link, too large, unsafe permissions, or an I/O error.
    #[error(transparent)]
    File(#[from] FileError),

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
    /// Whether `rdpshim profile repair` can fix it: a file that does not parse, is too
    /// large, is from a newer rdpshim, or is not a regular file (moved aside). Not a
    /// directory problem or an I/O error.
    pub fn repair_helps(&self) -> bool {
        matches!(
            self,
            Self::Unparsable { .. }
                | Self::NewerSchema { .. }
                | Self::File(
                    FileError::TooLarge { .. }
                        | FileError::NotAFile { .. }
                        | FileError::Symlink { .. }
                )
        )
    }
}
