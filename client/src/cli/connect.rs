//! `rdpshim connect`: one attempt with the knobs given (`--no-fallback`).

use std::io::Write as _;
use std::process::ExitCode;

use rdpshim::attempt::{AttemptSpec, Credentials};
use rdpshim::json::RunJson;
use rdpshim::secret::{self, PasswordSource};

use super::args::ConnectArgs;
use super::{exit, render};

pub fn run(args: &ConnectArgs) -> ExitCode {
    let mut spec = match args.to_spec() {
        Ok(spec) => spec,
        Err(message) => return usage(&message),
    };
    match credentials(args, &spec) {
        Ok(credentials) => spec.credentials = credentials,
        Err(message) => return usage(&message),
    }
    if !args.no_fallback {
        eprintln!("note: the fallback ladder is not available yet; making one attempt with the knobs given");
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage(&format!("cannot start the async runtime: {e}")),
    };
    let report = runtime.block_on(rdpshim::engine::run_attempt(&spec));

    let mut warnings = Vec::new();
    if let Some(cert) = &report.certificate {
        warnings.extend(rdpshim::advice::certificate_warnings(cert));
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

    eprintln!("{}", render::attempt_line(1, &spec, &report));
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let reports = [report];
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let json = RunJson::new(&spec.host, spec.port, &reports, warnings);
        let text =
            serde_json::to_string(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else {
        let _ = write!(stdout, "{}", render::summary(&spec, &reports[0]));
    }
    exit::for_report(&reports[0])
}

/// Credentials when a user was named. The password is read only if NLA may need it.
fn credentials(args: &ConnectArgs, spec: &AttemptSpec) -> Result<Option<Credentials>, String> {
    let Some(user) = &args.user else {
        if args.password_stdin {
            return Err("--password-stdin needs a user name (-u USER)".to_owned());
        }
        return Ok(None);
    };
    if !spec.nla && !args.password_stdin {
        // TLS-only logon happens on the server's own login screen.
        return Ok(Some(Credentials {
            username: user.clone(),
            domain: args.domain.clone(),
            password: secret::Password::new(""),
        }));
    }
    let source = if args.password_stdin {
        PasswordSource::Stdin
    } else {
        PasswordSource::EnvOrPrompt
    };
    let who = format!("{user}@{}", spec.host);
    let password = secret::read_password(source, &who).map_err(|e| e.to_string())?;
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
