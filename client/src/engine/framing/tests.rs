use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use super::*;

fn size(frame: Frame, bytes: &[u8]) -> Result<Size, String> {
    measure(frame, bytes).map_err(|e| match e {
        FrameError::TooLong { .. } => "too-long".to_owned(),
        FrameError::Malformed { .. } => "malformed".to_owned(),
        other => other.to_string(),
    })
}

#[test]
fn tpkt_lengths_at_every_boundary() {
    use Size::Frame as F;
    let cases: &[(&[u8], Result<Size, &str>)] = &[
        (&[], Ok(Size::Header(1))),
        (&[0x03], Ok(Size::Header(4))),
        (&[0x03, 0x00, 0x00], Ok(Size::Header(4))),
        (&[0x03, 0x00, 0x00, 0x00], Err("malformed")),
        (&[0x03, 0x00, 0x00, 0x03], Err("malformed")),
        (&[0x03, 0x00, 0x00, 0x04], Err("malformed")),
        (&[0x03, 0x00, 0x00, 0x06], Err("malformed")),
        (&[0x03, 0x00, 0x00, 0x07], Ok(F(7))),
        (&[0x03, 0x00, 0xFF, 0xFF], Ok(F(65535))),
    ];
    for (bytes, expected) in cases {
        let expected = expected.map_err(str::to_owned);
        assert_eq!(size(Frame::Rdp, bytes), expected, "{bytes:02x?}");
    }
}

#[test]
fn an_x224_confirm_is_at_most_260_bytes() {
    assert_eq!(size(Frame::X224Confirm, &[]), Ok(Size::Header(1)));
    assert_eq!(size(Frame::X224Confirm, &[0x03]), Ok(Size::Header(4)));
    assert_eq!(
        size(Frame::X224Confirm, &[0x03, 0, 0, 19]),
        Ok(Size::Frame(19))
    );
    assert_eq!(
        size(Frame::X224Confirm, &[0x03, 0, 0x01, 0x04]),
        Ok(Size::Frame(260))
    );
    for too_long in [[0x03, 0, 0x01, 0x05], [0x03, 0, 0xFF, 0xFF]] {
        assert_eq!(size(Frame::X224Confirm, &too_long), Err("too-long".into()));
    }
    for too_short in [0u8, 3, 4, 7, 10] {
        assert_eq!(
            size(Frame::X224Confirm, &[0x03, 0, 0, too_short]),
            Err("malformed".into()),
            "{too_short}"
        );
    }
    // Not TPKT: refused on the first byte, without waiting for a header.
    assert_eq!(size(Frame::X224Confirm, b"H"), Err("malformed".into()));
    assert_eq!(size(Frame::X224Confirm, &[0x00]), Err("malformed".into()));
}

#[test]
fn fast_path_lengths_at_every_boundary() {
    assert_eq!(size(Frame::Rdp, &[0x00]), Ok(Size::Header(2)));
    assert_eq!(size(Frame::Rdp, &[0x00, 0x80]), Ok(Size::Header(3)));
    // 0x7FFF is the largest a 15-bit length can say.
    assert_eq!(
        size(Frame::Rdp, &[0x00, 0xFF, 0xFF]),
        Ok(Size::Frame(0x7FFF))
    );
    // 0x8000 does not fit: its two bytes 0x80 0x00 read as length 0.
    assert_eq!(
        size(Frame::Rdp, &[0x00, 0x80, 0x00]),
        Err("malformed".into())
    );
    assert_eq!(
        size(Frame::Rdp, &[0x00, 0x80, 0x02]),
        Err("malformed".into())
    );
    assert_eq!(size(Frame::Rdp, &[0x00, 0x80, 0x03]), Ok(Size::Frame(3)));
    assert_eq!(size(Frame::Rdp, &[0x00, 0x01]), Err("malformed".into()));
    assert_eq!(size(Frame::Rdp, &[0x00, 0x7F]), Ok(Size::Frame(0x7F)));
    // Action bits 01 and 10 are neither fast-path nor X.224.
    assert_eq!(size(Frame::Rdp, &[0x01]), Err("malformed".into()));
    assert_eq!(size(Frame::Rdp, &[0x02]), Err("malformed".into()));
}

