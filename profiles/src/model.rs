//! What rdpshim remembers about one host between runs: the connection that worked, the
//! certificate it saw, and the last few outcomes, so the next run starts where the last
//! one succeeded instead of walking the whole fallback ladder again.
//!
//! The profile is plain data written as TOML that a person can read and edit. Forward
//! compatibility rules:
//! - unknown keys are ignored (no `deny_unknown_fields`), so a file touched by a newer
//!   rdpshim that only *added* keys still loads;
//! - a newer `schema` number means the meaning changed: [`crate::profile_toml`] refuses it
//!   rather than guess, and the store never overwrites it;
//! - everything but `host` has a default, so a hand-written `host = "server"` is a profile.
//!
//! Invariant: no field holds a password. Passwords live in the OS keyring.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The profile format this build writes and the newest it reads.
pub const SCHEMA: u32 = 1;
/// TCP port RDP listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3389;
/// How many working socket addresses a profile keeps (most recent first).
pub const MAX_ADDRESSES: usize = 8;
/// How many outcome records a profile keeps (newest last).
pub const MAX_OUTCOMES: usize = 10;

/// Everything rdpshim remembers about one `host:port`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Format version; see the module doc for what a newer number means.
    #[serde(default = "first_schema")]
    pub schema: u32,
    /// As the user typed it: a name or an IP literal. The store keys files by it.
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Socket addresses that worked, last good first, at most [`MAX_ADDRESSES`], no repeats.
    /// Kept so that a later run can dial a known-good address when DNS changes or fails.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// RFC 3339 UTC, e.g. `2026-11-21T12:00:00Z`. Empty in a hand-written file that left it out.
    #[serde(default)]
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// The configuration of the last successful connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winning: Option<Winning>,
    /// The server certificate seen on the first success; a later change is a warning sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PinnedCertificate>,
    /// Unknown `.rdp` properties kept from imports so an export gives them back:
    /// name -> `"type:value"`, e.g. `"screen mode id" -> "i:2"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rdp_extra: BTreeMap<String, String>,
    /// The last [`MAX_OUTCOMES`] attempts' results, newest last.
    #[serde(default)]
    pub outcomes: Vec<OutcomeRecord>,
}

/// How the host was dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dial {
    /// Through the host name (DNS).
    Name,
    /// Straight to a remembered IP address.
    Ip,
}

/// The settings of the attempt that got to the first frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Winning {
    pub dial: Dial,
    /// The socket address dialled (recorded for both dial kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The name used as TLS SNI and CredSSP target.
    pub server_name: String,
    /// Whether an IP literal had to be used as the server name.
    #[serde(default)]
    pub ip_as_server_name: bool,
    pub nla: bool,
    /// `"rustls"` or `"openssl"`.
    pub tls_stack: String,
    /// The version pin the attempt used: `None` = auto, else `"1.3"`, `"1.2"`, `"1.1"`, `"1.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// Pinned suite list in the stack's own syntax (rustls names or an OpenSSL cipher string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_cipher: Option<String>,
    #[serde(default)]
    pub udp: bool,
    /// `"modern"`, `"tls12"`, `"legacy"` or `"no-nla"`.
    pub grade: String,
    /// The downgrades it took to get here, e.g. `["nla-off", "tls-version-downgrade"]`.
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

/// The server certificate as first seen. `sha256` is over the DER encoding, written as
/// `AB:CD:...` like `openssl x509 -fingerprint -sha256` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedCertificate {
    pub sha256: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub not_before: String,
    #[serde(default)]
    pub not_after: String,
}

/// The result of one run, kept so a person (and the planner) can see a host's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// RFC 3339 UTC.
    pub at: String,
    /// `"ok"` or the failure class.
    pub outcome: String,
    /// The stage reached (or failed at).
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

