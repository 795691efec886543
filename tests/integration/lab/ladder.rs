//! `rdpshim connect HOST` with no knobs against every lab server: the ladder finds the
//! working configuration by itself and names the fallbacks, or ends with a clear verdict.

use crate::common::{assert_real_screenshot, ladder, LabServer, Run};

fn explain(server: &LabServer, run: &Run) -> String {
    format!(
        "{} (exit {})\nstdout: {}\nstderr: {}\nserver logs:\n{}",
        server.kind,
        run.code,
        run.stdout,
        run.stderr,
        server.logs()
    )
}

/// Connects with no knobs and checks the fallbacks named; returns the run.
fn connects_with(
    server: &LabServer,
    extra: &[&str],
    stdin: Option<&str>,
    fallbacks: &[&str],
) -> Run {
    let png = server.dir().join("ladder.png");
    let mut args = vec!["--screenshot", png.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = ladder(server, &args, stdin);
    assert_eq!(run.code, 0, "must connect: {}", explain(server, &run));
    assert_eq!(
        run.fallbacks(),
        fallbacks,
        "fallbacks: {}",
        explain(server, &run)
    );
    assert_real_screenshot(&png, 1024, 768);
    second_connect_takes_one_attempt(server, extra, stdin);
    let stderr_final = run.stderr.lines().last().unwrap_or("");
    if fallbacks.is_empty() {
        assert!(stderr_final.contains("without fallbacks"), "{stderr_final}");
    } else {
        assert!(
            stderr_final.contains(&format!(
                "connected with fallbacks {}",
                fallbacks.join(" + ")
            )),
            "final line names the fallbacks: {stderr_final}"
        );
    }
    run
}

/// The saved profile makes the next connect succeed first time.
fn second_connect_takes_one_attempt(server: &LabServer, extra: &[&str], stdin: Option<&str>) {
    let run = ladder(server, extra, stdin);
    assert_eq!(run.code, 0, "second connect: {}", explain(server, &run));
    assert_eq!(
        run.attempts(),
        1,
        "second connect uses the profile: {}",
        explain(server, &run)
    );
}

/// Ends without a connection, with a verdict, within the deadline.
fn verdict_for(server: &LabServer, kind: &str, exit: i32) -> Run {
    let run = ladder(server, &["--timeout", "2", "--deadline", "20"], None);
    assert_eq!(run.verdict(), kind, "verdict: {}", explain(server, &run));
    assert_eq!(run.code, exit, "exit code: {}", explain(server, &run));
    let ms = run.json()["ms"].as_f64().unwrap();
    assert!(ms < 20_000.0, "ended within the deadline ({ms} ms)");
    assert!(
        run.stderr.contains("not connected: "),
        "a verdict line: {}",
        run.stderr
    );
    run
}

#[test]
fn tls10_server_needs_a_version_downgrade() {
    let server = lab!("xrdp-tls10");
    let run = connects_with(&server, &[], None, &["nla-off", "tls-version-downgrade"]);
    let last = &run.json()["attempts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["tls"]["version"], "1.0");
    assert_eq!(last["tls"]["stack"], "openssl");
    assert!(
        run.stderr.contains("warning: tls-version-downgrade"),
        "downgrade announced"
    );
}

#[test]
fn aes128sha_server_needs_a_cipher_downgrade() {
    let server = lab!("xrdp-aes128sha");
    let run = connects_with(&server, &[], None, &["nla-off", "cipher-downgrade"]);
    assert!(
        run.stderr.contains("warning: cipher-downgrade"),
        "downgrade announced"
    );
}

#[test]
fn tls_only_servers_need_nla_off() {
    for kind in ["shadow-tls", "xrdp-modern", "xrdp-expired"] {
        let server = lab!(kind);
        let run = connects_with(&server, &[], None, &["nla-off"]);
        assert!(run.stderr.contains("warning: nla-off"), "NLA off announced");
    }
}

#[test]
fn nla_server_connects_first_time_with_credentials() {
    let server = lab!("shadow-nla");
    let password = format!("{}\n", server.password);
    let run = connects_with(
        &server,
        &["-u", &server.user, "--password-stdin"],
        Some(&password),
        &[],
    );
    assert_eq!(run.attempts(), 1);
}

#[test]
fn wrong_password_is_one_attempt_and_exit_3() {
    let server = lab!("shadow-nla");
    let run = ladder(
        &server,
        &["-u", &server.user, "--password-stdin"],
        Some("wrong-password\n"),
    );
    assert_eq!(
        run.attempts(),
        1,
        "a downgrade never answers a credential problem: {}",
        explain(&server, &run)
    );
    assert_eq!(run.code, 3, "{}", explain(&server, &run));
    assert_eq!(run.verdict(), "auth-failed");
}

#[test]
fn nla_server_without_credentials_says_so() {
    let server = lab!("shadow-nla");
    let run = ladder(&server, &[], None);
    assert_eq!(run.code, 3, "{}", explain(&server, &run));
    assert!(run.reason().contains("-u USER"));
}

#[test]
fn dead_ipv6_first_is_raced_past_without_a_fallback() {
    let server = lab!("ipv6-first");
    // Happy Eyeballs inside the by-name attempt finds 127.0.0.1; the ladder only has to
    // turn NLA off, and the host name stays the TLS name.
    let run = connects_with(&server, &[], None, &["nla-off"]);
    let attempts = run.json()["attempts"].as_array().unwrap().clone();
    assert_eq!(
        attempts[0]["raced"][0]["outcome"], "tcp-refused",
        "{attempts:?}"
    );
    let last = attempts.last().unwrap();
    assert_eq!(last["address"], format!("127.0.0.1:{}", server.port));
    assert_eq!(last["server_name"], server.name.clone().unwrap().as_str());
}

#[test]
fn unreachable_servers_end_with_a_verdict() {
    let server = lab!("xrdp-rdp-only");
    let run = verdict_for(&server, "no-working-configuration", 4);
    assert!(run.reason().contains("Standard RDP Security"));

    let server = lab!("closer");
    let run = verdict_for(&server, "no-working-configuration", 4);
    assert!(run.reason().contains("closes the connection"));

    let server = lab!("netns-drop");
    let run = verdict_for(&server, "unreachable", 5);
    assert!(run.reason().contains("firewall"));

    let server = lab!("netns-reject");
    let run = verdict_for(&server, "unreachable", 5);
    assert!(run.reason().contains("refuse"));
}

#[test]
fn a_security_floor_is_refused_by_policy() {
    let server = lab!("xrdp-tls10");
    let run = ladder(&server, &["--min-security", "tls12"], None);
    assert_eq!(run.code, 6, "{}", explain(&server, &run));
    assert_eq!(run.verdict(), "refused-by-policy");
}

#[test]
fn a_changed_certificate_is_refused_before_credentials() {
    let server = lab!("shadow-nla");
    let password = format!("{}\n", server.password);
    let args = ["-u", server.user.as_str(), "--password-stdin"];
    let run = ladder(&server, &args, Some(&password));
    assert_eq!(run.code, 0, "{}", explain(&server, &run));

    // Pretend the first connection saw another certificate.
    let file = crate::common::saved_profile_file(&server);
    let text = std::fs::read_to_string(&file).unwrap();
    let real = run.json()["certificate"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let fake = "AA:".repeat(31) + "AA";
    std::fs::write(&file, text.replace(&real, &fake)).unwrap();

    let run = ladder(&server, &args, Some(&password));
    assert_eq!(
        run.code,
        7,
        "certificate changed: {}",
        explain(&server, &run)
    );
    assert_eq!(run.attempts(), 1);
    assert_eq!(run.attempt()["outcome"], "certificate-changed");
    assert_eq!(
        run.attempt()["stage"],
        "tls",
        "stopped after TLS, before CredSSP"
    );
    assert!(
        run.stderr.contains(&real) && run.stderr.contains(&fake),
        "both fingerprints shown"
    );

    let run = ladder(
        &server,
        &[
            "-u",
            server.user.as_str(),
            "--password-stdin",
            "--accept-new-cert",
        ],
        Some(&password),
    );
    assert_eq!(run.code, 0, "accepted: {}", explain(&server, &run));
    let pinned = std::fs::read_to_string(&file).unwrap();
    assert!(
        pinned.contains(&real) && !pinned.contains(&fake),
        "the new certificate is pinned"
    );
}

#[test]
fn a_saved_stronger_configuration_refuses_a_downgrade() {
    let server = lab!("xrdp-tls10");
    let run = ladder(&server, &[], None);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
    // Pretend the server used to do TLS 1.2 with AEAD suites (rustls).
    let file = crate::common::saved_profile_file(&server);
    let text = std::fs::read_to_string(&file).unwrap();
    let stronger = text
        .replace("tls_stack = \"openssl\"", "tls_stack = \"rustls\"")
        .replace("tls_version = \"1.0\"", "tls_version = \"1.2\"");
    assert_ne!(stronger, text);
    std::fs::write(&file, stronger).unwrap();

    let run = ladder(&server, &[], None);
    assert_eq!(run.code, 6, "refused by policy: {}", explain(&server, &run));
    let reason = run.json()["verdict"]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("downgrade") && reason.contains("TLS 1.2 -> TLS 1."),
        "{reason}"
    );

    let run = ladder(&server, &["--accept-downgrade"], None);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
}

#[test]
fn an_unparsable_profile_is_reported_and_left_alone() {
    let server = lab!("xrdp-modern");
    let run = ladder(&server, &[], None);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
    let file = crate::common::saved_profile_file(&server);
    let broken = b"schema = 1\nhost = \"x\"\nport = [unterminated\n".to_vec();
    std::fs::write(&file, &broken).unwrap();

    let run = ladder(&server, &[], None);
    assert_eq!(
        run.code,
        0,
        "connect goes on without the profile: {}",
        explain(&server, &run)
    );
    assert!(
        run.stderr.contains(&file.display().to_string()),
        "names the file: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(".toml:3:"),
        "names the line: {}",
        run.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), broken, "never overwritten");
}

/// Runs the ladder against `name:port` inside a mount namespace whose /etc/hosts is `hosts`
/// (or the machine's own when `None`), with the server's profile directory.
fn ladder_by_name(
    server: &LabServer,
    name: &str,
    hosts: Option<&std::path::Path>,
    extra: &[&str],
) -> Run {
    let command = match hosts {
        Some(hosts) => {
            let mut c = std::process::Command::new(rdpshim_lab::with_hosts_script());
            c.arg(hosts).arg(crate::common::RDPSHIM);
            c
        }
        None => std::process::Command::new(crate::common::RDPSHIM),
    };
    let mut args = vec!["--timeout", "3"];
    args.extend_from_slice(extra);
    crate::common::ladder_with(
        command,
        server,
        &format!("{name}:{}", server.port),
        &args,
        None,
    )
}

#[test]
fn when_dns_fails_the_last_address_that_worked_is_used() {
    let server = lab!("xrdp-modern");
    let name = "rdpshim-lab-dns-gone.invalid";
    let hosts = server.dir().join("hosts-dns");
    std::fs::write(&hosts, format!("127.0.0.1 {name}\n")).unwrap();

    let run = ladder_by_name(&server, name, Some(&hosts), &[]);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
    assert_eq!(run.fallbacks(), ["nla-off"]);

    // The name no longer resolves: the profile's address is dialled instead.
    let run = ladder_by_name(&server, name, None, &[]);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
    let attempts = run.json()["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts[0]["outcome"], "dns", "{attempts:?}");
    assert_eq!(
        attempts.last().unwrap()["address"],
        format!("127.0.0.1:{}", server.port)
    );
    assert_eq!(
        attempts.last().unwrap()["server_name"],
        name,
        "the host name stays the TLS name"
    );
    assert_eq!(run.fallbacks(), ["ip-for-hostname"]);
}

#[test]
fn a_resolve_hint_stands_in_for_dns() {
    let server = lab!("xrdp-modern");
    let name = "rdpshim-lab-hint.invalid";
    let hint = format!("{name}:127.0.0.1");
    let run = ladder_by_name(&server, name, None, &["--resolve", &hint]);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
    assert_eq!(run.fallbacks(), ["ip-for-hostname", "nla-off"]);

    let run = ladder_by_name(&server, "rdpshim-lab-nohint.invalid", None, &[]);
    assert_eq!(run.code, 5, "unreachable: {}", explain(&server, &run));
    assert!(run.reason().contains("--resolve"));
}

#[test]
fn no_save_leaves_no_profile() {
    let server = lab!("xrdp-modern");
    let run = ladder(&server, &["--no-save"], None);
    assert_eq!(run.code, 0, "{}", explain(&server, &run));
    assert!(
        !crate::common::config_dir(&server).join("profiles").exists(),
        "--no-save writes nothing"
    );
    let run = ladder(&server, &[], None);
    assert_eq!(run.attempts(), 2, "so the next connect starts from scratch");
}
