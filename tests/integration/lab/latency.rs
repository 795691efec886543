//! Latency: Happy Eyeballs past a name's dead first address, and round trips counted per
//! stage behind the delaying proxy (`rdpshim_lab::delay`). Timing goals are benchmarks
//! (`bench/latency.sh`, `bench/LATENCY.md`); the bounds here are behaviour: "well within
//! the time-out", not "fast".

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdpshim_lab::delay::{ConnectionStats, DelayProxy, Link};
use serde_json::Value;

use crate::common::{ladder_with, LabServer, Run, RDPSHIM};

/// A name that resolves to a netns-drop server's IPv6 address first (dropped by its
/// firewall) and to 127.0.0.1 second, on the drop server's port, where a proxy forwards to
/// a working xrdp-modern.
struct DeadFirst {
    /// Holds the port and the firewall.
    drop: LabServer,
    _live: LabServer,
    _forward: DelayProxy,
    hosts: PathBuf,
    dead: String,
    name: &'static str,
}

impl DeadFirst {
    fn start(drop: LabServer, live: LabServer) -> Self {
        let host6 = drop.fields.get("host6").cloned().unwrap_or_else(|| {
            panic!(
                "netns-drop printed no host6= (no IPv6 in network namespaces here?): {:?}",
                drop.fields
            )
        });
        let port = drop.port;
        let forward = DelayProxy::start_on(
            SocketAddr::from(([127, 0, 0, 1], port)),
            live.addr().parse().expect("lab address"),
            Link::rtt_ms(0),
        )
        .expect("a forwarder on 127.0.0.1 at the drop server's port");
        let name = "rdpshim-lab-dead-first";
        let hosts = drop.dir().join("hosts-dead-first");
        std::fs::write(&hosts, format!("{host6} {name}\n127.0.0.1 {name}\n")).unwrap();
        Self {
            dead: format!("[{host6}]:{port}"),
            drop,
            _live: live,
            _forward: forward,
            hosts,
            name,
        }
    }

    fn live(&self) -> String {
        format!("127.0.0.1:{}", self.drop.port)
    }

    /// `rdpshim connect NAME:PORT --json ARGS` with the name resolving as described.
    fn connect(&self, args: &[&str]) -> Run {
        let mut command = Command::new(rdpshim_lab::with_hosts_script());
        command.arg(&self.hosts).arg(RDPSHIM);
        let target = format!("{}:{}", self.name, self.drop.port);
        ladder_with(command, &self.drop, &target, args, None)
    }
}

