//! The invariants in ARCHITECTURE.md, checked by reading the source and the manifests: each
//! is a statement about which code may name what, so reading the code is the honest test.
//! `source.rs` reads whole files (test code left out, comments and strings blanked, `use`
//! trees expanded); every invariant in ARCHITECTURE.md names the check that guards it, and
//! [`every_invariant_names_a_check_that_exists`] holds the document to that.

mod source;

use source::{offenders, sources, workspace};

/// The crates a manifest depends on (every `[dependencies]` table, per target too).
fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(manifest)).expect("a manifest");
    let table: toml::Table = toml::from_str(&text).expect("a valid manifest");
    let mut names: Vec<String> = Vec::new();
    let mut add = |deps: Option<&toml::Value>| {
        if let Some(deps) = deps.and_then(toml::Value::as_table) {
            names.extend(deps.keys().cloned());
        }
    };
    add(table.get("dependencies"));
    if let Some(targets) = table.get("target").and_then(toml::Value::as_table) {
        for target in targets.values() {
            add(target.get("dependencies"));
        }
    }
    names
}

fn assert_none(found: Vec<String>, why: &str) {
    assert!(found.is_empty(), "{why}:\n{}", found.join("\n"));
}

/// Files, sockets, the clock and the process environment.
const IO_AND_CLOCK: [&str; 12] = [
    "tokio",
    "std::fs",
    "std::io",
    "std::net::Tcp",
    "std::net::Udp",
    "std::env",
    "std::process",
    "std::thread",
    "Instant",
    "SystemTime",
    "lookup_host",
    "to_socket_addrs",
];

#[test]
fn the_planner_is_a_no_std_crate_whose_only_dependency_is_serde() {
    let lib = sources("planner/src")
        .into_iter()
        .find(|s| s.path == "planner/src/lib.rs")
        .expect("planner/src/lib.rs");
    assert!(
        !lib.lines_with("#![no_std]").is_empty(),
        "planner/src/lib.rs must be #![no_std]: std's files, sockets and clock out of scope"
    );
    assert_none(
        offenders("planner/src", &["extern crate std"], &[]),
        "std is for the planner's tests only",
    );
    assert_eq!(
        dependencies("planner/Cargo.toml"),
        ["serde"],
        "planner/Cargo.toml: serde's derive only (no runtime, socket, TLS or clock crate)"
    );
}

#[test]
fn diagnose_verdicts_are_pure() {
    // Findings come in as data from engine::probe; judging them does no I/O and reads no
    // clock, so every rule is a table test (client/src/diagnose/verdicts/tests.rs).
    let mut forbidden = IO_AND_CLOCK.to_vec();
    forbidden.extend(["crate::engine", "crate::ladder", "crate::secret"]);
    assert_none(
        offenders("client/src/diagnose", &forbidden, &[]),
        "diagnose/ must stay pure",
    );
}

#[test]
fn only_the_engine_opens_sockets_or_speaks_tls() {
    let forbidden = [
        "tokio::net",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "rustls::",
        "openssl::",
        "lookup_host",
        "to_socket_addrs",
    ];
    for dir in ["client/src", "planner/src", "profiles/src"] {
        assert_none(
            offenders(dir, &forbidden, &["client/src/engine/"]),
            "network code outside the engine",
        );
    }
}

#[test]
fn only_the_secret_module_and_credssp_config_see_the_clear_password() {
    assert_none(
        offenders(
            "client/src",
            &[".expose()"],
            &[
                "client/src/secret/",
                "client/src/engine/connector_config.rs",
            ],
        ),
        "the clear-text password escapes",
    );
}

#[test]
fn profiles_have_no_network_code_and_no_password() {
    let forbidden = [
        "tokio",
        "TcpStream",
        "UdpSocket",
        "lookup_host",
        "to_socket_addrs",
        "secret::",
        "keyring",
        "zeroize",
    ];
    assert_none(
        offenders("profiles/src", &forbidden, &[]),
        "profiles/ must stay offline and secret-free",
    );
    for name in dependencies("profiles/Cargo.toml") {
        // Not the client either: a profile cannot hold the client's `Password` type.
        for network in [
            "tokio", "reqwest", "hyper", "rustls", "openssl", "keyring", "zbus", "rdpshim",
        ] {
            assert!(
                !name.contains(network),
                "profiles/Cargo.toml depends on {name}"
            );
        }
    }
}

#[test]
fn no_clap_below_the_cli() {
    assert_none(
        offenders(
            "client/src",
            &["clap"],
            &["client/src/cli/", "client/src/main.rs"],
        ),
        "clap types below the CLI",
    );
    for manifest in ["planner/Cargo.toml", "profiles/Cargo.toml"] {
        assert!(
            !dependencies(manifest).iter().any(|d| d.starts_with("clap")),
            "{manifest} depends on clap"
        );
    }
}

#[test]
fn the_engine_never_panics_on_its_own() {
    // Server bytes reach the engine; a panic there is a crash a server can cause. Bounds
    // are checked and errors classified instead (fuzzing and the hostile acceptor test the
    // decoders; this keeps the engine's own code honest).
    assert_none(
        offenders(
            "client/src/engine",
            &[
                ".unwrap()",
                ".expect(",
                "panic!",
                "unreachable!",
                "todo!",
                "unimplemented!",
            ],
            &[],
        ),
        "a panic the server can trigger",
    );
}
