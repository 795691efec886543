//! A delaying TCP proxy: puts a lab server "across a WAN" on loopback.
//!
//! Loopback makes every round trip free, which hides what a user on a VPN pays for each
//! extra attempt or stage. [`DelayProxy`] accepts connections, dials the upstream server and
//! forwards both directions, each chunk held back by the one-way delay (so a round trip
//! costs `2 * delay`). Order is kept per direction, as TCP keeps it.
//!
//! `tc netem` is not available on this kernel (see FACTS.md), so the delay is done in user
//! space. Loss is emulated the way TCP presents it to the application: a "lost" chunk
//! arrives one extra round trip late (the retransmission), and everything behind it waits
//! (head-of-line blocking). Which chunks are lost comes from a seeded generator, so a run
//! can be repeated. That is a lower bound on what loss costs: a real TCP repairs a lost
//! tail segment only after its tail-loss probe or retransmission timer (at least about
//! two round trips, or Linux's 200 ms minimum RTO), and a lost SYN after a whole second.
//!
//! Each connection also counts the client's *flights* the way the engine does
//! ([`ConnectionStats::flights`]): a flight is answered when the server's bytes reach the
//! client after the client sent something. The count is the same for any client behind
//! the proxy, so rdpshim's round trips can be set next to xfreerdp's measured the same way.
//!
//! ```no_run
//! let proxy = rdpshim_lab::delay::DelayProxy::start(
//!     "127.0.0.1:3389".parse().unwrap(),
//!     rdpshim_lab::delay::Link::rtt_ms(50),
//! ).unwrap();
//! let dial_me = proxy.addr();
//! # drop(dial_me);
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// What the link does to each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Added to every chunk, each direction.
    pub one_way: Duration,
    /// Probability that a chunk is "lost" and arrives one round trip later.
    pub loss: f64,
    /// Seed for the loss pattern (each connection and direction derives its own).
    pub seed: u64,
}

impl Link {
    /// A link with this round-trip time and no loss.
    pub fn rtt_ms(rtt: u64) -> Self {
        Self {
            one_way: Duration::from_micros(rtt * 500),
            loss: 0.0,
            seed: 1,
        }
    }

    pub fn with_loss(mut self, loss: f64, seed: u64) -> Self {
        self.loss = loss.clamp(0.0, 1.0);
        self.seed = seed;
        self
    }

    fn rtt(&self) -> Duration {
        self.one_way * 2
    }
}

/// What one proxied connection did, reported once the client has closed it and its close
/// has reached the server (the server may keep its half open longer; the client can wait
/// for nothing more).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStats {
    /// 1, 2, ... in the order the proxy accepted them.
    pub id: u64,
    /// Client flights the server answered: how often server bytes reached the client after
    /// the client had sent something since the last such delivery. The TCP handshake is not
    /// among them (see [`ConnectionStats::round_trips`]). A client that sends while the
    /// server is already sending (after the connection sequence) can add one too many; up to
    /// the first frame RDP is lock-step.
    pub flights: u32,
    /// Bytes client -> server and server -> client.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// From the accept until the client's close reached the server.
    pub duration: Duration,
}

impl ConnectionStats {
    /// Round trips the client waited for: the TCP handshake plus every answered flight.
    pub fn round_trips(&self) -> u32 {
        self.flights + 1
    }

    /// One line for logs and the `delay-proxy` binary: `closed id=1 round_trips=10 flights=9
    /// up=2048 down=65536 ms=512.3`.
    pub fn line(&self) -> String {
        format!(
            "closed id={} round_trips={} flights={} up={} down={} ms={:.1}",
            self.id,
            self.round_trips(),
            self.flights,
            self.bytes_up,
            self.bytes_down,
            self.duration.as_secs_f64() * 1000.0
        )
    }
}

/// What [`DelayProxy::start_reporting`] reports, from the connection's own thread.
#[derive(Debug, Clone, Copy)]
pub enum ProxyEvent<'a> {
    /// Connection `id` was accepted (reported before its upstream is dialled).
    Accepted(u64),
    /// A connection ended for its client (see [`ConnectionStats`]).
    Closed(&'a ConnectionStats),
}

