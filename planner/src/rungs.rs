//! The TLS ladder and the security grade of a configuration.
//!
//! Rungs, strongest first: rustls TLS 1.3/1.2 -> rustls TLS 1.2 only -> one legacy hello,
//! OpenSSL offering TLS 1.0 through 1.2 with every suite at security level 0
//! ([`tolerant`]). The legacy hello replaced three rungs (OpenSSL TLS 1.2 with CBC/RSA
//! suites, 1.1, 1.0, an attempt each): a server picks the best version and suite it
//! speaks from one ClientHello, so one attempt finds what it speaks, and what it picked is
//! recorded precisely ([`crate::Knobs::as_used`]). Exact versions stay reachable by pinning
//! them (`--tls 1.0 --tls-stack openssl`).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::tls::{TlsChoice, TlsStack, TlsVersion};

/// The default TLS ladder, with the legacy hello the floor allows last (under a floor of
/// `tls12` or above it is narrowed by [`tolerant`], and may coincide with an earlier rung).
pub fn tls_ladder(floor: Grade) -> Vec<TlsChoice> {
    let rustls = |version| TlsChoice {
        stack: TlsStack::Rustls,
        version,
        ciphers: None,
    };
    let mut ladder = vec![rustls(None), rustls(Some(TlsVersion::Tls12))];
    let legacy = tolerant(floor);
    if !ladder.contains(&legacy) {
        ladder.push(legacy);
    }
    ladder
}

/// The most tolerant ClientHello the floor allows: the ladder's legacy rung, and the hello
/// that tells "the server hangs up on this hello" from "the server hangs up on every
/// hello". Down to `legacy` it is OpenSSL offering TLS 1.0 through 1.2 with every suite at
/// security level 0: a server that speaks any of them picks the best it has, so a refusal
/// of this hello is not a version or suite rdpshim could still offer, and a reset of it is
/// not a version or suite mismatch. (A hello offering TLS 1.0 *alone* would not do: Windows
/// with TLS 1.0 disabled resets it, which would read as "resets every hello" on a server
/// that TLS 1.2 with CBC suites reaches.) Above `legacy` the floor narrows it to what it
/// allows.
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

/// Every TLS choice the planner may make on its own: the ladder under every floor.
pub fn all_choices() -> Vec<TlsChoice> {
    let mut all = Vec::new();
    for floor in [Grade::NoNla, Grade::Tls12, Grade::Modern] {
        for choice in tls_ladder(floor) {
            if !all.contains(&choice) {
                all.push(choice);
            }
        }
    }
    all
}

/// Adds to `ruled` every choice the planner could make that `matches`; `true` if any was
/// new. One rule for both legs' TLS (the RDP server's and an RD Gateway's).
pub(crate) fn rule_out(ruled: &mut Vec<TlsChoice>, matches: impl Fn(&TlsChoice) -> bool) -> bool {
    let before = ruled.len();
    let mut candidates = all_choices();
    candidates.retain(|c| matches(c) && !ruled.contains(c));
    ruled.extend(candidates);
    ruled.len() > before
}

/// The versions a ClientHello with this choice offers.
pub fn offered_versions(choice: &TlsChoice) -> Vec<TlsVersion> {
    match (choice.stack, choice.version) {
        (_, Some(version)) => vec![version],
        (TlsStack::Rustls, None) => vec![TlsVersion::Tls13, TlsVersion::Tls12],
        (TlsStack::Openssl, None) => vec![TlsVersion::Tls12, TlsVersion::Tls11, TlsVersion::Tls10],
    }
}

/// Is this OpenSSL suite name (`AES128-SHA`, `ECDHE-RSA-AES128-GCM-SHA256`) one a modern
/// client no longer offers: a CBC (or RC4, 3DES) cipher, or RSA key exchange (no forward
/// secrecy)? Only AEAD suites (GCM, CCM, ChaCha20-Poly1305) with an ephemeral key exchange
/// (ECDHE, DHE; TLS 1.3 suites, `TLS_*`, always have one) are not.
pub fn is_legacy_suite(name: &str) -> bool {
    let name = name.trim();
    if name.starts_with("TLS_") || name.starts_with("TLS13_") {
        return false;
    }
    let aead = ["GCM", "CCM", "CHACHA20"].iter().any(|m| name.contains(m));
    let ephemeral = ["ECDHE-", "DHE-", "EDH-"]
        .iter()
        .any(|k| name.starts_with(k));
    !(aead && ephemeral)
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
    fn the_ladder_gets_weaker_at_every_rung_and_ends_with_one_legacy_hello() {
        let ladder = tls_ladder(Grade::NoNla);
        let grades: Vec<Grade> = ladder.iter().map(|c| Grade::of(true, c)).collect();
        assert_eq!(grades, [Grade::Modern, Grade::Modern, Grade::Legacy]);
        let lowest: Vec<TlsVersion> = ladder.iter().map(lowest_version).collect();
        assert!(lowest.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(Grade::of(false, &ladder[0]), Grade::NoNla);
        assert_eq!(
            ladder[2],
            tolerant(Grade::NoNla),
            "one hello for TLS 1.0 to 1.2"
        );
        // A floor narrows the legacy hello; never below the floor, never a duplicate.
        for floor in [Grade::Legacy, Grade::Tls12, Grade::Modern] {
            let ladder = tls_ladder(floor);
            assert!(ladder
                .iter()
                .all(|c| Grade::of(true, c) >= floor.min(Grade::Legacy)));
            assert!(ladder.contains(&tolerant(floor)), "{floor}");
        }
        assert_eq!(tls_ladder(Grade::Modern).len(), 2);
    }

    #[test]
    fn legacy_suites_are_cbc_or_rsa_key_exchange() {
        for legacy in [
            "AES128-SHA",
            "ECDHE-RSA-AES128-SHA",
            "AES256-GCM-SHA384",
            "DES-CBC3-SHA",
            "RC4-SHA",
            "DHE-RSA-AES256-SHA256",
        ] {
            assert!(is_legacy_suite(legacy), "{legacy}");
        }
        for modern in [
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "DHE-RSA-AES256-GCM-SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS13_AES_256_GCM_SHA384",
        ] {
            assert!(!is_legacy_suite(modern), "{modern}");
        }
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
