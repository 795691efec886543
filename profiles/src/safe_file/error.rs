//! What can go wrong reading or writing a file, each case naming the path and saying why;
//! rendered for people by the CLI only.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FileError {
    #[error("{} does not exist", .path.display())]
    Missing { path: PathBuf },

    /// A FIFO, device, socket or directory where a regular file was expected. It was not
    /// opened for reading or writing, and it was not replaced.
    #[error("{} is {kind}, not a regular file: refused, and left as it is", .path.display())]
    NotAFile { path: PathBuf, kind: FileKind },

    /// A symbolic link where rdpshim reads or writes a file: never followed, never replaced.
    #[error(
        "{} is a symbolic link{}: refused (rdpshim never writes through a link, nor reads its \
         own files through one); use the target's own path, or remove the link",
        .path.display(),
        .target.as_ref().map(|t| format!(" to {}", t.display())).unwrap_or_default()
    )]
    Symlink {
        path: PathBuf,
        /// What the link points to, when it could be read.
        target: Option<PathBuf>,
    },

    #[error(
        "{} is {size} bytes, over the {limit}-byte limit: it was not read",
        .path.display()
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    /// A private key that group or others may read: refused, and left as it is.
    #[error(
        "{} is readable by others (mode {mode:03o}): refused; `chmod 600` it",
        .path.display()
    )]
    ReadableByOthers { path: PathBuf, mode: u32 },

    /// A private directory (the profile store) that others could change behind our back.
    #[error("{} cannot hold rdpshim's files: {problem}", .path.display())]
    UnsafeDirectory { path: PathBuf, problem: DirProblem },

    /// `/dev/fd/N` leading to a regular file: written there, it would be overwritten from
    /// its start without being truncated.
    #[error(
        "{} is a descriptor of a regular file: give the file's own path instead",
        .path.display()
    )]
    DescriptorOfAFile { path: PathBuf },

    #[error("{} does not name a file (it ends in `..`, `.` or `/`)", .path.display())]
    NoFileName { path: PathBuf },

    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        /// What was being done, as a verb phrase: "read", "create a temporary file in", ...
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

impl FileError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// The file or directory the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Missing { path }
            | Self::NotAFile { path, .. }
            | Self::Symlink { path, .. }
            | Self::TooLarge { path, .. }
            | Self::ReadableByOthers { path, .. }
            | Self::UnsafeDirectory { path, .. }
            | Self::NoFileName { path }
            | Self::DescriptorOfAFile { path }
            | Self::Io { path, .. } => path,
        }
    }
}

/// What is at a path instead of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Only where a directory was expected.
    RegularFile,
    Directory,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Symlink,
    Other,
}

impl FileKind {
    pub(crate) fn of(file_type: rustix::fs::FileType) -> Option<Self> {
        use rustix::fs::FileType as T;
        Some(match file_type {
            T::RegularFile => return None,
            T::Directory => Self::Directory,
            T::Fifo => Self::Fifo,
            T::Socket => Self::Socket,
            T::CharacterDevice => Self::CharDevice,
            T::BlockDevice => Self::BlockDevice,
            T::Symlink => Self::Symlink,
            _ => Self::Other,
        })
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RegularFile => "a regular file",
            Self::Directory => "a directory",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Symlink => "a symbolic link",
            Self::Other => "a special file",
        })
    }
}

/// Why a private directory is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirProblem {
    /// Its last component is a symbolic link: what it points to is not where the files
    /// were meant to be.
    Symlink {
        target: Option<PathBuf>,
    },
    NotADirectory {
        kind: FileKind,
    },
    /// Owned by someone other than the user (or root), who could plant or change files.
    Owner {
        owner: u32,
        user: u32,
    },
    /// Group- or world-writable: others could plant or replace files.
    Writable {
        mode: u32,
    },
}

impl fmt::Display for DirProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symlink { target } => {
                f.write_str("it is a symbolic link")?;
                if let Some(target) = target {
                    write!(f, " to {}", target.display())?;
                }
                f.write_str(
                    "; it must be a real directory (move the directory here, or point \
                     RDPSHIM_CONFIG_DIR at the directory that holds it)",
                )
            }
            Self::NotADirectory { kind } => write!(f, "it is {kind}, not a directory"),
            Self::Owner { owner, user } => write!(
                f,
                "it belongs to uid {owner}, not to you (uid {user}) or root; only its owner \
                 should be able to change profiles (chown it, or use another directory)"
            ),
            Self::Writable { mode } => write!(
                f,
                "others can write to it (mode {mode:04o}); run `chmod go-w` on it"
            ),
        }
    }
}
