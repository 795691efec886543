//! `rdpshim matrix HOST...`: the regression harness. Flags in, files read and written
//! (through `safe_file`: atomic, never through a link), the library's [`rdpshim::matrix`]
//! runs the cells, a table or JSON out.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rdpshim::attempt::StageTimeouts;
use rdpshim::matrix::{
    self, configs_file, hosts, json::MatrixJson, junit, merge, table, Baseline, Cell, Comparison,
    Configuration, HostJob, Limits, MatrixGateway, MatrixRun, Shard, Target,
};
use rdpshim::session::credentials;
use rdpshim::terminal::escape;
use rdpshim_profiles::safe_file::{self, FileError};

use super::args::{MatrixArgs, MatrixCommand, MergeArgs};
use super::flags::MatrixFiles;
use super::progress::{say, Console};
use super::{exit, style};

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
    let result = match &args.command {
        Some(MatrixCommand::Merge(merge)) => merge_shards(merge),
        None => run_matrix(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(message)) => {
            eprintln!("rdpshim matrix: {}", escape(&message));
            ExitCode::from(exit::USAGE)
        }
        Err(Failure::LocalFile(error)) => {
            eprintln!("rdpshim matrix: {}", escape(&error.to_string()));
            ExitCode::from(exit::LOCAL_FILE)
        }
    }
}

fn run_matrix(args: &MatrixArgs) -> Result<u8, Failure> {
    let configurations =
        load_configurations(args.configs.as_deref(), args.gateway.gateway.is_some())?;
    if args.list_configs {
        let width = configurations.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &configurations {
            println!("{:width$}  {}", c.id, c.describe());
        }
        return Ok(exit::CONNECTED);
    }
    let all = load_targets(args)?;
    let (targets, shard) = match args.shard {
        Some(shard) => {
            let labels: Vec<String> = all.iter().map(Target::label).collect();
            (shard.select(&all), Some((shard, labels)))
        }
        None => (all, None),
    };
    let mut before = prepare(&args.files)?;
    if let (Some(before), Some(_)) = (&mut before, &shard) {
        // A shard answers for its own hosts: the others are not "missing".
        let mine: Vec<String> = targets.iter().map(Target::label).collect();
        before.hosts.retain(|label, _| mine.contains(label));
    }
    let jobs = host_jobs(args, targets)?;

    let limits = Limits {
        jobs: usize::from(args.jobs),
        per_host: usize::from(args.per_host),
        timeouts: StageTimeouts::uniform(args.timeout.timeout),
    };
    let json = args.output.json;
    if !json {
        say(&format!(
            "matrix: {} host{} x {} configurations{}, {} at once ({} per host), {:.1} s per stage",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            configurations.len(),
            shard
                .as_ref()
                .map(|(s, all)| format!(" (shard {s} of {} hosts)", all.len()))
                .unwrap_or_default(),
            limits.jobs,
            limits.per_host,
            args.timeout.timeout.as_secs_f64()
        ));
    }
    let gateway = matrix_gateway(args)?;
    let result = execute(jobs, configurations, gateway, limits, !json)?;
    finish(&result, &args.files, json, before.as_ref(), shard)
}

/// `rdpshim matrix merge SHARD.json...`: the shards read back into one run, then the same
/// outputs as a run.
fn merge_shards(args: &MergeArgs) -> Result<u8, Failure> {
    let before = prepare(&args.files)?;
    let mut texts = Vec::with_capacity(args.shards.len());
    for path in &args.shards {
        texts.push((path.display().to_string(), read_text(path)?));
    }
    let inputs: Vec<merge::Input<'_>> = texts
        .iter()
        .map(|(name, text)| merge::Input { name, text })
        .collect();
    let merged = merge::merge(&inputs).map_err(|e| Failure::Usage(e.to_string()))?;
    if !args.output.json {
        say(&format!(
            "matrix merge: {} shard{}, {} host{} x {} configurations",
            merged.shards,
            if merged.shards == 1 { "" } else { "s" },
            merged.run.hosts.len(),
            if merged.run.hosts.len() == 1 { "" } else { "s" },
            merged.run.configurations.len()
        ));
    }
    finish(
        &merged.run,
        &args.files,
        args.output.json,
        before.as_ref(),
        None,
    )
}

