//! Lab harness: start real (and deliberately broken) RDP servers for tests.
//!
//! Each [`LabServer`] runs `tests/lab/lab.sh start KIND PORT DIR` in a private temporary
//! directory and stops everything again (by process group, plus any network namespace and
//! iptables rules) when dropped. Needs root (mount and network namespaces) and the packages
//! from `tests/lab/install-deps.sh`.
//!
//! ```no_run
//! let server = rdpshim_lab::LabServer::start("xrdp-modern").unwrap();
//! let target = server.addr(); // "127.0.0.1:PORT"
//! # drop(target);
//! ```

pub mod delay;
pub mod fs_snapshot;
pub mod keyring;
pub mod mutate;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Every kind `lab.sh` knows, in the order `lab.sh kinds` lists them.
pub const KINDS: &[&str] = &[
    "xrdp-modern",
    "xrdp-tls10",
    "xrdp-aes128sha",
    "xrdp-expired",
    "xrdp-rdp-only",
    "shadow-nla",
    "shadow-tls",
    "closer",
    "staller",
    "staller-tls",
    "ipv6-first",
    "netns-drop",
    "netns-reject",
    "win-reset",
    "win-reset-ssl",
    "http",
    "tls-plain",
    "xrdp-negotiate",
    "xrdp-rdp-low",
    "xrdp-rdp-fips",
    "selects-tls",
];

/// Ports are drawn from below the kernel's ephemeral range (32768-60999 by default), so an
/// outgoing connection cannot grab a port between allocation and the server's bind. The
/// range is smaller than 16384, so the netns kinds' /30 (derived from port % 16384) is
/// unique per port as well.
const PORT_LO: u16 = 20000;
const PORT_HI: u16 = 32000;

/// One running lab server. Dropping it stops the server and removes its directory
/// (set `RDPSHIM_LAB_KEEP=1` to keep the directory with its logs).
#[derive(Debug)]
pub struct LabServer {
    /// The kind, as given to [`LabServer::start`].
    pub kind: String,
    /// What a client should dial (127.0.0.1, or the namespace address for netns kinds).
    pub host: String,
    pub port: u16,
    /// Lab credentials where the server needs them (shadow-nla), else empty.
    pub user: String,
    pub password: String,
    /// ipv6-first: the name that resolves to ::1 first inside [`LabServer::command`].
    pub name: Option<String>,
    /// ipv6-first: the hosts file to bind-mount over /etc/hosts (see `with-hosts.sh`).
    pub hosts_file: Option<PathBuf>,
    /// Every key=value pair `lab.sh start` printed (also e.g. `display`, `netns`).
    pub fields: BTreeMap<String, String>,
    dir: PathBuf,
    stopped: bool,
    /// Held while the server runs; `None` only after [`LabServer::replace`] took it over.
    port_lease: Option<PortLease>,
}

impl LabServer {
    /// Start a server of `kind` on a fresh port in a fresh temporary directory and wait until
    /// it accepts connections. On failure the error holds `lab.sh`'s stderr (why it failed,
    /// the tail of the server log).
    pub fn start(kind: &str) -> Result<LabServer, String> {
        Self::start_with_files(kind, &[])
    }

