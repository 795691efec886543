//! Naming the fallbacks: the step between two attempts, what a configuration carries
//! relative to the strongest one, and what each gives up (for logs, `--json` and warnings).

use alloc::vec::Vec;
use core::fmt;

use serde::Serialize;

use crate::failure::FailureClass;
use crate::knobs::{Dial, Knobs};
use crate::rungs::{lowest_version, Grade};
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
                "AEAD-only cipher suites: this attempt also offers CBC suites, some with RSA key \
                 exchange (no forward secrecy: recorded traffic is readable if the server key ever leaks)",
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

/// The downgrades `knobs` carries relative to the strongest configuration, whatever run
/// produced them (a saved profile's configuration is announced on every use).
pub fn downgrades(knobs: &Knobs) -> Vec<Fallback> {
    let mut steps = Vec::new();
    if knobs.tls.stack == TlsStack::Openssl && lowest_version(&knobs.tls) >= TlsVersion::Tls12 {
        steps.push(Fallback::CipherDowngrade);
    }
    if lowest_version(&knobs.tls) < TlsVersion::Tls12 {
        steps.push(Fallback::TlsVersionDowngrade);
    }
    if !knobs.nla {
        steps.push(Fallback::NlaOff);
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
            Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade => first.tls != winner.tls,
            Fallback::NlaOff => first.nla && !winner.nla,
            Fallback::NlaOn => !first.nla && winner.nla,
            Fallback::UdpOff => first.udp && !winner.udp,
        };
        if still_in_effect && !used.contains(step) {
            used.push(*step);
        }
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
