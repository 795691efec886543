//! `rdpshim open HOST[:PORT]`: the working configuration found exactly as `connect` finds it
//! (the profile first, else the ladder; every fallback announced; the same floor, downgrade
//! and certificate rules), then the user's own client started with it
//! ([`rdpshim::handoff`]). rdpshim waits for the client and exits with its status.
//!
//! Where no installed client can be told what the server needs (an `.rdp` file or Remmina
//! and a TLS 1.0-only server), or with `--bridge`, the first one is started pointed at an
//! in-process bridge on 127.0.0.1 instead ([`rdpshim::handoff::bridged`]): the bridge's
//! ready line and session log as `rdpshim bridge` prints them, and the bridge ends with the
//! client.

use std::process::ExitCode;

use rdpshim::attempt::Credentials;
use rdpshim::bridge::{self, Bridge, Interrupt};
use rdpshim::handoff::express::{what_client_can_express, Expressible, Needs};
use rdpshim::handoff::launch::{self, LaunchError, Plan, Started};
use rdpshim::handoff::{bridged, client, Client, Environment, Named};
use rdpshim::session::Outcome;
use rdpshim::terminal::escape;
use rdpshim_profiles::Profile;

use super::args::OpenArgs;
use super::bridge::{failed_to_open, Console};
use super::flags::BridgeOptions;
use super::progress::say;
use super::{connect, exit, request};

pub fn run(args: &OpenArgs) -> ExitCode {
    let env = Environment::current();
    let wanted: Vec<Named> = match &args.client.client {
        Some(name) => vec![Named::parse(name)],
        None => client::candidates(&env),
    };
    // Before connecting: with no client to start, the ladder would run for nothing.
    let installed: Vec<Client> = wanted
        .iter()
        .filter_map(|named| client::find(named, &env))
        .collect();
    if installed.is_empty() {
        return no_client(&match &args.client.client {
            Some(name) => format!("{} is not installed (not found on PATH)", escape(name)),
            None => "no RDP client found: install FreeRDP (Debian: freerdp2-x11 or \
                     freerdp3-x11; Homebrew: freerdp) or Remmina, or name one with --client"
                .to_owned(),
        });
    }

    let outcome = match connect::connect(&args.connect) {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    let Some(profile) = &outcome.configuration else {
        return no_client("the run connected but left no configuration to hand over");
    };
    let needs = Needs::of(profile);
    let credentials = outcome.winner().and_then(|w| w.credentials().cloned());
    let direct = installed
        .iter()
        .find(|c| what_client_can_express(c.target(), &needs) == Expressible::Direct);
    match direct {
        Some(chosen) if !args.bridge => {
            let plan = launch::plan(chosen, profile, credentials.as_ref());
            let mut child = match start(chosen, &plan, credentials.as_ref()) {
                Ok(started) => started.child,
                Err(code) => return code,
            };
            match child.wait() {
                Ok(status) => ExitCode::from(status_code(status)),
                Err(error) => no_client(&format!("waiting for the client: {error}")),
            }
        }
        _ => {
            let client = &installed[0];
            if !args.bridge {
                say(&format!(
                    "{} cannot open {} itself: {}; carrying the session through a bridge",
                    client.describe(),
                    target_label(&outcome),
                    escape(&blocking_reason(client, &needs))
                ));
            }
            through_bridge(args, &outcome, profile, client)
        }
    }
}

/// `client` pointed at an in-process bridge over the configuration `outcome` found, until
/// the client exits: its status, as for a direct `open`.
fn through_bridge(
    args: &OpenArgs,
    outcome: &Outcome,
    profile: &Profile,
    client: &Client,
) -> ExitCode {
    let Some(winner) = outcome.winner() else {
        return no_client("the run connected but left no configuration to hand over");
    };
    // Loopback and a free port, one session at a time, for as long as the client runs.
    let options = BridgeOptions {
        listen: None,
        once: false,
        max_sessions: 1,
        rdp: None,
    };
    let request = request::bridge_request(&args.connect, &options);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return no_client(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        let interrupt = match Interrupt::install() {
            Ok(interrupt) => interrupt,
            Err(e) => return no_client(&format!("cannot catch Ctrl-C: {e}")),
        };
        let bridge = match Bridge::open(winner, request).await {
            Ok(bridge) => bridge,
            Err(error) => return failed_to_open(&error),
        };
        let mut console = Console::new(args.connect.output.json);
        console.ready(bridge.ready(), &options, None);
        // The account the bridge makes the client prove (the host's, or through an RD
        // Gateway in front of a server without NLA, the gateway's): what the client gets.
        let account = bridge.client_account().cloned();
        let plan = bridged::plan(client, bridge.ready(), profile, account.as_ref());
        let started = match start(client, &plan, account.as_ref()) {
            Ok(started) => started,
            Err(code) => return code,
        };
        let carried =
            bridged::carry(bridge, started.child, &mut console, interrupt.received()).await;
        let cut = match carried.stopped {
            bridge::Stopped::Interrupted { cut } => cut,
            bridge::Stopped::Once => 0,
        };
        match carried.status {
            Some(Ok(status)) => {
                console.stopped_because(
                    "the client exited",
                    "client-exited",
                    cut,
                    &carried.records,
                );
                ExitCode::from(status_code(status))
            }
            Some(Err(error)) => {
                console.stopped_because("the client is lost", "client-lost", cut, &carried.records);
                no_client(&format!("waiting for the client: {error}"))
            }
            None => {
                console.stopped_because(
                    "interrupted; the client was ended",
                    "interrupted",
                    cut,
                    &carried.records,
                );
                ExitCode::from(exit::CONNECTED)
            }
        }
    })
}

