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

/// The most tolerant ClientHello the floor allows, for telling "the server hangs up on this
/// hello" from "the server hangs up on every hello". Down to `legacy` it is OpenSSL offering
/// TLS 1.0 through 1.2 with every suite at security level 0: a server that speaks any of
/// them picks the best it has, so a reset of this hello is not a version or suite mismatch.
/// (A hello offering TLS 1.0 *alone* would not do: Windows with TLS 1.0 disabled resets it,
/// which would read as "resets every hello" on a server that TLS 1.2 with CBC suites
/// reaches.) Above `legacy` the floor narrows it to what it allows.
pub fn tolerant(floor: Grade) -> TlsChoice {
    let (stack, version) = match floor {
        Grade::NoNla | Grade::Legacy => (TlsStack::Openssl, None),
        Grade::Tls12 => (TlsStack::Openssl, Some(TlsVersion::Tls12)),
        Grade::Modern => (TlsStack::Rustls, Some(TlsVersion::Tls12)),
    };
    TlsChoice {
        stack,
        version,
        ciphers: None,
    }
}

/// Every TLS choice the planner may make on its own: the ladder and the tolerant hello.
pub fn all_choices() -> Vec<TlsChoice> {
    let mut all = tls_ladder();
    for floor in [Grade::NoNla, Grade::Tls12, Grade::Modern] {
        let choice = tolerant(floor);
        if !all.contains(&choice) {
            all.push(choice);
        }
    }
    all
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

    #[test]
    fn the_tolerant_hello_is_the_widest_the_floor_allows() {
        for floor in [Grade::NoNla, Grade::Legacy, Grade::Tls12, Grade::Modern] {
            let hello = tolerant(floor);
            assert!(
                Grade::of(true, &hello) >= floor.min(Grade::Legacy),
                "{floor}"
            );
            assert!(all_choices().contains(&hello));
        }
        assert_eq!(
            offered_versions(&tolerant(Grade::NoNla)),
            [TlsVersion::Tls12, TlsVersion::Tls11, TlsVersion::Tls10]
        );
        assert_eq!(Grade::of(true, &tolerant(Grade::Tls12)), Grade::Tls12);
        assert_eq!(Grade::of(true, &tolerant(Grade::Modern)), Grade::Modern);
    }
}
