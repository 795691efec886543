//! Diagnosis without credentials: the findings the engine's probes fill in
//! ([`findings`]) and a verdict per known cause of mstsc's error 0x904 ([`verdicts`]),
//! decided without I/O so every rule is a table test.

pub mod findings;
pub mod verdicts;
