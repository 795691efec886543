//! Replacing a file so that a crash at any moment leaves the old or the new content, never
//! a mix, and so that nothing but the file asked for is ever written:
//!
//! 1. a temporary file is created in the target's own directory (same file system, so the
//!    rename is atomic) with `O_CREAT | O_EXCL | O_NOFOLLOW`: it is always a new inode of
//!    ours, never a link or file someone planted at that name (a taken name is skipped);
//! 2. its name is `.<name>.tmp-<64 random bits>`: nobody can plant anything at it in
//!    advance (the old `OUT.rdpshim-partial` could be, and was followed);
//! 3. write, `fsync`, `rename` over the target (rename replaces the directory entry, it
//!    never writes through a link at the target), `fsync` the directory so the rename
//!    survives a power loss (POSIX rename(2); ext4/xfs need the directory sync);
//! 4. on any error before the rename the temporary file is removed.
//!
//! All of it relative to one open directory descriptor ([`Dir`]).

use std::fs::File;
use std::io::{self, Write as _};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::dir::Dir;
use super::error::FileError;

/// How many taken temporary names are skipped before giving up (each is 64 random bits:
/// more than one means someone is planting names).
const ATTEMPTS: usize = 16;

/// The longest piece of the target's name kept in a temporary name, so that the
/// decorations (23 bytes) stay under the 255-byte name limit of common file systems.
const NAME_PART: usize = 200;

/// `.<name>.tmp-`: starts with a dot and does not end in the target's extension, so a
/// listing of profiles never mistakes one for a profile.
fn temp_prefix(name: &str) -> String {
    let mut end = name.len().min(NAME_PART);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}.tmp-", &name[..end])
}

/// Endless unpredictable temporary names for `name`.
pub(crate) fn random_temp_names(name: &str) -> impl Iterator<Item = String> {
    let prefix = temp_prefix(name);
    std::iter::repeat_with(move || format!("{prefix}{:016x}", random_u64()))
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen): the process's own hash keys, which std seeds from
        // the OS when it can, mixed with the pid and the time. O_EXCL keeps it safe anyway.
        use std::hash::BuildHasher as _;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return std::hash::RandomState::new().hash_one((std::process::id(), nanos));
    }
    u64::from_le_bytes(bytes)
}

/// Whether `candidate` is a temporary file of `name`: this writer's (16 hex digits) or an
/// older rdpshim's (`<pid>-<n>`). Checking the tail keeps the cleanup of `a_1.toml` off the
/// temporary files of a name that merely starts alike.
pub(crate) fn is_temp_of(candidate: &str, name: &str) -> bool {
    let Some(tail) = candidate.strip_prefix(&temp_prefix(name)) else {
        return false;
    };
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (hex && matches!(b, b'a'..=b'f')))
    };
    (tail.len() == 16 && digits(tail, true))
        || tail
            .split_once('-')
            .is_some_and(|(pid, n)| digits(pid, false) && digits(n, false))
}

/// Atomically replaces `dir/name` with `bytes`, trying temporary names from `temps`.
pub(crate) fn replace(
    dir: &Dir,
    name: &str,
    bytes: &[u8],
    mode: u32,
    temps: &mut dyn Iterator<Item = String>,
) -> Result<(), FileError> {
    let (temp, file) = create_temp(dir, mode, temps)?;
    let written = write_and_sync(file, bytes)
        .map_err(|e| FileError::io(dir.join(&temp), "write", e))
        .and_then(|()| {
            rustix::fs::renameat(dir.fd(), temp.as_str(), dir.fd(), name)
                .map_err(|e| FileError::io(dir.join(name), "replace", e.into()))
        });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir.fd(), temp.as_str(), AtFlags::empty());
    }
    written?;
    dir.sync()
}

fn create_temp(
    dir: &Dir,
    mode: u32,
    temps: &mut dyn Iterator<Item = String>,
) -> Result<(String, File), FileError> {
    let flags = OFlags::WRONLY
        | OFlags::CREATE
        | OFlags::EXCL
        | OFlags::NOFOLLOW
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    for temp in temps.take(ATTEMPTS) {
        match rustix::fs::openat(
            dir.fd(),
            temp.as_str(),
            flags,
            Mode::from_raw_mode(mode as _),
        ) {
            Ok(fd) => return Ok((temp, File::from(fd))),
            // Something is at that name already (a planted link, a stale file): O_EXCL
            // refused to open it, so nothing was written; take another name.
            Err(Errno::EXIST | Errno::LOOP) => continue,
            Err(e) => {
                return Err(FileError::io(
                    dir.path(),
                    "create a temporary file in",
                    e.into(),
                ))
            }
        }
    }
    Err(FileError::io(
        dir.path(),
        "create a temporary file in",
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{ATTEMPTS} random names in a row were taken"),
        ),
    ))
}

fn write_and_sync(mut file: File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}
