//! `rdpshim matrix HOST...`: the regression harness. Flags in, files read and written
//! (atomically), the library's [`rdpshim::matrix`] runs the cells, a table or JSON out.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use rdpshim::attempt::{Credentials, StageTimeouts};
use rdpshim::matrix::{
    self, configs_file, hosts, json::MatrixJson, junit, table, Baseline, Configuration, HostJob,
    Limits, Target,
};
use rdpshim::secret::{self, Password, PasswordSource};
use rdpshim_profiles::safe_file::{self, FileError};

use super::credentials::{self, Keyring};
use super::exit;

const MATRIX_HELP: &str = "\
Configurations (40 by default): nla|no-nla / rustls-auto|rustls-1.2|openssl-1.2|openssl-1.1|openssl-1.0
/ name|ip / udp|no-udp, e.g. nla/rustls-auto/name/udp. --list-configs prints them; --configs FILE
(TOML) narrows the dimensions ([matrix] nla, tls, dial, udp, generate) or adds named ones ([[config]]
id, nla, tls, ciphers, dial, udp, autologon). Credentials go to NLA cells only.

Exit codes:
  0  the matrix ran (cells that fail are results, not errors); no regression against --baseline
  2  usage error, or a --configs, --hosts-file or --baseline file that does not parse
  8  a cell regressed against --baseline (ok before, a failure now)
  9  a file that cannot be read or written (missing, not a regular file, a symbolic link,
     too large, permissions); outputs are checked before any cell runs";

#[derive(Debug, Args)]
#[command(after_help = MATRIX_HELP)]
pub struct MatrixArgs {
    /// Hosts as HOST, HOST:PORT, [IPV6]:PORT or an IP literal (port 3389 by default).
    #[arg(value_name = "HOST[:PORT]")]
    pub hosts: Vec<String>,

    /// More hosts, one HOST[:PORT] per line; `#` starts a comment.
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,

    /// TOML file that narrows the dimensions and/or adds named configurations.
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,

    /// Print the configurations (id and what each does) and exit.
    #[arg(long)]
    pub list_configs: bool,

    /// User name for the NLA cells (without one they end as credentials-required).
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Domain for the NLA cells.
    #[arg(short = 'd', long = "domain", value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// Read the password from the first line of standard input (otherwise RDPSHIM_PASSWORD,
    /// the keyring entry for USER@HOST, or one prompt). No flag takes the password.
    #[arg(long)]
    pub password_stdin: bool,

    /// Attempts at once, all hosts together.
    #[arg(long, value_name = "N", default_value = "8", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub jobs: u16,

    /// Attempts at once on any one host (xrdp listens with a backlog of 2).
    #[arg(long, value_name = "N", default_value = "2", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub per_host: u16,

    /// Time limit for each network stage of each cell, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub timeout: Duration,

    /// Write the results to FILE as the expected table (JSON; written atomically).
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Compare with the table in FILE: print every changed cell; exit 8 on a regression.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Write JUnit XML to FILE: a testsuite per host, a testcase per configuration.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Print one JSON object with everything on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(0.05..=3600.0).contains(&secs) {
        return Err("the timeout must be between 0.05 and 3600 seconds".to_owned());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Why `rdpshim matrix` stopped: wrong input (exit 2), or a file that cannot be read or
/// written (exit 9).
enum Failure {
    Usage(String),
    LocalFile(FileError),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Usage(message)
    }
}

impl From<FileError> for Failure {
    fn from(error: FileError) -> Self {
        Self::LocalFile(error)
    }
}

pub fn run(args: &MatrixArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("rdpshim matrix: {message}");
            ExitCode::from(exit::USAGE)
        }
        Err(Failure::LocalFile(error)) => {
            eprintln!("rdpshim matrix: {error}");
            ExitCode::from(exit::LOCAL_FILE)
        }
    }
}