type Report = Box<dyn Fn(ProxyEvent<'_>) + Send + Sync>;

/// What the accept loop and the connections share with the handle.
struct Shared {
    stop: AtomicBool,
    accepted: AtomicU64,
    finished: Mutex<Vec<ConnectionStats>>,
    report: Option<Report>,
}

/// A running proxy; stops accepting when dropped (connections in flight end with their
/// peers).
pub struct DelayProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DelayProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayProxy")
            .field("addr", &self.addr)
            .field("accepted", &self.accepted())
            .finish()
    }
}

impl DelayProxy {
    /// Listens on 127.0.0.1 (or ::1 for an IPv6 upstream) on a free port.
    pub fn start(upstream: SocketAddr, link: Link) -> io::Result<Self> {
        let bind: SocketAddr = if upstream.is_ipv6() {
            "[::1]:0".parse().expect("literal")
        } else {
            "127.0.0.1:0".parse().expect("literal")
        };
        Self::start_on(bind, upstream, link)
    }

    pub fn start_on(bind: SocketAddr, upstream: SocketAddr, link: Link) -> io::Result<Self> {
        Self::spawn(bind, upstream, link, None)
    }

    /// [`DelayProxy::start_on`], calling `report` as each connection is accepted and ends (a
    /// benchmark waits for every accepted connection to end before it reads the counts).
    pub fn start_reporting(
        bind: SocketAddr,
        upstream: SocketAddr,
        link: Link,
        report: impl Fn(ProxyEvent<'_>) + Send + Sync + 'static,
    ) -> io::Result<Self> {
        Self::spawn(bind, upstream, link, Some(Box::new(report)))
    }

    fn spawn(
        bind: SocketAddr,
        upstream: SocketAddr,
        link: Link,
        report: Option<Report>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            finished: Mutex::new(Vec::new()),
            report,
        });
        let shared2 = Arc::clone(&shared);
        thread::Builder::new()
            .name(format!("delay-proxy {addr}"))
            .spawn(move || accept_loop(listener, upstream, link, &shared2))?;
        Ok(Self { addr, shared })
    }

    /// Where clients dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// The connections whose client has closed them, in that order.
    pub fn finished(&self) -> Vec<ConnectionStats> {
        self.shared
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, link: Link, shared: &Arc<Shared>) {
    for (n, client) in listener.incoming().enumerate() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let id = shared.accepted.fetch_add(1, Ordering::SeqCst) + 1;
        let seed = link.seed.wrapping_add(2 * n as u64);
        let shared = Arc::clone(shared);
        let _ = thread::Builder::new()
            .name("delay-proxy conn".into())
            .spawn(move || {
                let accepted = Instant::now();
                if let Some(report) = &shared.report {
                    report(ProxyEvent::Accepted(id));
                }
                let turns = Arc::new(Mutex::new(Turns::default()));
                let mut reported = false;
                let mut client_done = || {
                    if std::mem::replace(&mut reported, true) {
                        return;
                    }
                    let stats = turns
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .stats(id, accepted.elapsed());
                    shared
                        .finished
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(stats.clone());
                    if let Some(report) = &shared.report {
                        report(ProxyEvent::Closed(&stats));
                    }
                };
                let relayed = relay(
                    client,
                    upstream,
                    link,
                    seed,
                    accepted,
                    &turns,
                    &mut client_done,
                );
                if let Err(e) = relayed {
                    eprintln!("delay-proxy: {upstream}: {e}");
                }
                client_done();
            });
    }
}

/// Who spoke last on one connection, as the client sees it.
#[derive(Debug, Default)]
struct Turns {
    /// The client sent bytes since the server's last delivery.
    client_spoke: bool,
    /// The client closed its side: nothing more is a flight it waits for.
    client_closed: bool,
    flights: u32,
    bytes_up: u64,
    bytes_down: u64,
}

impl Turns {
    fn stats(&self, id: u64, duration: Duration) -> ConnectionStats {
        ConnectionStats {
            id,
            flights: self.flights,
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            duration,
        }
    }
}