fn first_schema() -> u32 {
    // A file without `schema` was written by hand; read it as the first format.
    1
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

impl Profile {
    /// A fresh profile; `now` is RFC 3339 UTC, passed in so this code reads no clock.
    pub fn new(host: impl Into<String>, port: u16, now: &str) -> Self {
        Self {
            schema: SCHEMA,
            host: host.into(),
            port,
            username: None,
            domain: None,
            addresses: Vec::new(),
            created: now.to_owned(),
            last_success: None,
            winning: None,
            certificate: None,
            rdp_extra: BTreeMap::new(),
            outcomes: Vec::new(),
        }
    }

    /// Puts `address` first in [`Profile::addresses`], removing an earlier copy (compared
    /// as socket addresses when both parse, so `[::1]:3389` and `[0::1]:3389` are one) and
    /// dropping the oldest beyond [`MAX_ADDRESSES`].
    pub fn remember_address(&mut self, address: &str) {
        let address = address.trim();
        if address.is_empty() {
            return;
        }
        self.addresses.retain(|known| !same_address(known, address));
        self.addresses.insert(0, address.to_owned());
        self.addresses.truncate(MAX_ADDRESSES);
    }

    /// Records a successful connection: the winning configuration, its address (first in
    /// `addresses`) and the time. Call [`Profile::record_outcome`] too for the history.
    pub fn record_success(&mut self, winning: Winning, now: &str) {
        if let Some(address) = winning.address.clone() {
            self.remember_address(&address);
        }
        self.winning = Some(winning);
        self.last_success = Some(now.to_owned());
    }

    /// Appends an outcome, keeping the newest [`MAX_OUTCOMES`].
    pub fn record_outcome(&mut self, outcome: OutcomeRecord) {
        self.outcomes.push(outcome);
        self.enforce_limits();
    }

    /// Where a client should connect: the remembered IP and port when the winning attempt
    /// dialled an IP (the name did not work, or pointed elsewhere), else `host` and `port`.
    pub fn dial_target(&self) -> (String, u16) {
        let remembered_ip = self
            .winning
            .as_ref()
            .filter(|w| w.dial == Dial::Ip)
            .and_then(|w| w.address.as_deref())
            .and_then(|a| a.parse::<SocketAddr>().ok());
        match remembered_ip {
            Some(address) => (address.ip().to_string(), address.port()),
            None => (self.host.clone(), self.port),
        }
    }

    /// An integer `.rdp` property kept from an import (`desktopwidth` -> 1280), its name
    /// matched without case as `.rdp` readers do; `None` when absent or not an `i:` number.
    pub fn rdp_extra_int(&self, name: &str) -> Option<i64> {
        self.rdp_extra
            .iter()
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.trim().strip_prefix("i:"))
            .and_then(|number| number.trim().parse().ok())
    }

    /// Brings a hand-edited or older profile back within the limits (dedupes and caps
    /// `addresses`, keeps the newest outcomes). The store calls it before every write so
    /// the file cannot grow without bound.
    pub fn enforce_limits(&mut self) {
        let mut kept: Vec<String> = Vec::with_capacity(self.addresses.len());
        for address in self.addresses.drain(..) {
            if !kept.iter().any(|k| same_address(k, &address)) {
                kept.push(address);
            }
        }
        kept.truncate(MAX_ADDRESSES);
        self.addresses = kept;
        if self.outcomes.len() > MAX_OUTCOMES {
            let excess = self.outcomes.len() - MAX_OUTCOMES;
            self.outcomes.drain(..excess);
        }
    }
}

fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-21T12:00:00Z";

    #[test]
    fn addresses_are_deduped_most_recent_first_and_capped() {
        let mut p = Profile::new("server", 3389, NOW);
        for i in 0..12 {
            p.remember_address(&format!("10.0.0.{i}:3389"));
        }
        p.remember_address("10.0.0.9:3389");
        p.remember_address("[::1]:3389");
        p.remember_address("[0:0::1]:3389");
        assert_eq!(p.addresses.len(), MAX_ADDRESSES);
        assert_eq!(p.addresses[0], "[0:0::1]:3389");
        assert_eq!(p.addresses[1], "10.0.0.9:3389");
        assert_eq!(
            p.addresses.iter().filter(|a| a.contains("::1")).count(),
            1,
            "one copy of ::1"
        );
    }

    #[test]
    fn outcomes_keep_the_newest() {
        let mut p = Profile::new("server", 3389, NOW);
        for i in 0..15 {
            p.record_outcome(OutcomeRecord {
                at: format!("t{i}"),
                outcome: "ok".into(),
                stage: "first-frame".into(),
                attempts: 1,
                fallbacks: vec![],
            });
        }
        assert_eq!(p.outcomes.len(), MAX_OUTCOMES);
        assert_eq!(p.outcomes[0].at, "t5");
        assert_eq!(p.outcomes.last().unwrap().at, "t14");
    }

    #[test]
    fn record_success_sets_winning_address_and_time() {
        let mut p = Profile::new("server", 3389, NOW);
        p.remember_address("10.0.0.1:3389");
        let w = Winning {
            dial: Dial::Ip,
            address: Some("10.0.0.2:3389".into()),
            server_name: "server".into(),
            ip_as_server_name: false,
            nla: true,
            tls_stack: "rustls".into(),
            tls_version: None,
            ciphers: None,
            negotiated_tls_version: Some("1.3".into()),
            negotiated_cipher: None,
            udp: false,
            grade: "modern".into(),
            fallbacks: vec![],
        };
        p.record_success(w.clone(), "2026-11-22T00:00:00Z");
        assert_eq!(p.winning, Some(w));
        assert_eq!(p.addresses, ["10.0.0.2:3389", "10.0.0.1:3389"]);
        assert_eq!(p.last_success.as_deref(), Some("2026-11-22T00:00:00Z"));
    }
}
