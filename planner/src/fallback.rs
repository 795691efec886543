//! Naming the fallbacks: the step between two attempts, what a configuration carries
//! relative to the strongest one, and what each gives up (for logs, `--json` and warnings).
//! The route's steps (through or around an RD Gateway, its transport and authentication
//! scheme) are named here and decided in [`crate::route`]; the gateway leg's TLS
//! downgrades carry the RDP leg's names.

use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::failure::FailureClass;
use crate::knobs::{Dial, Knobs, Nla};
use crate::route::ViaGateway;
use crate::rungs::{is_legacy_suite, lowest_version, offered_versions, Grade};
use crate::tls::{TlsChoice, TlsStack, TlsVersion};

/// One dimension the ladder moved along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// Dialled an IP address (or used the IP literal as TLS/CredSSP name) instead of the name.
    IpForHostname,
    /// A lower TLS version.
    TlsVersionDowngrade,
    /// CBC suites / RSA key exchange through OpenSSL.
    CipherDowngrade,
    /// NLA turned off because the server does TLS-only logon.
    NlaOff,
    /// NLA turned on because the server requires it.
    NlaOn,
    /// UDP multitransport no longer advertised.
    UdpOff,
    /// Around the RD Gateway the configuration says to always use, straight to the host.
    DirectInsteadOfGateway,
    /// Through the known RD Gateway, because the host cannot be reached directly.
    ViaGateway,
    /// The gateway's legacy HTTP transport instead of WebSocket.
    GatewayTransport,
    /// Another of the HTTP authentication schemes the gateway offered.
    GatewayAuthScheme,
}

impl Fallback {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IpForHostname => "ip-for-hostname",
            Self::TlsVersionDowngrade => "tls-version-downgrade",
            Self::CipherDowngrade => "cipher-downgrade",
            Self::NlaOff => "nla-off",
            Self::NlaOn => "nla-on",
            Self::UdpOff => "udp-off",
            Self::DirectInsteadOfGateway => "direct-instead-of-gateway",
            Self::ViaGateway => "via-gateway",
            Self::GatewayTransport => "gateway-transport",
            Self::GatewayAuthScheme => "gateway-auth-scheme",
        }
    }

    /// What the user gives up, for the warning printed when the ladder takes this step.
    /// `None` for steps that weaken nothing.
    pub fn gives_up(self) -> Option<&'static str> {
        match self {
            Self::TlsVersionDowngrade => Some(
                "a TLS version below the modern default: TLS 1.0/1.1 are deprecated (RFC 8996) and rely on \
                 CBC constructions with known attacks",
            ),
            Self::CipherDowngrade => Some(
                "AEAD-only cipher suites: a CBC suite, or RSA key exchange (no forward secrecy: \
                 recorded traffic is readable if the server key ever leaks)",
            ),
            Self::NlaOff => Some(
                "Network Level Authentication: the server shows its logon screen before anyone has \
                 authenticated, and credentials are typed into the remote session instead of CredSSP",
            ),
            Self::DirectInsteadOfGateway => Some(
                "the RD Gateway the configuration says to always use: the connection goes around it, \
                 straight to the host, so the gateway's access policies, auditing and multi-factor \
                 checks do not apply (the RDP leg keeps its own TLS and NLA)",
            ),
            Self::GatewayAuthScheme => Some(
                "the gateway's preferred HTTP authentication: NTLM instead of Negotiate (no Kerberos \
                 mutual authentication), or HTTP Basic, which hands the password itself to the gateway \
                 inside its TLS",
            ),
            Self::IpForHostname
            | Self::NlaOn
            | Self::UdpOff
            | Self::ViaGateway
            | Self::GatewayTransport => None,
        }
    }
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The downgrades `knobs` are sure to carry relative to the strongest configuration,
/// whatever run produced them (a saved profile's configuration is announced on every use).
/// An offer that leaves the choice to the server is sure of nothing yet: mstsc's offer
/// (the server may select NLA) and a hello offering TLS 1.2 with suites the server may
/// pick AEAD from; what they gave up is known once the server has chosen, from the knobs
/// [`Knobs::as_used`] returns, and announced then (before anything is sent over TLS).
/// The gateway leg's (see [`crate::route`]) count too, each name once.
pub fn downgrades(knobs: &Knobs) -> Vec<Fallback> {
    // In the order a connection gives them up: X.224, then TLS.
    let mut steps = Vec::new();
    if knobs.nla == Nla::Off {
        steps.push(Fallback::NlaOff);
    }
    let versions = offered_versions(&knobs.tls);
    let highest = versions.iter().copied().max().unwrap_or(TlsVersion::Tls10);
    let legacy_suites = knobs.tls.stack == TlsStack::Openssl
        && knobs.tls.ciphers.as_deref().is_some_and(|list| {
            list.split([':', ','])
                .all(|s| s.starts_with('@') || is_legacy_suite(s))
        });
    if highest < TlsVersion::Tls12 {
        steps.push(Fallback::TlsVersionDowngrade);
    } else if lowest_version(&knobs.tls) >= TlsVersion::Tls12 && legacy_suites {
        steps.push(Fallback::CipherDowngrade);
    }
    for step in crate::route::downgrades(&knobs.route) {
        if !steps.contains(&step) {
            steps.push(step);
        }
    }
    steps
}

