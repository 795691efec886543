//! Hostile servers (issue 9): the real `rdpshim` against the in-process acceptor in each of
//! its hostile modes (slow drips, truncated messages, floods, lengths at every boundary,
//! unreadable certificates, bad X.224 answers, resets), at every stage they can strike.
//!
//! Each run asserts what a user relies on: the exit code, the failure class and stage, a
//! wall time within the stage limit (a flood or a bad length ends before it, a drip at it,
//! plus a margin), and a peak RSS under 64 MB (the child's VmHWM). Runs go four at a time
//! so the module stays well under a minute.

use std::io::Read as _;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{spawn as spawn_child, Run, RDPSHIM};
use crate::gateway::{self, GW_PASSWORD, GW_USER};
use rdpshim::attempt::{AttemptSpec, Credentials, Nla, StageTimeouts};
use rdpshim::engine::run_attempt_over;
use rdpshim::report::{FailureClass, Stage};
use rdpshim::route;
use rdpshim::secret::Password;
use rdpshim_test_acceptor::{spawn, Args};
use rdpshim_test_gateway::Config as GatewayConfig;

/// `--timeout` given to rdpshim: every stage limit.
const TIMEOUT: Duration = Duration::from_secs(3);
/// What a run that waits out one stage limit may take beyond it (process start, JSON).
const MARGIN: Duration = Duration::from_secs(2);
/// Peak RSS allowed for any run (the bound).
const MAX_RSS_KB: u64 = 64 * 1024;
/// A run still going after this is hung: killed, and the test fails.
const HUNG: Duration = Duration::from_secs(60);
const PARALLEL: usize = 4;

/// What one run of rdpshim produced, and what it cost.
struct Measured {
    run: Run,
    wall: Duration,
    peak_rss_kb: u64,
}

/// Runs `command` to its end, sampling its peak RSS (VmHWM) every 2 ms while it lives.
///
/// Not wait4's ru_maxrss: std spawns with posix_spawn, whose child shares this (large,
/// multi-threaded) test process's memory until exec, and the kernel keeps that high-water
/// mark in ru_maxrss across the exec. VmHWM belongs to the program's own memory map, which
/// exec starts afresh, and spawn() returns only once exec has happened. The child is waited
/// for without reaping (waitid WNOWAIT), so its PID stays its own until the sampler and the
/// watchdog are done with it.
fn measured(command: Command, stdin: Option<&str>) -> Measured {
    let started = Instant::now();
    let mut child = spawn_child(command, stdin);
    let pid = child.id();
    let (stop, stopped) = mpsc::channel::<()>();
    let sampler = std::thread::spawn(move || {
        let status = format!("/proc/{pid}/status");
        let mut peak = 0u64;
        let mut killed = false;
        loop {
            if let Ok(text) = std::fs::read_to_string(&status) {
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
                peak = peak.max(hwm.unwrap_or(0));
            }
            match stopped.recv_timeout(Duration::from_millis(2)) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return peak,
            }
            if !killed && started.elapsed() > HUNG {
                // SAFETY: kill(2) on our own child, not reaped yet (see above).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                killed = true;
            }
        }
    });
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    // SAFETY: waitid on our own child with a valid out-pointer; WNOWAIT leaves it unreaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        );
    }
    let wall = started.elapsed();
    let _ = stop.send(());
    let peak_rss_kb = sampler.join().unwrap_or(u64::MAX);
    let status = child.wait().expect("reap rdpshim");
    Measured {
        run: Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        },
        wall,
        peak_rss_kb,
    }
}

/// `rdpshim ARGS` against `target` (ADDR in `args`, words split at spaces), with a private
/// config dir and no keyring; `password` goes to stdin (for `--password-stdin`).
fn rdpshim(target: &str, args: &str, password: Option<&str>) -> Measured {
    let config = tempdir(target);
    let mut command = Command::new(RDPSHIM);
    command
        .args(args.split_whitespace().map(|a| a.replace("ADDR", target)))
        .env("RDPSHIM_CONFIG_DIR", &config)
        .env("RDPSHIM_NO_KEYRING", "1")
        .env_remove("RDPSHIM_PASSWORD")
        .env_remove("RUST_LOG");
    let result = measured(command, password.map(|p| format!("{p}\n")).as_deref());
    let _ = std::fs::remove_dir_all(&config);
    result
}

