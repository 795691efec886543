//! `rdpshim diagnose` against every lab server: the right root causes and no wrong one,
//! TLS findings equal to `sslscan --rdp`, security layers that agree with nmap's
//! rdp-enum-encryption where nmap is right, and what only the acceptor can stage
//! (multitransport advertised, a socket closed after TLS).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::{run, LabServer, Run, RDPSHIM};
use rdpshim_test_acceptor::{spawn, Args};
use serde_json::Value;

/// Exit codes of `diagnose` (see `rdpshim diagnose --help`): 0 no blocking cause (a
/// healthy server may still have conditional causes and weaknesses), 4 a blocking one.
const HEALTHY: i32 = 0;
const CAUSE_FOUND: i32 = 4;
const UNREACHABLE: i32 = 5;

fn diagnose_target(mut command: Command, target: &str) -> Value {
    command
        .args(["diagnose", target, "--json", "--timeout", "3"])
        .env_remove("RUST_LOG");
    let run: Run = run(command, None);
    assert_ne!(run.code, 101, "rdpshim panicked:\n{}", run.stderr);
    let mut json = run.json();
    json["exit"] = Value::from(run.code);
    json
}

fn diagnose(server: &LabServer) -> Value {
    diagnose_target(server.command(RDPSHIM), &server.dial_addr())
}

fn found(json: &Value) -> BTreeSet<String> {
    json["found"]
        .as_array()
        .expect("`found` is an array")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Starts `kind`, diagnoses it, and checks the causes found are exactly `expected`.
fn expect_causes(kind: &str, expected: &[&str], exit: i32) -> (LabServer, Value) {
    let server = LabServer::start(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    let json = diagnose(&server);
    let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found(&json),
        want,
        "{kind}: causes found\n{}",
        serde_json::to_string_pretty(&json["verdicts"]).unwrap_or_default()
    );
    assert_eq!(json["exit"], exit, "{kind}: exit code");
    for verdict in json["verdicts"].as_array().expect("verdicts") {
        assert!(
            !verdict["evidence"].as_str().unwrap_or("").is_empty(),
            "{kind}: every verdict carries evidence: {verdict}"
        );
        let is_found = verdict["status"] == "found";
        assert_eq!(
            verdict["remedy"].is_object(),
            is_found,
            "{kind}: a remedy exactly when found: {verdict}"
        );
    }
    (server, json)
}

fn layer<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["security_layers"]
        .as_array()
        .expect("security_layers")
        .iter()
        .find(|l| l["layer"] == name)
        .unwrap_or_else(|| panic!("no {name} layer probe"))
}

// ------------------------------------------------------------------ sslscan

type Suites = BTreeSet<(String, String)>;

/// TLS versions and (version, suite) pairs `sslscan --rdp` reports.
fn sslscan(addr: &str) -> (BTreeSet<String>, Suites) {
    let out = Command::new("sslscan")
        .args([
            "--rdp",
            "--no-colour",
            "--no-heartbleed",
            "--no-renegotiation",
            "--no-compression",
            "--no-fallback",
            "--no-groups",
            "--no-check-certificate",
            addr,
        ])
        .output()
        .expect("sslscan is installed (tests/lab/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut versions = BTreeSet::new();
    let mut suites = BTreeSet::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [version, "enabled", ..] if version.starts_with("TLSv") => {
                versions.insert(version.to_string());
            }
            ["Accepted" | "Preferred", version, _bits, "bits", suite, ..] => {
                suites.insert((version.to_string(), suite.to_string()));
            }
            _ => {}
        }
    }
    (versions, suites)
}

/// The same facts from rdpshim's JSON, in sslscan's spelling.
fn ours(json: &Value) -> (BTreeSet<String>, Suites) {
    let mut versions = BTreeSet::new();
    let mut suites = BTreeSet::new();
    for v in json["tls"]["versions"].as_array().into_iter().flatten() {
        let version = format!("TLSv{}", v["version"].as_str().unwrap_or("?"));
        if v["accepted"] == true {
            versions.insert(version.clone());
        }
        for s in v["suites"].as_array().into_iter().flatten() {
            suites.insert((version.clone(), s["name"].as_str().unwrap_or("").to_owned()));
        }
    }
    (versions, suites)
}

