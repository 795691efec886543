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
//! can be repeated.
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
use std::sync::Arc;
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

/// A running proxy; stops accepting when dropped (connections in flight end with their
/// peers).
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
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
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (stop2, accepted2) = (Arc::clone(&stop), Arc::clone(&accepted));
        thread::Builder::new()
            .name(format!("delay-proxy {addr}"))
            .spawn(move || accept_loop(listener, upstream, link, &stop2, &accepted2))?;
        Ok(Self {
            addr,
            stop,
            accepted,
        })
    }

    /// Where clients dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    link: Link,
    stop: &AtomicBool,
    accepted: &AtomicU64,
) {
    for (n, client) in listener.incoming().enumerate() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        accepted.fetch_add(1, Ordering::SeqCst);
        let seed = link.seed.wrapping_add(2 * n as u64);
        let _ = thread::Builder::new()
            .name("delay-proxy conn".into())
            .spawn(move || {
                if let Err(e) = relay(client, upstream, link, seed) {
                    eprintln!("delay-proxy: {upstream}: {e}");
                }
            });
    }
}

/// One client: dial upstream and pump both directions.
///
/// The kernel completes the client's TCP handshake before `accept` returns, so the client's
/// `connect()` costs nothing here instead of one round trip. The proxy charges it to the
/// first exchange instead: the client's first bytes reach the server no earlier than a
/// round trip (the handshake) plus one way after the accept, as they would over the WAN.
/// Time to first frame is therefore right; a client's own "TCP connect" time is not.
fn relay(client: TcpStream, upstream: SocketAddr, link: Link, seed: u64) -> io::Result<()> {
    let accepted = Instant::now();
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
    let handshake_done = accepted + link.rtt();
    let up = pump(
        client.try_clone()?,
        server.try_clone()?,
        link,
        seed,
        handshake_done,
    )?;
    let down = pump(server, client, link, seed.wrapping_add(1), accepted)?;
    let _ = up.join();
    let _ = down.join();
    Ok(())
}

enum Chunk {
    Data(Vec<u8>, Instant),
    End(Instant),
}

/// Copies `from` -> `to`, each chunk delivered at `max(sent, sendable_from) + one_way` (plus
/// a round trip when "lost"), never before the chunk ahead of it.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    link: Link,
    seed: u64,
    sendable_from: Instant,
) -> io::Result<thread::JoinHandle<()>> {
    let (tx, rx) = mpsc::channel::<Chunk>();
    let mut rng = SplitMix(seed);
    thread::Builder::new()
        .name("delay-proxy read".into())
        .spawn(move || {
            let mut last = sendable_from + link.one_way;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
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
    fn a_closed_upstream_closes_the_client() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"bye").unwrap();
        });
        let proxy = DelayProxy::start(upstream, Link::rtt_ms(20)).unwrap();
        let mut s = TcpStream::connect(proxy.addr()).unwrap();
        let mut got = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
    }
}
