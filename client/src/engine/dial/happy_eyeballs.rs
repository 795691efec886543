//! Happy Eyeballs for the addresses of one name (RFC 8305 sections 4 and 5).
//!
//! mstsc dials the resolver's first address and waits for it: a name whose first address
//! drops packets (a stale record, an IPv6 path a firewall eats) costs the whole connect
//! time-out before anything else is tried. Here, when a name has several addresses, the
//! next connect starts 250 ms (the RFC's Connection Attempt Delay) after the previous one
//! if that one has not completed, or at once when it fails; the first connect that
//! completes is kept and the others are closed (their futures dropped). The order puts the
//! addresses that worked before first, then alternates the families, starting with the
//! family of the resolver's first answer (section 4, a First Address Family Count of 1).

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{classify_connect_error, no_answer};
use crate::report::{Failure, FailureClass, RaceOutcome, RacedAddress, Stage};

/// RFC 8305 section 5's recommended Connection Attempt Delay.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The order to dial `resolved` in: those of `preferred` (addresses that worked before, most
/// recent first) that the name still resolves to, in that order; then the rest, IPv6 and
/// IPv4 alternating from the family of the resolver's first answer. Each address once.
pub fn order(resolved: &[SocketAddr], preferred: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::with_capacity(resolved.len());
    for address in preferred {
        if resolved.contains(address) && !out.contains(address) {
            out.push(*address);
        }
    }
    let Some(first) = resolved.first() else {
        return out;
    };
    let rest = |v6: bool| {
        resolved
            .iter()
            .filter(move |a| a.is_ipv6() == v6)
            .copied()
            .collect::<Vec<_>>()
    };
    let (mut lead, mut other) = (
        rest(first.is_ipv6()).into_iter(),
        rest(!first.is_ipv6()).into_iter(),
    );
    loop {
        let (a, b) = (lead.next(), other.next());
        if a.is_none() && b.is_none() {
            break;
        }
        for address in a.into_iter().chain(b) {
            if !out.contains(&address) {
                out.push(address);
            }
        }
    }
    out
}

/// The race's result: the stream and address kept, or the failure; and what each address did.
pub struct Race {
    pub result: Result<(TcpStream, SocketAddr), Failure>,
    /// Every address whose connect was started, in the order started.
    pub raced: Vec<RacedAddress>,
}

impl Race {
    /// The handshake's round trip when any address answered (connected or refused); none
    /// when every one stayed silent.
    pub fn round_trips(&self) -> u32 {
        u32::from(self.raced.iter().any(|r| match &r.outcome {
            RaceOutcome::Connected => true,
            RaceOutcome::Failed(failure) => failure.class == FailureClass::TcpRefused,
            RaceOutcome::Abandoned => false,
        }))
    }
}

type Connecting =
    Pin<Box<dyn std::future::Future<Output = (usize, std::io::Result<TcpStream>)> + Send>>;

/// Races connects to `order` (see [`order`]) within `limit` for the whole race.
pub async fn race(order: &[SocketAddr], limit: Duration) -> Race {
    let start = Instant::now();
    let deadline = start + limit;
    let mut raced: Vec<RacedAddress> = Vec::new();
    let mut pending: FuturesUnordered<Connecting> = FuturesUnordered::new();
    let mut next_start = start;

    let result = loop {
        let next = order.get(raced.len()).copied();
        if let Some(address) = next.filter(|_| Instant::now() >= next_start) {
            let index = raced.len();
            tracing::debug!(%address, "connecting");
            // `Abandoned` until it ends: one still connecting when another wins was.
            raced.push(RacedAddress {
                address,
                started: start.elapsed(),
                elapsed: Duration::ZERO,
                outcome: RaceOutcome::Abandoned,
            });
            pending.push(Box::pin(async move {
                (index, TcpStream::connect(address).await)
            }));
            next_start = Instant::now() + ATTEMPT_DELAY;
        }
        if pending.is_empty() && raced.len() == order.len() {
            break Err(all_failed(&raced, limit));
        }
        let more = raced.len() < order.len();
        tokio::select! {
            Some((index, connected)) = pending.next(), if !pending.is_empty() => {
                let Some(entry) = raced.get_mut(index) else { continue };
                entry.elapsed = start.elapsed().saturating_sub(entry.started);
                match connected {
                    Ok(stream) => {
                        entry.outcome = RaceOutcome::Connected;
                        let address = entry.address;
                        time_the_abandoned(&mut raced, index, start);
                        let _ = stream.set_nodelay(true);
                        break Ok((stream, address));
                    }
                    Err(e) => {
                        entry.outcome =
                            RaceOutcome::Failed(classify_connect_error(entry.address, &e));
                        // RFC 8305 5: a failed attempt starts the next one at once.
                        next_start = Instant::now();
                    }
                }
            }
            () = tokio::time::sleep_until(next_start), if more => {}
            () = tokio::time::sleep_until(deadline) => {
                for entry in raced.iter_mut() {
                    if entry.outcome == RaceOutcome::Abandoned {
                        entry.elapsed = start.elapsed().saturating_sub(entry.started);
                        entry.outcome = RaceOutcome::Failed(no_answer(entry.address, limit));
                    }
                }
                break Err(all_failed(&raced, limit));
            }
        }
    };
    // Dropping the futures still pending closes their sockets.
    drop(pending);
    Race { result, raced }
}

/// The others still connecting lost the race (their sockets close when the race ends):
/// each ran until now.
fn time_the_abandoned(raced: &mut [RacedAddress], winner: usize, start: Instant) {
    for (i, entry) in raced.iter_mut().enumerate() {
        if i != winner && entry.outcome == RaceOutcome::Abandoned {
            entry.elapsed = start.elapsed().saturating_sub(entry.started);
        }
    }
}

