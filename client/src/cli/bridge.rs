//! `rdpshim bridge HOST` and `rdpshim connect HOST --bridge`: after the connection is found
//! (`connect.rs`, unchanged), listen for the user's own RDP client and carry its sessions
//! (`rdpshim::bridge`). This file only parses the bridge's flags and renders its events.
//!
//! Output: the session log goes to stderr as lines for people, always (as connect's
//! attempt lines do). Without `--json` the ready block goes to stdout (where to point the
//! client, the certificate fingerprint, the FreeRDP command line); with `--json` stdout is
//! JSON Lines instead: connect's object first, then one object per event (`ready`,
//! `connected`, `session`, `turned-away`, `accept-failed`, `stopped`), and the ready line
//! goes to stderr.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::Args;
use rdpshim::attempt::StageTimeouts;
use rdpshim::bridge::listener::{self, Events, Interrupt, ServeOptions, Stopped};
use rdpshim::bridge::record::{printable, stack_name, Outcome, SessionRecord};
use rdpshim::bridge::splice::Side;
use rdpshim::bridge::{client_files, server_leg_spec, BridgeConfig, Identity};
use rdpshim::ladder::Run;
use rdpshim::report::FailureClass;
use rdpshim_profiles::store::ProfileStore;
use serde_json::json;

use super::args::ConnectArgs;
use super::exit;

pub const BRIDGE_HELP: &str = "\
Examples:
  rdpshim bridge oldserver.corp                    # then: xfreerdp /v:127.0.0.1:PORT (printed)
  rdpshim bridge 10.0.0.5 -u alice --rdp ~/old.rdp # open ~/old.rdp in mstsc or Windows App
  rdpshim connect 10.0.0.5 -u alice --bridge --once --json

The bridge finds the configuration as `connect` does (profile first, then the ladder, with
the same --min-security, --accept-downgrade and --accept-new-cert rules), then listens on
127.0.0.1 and a free port (--listen for another address). Your client speaks modern TLS to
the bridge (its own certificate: compare the printed SHA-256 fingerprint); the bridge speaks
whatever the server needs. For an NLA server, sign in with the same user name and password
the bridge uses: it checks them before it uses its own. For a server without NLA you log on
at the server's own login screen. Ctrl-C stops the bridge.

Exit codes: as connect when no configuration is found; with --once, how the one session
went: 0 carried, 3 the client was refused (credentials), 4 it failed before it started
(5 the server was unreachable, 7 its certificate changed).";

/// The bridge's own flags (also accepted by `connect` together with `--bridge`).
#[derive(Debug, Clone, Args)]
pub struct BridgeOptions {
    /// Where the bridge listens for your RDP client: ADDR:PORT, ADDR or :PORT (default
    /// 127.0.0.1 and a free port). Any other address than loopback lets other machines
    /// reach the server through you: only when you say so.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,

    /// Exit when the first session ends.
    #[arg(long)]
    pub once: bool,

    /// Sessions carried at once; another client waits 2 s for one to end, then is turned away.
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_sessions: u16,

    /// Write an .rdp file for the bridge's address (mstsc, Windows App, Remmina); no password.
    #[arg(long, value_name = "FILE.rdp")]
    pub rdp: Option<PathBuf>,
}

impl BridgeOptions {
    fn given(&self) -> bool {
        self.listen.is_some() || self.once || self.max_sessions != 1 || self.rdp.is_some()
    }
}

/// `rdpshim bridge HOST`: `connect` that goes on as a bridge.
pub fn run(args: &ConnectArgs) -> ExitCode {
    super::connect::run_then(args, true)
}

/// Bridge flags without a bridge are a usage error, found before anything connects.
pub fn check_options(options: &BridgeOptions, bridge: bool) -> Result<(), String> {
    if !bridge && options.given() {
        return Err(
            "--listen, --once, --max-sessions and --rdp need --bridge (or `rdpshim bridge`)".into(),
        );
    }
    if let Some(listen) = &options.listen {
        parse_listen(listen)?;
    }
    Ok(())
}

/// `ADDR:PORT`, `[V6]:PORT`, `ADDR` or `:PORT`; port 0 or none = a free port.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 0));
    }
    if let Some(port) = text.strip_prefix(':') {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    Err(format!(
        "--listen `{text}`: expected ADDR:PORT, ADDR or :PORT (an IP address, not a name)"
    ))
}

