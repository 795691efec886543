//! CredSSP (NLA) over the upgraded TLS stream, NTLM only.
//!
//! This is ironrdp-async's `perform_credssp` loop, kept here because the classification
//! needs to know how far the exchange got: FreeRDP's shadow server answers a wrong password
//! by closing the socket right after our NTLM AUTHENTICATE (observed), and a Windows server
//! with a restricted account closes after the credentials are delegated. A close at that
//! point is a credential problem, never a reason to downgrade.

use std::time::Duration;

use ironrdp_connector::credssp::CredsspSequence;
use ironrdp_connector::sspi::generator::GeneratorState;
use ironrdp_connector::{ClientConnector, ClientConnectorState, Credentials, ServerName};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};

use super::classify::{connector_failure, credssp_class, io_failure};
use super::deadline::bounded;
use super::framing::{self, Frame};
use super::tls::BoxStream;
use crate::report::{Failure, FailureClass, Stage};

/// Messages we have sent when the server has seen our NTLM AUTHENTICATE (NEGOTIATE, then
/// AUTHENTICATE with pubKeyAuth).
const SENT_AFTER_AUTHENTICATE: usize = 2;

pub async fn authenticate(
    framed: &mut TokioFramed<BoxStream>,
    connector: &mut ClientConnector,
    server_name: &str,
    server_public_key: Vec<u8>,
    limit: Duration,
) -> Result<(), Failure> {
    let exchange = exchange(framed, connector, server_name, server_public_key);
    bounded(Stage::Credssp, limit, "CredSSP did not complete", exchange).await
}

async fn exchange(
    framed: &mut TokioFramed<BoxStream>,
    connector: &mut ClientConnector,
    server_name: &str,
    server_public_key: Vec<u8>,
) -> Result<(), Failure> {
    let ClientConnectorState::Credssp { selected_protocol } = connector.state else {
        return Err(Failure::new(
            Stage::Credssp,
            FailureClass::ProtocolError,
            "connector is not at CredSSP",
        ));
    };
    if connector.config.credentials_missing() {
        return Err(Failure::new(
            Stage::Credssp,
            FailureClass::CredentialsRequired,
            "the server requires NLA and no user name was given (-u USER)",
        ));
    }
    run(
        framed,
        connector.config.credentials.clone(),
        connector.config.domain.as_deref(),
        selected_protocol,
        server_name,
        server_public_key,
    )
    .await?;

    connector.mark_credssp_as_done();
    Ok(())
}

/// The CredSSP client exchange itself, for any stream that reached the security upgrade:
/// the connector's (above) and a bridge's server leg (`server_leg.rs`), which has no
/// connector because the session after CredSSP belongs to the bridged client.
pub(super) async fn run(
    framed: &mut TokioFramed<BoxStream>,
    credentials: Credentials,
    domain: Option<&str>,
    selected_protocol: SecurityProtocol,
    server_name: &str,
    server_public_key: Vec<u8>,
) -> Result<(), Failure> {
    let (mut sequence, mut ts_request) = CredsspSequence::init(
        credentials,
        domain,
        selected_protocol,
        ServerName::new(server_name),
        server_public_key,
        // No Kerberos: NTLM works with an IP literal and needs no KDC (MS-CSSP 3.1.5).
        None,
    )
    .map_err(|e| connector_failure(Stage::Credssp, &e))?;

    let mut buf = WriteBuf::new();
    let mut sent = 0usize;
    loop {
        let client_state = {
            let mut generator = sequence.process_ts_request(ts_request);
            match generator.start() {
                GeneratorState::Completed(result) => result.map_err(|e| {
                    Failure::new(Stage::Credssp, credssp_class(&e), format!("CredSSP: {e}"))
                })?,
                GeneratorState::Suspended(_) => {
                    return Err(Failure::new(
                        Stage::Credssp,
                        FailureClass::CredsspError,
                        "CredSSP asked for a Kerberos KDC; rdpshim authenticates with NTLM only",
                    ));
                }
            }
        };

        buf.clear();
        let written = sequence
            .handle_process_result(client_state, &mut buf)
            .map_err(|e| connector_failure(Stage::Credssp, &e))?;
        if let Some(len) = written.size() {
            framed
                .write_all(&buf[..len])
                .await
                .map_err(|e| io_failure(Stage::Credssp, &e))?;
            sent += 1;
        }

        let Some(hint) = sequence.next_pdu_hint() else {
            break;
        };
        // The sequence waits for a TSRequest, or for the 4-byte Early User Authorization
        // Result (HYBRID_EX): a hint that knows the size before seeing a byte is the latter.
        let frame = match hint.find_size(&[]) {
            Ok(Some((_, len))) => Frame::Fixed(len),
            _ => Frame::TsRequest,
        };
        let pdu = match framing::read(framed, frame).await {
            Ok(pdu) => pdu,
            Err(e) => {
                let mut failure = e.failure(Stage::Credssp);
                if failure.class == FailureClass::PeerClosed && sent >= SENT_AFTER_AUTHENTICATE {
                    failure.class = FailureClass::AuthFailed;
                    failure.detail = "the server closed the connection after checking our NTLM credentials: \
                                      wrong password, unknown user, or an account not allowed to log on remotely"
                        .to_owned();
                }
                return Err(failure);
            }
        };
        match sequence
            .decode_server_message(&pdu)
            .map_err(|e| connector_failure(Stage::Credssp, &e))?
        {
            Some(next) => ts_request = next,
            None => break,
        }
    }
    Ok(())
}

trait CredentialsMissing {
    fn credentials_missing(&self) -> bool;
}

impl CredentialsMissing for ironrdp_connector::Config {
    fn credentials_missing(&self) -> bool {
        matches!(&self.credentials, ironrdp_connector::Credentials::UsernamePassword { username, .. } if username.is_empty())
    }
}
