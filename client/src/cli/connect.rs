//! `rdpshim connect`: the fallback ladder (or exactly one attempt with `--no-fallback`),
//! starting from the host's saved profile and saving what worked; with `--bridge` (and as
//! `rdpshim bridge`) it then carries the user's own client over it (`cli/bridge.rs`).

use std::io::Write as _;
use std::process::ExitCode;

use rdpshim::attempt::Credentials;
use rdpshim::json::RunJson;
use rdpshim::ladder::Run;
use rdpshim_profiles::model::Profile;
use rdpshim_profiles::store::ProfileStore;

use super::args::ConnectArgs;
use super::credentials::{self, Keyring, Origin};
use super::progress::Console;
use super::{exit, render};

pub fn run(args: &ConnectArgs) -> ExitCode {
    run_then(args, args.bridge)
}

/// Connect, and with `bridge` keep serving the user's own client over what connected
/// (`rdpshim bridge` and `rdpshim connect --bridge`).
pub fn run_then(args: &ConnectArgs, bridge: bool) -> ExitCode {
    if let Err(message) = super::bridge::check_options(&args.bridge_options, bridge) {
        return usage(&message);
    }
    let mut request = match args.to_request() {
        Ok(request) => request,
        Err(message) => return usage(&message),
    };
    let (host, port) = (request.host.clone(), request.port);

    let store = match ProfileStore::open_default() {
        Ok(store) => Some(store),
        Err(e) => {
            eprintln!("note: no profile directory ({e}); nothing is saved");
            None
        }
    };
    let profile = store.as_ref().and_then(|s| load_profile(s, &host, port));
    if let Some(profile) = &profile {
        if !args.no_fallback {
            request.policy.profile = rdpshim::saved::preferred(profile);
            request.policy.baseline = rdpshim::saved::baseline(profile);
            request
                .policy
                .known_addresses
                .extend(rdpshim::saved::known_addresses(profile));
        }
        if !args.accept_new_cert {
            request.pinned_certificate = profile.certificate.as_ref().map(|c| c.sha256.clone());
        }
    }

    // The user from the command line, else the one the profile remembers.
    let user = args
        .user
        .clone()
        .or_else(|| profile.as_ref().and_then(|p| p.username.clone()));
    let domain = args
        .domain
        .clone()
        .or_else(|| profile.as_ref().and_then(|p| p.domain.clone()));
    if args.password_stdin && user.is_none() {
        return usage("--password-stdin needs a user name (-u USER)");
    }
    let mut keyring = Keyring::new(args.json);
    let mut origin = None;
    if let Some(user) = &user {
        // Prompt up front only when NLA is likely: the user named on the command line, or
        // a profile that connected with NLA. TLS-only servers need no password.
        let nla_likely =
            args.user.is_some() || request.policy.profile.as_ref().is_some_and(|k| k.nla);
        match credentials::find(user, &host, args.password_stdin, nla_likely, &mut keyring) {
            Ok(Some((password, from))) => {
                origin = Some(from);
                request.credentials = Some(Credentials {
                    username: user.clone(),
                    domain: domain.clone(),
                    password,
                });
            }
            Ok(None) => {}
            Err(message) => return usage(&message),
        }
    }
    let had_credentials = request.credentials.is_some();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage(&format!("cannot start the async runtime: {e}")),
    };
    let mut console = Console::new(args.json, &host, user.clone(), domain.clone());
    let run = runtime.block_on(rdpshim::ladder::run(request, &mut console));

    let warnings = warnings(&run);
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    eprintln!("{}", render::final_line(&run));

    if !args.no_save {
        if let Some(store) = &store {
            save_profile(
                store,
                &host,
                port,
                &run,
                profile.is_some(),
                args.accept_new_cert,
            );
        }
        if let (Ok(success), Some(credentials)) = (&run.result, &run.credentials) {
            if success.winner.nla {
                let origin = if had_credentials {
                    origin
                } else {
                    Some(Origin::Prompt)
                };
                credentials::remember(credentials, &host, origin, &mut keyring);
            }
        }
    }

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
        Ok(_) if bridge => super::bridge::serve(args, &host, port, &run),
        Ok(_) => exit::connected(),
        Err(verdict) => exit::for_verdict(verdict.kind),
    }
}

/// The saved profile, or `None` with a note when it cannot be read (never fatal: connect
/// goes on without it, and the file is left as it is).
fn load_profile(store: &ProfileStore, host: &str, port: u16) -> Option<Profile> {
    match store.load(host, port) {
        Ok(profile) => profile,
        Err(e) => {
            eprintln!(
                "warning: {e} (`rdpshim profile repair {host}:{port}`); connecting without the saved profile"
            );
            None
        }
    }
}

fn save_profile(
    store: &ProfileStore,
    host: &str,
    port: u16,
    run: &Run,
    had_profile: bool,
    accept_new_cert: bool,
) {
    let now = rdpshim_profiles::store::timestamp::now_rfc3339();
    let result = match &run.result {
        Ok(success) => {
            let step = run.steps.last();
            let credentials = run.credentials.as_ref();
            let record = rdpshim::saved::SuccessRecord {
                run,
                success,
                username: credentials
                    .map(|c| c.username.clone())
                    .filter(|_| step.is_some_and(|s| s.knobs.nla)),
                domain: credentials.and_then(|c| c.domain.clone()),
                accept_new_cert,
                now: &now,
            };
            store
                .update(host, port, |old| {
                    rdpshim::saved::record_success(old, host, port, &record)
                })
                .map(|_| ())
        }
        // A failure is recorded in the history of a profile that exists; it never creates one.
        Err(_) if had_profile => store
            .update(host, port, |old| match old {
                Some(profile) => rdpshim::saved::record_failure(profile, run, &now),
                None => Profile::new(host, port, &now),
            })
            .map(|_| ()),
        Err(_) => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("warning: the profile was not saved: {e}");
    }
}

fn warnings(run: &Run) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(report) = run.steps.last().map(|s| &s.report) {
        if let Some(cert) = &report.certificate {
            warnings.extend(rdpshim::advice::certificate_warnings(
                cert,
                &report.server_name,
            ));
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
    warnings
}

fn usage(message: &str) -> ExitCode {
    eprintln!("rdpshim: {message}");
    ExitCode::from(exit::USAGE)
}
