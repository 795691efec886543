//! The two PDUs of the session the bridge changes, because its two legs negotiated
//! security separately; everything after them passes unchanged.
//!
//! - The client's MCS Connect Initial: the Client Core Data echoes the protocol the
//!   client's *own* leg selected (`serverSelectedProtocol`, MS-RDPBCGR 2.2.1.3.2), and a
//!   server drops a client whose echo differs from its own choice, so it is set to the
//!   server leg's selection (as Devolutions Gateway's `rdp_proxy.rs` does). The Client
//!   Multitransport Channel Data (2.2.1.3.8) is removed: the bridge carries TCP only, so
//!   the server must not offer UDP (a server that sees no advertisement makes no offer).
//!   Both change lengths, so the PDU is decoded and encoded again.
//! - The server's MCS Connect Response: the Server Core Data echoes the requestedProtocols
//!   the server saw (`clientRequestedProtocols`, 2.2.1.4.2). When the bridge asked the
//!   server for other protocols than the client asked the bridge for (a TLS-only server
//!   leg), the echo is set back to the client's own value, which a client may compare
//!   with what it sent to detect a downgrade on the path. Same length: patched in place,
//!   so nothing else the server wrote is re-encoded.
//!
//! Decoding uses ironrdp-pdu; input is bounded by the TPKT frame (64 KiB) it came in.

use std::borrow::Cow;

use ironrdp_core::{decode, encode_vec};
use ironrdp_pdu::gcc::ConferenceCreateRequest;
use ironrdp_pdu::mcs::{ConnectInitial, ConnectResponse};
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::x224::{X224Data, X224};

/// A PDU that could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
#[error("{pdu}: {detail}")]
pub struct GccError {
    pub pdu: &'static str,
    pub detail: String,
}

/// The bytes to forward and what was changed (for the session log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub bytes: Vec<u8>,
    pub changes: Vec<String>,
}

const INITIAL: &str = "MCS Connect Initial";
const RESPONSE: &str = "MCS Connect Response";

fn error(pdu: &'static str, detail: impl ToString) -> GccError {
    GccError {
        pdu,
        detail: detail.to_string(),
    }
}

/// The client's Connect Initial (a whole TPKT frame) as the server must see it.
pub fn connect_initial(
    frame: &[u8],
    server_selected: SecurityProtocol,
) -> Result<Rewritten, GccError> {
    let X224(data) = decode::<X224<X224Data<'_>>>(frame).map_err(|e| error(INITIAL, e))?;
    let mut initial = decode::<ConnectInitial>(&data.data).map_err(|e| error(INITIAL, e))?;
    let mut blocks = initial.conference_create_request.gcc_blocks().clone();
    let mut changes = Vec::new();

    match blocks.core.optional_data.server_selected_protocol {
        Some(echo) if echo != server_selected => {
            changes.push(format!(
                "serverSelectedProtocol {} -> {}",
                echo.bits(),
                server_selected.bits()
            ));
            blocks.core.optional_data.server_selected_protocol = Some(server_selected);
        }
        // Absent (a pre-RDP 5.2 client): the fields before it are optional too, so it
        // cannot be added alone; the server then assumes the client's choice matches.
        _ => {}
    }
    if let Some(multitransport) = blocks.multi_transport_channel.take() {
        changes.push(format!(
            "multitransport advertisement 0x{:x} removed",
            multitransport.flags.bits()
        ));
    }
    if changes.is_empty() {
        return Ok(Rewritten {
            bytes: frame.to_vec(),
            changes,
        });
    }
    initial.conference_create_request =
        ConferenceCreateRequest::new(blocks).map_err(|e| error(INITIAL, e))?;
    let body = encode_vec(&initial).map_err(|e| error(INITIAL, e))?;
    let bytes = encode_vec(&X224(X224Data {
        data: Cow::Owned(body),
    }))
    .map_err(|e| error(INITIAL, e))?;
    Ok(Rewritten { bytes, changes })
}

/// The server's Connect Response (a whole TPKT frame) as the client must see it.
pub fn connect_response(
    frame: &[u8],
    client_requested: SecurityProtocol,
) -> Result<Rewritten, GccError> {
    let X224(data) = decode::<X224<X224Data<'_>>>(frame).map_err(|e| error(RESPONSE, e))?;
    let response = decode::<ConnectResponse>(&data.data).map_err(|e| error(RESPONSE, e))?;
    let core = &response.conference_create_response.gcc_blocks().core;
    let mut bytes = frame.to_vec();
    let mut changes = Vec::new();
    if let Some(echo) = core.optional_data.client_requested_protocols {
        if echo != client_requested {
            let at = core_echo_offset(&bytes, core.version.0, echo.bits()).ok_or_else(|| {
                error(
                    RESPONSE,
                    "the Server Core Data block is not where its decoding says",
                )
            })?;
            bytes[at..at + 4].copy_from_slice(&client_requested.bits().to_le_bytes());
            changes.push(format!(
                "clientRequestedProtocols {} -> {}",
                echo.bits(),
                client_requested.bits()
            ));
        }
    }
    Ok(Rewritten { bytes, changes })
}

