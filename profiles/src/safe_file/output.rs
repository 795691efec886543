//! Writing a file the user named (`profile export -o OUT`, `--save-baseline`, `--junit`,
//! `--screenshot`). What is at OUT decides how:
//!
//! | OUT | what happens |
//! |---|---|
//! | nothing, or a regular file | atomic replace: a new file with the caller's mode (less the umask) takes OUT's name |
//! | `-`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/1`, `/dev/fd/2` | written to that stream directly |
//! | `/dev/fd/N`, `/proc/self/fd/N` (`>(cmd)` in bash) that is a pipe, socket or terminal | written directly |
//! | a terminal device (`/dev/tty`, `/dev/pts/3`) | written directly |
//! | a symbolic link (to a file, dangling, to a directory) | refused: never followed, never replaced |
//! | a FIFO, socket, directory, any other device (`/dev/full`, `/dev/null`) | refused: never opened, never replaced |
//!
//! A symbolic link at OUT is refused even when it points to a regular file: following it
//! would write wherever whoever made the link chose, and replacing it would silently turn
//! the user's link into a file. The message names the target; write to it by its own path
//! (`-o "$(readlink -f OUT)"`) or remove the link. Links in OUT's directory path are
//! followed: that path is the user's.
//!
//! A killed writer leaves a hidden `.OUT.tmp-<random>` beside OUT; it is never cleaned up
//! automatically (another rdpshim may be writing it; the user's directory has no lock).

use std::fs::File;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use super::dir::Dir;
use super::error::{FileError, FileKind};
use super::open::{kind_at, symlink};

/// How a user's output was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A regular file, atomically.
    Replaced,
    /// Standard output or error, a pipe or a terminal, as a stream.
    Streamed,
}

/// Where the bytes for OUT go.
enum Destination {
    Stdout,
    Stderr,
    Stream(File),
    File { dir: Dir, name: String },
}

/// Writes `bytes` to the file the user named (see the module documentation for what is
/// written, what is refused and why). A regular file is replaced by a new one with `mode`
/// (less the umask): an existing OUT's own mode, owner and hard links are not kept.
pub fn write_user_file(path: &Path, bytes: &[u8], mode: u32) -> Result<Written, FileError> {
    let stream_error = |e| FileError::io(path, "write", e);
    match destination(path)? {
        Destination::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(stream_error)?;
        }
        Destination::Stderr => {
            std::io::stderr().write_all(bytes).map_err(stream_error)?;
        }
        Destination::Stream(mut file) => {
            file.write_all(bytes)
                .and_then(|()| file.flush())
                .map_err(stream_error)?;
        }
        Destination::File { dir, name } => {
            dir.replace(&name, bytes, mode)?;
            return Ok(Written::Replaced);
        }
    }
    Ok(Written::Streamed)
}

/// Whether [`write_user_file`] would write `path` (and not refuse it), checked before long
/// work whose result would otherwise be lost (`rdpshim matrix` runs for minutes before it
/// writes its baseline). Writes nothing.
pub fn check_user_file(path: &Path) -> Result<(), FileError> {
    destination(path).map(drop)
}

fn destination(path: &Path) -> Result<Destination, FileError> {
    if let Some(stream) = own_stream(path) {
        return stream;
    }
    let name = match path.file_name().and_then(|n| n.to_str()) {
        Some(name) if !path.as_os_str().as_encoded_bytes().ends_with(b"/") => name.to_owned(),
        _ => {
            return Err(FileError::NoFileName {
                path: path.to_owned(),
            })
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = Dir::open(parent)?;
    match kind_at(dir.fd(), Path::new(&name), path)? {
        None | Some(FileType::RegularFile) => Ok(Destination::File { dir, name }),
        Some(FileType::Symlink) => Err(symlink(
            std::os::fd::AsFd::as_fd(dir.fd()),
            Path::new(&name),
            path,
        )),
        Some(FileType::CharacterDevice) => terminal(&dir, &name, path),
        Some(other) => Err(FileError::NotAFile {
            path: path.to_owned(),
            kind: FileKind::of(other).unwrap_or(FileKind::Other),
        }),
    }
}

/// `-` and the paths that name this process's own descriptors: written as a stream.
fn own_stream(path: &Path) -> Option<Result<Destination, FileError>> {
    let text = path.to_str()?;
    if text == "-" {
        return Some(Ok(Destination::Stdout));
    }
    let fd = match text {
        "/dev/stdout" => "1",
        "/dev/stderr" => "2",
        _ => text
            .strip_prefix("/dev/fd/")
            .or_else(|| text.strip_prefix("/proc/self/fd/"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?,
    };
    Some(match fd {
        "1" => Ok(Destination::Stdout),
        "2" => Ok(Destination::Stderr),
        _ => inherited_stream(path),
    })
}

/// `/dev/fd/N` handed to us by the shell (`-o >(gzip > x.gz)`): the path is a link to the
/// descriptor by design, so it is followed, but only a pipe, socket or terminal is written.
fn inherited_stream(path: &Path) -> Result<Destination, FileError> {
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::empty())
        .map_err(|e| FileError::io(path, "open", e.into()))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| FileError::io(path, "look at", e.into()))?;
    let file = File::from(fd);
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Fifo | FileType::Socket => stream(file, path),
        FileType::CharacterDevice if file.is_terminal() => stream(file, path),
        FileType::RegularFile => Err(FileError::DescriptorOfAFile {
            path: path.to_owned(),
        }),
        other => Err(FileError::NotAFile {
            path: path.to_owned(),
            kind: FileKind::of(other).unwrap_or(FileKind::Other),
        }),
    }
}

/// A character device at OUT: a terminal is written to; any other device is refused
/// (`/dev/full` used to be replaced by a regular file).
fn terminal(dir: &Dir, name: &str, path: &Path) -> Result<Destination, FileError> {
    let refused = || FileError::NotAFile {
        path: path.to_owned(),
        kind: FileKind::CharDevice,
    };
    let flags =
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir.fd(), name, flags, Mode::empty())
        .map_err(|e| FileError::io(path, "open", e.into()))?;
    let file = File::from(fd);
    if !file.is_terminal() {
        return Err(refused());
    }
    stream(file, path)
}

/// The descriptor back in blocking mode (it was opened non-blocking so that opening could
/// not hang), ready to be written as a stream.
fn stream(file: File, path: &Path) -> Result<Destination, FileError> {
    let flags = rustix::fs::fcntl_getfl(&file)
        .and_then(|flags| rustix::fs::fcntl_setfl(&file, flags - OFlags::NONBLOCK))
        .map_err(|e| FileError::io(path, "open", e.into()));
    flags.map(|()| Destination::Stream(file))
}
