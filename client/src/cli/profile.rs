//! `rdpshim profile list|show|rm|repair|export` and `rdpshim import FILE.rdp`.
//! The profile store is the only state; these commands read it, print it, or replace it
//! (`rm` and `repair` are the only ways to replace a profile that cannot be parsed).

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use rdpshim::handoff::express::{gaps, Needs, Target as ClientTarget};
use rdpshim::handoff::freerdp_version::VersionSource;
use rdpshim::handoff::{client, Client, Environment, Named};
use rdpshim::host::HostPort;
use rdpshim::session;
use rdpshim::terminal::escape;
use rdpshim_profiles::export::freerdp::{freerdp_command, FreeRdpVersion};
use rdpshim_profiles::rdpfile::{self, OutputFormat};
use rdpshim_profiles::safe_file::{self, Written};
use rdpshim_profiles::store::timestamp::now_rfc3339;
use rdpshim_profiles::{Profile, ProfileStore, RepairOutcome};

use super::args::{ExportArgs, ExportFormat, FreeRdpMajor, ImportArgs, ProfileCommand};
use super::progress::say;
use super::{exit, profile_view};

pub fn run(command: &ProfileCommand) -> ExitCode {
    let store = match ProfileStore::open_default() {
        Ok(store) => store,
        Err(e) => return fail(&e.to_string()),
    };
    match command {
        ProfileCommand::List { output, names } => list(&store, output.json, *names),
        ProfileCommand::Show {
            target,
            output,
            toml,
        } => show(
            &store,
            &target.target,
            if output.json {
                Shown::Json
            } else if *toml {
                Shown::Toml
            } else {
                Shown::Summary
            },
        ),
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

fn list(store: &ProfileStore, json: bool, names: bool) -> ExitCode {
    let entries = match store.list() {
        Ok(entries) => entries,
        // Completion asks quietly: no profiles, no names, no message in the prompt.
        Err(_) if names => return ExitCode::SUCCESS,
        Err(e) => return fail(&e.to_string()),
    };
    if names {
        for profile in entries.iter().filter_map(|(_, r)| r.as_ref().ok()) {
            let name = HostPort {
                host: profile.host.clone(),
                port: profile.port,
            }
            .label();
            // A name a shell cannot complete as one word is no host name anyway.
            if !name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\'')
            {
                println!("{name}");
            }
        }
        return ExitCode::SUCCESS;
    }
    if entries.is_empty() && !json {
        eprintln!(
            "no saved profiles yet: `rdpshim connect HOST` saves one when it connects, and \
             `rdpshim import FILE.rdp` makes one from an .rdp file (profiles live in {})",
            shown(store.dir())
        );
        return ExitCode::SUCCESS;
    }
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

/// How `profile show` prints.
enum Shown {
    Summary,
    Toml,
    Json,
}

fn show(store: &ProfileStore, target: &HostPort, how: Shown) -> ExitCode {
    let (host, port) = (target.host.as_str(), target.port);
    let profile = match load(store, host, port) {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    match how {
        Shown::Json => println!(
            "{}",
            rdpshim_profiles::export::json::profile_to_json(&profile)
        ),
        // The file's text; a terminal gets it escaped (server text can hold ESC sequences
        // and line breaks that TOML keeps), a pipe exactly.
        Shown::Toml if std::io::stdout().is_terminal() => match for_terminal(&profile) {
            Ok(text) => print!("{text}"),
            Err(e) => return fail(&e),
        },
        Shown::Toml => match toml::to_string(&profile) {
            Ok(text) => print!("{text}"),
            Err(e) => return fail(&e.to_string()),
        },
        Shown::Summary => {
            let file = store
                .path_for(host, port)
                .unwrap_or_else(|_| store.dir().to_owned());
            print!("{}", profile_view::summary(&profile, &file, &now_rfc3339()));
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
    if args.format == ExportFormat::Rdp && !args.utf8 && to_terminal(args.output.as_deref()) {
        eprintln!(
            "rdpshim: not writing a UTF-16 .rdp file (mstsc's format) to the terminal: it would \
             show as spaced-out text with stray bytes. Give -o FILE.rdp, or --utf8 to read it here."
        );
        return ExitCode::from(exit::USAGE);
    }
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
            let (bytes, mut notes) = rdpfile::export_bytes(&profile, format);
            // An .rdp file has no TLS settings at all (and no comments to say so in).
            notes.extend(
                gaps(ClientTarget::RdpFile, &Needs::of(&profile))
                    .into_iter()
                    .map(|gap| {
                        if gap.blocks {
                            format!("{} (FreeRDP can: --format freerdp)", gap.what)
                        } else {
                            gap.what
                        }
                    }),
            );
            (bytes, notes)
        }
        ExportFormat::Freerdp => {
            let (program, version, mut notes) = match freerdp_program(args) {
                Ok(found) => found,
                Err(message) => {
                    eprintln!("rdpshim: {}", escape(&message));
                    return ExitCode::from(exit::USAGE);
                }
            };
            let mut command = freerdp_command(&profile, version);
            command.argv[0] = program;
            notes.extend(command.notes.iter().cloned());
            (format!("{}\n", command.shell_line()).into_bytes(), notes)
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
        say(&format!("note: {}", escape(note)));
    }
    match &args.output {
        Some(path) => match safe_file::write_user_file(path, &bytes, safe_file::PRIVATE) {
            Ok(Written::Replaced) => {
                say(&format!("wrote {}", shown(path)));
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

/// Whether the export goes to standard output and that is a terminal.
fn to_terminal(output: Option<&Path>) -> bool {
    let stdout = output.is_none_or(|p| {
        [
            Path::new("-"),
            Path::new("/dev/stdout"),
            Path::new("/dev/fd/1"),
        ]
        .contains(&p)
    });
    stdout && std::io::stdout().is_terminal()
}

/// The program and FreeRDP version an exported command line is written for: `--client`
/// (else the first FreeRDP client on PATH, else `xfreerdp3`/`xfreerdp` by version) and
/// `--freerdp-version` (else that program's own version, else 3), with a note when guessed.
fn freerdp_program(args: &ExportArgs) -> Result<(String, FreeRdpVersion, Vec<String>), String> {
    let given = args.freerdp_version.map(|v| match v {
        FreeRdpMajor::V2 => FreeRdpVersion::V2,
        FreeRdpMajor::V3 => FreeRdpVersion::V3,
    });
    let env = Environment::current();
    let found = match args.client.client.as_deref() {
        Some(name) => match Named::parse(name) {
            named @ Named::FreeRdp(_) => {
                freerdp_of(client::find(&named, &env)).ok_or(name.to_owned())
            }
            _ => {
                return Err(format!(
                "--format freerdp writes a FreeRDP command line; `{name}` is not a FreeRDP client"
            ))
            }
        },
        None => freerdp_of(client::first_freerdp(&env)).ok_or_else(String::new),
    };
    let mut notes = Vec::new();
    Ok(match (found, given) {
        (Ok((name, version, source)), None) => {
            if source == VersionSource::Assumed {
                notes.push(format!(
                    "could not tell which FreeRDP {name} is: FreeRDP 3's options (--freerdp-version 2 for 2.x)"
                ));
            }
            (name, version, notes)
        }
        (Ok((name, _, _)), Some(version)) => (name, version, notes),
        // Named but not installed: the name as given, its version as given or guessed.
        (Err(name), version) if !name.is_empty() => {
            let version = version
                .or_else(|| rdpshim::handoff::freerdp_version::from_name(&name))
                .unwrap_or(FreeRdpVersion::V3);
            (name, version, notes)
        }
        (Err(_), Some(version)) => (version.program().to_owned(), version, notes),
        (Err(_), None) => {
            notes.push(
                "no FreeRDP client on PATH: written for FreeRDP 3 (--freerdp-version 2 for 2.x)"
                    .into(),
            );
            (
                FreeRdpVersion::V3.program().to_owned(),
                FreeRdpVersion::V3,
                notes,
            )
        }
    })
}

/// A FreeRDP client's name, version and how the version was learned.
fn freerdp_of(client: Option<Client>) -> Option<(String, FreeRdpVersion, VersionSource)> {
    match client? {
        Client::FreeRdp {
            name,
            version,
            version_source,
            ..
        } => Some((name, version, version_source)),
        _ => None,
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
