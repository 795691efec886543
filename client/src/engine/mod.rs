//! The engine: one fully controlled connection attempt, TCP to first decoded frame.
//!
//! This is the only module that opens connections (the bridge's listener only accepts, the
//! gateway route gets its connections from [`open_tls_channel`]). It takes an [`AttemptSpec`] and returns an
//! [`AttemptReport`]; it never retries and never decides what to try next (that is the
//! planner's job), so every attempt is exactly the configuration it was asked to make.
//!
//! Order (MS-RDPBCGR 1.3.1.1): DNS -> TCP -> X.224 -> TLS (our own, so versions and suites
//! can be chosen) -> CredSSP -> MCS -> licensing -> capabilities -> first graphics update.

pub(crate) mod cert;
mod channel;
mod classify;
mod connector_config;
mod credssp;
mod deadline;
mod dial;
mod first_frame;
pub(crate) mod framing;
pub mod probe;
pub mod rtt;
mod screenshot;
mod sequence;
pub mod server_leg;
pub mod tls;
pub(crate) mod x224;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ironrdp_connector::ClientConnector;
use ironrdp_tokio::{mark_as_upgraded, skip_connect_begin, TokioFramed};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::attempt::{AttemptSpec, DialTarget};

use crate::report::{
    AttemptReport, Connected, Failure, FailureClass, RacedAddress, Stage, StageTime,
};
/// The SHA-256 fingerprint as users compare it (`AB:CD:...`), for the bridge's own certificate.
pub use cert::fingerprint;
pub use channel::{open_tls_channel, ChannelLimits, TlsChannel};
/// How a read or write on a connection failed, for the bridge's legs: the server leg's
/// (`io_failure`) and the client leg's (`io_failure_from("client", ..)`).
pub use classify::{io_failure, io_failure_from};
/// A stage under its time limit, for the bridge's steps between the engine's.
pub(crate) use deadline::bounded;
/// Resolution under a time limit, for callers that need addresses before any attempt
/// (the matrix dials by IP; diagnose lists every address).
pub use dial::resolve;
/// One X.224 PDU sent or read, for the bridge's client leg (the server leg's are here).
pub use x224::{read_pdu as read_x224, send_pdu as send_x224};

/// Records how long each stage took and how many round trips it waited for, in the order
/// the stages were entered.
#[derive(Debug, Default)]
pub struct StageClock {
    current: Option<Running>,
    times: Vec<StageTime>,
    /// The connection's round-trip meter, once TCP is up.
    meter: Option<rtt::Meter>,
}

#[derive(Debug)]
struct Running {
    stage: Stage,
    started: Instant,
    /// The meter's count when the stage started.
    counted_before: u32,
    /// Round trips the meter cannot see (the TCP handshake).
    uncounted: u32,
}

impl StageClock {
    /// Closes the running stage (if different) and starts `stage`.
    pub fn enter(&mut self, stage: Stage) {
        match &self.current {
            Some(running) if running.stage == stage => {}
            _ => {
                self.close(None);
                self.current = Some(Running {
                    stage,
                    started: Instant::now(),
                    counted_before: self.counted(),
                    uncounted: 0,
                });
            }
        }
    }

    fn counted(&self) -> u32 {
        self.meter.as_ref().map_or(0, rtt::Meter::round_trips)
    }

    /// From now on the stages' round trips are read from `meter` (it starts at zero).
    fn attach(&mut self, meter: rtt::Meter) {
        self.meter = Some(meter);
    }

    /// Adds round trips the meter cannot see to the running stage.
    fn add_round_trips(&mut self, n: u32) {
        if let Some(running) = &mut self.current {
            running.uncounted += n;
        }
    }

    /// Closes the running stage, as having taken `elapsed` when given (for a stage whose
    /// useful end came before the code moved on, such as the first frame before screenshot
    /// settling).
    fn close(&mut self, elapsed: Option<Duration>) {
        if let Some(running) = self.current.take() {
            let round_trips =
                self.counted().saturating_sub(running.counted_before) + running.uncounted;
            self.times.push(StageTime {
                stage: running.stage,
                elapsed: elapsed.unwrap_or_else(|| running.started.elapsed()),
                round_trips,
            });
        }
    }