/// Before any cell runs: the baseline to compare with (read), and the outputs checked so a
/// refused one (a link, a FIFO, a device) or a file that is not a baseline is found now.
fn prepare(files: &MatrixFiles) -> Result<Option<Baseline>, Failure> {
    let before = match &files.baseline {
        Some(path) => Some(read_baseline(path)?),
        None => None,
    };
    if let Some(path) = &files.save_baseline {
        // Never replace a file that is not a baseline (a typo'd path onto something else).
        if path.exists() {
            match read_baseline(path) {
                Err(Failure::Usage(e)) => return Err(format!("{e}; not overwriting it").into()),
                other => drop(other?),
            }
        }
    }
    for path in [&files.save_baseline, &files.junit].into_iter().flatten() {
        safe_file::check_user_file(path)?;
    }
    Ok(before)
}

/// The outputs of a run (table or JSON, JUnit, baseline) and its exit code.
fn finish(
    result: &MatrixRun,
    files: &MatrixFiles,
    json: bool,
    before: Option<&Baseline>,
    shard: Option<(Shard, Vec<String>)>,
) -> Result<u8, Failure> {
    let after = Baseline::from_run(result);
    let comparison = before.map(|b| matrix::compare(b, &after));
    let baseline_name = files
        .baseline
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();

    let mut stdout = std::io::stdout().lock();
    if json {
        let mut json = MatrixJson::new(
            result,
            comparison.as_ref().map(|c| (c, baseline_name.as_str())),
        );
        if let Some((shard, of_hosts)) = shard {
            json = json.with_shard(shard, of_hosts);
        }
        let text = serde_json::to_string(&json).map_err(|e| format!("JSON: {e}"))?;
        let _ = writeln!(stdout, "{text}");
        if let Some(comparison) = &comparison {
            if !style::quiet() {
                eprint!("{}", table::changes(comparison, &baseline_name));
            }
        }
    } else if style::quiet() {
        // The verdict lines: the counts, and the counts against the baseline.
        let _ = write!(stdout, "{}", table::footer(result));
        if let Some(comparison) = &comparison {
            let changes = table::changes(comparison, &baseline_name);
            let _ = writeln!(stdout, "{}", changes.lines().last().unwrap_or_default());
        }
    } else {
        let _ = write!(stdout, "{}", table::render(result));
        if let Some(comparison) = &comparison {
            let _ = write!(stdout, "\n{}", table::changes(comparison, &baseline_name));
        }
    }
    let _ = stdout.flush();

    // Both outputs are attempted; the first failure is reported (each names its file).
    let junit = files.junit.as_ref().map(|path| {
        let xml = junit::render(result, comparison.as_ref())
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        safe_file::write_user_file(path, xml.as_bytes(), safe_file::SHARED).map_err(Failure::from)
    });
    let baseline = files.save_baseline.as_ref().map(|path| {
        safe_file::write_user_file(path, after.to_text().as_bytes(), safe_file::SHARED)
            .map_err(Failure::from)
    });
    for written in [junit, baseline].into_iter().flatten() {
        written?;
    }
    Ok(exit_code(result, comparison.as_ref()))
}

/// With a baseline: 8 on a regression, else 0. Without one: 4 when there were cells and not
/// one connected (every host down, or refusing every configuration: a table of failures is
/// no success for a CI job), else 0.
fn exit_code(run: &MatrixRun, comparison: Option<&Comparison>) -> u8 {
    let mut cells = run.hosts.iter().flat_map(|h| &h.cells).peekable();
    match comparison {
        Some(c) if c.has_regressions() => exit::REGRESSION,
        Some(_) => exit::CONNECTED,
        None if cells.peek().is_some() && !cells.any(Cell::is_ok) => exit::NO_WORKING_CONFIGURATION,
        None => exit::CONNECTED,
    }
}

fn load_configurations(path: Option<&Path>, gateway: bool) -> Result<Vec<Configuration>, Failure> {
    let Some(path) = path else {
        return Ok(if gateway {
            matrix::Dimensions::with_gateway().expand()
        } else {
            matrix::Dimensions::default().expand()
        });
    };
    let text = read_text(path)?;
    Ok(configs_file::parse_for(&text, gateway).map_err(|e| {
        if e.line == 0 {
            format!("{}: {}", path.display(), e.message)
        } else {
            format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)
        }
    })?)
}

