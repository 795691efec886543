//! What `diagnose` is doing while it probes, for a progress line on a terminal: the probes
//! write it (plain atomics, no I/O), the CLI reads it on its own clock.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The probes' phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Resolving the name and connecting to every address.
    Reachability,
    /// X.224 requests, the TLS scan, NTLM, GCC and Standard RDP Security concurrently.
    Probing,
    /// The findings are complete.
    Done,
}

impl Phase {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Reachability => "resolving and connecting to every address",
            Self::Probing => "security layers, TLS versions and suites, NLA, GCC",
            Self::Done => "done",
        }
    }
}

/// Shared between the probes and whoever shows progress.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    connections: AtomicUsize,
}

impl Progress {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Reachability,
            1 => Phase::Probing,
            _ => Phase::Done,
        }
    }

    pub fn enter(&self, phase: Phase) {
        let value = match phase {
            Phase::Reachability => 0,
            Phase::Probing => 1,
            Phase::Done => 2,
        };
        self.phase.store(value, Ordering::Relaxed);
    }

    /// Connections made to the server so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
}
