//! Which FreeRDP a program on `PATH` is: 2.x and 3.x spell their TLS options differently
//! (`/tls-seclevel:0` vs `/tls:seclevel:0,enforce:1.0`; see
//! `rdpshim_profiles::export::freerdp`), so a command line must match the binary.
//!
//! Sources, most direct first:
//! 1. `PROGRAM --version` ("This is FreeRDP version 2.11.7 (2.11.7)"). The X11 client of
//!    FreeRDP 2 opens the display before it parses its arguments (observed with 2.11 here:
//!    without `DISPLAY` it prints "failed to open display" and nothing else), so this fails
//!    on a headless machine;
//! 2. the library the binary links (`libfreerdp-client2.so.2` / `libfreerdp-client3.so.3`,
//!    `libfreerdp-client3.3.dylib` on macOS), found in its bytes: works without a display;
//! 3. the name: Debian and Homebrew install FreeRDP 3 beside 2 as `xfreerdp3`,
//!    `sdl-freerdp3`, `wlfreerdp3`;
//! 4. else FreeRDP 3, said so (the current major version).

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdpshim_profiles::export::FreeRdpVersion;
use rdpshim_profiles::safe_file;

/// How a FreeRDP version was learned (for the note a guess deserves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    VersionFlag,
    LinkedLibrary,
    Name,
    /// Nothing told: FreeRDP 3 assumed.
    Assumed,
}

/// `--version` may hang on a broken display connection; it answers in ~50 ms otherwise.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// A FreeRDP client binary is well under a megabyte (2.11's `xfreerdp`: 690 KB); static
/// builds are larger. Past this, the bytes are not read.
const BINARY_LIMIT: u64 = 64 << 20;

/// The major version of the FreeRDP at `path` (`name` as the user calls it).
pub fn detect(path: &Path, name: &str) -> (FreeRdpVersion, VersionSource) {
    if let Some(version) = run_version_flag(path)
        .as_deref()
        .and_then(from_version_output)
    {
        return (version, VersionSource::VersionFlag);
    }
    let linked = safe_file::read_user_file(path, BINARY_LIMIT)
        .ok()
        .and_then(|bytes| from_linked_library(&bytes));
    if let Some(version) = linked {
        return (version, VersionSource::LinkedLibrary);
    }
    match from_name(name) {
        Some(version) => (version, VersionSource::Name),
        None => (FreeRdpVersion::V3, VersionSource::Assumed),
    }
}

/// The major version in `--version` output; `None` for text that is not FreeRDP's or a
/// major version whose spelling rdpshim does not know.
pub fn from_version_output(text: &str) -> Option<FreeRdpVersion> {
    let (_, rest) = text.split_once("FreeRDP version ")?;
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match (major.as_str(), rest[major.len()..].starts_with('.')) {
        ("2", true) => Some(FreeRdpVersion::V2),
        ("3", true) => Some(FreeRdpVersion::V3),
        _ => None,
    }
}

/// The FreeRDP library a binary's bytes name; `None` when they name none, or both.
pub fn from_linked_library(bytes: &[u8]) -> Option<FreeRdpVersion> {
    let names = |needles: &[&[u8]]| {
        needles
            .iter()
            .any(|needle| bytes.windows(needle.len()).any(|w| w == *needle))
    };
    let two = names(&[b"libfreerdp-client2.", b"libfreerdp2."]);
    let three = names(&[b"libfreerdp-client3.", b"libfreerdp3."]);
    match (two, three) {
        (true, false) => Some(FreeRdpVersion::V2),
        (false, true) => Some(FreeRdpVersion::V3),
        _ => None,
    }
}

/// `xfreerdp3`, `sdl-freerdp3`, `/opt/bin/wlfreerdp3` -> 3; any other name tells nothing.
pub fn from_name(name: &str) -> Option<FreeRdpVersion> {
    let base = name.rsplit('/').next().unwrap_or(name);
    (base.contains("freerdp") && base.ends_with('3')).then_some(FreeRdpVersion::V3)
}

/// `path --version`'s standard output, if it exits within [`VERSION_TIMEOUT`].
fn run_version_flag(path: &Path) -> Option<String> {
    let mut child = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                // Our own child, by its handle (no name-based kill).
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    child
        .stdout
        .take()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_output() {
        let table = [
            (
                "This is FreeRDP version 2.11.7 (2.11.7)\n",
                Some(FreeRdpVersion::V2),
            ),
            (
                "This is FreeRDP version 3.5.1 (n/a)\n",
                Some(FreeRdpVersion::V3),
            ),
            (
                "This is FreeRDP version 3.10.3 (b1c5d5e2e)\nBuild config: ...",
                Some(FreeRdpVersion::V3),
            ),
            ("This is FreeRDP version 4.0.0 (x)", None),
            ("This is FreeRDP version 23.1", None),
            ("failed to open display", None),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(from_version_output(text), expected, "{text:?}");
        }
    }

    #[test]
    fn linked_library() {
        let elf = |needed: &str| format!("\x7fELF...{needed}\0libc.so.6\0").into_bytes();
        assert_eq!(
            from_linked_library(&elf("libfreerdp-client2.so.2")),
            Some(FreeRdpVersion::V2)
        );
        assert_eq!(
            from_linked_library(&elf("libfreerdp-client3.so.3")),
            Some(FreeRdpVersion::V3)
        );
        assert_eq!(
            from_linked_library(&elf("@rpath/libfreerdp-client3.3.dylib")),
            Some(FreeRdpVersion::V3)
        );
        assert_eq!(
            from_linked_library(b"#!/bin/sh\nexec flatpak run ..."),
            None
        );
        assert_eq!(
            from_linked_library(&elf("libfreerdp2.so.2\0libfreerdp3.so.3")),
            None,
            "both: cannot tell"
        );
    }

    #[test]
    fn names() {
        assert_eq!(from_name("xfreerdp3"), Some(FreeRdpVersion::V3));
        assert_eq!(
            from_name("/usr/local/bin/sdl-freerdp3"),
            Some(FreeRdpVersion::V3)
        );
        assert_eq!(from_name("xfreerdp"), None);
        assert_eq!(from_name("my-rdp3"), None);
    }

    /// The FreeRDP 2.11 on this machine, found without a display (no `DISPLAY` in the test).
    #[test]
    fn the_installed_xfreerdp_is_read_from_its_library() {
        let Some(path) = safe_file::lookup::find_executable("xfreerdp", "/usr/bin".as_ref()) else {
            return; // not installed here (tests/lab/install-deps.sh installs it)
        };
        let bytes = safe_file::read_user_file(&path, BINARY_LIMIT).unwrap();
        assert_eq!(from_linked_library(&bytes), Some(FreeRdpVersion::V2));
    }
}
