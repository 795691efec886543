//! The bridge's listening socket and its sessions: accept, carry at most `max_sessions` at
//! once (one by default: a second client is turned away at once rather than left waiting),
//! stop after the first session with `--once`, stop on Ctrl-C or SIGTERM.
//!
//! This and the client leg are the only places outside the engine that touch sockets, and
//! they only *accept*: every outbound connection (the server leg) is the engine's.
//! Sessions run as local tasks on the caller's thread (the engine's futures are not
//! `Send`); a session that panics ends as a failed record, not as the bridge.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::net::TcpListener;
use tokio::task::{JoinSet, LocalSet};

use super::record::{Outcome, SessionRecord};
use super::session::carry;
use super::splice::Side;
use super::BridgeConfig;
use crate::report::{Failure, FailureClass, Stage};

/// How the bridge serves.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Sessions carried at once; a client beyond that is turned away.
    pub max_sessions: usize,
    /// Stop accepting after the first client, and return when its session ends.
    pub once: bool,
}

/// What the front end hears while the bridge runs.
pub trait Events {
    fn started(&mut self, number: usize, client: SocketAddr);
    fn ended(&mut self, record: &SessionRecord);
    /// A client arrived while `active` sessions ran (the limit); its connection was closed.
    fn turned_away(&mut self, client: SocketAddr, active: usize);
    /// `accept` failed (out of file descriptors, for one); the bridge keeps listening.
    fn accept_failed(&mut self, error: &io::Error);
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// `--once`: the first session ended.
    Once,
    /// Ctrl-C or SIGTERM (sessions still running were cut).
    Interrupted { cut: usize },
}

/// Binds the listener. Loopback unless the caller was told otherwise explicitly.
pub async fn bind(address: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM, caught from the moment of [`Interrupt::install`]
/// (before the ready line is printed, so a script that reads it and interrupts at once
/// still gets a clean stop rather than the default action).
pub struct Interrupt {
    #[cfg(unix)]
    signals: (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
}

impl Interrupt {
    /// Registers the handlers now. Needs a running Tokio runtime.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                signals: (
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                ),
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves on the next SIGINT or SIGTERM.
    pub async fn received(mut self) {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = &mut self.signals;
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Accepts and carries sessions until `stop` resolves or (`--once`) the first one ends.
/// Returns the records of every session that ended, in the order they ended.
pub async fn serve(
    listener: TcpListener,
    config: Rc<BridgeConfig>,
    options: ServeOptions,
    events: &mut dyn Events,
    stop: impl Future<Output = ()>,
) -> (Stopped, Vec<SessionRecord>) {
    // Sessions are spawned as local tasks: the engine's futures are not `Send`.
    LocalSet::new()
        .run_until(async move {
            let max = options.max_sessions.max(1);
            let mut sessions: JoinSet<SessionRecord> = JoinSet::new();
            let mut who: HashMap<tokio::task::Id, (usize, SocketAddr)> = HashMap::new();
            let mut records = Vec::new();
            let mut accepted = 0usize;
            let mut accepting = true;
            tokio::pin!(stop);

            loop {
                if !accepting && sessions.is_empty() {
                    return (Stopped::Once, records);
                }
                tokio::select! {
                    () = &mut stop => {
                        let cut = sessions.len();
                        // Dropping a session's task drops both legs' sockets: the client and the
                        // server see the connection close.
                        sessions.shutdown().await;
                        return (Stopped::Interrupted { cut }, records);
                    }
                    joined = sessions.join_next_with_id(), if !sessions.is_empty() => {
                        let record = match joined {
                            Some(Ok((id, record))) => {
                                who.remove(&id);
                                record
                            }
                            Some(Err(error)) => {
                                let (number, client) = who.remove(&error.id()).unwrap_or((0, unspecified()));
                                panicked(number, client, &error)
                            }
                            None => continue,
                        };
                        events.ended(&record);
                        records.push(record);
                    }
                    accepted_conn = listener.accept(), if accepting => {
                        match accepted_conn {
                            Ok((stream, client)) => {
                                if sessions.len() >= max {
                                    events.turned_away(client, sessions.len());
                                    drop(stream);
                                    continue;
                                }
                                accepted += 1;
                                let number = accepted;
                                events.started(number, client);
                                let config = config.clone();
                                let task = async move {
                                    // A panic inside one session (a decoder deep in a dependency)
                                    // is that session's failure, not the bridge's.
                                    std::panic::AssertUnwindSafe(carry(stream, client, number, &config))
                                        .catch_unwind()
                                        .await
                                        .unwrap_or_else(|_| {
                                            let mut record = SessionRecord::new(number, client);
                                            record.outcome = panic_outcome();
                                            record
                                        })
                                };
                                let handle = sessions.spawn_local(task);
                                who.insert(handle.id(), (number, client));
                                if options.once {
                                    accepting = false;
                                }
                            }
                            Err(error) => {
                                events.accept_failed(&error);
                                // EMFILE and friends: give sessions a moment to end before retrying.
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                }
            }
        })
        .await
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

fn panic_outcome() -> Outcome {
    Outcome::Failed {
        side: Side::Client,
        failure: Failure::new(
            Stage::Mcs,
            FailureClass::ProtocolError,
            "the session's task panicked (a bug in rdpshim or a library it uses)",
        ),
    }
}

fn panicked(number: usize, client: SocketAddr, _error: &tokio::task::JoinError) -> SessionRecord {
    let mut record = SessionRecord::new(number, client);
    record.outcome = panic_outcome();
    record
}
