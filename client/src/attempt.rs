//! The knobs of one connection attempt: plain data, no I/O.
//!
//! An [`AttemptSpec`] says everything that varies between two attempts at the same server,
//! so that a planner can name the difference ("tls-version-downgrade") and the engine can
//! carry it out without guessing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Password;

pub use rdpshim_planner::{TlsChoice, TlsStack, TlsVersion};

/// TCP port RDP listens on unless told otherwise.
pub const DEFAULT_RDP_PORT: u16 = 3389;

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
    /// Resolve the host name and dial the first address the resolver returns, as mstsc does.
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
    /// NLA on = request HYBRID_EX|HYBRID only, so nobody on the path can talk the server
    /// down to TLS without NLA. NLA off = request SSL only.
    pub nla: bool,
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
}

impl AttemptSpec {
    /// The strongest configuration for `host:port`: dial by name, NLA, modern TLS, UDP on.
    pub fn strongest(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            dial: DialTarget::ResolveHost,
            server_name: None,
            nla: true,
            tls: TlsChoice::modern(),
            udp: true,
            credentials: None,
            timeouts: StageTimeouts::default(),
            screenshot: None,
            pinned_certificate: None,
        }
    }

    /// The name for SNI and CredSSP.
    pub fn effective_server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
}

/// Splits `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 literal.
pub fn parse_host_port(input: &str) -> Result<(String, u16), String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("empty host".to_owned());
    }
    if let Some(rest) = input.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{input}`: missing `]` after IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(input, port)?,
            None if after.is_empty() => DEFAULT_RDP_PORT,
            None => return Err(format!("`{input}`: expected `:PORT` after `]`")),
        };
        return Ok((host.to_owned(), port));
    }
    if input.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((input.to_owned(), DEFAULT_RDP_PORT));
    }
    match input.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Ok((host.to_owned(), parse_port(input, port)?)),
        Some(_) => Err(format!("`{input}`: missing host before `:`")),
        None => Ok((input.to_owned(), DEFAULT_RDP_PORT)),
    }
}

fn parse_port(input: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{input}`: `{port}` is not a TCP port (1-65535)")),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let cases = [
            ("server", Ok(("server", 3389))),
            ("server:3390", Ok(("server", 3390))),
            ("10.0.0.5:1", Ok(("10.0.0.5", 1))),
            ("[::1]:3390", Ok(("::1", 3390))),
            ("[::1]", Ok(("::1", 3389))),
            ("::1", Ok(("::1", 3389))),
            ("fe80::1", Ok(("fe80::1", 3389))),
        ];
        for (input, expected) in cases {
            let got = parse_host_port(input);
            assert_eq!(
                got.as_ref().map(|(h, p)| (h.as_str(), *p)),
                expected.map_err(|_: ()| String::new()).as_ref().map(|x| *x),
                "{input}"
            );
        }
        for bad in [
            "",
            "server:0",
            "server:99999",
            "server:x",
            ":3389",
            "[::1",
            "[::1]x",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad} should be rejected");
        }
    }
}
