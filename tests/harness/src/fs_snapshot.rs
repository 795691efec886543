//! What a directory tree holds, to prove that a run changed nothing it should not have:
//! every entry (not following links) with its type, mode, size, mtime and, for regular
//! files, its bytes; for links, their target. Taken before and after, compared.
//!
//! ```no_run
//! # use rdpshim_lab::fs_snapshot::Snapshot;
//! # let (scratch, config) = (std::path::Path::new("/tmp/x"), std::path::Path::new("/tmp/x/c"));
//! let before = Snapshot::take(&[scratch], &[config]);
//! // ... run rdpshim with a hostile file planted in `scratch` ...
//! before.assert_unchanged(&Snapshot::take(&[scratch], &[config]));
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One entry, as much as a change would show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File {
        mode: u32,
        mtime: Option<SystemTime>,
        bytes: Vec<u8>,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
    Fifo,
    Socket,
    CharDevice {
        rdev: u64,
    },
    BlockDevice {
        rdev: u64,
    },
}

impl Entry {
    /// What is at `path` (not following a link), `None` if nothing is.
    pub fn at(path: &Path) -> Option<Self> {
        let meta = fs::symlink_metadata(path).ok()?;
        let kind = meta.file_type();
        let mode = meta.mode() & 0o7777;
        Some(if kind.is_symlink() {
            Self::Symlink {
                target: fs::read_link(path).unwrap_or_default(),
            }
        } else if kind.is_dir() {
            Self::Dir { mode }
        } else if kind.is_file() {
            Self::File {
                mode,
                mtime: meta.modified().ok(),
                bytes: fs::read(path).unwrap_or_default(),
            }
        } else if kind.is_fifo() {
            Self::Fifo
        } else if kind.is_socket() {
            Self::Socket
        } else if kind.is_char_device() {
            Self::CharDevice { rdev: meta.rdev() }
        } else {
            Self::BlockDevice { rdev: meta.rdev() }
        })
    }
}

/// Every entry under some roots (the roots included), minus excluded subtrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(BTreeMap<PathBuf, Entry>);

impl Snapshot {
    /// Walks each root without following links; paths in `excluded` (and what is under
    /// them) are left out. A root may be a single file, link or device.
    pub fn take(roots: &[&Path], excluded: &[&Path]) -> Self {
        let mut entries = BTreeMap::new();
        for root in roots {
            walk(root, excluded, &mut entries);
        }
        Self(entries)
    }

    /// What differs, one line each: created, removed or changed paths.
    pub fn changes(&self, after: &Snapshot) -> Vec<String> {
        let mut changes = Vec::new();
        for (path, entry) in &self.0 {
            match after.0.get(path) {
                None => changes.push(format!("removed {}", path.display())),
                Some(now) if now != entry => changes.push(format!(
                    "changed {}: {} -> {}",
                    path.display(),
                    summary(entry),
                    summary(now)
                )),
                Some(_) => {}
            }
        }
        for (path, entry) in &after.0 {
            if !self.0.contains_key(path) {
                changes.push(format!("created {} ({})", path.display(), summary(entry)));
            }
        }
        changes
    }

    /// Panics with the list of changes if there are any.
    pub fn assert_unchanged(&self, after: &Snapshot) {
        let changes = self.changes(after);
        assert!(
            changes.is_empty(),
            "files outside the allowed places changed:\n{}",
            changes.join("\n")
        );
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.0.keys().map(PathBuf::as_path)
    }
}

fn walk(path: &Path, excluded: &[&Path], entries: &mut BTreeMap<PathBuf, Entry>) {
    if excluded.contains(&path) {
        return;
    }
    let Some(entry) = Entry::at(path) else {
        return;
    };
    let is_dir = matches!(entry, Entry::Dir { .. });
    entries.insert(path.to_owned(), entry);
    if is_dir {
        let mut children: Vec<PathBuf> = fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        children.sort();
        for child in children {
            walk(&child, excluded, entries);
        }
    }
}

fn summary(entry: &Entry) -> String {
    match entry {
        Entry::File { mode, bytes, .. } => format!("file {mode:o}, {} bytes", bytes.len()),
        Entry::Dir { mode } => format!("directory {mode:o}"),
        Entry::Symlink { target } => format!("link to {}", target.display()),
        other => format!("{other:?}"),
    }
}