#[test]
fn der_lengths_at_every_boundary() {
    let cases: &[(&[u8], Result<Size, &str>)] = &[
        (&[], Ok(Size::Header(1))),
        (&[0x30], Ok(Size::Header(2))),
        (&[0x30, 0x05], Ok(Size::Frame(7))),
        (&[0x30, 0x7F], Ok(Size::Frame(0x81))),
        (&[0x30, 0x80], Err("malformed")),
        (&[0x30, 0x81], Ok(Size::Header(3))),
        (&[0x30, 0x81, 0x80], Ok(Size::Frame(0x83))),
        (&[0x30, 0x82, 0x01], Ok(Size::Header(4))),
        (&[0x30, 0x82, 0xFF, 0xFB], Ok(Size::Frame(0xFFFF))),
        (&[0x30, 0x82, 0xFF, 0xFC], Err("too-long")),
        (&[0x30, 0x82, 0xFF, 0xFF], Err("too-long")),
        (&[0x30, 0x83, 0x01, 0x00, 0x00], Err("too-long")),
        (&[0x30, 0x83, 0x00, 0x00, 0x10], Ok(Size::Frame(0x15))),
        (&[0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF], Err("too-long")),
        (&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], Err("too-long")),
        (&[0x30, 0x85], Err("too-long")),
        (&[0x30, 0xFF], Err("too-long")),
        // Random bytes are refused on the first one.
        (&[0xA7], Err("malformed")),
        (&[0x31, 0x05], Err("malformed")),
    ];
    for (bytes, expected) in cases {
        let expected = expected.map_err(str::to_owned);
        assert_eq!(size(Frame::TsRequest, bytes), expected, "{bytes:02x?}");
    }
}

/// An endless stream: `prefix`, then `cycle` over and over; counts what was taken.
struct Endless {
    prefix: Vec<u8>,
    cycle: Vec<u8>,
    served: usize,
}

impl Endless {
    fn new(prefix: &[u8]) -> Self {
        Self::cycling(prefix, &[0x41])
    }

    fn cycling(prefix: &[u8], cycle: &[u8]) -> Self {
        Self {
            prefix: prefix.to_vec(),
            cycle: cycle.to_vec(),
            served: 0,
        }
    }
}

impl AsyncRead for Endless {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while buf.remaining() > 0 {
            let at = self.served;
            let byte = match self.prefix.get(at) {
                Some(&byte) => byte,
                None => self.cycle[(at - self.prefix.len()) % self.cycle.len()],
            };
            buf.put_slice(&[byte]);
            self.served += 1;
        }
        Poll::Ready(Ok(()))
    }
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// The invariant ARCHITECTURE.md states: a length-prefixed read takes at most the cap
/// from a stream that never ends, whatever the header says.
#[test]
fn an_endless_stream_is_never_read_past_the_cap() {
    let cases: &[(Frame, &[u8], usize)] = &[
        (Frame::TsRequest, &[0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF], 6),
        (Frame::TsRequest, &[0x30, 0x82, 0xFF, 0xFF], 4),
        (Frame::TsRequest, &[0xDE, 0xAD], 1),
        (Frame::X224Confirm, &[0x03, 0x00, 0xFF, 0xFF], 4),
        (Frame::X224Confirm, b"HTTP/1.1 400", 1),
        (Frame::Rdp, &[0x03, 0x00, 0x00, 0x03], 4),
        (Frame::Rdp, &[0x00, 0x80, 0x00], 3),
    ];
    for (frame, prefix, at_most) in cases {
        let mut stream = Endless::new(prefix);
        let mut buf = BytesMut::new();
        let result = run(read_frame(&mut stream, &mut buf, *frame));
        assert!(
            matches!(
                result,
                Err(FrameError::TooLong { .. } | FrameError::Malformed { .. })
            ),
            "{frame:?} {prefix:02x?}: {result:?}"
        );
        assert!(
            stream.served <= *at_most,
            "{frame:?} {prefix:02x?}: read {} bytes, at most {at_most} needed to refuse it",
            stream.served
        );
    }
}

#[test]
fn a_frame_at_the_cap_is_read_exactly_and_no_further() {
    let cases: &[(Frame, &[u8], usize)] = &[
        (Frame::TsRequest, &[0x30, 0x82, 0xFF, 0xFB], 0xFFFF),
        (Frame::Rdp, &[0x03, 0x00, 0xFF, 0xFF], 0xFFFF),
        (Frame::Rdp, &[0x00, 0xFF, 0xFF], 0x7FFF),
        (Frame::X224Confirm, &[0x03, 0x00, 0x01, 0x04], 260),
        (Frame::Fixed(4), &[], 4),
    ];
    for (frame, prefix, len) in cases {
        let mut stream = Endless::new(prefix);
        let mut buf = BytesMut::new();
        let frame_bytes = run(read_frame(&mut stream, &mut buf, *frame)).expect("a frame");
        assert_eq!(frame_bytes.len(), *len, "{frame:?}");
        assert_eq!(stream.served, *len, "{frame:?}: read past the frame");
        assert!(buf.is_empty());
    }
}

