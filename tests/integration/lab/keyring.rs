//! `secret::store::os_store` against a real, private Secret Service (gnome-keyring on its
//! own D-Bus bus, from `rdpshim_lab::keyring`), and against no session bus at all.
//!
//! The environment is process-global and tests run in parallel threads, so the store is
//! never used in this process: each test re-runs this test binary as a child (`--exact
//! keyring::child` with `RDPSHIM_KEYRING_CHILD=1`) with the environment it wants, feeds it
//! a script on stdin and reads one result line per step. Where gnome-keyring is not
//! installed the tests skip, saying so (fail under `RDPSHIM_LAB_REQUIRED`).

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdpshim::secret::store::{os_store, SecretStore, PROBE_SERVICE, SERVICE};
use rdpshim::secret::Password;
use rdpshim_lab::keyring::{require_keyring, Mode, SecretService};

const CHILD_VAR: &str = "RDPSHIM_KEYRING_CHILD";
const TRACE_VAR: &str = "RDPSHIM_KEYRING_CHILD_TRACE";
const PREFIX: &str = "KEYRING-CHILD ";

// ---------------------------------------------------------------------------------------
// The child: runs a script of store calls and prints one `KEYRING-CHILD ...` line per step.
// In a normal run (no RDPSHIM_KEYRING_CHILD) it does nothing and passes.
// ---------------------------------------------------------------------------------------

#[test]
fn child() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    if std::env::var_os(TRACE_VAR).is_some() {
        // Everything at TRACE (zbus, keyring-core's `log` records too) to stderr.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let mut store: Option<Box<dyn SecretStore>> = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let out = match (words.as_slice(), &store) {
            (["open"], _) => {
                let started = Instant::now();
                let result = os_store();
                let ms = started.elapsed().as_millis();
                match result {
                    Ok(s) => {
                        let out = format!("open ok ms={ms} store={}", s.describe());
                        store = Some(s);
                        out
                    }
                    Err(e) => format!("open unavailable ms={ms} kind={:?} msg={e}", e.kind()),
                }
            }
            (_, None) => "skipped (no store)".to_string(),
            (["set", user, host, password], Some(s)) => {
                match s.set(user, host, &Password::new(*password)) {
                    Ok(()) => "set ok".to_string(),
                    Err(e) => format!("set error {e}"),
                }
            }
            (["get", user, host, expected], Some(s)) => match s.get(user, host) {
                Ok(None) => "get none".to_string(),
                Ok(Some(p)) if p.expose() == *expected => "get same".to_string(),
                Ok(Some(_)) => "get different".to_string(),
                Err(e) => format!("get error {e}"),
            },
            (["delete", user, host], Some(s)) => match s.delete(user, host) {
                Ok(()) => "delete ok".to_string(),
                Err(e) => format!("delete error {e}"),
            },
            // How the entries look to other Secret Service clients (the documented layout).
            (["layout", service, account], Some(_)) => layout(service, account),
            _ => format!("bad step {line:?}"),
        };
        // libtest may have printed `test child ... ` without a newline: start a fresh line.
        println!("\n{PREFIX}{out}");
    }
}

/// `count=N attrs=k=v,k=v` for the items with `service` and `username` = `account`
/// (`*`: any username).
#[cfg(target_os = "linux")]
fn layout(service: &str, account: &str) -> String {
    use keyring_core::api::CredentialStoreApi as _;
    use std::collections::HashMap;
    let store = zbus_secret_service_keyring_store::Store::new().unwrap();
    let mut spec = HashMap::from([("service", service)]);
    if account != "*" {
        spec.insert("username", account);
    }
    let found = store.search(&spec).unwrap();
    let mut attrs: Vec<String> = match found.first() {
        Some(entry) => entry
            .get_attributes()
            .unwrap()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        None => Vec::new(),
    };
    attrs.sort();
    format!("layout count={} attrs={}", found.len(), attrs.join(","))
}

#[cfg(not(target_os = "linux"))]
fn layout(_service: &str, _account: &str) -> String {
    "layout unsupported".to_string()
}

// ---------------------------------------------------------------------------------------
// The parent side.
// ---------------------------------------------------------------------------------------

struct ChildRun {
    lines: Vec<String>,
    wall: Duration,
    stderr: String,
}

/// Runs the script in a child with exactly `env` (plus PATH), working in `cwd`.
fn run_child(env: &[(String, String)], cwd: &Path, script: &[String]) -> ChildRun {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "keyring::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().cloned())
        .env(CHILD_VAR, "1")
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for step in script {
        writeln!(stdin, "{step}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_once(PREFIX).map(|(_, rest)| rest.to_string()))
        .collect();
    assert_eq!(
        lines.len(),
        script.len(),
        "one result per step:\n{stdout}\n{stderr}"
    );
    ChildRun {
        lines,
        wall,
        stderr,
    }
}

/// A password unique to this run, with non-ASCII characters and no whitespace.
fn fresh_password(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("Pw-{tag}-{}-{nanos}-Grüße-€", std::process::id())
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(path);
            }
        }
    }
    hits
}

