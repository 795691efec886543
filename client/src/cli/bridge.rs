//! `rdpshim bridge HOST` and `rdpshim connect HOST --bridge`: connect exactly as `connect`
//! does (`connect.rs`: the session, its output), then open a [`Bridge`] on the
//! configuration that won and carry the user's own client's sessions until Ctrl-C (or,
//! `--once`, the end of the first). This file renders the bridge's events and picks the
//! exit code; the bridge itself is `rdpshim::bridge`.
//!
//! Output: the session log goes to stderr as lines for people, always (as connect's
//! attempt lines do). Without `--json` the ready block goes to stdout (where to point the
//! client, the certificate fingerprint, the FreeRDP command line); with `--json` stdout is
//! JSON Lines instead: connect's object first, then one object per event (`ready`,
//! `connected`, `session`, `turned-away`, `accept-failed`, `stopped`), and the ready line
//! goes to stderr.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use rdpshim::bridge::record::Outcome;
use rdpshim::bridge::splice::Side;
use rdpshim::bridge::{Bridge, BridgeError, Events, Interrupt, Ready, SessionRecord, Stopped};
use rdpshim::terminal::escape;
use rdpshim_profiles::safe_file;
use serde_json::json;

use super::args::ConnectArgs;
use super::connect;
use super::exit;
use super::flags::BridgeOptions;
use super::request;

/// Connects as `connect` does, then serves the user's client over what connected.
pub fn run(connect: &ConnectArgs, options: &BridgeOptions) -> ExitCode {
    let outcome = match connect::connect(connect) {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    let Some(winner) = outcome.winner() else {
        return fail(exit::NO_WORKING_CONFIGURATION, "no attempt connected");
    };
    let json = connect.output.json;
    let bridge_request = request::bridge_request(connect, options);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(exit::USAGE, &format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        // Before the ready line: a script that reads it and interrupts at once gets a
        // clean stop rather than the default action.
        let interrupt = match Interrupt::install() {
            Ok(interrupt) => interrupt,
            Err(e) => return fail(exit::USAGE, &format!("cannot catch Ctrl-C: {e}")),
        };
        let bridge = match Bridge::open(winner, bridge_request).await {
            Ok(bridge) => bridge,
            Err(error) => return failed_to_open(&error),
        };
        let rdp_written = match &options.rdp {
            Some(path) => match write_rdp(path, bridge.ready()) {
                Ok(()) => Some(path.as_path()),
                Err(message) => return fail(exit::LOCAL_FILE, &message),
            },
            None => None,
        };
        let mut console = Console::new(json);
        console.ready(bridge.ready(), options, rdp_written);
        let (stopped, records) = bridge.serve(&mut console, interrupt.received()).await;
        console.stopped(stopped, &records);
        match stopped {
            Stopped::Interrupted { .. } => exit::connected(),
            Stopped::Once => records.first().map_or_else(exit::connected, once_exit),
        }
    })
}

/// The exit code and line for a bridge that cannot start (`open` uses it too).
pub(super) fn failed_to_open(error: &BridgeError) -> ExitCode {
    let code = match error {
        // Both are the user's to change: another address, another gateway account.
        BridgeError::Listen { .. } | BridgeError::OwnGatewayAccount { .. } => exit::USAGE,
        BridgeError::NoConfigDirectory(_) | BridgeError::Identity(_) => exit::LOCAL_FILE,
    };
    // The gateway user may come from an imported `.rdp` file.
    fail(code, &escape(&error.to_string()))
}

/// `--rdp FILE`: through `safe_file` (atomically, 0600; a link, FIFO or device there is
/// refused and left as it is).
fn write_rdp(path: &Path, ready: &Ready) -> Result<(), String> {
    safe_file::write_user_file(path, &ready.rdp_file(), safe_file::PRIVATE)
        .map(drop)
        .map_err(|e| format!("--rdp: {e}"))
}

/// `--once`: how the one session went.
fn once_exit(record: &SessionRecord) -> ExitCode {
    match &record.outcome {
        Outcome::Carried { .. } => exit::connected(),
        Outcome::Refused { failure }
        | Outcome::Failed {
            side: Side::Server,
            failure,
            ..
        } => exit::for_failure(&failure.class),
        Outcome::Failed { .. } => ExitCode::from(exit::NO_WORKING_CONFIGURATION),
    }
}

/// The session log: stderr for people, JSON Lines on stdout with `--json` (`open`'s
/// bridge logs the same way).
pub(super) struct Console {
    json: bool,
}

impl Console {
    pub(super) fn new(json: bool) -> Self {
        Self { json }
    }

