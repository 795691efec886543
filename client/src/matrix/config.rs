//! Configurations: the columns of the matrix. A configuration is one point in
//! route x NLA x TLS rung x dial x UDP (plus named extras from `--configs`), with a stable
//! id that baselines, JUnit test names and people refer to. The route is direct, or (with
//! `--gateway`) through the RD Gateway: those ids end in `/gateway` (`/gateway-openssl-1.0`
//! when the gateway leg's TLS is not the modern one), so a direct-only matrix keeps the
//! ids it always had.

use std::net::SocketAddr;

use crate::attempt::{
    AttemptSpec, Credentials, DialTarget, Nla, StageTimeouts, TlsChoice, TlsStack, TlsVersion,
};
use crate::route::gateway::{GatewayCredentials, GatewaySpec, GatewayTimeouts};

/// How a cell dials the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialBy {
    /// Resolve the name and dial the first address; the name is the TLS/CredSSP name
    /// (what mstsc does).
    Name,
    /// Dial the host's first resolved address with the IP literal as TLS/CredSSP name
    /// (no SNI, NTLM): what the ladder's ip-for-hostname fallback does.
    Ip,
}

impl DialBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Ip => "ip",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "name" => Some(Self::Name),
            "ip" => Some(Self::Ip),
            _ => None,
        }
    }
}

/// How a cell reaches the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteBy {
    Direct,
    /// Through the RD Gateway of `--gateway`.
    Gateway,
}

impl RouteBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Gateway => "gateway",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "direct" => Some(Self::Direct),
            "gateway" => Some(Self::Gateway),
            _ => None,
        }
    }
}

/// The RD Gateway gateway cells go through, and the account it gets.
#[derive(Debug, Clone)]
pub struct MatrixGateway {
    pub host: String,
    pub port: u16,
    /// The gateway's own account (`--gateway-user`); `None`: each host's credentials.
    pub credentials: Option<Credentials>,
}

/// One configuration of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// Stable id: `nla/rustls-auto/name/udp` for generated ones, the file's `id` for extras.
    pub id: String,
    pub nla: bool,
    pub tls: TlsChoice,
    pub dial: DialBy,
    pub udp: bool,
    /// Send the credentials in the Client Info PDU when NLA is off (extras only; see
    /// [`Configuration::spec`] for why generated TLS-only cells never do).
    pub autologon: bool,
    /// Defined in a `--configs` file rather than generated from the dimensions.
    pub extra: bool,
    /// Through the RD Gateway with this TLS on its leg; `None`: direct.
    pub gateway: Option<TlsChoice>,
}

impl Configuration {
    /// What the configuration does, in words a baseline keeps next to its id so that a
    /// redefined id is noticed: `nla=on tls=rustls/auto dial=name udp=on`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "nla={} tls={} dial={} udp={}",
            on_off(self.nla),
            tls_name(&self.tls).replacen('-', "/", 1),
            self.dial.as_str(),
            on_off(self.udp)
        );
        if let Some(ciphers) = &self.tls.ciphers {
            text.push_str(&format!(" ciphers={ciphers}"));
        }
        if self.autologon {
            text.push_str(" autologon=on");
        }
        if let Some(tls) = &self.gateway {
            text.push_str(" route=gateway");
            if *tls != TlsChoice::modern() {
                text.push_str(&format!(
                    " gateway-tls={}",
                    tls_name(tls).replacen('-', "/", 1)
                ));
            }
        }
        text
    }

    pub fn route(&self) -> RouteBy {
        if self.gateway.is_some() {
            RouteBy::Gateway
        } else {
            RouteBy::Direct
        }
    }

    /// The attempt for this configuration against `host:port`, whose first resolved address
    /// is `first`. A by-IP cell dials `first` and names the IP literal, as the ladder's
    /// ip-for-hostname fallback does; through the gateway it asks the gateway for the IP
    /// literal (a resource policy may list the name and not the address). A gateway cell
    /// gets `gateway` with its own account's credentials, else the host's (whatever the NLA
    /// setting: the gateway authenticates every tunnel).
    ///
    /// Credentials go to NLA cells only (unless `autologon`): a TLS-only cell proves the
    /// server's own logon screen, as a client without saved credentials sees it. Sending the
    /// password in Client Info would make every TLS-only cell a logon (xrdp then waits for
    /// its session manager instead of drawing a frame) and hand the clear password to every
    /// TLS endpoint of a matrix that pins no certificate.
    pub fn spec(
        &self,
        host: &str,
        port: u16,
        first: Option<SocketAddr>,
        credentials: Option<&Credentials>,
        gateway: Option<&MatrixGateway>,
        timeouts: StageTimeouts,
    ) -> AttemptSpec {
        let mut spec = AttemptSpec::strongest(host, port);
        match (self.dial, first) {
            (DialBy::Ip, Some(first)) => {
                spec.dial = DialTarget::Address(first);
                spec.server_name = Some(first.ip().to_string());
                if self.gateway.is_some() {
                    spec.host = first.ip().to_string();
                }
            }
            _ => spec.dial = DialTarget::ResolveHost,
        }
        spec.nla = Nla::exact(self.nla);
        spec.tls = self.tls.clone();
        spec.udp = self.udp;
        if self.nla || self.autologon {
            spec.credentials = credentials.cloned();
        }
        spec.timeouts = timeouts;
        if let (Some(tls), Some(gateway)) = (&self.gateway, gateway) {
            let account = gateway.credentials.as_ref().or(credentials);
            let mut leg = GatewaySpec::new(
                gateway.host.clone(),
                gateway.port,
                match account {
                    Some(c) => GatewayCredentials {
                        username: c.username.clone(),
                        domain: c.domain.clone(),
                        password: c.password.clone(),
                    },
                    None => GatewayCredentials {
                        username: String::new(),
                        domain: None,
                        password: crate::secret::Password::new(""),
                    },
                },
            );
            leg.tls = tls.clone();
            leg.timeouts = GatewayTimeouts {
                dns: timeouts.dns,
                tcp: timeouts.tcp,
                tls: timeouts.tls,
                tunnel: timeouts.connection,
            };
            spec.gateway = Some(leg);
        }
        spec
    }
}

