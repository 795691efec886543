//! The `rdpshim-test-acceptor` binary: see the library docs for the modes.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use rdpshim_test_acceptor::{run, Args};

fn main() -> ExitCode {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
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
    let local = tokio::task::LocalSet::new();
    let ready = |address| {
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening {address}");
        let _ = stdout.flush();
    };
    match local.block_on(&runtime, run(args, ready)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
