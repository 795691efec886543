//! Every flag, defined once (clap derive). These types stop at the CLI:
//! [`ConnectArgs::to_request`] converts them into the ladder's own [`Request`] (policy, pins,
//! timeouts) and nothing below sees clap.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use rdpshim::attempt::{parse_host_port, StageTimeouts, TlsChoice, TlsStack, TlsVersion};
use rdpshim::ladder::Request;
use rdpshim::planner::{Dial, Grade, Pins, Policy};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  connected (first frame decoded)
  2  usage error
  3  authentication failed (wrong password, unknown user, account restrictions)
  4  no working configuration (the diagnosis says why)
  5  unreachable (DNS failure, connection refused, no answer)
  6  refused by policy (--min-security, or a possible downgrade against the profile)
  7  certificate changed (see both fingerprints; --accept-new-cert to trust the new one)
  8  matrix: a cell regressed against --baseline (ok before, a failure now)";

#[derive(Debug, Parser)]
#[command(
    name = "rdpshim",
    version,
    about = "Gets an RDP connection working when the stock client gives up",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// More output on stderr: -v for rdpshim's own steps, -vv for protocol libraries too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to HOST[:PORT] and prove the connection by decoding the first frame.
    #[command(after_help = EXIT_CODES_HELP)]
    Connect(Box<ConnectArgs>),
    /// Saved profiles: list, show, remove, repair, export (.rdp, FreeRDP, JSON).
    #[command(subcommand)]
    Profile(super::profile::ProfileCommand),
    /// Create or update a profile from an .rdp file.
    Import(super::profile::ImportArgs),
    /// Find out why a server refuses clients, without credentials: reachability, security
    /// layers, TLS versions and suites, certificate, NLA and NTLM identity, UDP; then a
    /// verdict per known cause of mstsc's error 0x904.
    #[command(after_help = super::diagnose::DIAGNOSE_EXIT_HELP)]
    Diagnose(super::diagnose::DiagnoseArgs),
    /// Regression harness: every configuration of a matrix against every host, a table of
    /// outcomes, baselines to compare against, JUnit XML for CI.
    Matrix(Box<super::matrix::MatrixArgs>),
    /// Find a working configuration as `connect` does, then let your own RDP client (mstsc,
    /// Windows App, FreeRDP) reach the server through rdpshim over it.
    #[command(after_help = super::bridge::BRIDGE_HELP)]
    Bridge(Box<ConnectArgs>),
    /// Print the man page or shell completions (for packaging).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        artifact: super::generate::Artifact,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn is_on(self) -> bool {
        self == Self::On
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsArg {
    Auto,
    #[value(name = "1.3")]
    V13,
    #[value(name = "1.2")]
    V12,
    #[value(name = "1.1")]
    V11,
    #[value(name = "1.0")]
    V10,
}