/// Serves the user's client over the configuration `run` found (which connected).
pub fn serve(args: &ConnectArgs, host: &str, port: u16, run: &Run) -> ExitCode {
    let options = &args.bridge_options;
    let Some(winner) = run.steps.last() else {
        return fail("no attempt connected");
    };
    let listen = match options.listen.as_deref().map(parse_listen).transpose() {
        Ok(listen) => listen.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)),
        Err(message) => return fail(&message),
    };
    let identity_dir = match ProfileStore::default_root() {
        Ok(root) => root.join("bridge"),
        Err(e) => {
            return fail(&format!(
                "no configuration directory for the bridge's certificate: {e}"
            ))
        }
    };
    let identity = match Identity::load_or_create(&identity_dir) {
        Ok(identity) => identity,
        Err(e) => return fail(&e.to_string()),
    };
    let config = Rc::new(BridgeConfig {
        server: server_leg_spec(winner, StageTimeouts::uniform(args.timeout)),
        identity,
    });

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        let interrupt = match Interrupt::install() {
            Ok(interrupt) => interrupt,
            Err(e) => return fail(&format!("cannot catch Ctrl-C: {e}")),
        };
        let (tcp, local) = match listener::bind(listen).await {
            Ok(bound) => bound,
            Err(e) => return fail(&format!("cannot listen on {listen}: {e}")),
        };
        let mut console = Console { json: args.json };
        if let Err(message) = announce(args, host, port, winner, &config, local, &mut console) {
            return fail(&message);
        }
        let serve_options = ServeOptions {
            max_sessions: usize::from(options.max_sessions),
            once: options.once,
        };
        let (stopped, records) = listener::serve(
            tcp,
            config.clone(),
            serve_options,
            &mut console,
            interrupt.received(),
        )
        .await;
        console.stopped(stopped, &records);
        match stopped {
            Stopped::Interrupted { .. } => ExitCode::SUCCESS,
            Stopped::Once => records.first().map_or(ExitCode::SUCCESS, once_exit),
        }
    })
}

