//! The regression harness: every configuration of a matrix against every host.
//!
//! A configuration is one point in NLA on/off x TLS rung x dial by name/by IP x UDP
//! advertised on/off (40 by default, narrowed or extended by a `--configs` file), directly
//! or (with `--gateway`, both by default) through an RD Gateway. A cell is
//! exactly one [`crate::route::run_attempt`] with that configuration, never the fallback
//! ladder: the matrix answers "what works on this server today", so each cell must be the
//! configuration it names. The result is `ok` or the failure class.
//!
//! - [`config`]: configurations and their ids; [`configs_file`]: the `--configs` TOML;
//! - [`hosts`]: the hosts (command line and `--hosts-file`);
//! - [`runner`]: the cells under the concurrency bounds, a dead host dialled once;
//!   [`pool`]: the threads the engine's attempts run on;
//! - [`cell`]: what one cell keeps;
//! - [`baseline`]: the expected table and the comparison against it;
//! - [`table`], [`json`], [`junit`]: the outputs (pure functions of a run);
//! - [`shard`]: `--shard K/N`, which hosts a part of the matrix runs; [`merge`]: the parts'
//!   `--json` read back and joined into the run one process would have made.

pub mod baseline;
pub mod cell;
pub mod config;
pub mod configs_file;
pub mod hosts;
pub mod json;
pub mod junit;
pub mod merge;
pub mod pool;
pub mod runner;
pub mod shard;
pub mod table;

#[cfg(test)]
mod test_support;

pub use baseline::{compare, Baseline, ChangeKind, Comparison};
pub use cell::Cell;
pub use config::{Configuration, DialBy, Dimensions, MatrixGateway, RouteBy};
pub use hosts::Target;
pub use runner::{run, Engine, HostJob, HostRun, Limits, MatrixRun, Progress};
pub use shard::Shard;
