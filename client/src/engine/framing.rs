//! Capped framing: every length-prefixed PDU rdpshim reads from a server goes through here,
//! in the engine's stages and in `diagnose`'s probes alike, and so does every PDU a bridge
//! reads from its client before the splice (a hostile client must not grow memory either).
//!
//! ironrdp's `Framed::read_by_hint` trusts its hint: it reserves whatever length the hint
//! announces, and while the hint cannot size a frame yet it reads on, without end. The
//! connector's TSRequest hint answers "not enough bytes" to anything sspi cannot size as a
//! DER SEQUENCE, so a server streaming random bytes during CredSSP grew the client to 1.5 GB
//! until the stage timed out, and the verdict blamed a stall. Here the size of a frame is
//! decided from the protocol's own framing, capped at the largest size that protocol allows;
//! a header that cannot start a valid frame, or a length over the cap, is an error at once,
//! before any byte of the body is awaited. Reads never go past the frame being read, so at
//! most one frame is buffered and nothing sent early (before a TLS handshake, say) is
//! mistaken for the next layer's bytes.

use std::io;
use std::time::Duration;

use ironrdp_async::bytes::{BufMut as _, Bytes, BytesMut};
use ironrdp_pdu::PduHint;
use ironrdp_tokio::TokioFramed;
use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::classify::io_failure_from;
use crate::report::{Failure, FailureClass, Stage};

/// TPKT (RFC 1006 / T.123): version 3, a reserved byte, a 16-bit big-endian length that
/// counts the 4-byte header. The length field itself caps a TPKT at 65535 bytes.
const TPKT_HEADER: usize = 4;
/// The smallest TPKT that carries an X.224 TPDU: the header and a 3-byte Data TPDU header
/// (length indicator, code, EOT). ironrdp's own TPKT reader refuses anything shorter too.
const TPKT_MIN: usize = TPKT_HEADER + 3;
/// An X.224 Connection Confirm (MS-RDPBCGR 2.2.1.2): TPKT, then the TPDU whose one-byte
/// length indicator counts the rest of it: at most 4 + 1 + 255 bytes. The smallest is the
/// TPKT header plus the indicator and the 6 fixed bytes of a CC TPDU.
const X224_CONFIRM_MAX: usize = TPKT_HEADER + 1 + 255;
const X224_CONFIRM_MIN: usize = TPKT_HEADER + 7;
/// The largest TSRequest accepted from a server, header included: 65535 bytes.
///
/// No server message of an NTLM exchange comes near it: the CHALLENGE carries the target
/// name and target info (NetBIOS and DNS names and a timestamp: a few hundred bytes from
/// Windows, MS-NLMP 2.2.1.2), the pubKeyAuth echo is the server's public key plus a 16-byte
/// signature (under 2.1 KB even for RSA-16384), an error TSRequest is a few bytes. A
/// Kerberos AP-REP (not used here) stays under Windows' largest MaxTokenSize, 65535. And
/// sspi sizes a TSRequest as a u16 (tag, length bytes and content) and refuses a longer one
/// ("the length is too big"), so it could not decode one anyway.
pub const MAX_TS_REQUEST: usize = 0xFFFF;
/// Unexpected PDUs (fast-path updates while the connection sequence waits for a slow-path
/// one) that may be skipped while waiting for one wanted PDU: more than two uncompressed
/// 32-bit 1920x1080 screens, and still a few milliseconds of a flood on loopback.
pub const MAX_SKIPPED: usize = 16 * 1024 * 1024;

/// The kinds of frame a server (or a bridge's client) sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The TPKT of an X.224 Connection Confirm (at most 260 bytes).
    X224Confirm,
    /// The TPKT of an X.224 Connection Request, a bridge's client's first PDU: its TPDU has
    /// the same one-byte length indicator and 6 fixed bytes (MS-RDPBCGR 2.2.1.1), so the
    /// same bounds as a confirm.
    X224Request,
    /// A slow-path PDU (TPKT) or a fast-path output PDU (MS-RDPBCGR 2.2.9.1.2: a 15-bit
    /// length, so at most 0x7FFF bytes), told apart by the first byte.
    Rdp,
    /// A CredSSP TSRequest (MS-CSSP 2.2.1): one DER SEQUENCE of at most [`MAX_TS_REQUEST`].
    TsRequest,
    /// A message of a fixed size (the CredSSP Early User Authorization Result: 4 bytes).
    Fixed(usize),
}

