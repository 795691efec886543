//! X.224 Connection Request / Confirm: which security protocol the server selects.
//!
//! We read the Connection Confirm ourselves (capped, see `framing`) and decode it with the
//! bounds-checked decoder `diagnose` uses, before handing it to the connector, because the
//! answers must be told apart precisely ([`check_confirm`]):
//!
//! - RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2): a code the planner acts on, left to the
//!   connector, which names it;
//! - "Standard RDP Security selected" even though we asked only for TLS/NLA, which xrdp with
//!   `security_layer=rdp` does (observed) and which this client cannot follow (IronRDP does
//!   Standard RDP Security only without encryption): `rdp-security-only`;
//! - one valid protocol that we did not request: what the server wants (a Windows server
//!   without NLA selects TLS when asked for NLA only), a class of its own
//!   (`unrequested-protocol`) that the planner follows to that protocol;
//! - anything else: `protocol-error`. MS-RDPBCGR 2.2.1.2.1 has selectedProtocol name *one*
//!   protocol. The connector accepts any value that *intersects* the request, so a confirm
//!   selecting 0x3 (SSL|HYBRID: HYBRID includes TLS, 2.2.1.1.1) or 0x7FFFFFFF would be taken
//!   as NLA even with `--nla off`, and end in `credentials-required`; unknown bits (0x10 and
//!   up) name no protocol at all.

use std::time::Duration;

use ironrdp_connector::{ClientConnector, ClientConnectorState, Sequence as _};
use ironrdp_core::{encode_vec, Decode, Encode, WriteBuf};
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};

use super::classify::{connector_failure, io_failure, io_failure_from};
use super::deadline::bounded;
use super::framing::{self, Frame};
use super::probe::decode_confirm;
use super::tls::AsyncStream;
use crate::diagnose::findings::X224Answer;
use crate::planner::Protocol;
use crate::report::{Failure, FailureClass, Stage};

/// Sends the Connection Request and returns the protocol the server selected.
pub async fn negotiate<S: AsyncStream>(
    framed: &mut TokioFramed<S>,
    connector: &mut ClientConnector,
    limit: Duration,
) -> Result<SecurityProtocol, Failure> {
    bounded(
        Stage::X224,
        limit,
        "no X.224 Connection Confirm",
        exchange(framed, connector),
    )
    .await
}

async fn exchange<S: AsyncStream>(
    framed: &mut TokioFramed<S>,
    connector: &mut ClientConnector,
) -> Result<SecurityProtocol, Failure> {
    let mut buf = WriteBuf::new();
    let written = connector
        .step_no_input(&mut buf)
        .map_err(|e| connector_failure(Stage::X224, &e))?;
    if let Some(len) = written.size() {
        framed
            .write_all(&buf[..len])
            .await
            .map_err(|e| io_failure(Stage::X224, &e))?;
    }
    let requested = match connector.state {
        ClientConnectorState::ConnectionInitiationWaitConfirm { requested_protocol } => {
            requested_protocol
        }
        ref other => return Err(unexpected_state(other)),
    };

    let confirm = framing::read(framed, Frame::X224Confirm)
        .await
        .map_err(|e| e.failure(Stage::X224))?;
    check_confirm(&confirm, requested)?;

    buf.clear();
    connector
        .step(&confirm, None, &mut buf)
        .map_err(|e| connector_failure(Stage::X224, &e))?;
    match connector.state {
        ClientConnectorState::EnhancedSecurityUpgrade { selected_protocol } => {
            Ok(selected_protocol)
        }
        ref other => Err(unexpected_state(other)),
    }
}

/// Sorts a confirm into what the connector may take (a requested protocol, or a failure code
/// it names) and what it must not: Standard RDP Security, a protocol we did not request (for
/// the planner to follow), and anything that is not one valid protocol.
pub(crate) fn check_confirm(confirm: &[u8], requested: SecurityProtocol) -> Result<(), Failure> {
    let failure = |class, detail: String| Err(Failure::new(Stage::X224, class, detail));
    let selected = match decode_confirm(confirm) {
        X224Answer::Refused { .. } => return Ok(()),
        X224Answer::Selected { selected, .. } => selected,
        X224Answer::NoNegotiationData => 0,
        X224Answer::Garbage { detail } => {
            return failure(
                FailureClass::ProtocolError,
                format!("not a valid X.224 Connection Confirm: {detail}"),
            )
        }
        other => {
            return failure(
                FailureClass::ProtocolError,
                format!("not a valid X.224 Connection Confirm: {other}"),
            )
        }
    };
    match Protocol::from_selected(selected) {
        Some(Protocol::Rdp) => failure(
            FailureClass::RdpSecuritySelected,
            "the server selected Standard RDP Security (no TLS, no NLA); rdpshim does not downgrade to it".to_owned(),
        ),
        Some(_) if requested.bits() & selected == selected => Ok(()),
        Some(protocol) => failure(
            FailureClass::UnrequestedProtocol(protocol),
            format!("asked for {}, the server selected {protocol}", names(requested)),
        ),
        None => failure(
            FailureClass::ProtocolError,
            format!(
                "the server selected protocol 0x{selected:08x}, which is not one protocol (asked for {}): not a valid Connection Confirm",
                names(requested)
            ),
        ),
    }
}

