//! `rdpshim open`: the ladder, then the user's own client. The real xfreerdp 2.11, on a
//! private Xvfb, against the lab's TLS 1.0-only, CBC-only and NLA servers: the client rdpshim
//! starts connects and draws the desktop (a screenshot of its window is not one flat
//! colour), and the password is in neither its argv nor its environment. Remmina (not
//! installed here) is a stand-in script that records what rdpshim handed it, or that runs
//! the real xfreerdp with what a `.remmina` file says, where `open` carries a server Remmina
//! cannot reach through the bridge.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{config_dir, LabServer, RDPSHIM};

/// A private X display (Xvfb picks a free number with `-displayfd`), stopped by its PID.
struct Display {
    xvfb: Child,
    name: String,
}

impl Display {
    fn start(dir: &Path) -> Display {
        let file = dir.join("open-display");
        let _ = std::fs::remove_file(&file);
        // `sh -c 'exec Xvfb ... 3>FILE'`: the shell becomes Xvfb (one PID to stop) and fd 3
        // carries the display number. `-noreset`: without it the server resets when its
        // last client leaves (`xfreerdp --version`, which `open` runs to read the version,
        // or an `xdotool` poll), and a client connecting during the reset fails with
        // "failed to open display" (seen once under load).
        let xvfb = Command::new("sh")
            .args([
                "-c",
                "exec Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset 3>\"$1\"",
                "xvfb",
            ])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (package xvfb)");
        // Owned (and stopped on drop) before anything can fail.
        let mut display = Display {
            xvfb,
            name: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while display.name.is_empty() {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Ok(n) = text.trim().parse::<u32>() {
                display.name = format!(":{n}");
            } else {
                assert!(Instant::now() < deadline, "Xvfb reported no display");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        display
    }

    /// Windows whose title starts with `FreeRDP:` (xfreerdp names its window so).
    fn freerdp_windows(&self) -> Vec<String> {
        let out = Command::new("xdotool")
            .args(["search", "--name", "^FreeRDP:"])
            .env("DISPLAY", &self.name)
            .output()
            .expect("xdotool (package xdotool)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// An `xwd` picture of `window`.
    fn screenshot(&self, window: &str) -> Vec<u8> {
        Command::new("xwd")
            .args(["-silent", "-id", window])
            .env("DISPLAY", &self.name)
            .output()
            .expect("xwd (package x11-apps)")
            .stdout
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// Distinct colours in an XWD image (ZPixmap, 24/32 bits per pixel), up to 1000.
fn distinct_colours(xwd: &[u8]) -> usize {
    let field = |i: usize| -> usize {
        xwd.get(i * 4..i * 4 + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (header, width, height) = (field(0), field(4), field(5));
    let (bits_per_pixel, bytes_per_line, colours) = (field(11), field(12), field(19));
    if bits_per_pixel != 32 || width == 0 {
        return 0;
    }
    let start = header + colours * 12;
    let mut seen = std::collections::HashSet::new();
    for y in 0..height {
        let Some(row) = xwd.get(start + y * bytes_per_line..start + y * bytes_per_line + width * 4)
        else {
            break;
        };
        for pixel in row.chunks_exact(4) {
            seen.insert([pixel[0], pixel[1], pixel[2]]);
        }
        if seen.len() >= 1000 {
            break;
        }
    }
    seen.len()
}

/// The PIDs of `parent`'s children named `name` that were given a server (`/v:`): not the
/// `xfreerdp --version` rdpshim runs to learn the version.
fn children(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
        else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let connects = cmdline.split(|b| *b == 0).any(|a| a.starts_with(b"/v:"));
        if ppid == Some(parent) && comm == name && connects {
            found.push(pid);
        }
    }
    found
}

/// `rdpshim open` running, and the client it started (stopped by PID when dropped).
struct Opened {
    rdpshim: Child,
    client: Option<u32>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Opened {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Ends the client, then waits for rdpshim (which waits for the client): its status.
    fn finish(&mut self) -> Option<i32> {
        if let Some(pid) = self.client.take() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.rdpshim.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(pid) = self.client {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.rdpshim.kill();
        let _ = self.rdpshim.wait();
    }
}

/// Starts `rdpshim open TARGET ARGS...` on `display`, feeding `stdin`, with `env` added.
fn open(
    server: &LabServer,
    display: &Display,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Opened {
    let home = server.dir().join("open-home");
    std::fs::create_dir_all(&home).unwrap();
    let stderr = server.dir().join("open.stderr");
    let stdout = server.dir().join("open.stdout");
    let mut command = server.command(RDPSHIM);
    command
        .args(["open", &server.dial_addr()])
        .args(args)
        .env_remove("RDPSHIM_PASSWORD")
        .env("DISPLAY", &display.name)
        .env("HOME", &home)
        .env("RDPSHIM_CONFIG_DIR", config_dir(server))
        .env("RDPSHIM_NO_KEYRING", "1")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut rdpshim = command.spawn().expect("spawn rdpshim");
    if let Some(input) = stdin {
        let mut pipe = rdpshim.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    let mut opened = Opened {
        rdpshim,
        client: None,
        stdout,
        stderr,
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while opened.client.is_none() {
        opened.client = children(opened.rdpshim.id(), "xfreerdp").first().copied();
        if let Ok(Some(status)) = opened.rdpshim.try_wait() {
            panic!(
                "rdpshim open exited ({status}) without a client:\n{}",
                opened.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no xfreerdp started:\n{}",
            opened.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    opened
}

/// Waits until the client's window shows a desktop (more than 16 colours); returns the
/// colour count.
fn desktop_drawn(display: &Display, opened: &Opened) -> usize {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut best = 0;
    loop {
        for window in display.freerdp_windows() {
            best = best.max(distinct_colours(&display.screenshot(&window)));
        }
        if best > 16 {
            return best;
        }
        assert!(
            Instant::now() < deadline,
            "the client's window never showed a desktop (at most {best} colours):\n{}",
            opened.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `/proc/PID/cmdline` (arguments) and `/proc/PID/environ` (variables), NUL-separated.
fn argv_and_environment(pid: u32) -> (Vec<String>, Vec<String>) {
    let split = |bytes: Vec<u8>| -> Vec<String> {
        bytes
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    };
    (
        split(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()),
        split(std::fs::read(format!("/proc/{pid}/environ")).unwrap()),
    )
}

/// Opens `kind` with xfreerdp and checks the window, the command line and the environment.
fn opens_and_draws(kind: &str, expected: &[&str], login: Login) {
    let server = lab!(kind);
    let display = Display::start(server.dir());
    let password_line = format!("{}\n", server.password);
    let (args, stdin, env): (Vec<&str>, Option<&str>, Vec<(&str, &str)>) = match login {
        // No --client: the first client installed (xfreerdp, the only one here).
        Login::None if kind == "xrdp-tls10" => (vec![], None, vec![]),
        Login::None => (vec!["--client", "xfreerdp"], None, vec![]),
        Login::Stdin => (
            vec![
                "--client",
                "xfreerdp",
                "-u",
                &server.user,
                "--password-stdin",
            ],
            Some(&password_line),
            vec![],
        ),
        Login::Environment => (
            vec!["--client", "/usr/bin/xfreerdp", "-u", &server.user],
            None,
            vec![("RDPSHIM_PASSWORD", server.password.as_str())],
        ),
    };
    let mut opened = open(&server, &display, &args, stdin, &env);
    let colours = desktop_drawn(&display, &opened);
    let client = opened.client.unwrap();
    let (argv, environment) = argv_and_environment(client);
    let stderr = opened.stderr();
    assert!(stderr.contains("xfreerdp (FreeRDP 2): "), "{stderr}");
    for option in expected {
        assert!(argv.iter().any(|a| a == option), "{option} in {argv:?}");
    }
    assert!(
        argv.iter()
            .any(|a| a.starts_with("/cert:deny,fingerprint:sha256:")),
        "the pin from the run: {argv:?}"
    );
    if login != Login::None {
        let password = &server.password;
        assert!(
            !argv.iter().any(|a| a.contains(password.as_str())),
            "password in argv: {argv:?}"
        );
        assert!(
            !environment.iter().any(|v| v.contains(password.as_str())),
            "password in the client's environment"
        );
        assert!(argv.contains(&"/from-stdin:force".to_owned()), "{argv:?}");
        assert!(argv.contains(&format!("/u:{}", server.user)), "{argv:?}");
        assert!(!stderr.contains(password.as_str()));
    }
    eprintln!("{kind}: xfreerdp drew {colours}+ colours; argv {argv:?}");
    assert!(opened.finish().is_some(), "rdpshim exits with its client");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    None,
    Stdin,
    Environment,
}

#[test]
fn open_reaches_a_tls10_only_server_with_xfreerdp() {
    opens_and_draws("xrdp-tls10", &["/sec:tls", "/tls-seclevel:0"], Login::None);
}

#[test]
fn open_reaches_a_cbc_only_server_with_xfreerdp() {
    opens_and_draws(
        "xrdp-aes128sha",
        &["/sec:tls", "/tls-seclevel:0"],
        Login::None,
    );
}

#[test]
fn open_hands_the_password_to_xfreerdp_on_stdin_never_argv() {
    opens_and_draws("shadow-nla", &["/sec:nla"], Login::Stdin);
}

#[test]
fn a_password_from_the_environment_is_not_passed_on_in_it() {
    opens_and_draws("shadow-nla", &["/sec:nla"], Login::Environment);
}

/// A directory with a stand-in `remmina` that records its arguments and the file it was
/// given, then exits with `status`.
fn fake_remmina(dir: &Path, status: i32) -> PathBuf {
    stand_in_remmina(
        &dir.join("fake-bin"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}/remmina.args'\n\
             [ \"$1\" = -c ] && /bin/cp \"$2\" '{0}/remmina.file' && \
             /usr/bin/stat -c %a \"$2\" > '{0}/remmina.mode' && \
             /usr/bin/stat -c %a \"$(dirname \"$2\")\" > '{0}/remmina.dirmode'\nexit {status}\n",
            dir.display()
        ),
    )
}

fn open_with_remmina(server: &LabServer, status: i32) -> (crate::common::Run, PathBuf) {
    let dir = server.dir().join("remmina");
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let bin = fake_remmina(&dir, status);
    let mut command = server.command(RDPSHIM);
    command
        .args(["open", &server.dial_addr(), "--client", "remmina"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("RDPSHIM_PASSWORD")
        .env("RDPSHIM_CONFIG_DIR", config_dir(server))
        .env("RDPSHIM_NO_KEYRING", "1");
    (crate::common::run(command, None), dir)
}

#[test]
fn remmina_gets_a_private_remmina_file_and_its_status_is_passed_on() {
    let server = lab!("xrdp-aes128sha");
    let (run, dir) = open_with_remmina(&server, 7);
    assert_eq!(run.code, 7, "Remmina's own status:\n{}", run.stderr);
    let args = std::fs::read_to_string(dir.join("remmina.args")).unwrap();
    let file = dir
        .join("runtime/rdpshim")
        .join(format!("open-{}_{}.remmina", server.host, server.port));
    assert_eq!(args, format!("-c\n{}\n", file.display()));
    let text = std::fs::read_to_string(dir.join("remmina.file")).unwrap();
    for line in [
        "[remmina]",
        "protocol=RDP",
        &format!("server={}", server.addr()),
        "security=tls",
        "tls-seclevel=0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    let mode = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(mode("remmina.mode").trim(), "600");
    assert_eq!(mode("remmina.dirmode").trim(), "700");
    assert!(
        run.stderr.contains("opening with Remmina"),
        "{}",
        run.stderr
    );
}

/// A stand-in Remmina on the real xfreerdp 2.11 (Remmina 1.4 is FreeRDP 2 underneath): it
/// reads the `.remmina` file as Remmina's RDP plugin does (`server`, `username`,
/// `security`, `tls-seclevel`) and connects with those settings and no others, so it
/// reaches exactly what Remmina can; the certificate it accepts as a person clicking
/// "accept" would (`/cert:ignore`). A copy of the file is kept as `remmina.file`.
fn remmina_on_xfreerdp(dir: &Path) -> PathBuf {
    stand_in_remmina(
        &dir.join("remmina-bin"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = -c ] || exit 64\nfile=\"$2\"\n\
             /bin/cp \"$file\" '{0}/remmina.file'\n\
             key() {{ /bin/sed -n \"s/^$1=//p\" \"$file\"; }}\n\
             set -- \"/v:$(key server)\" /cert:ignore\n\
             [ -n \"$(key security)\" ] && set -- \"$@\" \"/sec:$(key security)\"\n\
             [ -n \"$(key username)\" ] && set -- \"$@\" \"/u:$(key username)\"\n\
             [ -n \"$(key tls-seclevel)\" ] && set -- \"$@\" \"/tls-seclevel:$(key tls-seclevel)\"\n\
             exec /usr/bin/xfreerdp \"$@\"\n",
            dir.display()
        ),
    )
}

/// `bin/remmina`, executable, with `text`; returns `bin` (for the front of `PATH`).
fn stand_in_remmina(bin: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(bin).unwrap();
    let script = bin.join("remmina");
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin.to_owned()
}

/// The bridge's listen port from the ready line on `stdout`.
fn ready_port(stdout: &str) -> u16 {
    let prefix = "bridge ready: connect your RDP client to 127.0.0.1:";
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no ready line on loopback in\n{stdout}"));
    line[prefix.len()..]
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"))
}

/// xrdp-tls10 speaks only TLS 1.0, which Remmina has no setting for (`express.rs`:
/// NeedsBridge): `open` starts the bridge on loopback and points Remmina at it. The
/// Remmina (the real xfreerdp with only what a `.remmina` says) draws the desktop; its file
/// names the bridge with modern TLS (no security level 0); rdpshim exits with the client's
/// status once the client is gone, and the bridge with it.
#[test]
fn remmina_reaches_a_tls10_only_server_through_the_bridge_open_starts() {
    let server = lab!("xrdp-tls10");
    let display = Display::start(server.dir());
    let dir = server.dir().join("remmina-bridged");
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let bin = remmina_on_xfreerdp(&dir);
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let runtime_dir = runtime.display().to_string();
    let mut opened = open(
        &server,
        &display,
        &["--client", "remmina"],
        None,
        &[("PATH", &path), ("XDG_RUNTIME_DIR", &runtime_dir)],
    );
    let colours = desktop_drawn(&display, &opened);
    let client = opened.client.unwrap();
    let (argv, _) = argv_and_environment(client);
    let stderr = opened.stderr();
    for words in [
        "Remmina cannot open",
        "TLS 1.0",
        "carrying the session through a bridge",
        "opening with Remmina",
    ] {
        assert!(stderr.contains(words), "{words} in\n{stderr}");
    }
    let port = ready_port(&opened.stdout());
    let bridge = format!("127.0.0.1:{port}");
    assert!(argv.contains(&format!("/v:{bridge}")), "{argv:?}");
    assert!(
        !argv.iter().any(|a| a.starts_with("/tls")),
        "no TLS setting reaches the client: {argv:?}"
    );
    let file = std::fs::read_to_string(dir.join("remmina.file")).unwrap();
    assert!(
        file.lines().any(|l| l == format!("server={bridge}")),
        "{file}"
    );
    assert!(file.lines().any(|l| l == "security=tls"), "{file}");
    assert!(!file.contains("tls-seclevel"), "{file}");
    assert!(
        runtime
            .join("rdpshim")
            .join(format!(
                "open-{}_{}-bridge.remmina",
                server.host, server.port
            ))
            .exists(),
        "the file is named after the server"
    );
    eprintln!("xrdp-tls10 through open's bridge: {colours}+ colours; argv {argv:?}");

    assert!(opened.finish().is_some(), "rdpshim exits with its client");
    let stderr = opened.stderr();
    assert!(
        stderr.contains("bridge stopped (the client exited): 1 sessions, 1 carried"),
        "{stderr}"
    );
    assert!(
        std::net::TcpStream::connect(&bridge).is_err(),
        "the bridge is gone with the client"
    );
}

/// `--bridge` with the real xfreerdp and an NLA server: xfreerdp is pointed at the bridge
/// with the bridge's certificate pinned (the fingerprint the ready block prints) and the
/// password on its standard input; the bridge checks it before it uses its own, and the
/// desktop is drawn. The password is in neither the client's argv nor its environment.
#[test]
fn open_bridge_pins_the_bridges_certificate_and_hands_the_password_on_stdin() {
    let server = lab!("shadow-nla");
    let display = Display::start(server.dir());
    let password_line = format!("{}\n", server.password);
    let mut opened = open(
        &server,
        &display,
        &[
            "--client",
            "xfreerdp",
            "--bridge",
            "-u",
            &server.user,
            "--password-stdin",
        ],
        Some(&password_line),
        &[],
    );
    let colours = desktop_drawn(&display, &opened);
    let client = opened.client.unwrap();
    let (argv, environment) = argv_and_environment(client);
    let stdout = opened.stdout();
    let port = ready_port(&stdout);
    let fingerprint = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate SHA-256 "))
        .and_then(|rest| rest.split([' ', ',']).next())
        .unwrap_or_else(|| panic!("no fingerprint in\n{stdout}"))
        .to_owned();
    for option in [
        format!("/v:127.0.0.1:{port}"),
        format!("/u:{}", server.user),
        "/sec:nla".to_owned(),
        "/from-stdin:force".to_owned(),
    ] {
        assert!(argv.contains(&option), "{option} in {argv:?}");
    }
    assert!(
        argv.contains(&format!("/cert:deny,fingerprint:sha256:{fingerprint}")),
        "the bridge's certificate {fingerprint} pinned: {argv:?}"
    );
    let password = server.password.as_str();
    assert!(!argv.iter().any(|a| a.contains(password)), "{argv:?}");
    assert!(!environment.iter().any(|v| v.contains(password)));
    assert!(!stdout.contains(password) && !opened.stderr().contains(password));
    eprintln!("shadow-nla through open --bridge: {colours}+ colours; argv {argv:?}");
    assert!(opened.finish().is_some(), "rdpshim exits with its client");
}

#[test]
fn without_a_client_nothing_is_dialled() {
    let server = lab!("xrdp-modern");
    let mut command = server.command(RDPSHIM);
    command
        .args([
            "open",
            &server.dial_addr(),
            "--client",
            "no-such-rdp-client",
        ])
        .env("RDPSHIM_CONFIG_DIR", config_dir(&server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let run = crate::common::run(command, None);
    assert_eq!(run.code, 10, "{}", run.stderr);
    assert!(
        run.stderr.contains("no-such-rdp-client is not installed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("attempt 1"),
        "no attempt: {}",
        run.stderr
    );
}

/// After `connect`: how to open the session, and the FreeRDP line for the FreeRDP 2.11 on
/// PATH (its version read from the library it links: there is no display here).
#[test]
fn connect_ends_with_how_to_open_the_session() {
    let server = lab!("xrdp-tls10");
    let mut command = server.command(RDPSHIM);
    command
        .args(["connect", &server.dial_addr()])
        .env_remove("DISPLAY")
        .env_remove("RDPSHIM_PASSWORD")
        .env("RDPSHIM_CONFIG_DIR", config_dir(&server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let run = crate::common::run(command, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let n = lines.len();
    assert_eq!(
        lines[n - 2],
        format!("open with: rdpshim open {}", server.addr())
    );
    let freerdp = lines[n - 1];
    assert!(
        freerdp.starts_with(&format!(
            "       or: xfreerdp /v:{} /sec:tls /tls-seclevel:0 ",
            server.addr()
        )) && freerdp.contains(" /cert:deny,fingerprint:sha256:"),
        "{freerdp}"
    );

    // `-q`: the verdict line only.
    let mut command = server.command(RDPSHIM);
    command
        .args(["connect", &server.dial_addr(), "-q"])
        .env("RDPSHIM_CONFIG_DIR", config_dir(&server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let run = crate::common::run(command, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("connected with the saved configuration's"),
        "{}",
        run.stderr
    );
}
