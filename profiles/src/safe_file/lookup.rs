//! Looking, not touching: is there a program of this name on `PATH`, is there an
//! application bundle at this path. `rdpshim open` and the exports use it to find the
//! user's own RDP client. Kept here so that every file-system call of the workspace stays
//! in `safe_file` (the architecture check reads imports).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The first `dir/name` in the `:`-separated `search_path` (a `PATH` value) that is a
/// regular file (after links: `/usr/bin/xfreerdp` is often one) with an execute bit, as a
/// shell would find it. `name` with a `/` is taken as a path itself, as shells do. Empty
/// entries of `PATH` (the current directory, to a shell) are skipped: running whatever
/// `xfreerdp` happens to sit in the working directory is how a planted file gets run.
pub fn find_executable(name: &str, search_path: &OsStr) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty() && dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Whether `path` is a directory (after links): a macOS application bundle such as
/// `/Applications/Windows App.app`.
pub fn is_directory(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_executable_on_the_path_and_skips_the_rest() {
        let root = std::env::temp_dir().join(format!("rdpshim-lookup-{}", std::process::id()));
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let write = |path: &Path, mode| {
            std::fs::write(path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(&a.join("tool"), 0o644); // not executable: skipped
        write(&b.join("tool"), 0o755);
        std::fs::create_dir_all(a.join("dir-tool")).unwrap(); // a directory: skipped
        let path = std::env::join_paths(["", a.to_str().unwrap(), "relative", b.to_str().unwrap()])
            .unwrap();
        assert_eq!(find_executable("tool", &path), Some(b.join("tool")));
        assert_eq!(find_executable("dir-tool", &path), None);
        assert_eq!(find_executable("missing", &path), None);
        assert_eq!(find_executable("", &path), None);
        let direct = b.join("tool");
        assert_eq!(
            find_executable(direct.to_str().unwrap(), OsStr::new("")),
            Some(direct)
        );
        assert!(is_directory(&a) && !is_directory(&b.join("tool")));
        let _ = std::fs::remove_dir_all(&root);
    }
}
