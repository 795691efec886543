//! What the documentation says beyond the flags, written once: examples per subcommand,
//! the environment, the files. `--help` shows the examples (appended to each command's
//! `after_help` by [`command`]); `generate.rs` renders all of it into the man pages.
//!
//! A subcommand without an entry in [`EXAMPLES`] fails the test below, and so does an
//! example that no longer parses: the examples cannot drift from the flags.

use clap::CommandFactory as _;

use super::args::Cli;

/// One example: a command line as a user types it (shell redirections allowed after the
/// arguments), and what it does.
pub struct Example {
    pub line: &'static str,
    pub does: &'static str,
}

const fn ex(line: &'static str, does: &'static str) -> Example {
    Example { line, does }
}

/// Examples by command path (`rdpshim`, `rdpshim profile export`, ...).
pub const EXAMPLES: &[(&str, &[Example])] = &[
    (
        "rdpshim",
        &[
            ex(
                "rdpshim connect oldserver.corp",
                "Find a working configuration (announcing every fallback) and save it as a profile.",
            ),
            ex(
                "rdpshim diagnose oldserver.corp",
                "Ask why clients fail, without credentials.",
            ),
            ex(
                "rdpshim profile export oldserver.corp --format freerdp",
                "Print the FreeRDP command line that works for the saved host.",
            ),
        ],
    ),
    (
        "rdpshim connect",
        &[
            ex(
                "rdpshim connect oldserver.corp",
                "Start as mstsc would and fall back, one step at a time, until the first frame \
                 arrives; the next connect tries the saved configuration first.",
            ),
            ex(
                "rdpshim connect 10.0.0.5:3390 -u alice -d CORP --password-stdin < password.txt",
                "Log on with NLA; the password comes from standard input, never from an argument.",
            ),
            ex(
                "rdpshim connect oldserver.corp --min-security tls12",
                "Never go below NLA over TLS 1.2: exit 6 with the verdict instead.",
            ),
            ex(
                "rdpshim connect oldserver.corp --no-fallback --nla off --tls 1.0",
                "Exactly one attempt: TLS 1.0 without NLA (OpenSSL at security level 0).",
            ),
            ex(
                "rdpshim connect oldserver.corp --no-save --json",
                "One JSON object on standard output for scripts; no profile written.",
            ),
            ex(
                "rdpshim connect desk7.corp.local --gateway rdg.corp.example -u alice -d CORP \
                 --password-stdin < password.txt",
                "Through an RD Gateway with the same account (mstsc's \"use my RD Gateway \
                 credentials\"); its TLS, transport and scheme fall back like the host's, and \
                 going around it is announced.",
            ),
            ex(
                "rdpshim connect desk7 --gateway rdg.corp.example:8443 --gateway-usage detect \
                 --gateway-user bob --gateway-domain EDGE",
                "Directly first, through the gateway when the host cannot be reached directly; \
                 the gateway's own account (RDPSHIM_GATEWAY_PASSWORD, the keyring, a prompt).",
            ),
            ex(
                "rdpshim connect 10.0.0.5 -u alice --bridge --once",
                "Connect, then carry one session of your own RDP client (as rdpshim bridge).",
            ),
        ],
    ),
    (
        "rdpshim bridge",
        &[
            ex(
                "rdpshim bridge oldserver.corp",
                "Find the configuration, then listen on 127.0.0.1 and a free port: point your \
                 RDP client at the address printed (xfreerdp /v:127.0.0.1:PORT, the FreeRDP \
                 line shows it).",
            ),
            ex(
                "rdpshim bridge 10.0.0.5 -u alice --rdp oldserver.rdp",
                "An NLA server: write an .rdp file for the bridge (open it in mstsc or Windows \
                 App) and sign in as alice; the bridge checks her password before it uses its own.",
            ),
            ex(
                "rdpshim bridge oldserver.corp --listen 127.0.0.1:13389 --once --json",
                "A fixed port, one session, JSON Lines events on standard output for scripts.",
            ),
            ex(
                "rdpshim bridge desk7.corp.local --gateway rdg.corp.example -u alice -d CORP",
                "Through an RD Gateway: every session opens its own tunnel through it, as the \
                 configuration was found (the gateway's TLS, transport and certificate).",
            ),
        ],
    ),
    (
        "rdpshim open",
        &[
            ex(
                "rdpshim open oldserver.corp",
                "Find the working configuration (the saved profile first) and start FreeRDP, \
                 Remmina or Windows App with it; rdpshim exits with the client's status.",
            ),
            ex(
                "rdpshim open 10.0.0.5 -u alice --password-stdin --client xfreerdp < password.txt",
                "Start xfreerdp; the password reaches it on its standard input, never its \
                 arguments or environment.",
            ),
            ex(
                "rdpshim open oldserver.corp --client remmina",
                "Remmina cannot be told TLS 1.0: it is started pointed at a bridge on 127.0.0.1 \
                 that carries the session, and the bridge ends with it.",
            ),
        ],
    ),
    (
        "rdpshim diagnose",
        &[
            ex(
                "rdpshim diagnose oldserver.corp",
                "Reachability, security layers, TLS versions and suites, certificate, NLA, UDP, \
                 then a verdict per known cause of error 0x904.",
            ),
            ex(
                "rdpshim diagnose 10.0.0.5:3390 --json --timeout 2",
                "All findings and verdicts as JSON, two seconds per network step.",
            ),
            ex(
                "rdpshim diagnose desk7.corp.local --gateway rdg.corp.example -u alice \
                 --password-stdin < password.txt",
                "The gateway too: its TLS, certificate and authentication schemes, and whether \
                 it lets alice reach the host.",
            ),
        ],
    ),
    (
        "rdpshim matrix merge",
        &[
            ex(
                "rdpshim matrix merge shard-1.json shard-2.json shard-3.json shard-4.json --junit matrix.xml",
                "Join the --json outputs of `rdpshim matrix --shard K/4` (one per CI runner) into \
                 the table and JUnit file one run would give.",
            ),
            ex(
                "rdpshim matrix merge shard-*.json --baseline baseline.json",
                "Compare the joined shards with a baseline; exit 8 on a regression.",
            ),
        ],
    ),
    (
        "rdpshim matrix",
        &[
            ex(
                "rdpshim matrix --list-configs",
                "Print the 40 default configurations and what each does.",
            ),
            ex(
                "rdpshim matrix rds1.corp rds2.corp -u alice --password-stdin --save-baseline \
                 baseline.json < password.txt",
                "Run every configuration against two hosts and save the table.",
            ),
            ex(
                "rdpshim matrix --hosts-file hosts.txt --baseline baseline.json --junit matrix.xml",
                "Compare with the saved table in CI: exit 8 when a cell that worked fails now.",
            ),
        ],
    ),
    (
        "rdpshim profile",
        &[
            ex("rdpshim profile list", "Every saved host, one line each."),
            ex(
                "rdpshim profile export oldserver.corp --format rdp -o oldserver.rdp",
                "Write an .rdp file for mstsc or Windows App.",
            ),
        ],
    ),
    (
        "rdpshim profile list",
        &[
            ex("rdpshim profile list", "Every saved host, one line each."),
            ex("rdpshim profile list --json", "The same as JSON."),
        ],
    ),
    (
        "rdpshim profile show",
        &[
            ex(
                "rdpshim profile show oldserver.corp",
                "What works for the host, its pinned certificate and the last outcomes.",
            ),
            ex("rdpshim profile show 10.0.0.5:3390 --json", "The same as JSON."),
        ],
    ),
    (
        "rdpshim profile rm",
        &[ex(
            "rdpshim profile rm oldserver.corp",
            "Forget the host (also when its file cannot be parsed).",
        )],
    ),
    (
        "rdpshim profile repair",
        &[ex(
            "rdpshim profile repair oldserver.corp",
            "Move a broken profile file aside and write what can be salvaged.",
        )],
    ),
    (
        "rdpshim profile export",
        &[
            ex(
                "rdpshim profile export oldserver.corp --format rdp -o oldserver.rdp",
                "An .rdp file as mstsc writes it (UTF-16LE with BOM), without a password.",
            ),
            ex(
                "rdpshim profile export oldserver.corp --format freerdp --freerdp-version 2",
                "The xfreerdp 2 command line, with the pinned certificate.",
            ),
        ],
    ),
    (
        "rdpshim import",
        &[
            ex(
                "rdpshim import Desktop.rdp",
                "Create or update the profile of the host the file names.",
            ),
            ex("rdpshim import Desktop.rdp --json", "The same, printing the profile as JSON."),
        ],
    ),
];