/// `rustls-auto`, `rustls-1.2`, `openssl-1.0`: the stack and the version (or `auto`).
pub fn tls_name(tls: &TlsChoice) -> String {
    format!(
        "{}-{}",
        tls.stack.as_str(),
        tls.version.map_or("auto", |v| v.as_str())
    )
}

/// The inverse of [`tls_name`] (ciphers are a separate field).
pub fn parse_tls_name(text: &str) -> Option<TlsChoice> {
    let (stack, version) = text.split_once('-')?;
    let stack = TlsStack::parse(stack)?;
    let version = match version {
        "auto" => None,
        v => Some(TlsVersion::parse(v)?),
    };
    Some(TlsChoice {
        stack,
        version,
        ciphers: None,
    })
}

fn on_off(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}

/// The matrix's TLS rungs, strongest first: rustls TLS 1.3/1.2, rustls TLS 1.2, and OpenSSL
/// at security level 0 pinned to TLS 1.2, 1.1 and 1.0. Each is one exact configuration, so a
/// regression names the version it hit (the ladder offers the three OpenSSL versions in one
/// ClientHello instead, and a pin makes exactly one of them).
pub fn tls_rungs() -> Vec<TlsChoice> {
    let rung = |stack, version| TlsChoice {
        stack,
        version,
        ciphers: None,
    };
    vec![
        rung(TlsStack::Rustls, None),
        rung(TlsStack::Rustls, Some(TlsVersion::Tls12)),
        rung(TlsStack::Openssl, Some(TlsVersion::Tls12)),
        rung(TlsStack::Openssl, Some(TlsVersion::Tls11)),
        rung(TlsStack::Openssl, Some(TlsVersion::Tls10)),
    ]
}

/// The values each dimension takes; the matrix is their product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimensions {
    pub nla: Vec<bool>,
    /// TLS rungs, strongest first.
    pub tls: Vec<TlsChoice>,
    pub dial: Vec<DialBy>,
    pub udp: Vec<bool>,
    /// Direct, and through the gateway when `--gateway` is given.
    pub route: Vec<RouteBy>,
    /// The gateway leg's TLS for the gateway configurations (`[matrix] gateway_tls`).
    pub gateway_tls: TlsChoice,
}

impl Default for Dimensions {
    /// The full matrix: NLA on/off x the five TLS rungs ([`tls_rungs`]) x by-name/by-IP x
    /// UDP on/off = 40 configurations, direct.
    fn default() -> Self {
        Self {
            nla: vec![true, false],
            tls: tls_rungs(),
            dial: vec![DialBy::Name, DialBy::Ip],
            udp: vec![true, false],
            route: vec![RouteBy::Direct],
            gateway_tls: TlsChoice::modern(),
        }
    }
}

