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

use super::credentials::{self, Keyring};
use super::exit;

const MATRIX_HELP: &str = "\
Configurations (40 by default): nla|no-nla / rustls-auto|rustls-1.2|openssl-1.2|openssl-1.1|openssl-1.0
/ name|ip / udp|no-udp, e.g. nla/rustls-auto/name/udp. --list-configs prints them; --configs FILE
(TOML) narrows the dimensions ([matrix] nla, tls, dial, udp, generate) or adds named ones ([[config]]
id, nla, tls, ciphers, dial, udp, autologon). Credentials go to NLA cells only.

Exit codes:
  0  the matrix ran (cells that fail are results, not errors); no regression against --baseline
  2  usage error, or a file that cannot be read or written
  8  a cell regressed against --baseline (ok before, a failure now)";

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

pub fn run(args: &MatrixArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rdpshim matrix: {message}");
            ExitCode::from(exit::USAGE)
        }
    }
}

fn run_inner(args: &MatrixArgs) -> Result<ExitCode, String> {
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
            read_baseline(path).map_err(|e| format!("{e}; not overwriting it"))?;
        }
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

    let mut failed_writes = Vec::new();
    if let Some(path) = &args.junit {
        let written = junit::render(&result, comparison.as_ref())
            .and_then(|xml| write_atomic(path, xml.as_bytes()));
        if let Err(e) = written {
            failed_writes.push(format!("{}: {e}", path.display()));
        }
    }
    if let Some(path) = &args.save_baseline {
        if let Err(e) = write_atomic(path, after.to_text().as_bytes()) {
            failed_writes.push(format!("{}: {e}", path.display()));
        }
    }
    if !failed_writes.is_empty() {
        return Err(format!("not written: {}", failed_writes.join("; ")));
    }
    Ok(match comparison {
        Some(c) if c.has_regressions() => ExitCode::from(exit::REGRESSION),
        _ => ExitCode::SUCCESS,
    })
}

fn load_configurations(path: Option<&Path>) -> Result<Vec<Configuration>, String> {
    let Some(path) = path else {
        return Ok(matrix::Dimensions::default().expand());
    };
    let text = read_text(path)?;
    configs_file::parse(&text).map_err(|e| {
        if e.line == 0 {
            format!("{}: {}", path.display(), e.message)
        } else {
            format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)
        }
    })
}

fn load_targets(args: &MatrixArgs) -> Result<Vec<Target>, String> {
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
        return Err("no hosts: give HOST[:PORT] arguments or --hosts-file FILE".to_owned());
    }
    Ok(targets)
}

/// Files given to the matrix are small text; a limit keeps a wrong path (a disk image)
/// from being read whole.
fn read_text(path: &Path) -> Result<String, String> {
    const LIMIT: u64 = 16 * 1024 * 1024;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > LIMIT {
        return Err(format!("{}: larger than 16 MiB", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_baseline(path: &Path) -> Result<Baseline, String> {
    let text = read_text(path)?;
    Baseline::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
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

/// Temp file beside the target, fsync, rename, fsync the directory: a crash leaves the old
/// file or the new one, never half of either.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| "not a file path".to_owned())?
        .to_string_lossy()
        .into_owned();
    let temp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        e.to_string()
    })
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

    #[test]
    fn atomic_writes_replace_the_file_and_leave_no_temp() {
        let dir = std::env::temp_dir().join(format!("rdpshim-matrix-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
