//! MS-TSGU HTTP transport packets, gateway side (MS-TSGU 2.2.10): decode what a client
//! sends, encode what a gateway answers. ironrdp-mstsgu 0.1 keeps its codecs private and
//! one-directional (it encodes requests and decodes responses), so only its public close
//! packet and HRESULT labels are used here; its client, FreeRDP's and rdpshim's talking to
//! this gateway is what checks that the two directions agree.

use ironrdp_core::{Encode as _, WriteCursor};
use ironrdp_mstsgu::ChannelClosePkt;

pub const HANDSHAKE_REQUEST: u16 = 0x01;
pub const HANDSHAKE_RESPONSE: u16 = 0x02;
pub const TUNNEL_CREATE: u16 = 0x04;
pub const TUNNEL_RESPONSE: u16 = 0x05;
pub const TUNNEL_AUTH: u16 = 0x06;
pub const TUNNEL_AUTH_RESPONSE: u16 = 0x07;
pub const CHANNEL_CREATE: u16 = 0x08;
pub const CHANNEL_RESPONSE: u16 = 0x09;
pub const DATA: u16 = 0x0A;
pub const KEEPALIVE: u16 = 0x0D;
pub const CLOSE_CHANNEL: u16 = 0x10;
pub const CLOSE_CHANNEL_RESPONSE: u16 = 0x11;

/// HTTP_PACKET_HEADER: type, reserved, length (of the whole packet).
pub const HEADER_LEN: usize = 8;
/// The largest packet the gateway accepts from a client (data packets carry at most
/// 65535 bytes; control packets are small).
pub const MAX_PACKET: usize = 0x1_0000 + HEADER_LEN + 2;

/// `E_PROXY_RAP_ACCESSDENIED` (MS-TSGU 2.2.6): the resource authorization policy refuses
/// the target. A Windows RD Gateway answers the channel create packet with it.
pub const E_PROXY_RAP_ACCESSDENIED: u32 = 0x8007_59DA;
/// `E_PROXY_TS_CONNECTFAILED`: the gateway could not reach the allowed target.
pub const E_PROXY_TS_CONNECTFAILED: u32 = 0x8007_59DD;

/// HTTP_TUNNEL_REDIR_ENABLE_ALL (MS-TSGU 2.2.5.3.4).
const REDIR_ENABLE_ALL: u32 = 0x8000_0000;

/// The length a packet header announces, when `bytes` hold a whole header.
pub fn announced_length(bytes: &[u8]) -> Option<usize> {
    let length = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    usize::try_from(length).ok()
}

/// A packet from the client, header checked: (type, body after the header).
pub fn split(packet: &[u8]) -> Option<(u16, &[u8])> {
    let ty = u16::from_le_bytes(packet.get(0..2)?.try_into().ok()?);
    (announced_length(packet)? == packet.len()).then_some((ty, &packet[HEADER_LEN..]))
}

/// A bounds-checked little-endian reader over a packet body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    /// A length-prefixed UTF-16LE string (the length in bytes, a trailing NUL dropped).
    fn utf16(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16_lossy(&units);
        Some(text.trim_end_matches('\0').to_owned())
    }
}

/// HTTP_CHANNEL_PACKET (2.2.10.2): the resources (host names) and port the client wants.
#[derive(Debug)]
pub struct ChannelCreate {
    pub resources: Vec<String>,
    pub port: u16,
}

pub fn decode_channel_create(body: &[u8]) -> Option<ChannelCreate> {
    let mut r = Reader(body);
    let count = r.u8()?;
    let alternates = r.u8()?;
    let port = r.u16()?;
    let _protocol = r.u16()?;
    let mut resources = Vec::new();
    for _ in 0..usize::from(count) + usize::from(alternates) {
        resources.push(r.utf16()?);
    }
    Some(ChannelCreate { resources, port })
}

/// HTTP_TUNNEL_AUTH_PACKET (2.2.10.14): the client's machine name.
pub fn decode_tunnel_auth(body: &[u8]) -> Option<String> {
    let mut r = Reader(body);
    let _fields = r.u16()?;
    r.utf16()
}

/// HTTP_DATA_PACKET (2.2.10.6): the payload.
pub fn decode_data(body: &[u8]) -> Option<&[u8]> {
    let mut r = Reader(body);
    let len = usize::from(r.u16()?);
    r.take(len)
}

