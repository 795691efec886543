//! What the planner is told up front (pins, floor, budget, the saved profile), and the guard
//! that refuses knobs below the floor or below what the profile proved.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crate::knobs::{describe, Dial, Knobs, Nla};
use crate::route::{self, GatewayUsage, Route, ViaGateway};
use crate::rungs::{lowest_version, Grade};
use crate::tls::{TlsChoice, TlsStack};
use crate::verdict::{Verdict, VerdictKind};

/// Dimensions fixed on the command line: the ladder varies only the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    pub dial: Option<Dial>,
    /// `--server-name` given: never switch to the IP literal.
    pub server_name: bool,
    pub nla: Option<bool>,
    pub tls: Option<TlsChoice>,
    pub udp: Option<bool>,
    /// The route with the gateway leg's knobs (a single attempt pins it).
    pub route: Option<Route>,
}

/// Everything the planner is told up front.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The host the user typed, when it is an IP literal (nothing to resolve, no name to swap).
    pub host_ip: Option<IpAddr>,
    pub port: u16,
    pub pins: Pins,
    /// `--min-security`: never go below.
    pub floor: Grade,
    /// The saved profile's knobs: tried first.
    pub profile: Option<Knobs>,
    /// Knobs that connected before (a verified profile): the strength a later connect must
    /// not silently fall below. An imported, never-used profile sets `profile` only.
    pub baseline: Option<Knobs>,
    /// `--accept-downgrade`: allow going below the profile's strength.
    pub accept_downgrade: bool,
    /// Addresses known to have worked (profile, last good first) and `--resolve` hints.
    pub known_addresses: Vec<SocketAddr>,
    /// An RD Gateway is known (`--gateway`, the profile, an imported `.rdp`), and when to
    /// use it; `None`: always direct.
    pub gateway: Option<GatewayUsage>,
    pub max_attempts: usize,
    pub deadline: Duration,
    /// Set by [`Policy::single_attempt`].
    single: bool,
}

/// What a saved profile tells the planner (see [`Policy::start_from`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remembered {
    /// Knobs to try first.
    pub preferred: Option<Knobs>,
    /// Knobs that connected before: the strength the downgrade guard defends.
    pub baseline: Option<Knobs>,
    /// Addresses that worked, last good first (for when DNS fails).
    pub addresses: Vec<SocketAddr>,
}

impl Policy {
    pub fn new(host_ip: Option<IpAddr>, port: u16) -> Self {
        Self {
            host_ip,
            port,
            pins: Pins::default(),
            floor: Grade::NoNla,
            profile: None,
            baseline: None,
            accept_downgrade: false,
            known_addresses: Vec::new(),
            gateway: None,
            max_attempts: 12,
            deadline: Duration::from_secs(90),
            single: false,
        }
    }

    /// `--no-fallback`: exactly one attempt. Every dimension not pinned takes the strongest
    /// configuration's value (NLA on, TLS auto on rustls, UDP on, dial the name, the name as
    /// TLS/CredSSP target; through the gateway when the policy says always, with modern TLS,
    /// the WebSocket-or-legacy transport and the schemes offered), and a saved profile does
    /// not come into it ([`Policy::start_from`] is ignored): the attempt is exactly what was
    /// asked for.
    pub fn single_attempt(mut self) -> Self {
        let strongest = Knobs::strongest();
        let pins = &mut self.pins;
        pins.nla.get_or_insert(strongest.nla.is_on());
        pins.udp.get_or_insert(strongest.udp);
        pins.tls.get_or_insert(strongest.tls);
        pins.route.get_or_insert(match self.gateway {
            Some(GatewayUsage::Always) => Route::Gateway(ViaGateway::strongest()),
            _ => Route::Direct,
        });
        pins.server_name = true;
        if pins.dial.is_none() && self.host_ip.is_none() {
            pins.dial = Some(strongest.dial);
        }
        self.max_attempts = 1;
        self.single = true;
        self
    }

    pub fn is_single_attempt(&self) -> bool {
        self.single
    }

    /// Starts from what a saved profile remembers: its knobs first, its strength defended,
    /// its addresses known. A single attempt ignores it.
    pub fn start_from(&mut self, remembered: Remembered) {
        if self.single {
            return;
        }
        self.profile = remembered.preferred;
        self.baseline = remembered.baseline;
        self.known_addresses.extend(remembered.addresses);
    }

    pub(crate) fn host_is_ip(&self) -> bool {
        self.host_ip.is_some()
    }

    /// Must every attempt do NLA? Under a floor above `no-nla`, or when the saved profile
    /// connected with NLA (unless `--accept-downgrade`): then no offer may include TLS
    /// alone, and mstsc's offer ([`crate::Nla::Negotiate`]) is not made.
    pub(crate) fn requires_nla(&self) -> bool {
        let guarded =
            !self.accept_downgrade && self.baseline.as_ref().is_some_and(|b| b.nla.is_on());
        self.floor > Grade::NoNla || guarded
    }

    /// The weakest TLS the ladder may offer on its own: the floor's, or the saved profile's
    /// (unless `--accept-downgrade`), whichever is stronger. The legacy hello is narrowed to
    /// it ([`crate::rungs::tolerant`]), so a profile that connected with TLS 1.2 and CBC
    /// suites gets an OpenSSL TLS 1.2 hello, not one the downgrade guard would refuse.
    pub(crate) fn tls_floor(&self) -> Grade {
        let saved = match (&self.baseline, self.accept_downgrade) {
            (Some(baseline), false) => Grade::of(true, &baseline.tls),
            _ => Grade::NoNla,
        };
        self.floor.max(saved)
    }

    /// Refuses knobs below the floor, or below the profile's strength without consent.
    pub(crate) fn admit(&self, knobs: &Knobs) -> Result<(), Verdict> {
        let grade = knobs.grade();
        if grade < self.floor {
            return Err(Verdict::new(
                VerdictKind::RefusedByPolicy,
                format!(
                    "the next step would be {} (security {grade}), below --min-security {}",
                    describe(knobs),
                    self.floor
                ),
            ));
        }
        if let (Some(profile), false) = (&self.baseline, self.accept_downgrade) {
            if let Some(weaker) = weakened_property(profile, knobs) {
                return Err(Verdict::new(
                    VerdictKind::RefusedByPolicy,
                    format!(
                        "possible downgrade attack: the saved profile connected with {}, but the server now \
                         only leaves {} ({weaker}); re-run with --accept-downgrade if the server really changed",
                        describe(profile),
                        describe(knobs)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Which security property `now` has weaker than `before`, if any (the gateway leg's too,
/// when both go through the gateway).
pub fn weakened_property(before: &Knobs, now: &Knobs) -> Option<String> {
    rdp_weakened(before, now).or_else(|| route::weakened(&before.route, &now.route))
}

fn rdp_weakened(before: &Knobs, now: &Knobs) -> Option<String> {
    match (before.nla, now.nla) {
        (Nla::On, Nla::Off) => return Some("NLA turned off".to_owned()),
        (Nla::On, Nla::Negotiate) => return Some("NLA left to the server".to_owned()),
        _ => {}
    }
    let (was, is) = (lowest_version(&before.tls), lowest_version(&now.tls));
    if is < was {
        return Some(format!("TLS {} -> TLS {}", was.as_str(), is.as_str()));
    }
    if before.tls.stack == TlsStack::Rustls && now.tls.stack == TlsStack::Openssl {
        return Some("AEAD-only suites -> CBC/RSA suites".to_owned());
    }
    None
}
