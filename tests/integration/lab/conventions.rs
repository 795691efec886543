//! Terminal and scripting conventions, through the real binary: colour only on a terminal
//! (a pseudo-terminal from util-linux `script`), `NO_COLOR`, `--color`, `-q`; a UTF-16
//! `.rdp` is not written to a terminal; `profile show`, `profile list` and the exports as a
//! person and a script see them; saved hosts in bash and fish completion.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{config_dir, run, Run, RDPSHIM};

/// rdpshim with `args` and profiles under `config`, its output piped.
fn piped(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(RDPSHIM);
    command
        .args(args)
        .env("RDPSHIM_CONFIG_DIR", config)
        .env("RDPSHIM_NO_KEYRING", "1")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied());
    run(command, None)
}

/// rdpshim with `args` on a pseudo-terminal (`script -qec`: stdout and stderr are the
/// terminal, and so is stdin); what the terminal showed, and the exit code.
fn on_terminal(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let line = std::iter::once(RDPSHIM)
        .chain(args.iter().copied())
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("RDPSHIM_CONFIG_DIR", config)
        .env("RDPSHIM_NO_KEYRING", "1")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// SGR (colour) sequences: `ESC [ digits;... m` (not the progress line's `ESC [ 2 K`).
fn has_colour(text: &str) -> bool {
    text.split('\u{1b}').skip(1).any(|rest| {
        let Some(rest) = rest.strip_prefix('[') else {
            return false;
        };
        rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';')
            .starts_with('m')
    })
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let server = lab!("xrdp-modern");
    let config = config_dir(&server);
    let target = server.addr();
    let connect = ["connect", target.as_str()];

    let run = piped(&config, &connect, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains('\u{1b}'), "no escape in a pipe: {text:?}");
    }

    let (shown, code) = on_terminal(&config, &connect, &[]);
    assert_eq!(code, 0, "{shown}");
    assert!(
        shown.contains("\u{1b}[32mconnected"),
        "the verdict in green on a terminal: {shown:?}"
    );
    let (shown, _) = on_terminal(&config, &connect, &[("NO_COLOR", "1")]);
    assert!(!has_colour(&shown), "NO_COLOR: {shown:?}");
    let (shown, _) = on_terminal(&config, &["--color", "never", "connect", &target], &[]);
    assert!(!has_colour(&shown), "--color never: {shown:?}");
    let (shown, _) = on_terminal(
        &config,
        &["connect", &target, "--color=always"],
        &[("NO_COLOR", "1")],
    );
    assert!(
        has_colour(&shown),
        "--color always wins over NO_COLOR: {shown:?}"
    );
    let (shown, _) = on_terminal(&config, &connect, &[("TERM", "dumb")]);
    assert!(
        !shown.contains('\u{1b}'),
        "TERM=dumb: no colour, no progress line: {shown:?}"
    );

    let run = piped(&config, &["--color", "always", "connect", &target], &[]);
    assert!(
        has_colour(&run.stderr),
        "--color always in a pipe: {:?}",
        run.stderr
    );

    // -q on a terminal: the verdict line and nothing else.
    let (shown, code) = on_terminal(&config, &["connect", &target, "-q"], &[]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = shown.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{shown:?}");
    assert!(lines[0].contains("connected"), "{shown:?}");
}

/// `-q` on `diagnose` and `matrix`: their verdict lines only.
#[test]
fn quiet_prints_each_commands_verdict_line_only() {
    let server = lab!("xrdp-tls10");
    let config = config_dir(&server);
    let target = server.addr();
    let diagnose = piped(&config, &["diagnose", &target, "-q"], &[]);
    assert_eq!(diagnose.code, 4, "{}", diagnose.stderr);
    assert!(
        diagnose.stdout.starts_with("blocking: ") && diagnose.stdout.contains("tls-version"),
        "{}",
        diagnose.stdout
    );
    assert_eq!(diagnose.stdout.lines().count(), 1);
    let matrix = piped(&config, &["-q", "matrix", &target, "--timeout", "2"], &[]);
    assert_eq!(matrix.code, 0, "{}", matrix.stderr);
    assert_eq!(matrix.stderr, "");
    assert_eq!(matrix.stdout.lines().count(), 1, "{}", matrix.stdout);
    assert!(
        matrix
            .stdout
            .contains("1 host x 40 configurations = 40 cells"),
        "{}",
        matrix.stdout
    );
}

