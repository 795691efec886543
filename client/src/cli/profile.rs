//! `rdpshim profile list|show|rm|repair|export` and `rdpshim import FILE.rdp`.
//! The profile store is the only state; these commands read it, print it, or replace it
//! (`rm` and `repair` are the only ways to replace a profile that cannot be parsed).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use rdpshim::attempt::parse_host_port;
use rdpshim_profiles::export::freerdp::{freerdp_command, FreeRdpVersion};
use rdpshim_profiles::rdpfile::{self, OutputFormat};
use rdpshim_profiles::store::timestamp::now_rfc3339;
use rdpshim_profiles::{Profile, ProfileStore, RepairOutcome};

use super::exit;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Every saved profile, one line each.
    List {
        /// Print one JSON array instead of one line per profile.
        #[arg(long)]
        json: bool,
    },
    /// One profile in full.
    Show {
        /// The saved host (port 3389 by default).
        #[arg(value_name = "HOST[:PORT]")]
        target: String,
        /// Print the profile as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a profile (also one that cannot be parsed).
    Rm {
        /// The saved host (port 3389 by default).
        #[arg(value_name = "HOST[:PORT]")]
        target: String,
    },
    /// Move an unparsable profile aside (kept as a backup) and write what can be salvaged.
    Repair {
        /// The saved host (port 3389 by default).
        #[arg(value_name = "HOST[:PORT]")]
        target: String,
    },
    /// Export the known-good configuration for another client.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// An .rdp file (mstsc, Windows App, Remmina, FreeRDP).
    Rdp,
    /// A FreeRDP command line.
    Freerdp,
    /// The profile as JSON.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FreeRdpMajor {
    #[value(name = "2")]
    V2,
    #[value(name = "3")]
    V3,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The saved host (port 3389 by default).
    #[arg(value_name = "HOST[:PORT]")]
    pub target: String,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// .rdp as UTF-8 with LF instead of mstsc's UTF-16LE with BOM and CRLF.
    #[arg(long)]
    pub utf8: bool,
    /// FreeRDP major version whose option spelling to use.
    #[arg(long, value_enum, default_value = "3")]
    pub freerdp_version: FreeRdpMajor,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An .rdp file written by mstsc, Windows App, Remmina or FreeRDP.
    pub file: std::path::PathBuf,
    /// Print the resulting profile as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: &ProfileCommand) -> ExitCode {
    let store = match ProfileStore::open_default() {
        Ok(store) => store,
        Err(e) => return fail(&e.to_string()),
    };
    match command {
        ProfileCommand::List { json } => list(&store, *json),
        ProfileCommand::Show { target, json } => {
            with_target(target, |host, port| show(&store, host, port, *json))
        }
        ProfileCommand::Rm { target } => {
            with_target(target, |host, port| match store.remove(host, port) {
                Ok(true) => {
                    println!("removed the profile of {host}:{port}");
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(&format!("no profile for {host}:{port}")),
                Err(e) => fail(&e.to_string()),
            })
        }
        ProfileCommand::Repair { target } => {
            with_target(target, |host, port| repair(&store, host, port))
        }
        ProfileCommand::Export(args) => {
            with_target(&args.target, |host, port| export(&store, host, port, args))
        }
    }
}

fn with_target(target: &str, f: impl FnOnce(&str, u16) -> ExitCode) -> ExitCode {
    match parse_host_port(target) {
        Ok((host, port)) => f(&host, port),
        Err(e) => {
            eprintln!("rdpshim: {e}");
            ExitCode::from(exit::USAGE)
        }
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

/// Left-aligned columns, two spaces apart.
fn table(rows: &[[String; 5]]) -> String {
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
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
        Err(e) => Err(fail(&format!(
            "{e} (`rdpshim profile repair {host}:{port}`)"
        ))),
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
        match rdpshim_profiles::profile_toml::profile_to_toml(&profile) {
            Ok(text) => print!("{text}"),
            Err(e) => return fail(&e.to_string()),
        }
    }
    ExitCode::SUCCESS
}

fn repair(store: &ProfileStore, host: &str, port: u16) -> ExitCode {
    match store.repair(host, port) {
        Ok(report) => {
            match report.outcome {
                RepairOutcome::Missing => println!("no profile file at {}", report.path.display()),
                RepairOutcome::Healthy => {
                    println!("{} parses; nothing to repair", report.path.display())
                }
                RepairOutcome::Repaired {
                    backup,
                    problem,
                    salvaged,
                    ..
                } => {
                    println!("{}: {problem}", report.path.display());
                    println!("moved it to {}", backup.display());
                    println!(
                        "wrote a fresh profile{}",
                        if salvaged.is_empty() {
                            String::new()
                        } else {
                            format!(" keeping {}", salvaged.join(", "))
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
        eprintln!("note: {note}");
    }
    match &args.output {
        Some(path) => match write_new(path, &bytes) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("writing {}: {e}", path.display())),
        },
        None => match std::io::stdout().lock().write_all(&bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        },
    }
}

/// Writes through a temporary file and a rename, so an interrupted export never leaves a
/// half-written file under the requested name.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("rdpshim-partial");
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn import(args: &ImportArgs) -> ExitCode {
    let store = match ProfileStore::open_default() {
        Ok(store) => store,
        Err(e) => return fail(&e.to_string()),
    };
    let bytes = match read_bounded(&args.file) {
        Ok(bytes) => bytes,
        Err(e) => return fail(&format!("{}: {e}", args.file.display())),
    };
    let report = match rdpfile::import_bytes(&bytes, &now_rfc3339()) {
        Ok(report) => report,
        Err(e) => return fail(&format!("{}: {e}", args.file.display())),
    };
    for issue in &report.issues {
        eprintln!("{}: {issue}", args.file.display());
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let imported = report.profile;
    let (host, port) = (imported.host.clone(), imported.port);
    // Merge into an existing profile: the file's settings win, history and pins stay.
    let saved = store.update(&host, port, |old| match old {
        None => imported.clone(),
        Some(mut old) => {
            old.username = imported.username.clone().or(old.username);
            old.domain = imported.domain.clone().or(old.domain);
            for address in imported.addresses.iter().rev() {
                old.remember_address(address);
            }
            if imported.winning.is_some() {
                old.winning = imported.winning.clone();
            }
            old.rdp_extra.extend(imported.rdp_extra.clone());
            old
        }
    });
    match saved {
        Ok(profile) => {
            if args.json {
                println!(
                    "{}",
                    rdpshim_profiles::export::json::profile_to_json(&profile)
                );
            } else {
                println!(
                    "imported {} ({:?}{}, {:?} line endings) into the profile of {host}:{port}",
                    args.file.display(),
                    report.encoding,
                    if report.bom { " with BOM" } else { "" },
                    report.line_ending
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Reads at most the .rdp size limit, so an enormous file is an error, not an OOM.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let limit = rdpfile::MAX_RDP_FILE_BYTES as u64;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes: not an .rdp file"),
        ));
    }
    Ok(bytes)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("rdpshim: {message}");
    ExitCode::FAILURE
}
