//! Command-line front end: flag definitions, output rendering, exit codes.

pub mod args;
pub mod bridge;
pub mod connect;
pub mod credentials;
pub mod diagnose;
pub mod exit;
pub mod generate;
pub mod logging;
pub mod matrix;
pub mod profile;
pub mod progress;
pub mod render;