/// Writes the plan's file, starts the client and says so (with its notes): the client, or
/// the exit code when it did not start.
fn start(
    client: &Client,
    plan: &Plan,
    credentials: Option<&Credentials>,
) -> Result<Started, ExitCode> {
    for note in &plan.notes {
        say(&format!("note: {}", escape(note)));
    }
    let started = match launch::start(plan, credentials) {
        Ok(started) => started,
        Err(LaunchError::File(error)) => {
            eprintln!("rdpshim: {}", escape(&error.to_string()));
            return Err(ExitCode::from(exit::LOCAL_FILE));
        }
        Err(error) => return Err(no_client(&error.to_string())),
    };
    say(&format!(
        "opening with {}: {}{}",
        client.describe(),
        escape(&plan.shown(started.file.as_deref())),
        if plan.password_on_stdin {
            " (the password on its standard input)"
        } else {
            ""
        }
    ));
    if let Some(error) = &started.password_error {
        say(&format!(
            "warning: the password did not reach the client: {error}"
        ));
    }
    Ok(started)
}

/// The client's exit status as ours: its code, or 128 + the signal that ended it (as a
/// shell reports it).
fn status_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + (signal & 0x7f)).unwrap_or(1),
        (None, None) => 1,
    }
}

/// Why `client` cannot open the configuration itself (what `express` found missing).
fn blocking_reason(client: &Client, needs: &Needs) -> String {
    match what_client_can_express(client.target(), needs) {
        Expressible::NeedsBridge(reason) => reason,
        Expressible::Direct => String::new(),
    }
}

/// `HOST:PORT` of the run, escaped for the terminal.
fn target_label(outcome: &Outcome) -> String {
    escape(
        &rdpshim::host::HostPort {
            host: outcome.host.clone(),
            port: outcome.port,
        }
        .label(),
    )
    .into_owned()
}

fn no_client(message: &str) -> ExitCode {
    eprintln!("rdpshim: {message}");
    ExitCode::from(exit::NO_CLIENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;

    #[test]
    fn the_clients_status_is_passed_on() {
        assert_eq!(status_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(status_code(ExitStatus::from_raw(131 << 8)), 131);
        assert_eq!(status_code(ExitStatus::from_raw(15)), 128 + 15, "SIGTERM");
    }
}