fn run_inner(args: &MatrixArgs) -> Result<ExitCode, Failure> {
    let configurations = load_configurations(args.configs.as_deref())?;
    if args.list_configs {
        let width = configurations.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &configurations {
            println!("{:width$}  {}", c.id, c.describe());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let targets = load_targets(args)?;
    let before = match &args.baseline {
        Some(path) => Some(read_baseline(path)?),
        None => None,
    };
    if let Some(path) = &args.save_baseline {
        // Never replace a file that is not a baseline (a typo'd path onto something else).
        if path.exists() {
            match read_baseline(path) {
                Err(Failure::Usage(e)) => return Err(format!("{e}; not overwriting it").into()),
                other => drop(other?),
            }
        }
    }
    // Refused outputs (a link, a FIFO, a device) are found before the cells run, not after.
    for path in [&args.save_baseline, &args.junit].into_iter().flatten() {
        safe_file::check_user_file(path)?;
    }
    let jobs = host_jobs(args, targets)?;

    let limits = Limits {
        jobs: usize::from(args.jobs),
        per_host: usize::from(args.per_host),
        timeouts: StageTimeouts::uniform(args.timeout),
    };
    if !args.json {
        eprintln!(
            "matrix: {} host{} x {} configurations, {} at once ({} per host), {:.1} s per stage",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            configurations.len(),
            limits.jobs,
            limits.per_host,
            args.timeout.as_secs_f64()
        );
    }
    let result = execute(jobs, configurations, limits, !args.json)?;

    let after = Baseline::from_run(&result);
    let comparison = before.as_ref().map(|b| matrix::compare(b, &after));
    let baseline_name = args
        .baseline
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();

    let mut stdout = std::io::stdout().lock();
    if args.json {
        let json = MatrixJson::new(
            &result,
            comparison.as_ref().map(|c| (c, baseline_name.as_str())),
        );
        let text = serde_json::to_string(&json).map_err(|e| format!("JSON: {e}"))?;
        let _ = writeln!(stdout, "{text}");
        if let Some(comparison) = &comparison {
            eprint!("{}", table::changes(comparison, &baseline_name));
        }
    } else {
        let _ = write!(stdout, "{}", table::render(&result));
        if let Some(comparison) = &comparison {
            let _ = write!(stdout, "\n{}", table::changes(comparison, &baseline_name));
        }
    }
    let _ = stdout.flush();

    // Both outputs are attempted; the first failure is reported (each names its file).
    let junit = args.junit.as_ref().map(|path| {
        let xml = junit::render(&result, comparison.as_ref())?;
        safe_file::write_user_file(path, xml.as_bytes(), safe_file::SHARED).map_err(Failure::from)
    });
    let baseline = args.save_baseline.as_ref().map(|path| {
        safe_file::write_user_file(path, after.to_text().as_bytes(), safe_file::SHARED)
            .map_err(Failure::from)
    });
    for written in [junit, baseline].into_iter().flatten() {
        written?;
    }
    Ok(match comparison {
        Some(c) if c.has_regressions() => ExitCode::from(exit::REGRESSION),
        _ => ExitCode::SUCCESS,
    })
}

fn load_configurations(path: Option<&Path>) -> Result<Vec<Configuration>, Failure> {
    let Some(path) = path else {
        return Ok(matrix::Dimensions::default().expand());
    };
    let text = read_text(path)?;
    Ok(configs_file::parse(&text).map_err(|e| {
        if e.line == 0 {
            format!("{}: {}", path.display(), e.message)
        } else {
            format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)
        }
    })?)
}

fn load_targets(args: &MatrixArgs) -> Result<Vec<Target>, Failure> {
    let mut targets = args
        .hosts
        .iter()
        .map(|h| Target::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &args.hosts_file {
        let text = read_text(path)?;
        let listed = hosts::parse_hosts_file(&text)
            .map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))?;
        targets.extend(listed);
    }
    let (targets, repeated) = hosts::dedup(targets);
    for label in repeated {
        eprintln!("note: {label} is listed more than once; it is run once");
    }
    if targets.is_empty() {
        return Err("no hosts: give HOST[:PORT] arguments or --hosts-file FILE"
            .to_owned()
            .into());
    }
    Ok(targets)
}

