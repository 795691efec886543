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
//! Schema 2 added the RD Gateway ([`Profile::gateway`], [`Winning::gateway`]). A profile
//! is written with the oldest schema that holds it ([`Profile::required_schema`]): one
//! without a gateway stays schema 1, so an rdpshim from before gateways still reads it; one
//! with a gateway is schema 2, which such an rdpshim refuses instead of connecting
//! directly and then saving the profile without the gateway.
//!
//! Invariant: no field holds a password. Passwords live in the OS keyring.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The newest profile format this build reads and writes (2: the RD Gateway).
pub const SCHEMA: u32 = 2;
/// The format of a profile without a gateway (what rdpshim before gateways reads).
pub const SCHEMA_WITHOUT_GATEWAY: u32 = 1;
/// The HTTPS port an RD Gateway listens on unless told otherwise.
pub const DEFAULT_GATEWAY_PORT: u16 = 443;
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
    /// The RD Gateway in front of the host (schema 2): where it is, when to use it, its
    /// account when it is not the host's, its pinned certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    /// Unknown `.rdp` properties kept from imports so an export gives them back:
    /// name -> `"type:value"`, e.g. `"screen mode id" -> "i:2"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rdp_extra: BTreeMap<String, String>,
    /// The last [`MAX_OUTCOMES`] attempts' results, newest last.
    #[serde(default)]
    pub outcomes: Vec<OutcomeRecord>,
}

/// An RD Gateway (MS-TSGU) and how to use it, as mstsc's `.rdp` settings say it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    /// A name or an IP literal, as given (`gatewayhostname`, `--gateway`).
    pub host: String,
    #[serde(default = "default_gateway_port")]
    pub port: u16,
    /// When to use it (`gatewayusagemethod`).
    #[serde(default)]
    pub usage: GatewayUsage,
    /// The gateway account, when it is not the host's (`--gateway-user`); `None`: the
    /// host's credentials, as mstsc's "use my RD Gateway credentials for the remote
    /// computer". The password is in the keyring under `user@gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `gatewaycredentialssource` as an `.rdp` file had it, given back on export: 0 a
    /// password (NTLM), 1 a smart card, 2 the logged-on user's, 3 a password with Basic,
    /// 4 chosen later (mstsc's default), 5 a cookie. rdpshim authenticates with a password.
    #[serde(default = "default_credentials_source")]
    pub credentials_source: u32,
    /// `gatewayprofileusagemethod`: 1 the file's settings (what a gateway given to rdpshim
    /// means), 0 the computer's default settings.
    #[serde(default = "default_profile_usage")]
    pub profile_usage: u32,
    /// The gateway's certificate as first seen; a later change is refused like the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PinnedCertificate>,
}

impl Gateway {
    /// A gateway given by hand (`--gateway`): always used, the host's credentials.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            usage: GatewayUsage::Always,
            username: None,
            domain: None,
            credentials_source: default_credentials_source(),
            profile_usage: default_profile_usage(),
            certificate: None,
        }
    }
}

/// `gatewayusagemethod` (mstsc's TSC_PROXY_MODE_*), by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayUsage {
    /// 0: do not use a gateway.
    Off,
    /// 1: always use the gateway, also for local addresses.
    #[default]
    Always,
    /// 2: use the gateway when a direct connection cannot be made ("bypass the RD Gateway
    /// server for local addresses").
    Detect,
    /// 3: the computer's default gateway settings (group policy; none here: not used).
    Default,
    /// 4: do not use a gateway, "bypass for local addresses" ticked (mstsc's default).
    OffBypassLocal,
}

impl GatewayUsage {
    /// From the `.rdp` integer; `None` for a value mstsc does not define.
    pub fn from_rdp(value: i64) -> Option<Self> {
        Some(match value {
            0 => Self::Off,
            1 => Self::Always,
            2 => Self::Detect,
            3 => Self::Default,
            4 => Self::OffBypassLocal,
            _ => return None,
        })
    }

    pub fn to_rdp(self) -> u32 {
        match self {
            Self::Off => 0,
            Self::Always => 1,
            Self::Detect => 2,
            Self::Default => 3,
            Self::OffBypassLocal => 4,
        }
    }

    /// Whether a connection uses the gateway at all (always, or when direct fails).
    pub fn uses_gateway(self) -> bool {
        matches!(self, Self::Always | Self::Detect)
    }
}

fn default_gateway_port() -> u16 {
    DEFAULT_GATEWAY_PORT
}

fn default_credentials_source() -> u32 {
    4
}

fn default_profile_usage() -> u32 {
    1
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
    /// Through the RD Gateway, with the gateway leg's settings (schema 2); absent: direct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<WinningGateway>,
}

/// The gateway leg of the winning attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WinningGateway {
    /// `"rustls"` or `"openssl"`.
    pub tls_stack: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<String>,
    /// The transport asked for: `"auto"` (WebSocket, or legacy as the gateway answers),
    /// `"websocket"`, `"legacy-http"`.
    pub transport: String,
    /// The HTTP scheme allowed: `"offered"` (any the gateway offers), `"ntlm"`, `"basic"`.
    pub auth: String,
    /// The transport the tunnel ran over: `"websocket"` or `"legacy-http"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_used: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_cipher: Option<String>,
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
            schema: SCHEMA_WITHOUT_GATEWAY,
            host: host.into(),
            port,
            username: None,
            domain: None,
            addresses: Vec::new(),
            created: now.to_owned(),
            last_success: None,
            winning: None,
            certificate: None,
            gateway: None,
            rdp_extra: BTreeMap::new(),
            outcomes: Vec::new(),
        }
    }

    /// The oldest schema that holds this profile: 2 with a gateway, else 1 (see the module
    /// documentation). The store writes it.
    pub fn required_schema(&self) -> u32 {
        let through_gateway = self.winning.as_ref().is_some_and(|w| w.gateway.is_some());
        if self.gateway.is_some() || through_gateway {
            SCHEMA
        } else {
            SCHEMA_WITHOUT_GATEWAY
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
    fn a_gateway_makes_the_profile_schema_2_and_only_then() {
        let mut p = Profile::new("server", 3389, NOW);
        assert_eq!(
            p.required_schema(),
            1,
            "readable by rdpshim before gateways"
        );
        p.gateway = Some(Gateway::new("gw.example", 443));
        assert_eq!(p.required_schema(), SCHEMA);
        for value in 0..=4 {
            let usage = GatewayUsage::from_rdp(value).unwrap();
            assert_eq!(i64::from(usage.to_rdp()), value);
        }
        assert_eq!(GatewayUsage::from_rdp(5), None);
        assert!(
            GatewayUsage::Detect.uses_gateway() && !GatewayUsage::OffBypassLocal.uses_gateway()
        );
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
            gateway: None,
        };
        p.record_success(w.clone(), "2026-11-22T00:00:00Z");
        assert_eq!(p.winning, Some(w));
        assert_eq!(p.addresses, ["10.0.0.2:3389", "10.0.0.1:3389"]);
        assert_eq!(p.last_success.as_deref(), Some("2026-11-22T00:00:00Z"));
    }
}
