//! Reading a whole file without trusting its size: a file over the caller's limit is
//! refused, never truncated (a cut profile or `.rdp` file would read as a different one),
//! and nothing larger than the limit is ever held in memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::error::FileError;
use super::open::{open_regular, Links};

/// The bytes of a file the user named (`rdpshim import FILE`, `--configs FILE`): a link is
/// followed (it is the user's path), but only a regular file is read. A FIFO, device,
/// socket or directory is refused at once, without blocking.
pub fn read_user_file(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let file = open_regular(rustix::fs::CWD, path, path, Links::Follow)?;
    read_bounded(file, path, limit)
}

/// Reads `file` to the end if it holds at most `limit` bytes.
pub(crate) fn read_bounded(file: File, shown: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let too_large = |size| FileError::TooLarge {
        path: shown.to_owned(),
        size,
        limit,
    };
    let size = file
        .metadata()
        .map_err(|e| FileError::io(shown, "look at", e))?
        .len();
    if size > limit {
        return Err(too_large(size));
    }
    // The size may change while reading: read one byte past the limit to know.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(shown, "read", e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}
