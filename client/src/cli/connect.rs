//! `rdpshim connect`: flags in, [`rdpshim::session::connect`] (the ladder from the host's
//! profile, recorded back into it), the result out for people or as JSON, an exit code, and
//! how to open the session in a client. `rdpshim bridge` (`bridge.rs`) and `rdpshim open`
//! start with exactly this and go on from its outcome.

use std::io::Write as _;
use std::process::ExitCode;

use rdpshim::handoff::{client, Environment};
use rdpshim::host::HostPort;
use rdpshim::json::RunJson;
use rdpshim::session::{self, Outcome, SessionError};
use rdpshim::terminal::escape;
use rdpshim_profiles::export::freerdp_command;

use super::args::ConnectArgs;
use super::progress::{say, Console};
use super::{exit, render, request, style};

pub fn run(args: &ConnectArgs) -> ExitCode {
    match connect(args) {
        Ok(outcome) => {
            if !args.output.json && !style::quiet() {
                open_with(&outcome);
            }
            exit::connected()
        }
        Err(code) => code,
    }
}

/// Runs the session for `args` and prints it as `connect` does (progress, warnings, the
/// verdict line, the summary or JSON): the outcome when it connected, else the exit code.
/// `open` and `bridge` start the same way.
pub fn connect(args: &ConnectArgs) -> Result<Outcome, ExitCode> {
    let request = request::connect_request(args).map_err(|message| usage(&message))?;
    let json = args.output.json;
    let mut console = Console::new(json);
    let store = session::open_store(&mut console);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(&format!("cannot start the async runtime: {e}")))?;
    let outcome = match runtime.block_on(session::connect(request, store.as_ref(), &mut console)) {
        Ok(outcome) => outcome,
        Err(error @ (SessionError::PasswordStdinNeedsUser | SessionError::Password(_))) => {
            return Err(usage(&error.to_string()))
        }
    };
    let run = &outcome.run;

    for warning in &outcome.warnings {
        say(&format!("warning: {}", escape(warning)));
    }
    eprintln!("{}", verdict_line(run));
    // The causes with their evidence and remedies: part of the verdict, so kept under -q.
    eprint!("{}", render::verdict_causes(run));

    let mut stdout = std::io::stdout().lock();
    if json {
        let json = RunJson::new(&outcome.host, outcome.port, run, outcome.warnings.clone());
        let text =
            serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else if let (Ok(_), Some(step), false) = (&run.result, run.steps.last(), style::quiet()) {
        let _ = write!(stdout, "{}", render::summary(&step.report));
    }
    let _ = stdout.flush();
    match &run.result {
        Ok(_) => Ok(outcome),
        Err(verdict) => Err(exit::for_verdict(verdict.kind)),
    }
}

/// The last lines after a connection: `rdpshim open HOST:PORT`, and the FreeRDP command
/// line when a FreeRDP client is installed (written for its version, without a password:
/// FreeRDP asks for it).
fn open_with(outcome: &Outcome) {
    let target = HostPort {
        host: outcome.host.clone(),
        port: outcome.port,
    };
    eprintln!("open with: rdpshim open {}", escape(&target.label()));
    let freerdp = client::first_freerdp(&Environment::current());
    if let (Some(profile), Some(client::Client::FreeRdp { name, version, .. })) =
        (&outcome.configuration, freerdp)
    {
        let mut command = freerdp_command(profile, version);
        command.argv[0] = name;
        eprintln!("       or: {}", escape(&command.shell_line()));
    }
}

/// The verdict line ([`render::final_line`]), green when connected, red when not.
pub fn verdict_line(run: &rdpshim::ladder::Run) -> String {
    let line = render::final_line(run);
    match run.result {
        Ok(_) => style::err().good(&line),
        Err(_) => style::err().bad(&line),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("rdpshim: {message}");
    ExitCode::from(exit::USAGE)
}
