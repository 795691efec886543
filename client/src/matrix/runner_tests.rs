//! The runner's scheduling rules against a scripted network: no servers, no timing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;
use crate::attempt::{DialTarget, Nla};
use crate::matrix::config::{DialBy, Dimensions};
use crate::report::Connected;
use crate::secret::Password;

/// How a scripted host behaves.
#[derive(Clone)]
enum Script {
    Unresolvable,
    /// Every attempt fails at TCP with this class.
    Dead(FailureClass),
    /// Connects only without NLA; the attempt with this config index panics.
    TlsOnly,
    Panics,
    /// Does not resolve here; through the gateway (which resolves it) it is TLS only.
    BehindGateway,
    /// TLS only directly; the gateway refuses every connection.
    GatewayDown,
}

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    max_running: AtomicUsize,
    per_host_running: Mutex<HashMap<String, usize>>,
    per_host_max: Mutex<HashMap<String, usize>>,
    attempts: Mutex<Vec<AttemptSpec>>,
}

struct Scripted {
    hosts: HashMap<String, Script>,
    counters: Arc<Counters>,
}

fn address_of(host: &str) -> SocketAddr {
    let n: u8 = host.trim_start_matches('h').parse().unwrap_or(1);
    SocketAddr::from(([10, 0, 0, n], 3389))
}

fn report(spec: &AttemptSpec, result: Result<Connected, Failure>) -> AttemptReport {
    AttemptReport {
        address: Some(address_of(&spec.host)),
        ..AttemptReport::not_run(spec, Duration::from_millis(1), result)
    }
}

impl Network for Scripted {
    fn resolve(
        &self,
        host: String,
        _port: u16,
        _limit: Duration,
    ) -> BoxFuture<Result<Vec<SocketAddr>, Failure>> {
        let result = match self.hosts.get(&host) {
            Some(Script::Unresolvable | Script::BehindGateway) | None => Err(Failure::new(
                Stage::Dns,
                FailureClass::Dns,
                format!("`{host}` does not resolve"),
            )),
            Some(_) => Ok(vec![address_of(&host)]),
        };
        Box::pin(async move { result })
    }

    fn attempt(&self, spec: AttemptSpec) -> BoxFuture<Option<AttemptReport>> {
        let script = match (self.hosts.get(&spec.host).cloned(), spec.gateway.is_some()) {
            (Some(Script::BehindGateway), true) => Some(Script::TlsOnly),
            (Some(Script::GatewayDown), true) => Some(Script::GatewayDown),
            (Some(Script::GatewayDown), false) => Some(Script::TlsOnly),
            (script, _) => script,
        };
        let counters = self.counters.clone();
        Box::pin(async move {
            let host = spec.host.clone();
            counters.attempts.lock().unwrap().push(spec.clone());
            let now = counters.running.fetch_add(1, Ordering::SeqCst) + 1;
            counters.max_running.fetch_max(now, Ordering::SeqCst);
            {
                let mut running = counters.per_host_running.lock().unwrap();
                let n = running.entry(host.clone()).or_default();
                *n += 1;
                let mut max = counters.per_host_max.lock().unwrap();
                let m = max.entry(host.clone()).or_default();
                *m = (*m).max(*n);
            }
            // Let the other tasks run while this one "is on the network".
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            *counters
                .per_host_running
                .lock()
                .unwrap()
                .get_mut(&host)
                .unwrap() -= 1;
            counters.running.fetch_sub(1, Ordering::SeqCst);
            let result = match script {
                Some(Script::Dead(class)) => Err(Failure::new(Stage::Tcp, class, "no answer")),
                Some(Script::GatewayDown) => Err(Failure::new(
                    Stage::GatewayConnect,
                    FailureClass::TcpRefused,
                    "the gateway refuses",
                )),
                Some(Script::Panics) if spec.nla == Nla::Off && !spec.udp => {
                    panic!("scripted panic")
                }
                Some(Script::TlsOnly | Script::Panics) if spec.nla == Nla::Off => {
                    Ok(Connected::for_tests("ssl"))
                }
                _ => Err(Failure::new(
                    Stage::X224,
                    FailureClass::NegotiationFailure(
                        crate::report::NegotiationCode::SslRequiredByServer,
                    ),
                    "TLS only",
                )),
            };
            Some(report(&spec, result))
        })
    }
}

