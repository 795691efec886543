//! A real, private Secret Service (gnome-keyring) for keyring tests.
//!
//! [`SecretService::start`] starts, in a fresh temporary directory:
//! 1. a private D-Bus session bus (`dbus-daemon --nofork` with its own config: a socket in
//!    the directory, no service directories, so nothing on it is ever auto-activated), and
//! 2. `gnome-keyring-daemon --foreground --unlock --components=secrets` on that bus, fed an
//!    unlock password on stdin, with `HOME`, `XDG_DATA_HOME`, `XDG_RUNTIME_DIR`,
//!    `XDG_CONFIG_HOME` and `XDG_CACHE_HOME` inside the directory,
//!
//! then waits until `org.freedesktop.secrets` has an owner on that bus. Child processes get
//! the same environment from [`SecretService::env`] (or [`SecretService::command`]).
//! Dropping it kills both daemons by PID and removes the directory (set
//! `RDPSHIM_KEYRING_KEEP=1` to keep it, with `dbus.log` and `keyring.log`).
//!
//! Needs the `gnome-keyring` and `dbus-daemon`/`dbus-bin` packages (`dbus-x11` on a fresh
//! image); [`keyring_check`] says what is missing. Std only.
//!
//! ```no_run
//! let ss = rdpshim_lab::keyring::SecretService::start().unwrap();
//! let mut child = std::process::Command::new("secret-tool");
//! child.envs(ss.env());
//! ```

use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The well-known bus name of the Secret Service API.
pub const SECRETS_NAME: &str = "org.freedesktop.secrets";

/// How long [`SecretService::start`] waits for each daemon.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run on the private bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// gnome-keyring with `--unlock`: a login collection, unlocked (the normal case).
    Unlocked,
    /// gnome-keyring without `--unlock`: the service answers, but there is no unlocked
    /// default collection, so writes fail (and, with no prompter on the bus, at once).
    NoLoginKeyring,
    /// The bus only: nothing owns `org.freedesktop.secrets` (and nothing is activatable).
    BusOnly,
}

/// A running private session bus with gnome-keyring's Secret Service on it.
#[derive(Debug)]
pub struct SecretService {
    dir: PathBuf,
    address: String,
    unlock_password: String,
    bus: Option<Child>,
    keyring: Option<Child>,
}

impl SecretService {
    /// Start a bus and an unlocked keyring (its login collection is created on first use,
    /// encrypted with [`SecretService::unlock_password`]).
    pub fn start() -> Result<SecretService, String> {
        Self::start_with(Mode::Unlocked)
    }

    /// Start a bus and, unless [`Mode::BusOnly`], gnome-keyring in the given mode.
    pub fn start_with(mode: Mode) -> Result<SecretService, String> {
        keyring_check()?;
        let dir = fresh_dir()?;
        let mut ss = SecretService {
            address: String::new(),
            unlock_password: format!("unlock-{}-{}", std::process::id(), dir_suffix(&dir)),
            dir,
            bus: None,
            keyring: None,
        };
        // On error `ss` is dropped here, which kills whatever did start.
        ss.start_bus()?;
        for (_, dir) in private_dirs(&ss.dir) {
            fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir}: {e}"))?;
        }
        let runtime = ss.runtime_dir();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot chmod {}: {e}", runtime.display()))?;
        if mode != Mode::BusOnly {
            ss.start_keyring(mode == Mode::Unlocked)?;
        }
        Ok(ss)
    }

    /// The private temporary directory holding everything.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `HOME` for the keyring and for child processes (empty at start).
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// `XDG_DATA_HOME`: gnome-keyring keeps its keyring files in `keyrings/` under it.
    pub fn data_home(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `XDG_RUNTIME_DIR` (mode 0700).
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.join("runtime")
    }

    /// The `DBUS_SESSION_BUS_ADDRESS` of the private bus.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The password the login keyring was unlocked (and is encrypted) with.
    pub fn unlock_password(&self) -> &str {
        &self.unlock_password
    }

    /// The environment a child process needs to use this Secret Service:
    /// `DBUS_SESSION_BUS_ADDRESS`, `HOME`, `XDG_DATA_HOME`, `XDG_RUNTIME_DIR`,
    /// `XDG_CONFIG_HOME`, `XDG_CACHE_HOME`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("DBUS_SESSION_BUS_ADDRESS".to_string(), self.address.clone())];
        env.extend(private_dirs(&self.dir));
        env
    }

    /// A command with [`SecretService::env`] applied.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// Does `org.freedesktop.secrets` have an owner on the bus right now?
    pub fn has_owner(&self) -> Result<bool, String> {
        name_has_owner(&self.address, SECRETS_NAME)
    }

    /// PIDs of the bus and keyring daemons (for tests of the harness itself).
    pub fn pids(&self) -> Vec<u32> {
        self.bus
            .iter()
            .chain(self.keyring.iter())
            .map(Child::id)
            .collect()
    }

    fn start_bus(&mut self) -> Result<(), String> {
        let socket = self.dir.join("bus");
        let config = self.dir.join("bus.conf");
        fs::write(&config, bus_config(&socket))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let log = log_file(&self.dir.join("dbus.log"))?;
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .env_clear()
            .env("PATH", path_var())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start dbus-daemon: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        self.bus = Some(child);
        // dbus-daemon prints its address once it listens; read it without blocking forever.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(START_TIMEOUT).map_err(|_| {
            format!(
                "dbus-daemon printed no address within {START_TIMEOUT:?}\n{}",
                self.logs()
            )
        })?;
        let address = line.trim();
        if address.is_empty() {
            return Err(format!("dbus-daemon exited early\n{}", self.logs()));
        }
        self.address = address.to_string();
        Ok(())
    }

    fn start_keyring(&mut self, unlock: bool) -> Result<(), String> {
        let log = log_file(&self.dir.join("keyring.log"))?;
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets"])
            .args(unlock.then_some("--unlock"))
            .env_clear()
            .env("PATH", path_var())
            .envs(self.env())
            .current_dir(self.home())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start gnome-keyring-daemon: {e}"))?;
        // --unlock reads the password up to EOF: write it and close stdin.
        let mut stdin = child.stdin.take().expect("piped stdin");
        let written = if unlock {
            stdin.write_all(self.unlock_password.as_bytes())
        } else {
            Ok(())
        };
        drop(stdin);
        self.keyring = Some(child);
        written.map_err(|e| format!("cannot feed gnome-keyring-daemon its password: {e}"))?;

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .keyring
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "gnome-keyring-daemon exited ({status})\n{}",
                    self.logs()
                ));
            }
            if self.has_owner()? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{SECRETS_NAME} has no owner {START_TIMEOUT:?} after starting \
                     gnome-keyring-daemon\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        ["dbus.log", "keyring.log"]
            .iter()
            .map(|name| {
                let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
                format!("--- {name}:\n{}", text.trim_end())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        // Keyring first (it is a client of the bus), then the bus; each by its own PID.
        for child in [self.keyring.take(), self.bus.take()].into_iter().flatten() {
            stop(child);
        }
        if std::env::var_os("RDPSHIM_KEYRING_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn stop(mut child: Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill(); // SIGKILL to this PID only
    }
    let _ = child.wait();
}

/// For a test that needs a Secret Service: `true` when one can be started here, else the
/// test skips with the reason (or fails under `RDPSHIM_LAB_REQUIRED`, see [`crate::may_run`]).
pub fn require_keyring() -> bool {
    crate::may_run("a private Secret Service", keyring_check())
}

/// Why a Secret Service cannot be started here (a tool missing), or Ok.
pub fn keyring_check() -> Result<(), String> {
    let missing: Vec<&str> = ["dbus-daemon", "dbus-send", "gnome-keyring-daemon"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Secret Service unavailable, missing: {} (apt-get install gnome-keyring dbus-x11)",
            missing.join(", ")
        ))
    }
}

