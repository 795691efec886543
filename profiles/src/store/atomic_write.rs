//! Replacing a file so that a crash at any moment leaves the old or the new content, never
//! a mix: write a temporary file in the same directory (same file system, so the rename is
//! atomic), fsync it, rename it over the target, then fsync the directory so the rename
//! itself survives a power loss (POSIX rename(2); ext4/xfs need the directory fsync).
//!
//! Files are created 0600 and directories 0700 on Unix: a profile holds user names and
//! server fingerprints, which are nobody else's business (it never holds a password).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::StoreError;

/// Prefix of temporary files for `final_name`: `.<final_name>.tmp-`. They start with a dot
/// and do not end in `.toml`, so listings never mistake one for a profile.
pub(crate) fn temp_prefix(final_name: &str) -> String {
    format!(".{final_name}.tmp-")
}

/// Atomically replaces `dir/final_name` with `bytes`.
pub(crate) fn write_atomically(
    dir: &Path,
    final_name: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(
        "{}{}-{n}",
        temp_prefix(final_name),
        std::process::id()
    ));
    let target = dir.join(final_name);

    let result = write_new_file(&temp, bytes)
        .map_err(|e| StoreError::io(&temp, "write", e))
        .and_then(|()| {
            fs::rename(&temp, &target).map_err(|e| StoreError::io(&target, "replace", e))
        })
        .and_then(|()| sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a directory entry change (create, rename, unlink) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(dir, "sync directory", e))
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a directory as a file for flushing; NTFS journals renames.
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` and its missing parents, new ones 0700. Existing directories keep their
/// mode: the user may have chosen it.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| StoreError::io(dir, "create directory", e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Opens (creating 0600 if needed) a file for locking.
pub(crate) fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| StoreError::io(path, "open lock file", e))
}

/// `<pid>-<n>`, the tail [`write_atomically`] gives its temporary files. Checking it keeps
/// the cleanup of `a_1.toml` off the temp files of a profile whose name merely starts alike.
fn is_pid_counter(tail: &str) -> bool {
    tail.split_once('-').is_some_and(|(pid, n)| {
        !pid.is_empty()
            && !n.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Removes temporary files a killed writer left for `final_name`. Only call while holding
/// that profile's lock: then no live writer owns one.
pub(crate) fn remove_stale_temps(dir: &Path, final_name: &str) {
    let prefix = temp_prefix(final_name);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .is_some_and(is_pid_counter)
        })
        .map(|e| e.path())
        .collect();
    for path in stale {
        let _ = fs::remove_file(path);
    }
}
