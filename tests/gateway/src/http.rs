//! Just enough HTTP/1.1 for an RD Gateway: request heads (capped), bodies by
//! `Content-Length` or chunked, and the responses MS-TSGU uses (401 challenges, 101 for the
//! WebSocket, 200 with a close-delimited body for the legacy OUT channel).
//!
//! Hand-written rather than hyper's server because the legacy transport needs the raw
//! connection after the head: the OUT channel's body is an endless stream of MS-TSGU packets
//! (FreeRDP 2 reads it straight off the TLS connection) and the IN channel's body is one
//! chunked request that lasts the whole session.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The largest request head accepted (NTLM AUTHENTICATE headers are ~1 KiB).
const MAX_HEAD: usize = 16 * 1024;
/// The largest chunk accepted on the IN channel (packets are at most a few KiB).
const MAX_CHUNK: usize = 1024 * 1024;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Upgrade: websocket` with `Connection: Upgrade`.
    pub fn wants_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
            && self
                .header("connection")
                .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    pub fn content_length(&self) -> u64 {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A client connection with its read buffer (bytes read past the head stay here).
pub struct Conn<S> {
    pub io: S,
    pub buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(io: S) -> Self {
        Self {
            io,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 4096];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The next request head; `None` when the client closed cleanly between requests.
    pub async fn read_request(&mut self) -> io::Result<Option<Request>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return parse_head(&head).map(Some);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("request head too large"));
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads and discards a request body of `Content-Length` bytes (the auth requests').
    pub async fn skip_body(&mut self, request: &Request) -> io::Result<()> {
        if request.is_chunked() {
            while let Some(_chunk) = self.read_chunk().await? {}
            return Ok(());
        }
        let mut left = request.content_length();
        if left > MAX_CHUNK as u64 {
            return Err(bad("request body too large"));
        }
        loop {
            let take = (left as usize).min(self.buf.len());
            self.buf.drain(..take);
            left -= take as u64;
            if left == 0 {
                return Ok(());
            }
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// One chunk of a chunked body; `None` after the last (zero-size) chunk.
    pub async fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let line_end = loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                break end;
            }
            if self.buf.len() > 64 {
                return Err(bad("chunk size line too long"));
            }
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        if size > MAX_CHUNK {
            return Err(bad("chunk too large"));
        }
        while self.buf.len() < line_end + 2 + size + 2 {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let data = self.buf[line_end + 2..line_end + 2 + size].to_vec();
        self.buf.drain(..line_end + 2 + size + 2);
        Ok((size > 0).then_some(data))
    }

    /// Up to `max` raw bytes of a `Content-Length` body (FreeRDP may send the IN channel
    /// that way); empty at end of stream.
    pub async fn read_raw(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() && !self.fill().await? {
            return Ok(Vec::new());
        }
        let take = max.min(self.buf.len());
        Ok(self.buf.drain(..take).collect())
    }

    pub async fn respond(
        &mut self,
        status: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {status}\r\nServer: rdpshim-test-gateway\r\n");
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.io.write_all(&bytes).await?;
        self.io.flush().await
    }

    /// A response head without a length: the body is everything until the connection
    /// closes (the legacy OUT channel).
    pub async fn respond_streaming(&mut self, status: &str) -> io::Result<()> {
        let head = format!(
            "HTTP/1.1 {status}\r\nServer: rdpshim-test-gateway\r\nContent-Type: application/octet-stream\r\nCache-Control: no-cache\r\n\r\n"
        );
        self.io.write_all(head.as_bytes()).await?;
        self.io.flush().await
    }
}

fn parse_head(head: &[u8]) -> io::Result<Request> {
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("");
    let mut parts = start.split(' ');
    let (Some(method), Some(_target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("bad request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not HTTP/1.x"));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| bad("bad header line"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Request {
        method: method.to_owned(),
        headers,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}
