//! One client connection, driven step by step through `ironrdp_acceptor::Acceptor` so the
//! modes can look at (and act between) individual PDUs.

use std::fmt::Write as _;
use std::time::Duration;

use ironrdp_acceptor::{Acceptor, AcceptorResult, AcceptorState, DesktopSize};
use ironrdp_async::bytes::Bytes;
use ironrdp_async::{Framed, FramedRead, FramedWrite, NetworkClient, StreamWrapper};
use ironrdp_connector::sspi::generator::NetworkRequest;
use ironrdp_connector::{ConnectorResult, Sequence as _, ServerName};
use ironrdp_core::{decode, decode_cursor, ReadCursor, WriteBuf};
use ironrdp_pdu::gcc::MultiTransportFlags;
use ironrdp_pdu::mcs::{ConnectInitial, McsMessage};
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::rdp::capability_sets::{
    Bitmap, BitmapDrawingFlags, CapabilitySet, General, GeneralExtraFlags, Input, InputFlags,
    MultifragmentUpdate, Order, OrderFlags, OrderSupportExFlags, Pointer, VirtualChannel,
    VirtualChannelFlags,
};
use ironrdp_pdu::rdp::client_info::Credentials;
use ironrdp_pdu::rdp::multitransport::MultitransportResponsePdu;
use ironrdp_pdu::x224::{X224Data, X224};
use ironrdp_tokio::TokioFramed;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::hostile::{Act, Hostile, Trigger};
use crate::tls::ServerTls;
use crate::{garbage, At, GarbageAt, Mode, Security};

macro_rules! log {
    ($conn:expr, $($arg:tt)*) => {
        eprintln!("conn {}: {}", $conn, format_args!($($arg)*))
    };
}

/// Everything a connection needs that does not change between connections.
pub struct Context {
    pub mode: Mode,
    pub security: Security,
    pub desktop: DesktopSize,
    pub tls: ServerTls,
    /// Flags of the Server Multitransport Channel Data block (udp modes only).
    pub server_multitransport_flags: MultiTransportFlags,
    /// Bound on every read of the connection sequence, so a silent client cannot block the
    /// (single-connection) server forever. Not applied to the stall modes or to the idle
    /// session after the first frame.
    pub io_timeout: Duration,
    /// `offer-udp`: how long to wait for the Initiate Multitransport Response.
    pub multitransport_wait: Duration,
    /// `udp-blackhole`: how long after the request the TCP connection is dropped.
    pub blackhole_after: Duration,
    pub seed: u64,
    pub garbage_at: GarbageAt,
    pub nla_credentials: Option<Credentials>,
    /// The first frame, pre-encoded (fast-path PDUs).
    pub frame: Vec<Vec<u8>>,
    /// A hostile mode's stage and act.
    pub hostile: Option<(At, Act)>,
}

impl Context {
    /// Arms `trigger` with the hostile act when `at` is the stage it strikes at.
    fn strike(&self, at: At, trigger: &Trigger, conn: u64) {
        if let Some((target, act)) = &self.hostile {
            if *target == at {
                log!(conn, "hostile: striking at {at:?}: {act:?}");
                trigger.arm(act.clone());
            }
        }
    }
}

/// Closes with a reset (RST) instead of a FIN: SO_LINGER 0, then close.
fn reset(tcp: TcpStream, conn: u64) {
    match tcp.set_zero_linger() {
        Ok(()) => log!(conn, "hostile: reset (RST)"),
        Err(e) => log!(conn, "hostile: SO_LINGER 0 failed ({e}); closing normally"),
    }
    drop(tcp);
}

type Result<T> = std::result::Result<T, String>;

/// What the server learned from the client's PDUs on the way.
#[derive(Default)]
struct Observed {
    /// `Some(None)`: Connect Initial seen without a Client Multitransport Channel Data block.
    client_multitransport: Option<Option<MultiTransportFlags>>,
    client_message_channel: bool,
}

