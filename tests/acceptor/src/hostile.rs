//! A byte stream that misbehaves on command: the hostile modes wrap the server's TCP stream
//! (below TLS: X.224 and the TLS handshake) and its TLS stream (above TLS: CredSSP, MCS,
//! the first frame) in a [`Hostile`], and arm its [`Trigger`] when the stage they target
//! begins. From then on the server's writes are replaced by the [`Act`]; reads pass
//! through untouched, so the server still sees what the client sends.
//!
//! Every act ends by itself once the client goes away (a write fails), so one hostile
//! connection never blocks the next.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::garbage::Rng;

/// What replaces the server's writes once armed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Every byte from now on goes out alone, one per interval (a slow-drip server: always
    /// progressing, never finishing a message within a stage time limit).
    Drip(Duration),
    /// The first half of the next write, then close.
    Truncate,
    /// `header` instead of the next write, then what [`Then`] says.
    Send { header: Vec<u8>, then: Then },
    /// The next write (an X.224 Connection Confirm) with its last 8 bytes replaced by an
    /// RDP_NEG_RSP selecting this value (MS-RDPBCGR 2.2.1.2.1), whatever the server chose
    /// or refused.
    SelectProtocol(u32),
    /// Instead of the next write, one fast-path bitmap update in fragments that never ends
    /// (MS-RDPBCGR 2.2.9.1.2.1: FIRST, then NEXT forever, never LAST): valid PDUs that a
    /// client without a reassembly limit piles up without end.
    Fragments,
}

/// After [`Act::Send`]'s header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Random bytes, endlessly (until the client goes away).
    Flood,
    /// Nothing more: later writes are swallowed, the connection stays open until the
    /// client closes it.
    Hold,
    /// Close the connection.
    Close,
}

/// Arms a [`Hostile`] stream from outside (the stream itself sits inside a framed reader
/// or a TLS session by then).
#[derive(Debug, Clone, Default)]
pub struct Trigger(Arc<Mutex<Option<Act>>>);

impl Trigger {
    pub fn arm(&self, act: Act) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(act);
        }
    }

    fn take(&self) -> Option<Act> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// What follows a prefix: a [`Then`], or passing bytes through again (a one-off rewrite).
#[derive(Clone, Copy)]
enum After {
    Then(Then),
    Pass,
}

enum State {
    Pass,
    Drip {
        interval: Duration,
        next: Pin<Box<Sleep>>,
    },
    /// Writing a prefix, then `after`.
    Prefix {
        bytes: Vec<u8>,
        sent: usize,
        /// What the caller's write is reported as once the prefix is out.
        report: usize,
        after: After,
    },
    Flood {
        rng: Rng,
        chunk: Vec<u8>,
    },
    /// A fragment PDU being written, and how much of it is out.
    Fragments {
        pdu: Vec<u8>,
        sent: usize,
    },
    Hold,
    Closing,
    Closed,
}

/// Bytes per flood write, and how many writes before yielding to the runtime (the client
/// may read as fast as we write on loopback; other connections must still be served).
const FLOOD_CHUNK: usize = 16 * 1024;
const FLOOD_WRITES_PER_POLL: usize = 64;

pub struct Hostile<S> {
    inner: S,
    trigger: Trigger,
    state: State,
    seed: u64,
}

