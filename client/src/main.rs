//! The `rdpshim` binary: parse flags, run the command, map the outcome to an exit code.
//! Thin on purpose; the work happens in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    cli::logging::init(args.verbose);
    match args.command {
        cli::args::Command::Connect(connect) => cli::connect::run(&connect),
        cli::args::Command::Profile(command) => cli::profile::run(&command),
        cli::args::Command::Import(import) => cli::profile::import(&import),
        cli::args::Command::Diagnose(diagnose) => cli::diagnose::run(&diagnose),
        cli::args::Command::Matrix(matrix) => cli::matrix::run(&matrix),
        cli::args::Command::Bridge(bridge) => cli::bridge::run(&bridge),
        cli::args::Command::Generate { artifact } => cli::generate::run(artifact),
    }
}