fn load_targets(args: &MatrixArgs) -> Result<Vec<Target>, Failure> {
    let mut targets = args.hosts.clone();
    if let Some(path) = &args.hosts_file {
        let text = read_text(path)?;
        let listed = hosts::parse_hosts_file(&text)
            .map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))?;
        targets.extend(listed);
    }
    let (targets, repeated) = hosts::dedup(targets);
    for label in repeated {
        say(&format!(
            "note: {label} is listed more than once; it is run once"
        ));
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
        None if login.password_stdin && args.gateway.gateway_user.is_none() => {
            return Err(
                "--password-stdin needs a user name (-u USER, or --gateway-user USER)".to_owned(),
            )
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

/// The gateway of `--gateway`, with `--gateway-user`'s credentials (`RDPSHIM_GATEWAY_PASSWORD`,
/// the keyring entry `user@gateway`, a prompt; standard input when no `-u` takes it); the
/// hosts' own credentials serve for the gateway without it.
fn matrix_gateway(args: &MatrixArgs) -> Result<Option<MatrixGateway>, String> {
    let Some(given) = &args.gateway.gateway else {
        return Ok(None);
    };
    let names = credentials::GatewayAccountNames {
        gateway_user: args.gateway.gateway_user.as_deref(),
        gateway_domain: args.gateway.gateway_domain.as_deref(),
        host_user: None,
        host_domain: None,
    };
    let stdin = args.login.password_stdin && args.login.user.is_none();
    let account = credentials::for_gateway_diagnosis(
        &names,
        "",
        &given.host,
        stdin,
        &mut Console::new(args.output.json),
    )
    .map_err(|e| e.to_string())?;
    Ok(Some(MatrixGateway {
        host: given.host.clone(),
        port: given.port,
        credentials: account,
    }))
}

/// Runs the cells: orchestration on one thread, attempts on one thread per core (at most
/// `jobs`). On a terminal, a progress count on stderr.
fn execute(
    jobs: Vec<HostJob>,
    configurations: Vec<Configuration>,
    gateway: Option<MatrixGateway>,
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
    let progress: Option<matrix::Progress> = (show_progress
        && !style::quiet()
        && style::cursor_control(std::io::stderr().is_terminal()))
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
        gateway,
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
    fn merge_is_a_subcommand_and_everything_else_a_host() {
        let args = parse(&["merge", "s1.json", "s2.json", "--junit", "j.xml"]);
        match args.command {
            Some(MatrixCommand::Merge(m)) => {
                assert_eq!(m.shards.len(), 2);
                assert!(m.files.junit.is_some());
            }
            None => panic!("merge parsed as a host"),
        }
        let args = parse(&["merge:3389", "other", "--shard", "2/3"]);
        assert!(args.command.is_none());
        assert_eq!(args.hosts.len(), 2);
        assert_eq!(args.shard, Some(Shard { index: 2, count: 3 }));
        for bad in [&["a", "--shard", "4/3"][..], &["a", "--shard", "x"]] {
            let mut full = vec!["rdpshim", "matrix"];
            full.extend_from_slice(bad);
            assert!(Cli::try_parse_from(full).is_err(), "{bad:?}");
        }
    }

    fn run_with(outcomes: &[bool]) -> MatrixRun {
        use rdpshim::report::{Failure, FailureClass, Stage};
        let failure = Failure::new(Stage::Tcp, FailureClass::TcpRefused, "refused");
        let cells = outcomes
            .iter()
            .map(|ok| {
                let mut cell = Cell::not_dialled(&failure, "t", "h".into());
                if *ok {
                    cell.failure = None;
                }
                cell
            })
            .collect();
        MatrixRun {
            configurations: Vec::new(),
            hosts: vec![matrix::HostRun {
                target: Target::parse("h").unwrap(),
                addresses: Vec::new(),
                resolve_error: None,
                unreachable: false,
                cells,
            }],
            elapsed: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn without_a_baseline_a_matrix_where_nothing_connected_exits_4() {
        assert_eq!(exit_code(&run_with(&[false, false]), None), 4);
        assert_eq!(exit_code(&run_with(&[false, true]), None), 0);
        assert_eq!(
            exit_code(&run_with(&[]), None),
            0,
            "no cells (an empty shard)"
        );
        let nothing_changed = Comparison::default();
        assert_eq!(
            exit_code(&run_with(&[false]), Some(&nothing_changed)),
            0,
            "with a baseline only regressions fail"
        );
    }

    #[test]
    fn defaults_are_eight_jobs_two_per_host_five_seconds() {
        let args = parse(&["a", "b:3390"]);
        let labels: Vec<String> = args.hosts.iter().map(Target::label).collect();
        assert_eq!(labels, ["a:3389", "b:3390"]);
        assert_eq!((args.jobs, args.per_host), (8, 2));
        assert_eq!(args.timeout.timeout, std::time::Duration::from_secs(5));
    }
}