fn tempdir(target: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "rdpshim-hostile-{}-{}",
        std::process::id(),
        target.replace([':', '.'], "_")
    ))
}

/// How a run must end.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Protocol error, close, bad answer: at once, well within the stage limit.
    Early,
    /// A stage limit runs out (a slow drip): at the limit, plus the margin.
    AtTimeout,
}

struct Case {
    name: &'static str,
    /// The acceptor's arguments (`--mode ... --at ...`).
    server: &'static str,
    /// rdpshim's arguments; ADDR is the server.
    client: &'static str,
    /// The exit code, and for `connect` the last attempt's outcome and stage.
    code: i32,
    outcome: Option<(&'static str, &'static str)>,
    end: End,
}

/// `connect`, one attempt, against a TLS-only server.
const TLS_ONLY: &str = "connect ADDR --json --no-fallback --timeout 3 --nla off";
/// `connect`, one attempt, with NLA and credentials (the password on stdin).
const WITH_NLA: &str =
    "connect ADDR --json --no-fallback --timeout 3 --nla on -u rdpshim --password-stdin";

/// One attempt against a TLS-only server, ending in `outcome` at `stage` (exit 4).
const fn tls_case(
    name: &'static str,
    server: &'static str,
    outcome: &'static str,
    stage: &'static str,
    end: End,
) -> Case {
    Case {
        name,
        server,
        client: TLS_ONLY,
        code: 4,
        outcome: Some((outcome, stage)),
        end,
    }
}

impl Case {
    /// The same against an NLA server, with credentials.
    const fn with_nla(self) -> Case {
        Case {
            client: WITH_NLA,
            ..self
        }
    }
}