fn raced(attempt: &Value) -> Vec<(String, String)> {
    attempt["raced"]
        .as_array()
        .unwrap_or_else(|| panic!("no raced list: {attempt}"))
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The run connected, and far inside its 10 s `--timeout` (a behaviour bound: before Happy
/// Eyeballs the dead address alone cost the whole time-out).
fn connected_well_within_the_timeout(run: &Run) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let ms = run.json()["ms"].as_f64().expect("ms");
    assert!(ms < 3000.0, "10 s time-out, connected in {ms} ms");
}

#[test]
fn a_name_whose_first_address_drops_packets_connects_on_the_next_well_within_the_timeout() {
    let drop = lab!("netns-drop");
    let live = lab!("xrdp-modern");
    let lab = DeadFirst::start(drop, live);

    // One attempt: the dropped address is given 250 ms, then the next one is raced and kept.
    let run = lab.connect(&[
        "--no-fallback",
        "--nla",
        "off",
        "--timeout",
        "10",
        "--no-save",
    ]);
    connected_well_within_the_timeout(&run);
    let attempt = run.attempt();
    assert_eq!(
        attempt["address"],
        lab.live(),
        "the address kept is the one that answered"
    );
    assert_eq!(
        raced(&attempt),
        [
            (lab.dead.clone(), "abandoned".to_owned()),
            (lab.live(), "connected".to_owned())
        ]
    );
    let second_started = attempt["raced"][1]["started_ms"].as_f64();
    assert!(
        second_started.is_some_and(|s| s >= 250.0),
        "the second connect waits the attempt delay: {attempt}"
    );

    // The ladder from cold: mstsc's offer lets the server choose TLS, so the one attempt
    // that races the addresses connects, and the profile remembers the address.
    let run = lab.connect(&["--timeout", "10"]);
    connected_well_within_the_timeout(&run);
    assert_eq!(run.fallbacks(), ["nla-off"]);
    let attempts = run.json()["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(
        raced(&attempts[0]),
        [
            (lab.dead.clone(), "abandoned".to_owned()),
            (lab.live(), "connected".to_owned())
        ]
    );

    // Warm: the profile's address goes first, so nothing waits for the dead one.
    let run = lab.connect(&["--timeout", "10"]);
    connected_well_within_the_timeout(&run);
    assert_eq!(run.attempts(), 1);
    assert_eq!(
        raced(&run.attempt()),
        [(lab.live(), "connected".to_owned())]
    );
}

/// The proxy's record of the one connection it carried, once it has ended.
fn only_connection(proxy: &DelayProxy) -> ConnectionStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let finished = proxy.finished();
        if finished.len() as u64 == proxy.accepted() && !finished.is_empty() {
            assert_eq!(finished.len(), 1, "{finished:?}");
            return finished[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the proxied connection never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stage_round_trips(attempt: &Value) -> Vec<(String, u64)> {
    attempt["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap_or_default().to_owned(),
                s["round_trips"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no round_trips in {s}")),
            )
        })
        .collect()
}

#[test]
fn round_trips_are_counted_per_stage_and_agree_with_the_proxy() {
    const RTT_MS: u64 = 60;
    for kind in ["xrdp-modern", "shadow-nla"] {
        let server = lab!(kind);
        let proxy =
            DelayProxy::start(server.addr().parse().unwrap(), Link::rtt_ms(RTT_MS)).expect("proxy");
        let password = format!("{}\n", server.password);
        let mut args = vec!["--no-fallback", "--no-save", "--timeout", "10"];
        let stdin = if server.user.is_empty() {
            args.extend(["--nla", "off"]);
            None
        } else {
            args.extend(["-u", server.user.as_str(), "--password-stdin"]);
            Some(password.as_str())
        };
        let run = ladder_with(
            Command::new(RDPSHIM),
            &server,
            &proxy.addr().to_string(),
            &args,
            stdin,
        );
        assert_eq!(run.code, 0, "{kind}: {}\n{}", run.stdout, run.stderr);
        let attempt = run.attempt();
        let stages = stage_round_trips(&attempt);
        let count = |name: &str| {
            stages
                .iter()
                .find(|(s, _)| s == name)
                .map(|(_, n)| *n)
                .unwrap_or_else(|| panic!("{kind}: no {name} stage in {stages:?}"))
        };
        assert_eq!(count("tcp"), 1, "{kind}: the handshake: {stages:?}");
        assert_eq!(count("x224"), 1, "{kind}: request, confirm: {stages:?}");
        assert!(count("tls") >= 1, "{kind}: {stages:?}");
        if kind == "shadow-nla" {
            // NTLM negotiate/challenge, authenticate/public key, credentials.
            assert!(count("credssp") >= 2, "{kind}: {stages:?}");
        }
        let total: u64 = stages.iter().map(|(_, n)| n).sum();
        assert_eq!(attempt["round_trips"], total, "{kind}: the attempt's total");

        // The proxy counts the same waits from the other side of the wire.
        let seen = only_connection(&proxy);
        assert_eq!(
            u64::from(seen.round_trips()),
            total,
            "{kind}: the proxy counted {seen:?}, rdpshim {stages:?}"
        );

        // The measured round trip: at least the link's, and nowhere near a time-out.
        let rtt = attempt["rtt_ms"].as_f64().expect("rtt_ms");
        assert!(
            (RTT_MS as f64..2000.0).contains(&rtt),
            "{kind}: rtt_ms {rtt} behind a {RTT_MS} ms link"
        );
    }
}