fn packet(ty: u16, body: &[u8]) -> Vec<u8> {
    let length = u32::try_from(HEADER_LEN + body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// HTTP_HANDSHAKE_RESPONSE_PACKET (2.2.10.11): version 1.0, no extended authentication.
pub fn handshake_response(error: u32) -> Vec<u8> {
    let mut body = error.to_le_bytes().to_vec();
    body.extend_from_slice(&[1, 0]); // version 1.0
    body.extend_from_slice(&0u16.to_le_bytes()); // server version
    body.extend_from_slice(&0u16.to_le_bytes()); // HTTP_EXTENDED_AUTH_NONE
    packet(HANDSHAKE_RESPONSE, &body)
}

/// HTTP_TUNNEL_RESPONSE (2.2.10.20) with a tunnel id and no capabilities.
pub fn tunnel_response(status: u32) -> Vec<u8> {
    let mut body = 0u16.to_le_bytes().to_vec(); // server version
    body.extend_from_slice(&status.to_le_bytes());
    body.extend_from_slice(&0x0003u16.to_le_bytes()); // tunnel id + caps present
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes()); // tunnel id
    body.extend_from_slice(&0u32.to_le_bytes()); // caps
    packet(TUNNEL_RESPONSE, &body)
}

/// HTTP_TUNNEL_AUTH_RESPONSE (2.2.10.16): all redirections allowed, no idle timeout.
pub fn tunnel_auth_response(error: u32) -> Vec<u8> {
    let mut body = error.to_le_bytes().to_vec();
    body.extend_from_slice(&0x0003u16.to_le_bytes()); // redir flags + idle timeout present
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&REDIR_ENABLE_ALL.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    packet(TUNNEL_AUTH_RESPONSE, &body)
}

/// HTTP_CHANNEL_RESPONSE (2.2.10.4): a channel id on success, nothing else on refusal.
pub fn channel_response(error: u32) -> Vec<u8> {
    let mut body = error.to_le_bytes().to_vec();
    let fields: u16 = if error == 0 { 1 } else { 0 };
    body.extend_from_slice(&fields.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    if error == 0 {
        body.extend_from_slice(&1u32.to_le_bytes()); // channel id
    }
    packet(CHANNEL_RESPONSE, &body)
}

/// HTTP_DATA_PACKET around at most 65535 bytes of `data`.
pub fn data(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    let mut body = len.to_le_bytes().to_vec();
    body.extend_from_slice(&data[..usize::from(len)]);
    packet(DATA, &body)
}

/// HTTP_CLOSE_PACKET (2.2.10.8) with `status`, ironrdp-mstsgu's encoder.
pub fn close_channel(status: u32) -> Vec<u8> {
    let close = ChannelClosePkt {
        status_code: status,
    };
    let mut buf = vec![0; close.size()];
    let mut cursor = WriteCursor::new(&mut buf);
    match close.encode(&mut cursor) {
        Ok(()) => buf,
        Err(_) => packet(CLOSE_CHANNEL, &status.to_le_bytes()),
    }
}

/// HTTP_CLOSE_PACKET as the answer to the client's close.
pub fn close_channel_response() -> Vec<u8> {
    packet(CLOSE_CHANNEL_RESPONSE, &0u32.to_le_bytes())
}

/// `E_PROXY_RAP_ACCESSDENIED (0x800759da)` for logs.
pub fn code_name(code: u32) -> String {
    match ironrdp_mstsgu::gateway_code_label(code) {
        Some(label) => format!("{label} (0x{code:08x})"),
        None => format!("0x{code:08x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_create_decodes_and_truncation_is_refused() {
        // FreeRDP's layout: 1 resource, 0 alternates, port 3389, protocol 3, "h\0".
        let body = [1, 0, 0x3d, 0x0d, 3, 0, 4, 0, b'h', 0, 0, 0];
        let channel = decode_channel_create(&body).unwrap();
        assert_eq!(channel.resources, ["h"]);
        assert_eq!(channel.port, 3389);
        assert!(decode_channel_create(&body[..9]).is_none());
    }

    #[test]
    fn headers_must_match_the_packet() {
        let p = tunnel_response(0);
        assert_eq!(split(&p).map(|(ty, _)| ty), Some(TUNNEL_RESPONSE));
        assert!(split(&p[..p.len() - 1]).is_none());
        assert_eq!(close_channel(5).len(), 12);
    }
}
