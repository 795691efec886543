//! Exit codes (documented in `--help` via `args::EXIT_CODES_HELP` and in README).

use std::process::ExitCode;

use rdpshim::planner::VerdictKind;

pub const CONNECTED: u8 = 0;
pub const USAGE: u8 = 2;
pub const AUTH_FAILED: u8 = 3;
pub const NO_WORKING_CONFIGURATION: u8 = 4;
pub const UNREACHABLE: u8 = 5;
pub const REFUSED_BY_POLICY: u8 = 6;
pub const CERTIFICATE_CHANGED: u8 = 7;
/// `rdpshim matrix --baseline`: a cell that was ok in the baseline fails now.
pub const REGRESSION: u8 = 8;
/// A local file or profile cannot be read or written: `import`, `profile ...`, an export's
/// `-o`, a matrix baseline or JUnit file (missing, not a regular file, a symbolic link,
/// too large, does not parse as a profile or `.rdp` file, permissions, disk full).
pub const LOCAL_FILE: u8 = 9;

pub fn for_verdict(kind: VerdictKind) -> ExitCode {
    ExitCode::from(match kind {
        VerdictKind::AuthFailed => AUTH_FAILED,
        VerdictKind::NoWorkingConfiguration => NO_WORKING_CONFIGURATION,
        VerdictKind::Unreachable => UNREACHABLE,
        VerdictKind::RefusedByPolicy => REFUSED_BY_POLICY,
        VerdictKind::CertificateChanged => CERTIFICATE_CHANGED,
    })
}

pub fn connected() -> ExitCode {
    ExitCode::from(CONNECTED)
}
