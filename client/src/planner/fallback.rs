//! Names of the fallbacks, and what each gives up, for logs, `--json` and warnings.

use std::fmt;

use serde::Serialize;

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
                "AEAD cipher suites: the server only offers CBC suites, possibly with RSA key exchange \
                 (no forward secrecy: recorded traffic is readable if the server key ever leaks)",
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
