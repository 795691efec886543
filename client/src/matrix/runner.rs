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
use super::config::Configuration;
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
    global: Arc<Semaphore>,
    limits: Limits,
    progress: Option<Progress>,
}

impl<N> Clone for Shared<N> {
    fn clone(&self) -> Self {
        Self {
            net: self.net.clone(),
            configurations: self.configurations.clone(),
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
    limits: Limits,
    progress: Option<Progress>,
) -> MatrixRun {
    let started = Instant::now();
    let shared = Shared {
        net,
        configurations: Arc::new(configurations),
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
    let addresses = match resolved {
        Ok(addresses) if !addresses.is_empty() => addresses,
        Ok(_) => Vec::new(),
        Err(failure) => {
            let cells = configurations
                .iter()
                .map(|c| {
                    let why = match c.dial {
                        super::config::DialBy::Name => "the host did not resolve",
                        super::config::DialBy::Ip => {
                            "no address to dial by IP, the host did not resolve"
                        }
                    };
                    let cell = Cell::not_dialled(&failure, why, target.host.clone());
                    shared.report(&target, c, &cell);
                    cell
                })
                .collect();
            return HostRun {
                target,
                addresses: Vec::new(),
                resolve_error: Some(failure),
                unreachable: false,
                cells,
            };
        }
    };
    let Some(&first) = addresses.first() else {
        let failure = Failure::new(Stage::Dns, FailureClass::Dns, "resolves to no address");
        return HostRun {
            cells: configurations
                .iter()
                .map(|_| Cell::not_dialled(&failure, "no address", target.host.clone()))
                .collect(),
            target,
            addresses,
            resolve_error: Some(failure),
            unreachable: false,
        };
    };

    let specs: Vec<AttemptSpec> = configurations
        .iter()
        .map(|c| {
            c.spec(
                &target.host,
                target.port,
                first,
                credentials.as_ref(),
                timeouts,
            )
        })
        .collect();
    let per_host = Arc::new(Semaphore::new(shared.limits.per_host.max(1)));
    let mut cells: Vec<Option<Cell>> = vec![None; specs.len()];
    let mut unreachable = false;

    if let Some(spec) = specs.first() {
        let cell = attempt_cell(&shared, &per_host, spec.clone()).await;
        shared.report(&target, &configurations[0], &cell);
        if let Some(failure) = cell.as_failure().filter(|_| cell.host_unreachable()) {
            unreachable = true;
            let why = format!(
                "the host's first cell ({}) did not reach it",
                configurations[0].id
            );
            for (index, spec) in specs.iter().enumerate().skip(1) {
                let skipped =
                    Cell::not_dialled(&failure, &why, spec.effective_server_name().to_owned());
                shared.report(&target, &configurations[index], &skipped);
                cells[index] = Some(skipped);
            }
        }
        cells[0] = Some(cell);
    }

    if !unreachable {
        let mut set = JoinSet::new();
        for (index, spec) in specs.into_iter().enumerate().skip(1) {
            let (shared, per_host) = (shared.clone(), per_host.clone());
            set.spawn(async move { (index, attempt_cell(&shared, &per_host, spec).await) });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((index, cell)) = joined {
                shared.report(&target, &configurations[index], &cell);
                cells[index] = Some(cell);
            }
        }
    }

    HostRun {
        cells: cells
            .into_iter()
            .map(|c| c.unwrap_or_else(|| internal_error("the cell's task was lost")))
            .collect(),
        target,
        addresses,
        resolve_error: None,
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
