//! X.224 Connection Request / Confirm: which security protocol the server selects.
//!
//! We read the Connection Confirm ourselves before handing it to the connector, because two
//! answers must be told apart precisely: RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2, a code the
//! planner acts on) and "Standard RDP Security selected" even though we asked only for
//! TLS/NLA, which xrdp with `security_layer=rdp` does (observed) and which this client cannot
//! follow (IronRDP does Standard RDP Security only without encryption). A selection of a
//! protocol that was not offered is a class of its own (`unrequested-protocol`), which the
//! planner follows to that protocol.

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