    /// [`LabServer::start`] with `files` (name, contents) written into the server's
    /// directory first: `xrdp-given-cert` takes its `cert.pem` and `key.pem` from there.
    pub fn start_with_files(kind: &str, files: &[(&str, &[u8])]) -> Result<LabServer, String> {
        gc_once();
        let dir = fresh_dir(kind)?;
        for (name, contents) in files {
            let path = dir.join(name);
            fs::write(&path, contents)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Self::start_in(kind, PortLease::allocate()?, dir)
    }

    /// Stop this server and start a server of `kind` on the same port: the same `host:port`
    /// reconfigured (TLS 1.0 turned off, NLA turned on), for tests that compare a server
    /// with its earlier self. The port stays leased throughout.
    pub fn replace(mut self, kind: &str) -> Result<LabServer, String> {
        self.stop_inner()?;
        let lease = self
            .port_lease
            .take()
            .ok_or_else(|| "the server holds no port lease".to_owned())?;
        Self::start_in(kind, lease, fresh_dir(kind)?)
    }

    fn start_in(kind: &str, lease: PortLease, dir: PathBuf) -> Result<LabServer, String> {
        let out = Command::new(lab_script())
            .arg("start")
            .arg(kind)
            .arg(lease.port.to_string())
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", lab_script().display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            // lab.sh cleans up after a failed start; stop again anyway (idempotent).
            let _ = Command::new(lab_script()).arg("stop").arg(&dir).output();
            if std::env::var_os("RDPSHIM_LAB_KEEP").is_none() {
                let _ = fs::remove_dir_all(&dir);
            }
            return Err(format!(
                "lab.sh start {kind} {} {} failed ({}):\n{}{}",
                lease.port,
                dir.display(),
                out.status,
                stderr.trim_end(),
                if stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nstdout: {}", stdout.trim_end())
                }
            ));
        }
        let line = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let fields = parse_fields(line);
        let mut server = LabServer {
            kind: kind.to_string(),
            host: String::new(),
            port: lease.port,
            user: String::new(),
            password: String::new(),
            name: None,
            hosts_file: None,
            fields,
            dir,
            stopped: false,
            port_lease: Some(lease),
        };
        let get = |k: &str| server.fields.get(k).cloned();
        let (host, port, user, password, name, hosts) = (
            get("host"),
            get("port"),
            get("user"),
            get("password"),
            get("name"),
            get("hosts"),
        );
        server.host = match host {
            Some(h) if !h.is_empty() => h,
            _ => return Err(format!("lab.sh start {kind}: no host= in {line:?}")),
        };
        if port.as_deref() != Some(server.port.to_string().as_str()) {
            return Err(format!("lab.sh start {kind}: port= mismatch in {line:?}"));
        }
        server.user = user.unwrap_or_default();
        server.password = password.unwrap_or_default();
        server.name = name.filter(|s| !s.is_empty());
        server.hosts_file = hosts.filter(|s| !s.is_empty()).map(PathBuf::from);
        Ok(server)
    }

    /// `host:port`, ready for `TcpStream::connect` or a client's command line.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// What a client under test should dial: `name:port` for ipv6-first (run the client
    /// via [`LabServer::command`] so the name resolves), else [`LabServer::addr`].
    pub fn dial_addr(&self) -> String {
        match &self.name {
            Some(n) => format!("{n}:{}", self.port),
            None => self.addr(),
        }
    }

    /// A command running `program`; for ipv6-first it runs under `with-hosts.sh HOSTS` so
    /// [`LabServer::name`] resolves to ::1 first, then 127.0.0.1.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        match &self.hosts_file {
            Some(hosts) => {
                let mut c = Command::new(with_hosts_script());
                c.arg(hosts).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// The server's private directory (configs, certificates, logs, `pids`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Contents of the server's log files (`DIR/*.log`), for test failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<_> = fs::read_dir(&self.dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for p in entries {
            if p.extension() == Some(OsStr::new("log")) {
                let text = fs::read_to_string(&p).unwrap_or_default();
                out.push_str(&format!("---- {}\n{text}", p.display()));
            }
        }
        out
    }

    /// The processes started for this server: (role, pid, start time) from `DIR/pids`.
    pub fn processes(&self) -> Vec<(String, u32, u64)> {
        let text = fs::read_to_string(self.dir.join("pids"))
            .or_else(|_| fs::read_to_string(self.dir.join("pids.stopped")))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((
                    it.next()?.to_string(),
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                ))
            })
            .collect()
    }

    /// Stop now and report failure (dropping stops too, but ignores errors).
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let out = Command::new(lab_script())
            .arg("stop")
            .arg(&self.dir)
            .output()
            .map_err(|e| format!("cannot run lab.sh stop: {e}"))?;
        let result = if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "lab.sh stop {} failed ({}): {}",
                self.dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ))
        };
        if std::env::var_os("RDPSHIM_LAB_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        result
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            eprintln!("rdpshim-lab: {e}");
        }
    }
}

/// Absolute path of `tests/lab/lab.sh`.
pub fn lab_script() -> PathBuf {
    lab_dir().join("lab.sh")
}

/// Absolute path of `tests/lab/with-hosts.sh` (`with-hosts.sh HOSTSFILE CMD...`).
pub fn with_hosts_script() -> PathBuf {
    lab_dir().join("with-hosts.sh")
}

/// `tests/lab/`, beside this crate's folder (`tests/harness/`).
fn lab_dir() -> PathBuf {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.parent().unwrap_or(harness).join("lab")
}

/// Set by CI (`.ci/run`): a test whose lab cannot run here fails instead of skipping, so a
/// green run means every lab test ran.
pub const REQUIRED_ENV: &str = "RDPSHIM_LAB_REQUIRED";

/// Whether a test that needs `what` can run here. `Ok` from `check`: yes. Otherwise the
/// test skips, saying why on stderr (`false`), or fails when [`REQUIRED_ENV`] is set.
pub fn may_run(what: &str, check: Result<(), String>) -> bool {
    // libtest names each test's thread after the test.
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    match check {
        Ok(()) => true,
        Err(why) if std::env::var_os(REQUIRED_ENV).is_some() => {
            panic!("{test}: {what} cannot run here and {REQUIRED_ENV} is set: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {what} cannot run here: {why}");
            false
        }
    }
}