fn assert_tls_equals_sslscan(server: &LabServer, json: &Value) {
    let (theirs_v, theirs_s) = sslscan(&server.addr());
    let (ours_v, ours_s) = ours(json);
    assert_eq!(ours_v, theirs_v, "{}: TLS versions vs sslscan", server.kind);
    assert_eq!(
        ours_s,
        theirs_s,
        "{}: suites vs sslscan (only ours: {:?}; only sslscan: {:?})",
        server.kind,
        ours_s.difference(&theirs_s).collect::<Vec<_>>(),
        theirs_s.difference(&ours_s).collect::<Vec<_>>()
    );
}

// ------------------------------------------------------------------ nmap

/// nmap rdp-enum-encryption's "Security layer" lines: our layer name -> `SUCCESS` or the
/// failure code. `None` when the script printed no such section (it fails on xrdp's TLS-only
/// servers while parsing their MCS answer).
fn nmap_layers(server: &LabServer) -> Option<BTreeMap<String, String>> {
    let out = Command::new("nmap")
        .args(["-Pn", "-n", "-d", "-p"])
        .arg(server.port.to_string())
        .args(["--script", "+rdp-enum-encryption", &server.host])
        .output()
        .expect("nmap is installed (tests/lab/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut layers = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start_matches(['|', '_', ' ']);
        let Some((name, result)) = line.split_once(": ") else {
            continue;
        };
        let ours = match name {
            "Native RDP" => "rdp",
            "SSL" => "tls",
            "CredSSP (NLA)" => "nla",
            "CredSSP with Early User Auth" => "hybrid-ex",
            "RDSTLS" => "rdstls",
            _ => continue,
        };
        let result = match result.trim() {
            "SUCCESS" => "SUCCESS".to_owned(),
            failed => failed
                .trim_start_matches("FAILED (")
                .trim_end_matches(')')
                .to_owned(),
        };
        layers.insert(ours.to_owned(), result);
    }
    (!layers.is_empty()).then_some(layers)
}

/// nmap's SUCCESS means "a negotiation response came back", whatever protocol it selected;
/// ours means "the protocol asked for was selected". So: every nmap SUCCESS is a selection
/// in ours, every nmap failure code is ours too, and the layers nmap over-reports are
/// returned (each one a selection of something else).
fn agree_with_nmap(server: &LabServer, json: &Value) -> Vec<String> {
    let nmap = nmap_layers(server)
        .unwrap_or_else(|| panic!("{}: nmap printed no security layers", server.kind));
    let mut over_reported = Vec::new();
    for (name, result) in &nmap {
        let probe = layer(json, name);
        let answer = &probe["answer"];
        if result == "SUCCESS" {
            assert_eq!(
                answer["kind"], "selected",
                "{}: {name}: nmap SUCCESS",
                server.kind
            );
            if probe["accepted"] != true {
                over_reported.push(format!("{name} (selected {})", answer["name"]));
            }
        } else {
            assert_eq!(
                answer["kind"], "refused",
                "{}: {name}: nmap {result}",
                server.kind
            );
            assert_eq!(answer["code"], result.as_str(), "{}: {name}", server.kind);
        }
    }
    over_reported
}

// ------------------------------------------------------------------ real servers

