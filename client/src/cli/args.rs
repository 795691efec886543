//! Every flag of every subcommand, defined once (clap derive), with the groups several
//! share in [`super::flags`] (and [`ConnectArgs`], the flags of finding a configuration,
//! shared by `connect`, `bridge` and `open`). These types stop at the CLI: `request.rs` turns
//! `connect`'s and `bridge`'s into the library's requests at one boundary, the other
//! subcommands read theirs in their own module, and nothing below sees clap.

use std::path::PathBuf;
use std::time::Duration;

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use super::exit;
use super::flags::{
    Address, AttemptLimit, BridgeOptions, CellLimit, ClientChoice, ColorChoice, Gateway, Global,
    Login, MatrixFiles, Output, ProbeLimit, Resolve, Target, Timeout,
};
use rdpshim::host::HostPort;
use rdpshim::matrix::Shard;

#[derive(Debug, Parser)]
#[command(
    name = "rdpshim",
    version,
    about = "Gets an RDP connection working when the stock client gives up",
    after_help = exit::help(exit::ALL)
)]
pub struct Cli {
    /// More output on stderr: -v for rdpshim's own steps, -vv for protocol libraries too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// clap's own colouring for help and usage errors, by the same rules as rdpshim's output:
/// `--color` is read before clap parses anything (clap cannot read it sooner), and clap's
/// `auto` already honours `NO_COLOR` and terminals. Applied by `manual::parse`.
pub fn clap_color() -> clap::ColorChoice {
    match color_flag(std::env::args_os().skip(1)) {
        Some(ColorChoice::Always) => clap::ColorChoice::Always,
        Some(ColorChoice::Never) => clap::ColorChoice::Never,
        Some(ColorChoice::Auto) | None => clap::ColorChoice::Auto,
    }
}

/// The last `--color WHEN` / `--color=WHEN` before `--`, if it names a choice.
fn color_flag(args: impl Iterator<Item = std::ffi::OsString>) -> Option<ColorChoice> {
    let mut found = None;
    let mut next_is_value = false;
    for arg in args {
        let Some(arg) = arg.to_str() else {
            next_is_value = false;
            continue;
        };
        let value = if next_is_value {
            Some(arg)
        } else {
            arg.strip_prefix("--color=")
        };
        next_is_value = false;
        match (arg, value) {
            ("--", None) => break,
            ("--color", None) => next_is_value = true,
            (_, Some(value)) => {
                found = ColorChoice::from_str(value, false).ok().or(found);
            }
            _ => {}
        }
    }
    found
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to HOST[:PORT] and prove the connection by decoding the first frame.
    #[command(after_help = exit::help(exit::CONNECT))]
    Connect(Box<ConnectCommand>),
    /// Find the working configuration (the profile first, else the ladder, exactly as
    /// connect) and start your own RDP client with it: FreeRDP (the password on its
    /// standard input), Remmina, or Windows App on macOS.
    #[command(after_help = format!("{OPEN_EXAMPLES}\n\n{}", exit::help(exit::OPEN)))]
    Open(Box<OpenArgs>),
    /// Saved profiles: list, show, remove, repair, export (.rdp, FreeRDP, JSON).
    #[command(subcommand, after_help = exit::help(exit::PROFILE))]
    Profile(ProfileCommand),
    /// Create or update a profile from an .rdp file.
    #[command(after_help = exit::help(exit::PROFILE))]
    Import(ImportArgs),
    /// Find out why a server refuses clients, without credentials: reachability, security
    /// layers, TLS versions and suites, certificate, NLA and NTLM identity, UDP, Standard RDP
    /// Security levels; then a verdict per known cause (of mstsc's error 0x904: blocking;
    /// under a client policy: conditional; weaknesses).
    #[command(after_help = exit::help(exit::DIAGNOSE))]
    Diagnose(DiagnoseArgs),
    /// Regression harness: every configuration of a matrix against every host, a table of
    /// outcomes, baselines to compare against, JUnit XML for CI.
    #[command(
        after_help = format!("{MATRIX_CONFIGURATIONS}\n\n{MATRIX_SHARDS}\n\n{}", exit::help(exit::MATRIX)),
        args_conflicts_with_subcommands = true,
        disable_help_subcommand = true
    )]
    Matrix(Box<MatrixArgs>),
    /// Find a working configuration as `connect` does, then let your own RDP client (mstsc,
    /// Windows App, FreeRDP) reach the server through rdpshim over it.
    #[command(after_help = format!("{BRIDGE_HELP}\n\n{}", exit::help(exit::BRIDGE)))]
    Bridge(Box<BridgeArgs>),
    /// Print or write the man pages or shell completions (for packaging).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