/// No address connected: a time-out if any stayed silent (a firewall dropping packets is
/// what the planner must hear about), else refused.
fn all_failed(raced: &[RacedAddress], limit: Duration) -> Failure {
    let failures: Vec<&Failure> = raced
        .iter()
        .filter_map(|r| match &r.outcome {
            RaceOutcome::Failed(f) => Some(f),
            _ => None,
        })
        .collect();
    let each = failures
        .iter()
        .map(|f| f.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if failures.iter().any(|f| f.class == FailureClass::TcpTimeout) {
        Failure::new(
            Stage::Tcp,
            FailureClass::TcpTimeout,
            format!("no address answered within {}: {each}", super::secs(limit)),
        )
    } else {
        Failure::new(
            Stage::Tcp,
            FailureClass::TcpRefused,
            format!("every address refused: {each}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn families_alternate_from_the_resolvers_first_answer() {
        let resolved = [
            a("[2001:db8::1]:3389"),
            a("[2001:db8::2]:3389"),
            a("[2001:db8::3]:3389"),
            a("10.0.0.1:3389"),
        ];
        assert_eq!(
            order(&resolved, &[]),
            [
                a("[2001:db8::1]:3389"),
                a("10.0.0.1:3389"),
                a("[2001:db8::2]:3389"),
                a("[2001:db8::3]:3389"),
            ]
        );
        let resolved = [a("10.0.0.1:3389"), a("10.0.0.2:3389"), a("[::1]:3389")];
        assert_eq!(
            order(&resolved, &[]),
            [a("10.0.0.1:3389"), a("[::1]:3389"), a("10.0.0.2:3389")]
        );
    }

    #[test]
    fn the_addresses_that_worked_before_go_first_if_the_name_still_has_them() {
        let resolved = [
            a("[2001:db8::1]:3389"),
            a("10.0.0.1:3389"),
            a("10.0.0.2:3389"),
        ];
        let preferred = [a("10.0.0.9:3389"), a("10.0.0.2:3389")];
        assert_eq!(
            order(&resolved, &preferred),
            [
                a("10.0.0.2:3389"),
                a("[2001:db8::1]:3389"),
                a("10.0.0.1:3389"),
            ],
            "a remembered address the name no longer resolves to is not raced"
        );
    }

    /// A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    /// to it hangs as one to a host behind a dropping firewall does. Keep the returned
    /// values alive for as long as the address must stay silent.
    async fn silent() -> (SocketAddr, tokio::net::TcpListener, Vec<TcpStream>) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(a("127.0.0.1:0")).unwrap();
        let listener = socket.listen(1).unwrap();
        let address = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(address))
                .await
            {
                Ok(Ok(stream)) => queued.push(stream),
                _ => return (address, listener, queued),
            }
        }
        panic!("the accept queue of {address} never filled");
    }

    fn refused() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    fn outcomes(race: &Race) -> Vec<&'static str> {
        race.raced.iter().map(|r| r.outcome.as_str()).collect()
    }

    #[tokio::test]
    async fn a_silent_first_address_is_overtaken_after_the_attempt_delay() {
        let (dead, _held, _queue) = silent().await;
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_address = live.local_addr().unwrap();
        let race = race(&[dead, live_address], Duration::from_secs(10)).await;
        let (_stream, address) = race.result.as_ref().expect("connected");
        assert_eq!(*address, live_address);
        assert_eq!(outcomes(&race), ["abandoned", "connected"]);
        assert!(race.raced[1].started >= ATTEMPT_DELAY, "{:?}", race.raced);
        assert_eq!(race.round_trips(), 1);
    }

    #[tokio::test]
    async fn a_refused_address_hands_over_at_once() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_address = live.local_addr().unwrap();
        let race = race(&[refused(), live_address], Duration::from_secs(10)).await;
        assert!(race.result.is_ok(), "{:?}", race.raced);
        assert_eq!(outcomes(&race), ["tcp-refused", "connected"]);
        // RFC 8305 5: a failure starts the next connect without waiting out the delay.
        assert!(race.raced[1].started < ATTEMPT_DELAY, "{:?}", race.raced);
    }

    #[tokio::test]
    async fn when_nothing_connects_silence_is_a_timeout_that_names_every_address() {
        let (dead, _held, _queue) = silent().await;
        let gone = refused();
        let race = race(&[dead, gone], Duration::from_millis(600)).await;
        let failure = race.result.as_ref().expect_err("nothing connected");
        assert_eq!(failure.class, FailureClass::TcpTimeout);
        assert_eq!(failure.stage, Stage::Tcp);
        assert!(
            failure.detail.contains(&dead.to_string()),
            "{}",
            failure.detail
        );
        assert!(
            failure.detail.contains(&gone.to_string()),
            "{}",
            failure.detail
        );
        assert_eq!(outcomes(&race), ["tcp-timeout", "tcp-refused"]);
        assert_eq!(race.round_trips(), 1, "the refusal answered");
    }

    #[test]
    fn one_address_and_duplicates() {
        assert_eq!(order(&[a("10.0.0.1:1")], &[]), [a("10.0.0.1:1")]);
        assert_eq!(
            order(&[a("10.0.0.1:1"), a("10.0.0.1:1")], &[a("10.0.0.1:1")]),
            [a("10.0.0.1:1")]
        );
        assert!(order(&[], &[a("10.0.0.1:1")]).is_empty());
    }
}
