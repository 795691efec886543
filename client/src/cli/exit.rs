//! Exit codes, and what each means to each subcommand: the one table that `--help`
//! (`after_help`) and README's table are written from (a test holds README to it).

use std::process::ExitCode;

use rdpshim::planner::VerdictKind;
use rdpshim::report::FailureClass;

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
/// `-o`, a matrix baseline, configs, hosts or JUnit file, the bridge's certificate or its
/// `--rdp` file (missing, not a regular file, a symbolic link, too large, does not parse as
/// a profile or `.rdp` file, permissions, disk full).
pub const LOCAL_FILE: u8 = 9;
/// `rdpshim open`: no client was started (none installed, or it would not start). A client
/// that cannot express the configuration is started through the bridge. Once a client
/// runs, `open` exits with its status.
pub const NO_CLIENT: u8 = 10;

/// Codes and their meaning for one subcommand.
pub type Codes = &'static [(u8, &'static str)];

pub const CONNECT: Codes = &[
    (CONNECTED, "connected (first frame decoded)"),
    (USAGE, "usage error"),
    (
        AUTH_FAILED,
        "authentication failed (wrong password, unknown user, account restrictions, NLA needs credentials)",
    ),
    (
        NO_WORKING_CONFIGURATION,
        "no working configuration (the diagnosis says why)",
    ),
    (
        UNREACHABLE,
        "unreachable (DNS failure, connection refused, no answer)",
    ),
    (
        REFUSED_BY_POLICY,
        "refused by policy (--min-security, or a possible downgrade against the profile)",
    ),
    (
        CERTIFICATE_CHANGED,
        "certificate changed (see both fingerprints; --accept-new-cert to trust the new one)",
    ),
];

pub const OPEN: Codes = &[
    (
        CONNECTED,
        "the client ran and exited with 0 (once a client started, open exits with its status)",
    ),
    (
        USAGE,
        "usage error, or the bridge for a client that needs one cannot listen",
    ),
    (AUTH_FAILED, "authentication failed (as connect; no client started)"),
    (NO_WORKING_CONFIGURATION, "no working configuration (as connect)"),
    (UNREACHABLE, "unreachable (as connect)"),
    (REFUSED_BY_POLICY, "refused by policy (as connect)"),
    (CERTIFICATE_CHANGED, "certificate changed (as connect)"),
    (
        LOCAL_FILE,
        "the file for the client (.remmina, .rdp) cannot be written in the private runtime directory, or the bridge's certificate cannot be read or written",
    ),
    (
        NO_CLIENT,
        "no client started: none installed, or it would not start (a client that cannot express the configuration goes through the bridge)",
    ),
];

pub const DIAGNOSE: Codes = &[
    (
        CONNECTED,
        "no blocking cause found (conditional causes and weaknesses may be listed)",
    ),
    (USAGE, "usage error"),
    (
        NO_WORKING_CONFIGURATION,
        "a blocking cause found: the stock client fails (see the causes)",
    ),
    (
        UNREACHABLE,
        "the server was not reached (name, refused, filtered)",
    ),
];

pub const MATRIX: Codes = &[
    (
        CONNECTED,
        "the matrix ran (cells that fail are results, not errors): with --baseline, no regression; without, at least one cell connected",
    ),
    (USAGE, "usage error (also: shards that are not the N parts of one host list)"),
    (
        NO_WORKING_CONFIGURATION,
        "no --baseline and not one cell connected (every host down, or refusing every configuration)",
    ),
    (
        REGRESSION,
        "a cell regressed against --baseline (ok before, a failure now)",
    ),
    (
        LOCAL_FILE,
        "a baseline, configs, hosts or JUnit file that cannot be read or written",
    ),
];

/// `rdpshim bridge` (and `connect --bridge`): connect's codes while the configuration is
/// found; afterwards, with `--once`, how the one session went.
pub const BRIDGE: Codes = &[
    (
        CONNECTED,
        "stopped by Ctrl-C; with --once: the session was carried until one side ended it",
    ),
    (
        USAGE,
        "usage error, the --listen address cannot be used, or the configuration goes through an RD Gateway (not carried)",
    ),
    (
        AUTH_FAILED,
        "authentication failed; with --once: the client was refused (wrong user name or password)",
    ),
    (
        NO_WORKING_CONFIGURATION,
        "no working configuration; with --once: the session failed before it started",
    ),
    (
        UNREACHABLE,
        "unreachable; with --once: the session's server leg could not reach the server",
    ),
    (
        REFUSED_BY_POLICY,
        "refused by policy (--min-security, or a possible downgrade against the profile)",
    ),
    (
        CERTIFICATE_CHANGED,
        "certificate changed (when connecting, or on a session's server leg)",
    ),
    (
        LOCAL_FILE,
        "the bridge's certificate or key, or the --rdp file, cannot be read or written",
    ),
];

