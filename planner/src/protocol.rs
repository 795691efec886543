//! The security protocols of the X.224 negotiation (MS-RDPBCGR 2.2.1.1.1 requestedProtocols,
//! 2.2.1.2.1 selectedProtocol), as plain data: what an attempt offers and what the server
//! selected.
//!
//! The server's selection is evidence whatever the attempt's outcome: a server that selects
//! a protocol the client did not offer says what it wants (xrdp with `security_layer=negotiate`
//! selects Standard RDP Security when asked for NLA only; a Windows server without NLA
//! selects TLS), and the planner follows it (see `learn.rs`).

use core::fmt;

use serde::Serialize;

use crate::knobs::{Knobs, Nla};

/// One security protocol. A server selects exactly one (MS-RDPBCGR 2.2.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Standard RDP Security (PROTOCOL_RDP, 0): RC4 at best, no server authentication.
    Rdp,
    /// TLS without NLA (PROTOCOL_SSL).
    Ssl,
    /// CredSSP over TLS (PROTOCOL_HYBRID).
    Hybrid,
    /// RDSTLS (PROTOCOL_RDSTLS), used by brokers and Azure; rdpshim does not speak it.
    Rdstls,
    /// CredSSP with Early User Authorization Result (PROTOCOL_HYBRID_EX).
    HybridEx,
}

impl Protocol {
    pub const ALL: [Protocol; 5] = [
        Self::Rdp,
        Self::Ssl,
        Self::Hybrid,
        Self::Rdstls,
        Self::HybridEx,
    ];

    /// The requestedProtocols / selectedProtocol value.
    pub fn bits(self) -> u32 {
        match self {
            Self::Rdp => 0,
            Self::Ssl => 0x1,
            Self::Hybrid => 0x2,
            Self::Rdstls => 0x4,
            Self::HybridEx => 0x8,
        }
    }

    /// The protocol a selectedProtocol value names; `None` for anything but exactly one
    /// known protocol (a hostile or broken confirm).
    pub fn from_selected(bits: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.bits() == bits)
    }

    /// `rdp`, `ssl`, `hybrid`, `rdstls`, `hybrid-ex` (the `--json` names).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rdp => "rdp",
            Self::Ssl => "ssl",
            Self::Hybrid => "hybrid",
            Self::Rdstls => "rdstls",
            Self::HybridEx => "hybrid-ex",
        }
    }

    /// What following this selection means for the NLA dimension: `Some(true)` for the
    /// CredSSP protocols, `Some(false)` for TLS alone, `None` for what rdpshim cannot speak
    /// (Standard RDP Security, RDSTLS).
    pub fn nla(self) -> Option<bool> {
        match self {
            Self::Hybrid | Self::HybridEx => Some(true),
            Self::Ssl => Some(false),
            Self::Rdp | Self::Rdstls => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocols an attempt with `knobs` offers in its X.224 Connection Request: the one
/// place that says so (the engine builds its request from the same knob, and the planner
/// judges a selection against this).
///
/// - [`Nla::On`]: HYBRID|HYBRID_EX *only*, so nobody on the path can answer "TLS selected"
///   and skip NLA unnoticed;
/// - [`Nla::Off`]: TLS alone;
/// - [`Nla::Negotiate`]: TLS|HYBRID|HYBRID_EX, what mstsc sends: the server selects, and a
///   server without NLA answers TLS within the offer (no attempt spent learning it).
pub fn offered(knobs: &Knobs) -> u32 {
    let nla = Protocol::Hybrid.bits() | Protocol::HybridEx.bits();
    match knobs.nla {
        Nla::On => nla,
        Nla::Off => Protocol::Ssl.bits(),
        Nla::Negotiate => Protocol::Ssl.bits() | nla,
    }
}

/// The protocols of [`offered`], in bit order (`ssl`, `hybrid`, `hybrid-ex`): the `--json`
/// `offered` list.
pub fn offered_protocols(knobs: &Knobs) -> alloc::vec::Vec<Protocol> {
    let offer = offered(knobs);
    Protocol::ALL
        .into_iter()
        .filter(|p| p.bits() != 0 && offer & p.bits() != 0)
        .collect()
}

/// Did an attempt with `knobs` offer `selected`? Standard RDP Security is offered only by
/// an empty request (rdpshim never sends one).
pub fn was_offered(knobs: &Knobs, selected: Protocol) -> bool {
    let offer = offered(knobs);
    match selected {
        Protocol::Rdp => offer == 0,
        other => offer & other.bits() != 0,
    }
}

/// Did an attempt with `knobs` offer TLS without NLA? (Then a server selecting Standard
/// RDP Security refuses TLS itself, not only NLA.)
pub fn offers_tls_without_nla(knobs: &Knobs) -> bool {
    offered(knobs) & Protocol::Ssl.bits() != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_read_back_and_only_single_protocols_count() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_selected(p.bits()), Some(p));
        }
        for bits in [0x3, 0x9, 0x10, 0x7FFF_FFFF] {
            assert_eq!(Protocol::from_selected(bits), None, "0x{bits:x}");
        }
    }

    #[test]
    fn what_an_attempt_offers() {
        let mut knobs = Knobs::strongest();
        assert_eq!(offered(&knobs), 0xA);
        assert!(was_offered(&knobs, Protocol::HybridEx));
        assert!(!was_offered(&knobs, Protocol::Ssl));
        assert!(!was_offered(&knobs, Protocol::Rdp));
        knobs.nla = Nla::Off;
        assert_eq!(offered(&knobs), 0x1);
        assert!(was_offered(&knobs, Protocol::Ssl));
        assert!(!was_offered(&knobs, Protocol::Hybrid));
        // mstsc's request: the server may select any of the three.
        knobs.nla = Nla::Negotiate;
        assert_eq!(offered(&knobs), 0xB);
        for p in [Protocol::Ssl, Protocol::Hybrid, Protocol::HybridEx] {
            assert!(was_offered(&knobs, p), "{p}");
        }
        assert!(!was_offered(&knobs, Protocol::Rdp) && !was_offered(&knobs, Protocol::Rdstls));
        assert_eq!(
            offered_protocols(&knobs),
            [Protocol::Ssl, Protocol::Hybrid, Protocol::HybridEx]
        );
    }
}