// ---------------------------------------------------------------- connect

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        self == Self::On
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsArg {
    Auto,
    #[value(name = "1.3", alias = "tls1.3", alias = "tlsv1.3")]
    V13,
    #[value(name = "1.2", alias = "tls1.2", alias = "tlsv1.2")]
    V12,
    #[value(name = "1.1", alias = "tls1.1", alias = "tlsv1.1")]
    V11,
    #[value(name = "1.0", alias = "tls1.0", alias = "tlsv1.0")]
    V10,
}

/// `--tls`'s parser: [`TlsArg`]'s values, without clap's "a similar value exists" tip,
/// which picks by spelling (`1.4` -> `1.0`) and so would point at the weakest version for a
/// version that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct TlsParser;

impl TypedValueParser for TlsParser {
    type Value = TlsArg;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<TlsArg, clap::Error> {
        let text = value.to_string_lossy();
        if let Ok(tls) = TlsArg::from_str(&text, true) {
            return Ok(tls);
        }
        let mut error = clap::Error::new(ErrorKind::InvalidValue).with_cmd(cmd);
        let name = arg.map_or_else(|| "--tls".to_owned(), ToString::to_string);
        error.insert(ContextKind::InvalidArg, ContextValue::String(name));
        error.insert(
            ContextKind::InvalidValue,
            ContextValue::String(text.clone().into_owned()),
        );
        let valid = TlsArg::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_owned())
            .collect();
        error.insert(ContextKind::ValidValue, ContextValue::Strings(valid));
        let newer = text
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse::<f32>()
            .is_ok_and(|v| v > 1.3);
        if newer {
            error.insert(
                ContextKind::Suggested,
                ContextValue::StyledStrs(vec!["TLS 1.3 is the newest version".into()]),
            );
        }
        Err(error)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            TlsArg::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StackArg {
    Rustls,
    Openssl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FloorArg {
    /// NLA with rustls (TLS 1.3/1.2, AEAD suites only).
    Modern,
    /// NLA with TLS 1.2 at least (CBC suites allowed).
    Tls12,
    /// NLA with any TLS version, down to TLS 1.0.
    Legacy,
    /// Anything, including TLS-only logon without NLA (the default).
    NoNla,
}

/// `rdpshim connect`: connect's flags, and `--bridge` to go on as `rdpshim bridge` does.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("bridge_options")
        .args(["listen", "once", "max_sessions", "rdp"])
        .multiple(true)
        .requires("bridge")
))]
pub struct ConnectCommand {
    #[command(flatten)]
    pub connect: ConnectArgs,

    /// After connecting, keep a bridge open for your own RDP client (as `rdpshim bridge`).
    #[arg(long)]
    pub bridge: bool,

    #[command(flatten)]
    pub bridge_options: BridgeOptions,
}

