//! The lab tests: the real `rdpshim` binary against real servers (xrdp, freerdp-shadow,
//! started by the tests through `rdpshim-lab`) and, beside them, the in-process hostile
//! acceptor for what no real server here does. One test binary, a module per area.
//!
//! A test that needs the lab skips, saying why, when it cannot run here (not root, a
//! package missing: `tests/lab/install-deps.sh`); CI sets `RDPSHIM_LAB_REQUIRED=1`, which
//! turns every such skip into a failure.

#[macro_use]
mod common;

mod acceptor;
mod bridge;
mod causes;
mod conventions;
mod diagnose;
mod engine;
mod exports;
mod files;
mod gateway;
mod gateway_ladder;
mod hostile;
mod keyring;
mod ladder;
mod latency;
mod matrix;
mod open;
mod secrets;
mod terminal;
