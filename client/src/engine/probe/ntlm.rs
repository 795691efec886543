//! The server's NTLM identity, without credentials: send a CredSSP TSRequest carrying an
//! NTLM NEGOTIATE and read the CHALLENGE that comes back (what nmap's rdp-ntlm-info does).
//!
//! The CHALLENGE names the machine and its domain (NetBIOS and DNS) and its OS build, and
//! the TSRequest around it carries the server's CredSSP version. Nothing secret is sent and
//! the exchange stops there; the server logs no failed logon.

use std::io;
use std::time::Duration;

use ironrdp_async::bytes::BytesMut;
use ironrdp_connector::sspi::credssp::TsRequest;
use tokio::io::AsyncWriteExt as _;

use crate::diagnose::findings::{ExchangeError, NtlmIdentity, CLOSED_AFTER_TLS};
use crate::engine::framing::{read_frame, Frame, FrameError};
use crate::engine::tls::BoxStream;

/// Why the exchange produced no identity; the finding keeps a close apart
/// ([`ExchangeError::ClosedAfterTls`]) and the rest as the message.
#[derive(Debug, thiserror::Error)]
pub enum NtlmError {
    #[error("no NTLM CHALLENGE within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("encoding the TSRequest: {0}")]
    Encode(io::Error),
    #[error("sending the NTLM NEGOTIATE: {0}")]
    Send(io::Error),
    #[error("{CLOSED_AFTER_TLS}: {0}")]
    Closed(io::Error),
    /// Not a TSRequest, or one over the cap (`framing::MAX_TS_REQUEST`).
    #[error("{0}")]
    Frame(FrameError),
    #[error("the server's TSRequest: {0}")]
    Decode(io::Error),
    #[error("the server answered with CredSSP error 0x{code:08x} (version {version})")]
    CredsspError { code: u32, version: u32 },
    #[error("the server's TSRequest carries no NTLM message")]
    NoToken,
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
}

impl From<NtlmError> for ExchangeError {
    fn from(error: NtlmError) -> Self {
        match error {
            NtlmError::Closed(e) => Self::ClosedAfterTls(e.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

/// A token that is not an NTLM CHALLENGE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("not an NTLM message")]
    NotNtlm,
    #[error("not an NTLM CHALLENGE")]
    NotChallenge,
}

/// The CredSSP version we announce: the current one, so the server answers with its own.
const OUR_CREDSSP_VERSION: u32 = 6;

/// NTLM NEGOTIATE (MS-NLMP 2.2.1.1) with the flags nmap and mstsc send (Unicode, request
/// target, NTLM, always sign, extended session security, target info, version, 128/56-bit,
/// key exchange), no domain or workstation, version 10.0.
fn negotiate_message() -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(b"NTLMSSP\0");
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&0xE208_82B7u32.to_le_bytes());
    m.extend_from_slice(&[0; 16]); // domain and workstation fields: empty
    m.extend_from_slice(&[10, 0, 0x61, 0x4A, 0, 0, 0, 15]); // 10.0.19041, NTLM revision 15
    m
}

/// What the server answered.
pub struct Challenge {
    pub credssp_version: u32,
    pub identity: NtlmIdentity,
}

/// Runs the exchange on an upgraded (TLS) stream that selected HYBRID or HYBRID_EX.
pub async fn identify(stream: &mut BoxStream, limit: Duration) -> Result<Challenge, NtlmError> {
    match tokio::time::timeout(limit, exchange(stream)).await {
        Ok(result) => result,
        Err(_) => Err(NtlmError::Timeout(limit)),
    }
}

async fn exchange(stream: &mut BoxStream) -> Result<Challenge, NtlmError> {
    let request = TsRequest {
        version: OUR_CREDSSP_VERSION,
        nego_tokens: Some(negotiate_message()),
        ..TsRequest::default()
    };
    let mut out = Vec::new();
    request
        .encode_ts_request(&mut out)
        .map_err(NtlmError::Encode)?;
    stream.write_all(&out).await.map_err(NtlmError::Send)?;

    let reply = match read_frame(stream, &mut BytesMut::new(), Frame::TsRequest).await {
        Ok(reply) => reply,
        Err(FrameError::Io(e)) => return Err(NtlmError::Closed(e)),
        Err(other) => return Err(NtlmError::Frame(other)),
    };
    read_challenge(&reply)
}

/// Decodes the server's TSRequest (one whole DER SEQUENCE) down to its NTLM CHALLENGE.
pub fn read_challenge(ts_request: &[u8]) -> Result<Challenge, NtlmError> {
    let reply = TsRequest::from_buffer(ts_request).map_err(NtlmError::Decode)?;
    if let Some(code) = reply.error_code {
        return Err(NtlmError::CredsspError {
            code: code.0,
            version: reply.version,
        });
    }
    let token = reply.nego_tokens.ok_or(NtlmError::NoToken)?;
    Ok(Challenge {
        credssp_version: reply.version,
        identity: parse_challenge(&token)?,
    })
}

/// Decodes an NTLM CHALLENGE (MS-NLMP 2.2.1.2): target name, target info AV pairs, version.
pub fn parse_challenge(msg: &[u8]) -> Result<NtlmIdentity, ChallengeError> {
    if msg.len() < 32 || &msg[..8] != b"NTLMSSP\0" {
        return Err(ChallengeError::NotNtlm);
    }
    if u32_at(msg, 8) != Some(2) {
        return Err(ChallengeError::NotChallenge);
    }
    let flags = u32_at(msg, 20).unwrap_or(0);
    let mut identity = NtlmIdentity {
        target_name: field(msg, 12).map(utf16),
        ..NtlmIdentity::default()
    };
    if let Some(info) = field(msg, 40) {
        read_av_pairs(info, &mut identity);
    }
    const NEGOTIATE_VERSION: u32 = 0x0200_0000;
    if flags & NEGOTIATE_VERSION != 0 {
        if let Some(v) = msg.get(48..56) {
            let build = u16::from_le_bytes([v[2], v[3]]);
            identity.product_version = Some(format!("{}.{}.{build}", v[0], v[1]));
        }
    }
    Ok(identity)
}

/// A security buffer (u16 length, u16 max length, u32 offset) at `at`, bounds-checked.
fn field(msg: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16::from_le_bytes(msg.get(at..at + 2)?.try_into().ok()?));
    let offset = usize::try_from(u32_at(msg, at + 4)?).ok()?;
    if len == 0 {
        return None;
    }
    msg.get(offset..offset.checked_add(len)?)
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(msg.get(at..at + 4)?.try_into().ok()?))
}