/// [`may_run`] for the lab of real servers ([`lab_check`], evaluated once per process).
pub fn lab_may_run() -> bool {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    may_run("the lab", CHECK.get_or_init(lab_check).clone())
}

/// Why the lab cannot run here (not root, a tool missing), or Ok.
pub fn lab_check() -> Result<(), String> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (mount and network namespaces)".to_string());
    }
    for tool in [
        "xrdp",
        "freerdp-shadow-cli",
        "winpr-hash",
        "Xvfb",
        "openssl",
        "python3",
        "ip",
        "iptables",
        "unshare",
        "setsid",
        "flock",
        "ss",
    ] {
        if !on_path(tool) {
            missing.push(tool.to_string());
        }
    }
    if !Path::new("/etc/xrdp/rsakeys.ini").exists() {
        missing.push("/etc/xrdp/rsakeys.ini".to_string());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "lab unavailable, missing: {} (run tests/lab/install-deps.sh as root)",
            missing.join(", ")
        ))
    }
}

fn is_root() -> bool {
    // The owner of /proc/self is the process's effective uid.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .any(|d| d.join(tool).is_file())
}

/// Parse `k=v k=v ...` (values never contain whitespace; an empty value is allowed).
pub fn parse_fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Once per process: stop labs left behind by test processes that died without dropping
/// their [`LabServer`]s (`lab.sh gc`, keyed on the pid in the directory name).
fn gc_once() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = Command::new(lab_script())
            .arg("gc")
            .arg(std::env::temp_dir())
            .status();
    });
}

fn fresh_dir(kind: &str) -> Result<PathBuf, String> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("rdpshim-lab-{}-{n}-{kind}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
}

/// A port reserved for this process (in-process set) and against other processes (an
/// exclusive lock on `$TMPDIR/rdpshim-lab-ports/PORT.lock`, released on drop or exit).
#[derive(Debug)]
pub struct PortLease {
    pub port: u16,
    _lock: File,
}

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static SET: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

impl PortLease {
    /// Reserve a port that is free on 127.0.0.1 and ::1 right now.
    pub fn allocate() -> Result<PortLease, String> {
        let lock_dir = std::env::temp_dir().join("rdpshim-lab-ports");
        fs::create_dir_all(&lock_dir)
            .map_err(|e| format!("cannot create {}: {e}", lock_dir.display()))?;
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let mut seed = hasher.finish();
        let span = u64::from(PORT_HI - PORT_LO);
        for _ in 0..500 {
            // xorshift64: a new candidate each round.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let port = PORT_LO + (seed % span) as u16;
            let mut set = handed_out().lock().unwrap_or_else(|p| p.into_inner());
            if set.contains(&port) {
                continue;
            }
            let file = match OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_dir.join(format!("{port}.lock")))
            {
                Ok(f) => f,
                Err(_) => continue,
            };
            if file.try_lock().is_err() {
                continue; // another process holds it
            }
            if !port_is_free(port) {
                continue;
            }
            set.insert(port);
            return Ok(PortLease { port, _lock: file });
        }
        Err(format!(
            "no free port in {PORT_LO}..{PORT_HI} after 500 tries"
        ))
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        handed_out()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.port);
    }
}

