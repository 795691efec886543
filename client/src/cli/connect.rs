//! `rdpshim connect`: flags in, [`rdpshim::session::connect`] (the ladder from the host's
//! profile, recorded back into it), the result out for people or as JSON, an exit code.
//! `rdpshim bridge` (`bridge.rs`) starts with exactly this and goes on from its outcome.

use std::io::Write as _;
use std::process::ExitCode;

use rdpshim::json::RunJson;
use rdpshim::session::{self, Outcome, SessionError};
use rdpshim::terminal::escape;

use super::args::ConnectArgs;
use super::progress::Console;
use super::{exit, render, request};

pub fn run(args: &ConnectArgs) -> ExitCode {
    match connect(args) {
        Ok(_) => exit::connected(),
        Err(code) => code,
    }
}

/// Runs the session for `args` and shows its result as `connect` does (warnings and the
/// final line on stderr, the summary or the JSON object on stdout): the outcome when it
/// connected, else the exit code (a usage error or the verdict's). `bridge` starts the same
/// way.
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
        eprintln!("warning: {}", escape(warning));
    }
    eprintln!("{}", render::final_line(run));
    eprint!("{}", render::verdict_causes(run));

    let mut stdout = std::io::stdout().lock();
    if json {
        let json = RunJson::new(&outcome.host, outcome.port, run, outcome.warnings.clone());
        let text =
            serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else if let (Ok(_), Some(step)) = (&run.result, run.steps.last()) {
        let _ = write!(stdout, "{}", render::summary(&step.report));
    }
    let _ = stdout.flush();
    match &run.result {
        Ok(_) => Ok(outcome),
        Err(verdict) => Err(exit::for_verdict(verdict.kind)),
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("rdpshim: {message}");
    ExitCode::from(exit::USAGE)
}
