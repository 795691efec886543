//! A bare X.224 Connection Request / Confirm with any requestedProtocols value.
//!
//! Diagnosis needs answers the connector does not expose: a Confirm without negotiation
//! data (pre-2003 servers), a server that selects a protocol it was not asked for (xrdp
//! selects TLS when asked for NLA), and the raw failure code. So the request is encoded and
//! the confirm decoded here, with every length checked (no panic on any reply). The engine's
//! X.224 step decodes with the same [`decode_confirm`].

use std::time::Duration;

use ironrdp_async::bytes::BytesMut;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::super::framing::{read_frame, read_up_to, Frame, FrameError};
use crate::diagnose::findings::{protocol, show_bytes, Speaks, X224Answer};
use crate::report::NegotiationCode;

/// TPKT + X.224 Connection Request with a routing cookie and an RDP Negotiation Request.
pub fn encode_request(requested: u32) -> Vec<u8> {
    let cookie = b"Cookie: mstshash=rdpshim\r\n";
    let neg_req: [u8; 8] = {
        let p = requested.to_le_bytes();
        [0x01, 0x00, 0x08, 0x00, p[0], p[1], p[2], p[3]]
    };
    // X.224 CR TPDU: length indicator, CR code, DST-REF, SRC-REF, class 0.
    let x224_len = 6 + cookie.len() + neg_req.len();
    let total = 4 + 1 + x224_len;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.push(x224_len as u8);
    out.extend_from_slice(&[0xE0, 0x00, 0x00, 0x00, 0x00, 0x00]);
    out.extend_from_slice(cookie);
    out.extend_from_slice(&neg_req);
    out
}

/// Decodes a whole TPKT carrying an X.224 Connection Confirm.
pub fn decode_confirm(tpkt: &[u8]) -> X224Answer {
    let garbage = |detail: &str| X224Answer::Garbage {
        detail: detail.to_owned(),
    };
    if tpkt.len() < 7 || tpkt[0] != 0x03 {
        return garbage("not a TPKT header");
    }
    let li = usize::from(tpkt[4]);
    if tpkt[5] & 0xF0 != 0xD0 {
        return garbage("not an X.224 Connection Confirm");
    }
    // The variable part after the 6 fixed bytes of the CC TPDU header.
    let end = (5 + li).min(tpkt.len());
    let body = tpkt.get(11..end).unwrap_or(&[]);
    if body.len() < 8 {
        return X224Answer::NoNegotiationData;
    }
    let value = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    match body[0] {
        // The server selects one protocol (MS-RDPBCGR 2.2.1.2.1); 0x3 or 0x7FFFFFFF is no
        // answer a client can follow, and must not read as "NLA selected".
        0x02 if protocol::name(value) == "other" => garbage(&format!(
            "selectedProtocol 0x{value:08x} is not one protocol"
        )),
        0x02 => X224Answer::Selected {
            selected: value,
            name: protocol::name(value).to_owned(),
        },
        0x03 => X224Answer::Refused {
            code: NegotiationCode::from_u32(value),
        },
        other => garbage(&format!("unknown negotiation type 0x{other:02x}")),
    }
}

/// How many bytes of a non-RDP answer are kept to show what it was.
const SHOWN: usize = 32;
/// How long to wait for the rest of them (a status line or a banner comes in one go).
const SHOWN_WAIT: Duration = Duration::from_millis(200);

/// Another protocol answered: what it speaks, from the bytes already read (`first`) and
/// whatever else arrives at once, at most [`SHOWN`] bytes in all.
async fn not_rdp(stream: &mut TcpStream, mut first: BytesMut) -> X224Answer {
    read_up_to(stream, &mut first, SHOWN, SHOWN_WAIT).await;
    let bytes = &first[..];
    let speaks = Speaks::from_first_bytes(bytes);
    // A status line or banner ends at the line break; a binary answer is shown as read.
    let shown = match bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) if speaks != Speaks::Tls => &bytes[..end],
        _ => bytes,
    };
    X224Answer::NotRdp {
        speaks,
        first_bytes: show_bytes(shown),
    }
}

/// Sends the request on `stream` and reads the confirm, within `limit`.
pub async fn exchange(stream: &mut TcpStream, requested: u32, limit: Duration) -> X224Answer {
    match tokio::time::timeout(limit, exchange_unbounded(stream, requested)).await {
        Ok(answer) => answer,
        Err(_) => X224Answer::Timeout,
    }
}

