//! One attempt (`--no-fallback`) against every real lab server: the right knobs reach the
//! first frame, the wrong knobs end in the failure class the planner will branch on.

use crate::common::{assert_real_screenshot, connect, LabServer, Run};

/// Fails with everything needed to see why: the run's stderr and the server's logs.
fn expect(server: &LabServer, run: &Run, outcome: &str, stage: &str) {
    let ok = run.outcome() == outcome && run.stage() == stage;
    assert!(
        ok,
        "{}: expected {outcome} at {stage}, got {} at {} (exit {})\nstdout: {}\nstderr: {}\nserver logs:\n{}",
        server.kind,
        run.outcome(),
        run.stage(),
        run.code,
        run.stdout,
        run.stderr,
        server.logs()
    );
}

fn screenshot_path(server: &LabServer) -> String {
    server.dir().join("first-frame.png").display().to_string()
}

fn expect_first_frame(server: &LabServer, args: &[&str], stdin: Option<&str>) -> Run {
    let png = screenshot_path(server);
    let mut full = args.to_vec();
    full.extend(["--screenshot", &png]);
    let run = connect(server, &full, stdin);
    expect(server, &run, "ok", "first-frame");
    assert_eq!(run.code, 0, "exit code for a connection");
    let json = run.json();
    assert_eq!(json["connected"], true);
    let (w, h) = (
        json["desktop"]["width"].as_u64().unwrap() as u32,
        json["desktop"]["height"].as_u64().unwrap() as u32,
    );
    assert_eq!((w, h), (1024, 768), "desktop size");
    assert_real_screenshot(std::path::Path::new(&png), w, h);
    run
}

#[test]
fn xrdp_modern_tls_reaches_first_frame_and_refuses_nla_only() {
    let server = lab!("xrdp-modern");
    let run = expect_first_frame(&server, &["--nla", "off"], None);
    let attempt = run.attempt();
    assert_eq!(attempt["tls"]["stack"], "rustls");
    assert!(["1.2", "1.3"].contains(&attempt["tls"]["version"].as_str().unwrap()));
    assert_eq!(attempt["selected_protocol"], "ssl");
    let cert = &run.json()["certificate"];
    assert_eq!(
        cert["sha256"].as_str().unwrap().len(),
        95,
        "SHA-256 as AA:BB:.."
    );
    assert_eq!(cert["expired"], false);

    // NLA on = HYBRID only; this server does TLS only.
    let run = connect(&server, &[], None);
    expect(&server, &run, "negotiation-failure", "x224");
    assert_eq!(run.attempt()["code"], "SSL_REQUIRED_BY_SERVER");
    assert_eq!(run.code, 4);
}

#[test]
fn xrdp_tls10_needs_openssl_tls10() {
    let server = lab!("xrdp-tls10");
    let run = expect_first_frame(&server, &["--nla", "off", "--tls", "1.0"], None);
    assert_eq!(run.attempt()["tls"]["stack"], "openssl");
    assert_eq!(run.attempt()["tls"]["version"], "1.0");

    let run = connect(&server, &["--nla", "off"], None);
    expect(&server, &run, "tls-version-mismatch", "tls");
    let run = connect(
        &server,
        &["--nla", "off", "--tls-stack", "openssl", "--tls", "1.2"],
        None,
    );
    expect(&server, &run, "tls-version-mismatch", "tls");
}

#[test]
fn xrdp_aes128sha_needs_a_cbc_suite() {
    let server = lab!("xrdp-aes128sha");
    let args = [
        "--nla",
        "off",
        "--tls-stack",
        "openssl",
        "--tls",
        "1.2",
        "--ciphers",
        "AES128-SHA",
    ];
    let run = expect_first_frame(&server, &args, None);
    assert_eq!(run.attempt()["tls"]["cipher"], "AES128-SHA");

    let run = connect(&server, &["--nla", "off"], None);
    expect(&server, &run, "tls-cipher-mismatch", "tls");
    let run = connect(&server, &["--nla", "off", "--tls", "1.2"], None);
    expect(&server, &run, "tls-cipher-mismatch", "tls");
}

#[test]
fn xrdp_expired_certificate_connects_with_a_warning() {
    let server = lab!("xrdp-expired");
    let run = expect_first_frame(&server, &["--nla", "off"], None);
    let json = run.json();
    assert_eq!(json["certificate"]["expired"], true);
    assert_eq!(json["certificate"]["self_signed"], true);
    let warnings = json["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("expired")),
        "an expired certificate must be reported: {warnings:?}"
    );

    let run = connect(&server, &[], None);
    expect(&server, &run, "negotiation-failure", "x224");
}

