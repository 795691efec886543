//! The knobs of one attempt, as the planner sees them: six dimensions (the route, through
//! an RD Gateway or direct, is [`crate::route`]'s), no credentials, no timeouts.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::route::{self, Route};
use crate::rungs::{offered_versions, Grade};
use crate::tls::TlsChoice;

/// Where an attempt dials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dial {
    /// Resolve the host name and dial the first address, as mstsc does.
    ByName,
    /// Dial this address.
    Ip(SocketAddr),
}

/// The knobs of one attempt, as the planner sees them (no credentials, no timeouts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Knobs {
    pub dial: Dial,
    /// Use the dialled IP literal as TLS SNI / CredSSP target instead of the host name.
    pub ip_as_server_name: bool,
    pub nla: bool,
    pub tls: TlsChoice,
    pub udp: bool,
    /// Direct, or through the RD Gateway with the gateway leg's own knobs. Through a
    /// gateway the gateway resolves the host: `dial` is `ByName` and the host's name is
    /// the TLS/CredSSP name.
    pub route: Route,
}

impl Knobs {
    /// What mstsc on a current Windows does: dial by name, NLA, modern TLS, UDP advertised
    /// (directly: whether a gateway comes first is the policy's, [`crate::route::choose`]).
    pub fn strongest() -> Self {
        Self {
            dial: Dial::ByName,
            ip_as_server_name: false,
            nla: true,
            tls: TlsChoice::modern(),
            udp: true,
            route: Route::Direct,
        }
    }

    /// The weaker of the RDP leg's grade and the gateway leg's TLS, so that `--min-security`
    /// is a floor for both.
    pub fn grade(&self) -> Grade {
        let rdp = Grade::of(self.nla, &self.tls);
        match route::grade(&self.route) {
            Some(gateway) => rdp.min(gateway),
            None => rdp,
        }
    }
}

/// `NLA on, TLS 1.3/1.2 (rustls)` and the like.
pub fn describe(knobs: &Knobs) -> String {
    let versions: Vec<&str> = offered_versions(&knobs.tls)
        .iter()
        .map(|v| v.as_str())
        .collect();
    format!(
        "NLA {}, TLS {} ({}){}",
        if knobs.nla { "on" } else { "off" },
        versions.join("/"),
        knobs.tls.stack.as_str(),
        route::describe(&knobs.route)
    )
}