impl TlsArg {
    fn version(self) -> Option<TlsVersion> {
        match self {
            Self::Auto => None,
            Self::V13 => Some(TlsVersion::Tls13),
            Self::V12 => Some(TlsVersion::Tls12),
            Self::V11 => Some(TlsVersion::Tls11),
            Self::V10 => Some(TlsVersion::Tls10),
        }
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

impl FloorArg {
    fn grade(self) -> Grade {
        match self {
            Self::Modern => Grade::Modern,
            Self::Tls12 => Grade::Tls12,
            Self::Legacy => Grade::Legacy,
            Self::NoNla => Grade::NoNla,
        }
    }
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server as HOST, HOST:PORT, [IPV6]:PORT or an IP literal (port 3389 by default).
    #[arg(value_name = "HOST[:PORT]")]
    pub target: String,

    /// Make exactly one attempt with the knobs given (defaults: NLA on, TLS auto on rustls,
    /// UDP on, dial the resolved name); no fallbacks.
    #[arg(long)]
    pub no_fallback: bool,

    /// NLA (CredSSP): on = request HYBRID_EX|HYBRID only; off = request TLS only. Pins the
    /// dimension; without it the ladder decides.
    #[arg(long, value_enum)]
    pub nla: Option<OnOff>,

    /// TLS version: auto (1.3/1.2 on rustls, 1.2..1.0 on OpenSSL) or a pin.
    #[arg(long, value_enum)]
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
    #[arg(long, value_name = "IP")]
    pub address: Option<String>,

    /// An address to try for HOST when its name fails, as curl's --resolve: HOST:ADDR or
    /// HOST:PORT:ADDR (repeatable).
    #[arg(long, value_name = "HOST:ADDR")]
    pub resolve: Vec<String>,

    /// Name for TLS SNI and the CredSSP target (an IP literal = no SNI, NTLM).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// User name for NLA.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Domain for NLA.
    #[arg(short = 'd', long = "domain", value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// Read the password from the first line of standard input (otherwise the keyring,
    /// RDPSHIM_PASSWORD, or a prompt). There is deliberately no flag that takes the password.
    #[arg(long)]
    pub password_stdin: bool,

    /// Save the first decoded frame as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,

    /// Time limit for each network stage, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Overall time limit for the whole ladder, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "90", value_parser = parse_timeout)]
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

    /// Print one JSON object on stdout instead of the human summary (with a bridge: JSON
    /// Lines, that object first, then one object per bridge event).
    #[arg(long)]
    pub json: bool,

    /// After connecting, keep a bridge open for your own RDP client (`rdpshim bridge`).
    #[arg(long)]
    pub bridge: bool,

    #[command(flatten)]
    pub bridge_options: super::bridge::BridgeOptions,
}

pub(super) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(0.05..=3600.0).contains(&secs) {
        return Err("the timeout must be between 0.05 and 3600 seconds".to_owned());
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ConnectArgs {
    pub fn host_port(&self) -> Result<(String, u16), String> {
        parse_host_port(&self.target)
    }

    /// The TLS pin, when any TLS flag was given.
    fn tls_pin(&self) -> Result<Option<TlsChoice>, String> {
        if self.tls.is_none() && self.tls_stack.is_none() && self.ciphers.is_none() {
            return Ok(None);
        }
        let version = self.tls.and_then(TlsArg::version);
        let stack = match (self.tls_stack, version) {
            (Some(StackArg::Rustls), Some(v @ (TlsVersion::Tls10 | TlsVersion::Tls11))) => {
                return Err(format!(
                    "--tls {} needs --tls-stack openssl (rustls speaks only TLS 1.2 and 1.3)",
                    v.as_str()
                ));
            }
            (Some(StackArg::Rustls), _) => TlsStack::Rustls,
            (Some(StackArg::Openssl), _) => TlsStack::Openssl,
            (None, Some(TlsVersion::Tls10 | TlsVersion::Tls11)) => TlsStack::Openssl,
            (None, _) => TlsStack::Rustls,
        };
        let tls = TlsChoice {
            stack,
            version,
            ciphers: self.ciphers.clone(),
        };
        rdpshim::engine::tls::validate(&tls)?;
        Ok(Some(tls))
    }

    /// The engine's view of these flags: the policy (pins, floor, budget) and the request.
    /// Credentials and the profile are added by the caller.
    pub fn to_request(&self) -> Result<Request, String> {
        let (host, port) = self.host_port()?;
        let host_ip = host.parse::<IpAddr>().ok();
        let mut policy = Policy::new(host_ip, port);
        policy.pins = Pins {
            dial: match &self.address {
                None => None,
                Some(text) => Some(Dial::Ip(parse_address(text, port)?)),
            },
            server_name: self.server_name.is_some(),
            nla: self.nla.map(OnOff::is_on),
            tls: self.tls_pin()?,
            udp: self.udp.map(OnOff::is_on),
        };
        if self.no_fallback {
            // Exactly one attempt with the knobs given, defaults for the rest.
            let pins = &mut policy.pins;
            pins.nla.get_or_insert(true);
            pins.udp.get_or_insert(true);
            pins.tls.get_or_insert_with(TlsChoice::modern);
            pins.server_name = true;
            if pins.dial.is_none() && host_ip.is_none() {
                pins.dial = Some(Dial::ByName);
            }
            policy.max_attempts = 1;
        } else {
            policy.max_attempts = usize::from(self.max_attempts);
        }
        policy.floor = self.min_security.grade();
        policy.accept_downgrade = self.accept_downgrade;
        policy.deadline = self.deadline;
        policy.known_addresses = self
            .resolve
            .iter()
            .map(|entry| parse_resolve(entry, port))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(&host))
            .map(|(_, address)| address)
            .collect();

        Ok(Request {
            host,
            port,
            policy,
            server_name: self.server_name.clone(),
            credentials: None,
            timeouts: StageTimeouts::uniform(self.timeout),
            screenshot: self.screenshot.clone(),
            pinned_certificate: None,
        })
    }
}

/// `HOST:ADDR` or `HOST:PORT:ADDR` (curl's form); ADDR may be a bracketed IPv6 literal.
fn parse_resolve(entry: &str, default_port: u16) -> Result<(String, SocketAddr), String> {
    let bad = || format!("--resolve `{entry}`: expected HOST:ADDR or HOST:PORT:ADDR");
    let (host, rest) = entry.split_once(':').ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    let strip = |s: &str| s.trim_start_matches('[').trim_end_matches(']').to_owned();
    if let Ok(ip) = strip(rest).parse::<IpAddr>() {
        return Ok((host.to_owned(), SocketAddr::new(ip, default_port)));
    }
    let (port, address) = rest.split_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let ip: IpAddr = strip(address).parse().map_err(|_| bad())?;
    Ok((host.to_owned(), SocketAddr::new(ip, port)))
}

fn parse_address(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| format!("--address `{text}` is not an IP address (or IP:PORT)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ConnectArgs {
        let mut full = vec!["rdpshim", "connect"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full).expect("parses").command {
            Command::Connect(c) => *c,
            other => panic!("not connect: {other:?}"),
        }
    }

    #[test]
    fn no_fallback_pins_every_dimension_to_the_defaults() {
        let request = parse(&["host", "--no-fallback"]).to_request().unwrap();
        let pins = &request.policy.pins;
        assert_eq!(pins.nla, Some(true));
        assert_eq!(pins.udp, Some(true));
        assert_eq!(pins.tls, Some(TlsChoice::modern()));
        assert_eq!(pins.dial, Some(Dial::ByName));
        assert_eq!(request.policy.max_attempts, 1);
        assert_eq!(request.port, 3389);
    }

    #[test]
    fn the_ladder_pins_only_what_was_given() {
        let request = parse(&["host", "--nla", "off"]).to_request().unwrap();
        assert_eq!(request.policy.pins.nla, Some(false));
        assert_eq!(request.policy.pins.tls, None);
        assert_eq!(request.policy.pins.udp, None);
        assert!(request.policy.max_attempts > 1);
    }

    #[test]
    fn old_tls_picks_openssl_unless_rustls_is_forced() {
        let request = parse(&["host", "--tls", "1.0"]).to_request().unwrap();
        assert_eq!(request.policy.pins.tls.unwrap().stack, TlsStack::Openssl);
        assert!(parse(&["host", "--tls", "1.0", "--tls-stack", "rustls"])
            .to_request()
            .is_err());
    }

    #[test]
    fn address_pins_the_dial_and_keeps_the_host_name() {
        let request = parse(&["name:3390", "--address", "127.0.0.1"])
            .to_request()
            .unwrap();
        assert_eq!(
            request.policy.pins.dial,
            Some(Dial::Ip("127.0.0.1:3390".parse().unwrap()))
        );
        assert_eq!(request.host, "name");
        let request = parse(&["name", "--address", "[::1]:4000"])
            .to_request()
            .unwrap();
        assert_eq!(
            request.policy.pins.dial,
            Some(Dial::Ip("[::1]:4000".parse().unwrap()))
        );
    }

    #[test]
    fn resolve_hints_in_the_manner_of_curl() {
        let request = parse(&[
            "srv:3390",
            "--resolve",
            "srv:10.1.2.3",
            "--resolve",
            "srv:3390:[fd00::5]",
            "--resolve",
            "other:10.9.9.9",
        ])
        .to_request()
        .unwrap();
        let expected: Vec<SocketAddr> = vec![
            "10.1.2.3:3390".parse().unwrap(),
            "[fd00::5]:3390".parse().unwrap(),
        ];
        assert_eq!(request.policy.known_addresses, expected);
        assert!(parse(&["srv", "--resolve", "srv"]).to_request().is_err());
    }

    #[test]
    fn no_password_flag_exists() {
        let full = ["rdpshim", "connect", "host", "--password", "x"];
        assert!(Cli::try_parse_from(full).is_err());
        let full = ["rdpshim", "connect", "host", "-p", "x"];
        assert!(Cli::try_parse_from(full).is_err());
    }
}
