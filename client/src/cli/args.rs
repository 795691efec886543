//! Every flag, defined once (clap derive). These types stop at the CLI: [`ConnectArgs::to_spec`]
//! converts them into the engine's own [`AttemptSpec`] and nothing below sees clap.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use rdpshim::attempt::{
    parse_host_port, AttemptSpec, DialTarget, StageTimeouts, TlsChoice, TlsStack, TlsVersion,
};

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  connected (first frame decoded)
  2  usage error
  3  authentication failed (wrong password, unknown user, account restrictions)
  4  no working configuration (the attempt failed; see the failure class)
  5  unreachable (DNS failure, connection refused, no answer)";

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
    Connect(ConnectArgs),
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

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server as HOST, HOST:PORT, [IPV6]:PORT or an IP literal (port 3389 by default).
    #[arg(value_name = "HOST[:PORT]")]
    pub target: String,

    /// Make exactly one attempt with the knobs given; no fallbacks.
    #[arg(long)]
    pub no_fallback: bool,

    /// NLA (CredSSP). on = request HYBRID_EX|HYBRID only; off = request TLS only.
    #[arg(long, value_enum, default_value = "on")]
    pub nla: OnOff,

    /// TLS version: auto (1.3/1.2 on rustls, 1.2..1.0 on OpenSSL) or a pin.
    #[arg(long, value_enum, default_value = "auto")]
    pub tls: TlsArg,

    /// TLS implementation. Default: rustls, or OpenSSL when --tls is 1.1 or 1.0.
    #[arg(long, value_enum)]
    pub tls_stack: Option<StackArg>,

    /// Cipher suites: rustls names (TLS13_AES_128_GCM_SHA256) or an OpenSSL cipher string.
    #[arg(long, value_name = "LIST")]
    pub ciphers: Option<String>,

    /// Advertise UDP multitransport (a server offer is declined; the session stays on TCP).
    #[arg(long, value_enum, default_value = "on")]
    pub udp: OnOff,

    /// Dial this IP (or IP:PORT) instead of resolving HOST; HOST stays the TLS/CredSSP name.
    #[arg(long, value_name = "IP")]
    pub address: Option<String>,

    /// Name for TLS SNI and the CredSSP target (an IP literal = no SNI, NTLM).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// User name for NLA.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Domain for NLA.
    #[arg(short = 'd', long = "domain", value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// Read the password from the first line of standard input (otherwise RDPSHIM_PASSWORD,
    /// otherwise a prompt). There is deliberately no flag that takes the password itself.
    #[arg(long)]
    pub password_stdin: bool,

    /// Save the first decoded frame as PNG.
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,

    /// Time limit for each network stage, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(0.05..=3600.0).contains(&secs) {
        return Err("the timeout must be between 0.05 and 3600 seconds".to_owned());
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ConnectArgs {
    /// The engine's view of these flags. Credentials are added by the caller (they come
    /// from the secret module, never from here).
    pub fn to_spec(&self) -> Result<AttemptSpec, String> {
        let (host, port) = parse_host_port(&self.target)?;
        let version = self.tls.version();
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

        let dial = match &self.address {
            None => DialTarget::ResolveHost,
            Some(text) => DialTarget::Address(parse_address(text, port)?),
        };

        let mut spec = AttemptSpec::strongest(host, port);
        spec.dial = dial;
        spec.server_name = self.server_name.clone();
        spec.nla = self.nla.is_on();
        spec.tls = tls;
        spec.udp = self.udp.is_on();
        spec.timeouts = StageTimeouts::uniform(self.timeout);
        spec.screenshot = self.screenshot.clone();
        Ok(spec)
    }
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
            Command::Connect(c) => c,
        }
    }

    #[test]
    fn defaults_are_the_strongest_configuration() {
        let spec = parse(&["host"]).to_spec().unwrap();
        assert!(spec.nla && spec.udp);
        assert_eq!(spec.tls, TlsChoice::modern());
        assert_eq!(spec.port, 3389);
        assert_eq!(spec.dial, DialTarget::ResolveHost);
    }

    #[test]
    fn old_tls_picks_openssl_unless_rustls_is_forced() {
        let spec = parse(&["host", "--tls", "1.0"]).to_spec().unwrap();
        assert_eq!(spec.tls.stack, TlsStack::Openssl);
        assert!(parse(&["host", "--tls", "1.0", "--tls-stack", "rustls"])
            .to_spec()
            .is_err());
    }

    #[test]
    fn address_keeps_the_host_as_server_name() {
        let spec = parse(&["name:3390", "--address", "127.0.0.1"])
            .to_spec()
            .unwrap();
        assert_eq!(
            spec.dial,
            DialTarget::Address("127.0.0.1:3390".parse().unwrap())
        );
        assert_eq!(spec.effective_server_name(), "name");
        let spec = parse(&["name", "--address", "[::1]:4000"])
            .to_spec()
            .unwrap();
        assert_eq!(
            spec.dial,
            DialTarget::Address("[::1]:4000".parse().unwrap())
        );
    }

    #[test]
    fn no_password_flag_exists() {
        let full = ["rdpshim", "connect", "host", "--password", "x"];
        assert!(Cli::try_parse_from(full).is_err());
        let full = ["rdpshim", "connect", "host", "-p", "x"];
        assert!(Cli::try_parse_from(full).is_err());
    }
}
