//! `rdpshim matrix HOST...`: the regression harness. Flags in, files read and written
//! (atomically), the library's [`rdpshim::matrix`] runs the cells, a table or JSON out.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rdpshim::attempt::StageTimeouts;
use rdpshim::matrix::{
    self, configs_file, hosts, json::MatrixJson, junit, table, Baseline, Configuration, HostJob,
    Limits, Target,
};
use rdpshim::session::credentials;

use super::args::MatrixArgs;
use super::exit;
use super::progress::Console;

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
        timeouts: StageTimeouts::uniform(args.timeout.timeout),
    };
    let json = args.output.json;
    if !json {
        eprintln!(
            "matrix: {} host{} x {} configurations, {} at once ({} per host), {:.1} s per stage",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            configurations.len(),
            limits.jobs,
            limits.per_host,
            args.timeout.timeout.as_secs_f64()
        );
    }
    let result = execute(jobs, configurations, limits, !json)?;

    let after = Baseline::from_run(&result);
    let comparison = before.as_ref().map(|b| matrix::compare(b, &after));
    let baseline_name = args
        .baseline
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();

    let mut stdout = std::io::stdout().lock();
    if json {
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
            .map_err(|e| e.to_string())
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
    let mut targets = args.hosts.clone();
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

/// The hosts with their credentials (see [`credentials::for_hosts`]); none without `-u`.
fn host_jobs(args: &MatrixArgs, targets: Vec<Target>) -> Result<Vec<HostJob>, String> {
    let login = &args.login;
    let found = match &login.user {
        Some(user) => credentials::for_hosts(
            user,
            login.domain.as_deref(),
            &targets,
            login.password_stdin,
            &mut Console::new(args.output.json),
        )
        .map_err(|e| e.to_string())?,
        None if login.password_stdin => {
            return Err("--password-stdin needs a user name (-u USER)".to_owned())
        }
        None => vec![None; targets.len()],
    };
    Ok(targets
        .into_iter()
        .zip(found)
        .map(|(target, credentials)| HostJob {
            target,
            credentials,
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
        let labels: Vec<String> = args.hosts.iter().map(Target::label).collect();
        assert_eq!(labels, ["a:3389", "b:3390"]);
        assert_eq!((args.jobs, args.per_host), (8, 2));
        assert_eq!(args.timeout.timeout, std::time::Duration::from_secs(5));
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