/// `hybrid|hybrid-ex` for a requestedProtocols value.
fn names(requested: SecurityProtocol) -> String {
    let names: Vec<&str> = Protocol::ALL
        .into_iter()
        .filter(|p| requested.bits() & p.bits() != 0)
        .map(Protocol::as_str)
        .collect();
    names.join("|")
}

fn unexpected_state(state: &ClientConnectorState) -> Failure {
    Failure::new(
        Stage::X224,
        FailureClass::ProtocolError,
        format!(
            "unexpected connector state at X.224: {}",
            ironrdp_connector::State::name(state)
        ),
    )
}

/// Sends one X.224 PDU (`what`: "Connection Request", "Connection Confirm") to `peer`
/// ("server", or "client" for a bridge's client leg), for a leg that builds its own PDUs
/// instead of the connector's (`server_leg.rs`, `bridge/client_leg.rs`).
pub async fn send_pdu<S: AsyncStream, P>(
    framed: &mut TokioFramed<S>,
    pdu: P,
    what: &str,
    peer: &str,
) -> Result<(), Failure>
where
    X224<P>: Encode,
{
    let bytes = encode_vec(&X224(pdu)).map_err(|e| {
        Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            format!("encoding the {what}: {e}"),
        )
    })?;
    framed
        .write_all(&bytes)
        .await
        .map_err(|e| io_failure_from(peer, Stage::X224, &e))
}

/// Reads one X.224 PDU from `peer` through the capped framing (`frame`: a Connection
/// Request from a bridge's client, a Connection Confirm from a server; either is at most
/// 260 bytes by its one-byte length indicator); anything that does not decode as `what` is
/// a `protocol-error`.
pub async fn read_pdu<S: AsyncStream, P>(
    framed: &mut TokioFramed<S>,
    frame: Frame,
    what: &str,
    peer: &str,
) -> Result<P, Failure>
where
    X224<P>: for<'de> Decode<'de>,
{
    let bytes = framing::read(framed, frame)
        .await
        .map_err(|e| e.failure_from(peer, Stage::X224))?;
    decode_pdu(&bytes, what, peer)
}

/// `bytes` (one frame) as the X.224 PDU `what` from `peer`.
pub fn decode_pdu<P>(bytes: &[u8], what: &str, peer: &str) -> Result<P, Failure>
where
    X224<P>: for<'de> Decode<'de>,
{
    ironrdp_core::decode::<X224<P>>(bytes)
        .map(|X224(pdu)| pdu)
        .map_err(|e| {
            Failure::new(
                Stage::X224,
                FailureClass::ProtocolError,
                format!("what the {peer} sent is not an X.224 {what}: {e}"),
            )
        })
}

