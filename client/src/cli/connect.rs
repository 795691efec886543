//! `rdpshim connect`: flags in, [`rdpshim::session::connect`] (the ladder from the host's
//! profile, recorded back into it), the result out for people or as JSON, an exit code.

use std::io::Write as _;
use std::process::ExitCode;

use rdpshim::json::RunJson;
use rdpshim::session::{self, SessionError};
use rdpshim::terminal::escape;

use super::args::ConnectArgs;
use super::progress::{say, Console};
use super::{exit, render, request, style};

pub fn run(args: &ConnectArgs) -> ExitCode {
    let request = match request::connect_request(args) {
        Ok(request) => request,
        Err(message) => return usage(&message),
    };
    let json = args.output.json;
    let mut console = Console::new(json);
    let store = session::open_store(&mut console);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage(&format!("cannot start the async runtime: {e}")),
    };
    let outcome = match runtime.block_on(session::connect(request, store.as_ref(), &mut console)) {
        Ok(outcome) => outcome,
        Err(error @ (SessionError::PasswordStdinNeedsUser | SessionError::Password(_))) => {
            return usage(&error.to_string())
        }
    };
    let run = &outcome.run;

    for warning in &outcome.warnings {
        say(&format!("warning: {}", escape(warning)));
    }
    eprintln!("{}", verdict_line(run));

    let mut stdout = std::io::stdout().lock();
    if json {
        let json = RunJson::new(&outcome.host, outcome.port, run, outcome.warnings.clone());
        let text =
            serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else if let (Ok(_), Some(step), false) = (&run.result, run.steps.last(), style::quiet()) {
        let _ = write!(stdout, "{}", render::summary(&step.report));
    }
    match &run.result {
        Ok(_) => exit::connected(),
        Err(verdict) => exit::for_verdict(verdict.kind),
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
