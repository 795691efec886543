//! The user's own RDP clients: which ones rdpshim knows, in which order it looks for them,
//! and finding them on this machine.
//!
//! Order (the first one installed that can express the configuration is used):
//! - FreeRDP before the others: it is the one client that takes everything a working
//!   configuration can hold (TLS version and suites, the certificate pin, the password on
//!   its standard input);
//! - FreeRDP 3 before 2 (current; Debian and Homebrew install it beside 2 as `*freerdp3`);
//! - on X11, `xfreerdp` first; in a Wayland session without X (`WAYLAND_DISPLAY` set,
//!   `DISPLAY` not), the SDL and Wayland clients first (`xfreerdp` would need XWayland);
//!   on macOS the SDL client (native) before `xfreerdp` (XQuartz);
//! - then Remmina (Linux), Windows App / Microsoft Remote Desktop (macOS).

use std::ffi::OsStr;
#[cfg(target_os = "macos")]
use std::path::Path;
use std::path::PathBuf;

use rdpshim_profiles::export::FreeRdpVersion;
use rdpshim_profiles::safe_file::lookup;

use super::express::Target;
use super::freerdp_version::{self, VersionSource};

/// A kind of client, as `--client` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A FreeRDP client by program name or path (`xfreerdp`, `/opt/freerdp/bin/sdl-freerdp`):
    /// any name rdpshim does not know otherwise, so a wrapper script works too.
    FreeRdp(String),
    /// `remmina` (or a path to it).
    Remmina(String),
    /// `windows-app`: Windows App or Microsoft Remote Desktop (macOS).
    WindowsApp,
}

/// The `--client` names of Windows App (and its earlier name).
pub const WINDOWS_APP_NAMES: [&str; 2] = ["windows-app", "microsoft-remote-desktop"];

impl Named {
    pub fn parse(name: &str) -> Self {
        let base = name.rsplit('/').next().unwrap_or(name);
        if WINDOWS_APP_NAMES.contains(&name) {
            Self::WindowsApp
        } else if base == "remmina" {
            Self::Remmina(name.to_owned())
        } else {
            Self::FreeRdp(name.to_owned())
        }
    }
}

/// A client ready to be started: found, and (FreeRDP) its version known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    FreeRdp {
        /// As the user calls it (the first word of the command line rdpshim prints).
        name: String,
        path: PathBuf,
        version: FreeRdpVersion,
        version_source: VersionSource,
    },
    Remmina {
        path: PathBuf,
    },
    /// Started with macOS's `open` on an `.rdp` file.
    WindowsApp,
}

impl Client {
    pub fn target(&self) -> Target {
        match self {
            Self::FreeRdp { version, .. } => Target::FreeRdp(*version),
            Self::Remmina { .. } => Target::Remmina,
            Self::WindowsApp => Target::RdpFile,
        }
    }

    /// For people: `xfreerdp (FreeRDP 2)`, `Remmina`, `Windows App`.
    pub fn describe(&self) -> String {
        match self {
            Self::FreeRdp { name, version, .. } => {
                format!("{name} ({})", Target::FreeRdp(*version).name())
            }
            Self::Remmina { .. } => "Remmina".to_owned(),
            Self::WindowsApp => "Windows App".to_owned(),
        }
    }
}

/// Where clients are looked for: the desktop session and `PATH`.
#[derive(Debug, Clone)]
pub struct Environment {
    pub macos: bool,
    /// A Wayland session without X11 (`WAYLAND_DISPLAY` set, `DISPLAY` not).
    pub wayland_only: bool,
    pub path: std::ffi::OsString,
}

impl Environment {
    /// This process's.
    pub fn current() -> Self {
        let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        Self {
            macos: cfg!(target_os = "macos"),
            wayland_only: set("WAYLAND_DISPLAY") && !set("DISPLAY"),
            path: std::env::var_os("PATH").unwrap_or_default(),
        }
    }
}

