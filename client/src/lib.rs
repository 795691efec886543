//! rdpshim: an RDP client that finds a working connection configuration.
//!
//! The library is split so each part can be read on its own:
//! - [`host`]: `HOST[:PORT]` as the user names a server;
//! - [`attempt`]: the knobs of one attempt (plain data);
//! - [`engine`]: carries out one attempt over the network (the only module with sockets);
//! - [`report`]: what an attempt observed, with failure classes a planner can branch on;
//! - [`route`]: reaching the server other than directly (an RD Gateway tunnel);
//! - [`secret`]: the password (the only module that reads it);
//! - [`json`]: the `--json` output shape;
//! - [`session`]: what connect, matrix, bridge and open share: a run from the saved
//!   profile and back into it, credentials, imports;
//! - [`ladder`]: runs the planner's decisions through the engine;
//! - [`planner`]: the pure fallback planner (no I/O, no clock);
//! - [`advice`]: human warnings derived from a report;
//! - [`terminal`]: server text made safe for a terminal;
//! - [`diagnose`]: findings without credentials and a verdict per known cause of failure;
//! - [`matrix`]: the regression harness over hosts x configurations;
//! - [`handoff`]: the user's own RDP client started with a working configuration
//!   (`rdpshim open`), and what each client can express;
//! - [`bridge`]: the user's own RDP client reaches the server through rdpshim.

pub mod advice;
pub mod attempt;
pub mod bridge;
pub mod diagnose;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod handoff;
pub mod host;
pub mod json;
pub mod ladder;
pub mod matrix;
pub mod planner;
pub mod report;
pub mod route;
pub mod secret;
pub mod session;
pub mod terminal;

/// The profile <-> planner conversions, at their old path.
pub use session::saved;
