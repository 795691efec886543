//! `rdpshim profile list|show|rm|repair|export` and `rdpshim import FILE.rdp`.
//! The profile store is the only state; these commands read it, print it, or replace it
//! (`rm` and `repair` are the only ways to replace a profile that cannot be parsed).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use rdpshim::session;
use rdpshim::terminal::escape;
use rdpshim_profiles::export::freerdp::{freerdp_command, FreeRdpVersion};
use rdpshim_profiles::rdpfile::{self, OutputFormat};
use rdpshim_profiles::safe_file::{self, Written};
use rdpshim_profiles::store::timestamp::now_rfc3339;
use rdpshim_profiles::{Profile, ProfileStore, RepairOutcome};

use super::args::{ExportArgs, ExportFormat, FreeRdpMajor, ImportArgs, ProfileCommand};
use super::exit;

pub fn run(command: &ProfileCommand) -> ExitCode {
    let store = match ProfileStore::open_default() {
        Ok(store) => store,
        Err(e) => return fail(&e.to_string()),
    };
    match command {
        ProfileCommand::List { output } => list(&store, output.json),
        ProfileCommand::Show { target, output } => {
            show(&store, &target.target.host, target.target.port, output.json)
        }
        ProfileCommand::Rm { target } => {
            let (host, port) = (&target.target.host, target.target.port);
            match store.remove(host, port) {
                Ok(true) => {
                    println!("removed the profile of {}:{port}", escape(host));
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(&format!("no profile for {host}:{port}")),
                Err(e) => fail(&e.to_string()),
            }
        }
        ProfileCommand::Repair { target } => {
            repair(&store, &target.target.host, target.target.port)
        }
        ProfileCommand::Export(args) => export(
            &store,
            &args.target.target.host,
            args.target.target.port,
            args,
        ),
    }
}

fn list(store: &ProfileStore, json: bool) -> ExitCode {
    let entries = match store.list() {
        Ok(entries) => entries,
        Err(e) => return fail(&e.to_string()),
    };
    if json {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|(path, result)| match result {
                Ok(profile) => serde_json::json!({ "file": path, "profile": profile }),
                Err(e) => serde_json::json!({ "file": path, "error": e.to_string() }),
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return ExitCode::SUCCESS;
    }
    let mut rows = vec![[
        "HOST".to_owned(),
        "USER".to_owned(),
        "CONFIGURATION".to_owned(),
        "FALLBACKS".to_owned(),
        "LAST SUCCESS".to_owned(),
    ]];
    for (path, result) in &entries {
        rows.push(match result {
            Ok(p) => [
                format!("{}:{}", p.host, p.port),
                p.username.clone().unwrap_or_else(|| "-".into()),
                p.winning
                    .as_ref()
                    .map(configuration)
                    .unwrap_or_else(|| "-".into()),
                p.winning
                    .as_ref()
                    .map(|w| {
                        if w.fallbacks.is_empty() {
                            "-".into()
                        } else {
                            w.fallbacks.join("+")
                        }
                    })
                    .unwrap_or_else(|| "-".into()),
                p.last_success.clone().unwrap_or_else(|| "never".into()),
            ],
            Err(e) => [
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                "-".into(),
                format!("UNREADABLE: {e}"),
                "-".into(),
                "-".into(),
            ],
        });
    }
    print!("{}", table(&rows));
    ExitCode::SUCCESS
}

fn configuration(w: &rdpshim_profiles::Winning) -> String {
    format!(
        "{} NLA {} TLS {} ({}) UDP {}",
        w.grade,
        if w.nla { "on" } else { "off" },
        w.negotiated_tls_version
            .as_deref()
            .or(w.tls_version.as_deref())
            .unwrap_or("auto"),
        w.tls_stack,
        if w.udp { "on" } else { "off" }
    )
}

/// Left-aligned columns, two spaces apart; every cell escaped (profiles hold server text).
fn table(rows: &[[String; 5]]) -> String {
    let rows: Vec<[String; 5]> = rows
        .iter()
        .map(|row| row.clone().map(|cell| escape(&cell).into_owned()))
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn load(store: &ProfileStore, host: &str, port: u16) -> Result<Profile, ExitCode> {
    match store.load(host, port) {
        Ok(Some(profile)) => Ok(profile),
        Ok(None) => Err(fail(&format!(
            "no profile for {host}:{port} (connect once to create it)"
        ))),
        Err(e) if e.repair_helps() => Err(fail(&format!(
            "{e} (`rdpshim profile repair {host}:{port}`)"
        ))),
        Err(e) => Err(fail(&e.to_string())),
    }
}

fn show(store: &ProfileStore, host: &str, port: u16, json: bool) -> ExitCode {
    let profile = match load(store, host, port) {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    if json {
        println!(
            "{}",
            rdpshim_profiles::export::json::profile_to_json(&profile)
        );
    } else {
        match for_terminal(&profile) {
            Ok(text) => print!("{text}"),
            Err(e) => return fail(&e),
        }
    }
    ExitCode::SUCCESS
}

/// The profile as TOML, every string (and table key) escaped first: TOML itself would
/// write a value with a line break as a multi-line string (a line of its own on the
/// terminal) and leaves ESC and bidi controls to the terminal. The escaped values go back
/// through `Profile` so the fields keep their order.
fn for_terminal(profile: &Profile) -> Result<String, String> {
    fn escape_strings(value: &mut toml::Value) {
        match value {
            toml::Value::String(text) => *text = escape(text).into_owned(),
            toml::Value::Array(items) => items.iter_mut().for_each(escape_strings),
            toml::Value::Table(table) => {
                *table = std::mem::take(table)
                    .into_iter()
                    .map(|(key, mut value)| {
                        escape_strings(&mut value);
                        (escape(&key).into_owned(), value)
                    })
                    .collect();
            }
            _ => {}
        }
    }
    let mut value = toml::Value::try_from(profile).map_err(|e| e.to_string())?;
    escape_strings(&mut value);
    let escaped: Profile = value.try_into().map_err(|e| e.to_string())?;
    toml::to_string(&escaped).map_err(|e| e.to_string())
}

fn repair(store: &ProfileStore, host: &str, port: u16) -> ExitCode {
    match store.repair(host, port) {
        Ok(report) => {
            match report.outcome {
                RepairOutcome::Missing => println!("no profile file at {}", shown(&report.path)),
                RepairOutcome::Healthy => {
                    println!("{} parses; nothing to repair", shown(&report.path))
                }
                RepairOutcome::Repaired {
                    backup,
                    problem,
                    salvaged,
                    ..
                } => {
                    println!("{}: {}", shown(&report.path), escape(&problem.to_string()));
                    println!("moved it to {}", shown(&backup));
                    println!(
                        "wrote a fresh profile{}",
                        if salvaged.is_empty() {
                            String::new()
                        } else {
                            format!(" keeping {}", escape(&salvaged.join(", ")))
                        }
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn export(store: &ProfileStore, host: &str, port: u16, args: &ExportArgs) -> ExitCode {
    let profile = match load(store, host, port) {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let (bytes, notes) = match args.format {
        ExportFormat::Rdp => {
            let format = if args.utf8 {
                OutputFormat::UTF8_LF
            } else {
                OutputFormat::MSTSC
            };
            rdpfile::export_bytes(&profile, format)
        }
        ExportFormat::Freerdp => {
            let version = match args.freerdp_version {
                FreeRdpMajor::V2 => FreeRdpVersion::V2,
                FreeRdpMajor::V3 => FreeRdpVersion::V3,
            };
            let command = freerdp_command(&profile, version);
            (
                format!("{}\n", command.shell_line()).into_bytes(),
                command.notes,
            )
        }
        ExportFormat::Json => (
            format!(
                "{}\n",
                rdpshim_profiles::export::json::profile_to_json(&profile)
            )
            .into_bytes(),
            Vec::new(),
        ),
    };
    for note in &notes {
        eprintln!("note: {}", escape(note));
    }
    match &args.output {
        Some(path) => match safe_file::write_user_file(path, &bytes, safe_file::PRIVATE) {
            Ok(Written::Replaced) => {
                eprintln!("wrote {}", shown(path));
                ExitCode::SUCCESS
            }
            Ok(Written::Streamed) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("not exported: {e}")),
        },
        None => match std::io::stdout().lock().write_all(&bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        },
    }
}

pub fn import(args: &ImportArgs) -> ExitCode {
    let store = match ProfileStore::open_default() {
        Ok(store) => store,
        Err(e) => return fail(&e.to_string()),
    };
    let bytes = match safe_file::read_user_file(&args.file, rdpfile::MAX_RDP_FILE_BYTES as u64) {
        Ok(bytes) => bytes,
        Err(e) => return fail(&format!("not imported: {e}")),
    };
    let report = match rdpfile::import_bytes(&bytes, &now_rfc3339()) {
        Ok(report) => report,
        Err(e) => return fail(&format!("{}: {e}", args.file.display())),
    };
    for issue in &report.issues {
        eprintln!("{}: {}", shown(&args.file), escape(&issue.to_string()));
    }
    for warning in &report.warnings {
        eprintln!("warning: {}", escape(warning));
    }
    let (host, port) = (report.profile.host.clone(), report.profile.port);
    match session::import::save(&store, &report.profile) {
        Ok(profile) => {
            if args.output.json {
                println!(
                    "{}",
                    rdpshim_profiles::export::json::profile_to_json(&profile)
                );
            } else {
                println!(
                    "imported {} ({:?}{}, {:?} line endings) into the profile of {}:{port}",
                    shown(&args.file),
                    report.encoding,
                    if report.bom { " with BOM" } else { "" },
                    report.line_ending,
                    escape(&host)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// A path for a terminal.
fn shown(path: &Path) -> String {
    escape(&path.display().to_string()).into_owned()
}

/// A profile or file that cannot be read or written.
fn fail(message: &str) -> ExitCode {
    eprintln!("rdpshim: {}", escape(message));
    ExitCode::from(exit::LOCAL_FILE)
}