#[test]
fn xrdp_standard_rdp_security_only_is_named() {
    let server = lab!("xrdp-rdp-only");
    for args in [&["--nla", "off"][..], &[][..]] {
        let run = connect(&server, args, None);
        expect(&server, &run, "rdp-security-only", "x224");
        assert_ne!(run.code, 0);
    }
}

#[test]
fn shadow_nla_with_credentials_reaches_first_frame() {
    let server = lab!("shadow-nla");
    let password = format!("{}\n", server.password);
    let run = expect_first_frame(
        &server,
        &["-u", &server.user, "--password-stdin"],
        Some(&password),
    );
    let protocol = run.attempt()["selected_protocol"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(protocol.starts_with("hybrid"), "NLA was used: {protocol}");

    let run = connect(&server, &["--nla", "off"], None);
    expect(&server, &run, "negotiation-failure", "x224");
    assert_eq!(run.attempt()["code"], "HYBRID_REQUIRED_BY_SERVER");
}

#[test]
fn shadow_nla_wrong_password_is_an_auth_failure_not_a_downgrade() {
    let server = lab!("shadow-nla");
    let run = connect(
        &server,
        &["-u", &server.user, "--password-stdin"],
        Some("not-the-password\n"),
    );
    let outcome = run.outcome();
    assert!(
        (outcome == "auth-failed" || outcome == "peer-closed") && run.stage() == "credssp",
        "wrong password must end at CredSSP as auth-failed/peer-closed, got {outcome} at {}\n{}",
        run.stage(),
        run.stderr
    );
    if outcome == "auth-failed" {
        assert_eq!(run.code, 3, "exit code for authentication failed");
    }
}

#[test]
fn shadow_tls_reaches_first_frame_without_nla() {
    let server = lab!("shadow-tls");
    expect_first_frame(&server, &["--nla", "off"], None);

    let run = connect(&server, &[], None);
    expect(&server, &run, "negotiation-failure", "x224");
    assert_eq!(run.attempt()["code"], "SSL_REQUIRED_BY_SERVER");
}

#[test]
fn socket_closed_after_x224_request_is_peer_closed() {
    let server = lab!("closer");
    let run = connect(&server, &["--nla", "off"], None);
    expect(&server, &run, "peer-closed", "x224");
    assert_eq!(run.code, 4);
}

#[test]
fn silent_server_times_out_at_the_stage_it_stopped() {
    let server = lab!("staller");
    let run = connect(&server, &["--nla", "off", "--timeout", "1"], None);
    expect(&server, &run, "timeout", "x224");

    let server = lab!("staller-tls");
    let run = connect(&server, &["--nla", "off", "--timeout", "1"], None);
    expect(&server, &run, "timeout", "tls");
    let ms = run.attempt()["ms"].as_f64().unwrap();
    assert!(
        ms < 5_000.0,
        "a 1 s stage limit must end the attempt well before 5 s, took {ms} ms"
    );
}

#[test]
fn name_resolving_to_dead_ipv6_first_races_on_to_the_ipv4_address() {
    let server = lab!("ipv6-first");
    let name = server.name.clone().expect("ipv6-first has a name");

    // Dialling by name races the name's addresses: ::1, where nothing listens, refuses at
    // once, and 127.0.0.1 is dialled without waiting (RFC 8305 5), all in one attempt.
    let run = expect_first_frame(&server, &["--nla", "off"], None);
    let attempt = run.attempt();
    assert_eq!(attempt["address"], format!("127.0.0.1:{}", server.port));
    let raced = attempt["raced"].as_array().expect("raced").clone();
    assert_eq!(raced.len(), 2, "{attempt}");
    assert_eq!(raced[0]["address"], format!("[::1]:{}", server.port));
    assert_eq!(raced[0]["outcome"], "tcp-refused");
    assert_eq!(raced[1]["address"], format!("127.0.0.1:{}", server.port));
    assert_eq!(raced[1]["outcome"], "connected");
    assert_eq!(attempt["server_name"], name.as_str());

    // The IP in place of the name, the name still used for TLS.
    let run = expect_first_frame(&server, &["--nla", "off", "--address", "127.0.0.1"], None);
    assert_eq!(
        run.attempt()["address"],
        format!("127.0.0.1:{}", server.port)
    );
    assert_eq!(run.attempt()["server_name"], name.as_str());
}

#[test]
fn firewall_drop_is_tcp_timeout_and_reject_is_tcp_refused() {
    let drop = lab!("netns-drop");
    let run = connect(&drop, &["--nla", "off", "--timeout", "1"], None);
    expect(&drop, &run, "tcp-timeout", "tcp");
    assert_eq!(run.code, 5);

    let reject = lab!("netns-reject");
    let run = connect(&reject, &["--nla", "off", "--timeout", "1"], None);
    expect(&reject, &run, "tcp-refused", "tcp");
    assert_eq!(run.code, 5);
}