impl Dimensions {
    /// Every combination, strongest first in each dimension, so the first configuration is
    /// what mstsc tries (the one a dead host is detected with).
    pub fn expand(&self) -> Vec<Configuration> {
        let mut out = Vec::new();
        for &route in &self.route {
            let gateway = (route == RouteBy::Gateway).then(|| self.gateway_tls.clone());
            for &nla in &self.nla {
                for tls in &self.tls {
                    for &dial in &self.dial {
                        for &udp in &self.udp {
                            out.push(Configuration {
                                id: generated_id(nla, tls, dial, udp, gateway.as_ref()),
                                nla,
                                tls: tls.clone(),
                                dial,
                                udp,
                                autologon: false,
                                extra: false,
                                gateway: gateway.clone(),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The full matrix on both routes (`--gateway` without a configs file that narrows it).
    pub fn with_gateway() -> Self {
        Self {
            route: vec![RouteBy::Direct, RouteBy::Gateway],
            ..Self::default()
        }
    }
}

/// `nla/rustls-auto/name/udp`, `no-nla/openssl-1.0/ip/no-udp`, and through the gateway
/// `nla/rustls-auto/name/udp/gateway` (`.../gateway-openssl-1.0` with that gateway TLS).
pub fn generated_id(
    nla: bool,
    tls: &TlsChoice,
    dial: DialBy,
    udp: bool,
    gateway: Option<&TlsChoice>,
) -> String {
    let route = match gateway {
        None => String::new(),
        Some(tls) if *tls == TlsChoice::modern() => "/gateway".to_owned(),
        Some(tls) => format!("/gateway-{}", tls_name(tls)),
    };
    format!(
        "{}/{}/{}/{}{route}",
        if nla { "nla" } else { "no-nla" },
        tls_name(tls),
        dial.as_str(),
        if udp { "udp" } else { "no-udp" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Password;
    use std::collections::HashSet;

    #[test]
    fn the_default_matrix_has_forty_distinct_readable_ids() {
        let configs = Dimensions::default().expand();
        assert_eq!(configs.len(), 40);
        let ids: HashSet<&str> = configs.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 40);
        assert_eq!(configs[0].id, "nla/rustls-auto/name/udp");
        assert_eq!(configs[39].id, "no-nla/openssl-1.0/ip/no-udp");
        for rung in [
            "rustls-auto",
            "rustls-1.2",
            "openssl-1.2",
            "openssl-1.1",
            "openssl-1.0",
        ] {
            assert!(
                ids.contains(format!("nla/{rung}/ip/udp").as_str()),
                "{rung}"
            );
        }
        assert_eq!(
            configs[0].describe(),
            "nla=on tls=rustls/auto dial=name udp=on"
        );
    }

    #[test]
    fn tls_names_round_trip_for_every_rung() {
        for rung in tls_rungs() {
            assert_eq!(parse_tls_name(&tls_name(&rung)), Some(rung));
        }
        assert_eq!(parse_tls_name("schannel-1.2"), None);
        assert_eq!(parse_tls_name("rustls-1.4"), None);
        assert_eq!(parse_tls_name("rustls"), None);
    }

    fn credentials() -> Credentials {
        Credentials {
            username: "u".into(),
            domain: None,
            password: Password::new("p"),
        }
    }

    #[test]
    fn by_ip_dials_the_first_address_and_names_the_literal() {
        let configs = Dimensions::default().expand();
        let first: SocketAddr = "10.0.0.5:3390".parse().unwrap();
        let timeouts = StageTimeouts::default();
        let by_name = configs.iter().find(|c| c.dial == DialBy::Name).unwrap();
        let spec = by_name.spec("srv", 3390, Some(first), None, None, timeouts);
        assert_eq!(spec.dial, DialTarget::ResolveHost);
        assert_eq!(spec.effective_server_name(), "srv");
        let by_ip = configs.iter().find(|c| c.dial == DialBy::Ip).unwrap();
        let spec = by_ip.spec("srv", 3390, Some(first), None, None, timeouts);
        assert_eq!(spec.dial, DialTarget::Address(first));
        assert_eq!(spec.effective_server_name(), "10.0.0.5");
        assert_eq!((spec.nla, spec.udp), (Nla::exact(by_ip.nla), by_ip.udp));
    }

    #[test]
    fn credentials_go_to_nla_cells_and_autologon_extras_only() {
        let first: SocketAddr = "10.0.0.5:3389".parse().unwrap();
        let t = StageTimeouts::default();
        let c = credentials();
        let mut config = Dimensions::default().expand().remove(0);
        assert!(config
            .spec("h", 3389, Some(first), Some(&c), None, t)
            .credentials
            .is_some());
        config.nla = false;
        assert!(config
            .spec("h", 3389, Some(first), Some(&c), None, t)
            .credentials
            .is_none());
        config.autologon = true;
        assert!(config
            .spec("h", 3389, Some(first), Some(&c), None, t)
            .credentials
            .is_some());
    }
}
