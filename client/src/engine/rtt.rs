//! Round trips: how many an attempt waited for, per stage, and how long the shortest took.
//!
//! On a WAN an RDP connection costs round trips, not bytes: each time the client writes and
//! then waits for the server's answer it pays one. Every byte of an attempt (X.224, either TLS
//! stack's handshake, CredSSP, the connection sequence, the active stage) passes through one
//! [`Metered`] TCP stream, which counts those waits where they happen: a read that returns
//! data after a write is one round trip (several writes before the answer are one flight;
//! server data that arrives with no write before it, such as the licensing PDUs that follow
//! Client Info, costs none). The engine's [`StageClock`](super::StageClock) reads the count at
//! each stage boundary.
//!
//! The measured round trip is the shortest of those waits, like TCP's own `min_rtt`: each
//! wait is the path's round trip plus the server's think time, and the shortest has the
//! least think time in it. A wait runs from the flight's *first* byte written to the first
//! byte of the answer: a server may answer the first part of a flight while the client is
//! still writing the rest (a TLS 1.3 server its NewSessionTicket after our Finished, while
//! MCS Connect Initial follows), and timing from the last write would then come out below
//! the path's round trip. It is measured here rather
//! than read from the kernel's `TCP_INFO.tcpi_rtt` because the kernel only sees the first TCP
//! hop: behind anything that terminates TCP (the lab's delaying proxy, a TCP-splitting VPN
//! or WAN optimizer) it reports the few microseconds to that box, while the application
//! waits the whole path; and `tcpi_rtt` needs an unsafe `getsockopt` on Linux with a
//! different structure on macOS. What the user pays is what the application waits.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug, Default)]
struct Tally {
    /// When the first byte of a flight still waiting for its answer was written.
    awaiting: Option<Instant>,
    round_trips: u32,
    shortest: Option<Duration>,
}

/// The counts of one [`Metered`] stream, readable while the stream itself is owned by the
/// TLS stack or the framed reader.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    /// Answered flights so far.
    pub fn round_trips(&self) -> u32 {
        self.tally().round_trips
    }

    /// The shortest wait for an answer so far: the measured round trip.
    pub fn shortest(&self) -> Option<Duration> {
        self.tally().shortest
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes went out; `at` was read before the write began, so that a thread descheduled
    /// between the write and the clock (a loaded machine) can only lengthen a wait, never
    /// shorten it below the path's round trip.
    fn wrote(&self, at: Instant) {
        self.tally().awaiting.get_or_insert(at);
    }

    fn answered(&self) {
        let mut tally = self.tally();
        if let Some(sent) = tally.awaiting.take() {
            let waited = sent.elapsed();
            tally.round_trips += 1;
            tally.shortest = Some(tally.shortest.map_or(waited, |s| s.min(waited)));
        }
    }
}

/// A byte stream that counts round trips into its [`Meter`].
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    meter: Meter,
}

impl<S> Metered<S> {
    pub fn new(inner: S) -> (Self, Meter) {
        let meter = Meter::default();
        (
            Self {
                inner,
                meter: meter.clone(),
            },
            meter,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.meter.answered();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let at = Instant::now();
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.meter.wrote(at);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let at = Instant::now();
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.meter.wrote(at);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn each_answered_flight_is_one_round_trip() {
        let (client, mut server) = tokio::io::duplex(1024);
        let (mut client, meter) = Metered::new(client);
        let mut byte = [0u8; 1];

        // Write, answer: one.
        client.write_all(b"a").await.unwrap();
        server.read_exact(&mut byte).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        server.write_all(b"A").await.unwrap();
        client.read_exact(&mut byte).await.unwrap();
        assert_eq!(meter.round_trips(), 1);
        let shortest = meter.shortest().unwrap();
        assert!(shortest >= Duration::from_millis(20), "{shortest:?}");

        // Three writes, then the answer: still one flight.
        for part in [b"b", b"c", b"d"] {
            client.write_all(part).await.unwrap();
        }
        let mut three = [0u8; 3];
        server.read_exact(&mut three).await.unwrap();
        server.write_all(b"BCD").await.unwrap();
        client.read_exact(&mut three).await.unwrap();
        assert_eq!(meter.round_trips(), 2);
        assert!(
            meter.shortest().unwrap() <= shortest,
            "the shortest wait is kept"
        );

        // The server speaks on its own: no write waited for it.
        server.write_all(b"push").await.unwrap();
        let mut four = [0u8; 4];
        client.read_exact(&mut four).await.unwrap();
        assert_eq!(meter.round_trips(), 2);

        // A write nobody answers, then the end of the stream: not a round trip.
        client.write_all(b"bye").await.unwrap();
        drop(server);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(meter.round_trips(), 2);
    }

    #[tokio::test]
    async fn a_wait_is_timed_from_the_first_byte_of_the_flight() {
        let (client, mut server) = tokio::io::duplex(1024);
        let (mut client, meter) = Metered::new(client);
        client.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        client.write_all(b"y").await.unwrap();
        let mut two = [0u8; 2];
        server.read_exact(&mut two).await.unwrap();
        server.write_all(b"XY").await.unwrap();
        client.read_exact(&mut two).await.unwrap();
        assert_eq!(meter.round_trips(), 1);
        let waited = meter.shortest().unwrap();
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
    }

    #[tokio::test]
    async fn nothing_written_nothing_measured() {
        let (client, _server) = tokio::io::duplex(64);
        let (_client, meter) = Metered::new(client);
        assert_eq!(meter.round_trips(), 0);
        assert_eq!(meter.shortest(), None);
    }
}
