//! Flags that several subcommands take, each defined once and `#[command(flatten)]`ed
//! where it is used, and the value parsers they share. A value is parsed here, by clap, or
//! not at all: nothing below re-parses a flag's text.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use rdpshim::host::HostPort;

/// Flags every subcommand takes (`global`): how much to print and whether in colour.
#[derive(Debug, Clone, Copy, Args)]
pub struct Global {
    /// Colour: auto (only on a terminal, and not with NO_COLOR set), always, never.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value = "auto",
        global = true
    )]
    pub color: ColorChoice,

    /// Print the verdict line only (no per-attempt lines, notes, warnings or details).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The server: `HOST[:PORT]`.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Server as HOST, HOST:PORT, [IPV6]:PORT or an IP literal (port 3389 by default).
    #[arg(value_name = "HOST[:PORT]", value_hint = clap::ValueHint::Hostname)]
    pub target: HostPort,
}

/// Who logs on with NLA. The password is deliberately not a flag.
#[derive(Debug, Clone, Args)]
pub struct Login {
    /// User name for NLA.
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Domain for NLA.
    #[arg(short = 'd', long = "domain", value_name = "DOMAIN")]
    pub domain: Option<String>,

    /// Read the password from the first line of standard input (otherwise RDPSHIM_PASSWORD,
    /// the keyring entry for USER@HOST, or a prompt). No flag takes the password.
    #[arg(long)]
    pub password_stdin: bool,
}

/// An RD Gateway in front of the host, and its account: `connect`, `diagnose` and `matrix`
/// take it (and the bridge and `open`, which reuse connect's path).
#[derive(Debug, Clone, Args)]
pub struct Gateway {
    /// Through this RD Gateway (HTTPS): GW, GW:PORT or [IPV6]:PORT, port 443 by default. The
    /// host's credentials serve for the gateway unless --gateway-user is given.
    #[arg(long, value_name = "GW[:PORT]", value_parser = gateway)]
    pub gateway: Option<HostPort>,

    /// When to use the gateway: always (mstsc's gatewayusagemethod 1; going around it is an
    /// announced fallback) or detect (2: only when the host cannot be reached directly).
    #[arg(long, value_enum, value_name = "WHEN", requires = "gateway")]
    pub gateway_usage: Option<GatewayUsageArg>,

    /// The gateway account, when it is not the host's (its password: RDPSHIM_GATEWAY_PASSWORD,
    /// the keyring entry USER@GATEWAY, a prompt; --password-stdin when no -u is given). A
    /// profile keeps it with the gateway.
    #[arg(long, value_name = "USER", requires = "gateway")]
    pub gateway_user: Option<String>,

    /// The gateway account's domain.
    #[arg(long, value_name = "DOMAIN", requires = "gateway_user")]
    pub gateway_domain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GatewayUsageArg {
    /// Through the gateway first.
    Always,
    /// Directly first; through the gateway when the host cannot be reached directly.
    Detect,
}

/// `--gateway GW[:PORT]`: port 443 unless given.
pub fn gateway(text: &str) -> Result<HostPort, String> {
    HostPort::parse_with_port(text, rdpshim::route::gateway::DEFAULT_GATEWAY_PORT)
        .map_err(|e| e.to_string())
}

/// `--client NAME`: the user's own RDP client (`open` starts it; an export's FreeRDP command
/// line is written for it).
#[derive(Debug, Clone, Args)]
pub struct ClientChoice {
    /// The client: a FreeRDP program (xfreerdp, xfreerdp3, sdl-freerdp, wlfreerdp, or a
    /// path), remmina, or windows-app (macOS). Default: the first one installed, FreeRDP
    /// first.
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct Output {
    /// Print JSON on standard output instead of text for people.
    #[arg(long)]
    pub json: bool,
}

/// The matrix's result files: `matrix` and `matrix merge` write and compare the same ones.
#[derive(Debug, Clone, Args)]
pub struct MatrixFiles {
    /// Write the results to FILE as the expected table (JSON; written atomically).
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Compare with the table in FILE: print every changed cell; exit 8 on a regression.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Write JUnit XML to FILE: a testsuite per host, a testcase per configuration.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `--timeout`: a limit per network stage, with each subcommand's own default
/// ([`StageLimit`]).
#[derive(Debug, Clone, Copy, Args)]
pub struct Timeout<D: StageLimit> {
    /// Time limit for each network stage (of each attempt, probe or cell), in seconds.
    #[arg(long, value_name = "SECONDS", default_value = D::SECONDS, value_parser = seconds)]
    pub timeout: Duration,