impl<S> Hostile<S> {
    pub fn new(inner: S, trigger: Trigger, seed: u64) -> Self {
        Self {
            inner,
            trigger,
            state: State::Pass,
            seed,
        }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Payload bytes per fragment: a fast-path PDU stays under its 0x7FFF limit.
const FRAGMENT: usize = 16 * 1024;

/// A fast-path output PDU with one bitmap update fragment (`first` or NEXT).
fn fragment(first: bool) -> Vec<u8> {
    let fragmentation: u8 = if first { 0x2 } else { 0x3 };
    let total = 3 + 3 + FRAGMENT;
    let mut pdu = vec![
        0x00, // fpOutputHeader: fast-path, no encryption flags
        0x80 | ((total >> 8) & 0x7F) as u8,
        (total & 0xFF) as u8,
        0x01 | fragmentation << 4, // updateCode bitmap, fragmentation, no compression
    ];
    pdu.extend_from_slice(&(FRAGMENT as u16).to_le_bytes());
    pdu.resize(total, 0x5A);
    pdu
}

fn flood(seed: u64) -> State {
    let mut rng = Rng::new(seed);
    let chunk = rng.bytes(FLOOD_CHUNK);
    State::Flood { rng, chunk }
}

impl<S: AsyncWrite + Unpin> Hostile<S> {
    /// Takes an armed act (if any) and turns it into the state for the write of `buf`.
    fn arm_for(&mut self, buf: &[u8]) {
        let Some(act) = self.trigger.take() else {
            return;
        };
        self.state = match act {
            Act::Drip(interval) => State::Drip {
                interval,
                next: Box::pin(tokio::time::sleep(interval)),
            },
            Act::Truncate => State::Prefix {
                bytes: buf[..buf.len() / 2].to_vec(),
                sent: 0,
                report: buf.len(),
                after: After::Then(Then::Close),
            },
            Act::Send { header, then } => State::Prefix {
                bytes: header,
                sent: 0,
                report: buf.len(),
                after: After::Then(then),
            },
            Act::Fragments => State::Fragments {
                pdu: fragment(true),
                sent: 0,
            },
            Act::SelectProtocol(selected) => {
                let mut bytes = buf.to_vec();
                if let Some(at) = bytes.len().checked_sub(8) {
                    let [a, b, c, d] = selected.to_le_bytes();
                    bytes[at..].copy_from_slice(&[0x02, 0x00, 0x08, 0x00, a, b, c, d]);
                }
                State::Prefix {
                    bytes,
                    sent: 0,
                    report: buf.len(),
                    after: After::Pass,
                }
            }
        };
    }
}

/// Writes `bytes[*sent..]` to `inner`, keeping count in `sent` across pending polls.
fn write_all<S: AsyncWrite + Unpin>(
    inner: &mut S,
    cx: &mut Context<'_>,
    bytes: &[u8],
    sent: &mut usize,
) -> Poll<io::Result<()>> {
    while *sent < bytes.len() {
        let n = std::task::ready!(Pin::new(&mut *inner).poll_write(cx, &bytes[*sent..]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *sent += n;
    }
    Poll::Ready(Ok(()))
}

impl<S: AsyncRead + Unpin> AsyncRead for Hostile<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Hostile<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if matches!(this.state, State::Pass) {
            this.arm_for(buf);
        }
        loop {
            match &mut this.state {
                State::Pass => return Pin::new(&mut this.inner).poll_write(cx, buf),
                State::Drip { interval, next } => {
                    if buf.is_empty() {
                        return Poll::Ready(Ok(0));
                    }
                    std::task::ready!(next.as_mut().poll(cx));
                    let written =
                        std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..1]))?;
                    std::task::ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                    let interval = *interval;
                    next.as_mut().reset(Instant::now() + interval);
                    return Poll::Ready(Ok(written));
                }
                State::Prefix {
                    bytes,
                    sent,
                    report,
                    after,
                } => {
                    std::task::ready!(write_all(&mut this.inner, cx, bytes, sent))?;
                    std::task::ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                    let report = *report;
                    this.state = match *after {
                        After::Pass => State::Pass,
                        After::Then(Then::Flood) => flood(this.seed),
                        After::Then(Then::Hold) => State::Hold,
                        After::Then(Then::Close) => State::Closing,
                    };
                    if matches!(this.state, State::Pass | State::Hold) {
                        return Poll::Ready(Ok(report));
                    }
                }
                State::Flood { rng, chunk } => {
                    for _ in 0..FLOOD_WRITES_PER_POLL {
                        let n = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, chunk))?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        *chunk = rng.bytes(FLOOD_CHUNK);
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                State::Fragments { pdu, sent } => {
                    for _ in 0..FLOOD_WRITES_PER_POLL {
                        std::task::ready!(write_all(&mut this.inner, cx, pdu, sent))?;
                        *pdu = fragment(false);
                        *sent = 0;
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                State::Hold => return Poll::Ready(Ok(buf.len())),
                State::Closing => {
                    std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.state = State::Closed;
                }
                State::Closed => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "hostile: connection closed on purpose",
                    )))
                }
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.state {
            State::Hold | State::Closed => Poll::Ready(Ok(())),
            _ => Pin::new(&mut self.inner).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.state {
            State::Closed => Poll::Ready(Ok(())),
            _ => Pin::new(&mut self.inner).poll_shutdown(cx),
        }
    }
}
