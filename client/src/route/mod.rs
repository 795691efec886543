//! Routes to the RDP server other than dialling it directly: today, through an RD Gateway
//! ([`gateway`], MS-TSGU over HTTPS). A route produces a byte stream that reaches the
//! server; [`crate::engine::run_attempt_over`] makes the attempt over it, X.224 onwards,
//! exactly as over TCP.
//!
//! Routes open no sockets themselves: their connections come from
//! [`crate::engine::open_tls_channel`], so the engine stays the only module with sockets and
//! a route's TLS goes through the same stacks, versions and suites as the RDP leg's.

pub mod gateway;