/// A profile made from an `.rdp` file (no server needed).
fn imported(dir: &Path, rdp: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("in.rdp");
    std::fs::write(&file, rdp).unwrap();
    let config = dir.join("config");
    let out = piped(&config, &["import", file.to_str().unwrap()], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    config
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rdpshim-conv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_utf16_rdp_file_is_not_written_to_a_terminal() {
    let dir = scratch("utf16");
    let config = imported(&dir, "full address:s:srv.example:3390\r\n");
    let export = ["profile", "export", "srv.example:3390", "--format", "rdp"];
    let (shown, code) = on_terminal(&config, &export, &[]);
    assert_eq!(code, 2, "{shown}");
    assert!(
        shown.contains("-o FILE.rdp") && shown.contains("--utf8"),
        "{shown}"
    );
    let (shown, code) = on_terminal(&config, &[&export[..], &["--utf8"]].concat(), &[]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("full address:s:srv.example:3390"), "{shown}");
    let (shown, code) = on_terminal(&config, &[&export[..], &["-o", "-"]].concat(), &[]);
    assert_eq!(code, 2, "-o - is the terminal too: {shown}");

    // To a pipe, the bytes mstsc writes.
    let mut command = Command::new(RDPSHIM);
    command
        .args(export)
        .env("RDPSHIM_CONFIG_DIR", &config)
        .env("RDPSHIM_NO_KEYRING", "1");
    let out = command.output().unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[..2], &[0xff, 0xfe]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn profile_show_is_a_summary_and_toml_is_the_file() {
    let server = lab!("xrdp-tls10");
    let config = config_dir(&server);
    let target = server.addr();
    assert_eq!(piped(&config, &["connect", &target], &[]).code, 0);

    let show = piped(&config, &["profile", "show", &target], &[]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    for expected in [
        format!("{target}\n"),
        "  works         no NLA (TLS-only logon), TLS 1.0 (openssl, ECDHE-RSA-AES128-SHA), UDP"
            .to_owned(),
        "  fallbacks     nla-off, tls-version-downgrade\n".to_owned(),
        "  grade         no-nla (no NLA: the logon happens inside the session)\n".to_owned(),
        "  certificate   CN=rdpshim-lab (issuer CN=rdpshim-lab)\n".to_owned(),
        " days left\n".to_owned(),
        "  last outcomes ".to_owned(),
        "  file          ".to_owned(),
    ] {
        assert!(
            show.stdout.contains(&expected),
            "{expected:?} in\n{}",
            show.stdout
        );
    }
    assert!(!show.stdout.contains("[winning]"), "not TOML");

    let toml = piped(&config, &["profile", "show", &target, "--toml"], &[]);
    assert_eq!(toml.code, 0);
    let file = crate::common::saved_profile_file(&server);
    assert_eq!(
        toml.stdout,
        std::fs::read_to_string(file).unwrap(),
        "the file, exactly"
    );

    let names = piped(&config, &["profile", "list", "--names"], &[]);
    assert_eq!(names.stdout, format!("{target}\n"));
}

#[test]
fn an_empty_profile_list_says_how_to_get_a_profile() {
    let dir = scratch("empty");
    let out = piped(&dir.join("config"), &["profile", "list"], &[]);
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("no saved profiles yet"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rdpshim connect HOST") && out.stderr.contains("rdpshim import"));
    let json = piped(&dir.join("config"), &["profile", "list", "--json"], &[]);
    assert_eq!(json.stdout.trim(), "[]");
    let _ = std::fs::remove_dir_all(&dir);
}

/// FreeRDP exports follow the FreeRDP on PATH (2.11 here: its spellings), or `--client`;
/// they carry the display settings the profile has; an `.rdp` export says on stderr what
/// it cannot express.
#[test]
fn exports_follow_the_client_and_keep_what_the_profile_knows() {
    let server = lab!("xrdp-tls10");
    let config = config_dir(&server);
    let target = server.addr();
    assert_eq!(piped(&config, &["connect", &target], &[]).code, 0);
    let export = |extra: &[&str]| {
        let args = [&["profile", "export", target.as_str()][..], extra].concat();
        piped(&config, &args, &[])
    };

    let auto = export(&["--format", "freerdp"]);
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    assert!(
        auto.stdout
            .starts_with(&format!("xfreerdp /v:{target} /sec:tls /tls-seclevel:0 ")),
        "FreeRDP 2.11 found on PATH: {}",
        auto.stdout
    );
    let three = export(&["--format", "freerdp", "--client", "xfreerdp3"]);
    assert!(
        three.stdout.starts_with(&format!(
            "xfreerdp3 /v:{target} /sec:tls /tls:seclevel:0,enforce:1.0"
        )),
        "{}",
        three.stdout
    );
    let refused = export(&["--format", "freerdp", "--client", "remmina"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);

    let rdp = export(&["--format", "rdp", "--utf8"]);
    assert_eq!(rdp.code, 0);
    assert!(
        rdp.stderr.contains("the server speaks only TLS 1.0")
            && rdp.stderr.contains("no TLS version setting")
            && rdp.stderr.contains("--format freerdp"),
        "{}",
        rdp.stderr
    );

    let dir = scratch("display");
    let config = imported(
        &dir,
        "full address:s:big.example\r\ndesktopwidth:i:1280\r\ndesktopheight:i:800\r\nsession bpp:i:16\r\n",
    );
    let out = piped(
        &config,
        &[
            "profile",
            "export",
            "big.example",
            "--format",
            "freerdp",
            "--freerdp-version",
            "2",
        ],
        &[],
    );
    assert_eq!(
        out.stdout, "xfreerdp /v:big.example /size:1280x800 /bpp:16 /cert:tofu\n",
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A directory holding the binary, so completion scripts find `rdpshim` on PATH.
fn path_with_rdpshim(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("rdpshim");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(RDPSHIM, &link).unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

#[test]
fn saved_hosts_complete_in_bash_and_fish() {
    let dir = scratch("complete");
    let config = imported(&dir, "full address:s:alpha.example:3390\r\n");
    let second = dir.join("b.rdp");
    std::fs::write(&second, "full address:s:beta.example\r\n").unwrap();
    assert_eq!(
        piped(&config, &["import", second.to_str().unwrap()], &[]).code,
        0
    );
    let path = path_with_rdpshim(&dir);
    let script = |shell: &str| {
        let out = piped(&config, &["generate", shell], &[]);
        assert_eq!(out.code, 0);
        let file = dir.join(format!("rdpshim.{shell}"));
        std::fs::write(&file, out.stdout).unwrap();
        file
    };

    let bash = script("bash");
    let complete = |line: &str| -> Vec<String> {
        let program = format!(
            r#"source '{}'
COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<<"$COMP_LINE"; [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=()
_rdpshim_saved_hosts rdpshim "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
            bash.display()
        );
        let out = Command::new("bash")
            .args(["-c", &program, "bash", line])
            .env("PATH", &path)
            .env("RDPSHIM_CONFIG_DIR", &config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('-'))
            .map(str::to_owned)
            .collect()
    };
    let hosts = ["alpha.example:3390", "beta.example:3389"];
    assert_eq!(complete("rdpshim connect "), hosts);
    assert_eq!(complete("rdpshim profile show al"), ["alpha.example:3390"]);
    assert_eq!(
        complete("rdpshim open alpha.example:33"),
        ["3390"],
        "after a `:` bash completes the rest of the word"
    );
    assert_eq!(
        complete("rdpshim -q matrix alpha.example:3390 "),
        ["merge", hosts[0], hosts[1]],
        "clap's own subcommand, then the saved hosts"
    );
    assert!(complete("rdpshim connect -u ")
        .iter()
        .all(|c| !hosts.contains(&c.as_str())));
    assert!(
        complete("rdpshim connect beta.example:3389 ").is_empty(),
        "one host only"
    );
    assert!(complete("rdpshim matrix merge ").is_empty());

    let fish = script("fish");
    let out = Command::new("fish")
        .args([
            "-c",
            &format!(
                "source '{}'; complete -C 'rdpshim diagnose '",
                fish.display()
            ),
        ])
        .env("PATH", &path)
        .env("RDPSHIM_CONFIG_DIR", &config)
        .output()
        .expect("fish (tests/lab/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    for host in hosts {
        assert!(text.contains(&format!("{host}\tsaved host")), "{text}");
    }

    let zsh = script("zsh");
    let checked = Command::new("zsh")
        .arg("-n")
        .arg(&zsh)
        .status()
        .expect("zsh (tests/lab/install-deps.sh)");
    assert!(checked.success(), "zsh -n");
    let text = std::fs::read_to_string(&zsh).unwrap();
    assert!(text.contains(":_rdpshim_saved_hosts'") && !text.contains(":_hosts'"));
    let _ = std::fs::remove_dir_all(&dir);
}