/// Finding a working configuration: `connect`'s flags, which `bridge` takes too.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub target: Target,

    /// Make exactly one attempt with the knobs given (defaults: NLA on, TLS auto on rustls,
    /// UDP on, dial the resolved name); no fallbacks.
    #[arg(long)]
    pub no_fallback: bool,

    /// NLA (CredSSP): on = request HYBRID_EX|HYBRID only; off = request TLS only. Pins the
    /// dimension; without it the ladder offers TLS|HYBRID|HYBRID_EX as mstsc does and the
    /// server chooses (NLA only when --min-security or a saved NLA profile requires it).
    #[arg(long, value_enum)]
    pub nla: Option<OnOff>,

    /// TLS version: auto (1.3/1.2 on rustls, 1.2..1.0 on OpenSSL) or a pin.
    #[arg(long, value_name = "VERSION", value_parser = TlsParser)]
    pub tls: Option<TlsArg>,

    /// TLS implementation. Default: rustls, or OpenSSL when --tls is 1.1 or 1.0.
    #[arg(long, value_enum)]
    pub tls_stack: Option<StackArg>,

    /// Cipher suites: rustls names (TLS13_AES_128_GCM_SHA256) or an OpenSSL cipher string.
    #[arg(long, value_name = "LIST")]
    pub ciphers: Option<String>,

    /// Advertise UDP multitransport (a server offer is declined; the session stays on TCP).
    #[arg(long, value_enum)]
    pub udp: Option<OnOff>,

    /// Dial this IP (or IP:PORT) instead of resolving HOST; HOST stays the TLS/CredSSP name.
    #[arg(long, value_name = "IP", value_parser = super::flags::address)]
    pub address: Option<Address>,

    /// An address to try for HOST when its name fails, as curl's --resolve: HOST:ADDR or
    /// HOST:PORT:ADDR (repeatable).
    #[arg(long, value_name = "HOST:ADDR", value_parser = super::flags::resolve)]
    pub resolve: Vec<Resolve>,

    /// Name for TLS SNI and the CredSSP target (an IP literal = no SNI, NTLM).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    #[command(flatten)]
    pub login: Login,

    #[command(flatten)]
    pub gateway: Gateway,

    /// Save the first decoded frame as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,

    #[command(flatten)]
    pub timeout: Timeout<AttemptLimit>,

    /// Overall time limit for the whole ladder, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "90", value_parser = super::flags::seconds)]
    pub deadline: Duration,

    /// At most this many attempts.
    #[arg(long, value_name = "N", default_value = "12", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub max_attempts: u16,

    /// Never go below this security level; exit with the verdict instead.
    #[arg(long, value_enum, default_value = "no-nla")]
    pub min_security: FloorArg,

    /// Allow a configuration weaker than the one the saved profile recorded.
    #[arg(long)]
    pub accept_downgrade: bool,

    /// Accept a server certificate that differs from the pinned one (and pin the new one).
    #[arg(long)]
    pub accept_new_cert: bool,

    /// Do not save or update the host's profile.
    #[arg(long)]
    pub no_save: bool,

    // With a bridge: JSON Lines, connect's object first, then one object per bridge event.
    #[command(flatten)]
    pub output: Output,
}

// ---------------------------------------------------------------- bridge

const BRIDGE_HELP: &str = "\
The bridge finds the configuration as `connect` does (profile first, then the ladder, with the
same --min-security, --accept-downgrade and --accept-new-cert rules), then listens on 127.0.0.1
and a free port (--listen for another address). Your client speaks modern TLS to the bridge (its
own certificate: compare the printed SHA-256 fingerprint); the bridge speaks whatever the server
needs. For an NLA server, sign in with the same user name and password the bridge uses: it checks
them before it uses its own. For a server without NLA you log on at the server's own login
screen. Ctrl-C stops the bridge. With --json, standard output is JSON Lines: connect's object,
then ready, connected, session, turned-away, accept-failed and stopped events.";

#[derive(Debug, Args)]
pub struct BridgeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub options: BridgeOptions,
}

// ---------------------------------------------------------------- open

const OPEN_EXAMPLES: &str = "\
Examples:
  rdpshim open oldserver.corp                          the first client installed (FreeRDP first)
  rdpshim open oldserver.corp -u alice --client xfreerdp
  rdpshim open 10.0.0.5:3390 --client remmina          a .remmina file, then remmina -c FILE

