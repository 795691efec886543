//! The bridge's listening socket and its sessions: accept, carry at most `max_sessions` at
//! once (one by default: a client beyond it waits [`SLOT_GRACE`] for a slot, then is
//! turned away rather than left hanging), stop after the first session with `--once`,
//! stop on Ctrl-C or SIGTERM.
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
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinSet, LocalSet};
use tokio::time::Instant;

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

/// How long a client that arrives while all sessions run waits for one to end before it
/// is turned away: a client reconnecting right after its previous session (the window
/// closed and reopened, mstsc's automatic reconnection) lands while the bridge is still
/// closing that session's server leg.
pub const SLOT_GRACE: Duration = Duration::from_secs(2);

/// The running sessions, as local tasks (the engine's futures are not `Send`).
struct Sessions {
    tasks: JoinSet<SessionRecord>,
    who: HashMap<tokio::task::Id, (usize, SocketAddr)>,
    started: usize,
}

impl Sessions {
    fn start(
        &mut self,
        stream: TcpStream,
        client: SocketAddr,
        config: &Rc<BridgeConfig>,
        events: &mut dyn Events,
    ) {
        self.started += 1;
        let number = self.started;
        events.started(number, client);
        let config = config.clone();
        let task = async move {
            // A panic inside one session (a decoder deep in a dependency) is that
            // session's failure, not the bridge's.
            std::panic::AssertUnwindSafe(carry(stream, client, number, &config))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| panicked(number, client))
        };
        let handle = self.tasks.spawn_local(task);
        self.who.insert(handle.id(), (number, client));
    }

    /// The record of a session that ended (`None` when none runs).
    async fn next_ended(&mut self) -> Option<SessionRecord> {
        match self.tasks.join_next_with_id().await? {
            Ok((id, record)) => {
                self.who.remove(&id);
                Some(record)
            }
            Err(error) => {
                let (number, client) = self
                    .who
                    .remove(&error.id())
                    .unwrap_or((0, SocketAddr::from(([0, 0, 0, 0], 0))));
                Some(panicked(number, client))
            }
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
    let max = options.max_sessions.max(1);
    let mut sessions = Sessions {
        tasks: JoinSet::new(),
        who: HashMap::new(),
        started: 0,
    };
    let mut records = Vec::new();
    // A client that arrived at the limit, waiting (at most SLOT_GRACE) for a slot.
    let mut waiting: Option<(TcpStream, SocketAddr, Instant)> = None;
    tokio::pin!(stop);
    let local = LocalSet::new();
    local
        .run_until(async {
            loop {
                let accepting = !(options.once && sessions.started > 0);
                if !accepting && sessions.tasks.is_empty() {
                    return (Stopped::Once, records);
                }
                let grace_over = waiting.as_ref().map(|(_, _, until)| *until);
                tokio::select! {
                    () = &mut stop => {
                        let cut = sessions.tasks.len();
                        // Dropping a session's task drops both legs' sockets: the client
                        // and the server see the connection close.
                        sessions.tasks.shutdown().await;
                        return (Stopped::Interrupted { cut }, records);
                    }
                    Some(record) = sessions.next_ended(), if !sessions.tasks.is_empty() => {
                        events.ended(&record);
                        records.push(record);
                        if let Some((stream, client, _)) = waiting.take() {
                            sessions.start(stream, client, &config, events);
                        }
                    }
                    () = sleep_until(grace_over), if grace_over.is_some() => {
                        if let Some((stream, client, _)) = waiting.take() {
                            events.turned_away(client, sessions.tasks.len());
                            drop(stream);
                        }
                    }
                    accepted = listener.accept(), if accepting && waiting.is_none() => {
                        match accepted {
                            Ok((stream, client)) if sessions.tasks.len() >= max => {
                                waiting = Some((stream, client, Instant::now() + SLOT_GRACE));
                            }
                            Ok((stream, client)) => {
                                sessions.start(stream, client, &config, events);
                            }
                            Err(error) => {
                                events.accept_failed(&error);
                                // EMFILE and friends: let sessions end before retrying.
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                }
            }
        })
        .await
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// The record of a session whose task panicked.
fn panicked(number: usize, client: SocketAddr) -> SessionRecord {
    let mut record = SessionRecord::new(number, client);
    record.outcome = Outcome::Failed {
        side: Side::Client,
        failure: Failure::new(
            Stage::Mcs,
            FailureClass::ProtocolError,
            "the session's task panicked (a bug in rdpshim or a library it uses)",
        ),
        cause: None,
    };
    record
}
