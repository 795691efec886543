//! `rdpshim generate man|bash|zsh|fish [--out-dir DIR]`: the man pages and shell completions,
//! generated from the same clap definitions as the parser (nothing to keep in sync by hand).
//! Packaging runs it on the built binary (`packaging/gen-assets.sh`).
//!
//! One man page per command (`rdpshim(1)`, `rdpshim-connect(1)`, `rdpshim-profile-export(1)`,
//! ...), so a new subcommand gets its page without anyone touching this file. `clap_mangen`
//! renders NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS; the sections it does not
//! know come from [`super::manual`] (EXAMPLES, ENVIRONMENT, FILES) and from the command's own
//! "Exit codes:" help text (EXIT STATUS), so `--help` and the man page say the same.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

use rdpshim_profiles::safe_file::{self, Dir, FileError};

use super::args::{Artifact, Cli, GenerateArgs};
use super::manual;

pub fn run(args: &GenerateArgs) -> ExitCode {
    match generate(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdpshim: generate: {e}");
            ExitCode::from(super::exit::LOCAL_FILE)
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum GenerateError {
    #[error("writing to standard output: {0}")]
    Stdout(#[from] std::io::Error),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0}: removed while it was being created")]
    Vanished(std::path::PathBuf),
}

fn generate(args: &GenerateArgs) -> Result<(), GenerateError> {
    let Some(dir) = &args.out_dir else {
        let bytes = match args.artifact {
            Artifact::Man => man_pages().swap_remove(0).1,
            shell => completion(shell),
        };
        return Ok(std::io::stdout().write_all(&bytes)?);
    };
    // Created if missing (0700, like every directory rdpshim makes); refused when it is a
    // link or others can write to it.
    let Some(dir) = Dir::open_private(dir, true)? else {
        return Err(GenerateError::Vanished(dir.clone()));
    };
    match args.artifact {
        Artifact::Man => {
            for (name, page) in man_pages() {
                write_fresh(&dir, &name, &page)?;
            }
        }
        shell => write_fresh(&dir, completion_file_name(shell), &completion(shell))?,
    }
    Ok(())
}

fn shell(artifact: Artifact) -> clap_complete::Shell {
    match artifact {
        Artifact::Bash => clap_complete::Shell::Bash,
        Artifact::Zsh => clap_complete::Shell::Zsh,
        Artifact::Fish => clap_complete::Shell::Fish,
        Artifact::Man => unreachable!("man is not a shell"),
    }
}

/// clap's completion script, with saved hosts for HOST arguments
/// ([`super::complete_hosts`]).
fn completion(artifact: Artifact) -> Vec<u8> {
    let mut out = Vec::new();
    let mut command = Cli::command();
    clap_complete::generate(shell(artifact), &mut command, "rdpshim", &mut out);
    super::complete_hosts::extend(shell(artifact), &mut command, &mut out);
    out
}

/// The names clap_complete's own `generate_to` gives these files.
fn completion_file_name(artifact: Artifact) -> &'static str {
    match artifact {
        Artifact::Bash => "rdpshim.bash",
        Artifact::Zsh => "_rdpshim",
        Artifact::Fish => "rdpshim.fish",
        Artifact::Man => unreachable!("man pages are named per command"),
    }
}

/// Replaces `dir/name` atomically; a link planted at that name is replaced, never followed.
fn write_fresh(dir: &Dir, name: &str, contents: &[u8]) -> Result<(), FileError> {
    dir.replace(name, contents, safe_file::SHARED)
}

/// Every man page as (file name, roff), rdpshim(1) first. Hidden commands have none.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut root = manual::described().disable_help_subcommand(true);
    root.build();
    let page = PageContext {
        root_codes: exit_codes(&after_help(&root)).1,
        date: page_date(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref()),
    };
    let mut pages = Vec::new();
    collect_pages(&root, "rdpshim", &page, &mut pages);
    pages
}

/// What every page shares.
struct PageContext {
    /// rdpshim's exit codes, for commands whose help has no "Exit codes:" block.
    root_codes: Vec<(String, String)>,
    /// The date in the page footer.
    date: String,
}

/// `SOURCE_DATE_EPOCH` (the reproducible-builds convention that dpkg and the release script
/// set) as a date, else today: the same sources give the same pages.
fn page_date(source_date_epoch: Option<&str>) -> String {
    let date = source_date_epoch
        .and_then(|epoch| epoch.trim().parse::<i64>().ok())
        .and_then(|epoch| time::OffsetDateTime::from_unix_timestamp(epoch).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .date();
    date.to_string()
}

fn collect_pages(
    cmd: &clap::Command,
    path: &str,
    context: &PageContext,
    pages: &mut Vec<(String, Vec<u8>)>,
) {
    // Subcommands carry no version of their own; the pages all name rdpshim's.
    let version = env!("CARGO_PKG_VERSION");
    let man = Man::new(cmd.clone().version(version))
        .date(context.date.as_str())
        .source(format!("rdpshim {version}"))
        .manual("rdpshim manual");
    let mut page = Vec::new();
    render_page(&man, cmd, path, &context.root_codes, &mut page).expect("writing to memory");
    pages.push((man.get_filename(), page));
    for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        collect_pages(sub, &format!("{path} {}", sub.get_name()), context, pages);
    }
}

fn render_page(
    man: &Man,
    cmd: &clap::Command,
    path: &str,
    root_codes: &[(String, String)],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    let (notes, own_codes) = exit_codes(&after_help(cmd));
    let codes = if own_codes.is_empty() {
        root_codes
    } else {
        &own_codes
    };
    let mut roff = Roff::new();
    if !notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        for paragraph in notes.split("\n\n") {
            roff.control("PP", []).text([roman(unwrap(paragraph))]);
        }
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in codes {
        roff.control("TP", []).text([bold(code.as_str())]);
        roff.text([roman(meaning.as_str())]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in manual::ENVIRONMENT {
        roff.control("TP", []).text([bold(*name)]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["FILES"]);
    for (file, meaning) in manual::FILES {
        roff.control("TP", []).text([italic(*file)]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["EXAMPLES"]);
    for example in manual::examples(path) {
        roff.control("PP", []).text([roman(example.does)]);
        roff.control("RS", ["4"]);
        roff.control("EX", []).text([roman(example.line)]);
        roff.control("EE", []).control("RE", []);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(see_also(cmd, path).join(", "))]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

fn after_help(cmd: &clap::Command) -> String {
    cmd.get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Splits a command's after-help text into its notes and the rows of its "Exit codes:"
/// block (`  N  meaning`, continuation lines indented further).
fn exit_codes(help: &str) -> (String, Vec<(String, String)>) {
    let Some((notes, block)) = help.split_once("Exit codes:") else {
        return (help.trim().to_owned(), Vec::new());
    };
    let mut codes: Vec<(String, String)> = Vec::new();
    for line in block.lines().filter(|line| !line.trim().is_empty()) {
        let trimmed = line.trim_start();
        let (first, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
        if first.chars().all(|c| c.is_ascii_digit()) && line.len() - trimmed.len() <= 4 {
            codes.push((first.to_owned(), rest.trim().to_owned()));
        } else if let Some((_, meaning)) = codes.last_mut() {
            meaning.push(' ');
            meaning.push_str(trimmed);
        }
    }
    (notes.trim().to_owned(), codes)
}

/// Help text is wrapped for a terminal; roff fills lines itself.
fn unwrap(paragraph: &str) -> String {
    paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn see_also(cmd: &clap::Command, path: &str) -> Vec<String> {
    let page = |path: &str| format!("{}(1)", path.replace(' ', "-"));
    let mut pages = Vec::new();
    let mut parent = path;
    while let Some((up, _)) = parent.rsplit_once(' ') {
        pages.insert(0, page(up));
        parent = up;
    }
    pages.extend(
        cmd.get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .map(|sub| page(&format!("{path} {}", sub.get_name()))),
    );
    pages.extend(["xfreerdp(1)".to_owned(), "sslscan(1)".to_owned()]);
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(name: &str) -> String {
        let pages = man_pages();
        let (_, roff) = pages
            .iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("no {name}"));
        String::from_utf8(roff.clone()).expect("UTF-8")
    }

    #[test]
    fn one_page_per_visible_command_and_none_for_hidden_ones() {
        let names: Vec<String> = man_pages().into_iter().map(|(name, _)| name).collect();
        for name in [
            "rdpshim.1",
            "rdpshim-connect.1",
            "rdpshim-diagnose.1",
            "rdpshim-matrix.1",
            "rdpshim-profile.1",
            "rdpshim-profile-export.1",
            "rdpshim-import.1",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
        assert_eq!(names[0], "rdpshim.1");
    }

    #[test]
    fn every_page_documents_every_flag_and_has_every_section() {
        // clap's `help` subcommand gets no page (as with clap_mangen::generate_to).
        let mut root = Cli::command().disable_help_subcommand(true);
        root.build();
        let pages = man_pages();
        let mut checked = 0;
        let mut stack = vec![root];
        while let Some(cmd) = stack.pop() {
            stack.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
            let name = format!("{}.1", cmd.get_display_name().unwrap_or("rdpshim"));
            let (_, roff) = pages.iter().find(|(n, _)| *n == name).expect("a page");
            let text = String::from_utf8_lossy(roff);
            for section in [
                "NAME",
                "SYNOPSIS",
                "EXIT STATUS",
                "ENVIRONMENT",
                "FILES",
                "EXAMPLES",
            ] {
                // roff quotes a heading with a space in it.
                let heading = if section.contains(' ') {
                    format!(".SH \"{section}\"")
                } else {
                    format!(".SH {section}")
                };
                assert!(text.contains(&heading), "{name}: {section}");
            }
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    // clap_mangen writes `\-\-flag` in roff.
                    let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(text.contains(&flag), "{name} lacks --{long}");
                }
            }
            checked += 1;
        }
        assert!(checked >= 11, "walked {checked} pages");
    }

    #[test]
    fn exit_status_follows_the_commands_own_help() {
        let diagnose = page("rdpshim-diagnose.1");
        assert!(diagnose.contains("a blocking cause found"), "{diagnose}");
        assert!(!diagnose.contains("certificate changed"), "{diagnose}");
        let matrix = page("rdpshim-matrix.1");
        assert!(matrix.contains(".SH NOTES"), "{matrix}");
        assert!(matrix.contains("regressed against"), "{matrix}");
        let exit_status = |page: &str| {
            page.split(".SH \"EXIT STATUS\"")
                .nth(1)
                .and_then(|rest| rest.split(".SH ").next())
                .expect("EXIT STATUS")
                .to_owned()
        };
        // rdpshim(1) has the whole table, 0 to 9; a subcommand only the codes it uses.
        let root = exit_status(&page("rdpshim.1"));
        for code in 0..=9 {
            if code == 1 {
                continue;
            }
            assert!(root.contains(&format!("\\fB{code}\\fR")), "{code}: {root}");
        }
        let import = page("rdpshim-import.1");
        let own = exit_status(&import);
        assert!(own.contains("\\fB9\\fR"), "{own}");
        assert!(!own.contains("\\fB7\\fR"), "{own}");
        for name in [
            "RDPSHIM_CONFIG_DIR",
            "RDPSHIM_PASSWORD",
            "RDPSHIM_NO_KEYRING",
            "NO_COLOR",
        ] {
            assert!(import.contains(name), "{name}");
        }
    }

    #[test]
    fn the_page_date_comes_from_source_date_epoch() {
        assert_eq!(page_date(Some("1767225600")), "2026-01-01");
        assert_eq!(page_date(Some("not a number")).len(), "2026-01-01".len());
    }

    #[test]
    fn exit_code_blocks_parse_with_continuations() {
        let (notes, codes) =
            exit_codes("Some notes.\n\nExit codes:\n  0  fine\n  2  usage error,\n     or worse\n");
        assert_eq!(notes, "Some notes.");
        assert_eq!(
            codes,
            vec![
                ("0".to_owned(), "fine".to_owned()),
                ("2".to_owned(), "usage error, or worse".to_owned())
            ]
        );
    }

    #[test]
    fn out_dir_replaces_a_planted_symlink_instead_of_following_it() {
        let dir = std::env::temp_dir().join(format!("rdpshim-generate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.join("rdpshim.1");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let opened = Dir::open_private(&dir, false).unwrap().unwrap();
        write_fresh(&opened, "rdpshim.1", b"page").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "page");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