fn port_is_free(port: u16) -> bool {
    let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
    // ::1 may be unavailable (no IPv6); only a port in use there counts against it.
    v4.is_ok() && !matches!(&v6, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::{Duration, Instant};

    fn require_lab() -> bool {
        lab_may_run()
    }

    fn connect(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
        let sa = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?;
        TcpStream::connect_timeout(&sa, timeout)
    }

    /// Is the recorded process gone (or a zombie, or a pid reused by another process)?
    fn process_gone(pid: u32, starttime: u64) -> bool {
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return true;
        };
        let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.first() == Some(&"Z") || f.get(19).and_then(|s| s.parse::<u64>().ok()) != Some(starttime)
    }

    fn netns_exists(name: &str) -> bool {
        Path::new("/run/netns").join(name).exists()
    }

    #[test]
    fn lab_script_exists() {
        assert!(lab_script().is_absolute());
        assert!(lab_script().is_file(), "{}", lab_script().display());
        assert!(with_hosts_script().is_file());
    }

    #[test]
    fn kinds_match_lab_sh() {
        let out = Command::new(lab_script()).arg("kinds").output().unwrap();
        assert!(out.status.success());
        let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        assert_eq!(listed, KINDS);
    }

    #[test]
    fn parses_key_value_line() {
        let f = parse_fields(
            "kind=shadow-nla host=127.0.0.1 port=2 user=labuser password=Lab-Passw0rd! pidfile=/t/pids x=",
        );
        assert_eq!(f["kind"], "shadow-nla");
        assert_eq!(f["password"], "Lab-Passw0rd!");
        assert_eq!(f["x"], "");
        assert_eq!(f.len(), 7);
    }

    #[test]
    fn ports_are_distinct_and_released() {
        let leases: Vec<PortLease> = (0..50).map(|_| PortLease::allocate().unwrap()).collect();
        let set: HashSet<u16> = leases.iter().map(|l| l.port).collect();
        assert_eq!(set.len(), leases.len());
        let first = leases[0].port;
        drop(leases);
        assert!(!handed_out().lock().unwrap().contains(&first));
    }

    #[test]
    fn failed_start_says_why() {
        if !require_lab() {
            return;
        }
        let err = LabServer::start("no-such-kind").unwrap_err();
        assert!(err.contains("unknown kind"), "{err}");
    }

    /// Start every kind at once (this also exercises parallel xrdp instances), check each
    /// accepts TCP (netns-drop: connect times out, netns-reject: refused at once), then stop
    /// and check that no process, namespace or veth is left behind.
    #[test]
    fn every_kind_starts_and_stops() {
        if !require_lab() {
            return;
        }
        let handles: Vec<_> = KINDS
            .iter()
            .map(|k| {
                std::thread::spawn(move || {
                    let t = Instant::now();
                    (k, LabServer::start(k), t.elapsed())
                })
            })
            .collect();
        let mut servers = Vec::new();
        let mut failures = Vec::new();
        for h in handles {
            let (kind, result, took) = h.join().unwrap();
            match result {
                Ok(s) => {
                    eprintln!("{kind}: started in {took:?} at {}", s.addr());
                    servers.push(s);
                }
                Err(e) => failures.push(format!("{kind}: {e}")),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));

        for s in &servers {
            let res = connect(&s.addr(), Duration::from_secs(2));
            match s.kind.as_str() {
                "netns-drop" => {
                    let e = res.expect_err("netns-drop accepted a connection");
                    assert!(
                        matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
                        "netns-drop: {e:?}"
                    );
                }
                "netns-reject" => {
                    let t = Instant::now();
                    let e = connect(&s.addr(), Duration::from_secs(2)).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "netns-reject");
                    assert!(t.elapsed() < Duration::from_secs(1));
                }
                _ => {
                    res.unwrap_or_else(|e| panic!("{}: {e}\n{}", s.kind, s.logs()));
                }
            }
            if s.kind == "shadow-nla" {
                assert_eq!(s.user, "labuser");
                assert!(!s.password.is_empty());
            }
            if s.kind.starts_with("netns-") {
                let ns = s.fields.get("netns").expect("netns= field");
                assert!(netns_exists(ns), "{ns} missing while running");
            }
            if s.kind == "ipv6-first" {
                let name = s.name.clone().expect("name=");
                assert!(s.hosts_file.as_ref().is_some_and(|h| h.is_file()));
                let e = connect(&format!("[::1]:{}", s.port), Duration::from_secs(2)).unwrap_err();
                assert_eq!(
                    e.kind(),
                    ErrorKind::ConnectionRefused,
                    "[::1] must be refused"
                );
                let out = s
                    .command("getent")
                    .arg("ahosts")
                    .arg(&name)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(text.starts_with("::1 "), "getent ahosts {name}: {text}");
                assert!(text.contains("127.0.0.1 "), "getent ahosts {name}: {text}");
                assert_eq!(s.dial_addr(), format!("{name}:{}", s.port));
            }
        }

        let mut leftovers = Vec::new();
        for s in servers {
            let kind = s.kind.clone();
            let procs = s.processes();
            assert!(!procs.is_empty(), "{kind}: no pids recorded");
            let netns = s.fields.get("netns").cloned();
            let dir = s.dir().to_path_buf();
            s.stop().unwrap_or_else(|e| panic!("{kind}: {e}"));
            for (role, pid, st) in procs {
                if !process_gone(pid, st) {
                    leftovers.push(format!("{kind}: {role} pid {pid} still running"));
                }
            }
            if let Some(ns) = netns {
                if netns_exists(&ns) {
                    leftovers.push(format!("{kind}: netns {ns} left"));
                }
                let veth = format!("/sys/class/net/rdps{}h", ns.trim_start_matches("rdpshim-"));
                if Path::new(&veth).exists() {
                    leftovers.push(format!("{kind}: {veth} left"));
                }
            }
            if std::env::var_os("RDPSHIM_LAB_KEEP").is_none() && dir.exists() {
                leftovers.push(format!("{kind}: {} not removed", dir.display()));
            }
        }
        assert!(leftovers.is_empty(), "{}", leftovers.join("\n"));
    }
}
