//! X.224 Connection Request / Confirm: which security protocol the server selects.
//!
//! We read the Connection Confirm ourselves before handing it to the connector, because two
//! answers must be told apart precisely: RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2, a code the
//! planner acts on) and "Standard RDP Security selected" even though we asked only for
//! TLS/NLA, which xrdp with `security_layer=rdp` does (observed) and which this client cannot
//! follow (IronRDP does Standard RDP Security only without encryption).

use std::time::Duration;

use ironrdp_connector::{ClientConnector, ClientConnectorState, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::nego::{ConnectionConfirm, SecurityProtocol};
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::io::{AsyncRead, AsyncWrite};

use super::classify::{connector_failure, io_failure};
use super::deadline::bounded;
use crate::report::{Failure, FailureClass, Stage};

/// Sends the Connection Request and returns the protocol the server selected (over the
/// attempt's metered TCP stream, or a probe's plain one).
pub async fn negotiate<S: AsyncRead + AsyncWrite + Send + Sync + Unpin>(
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

async fn exchange<S: AsyncRead + AsyncWrite + Send + Sync + Unpin>(
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

    if let Ok(X224(ConnectionConfirm::Response { protocol, .. })) =
        ironrdp_core::decode::<X224<ConnectionConfirm>>(&confirm)
    {
        if protocol.is_standard_rdp_security() {
            return Err(Failure::new(
                Stage::X224,
                FailureClass::RdpSecuritySelected,
                "the server selected Standard RDP Security (no TLS, no NLA); rdpshim does not downgrade to it",
            ));
        }
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
