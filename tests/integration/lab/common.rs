//! Running the real `rdpshim` binary against lab servers and reading what it says.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

pub use rdpshim_lab::LabServer;
use serde_json::Value;

/// Path of the binary under test (built by cargo for this test target).
pub const RDPSHIM: &str = env!("CARGO_BIN_EXE_rdpshim");

/// What one rdpshim run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` object on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The first (for --no-fallback: only) attempt.
    pub fn attempt(&self) -> Value {
        self.json()["attempts"][0].clone()
    }

    pub fn outcome(&self) -> String {
        self.attempt()["outcome"].as_str().unwrap_or("").to_owned()
    }

    pub fn stage(&self) -> String {
        self.attempt()["stage"].as_str().unwrap_or("").to_owned()
    }

    /// The `fallbacks` names of a ladder run.
    pub fn fallbacks(&self) -> Vec<String> {
        self.json()["fallbacks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn attempts(&self) -> usize {
        self.json()["attempts"].as_array().map_or(0, Vec::len)
    }

    /// The verdict's reason, for people.
    pub fn reason(&self) -> String {
        self.json()["verdict"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn verdict(&self) -> String {
        self.json()["verdict"]["kind"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// Runs `rdpshim connect TARGET --no-fallback --json ARGS...` for `server` (under the
/// server's hosts file when it has one), feeding `stdin` if given.
pub fn connect(server: &LabServer, args: &[&str], stdin: Option<&str>) -> Run {
    let mut full = vec!["--no-fallback"];
    full.extend_from_slice(args);
    ladder(server, &full, stdin)
}

/// Runs `rdpshim connect TARGET --json ARGS...` (the fallback ladder) for `server`, with the
/// profiles kept in the server's private directory.
pub fn ladder(server: &LabServer, args: &[&str], stdin: Option<&str>) -> Run {
    ladder_with(
        server.command(RDPSHIM),
        server,
        &server.dial_addr(),
        args,
        stdin,
    )
}

/// [`ladder`] to `target`, in `command` (`RDPSHIM` itself or a wrapper running it).
pub fn ladder_with(
    mut command: Command,
    server: &LabServer,
    target: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Run {
    command.args(["connect", target, "--json"]).args(args);
    command
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RDPSHIM_GATEWAY_PASSWORD")
        .env_remove("RUST_LOG")
        .env("RDPSHIM_CONFIG_DIR", config_dir(server))
        // Tests never touch the user's keyring (the keyring test uses its own Secret Service).
        .env("RDPSHIM_NO_KEYRING", "1");
    run(command, stdin)
}

/// `rdpshim ARGS...` for `server` (under its hosts file when it has one), with the profiles
/// in the server's directory, no keyring and no password in the environment; never a panic.
pub fn rdpshim(server: &LabServer, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = server.command(RDPSHIM);
    command
        .args(args)
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RDPSHIM_GATEWAY_PASSWORD")
        .env_remove("RUST_LOG")
        .env("RDPSHIM_CONFIG_DIR", config_dir(server))
        .env("RDPSHIM_NO_KEYRING", "1");
    let run = run(command, stdin);
    assert_ne!(run.code, 101, "rdpshim panicked:\n{}", run.stderr);
    run
}

/// Where rdpshim keeps this server's profiles during a test.
pub fn config_dir(server: &LabServer) -> std::path::PathBuf {
    server.dir().join("rdpshim-config")
}

/// Starts `command` with stdout and stderr piped and `stdin` written to it (closed after).
pub fn spawn(mut command: Command, stdin: Option<&str>) -> std::process::Child {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn rdpshim");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    child
}

pub fn run(command: Command, stdin: Option<&str>) -> Run {
    let out = spawn(command, stdin)
        .wait_with_output()
        .expect("wait for rdpshim");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Returns from the calling test when the lab cannot run here (not root, a package
/// missing), saying why; under `RDPSHIM_LAB_REQUIRED` (CI) the test fails instead.
macro_rules! require_lab {
    () => {
        if !rdpshim_lab::lab_may_run() {
            return;
        }
    };
}

/// `for_each_lab_kind!(m)` calls `m!` with every lab kind as `test_name => "kind"`, in the
/// order of `lab.sh kinds`: the one list from which a module with a test per lab server
/// (`causes.rs`, `ladder.rs`'s attempt counts) makes its tests. Each such module checks its
/// rows against `rdpshim_lab::KINDS`, so a new kind fails until it is added here.
macro_rules! for_each_lab_kind {
    ($m:ident) => {
        $m! {
            xrdp_modern => "xrdp-modern",
            xrdp_tls10 => "xrdp-tls10",
            xrdp_aes128sha => "xrdp-aes128sha",
            xrdp_expired => "xrdp-expired",
            xrdp_rdp_only => "xrdp-rdp-only",
            shadow_nla => "shadow-nla",
            shadow_tls => "shadow-tls",
            closer => "closer",
            staller => "staller",
            staller_tls => "staller-tls",
            ipv6_first => "ipv6-first",
            netns_drop => "netns-drop",
            netns_reject => "netns-reject",
            win_reset => "win-reset",
            win_reset_ssl => "win-reset-ssl",
            http => "http",
            tls_plain => "tls-plain",
            xrdp_negotiate => "xrdp-negotiate",
            xrdp_rdp_low => "xrdp-rdp-low",
            xrdp_rdp_fips => "xrdp-rdp-fips",
            selects_tls => "selects-tls",
        }
    };
}

/// `lab!("xrdp-modern")`: a running lab server of that kind, or the calling test skips
/// (see [`require_lab!`]). A lab that can run but whose server does not start fails the
/// test with the lab's own explanation.
macro_rules! lab {
    ($kind:expr) => {{
        require_lab!();
        $crate::common::start($kind)
    }};
}

/// Starts a lab server or fails the test with the lab's own explanation.
pub fn start(kind: &str) -> LabServer {
    LabServer::start(kind).unwrap_or_else(|e| panic!("lab server {kind} did not start:\n{e}"))
}

/// Asserts that `path` is a real desktop picture: the expected size and not one flat colour.
pub fn assert_real_screenshot(path: &Path, width: u32, height: u32) {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("valid PNG data");
    assert_eq!(
        (info.width, info.height),
        (width, height),
        "screenshot size"
    );
    let bytes = &buf[..info.buffer_size()];
    let pixel = (info.line_size / info.width as usize).max(1);
    let mut colours = std::collections::HashSet::new();
    for px in bytes.chunks_exact(pixel) {
        colours.insert(px[..3.min(pixel)].to_vec());
        if colours.len() > 16 {
            break;
        }
    }
    assert!(
        colours.len() > 16,
        "screenshot {} has only {} colours: not a real desktop",
        path.display(),
        colours.len()
    );
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    if dir.is_file() {
        if std::fs::read(dir).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            hits.push(dir.to_path_buf());
        }
        return hits;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        hits.extend(files_containing(&entry.path(), needle));
    }
    hits
}

/// The one profile file the test's rdpshim saved for `server`.
pub fn saved_profile_file(server: &LabServer) -> std::path::PathBuf {
    let profiles = config_dir(server).join("profiles");
    std::fs::read_dir(&profiles)
        .unwrap_or_else(|e| panic!("no profile directory {}: {e}", profiles.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "toml"))
        .expect("a saved profile")
}
