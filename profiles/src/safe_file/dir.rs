//! A directory opened once, and every file operation relative to that descriptor
//! (`openat`, `renameat`, `unlinkat`): a directory renamed or replaced by a link halfway
//! through cannot send a write anywhere else.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::error::{DirProblem, FileError, FileKind};
use super::open::{kind_at, open_regular, symlink, Links};
use super::read::read_bounded;
use super::replace;

/// An exclusive lock (std `File::lock`: flock on Unix), held until dropped.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

/// An open directory. Names given to its methods are single path components.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// The directory at `path`, following links anywhere in it (a user's output directory:
    /// the path is theirs).
    pub(crate) fn open(path: &Path) -> Result<Self, FileError> {
        let fd = rustix::fs::openat(
            rustix::fs::CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| super::open::not_found_or(e, path, "open the directory"))?;
        Ok(Self {
            fd,
            path: path.to_owned(),
        })
    }

    /// A private directory for rdpshim's own files (the profile store), created 0700 with
    /// its missing parents when `create`; `None` if it does not exist and `create` is
    /// false. Refused ([`FileError::UnsafeDirectory`]) when its last component is a
    /// symbolic link, when it belongs to another user (root is trusted), or when group or
    /// others may write to it: anyone who can change files there could plant a profile
    /// with a weaker "known good" configuration. Links in the parent path are followed
    /// (`~/.config` kept in a dotfiles repository is common and the user's choice).
    pub fn open_private(path: &Path, create: bool) -> Result<Option<Self>, FileError> {
        let created = create.then(|| create_private(path));
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(rustix::fs::CWD, path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                return match created {
                    Some(Err(e)) => Err(e),
                    _ => Ok(None),
                }
            }
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => return Err(not_a_directory(path, e)),
            Err(e) => return Err(FileError::io(path, "open the directory", e.into())),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| FileError::io(path, "look at", e.into()))?;
        let user = rustix::process::geteuid().as_raw();
        if stat.st_uid != user && stat.st_uid != 0 {
            return Err(unsafe_dir(
                path,
                DirProblem::Owner {
                    owner: stat.st_uid,
                    user,
                },
            ));
        }
        #[allow(clippy::useless_conversion)] // `st_mode` is a u16 on macOS
        let mode = u32::from(stat.st_mode) & 0o7777;
        if mode & 0o022 != 0 {
            return Err(unsafe_dir(path, DirProblem::Writable { mode }));
        }
        Ok(Some(Self {
            fd,
            path: path.to_owned(),
        }))
    }

    /// A private directory for files rdpshim hands to another program (`rdpshim open`'s
    /// `.remmina` and `.rdp` files, which that program may read after rdpshim is gone):
    /// `$XDG_RUNTIME_DIR/rdpshim` (a per-user tmpfs, emptied at logout), else
    /// `$TMPDIR/rdpshim-UID` (`/tmp` without `TMPDIR`). Created 0700, and checked like the
    /// profile directory ([`Dir::open_private`]): in a shared `/tmp`, another user could
    /// create that name first, as a directory of theirs or a link.
    pub fn open_runtime() -> Result<Self, FileError> {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let path = match runtime {
            Some(dir) => dir.join("rdpshim"),
            None => std::env::temp_dir()
                .join(format!("rdpshim-{}", rustix::process::geteuid().as_raw())),
        };
        Self::open_private(&path, true)?.ok_or_else(|| {
            FileError::io(
                &path,
                "create the directory",
                std::io::ErrorKind::NotFound.into(),
            )
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name`, for messages.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The bytes of the regular file `name`, `None` if there is none; a link, a FIFO or a
    /// device there is refused, and so is a file over `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
        let shown = self.join(name);
        match open_regular(self.fd.as_fd(), Path::new(name), &shown, Links::Refuse) {
            Ok(file) => read_bounded(file, &shown, limit).map(Some),
            Err(FileError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// As [`Dir::read`], for a private key: a file that group or others may read is
    /// refused ([`FileError::ReadableByOthers`], as ssh refuses such a key) and left as it is.
    pub fn read_secret(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, FileError> {
        let shown = self.join(name);
        let file = match open_regular(self.fd.as_fd(), Path::new(name), &shown, Links::Refuse) {
            Ok(file) => file,
            Err(FileError::Missing { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let stat =
            rustix::fs::fstat(&file).map_err(|e| FileError::io(&shown, "look at", e.into()))?;
        #[allow(clippy::useless_conversion)] // `st_mode` is a u16 on macOS
        let mode = u32::from(stat.st_mode) & 0o777;
        if mode & 0o077 != 0 {
            return Err(FileError::ReadableByOthers { path: shown, mode });
        }
        read_bounded(file, &shown, limit).map(Some)
    }

    /// Atomically replaces `name` with `bytes` (a new file gets `mode`, less the umask):
    /// a temporary file created `O_EXCL | O_NOFOLLOW` under a random name here, written,
    /// synced, renamed over `name`, and the directory synced (`replace.rs`).
    pub fn replace(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), FileError> {
        replace::replace(
            self,
            name,
            bytes,
            mode,
            &mut replace::random_temp_names(name),
        )
    }

    /// Opens (creating it 0600 if needed) the lock file `name` and takes an exclusive lock
    /// on it, waiting for other holders. A link there is refused, dangling or not
    /// (`O_NOFOLLOW`: following a dangling one would create its target, anywhere).
    pub fn lock(&self, name: &str) -> Result<Lock, FileError> {
        let shown = self.join(name);
        let flags = OFlags::RDWR
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::NOCTTY
            | OFlags::CLOEXEC;
        let fd =
            rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)).map_err(|e| {
                match e {
                    Errno::LOOP => symlink(self.fd.as_fd(), Path::new(name), &shown),
                    e => FileError::io(&shown, "open the lock file", e.into()),
                }
            })?;
        let file = File::from(fd);
        let stat =
            rustix::fs::fstat(&file).map_err(|e| FileError::io(&shown, "look at", e.into()))?;
        if let Some(kind) = FileKind::of(FileType::from_raw_mode(stat.st_mode)) {
            return Err(FileError::NotAFile { path: shown, kind });
        }
        file.lock().map_err(|e| FileError::io(&shown, "lock", e))?;
        Ok(Lock(file))
    }

    /// Deletes the entry `name` (a link itself, never its target); `false` if there was
    /// none. The removal is made durable.
    pub fn remove(&self, name: &str) -> Result<bool, FileError> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => self.sync().map(|()| true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(FileError::io(self.join(name), "remove", e.into())),
        }
    }

    /// Whether anything (a link included) is at `name`.
    pub fn exists(&self, name: &str) -> Result<bool, FileError> {
        Ok(kind_at(&self.fd, Path::new(name), &self.join(name))?.is_some())
    }

    /// Renames the entry `from` to `to` within this directory (a link is moved, not
    /// followed) and makes it durable. Replaces `to`: check [`Dir::exists`] first, under
    /// a lock, where that matters.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FileError> {
        rustix::fs::renameat(&self.fd, from, &self.fd, to)
            .map_err(|e| FileError::io(self.join(to), "move a file to", e.into()))?;
        self.sync()
    }

    /// The names in the directory (not `.` and `..`; names that are not UTF-8 are left
    /// out: rdpshim never writes one).
    pub fn names(&self) -> Result<Vec<String>, FileError> {
        let list_error = |e: Errno| FileError::io(&self.path, "list", e.into());
        let entries = rustix::fs::Dir::read_from(&self.fd).map_err(list_error)?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(list_error)?;
            if let Ok(name) = entry.file_name().to_str() {
                if name != "." && name != ".." {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    /// Removes the temporary files a killed writer of `name` left behind. Only call when
    /// no live writer of `name` can exist (the profile store holds the profile's lock).
    pub fn remove_temps_of(&self, name: &str) {
        let Ok(names) = self.names() else {
            return;
        };
        for stale in names.iter().filter(|n| replace::is_temp_of(n, name)) {
            let _ = rustix::fs::unlinkat(&self.fd, stale.as_str(), AtFlags::empty());
        }
    }

    /// Makes entry changes (create, rename, unlink) durable: POSIX leaves them in the
    /// directory's buffers until the directory itself is synced (ext4, xfs need it).
    pub fn sync(&self) -> Result<(), FileError> {
        rustix::fs::fsync(&self.fd)
            .map_err(|e| FileError::io(&self.path, "sync the directory", e.into()))
    }

    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// Creates `path` and its missing parents, new ones 0700. Existing directories keep their
/// mode: the user may have chosen it. The parent of a new directory is synced.
fn create_private(path: &Path) -> Result<(), FileError> {
    let existed = rustix::fs::statat(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    if existed {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|e| FileError::io(path, "create the directory", e))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Dir::open(parent)?.sync()?;
    }
    Ok(())
}

/// Why a private directory did not open as one (`open` said `ELOOP` or `ENOTDIR`).
fn not_a_directory(path: &Path, error: Errno) -> FileError {
    let problem = match rustix::fs::statat(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => DirProblem::Symlink {
                target: std::fs::read_link(path).ok(),
            },
            FileType::RegularFile => DirProblem::NotADirectory {
                kind: FileKind::RegularFile,
            },
            other => DirProblem::NotADirectory {
                kind: FileKind::of(other).unwrap_or(FileKind::Other),
            },
        },
        // A parent is not a directory: say what open said.
        Err(_) => return FileError::io(path, "open the directory", error.into()),
    };
    unsafe_dir(path, problem)
}

fn unsafe_dir(path: &Path, problem: DirProblem) -> FileError {
    FileError::UnsafeDirectory {
        path: path.to_owned(),
        problem,
    }
}
