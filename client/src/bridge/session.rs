//! One bridged session, from the accepted connection to the end of the splice.
//!
//! Order for a dialled server (after Devolutions Gateway's `rdp_proxy.rs` and FreeRDP's
//! proxy, with one change for the security invariant), [`server_first`]:
//! 1. the client's X.224 Connection Request;
//! 2. the server leg's TCP and X.224 with the protocols `protocols.rs` derives from it (a
//!    server's RDP_NEG_FAILURE is passed on to the client with its code);
//! 3. the bridge's Confirm to the client;
//! 4. TLS on both legs at once (client: the bridge's certificate; server: the found
//!    stack, version and suites, certificate pinned);
//! 5. NLA legs: CredSSP with the client, which must prove the bridge's own credentials,
//!    **then** CredSSP with the server using them; Devolutions runs the two at once, but
//!    here nothing is sent to the server for a client that has not passed (the bridge
//!    never gives anyone a session they could not get without it);
//! 6. HYBRID_EX toward the client: the Early User Authorization Result, success only when
//!    the server leg authenticated too (the server leg's own one is consumed by its
//!    CredSSP sequence);
//! 7. the MCS Connect Initial and Response, rewritten by `gcc.rs`;
//! 8. the splice, until either side ends.
//!
//! Through an RD Gateway ([`proof_first`]) the server leg starts with a tunnel the bridge
//! opens with the gateway account it holds, so the client proves that account first: after
//! 1, the bridge's own Confirm (NLA, `protocols::selection_before_server`), TLS and CredSSP
//! with the client alone (`proof.rs` says which account), and only then the tunnel
//! (`route::gateway`; a gateway failure is the server leg's failure at its gateway stage,
//! as `route::run_attempt` makes it an attempt's), the server's X.224 and TLS; then 5's
//! server CredSSP (NLA servers), 6, 7 and 8 as above.
//!
//! Every read before the splice is bounded by a frame cap and a stage time limit (the
//! found configuration's per-stage timeouts).

use std::net::SocketAddr;
use std::time::Duration;

use ironrdp_connector::sspi::credssp::EarlyUserAuthResult;
use ironrdp_pdu::nego::{ConnectionConfirm, ConnectionRequest, SecurityProtocol};
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::client_leg::{self, client_io};
use super::record::{GatewayHop, Outcome, Phase, SessionRecord};
use super::splice::{splice, Side};
use super::{client_credssp, gcc, protocols, BridgeConfig};
use crate::engine::framing::{self, Frame};
use crate::engine::tls::BoxStream;
use crate::engine::{bounded, io_failure, server_leg};
use crate::planner::causes::of_failure;
use crate::planner::Protocol;
use crate::report::{Failure, FailureClass, NegotiationCode, Stage};
use crate::route::gateway;

/// Why a session ended before the splice.
enum Stop {
    /// The client was turned away on purpose (its failure: what it lacked).
    Refused(Failure),
    Failed(Side, Failure),
}

/// Carries one client's session through the bridge and says how it went.
pub async fn carry(
    client: TcpStream,
    peer: SocketAddr,
    number: usize,
    config: &BridgeConfig,
) -> SessionRecord {
    let started = Instant::now();
    let mut record = SessionRecord::new(number, peer);
    let _ = client.set_nodelay(true);
    if let Err(stop) = run(client, config, &mut record, started).await {
        record.outcome = match stop {
            Stop::Refused(failure) => Outcome::Refused { failure },
            Stop::Failed(side, failure) => {
                // A server leg failure is a fact about the server: the table of causes
                // names it as connect and the matrix would.
                let cause = (side == Side::Server)
                    .then(|| of_failure(&config.knobs, failure.stage, &failure.class))
                    .flatten();
                Outcome::Failed {
                    side,
                    failure,
                    cause,
                }
            }
        };
    }
    record.duration = started.elapsed();
    record
}

/// `work`'s output and how long it took.
async fn timed<T>(work: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let output = work.await;
    (output, started.elapsed())
}