/// "ssl", "hybrid", "hybrid-ex" for reports.
pub fn protocol_name(protocol: SecurityProtocol) -> &'static str {
    if protocol.contains(SecurityProtocol::HYBRID_EX) {
        "hybrid-ex"
    } else if protocol.contains(SecurityProtocol::HYBRID) {
        "hybrid"
    } else if protocol.contains(SecurityProtocol::SSL) {
        "ssl"
    } else if protocol.is_standard_rdp_security() {
        "rdp"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::attempt::{AttemptSpec, Nla};
    use crate::engine::connector_config;
    use crate::planner::{protocol, Knobs};

    /// TPKT + X.224 CC + RDP_NEG_RSP (or FAILURE with `kind` 3) carrying `value`.
    fn confirm(kind: u8, value: u32) -> Vec<u8> {
        let mut v = vec![0x03, 0x00, 0x00, 19, 14, 0xD0, 0, 0, 0, 0, 0, kind, 0, 8, 0];
        v.extend_from_slice(&value.to_le_bytes());
        v
    }

    /// One valid protocol we asked for passes; one we did not ask for is the server's
    /// wish (issue 11: the planner follows it); anything that is not one protocol is a
    /// protocol error, whatever was asked; Standard RDP Security is its own class.
    #[test]
    fn a_selection_is_one_protocol_requested_or_followed() {
        let nla = SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX;
        let tls = SecurityProtocol::SSL;
        for (selected, requested) in [(0x2, nla), (0x8, nla), (0x1, tls)] {
            assert!(check_confirm(&confirm(2, selected), requested).is_ok());
        }
        for (selected, requested, protocol) in [
            (0x1, nla, Protocol::Ssl),
            (0x2, tls, Protocol::Hybrid),
            (0x8, tls, Protocol::HybridEx),
            (0x4, nla, Protocol::Rdstls),
        ] {
            let failure = check_confirm(&confirm(2, selected), requested).unwrap_err();
            assert_eq!(
                (failure.stage, failure.class),
                (Stage::X224, FailureClass::UnrequestedProtocol(protocol)),
                "0x{selected:x} for 0x{:x}",
                requested.bits()
            );
        }
        // 0x3 is SSL|HYBRID: under `--nla off` the connector would take it as NLA and ask
        // for credentials (issue 9).
        for (selected, requested) in [
            (0x3, tls),
            (0x3, nla),
            (0xA, nla),
            (0x7FFF_FFFF, nla),
            (0x7FFF_FFFF, tls),
            (0xFFFF_FFFF, tls),
            (0x10, nla),
            (0x20, tls),
        ] {
            let failure = check_confirm(&confirm(2, selected), requested)
                .expect_err(&format!("0x{selected:x} for 0x{:x}", requested.bits()));
            assert_eq!(
                (failure.stage, failure.class),
                (Stage::X224, FailureClass::ProtocolError),
                "0x{selected:x}"
            );
        }
        for requested in [nla, tls] {
            assert_eq!(
                check_confirm(&confirm(2, 0), requested).unwrap_err().class,
                FailureClass::RdpSecuritySelected
            );
            // A confirm without negotiation data: a pre-RDP 5.2 server, Standard RDP Security.
            assert_eq!(
                check_confirm(b"\x03\x00\x00\x0b\x06\xd0\0\0\0\0\0", requested)
                    .unwrap_err()
                    .class,
                FailureClass::RdpSecuritySelected
            );
        }
        // A failure code is the connector's to name.
        assert!(check_confirm(&confirm(3, 5), tls).is_ok());
        // A Connection Request (0xE0) where a confirm belongs.
        assert_eq!(
            check_confirm(b"\x03\x00\x00\x0b\x06\xe0\0\0\0\0\0", tls)
                .unwrap_err()
                .class,
            FailureClass::ProtocolError
        );
    }

    /// Runs our side of the X.224 exchange with `nla` against a peer that answers the
    /// request with a Connection Confirm selecting `selected`; returns the request's
    /// requestedProtocols, whether it carried a routing cookie, and the outcome.
    async fn exchange_with(nla: Nla, selected: u32) -> (u32, bool, Result<u32, Failure>) {
        let (client, mut server) = tokio::io::duplex(4096);
        let mut spec = AttemptSpec::strongest("srv", 3389);
        spec.nla = nla;
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 50000));
        let mut connector = ClientConnector::new(connector_config::build(&spec), local);
        let peer = tokio::spawn(async move {
            let mut request = vec![0u8; 4];
            server.read_exact(&mut request).await.unwrap();
            let len = u16::from_be_bytes([request[2], request[3]]) as usize;
            request.resize(len, 0);
            server.read_exact(&mut request[4..]).await.unwrap();
            // TPKT, X.224 Connection Confirm, RDP_NEG_RSP (MS-RDPBCGR 2.2.1.2).
            let mut confirm = vec![0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0, 0, 0x12, 0x34, 0];
            confirm.extend_from_slice(&[0x02, 0x00, 0x08, 0x00]);
            confirm.extend_from_slice(&selected.to_le_bytes());
            server.write_all(&confirm).await.unwrap();
            request
        });
        let mut framed = TokioFramed::new(client);
        let result = negotiate(&mut framed, &mut connector, Duration::from_secs(5))
            .await
            .map(|p| p.bits());
        let request = peer.await.unwrap();
        let requested = u32::from_le_bytes(request[request.len() - 4..].try_into().unwrap());
        let cookie = request
            .windows(26)
            .any(|w| w == b"Cookie: mstshash=rdpshim\r\n");
        (requested, cookie, result)
    }

    #[tokio::test]
    async fn the_request_is_the_planner_s_offer_and_the_selection_one_protocol_of_it() {
        for nla in [Nla::On, Nla::Off, Nla::Negotiate] {
            let knobs = Knobs {
                nla,
                ..Knobs::strongest()
            };
            let (requested, cookie, _) = exchange_with(nla, 0x1).await;
            assert_eq!(requested, protocol::offered(&knobs), "{nla}");
            assert!(cookie, "{nla}: a routing cookie without a user name");
        }
        // mstsc's offer: the server chooses TLS or NLA within it.
        for selected in [0x1, 0x2, 0x8] {
            let (_, _, result) = exchange_with(Nla::Negotiate, selected).await;
            assert_eq!(result.unwrap(), selected);
        }
        // Not one protocol: no guessing which (0x3 would otherwise be taken as NLA).
        for selected in [0x3, 0xB, 0x7FFF_FFFF] {
            let (_, _, result) = exchange_with(Nla::Negotiate, selected).await;
            let failure = result.unwrap_err();
            assert_eq!(failure.class, FailureClass::ProtocolError, "0x{selected:x}");
        }
        // One protocol outside the offer: followed by the planner.
        let (_, _, result) = exchange_with(Nla::Negotiate, 0x4).await;
        assert_eq!(
            result.unwrap_err().class,
            FailureClass::UnrequestedProtocol(Protocol::Rdstls)
        );
        let (_, _, result) = exchange_with(Nla::Off, 0x2).await;
        assert_eq!(
            result.unwrap_err().class,
            FailureClass::UnrequestedProtocol(Protocol::Hybrid)
        );
    }
}