/// Asks the bus at `address` whether `name` has an owner.
pub fn name_has_owner(address: &str, name: &str) -> Result<bool, String> {
    let out = Command::new("dbus-send")
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
        ])
        .arg(format!("string:{name}"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run dbus-send: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "dbus-send NameHasOwner failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).contains("boolean true"))
}

/// The private XDG directories and HOME under `dir`.
fn private_dirs(dir: &Path) -> Vec<(String, String)> {
    [
        ("HOME", "home"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_RUNTIME_DIR", "runtime"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
    ]
    .iter()
    .map(|(var, sub)| (var.to_string(), dir.join(sub).display().to_string()))
    .collect()
}

fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

fn log_file(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn path_var() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string())
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join(tool).is_file())
}

fn dir_suffix(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn fresh_dir() -> Result<PathBuf, String> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("rdpshim-keyring-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A zombie (state Z) counts as gone.
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
            .unwrap_or(false)
    }

    #[test]
    fn starts_owns_the_name_and_cleans_up() {
        if !require_keyring() {
            return;
        }
        let t = Instant::now();
        let ss = SecretService::start().unwrap_or_else(|e| panic!("{e}"));
        eprintln!("Secret Service up in {:?} at {}", t.elapsed(), ss.address());
        assert!(ss.has_owner().unwrap());
        let env = ss.env();
        assert!(env
            .iter()
            .any(|(k, v)| k == "DBUS_SESSION_BUS_ADDRESS" && v == ss.address()));
        for var in ["HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"] {
            let (_, v) = env.iter().find(|(k, _)| k == var).expect(var);
            assert!(v.starts_with(&*ss.dir().to_string_lossy()), "{var}={v}");
        }
        let pids = ss.pids();
        assert_eq!(pids.len(), 2);
        assert!(pids.iter().all(|&p| alive(p)));
        let dir = ss.dir().to_path_buf();
        let address = ss.address().to_string();
        drop(ss);
        for pid in pids {
            assert!(!alive(pid), "pid {pid} still running after drop");
        }
        assert!(
            name_has_owner(&address, SECRETS_NAME).is_err(),
            "bus still up"
        );
        if std::env::var_os("RDPSHIM_KEYRING_KEEP").is_none() {
            assert!(!dir.exists(), "{} not removed", dir.display());
        }
    }

    #[test]
    fn two_at_once_are_independent() {
        if !require_keyring() {
            return;
        }
        let a = SecretService::start().unwrap_or_else(|e| panic!("{e}"));
        let b = SecretService::start().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.address(), b.address());
        assert_ne!(a.dir(), b.dir());
        drop(a);
        assert!(b.has_owner().unwrap());
    }

    #[test]
    fn bus_only_and_no_login_keyring_modes() {
        if !require_keyring() {
            return;
        }
        let bus = SecretService::start_with(Mode::BusOnly).unwrap_or_else(|e| panic!("{e}"));
        assert!(!bus.has_owner().unwrap());
        assert_eq!(bus.pids().len(), 1);
        let locked =
            SecretService::start_with(Mode::NoLoginKeyring).unwrap_or_else(|e| panic!("{e}"));
        assert!(locked.has_owner().unwrap());
        assert_eq!(locked.pids().len(), 2);
    }
}