pub const PROFILE: Codes = &[
    (CONNECTED, "done"),
    (USAGE, "usage error"),
    (
        LOCAL_FILE,
        "a local file or profile that cannot be read or written (none saved, one that does not parse, an output that cannot be written)",
    ),
];

/// Every code, for `rdpshim --help`.
pub const ALL: Codes = &[
    (CONNECTED, "success"),
    (USAGE, "usage error"),
    (AUTH_FAILED, "connect, open, bridge: authentication failed"),
    (
        NO_WORKING_CONFIGURATION,
        "connect, bridge: no working configuration; diagnose: a blocking cause found; matrix: no cell connected",
    ),
    (UNREACHABLE, "connect, open, bridge, diagnose: unreachable"),
    (REFUSED_BY_POLICY, "connect, open, bridge: refused by policy"),
    (CERTIFICATE_CHANGED, "connect, open, bridge: certificate changed"),
    (REGRESSION, "matrix: a cell regressed against --baseline"),
    (
        LOCAL_FILE,
        "profile, import, matrix: a local file or profile cannot be read or written (open: the file for the client; bridge: its certificate, the --rdp file)",
    ),
    (
        NO_CLIENT,
        "open: no client started (once one runs, open exits with its status)",
    ),
];

/// The `Exit codes:` block of a subcommand's `--help`.
pub fn help(codes: Codes) -> String {
    let mut text = String::from("Exit codes:");
    for (code, meaning) in codes {
        text.push_str(&format!("\n  {code}  {meaning}"));
    }
    text
}

pub fn for_verdict(kind: VerdictKind) -> ExitCode {
    ExitCode::from(verdict_code(kind))
}

/// What a failure means as an exit code, for a bridged session that ended before it
/// started (`--once`): the verdict a connect would give for the same class.
pub fn for_failure(class: &FailureClass) -> ExitCode {
    ExitCode::from(match class {
        FailureClass::AuthFailed | FailureClass::CredentialsRequired => AUTH_FAILED,
        FailureClass::Dns | FailureClass::TcpRefused | FailureClass::TcpTimeout => UNREACHABLE,
        FailureClass::CertificateChanged => CERTIFICATE_CHANGED,
        _ => NO_WORKING_CONFIGURATION,
    })
}

fn verdict_code(kind: VerdictKind) -> u8 {
    match kind {
        VerdictKind::AuthFailed => AUTH_FAILED,
        VerdictKind::NoWorkingConfiguration => NO_WORKING_CONFIGURATION,
        VerdictKind::Unreachable => UNREACHABLE,
        VerdictKind::RefusedByPolicy => REFUSED_BY_POLICY,
        VerdictKind::CertificateChanged => CERTIFICATE_CHANGED,
    }
}

pub fn connected() -> ExitCode {
    ExitCode::from(CONNECTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README's exit code table lists every code a subcommand can exit with.
    #[test]
    fn readme_lists_every_code() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("### Exit codes")
            .nth(1)
            .expect("README has an Exit codes section");
        let listed: Vec<u8> = table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.trim_matches('|').split('|').next()?.trim().parse().ok())
            .collect();
        for codes in [CONNECT, OPEN, DIAGNOSE, MATRIX, BRIDGE, PROFILE, ALL] {
            for (code, meaning) in codes {
                assert!(
                    listed.contains(code),
                    "README lacks exit {code} ({meaning})"
                );
            }
        }
        let all: Vec<u8> = ALL.iter().map(|(c, _)| *c).collect();
        for code in listed {
            assert!(
                all.contains(&code),
                "README lists exit {code}, which no command uses"
            );
        }
    }

    #[test]
    fn every_verdict_has_a_connect_code() {
        for kind in [
            VerdictKind::AuthFailed,
            VerdictKind::NoWorkingConfiguration,
            VerdictKind::Unreachable,
            VerdictKind::RefusedByPolicy,
            VerdictKind::CertificateChanged,
        ] {
            let code = verdict_code(kind);
            for (name, codes) in [("connect", CONNECT), ("open", OPEN), ("bridge", BRIDGE)] {
                assert!(
                    codes.iter().any(|(c, _)| *c == code),
                    "{kind:?} exits {code}, which {name} --help does not list"
                );
            }
        }
    }
}
