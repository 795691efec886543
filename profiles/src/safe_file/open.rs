//! Opening an existing file for reading without blocking and without being led elsewhere:
//! look first (`fstatat`: a FIFO, device or socket is refused before it is opened, so no
//! device is ever opened by mistake), then open with `O_NONBLOCK` (a FIFO swapped in after
//! the look opens at once instead of waiting for a writer forever) and check again on the
//! open descriptor (`fstat`), which is what the bytes will come from.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::error::{FileError, FileKind};

/// Whether the last component of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// A path the user typed: links are theirs to use (`~/Downloads/x.rdp -> ...`).
    Follow,
    /// rdpshim's own files (profiles, locks): a link there was planted, never followed.
    Refuse,
}

/// `name` in `dir`, a regular file opened read-only. `shown` is the path for messages.
pub(crate) fn open_regular(
    dir: BorrowedFd<'_>,
    name: &Path,
    shown: &Path,
    links: Links,
) -> Result<File, FileError> {
    let at_flags = match links {
        Links::Follow => AtFlags::empty(),
        Links::Refuse => AtFlags::SYMLINK_NOFOLLOW,
    };
    let stat =
        rustix::fs::statat(dir, name, at_flags).map_err(|e| not_found_or(e, shown, "look at"))?;
    refuse_unless_regular(dir, name, shown, FileType::from_raw_mode(stat.st_mode))?;

    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|e| match e {
        Errno::LOOP => symlink(dir, name, shown),
        e => not_found_or(e, shown, "open"),
    })?;
    let file = File::from(fd);
    let stat = rustix::fs::fstat(&file).map_err(|e| FileError::io(shown, "look at", e.into()))?;
    refuse_unless_regular(dir, name, shown, FileType::from_raw_mode(stat.st_mode))?;
    Ok(file)
}

fn refuse_unless_regular(
    dir: BorrowedFd<'_>,
    name: &Path,
    shown: &Path,
    file_type: FileType,
) -> Result<(), FileError> {
    match FileKind::of(file_type) {
        None => Ok(()),
        Some(FileKind::Symlink) => Err(symlink(dir, name, shown)),
        Some(kind) => Err(FileError::NotAFile {
            path: shown.to_owned(),
            kind,
        }),
    }
}

/// The error for a symbolic link at `name`, with its target when it can be read.
pub(crate) fn symlink(dir: BorrowedFd<'_>, name: &Path, shown: &Path) -> FileError {
    let target = rustix::fs::readlinkat(dir, name, Vec::new())
        .ok()
        .map(|t| PathBuf::from(std::ffi::OsString::from_vec(t.into_bytes())));
    FileError::Symlink {
        path: shown.to_owned(),
        target,
    }
}

pub(crate) fn not_found_or(e: Errno, shown: &Path, action: &'static str) -> FileError {
    if e == Errno::NOENT {
        FileError::Missing {
            path: shown.to_owned(),
        }
    } else {
        FileError::io(shown, action, io::Error::from(e))
    }
}

/// What is at `name` in `dir`, not following a link; `None` if nothing is.
pub(crate) fn kind_at(
    dir: impl AsFd,
    name: &Path,
    shown: &Path,
) -> Result<Option<FileType>, FileError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(FileError::io(shown, "look at", e.into())),
    }
}
