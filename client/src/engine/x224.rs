//! X.224 Connection Request / Confirm: which security protocol the server selects.
//!
//! We read the Connection Confirm ourselves before handing it to the connector, because two
//! answers must be told apart precisely: RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2, a code the
//! planner acts on) and "Standard RDP Security selected" even though we asked only for
//! TLS/NLA, which xrdp with `security_layer=rdp` does (observed) and which this client cannot
//! follow (IronRDP does Standard RDP Security only without encryption). A selection of a
//! protocol that was not offered is a class of its own (`unrequested-protocol`), which the
//! planner follows to that protocol; a selection that is not exactly one protocol is a
//! `protocol-error`.

use std::time::Duration;

use ironrdp_connector::{ClientConnector, ClientConnectorState, Sequence as _};
use ironrdp_core::{encode_vec, Decode, Encode, WriteBuf};
use ironrdp_pdu::nego::{ConnectionConfirm, SecurityProtocol};
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};

use super::classify::{connector_failure, io_failure, io_failure_from};
use super::deadline::bounded;
use super::tls::AsyncStream;
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

    let hint = connector.next_pdu_hint().ok_or_else(|| {
        Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            "connector expects no confirm",
        )
    })?;
    let confirm = framed
        .read_by_hint(hint)
        .await
        .map_err(|e| io_failure(Stage::X224, &e))?;

    if let (
        Ok(X224(ConnectionConfirm::Response { protocol, .. })),
        ClientConnectorState::ConnectionInitiationWaitConfirm { requested_protocol },
    ) = (
        ironrdp_core::decode::<X224<ConnectionConfirm>>(&confirm),
        &connector.state,
    ) {
        check_selection(protocol, *requested_protocol)?;
    }

    buf.clear();
    connector
        .step(&confirm, None, &mut buf)
        .map_err(|e| connector_failure(Stage::X224, &e))?;
    match connector.state {
        ClientConnectorState::EnhancedSecurityUpgrade { selected_protocol } => {
            Ok(selected_protocol)
        }
        ref other => Err(Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            format!(
                "unexpected connector state after X.224: {}",
                ironrdp_connector::State::name(other)
            ),
        )),
    }
}

/// The two selections the connector cannot be left to judge: Standard RDP Security (which
/// rdpshim does not downgrade to) and one protocol the request did not offer (see
/// [`unrequested`]). The attempt's X.224 and a bridge's server leg (`server_leg.rs`, which
/// sends its client's request instead of the connector's) both judge a selection here.
pub(super) fn check_selection(
    selected: SecurityProtocol,
    requested: SecurityProtocol,
) -> Result<(), Failure> {
    if selected.is_standard_rdp_security() {
        return Err(Failure::new(
            Stage::X224,
            FailureClass::RdpSecuritySelected,
            "the server selected Standard RDP Security (no TLS, no NLA); rdpshim does not downgrade to it",
        ));
    }
    // The connector only checks that the selection intersects the request: 0x3 would
    // pass a request of SSL|HYBRID|HYBRID_EX and be taken as NLA, with no protocol the
    // run could record. A server selects exactly one (MS-RDPBCGR 2.2.1.2.1).
    if Protocol::from_selected(selected.bits()).is_none() {
        return Err(Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            format!(
                "the server selected 0x{:x}, which is not one security protocol",
                selected.bits()
            ),
        ));
    }
    match unrequested(selected, requested) {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// A selection of one protocol the request did not offer: what the server wants, for the
/// planner to follow (it is no protocol error: a Windows server without NLA selects TLS when
/// asked for NLA only). The connector would refuse it as an error with no class.
fn unrequested(selected: SecurityProtocol, requested: SecurityProtocol) -> Option<Failure> {
    let protocol = Protocol::from_selected(selected.bits())?;
    if selected.intersects(requested) {
        return None;
    }
    let asked: Vec<&str> = Protocol::ALL
        .into_iter()
        .filter(|p| requested.bits() & p.bits() != 0)
        .map(Protocol::as_str)
        .collect();
    Some(Failure::new(
        Stage::X224,
        FailureClass::UnrequestedProtocol(protocol),
        format!(
            "asked for {}, the server selected {protocol}",
            asked.join("|")
        ),
    ))
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

/// Reads one X.224 PDU from `peer`: one TPKT frame (at most 64 KiB by its 16-bit length);
/// anything that does not decode as `what` is a `protocol-error`.
pub async fn read_pdu<S: AsyncStream, P>(
    framed: &mut TokioFramed<S>,
    what: &str,
    peer: &str,
) -> Result<P, Failure>
where
    X224<P>: for<'de> Decode<'de>,
{
    let (_, frame) = framed
        .read_pdu()
        .await
        .map_err(|e| io_failure_from(peer, Stage::X224, &e))?;
    ironrdp_core::decode::<X224<P>>(&frame)
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
