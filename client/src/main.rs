//! The `rdpshim` binary: parse flags, run the command, map the outcome to an exit code.
//! Thin on purpose; the work happens in the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::manual::parse();
    cli::logging::init(args.verbose);
    cli::style::init(args.global.color, args.global.quiet);
    match args.command {
        cli::args::Command::Connect(command) if command.bridge => {
            cli::bridge::run(&command.connect, &command.bridge_options)
        }
        cli::args::Command::Connect(command) => cli::connect::run(&command.connect),
        cli::args::Command::Open(open) => cli::open::run(&open),
        cli::args::Command::Profile(command) => cli::profile::run(&command),
        cli::args::Command::Import(import) => cli::profile::import(&import),
        cli::args::Command::Diagnose(diagnose) => cli::diagnose::run(&diagnose),
        cli::args::Command::Matrix(matrix) => cli::matrix::run(&matrix),
        cli::args::Command::Bridge(bridge) => cli::bridge::run(&bridge.connect, &bridge.options),
        cli::args::Command::Generate(generate) => cli::generate::run(&generate),
    }
}