async fn run(
    client: TcpStream,
    config: &BridgeConfig,
    record: &mut SessionRecord,
    started: Instant,
) -> Result<(), Stop> {
    let spec = &config.server;
    let t = &spec.timeouts;
    let mark = |record: &mut SessionRecord, phase| record.phases.push((phase, started.elapsed()));

    // 1. The client's request.
    let mut client = TokioFramed::new(client);
    let request = bounded(
        Stage::X224,
        t.x224,
        "no X.224 Connection Request from the client",
        client_leg::read_request(&mut client),
    )
    .await
    .map_err(|f| Stop::Failed(Side::Client, f))?;
    mark(record, Phase::ClientRequest);

    // 2-5. Both legs up to the server's CredSSP, in the order the route allows.
    let (mut client, secured, toward_client) = if config.proof_first() {
        proof_first(client, &request, config, record, started).await?
    } else {
        server_first(client, &request, config, record, started).await?
    };
    let hybrid_ex = toward_client == Protocol::HybridEx;

    // The bridge authenticates to the server (NLA only), the client having proved it may.
    let (ready, took) = timed(secured.authenticate(spec)).await;
    record.server_leg += took;
    let ready = match ready {
        Ok(ready) => ready,
        Err(failure) => {
            deny_early(&mut client, hybrid_ex).await;
            return Err(Stop::Failed(Side::Server, failure));
        }
    };
    if ready.selected.nla() == Some(true) {
        mark(record, Phase::ServerCredssp);
    }

    // 6. HYBRID_EX: the client learns the outcome before its MCS Connect Initial.
    if hybrid_ex {
        client_credssp::send_early_result(&mut client, EarlyUserAuthResult::Success)
            .await
            .map_err(|f| Stop::Failed(Side::Client, f))?;
    }

    // 7. MCS Connect Initial and Response, rewritten.
    let mut server = TokioFramed::new_with_leftover(ready.stream, ready.leftover);
    let (mut rewriting, mut waiting) = (Duration::ZERO, Duration::ZERO);
    let exchange = async {
        let initial = framing::read(&mut client, Frame::Rdp)
            .await
            .map_err(|e| (Side::Client, e.failure_from("client", Stage::Mcs)))?;
        let started = Instant::now();
        let rewritten = gcc::connect_initial(&initial, protocols::wire(ready.selected))
            .map_err(|e| (Side::Client, mcs_failure(e)))?;
        rewriting += started.elapsed();
        let started = Instant::now();
        server
            .write_all(&rewritten.bytes)
            .await
            .map_err(|e| (Side::Server, io_failure(Stage::Mcs, &e)))?;
        let response = framing::read(&mut server, Frame::Rdp)
            .await
            .map_err(|e| (Side::Server, e.failure(Stage::Mcs)))?;
        waiting += started.elapsed();
        let started = Instant::now();
        let patched = gcc::connect_response(&response, request.protocol)
            .map_err(|e| (Side::Server, mcs_failure(e)))?;
        rewriting += started.elapsed();
        client
            .write_all(&patched.bytes)
            .await
            .map_err(|e| (Side::Client, client_io(Stage::Mcs, &e)))?;
        Ok::<_, (Side, Failure)>([rewritten.changes, patched.changes].concat())
    };
    // The side a failure came from; a time-out is the server's (its Connect Response is
    // what the exchange waits for).
    let mut failed_side = Side::Server;
    let exchange = async {
        exchange.await.map_err(|(side, failure)| {
            failed_side = side;
            failure
        })
    };
    let changes = bounded(
        Stage::Mcs,
        t.connection,
        "the MCS Connect Initial/Response did not go through",
        exchange,
    )
    .await
    .map_err(|failure| Stop::Failed(failed_side, failure))?;
    record.changes = changes;
    record.own += rewriting;
    record.server_leg += waiting;
    mark(record, Phase::Mcs);

    // 8. The session itself.
    let (mut client_stream, client_rest) = client.into_inner();
    let (mut server_stream, server_rest) = server.into_inner();
    let spliced = splice(
        &mut client_stream,
        &mut server_stream,
        &client_rest,
        &server_rest,
    )
    .await;
    record.to_server = spliced.to_server;
    record.to_client = spliced.to_client;
    record.outcome = Outcome::Carried {
        ended_by: spliced.ended_by,
        ending: spliced.ending,
    };
    Ok(())
}