/// Where `clientRequestedProtocols` sits in `frame`: the one place where a Server Core
/// Data header (type SC_CORE 0x0C01, a 2-byte length) is followed by `version` and `echo`
/// as decoded. Not exactly one such place: `None` (the caller refuses rather than guess).
fn core_echo_offset(frame: &[u8], version: u32, echo: u32) -> Option<usize> {
    let version = version.to_le_bytes();
    let echo = echo.to_le_bytes();
    let mut found = None;
    for start in 0..frame.len().saturating_sub(11) {
        let window = &frame[start..start + 12];
        if window[..2] == [0x01, 0x0C] && window[4..8] == version && window[8..12] == echo {
            if found.is_some() {
                return None;
            }
            found = Some(start + 8);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_echo_is_found_once_or_not_at_all() {
        let block = [
            0x01, 0x0C, 0x0C, 0x00, 0x04, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00,
        ];
        let mut frame = vec![0xAA; 7];
        frame.extend_from_slice(&block);
        frame.extend_from_slice(&[0x02, 0x0C, 0x08, 0x00]);
        assert_eq!(core_echo_offset(&frame, 0x0008_0004, 1), Some(7 + 8));
        assert_eq!(core_echo_offset(&frame, 0x0008_0004, 3), None);
        frame.extend_from_slice(&block);
        assert_eq!(core_echo_offset(&frame, 0x0008_0004, 1), None, "twice");
        assert_eq!(core_echo_offset(&[], 0, 0), None);
    }

    /// Captured on the lab through the bridge: xfreerdp 2.11's Connect Initial (TLS leg,
    /// serverSelectedProtocol SSL, a multitransport block with flags 0) and the Connect
    /// Responses of xrdp 0.9 (clientRequestedProtocols SSL) and freerdp-shadow 2.11.
    const XFREERDP_INITIAL: &[u8] = include_bytes!("testdata/xfreerdp-connect-initial.bin");
    const XRDP_RESPONSE: &[u8] = include_bytes!("testdata/xrdp-connect-response.bin");
    const SHADOW_RESPONSE: &[u8] = include_bytes!("testdata/shadow-connect-response.bin");

    fn blocks(frame: &[u8]) -> ironrdp_pdu::gcc::ClientGccBlocks {
        let X224(data) = decode::<X224<X224Data<'_>>>(frame).unwrap();
        decode::<ConnectInitial>(&data.data)
            .unwrap()
            .conference_create_request
            .into_gcc_blocks()
    }

    #[test]
    fn the_connect_initial_gets_the_server_legs_protocol_and_no_multitransport() {
        let before = blocks(XFREERDP_INITIAL);
        assert!(before.multi_transport_channel.is_some());
        assert_eq!(
            before.core.optional_data.server_selected_protocol,
            Some(SecurityProtocol::SSL)
        );

        let same_leg = connect_initial(XFREERDP_INITIAL, SecurityProtocol::SSL).unwrap();
        assert_eq!(same_leg.changes.len(), 1, "{:?}", same_leg.changes);
        let nla_leg = connect_initial(XFREERDP_INITIAL, SecurityProtocol::HYBRID).unwrap();
        assert_eq!(nla_leg.changes.len(), 2, "{:?}", nla_leg.changes);

        let after = blocks(&nla_leg.bytes);
        assert_eq!(after.multi_transport_channel, None);
        assert_eq!(
            after.core.optional_data.server_selected_protocol,
            Some(SecurityProtocol::HYBRID)
        );
        // Everything else the client said reaches the server as it said it.
        let mut expected = before.clone();
        expected.multi_transport_channel = None;
        expected.core.optional_data.server_selected_protocol = Some(SecurityProtocol::HYBRID);
        assert_eq!(after, expected);
        // The TPKT length follows the new size.
        let tpkt = usize::from(u16::from_be_bytes([nla_leg.bytes[2], nla_leg.bytes[3]]));
        assert_eq!(tpkt, nla_leg.bytes.len());
    }

    #[test]
    fn the_connect_response_echoes_what_the_client_requested() {
        let client_requested = SecurityProtocol::SSL | SecurityProtocol::HYBRID;
        for response in [XRDP_RESPONSE, SHADOW_RESPONSE] {
            let X224(data) = decode::<X224<X224Data<'_>>>(response).unwrap();
            let before = decode::<ConnectResponse>(&data.data).unwrap();
            let echo = before
                .conference_create_response
                .gcc_blocks()
                .core
                .optional_data
                .client_requested_protocols;

            let patched = connect_response(response, client_requested).unwrap();
            let X224(data) = decode::<X224<X224Data<'_>>>(&patched.bytes).unwrap();
            let after = decode::<ConnectResponse>(&data.data).unwrap();
            let core = &after.conference_create_response.gcc_blocks().core;
            assert_eq!(
                core.optional_data.client_requested_protocols,
                Some(client_requested)
            );
            let differing = response
                .iter()
                .zip(&patched.bytes)
                .filter(|(a, b)| a != b)
                .count();
            if echo == Some(client_requested) {
                assert!(patched.changes.is_empty());
                assert_eq!(differing, 0);
            } else {
                assert_eq!(patched.changes.len(), 1);
                assert_eq!(patched.bytes.len(), response.len());
                assert!(differing <= 4, "only the echo changes");
            }
        }
        // A response already carrying the client's value passes unchanged.
        let unchanged = connect_response(XRDP_RESPONSE, SecurityProtocol::SSL).unwrap();
        assert_eq!(unchanged.bytes, XRDP_RESPONSE);
    }

    #[test]
    fn truncations_of_real_pdus_never_panic() {
        for frame in [XFREERDP_INITIAL, XRDP_RESPONSE] {
            for cut in 0..frame.len() {
                let _ = connect_initial(&frame[..cut], SecurityProtocol::HYBRID);
                let _ = connect_response(&frame[..cut], SecurityProtocol::HYBRID);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for frame in [
            &[][..],
            &[0x03, 0x00, 0x00, 0x07, 0x02, 0xF0, 0x80][..],
            &[0x03, 0x00, 0xFF, 0xFF, 0x02, 0xF0, 0x80, 0x7F, 0x65][..],
        ] {
            assert!(connect_initial(frame, SecurityProtocol::SSL).is_err());
            assert!(connect_response(frame, SecurityProtocol::SSL).is_err());
        }
    }
}
