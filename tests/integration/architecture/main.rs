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
fn only_the_engine_and_the_bridge_touch_sockets_or_speak_tls() {
    // The engine connects (and does client TLS); the bridge listens and does server TLS
    // (its own certificate, made with openssl); nothing else names a socket or TLS.
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
            offenders(
                dir,
                &forbidden,
                &["client/src/engine/", "client/src/bridge/"],
            ),
            "network code outside the engine and the bridge",
        );
    }
}

#[test]
fn the_bridge_only_accepts_every_outbound_connection_is_the_engines() {
    // bridge/ listens and speaks TLS as a server; dialling, resolving and client-side TLS
    // (the server leg) are engine::server_leg's, so every outbound connection goes through
    // the engine's timeouts, TLS stacks and certificate pinning.
    assert_none(
        offenders(
            "client/src/bridge",
            &[
                "TcpStream::connect",
                "TcpSocket",
                "UdpSocket",
                "lookup_host",
                "to_socket_addrs",
                "TlsConnector",
                "SslConnector",
                "ClientConfig",
                "tls::upgrade",
                "open_tls_channel",
                "dial::",
            ],
            &[],
        ),
        "the bridge dials or speaks client TLS itself",
    );
}

#[test]
fn the_bridge_reads_only_bounded_frames() {
    // A hostile client must not grow the bridge's memory either: before the splice every
    // read of either peer is one frame through engine/framing.rs (X.224 by its length
    // indicator, TSRequests as capped DER, MCS as TPKT), and the splice reads into its two
    // fixed buffers (`poll_read`). Nothing reads around the framing, to the end, or into a
    // growing buffer.
    let mut forbidden = UNCAPPED_READS.to_vec();
    forbidden.extend(["copy_bidirectional", "extend_from_slice"]);
    // (identity.rs reads the bridge's own certificate file, capped, through safe_file.)
    assert_none(
        offenders(
            "client/src/bridge",
            &forbidden,
            &["client/src/bridge/identity.rs"],
        ),
        "a read in the bridge around the capped framing (client/src/engine/framing.rs)",
    );
}

