//! Runs every configuration against every host: one engine attempt per cell (never the
//! fallback ladder), each cell independent of the others.
//!
//! Bounds: at most `jobs` attempts at once overall and `per_host` on any one host (xrdp
//! listens with a backlog of 2; a regression harness must not be the reason a server drops
//! connections). Each host is resolved once, before its cells. A host's first cell runs
//! alone: when it does not reach the host over TCP (refused, or no answer), every other
//! cell of that host would fail the same way, so they are recorded as not dialled and a
//! dead host costs its timeout once, not once per cell.
//!
//! Through the RD Gateway (`--gateway`) the same holds per route: the first gateway cell
//! runs alone, and a gateway that does not answer costs its timeout once. The gateway
//! resolves the host itself, so a host that does not resolve here still gets its by-name
//! gateway cells (its direct and by-IP cells are not dialled).
//!
//! The network is behind [`Network`] so the scheduling rules are unit-tested without
//! servers; [`Engine`] is the real one.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::cell::Cell;
use super::config::{Configuration, DialBy, MatrixGateway, RouteBy};
use super::hosts::Target;
use super::pool::AttemptPool;
use crate::attempt::{AttemptSpec, Credentials, StageTimeouts};
use crate::report::{AttemptReport, Failure, FailureClass, Stage};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What the runner needs from the network.
pub trait Network: Send + Sync + 'static {
    fn resolve(
        &self,
        host: String,
        port: u16,
        limit: Duration,
    ) -> BoxFuture<Result<Vec<SocketAddr>, Failure>>;
    /// One attempt; `None` when it died without a report (a panic: there should be none).
    fn attempt(&self, spec: AttemptSpec) -> BoxFuture<Option<AttemptReport>>;
}

/// The real network: [`crate::engine`], attempts on an [`AttemptPool`].
pub struct Engine {
    pool: Arc<AttemptPool>,
}

impl Engine {
    /// Starts `threads` attempt threads (one per core is plenty).
    pub fn start(threads: usize) -> std::io::Result<Self> {
        Ok(Self {
            pool: Arc::new(AttemptPool::start(threads)?),
        })
    }
}

impl Network for Engine {
    fn resolve(
        &self,
        host: String,
        port: u16,
        limit: Duration,
    ) -> BoxFuture<Result<Vec<SocketAddr>, Failure>> {
        Box::pin(async move { crate::engine::resolve(&host, port, limit).await })
    }

    fn attempt(&self, spec: AttemptSpec) -> BoxFuture<Option<AttemptReport>> {
        let pool = self.pool.clone();
        Box::pin(async move { pool.attempt(spec).await })
    }
}

/// A host and the credentials its NLA cells use.
#[derive(Debug, Clone)]
pub struct HostJob {
    pub target: Target,
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts at once, all hosts together.
    pub jobs: usize,
    /// Attempts at once on one host.
    pub per_host: usize,
    pub timeouts: StageTimeouts,
}

/// One row of the matrix.
#[derive(Debug, Clone)]
pub struct HostRun {
    pub target: Target,
    /// What the host resolved to (resolver order); the by-IP cells dial the first.
    pub addresses: Vec<SocketAddr>,
    /// Resolution failed: no cell was dialled.
    pub resolve_error: Option<Failure>,
    /// The first cell did not reach the host over TCP: the others were not dialled.
    pub unreachable: bool,
    /// One per configuration, in configuration order.
    pub cells: Vec<Cell>,
}

/// The whole matrix.
#[derive(Debug, Clone)]
pub struct MatrixRun {
    pub configurations: Vec<Configuration>,
    pub hosts: Vec<HostRun>,
    pub elapsed: Duration,
}

/// Called as each cell finishes (progress on a terminal).
pub type Progress = Arc<dyn Fn(&Target, &Configuration, &Cell) + Send + Sync>;

struct Shared<N> {
    net: Arc<N>,
    configurations: Arc<Vec<Configuration>>,
    gateway: Option<Arc<MatrixGateway>>,
    global: Arc<Semaphore>,
    limits: Limits,
    progress: Option<Progress>,
}

impl<N> Clone for Shared<N> {
    fn clone(&self) -> Self {
        Self {
            net: self.net.clone(),
            configurations: self.configurations.clone(),
            gateway: self.gateway.clone(),
            global: self.global.clone(),
            limits: self.limits,
            progress: self.progress.clone(),
        }
    }
}

/// Runs the matrix. Needs a tokio runtime; hosts proceed in parallel within the limits.
pub async fn run<N: Network>(
    net: Arc<N>,
    jobs: Vec<HostJob>,
    configurations: Vec<Configuration>,
    gateway: Option<MatrixGateway>,
    limits: Limits,
    progress: Option<Progress>,
) -> MatrixRun {
    let started = Instant::now();
    let shared = Shared {
        net,
        configurations: Arc::new(configurations),
        gateway: gateway.map(Arc::new),
        global: Arc::new(Semaphore::new(limits.jobs.max(1))),
        limits,
        progress,
    };
    let targets: Vec<Target> = jobs.iter().map(|j| j.target.clone()).collect();
    let mut set = JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let shared = shared.clone();
        set.spawn(async move { (index, run_host(shared, job).await) });
    }
    let mut rows: Vec<Option<HostRun>> = vec![None; targets.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((index, row)) = joined {
            rows[index] = Some(row);
        }
    }
    let hosts = rows
        .into_iter()
        .zip(targets)
        .map(|(row, target)| row.unwrap_or_else(|| lost_host(&shared, target)))
        .collect();
    MatrixRun {
        configurations: shared.configurations.to_vec(),
        hosts,
        elapsed: started.elapsed(),
    }
}