Clients: FreeRDP can be told everything a working configuration holds (TLS version, suites,
certificate pin) and takes the password on its standard input (/from-stdin:force), never in
argv. Remmina and Windows App ask for the password, and cannot reach a server that needs TLS
below 1.2 (an .rdp file has no TLS setting): open says so and starts them pointed at an
in-process bridge on 127.0.0.1 (as rdpshim bridge), which ends when the client exits.";

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub client: ClientChoice,

    /// Carry the session through an in-process bridge (as `rdpshim bridge`, on 127.0.0.1)
    /// even when the client could be told the configuration itself. Without it the bridge
    /// is used only for a client that cannot (an .rdp file or Remmina and a TLS 1.0 server).
    #[arg(long)]
    pub bridge: bool,
}

// ---------------------------------------------------------------- diagnose

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub target: Target,

    /// Probe this RD Gateway too; with credentials (-u or --gateway-user, and a password),
    /// also whether it lets the account reach the host.
    #[command(flatten)]
    pub gateway: Gateway,

    #[command(flatten)]
    pub login: Login,

    #[command(flatten)]
    pub output: Output,

    #[command(flatten)]
    pub timeout: Timeout<ProbeLimit>,

    /// Simultaneous connections to the server (small servers drop connections beyond a
    /// tiny listen backlog; xrdp's is 2).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub connections: u16,
}

// ---------------------------------------------------------------- matrix

const MATRIX_CONFIGURATIONS: &str = "\
Configurations (40 by default): nla|no-nla / rustls-auto|rustls-1.2|openssl-1.2|openssl-1.1|openssl-1.0
/ name|ip / udp|no-udp, e.g. nla/rustls-auto/name/udp. --list-configs prints them; --configs FILE
(TOML) narrows the dimensions ([matrix] nla, tls, dial, udp, generate) or adds named ones ([[config]]
id, nla, tls, ciphers, dial, udp, autologon). Credentials go to NLA cells only.";

const MATRIX_SHARDS: &str = "\
Shards (CI): --shard K/N runs every Nth host of the list starting with the Kth (by host, so a dead
host still costs one timeout); `rdpshim matrix merge SHARD.json...` joins the shards' --json outputs
into the table, baseline and JUnit file one run would give. A host named `merge` is `merge:3389`.";

#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[command(subcommand)]
    pub command: Option<MatrixCommand>,

    /// Hosts as HOST, HOST:PORT, [IPV6]:PORT or an IP literal (port 3389 by default).
    #[arg(value_name = "HOST[:PORT]", value_hint = clap::ValueHint::Hostname)]
    pub hosts: Vec<HostPort>,

    /// More hosts, one HOST[:PORT] per line; `#` starts a comment.
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,

    /// TOML file that narrows the dimensions and/or adds named configurations.
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,

    /// Print the configurations (id and what each does) and exit.
    #[arg(long)]
    pub list_configs: bool,

    // Credentials go to the NLA cells only (without them those end as
    // credentials-required); one password serves every host.
    #[command(flatten)]
    pub login: Login,

    /// With --gateway, every configuration runs directly and through the gateway (the
    /// `route` dimension; `[matrix] route` in --configs narrows it).
    #[command(flatten)]
    pub gateway: Gateway,

    /// Attempts at once, all hosts together.
    #[arg(long, value_name = "N", default_value = "8", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub jobs: u16,

    /// Attempts at once on any one host (xrdp listens with a backlog of 2).
    #[arg(long, value_name = "N", default_value = "2", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub per_host: u16,

    #[command(flatten)]
    pub timeout: Timeout<CellLimit>,

    /// Run shard K of N only: the hosts at positions K, K+N, K+2N... of the list (after
    /// duplicates are dropped). `rdpshim matrix merge` joins the shards' --json.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    #[command(flatten)]
    pub files: MatrixFiles,

    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum MatrixCommand {
    /// Join the --json outputs of `rdpshim matrix --shard K/N` (every shard once) into the
    /// table, baseline, JUnit file and JSON one unsharded run would give.
    #[command(after_help = exit::help(exit::MATRIX))]
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' --json outputs, in any order.
    #[arg(value_name = "SHARD.json", required = true)]
    pub shards: Vec<PathBuf>,

    #[command(flatten)]
    pub files: MatrixFiles,

    #[command(flatten)]
    pub output: Output,
}