impl Frame {
    fn name(self) -> &'static str {
        match self {
            Self::X224Confirm => "X.224 Connection Confirm",
            Self::X224Request => "X.224 Connection Request",
            Self::Rdp => "RDP PDU",
            Self::TsRequest => "CredSSP TSRequest",
            Self::Fixed(_) => "fixed-size message",
        }
    }
}

/// How much of a frame is known from the bytes seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The header is incomplete: at least this many bytes are needed to size the frame.
    Header(usize),
    /// The whole frame is this many bytes.
    Frame(usize),
}

/// A frame that cannot be read: the server's fault, never a reason to wait longer.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed or ended (a close in the middle of a frame is `UnexpectedEof`).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A header that no valid frame of this kind starts with.
    #[error("the server sent no valid {what}: {why}")]
    Malformed { what: &'static str, why: String },
    /// A length over what the protocol (or this frame kind) allows.
    #[error("the server announced a {what} of {length} bytes, over the {limit}-byte limit")]
    TooLong {
        what: &'static str,
        length: u64,
        limit: usize,
    },
    /// Too many unexpected PDUs while waiting for a wanted one.
    #[error(
        "the server sent {skipped} bytes of unexpected PDUs while rdpshim waited for a {what}"
    )]
    Flooded { what: &'static str, skipped: usize },
}

impl FrameError {
    fn malformed(frame: Frame, why: impl Into<String>) -> Self {
        Self::Malformed {
            what: frame.name(),
            why: why.into(),
        }
    }

    /// The failure at `stage`: a closed stream is `peer-closed`, everything the server
    /// sent wrong is `protocol-error`.
    pub fn failure(&self, stage: Stage) -> Failure {
        self.failure_from("server", stage)
    }

    /// [`Self::failure`] for a frame from `peer` ("server", or "client": a bridge's client
    /// leg), named in the detail.
    pub fn failure_from(&self, peer: &str, stage: Stage) -> Failure {
        match self {
            Self::Io(e) => io_failure_from(peer, stage, e),
            // The texts speak of "the server"; from a bridge's client, they name it.
            other => Failure::new(
                stage,
                FailureClass::ProtocolError,
                other
                    .to_string()
                    .replacen("the server", &format!("the {peer}"), 1),
            ),
        }
    }
}

/// Sizes the frame at the start of `bytes`. Pure, so it is fuzzed and table-tested.
pub fn measure(frame: Frame, bytes: &[u8]) -> Result<Size, FrameError> {
    match frame {
        Frame::Fixed(len) => Ok(Size::Frame(len)),
        Frame::X224Confirm | Frame::X224Request => {
            let len = tpkt_length(frame, bytes)?;
            match len {
                Size::Frame(n) if n < X224_CONFIRM_MIN => Err(FrameError::malformed(
                    frame,
                    format!("TPKT length {n}, shorter than the {X224_CONFIRM_MIN} bytes of the smallest confirm"),
                )),
                Size::Frame(n) if n > X224_CONFIRM_MAX => Err(FrameError::TooLong {
                    what: frame.name(),
                    length: n as u64,
                    limit: X224_CONFIRM_MAX,
                }),
                other => Ok(other),
            }
        }
        Frame::Rdp => match bytes.first() {
            None => Ok(Size::Header(1)),
            Some(0x03) => tpkt_length(frame, bytes),
            Some(&first) if first & 0x03 == 0 => fast_path_length(frame, bytes),
            Some(&first) => Err(FrameError::malformed(
                frame,
                format!("first byte 0x{first:02x} starts neither a TPKT nor a fast-path PDU"),
            )),
        },
        Frame::TsRequest => der_sequence_length(frame, bytes),
    }
}