    #[arg(skip)]
    default: PhantomData<D>,
}

/// A subcommand's default `--timeout`, in seconds.
pub trait StageLimit: Clone + Send + Sync + 'static {
    const SECONDS: &'static str;
}

/// `connect`: a real server's slowest stage (CredSSP against a domain controller) fits.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimit;
impl StageLimit for AttemptLimit {
    const SECONDS: &'static str = "10";
}

/// `diagnose`: a probe waits for one answer; many probes run.
#[derive(Debug, Clone, Copy)]
pub struct ProbeLimit;
impl StageLimit for ProbeLimit {
    const SECONDS: &'static str = "4";
}

/// `matrix`: many cells, each one attempt.
#[derive(Debug, Clone, Copy)]
pub struct CellLimit;
impl StageLimit for CellLimit {
    const SECONDS: &'static str = "5";
}

/// The bridge's own flags: `rdpshim bridge` and `rdpshim connect --bridge`.
#[derive(Debug, Clone, Args)]
pub struct BridgeOptions {
    /// Where the bridge listens for your RDP client: ADDR:PORT, ADDR or :PORT (default
    /// 127.0.0.1 and a free port). Any other address than loopback lets other machines
    /// reach the server through you: only when you say so.
    #[arg(long, value_name = "ADDR:PORT", value_parser = listen)]
    pub listen: Option<SocketAddr>,

    /// Exit when the first session ends.
    #[arg(long)]
    pub once: bool,

    /// Sessions carried at once; another client waits 2 s for one to end, then is turned away.
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_sessions: u16,

    /// Write an .rdp file for the bridge's address (mstsc, Windows App, Remmina); no
    /// password. Written atomically, mode 0600; a link, FIFO or device there is refused.
    #[arg(long, value_name = "FILE.rdp")]
    pub rdp: Option<PathBuf>,
}

/// `--listen`: `ADDR:PORT`, `[V6]:PORT`, `ADDR` or `:PORT` (loopback); port 0 or none is a
/// free port. An address, never a name: what the bridge exposes must be what was typed.
pub fn listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = unbracket(text).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    if let Some(port) = text.strip_prefix(':') {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    Err(format!(
        "`{text}`: expected ADDR:PORT, ADDR or :PORT (an IP address, not a name)"
    ))
}

/// Seconds as a decimal number, 0.05 to 3600: every time flag.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(0.05..=3600.0).contains(&secs) {
        return Err("the time must be between 0.05 and 3600 seconds".to_owned());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `--address IP` or `IP:PORT` (an IPv6 literal in brackets when a port follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    Ip(IpAddr),
    Socket(SocketAddr),
}

impl Address {
    /// The address to dial, with `port` unless one was given.
    pub fn with_default_port(self, port: u16) -> SocketAddr {
        match self {
            Self::Ip(ip) => SocketAddr::new(ip, port),
            Self::Socket(address) => address,
        }
    }
}

pub fn address(text: &str) -> Result<Address, String> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(Address::Socket(address));
    }
    unbracket(text)
        .parse::<IpAddr>()
        .map(Address::Ip)
        .map_err(|_| format!("`{text}` is not an IP address (or IP:PORT)"))
}

/// `--resolve HOST:ADDR` or `HOST:PORT:ADDR`, as curl takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: Option<u16>,
    pub ip: IpAddr,
}

pub fn resolve(entry: &str) -> Result<Resolve, String> {
    let bad = || format!("`{entry}`: expected HOST:ADDR or HOST:PORT:ADDR");
    let (host, rest) = entry.split_once(':').ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    if let Ok(ip) = unbracket(rest).parse::<IpAddr>() {
        return Ok(Resolve {
            host: host.to_owned(),
            port: None,
            ip,
        });
    }
    let (port, address) = rest.split_once(':').ok_or_else(bad)?;
    Ok(Resolve {
        host: host.to_owned(),
        port: Some(port.parse().map_err(|_| bad())?),
        ip: unbracket(address).parse().map_err(|_| bad())?,
    })
}

fn unbracket(text: &str) -> &str {
    text.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        let parsed = |text| listen(text).map(|a| a.to_string());
        assert_eq!(parsed("127.0.0.1:13389").unwrap(), "127.0.0.1:13389");
        assert_eq!(parsed("0.0.0.0").unwrap(), "0.0.0.0:0");
        assert_eq!(parsed("[::1]:5").unwrap(), "[::1]:5");
        assert_eq!(parsed("::1").unwrap(), "[::1]:0");
        assert_eq!(parsed(":4000").unwrap(), "127.0.0.1:4000");
        assert!(listen("localhost:1").is_err());
        assert!(listen("1.2.3.4:99999").is_err());
    }
}
