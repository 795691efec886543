//! `rdpshim bridge`: a real client (xfreerdp 2.11 under Xvfb, default security flags)
//! reaches real lab servers through the bridge, draws their desktop and sends input; the
//! credential check, the loopback default, and teardown when either side dies.
//!
//! xfreerdp runs with no `/sec:`, no `/tls-seclevel`, no `/tls-ciphers`: the only option
//! about security is the bridge's own certificate, pinned by the fingerprint the bridge
//! printed (`/cert:deny,fingerprint:sha256:...`). The password reaches xfreerdp on stdin
//! (`/from-stdin`), never in argv.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{LabServer, RDPSHIM};
use crate::gateway::{runtime, start_gateway, GW_PASSWORD, GW_USER};
use rdpshim_test_acceptor::{spawn, Args};
use rdpshim_test_gateway::{Config, Event, Gateway, TlsMode};

/// A private X display.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x1024x24"])
            .args(["-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (package xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb reported no display");
        Xvfb {
            child,
            display: format!(":{number}"),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", &self.display);
        command
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `rdpshim bridge ... --json`, its JSON Lines read as they come.
struct Bridge {
    child: Child,
    events: Receiver<(Instant, Value)>,
    stderr: PathBuf,
    seen: Vec<(Instant, Value)>,
    listen: String,
    fingerprint: String,
    ready: Value,
}

impl Bridge {
    /// `rdpshim SUBCOMMAND TARGET --json ARGS...` (SUBCOMMAND `bridge`, or `connect` with
    /// `--bridge` in `args`), waiting for the ready event.
    fn start_as(
        subcommand: &str,
        server: &LabServer,
        args: &[&str],
        stdin: Option<&str>,
        config: &Path,
    ) -> Bridge {
        Bridge::start_at(
            subcommand,
            &server.addr(),
            server.dir(),
            args,
            stdin,
            config,
        )
    }

    /// As [`Bridge::start_as`] for any `target`, with its files in `dir`.
    fn start_at(
        subcommand: &str,
        target: &str,
        dir: &Path,
        args: &[&str],
        stdin: Option<&str>,
        config: &Path,
    ) -> Bridge {
        let stderr = dir.join(format!("bridge-{}-{}.err", std::process::id(), unique()));
        let mut child = Command::new(RDPSHIM)
            .arg(subcommand)
            .arg(target)
            .arg("--json")
            .args(args)
            .env("RDPSHIM_CONFIG_DIR", config)
            .env("RDPSHIM_NO_KEYRING", "1")
            .env_remove("RDPSHIM_PASSWORD")
            .env_remove("RUST_LOG")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn rdpshim bridge");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).unwrap();
        }
        let (tx, events) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("bridge stdout is not JSON Lines ({e}): {line}"));
                if tx.send((Instant::now(), value)).is_err() {
                    return;
                }
            }
        });
        let mut bridge = Bridge {
            child,
            events,
            stderr,
            seen: Vec::new(),
            listen: String::new(),
            fingerprint: String::new(),
            ready: Value::Null,
        };
        let (_, ready) = bridge
            .wait_event("ready", Duration::from_secs(60))
            .unwrap_or_else(|| panic!("the bridge never got ready:\n{}", bridge.stderr()));
        bridge.listen = ready["listen"].as_str().unwrap().to_owned();
        bridge.fingerprint = ready["certificate_sha256"].as_str().unwrap().to_owned();
        bridge.ready = ready;
        bridge
    }

    fn start(server: &LabServer, args: &[&str], stdin: Option<&str>) -> Bridge {
        let config = server.dir().join("bridge-config");
        Bridge::start_as("bridge", server, args, stdin, &config)
    }

    /// The next event named `event` (`"session"`, `"stopped"`, ...) within `limit`.
    fn wait_event(&mut self, event: &str, limit: Duration) -> Option<(Instant, Value)> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok((at, value)) => {
                    self.seen.push((at, value.clone()));
                    if value["event"] == event {
                        return Some((at, value));
                    }
                }
                Err(_) => return None,
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Open file descriptors of the bridge process (sockets included).
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// SIGINT (Ctrl-C), then the exit status.
    fn interrupt(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status();
        wait_for_exit(&mut self.child, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the bridge did not stop on SIGINT:\n{}", self.stderr()))
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for_exit(&mut self.child, limit)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// xfreerdp 2.11 on `x`, with a private HOME; `password` goes to stdin (`/from-stdin`).
struct XFreeRdp {
    child: Child,
    log: PathBuf,
}

impl XFreeRdp {
    fn start(x: &Xvfb, dir: &Path, args: &[String], password: Option<&str>) -> XFreeRdp {
        let home = dir.join("xfreerdp-home");
        std::fs::create_dir_all(&home).unwrap();
        let log = dir.join(format!("xfreerdp-{}.log", unique()));
        let mut command = x.command("xfreerdp");
        command
            .args(args)
            .env("HOME", &home)
            .stdin(if password.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
        if password.is_some() {
            command.arg("/from-stdin");
        }
        let mut child = command.spawn().expect("xfreerdp (package freerdp2-x11)");
        if let Some(password) = password {
            let mut pipe = child.stdin.take().unwrap();
            let _ = pipe.write_all(format!("{password}\n").as_bytes());
        }
        XFreeRdp { child, log }
    }

    fn log(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default());
        // FreeRDP prints a backtrace on teardown; keep failure messages readable.
        text.lines()
            .filter(|l| !l.contains("com.freerdp.utils"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for XFreeRdp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The xfreerdp command line toward `address`: default security flags, the certificate
/// pinned by `fingerprint` when given (the bridge's), else `/cert:ignore`.
fn xfreerdp_args(address: &str, fingerprint: Option<&str>, user: Option<&str>) -> Vec<String> {
    let mut args = vec![format!("/v:{address}")];
    args.push(match fingerprint {
        Some(fp) => format!("/cert:deny,fingerprint:sha256:{fp}"),
        None => "/cert:ignore".to_owned(),
    });
    if let Some(user) = user {
        args.push(format!("/u:{user}"));
    }
    args
}

/// An xwd screenshot, RGB.
struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    /// Fraction of pixels within `tolerance` of `colour`.
    fn share(&self, colour: [u8; 3], tolerance: u8) -> f64 {
        let near = |p: &[u8; 3]| {
            p.iter()
                .zip(colour)
                .all(|(a, b)| a.abs_diff(b) <= tolerance)
        };
        self.rgb.iter().filter(|p| near(p)).count() as f64 / self.rgb.len().max(1) as f64
    }

    fn colours(&self) -> usize {
        let mut set = std::collections::HashSet::new();
        for p in &self.rgb {
            set.insert(*p);
            if set.len() > 64 {
                break;
            }
        }
        set.len()
    }

    /// The pixels that differ from `other`, as (count, bounding box x0, y0, x1, y1).
    fn diff(&self, other: &Shot) -> (usize, [usize; 4]) {
        let mut count = 0;
        let mut bbox = [usize::MAX, usize::MAX, 0, 0];
        for (i, (a, b)) in self.rgb.iter().zip(&other.rgb).enumerate() {
            if a != b {
                count += 1;
                let (x, y) = (i % self.width, i / self.width);
                bbox = [
                    bbox[0].min(x),
                    bbox[1].min(y),
                    bbox[2].max(x),
                    bbox[3].max(y),
                ];
            }
        }
        (count, bbox)
    }
}

/// `xwd -id WINDOW`, decoded (ZPixmap, 24/32 bits per pixel, either byte order).
fn screenshot(x: &Xvfb, window: &str) -> Option<Shot> {
    let out = x
        .command("xwd")
        .args(["-silent", "-id", window])
        .output()
        .expect("xwd (package x11-apps)");
    if !out.status.success() {
        return None;
    }
    parse_xwd(&out.stdout)
}

fn parse_xwd(data: &[u8]) -> Option<Shot> {
    let field = |i: usize| -> Option<u32> {
        let b = data.get(i * 4..i * 4 + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let header_size = field(0)? as usize;
    let (width, height) = (field(4)? as usize, field(5)? as usize);
    let byte_order = field(7)?;
    let bits_per_pixel = field(11)?;
    let bytes_per_line = field(12)? as usize;
    let colours = field(19)? as usize;
    if bits_per_pixel != 32 {
        return None;
    }
    let start = header_size + colours * 12;
    let mut rgb = Vec::with_capacity(width * height);
    for y in 0..height {
        let row = data.get(start + y * bytes_per_line..start + y * bytes_per_line + width * 4)?;
        for p in row.chunks_exact(4) {
            rgb.push(if byte_order == 0 {
                [p[2], p[1], p[0]]
            } else {
                [p[1], p[2], p[3]]
            });
        }
    }
    Some(Shot { width, height, rgb })
}

/// The xfreerdp window's id, once it is mapped.
fn freerdp_window(x: &Xvfb, client: &mut XFreeRdp, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !client.running() {
            return None;
        }
        let out = x
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", "FreeRDP"])
            .output()
            .expect("xdotool (package xdotool)");
        if let Some(id) = String::from_utf8_lossy(&out.stdout).lines().next() {
            return Some(id.trim().to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// The desktop a lab server shows, by the colours its configuration gives it.
#[derive(Clone, Copy)]
enum Desktop {
    /// xrdp's login screen: `blue=009cb5` background, `grey=dedede` dialog (lab.sh).
    XrdpLogin,
    /// freerdp-shadow's Xvfb: `xsetroot -mod 16 16 -fg #d04020 -bg #203060` and an xclock.
    ShadowPlaid,
}

impl Desktop {
    fn shown_in(self, shot: &Shot) -> bool {
        // A desktop-sized window (xfreerdp's default 1024x768) that is not one flat colour.
        if shot.width < 800 || shot.height < 600 || shot.colours() <= 16 {
            return false;
        }
        match self {
            Self::XrdpLogin => {
                shot.share([0x00, 0x9c, 0xb5], 8) > 0.3 && shot.share([0xde, 0xde, 0xde], 8) > 0.05
            }
            Self::ShadowPlaid => {
                shot.share([0x20, 0x30, 0x60], 24) > 0.3
                    && shot.share([0xd0, 0x40, 0x20], 24) > 0.01
            }
        }
    }
}

/// Waits until the xfreerdp window shows `desktop`; returns the window and the picture.
fn wait_for_desktop(
    x: &Xvfb,
    client: &mut XFreeRdp,
    desktop: Desktop,
    limit: Duration,
) -> Result<(String, Shot), String> {
    let deadline = Instant::now() + limit;
    let window = freerdp_window(x, client, limit)
        .ok_or_else(|| format!("no xfreerdp window:\n{}", client.log()))?;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(shot) = screenshot(x, &window) {
            if desktop.shown_in(&shot) {
                return Ok((window, shot));
            }
            last = Some(shot.colours());
        }
        if !client.running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "the xfreerdp window never showed the server's desktop (last screenshot: {last:?} colours):\n{}",
        client.log()
    ))
}

/// Runs xfreerdp with `args` (password on stdin if given) until it draws `desktop`, closes
/// it, and returns the bridge's record of that session, which must say "carried".
fn carried_session(
    x: &Xvfb,
    bridge: &mut Bridge,
    dir: &Path,
    args: &[String],
    password: Option<&str>,
    desktop: Desktop,
) -> Value {
    let mut client = XFreeRdp::start(x, dir, args, password);
    wait_for_desktop(x, &mut client, desktop, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", bridge.stderr()));
    client.kill();
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no session record:\n{}", bridge.stderr()));
    assert_eq!(session["outcome"], "carried", "{session}");
    session
}

/// The user name and password xfreerdp signs in with to `server`: none without NLA.
fn client_credentials(server: &LabServer) -> (Option<&str>, Option<&str>) {
    if server.user.is_empty() {
        (None, None)
    } else {
        (Some(server.user.as_str()), Some(server.password.as_str()))
    }
}

/// The client was killed: the `--once` bridge's record of its session (carried, ended by
/// the client, the desktop's bytes to it), and the bridge's clean exit after it.
fn ended_by_the_client(bridge: &mut Bridge, kind: &str) -> Value {
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{kind}: no session record:\n{}", bridge.stderr()));
    assert_eq!(session["outcome"], "carried", "{session}");
    assert_eq!(session["detail"]["ended_by"], "client", "{session}");
    assert!(
        session["bytes_to_client"].as_u64().unwrap() > 10_000,
        "{session}"
    );
    let status = bridge
        .wait_exit(Duration::from_secs(10))
        .expect("--once: the bridge exits after the session");
    assert!(status.success(), "{}", bridge.stderr());
    session
}

/// Draws `kind`'s desktop in xfreerdp through the bridge; for xrdp, also types into the
/// login screen and sees it change. Before that, the same xfreerdp command straight to
/// the server, whose outcome is returned (true: it drew the desktop too).
fn draws_through_the_bridge(server: &LabServer, desktop: Desktop) -> bool {
    let kind = server.kind.as_str();
    let x = Xvfb::start();
    let (user, password) = client_credentials(server);
    let nla = user.is_some();

    // Straight to the server, same command (its own certificate ignored, as the bridge's
    // is pinned: the certificate is not what decides here).
    let mut direct = XFreeRdp::start(
        &x,
        server.dir(),
        &xfreerdp_args(&server.addr(), None, user),
        password,
    );
    let direct_drew = wait_for_desktop(&x, &mut direct, desktop, Duration::from_secs(15)).is_ok();
    let direct_log = direct.log();
    direct.kill();

    let stdin = password.map(|p| format!("{p}\n"));
    let mut args = vec!["--once"];
    if let Some(user) = user {
        args.extend(["-u", user, "--password-stdin"]);
    }
    let mut bridge = Bridge::start(server, &args, stdin.as_deref());
    assert_eq!(bridge.ready["loopback"], true);
    assert_eq!(bridge.ready["server_leg"]["nla"], nla);
    let mut client = XFreeRdp::start(
        &x,
        server.dir(),
        &xfreerdp_args(&bridge.listen, Some(&bridge.fingerprint), user),
        password,
    );
    let (window, before) = wait_for_desktop(&x, &mut client, desktop, Duration::from_secs(30))
        .unwrap_or_else(|e| {
            panic!(
                "{kind} through the bridge: {e}\nbridge:\n{}",
                bridge.stderr()
            )
        });

    // It stays connected.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        client.running(),
        "{kind}: xfreerdp dropped:\n{}",
        client.log()
    );
    let still = screenshot(&x, &window).expect("screenshot");
    assert!(desktop.shown_in(&still), "{kind}: the desktop went away");

    if matches!(desktop, Desktop::XrdpLogin) {
        // Keys typed into the xfreerdp window reach xrdp, which draws them in its login
        // dialog (350x430, centred in the 1024x768 desktop).
        let focus = x
            .command("xdotool")
            .args(["windowfocus", "--sync", &window])
            .status()
            .unwrap();
        assert!(focus.success());
        let typed = x
            .command("xdotool")
            .args(["type", "--delay", "60", "bridged"])
            .status()
            .unwrap();
        assert!(typed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let (changed, bbox) = loop {
            let after = screenshot(&x, &window).expect("screenshot");
            let (changed, bbox) = before.diff(&after);
            if changed > 30 || Instant::now() > deadline {
                break (changed, bbox);
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(
            changed > 30,
            "{kind}: typing changed {changed} pixels of the login screen"
        );
        let dialog = [
            (1024 - 350) / 2,
            (768 - 430) / 2,
            (1024 + 350) / 2,
            (768 + 430) / 2,
        ];
        assert!(
            bbox[0] >= dialog[0]
                && bbox[1] >= dialog[1]
                && bbox[2] <= dialog[2]
                && bbox[3] <= dialog[3],
            "{kind}: the change {bbox:?} is outside xrdp's login dialog {dialog:?}"
        );
    }

    client.kill();
    let session = ended_by_the_client(&mut bridge, kind);
    assert_eq!(
        session["client_leg"]["protocol"],
        if nla { "hybrid" } else { "ssl" }
    );
    assert!(
        session["bytes_to_server"].as_u64().unwrap() > 100,
        "{session}"
    );
    eprintln!("{kind}: xfreerdp straight to the server drew the desktop: {direct_drew}");
    if !direct_drew {
        eprintln!("{kind}: direct xfreerdp log:\n{direct_log}");
    }
    direct_drew
}

#[test]
fn tls10_server_draws_through_the_bridge_and_not_without_it() {
    let server = lab!("xrdp-tls10");
    let direct = draws_through_the_bridge(&server, Desktop::XrdpLogin);
    assert!(
        !direct,
        "xfreerdp 2.11 with default flags reached the TLS 1.0-only server without the bridge"
    );
}

/// FreeRDP 2.11 on Debian 12 still offers AES128-SHA in TLS 1.2, so it reaches this one
/// straight too (mstsc on a current Windows does not); the bridge gives the client a
/// TLS 1.3 leg all the same.
#[test]
fn cbc_only_server_draws_through_the_bridge() {
    let server = lab!("xrdp-aes128sha");
    draws_through_the_bridge(&server, Desktop::XrdpLogin);
}

#[test]
fn expired_certificate_server_draws_through_the_bridge() {
    let server = lab!("xrdp-expired");
    draws_through_the_bridge(&server, Desktop::XrdpLogin);
}

#[test]
fn nla_server_draws_through_the_bridge() {
    let server = lab!("shadow-nla");
    draws_through_the_bridge(&server, Desktop::ShadowPlaid);
}

/// xfreerdp with `args` and the `wrong` password: the bridge refuses it (`auth-failed`, no
/// server CredSSP), xfreerdp fails and says LOGON_FAILURE. The session record.
fn refused_wrong_password(
    x: &Xvfb,
    bridge: &mut Bridge,
    dir: &Path,
    args: &[String],
    wrong: &str,
) -> Value {
    let mut client = XFreeRdp::start(x, dir, args, Some(wrong));
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no session record:\n{}", bridge.stderr()));
    assert_eq!(session["outcome"], "refused", "{session}");
    assert!(
        session["detail"]["reason"]
            .as_str()
            .unwrap()
            .contains("wrong user name or password"),
        "{session}"
    );
    assert_eq!(session["detail"]["class"], "auth-failed", "{session}");
    // The bridge never authenticated to the server for this client.
    assert!(
        session["phases_ms"].get("server-credssp").is_none(),
        "{session}"
    );
    let status = wait_for_exit(&mut client.child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| !s.success()),
        "xfreerdp with a wrong password must fail: {status:?}\n{}",
        client.log()
    );
    assert!(
        client.log().contains("LOGON_FAILURE"),
        "the client is told why:\n{}",
        client.log()
    );
    session
}

/// rdpshim's own client offering no NLA: answered HYBRID_REQUIRED_BY_SERVER and refused.
fn refused_without_nla(bridge: &mut Bridge, dir: &Path) {
    let run = rdpshim_client(&bridge.listen, dir, &["--nla", "off"], None);
    assert_eq!(
        run["attempts"][0]["outcome"], "negotiation-failure",
        "{run}"
    );
    assert!(
        run.to_string().contains("HYBRID_REQUIRED_BY_SERVER"),
        "{run}"
    );
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    assert_eq!(session["outcome"], "refused", "{session}");
}

#[test]
fn a_wrong_password_is_refused_although_the_bridge_holds_the_right_one() {
    let server = lab!("shadow-nla");
    let x = Xvfb::start();
    let stdin = format!("{}\n", server.password);
    let mut bridge = Bridge::start(
        &server,
        &["-u", &server.user, "--password-stdin"],
        Some(&stdin),
    );
    let args = xfreerdp_args(
        &bridge.listen,
        Some(&bridge.fingerprint),
        Some(&server.user),
    );

    for wrong in ["Wrong-Passw0rd!", "lab-passw0rd!"] {
        refused_wrong_password(&x, &mut bridge, server.dir(), &args, wrong);
    }

    // Another user name with the right password: refused too.
    let other = xfreerdp_args(
        &bridge.listen,
        Some(&bridge.fingerprint),
        Some("someoneelse"),
    );
    let mut client = XFreeRdp::start(&x, server.dir(), &other, Some(&server.password));
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(20))
        .unwrap();
    assert_eq!(session["outcome"], "refused", "{session}");
    client.kill();

    // A client that offers no NLA gets the server's answer, not the bridge's credentials.
    refused_without_nla(&mut bridge, server.dir());

    // The right password still gets in afterwards.
    let session = carried_session(
        &x,
        &mut bridge,
        server.dir(),
        &args,
        Some(&server.password),
        Desktop::ShadowPlaid,
    );
    assert!(
        session["phases_ms"].get("server-credssp").is_some(),
        "{session}"
    );
    assert!(bridge.interrupt().success());
}

/// freerdp-shadow with `/sec:tls -auth`: TLS only, and a connect with credentials still
/// reaches its first frame (xrdp would try to log them on), so the bridge holds a password
/// that this server leg must never see.
#[test]
fn a_server_without_nla_gets_no_credentials_and_the_client_leg_is_tls_only() {
    let server = lab!("shadow-tls");
    let mut bridge = Bridge::start(
        &server,
        &["-u", "labuser", "--password-stdin"],
        Some("Not-For-This-Server-1\n"),
    );
    assert_eq!(bridge.ready["server_leg"]["nla"], false, "{}", bridge.ready);
    assert_eq!(bridge.ready["client_leg"]["nla"], false);
    assert!(
        !bridge.ready["freerdp"].as_str().unwrap().contains("/u:"),
        "{}",
        bridge.ready
    );
    // A client that insists on NLA (requests HYBRID only) is told the server needs TLS:
    // no CredSSP happens on either leg.
    let run = rdpshim_client(
        &bridge.listen,
        server.dir(),
        &["--nla", "on", "-u", "labuser"],
        Some("Not-For-This-Server-1"),
    );
    assert!(run.to_string().contains("SSL_REQUIRED_BY_SERVER"), "{run}");
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    assert_eq!(session["outcome"], "refused", "{session}");
    assert_eq!(
        session["detail"]["code"], "SSL_REQUIRED_BY_SERVER",
        "the refusal is the code the client was sent: {session}"
    );

    // A TLS client is carried with no CredSSP on either leg.
    let x = Xvfb::start();
    let args = xfreerdp_args(&bridge.listen, Some(&bridge.fingerprint), None);
    let session = carried_session(
        &x,
        &mut bridge,
        server.dir(),
        &args,
        None,
        Desktop::ShadowPlaid,
    );
    assert_eq!(session["server_leg"]["protocol"], "ssl", "{session}");
    assert_eq!(session["client_leg"]["protocol"], "ssl", "{session}");
    assert!(
        session["phases_ms"].get("server-credssp").is_none(),
        "{session}"
    );
    assert!(bridge.interrupt().success());
}

#[test]
fn the_listener_is_loopback_unless_told_otherwise() {
    let server = lab!("xrdp-modern");
    let mut bridge = Bridge::start(&server, &[], None);
    let port: u16 = bridge.listen.rsplit(':').next().unwrap().parse().unwrap();
    assert!(bridge.listen.starts_with("127.0.0.1:"), "{}", bridge.listen);
    assert_eq!(listening_on(port), vec!["127.0.0.1".to_owned()]);
    assert!(bridge.interrupt().success());

    let mut exposed = Bridge::start(&server, &["--listen", "0.0.0.0:0"], None);
    assert_eq!(exposed.ready["loopback"], false);
    assert!(
        exposed
            .stderr()
            .contains("WARNING: the bridge listens on 0.0.0.0"),
        "{}",
        exposed.stderr()
    );
    assert!(exposed.interrupt().success());
}

/// Every TCP socket (/proc/net/tcp and tcp6) as (local address hex, local port, remote
/// port, state hex: `0A` listening, `01` established, inode).
fn tcp_sockets() -> Vec<(String, u16, u16, String, u64)> {
    let mut sockets = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let endpoint = |i: usize| {
                let (address, port) = cols.get(i)?.rsplit_once(':')?;
                Some((address.to_owned(), u16::from_str_radix(port, 16).ok()?))
            };
            let inode = cols.get(9).and_then(|i| i.parse().ok()).unwrap_or(0);
            if let (Some((address, local)), Some((_, remote)), Some(state)) =
                (endpoint(1), endpoint(2), cols.get(3))
            {
                sockets.push((address, local, remote, (*state).to_owned(), inode));
            }
        }
    }
    sockets
}

/// Local addresses of the listening TCP sockets on `port`, IPv4 ones dotted.
fn listening_on(port: u16) -> Vec<String> {
    tcp_sockets()
        .into_iter()
        .filter(|(_, local, _, state, _)| *local == port && state == "0A")
        .map(|(address, ..)| match u32::from_str_radix(&address, 16) {
            Ok(n) if address.len() == 8 => std::net::Ipv4Addr::from(n.swap_bytes()).to_string(),
            _ => address,
        })
        .collect()
}

/// TCP connections in state ESTABLISHED with `port` at either end.
fn established_with(port: u16) -> usize {
    tcp_sockets()
        .into_iter()
        .filter(|(_, local, remote, state, _)| state == "01" && (*local == port || *remote == port))
        .count()
}

/// The remote ports of the established TCP connections process `pid` holds.
fn connected_ports_of(pid: u32) -> Vec<u16> {
    let inodes: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    link.strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    tcp_sockets()
        .into_iter()
        .filter(|(.., state, inode)| state == "01" && inodes.contains(inode))
        .map(|(_, _, remote, ..)| remote)
        .collect()
}

#[test]
fn a_dead_server_disconnects_the_client_and_a_dead_client_closes_the_server_leg() {
    let server = lab!("xrdp-tls10");
    let x = Xvfb::start();
    // Started as `connect --bridge`, the same bridge.
    let config = server.dir().join("bridge-config");
    let mut bridge = Bridge::start_as("connect", &server, &["--bridge"], None, &config);
    let args = xfreerdp_args(&bridge.listen, Some(&bridge.fingerprint), None);

    // The client is killed: the server leg closes.
    let mut client = XFreeRdp::start(&x, server.dir(), &args, None);
    wait_for_desktop(&x, &mut client, Desktop::XrdpLogin, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", bridge.stderr()));
    assert!(established_with(server.port) > 0, "the server leg is up");

    // One session at a time: a second client waits for a slot, then is turned away.
    let second = rdpshim_client(&bridge.listen, server.dir(), &["--nla", "off"], None);
    assert_eq!(second["connected"], false, "{second}");
    let (_, away) = bridge
        .wait_event("turned-away", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no turned-away event:\n{}", bridge.stderr()));
    assert_eq!(away["active"], 1, "{away}");
    assert!(client.running(), "the first session goes on");

    let killed = Instant::now();
    client.kill();
    let (at, session) = bridge
        .wait_event("session", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no session end within 5 s:\n{}", bridge.stderr()));
    assert!(at - killed < Duration::from_secs(5));
    assert_eq!(session["detail"]["ended_by"], "client", "{session}");
    let deadline = killed + Duration::from_secs(5);
    while established_with(server.port) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        established_with(server.port),
        0,
        "the server leg is still open 5 s after the client died"
    );
    assert!(
        bridge.stderr().contains("the client closed the connection"),
        "{}",
        bridge.stderr()
    );

    // The server is killed: the client is disconnected and the bridge says so.
    let mut client = XFreeRdp::start(&x, server.dir(), &args, None);
    wait_for_desktop(&x, &mut client, Desktop::XrdpLogin, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", bridge.stderr()));
    let xrdp: Vec<u32> = server
        .processes()
        .into_iter()
        .filter(|(role, _, _)| role == "xrdp")
        .map(|(_, pid, _)| pid)
        .collect();
    assert!(!xrdp.is_empty(), "{:?}", server.processes());
    let killed = Instant::now();
    for pid in &xrdp {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let (at, session) = bridge
        .wait_event("session", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no session end within 5 s:\n{}", bridge.stderr()));
    assert!(at - killed < Duration::from_secs(5));
    assert_eq!(session["detail"]["ended_by"], "server", "{session}");
    assert!(
        wait_for_exit(&mut client.child, Duration::from_secs(5)).is_some(),
        "xfreerdp is still running 5 s after the server died"
    );
    assert!(
        bridge.stderr().contains("the client was disconnected"),
        "{}",
        bridge.stderr()
    );

    // With the server gone, the next client's session fails on the server leg, in the
    // failure classes and the table of causes connect uses.
    let third = rdpshim_client(&bridge.listen, server.dir(), &["--nla", "off"], None);
    assert_eq!(third["connected"], false, "{third}");
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no session record:\n{}", bridge.stderr()));
    assert_eq!(session["outcome"], "failed", "{session}");
    assert_eq!(session["detail"]["side"], "server", "{session}");
    assert_eq!(session["detail"]["class"], "tcp-refused", "{session}");
    assert_eq!(session["detail"]["cause"], "port-refused", "{session}");
    assert!(
        bridge.stderr().contains("; cause port-refused: "),
        "{}",
        bridge.stderr()
    );
    let status = bridge.interrupt();
    assert!(status.success(), "{}", bridge.stderr());
}

#[test]
fn twenty_sessions_in_a_row_leak_no_sockets() {
    let server = lab!("xrdp-tls10");
    let mut bridge = Bridge::start(&server, &[], None);
    let client_config = server.dir().join("client-config");
    let screenshot = server.dir().join("through-bridge.png");
    let listen = bridge.listen.clone();
    let connect = |png: Option<&Path>| {
        let mut command = Command::new(RDPSHIM);
        command
            .args(["connect", &listen, "--no-fallback", "--nla", "off"])
            .args(["--json", "--no-save"])
            .env("RDPSHIM_CONFIG_DIR", &client_config)
            .env("RDPSHIM_NO_KEYRING", "1")
            .stdin(Stdio::null());
        if let Some(png) = png {
            command.arg("--screenshot").arg(png);
        }
        let out = command.output().unwrap();
        let mut stdout = String::new();
        stdout.push_str(&String::from_utf8_lossy(&out.stdout));
        (out.status, stdout)
    };

    // rdpshim's own client, to the first decoded frame, through the bridge.
    let (status, stdout) = connect(Some(&screenshot));
    assert!(status.success(), "{stdout}\n{}", bridge.stderr());
    crate::common::assert_real_screenshot(&screenshot, 1024, 768);
    bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let baseline = bridge.open_fds();

    for n in 0..20 {
        let (status, stdout) = connect(None);
        assert!(
            status.success(),
            "session {n}: {stdout}\n{}",
            bridge.stderr()
        );
        let (_, session) = bridge
            .wait_event("session", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("session {n}: no record\n{}", bridge.stderr()));
        assert_eq!(session["outcome"], "carried", "{session}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while bridge.open_fds() > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        bridge.open_fds() <= baseline,
        "open fds {} after 20 sessions, {baseline} after the first",
        bridge.open_fds()
    );
    assert_eq!(established_with(server.port), 0, "a server leg stayed open");

    // Ctrl-C ends the bridge cleanly.
    let status = bridge.interrupt();
    assert!(status.success(), "{}", bridge.stderr());
    let (_, stopped) = bridge
        .wait_event("stopped", Duration::from_secs(5))
        .unwrap();
    assert_eq!(stopped["reason"], "interrupted");
    assert_eq!(stopped["carried"], 21);
}

#[test]
fn an_rdp_file_points_at_the_bridge_without_a_password() {
    let server = lab!("shadow-nla");
    let rdp = server.dir().join("bridge.rdp");
    let stdin = format!("{}\n", server.password);
    let mut bridge = Bridge::start(
        &server,
        &[
            "-u",
            &server.user,
            "--password-stdin",
            "--rdp",
            rdp.to_str().unwrap(),
        ],
        Some(&stdin),
    );
    let mut bytes = Vec::new();
    std::fs::File::open(&rdp)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(
        &bytes[..2],
        &[0xff, 0xfe],
        "UTF-16LE with BOM, as mstsc writes"
    );
    let text = rdpshim_profiles::rdpfile::decode(&bytes).unwrap().text;
    assert!(
        text.contains(&format!("full address:s:{}", bridge.listen)),
        "{text}"
    );
    assert!(
        text.contains(&format!("username:s:{}", server.user)),
        "{text}"
    );
    assert!(text.contains("enablecredsspsupport:i:1"), "{text}");
    assert!(!text.contains(&server.password));

    // xfreerdp opens it (the password on stdin) and reaches the server.
    let x = Xvfb::start();
    let args = vec![
        rdp.display().to_string(),
        format!("/cert:deny,fingerprint:sha256:{}", bridge.fingerprint),
    ];
    carried_session(
        &x,
        &mut bridge,
        server.dir(),
        &args,
        Some(&server.password),
        Desktop::ShadowPlaid,
    );
    assert!(bridge.interrupt().success());
}

/// rdpshim's own client, `connect TARGET --no-fallback --json --no-save ARGS`, with the
/// password (if any) in its environment.
fn rdpshim_client(target: &str, dir: &Path, args: &[&str], password: Option<&str>) -> Value {
    let mut command = Command::new(RDPSHIM);
    command
        .args(["connect", target, "--no-fallback", "--json", "--no-save"])
        .args(args)
        .env("RDPSHIM_CONFIG_DIR", dir.join("client-config"))
        .env("RDPSHIM_NO_KEYRING", "1")
        .env_remove("RDPSHIM_PASSWORD")
        .stdin(Stdio::null());
    if let Some(password) = password {
        command.env("RDPSHIM_PASSWORD", password);
    }
    let out = command.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The in-process acceptor offers UDP multitransport whenever a client advertises it. The
/// bridge removes the advertisement from the client's Connect Initial, so the server makes
/// no offer and the client never hears of UDP (the bridge carries TCP only). With NLA the
/// acceptor selects HYBRID_EX: its Early User Authorization Result is consumed on the
/// server leg and the bridge sends its own to the client.
#[test]
fn multitransport_is_not_advertised_through_the_bridge_and_hybrid_ex_works_on_both_legs() {
    require_lab!();
    let dir = std::env::temp_dir().join(format!("rdpshim-bridge-acceptor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let target = spawn(Args::for_mode("offer-udp")).unwrap().to_string();
    let direct = rdpshim_client(&target, &dir, &["--nla", "off", "--udp", "on"], None);
    assert!(
        direct["warnings"].to_string().contains("declined"),
        "straight to it, the acceptor offers UDP: {direct}"
    );
    let config = dir.join("bridge-config");
    let mut bridge = Bridge::start_at("bridge", &target, &dir, &["--nla", "off"], None, &config);
    let through = rdpshim_client(&bridge.listen, &dir, &["--nla", "off", "--udp", "on"], None);
    assert_eq!(through["connected"], true, "{through}\n{}", bridge.stderr());
    assert!(
        !through["warnings"].to_string().contains("declined"),
        "no UDP offer reaches the client: {through}"
    );
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    assert!(
        session["rewritten"]
            .to_string()
            .contains("multitransport advertisement"),
        "{session}"
    );
    assert!(bridge.interrupt().success());

    let mut nla = Args::for_mode("offer-udp");
    nla.security = rdpshim_test_acceptor::Security::Nla;
    nla.user = "bridgeuser".into();
    nla.password = "Bridge-Passw0rd!".into();
    let target = spawn(nla).unwrap().to_string();
    let mut bridge = Bridge::start_at(
        "bridge",
        &target,
        &dir,
        &["-u", "bridgeuser", "--password-stdin"],
        Some("Bridge-Passw0rd!\n"),
        &config,
    );
    let through = rdpshim_client(
        &bridge.listen,
        &dir,
        &["--nla", "on", "-u", "bridgeuser"],
        Some("Bridge-Passw0rd!"),
    );
    assert_eq!(through["connected"], true, "{through}\n{}", bridge.stderr());
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    assert_eq!(session["client_leg"]["protocol"], "hybrid-ex", "{session}");
    assert_eq!(session["server_leg"]["protocol"], "hybrid-ex", "{session}");
    let wrong = rdpshim_client(
        &bridge.listen,
        &dir,
        &["--nla", "on", "-u", "bridgeuser"],
        Some("Bridge-Passw0rd?"),
    );
    assert_eq!(wrong["connected"], false, "{wrong}");
    assert_eq!(wrong["attempts"][0]["outcome"], "auth-failed", "{wrong}");
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    assert_eq!(session["outcome"], "refused", "{session}");
    assert!(bridge.interrupt().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bridge's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A hostile client gets what a hostile server gets: the bridge reads it through the
/// engine's capped framing, so a first PDU that is not an X.224 Connection Request (an
/// HTTP request; a TPKT announcing 65535 bytes and then 4 MiB more) is a `protocol-error`
/// from the client at once, far inside the 10 s stage limit, and the flood does not grow
/// the bridge (its peak RSS moves less than the flood's size). The bridge serves on.
#[test]
fn a_hostile_client_is_refused_at_its_first_bad_header_and_grows_nothing() {
    let server = lab!("xrdp-modern");
    let mut bridge = Bridge::start(&server, &[], None);
    let flood = {
        let mut bytes = vec![0x03, 0x00, 0xFF, 0xFF];
        bytes.resize(4 << 20, 0x41);
        bytes
    };
    let before = peak_rss_kib(bridge.pid());
    for payload in [&b"GET / HTTP/1.1\r\nHost: bridge\r\n\r\n"[..], &flood] {
        let started = Instant::now();
        let mut client = std::net::TcpStream::connect(&bridge.listen).unwrap();
        // The bridge hangs up after the header: the rest of a flood may not be taken.
        let _ = client.write_all(payload);
        let (at, session) = bridge
            .wait_event("session", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no session record:\n{}", bridge.stderr()));
        assert_eq!(session["outcome"], "failed", "{session}");
        assert_eq!(session["detail"]["side"], "client", "{session}");
        assert_eq!(session["detail"]["class"], "protocol-error", "{session}");
        assert!(
            session["detail"]["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("the client"),
            "{session}"
        );
        assert!(
            at.duration_since(started) < Duration::from_secs(3),
            "refused at once, not at the stage limit: {:?}",
            at.duration_since(started)
        );
    }
    let grown = peak_rss_kib(bridge.pid()).saturating_sub(before);
    assert!(
        grown < 2048,
        "the bridge grew {grown} KiB under a 4 MiB flood"
    );

    // Still serving: rdpshim's own client reaches the server through it.
    let client_config = server.dir().join("client-config");
    let out = Command::new(RDPSHIM)
        .args(["connect", &bridge.listen, "--no-fallback", "--nla", "off"])
        .args(["--json", "--no-save"])
        .env("RDPSHIM_CONFIG_DIR", &client_config)
        .env("RDPSHIM_NO_KEYRING", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", bridge.stderr());
}

/// `rdpshim bridge SERVER --gateway ADDRESS` with the account the test gateway admits as
/// the host's (`-u`, its password on stdin: the gateway takes the host's credentials),
/// ready.
fn bridge_through(server: &LabServer, address: &str) -> Bridge {
    Bridge::start(
        server,
        &["--gateway", address, "-u", GW_USER, "--password-stdin"],
        Some(&format!("{GW_PASSWORD}\n")),
    )
}

/// The tunnels `gw` opened, as (transport, target port).
fn gateway_tunnels(gw: &Gateway) -> Vec<(&'static str, u16)> {
    gw.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Tunnel {
                transport, port, ..
            } => Some((transport, port)),
            _ => None,
        })
        .collect()
}

/// `rdpshim bridge SERVER --gateway GW ARGS --once` finds its configuration through the
/// test RD Gateway and carries xfreerdp 2.11 (default security flags, signing in as
/// `account`, which the bridge makes it prove before it opens a tunnel) through it: the
/// session opens a tunnel of its own (one more `Tunnel` event, to the server's port) after
/// the client's CredSSP, and the bridge holds a connection to the gateway and none to the
/// server while the desktop is drawn. Returns the session record.
fn draws_through_the_bridge_and_the_gateway(
    server: &LabServer,
    gw: &Gateway,
    args: &[&str],
    stdin: &str,
    account: (&str, &str),
    desktop: Desktop,
) -> Value {
    let kind = server.kind.as_str();
    let x = Xvfb::start();
    let address = gw.addr.to_string();
    let mut bridge_args = vec!["--once", "--gateway", &address];
    bridge_args.extend_from_slice(args);
    let mut bridge = Bridge::start(server, &bridge_args, Some(stdin));
    let leg = bridge.ready["server_leg"]["gateway"].clone();
    assert_eq!(leg["endpoint"], address.as_str(), "{}", bridge.ready);
    assert!(
        bridge
            .stderr()
            .contains(&format!(", through the RD Gateway {address})")),
        "the ready line names the gateway:\n{}",
        bridge.stderr()
    );
    let found = gateway_tunnels(gw).len();
    assert!(found > 0, "the configuration was found through the gateway");
    let (user, password) = account;
    assert_eq!(bridge.ready["client_leg"]["nla"], true, "{}", bridge.ready);
    assert_eq!(bridge.ready["client_leg"]["user"], user, "{}", bridge.ready);

    let mut client = XFreeRdp::start(
        &x,
        server.dir(),
        &xfreerdp_args(&bridge.listen, Some(&bridge.fingerprint), Some(user)),
        Some(password),
    );
    wait_for_desktop(&x, &mut client, desktop, Duration::from_secs(30)).unwrap_or_else(|e| {
        panic!(
            "{kind} through the bridge and the gateway: {e}\nbridge:\n{}",
            bridge.stderr()
        )
    });
    let tunnels = gateway_tunnels(gw);
    assert_eq!(
        tunnels.len(),
        found + 1,
        "the session opened one tunnel of its own: {tunnels:?}"
    );
    assert_eq!(tunnels.last().unwrap().1, server.port, "{tunnels:?}");
    let ports = connected_ports_of(bridge.pid());
    assert!(
        ports.contains(&gw.addr.port()),
        "the bridge holds no connection to the gateway: {ports:?}"
    );
    assert!(
        !ports.contains(&server.port),
        "the bridge dialled the server around the gateway: {ports:?}"
    );

    client.kill();
    let session = ended_by_the_client(&mut bridge, kind);
    assert_eq!(
        session["gateway"]["endpoint"],
        address.as_str(),
        "{session}"
    );
    assert_eq!(
        session["gateway"]["transport"], leg["transport"],
        "{session}"
    );
    let phases = &session["phases_ms"];
    let (proved, tunnel) = (&phases["client-credssp"], &phases["gateway-tunnel"]);
    assert!(
        proved.as_f64().unwrap() <= tunnel.as_f64().unwrap(),
        "the tunnel opened after the client proved its account: {session}"
    );
    let stderr = bridge.stderr();
    assert!(
        stderr.contains(&format!("through the RD Gateway {address} TLS")),
        "the session line names the gateway:\n{stderr}"
    );
    for secret in [GW_PASSWORD, server.password.as_str()] {
        assert!(
            secret.is_empty() || !stderr.contains(secret),
            "a password in the bridge's output"
        );
    }
    session
}

/// A TLS-only server (freerdp-shadow without NLA) behind the test gateway (modern TLS,
/// WebSocket), which takes the host's account `gwuser` (its password on stdin): the
/// bridge carries its desktop through the gateway. The client proves the gateway's account
/// (NLA toward the bridge) although the server has no NLA, and the server gets no
/// credentials from the bridge. (xrdp would do as well for the bridge, but rdpshim's own
/// ladder sends `-u`'s account in its Client Info, and xrdp, trying to log an account it
/// does not have on, sends no first frame in time.)
#[test]
fn a_configuration_found_through_a_gateway_is_carried_through_it() {
    let server = lab!("shadow-tls");
    let rt = runtime();
    let gw = start_gateway(&rt, Config::new(GW_USER, GW_PASSWORD));
    let session = draws_through_the_bridge_and_the_gateway(
        &server,
        &gw,
        &["-u", GW_USER, "--password-stdin"],
        &format!("{GW_PASSWORD}\n"),
        (GW_USER, GW_PASSWORD),
        Desktop::ShadowPlaid,
    );
    assert_eq!(session["gateway"]["transport"], "websocket", "{session}");
    assert_eq!(session["server_leg"]["protocol"], "ssl", "{session}");
    assert_eq!(session["client_leg"]["protocol"], "hybrid", "{session}");
    assert!(
        session["phases_ms"].get("server-credssp").is_none(),
        "{session}"
    );
}

/// The NLA server behind a TLS 1.0, legacy-HTTP-only gateway that takes the host's own
/// account: the session's tunnel opens as the configuration was found (TLS 1.0, legacy
/// HTTP), the client proves the password to the bridge, then the bridge authenticates to
/// the server through the tunnel.
#[test]
fn an_nla_server_behind_a_legacy_gateway_is_carried_through_it() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let mut config = Config::new(&server.user, &server.password);
    config.tls = TlsMode::Legacy;
    config.websocket = false;
    let gw = start_gateway(&rt, config);
    let session = draws_through_the_bridge_and_the_gateway(
        &server,
        &gw,
        &["-u", &server.user, "--password-stdin"],
        &format!("{}\n", server.password),
        (&server.user, &server.password),
        Desktop::ShadowPlaid,
    );
    assert_eq!(session["gateway"]["transport"], "legacy-http", "{session}");
    assert_eq!(session["gateway"]["tls"]["version"], "1.0", "{session}");
    assert!(
        session["phases_ms"].get("server-credssp").is_some(),
        "{session}"
    );
}

/// `spawn(config)` on `rt`, retried while the address is still held (a gateway at the
/// same address was just dropped).
fn gateway_at(rt: &tokio::runtime::Runtime, address: std::net::SocketAddr) -> Gateway {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut config = Config::new(GW_USER, GW_PASSWORD);
        config.bind = address;
        match rt.block_on(rdpshim_test_gateway::spawn(config)) {
            Ok(gateway) => return gateway,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Every session opens its own tunnel with the gateway leg as found: a gateway at the same
/// address with another certificate is refused at `gateway-tls` before any credential
/// reaches it (`certificate-changed`), and no gateway at all is the server leg's
/// `gateway-unreachable`, in connect's failure classes and causes. The bridge serves on.
/// The client proves the gateway's account (NLA toward the bridge) each time; the server is
/// freerdp-shadow without NLA, which reaches its first frame whatever the client's Client
/// Info carries (xrdp would try to log the gateway's account on).
#[test]
fn a_session_through_a_gateway_that_changed_or_went_away_fails_at_the_gateway() {
    let server = lab!("shadow-tls");
    let rt = runtime();
    let gw = start_gateway(&rt, Config::new(GW_USER, GW_PASSWORD));
    let gw_addr = gw.addr;
    let address = gw_addr.to_string();
    let mut bridge = bridge_through(&server, &address);
    // Through a gateway the client proves the gateway's account to the bridge (NLA).
    let proving = ["--nla", "on", "-u", GW_USER];
    let through = rdpshim_client(&bridge.listen, server.dir(), &proving, Some(GW_PASSWORD));
    assert_eq!(through["connected"], true, "{through}\n{}", bridge.stderr());
    let (_, session) = bridge
        .wait_event("session", Duration::from_secs(10))
        .unwrap();
    assert_eq!(session["outcome"], "carried", "{session}");
    assert_eq!(
        session["gateway"]["endpoint"],
        address.as_str(),
        "{session}"
    );

    let failed_session = |bridge: &mut Bridge| {
        let run = rdpshim_client(&bridge.listen, server.dir(), &proving, Some(GW_PASSWORD));
        assert_eq!(run["connected"], false, "{run}");
        let (_, session) = bridge
            .wait_event("session", Duration::from_secs(15))
            .unwrap_or_else(|| panic!("no session record:\n{}", bridge.stderr()));
        assert_eq!(session["outcome"], "failed", "{session}");
        assert_eq!(session["detail"]["side"], "server", "{session}");
        session
    };

    // Another gateway (a new certificate) where the first one was.
    drop(gw);
    let other = gateway_at(&rt, gw_addr);
    let session = failed_session(&mut bridge);
    assert_eq!(session["detail"]["stage"], "gateway-tls", "{session}");
    assert_eq!(
        session["detail"]["class"], "certificate-changed",
        "{session}"
    );
    assert!(
        !other
            .events()
            .iter()
            .any(|e| matches!(e, Event::Authenticated { .. } | Event::Tunnel { .. })),
        "credentials reached a gateway with another certificate: {:?}",
        other.events()
    );

    // No gateway at all.
    drop(other);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(gw_addr).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let session = failed_session(&mut bridge);
    assert_eq!(session["detail"]["stage"], "gateway-connect", "{session}");
    assert_eq!(session["detail"]["class"], "tcp-refused", "{session}");
    assert_eq!(
        session["detail"]["cause"], "gateway-unreachable",
        "{session}"
    );
    assert!(bridge.interrupt().success(), "{}", bridge.stderr());
    assert!(!bridge.stderr().contains(GW_PASSWORD));
}

/// What `gw` saw: tunnels opened and connections authenticated.
fn gateway_activity(gw: &Gateway) -> (usize, usize) {
    let events = gw.events();
    let authenticated = events
        .iter()
        .filter(|e| matches!(e, Event::Authenticated { .. }))
        .count();
    (gateway_tunnels(gw).len(), authenticated)
}

/// A server without NLA (freerdp-shadow, TLS only) behind the test gateway, which takes
/// the host's account (`-u gwuser`). Without the bridge's rule anyone who reached the
/// listener would get the server's desktop through a tunnel opened with that account. The bridge asks every client to prove it first: the ready line's FreeRDP
/// command says `/sec:nla /u:gwuser`; xfreerdp with a wrong password is refused and the
/// gateway sees no connection for it (no authentication, no tunnel), a client that offers
/// no NLA gets HYBRID_REQUIRED_BY_SERVER and nothing either, and the right password draws
/// the desktop through one tunnel of its own.
#[test]
fn through_a_gateway_a_server_without_nla_is_reached_only_by_a_client_that_proves_the_account() {
    let server = lab!("shadow-tls");
    let rt = runtime();
    let gw = start_gateway(&rt, Config::new(GW_USER, GW_PASSWORD));
    let address = gw.addr.to_string();
    let mut bridge = bridge_through(&server, &address);
    assert_eq!(bridge.ready["server_leg"]["nla"], false, "{}", bridge.ready);
    assert_eq!(bridge.ready["client_leg"]["nla"], true, "{}", bridge.ready);
    let freerdp = bridge.ready["freerdp"].as_str().unwrap().to_owned();
    assert!(
        freerdp.contains("/sec:nla") && freerdp.contains(&format!("/u:{GW_USER}")),
        "{freerdp}"
    );
    // The bridge's own recipe, as a user would paste it (the password on stdin).
    let recipe: Vec<String> = freerdp
        .split_whitespace()
        .skip(1)
        .map(|a| a.trim_matches('\'').to_owned())
        .collect();
    let before = gateway_activity(&gw);

    let x = Xvfb::start();
    let session = refused_wrong_password(&x, &mut bridge, server.dir(), &recipe, "Wrong-Passw0rd!");
    assert!(session["gateway"].is_null(), "{session}");
    assert_eq!(
        gateway_activity(&gw),
        before,
        "the gateway saw a connection for a client that proved nothing: {:?}",
        gw.events()
    );

    refused_without_nla(&mut bridge, server.dir());
    assert_eq!(gateway_activity(&gw), before, "{:?}", gw.events());

    let session = carried_session(
        &x,
        &mut bridge,
        server.dir(),
        &recipe,
        Some(GW_PASSWORD),
        Desktop::ShadowPlaid,
    );
    assert_eq!(session["server_leg"]["protocol"], "ssl", "{session}");
    assert_eq!(session["client_leg"]["protocol"], "hybrid", "{session}");
    assert!(
        session["phases_ms"].get("server-credssp").is_none(),
        "the server without NLA gets no credentials: {session}"
    );
    assert_eq!(gateway_activity(&gw).0, before.0 + 1, "{:?}", gw.events());
    assert!(bridge.interrupt().success(), "{}", bridge.stderr());
    assert!(!bridge.stderr().contains(GW_PASSWORD));
}

/// The NLA server behind a gateway with an account of its own (`--gateway-user`): a client
/// would have to prove two accounts and CredSSP proves one, so the bridge refuses to start
/// (exit 2, usage) and says what to do instead; it never listens. (In front of a server
/// without NLA it is refused too: `bridge::proof`'s table.)
#[test]
fn a_gateway_account_of_its_own_in_front_of_an_nla_server_is_refused_at_open() {
    let server = lab!("shadow-nla");
    let rt = runtime();
    let gw = start_gateway(&rt, Config::new(GW_USER, GW_PASSWORD));
    let address = gw.addr.to_string();
    let mut child = Command::new(RDPSHIM)
        .args(["bridge", &server.addr(), "--json", "--gateway", &address])
        .args([
            "-u",
            &server.user,
            "--gateway-user",
            GW_USER,
            "--password-stdin",
        ])
        .env(
            "RDPSHIM_CONFIG_DIR",
            server.dir().join("bridge-two-accounts"),
        )
        .env("RDPSHIM_NO_KEYRING", "1")
        .env("RDPSHIM_GATEWAY_PASSWORD", GW_PASSWORD)
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", server.password).as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        !gateway_tunnels(&gw).is_empty(),
        "the configuration was found through the gateway first: {stderr}"
    );
    assert!(!stdout.contains("\"ready\""), "{stdout}");
    for what in [
        "the RD Gateway signs in as gwuser",
        "--gateway-user",
        "--format freerdp",
    ] {
        assert!(stderr.contains(what), "{what}:\n{stderr}");
    }
    for secret in [GW_PASSWORD, server.password.as_str()] {
        assert!(!stderr.contains(secret) && !stdout.contains(secret));
    }
}