/// Every file under `dir`.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn steps(script: &[&str]) -> Vec<String> {
    script.iter().map(|s| s.to_string()).collect()
}

fn check(run: &ChildRun, expected: &[&str]) {
    for (i, (got, want)) in run.lines.iter().zip(expected).enumerate() {
        assert!(
            got.starts_with(want),
            "step {i}: expected `{want}...`, got `{got}`\nall: {:#?}\nstderr: {}",
            run.lines,
            run.stderr
        );
    }
}

#[test]
fn set_get_delete_through_a_real_secret_service() {
    if !require_keyring() {
        return;
    }
    let ss = SecretService::start().unwrap_or_else(|e| panic!("{e}"));
    let pw1 = fresh_password("one");
    let pw2 = fresh_password("two");
    let cwd = ss.home();
    let mut env = ss.env();
    env.push((TRACE_VAR.to_string(), "1".to_string()));

    // First process: store it.
    let first = run_child(
        &env,
        &cwd,
        &[
            "open".to_string(),
            "get alice srv1.example x".to_string(),
            format!("set alice srv1.example {pw1}"),
            format!("get alice srv1.example {pw1}"),
            "get bob srv1.example x".to_string(),
            "get alice srv2.example x".to_string(),
            format!("layout {SERVICE} alice@srv1.example"),
            format!("layout {PROBE_SERVICE} *"),
        ],
    );
    check(
        &first,
        &[
            "open ok",
            "get none",
            "set ok",
            "get same",
            "get none",
            "get none",
            "layout count=1 ",
            "layout count=0",
        ],
    );
    assert!(
        first.lines[0].ends_with("store=Secret Service"),
        "{:?}",
        first.lines
    );
    let layout = &first.lines[6];
    assert!(
        layout.contains("service=rdpshim") && layout.contains("username=alice@srv1.example"),
        "{layout}"
    );
    eprintln!("first child: {:?} in {:?}", first.lines, first.wall);

    // Second process: it is still there; replace it (host case-insensitive), then delete.
    let second = run_child(
        &env,
        &cwd,
        &[
            "open".to_string(),
            format!("get alice srv1.example {pw1}"),
            format!("set alice SRV1.Example {pw2}"),
            format!("get alice srv1.example {pw2}"),
            format!("layout {SERVICE} alice@srv1.example"),
            "delete alice srv1.example".to_string(),
            "get alice srv1.example x".to_string(),
            "delete alice srv1.example".to_string(),
            format!("layout {SERVICE} alice@srv1.example"),
        ],
    );
    check(
        &second,
        &[
            "open ok",
            "get same",
            "set ok",
            "get same",
            "layout count=1 ",
            "delete ok",
            "get none",
            "delete ok",
            "layout count=0",
        ],
    );

    // Logged at TRACE (zbus messages, keyring-core's records), the password never shows.
    for run in [&first, &second] {
        assert!(
            run.stderr.contains("TRACE") && run.stderr.contains("alice@srv1.example"),
            "tracing must actually log something for this to mean anything:\n{}",
            run.stderr
        );
        for pw in [&pw1, &pw2] {
            assert!(!run.stderr.contains(pw.as_str()), "password in the log");
        }
    }

    // The keyring file is encrypted with the unlock password: no clear text anywhere.
    for pw in [&pw1, &pw2] {
        let hits = files_containing(ss.dir(), pw);
        assert!(hits.is_empty(), "password in clear text in {hits:?}");
    }
    assert!(
        ss.data_home().join("keyrings").is_dir(),
        "gnome-keyring kept its keyrings elsewhere:\n{}",
        ss.logs()
    );
}

