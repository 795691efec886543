//! Naming the fallbacks: the step between two attempts, what a configuration carries
//! relative to the strongest one, and what each gives up (for logs, `--json` and warnings).

use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::failure::FailureClass;
use crate::knobs::{Dial, Knobs, Nla};
use crate::rungs::{is_legacy_suite, lowest_version, offered_versions, Grade};
use crate::tls::{TlsStack, TlsVersion};

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
            Self::IpForHostname | Self::NlaOn | Self::UdpOff => None,
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
    steps
}

/// The fallbacks the winning configuration carries relative to the run's first attempt,
/// in the order a connection applies them (address, X.224, TLS, UDP). `winner` is what the
/// winning attempt used ([`Knobs::as_used`]): a TLS-only server that selected TLS from
/// mstsc's offer is `nla-off`, and the TLS downgrade is named from the version and suite
/// negotiated (below TLS 1.2: `tls-version-downgrade`; TLS 1.2 with a CBC suite or RSA key
/// exchange: `cipher-downgrade`; anything the first attempt carried already is not a
/// fallback of this run).
pub fn fallbacks_used(first: &Knobs, winner: &Knobs) -> Vec<Fallback> {
    let mut used = Vec::new();
    let other_address = matches!(winner.dial, Dial::Ip(_)) && winner.dial != first.dial;
    if other_address || (!first.ip_as_server_name && winner.ip_as_server_name) {
        used.push(Fallback::IpForHostname);
    }
    match (first.nla != Nla::Off, winner.nla) {
        (true, Nla::Off) => used.push(Fallback::NlaOff),
        (false, Nla::On) => used.push(Fallback::NlaOn),
        _ => {}
    }
    let before = downgrades(first);
    for step in downgrades(winner) {
        let tls = matches!(
            step,
            Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade
        );
        if tls && !before.contains(&step) {
            used.push(step);
        }
    }
    if first.udp && !winner.udp {
        used.push(Fallback::UdpOff);
    }
    used
}

/// Names the steps between two consecutive attempts. The failure that prompted the step
/// decides between a version and a suite downgrade when the TLS rung changed.
pub fn step_fallbacks(from: &Knobs, to: &Knobs, because: Option<&FailureClass>) -> Vec<Fallback> {
    let mut steps = Vec::new();
    if (from.dial == Dial::ByName && matches!(to.dial, Dial::Ip(_)))
        || (matches!(from.dial, Dial::Ip(_))
            && matches!(to.dial, Dial::Ip(_))
            && from.dial != to.dial)
        || (!from.ip_as_server_name && to.ip_as_server_name)
    {
        steps.push(Fallback::IpForHostname);
    }
    if from.tls != to.tls && Grade::of(true, &to.tls) <= Grade::of(true, &from.tls) {
        match because {
            Some(FailureClass::TlsCipherMismatch) => steps.push(Fallback::CipherDowngrade),
            Some(FailureClass::TlsVersionMismatch) => steps.push(Fallback::TlsVersionDowngrade),
            // Not a mismatch (the server hung up): name everything the new hello gives up,
            // which for the most tolerant hello is both the suites and the versions.
            _ => {
                let cipher =
                    from.tls.stack == TlsStack::Rustls && to.tls.stack == TlsStack::Openssl;
                let version = lowest_version(&to.tls) < lowest_version(&from.tls);
                if cipher {
                    steps.push(Fallback::CipherDowngrade);
                }
                if version || !cipher {
                    steps.push(Fallback::TlsVersionDowngrade);
                }
            }
        }
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
