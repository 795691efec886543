//! The invariants in ARCHITECTURE.md, checked by reading the source: each is a statement
//! about which module may import what, so a grep is the honest test.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Lines of non-test code (everything before a `#[cfg(test)]` module, and not `tests.rs`).
fn code_lines(file: &Path) -> Vec<String> {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return Vec::new();
    }
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .take_while(|line| !line.trim_start().starts_with("#[cfg(test)]"))
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(str::to_owned)
        .collect()
}

fn offenders(dir: &Path, forbidden: &[&str], except: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(dir) {
        let relative = file
            .strip_prefix(workspace())
            .unwrap()
            .display()
            .to_string();
        if except.iter().any(|e| relative.starts_with(e)) {
            continue;
        }
        for (number, line) in code_lines(&file).iter().enumerate() {
            for needle in forbidden {
                if line.contains(needle) {
                    found.push(format!(
                        "{relative}:{}: `{needle}` in: {}",
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_planner_does_no_io_and_reads_no_clock() {
    let planner = workspace().join("client/src/planner");
    let forbidden = [
        "tokio",
        "std::fs",
        "std::io",
        "TcpStream",
        "UdpSocket",
        "Instant",
        "SystemTime",
        "crate::engine",
        "crate::ladder",
        "lookup_host",
        "to_socket_addrs",
    ];
    let found = offenders(&planner, &forbidden, &[]);
    assert!(
        found.is_empty(),
        "the planner must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn diagnose_verdicts_are_pure() {
    // Findings come in as data from engine::probe; judging them does no I/O and reads no
    // clock, so every rule is a table test (client/src/diagnose/verdicts/tests.rs).
    let diagnose = workspace().join("client/src/diagnose");
    let forbidden = [
        "tokio",
        "std::fs",
        "std::io",
        "TcpStream",
        "Instant",
        "SystemTime",
        "crate::engine",
        "lookup_host",
    ];
    let found = offenders(&diagnose, &forbidden, &[]);
    assert!(
        found.is_empty(),
        "diagnose/ must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_engine_and_the_bridge_touch_sockets_or_speak_tls() {
    let client = workspace().join("client/src");
    let forbidden = [
        "tokio::net",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "rustls::",
        "openssl::",
        "lookup_host",
    ];
    let found = offenders(
        &client,
        &forbidden,
        &["client/src/engine/", "client/src/bridge/"],
    );
    assert!(
        found.is_empty(),
        "network code outside the engine and the bridge:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_bridge_only_accepts_every_outbound_connection_is_the_engines() {
    // bridge/ listens and speaks TLS as a server; dialling, resolving and client-side TLS
    // (the server leg) are engine::server_leg's, so every outbound connection goes through
    // the engine's timeouts, TLS stacks and certificate pinning.
    let bridge = workspace().join("client/src/bridge");
    let forbidden = [
        "TcpStream::connect",
        "TcpSocket",
        "UdpSocket",
        "lookup_host",
        "to_socket_addrs",
        "TlsConnector",
        "SslConnector",
        "ClientConfig",
        "tls::upgrade",
        "dial::",
    ];
    let found = offenders(&bridge, &forbidden, &[]);
    assert!(
        found.is_empty(),
        "the bridge dials or speaks client TLS itself:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_bridge_checks_the_client_before_it_authenticates_to_the_server() {
    // The bridge never gives anyone a session they could not get without it: in the
    // session's order, the client's CredSSP check comes before the server leg's CredSSP.
    let session = workspace().join("client/src/bridge/session.rs");
    let lines = code_lines(&session);
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("`{needle}` not found in bridge/session.rs"))
    };
    let verify = position("client_credssp::verify(");
    let authenticate = position(".authenticate(spec)");
    assert!(
        verify < authenticate,
        "bridge/session.rs authenticates to the server (line {}) before checking the client (line {})",
        authenticate + 1,
        verify + 1
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(".authenticate("))
            .count(),
        1,
        "one place uses the bridge's credentials on the server leg"
    );
}

#[test]
fn only_the_secret_module_and_credssp_config_see_the_clear_password() {
    let client = workspace().join("client/src");
    let found = offenders(
        &client,
        &[".expose()"],
        &[
            "client/src/secret/",
            "client/src/engine/connector_config.rs",
            "client/src/bridge/client_credssp.rs",
        ],
    );
    assert!(
        found.is_empty(),
        "the clear-text password escapes:\n{}",
        found.join("\n")
    );
}

#[test]
fn profiles_have_no_network_code_and_no_password() {
    let profiles = workspace().join("profiles/src");
    let forbidden = [
        "std::net::TcpStream",
        "tokio",
        "TcpStream",
        "UdpSocket",
        "lookup_host",
        "secret::",
        "keyring_core",
    ];
    let found = offenders(&profiles, &forbidden, &[]);
    assert!(
        found.is_empty(),
        "profiles/ must stay offline and secret-free:\n{}",
        found.join("\n")
    );
    let manifest = std::fs::read_to_string(workspace().join("profiles/Cargo.toml")).unwrap();
    for crate_name in ["tokio", "reqwest", "hyper", "rustls", "openssl", "keyring"] {
        assert!(
            !manifest.contains(crate_name),
            "profiles/Cargo.toml depends on {crate_name}"
        );
    }
}

#[test]
fn no_clap_below_the_cli() {
    let client = workspace().join("client/src");
    let found = offenders(
        &client,
        &["clap"],
        &["client/src/cli/", "client/src/main.rs"],
    );
    assert!(
        found.is_empty(),
        "clap types below the CLI:\n{}",
        found.join("\n")
    );
}