    fn emit(&self, value: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    /// The ready line, the certificate, the FreeRDP line, the `.rdp` file, and a warning
    /// when the listener is reachable from other machines.
    pub(super) fn ready(&self, ready: &Ready, options: &BridgeOptions, rdp: Option<&Path>) {
        let server = escape(&ready.server);
        let tls = ready
            .server_tls
            .as_ref()
            .map(|t| format!("TLS {}, {}", t.version.as_str(), t.stack.name()))
            .unwrap_or_else(|| "TLS".into());
        let nla = if ready.nla { "NLA" } else { "no NLA" };
        let through = ready
            .gateway
            .as_ref()
            .map(|g| format!(", through the RD Gateway {}", escape(&g.endpoint)))
            .unwrap_or_default();
        let listen = ready.listen;
        let freerdp = ready.freerdp();
        if !ready.loopback {
            eprintln!(
                "WARNING: the bridge listens on {listen}, which other machines can reach: anyone who \
                 can connect to it reaches {server} through this machine{}{}",
                if ready.gateway.is_some() {
                    " and the RD Gateway account the bridge holds"
                } else {
                    ""
                },
                if ready.client_nla {
                    " (they still need the account's password)"
                } else {
                    " (its login screen, with no NLA in front of it)"
                }
            );
        }
        let line = format!(
            "bridge ready: connect your RDP client to {listen} (server {server} over {tls}, {nla}{through})"
        );
        if self.json {
            eprintln!("{line}");
            self.emit(json!({
                "event": "ready",
                "listen": listen.to_string(),
                "loopback": ready.loopback,
                "server": ready.server,
                "server_leg": {
                    "nla": ready.nla,
                    "tls": ready.server_tls.as_ref().map(|t| json!({"stack": t.stack, "version": t.version, "cipher": t.cipher})),
                    "server_name": ready.server_name,
                    "gateway": ready.gateway.as_ref().map(|g| json!({
                        "endpoint": g.endpoint,
                        "address": g.address.map(|a| a.to_string()),
                        "tls": g.tls,
                        "transport": g.transport,
                    })),
                },
                "client_leg": {"nla": ready.client_nla, "user": ready.client_user, "tls": ["1.3", "1.2"]},
                "certificate_sha256": ready.certificate_sha256,
                "certificate_new": ready.certificate_new,
                "certificate_file": ready.certificate_path.display().to_string(),
                "freerdp": freerdp,
                "rdp_file": rdp.map(|p| p.display().to_string()),
                "once": options.once,
                "max_sessions": options.max_sessions,
            }));
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = writeln!(
            out,
            "  certificate SHA-256 {}{} ({})",
            ready.certificate_sha256,
            if ready.certificate_new { ", new" } else { "" },
            ready.certificate_path.display()
        );
        let _ = writeln!(out, "  FreeRDP: {}", escape(&freerdp));
        if let Some(path) = rdp {
            let _ = writeln!(out, "  .rdp file: {}", path.display());
        }
        let _ = writeln!(
            out,
            "  {}",
            match (ready.client_nla, ready.nla) {
                (true, true) => "sign in with the same user name and password the bridge uses; \
                                 it checks them first"
                    .to_owned(),
                (true, false) => format!(
                    "sign in with the RD Gateway's account ({}); the bridge checks it before it \
                     opens a tunnel, then log on at the server's own login screen",
                    escape(ready.client_user.as_deref().unwrap_or_default())
                ),
                (false, _) => "no credentials pass through the bridge: log on at the server's \
                               own login screen"
                    .to_owned(),
            }
        );
        let _ = out.flush();
    }

    fn stopped(&mut self, stopped: Stopped, records: &[SessionRecord]) {
        match stopped {
            Stopped::Once => self.stopped_because("the session ended (--once)", "once", 0, records),
            Stopped::Interrupted { cut } => {
                self.stopped_because("interrupted", "interrupted", cut, records)
            }
        }
    }

    /// The last line (and `stopped` event): `why` for people, `reason` in JSON, `cut`
    /// sessions that were still running.
    pub(super) fn stopped_because(
        &mut self,
        why: &str,
        reason: &str,
        cut: usize,
        records: &[SessionRecord],
    ) {
        let carried = records.iter().filter(|r| r.carried()).count();
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
        let text = error.to_string();
        if self.json {
            self.emit(json!({"event": "accept-failed", "error": text}));
        }
        eprintln!("warning: accepting a client failed: {}", escape(&text));
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("rdpshim bridge: {message}");
    ExitCode::from(code)
}