fn tpkt_length(frame: Frame, bytes: &[u8]) -> Result<Size, FrameError> {
    let Some(header) = bytes.get(..TPKT_HEADER) else {
        // Judge the version byte as soon as it is there: garbage is refused at once.
        return match bytes.first() {
            None => Ok(Size::Header(1)),
            Some(0x03) => Ok(Size::Header(TPKT_HEADER)),
            Some(version) => Err(FrameError::malformed(
                frame,
                format!("first byte 0x{version:02x} is not TPKT version 3"),
            )),
        };
    };
    if header[0] != 0x03 {
        return Err(FrameError::malformed(
            frame,
            format!("first byte 0x{:02x} is not TPKT version 3", header[0]),
        ));
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if length < TPKT_MIN {
        return Err(FrameError::malformed(
            frame,
            format!("TPKT length {length}, shorter than the {TPKT_MIN}-byte minimum"),
        ));
    }
    Ok(Size::Frame(length))
}

/// Fast-path output header (MS-RDPBCGR 2.2.9.1.2): fpOutputHeader, then a length of one
/// byte, or of two when the first has its top bit set (15 bits: at most 0x7FFF). The length
/// counts the whole PDU, header included.
fn fast_path_length(frame: Frame, bytes: &[u8]) -> Result<Size, FrameError> {
    let Some(&first) = bytes.get(1) else {
        return Ok(Size::Header(2));
    };
    let (length, header) = if first & 0x80 != 0 {
        let Some(&second) = bytes.get(2) else {
            return Ok(Size::Header(3));
        };
        (usize::from(first & 0x7F) << 8 | usize::from(second), 3)
    } else {
        (usize::from(first), 2)
    };
    if length < header {
        return Err(FrameError::malformed(
            frame,
            format!("fast-path length {length}, shorter than its own {header}-byte header"),
        ));
    }
    Ok(Size::Frame(length))
}

/// A DER SEQUENCE: tag 0x30, then a short length (< 0x80) or 0x81..0x84 and that many
/// big-endian length bytes. 0x80 (indefinite) is BER, not DER; longer forms cannot fit.
fn der_sequence_length(frame: Frame, bytes: &[u8]) -> Result<Size, FrameError> {
    let Some(&tag) = bytes.first() else {
        return Ok(Size::Header(1));
    };
    if tag != 0x30 {
        return Err(FrameError::malformed(
            frame,
            format!("tag 0x{tag:02x} instead of a DER SEQUENCE (0x30)"),
        ));
    }
    let Some(&form) = bytes.get(1) else {
        return Ok(Size::Header(2));
    };
    let (content, header) = match form {
        0..=0x7F => (u64::from(form), 2),
        0x80 => {
            return Err(FrameError::malformed(
                frame,
                "an indefinite length (BER, not DER)",
            ))
        }
        0x81..=0x84 => {
            let count = usize::from(form - 0x80);
            let Some(digits) = bytes.get(2..2 + count) else {
                return Ok(Size::Header(2 + count));
            };
            let content = digits.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
            (content, 2 + count)
        }
        _ => {
            return Err(FrameError::TooLong {
                what: frame.name(),
                length: u64::MAX,
                limit: MAX_TS_REQUEST,
            })
        }
    };
    let total = content + header as u64;
    if total > MAX_TS_REQUEST as u64 {
        return Err(FrameError::TooLong {
            what: frame.name(),
            length: total,
            limit: MAX_TS_REQUEST,
        });
    }
    Ok(Size::Frame(total as usize))
}

/// Reads one `frame` from `stream`, with `buf` holding bytes read before (a framed
/// reader's leftover); what follows the frame stays unread.
pub async fn read_frame<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    frame: Frame,
) -> Result<BytesMut, FrameError>
where
    S: AsyncRead + Unpin + ?Sized,
{
    loop {
        let wanted = match measure(frame, buf)? {
            Size::Frame(len) if buf.len() >= len => return Ok(buf.split_to(len)),
            Size::Frame(len) | Size::Header(len) => len,
        };
        let missing = wanted - buf.len();
        buf.reserve(missing);
        let read = stream.read_buf(&mut (&mut *buf).limit(missing)).await?;
        if read == 0 {
            return Err(FrameError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("after {} bytes of a {}", buf.len(), frame.name()),
            )));
        }
    }
}