/// Which way a pump copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One client: dial upstream and pump both directions.
///
/// The kernel completes the client's TCP handshake before `accept` returns, so the client's
/// `connect()` costs nothing here instead of one round trip. The proxy charges it to the
/// first exchange instead: the client's first bytes reach the server no earlier than a
/// round trip (the handshake) plus one way after the accept, as they would over the WAN, and
/// the server's first bytes (a server that speaks first) leave no earlier than the server's
/// own accept would return over the WAN, a round trip and a half after the client's SYN.
/// Time to first frame is therefore right; a client's own "TCP connect" time is not.
fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    link: Link,
    seed: u64,
    accepted: Instant,
    turns: &Arc<Mutex<Turns>>,
    client_done: &mut dyn FnMut(),
) -> io::Result<()> {
    let server = match TcpStream::connect(upstream) {
        Ok(s) => s,
        Err(e) => {
            // Pass a refusal on as a close.
            let _ = client.shutdown(Shutdown::Both);
            return Err(e);
        }
    };
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    // The emulated handshake: SYN at the accept, the client's connect() returns a round trip
    // later, the server's accept() half a round trip after that.
    let client_connected = accepted + link.rtt();
    let server_accepted = client_connected + link.one_way;
    let up = pump(
        client.try_clone()?,
        server.try_clone()?,
        Flow {
            link,
            seed,
            deliver_from: server_accepted,
            direction: Direction::Up,
            turns: Arc::clone(turns),
        },
    )?;
    let down = pump(
        server,
        client,
        Flow {
            link,
            seed: seed.wrapping_add(1),
            deliver_from: server_accepted + link.one_way,
            direction: Direction::Down,
            turns: Arc::clone(turns),
        },
    )?;
    let _ = up.join();
    // The client's close has reached the server: its count is final, even if the server
    // keeps its half open for a while (xrdp does, for seconds, after xfreerdp +auth-only).
    client_done();
    let _ = down.join();
    Ok(())
}

/// One direction of one connection.
struct Flow {
    link: Link,
    seed: u64,
    /// No chunk arrives before this (the emulated handshake).
    deliver_from: Instant,
    direction: Direction,
    turns: Arc<Mutex<Turns>>,
}

enum Chunk {
    Data(Vec<u8>, Instant),
    End(Instant),
}

/// Copies `from` -> `to`, each chunk delivered at `max(sent + one_way, deliver_from)` (plus
/// a round trip when "lost"), never before the chunk ahead of it.
///
/// The flight count is kept where the client's view is: a client chunk counts when the
/// proxy reads it (the client has sent it), a server chunk when the proxy delivers it.
fn pump(mut from: TcpStream, mut to: TcpStream, flow: Flow) -> io::Result<thread::JoinHandle<()>> {
    let Flow {
        link,
        seed,
        deliver_from,
        direction,
        turns,
    } = flow;
    let (tx, rx) = mpsc::channel::<Chunk>();
    let mut rng = SplitMix(seed);
    let read_turns = Arc::clone(&turns);
    thread::Builder::new()
        .name("delay-proxy read".into())
        .spawn(move || {
            let mut last = deliver_from;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                if direction == Direction::Up {
                    let mut t = read_turns.lock().unwrap_or_else(PoisonError::into_inner);
                    if n > 0 {
                        t.client_spoke = true;
                        t.bytes_up += n as u64;
                    } else {
                        t.client_closed = true;
                    }
                }
                let mut due = Instant::now() + link.one_way;
                if n > 0 && link.loss > 0.0 && rng.unit() < link.loss {
                    due += link.rtt();
                }
                due = due.max(last);
                last = due;
                let chunk = if n == 0 {
                    Chunk::End(due)
                } else {
                    Chunk::Data(buf[..n].to_vec(), due)
                };
                let end = matches!(chunk, Chunk::End(_));
                if tx.send(chunk).is_err() || end {
                    return;
                }
            }
        })?;
    thread::Builder::new()
        .name("delay-proxy write".into())
        .spawn(move || {
            for chunk in rx {
                let (data, due) = match chunk {
                    Chunk::Data(data, due) => (Some(data), due),
                    Chunk::End(due) => (None, due),
                };
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                match data {
                    Some(data) => {
                        if direction == Direction::Down {
                            // Decided before the bytes reach the client: once they have,
                            // its next flight may be read (and must be counted) before
                            // this thread could take the lock again.
                            let mut t = turns.lock().unwrap_or_else(PoisonError::into_inner);
                            if t.client_spoke && !t.client_closed {
                                t.flights += 1;
                                t.client_spoke = false;
                            }
                            t.bytes_down += data.len() as u64;
                        }
                        if to.write_all(&data).is_err() {
                            let _ = to.shutdown(Shutdown::Both);
                            return;
                        }
                    }
                    None => {
                        let _ = to.shutdown(Shutdown::Write);
                        return;
                    }
                }
            }
        })
}

