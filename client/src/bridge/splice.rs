//! Both directions of a session after the handshakes: bytes copied unchanged through one
//! fixed buffer per direction, until either side closes.
//!
//! Not `tokio::io::copy_bidirectional`: that one keeps copying the other direction after a
//! half-close until the other side closes too, and an RDP peer that never answers a
//! half-close would keep the bridge's other leg open forever. Here the first side to end
//! (EOF, reset, TLS error) ends the session: the other leg gets a shutdown (TLS
//! close_notify, then FIN) bounded by [`SHUTDOWN_LIMIT`], and both are dropped. Memory is
//! two [`BUFFER`]-byte buffers whatever either peer sends; a peer that stops reading stalls
//! only its own direction (back-pressure), never grows a buffer.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};

/// Per direction. 16 KiB is one TLS record of plaintext: a full record decrypted on one
/// leg is encrypted as (at most) one record on the other.
pub const BUFFER: usize = 16 * 1024;
/// How long the surviving leg may take to accept its shutdown.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

/// Which peer of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }
}

/// How a spliced session ended.
#[derive(Debug)]
pub struct Spliced {
    /// Plaintext bytes the client sent that reached the server.
    pub to_server: u64,
    /// Plaintext bytes the server sent that reached the client.
    pub to_client: u64,
    /// The side whose connection ended first (by closing, or by failing a read or write).
    pub ended_by: Side,
    pub ending: Ending,
}

/// How the first side's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// An orderly close (TLS close_notify, then EOF).
    Closed,
    /// EOF without TLS close_notify: the process was killed or the network dropped it
    /// (both rustls and OpenSSL 3 report this as an error; it is how RDP peers often leave).
    Abrupt,
    /// TCP reset.
    Reset,
    /// Any other read or write error.
    Failed(String),
}

impl Ending {
    fn from_error(error: Option<io::Error>) -> Self {
        let Some(error) = error else {
            return Self::Closed;
        };
        let text = error.to_string();
        let lower = text.to_ascii_lowercase();
        match error.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Self::Reset,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => Self::Abrupt,
            _ if lower.contains("unexpected eof") || lower.contains("close_notify") => Self::Abrupt,
            _ => Self::Failed(text),
        }
    }
}

/// One direction: read from one stream into the buffer, write it all to the other.
struct Pipe {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    bytes: u64,
}

/// Which stream a pipe's failure belongs to.
enum PipeEnd {
    /// The reading side closed (EOF) or failed to read.
    Read(Option<io::Error>),
    /// The writing side failed.
    Write(io::Error),
}

impl Pipe {
    fn new() -> Self {
        Self {
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            bytes: 0,
        }
    }

    /// Moves bytes until `reader` has nothing more right now (Pending), or the pipe ends.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<PipeEnd>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            while self.start < self.end {
                match ready!(writer
                    .as_mut()
                    .poll_write(cx, &self.buf[self.start..self.end]))
                {
                    Ok(0) => {
                        return Poll::Ready(PipeEnd::Write(io::ErrorKind::WriteZero.into()));
                    }
                    Ok(n) => {
                        self.start += n;
                        self.bytes += n as u64;
                    }
                    Err(e) => return Poll::Ready(PipeEnd::Write(e)),
                }
            }
            let mut read = ReadBuf::new(&mut self.buf);
            match reader.as_mut().poll_read(cx, &mut read) {
                Poll::Pending => {
                    // Nothing to read now: push what the writer buffered (a TLS stream
                    // holds records until flushed) so interactive traffic is not delayed.
                    if let Err(e) = ready!(writer.as_mut().poll_flush(cx)) {
                        return Poll::Ready(PipeEnd::Write(e));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(PipeEnd::Read(Some(e))),
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        return Poll::Ready(PipeEnd::Read(None));
                    }
                    self.start = 0;
                    self.end = n;
                }
            }
        }
    }
}

