//! The regression harness: every configuration of a matrix against every host.
