//! MCS, licensing and capabilities exchange: the connector's steps after security, each
//! stage under its own deadline, with UDP multitransport declined when the server offers it.

use std::time::Duration;

use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectionOutcome, ConnectionResult,
    MultitransportResult,
};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::rdp::multitransport::MultitransportResponsePdu;
use ironrdp_tokio::{complete_multitransport, single_sequence_step, TokioFramed};
use tokio::time::Instant;

use super::classify::connector_failure;
use super::deadline::secs;
use super::tls::BoxStream;
use super::StageClock;
use crate::report::{Failure, FailureClass, Stage};

/// Which of our stages a connector state belongs to.
pub fn stage_of(state: &ClientConnectorState) -> Stage {
    use ClientConnectorState as S;
    match state {
        S::Consumed
        | S::ConnectionInitiationSendRequest
        | S::ConnectionInitiationWaitConfirm { .. } => Stage::X224,
        S::EnhancedSecurityUpgrade { .. } => Stage::Tls,
        S::Credssp { .. }
        | S::EntraAuthWaitNonce
        | S::EntraAuthPending { .. }
        | S::EntraAuthWaitResult => Stage::Credssp,
        S::BasicSettingsExchangeSendInitial { .. }
        | S::BasicSettingsExchangeWaitResponse { .. }
        | S::ChannelConnection { .. }
        | S::SecureSettingsExchange { .. }
        | S::ConnectTimeAutoDetection { .. } => Stage::Mcs,
        S::LicensingExchange { .. } => Stage::Licensing,
        S::MultitransportBootstrapping { .. }
        | S::MultitransportPending { .. }
        | S::CapabilitiesExchange { .. }
        | S::ConnectionFinalization { .. } => Stage::Capabilities,
        S::Connected { .. } | S::Redirected { .. } => Stage::FirstFrame,
        // The enum is non-exhaustive: a state added upstream is most likely part of the
        // connection sequence proper.
        _ => Stage::Mcs,
    }
}

/// The connection result, and whether we declined a multitransport request on the way.
pub struct Finished {
    pub result: ConnectionResult,
    pub declined_multitransport: bool,
}

pub async fn run(
    framed: &mut TokioFramed<BoxStream>,
    connector: &mut ClientConnector,
    limit: Duration,
    clock: &mut StageClock,
) -> Result<Finished, Failure> {
    let mut buf = WriteBuf::new();
    let mut declined_multitransport = false;
    let mut stage = stage_of(&connector.state);
    let mut deadline = Instant::now() + limit;
    clock.enter(stage);

    loop {
        let now_stage = stage_of(&connector.state);
        if now_stage != stage {
            stage = now_stage;
            deadline = Instant::now() + limit;
            clock.enter(stage);
        }

        if connector.should_perform_multitransport() {
            // RDP-UDP is not available in the client crates: decline with E_ABORT
            // (MS-RDPBCGR 3.2.5.15.1) so the server carries on over TCP.
            let decline = MultitransportResult::Failure(MultitransportResponsePdu::E_ABORT);
            tracing::info!("declining the server's UDP multitransport request");
            tokio::time::timeout_at(
                deadline,
                complete_multitransport(connector, framed, decline),
            )
            .await
            .map_err(|_| timeout(stage, limit))?
            .map_err(|e| connector_failure(stage, &e))?;
            declined_multitransport = true;
            continue;
        }

        tokio::time::timeout_at(deadline, single_sequence_step(framed, connector, &mut buf))
            .await
            .map_err(|_| timeout(stage, limit))?
            .map_err(|e| connector_failure(stage, &e))?;

        match connector.state.take_outcome() {
            None => continue,
            Some(ConnectionOutcome::Connected(result)) => {
                return Ok(Finished {
                    result,
                    declined_multitransport,
                });
            }
            Some(ConnectionOutcome::Redirected(_)) => {
                return Err(Failure::new(
                    stage,
                    FailureClass::ProtocolError,
                    "the server sent a Server Redirection PDU (a connection broker); redirection is not supported",
                ));
            }
        }
    }
}

fn timeout(stage: Stage, limit: Duration) -> Failure {
    Failure::new(
        stage,
        FailureClass::Timeout,
        format!(
            "the server stopped answering during {stage} (limit {})",
            secs(limit)
        ),
    )
}
