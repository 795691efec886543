//! X.224 Connection Request / Confirm: which security protocol the server selects.
//!
//! We read the Connection Confirm ourselves (capped, see `framing`) and decode it with the
//! bounds-checked decoder `diagnose` uses, before handing it to the connector, because
//! three answers must be told apart precisely: RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2, a
//! code the planner acts on); "Standard RDP Security selected" even though we asked only
//! for TLS/NLA, which xrdp with `security_layer=rdp` does (observed) and which this client
//! cannot follow (IronRDP does Standard RDP Security only without encryption); and a
//! selection that is not exactly one of the protocols we requested. The connector accepts
//! any selection that *intersects* the request, so a confirm selecting 0x3 (or 0x7FFFFFFF)
//! would be taken as NLA even with `--nla off`; MS-RDPBCGR 2.2.1.2.1 has the server select
//! one protocol, from those the client offered.

use std::time::Duration;

use ironrdp_connector::{ClientConnector, ClientConnectorState, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::net::TcpStream;

use super::classify::{connector_failure, io_failure};
use super::deadline::bounded;
use super::framing::{self, Frame};
use super::probe::decode_confirm;
use crate::diagnose::findings::X224Answer;
use crate::report::{Failure, FailureClass, Stage};

/// Sends the Connection Request and returns the protocol the server selected.
pub async fn negotiate(
    framed: &mut TokioFramed<TcpStream>,
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

async fn exchange(
    framed: &mut TokioFramed<TcpStream>,
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

/// Refuses what the connector would wrongly accept; a failure code is left to the
/// connector, which names it.
pub(crate) fn check_confirm(confirm: &[u8], requested: SecurityProtocol) -> Result<(), Failure> {
    let protocol_error = |detail: String| {
        Err(Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            detail,
        ))
    };
    match decode_confirm(confirm) {
        X224Answer::Selected { selected: 0, .. } | X224Answer::NoNegotiationData => Err(Failure::new(
            Stage::X224,
            FailureClass::RdpSecuritySelected,
            "the server selected Standard RDP Security (no TLS, no NLA); rdpshim does not downgrade to it",
        )),
        X224Answer::Selected { selected, .. } => {
            if selected.count_ones() == 1 && requested.bits() & selected == selected {
                Ok(())
            } else {
                protocol_error(format!(
                    "the server selected protocol 0x{selected:08x}, which is not one of those requested (0x{:08x}): not a valid Connection Confirm",
                    requested.bits()
                ))
            }
        }
        X224Answer::Refused { .. } => Ok(()),
        X224Answer::Garbage { detail } => protocol_error(format!("not an X.224 Connection Confirm: {detail}")),
        other => protocol_error(format!("unexpected X.224 answer: {other:?}")),
    }
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
    use super::*;

    /// TPKT + X.224 CC + RDP_NEG_RSP (or FAILURE with `kind` 3) carrying `value`.
    fn confirm(kind: u8, value: u32) -> Vec<u8> {
        let mut v = vec![0x03, 0x00, 0x00, 19, 14, 0xD0, 0, 0, 0, 0, 0, kind, 0, 8, 0];
        v.extend_from_slice(&value.to_le_bytes());
        v
    }

    #[test]
    fn only_one_requested_protocol_may_be_selected() {
        let nla = SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX;
        let tls = SecurityProtocol::SSL;
        assert!(check_confirm(&confirm(2, 0x2), nla).is_ok());
        assert!(check_confirm(&confirm(2, 0x8), nla).is_ok());
        assert!(check_confirm(&confirm(2, 0x1), tls).is_ok());
        for (selected, requested) in [
            (0x3, tls),
            (0x3, nla),
            (0x7FFF_FFFF, nla),
            (0xFFFF_FFFF, tls),
            (0x1, nla),
            (0x2, tls),
            (0x4, nla),
            (0x10, nla),
        ] {
            let failure = check_confirm(&confirm(2, selected), requested)
                .expect_err(&format!("0x{selected:x} for 0x{:x}", requested.bits()));
            assert_eq!(
                (failure.stage, failure.class),
                (Stage::X224, FailureClass::ProtocolError),
                "0x{selected:x}"
            );
        }
        assert_eq!(
            check_confirm(&confirm(2, 0), nla).unwrap_err().class,
            FailureClass::RdpSecuritySelected
        );
        // A failure code is the connector's to name.
        assert!(check_confirm(&confirm(3, 5), tls).is_ok());
        assert_eq!(
            check_confirm(b"\x03\x00\x00\x0b\x06\xe0\0\0\0\0\0", tls)
                .unwrap_err()
                .class,
            FailureClass::ProtocolError
        );
    }
}
