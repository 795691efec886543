//! Threads that run engine attempts, each on its own single-threaded tokio runtime.
//!
//! Why not `tokio::spawn` on a multi-threaded runtime: rustc cannot prove the engine's
//! attempt future `Send` (a higher-ranked lifetime on a borrowed `&str` inside it: "`Send`
//! would have to be implemented for the type `&str`"), although nothing in it is shared
//! between threads. So the runner's tasks stay `Send` and hand each attempt spec to one of
//! these threads over a channel; the report comes back on a oneshot. A matrix spends its
//! CPU in TLS handshakes and first-frame decoding, so one thread per core is what matters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::attempt::AttemptSpec;
use crate::report::AttemptReport;

type Job = (AttemptSpec, oneshot::Sender<AttemptReport>);

pub struct AttemptPool {
    workers: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl AttemptPool {
    /// Starts `threads` attempt threads (at least one). They stop when the pool is dropped.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let mut workers = Vec::new();
        for n in 0..threads.max(1) {
            let (tx, rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            thread::Builder::new()
                .name(format!("rdpshim-attempt-{n}"))
                .spawn(move || serve(&runtime, rx))?;
            workers.push(tx);
        }
        Ok(Self {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `spec` on the next thread (round robin). `None` when the attempt panicked.
    pub async fn attempt(&self, spec: AttemptSpec) -> Option<AttemptReport> {
        let (tx, rx) = oneshot::channel();
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[n].send((spec, tx)).ok()?;
        rx.await.ok()
    }
}

fn serve(runtime: &tokio::runtime::Runtime, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let local = tokio::task::LocalSet::new();
    local.block_on(runtime, async move {
        while let Some((spec, reply)) = jobs.recv().await {
            // A panic ends this task only; `reply` is dropped and the caller sees `None`.
            tokio::task::spawn_local(async move {
                let report = crate::route::run_attempt(&spec).await;
                let _ = reply.send(report);
            });
        }
    });
}