#[test]
fn modern_xrdp_is_tls_only_and_its_tls_equals_sslscan() {
    require_lab!();
    let (server, json) = expect_causes(
        "xrdp-modern",
        &[
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        HEALTHY,
    );
    assert_tls_equals_sslscan(&server, &json);
    assert_eq!(json["tls"]["modern_client_ok"], true);
    let cert = &json["certificate"];
    assert_eq!(cert["key_type"], "RSA");
    assert_eq!(cert["key_bits"], 2048);
    assert_eq!(cert["signature_algorithm"], "sha256WithRSAEncryption");
    assert!(cert["san"].to_string().contains("DNS:localhost"), "{cert}");
    assert_eq!(cert["expired"], false);
    assert_eq!(json["multitransport"]["advertised"], "no");
}

#[test]
fn tls_1_0_only_is_a_version_mismatch() {
    require_lab!();
    let (server, json) = expect_causes(
        "xrdp-tls10",
        &["tls-version", "nla-refused", "certificate-self-signed"],
        CAUSE_FOUND,
    );
    assert_tls_equals_sslscan(&server, &json);
    assert_eq!(json["tls"]["modern_client_ok"], false);
}

#[test]
fn cbc_only_is_a_cipher_mismatch() {
    require_lab!();
    let (server, json) = expect_causes(
        "xrdp-aes128sha",
        &["cipher", "nla-refused", "certificate-self-signed"],
        CAUSE_FOUND,
    );
    assert_tls_equals_sslscan(&server, &json);
    assert_eq!(json["tls"]["modern_client_ok"], false);
}

#[test]
fn an_expired_certificate_is_named() {
    require_lab!();
    let (server, json) = expect_causes(
        "xrdp-expired",
        &[
            "certificate-expired",
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        HEALTHY,
    );
    assert_tls_equals_sslscan(&server, &json);
    assert_eq!(json["certificate"]["expired"], true);
    assert!(json["certificate"]["not_after"]
        .as_str()
        .unwrap_or("")
        .starts_with("2021-01-01"));
}

#[test]
fn standard_rdp_security_only_and_where_nmap_over_reports() {
    require_lab!();
    let (server, json) = expect_causes(
        "xrdp-rdp-only",
        &["rdp-security-only", "nla-refused"],
        CAUSE_FOUND,
    );
    assert_tls_equals_sslscan(&server, &json);
    assert!(json["tls"].is_null(), "no TLS handshake is possible");
    let over = agree_with_nmap(&server, &json);
    // xrdp answers every request by selecting Standard RDP Security; nmap calls each SUCCESS.
    assert!(
        over.iter().any(|l| l.starts_with("tls")) && over.iter().any(|l| l.starts_with("nla")),
        "nmap reports TLS and NLA as SUCCESS although RDP was selected: {over:?}"
    );
}

#[test]
fn nla_required_names_the_server_in_ntlm() {
    require_lab!();
    let (server, json) = expect_causes(
        "shadow-nla",
        &[
            "nla-required",
            "certificate-name",
            "certificate-self-signed",
            "no-forward-secrecy",
            "bluekeep",
        ],
        HEALTHY,
    );
    assert_tls_equals_sslscan(&server, &json);
    let nla = &json["nla"];
    assert_eq!(nla["required"], "yes");
    assert_eq!(nla["offered"], "yes");
    assert!(nla["credssp_version"].as_u64().unwrap_or(0) >= 2, "{nla}");
    let ntlm = &nla["ntlm"];
    assert!(
        !ntlm["netbios_computer"].as_str().unwrap_or("").is_empty(),
        "the NTLM CHALLENGE names the machine: {ntlm}"
    );
    assert!(ntlm["product_version"].as_str().unwrap_or("").contains('.'));
    assert_eq!(json["multitransport"]["advertised"], "unknown");
    let over = agree_with_nmap(&server, &json);
    assert!(over.is_empty(), "nmap is right about this server: {over:?}");
}

#[test]
fn tls_only_shadow_refuses_nla_which_nmap_calls_success() {
    require_lab!();
    let (server, json) = expect_causes(
        "shadow-tls",
        &[
            "nla-refused",
            "certificate-name",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        HEALTHY,
    );
    assert_tls_equals_sslscan(&server, &json);
    let over = agree_with_nmap(&server, &json);
    assert_eq!(over.len(), 1, "only NLA is over-reported: {over:?}");
    assert!(over[0].starts_with("nla"), "{over:?}");
    assert_eq!(json["multitransport"]["advertised"], "no");
}

#[test]
fn a_socket_closed_after_x224_is_closed_before_tls() {
    require_lab!();
    expect_causes("closer", &["closed-before-tls"], CAUSE_FOUND);
}

#[test]
fn a_silent_server_costs_one_time_limit() {
    require_lab!();
    let (_server, json) = expect_causes("staller", &["not-answering"], CAUSE_FOUND);
    let not_probed = json["security_layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["answer"]["kind"] == "not-probed")
        .count();
    assert_eq!(
        not_probed, 4,
        "after one unanswered request the rest are not sent"
    );
}

#[test]
fn a_tls_staller_is_not_answering_and_refuses_nla_at_x224() {
    require_lab!();
    expect_causes(
        "staller-tls",
        &["not-answering", "nla-refused"],
        CAUSE_FOUND,
    );
}

#[test]
fn a_name_whose_first_address_is_dead_is_a_name_resolution_cause() {
    require_lab!();
    let (_server, json) = expect_causes(
        "ipv6-first",
        &[
            "name-resolution",
            "nla-refused",
            "certificate-self-signed",
            "no-forward-secrecy",
        ],
        CAUSE_FOUND,
    );
    let addresses = json["dns"]["addresses"].as_array().expect("addresses");
    assert_eq!(
        addresses.len(),
        2,
        "both addresses are listed: {addresses:?}"
    );
    assert_eq!(addresses[0]["tcp"], "refused");
    assert_eq!(addresses[1]["tcp"], "connected");
}

#[test]
fn firewall_drop_is_filtered() {
    require_lab!();
    let (_server, json) = expect_causes("netns-drop", &["port-filtered"], UNREACHABLE);
    assert_eq!(json["dns"]["addresses"][0]["tcp"], "timeout");
}

#[test]
fn firewall_reject_is_refused() {
    require_lab!();
    let (_server, json) = expect_causes("netns-reject", &["port-refused"], UNREACHABLE);
    assert_eq!(json["dns"]["addresses"][0]["tcp"], "refused");
}

#[test]
fn a_name_that_does_not_resolve() {
    require_lab!();
    let json = diagnose_target(Command::new(RDPSHIM), "no-such-host.invalid:3389");
    assert_eq!(found(&json), BTreeSet::from(["name-resolution".to_owned()]));
    assert_eq!(json["exit"], UNREACHABLE);
}

/// nmap rdp-enum-encryption's "RDP Encryption level" and the methods it calls SUCCESS.
fn nmap_encryption(server: &LabServer) -> (Option<String>, BTreeSet<String>) {
    let out = Command::new("nmap")
        .args(["-Pn", "-n", "-p"])
        .arg(server.port.to_string())
        .args(["--script", "+rdp-enum-encryption", &server.host])
        .output()
        .expect("nmap is installed (tests/lab/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut level = None;
    let mut methods = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start_matches(['|', '_', ' ']);
        if let Some(l) = line.strip_prefix("RDP Encryption level: ") {
            level = Some(l.trim().to_owned());
        } else if let Some(method) = line.strip_suffix(": SUCCESS") {
            if method.contains("RC4") || method.starts_with("FIPS") {
                methods.insert(method.to_owned());
            }
        }
    }
    (level, methods)
}

/// The Standard RDP Security encryption levels, found with an MCS Connect Initial per
/// method, equal nmap's rdp-enum-encryption on xrdp at each crypt_level (nmap prints no
/// level when it is None).
#[test]
fn standard_rdp_security_levels_equal_nmaps() {
    require_lab!();
    let rows: [(&str, &str, &[&str]); 4] = [
        ("xrdp-rdp-only", "None", &[]),
        ("xrdp-rdp-low", "Low", &["40-bit RC4"]),
        ("xrdp-rdp-fips", "FIPS Compliant", &["FIPS 140-1"]),
        ("xrdp-negotiate", "High", &["128-bit RC4"]),
    ];
    for (kind, level, methods) in rows {
        let server = crate::common::start(kind);
        let json = diagnose(&server);
        let found = &json["rdp_security"];
        let ours_level = match found["level"].as_str() {
            Some("none") => "None",
            Some("low") => "Low",
            Some("client-compatible") => "Client Compatible",
            Some("high") => "High",
            Some("fips") => "FIPS Compliant",
            other => panic!("{kind}: level {other:?}: {found}"),
        };
        let ours: BTreeSet<String> = found["methods"]
            .as_array()
            .expect("methods")
            .iter()
            .filter(|m| m["accepted"] == true)
            .map(|m| {
                match m["method"].as_str().unwrap_or("") {
                    "40-bit" => "40-bit RC4",
                    "56-bit" => "56-bit RC4",
                    "128-bit" => "128-bit RC4",
                    _ => "FIPS 140-1",
                }
                .to_owned()
            })
            .collect();
        let want: BTreeSet<String> = methods.iter().map(|m| m.to_string()).collect();
        assert_eq!((ours_level, &ours), (level, &want), "{kind}: ours");
        let (nmap_level, nmap_methods) = nmap_encryption(&server);
        assert_eq!(nmap_methods, want, "{kind}: nmap");
        if level != "None" {
            assert_eq!(nmap_level.as_deref(), Some(level), "{kind}: nmap's level");
        }
        let verdicts = json["verdicts"].as_array().expect("verdicts");
        let cause = if kind == "xrdp-negotiate" {
            "rdp-security-offered"
        } else {
            "rdp-security-only"
        };
        let verdict = verdicts.iter().find(|v| v["cause"] == cause).expect(cause);
        assert_eq!(verdict["status"], "found", "{kind}: {verdict}");
        assert!(
            verdict["evidence"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("encryption level {level}")),
            "{kind}: the levels are the evidence: {verdict}"
        );
    }
}

/// A web server, and a port that speaks TLS straight away, are not RDP servers: told from
/// the first bytes they answer with, or from a TLS handshake without X.224.
#[test]
fn a_port_that_is_not_rdp_says_what_it_speaks() {
    require_lab!();
    let (_server, json) = expect_causes("http", &["not-rdp"], CAUSE_FOUND);
    let answer = &layer(&json, "tls")["answer"];
    assert_eq!(answer["kind"], "not-rdp", "{answer}");
    assert_eq!(answer["speaks"], "http", "{answer}");
    let (_server, json) =
        expect_causes("tls-plain", &["not-rdp", "closed-before-tls"], CAUSE_FOUND);
    assert_eq!(json["tls_without_x224"], "yes");
}

/// On a terminal, diagnose says what it is doing while it probes (stderr); without one,
/// stderr stays quiet and --json is one object on stdout.
#[test]
fn progress_on_a_terminal_and_one_json_object_without() {
    require_lab!();
    let server = crate::common::start("staller");
    let command = format!(
        "{RDPSHIM} diagnose {} --timeout 2 >/dev/null",
        server.addr()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script (util-linux) runs a command on a terminal");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(
        tty.contains(&format!("diagnose {}: ", server.addr())) && tty.contains("connections"),
        "a progress line on the terminal: {tty:?}"
    );
    assert!(
        tty.contains("\r\x1b[2K"),
        "rewritten in place and erased: {tty:?}"
    );

    let run = run(
        {
            let mut c = Command::new(RDPSHIM);
            c.args(["diagnose", &server.addr(), "--json", "--timeout", "2"]);
            c
        },
        None,
    );
    assert!(
        run.stderr.is_empty(),
        "no progress without a terminal: {:?}",
        run.stderr
    );
    let _ = run.json();
}

// ------------------------------------------------------------------ acceptor

fn acceptor(mode: &str) -> String {
    spawn(Args::for_mode(mode))
        .expect("the acceptor starts")
        .to_string()
}

#[test]
fn multitransport_is_reported_when_the_server_advertises_it() {
    let offering = diagnose_target(Command::new(RDPSHIM), &acceptor("offer-udp"));
    let mt = &offering["multitransport"];
    assert_eq!(mt["advertised"], "yes", "{mt}");
    assert!(
        mt["flags"].to_string().contains("TRANSPORT_TYPE_UDP"),
        "{mt}"
    );
    assert!(mt["rdp_version"].is_string(), "{mt}");
}

#[test]
fn a_socket_closed_after_tls_is_named() {
    let json = diagnose_target(Command::new(RDPSHIM), &acceptor("close-after-tls"));
    assert!(
        found(&json).contains("closed-after-tls"),
        "{}",
        serde_json::to_string_pretty(&json["verdicts"]).unwrap_or_default()
    );
    assert!(!found(&json).contains("closed-before-tls"));
}

#[test]
fn garbage_instead_of_the_mcs_connect_response_is_reported_not_a_panic() {
    let mut args = Args::for_mode("garbage-after-x224");
    args.seed = Some(11);
    args.garbage_at = rdpshim_test_acceptor::GarbageAt::Mcs;
    let target = spawn(args).expect("the acceptor starts").to_string();
    for _ in 0..5 {
        // Each run sees other garbage: the acceptor's seed moves on with every connection.
        let json = diagnose_target(Command::new(RDPSHIM), &target);
        let mt = &json["multitransport"];
        assert_eq!(mt["advertised"], "unknown", "{mt}");
        assert!(mt["detail"].is_string(), "the garbage is described: {mt}");
        assert_eq!(json["tls"]["modern_client_ok"], true, "TLS is unaffected");
    }
}
