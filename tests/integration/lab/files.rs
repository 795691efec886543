//! Hostile local files against the real `rdpshim` binary (issue 9 items 4-6): links planted
//! at the temporary names an export writes, at OUT and at a profile's lock; a link instead
//! of the profile directory; `import` of a FIFO with no writer, a directory, /dev/zero, an
//! oversized file; `profile export -o` to /dev/full, a FIFO, a read-only directory and
//! /dev/stdout. No lab server is needed: profiles come from `rdpshim import`.
//!
//! Every test snapshots the files around (its scratch tree, the links' targets, devices)
//! before and after, and checks that nothing outside the configuration directory and OUT
//! was created or changed (contents, modes, mtimes, link targets).

use std::os::unix::fs::{symlink, FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdpshim_lab::fs_snapshot::{Entry, Snapshot};

use crate::common::{Run, RDPSHIM};

/// Exit code for a local file or profile that cannot be read or written.
const LOCAL_FILE: i32 = 9;
/// A FIFO used to hang `import` forever; anything near this is a hang.
const HANG: Duration = Duration::from_secs(10);
const HOST: &str = "srv.example:3390";
/// The unprivileged user the read-only directory case runs as when the tests run as root.
const NOBODY: u32 = 65534;

/// A private tree: `config/` (RDPSHIM_CONFIG_DIR), `out/` (where exports go),
/// `outside/victim` (which nothing may change), and `srv.rdp` to import.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rdpshim-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["out", "outside"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("outside/victim"), b"precious\n").unwrap();
        std::fs::write(
            dir.join("srv.rdp"),
            b"full address:s:srv.example:3390\r\nusername:s:alice\r\n",
        )
        .unwrap();
        Self(dir)
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    fn config(&self) -> PathBuf {
        self.path("config")
    }

    fn rdpshim(&self, args: &[&str]) -> Command {
        let mut command = Command::new(RDPSHIM);
        command
            .args(args)
            .env("RDPSHIM_CONFIG_DIR", self.config())
            .env("RDPSHIM_NO_KEYRING", "1")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs rdpshim, killing it (by its PID) if it has not finished within [`HANG`].
    fn run(&self, args: &[&str]) -> (Run, Duration) {
        run_within(self.rdpshim(args))
    }

    /// Imports `srv.rdp`: the profile of [`HOST`] exists afterwards.
    fn import(&self) {
        let (run, _) = self.run(&["import", self.path("srv.rdp").to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }

    /// Everything in the tree except `allowed`.
    fn snapshot(&self, allowed: &[&Path]) -> Snapshot {
        Snapshot::take(&[&self.0], allowed)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_within(mut command: Command) -> (Run, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rdpshim");
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > HANG {
            child.kill().expect("kill the hung rdpshim");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collect output");
    let elapsed = started.elapsed();
    (
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        elapsed,
    )
}

/// `profile export HOST --format FORMAT -o OUT`.
fn export_args<'a>(format: &'a str, out: &'a str) -> [&'a str; 7] {
    ["profile", "export", HOST, "--format", format, "-o", out]
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Asserts a refusal: exit 9, fast, with `words` in the message.
fn assert_refused(run: &Run, elapsed: Duration, words: &[&str]) {
    assert_eq!(run.code, LOCAL_FILE, "exit code\n{}", run.stderr);
    assert!(elapsed < HANG, "took {elapsed:?}: blocked");
    for word in words {
        assert!(run.stderr.contains(word), "`{word}` not in: {}", run.stderr);
    }
}

#[test]
fn export_skips_links_planted_at_its_temporary_names() {
    let tree = Tree::new("temp-links");
    tree.import();
    let out = tree.path("out/a.rdp");
    let victim = tree.path("outside/victim");
    // The name the old export wrote through (OUT with another extension), the matrix
    // writer's old name, and guesses at the new random names.
    for planted in [
        "out/a.rdpshim-partial",
        "out/.a.rdp.tmp.1",
        "out/.a.rdp.tmp-0000000000000000",
        "out/.a.rdp.tmp-1-1",
    ] {
        symlink(&victim, tree.path(planted)).unwrap();
    }
    symlink(
        tree.path("outside/made"),
        tree.path("out/.a.rdp.tmp-ffffffffffffffff"),
    )
    .unwrap();
    let before = tree.snapshot(&[&tree.config(), &out]);

    let (run, _) = tree.run(&export_args("rdp", arg(&out)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written = std::fs::read(&out).unwrap();
    assert!(written.starts_with(&[0xff, 0xfe]), "an mstsc .rdp file");
    let meta = std::fs::symlink_metadata(&out).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    before.assert_unchanged(&tree.snapshot(&[&tree.config(), &out]));
}

#[test]
fn a_link_at_out_is_refused_whatever_it_points_to() {
    let tree = Tree::new("out-links");
    tree.import();
    std::fs::create_dir(tree.path("outside/dir")).unwrap();
    let cases = [
        ("out/to-file", tree.path("outside/victim")),
        ("out/dangling", tree.path("outside/nothing")),
        ("out/to-dir", tree.path("outside/dir")),
    ];
    for (link, target) in &cases {
        symlink(target, tree.path(link)).unwrap();
    }
    let before = tree.snapshot(&[&tree.config()]);
    for (link, target) in &cases {
        let (run, elapsed) = tree.run(&export_args("json", arg(&tree.path(link))));
        assert_refused(&run, elapsed, &["symbolic link", arg(target)]);
    }
    // The matrix checks its outputs before any cell runs (port 9: nothing is dialled).
    for (flag, link) in [
        ("--save-baseline", "out/dangling"),
        ("--junit", "out/to-file"),
    ] {
        let (run, elapsed) = tree.run(&["matrix", "127.0.0.1:9", flag, arg(&tree.path(link))]);
        assert_refused(&run, elapsed, &["symbolic link"]);
        assert!(
            !run.stderr.contains("matrix: 1 host"),
            "cells ran: {}",
            run.stderr
        );
    }
    before.assert_unchanged(&tree.snapshot(&[&tree.config()]));
}

#[test]
fn links_at_the_lock_create_and_change_nothing_outside() {
    let tree = Tree::new("lock-links");
    tree.import();
    let lock = tree.path("config/profiles/srv.example_3390.toml.lock");
    let made = tree.path("outside/made-by-lock");
    for target in [&made, &tree.path("outside/victim")] {
        std::fs::remove_file(&lock).unwrap();
        symlink(target, &lock).unwrap();
        let before = tree.snapshot(&[]);
        let (run, elapsed) = tree.run(&["import", arg(&tree.path("srv.rdp"))]);
        assert_refused(&run, elapsed, &["symbolic link", "lock"]);
        let (run, elapsed) = tree.run(&["profile", "rm", HOST]);
        assert_refused(&run, elapsed, &["symbolic link"]);
        before.assert_unchanged(&tree.snapshot(&[]));
        assert!(
            !made.exists(),
            "the lock created its target outside the config dir"
        );
    }
}

#[test]
fn a_link_replacing_the_profile_directory_is_refused() {
    let tree = Tree::new("dir-link");
    tree.import();
    let elsewhere = tree.path("outside/profiles");
    std::fs::rename(tree.path("config/profiles"), &elsewhere).unwrap();
    symlink(&elsewhere, tree.path("config/profiles")).unwrap();
    let before = tree.snapshot(&[]);
    for args in [
        vec!["import", "srv.rdp"],
        vec!["profile", "list"],
        vec!["profile", "show", HOST],
        vec!["profile", "repair", HOST],
        vec!["profile", "rm", HOST],
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == "srv.rdp" {
                    arg(&tree.path(a)).to_owned()
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (run, elapsed) = tree.run(&args);
        assert_refused(&run, elapsed, &["symbolic link", "real directory"]);
    }
    before.assert_unchanged(&tree.snapshot(&[]));
}

#[test]
fn import_refuses_what_is_not_a_regular_file_without_hanging() {
    let tree = Tree::new("import-special");
    mkfifo(&tree.path("fifo.rdp"));
    std::fs::create_dir(tree.path("dir.rdp")).unwrap();
    let mut huge = b"full address:s:srv.example\r\n".to_vec();
    huge.resize((1 << 20) + 1, b' ');
    std::fs::write(tree.path("huge.rdp"), &huge).unwrap();
    let before = tree.snapshot(&[]);
    let zero = Snapshot::take(&[Path::new("/dev/zero")], &[]);

    for (file, words) in [
        (tree.path("fifo.rdp"), &["FIFO", "not a regular file"][..]),
        (tree.path("dir.rdp"), &["directory"][..]),
        (PathBuf::from("/dev/zero"), &["character device"][..]),
        (tree.path("huge.rdp"), &["1048577 bytes", "limit"][..]),
        (tree.path("missing.rdp"), &["does not exist"][..]),
    ] {
        let (run, elapsed) = tree.run(&["import", arg(&file)]);
        assert_refused(&run, elapsed, words);
    }
    // Nothing created, not even the configuration directory.
    before.assert_unchanged(&tree.snapshot(&[]));
    zero.assert_unchanged(&Snapshot::take(&[Path::new("/dev/zero")], &[]));
}

#[test]
fn export_refuses_devices_and_fifos_and_leaves_them_as_they_are() {
    let tree = Tree::new("export-special");
    tree.import();
    mkfifo(&tree.path("out/fifo"));
    let full = Path::new("/dev/full");
    let devices = Snapshot::take(&[full], &[]);
    let before = tree.snapshot(&[&tree.config()]);

    for (out, words) in [
        (full.to_owned(), &["character device", "left as it is"][..]),
        (tree.path("out/fifo"), &["FIFO"][..]),
        (tree.path("out"), &["directory"][..]),
    ] {
        let (run, elapsed) = tree.run(&export_args("freerdp", arg(&out)));
        assert_refused(&run, elapsed, words);
    }
    devices.assert_unchanged(&Snapshot::take(&[full], &[]));
    assert!(std::fs::symlink_metadata(full)
        .unwrap()
        .file_type()
        .is_char_device());
    before.assert_unchanged(&tree.snapshot(&[&tree.config()]));
    assert_eq!(Entry::at(&tree.path("out/fifo")), Some(Entry::Fifo));
}

#[test]
fn export_to_standard_output_by_name_is_written_directly() {
    let tree = Tree::new("export-stdout");
    tree.import();
    let (plain, _) = tree.run(&["profile", "export", HOST, "--format", "freerdp"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(
        plain.stdout.contains("/v:srv.example:3390"),
        "{}",
        plain.stdout
    );
    let before = tree.snapshot(&[&tree.config()]);
    for out in ["/dev/stdout", "-"] {
        let (run, _) = tree.run(&export_args("freerdp", out));
        assert_eq!(run.code, 0, "{out}: {}", run.stderr);
        assert_eq!(run.stdout, plain.stdout, "{out}");
    }
    before.assert_unchanged(&tree.snapshot(&[&tree.config()]));
}

#[test]
fn export_to_a_read_only_directory_fails_clearly_and_leaves_nothing() {
    let tree = Tree::new("read-only");
    // The tree was just made by this process: its owner is the effective user.
    let as_root = std::fs::metadata(&tree.0).unwrap().uid() == 0;
    if as_root {
        // Root writes anywhere: the case runs as nobody, in a tree nobody owns.
        for dir in [tree.0.clone(), tree.path("out"), tree.path("outside")] {
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    let run_as_user = |args: &[&str]| {
        let mut command = tree.rdpshim(args);
        if as_root {
            command.uid(NOBODY).gid(NOBODY);
        }
        run_within(command)
    };
    let (run, _) = run_as_user(&["import", arg(&tree.path("srv.rdp"))]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::set_permissions(tree.path("out"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = tree.snapshot(&[&tree.config()]);

    let out = tree.path("out/a.rdp");
    let (run, elapsed) = run_as_user(&export_args("rdp", arg(&out)));
    assert_refused(&run, elapsed, &["temporary file", "Permission denied"]);
    before.assert_unchanged(&tree.snapshot(&[&tree.config()]));
    assert_eq!(std::fs::read_dir(tree.path("out")).unwrap().count(), 0);
}

#[test]
fn help_documents_exit_9() {
    let (run, _) = run_within({
        let mut c = Command::new(RDPSHIM);
        c.arg("--help");
        c
    });
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains(
            "9  profile, import, matrix: a local file or profile cannot be read or written"
        ),
        "{}",
        run.stdout
    );
}
