//! The fallback planner, a crate of its own (`planner/`, package `rdpshim-planner`) so that
//! its purity is a compile-time fact: it is `no_std` and has no runtime, socket, TLS or
//! clock dependency. Re-exported here so that `rdpshim::planner::...` paths keep working.

pub use rdpshim_planner::*;