/// What rdpshim is, for `rdpshim --help` and the DESCRIPTION of rdpshim(1).
pub const DESCRIPTION: &str = "\
rdpshim is a command-line RDP client for the connections the stock client gives up on with \
\"error 0x904, extended 0x7\". `rdpshim connect HOST` starts from what mstsc would do and falls \
back, one announced step at a time (an IP address for the host name, TLS version and cipher \
downgrades, NLA on or off, UDP not advertised), until the first frame of the remote desktop \
arrives, and saves what worked as a profile: the next connect needs one attempt. \
`rdpshim diagnose` names the cause without credentials; `rdpshim matrix` runs every \
configuration against every host as a regression test; profiles export to .rdp files and \
FreeRDP command lines; `rdpshim bridge` lets your own RDP client (mstsc, Windows App, FreeRDP) \
reach the server through rdpshim over the configuration it found.

--min-security sets a floor no fallback crosses, a saved profile guards against downgrades, \
and a changed certificate stops the attempt before any credential is sent.";

/// An environment variable rdpshim reads, and what for.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "RDPSHIM_CONFIG_DIR",
        "Configuration root: profiles are kept in $RDPSHIM_CONFIG_DIR/profiles instead of the \
         per-user directory named under FILES.",
    ),
    (
        "RDPSHIM_PASSWORD",
        "The password for NLA (connect, matrix) when --password-stdin is not given; it is used \
         before the keyring and the prompt. Prefer --password-stdin: the environment of a \
         process is visible to its user.",
    ),
    (
        "RDPSHIM_GATEWAY_PASSWORD",
        "The password of the RD Gateway account given with --gateway-user (connect, diagnose, \
         matrix), before the keyring entry USER@GATEWAY and the prompt. Without --gateway-user \
         the gateway gets the host's credentials, as mstsc's \"use my RD Gateway credentials for \
         the remote computer\".",
    ),
    (
        "RDPSHIM_NO_KEYRING",
        "Set to 1 to never read or write the OS keyring (CI, shared accounts); the password \
         then comes from --password-stdin, RDPSHIM_PASSWORD or a prompt each time.",
    ),
    (
        "NO_COLOR",
        "rdpshim writes no colour codes, with or without NO_COLOR (https://no-color.org). The \
         only terminal control it writes is erasing its own progress line, and only when the \
         output is a terminal.",
    ),
];