/// Files given to the matrix are small text; a limit keeps a wrong path (a disk image)
/// from being read whole, and a FIFO or device is refused instead of read forever.
fn read_text(path: &Path) -> Result<String, Failure> {
    const LIMIT: u64 = 16 * 1024 * 1024;
    let bytes = safe_file::read_user_file(path, LIMIT)?;
    String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{}: not UTF-8 text", path.display())))
}

fn read_baseline(path: &Path) -> Result<Baseline, Failure> {
    let text = read_text(path)?;
    Ok(Baseline::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// The credentials of each host: one password from stdin or RDPSHIM_PASSWORD for all, else
/// each host's keyring entry, else one prompt for the hosts without one. Never saved.
fn host_jobs(args: &MatrixArgs, targets: Vec<Target>) -> Result<Vec<HostJob>, String> {
    let Some(user) = &args.user else {
        if args.password_stdin {
            return Err("--password-stdin needs a user name (-u USER)".to_owned());
        }
        return Ok(targets
            .into_iter()
            .map(|target| HostJob {
                target,
                credentials: None,
            })
            .collect());
    };
    let shared = if args.password_stdin {
        Some(secret::read_password(PasswordSource::Stdin, "").map_err(|e| e.to_string())?)
    } else {
        secret::from_environment()
    };
    let mut keyring = Keyring::new(args.json);
    let mut passwords: Vec<Option<Password>> = Vec::new();
    for target in &targets {
        let found = match &shared {
            Some(password) => Some(password.clone()),
            None => credentials::find(user, &target.host, false, false, &mut keyring)?
                .map(|(password, _)| password),
        };
        passwords.push(found);
    }
    if passwords.iter().any(Option::is_none) {
        let prompted = if std::io::stdin().is_terminal() {
            let what = format!("{user} (hosts without a saved password)");
            Some(secret::read_password(PasswordSource::Prompt, &what).map_err(|e| e.to_string())?)
        } else {
            eprintln!(
                "note: no password for {user} (--password-stdin, RDPSHIM_PASSWORD or the keyring); \
                 NLA cells of those hosts end as credentials-required"
            );
            None
        };
        for password in passwords.iter_mut().filter(|p| p.is_none()) {
            password.clone_from(&prompted);
        }
    }
    Ok(targets
        .into_iter()
        .zip(passwords)
        .map(|(target, password)| HostJob {
            target,
            credentials: password.map(|password| Credentials {
                username: user.clone(),
                domain: args.domain.clone(),
                password,
            }),
        })
        .collect())
}

/// Runs the cells: orchestration on one thread, attempts on one thread per core (at most
/// `jobs`). On a terminal, a progress count on stderr.
fn execute(
    jobs: Vec<HostJob>,
    configurations: Vec<Configuration>,
    limits: Limits,
    show_progress: bool,
) -> Result<matrix::MatrixRun, String> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let engine = matrix::Engine::start(cores.min(limits.jobs))
        .map_err(|e| format!("cannot start the attempt threads: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let total = jobs.len() * configurations.len();
    let progress: Option<matrix::Progress> = (show_progress && std::io::stderr().is_terminal())
        .then(|| {
            let done = Arc::new(AtomicUsize::new(0));
            let progress: matrix::Progress = Arc::new(move |_, _, _| {
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                eprint!("\r\x1b[Kmatrix: {n}/{total} cells");
                if n == total {
                    eprint!("\r\x1b[K");
                }
            });
            progress
        });
    Ok(runtime.block_on(matrix::run(
        Arc::new(engine),
        jobs,
        configurations,
        limits,
        progress,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser as _;

    fn parse(args: &[&str]) -> MatrixArgs {
        let mut full = vec!["rdpshim", "matrix"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Matrix(m) => *m,
            other => panic!("not matrix: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_eight_jobs_two_per_host_five_seconds() {
        let args = parse(&["a", "b:3390"]);
        assert_eq!(args.hosts, ["a", "b:3390"]);
        assert_eq!((args.jobs, args.per_host), (8, 2));
        assert_eq!(args.timeout, Duration::from_secs(5));
        assert!(Cli::try_parse_from(["rdpshim", "matrix", "a", "--jobs", "0"]).is_err());
        assert!(Cli::try_parse_from(["rdpshim", "matrix", "a", "--password", "x"]).is_err());
    }
}