async fn run_host<N: Network>(shared: Shared<N>, job: HostJob) -> HostRun {
    let HostJob {
        target,
        credentials,
    } = job;
    let configurations = shared.configurations.clone();
    let timeouts = shared.limits.timeouts;
    let resolved = {
        let _permit = shared.global.acquire().await;
        shared
            .net
            .resolve(target.host.clone(), target.port, timeouts.dns)
            .await
    };
    let (addresses, resolve_error) = match resolved {
        Ok(addresses) if !addresses.is_empty() => (addresses, None),
        Ok(_) => (
            Vec::new(),
            Some(Failure::new(
                Stage::Dns,
                FailureClass::Dns,
                "resolves to no address",
            )),
        ),
        Err(failure) => (Vec::new(), Some(failure)),
    };
    let first = addresses.first().copied();

    // What cannot be attempted without an address: direct cells and by-IP cells. (By
    // name through a gateway, the gateway resolves the host.)
    let mut cells: Vec<Option<Cell>> = vec![None; configurations.len()];
    if let Some(failure) = &resolve_error {
        for (index, c) in configurations.iter().enumerate() {
            let needs_address = c.route() == RouteBy::Direct || c.dial == DialBy::Ip;
            if needs_address {
                let why = match c.dial {
                    DialBy::Name => "the host did not resolve",
                    DialBy::Ip => "no address to dial by IP, the host did not resolve",
                };
                let cell = Cell::not_dialled(failure, why, target.host.clone());
                shared.report(&target, c, &cell);
                cells[index] = Some(cell);
            }
        }
    }
    let specs: Vec<Option<AttemptSpec>> = configurations
        .iter()
        .enumerate()
        .map(|(index, c)| {
            cells[index].is_none().then(|| {
                c.spec(
                    &target.host,
                    target.port,
                    first,
                    credentials.as_ref(),
                    shared.gateway.as_deref(),
                    timeouts,
                )
            })
        })
        .collect();
    let per_host = Arc::new(Semaphore::new(shared.limits.per_host.max(1)));
    let mut unreachable = false;

    // Per route, its first cell alone: a host (or gateway) it does not reach is dialled
    // once.
    for route in [RouteBy::Direct, RouteBy::Gateway] {
        let Some(index) =
            (0..specs.len()).find(|&i| specs[i].is_some() && configurations[i].route() == route)
        else {
            continue;
        };
        let Some(spec) = specs[index].clone() else {
            continue;
        };
        let cell = attempt_cell(&shared, &per_host, spec).await;
        shared.report(&target, &configurations[index], &cell);
        let dead = match route {
            RouteBy::Direct => cell.host_unreachable(),
            RouteBy::Gateway => cell.gateway_unreachable(),
        };
        if let Some(failure) = cell.as_failure().filter(|_| dead) {
            if route == RouteBy::Direct {
                unreachable = true;
            }
            let what = match route {
                RouteBy::Direct => "the host's first cell",
                RouteBy::Gateway => "the host's first gateway cell",
            };
            let why = format!("{what} ({}) did not reach it", configurations[index].id);
            for (other, spec) in specs.iter().enumerate() {
                let Some(spec) = spec else { continue };
                if other == index || configurations[other].route() != route {
                    continue;
                }
                let skipped =
                    Cell::not_dialled(&failure, &why, spec.effective_server_name().to_owned());
                shared.report(&target, &configurations[other], &skipped);
                cells[other] = Some(skipped);
            }
        }
        cells[index] = Some(cell);
    }

    let mut set = JoinSet::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let Some(spec) = spec.filter(|_| cells[index].is_none()) else {
            continue;
        };
        let (shared, per_host) = (shared.clone(), per_host.clone());
        set.spawn(async move { (index, attempt_cell(&shared, &per_host, spec).await) });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok((index, cell)) = joined {
            shared.report(&target, &configurations[index], &cell);
            cells[index] = Some(cell);
        }
    }

    HostRun {
        cells: cells
            .into_iter()
            .map(|c| c.unwrap_or_else(|| internal_error("the cell's task was lost")))
            .collect(),
        target,
        addresses,
        resolve_error,
        unreachable,
    }
}

/// One attempt under the host's bound, then the global one (in that order, so a cell that
/// waits for its host does not hold a global slot another host could use).
async fn attempt_cell<N: Network>(
    shared: &Shared<N>,
    per_host: &Semaphore,
    spec: AttemptSpec,
) -> Cell {
    let _host_permit = per_host.acquire().await;
    let _permit = shared.global.acquire().await;
    // Its own task, so that a panic (there should be none on any server reply) costs one
    // cell and not the matrix.
    match tokio::spawn(shared.net.attempt(spec)).await {
        Ok(Some(report)) => Cell::from_report(&report),
        Ok(None) => internal_error("the attempt panicked"),
        Err(e) => internal_error(&format!("the attempt panicked: {e}")),
    }
}

fn internal_error(what: &str) -> Cell {
    let failure = Failure::new(
        Stage::Dns,
        FailureClass::ProtocolError,
        format!("internal error: {what}"),
    );
    let mut cell = Cell::not_dialled(&failure, "rdpshim bug", String::new());
    cell.detail = failure.detail;
    cell
}

fn lost_host<N>(shared: &Shared<N>, target: Target) -> HostRun {
    HostRun {
        cells: shared
            .configurations
            .iter()
            .map(|_| internal_error("the host's task was lost"))
            .collect(),
        target,
        addresses: Vec::new(),
        resolve_error: None,
        unreachable: false,
    }
}

impl<N> Shared<N> {
    fn report(&self, target: &Target, configuration: &Configuration, cell: &Cell) {
        if let Some(progress) = &self.progress {
            progress(target, configuration, cell);
        }
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