fn read_av_pairs(mut info: &[u8], identity: &mut NtlmIdentity) {
    while info.len() >= 4 {
        let id = u16::from_le_bytes([info[0], info[1]]);
        let len = usize::from(u16::from_le_bytes([info[2], info[3]]));
        let Some(value) = info.get(4..4 + len) else {
            return;
        };
        match id {
            0 => return, // MsvAvEOL
            1 => identity.netbios_computer = Some(utf16(value)),
            2 => identity.netbios_domain = Some(utf16(value)),
            3 => identity.dns_computer = Some(utf16(value)),
            4 => identity.dns_domain = Some(utf16(value)),
            5 => identity.dns_tree = Some(utf16(value)),
            7 if len == 8 => identity.system_time = filetime(value),
            _ => {}
        }
        info = &info[4 + len..];
    }
}

fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// FILETIME (100 ns since 1601) as RFC 3339.
fn filetime(bytes: &[u8]) -> Option<String> {
    let ticks = u64::from_le_bytes(bytes.try_into().ok()?);
    let unix = i64::try_from(ticks / 10_000_000).ok()? - 11_644_473_600;
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A CHALLENGE laid out as Windows Server 2019 sends it.
    fn challenge() -> Vec<u8> {
        let target = utf16le("LAB");
        let mut info = Vec::new();
        for (id, value) in [
            (2u16, utf16le("LAB")),
            (1, utf16le("RDS01")),
            (4, utf16le("lab.example")),
            (3, utf16le("rds01.lab.example")),
            (5, utf16le("lab.example")),
            (7, 133_000_000_000_000_000u64.to_le_bytes().to_vec()),
        ] {
            info.extend_from_slice(&id.to_le_bytes());
            info.extend_from_slice(&(value.len() as u16).to_le_bytes());
            info.extend_from_slice(&value);
        }
        info.extend_from_slice(&[0, 0, 0, 0]);
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        let target_at = 56u32;
        let info_at = target_at + target.len() as u32;
        m.extend_from_slice(&(target.len() as u16).to_le_bytes());
        m.extend_from_slice(&(target.len() as u16).to_le_bytes());
        m.extend_from_slice(&target_at.to_le_bytes());
        m.extend_from_slice(&0xE28A_8215u32.to_le_bytes());
        m.extend_from_slice(&[0x11; 8]); // server challenge
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(info.len() as u16).to_le_bytes());
        m.extend_from_slice(&(info.len() as u16).to_le_bytes());
        m.extend_from_slice(&info_at.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
        m.extend_from_slice(&target);
        m.extend_from_slice(&info);
        m
    }

    #[test]
    fn a_windows_challenge_names_the_machine() {
        let id = parse_challenge(&challenge()).unwrap();
        assert_eq!(id.target_name.as_deref(), Some("LAB"));
        assert_eq!(id.netbios_computer.as_deref(), Some("RDS01"));
        assert_eq!(id.netbios_domain.as_deref(), Some("LAB"));
        assert_eq!(id.dns_computer.as_deref(), Some("rds01.lab.example"));
        assert_eq!(id.dns_domain.as_deref(), Some("lab.example"));
        assert_eq!(id.dns_tree.as_deref(), Some("lab.example"));
        assert_eq!(id.product_version.as_deref(), Some("10.0.17763"));
        assert!(id.system_time.unwrap().starts_with("2022-"));
    }

    #[test]
    fn truncated_and_lying_challenges_never_panic() {
        let full = challenge();
        for cut in 0..full.len() {
            let _ = parse_challenge(&full[..cut]);
        }
        let mut lying = full.clone();
        lying[44..48].copy_from_slice(&u32::MAX.to_le_bytes()); // target info offset
        assert!(parse_challenge(&lying).unwrap().dns_computer.is_none());
        assert!(parse_challenge(&negotiate_message()).is_err());
    }

    #[test]
    fn the_negotiate_message_is_a_valid_tsrequest_token() {
        let request = TsRequest {
            version: OUR_CREDSSP_VERSION,
            nego_tokens: Some(negotiate_message()),
            ..TsRequest::default()
        };
        let mut out = Vec::new();
        request.encode_ts_request(&mut out).unwrap();
        let back = TsRequest::from_buffer(&out).unwrap();
        assert_eq!(back.nego_tokens.unwrap(), negotiate_message());
        assert_eq!(back.version, OUR_CREDSSP_VERSION);
    }
}
