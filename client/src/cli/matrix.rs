//! `rdpshim matrix HOST...`: the regression harness.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// HOST[:PORT] targets.
    pub hosts: Vec<String>,
}

pub fn run(_args: &MatrixArgs) -> ExitCode {
    eprintln!("rdpshim matrix: not yet implemented");
    ExitCode::from(super::exit::USAGE)
}