    /// The shortest wait for an answer so far.
    fn rtt(&self) -> Option<Duration> {
        self.meter.as_ref().and_then(rtt::Meter::shortest)
    }

    fn finish(mut self) -> Vec<StageTime> {
        self.close(None);
        self.times
    }
}

/// Everything the attempt learned before it ended, filled in as it goes.
struct Observed {
    address: Option<SocketAddr>,
    resolved: Vec<SocketAddr>,
    raced: Vec<RacedAddress>,
    tls: Option<crate::report::TlsSession>,
    certificate: Option<crate::report::CertificateInfo>,
    selected: Option<crate::report::Protocol>,
}

/// What an attempt has settled once its TLS handshake is done (and the certificate matched
/// the pin), before it sends anything over TLS: the protocol the server selected and the
/// TLS session. An offer that left the choice to the server (mstsc's SSL|HYBRID|HYBRID_EX,
/// the most tolerant ClientHello) gives up what the server chose, and this is the moment
/// to say so: neither credentials (CredSSP, or the Client Info PDU without NLA) nor
/// anything else has left yet.
#[derive(Debug, Clone, Copy)]
pub struct Secured<'a> {
    pub selected: Option<crate::report::Protocol>,
    pub tls: &'a crate::report::TlsSession,
}

/// Makes exactly one attempt with the knobs in `spec`. Never panics on server input; every
/// network stage is bounded by `spec.timeouts`.
pub async fn run_attempt(spec: &AttemptSpec) -> AttemptReport {
    run(spec, None, &mut |_| {}).await
}