/// Copies `client` <-> `server` until either ends, then shuts the other down. `*_first`
/// are bytes already read past the handshakes on each leg, delivered first.
pub async fn splice<C, S>(
    client: &mut C,
    server: &mut S,
    client_first: &[u8],
    server_first: &[u8],
) -> Spliced
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Pipe::new();
    let mut down = Pipe::new();
    let early = async {
        server
            .write_all(client_first)
            .await
            .map_err(|e| (Side::Server, e))?;
        client
            .write_all(server_first)
            .await
            .map_err(|e| (Side::Client, e))?;
        up.bytes += client_first.len() as u64;
        down.bytes += server_first.len() as u64;
        Ok::<(), (Side, io::Error)>(())
    };
    let (ended_by, error): (Side, Option<io::Error>) = match early.await {
        Err((side, e)) => (side, Some(e)),
        Ok(()) => {
            poll_fn(|cx| {
                if let Poll::Ready(end) =
                    up.poll_copy(cx, Pin::new(&mut *client), Pin::new(&mut *server))
                {
                    return Poll::Ready(match end {
                        PipeEnd::Read(e) => (Side::Client, e),
                        PipeEnd::Write(e) => (Side::Server, Some(e)),
                    });
                }
                if let Poll::Ready(end) =
                    down.poll_copy(cx, Pin::new(&mut *server), Pin::new(&mut *client))
                {
                    return Poll::Ready(match end {
                        PipeEnd::Read(e) => (Side::Server, e),
                        PipeEnd::Write(e) => (Side::Client, Some(e)),
                    });
                }
                Poll::Pending
            })
            .await
        }
    };
    // The other side learns at once: TLS close_notify and FIN, bounded; then both drop.
    let shutdown = async {
        match ended_by {
            Side::Client => server.shutdown().await,
            Side::Server => client.shutdown().await,
        }
    };
    let _ = tokio::time::timeout(SHUTDOWN_LIMIT, shutdown).await;
    Spliced {
        to_server: up.bytes,
        to_client: down.bytes,
        ended_by,
        ending: Ending::from_error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt as _};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn bytes_flow_both_ways_and_the_first_close_ends_both_legs() {
        runtime().block_on(async {
            let (mut client, mut bridge_client) = duplex(4096);
            let (mut bridge_server, mut server) = duplex(4096);
            let bridge = tokio::spawn(async move {
                splice(&mut bridge_client, &mut bridge_server, b"early", b"").await
            });
            let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
            let sent = payload.clone();
            let writer = tokio::spawn(async move {
                server.write_all(&sent).await.unwrap();
                let mut got = [0u8; 5 + 3];
                server.read_exact(&mut got).await.unwrap();
                assert_eq!(&got, b"earlyabc");
                // The server ends the session; the client must see EOF.
                drop(server);
            });
            client.write_all(b"abc").await.unwrap();
            let mut received = vec![0u8; payload.len()];
            client.read_exact(&mut received).await.unwrap();
            assert_eq!(received, payload);
            writer.await.unwrap();
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
            let spliced = bridge.await.unwrap();
            assert_eq!(spliced.ended_by, Side::Server);
            assert_eq!(spliced.ending, Ending::Closed);
            assert_eq!(spliced.to_client, payload.len() as u64);
            assert_eq!(spliced.to_server, 8);
        });
    }

    #[test]
    fn a_client_that_goes_away_closes_the_server_leg() {
        runtime().block_on(async {
            let (client, mut bridge_client) = duplex(64);
            let (mut bridge_server, mut server) = duplex(64);
            let bridge = tokio::spawn(async move {
                splice(&mut bridge_client, &mut bridge_server, b"", b"").await
            });
            drop(client);
            let mut rest = Vec::new();
            server.read_to_end(&mut rest).await.unwrap();
            let spliced = bridge.await.unwrap();
            assert_eq!(spliced.ended_by, Side::Client);
        });
    }
}