async fn exchange_unbounded(stream: &mut TcpStream, requested: u32) -> X224Answer {
    if let Err(e) = stream.write_all(&encode_request(requested)).await {
        return X224Answer::Closed {
            detail: e.to_string(),
        };
    }
    let mut read = BytesMut::new();
    match read_frame(stream, &mut read, Frame::X224Confirm).await {
        Ok(tpkt) => decode_confirm(&tpkt),
        Err(FrameError::Io(e)) => X224Answer::Closed {
            detail: e.to_string(),
        },
        // Not even TPKT: another protocol answers on this port.
        Err(FrameError::Malformed { .. }) if read.first() != Some(&0x03) => {
            not_rdp(stream, read).await
        }
        // TPKT, but no Connection Confirm fits in it.
        Err(other) => X224Answer::Garbage {
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirm(neg: &[u8]) -> Vec<u8> {
        let li = 6 + neg.len();
        let mut v = vec![
            0x03,
            0x00,
            0x00,
            (5 + li) as u8,
            li as u8,
            0xD0,
            0,
            0,
            0,
            0,
            0,
        ];
        v.extend_from_slice(neg);
        v
    }

    #[test]
    fn request_is_a_well_formed_tpkt() {
        let r = encode_request(0x0B);
        assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len());
        assert_eq!(usize::from(r[4]) + 5, r.len());
        assert_eq!(&r[r.len() - 4..], &[0x0B, 0, 0, 0]);
    }

    #[test]
    fn confirms_decode_to_every_answer() {
        assert_eq!(
            decode_confirm(&confirm(&[2, 0, 8, 0, 1, 0, 0, 0])),
            X224Answer::Selected {
                selected: 1,
                name: "ssl".into()
            }
        );
        assert_eq!(
            decode_confirm(&confirm(&[3, 0, 8, 0, 5, 0, 0, 0])),
            X224Answer::Refused {
                code: NegotiationCode::HybridRequiredByServer
            }
        );
        assert_eq!(decode_confirm(&confirm(&[])), X224Answer::NoNegotiationData);
        assert!(matches!(
            decode_confirm(&confirm(&[9, 0, 8, 0, 0, 0, 0, 0])),
            X224Answer::Garbage { .. }
        ));
    }

    #[test]
    fn a_selection_of_several_protocols_is_not_an_answer() {
        for value in [0x3u32, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x10, 0x9] {
            let [a, b, c, d] = value.to_le_bytes();
            assert!(
                matches!(
                    decode_confirm(&confirm(&[2, 0, 8, 0, a, b, c, d])),
                    X224Answer::Garbage { .. }
                ),
                "0x{value:x}"
            );
        }
        for value in [0u32, 1, 2, 4, 8] {
            let [a, b, c, d] = value.to_le_bytes();
            assert!(matches!(
                decode_confirm(&confirm(&[2, 0, 8, 0, a, b, c, d])),
                X224Answer::Selected { selected, .. } if selected == value
            ));
        }
    }

    #[test]
    fn other_protocols_are_told_from_their_first_bytes() {
        for (bytes, speaks) in [
            (&b"HTTP/1.1 400 Bad Request\r\n"[..], Speaks::Http),
            (b"<!DOCTYPE HTML>", Speaks::Http),
            (b"\x15\x03\x01\x00\x02\x02\x46", Speaks::Tls),
            (b"\x16\x03\x03\x00\x4a", Speaks::Tls),
            (b"SSH-2.0-OpenSSH_9.2", Speaks::Ssh),
            (b"\x00\x01\x02\x03", Speaks::Other),
            (b"", Speaks::Other),
        ] {
            assert_eq!(Speaks::from_first_bytes(bytes), speaks, "{bytes:?}");
        }
        assert_eq!(show_bytes(b"HTTP\x00\\"), "HTTP\\x00\\x5c");
    }

    #[test]
    fn truncated_and_hostile_confirms_never_panic() {
        let full = confirm(&[2, 0, 8, 0, 2, 0, 0, 0]);
        for cut in 0..full.len() {
            let _ = decode_confirm(&full[..cut]);
        }
        let mut lying = full.clone();
        lying[4] = 0xFF; // length indicator beyond the buffer
        let _ = decode_confirm(&lying);
        assert!(matches!(
            decode_confirm(&[0x03, 0, 0, 7, 2, 0xE0, 0]),
            X224Answer::Garbage { .. }
        ));
    }
}