/// SplitMix64: a tiny, seedable generator (the harness takes no dependencies).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; returns its address.
    fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn round_trip(stream: &mut TcpStream, payload: &[u8]) -> Duration {
        let started = Instant::now();
        stream.write_all(payload).unwrap();
        let mut got = vec![0u8; payload.len()];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, payload);
        started.elapsed()
    }

    #[test]
    fn each_round_trip_costs_the_configured_rtt_and_keeps_order() {
        let proxy = DelayProxy::start(echo(), Link::rtt_ms(60)).unwrap();
        let started = Instant::now();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        // connect() returns at once on loopback; the first exchange pays for the handshake
        // the proxy emulates (one round trip) plus its own round trip.
        let first = round_trip(&mut s, b"hello");
        assert!(first >= Duration::from_millis(120), "{first:?}");
        for i in 0..3u8 {
            let rtt = round_trip(&mut s, &[i; 1000]);
            assert!(
                rtt >= Duration::from_millis(60) && rtt < Duration::from_millis(1500),
                "round trip {i}: {rtt:?}"
            );
        }
        // Many small writes come back in order.
        let payload: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
        for part in payload.chunks(97) {
            s.write_all(part).unwrap();
        }
        let mut got = vec![0u8; payload.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, payload);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(proxy.accepted(), 1);
    }

    #[test]
    fn a_lost_chunk_arrives_one_round_trip_late() {
        // Loss 1.0: every chunk pays one extra round trip each way.
        let proxy = DelayProxy::start(echo(), Link::rtt_ms(40).with_loss(1.0, 7)).unwrap();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        round_trip(&mut s, b"warm");
        let rtt = round_trip(&mut s, b"x");
        assert!(rtt >= Duration::from_millis(120), "{rtt:?}");
    }

    #[test]
    fn the_loss_pattern_repeats_with_the_seed() {
        let pattern = |seed| {
            let mut g = SplitMix(seed);
            (0..64).map(|_| g.unit() < 0.3).collect::<Vec<_>>()
        };
        assert_eq!(pattern(5), pattern(5));
        assert_ne!(pattern(5), pattern(6));
        let lost = pattern(5).iter().filter(|l| **l).count();
        assert!((5..=35).contains(&lost), "{lost}");
    }

    #[test]
    fn a_closed_upstream_closes_the_client_and_a_server_speaking_first_waits_for_its_accept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"bye").unwrap();
        });
        let proxy = DelayProxy::start(upstream, Link::rtt_ms(40)).unwrap();
        let started = Instant::now();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        let mut got = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        // Over the WAN the server's accept returns 1.5 round trips after the SYN, and its
        // greeting takes half a round trip more.
        let heard = started.elapsed();
        assert!(heard >= Duration::from_millis(80), "{heard:?}");
    }

    /// An upstream that answers each byte with one byte `answers` times, then reads to the end.
    fn answering(answers: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut byte = [0u8; 1];
            for _ in 0..answers {
                s.read_exact(&mut byte).unwrap();
                s.write_all(&byte).unwrap();
            }
            let _ = s.read_to_end(&mut Vec::new());
        });
        addr
    }

    #[test]
    fn flights_count_the_exchanges_the_server_answered() {
        let (tx, rx) = mpsc::channel();
        let proxy = DelayProxy::start_reporting(
            "127.0.0.1:0".parse().unwrap(),
            answering(4),
            Link::rtt_ms(10),
            move |event| {
                if let ProxyEvent::Closed(stats) = event {
                    let _ = tx.send(stats.clone());
                }
            },
        )
        .unwrap();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        for i in 0..4u8 {
            round_trip(&mut s, &[i]);
        }
        // Two writes in one flight that nobody answers: not a round trip.
        s.write_all(b"a").unwrap();
        s.write_all(b"b").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let stats = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(stats.flights, 4, "{stats:?}");
        assert_eq!(stats.round_trips(), 5, "the handshake counts too");
        assert_eq!((stats.bytes_up, stats.bytes_down), (6, 4));
        assert_eq!(stats.id, 1);
        assert_eq!(proxy.finished(), vec![stats.clone()]);
        assert!(stats
            .line()
            .starts_with("closed id=1 round_trips=5 flights=4 up=6 down=4 ms="));
    }
}
