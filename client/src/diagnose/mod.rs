//! Diagnosis without credentials: the findings the engine's probes fill in
//! ([`findings`]) and a verdict per known cause of mstsc's error 0x904 ([`verdicts`]),
//! decided without I/O so every rule is a table test against the table of causes in
//! `rdpshim_planner::causes`. [`gateway`]: the RD Gateway's findings and its causes'
//! verdicts (`diagnose --gateway`). [`names`]: does a certificate name the host as typed;
//! [`progress`]: what the probes are doing, for a progress line.

pub mod findings;
pub mod gateway;
pub mod names;
pub mod progress;
pub mod verdicts;
