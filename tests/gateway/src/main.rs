//! The `rdpshim-test-gateway` binary: see the library docs for the switches.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use rdpshim_test_gateway::{run, Args, Config};

fn main() -> ExitCode {
    let config = match Config::from_args(Args::parse()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ready = |address, fingerprint: &str| {
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening {address}");
        let _ = writeln!(stdout, "fingerprint {fingerprint}");
        let _ = stdout.flush();
    };
    match runtime.block_on(run(config, ready)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