#[test]
fn the_bridge_checks_the_client_before_it_authenticates_to_the_server() {
    // The bridge never gives anyone a session they could not get without it: in the
    // session's order, the client's CredSSP check comes before the server leg's CredSSP
    // (the one place the bridge's credentials go to the server) and, through an RD
    // Gateway, before the tunnel the bridge opens with the gateway's account.
    let session = sources("client/src/bridge")
        .into_iter()
        .find(|s| s.path == "client/src/bridge/session.rs")
        .expect("client/src/bridge/session.rs");
    let lines = |needle: &str| -> Vec<usize> {
        session
            .lines_with(needle)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    let once = |needle: &str| {
        let found = lines(needle);
        assert_eq!(
            found.len(),
            1,
            "`{needle}` once in bridge/session.rs: {found:?}"
        );
        found[0]
    };
    // The lines of `fn name`'s body (up to the next `}` in column 0).
    let body = |name: &str| {
        let start = once(&format!("async fn {name}("));
        let end = session
            .code
            .lines()
            .enumerate()
            .skip(start)
            .find(|(_, l)| l.starts_with('}'))
            .map(|(i, _)| i + 1)
            .expect("the function ends");
        start..=end
    };
    let within = |needle: &str, name: &str| {
        let range = body(name);
        let found: Vec<usize> = lines(needle)
            .into_iter()
            .filter(|n| range.contains(n))
            .collect();
        assert_eq!(found.len(), 1, "`{needle}` once in `{name}`: {found:?}");
        found[0]
    };
    // One CredSSP check, in `verify_client`, which both orders call.
    within("client_credssp::verify(", "verify_client");
    let authenticate = within(".authenticate(", "run");
    for order in ["server_first", "proof_first"] {
        let called = within(&format!("{order}(client"), "run");
        assert!(
            called < authenticate,
            "bridge/session.rs authenticates to the server (line {authenticate}) before \
             `{order}` checked the client (line {called})"
        );
        within("verify_client(", order);
    }
    // Through an RD Gateway the tunnel (`negotiate`) opens only after the client proved.
    let proved = within("verify_client(", "proof_first");
    let tunnel = within("negotiate(", "proof_first");
    assert!(
        proved < tunnel,
        "bridge/session.rs opens the gateway tunnel (line {tunnel}) before checking the \
         client (line {proved})"
    );
    // Which order is the route's: through a gateway, the client proves first.
    within("if config.proof_first()", "run");
    assert_none(
        offenders(
            "client/src",
            &["server_leg::", "server_leg}", "server_leg,"],
            &["client/src/engine/", "client/src/bridge/session.rs"],
        ),
        "the server leg used outside the bridge's session",
    );
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
                // Hands the gateway password to ironrdp-mstsgu's NTLM/Negotiate/Basic exchange.
                "client/src/route/gateway/mod.rs",
                // The bridge's CredSSP server: sspi's NTLM server needs the clear password to
                // check a client's AUTHENTICATE (the NTLMv2 response is keyed by it). The
                // delegated password is compared inside secret/ (`Password::matches`).
                "client/src/bridge/client_credssp.rs",
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

#[test]
fn the_cli_does_no_application_work() {
    // Running the ladder, applying and recording a profile, finding and keeping passwords,
    // merging imports: `session` does these for every front end. The CLI turns flags into a
    // request, renders, and picks an exit code.
    let application = [
        "ladder::run",
        "saved::",
        "start_from",
        "record_success",
        "record_failure",
        ".update(",
        "remember_address",
        "from_environment",
        "PasswordSource::Stdin",
        "secret::store",
        "os_store",
        "engine::run_attempt",
    ];
    assert_none(
        offenders("client/src/cli", &application, &[]),
        "application work in the CLI (it belongs in session/)",
    );
}

#[test]
fn errors_below_the_cli_are_typed() {
    // The last `Result<_, String>` signatures (certificates, NTLM and GCC probes, TLS
    // configuration, screenshots) became thiserror enums with issue 9; text is made at the
    // edge (the CLI, a report's `detail`).
    let mut found = Vec::new();
    for dir in ["client/src", "planner/src", "profiles/src"] {
        for source in sources(dir) {
            if source.path.starts_with("client/src/cli/") || source.path == "client/src/main.rs" {
                continue;
            }
            for signature in source.fn_signatures() {
                if signature.returns_string_error() {
                    found.push(format!("{}: {}", source.path, signature.text));
                }
            }
        }
    }
    assert_none(
        found,
        "Result<_, String> below the CLI (a thiserror enum, text at the edge)",
    );
}

#[test]
fn every_invariant_names_a_check_that_exists() {
    let text =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = text
        .split("## Architecture invariants")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("an Architecture invariants section");
    let invariants: Vec<&str> = section.split("\n- **").skip(1).collect();
    assert!(invariants.len() >= 10, "{} invariants", invariants.len());
    for invariant in invariants {
        let title = invariant.split("**").next().unwrap_or(invariant);
        let checks = invariant
            .split("Checked by")
            .nth(1)
            .unwrap_or_else(|| panic!("invariant `{title}` names no check (`Checked by ...`)"));
        let named: Vec<&str> = checks.split('`').skip(1).step_by(2).collect();
        assert!(!named.is_empty(), "invariant `{title}` names no check");
        for check in named {
            let (file, function) = check
                .rsplit_once("::")
                .unwrap_or_else(|| panic!("`{check}`: expected path/to/file.rs::function"));
            let source = std::fs::read_to_string(workspace().join(file))
                .unwrap_or_else(|e| panic!("`{check}` (invariant `{title}`): {file}: {e}"));
            assert!(
                source.contains(&format!("fn {function}(")),
                "`{check}` (invariant `{title}`): no fn {function} in {file}"
            );
        }
    }
}

#[test]
fn cli_modules_import_in_one_direction() {
    // args.rs once imported diagnose.rs and generate.rs, which imported args.rs back. Flag
    // definitions (args, flags) and exit codes are below the subcommands that use them.
    let mut edges: Vec<(String, String)> = Vec::new();
    for source in sources("client/src/cli") {
        let from = source
            .path
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".rs"))
            .unwrap_or("")
            .to_owned();
        let mut code = source.code.clone();
        code.push_str(&source.use_paths().join("\n"));
        for marker in ["super::", "crate::cli::"] {
            for piece in code.split(marker).skip(1) {
                let to: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !to.is_empty() && to != from && !edges.contains(&(from.clone(), to.clone())) {
                    edges.push((from.clone(), to));
                }
            }
        }
    }
    // A path from `to` back to `from` closes a circle.
    let reaches = |start: &str, goal: &str| {
        let mut seen = vec![start.to_owned()];
        let mut next = vec![start.to_owned()];
        while let Some(node) = next.pop() {
            for (a, b) in &edges {
                if *a == node && !seen.contains(b) {
                    if b == goal {
                        return true;
                    }
                    seen.push(b.clone());
                    next.push(b.clone());
                }
            }
        }
        false
    };
    let circles: Vec<String> = edges
        .iter()
        .filter(|(from, to)| reaches(to, from))
        .map(|(from, to)| format!("cli/{from}.rs -> cli/{to}.rs -> ... -> cli/{from}.rs"))
        .collect();
    assert_none(circles, "an import circle in cli/");
}