/// The TLS downgrades a gateway leg's choice may carry relative to the modern one. The
/// gateway's TLS is not recorded as used, so an OpenSSL hello counts as what it may give up
/// (announcing too much rather than too little).
pub(crate) fn tls_downgrades(tls: &TlsChoice) -> Vec<Fallback> {
    let mut steps = Vec::new();
    if tls.stack == TlsStack::Openssl && lowest_version(tls) >= TlsVersion::Tls12 {
        steps.push(Fallback::CipherDowngrade);
    }
    if lowest_version(tls) < TlsVersion::Tls12 {
        steps.push(Fallback::TlsVersionDowngrade);
    }
    steps
}

/// The fallbacks the winning configuration carries relative to the run's first attempt,
/// in the order a connection applies them (route, address, X.224, TLS, UDP). `winner` is
/// what the winning attempt used ([`Knobs::as_used`]): a TLS-only server that selected TLS
/// from mstsc's offer is `nla-off`, and the TLS downgrade is named from the version and
/// suite negotiated (below TLS 1.2: `tls-version-downgrade`; TLS 1.2 with a CBC suite or
/// RSA key exchange: `cipher-downgrade`; anything the first attempt carried already is not
/// a fallback of this run).
pub fn fallbacks_used(first: &Knobs, winner: &Knobs) -> Vec<Fallback> {
    let mut used = Vec::new();
    match (first.route.is_gateway(), winner.route.is_gateway()) {
        (true, false) => used.push(Fallback::DirectInsteadOfGateway),
        (false, true) => used.push(Fallback::ViaGateway),
        _ => {}
    }
    if winner.route.is_gateway() {
        let (before, after) = (gateway(first), gateway(winner));
        if before.transport != after.transport {
            used.push(Fallback::GatewayTransport);
        }
        if before.auth != after.auth {
            used.push(Fallback::GatewayAuthScheme);
        }
    }
    // Through a gateway the gateway resolves the host: going around it names the change.
    let both_direct = !first.route.is_gateway() && !winner.route.is_gateway();
    let other_address = matches!(winner.dial, Dial::Ip(_)) && winner.dial != first.dial;
    if both_direct && (other_address || (!first.ip_as_server_name && winner.ip_as_server_name)) {
        used.push(Fallback::IpForHostname);
    }
    match (first.nla != Nla::Off, winner.nla) {
        (true, Nla::Off) => used.push(Fallback::NlaOff),
        (false, Nla::On) => used.push(Fallback::NlaOn),
        _ => {}
    }
    // Either leg's: `downgrades` has the gateway leg's too.
    let before = downgrades(first);
    for step in downgrades(winner) {
        let tls = matches!(
            step,
            Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade
        );
        if tls && !before.contains(&step) && !used.contains(&step) {
            used.push(step);
        }
    }
    if first.udp && !winner.udp {
        used.push(Fallback::UdpOff);
    }
    used
}

/// The gateway leg's knobs, the strongest ones for a direct route (what a first attempt
/// through the gateway would have used).
fn gateway(knobs: &Knobs) -> ViaGateway {
    knobs
        .route
        .gateway()
        .cloned()
        .unwrap_or_else(ViaGateway::strongest)
}

/// Names the steps between two consecutive attempts. The failure that prompted the step
/// decides between a version and a suite downgrade when the TLS rung changed.
pub fn step_fallbacks(from: &Knobs, to: &Knobs, because: Option<&FailureClass>) -> Vec<Fallback> {
    let mut steps = Vec::new();
    // Through a gateway the gateway resolves the host: the dial of a route change says
    // nothing about addresses (the route step names that change).
    let both_direct = !from.route.is_gateway() && !to.route.is_gateway();
    let by_ip = (from.dial == Dial::ByName && matches!(to.dial, Dial::Ip(_)))
        || (matches!(from.dial, Dial::Ip(_))
            && matches!(to.dial, Dial::Ip(_))
            && from.dial != to.dial)
        || (!from.ip_as_server_name && to.ip_as_server_name);
    if both_direct && by_ip {
        steps.push(Fallback::IpForHostname);
    }
    if from.tls != to.tls {
        steps.extend(tls_steps(&from.tls, &to.tls, because));
    }
    // mstsc's offer counts as NLA (the server selects it when it can); going from it to
    // NLA required is no step.
    match (from.nla != Nla::Off, to.nla != Nla::Off) {
        (true, false) => steps.push(Fallback::NlaOff),
        (false, true) => steps.push(Fallback::NlaOn),
        _ => {}
    }
    if from.udp && !to.udp {
        steps.push(Fallback::UdpOff);
    }
    steps
}

/// The TLS step from one choice to another on either leg. The failure that prompted it
/// decides between a version and a suite downgrade.
pub(crate) fn tls_steps(
    from: &TlsChoice,
    to: &TlsChoice,
    because: Option<&FailureClass>,
) -> Vec<Fallback> {
    let mut steps = Vec::new();
    if Grade::of(true, to) > Grade::of(true, from) {
        return steps;
    }
    match because {
        Some(FailureClass::TlsCipherMismatch) => steps.push(Fallback::CipherDowngrade),
        Some(FailureClass::TlsVersionMismatch) => steps.push(Fallback::TlsVersionDowngrade),
        // Not a mismatch (the server hung up): name everything the new hello gives up,
        // which for the most tolerant hello is both the suites and the versions.
        _ => {
            let cipher = from.stack == TlsStack::Rustls && to.stack == TlsStack::Openssl;
            let version = lowest_version(to) < lowest_version(from);
            if cipher {
                steps.push(Fallback::CipherDowngrade);
            }
            if version || !cipher {
                steps.push(Fallback::TlsVersionDowngrade);
            }
        }
    }
    steps
}
