//! MCS, licensing and capabilities exchange: the connector's steps after security, each
//! stage under its own deadline, with UDP multitransport declined when the server offers it.

use std::time::Duration;

use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectionOutcome, ConnectionResult, MonotonicInstant,
    MultitransportResult, Sequence as _,
};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::rdp::multitransport::MultitransportResponsePdu;
use ironrdp_tokio::{complete_multitransport, FramedWrite as _, TokioFramed};
use tokio::time::Instant;

use super::classify::{connector_failure, io_failure};
use super::deadline::secs;
use super::framing;
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

        tokio::time::timeout_at(deadline, step(framed, connector, &mut buf, stage))
            .await
            .map_err(|_| timeout(stage, limit))??;

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

/// One connector step: read the PDU it waits for (capped, see `framing`), step, write its
/// answer. ironrdp's `single_sequence_step` does the same with an uncapped reader.
async fn step(
    framed: &mut TokioFramed<BoxStream>,
    connector: &mut ClientConnector,
    buf: &mut WriteBuf,
    stage: Stage,
) -> Result<(), Failure> {
    buf.clear();
    let written = match connector.next_pdu_hint() {
        Some(hint) => {
            let pdu = framing::read_wanted(framed, hint)
                .await
                .map_err(|e| e.failure(stage))?;
            connector.step(&pdu, Some(received_now()), buf)
        }
        None => connector.step_no_input(buf),
    }
    .map_err(|e| connector_failure(stage, &e))?;
    if let Some(len) = written.size() {
        framed
            .write_all(&buf[..len])
            .await
            .map_err(|e| io_failure(stage, &e))?;
    }
    Ok(())
}

/// When a PDU arrived, for the connector's connect-time bandwidth measurement: the
/// milliseconds since the first call, as ironrdp-async's own driver reports it.
fn received_now() -> MonotonicInstant {
    static EPOCH: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    MonotonicInstant::from_millis(u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX))
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