/// A file or store rdpshim reads or writes.
pub const FILES: &[(&str, &str)] = &[
    (
        "~/.config/rdpshim/profiles/HOST_PORT.toml",
        "Profiles on Linux ($XDG_CONFIG_HOME/rdpshim/profiles when XDG_CONFIG_HOME is set): \
         one TOML file per host, mode 0600, written atomically under a lock file.",
    ),
    (
        "~/Library/Application Support/rdpshim/profiles/HOST_PORT.toml",
        "Profiles on macOS.",
    ),
    (
        "~/.config/rdpshim/bridge/certificate.pem, key.pem",
        "The bridge's own certificate and key (RSA 2048, self-signed, generated on first use, \
         key mode 0600) beside profiles/ under the same configuration root: your client \
         sees the same fingerprint every run. A key others can read, or a link there, is \
         refused and left as it is.",
    ),
    (
        "OS keyring, service \"rdpshim\"",
        "Passwords, one entry per USER@HOST: the Secret Service on Linux, the login Keychain on \
         macOS. Never a file.",
    ),
];

/// The examples of the command at `path`.
pub fn examples(path: &str) -> &'static [Example] {
    EXAMPLES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(&[], |(_, examples)| examples)
}

/// Parses the process arguments with [`command`] (exits on a usage error, as clap does).
pub fn parse() -> Cli {
    use clap::FromArgMatches as _;
    let mut cmd = command().color(super::args::clap_color());
    let mut matches = cmd.get_matches_mut();
    Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// The clap definitions with rdpshim's own description: what the man pages render.
pub fn described() -> clap::Command {
    Cli::command().long_about(DESCRIPTION)
}

/// The clap command the binary parses with: [`described`], with each command's examples
/// appended to its `--help`.
pub fn command() -> clap::Command {
    with_examples(described(), "rdpshim")
}

fn with_examples(mut cmd: clap::Command, path: &str) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        let sub_path = format!("{path} {name}");
        cmd = cmd.mut_subcommand(&name, |sub| with_examples(sub, &sub_path));
    }
    let examples = examples(path);
    if examples.is_empty() {
        return cmd;
    }
    let mut text = cmd
        .get_after_help()
        .map(|help| format!("{help}\n\n"))
        .unwrap_or_default();
    text.push_str("Examples:");
    for example in examples {
        text.push_str(&format!("\n  {}\n    {}", example.does, example.line));
    }
    cmd.after_help(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command, with its path (`rdpshim profile export`), hidden ones included.
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        out.push((path.to_owned(), cmd.clone()));
        // clap's own `help` subcommand is not ours to document.
        for sub in cmd.get_subcommands().filter(|sub| sub.get_name() != "help") {
            walk(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    fn all_commands() -> Vec<(String, clap::Command)> {
        let mut cmd = command();
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, "rdpshim", &mut out);
        out
    }

    /// Splits an example as a shell would for these simple lines: words up to the first
    /// redirection or pipe. Quotes would need a real shell parser, so examples have none.
    fn argv(line: &str) -> Vec<&str> {
        assert!(
            !line.contains(['"', '\'', '\\', '$']),
            "keep examples free of quoting: {line}"
        );
        line.split_whitespace()
            .take_while(|word| !word.starts_with(['<', '>', '|']))
            .collect()
    }

    #[test]
    fn every_option_and_argument_says_what_it_is_for() {
        let mut missing = Vec::new();
        for (path, cmd) in all_commands() {
            if cmd.get_about().is_none() && path != "rdpshim" {
                missing.push(format!("{path}: the subcommand has no about text"));
            }
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path}: {}", arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn every_visible_subcommand_ends_its_help_with_examples() {
        for (path, cmd) in all_commands() {
            if cmd.is_hide_set() {
                continue;
            }
            assert!(
                !examples(&path).is_empty(),
                "`{path}` has no examples: add them to EXAMPLES in cli/manual.rs"
            );
            let help = cmd.get_after_help().expect("after_help").to_string();
            let (_, tail) = help.rsplit_once("Examples:").expect("an Examples: block");
            for example in examples(&path) {
                assert!(tail.contains(example.line), "{path}: {}", example.line);
            }
        }
    }

    #[test]
    fn every_example_parses_as_the_command_it_documents() {
        let commands: Vec<String> = all_commands().into_iter().map(|(p, _)| p).collect();
        for (path, examples) in EXAMPLES {
            assert!(commands.contains(&path.to_string()), "no command `{path}`");
            for example in *examples {
                let words = argv(example.line);
                let matches = command()
                    .try_get_matches_from(&words)
                    .unwrap_or_else(|e| panic!("`{}` does not parse: {e}", example.line));
                // The deepest subcommand the example reaches.
                let mut reached = String::from("rdpshim");
                let mut current = &matches;
                while let Some((name, sub)) = current.subcommand() {
                    reached = format!("{reached} {name}");
                    current = sub;
                }
                // A parent's examples may show its subcommands.
                assert!(
                    reached == *path || reached.starts_with(&format!("{path} ")),
                    "`{}` runs `{reached}`, but is listed under `{path}`",
                    example.line
                );
            }
        }
    }

    #[test]
    fn the_help_the_binary_prints_has_the_examples() {
        let mut cmd = command();
        let help = cmd
            .find_subcommand_mut("connect")
            .expect("connect")
            .render_long_help()
            .to_string();
        let last = examples("rdpshim connect").last().expect("examples");
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.trim_end().ends_with(last.line), "{help}");
    }
}