/// The ready line, the certificate, the FreeRDP line, the `.rdp` file.
fn announce(
    args: &ConnectArgs,
    host: &str,
    port: u16,
    winner: &rdpshim::ladder::Step,
    config: &BridgeConfig,
    local: SocketAddr,
    console: &mut Console,
) -> Result<(), String> {
    let spec = &config.server;
    let report = &winner.report;
    let server = report
        .address
        .map_or_else(|| format!("{host}:{port}"), |a| a.to_string());
    let tls = report
        .tls
        .as_ref()
        .map(|t| format!("TLS {}, {}", t.version.as_str(), stack_name(t)))
        .unwrap_or_else(|| "TLS".into());
    let nla = if spec.nla { "NLA" } else { "no NLA" };
    let credentials = spec.credentials.as_ref();
    let now = rdpshim_profiles::store::timestamp::now_rfc3339();
    let profile = client_files::bridge_profile(
        local,
        spec.nla,
        credentials.map(|c| c.username.as_str()),
        credentials.and_then(|c| c.domain.as_deref()),
        &config.identity.sha256,
        &now,
    );
    let freerdp = client_files::freerdp(&profile).shell_line();
    let rdp_written = match &args.bridge_options.rdp {
        Some(path) => Some(write_rdp(path, &client_files::rdp_file(&profile))?),
        None => None,
    };
    let exposed = !local.ip().is_loopback();
    if exposed {
        eprintln!(
            "WARNING: the bridge listens on {local}, which other machines can reach: anyone who \
             can connect to it reaches {server} through this machine{}",
            if spec.nla {
                " (they still need the user's password)"
            } else {
                " (its login screen, with no NLA in front of it)"
            }
        );
    }
    let ready = format!(
        "bridge ready: connect your RDP client to {local} (server {server} over {tls}, {nla})"
    );
    if console.json {
        eprintln!("{ready}");
        console.emit(json!({
            "event": "ready",
            "listen": local.to_string(),
            "loopback": !exposed,
            "server": server,
            "server_leg": {
                "nla": spec.nla,
                "tls": report.tls.as_ref().map(|t| json!({"stack": t.stack, "version": t.version, "cipher": t.cipher})),
                "server_name": spec.effective_server_name(),
            },
            "client_leg": {"nla": spec.nla, "tls": ["1.3", "1.2"]},
            "certificate_sha256": config.identity.sha256,
            "certificate_new": config.identity.created,
            "certificate_file": config.identity.certificate_path.display().to_string(),
            "freerdp": freerdp,
            "rdp_file": rdp_written.as_ref().map(|p| p.display().to_string()),
            "once": args.bridge_options.once,
            "max_sessions": args.bridge_options.max_sessions,
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{ready}");
        let _ = writeln!(
            out,
            "  certificate SHA-256 {}{} ({})",
            config.identity.sha256,
            if config.identity.created { ", new" } else { "" },
            config.identity.certificate_path.display()
        );
        let _ = writeln!(out, "  FreeRDP: {freerdp}");
        if let Some(path) = &rdp_written {
            let _ = writeln!(out, "  .rdp file: {}", path.display());
        }
        let _ = writeln!(
            out,
            "  {}",
            if spec.nla {
                "sign in with the same user name and password the bridge uses; it checks them first"
            } else {
                "no credentials pass through the bridge: log on at the server's own login screen"
            }
        );
        let _ = out.flush();
    }
    Ok(())
}

/// Writes the `.rdp` file atomically (a fresh temporary renamed over the name, never
/// through a symlink), 0600.
fn write_rdp(path: &std::path::Path, bytes: &[u8]) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("--rdp {}: not a file name", path.display()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    rdpshim_profiles::store::write_private_file(&dir, name, bytes)
        .map_err(|e| format!("--rdp {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

fn once_exit(record: &SessionRecord) -> ExitCode {
    ExitCode::from(match &record.outcome {
        Outcome::Carried { .. } => exit::CONNECTED,
        Outcome::Refused { .. } => exit::AUTH_FAILED,
        Outcome::Failed {
            side: Side::Server,
            failure,
        } => match failure.class {
            FailureClass::Dns | FailureClass::TcpRefused | FailureClass::TcpTimeout => {
                exit::UNREACHABLE
            }
            FailureClass::CertificateChanged => exit::CERTIFICATE_CHANGED,
            FailureClass::AuthFailed => exit::AUTH_FAILED,
            _ => exit::NO_WORKING_CONFIGURATION,
        },
        Outcome::Failed { .. } => exit::NO_WORKING_CONFIGURATION,
    })
}

/// The session log: stderr for people, JSON Lines on stdout with `--json`.
struct Console {
    json: bool,
}

impl Console {
    fn emit(&self, value: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    fn stopped(&mut self, stopped: Stopped, records: &[SessionRecord]) {
        let carried = records.iter().filter(|r| r.carried()).count();
        let (reason, cut) = match stopped {
            Stopped::Once => ("once", 0),
            Stopped::Interrupted { cut } => ("interrupted", cut),
        };
        if self.json {
            self.emit(json!({
                "event": "stopped",
                "reason": reason,
                "sessions": records.len(),
                "carried": carried,
                "cut": cut,
            }));
        }
        let cut = match cut {
            0 => String::new(),
            1 => "; the running session was closed".into(),
            n => format!("; {n} running sessions were closed"),
        };
        let why = match stopped {
            Stopped::Once => "the session ended (--once)",
            Stopped::Interrupted { .. } => "interrupted",
        };
        eprintln!(
            "bridge stopped ({why}): {} sessions, {carried} carried{cut}",
            records.len()
        );
    }
}

impl Events for Console {
    fn started(&mut self, number: usize, client: SocketAddr) {
        if self.json {
            self.emit(
                json!({"event": "connected", "number": number, "client": client.to_string()}),
            );
        }
        eprintln!("session {number}: client {client} connected");
    }

    fn ended(&mut self, record: &SessionRecord) {
        if self.json {
            self.emit(record.json());
        }
        eprintln!("{}", record.line());
    }

    fn turned_away(&mut self, client: SocketAddr, active: usize) {
        if self.json {
            self.emit(
                json!({"event": "turned-away", "client": client.to_string(), "active": active}),
            );
        }
        eprintln!("turned away {client}: {active} session(s) running, the limit (--max-sessions)");
    }

    fn accept_failed(&mut self, error: &std::io::Error) {
        let text = printable(&error.to_string());
        if self.json {
            self.emit(json!({"event": "accept-failed", "error": text}));
        }
        eprintln!("warning: accepting a client failed: {text}");
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("rdpshim bridge: {message}");
    ExitCode::from(exit::USAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:13389").unwrap(),
            "127.0.0.1:13389".parse().unwrap()
        );
        assert_eq!(
            parse_listen("0.0.0.0").unwrap(),
            "0.0.0.0:0".parse().unwrap()
        );
        assert_eq!(parse_listen("[::1]:5").unwrap(), "[::1]:5".parse().unwrap());
        assert_eq!(parse_listen("::1").unwrap(), "[::1]:0".parse().unwrap());
        assert_eq!(
            parse_listen(":4000").unwrap(),
            "127.0.0.1:4000".parse().unwrap()
        );
        assert!(parse_listen("localhost:1").is_err());
        assert!(parse_listen("1.2.3.4:99999").is_err());
    }

    #[test]
    fn bridge_flags_need_a_bridge() {
        let options = BridgeOptions {
            listen: None,
            once: true,
            max_sessions: 1,
            rdp: None,
        };
        assert!(check_options(&options, false).is_err());
        assert!(check_options(&options, true).is_ok());
    }
}