#[test]
fn no_session_bus_is_unavailable_quickly_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!(
        "rdpshim-keyring-nobus-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let _cleanup = RemoveOnDrop(dir.clone());
    let home = dir.join("home");
    let runtime = dir.join("runtime");
    for d in [&home, &runtime, &dir.join("data"), &dir.join("config")] {
        std::fs::create_dir_all(d).unwrap();
    }
    let password = fresh_password("nobus");
    let base: Vec<(String, String)> = [
        ("HOME", home.clone()),
        ("XDG_RUNTIME_DIR", runtime.clone()),
        ("XDG_DATA_HOME", dir.join("data")),
        ("XDG_CONFIG_HOME", dir.join("config")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.display().to_string()))
    .collect();

    // A bus address pointing at a socket that does not exist, and no address at all
    // (zbus then tries $XDG_RUNTIME_DIR/bus, which does not exist either).
    let stale = format!("unix:path={}", dir.join("no-such-bus").display());
    let mut with_stale = base.clone();
    with_stale.push(("DBUS_SESSION_BUS_ADDRESS".to_string(), stale.clone()));
    for (name, env) in [("stale address", with_stale), ("no address", base)] {
        let run = run_child(
            &env,
            &home,
            &[
                "open".to_string(),
                format!("set alice srv1.example {password}"),
            ],
        );
        check(&run, &["open unavailable", "skipped"]);
        let open = &run.lines[0];
        eprintln!("{name}: {open} (child ran {:?})", run.wall);
        assert!(open.contains("kind=NoSessionBus"), "{name}: {open}");
        assert!(open.contains("no D-Bus session bus"), "{name}: {open}");
        let ms: u64 = open
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ms="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms < 5000, "{name}: os_store took {ms} ms");
        assert!(
            run.wall < Duration::from_secs(5),
            "{name}: child ran {:?}",
            run.wall
        );
        if name == "stale address" {
            assert!(
                open.contains("no-such-bus"),
                "the reason names the address: {open}"
            );
        }
    }
    // No fallback: nothing at all was written under the private HOME and XDG dirs.
    let written = all_files(&dir);
    assert!(written.is_empty(), "files written: {written:?}");
    assert!(files_containing(&dir, &password).is_empty());
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bus_without_secret_service_is_unavailable() {
    if !require_keyring() {
        return;
    }
    let bus = SecretService::start_with(Mode::BusOnly).unwrap_or_else(|e| panic!("{e}"));
    let run = run_child(&bus.env(), &bus.home(), &steps(&["open"]));
    let open = &run.lines[0];
    eprintln!("{open} (child ran {:?})", run.wall);
    assert!(open.starts_with("open unavailable"), "{open}");
    assert!(open.contains("kind=NoService"), "{open}");
    assert!(
        open.contains("nothing provides it on the session bus"),
        "{open}"
    );
    assert!(run.wall < Duration::from_secs(5), "{:?}", run.wall);
}

/// The Secret Service answers (the store constructs fine) but has no unlocked default
/// collection: only the probe's test write finds out, and it fails at once (no prompter).
#[test]
fn service_that_cannot_write_fails_the_probe() {
    if !require_keyring() {
        return;
    }
    let ss = SecretService::start_with(Mode::NoLoginKeyring).unwrap_or_else(|e| panic!("{e}"));
    let password = fresh_password("locked");
    let run = run_child(
        &ss.env(),
        &ss.home(),
        &[
            "open".to_string(),
            format!("set alice srv1.example {password}"),
        ],
    );
    check(&run, &["open unavailable", "skipped"]);
    let open = &run.lines[0];
    eprintln!("{open} (child ran {:?})", run.wall);
    assert!(open.contains("kind=Locked"), "{open}");
    assert!(
        open.contains("is locked or has no default keyring"),
        "{open}"
    );
    assert!(run.wall < Duration::from_secs(5), "{:?}", run.wall);
    assert!(files_containing(ss.dir(), &password).is_empty());
}

// ---------------------------------------------------------------------------------------
// End to end: `rdpshim connect` saves the NLA password in the keyring and the next connect
// uses it without asking; with no keyring it says so and writes nothing.
// ---------------------------------------------------------------------------------------

#[test]
fn connect_saves_the_password_and_the_next_connect_uses_it() {
    if !require_keyring() {
        return;
    }
    let server = lab!("shadow-nla");
    let service = SecretService::start().expect("a private Secret Service");
    let config = crate::common::config_dir(&server);
    let target = server.addr();
    let rdpshim = |args: &[&str], stdin: Option<&str>| {
        let mut command = service.command(crate::common::RDPSHIM);
        command
            .args(["connect", &target, "--json", "--timeout", "5"])
            .args(args)
            .env("RDPSHIM_CONFIG_DIR", &config)
            .env_remove("RDPSHIM_NO_KEYRING")
            .env_remove("RDPSHIM_PASSWORD");
        crate::common::run(command, stdin)
    };

    let first = rdpshim(
        &["-u", &server.user, "--password-stdin"],
        Some(&format!("{}\n", server.password)),
    );
    assert_eq!(
        first.code,
        0,
        "first connect: {}\n{}",
        first.stderr,
        service.logs()
    );
    assert!(
        first.stderr.contains("saved the password"),
        "{}",
        first.stderr
    );

    // No stdin, no environment, no terminal: only the keyring can supply the password;
    // the user name comes from the profile.
    let second = rdpshim(&[], None);
    assert_eq!(
        second.code, 0,
        "second connect with the keyring's password: {}",
        second.stderr
    );
    assert!(second.stdout.contains("\"connected\":true"));
    let leaked = crate::common::files_containing(&config, &server.password);
    assert!(leaked.is_empty(), "password in profile files: {leaked:?}");
}

#[test]
fn connect_without_a_keyring_says_so_and_writes_nothing() {
    let server = lab!("shadow-nla");
    let home = server.dir().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = crate::common::config_dir(&server);
    let mut command = Command::new(crate::common::RDPSHIM);
    command
        .args(["connect", &server.addr(), "--timeout", "5"])
        .args(["-u", &server.user, "--password-stdin"])
        .env("RDPSHIM_CONFIG_DIR", &config)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &home)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-such-bus", home.display()),
        )
        .env_remove("RDPSHIM_NO_KEYRING");
    let out = crate::common::run(command, Some(&format!("{}\n", server.password)));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("passwords are not saved").count(),
        1,
        "said once: {}",
        out.stderr
    );
    for dir in [&home, &config] {
        let leaked = crate::common::files_containing(dir, &server.password);
        assert!(leaked.is_empty(), "password written to {leaked:?}");
    }
}
