//! The TLS ladder and the security grade of a configuration.
//!
//! Rungs, strongest first (the order mstsc-era servers force us down):
//! rustls TLS 1.3/1.2 -> rustls TLS 1.2 only -> OpenSSL TLS 1.2 with CBC/RSA suites ->
//! OpenSSL TLS 1.1 -> OpenSSL TLS 1.0, the OpenSSL rungs at security level 0.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::tls::{TlsChoice, TlsStack, TlsVersion};

/// The default TLS ladder.
pub fn tls_ladder() -> Vec<TlsChoice> {
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

/// The versions a ClientHello with this choice offers.
pub fn offered_versions(choice: &TlsChoice) -> Vec<TlsVersion> {
    match (choice.stack, choice.version) {
        (_, Some(version)) => vec![version],
        (TlsStack::Rustls, None) => vec![TlsVersion::Tls13, TlsVersion::Tls12],
        (TlsStack::Openssl, None) => vec![TlsVersion::Tls12, TlsVersion::Tls11, TlsVersion::Tls10],
    }
}

/// The weakest version this choice may end up with.
pub fn lowest_version(choice: &TlsChoice) -> TlsVersion {
    offered_versions(choice)
        .into_iter()
        .min()
        .unwrap_or(TlsVersion::Tls10)
}

/// A security floor (`--min-security`), weakest first so that `<` means "weaker".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    /// Anything, NLA off included.
    NoNla,
    /// NLA on, any TLS version (OpenSSL down to TLS 1.0).
    Legacy,
    /// NLA on, TLS 1.2 at least (CBC suites allowed).
    Tls12,
    /// NLA on, rustls: TLS 1.3/1.2 with AEAD suites only.
    Modern,
}

impl Grade {
    pub fn of(nla: bool, tls: &TlsChoice) -> Self {
        if !nla {
            Self::NoNla
        } else if tls.stack == TlsStack::Rustls {
            Self::Modern
        } else if lowest_version(tls) >= TlsVersion::Tls12 {
            Self::Tls12
        } else {
            Self::Legacy
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoNla => "no-nla",
            Self::Legacy => "legacy",
            Self::Tls12 => "tls12",
            Self::Modern => "modern",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn the_ladder_gets_weaker_at_every_rung() {
        let ladder = tls_ladder();
        let grades: Vec<Grade> = ladder.iter().map(|c| Grade::of(true, c)).collect();
        assert_eq!(
            grades,
            [
                Grade::Modern,
                Grade::Modern,
                Grade::Tls12,
                Grade::Legacy,
                Grade::Legacy
            ]
        );
        let lowest: Vec<TlsVersion> = ladder.iter().map(lowest_version).collect();
        assert!(lowest.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(Grade::of(false, &ladder[0]), Grade::NoNla);
    }
}