fn scripted(hosts: &[(&str, Script)]) -> (Arc<Scripted>, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let net = Scripted {
        hosts: hosts
            .iter()
            .map(|(h, s)| ((*h).to_owned(), s.clone()))
            .collect(),
        counters: counters.clone(),
    };
    (Arc::new(net), counters)
}

fn job(host: &str) -> HostJob {
    HostJob {
        target: Target {
            host: host.to_owned(),
            port: 3389,
        },
        credentials: Some(Credentials {
            username: "u".into(),
            domain: None,
            password: Password::new("p"),
        }),
    }
}

fn limits(jobs: usize, per_host: usize) -> Limits {
    Limits {
        jobs,
        per_host,
        timeouts: StageTimeouts::uniform(Duration::from_secs(1)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_host_is_dialled_once_and_the_others_fully() {
    let (net, counters) = scripted(&[
        ("h1", Script::Dead(FailureClass::TcpTimeout)),
        ("h2", Script::TlsOnly),
        ("h3", Script::Dead(FailureClass::TcpRefused)),
    ]);
    let configs = Dimensions::default().expand();
    let run = run(
        net,
        vec![job("h1"), job("h2"), job("h3")],
        configs.clone(),
        None,
        limits(8, 2),
        None,
    )
    .await;
    let attempts = counters.attempts.lock().unwrap();
    let per_host = |h: &str| attempts.iter().filter(|s| s.host == h).count();
    assert_eq!((per_host("h1"), per_host("h2"), per_host("h3")), (1, 40, 1));

    let dead = &run.hosts[0];
    assert!(dead.unreachable);
    assert!(dead.cells[0].dialled);
    assert!(dead.cells[1..].iter().all(|c| !c.dialled
        && c.outcome() == "tcp-timeout"
        && c.detail.contains("nla/rustls-auto/name/udp")));
    assert_eq!(run.hosts[2].cells[39].outcome(), "tcp-refused");

    let live = &run.hosts[1];
    assert!(!live.unreachable && live.cells.iter().all(|c| c.dialled));
    for (config, cell) in configs.iter().zip(&live.cells) {
        assert_eq!(cell.is_ok(), !config.nla, "{}", config.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_host_is_never_dialled_and_says_why_by_ip() {
    let (net, counters) = scripted(&[("h1", Script::Unresolvable)]);
    let configs = Dimensions::default().expand();
    let run = run(
        net,
        vec![job("h1")],
        configs.clone(),
        None,
        limits(8, 2),
        None,
    )
    .await;
    assert!(counters.attempts.lock().unwrap().is_empty());
    let host = &run.hosts[0];
    assert!(host.resolve_error.is_some() && host.addresses.is_empty());
    for (config, cell) in configs.iter().zip(&host.cells) {
        assert_eq!(cell.outcome(), "dns");
        assert!(!cell.dialled);
        assert_eq!(
            cell.detail.contains("no address to dial by IP"),
            config.dial == DialBy::Ip,
            "{}",
            cell.detail
        );
    }
}

fn gateway() -> MatrixGateway {
    MatrixGateway {
        host: "gw".into(),
        port: 443,
        credentials: None,
    }
}

/// A host that does not resolve here is reached through the gateway by name (its direct
/// and by-IP cells are not dialled); a gateway that refuses costs one attempt, not one per
/// gateway cell, and leaves the direct cells alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_route_is_scheduled_on_its_own() {
    let (net, counters) = scripted(&[("h1", Script::BehindGateway), ("h2", Script::GatewayDown)]);
    let configs = Dimensions::with_gateway().expand();
    let run = run(
        net,
        vec![job("h1"), job("h2")],
        configs.clone(),
        Some(gateway()),
        limits(8, 2),
        None,
    )
    .await;
    let attempts = counters.attempts.lock().unwrap();
    let behind = &run.hosts[0];
    for (config, cell) in configs.iter().zip(&behind.cells) {
        let through_by_name = config.gateway.is_some() && config.dial == DialBy::Name;
        assert_eq!(
            cell.dialled, through_by_name,
            "{}: {}",
            config.id, cell.detail
        );
        if through_by_name {
            assert_eq!(cell.is_ok(), !config.nla, "{}", config.id);
        }
    }
    let h1_attempts: Vec<&AttemptSpec> = attempts.iter().filter(|s| s.host == "h1").collect();
    assert_eq!(
        h1_attempts.len(),
        20,
        "through the gateway by name: 2 NLA x 5 TLS x 2 UDP"
    );
    assert!(h1_attempts
        .iter()
        .all(|s| s.gateway.as_ref().is_some_and(|g| g.host == "gw")));
    assert!(
        h1_attempts
            .iter()
            .all(|s| s.gateway.as_ref().unwrap().credentials.username == "u"),
        "the host's credentials serve for the gateway, NLA or not"
    );

    let down = &run.hosts[1];
    let through: Vec<&AttemptSpec> = attempts
        .iter()
        .filter(|s| s.host != "h1" && s.gateway.is_some())
        .collect();
    assert_eq!(through.len(), 1, "a refusing gateway is dialled once");
    assert!(!down.unreachable, "the host itself answers directly");
    for (config, cell) in configs.iter().zip(&down.cells) {
        match config.gateway {
            Some(_) => assert_eq!(cell.stage, Stage::GatewayConnect, "{}", config.id),
            None => assert!(cell.dialled, "{}", config.id),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_stays_within_jobs_and_the_per_host_bound() {
    let names: Vec<String> = (1..=6).map(|n| format!("h{n}")).collect();
    let hosts: Vec<(&str, Script)> = names
        .iter()
        .map(|n| (n.as_str(), Script::TlsOnly))
        .collect();
    let (net, counters) = scripted(&hosts);
    let jobs = names.iter().map(|n| job(n)).collect();
    let run = run(
        net,
        jobs,
        Dimensions::default().expand(),
        None,
        limits(5, 2),
        None,
    )
    .await;
    assert_eq!(run.hosts.len(), 6);
    assert_eq!(counters.attempts.lock().unwrap().len(), 240);
    let max = counters.max_running.load(Ordering::SeqCst);
    assert!((2..=5).contains(&max), "global max {max}");
    let per_host = counters.per_host_max.lock().unwrap();
    assert!(per_host.values().all(|&m| m <= 2), "{per_host:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_follow_the_configuration_and_credentials_reach_nla_cells_only() {
    let (net, counters) = scripted(&[("h7", Script::TlsOnly)]);
    let configs = Dimensions::default().expand();
    let run = run(
        net,
        vec![job("h7")],
        configs.clone(),
        None,
        limits(3, 3),
        None,
    )
    .await;
    let attempts = counters.attempts.lock().unwrap();
    assert_eq!(attempts.len(), 40);
    for spec in attempts.iter() {
        assert_eq!(spec.credentials.is_some(), spec.nla.is_on());
        if let DialTarget::Address(a) = spec.dial {
            assert_eq!(a, address_of("h7"));
            assert_eq!(spec.effective_server_name(), "10.0.0.7");
        } else {
            assert_eq!(spec.effective_server_name(), "h7");
        }
    }
    assert_eq!(run.hosts[0].cells.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_attempt_costs_its_cell_only() {
    let (net, _) = scripted(&[("h1", Script::Panics)]);
    let configs = Dimensions::default().expand();
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let progress: Progress = Arc::new(move |_, _, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let run = run(
        net,
        vec![job("h1")],
        configs.clone(),
        None,
        limits(4, 2),
        Some(progress),
    )
    .await;
    assert_eq!(seen.load(Ordering::SeqCst), 40);
    for (config, cell) in configs.iter().zip(&run.hosts[0].cells) {
        if !config.nla && !config.udp {
            assert!(cell.detail.contains("panicked"), "{}", cell.detail);
        } else {
            assert_eq!(cell.is_ok(), !config.nla, "{}", config.id);
        }
    }
}