/// The client, after TLS and (when it proves an account) CredSSP; the server leg with TLS
/// up; what the bridge selected toward the client.
type Secured = (TokioFramed<BoxStream>, server_leg::Secured, Protocol);

/// Dialled servers: the server is asked first (its selection decides the client's: NLA
/// exactly when the server leg has it), TLS runs on both legs at once, then the client
/// proves the host's account, before the server hears any credential.
async fn server_first(
    mut client: TokioFramed<TcpStream>,
    request: &ConnectionRequest,
    config: &BridgeConfig,
    record: &mut SessionRecord,
    started: Instant,
) -> Result<Secured, Stop> {
    let spec = &config.server;
    let t = &spec.timeouts;

    // 2. The server leg, asked for what the client and the configuration allow.
    let to_server = match protocols::server_request(request.protocol, spec.nla.is_on()) {
        Ok(protocols) => protocols,
        Err(code) => {
            let detail = if spec.nla.is_on() {
                format!(
                    "the client did not offer NLA (requested protocols 0x{:x}); the server leg \
                     needs it, and the bridge uses its credentials only for a client that \
                     proves them",
                    request.protocol.bits()
                )
            } else {
                format!(
                    "the client did not offer TLS (requested protocols 0x{:x})",
                    request.protocol.bits()
                )
            };
            return Err(refuse_at_x224(&mut client, code, detail).await);
        }
    };
    let server_request = forwarded(request, to_server);
    let (negotiated, took) = timed(negotiate(spec, &server_request, record, started)).await;
    record.server_leg += took;
    let negotiated = match negotiated {
        Ok(negotiated) => negotiated,
        Err(failure) => {
            if let FailureClass::NegotiationFailure(code) = failure.class {
                let code = ironrdp_pdu::nego::FailureCode::from(code.code());
                let _ = client_leg::send_confirm(&mut client, ConnectionConfirm::Failure { code })
                    .await;
            }
            return Err(Stop::Failed(Side::Server, failure));
        }
    };
    negotiated_into(record, &negotiated, started);

    // 3. The Confirm toward the client.
    let toward_client = protocols::client_selection(request.protocol, negotiated.selected);
    record.client_protocol = Some(toward_client);
    let confirm = ConnectionConfirm::Response {
        flags: protocols::forwarded_response_flags(negotiated.flags),
        protocol: protocols::wire(toward_client),
    };
    client_leg::send_confirm(&mut client, confirm)
        .await
        .map_err(|f| Stop::Failed(Side::Client, f))?;

    // 4. TLS on both legs at once.
    let (client_tcp, client_leftover) = client.into_inner();
    let client_tls = bounded(
        Stage::Tls,
        t.tls,
        "the client did not complete TLS",
        client_leg::accept_tls(client_tcp, &client_leftover, config.identity.tls_config()),
    );
    let ((client_tls, client_took), (secured, server_took)) =
        tokio::join!(timed(client_tls), timed(negotiated.secure(spec)));
    // The two handshakes overlap: the bridge adds only what the client's takes longer.
    record.server_leg += server_took;
    record.own += client_took.saturating_sub(server_took);
    let (client_stream, client_facts) = client_tls.map_err(|f| Stop::Failed(Side::Client, f))?;
    record.client_tls = Some(client_facts);
    let secured = secured.map_err(|f| Stop::Failed(Side::Server, f))?;
    record.server_tls = Some(secured.tls.clone());
    record.phases.push((Phase::Tls, started.elapsed()));

    // 5. The client proves the bridge's credentials before the bridge uses them.
    let mut client = TokioFramed::new(client_stream);
    if toward_client.nla() == Some(true) {
        verify_client(&mut client, config, record, toward_client, started).await?;
    }
    Ok((client, secured, toward_client))
}