pub async fn serve(tcp: TcpStream, ctx: &Context, conn: u64) -> Result<()> {
    tcp.set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    if ctx.mode == Mode::ResetAfterAccept {
        reset(tcp, conn);
        return Ok(());
    }
    // Hostile modes arm these: one below TLS (X.224, the TLS handshake), one above.
    let below = Trigger::default();
    let above = Trigger::default();
    let seed = ctx.seed.wrapping_add(conn);
    ctx.strike(At::X224, &below, conn);
    let tcp = Hostile::new(tcp, below.clone(), seed);

    let (security, creds) = match ctx.security {
        Security::Tls => (SecurityProtocol::SSL, None),
        Security::Nla => (
            SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
            ctx.nla_credentials.clone(),
        ),
    };
    let mut acceptor = Acceptor::new(security, ctx.desktop, capabilities(ctx.desktop), creds);
    if matches!(ctx.mode, Mode::OfferUdp | Mode::UdpBlackhole) {
        acceptor.set_multitransport_offer(Some(ctx.server_multitransport_flags));
    }

    // X.224 over plain TCP.
    let mut framed: TokioFramed<Hostile<TcpStream>> = TokioFramed::new(tcp);
    let mut buf = WriteBuf::new();
    let mut observed = Observed::default();
    let mut pending: Option<Bytes> = None;
    if ctx.mode == Mode::ResetAfterRequest {
        let request = timeout(ctx.io_timeout, framed.read_by_hint(&ironrdp_pdu::X224_HINT)).await;
        log!(
            conn,
            "X.224 request read: {}",
            request.is_ok_and(|r| r.is_ok())
        );
        reset(framed.into_inner().0.into_inner(), conn);
        return Ok(());
    }
    while acceptor.reached_security_upgrade().is_none() {
        step(
            &mut framed,
            &mut acceptor,
            &mut buf,
            &mut pending,
            &mut observed,
            ctx,
            conn,
        )
        .await?;
    }
    // `reached_security_upgrade()` returns the server's configured set, not the protocol
    // it selected; that one is only in the state.
    let selected = match acceptor.state().as_any().downcast_ref::<AcceptorState>() {
        Some(AcceptorState::SecurityUpgrade { protocol, .. }) => *protocol,
        _ => SecurityProtocol::empty(),
    };
    log!(
        conn,
        "X.224 done: selected {selected:?} (server allows {security:?})"
    );

    // TLS. Leftover bytes after the X.224 request would be a client error (it must wait for
    // the Connection Confirm before its ClientHello); they are dropped like the acceptor does.
    let tcp = framed.into_inner_no_leftover();
    ctx.strike(At::Tls, &below, conn);
    let tls = timeout(ctx.io_timeout, ctx.tls.acceptor.accept(tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS handshake: {e}"))?;
    {
        let (_, session) = tls.get_ref();
        log!(
            conn,
            "TLS up: {:?} {:?}",
            session.protocol_version(),
            session.negotiated_cipher_suite().map(|s| s.suite())
        );
    }
    acceptor.mark_security_upgrade_as_done();
    let mut framed = TokioFramed::new(Hostile::new(tls, above.clone(), seed ^ 0xA5A5));

    if ctx.mode == Mode::StallAfterTls {
        return stall(&mut framed, conn).await;
    }
    if ctx.mode == Mode::CloseAfterTls {
        log!(
            conn,
            "close-after-tls: closing right after the TLS handshake"
        );
        return Ok(());
    }

    if acceptor.should_perform_credssp() {
        ctx.strike(At::Credssp, &above, conn);
        let client_name = ServerName::new("rdpshim-client");
        timeout(
            ctx.io_timeout,
            ironrdp_acceptor::accept_credssp(
                &mut framed,
                &mut acceptor,
                &mut NoNetwork,
                client_name,
                ctx.tls.public_key.clone(),
                None,
            ),
        )
        .await
        .map_err(|_| "CredSSP timed out".to_owned())?
        .map_err(|e| format!("CredSSP: {}", e.report()))?;
        log!(conn, "CredSSP done ({selected:?})");
    }

    // MCS .. finalization, with the multitransport hooks.
    let result = loop {
        if let Some(result) = acceptor.get_result() {
            break result;
        }
        let before = acceptor.state().name();
        if before == "BasicSettingsSendResponse" {
            ctx.strike(At::Mcs, &above, conn);
        }
        if ctx.mode == Mode::GarbageAfterX224 && ctx.garbage_at.replaces_state(before) {
            return send_garbage(&mut framed, ctx, conn).await;
        }
        step(
            &mut framed,
            &mut acceptor,
            &mut buf,
            &mut pending,
            &mut observed,
            ctx,
            conn,
        )
        .await?;
        if before == "MultitransportBootstrapping" {
            let flow =
                after_bootstrapping(&mut framed, &acceptor, &mut pending, &observed, ctx, conn)
                    .await?;
            if let Flow::Drop = flow {
                return Ok(());
            }
        }
    };
    log_result(&result, conn);

    if ctx.mode == Mode::GarbageAfterX224 {
        // GarbageAt::FirstFrame: the connection sequence went fine, the "frame" is garbage.
        return send_garbage(&mut framed, ctx, conn).await;
    }

    // The first frame, then silence until the client goes away.
    ctx.strike(At::FirstFrame, &above, conn);
    for (sent, pdu) in ctx.frame.iter().enumerate() {
        if let Err(e) = framed.write_all(pdu).await {
            // rdpshim hangs up as soon as it has decoded one update.
            log!(
                conn,
                "client went away after {sent} of {} frame PDUs ({e})",
                ctx.frame.len()
            );
            return Ok(());
        }
    }
    let bytes: usize = ctx.frame.iter().map(Vec::len).sum();
    log!(
        conn,
        "first frame sent: {}x{} in {} fast-path bitmap PDUs ({bytes} bytes); idle until the client disconnects",
        ctx.desktop.width,
        ctx.desktop.height,
        ctx.frame.len()
    );
    let mut received = 0usize;
    loop {
        match framed.read_pdu().await {
            Ok(_) => received += 1,
            Err(e) => {
                log!(conn, "client gone after {received} more PDUs ({e})");
                return Ok(());
            }
        }
    }
}

enum Flow {
    Continue,
    Drop,
}

/// Runs right after the acceptor's MultitransportBootstrapping step (which sends the
/// Initiate Multitransport Request when both sides advertised UDP) and before the Demand
/// Active goes out.
async fn after_bootstrapping<S>(
    framed: &mut Framed<S>,
    acceptor: &Acceptor,
    pending: &mut Option<Bytes>,
    observed: &Observed,
    ctx: &Context,
    conn: u64,
) -> Result<Flow>
where
    S: FramedRead + FramedWrite,
{
    let Some(request) = acceptor.multitransport_request() else {
        if matches!(ctx.mode, Mode::OfferUdp | Mode::UdpBlackhole) {
            let why = match observed.client_multitransport {
                Some(Some(flags))
                    if flags.contains(MultiTransportFlags::TRANSPORT_TYPE_UDP_FECR) =>
                {
                    if observed.client_message_channel {
                        "server offer lacks TRANSPORT_TYPE_UDP_FECR"
                    } else {
                        "the client requested no MCS message channel"
                    }
                }
                Some(Some(_)) => "the client did not advertise TRANSPORT_TYPE_UDP_FECR",
                _ => "the client did not advertise UDP",
            };
            log!(conn, "no Initiate Multitransport Request sent: {why}");
        }
        return Ok(Flow::Continue);
    };
    let soft_sync = acceptor
        .multitransport_soft_sync_negotiated()
        .unwrap_or(false);
    log!(
        conn,
        "sent Initiate Multitransport Request: request id 0x{:08X}, protocol {:?}, soft-sync negotiated {soft_sync}",
        request.request_id,
        request.requested_protocol,
    );

    match ctx.mode {
        Mode::OfferUdp if ctx.multitransport_wait.is_zero() => {
            // Demand Active right away; the acceptor consumes a late response itself.
            log!(
                conn,
                "not waiting for the multitransport response; continuing over TCP"
            );
            Ok(Flow::Continue)
        }
        Mode::OfferUdp => {
            let deadline = Instant::now() + ctx.multitransport_wait;
            match read_multitransport_response(framed, deadline, pending, conn).await? {
                Some(response) => log!(
                    conn,
                    "multitransport response: {}",
                    describe_response(&response)
                ),
                None => log!(
                    conn,
                    "multitransport response: none within {} ms",
                    ctx.multitransport_wait.as_millis()
                ),
            }
            log!(conn, "continuing over TCP");
            Ok(Flow::Continue)
        }
        Mode::UdpBlackhole => {
            let deadline = Instant::now() + ctx.blackhole_after;
            // Whatever the client answers, the UDP side "never comes": log everything
            // until the deadline, answer nothing.
            let mut answered = false;
            loop {
                match read_multitransport_response(framed, deadline, pending, conn).await? {
                    Some(response) => {
                        answered = true;
                        log!(
                            conn,
                            "multitransport response: {}",
                            describe_response(&response)
                        );
                    }
                    None if pending.take().is_some() => log!(conn, "(discarded)"),
                    None => break,
                }
            }
            if !answered {
                log!(conn, "multitransport response: none");
            }
            log!(
                conn,
                "udp-blackhole: dropping the TCP connection {} ms after the request",
                ctx.blackhole_after.as_millis()
            );
            Ok(Flow::Drop)
        }
        _ => Ok(Flow::Continue),
    }
}

/// Reads X.224 PDUs until an Initiate Multitransport Response arrives or `deadline`
/// passes. Another PDU is kept in `pending` for the acceptor (the read stops there).
async fn read_multitransport_response<S>(
    framed: &mut Framed<S>,
    deadline: Instant,
    pending: &mut Option<Bytes>,
    conn: u64,
) -> Result<Option<MultitransportResponsePdu>>
where
    S: FramedRead,
{
    if pending.is_some() {
        return Ok(None);
    }
    let pdu = match tokio::time::timeout_at(deadline, framed.read_by_hint(&ironrdp_pdu::X224_HINT))
        .await
    {
        Err(_) => return Ok(None),
        Ok(Err(e)) => return Err(format!("reading the multitransport response: {e}")),
        Ok(Ok(pdu)) => pdu,
    };
    match decode::<X224<McsMessage<'_>>>(&pdu) {
        Ok(X224(McsMessage::SendDataRequest(data))) => {
            let mut cursor = ReadCursor::new(data.user_data.as_ref());
            if let Ok(response) = decode_cursor::<MultitransportResponsePdu>(&mut cursor) {
                if cursor.is_empty() {
                    log!(conn, "(response on MCS channel {})", data.channel_id);
                    return Ok(Some(response));
                }
            }
            log!(
                conn,
                "expected an Initiate Multitransport Response, got {} bytes of other data on channel {}",
                data.user_data.len(),
                data.channel_id
            );
        }
        Ok(X224(other)) => log!(
            conn,
            "expected an Initiate Multitransport Response, got {}",
            mcs_name(&other)
        ),
        Err(e) => log!(
            conn,
            "expected an Initiate Multitransport Response, got undecodable PDU: {e}"
        ),
    }
    *pending = Some(pdu);
    Ok(None)
}

fn describe_response(response: &MultitransportResponsePdu) -> String {
    let name = match response.hr_response {
        MultitransportResponsePdu::E_ABORT => "E_ABORT".to_owned(),
        MultitransportResponsePdu::S_OK => "S_OK".to_owned(),
        other => format!("0x{other:08X}"),
    };
    format!(
        "{name} (hrResponse 0x{:08X}, request id 0x{:08X})",
        response.hr_response, response.request_id
    )
}

fn mcs_name(message: &McsMessage<'_>) -> &'static str {
    match message {
        McsMessage::ErectDomainRequest(_) => "Erect Domain Request",
        McsMessage::AttachUserRequest(_) => "Attach User Request",
        McsMessage::AttachUserConfirm(_) => "Attach User Confirm",
        McsMessage::ChannelJoinRequest(_) => "Channel Join Request",
        McsMessage::ChannelJoinConfirm(_) => "Channel Join Confirm",
        McsMessage::SendDataRequest(_) => "Send Data Request",
        McsMessage::SendDataIndication(_) => "Send Data Indication",
        McsMessage::DisconnectProviderUltimatum(_) => "Disconnect Provider Ultimatum",
    }
}

/// One acceptor step: read a PDU if it wants one (or take the pending one), step, and
/// write whatever it produced, also when the step failed (the acceptor encodes a
/// negotiation failure or an access-denied PDU and then returns the error).
async fn step<S>(
    framed: &mut Framed<S>,
    acceptor: &mut Acceptor,
    buf: &mut WriteBuf,
    pending: &mut Option<Bytes>,
    observed: &mut Observed,
    ctx: &Context,
    conn: u64,
) -> Result<()>
where
    S: FramedRead + FramedWrite,
{
    buf.clear();
    let state = acceptor.state().name();
    let result = if let Some(hint) = acceptor.next_pdu_hint() {
        let pdu = match pending.take() {
            Some(pdu) => pdu,
            None => timeout(ctx.io_timeout, framed.read_by_hint(hint))
                .await
                .map_err(|_| {
                    format!(
                        "client silent for {} s in {state}",
                        ctx.io_timeout.as_secs()
                    )
                })?
                .map_err(|e| format!("reading in {state}: {e}"))?,
        };
        observe(state, &pdu, observed, conn);
        acceptor.step(&pdu, framed.last_read_at(), buf)
    } else {
        acceptor.step_no_input(buf)
    };
    if !buf.filled().is_empty() {
        framed
            .write_all(buf.filled())
            .await
            .map_err(|e| format!("writing in {state}: {e}"))?;
    }
    result
        .map(|_| ())
        .map_err(|e| format!("acceptor in {state}: {}", e.report()))
}

/// Looks at client PDUs the acceptor keeps to itself.
fn observe(state: &str, pdu: &[u8], observed: &mut Observed, conn: u64) {
    if state != "BasicSettingsWaitInitial" {
        return;
    }
    let Ok(X224(data)) = decode::<X224<X224Data<'_>>>(pdu) else {
        return;
    };
    let Ok(initial) = decode::<ConnectInitial>(data.data.as_ref()) else {
        return;
    };
    let blocks = initial.conference_create_request.gcc_blocks();
    let flags = blocks.multi_transport_channel.as_ref().map(|m| m.flags);
    observed.client_multitransport = Some(flags);
    observed.client_message_channel = blocks.message_channel.is_some();
    match flags {
        Some(flags) => log!(
            conn,
            "client multitransport flags: 0x{:X} ({})",
            flags.bits(),
            flag_names(flags)
        ),
        None => log!(
            conn,
            "client multitransport flags: none (no Client Multitransport Channel Data)"
        ),
    }
    log!(
        conn,
        "client message channel requested: {}; desktop {}x{}",
        observed.client_message_channel,
        blocks.core.desktop_width,
        blocks.core.desktop_height
    );
}

pub fn flag_names(flags: MultiTransportFlags) -> String {
    const NAMES: &[(MultiTransportFlags, &str)] = &[
        (MultiTransportFlags::TRANSPORT_TYPE_UDP_FECR, "UDP_FECR"),
        (MultiTransportFlags::TRANSPORT_TYPE_UDP_FECL, "UDP_FECL"),
        (
            MultiTransportFlags::TRANSPORT_TYPE_UDP_PREFERRED,
            "UDP_PREFERRED",
        ),
        (
            MultiTransportFlags::SOFT_SYNC_TCP_TO_UDP,
            "SOFTSYNC_TCP_TO_UDP",
        ),
    ];
    let mut out = String::new();
    let mut rest = flags.bits();
    for (flag, name) in NAMES {
        if flags.contains(*flag) {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !flag.bits();
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "0x{rest:X}");
    }
    if out.is_empty() {
        out.push_str("no flags");
    }
    out
}

fn log_result(result: &AcceptorResult, conn: u64) {
    log!(
        conn,
        "connection sequence done: io channel {}, message channel {:?}, late multitransport response seen by the acceptor: {:?}",
        result.io_channel_id,
        result.message_channel_id,
        result.multitransport_response_success,
    );
}

/// `stall-after-tls`: read (and drop) whatever the client sends, answer nothing, until it
/// gives up.
async fn stall<S>(framed: &mut Framed<S>, conn: u64) -> Result<()>
where
    S: FramedRead + StreamWrapper,
    S::InnerStream: tokio::io::AsyncRead + Unpin,
{
    log!(conn, "stall-after-tls: not answering anything");
    let (stream, leftover) = framed.get_inner_mut();
    let mut total = leftover.len();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(_) => break,
        }
    }
    log!(conn, "client gone; it sent {total} bytes after TLS");
    Ok(())
}

