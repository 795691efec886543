//! The knobs of one attempt, as the planner sees them: six dimensions (the route, through
//! an RD Gateway or direct, is [`crate::route`]'s), no credentials, no timeouts.

use alloc::format;
use alloc::string::{String, ToString as _};
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

use crate::protocol::Protocol;
use crate::route::{self, Route};
use crate::rungs::{offered_versions, Grade};
use crate::tls::{TlsChoice, TlsStack, TlsVersion};

/// Where an attempt dials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dial {
    /// Resolve the host name and dial the first address, as mstsc does.
    ByName,
    /// Dial this address.
    Ip(SocketAddr),
}

/// What an attempt's X.224 Connection Request offers about NLA (MS-RDPBCGR 2.2.1.1.1
/// requestedProtocols; [`crate::protocol::offered`] has the bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Nla {
    /// HYBRID|HYBRID_EX only: NLA or nothing, so nobody on the path can answer "TLS
    /// selected" and skip NLA. `--nla on`, and whenever NLA is required (a floor, a saved
    /// profile that connected with NLA).
    On,
    /// TLS (SSL) only. `--nla off`.
    Off,
    /// What mstsc offers: SSL|HYBRID|HYBRID_EX, the server chooses. A server without NLA
    /// selects TLS and the same attempt goes on without NLA (announced before anything is
    /// sent over TLS), so learning "no NLA" costs no attempt. Never what a run records:
    /// [`Knobs::as_used`] turns it into `On` or `Off` from the server's selection.
    Negotiate,
}

impl Nla {
    /// `--nla on|off` as a value.
    pub fn exact(on: bool) -> Self {
        if on {
            Self::On
        } else {
            Self::Off
        }
    }

    /// `on`, `off`, `negotiate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Negotiate => "negotiate",
        }
    }

    /// NLA for sure (the offer leaves no way around it).
    pub fn is_on(self) -> bool {
        self == Self::On
    }
}

impl fmt::Display for Nla {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The knobs of one attempt, as the planner sees them (no credentials, no timeouts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Knobs {
    pub dial: Dial,
    /// Use the dialled IP literal as TLS SNI / CredSSP target instead of the host name.
    pub ip_as_server_name: bool,
    pub nla: Nla,
    pub tls: TlsChoice,
    pub udp: bool,
    /// Direct, or through the RD Gateway with the gateway leg's own knobs. Through a
    /// gateway the gateway resolves the host: `dial` is `ByName` and the host's name is
    /// the TLS/CredSSP name.
    pub route: Route,
}

impl Knobs {
    /// The strongest configuration, the one every fallback is measured from: dial by name,
    /// NLA required (HYBRID|HYBRID_EX only), modern TLS, UDP advertised, directly (whether a gateway comes first is
    /// the policy's, [`crate::route::choose`]). `--no-fallback`'s
    /// defaults. (The ladder's first attempt offers NLA the way mstsc does,
    /// [`Nla::Negotiate`], when nothing requires NLA.)
    pub fn strongest() -> Self {
        Self {
            dial: Dial::ByName,
            ip_as_server_name: false,
            nla: Nla::On,
            tls: TlsChoice::modern(),
            udp: true,
            route: Route::Direct,
        }
    }

    /// The grade of what these knobs are sure to give (an offer that lets the server choose
    /// TLS without NLA grades as no NLA), or the gateway leg's TLS where that is weaker, so
    /// that `--min-security` is a floor for both legs.
    pub fn grade(&self) -> Grade {
        let rdp = Grade::of(self.nla.is_on(), &self.tls);
        match route::grade(&self.route) {
            Some(gateway) => rdp.min(gateway),
            None => rdp,
        }
    }

    /// The configuration an attempt with these knobs actually used, from what the server
    /// chose: NLA from the selected protocol (for [`Nla::Negotiate`]), and for an OpenSSL
    /// hello that left the version or the suite to the server (the most tolerant hello), the
    /// negotiated version and suite, so that a profile, an export and the downgrade guard
    /// hold exactly what connected. Anything not yet chosen stays as offered.
    pub fn as_used(&self, selected: Option<Protocol>, tls: Option<(TlsVersion, &str)>) -> Knobs {
        let mut used = self.clone();
        if self.nla == Nla::Negotiate {
            if let Some(nla) = selected.and_then(Protocol::nla) {
                used.nla = Nla::exact(nla);
            }
        }
        if let (TlsStack::Openssl, Some((version, cipher))) = (self.tls.stack, tls) {
            used.tls.version = Some(version);
            if used.tls.ciphers.is_none() && !cipher.is_empty() {
                used.tls.ciphers = Some(cipher.to_string());
            }
        }
        used
    }
}

/// `NLA on, TLS 1.3/1.2 (rustls)` and the like.
pub fn describe(knobs: &Knobs) -> String {
    let versions: Vec<&str> = offered_versions(&knobs.tls)
        .iter()
        .map(|v| v.as_str())
        .collect();
    let nla = match knobs.nla {
        Nla::On => "NLA on",
        Nla::Off => "NLA off",
        Nla::Negotiate => "NLA or TLS-only (the server's choice)",
    };
    let suites = match (&knobs.tls.stack, &knobs.tls.ciphers) {
        (TlsStack::Openssl, Some(list)) => format!(" {list}"),
        _ => String::new(),
    };
    format!(
        "{nla}, TLS {}{suites} ({}){}",
        versions.join("/"),
        knobs.tls.stack.as_str(),
        route::describe(&knobs.route)
    )
}
