//! The knobs of one attempt, as the planner sees them: five dimensions, no credentials, no
//! timeouts.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

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
}

impl Knobs {
    /// What mstsc on a current Windows does: dial by name, NLA, modern TLS, UDP advertised.
    pub fn strongest() -> Self {
        Self {
            dial: Dial::ByName,
            ip_as_server_name: false,
            nla: true,
            tls: TlsChoice::modern(),
            udp: true,
        }
    }

    pub fn grade(&self) -> Grade {
        Grade::of(self.nla, &self.tls)
    }
}

/// `NLA on, TLS 1.3/1.2 (rustls)` and the like.
pub fn describe(knobs: &Knobs) -> String {
    let versions: Vec<&str> = offered_versions(&knobs.tls)
        .iter()
        .map(|v| v.as_str())
        .collect();
    format!(
        "NLA {}, TLS {} ({})",
        if knobs.nla { "on" } else { "off" },
        versions.join("/"),
        knobs.tls.stack.as_str()
    )
}
