//! Command-line front end: flag definitions, output rendering, exit codes. The work is the
//! library's; this is flags in, text or JSON out, an exit code.

pub mod args;
pub mod bridge;
pub mod complete_hosts;
pub mod connect;
pub mod diagnose;
pub mod exit;
pub mod flags;
pub mod generate;
pub mod logging;
pub mod manual;
pub mod matrix;
pub mod open;
pub mod profile;
pub mod profile_view;
pub mod progress;
pub mod render;
pub mod request;
pub mod style;
