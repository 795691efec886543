//! `rdpshim open HOST[:PORT]`: the working configuration found exactly as `connect` finds it
//! (the profile first, else the ladder; every fallback announced; the same floor, downgrade
//! and certificate rules), then the user's own client started with it
//! ([`rdpshim::handoff`]). rdpshim waits for the client and exits with its status.

use std::process::ExitCode;

use rdpshim::handoff::express::{what_client_can_express, Expressible, Needs};
use rdpshim::handoff::launch::{self, LaunchError};
use rdpshim::handoff::{client, Client, Environment, Named};
use rdpshim::terminal::escape;

use super::args::OpenArgs;
use super::progress::say;
use super::{connect, exit};

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
    let chosen = installed
        .iter()
        .find(|c| what_client_can_express(c.target(), &needs) == Expressible::Direct);
    let Some(chosen) = chosen else {
        return cannot_express(&installed[0], &needs, &outcome.host, outcome.port);
    };

    let credentials = outcome.winner().and_then(|w| w.credentials().cloned());
    let plan = launch::plan(chosen, profile, credentials.as_ref());
    for note in &plan.notes {
        say(&format!("note: {}", escape(note)));
    }
    let started = match launch::start(&plan, credentials.as_ref()) {
        Ok(started) => started,
        Err(LaunchError::File(error)) => {
            eprintln!("rdpshim: {}", escape(&error.to_string()));
            return ExitCode::from(exit::LOCAL_FILE);
        }
        Err(error) => return no_client(&error.to_string()),
    };
    say(&format!(
        "opening with {}: {}{}",
        chosen.describe(),
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
    let mut child = started.child;
    match child.wait() {
        Ok(status) => ExitCode::from(status_code(status)),
        Err(error) => no_client(&format!("waiting for the client: {error}")),
    }
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

/// The installed client cannot reach this server: why, and who can.
fn cannot_express(client: &Client, needs: &Needs, host: &str, port: u16) -> ExitCode {
    let reason = match what_client_can_express(client.target(), needs) {
        Expressible::NeedsBridge(reason) => reason,
        Expressible::Direct => String::new(),
    };
    let target = escape(
        &rdpshim::host::HostPort {
            host: host.to_owned(),
            port,
        }
        .label(),
    )
    .into_owned();
    eprintln!(
        "rdpshim: {} cannot open {target}: {}.\n\
         FreeRDP can (`rdpshim open {target} --client xfreerdp`: /tls-seclevel:0 on FreeRDP 2, \
         /tls:seclevel:0,enforce:1.0 on FreeRDP 3), and `rdpshim bridge` carries the \
         connection for any client.",
        client.describe(),
        escape(&reason)
    );
    ExitCode::from(exit::NO_CLIENT)
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
