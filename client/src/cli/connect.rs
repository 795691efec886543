//! `rdpshim connect`: the fallback ladder, or exactly one attempt with `--no-fallback`.

use std::io::Write as _;
use std::process::ExitCode;

use rdpshim::attempt::Credentials;
use rdpshim::json::RunJson;
use rdpshim::secret::{self, PasswordSource};

use super::args::ConnectArgs;
use super::progress::Console;
use super::{exit, render};

pub fn run(args: &ConnectArgs) -> ExitCode {
    let mut request = match args.to_request() {
        Ok(request) => request,
        Err(message) => return usage(&message),
    };
    match credentials(args, &request.host) {
        Ok(credentials) => request.credentials = credentials,
        Err(message) => return usage(&message),
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage(&format!("cannot start the async runtime: {e}")),
    };
    let (host, port) = (request.host.clone(), request.port);
    let mut console = Console::new(args.json, &host, args.user.clone(), args.domain.clone());
    let run = runtime.block_on(rdpshim::ladder::run(request, &mut console));

    let mut warnings = Vec::new();
    if let Some(report) = run.steps.last().map(|s| &s.report) {
        if let Some(cert) = &report.certificate {
            warnings.extend(rdpshim::advice::certificate_warnings(cert, &report.server_name));
        }
        if let Ok(connected) = &report.result {
            if let Some(error) = &connected.screenshot_error {
                warnings.push(format!("the screenshot was not saved: {error}"));
            }
            if connected.declined_multitransport {
                warnings.push(
                    "the server offered UDP multitransport; declined, the session stays on TCP"
                        .to_owned(),
                );
            }
        }
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!("{}", render::final_line(&run));

    let mut stdout = std::io::stdout().lock();
    if args.json {
        let json = RunJson::new(&host, port, &run, warnings);
        let text =
            serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else if let (Ok(_), Some(step)) = (&run.result, run.steps.last()) {
        let _ = write!(stdout, "{}", render::summary(&step.report));
    }
    match &run.result {
        Ok(_) => exit::connected(),
        Err(verdict) => exit::for_verdict(verdict.kind),
    }
}

/// Credentials when a user was named: the password comes from stdin, the environment or a
/// prompt, never from an argument.
fn credentials(args: &ConnectArgs, host: &str) -> Result<Option<Credentials>, String> {
    let Some(user) = &args.user else {
        if args.password_stdin {
            return Err("--password-stdin needs a user name (-u USER)".to_owned());
        }
        return Ok(None);
    };
    let source = if args.password_stdin {
        PasswordSource::Stdin
    } else {
        PasswordSource::EnvOrPrompt
    };
    let password = match secret::read_password(source, &format!("{user}@{host}")) {
        Ok(password) => password,
        // No password source: NLA servers will say so; TLS-only servers do not need one.
        Err(secret::PasswordError::NoSource) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    Ok(Some(Credentials {
        username: user.clone(),
        domain: args.domain.clone(),
        password,
    }))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("rdpshim: {message}");
    ExitCode::from(exit::USAGE)
}
