//! `rdpshim diagnose HOST[:PORT]`: probes without credentials, then a verdict per known
//! cause of mstsc's error 0x904.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// HOST[:PORT] (default port 3389).
    pub target: String,
    /// Print one JSON object with every finding and verdict.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: &DiagnoseArgs) -> ExitCode {
    eprintln!("rdpshim diagnose: not yet implemented");
    ExitCode::from(super::exit::USAGE)
}
