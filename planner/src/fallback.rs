//! Naming the fallbacks: the step between two attempts, what a configuration carries
//! relative to the strongest one, and what each gives up (for logs, `--json` and warnings).
//! The route's steps (through or around an RD Gateway, its transport and authentication
//! scheme) are named here and decided in [`crate::route`]; the gateway leg's TLS
//! downgrades carry the RDP leg's names.

use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::failure::FailureClass;
use crate::knobs::{Dial, Knobs};
use crate::route::ViaGateway;
use crate::rungs::{lowest_version, Grade};
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
                "AEAD-only cipher suites: this attempt also offers CBC suites, some with RSA key \
                 exchange (no forward secrecy: recorded traffic is readable if the server key ever leaks)",
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

/// The downgrades `knobs` carries relative to the strongest configuration, whatever run
/// produced them (a saved profile's configuration is announced on every use).
/// The gateway leg's (see [`crate::route`]) count too, each name once.
pub fn downgrades(knobs: &Knobs) -> Vec<Fallback> {
    let mut steps = tls_downgrades(&knobs.tls);
    if !knobs.nla {
        steps.push(Fallback::NlaOff);
    }
    for step in crate::route::downgrades(&knobs.route) {
        if !steps.contains(&step) {
            steps.push(step);
        }
    }
    steps
}

/// The TLS downgrades a choice carries relative to the modern one (either leg).
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

/// The fallbacks that the winning knobs still carry, in the order they were first applied.
pub fn fallbacks_used(first: &Knobs, winner: &Knobs, applied: &[Fallback]) -> Vec<Fallback> {
    let mut used: Vec<Fallback> = Vec::new();
    for step in applied {
        let still_in_effect = match step {
            Fallback::IpForHostname => {
                first.dial != winner.dial || first.ip_as_server_name != winner.ip_as_server_name
            }
            Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade => {
                first.tls != winner.tls || gateway_tls_changed(first, winner)
            }
            Fallback::NlaOff => first.nla && !winner.nla,
            Fallback::NlaOn => !first.nla && winner.nla,
            Fallback::UdpOff => first.udp && !winner.udp,
            Fallback::DirectInsteadOfGateway => !winner.route.is_gateway(),
            Fallback::ViaGateway => winner.route.is_gateway(),
            Fallback::GatewayTransport => gateway(first).transport != gateway(winner).transport,
            Fallback::GatewayAuthScheme => gateway(first).auth != gateway(winner).auth,
        };
        if still_in_effect && !used.contains(step) {
            used.push(*step);
        }
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

/// The winner's gateway TLS is not what the first attempt's gateway leg (or, for a first
/// attempt that went direct, the modern one) used.
fn gateway_tls_changed(first: &Knobs, winner: &Knobs) -> bool {
    winner.route.is_gateway() && gateway(first).tls != gateway(winner).tls
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
    match (from.nla, to.nla) {
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