/// Runs every case against its own server, [`PARALLEL`] at a time, and reports every
/// failed expectation at once.
fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for chunk in cases.chunks(PARALLEL) {
        let results: Vec<(usize, Measured)> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, case)| {
                    scope.spawn(move || {
                        let target = spawn(Args::from_words(case.server))
                            .expect("the acceptor starts")
                            .to_string();
                        let password = case.server.contains("--security nla").then_some("rdpshim");
                        (i, rdpshim(&target, case.client, password))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a case thread"))
                .collect()
        });
        for (i, measured) in results {
            if let Err(why) = judge(&chunk[i], &measured) {
                failures.push(format!(
                    "{}: {why}\n  stdout: {}\n  stderr: {}",
                    chunk[i].name,
                    measured.run.stdout.trim(),
                    measured.run.stderr.lines().last().unwrap_or("")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

fn judge(case: &Case, m: &Measured) -> Result<(), String> {
    let run = &m.run;
    if run.code == 101 || run.code < 0 {
        return Err(format!("rdpshim crashed (exit {})", run.code));
    }
    if run.code != case.code {
        return Err(format!("exit {}, expected {}", run.code, case.code));
    }
    if let Some((outcome, stage)) = case.outcome {
        let json = serde_json::from_str::<serde_json::Value>(run.stdout.trim())
            .map_err(|e| format!("stdout is not JSON: {e}"))?;
        let last = json["attempts"]
            .as_array()
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or_default();
        let got = (
            last["outcome"].as_str().unwrap_or(""),
            last["stage"].as_str().unwrap_or(""),
        );
        if got != (outcome, stage) {
            return Err(format!(
                "{} at {}, expected {outcome} at {stage}",
                got.0, got.1
            ));
        }
    }
    let limit = match case.end {
        End::Early => TIMEOUT,
        End::AtTimeout => TIMEOUT + MARGIN,
    };
    if m.wall >= limit {
        return Err(format!(
            "took {:.2} s, expected under {:.1} s ({:?})",
            m.wall.as_secs_f64(),
            limit.as_secs_f64(),
            case.end
        ));
    }
    if m.peak_rss_kb >= MAX_RSS_KB {
        return Err(format!(
            "peak RSS {} KiB, over {MAX_RSS_KB} KiB",
            m.peak_rss_kb
        ));
    }
    Ok(())
}

use End::{AtTimeout, Early};

#[test]
fn hostile_answers_to_the_x224_request() {
    check(&[
        tls_case(
            "drip",
            "--mode drip --at x224",
            "timeout",
            "x224",
            AtTimeout,
        ),
        tls_case(
            "truncate",
            "--mode truncate --at x224",
            "peer-closed",
            "x224",
            Early,
        ),
        tls_case(
            "flood",
            "--mode flood --at x224",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "TPKT length 0",
            "--mode header --at x224 --header 03000000 --then hold",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "TPKT length 3",
            "--mode header --at x224 --header 03000003 --then hold",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "TPKT length 4",
            "--mode header --at x224 --header 03000004",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "TPKT length 65535",
            "--mode header --at x224 --header 0300ffff",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "garbage",
            "--mode garbage-x224",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "selects 0x3 with --nla off",
            "--mode bad-selected-protocol --selected 0x3",
            "protocol-error",
            "x224",
            Early,
        ),
        tls_case(
            "selects 0x7FFFFFFF",
            "--mode bad-selected-protocol --selected 0x7fffffff --security nla",
            "protocol-error",
            "x224",
            Early,
        )
        .with_nla(),
        // One valid protocol that was not requested is the server's wish, which the ladder
        // follows (issue 11); a single attempt ends on it at once.
        tls_case(
            "selects TLS, not requested",
            "--mode bad-selected-protocol --selected 0x1 --security nla",
            "unrequested-protocol",
            "x224",
            Early,
        )
        .with_nla(),
        tls_case(
            "selects RDSTLS, not requested",
            "--mode bad-selected-protocol --selected 0x4 --security nla",
            "unrequested-protocol",
            "x224",
            Early,
        )
        .with_nla(),
        tls_case(
            "selects an unknown bit",
            "--mode bad-selected-protocol --selected 0x10 --security nla",
            "protocol-error",
            "x224",
            Early,
        )
        .with_nla(),
        tls_case(
            "reset after accept",
            "--mode reset-after-accept",
            "peer-closed",
            "x224",
            Early,
        ),
        tls_case(
            "reset after the request",
            "--mode reset-after-request",
            "peer-closed",
            "x224",
            Early,
        ),
    ]);
}

#[test]
fn hostile_tls_handshakes() {
    check(&[
        tls_case("drip", "--mode drip --at tls", "timeout", "tls", AtTimeout),
        tls_case(
            "truncate",
            "--mode truncate --at tls",
            "peer-closed",
            "tls",
            Early,
        ),
        tls_case(
            "flood",
            "--mode flood --at tls",
            "protocol-error",
            "tls",
            Early,
        ),
        tls_case(
            "garbage DER certificate",
            "--mode bad-certificate --certificate garbage-der",
            "tls-other",
            "tls",
            Early,
        ),
        tls_case(
            "invalid dates",
            "--mode bad-certificate --certificate invalid-dates",
            "tls-other",
            "tls",
            Early,
        ),
        tls_case(
            "200 KB chain",
            "--mode bad-certificate --certificate oversized-chain",
            "tls-other",
            "tls",
            Early,
        ),
    ]);
}

#[test]
fn hostile_credssp() {
    check(&[
        tls_case(
            "drip",
            "--mode drip --at credssp --security nla",
            "timeout",
            "credssp",
            AtTimeout,
        )
        .with_nla(),
        tls_case(
            "truncate",
            "--mode truncate --at credssp --security nla",
            "peer-closed",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "random bytes",
            "--mode flood --at credssp --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "DER 0x84 7FFFFFFF",
            "--mode header --at credssp --header 30847fffffff --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "DER 0x83 010000",
            "--mode header --at credssp --header 3083010000 --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "DER 0x82 FFFF",
            "--mode header --at credssp --header 3082ffff --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "DER 0x82 FFFB, the cap",
            "--mode header --at credssp --header 3082fffb --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "DER 0x81 80",
            "--mode header --at credssp --header 308180 --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
        tls_case(
            "DER indefinite length",
            "--mode header --at credssp --header 3080 --then hold --security nla",
            "protocol-error",
            "credssp",
            Early,
        )
        .with_nla(),
    ]);
}

#[test]
fn hostile_mcs_and_first_frame() {
    check(&[
        tls_case(
            "MCS drip",
            "--mode drip --at mcs",
            "timeout",
            "mcs",
            AtTimeout,
        ),
        tls_case(
            "MCS truncate",
            "--mode truncate --at mcs",
            "peer-closed",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS flood",
            "--mode flood --at mcs",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS TPKT length 0",
            "--mode header --at mcs --header 03000000 --then hold",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS TPKT length 3",
            "--mode header --at mcs --header 03000003 --then hold",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS TPKT length 4",
            "--mode header --at mcs --header 03000004 --then hold",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS TPKT length 65535",
            "--mode header --at mcs --header 0300ffff",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS fast-path 0x7FFF",
            "--mode header --at mcs --header 00ffff",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "MCS fast-path 0x8000",
            "--mode header --at mcs --header 008000 --then hold",
            "protocol-error",
            "mcs",
            Early,
        ),
        tls_case(
            "first frame drip",
            "--mode drip --at first-frame",
            "timeout",
            "first-frame",
            AtTimeout,
        ),
        tls_case(
            "first frame flood",
            "--mode flood --at first-frame",
            "protocol-error",
            "first-frame",
            Early,
        ),
        tls_case(
            "first frame fast-path 0x7FFF",
            "--mode header --at first-frame --header 00ffff",
            "protocol-error",
            "first-frame",
            Early,
        ),
        tls_case(
            "first frame fast-path 0x8000",
            "--mode header --at first-frame --header 008000 --then hold",
            "protocol-error",
            "first-frame",
            Early,
        ),
        tls_case(
            "first frame endless fragments",
            "--mode fragments --at first-frame",
            "protocol-error",
            "first-frame",
            Early,
        ),
    ]);
}

/// Through an RD Gateway tunnel (`route::gateway`, then `run_attempt_over`) an attempt
/// reads the same capped framing as over TCP: a flood at X.224, a DER length of 2 GiB during
/// CredSSP and endless fast-path fragments end in `protocol-error` at their stage at once.
#[test]
fn hostile_servers_behind_a_gateway() {
    let rt = gateway::runtime();
    let gw = gateway::start_gateway(&rt, GatewayConfig::new(GW_USER, GW_PASSWORD));
    let gw_spec = gateway::gateway_spec(&gw);
    for (words, stage) in [
        ("--mode flood --at x224", Stage::X224),
        (
            "--mode header --at credssp --header 30847fffffff --security nla",
            Stage::Credssp,
        ),
        ("--mode fragments --at first-frame", Stage::FirstFrame),
    ] {
        let server = spawn(Args::from_words(words)).expect("the acceptor starts");
        let host = server.ip().to_string();
        let mut spec = AttemptSpec::strongest(host.clone(), server.port());
        spec.timeouts = StageTimeouts::uniform(TIMEOUT);
        let nla = words.contains("--security nla");
        spec.nla = if nla { Nla::On } else { Nla::Off };
        if nla {
            spec.credentials = Some(Credentials {
                username: "rdpshim".into(),
                domain: None,
                password: Password::new("rdpshim"),
            });
        }
        let started = Instant::now();
        let report = rt.block_on(async {
            let tunnel = route::gateway::open(&gw_spec, &host, server.port())
                .await
                .expect("the tunnel opens");
            run_attempt_over(&spec, tunnel.stream).await
        });
        let failure = report.result.expect_err(words);
        assert_eq!(
            (failure.stage, failure.class.clone()),
            (stage, FailureClass::ProtocolError),
            "{words}: {failure}"
        );
        assert!(
            started.elapsed() < TIMEOUT,
            "{words}: {:?}",
            started.elapsed()
        );
    }
}

/// The ladder's verdicts: the right reason, at once, never "nothing listens" or a stall.
#[test]
fn the_ladder_names_the_right_cause() {
    let ladder = "connect ADDR --json --timeout 3";
    let cases = [
        Case {
            name: "selects 0x3: a protocol error, not credentials-required (exit 3)",
            server: "--mode bad-selected-protocol --selected 0x3 --security nla",
            client: ladder,
            code: 4,
            outcome: Some(("protocol-error", "x224")),
            end: Early,
        },
        Case {
            name: "reset after accept: not tcp-refused (exit 5)",
            server: "--mode reset-after-accept",
            client: ladder,
            code: 4,
            outcome: Some(("peer-closed", "x224")),
            end: Early,
        },
        Case {
            name: "random TSRequest: a protocol error, not a stall",
            server: "--mode flood --at credssp --security nla",
            client: "connect ADDR --json --timeout 3 -u rdpshim --password-stdin",
            code: 4,
            outcome: Some(("protocol-error", "credssp")),
            end: Early,
        },
    ];
    check(&cases);
    // The verdict names the cause from the table: the same id `diagnose` finds.
    for (words, nla, cause, reason) in [
        ("--mode garbage-x224", "off", "not-rdp", "not RDP"),
        (
            "--mode bad-selected-protocol --selected 0x3 --security nla",
            "on",
            "not-rdp",
            "not RDP",
        ),
        (
            "--mode reset-after-accept",
            "off",
            "closed-before-tls",
            "closes the connection",
        ),
    ] {
        let target = spawn(Args::from_words(words))
            .expect("the acceptor starts")
            .to_string();
        let args = format!("connect ADDR --json --timeout 3 --nla {nla}");
        let m = rdpshim(&target, &args, None);
        assert!(
            m.run.reason().contains(reason),
            "{words}: the verdict says `{reason}`: {}",
            m.run.reason()
        );
        assert_eq!(
            m.run.json()["verdict"]["causes"][0]["id"],
            cause,
            "{words}: {}",
            m.run.stdout
        );
        assert_eq!(m.run.code, 4, "{words}");
    }
    for (kind, words) in [
        (
            "garbage DER",
            "--mode bad-certificate --certificate garbage-der",
        ),
        (
            "invalid dates",
            "--mode bad-certificate --certificate invalid-dates",
        ),
        (
            "200 KB chain",
            "--mode bad-certificate --certificate oversized-chain",
        ),
    ] {
        let target = spawn(Args::from_words(words))
            .expect("the acceptor starts")
            .to_string();
        let m = rdpshim(&target, "connect ADDR --json --timeout 3 --nla off", None);
        let json = m.run.json();
        assert_eq!(m.run.code, 4, "{kind}: {}", m.run.stdout);
        assert!(
            m.run.reason().contains("certificate that cannot be read"),
            "{kind}: the verdict names the certificate: {}",
            m.run.reason()
        );
        let causes = json["verdict"]["causes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            causes.len(),
            1,
            "{kind}: one cause, from OpenSSL's attempt: {causes:?}"
        );
        assert_eq!(causes[0]["id"], "certificate-unreadable", "{kind}");
        assert_eq!(causes[0]["severity"], "blocking", "{kind}");
        let attempts = json["attempts"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            attempts.len(),
            2,
            "{kind}: rustls, then OpenSSL once: {attempts:?}"
        );
        assert!(attempts
            .iter()
            .all(|a| a["outcome"] == "tls-other" && a["alert"] == "bad-certificate"));
        assert!(m.wall < TIMEOUT && m.peak_rss_kb < MAX_RSS_KB, "{kind}");
    }
}

/// `diagnose` against the same servers: the cause found, never "unreachable" (exit 5) or a
/// port cause, in bounded time and memory. Exit 4 where the cause is blocking (the stock
/// client fails); a server whose only fault shows after authentication (a hostile CredSSP or
/// MCS exchange) has only conditional causes to show without credentials, and exits 0.
#[test]
fn diagnose_finds_a_cause_on_hostile_servers() {
    let diagnose = "diagnose ADDR --json --timeout 3";
    let cases = [
        (
            "garbage instead of a confirm",
            "--mode garbage-x224",
            "not-rdp",
            4,
        ),
        (
            "flood instead of a confirm",
            "--mode flood --at x224",
            "not-rdp",
            4,
        ),
        (
            "selects 0x3",
            "--mode bad-selected-protocol --selected 0x3",
            "not-rdp",
            4,
        ),
        (
            "reset after accept",
            "--mode reset-after-accept",
            "closed-before-tls",
            4,
        ),
        (
            "reset after the request",
            "--mode reset-after-request",
            "closed-before-tls",
            4,
        ),
        ("drip at X.224", "--mode drip --at x224", "not-answering", 4),
        (
            "TPKT length 0",
            "--mode header --at x224 --header 03000000 --then hold",
            "not-rdp",
            4,
        ),
        (
            "truncated confirm",
            "--mode truncate --at x224",
            "closed-before-tls",
            4,
        ),
        ("drip at TLS", "--mode drip --at tls", "not-answering", 4),
        (
            "truncated TLS flight",
            "--mode truncate --at tls",
            "closed-during-tls",
            4,
        ),
        (
            "random TSRequest",
            "--mode flood --at credssp --security nla",
            "nla-required",
            0,
        ),
        (
            "DER 0x84 7FFFFFFF",
            "--mode header --at credssp --header 30847fffffff --security nla",
            "nla-required",
            0,
        ),
        ("MCS flood", "--mode flood --at mcs", "nla-refused", 0),
        (
            "not TLS after the confirm",
            "--mode flood --at tls",
            "not-rdp",
            4,
        ),
        (
            "garbage DER certificate",
            "--mode bad-certificate --certificate garbage-der",
            "certificate-unreadable",
            4,
        ),
        (
            "invalid dates",
            "--mode bad-certificate --certificate invalid-dates",
            "certificate-unreadable",
            4,
        ),
        (
            "200 KB chain",
            "--mode bad-certificate --certificate oversized-chain",
            "certificate-unreadable",
            4,
        ),
    ];
    let mut failures = Vec::new();
    for chunk in cases.chunks(PARALLEL) {
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(name, words, cause, code)| {
                    scope.spawn(move || {
                        let target = spawn(Args::from_words(words))
                            .expect("the acceptor starts")
                            .to_string();
                        (*name, *cause, *code, rdpshim(&target, diagnose, None))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a case thread"))
                .collect()
        });
        for (name, cause, code, m) in results {
            let found: Vec<String> = serde_json::from_str::<serde_json::Value>(m.run.stdout.trim())
                .ok()
                .and_then(|j| j["found"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            // diagnose runs its probes in phases (reachability, one X.224 request, then the
            // rest concurrently, each under the limit): a few limits at most.
            let limit = 3 * TIMEOUT + MARGIN;
            if m.run.code != code
                || !found.iter().any(|c| c == cause)
                || found.iter().any(|c| c.starts_with("port-"))
                || m.wall >= limit
                || m.peak_rss_kb >= MAX_RSS_KB
            {
                failures.push(format!(
                    "{name}: exit {} (expected {code}), found {found:?} (expected {cause}), {:.2} s, {} KiB\n{}",
                    m.run.code,
                    m.wall.as_secs_f64(),
                    m.peak_rss_kb,
                    m.run.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
