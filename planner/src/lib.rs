//! rdpshim's fallback planner: from the policy and the outcomes so far to the next attempt
//! or a verdict.
//!
//! **No I/O and no clock, by construction**: the crate is `#![no_std]` (with `alloc`), so
//! files, sockets, the clock and the environment are not in scope, and its only dependency
//! is serde's derive. Elapsed time comes in as a value, resolved addresses come from earlier
//! attempt reports. Every path is therefore a table test (see `tests.rs`), in the manner of
//! quinn-proto under quinn.
//!
//! How it decides: a configuration has six dimensions (where to dial, which name to use,
//! NLA (required, off, or mstsc's offer that lets the server choose), TLS rung, UDP, and the
//! route: direct or through an RD Gateway, whose leg has its own
//! TLS rung, transport and authentication scheme). Each dimension has a preference order, strongest first (or the
//! saved profile's value first). Every failure rules out the values it proves useless
//! ([`learn`]); the next attempt takes, per dimension, the first value not ruled out
//! ([`choose`]). A failure that rules out nothing new, or a class no configuration can fix
//! (wrong password, Standard RDP Security only, a silent firewall on every address), ends
//! with a [`Verdict`] that names its causes from the table in [`causes`].
//!
//! Files by concern:
//! - [`tls`], [`stage`], [`failure`]: the plain data the planner reasons about (the client
//!   re-exports it from `rdpshim::attempt` and `rdpshim::report`);
//! - [`knobs`]: one attempt's six dimensions; [`rungs`]: the TLS ladder and security grades;
//! - [`route`]: direct or through an RD Gateway: its knobs, what gateway failures rule out,
//!   when the gateway comes first (mstsc's `gatewayusagemethod`);
//! - [`policy`]: pins, floor, budget, the saved profile, the downgrade guard;
//! - [`learn`]: outcome -> what it rules out; [`choose`]: what is left -> the next knobs;
//! - [`verdict`]: how a run ends without a connection; [`fallback`]: the names of the steps;
//! - [`causes`]: the one table of causes (id, severity, proof, remedies, workaround) that
//!   verdicts, `diagnose`, the matrix and the warnings use; [`protocol`]: the X.224 security
//!   protocols, what an attempt offers and what the server selected;
//! - [`decide`]: [`next`], which asks those in order.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod causes;
pub mod choose;
pub mod decide;
pub mod failure;
pub mod fallback;
pub mod knobs;
pub mod learn;
pub mod policy;
pub mod protocol;
pub mod route;
pub mod rungs;
pub mod stage;
pub mod tls;
pub mod verdict;

#[cfg(test)]
mod tests;

pub use causes::{CauseId, Finding, Severity};
pub use decide::{next, Decision};
pub use failure::{FailureClass, NegotiationCode, BAD_CERTIFICATE};
pub use fallback::{downgrades, fallbacks_used, step_fallbacks, Fallback};
pub use knobs::{describe, Dial, Knobs, Nla};
pub use learn::Tried;
pub use policy::{weakened_property, Pins, Policy, Remembered};
pub use protocol::{offered_protocols, Protocol};
pub use route::{GatewayAuth, GatewayTransport, GatewayUsage, Route, ViaGateway};
pub use rungs::{is_legacy_suite, lowest_version, offered_versions, tls_ladder, tolerant, Grade};
pub use stage::Stage;
pub use tls::{TlsChoice, TlsStack, TlsVersion};
pub use verdict::{Verdict, VerdictKind};