/// `garbage-after-x224`: instead of the server PDU `--garbage-at` names, send malformed
/// bytes chosen by the seed, then close.
async fn send_garbage<S>(framed: &mut Framed<S>, ctx: &Context, conn: u64) -> Result<()>
where
    S: FramedRead + FramedWrite + StreamWrapper,
    S::InnerStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let seed = ctx.seed.wrapping_add(conn - 1);
    let (kind, bytes) = garbage::payload(seed);
    log!(
        conn,
        "garbage: instead of the {}: seed {seed}, kind {kind}, {} bytes",
        ctx.garbage_at.describe(),
        bytes.len()
    );
    framed
        .write_all(&bytes)
        .await
        .map_err(|e| format!("writing garbage: {e}"))?;
    let (stream, _) = framed.get_inner_mut();
    // close_notify + FIN, then drain so that closing does not turn into a reset that could
    // discard the garbage before the client reads it.
    let _ = stream.shutdown().await;
    let mut chunk = vec![0u8; 16 * 1024];
    let drain_until = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(drain_until, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => break,
        }
    }
    log!(conn, "garbage: closed");
    Ok(())
}

/// The Demand Active capability sets: plain bitmap updates, fast-path output, no codecs.
fn capabilities(desktop: DesktopSize) -> Vec<CapabilitySet> {
    vec![
        CapabilitySet::General(General {
            extra_flags: GeneralExtraFlags::FASTPATH_OUTPUT_SUPPORTED
                | GeneralExtraFlags::NO_BITMAP_COMPRESSION_HDR,
            ..Default::default()
        }),
        CapabilitySet::Bitmap(Bitmap {
            pref_bits_per_pix: 32,
            desktop_width: desktop.width,
            desktop_height: desktop.height,
            desktop_resize_flag: false,
            drawing_flags: BitmapDrawingFlags::ALLOW_SKIP_ALPHA,
        }),
        CapabilitySet::Order(Order::new(
            OrderFlags::NEGOTIATE_ORDER_SUPPORT | OrderFlags::ZERO_BOUNDS_DELTAS_SUPPORT,
            OrderSupportExFlags::empty(),
            0,
            0,
        )),
        CapabilitySet::Pointer(Pointer {
            color_pointer_cache_size: 25,
            pointer_cache_size: 25,
        }),
        CapabilitySet::Input(Input {
            input_flags: InputFlags::SCANCODES
                | InputFlags::MOUSEX
                | InputFlags::UNICODE
                | InputFlags::FASTPATH_INPUT_2,
            keyboard_layout: 0,
            keyboard_type: None,
            keyboard_subtype: 0,
            keyboard_function_key: 0,
            keyboard_ime_filename: String::new(),
        }),
        CapabilitySet::VirtualChannel(VirtualChannel {
            flags: VirtualChannelFlags::NO_COMPRESSION,
            chunk_size: Some(1600),
        }),
        CapabilitySet::MultiFragmentUpdate(MultifragmentUpdate {
            max_request_size: 8 * 1024 * 1024,
        }),
    ]
}

/// CredSSP with NTLM never needs the network; Kerberos (which would) is not offered.
struct NoNetwork;

impl NetworkClient for NoNetwork {
    async fn send(&mut self, _request: &NetworkRequest) -> ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!(
            "this test server has no network client (Kerberos is not supported)"
        ))
    }
}