// ---------------------------------------------------------------- profile, import

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Every saved profile, one line each.
    #[command(after_help = exit::help(exit::PROFILE))]
    List {
        #[command(flatten)]
        output: Output,
        /// Only the saved HOST:PORT names, one per line (for shell completion).
        #[arg(long, hide = true, conflicts_with = "json")]
        names: bool,
    },
    /// One profile: what works and at what cost, the certificate and its expiry, the last
    /// outcomes (--toml for the file, --json for JSON).
    #[command(after_help = exit::help(exit::PROFILE))]
    Show {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        output: Output,
        /// The profile as its TOML file holds it (escaped on a terminal).
        #[arg(long, conflicts_with = "json")]
        toml: bool,
    },
    /// Delete a profile (also one that cannot be parsed).
    #[command(after_help = exit::help(exit::PROFILE))]
    Rm {
        #[command(flatten)]
        target: Target,
    },
    /// Move an unparsable profile aside (kept as a backup) and write what can be salvaged.
    #[command(after_help = exit::help(exit::PROFILE))]
    Repair {
        #[command(flatten)]
        target: Target,
    },
    /// Export the known-good configuration for another client.
    #[command(after_help = exit::help(exit::PROFILE))]
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
    #[command(flatten)]
    pub target: Target,
    /// What to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write here instead of standard output (atomically, mode 0600; `-` is standard
    /// output). A symbolic link, FIFO, device or directory at FILE is refused, never
    /// replaced or written through; a terminal or /dev/stdout is written directly.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// .rdp as UTF-8 with LF instead of mstsc's UTF-16LE with BOM and CRLF.
    #[arg(long)]
    pub utf8: bool,
    /// FreeRDP major version whose option spelling to use. Default: the version of the
    /// FreeRDP client found on PATH (or named with --client), else 3.
    #[arg(long, value_enum)]
    pub freerdp_version: Option<FreeRdpMajor>,
    /// --format freerdp: the FreeRDP program the command line starts with (xfreerdp,
    /// xfreerdp3, sdl-freerdp, wlfreerdp, a path). Default: the first one on PATH.
    #[command(flatten)]
    pub client: ClientChoice,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An .rdp file written by mstsc, Windows App, Remmina or FreeRDP.
    pub file: PathBuf,
    #[command(flatten)]
    pub output: Output,
}