/// The clients to look for, in order of preference (see the module doc).
pub fn candidates(env: &Environment) -> Vec<Named> {
    let freerdp = |names: &[&str]| -> Vec<Named> {
        names
            .iter()
            .map(|n| Named::FreeRdp((*n).to_owned()))
            .collect()
    };
    let mut order = if env.macos {
        freerdp(&["sdl-freerdp3", "sdl-freerdp", "xfreerdp3", "xfreerdp"])
    } else if env.wayland_only {
        freerdp(&[
            "sdl-freerdp3",
            "sdl-freerdp",
            "wlfreerdp3",
            "wlfreerdp",
            "xfreerdp3",
            "xfreerdp",
        ])
    } else {
        freerdp(&[
            "xfreerdp3",
            "xfreerdp",
            "sdl-freerdp3",
            "sdl-freerdp",
            "wlfreerdp3",
            "wlfreerdp",
        ])
    };
    if env.macos {
        order.push(Named::WindowsApp);
    } else {
        order.push(Named::Remmina("remmina".to_owned()));
    }
    order
}

/// Where macOS keeps Windows App (and, before it was renamed, Microsoft Remote Desktop).
#[cfg(target_os = "macos")]
const WINDOWS_APP_BUNDLES: [&str; 2] = [
    "/Applications/Windows App.app",
    "/Applications/Microsoft Remote Desktop.app",
];

/// `named` on this machine, with its version read (FreeRDP); `None` when it is not there.
pub fn find(named: &Named, env: &Environment) -> Option<Client> {
    match named {
        Named::FreeRdp(name) => {
            let path = lookup::find_executable(name, &env.path)?;
            let (version, version_source) = freerdp_version::detect(&path, name);
            Some(Client::FreeRdp {
                name: name.clone(),
                path,
                version,
                version_source,
            })
        }
        Named::Remmina(name) => {
            lookup::find_executable(name, &env.path).map(|path| Client::Remmina { path })
        }
        Named::WindowsApp => windows_app_installed().then_some(Client::WindowsApp),
    }
}

/// Windows App exists on macOS only; elsewhere the hand-off to it is not even compiled in.
#[cfg(target_os = "macos")]
fn windows_app_installed() -> bool {
    WINDOWS_APP_BUNDLES
        .iter()
        .any(|b| lookup::is_directory(Path::new(b)))
}

#[cfg(not(target_os = "macos"))]
fn windows_app_installed() -> bool {
    false
}

/// The first FreeRDP client installed, in [`candidates`] order: the one an export's
/// command line is written for.
pub fn first_freerdp(env: &Environment) -> Option<Client> {
    candidates(env)
        .iter()
        .filter(|n| matches!(n, Named::FreeRdp(_)))
        .find_map(|n| find(n, env))
}

/// Whether any candidate is installed, without reading versions (cheap: `PATH` lookups).
pub fn any_installed(env: &Environment) -> bool {
    candidates(env).iter().any(|named| match named {
        Named::FreeRdp(name) | Named::Remmina(name) => {
            lookup::find_executable(name, OsStr::new(&env.path)).is_some()
        }
        Named::WindowsApp => find(named, env).is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(macos: bool, wayland_only: bool) -> Environment {
        Environment {
            macos,
            wayland_only,
            path: Default::default(),
        }
    }

    fn names(env: &Environment) -> Vec<String> {
        candidates(env)
            .into_iter()
            .map(|n| match n {
                Named::FreeRdp(n) | Named::Remmina(n) => n,
                Named::WindowsApp => "windows-app".into(),
            })
            .collect()
    }

    #[test]
    fn freerdp_first_then_the_desktop_clients_by_session() {
        let x11 = names(&env(false, false));
        assert_eq!(&x11[..2], ["xfreerdp3", "xfreerdp"]);
        assert_eq!(x11.last().unwrap(), "remmina");
        let wayland = names(&env(false, true));
        assert_eq!(
            &wayland[..4],
            ["sdl-freerdp3", "sdl-freerdp", "wlfreerdp3", "wlfreerdp"]
        );
        let mac = names(&env(true, false));
        assert_eq!(mac.first().unwrap(), "sdl-freerdp3");
        assert_eq!(mac.last().unwrap(), "windows-app");
        assert!(!mac.contains(&"remmina".to_owned()));
    }

    #[test]
    fn client_names() {
        assert_eq!(Named::parse("xfreerdp"), Named::FreeRdp("xfreerdp".into()));
        assert_eq!(
            Named::parse("/opt/bin/remmina"),
            Named::Remmina("/opt/bin/remmina".into())
        );
        assert_eq!(Named::parse("windows-app"), Named::WindowsApp);
        assert_eq!(
            Named::parse("my-wrapper"),
            Named::FreeRdp("my-wrapper".into())
        );
    }

    #[test]
    fn windows_app_is_never_found_off_macos() {
        assert_eq!(find(&Named::WindowsApp, &env(false, false)), None);
    }
}