#[test]
fn only_safe_file_touches_the_file_system() {
    // No file is written through a symbolic link or outside where the user asked: every
    // open, create, rename and remove goes through `rdpshim_profiles::safe_file` (O_EXCL |
    // O_NOFOLLOW temporaries, one directory descriptor, bounded non-blocking reads).
    let forbidden = [
        "std::fs",
        "tokio::fs",
        "OpenOptions",
        "File::open",
        "File::create",
        "rustix::fs",
        "libc::open",
        "renameat",
        "unlinkat",
    ];
    let mut found = offenders("profiles/src", &forbidden, &["profiles/src/safe_file/"]);
    found.extend(offenders("client/src", &forbidden, &[]));
    found.extend(offenders("planner/src", &forbidden, &[]));
    assert_none(found, "file system calls outside profiles/src/safe_file");
}

#[test]
fn the_gateway_route_opens_no_sockets_of_its_own() {
    // ironrdp-mstsgu can dial and do its own TLS (`GwClient::connect*`); rdpshim uses it
    // only over the engine's connections (`connect_over_streams`), and only in the route.
    assert_none(
        offenders(
            "client/src",
            &["ironrdp_mstsgu"],
            &["client/src/route/gateway/"],
        ),
        "ironrdp-mstsgu outside the gateway route",
    );
    assert_none(
        offenders(
            "client/src/route",
            &[
                "GwClient::connect(",
                "GwClient::connect_with",
                "RpchClient",
                "RpchStream",
            ],
            &[],
        ),
        "the gateway route lets ironrdp-mstsgu open connections",
    );
}

/// Readers that trust a hint or read without a frame's cap: outside engine/framing.rs, none
/// may touch bytes from a server or a bridge's client.
const UNCAPPED_READS: [&str; 15] = [
    "read_by_hint(",
    "read_pdu(",
    "single_sequence_step",
    " perform_credssp(",
    "::perform_credssp(",
    "connect_finalize(",
    "read_exact(",
    "read_to_end(",
    "read_to_string(",
    "read_buf(",
    ".read(",
    "read_u8(",
    "read_u16(",
    "read_u32(",
    "BufReader",
];

#[test]
fn every_read_of_server_bytes_is_capped() {
    // Server bytes are read through engine/framing.rs, which sizes every frame from the
    // protocol's own length field under a cap, refuses a header no valid frame starts with
    // at once, and reads nothing past the frame (its tests feed it endless streams). ironrdp's
    // readers trust a hint and read on without end; a raw read would need a cap of its own.
    // Server streams exist only where sockets are opened (the engine, checked above) and
    // where the engine hands them on (the routes: the gateway tunnel); both are checked.
    // (Reading a local child's output, as handoff/ does, is not reading a server.)
    // The bridge reads its server leg through the engine (server_leg.rs) and its client
    // through the same framing (`the_bridge_reads_only_bounded_frames`).
    let mut found = Vec::new();
    for dir in ["client/src/engine", "client/src/route", "client/src/bridge"] {
        found.extend(offenders(
            dir,
            &UNCAPPED_READS,
            &[
                "client/src/engine/framing.rs",
                // The bridge's own certificate file, capped, through safe_file.
                "client/src/bridge/identity.rs",
            ],
        ));
    }
    assert_none(
        found,
        "server bytes read around the capped framing (client/src/engine/framing.rs)",
    );
}