// ---------------------------------------------------------------- generate

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Artifact {
    /// The man pages: rdpshim(1) and one per subcommand.
    Man,
    /// The bash completion script.
    Bash,
    /// The zsh completion function.
    Zsh,
    /// The fish completion script.
    Fish,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub artifact: Artifact,

    /// Write files into DIR (created if missing) instead of printing: every man page (rdpshim.1,
    /// rdpshim-connect.1, ...), or the completion file under its usual name (rdpshim.bash,
    /// _rdpshim, rdpshim.fish). Without it, `man` prints rdpshim(1) only.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(args: &[&str]) -> bool {
        let mut full = vec!["rdpshim"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).is_ok()
    }

    #[test]
    fn no_password_flag_exists() {
        for command in [
            &["connect", "host"][..],
            &["bridge", "host"][..],
            &["matrix", "host"][..],
        ] {
            for flag in ["--password", "-p"] {
                let mut args = command.to_vec();
                args.extend([flag, "x"]);
                assert!(!parses(&args), "{args:?}");
            }
        }
    }

    #[test]
    fn host_port_is_parsed_by_clap_for_every_subcommand() {
        for command in [
            &["connect"][..],
            &["bridge"][..],
            &["diagnose"][..],
            &["matrix"][..],
            &["profile", "show"][..],
            &["profile", "export", "--format", "json"][..],
        ] {
            let mut good = command.to_vec();
            good.push("[::1]:3390");
            assert!(parses(&good), "{good:?}");
            let mut bad = command.to_vec();
            bad.push("host:0");
            assert!(!parses(&bad), "{bad:?}");
        }
    }

    #[test]
    fn a_tls_version_that_does_not_exist_is_not_similar_to_1_0() {
        for (value, newest) in [("1.4", true), ("2.0", true), ("1.5", true), ("tls", false)] {
            let error = Cli::try_parse_from(["rdpshim", "connect", "h", "--tls", value])
                .expect_err(value)
                .render()
                .to_string();
            assert!(
                error.contains(&format!("invalid value '{value}' for '--tls <VERSION>'")),
                "{error}"
            );
            assert!(
                error.contains("[possible values: auto, 1.3, 1.2, 1.1, 1.0]"),
                "{error}"
            );
            assert!(!error.contains("similar"), "no 'did you mean': {error}");
            assert_eq!(
                error.contains("TLS 1.3 is the newest version"),
                newest,
                "{error}"
            );
        }
        for (value, tls) in [
            ("1.0", TlsArg::V10),
            ("TLSv1.2", TlsArg::V12),
            ("AUTO", TlsArg::Auto),
        ] {
            match Cli::try_parse_from(["rdpshim", "connect", "h", "--tls", value])
                .unwrap()
                .command
            {
                Command::Connect(c) => assert_eq!(c.connect.tls, Some(tls)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn color_is_read_before_clap_parses() {
        let flag = |args: &[&str]| color_flag(args.iter().map(std::ffi::OsString::from));
        assert_eq!(flag(&["connect", "h"]), None);
        assert_eq!(
            flag(&["--color", "never", "connect"]),
            Some(ColorChoice::Never)
        );
        assert_eq!(
            flag(&["connect", "--color=always"]),
            Some(ColorChoice::Always)
        );
        assert_eq!(
            flag(&["--color=always", "--color", "never"]),
            Some(ColorChoice::Never)
        );
        assert_eq!(flag(&["--", "--color", "never"]), None);
        assert_eq!(flag(&["--color", "bogus"]), None);
    }

    #[test]
    fn each_subcommand_has_its_own_stage_limit() {
        let timeout = |args: &[&str]| {
            let mut full = vec!["rdpshim"];
            full.extend_from_slice(args);
            match Cli::try_parse_from(full).expect("parses").command {
                Command::Connect(c) => c.connect.timeout.timeout,
                Command::Bridge(b) => b.connect.timeout.timeout,
                Command::Diagnose(d) => d.timeout.timeout,
                Command::Matrix(m) => m.timeout.timeout,
                other => panic!("no timeout: {other:?}"),
            }
        };
        assert_eq!(timeout(&["connect", "h"]), Duration::from_secs(10));
        assert_eq!(timeout(&["bridge", "h"]), Duration::from_secs(10));
        assert_eq!(timeout(&["diagnose", "h"]), Duration::from_secs(4));
        assert_eq!(timeout(&["matrix", "h"]), Duration::from_secs(5));
        assert_eq!(
            timeout(&["matrix", "h", "--timeout", "0.5"]),
            Duration::from_millis(500)
        );
        assert!(!parses(&["diagnose", "h", "--timeout", "0.01"]));
        assert!(!parses(&["connect", "h", "--deadline", "x"]));
        assert!(!parses(&["matrix", "a", "--jobs", "0"]));
    }

    #[test]
    fn bridge_flags_need_a_bridge() {
        assert!(parses(&[
            "connect", "h", "--bridge", "--once", "--listen", ":4000"
        ]));
        assert!(parses(&["bridge", "h", "--once", "--max-sessions", "3"]));
        for flag in [
            &["--once"][..],
            &["--listen", "127.0.0.1:0"],
            &["--max-sessions", "2"],
            &["--rdp", "x.rdp"],
        ] {
            let mut args = vec!["connect", "h"];
            args.extend_from_slice(flag);
            assert!(!parses(&args), "{args:?} without --bridge");
        }
        assert!(!parses(&["bridge", "h", "--bridge"]));
        assert!(!parses(&["bridge", "h", "--listen", "localhost:1"]));
    }
}