#[test]
fn leftover_is_used_and_a_close_mid_frame_is_an_eof() {
    // A TPKT whose first bytes were read earlier (a framed reader's leftover).
    let mut leftover = BytesMut::from(&[0x03, 0x00][..]);
    let mut rest: &[u8] = &[0x00, 0x08, 1, 2, 3, 4, 0xAA];
    let frame = run(read_frame(&mut rest, &mut leftover, Frame::Rdp)).expect("frame");
    assert_eq!(&frame[..], &[0x03, 0x00, 0x00, 0x08, 1, 2, 3, 4]);
    assert_eq!(rest, &[0xAA], "the next frame's byte stays unread");

    let mut short: &[u8] = &[0x30, 0x10, 1, 2, 3];
    let result = run(read_frame(
        &mut short,
        &mut BytesMut::new(),
        Frame::TsRequest,
    ));
    match result {
        Err(FrameError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
        other => panic!("expected EOF, got {other:?}"),
    }
    let failure =
        FrameError::Io(io::Error::from(io::ErrorKind::UnexpectedEof)).failure(Stage::Credssp);
    assert_eq!(failure.class, FailureClass::PeerClosed);
    let failure = measure(Frame::TsRequest, &[0x42])
        .unwrap_err()
        .failure(Stage::Credssp);
    assert_eq!(
        (failure.stage, failure.class),
        (Stage::Credssp, FailureClass::ProtocolError)
    );
}

#[test]
fn unexpected_pdus_are_skipped_but_not_forever() {
    let mut pdu = vec![0x00, 0xFF, 0xFF];
    pdu.resize(0x7FFF, 0x00);
    // The same fast-path PDU, forever: what a server flooding "valid" unexpected PDUs
    // during the connection sequence sends.
    let mut framed = TokioFramed::new(Endless::cycling(&[], &pdu));
    let result = run(read_wanted(&mut framed, &ironrdp_pdu::X224_HINT));
    assert!(
        matches!(result, Err(FrameError::Flooded { skipped, .. }) if skipped > MAX_SKIPPED),
        "{result:?}"
    );
    let (stream, _) = framed.get_inner();
    assert!(
        stream.served <= MAX_SKIPPED + 0x7FFF,
        "read {} bytes",
        stream.served
    );

    // A fast-path PDU before the wanted TPKT is skipped, the TPKT returned.
    let mut bytes = vec![0x00, 0x04, 0xAB, 0xCD];
    bytes.extend_from_slice(&[0x03, 0x00, 0x00, 0x07, 0x02, 0xF0, 0x80]);
    let mut framed = TokioFramed::new(std::io::Cursor::new(bytes));
    let wanted = run(read_wanted(&mut framed, &ironrdp_pdu::X224_HINT)).expect("the TPKT");
    assert_eq!(&wanted[..], &[0x03, 0x00, 0x00, 0x07, 0x02, 0xF0, 0x80]);
}

/// `read_up_to(stream, first, 32, wait)`: what it kept.
fn first_bytes<S: AsyncRead + Unpin>(stream: &mut S, first: &[u8], wait_ms: u64) -> BytesMut {
    let mut buf = BytesMut::from(first);
    run(read_up_to(
        stream,
        &mut buf,
        32,
        std::time::Duration::from_millis(wait_ms),
    ));
    buf
}

/// The first bytes of an answer that is not RDP: at most the cap from an endless stream,
/// what there is from a short one, and never longer than the wait from a silent one.
#[test]
fn the_first_bytes_of_a_foreign_answer_are_capped_in_size_and_time() {
    let mut endless = Endless::new(b"HTTP/1.1 400 Bad Request\r\n");
    assert_eq!(first_bytes(&mut endless, b"H", 5000).len(), 32);
    assert_eq!(endless.served, 31);

    let mut short: &[u8] = b"SH-2.0-OpenSSH_9.2\r\n";
    assert_eq!(
        &first_bytes(&mut short, b"S", 5000)[..],
        b"SSH-2.0-OpenSSH_9.2\r\n"
    );

    let (mut silent, _writer) = tokio::io::duplex(64);
    let started = std::time::Instant::now();
    assert_eq!(&first_bytes(&mut silent, b"\x16", 50)[..], b"\x16");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

/// One byte per read, the way a hostile gateway could drip it.
struct Drip(Vec<u8>);

impl AsyncRead for Drip {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.0.is_empty() && buf.remaining() > 0 {
            let byte = self.0.remove(0);
            buf.put_slice(&[byte]);
        }
        Poll::Ready(Ok(()))
    }
}

/// An HTTP head ends at its blank line, also when it arrives a byte at a time (the blank
/// line split across reads); without one, the read stops at the cap, or at the end of the
/// stream with what came.
#[test]
fn an_http_head_is_read_to_its_blank_line_within_the_cap() {
    let head = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\n\r\n";
    let mut dripped = Drip(head.to_vec());
    let mut buf = BytesMut::new();
    assert!(run(read_http_head(&mut dripped, &mut buf, 16 * 1024)).unwrap());
    assert_eq!(&buf[..], &head[..]);

    let mut endless = Endless::new(b"HTTP/1.1 200 OK\r\n");
    let mut buf = BytesMut::new();
    let result = run(read_http_head(&mut endless, &mut buf, 1000));
    assert!(
        matches!(result, Err(FrameError::TooLong { limit: 1000, .. })),
        "{result:?}"
    );
    assert_eq!(endless.served, 1000, "never read past the cap");

    let mut closed = Drip(b"HTTP/1.1 200".to_vec());
    let mut buf = BytesMut::new();
    assert!(!run(read_http_head(&mut closed, &mut buf, 1000)).unwrap());
    assert_eq!(&buf[..], b"HTTP/1.1 200");
}