/// Through an RD Gateway: the tunnel is opened with the gateway account the bridge holds,
/// and the server's X.224 answer only comes through it, so the client cannot wait for it.
/// The bridge answers the client's X.224 itself with NLA ([`protocols::selection_before_server`]),
/// runs TLS and CredSSP with it (the account of `proof.rs`: the host's, or the gateway's in
/// front of a server without NLA), and only then opens the tunnel and negotiates the
/// server leg ([`protocols::server_request_after_proof`]). A server leg that fails after
/// that cannot be told with an RDP_NEG_FAILURE any more (the client has its Confirm): the
/// client of a HYBRID_EX leg is told "access denied" in its Early User Authorization
/// Result, any other sees the connection close; the record names the server's failure.
async fn proof_first(
    mut client: TokioFramed<TcpStream>,
    request: &ConnectionRequest,
    config: &BridgeConfig,
    record: &mut SessionRecord,
    started: Instant,
) -> Result<Secured, Stop> {
    let spec = &config.server;
    let t = &spec.timeouts;

    // 2. The bridge's own Confirm: NLA, whatever the server will select.
    let toward_client = match protocols::selection_before_server(request.protocol) {
        Ok(selected) => selected,
        Err(code) => {
            let detail = format!(
                "the client did not offer NLA (requested protocols 0x{:x}); through an RD \
                 Gateway the client proves the gateway's account before the bridge opens a \
                 tunnel with it",
                request.protocol.bits()
            );
            return Err(refuse_at_x224(&mut client, code, detail).await);
        }
    };
    record.client_protocol = Some(toward_client);
    let confirm = ConnectionConfirm::Response {
        flags: protocols::response_flags_before_server(),
        protocol: protocols::wire(toward_client),
    };
    client_leg::send_confirm(&mut client, confirm)
        .await
        .map_err(|f| Stop::Failed(Side::Client, f))?;

    // 3. TLS with the client alone.
    let (client_tcp, client_leftover) = client.into_inner();
    let (client_tls, took) = timed(bounded(
        Stage::Tls,
        t.tls,
        "the client did not complete TLS",
        client_leg::accept_tls(client_tcp, &client_leftover, config.identity.tls_config()),
    ))
    .await;
    record.own += took;
    let (client_stream, client_facts) = client_tls.map_err(|f| Stop::Failed(Side::Client, f))?;
    record.client_tls = Some(client_facts);
    record.phases.push((Phase::ClientTls, started.elapsed()));

    // 4. The client proves the account before anything reaches the gateway.
    let mut client = TokioFramed::new(client_stream);
    verify_client(&mut client, config, record, toward_client, started).await?;

    // 5. The tunnel, the server's X.224 and its TLS.
    let hybrid_ex = toward_client == Protocol::HybridEx;
    let to_server = protocols::server_request_after_proof(request.protocol, spec.nla.is_on());
    let server_request = forwarded(request, to_server);
    let secured = async {
        let negotiated = negotiate(spec, &server_request, record, started).await?;
        negotiated_into(record, &negotiated, started);
        negotiated.secure(spec).await
    };
    let (secured, took) = timed(secured).await;
    record.server_leg += took;
    let secured = match secured {
        Ok(secured) => secured,
        Err(failure) => {
            deny_early(&mut client, hybrid_ex).await;
            return Err(Stop::Failed(Side::Server, failure));
        }
    };
    record.server_tls = Some(secured.tls.clone());
    record.phases.push((Phase::Tls, started.elapsed()));
    Ok((client, secured, toward_client))
}

/// The client's Connection Request as the server gets it: its own nego data, flags
/// (credential-less logon modes removed) and correlation info, with `protocol`.
fn forwarded(request: &ConnectionRequest, protocol: SecurityProtocol) -> ConnectionRequest {
    ConnectionRequest {
        nego_data: request.nego_data.clone(),
        flags: protocols::forwarded_request_flags(request.flags),
        protocol,
        correlation_info: request.correlation_info.clone(),
    }
}

