//! What no real server here can do, against the in-process ironrdp-acceptor server:
//! multitransport offers, a UDP side that never comes, stalls and garbage.

use std::process::Command;

use crate::common::{run, Run, RDPSHIM};
use rdpshim_test_acceptor::{spawn, Args};

fn server(mode: &str, tweak: impl FnOnce(&mut Args)) -> String {
    let mut args = Args::for_mode(mode);
    tweak(&mut args);
    spawn(args).expect("the acceptor starts").to_string()
}

fn rdpshim(target: &str, args: &[&str]) -> Run {
    let config = std::env::temp_dir().join(format!(
        "rdpshim-acceptor-test-{}-{}",
        std::process::id(),
        target.replace(':', "_")
    ));
    let mut command = Command::new(RDPSHIM);
    command
        .args(["connect", target, "--json"])
        .args(args)
        .env("RDPSHIM_CONFIG_DIR", &config)
        .env("RDPSHIM_NO_KEYRING", "1")
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RUST_LOG");
    let result = run(command, None);
    let _ = std::fs::remove_dir_all(&config);
    assert_ne!(result.code, 101, "rdpshim panicked:\n{}", result.stderr);
    result
}

#[test]
fn a_multitransport_offer_is_declined_and_the_session_stays_on_tcp() {
    let target = server("offer-udp", |_| {});
    let run = rdpshim(&target, &["--no-fallback", "--nla", "off", "--udp", "on"]);
    assert_eq!(run.outcome(), "ok", "{}", run.stderr);
    assert!(
        run.json()["warnings"].to_string().contains("declined"),
        "the decline is reported: {}",
        run.stdout
    );

    let run = rdpshim(&target, &["--no-fallback", "--nla", "off", "--udp", "off"]);
    assert_eq!(run.outcome(), "ok", "{}", run.stderr);
    assert!(
        !run.json()["warnings"].to_string().contains("declined"),
        "no offer without UDP advertised"
    );
}

#[test]
fn a_blocked_udp_side_makes_the_ladder_turn_udp_off() {
    let target = server("udp-blackhole", |_| {});
    let run = rdpshim(&target, &["--timeout", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fallbacks = run.fallbacks();
    assert!(
        fallbacks.contains(&"udp-off".to_owned()),
        "fallbacks {fallbacks:?}\n{}",
        run.stderr
    );
    let attempts = run.json()["attempts"].as_array().unwrap().clone();
    let dropped = attempts
        .iter()
        .find(|a| a["udp"] == true && a["outcome"] == "peer-closed");
    assert!(
        dropped.is_some(),
        "the UDP-advertising attempt was dropped: {attempts:?}"
    );
    assert_eq!(attempts.last().unwrap()["udp"], false);
}

#[test]
fn a_server_that_stalls_after_tls_times_out_at_mcs() {
    let target = server("stall-after-tls", |_| {});
    let run = rdpshim(
        &target,
        &["--no-fallback", "--nla", "off", "--timeout", "1"],
    );
    assert_eq!(
        (run.outcome().as_str(), run.stage().as_str()),
        ("timeout", "mcs"),
        "{}",
        run.stderr
    );
}

#[test]
fn garbage_from_the_server_never_panics_or_hangs() {
    for at in ["mcs", "licensing", "capabilities", "first-frame"] {
        let target = server("garbage-after-x224", |a| {
            a.seed = Some(7);
            a.garbage_at = match at {
                "mcs" => rdpshim_test_acceptor::GarbageAt::Mcs,
                "licensing" => rdpshim_test_acceptor::GarbageAt::Licensing,
                "capabilities" => rdpshim_test_acceptor::GarbageAt::Capabilities,
                _ => rdpshim_test_acceptor::GarbageAt::FirstFrame,
            };
        });
        for _ in 0..10 {
            let run = rdpshim(
                &target,
                &["--no-fallback", "--nla", "off", "--timeout", "2"],
            );
            let outcome = run.outcome();
            assert!(
                ["protocol-error", "peer-closed", "timeout"].contains(&outcome.as_str()),
                "garbage at {at}: {outcome}\n{}",
                run.stderr
            );
            assert_ne!(run.code, 0);
        }
    }
}