/// Adds to `buf` whatever `stream` sends within `wait`, until `buf` holds `max` bytes or
/// the stream ends: for the first bytes of an answer that is not RDP, kept to tell what it
/// speaks (`diagnose`'s not-rdp). Never more than `max` bytes, never longer than `wait`; a
/// failed or closed stream just ends the reading.
pub async fn read_up_to<S>(stream: &mut S, buf: &mut BytesMut, max: usize, wait: Duration)
where
    S: AsyncRead + Unpin + ?Sized,
{
    let deadline = tokio::time::Instant::now() + wait;
    while buf.len() < max {
        let missing = max - buf.len();
        buf.reserve(missing);
        let mut room = (&mut *buf).limit(missing);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut room)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Reads an HTTP/1.1 response head, through its blank line, from `stream` into `buf`, never
/// holding more than `max` bytes: an RD Gateway's answer to `diagnose`'s unauthenticated
/// request. `Ok(true)` once the blank line is in `buf`, `Ok(false)` when the stream ended
/// first (what arrived is in `buf`), `TooLong` at `max` bytes without one.
pub async fn read_http_head<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    max: usize,
) -> Result<bool, FrameError>
where
    S: AsyncRead + Unpin + ?Sized,
{
    // Where the blank line could start that has not been looked for yet: a gateway that
    // drips its head a byte at a time is scanned once, not once per read.
    let mut searched = 0;
    loop {
        if buf[searched..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(true);
        }
        searched = buf.len().saturating_sub(3);
        if buf.len() >= max {
            return Err(FrameError::TooLong {
                what: "HTTP response head",
                length: buf.len() as u64,
                limit: max,
            });
        }
        let room = (max - buf.len()).min(4096);
        buf.reserve(room);
        if stream.read_buf(&mut (&mut *buf).limit(room)).await? == 0 {
            return Ok(false);
        }
    }
}

/// [`read_frame`] on a framed reader's stream and leftover.
pub async fn read<S>(framed: &mut TokioFramed<S>, frame: Frame) -> Result<Bytes, FrameError>
where
    S: AsyncRead + Unpin + Send + Sync,
{
    let (stream, buf) = framed.get_inner_mut();
    read_frame(stream, buf, frame).await.map(BytesMut::freeze)
}

/// Reads RDP PDUs until one that `hint` (one of the connector's TPKT / fast-path hints)
/// wants; the others are skipped, as ironrdp's own reader does, but at most
/// [`MAX_SKIPPED`] bytes of them.
pub async fn read_wanted<S>(
    framed: &mut TokioFramed<S>,
    hint: &dyn PduHint,
) -> Result<Bytes, FrameError>
where
    S: AsyncRead + Unpin + Send + Sync,
{
    let mut skipped = 0usize;
    loop {
        let pdu = read(framed, Frame::Rdp).await?;
        match hint.find_size(&pdu) {
            Ok(Some((true, len))) if len == pdu.len() => return Ok(pdu),
            Ok(Some((false, _))) => {
                skipped += pdu.len();
                tracing::debug!(bytes = pdu.len(), "skipped an unexpected PDU");
                if skipped > MAX_SKIPPED {
                    return Err(FrameError::Flooded {
                        what: "slow-path PDU",
                        skipped,
                    });
                }
            }
            Ok(other) => {
                return Err(FrameError::malformed(
                    Frame::Rdp,
                    format!(
                        "the connector sizes it as {other:?}, not {} bytes",
                        pdu.len()
                    ),
                ))
            }
            Err(e) => return Err(FrameError::malformed(Frame::Rdp, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