/// What the server's X.224 answer showed, into `record`.
fn negotiated_into(
    record: &mut SessionRecord,
    negotiated: &server_leg::Negotiated,
    started: Instant,
) {
    record.server = negotiated.address;
    record.server_protocol = Some(negotiated.selected);
    record
        .phases
        .push((Phase::ServerNegotiated, started.elapsed()));
}

/// Sends the client an RDP_NEG_FAILURE with `code` and turns it away with `detail`.
async fn refuse_at_x224(
    client: &mut TokioFramed<TcpStream>,
    code: ironrdp_pdu::nego::FailureCode,
    detail: String,
) -> Stop {
    let _ = client_leg::send_confirm(client, ConnectionConfirm::Failure { code }).await;
    let code = NegotiationCode::from_u32(u32::from(code));
    Stop::Refused(Failure::new(
        Stage::X224,
        FailureClass::NegotiationFailure(code),
        detail,
    ))
}

/// CredSSP with the client for the account it must prove (`BridgeConfig::client_account`);
/// a wrong one is a refusal.
async fn verify_client(
    client: &mut TokioFramed<BoxStream>,
    config: &BridgeConfig,
    record: &mut SessionRecord,
    toward_client: Protocol,
    started: Instant,
) -> Result<(), Stop> {
    let Some(credentials) = config.client_account.as_ref() else {
        return Err(Stop::Failed(
            Side::Server,
            Failure::new(
                Stage::Credssp,
                FailureClass::CredentialsRequired,
                "the server leg needs NLA and the bridge holds no credentials",
            ),
        ));
    };
    let (verified, took) = timed(client_credssp::verify(
        client,
        credentials,
        config.identity.public_key.clone(),
        record.client.ip().to_string(),
        toward_client == Protocol::HybridEx,
        config.server.timeouts.credssp,
    ))
    .await;
    record.own += took;
    match verified {
        Ok(()) => {
            record
                .phases
                .push((Phase::ClientCredssp, started.elapsed()));
            Ok(())
        }
        Err(failure) if failure.class == FailureClass::AuthFailed => Err(Stop::Refused(failure)),
        Err(failure) => Err(Stop::Failed(Side::Client, failure)),
    }
}

/// A HYBRID_EX client that proved its account but whose server leg failed: "access denied"
/// in its Early User Authorization Result, so it says why rather than seeing a reset.
async fn deny_early(client: &mut TokioFramed<BoxStream>, hybrid_ex: bool) {
    if hybrid_ex {
        let _ = client_credssp::send_early_result(client, EarlyUserAuthResult::AccessDenied).await;
    }
}

/// The server leg up to the server's Connection Confirm: dialled, or through a tunnel of
/// its own when the configuration was found through an RD Gateway (the gateway leg as
/// `Winner::spec` pinned it). The gateway's address, TLS and transport go into `record`.
async fn negotiate(
    spec: &crate::attempt::AttemptSpec,
    request: &ConnectionRequest,
    record: &mut SessionRecord,
    started: Instant,
) -> Result<server_leg::Negotiated, Failure> {
    let Some(via) = &spec.gateway else {
        return server_leg::negotiate(spec, request).await;
    };
    let mut observed = gateway::Observed::default();
    let opened = gateway::open_observed(via, &spec.host, spec.port, &mut observed).await;
    let mut hop = GatewayHop {
        endpoint: via.endpoint(),
        target: crate::host::HostPort {
            host: spec.host.clone(),
            port: spec.port,
        }
        .label(),
        address: observed.address,
        tls: observed.tls,
        transport: None,
    };
    let tunnel = match opened {
        Ok(tunnel) => tunnel,
        Err(error) => {
            record.gateway = Some(hop);
            return Err(error.failure());
        }
    };
    hop.transport = Some(tunnel.transport);
    record.gateway = Some(hop);
    record
        .phases
        .push((Phase::GatewayTunnel, started.elapsed()));
    server_leg::negotiate_over(spec, request, tunnel.stream, None).await
}

fn mcs_failure(error: gcc::GccError) -> Failure {
    Failure::new(Stage::Mcs, FailureClass::ProtocolError, error.to_string())
}
