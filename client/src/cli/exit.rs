//! Exit codes (documented in `--help` via `args::EXIT_CODES_HELP` and in README).

use std::process::ExitCode;

use rdpshim::report::{AttemptReport, FailureClass, Stage};

pub const CONNECTED: u8 = 0;
pub const USAGE: u8 = 2;
pub const AUTH_FAILED: u8 = 3;
pub const NO_WORKING_CONFIGURATION: u8 = 4;
pub const UNREACHABLE: u8 = 5;

/// The exit code for a run whose last attempt is `last`.
pub fn for_report(last: &AttemptReport) -> ExitCode {
    let code = match &last.result {
        Ok(_) => CONNECTED,
        Err(failure) => match (&failure.class, failure.stage) {
            (FailureClass::AuthFailed, _) => AUTH_FAILED,
            (FailureClass::Dns | FailureClass::TcpRefused | FailureClass::TcpTimeout, _) => {
                UNREACHABLE
            }
            (FailureClass::Timeout, Stage::Dns | Stage::Tcp) => UNREACHABLE,
            _ => NO_WORKING_CONFIGURATION,
        },
    };
    ExitCode::from(code)
}