/// [`run_attempt`], calling `secured` once TLS is up and before anything is sent over it
/// (see [`Secured`]).
pub async fn run_attempt_with(
    spec: &AttemptSpec,
    secured: &mut dyn FnMut(Secured<'_>),
) -> AttemptReport {
    run(spec, None, secured).await
}

/// [`run_attempt`] over a byte stream that already reaches the RDP server (an RD Gateway
/// tunnel from `route::gateway`) instead of dialling `spec.dial`: X.224 onwards, unchanged.
pub async fn run_attempt_over(spec: &AttemptSpec, stream: tls::BoxStream) -> AttemptReport {
    run(spec, Some(stream), &mut |_| {}).await
}

/// [`run_attempt_over`] with [`run_attempt_with`]'s `secured`.
pub async fn run_attempt_over_with(
    spec: &AttemptSpec,
    stream: tls::BoxStream,
    secured: &mut dyn FnMut(Secured<'_>),
) -> AttemptReport {
    run(spec, Some(stream), secured).await
}

async fn run(
    spec: &AttemptSpec,
    over: Option<tls::BoxStream>,
    secured: &mut dyn FnMut(Secured<'_>),
) -> AttemptReport {
    let started = Instant::now();
    let mut clock = StageClock::default();
    let mut observed = Observed {
        address: None,
        resolved: Vec::new(),
        raced: Vec::new(),
        tls: None,
        certificate: None,
        selected: None,
    };

    let result = attempt(spec, over, &mut clock, &mut observed, secured).await;
    if let Err(failure) = &result {
        observed.selected = observed.selected.or(failure.class.selected());
    }
    let rtt = clock.rtt();
    let report = AttemptReport {
        address: observed.address,
        resolved: observed.resolved,
        raced: observed.raced,
        server_name: spec.effective_server_name().to_owned(),
        nla: spec.nla,
        udp: spec.udp,
        tls_requested: spec.tls.clone(),
        selected: observed.selected,
        tls: observed.tls,
        certificate: observed.certificate,
        gateway: None,
        stages: clock.finish(),
        rtt,
        total: started.elapsed(),
        result,
    };
    match &report.result {
        Ok(_) => tracing::debug!(ms = report.total.as_millis() as u64, "attempt connected"),
        Err(failure) => tracing::debug!(%failure, "attempt failed"),
    }
    report
}

async fn attempt(
    spec: &AttemptSpec,
    over: Option<tls::BoxStream>,
    clock: &mut StageClock,
    observed: &mut Observed,
    secured: &mut dyn FnMut(Secured<'_>),
) -> Result<Connected, Failure> {
    let t = &spec.timeouts;
    let (stream, local) = match over {
        // Through a tunnel the RDP server sees the gateway's address, not ours; the
        // tunnel's own round trips are the gateway's, not counted here.
        Some(stream) => (
            stream,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        ),
        // An attempt meant for a gateway never dials the server itself: going around the
        // gateway is the planner's announced step, never the engine's shortcut.
        None if spec.gateway.is_some() => {
            return Err(Failure::new(
                Stage::GatewayConnect,
                FailureClass::ProtocolError,
                "internal: an attempt through an RD Gateway must go through route::run_attempt",
            ));
        }
        None => {
            let tcp = open_tcp(spec, clock, observed).await?;
            let local = tcp
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
            let (tcp, meter) = rtt::Metered::new(tcp);
            clock.attach(meter);
            (Box::new(tcp) as tls::BoxStream, local)
        }
    };

    clock.enter(Stage::X224);
    let mut connector = ClientConnector::new(connector_config::build(spec), local);
    let mut framed = TokioFramed::new(stream);
    let selected = x224::negotiate(&mut framed, &mut connector, t.x224).await?;
    observed.selected = crate::report::Protocol::from_selected(selected.bits());
    tracing::debug!(protocol = x224::protocol_name(selected), "X.224 negotiated");

    clock.enter(Stage::Tls);
    let (tcp, leftover) = framed.into_inner();
    let server_name = spec.effective_server_name();
    let upgraded = channel::handshake(tcp, &spec.tls, server_name, t.tls).await?;
    observed.tls = Some(upgraded.session.clone());
    let inspected = channel::inspect(&upgraded.certificate_der)?;
    observed.certificate = Some(inspected.info.clone());
    cert::check_pin(spec.pinned_certificate.as_deref(), &inspected.info)?;
    secured(Secured {
        selected: observed.selected,
        tls: &upgraded.session,
    });

    let should_upgrade = skip_connect_begin(&mut connector);
    let _upgraded = mark_as_upgraded(should_upgrade, &mut connector);
    let mut framed = TokioFramed::new_with_leftover(upgraded.stream, leftover);

    if connector.should_perform_credssp() {
        clock.enter(Stage::Credssp);
        credssp::authenticate(
            &mut framed,
            &mut connector,
            server_name,
            inspected.public_key,
            t.credssp,
        )
        .await?;
    }

    let finished = sequence::run(&mut framed, &mut connector, t.connection, clock).await?;

    clock.enter(Stage::FirstFrame);
    let frame = first_frame::wait(
        &mut framed,
        finished.result,
        t.first_frame,
        spec.screenshot.as_deref(),
    )
    .await?;
    clock.close(Some(frame.after));

    let (screenshot, screenshot_error) = match frame.screenshot {
        Some(Ok(())) => (spec.screenshot.clone(), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, None),
    };
    Ok(Connected {
        selected_protocol: x224::protocol_name(selected).to_owned(),
        desktop_width: frame.width,
        desktop_height: frame.height,
        declined_multitransport: finished.declined_multitransport,
        screenshot,
        screenshot_error,
    })
}

/// DNS and TCP: the address given, or the name's addresses, raced (Happy Eyeballs) when
/// there are several.
async fn open_tcp(
    spec: &AttemptSpec,
    clock: &mut StageClock,
    observed: &mut Observed,
) -> Result<TcpStream, Failure> {
    let t = &spec.timeouts;
    let order = match &spec.dial {
        DialTarget::Address(address) => vec![*address],
        DialTarget::ResolveHost => {
            clock.enter(Stage::Dns);
            observed.resolved = dial::resolve(&spec.host, spec.port, t.dns).await?;
            dial::happy_eyeballs::order(&observed.resolved, &spec.preferred_addresses)
        }
    };
    observed.address = order.first().copied();
    tracing::debug!(addresses = ?order, server_name = spec.effective_server_name(), "dialling");

    clock.enter(Stage::Tcp);
    if let [address] = order.as_slice() {
        let connected = dial::connect(*address, t.tcp).await;
        let answered = match &connected {
            Ok(_) => true,
            Err(failure) => failure.class == FailureClass::TcpRefused,
        };
        clock.add_round_trips(u32::from(answered));
        return connected;
    }
    let race = dial::happy_eyeballs::race(&order, t.tcp).await;
    clock.add_round_trips(race.round_trips());
    observed.raced = race.raced;
    let (tcp, address) = race.result?;
    observed.address = Some(address);
    Ok(tcp)
}
