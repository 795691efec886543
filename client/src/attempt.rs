//! The knobs of one connection attempt: plain data, no I/O.
//!
//! An [`AttemptSpec`] says everything that varies between two attempts at the same server,
//! so that a planner can name the difference ("tls-version-downgrade") and the engine can
//! carry it out without guessing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::host::{HostPort, HostPortError};
use crate::route::gateway::GatewaySpec;
use crate::secret::Password;

pub use crate::host::DEFAULT_RDP_PORT;

pub use rdpshim_planner::{Nla, TlsChoice, TlsStack, TlsVersion};

/// Per-stage time limits. Each network stage is bounded on its own, so a server that stops
/// answering mid-handshake is reported at the stage where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageTimeouts {
    pub dns: Duration,
    pub tcp: Duration,
    pub x224: Duration,
    pub tls: Duration,
    pub credssp: Duration,
    /// Each of MCS, licensing and capabilities exchange gets this much.
    pub connection: Duration,
    /// From the end of the connection sequence to the first decoded graphics update.
    pub first_frame: Duration,
}

impl StageTimeouts {
    /// The same limit for every stage (`--timeout SECONDS`).
    pub fn uniform(limit: Duration) -> Self {
        Self {
            dns: limit,
            tcp: limit,
            x224: limit,
            tls: limit,
            credssp: limit,
            connection: limit,
            first_frame: limit,
        }
    }
}

impl Default for StageTimeouts {
    fn default() -> Self {
        Self::uniform(Duration::from_secs(10))
    }
}

/// User name, domain and password for NLA.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub domain: Option<String>,
    pub password: Password,
}

/// Where to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// Resolve the host name and dial its addresses: one, or several raced (Happy Eyeballs,
    /// RFC 8305) where mstsc would wait for the first.
    ResolveHost,
    /// Dial this address; the host name is still used for SNI and CredSSP unless overridden.
    Address(SocketAddr),
}

/// Everything one attempt needs. Built once, never mutated by the engine.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    /// The host name (or IP literal) the user gave.
    pub host: String,
    pub port: u16,
    pub dial: DialTarget,
    /// The name used as TLS SNI and CredSSP target. `None` = the host the user gave.
    /// An IP literal here means no SNI and NTLM rather than Kerberos.
    pub server_name: Option<String>,
    /// What the X.224 request offers ([`rdpshim_planner::protocol::offered`]): NLA on =
    /// HYBRID_EX|HYBRID only, so nobody on the path can talk the server down to TLS without
    /// NLA; off = SSL only; negotiate = SSL|HYBRID|HYBRID_EX, as mstsc, and the server
    /// chooses.
    pub nla: Nla,
    pub tls: TlsChoice,
    /// Advertise UDP multitransport in the GCC Client Multitransport Channel Data.
    pub udp: bool,
    pub credentials: Option<Credentials>,
    pub timeouts: StageTimeouts,
    /// Save the first decoded frame as PNG here.
    pub screenshot: Option<PathBuf>,
    /// SHA-256 fingerprint the certificate must have (trust on first use). A different
    /// certificate stops the attempt after TLS, before CredSSP sends anything.
    pub pinned_certificate: Option<String>,
    /// Through this RD Gateway (`crate::route::run_attempt` opens the tunnel and makes the
    /// attempt over it; `dial` is then unused: the gateway resolves `host`).
    pub gateway: Option<GatewaySpec>,
    /// Addresses known to work, most recent first (this run's, the profile's, `--resolve`
    /// hints): a by-name dial races those the name resolves to first.
    pub preferred_addresses: Vec<SocketAddr>,
}

impl AttemptSpec {
    /// The strongest configuration for `host:port`: dial by name, NLA, modern TLS, UDP on.
    pub fn strongest(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            dial: DialTarget::ResolveHost,
            server_name: None,
            nla: Nla::On,
            tls: TlsChoice::modern(),
            udp: true,
            credentials: None,
            timeouts: StageTimeouts::default(),
            screenshot: None,
            pinned_certificate: None,
            gateway: None,
            preferred_addresses: Vec::new(),
        }
    }

    /// The name for SNI and CredSSP.
    pub fn effective_server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
}

/// Splits `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 literal (see [`HostPort`]).
pub fn parse_host_port(input: &str) -> Result<(String, u16), HostPortError> {
    HostPort::parse(input).map(|target| (target.host, target.port))
}
