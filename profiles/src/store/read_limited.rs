//! Reading a profile file without trusting its size: a profile is a few KiB, so anything
//! over [`MAX_PROFILE_BYTES`] is refused before it is read into memory, and only regular
//! files are opened (opening a FIFO for reading would block forever).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::error::StoreError;

/// 1 MiB: hundreds of times a real profile, small enough to read at once.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// The file's bytes, or `None` if it does not exist.
pub(crate) fn read_limited(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, "read", e)),
    };
    if !meta.is_file() {
        return Err(StoreError::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.len() > MAX_PROFILE_BYTES {
        return Err(too_large(path, meta.len()));
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, "read", e)),
    };
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may have changed since the metadata call: read one byte past the limit to know.
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(path, "read", e))?;
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(too_large(path, bytes.len() as u64));
    }
    Ok(Some(bytes))
}

fn too_large(path: &Path, size: u64) -> StoreError {
    StoreError::TooLarge {
        path: path.to_owned(),
        size,
        limit: MAX_PROFILE_BYTES,
    }
}
