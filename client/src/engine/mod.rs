//! The engine: one fully controlled connection attempt, TCP to first decoded frame.
//!
//! This is the only module that opens sockets. It takes an [`AttemptSpec`] and returns an
//! [`AttemptReport`]; it never retries and never decides what to try next (that is the
//! planner's job), so every attempt is exactly the configuration it was asked to make.
//!
//! Order (MS-RDPBCGR 1.3.1.1): DNS -> TCP -> X.224 -> TLS (our own, so versions and suites
//! can be chosen) -> CredSSP -> MCS -> licensing -> capabilities -> first graphics update.

mod cert;
mod classify;
mod connector_config;
mod credssp;
mod deadline;
mod dial;
mod first_frame;
pub mod probe;
mod screenshot;
mod sequence;
pub mod server_leg;
pub mod tls;
mod x224;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use ironrdp_connector::ClientConnector;
use ironrdp_tokio::{mark_as_upgraded, skip_connect_begin, TokioFramed};
use tokio::time::Instant;

use crate::attempt::{AttemptSpec, DialTarget};

use crate::report::{AttemptReport, Connected, Failure, FailureClass, Stage, StageTime};
/// The SHA-256 fingerprint as users compare it (`AB:CD:...`), for the bridge's own certificate.
pub use cert::fingerprint;
/// Resolution under a time limit, for callers that need addresses before any attempt
/// (the matrix dials by IP; diagnose lists every address).
pub use dial::resolve;
/// "ssl", "hybrid", "hybrid-ex": a selected protocol as reports name it.
pub use x224::protocol_name;

/// Records how long each stage took, in the order they were entered.
#[derive(Debug, Default)]
pub struct StageClock {
    current: Option<(Stage, Instant)>,
    times: Vec<StageTime>,
}

impl StageClock {
    /// Closes the running stage (if different) and starts `stage`.
    pub fn enter(&mut self, stage: Stage) {
        match self.current {
            Some((running, _)) if running == stage => {}
            _ => {
                self.close();
                self.current = Some((stage, Instant::now()));
            }
        }
    }

    fn close(&mut self) {
        if let Some((stage, started)) = self.current.take() {
            self.times.push(StageTime {
                stage,
                elapsed: started.elapsed(),
            });
        }
    }

    /// Closes the running stage as having taken `elapsed` (for a stage whose useful end
    /// came before the code moved on, such as the first frame before screenshot settling).
    fn close_after(&mut self, elapsed: Duration) {
        if let Some((stage, _)) = self.current.take() {
            self.times.push(StageTime { stage, elapsed });
        }
    }

    fn finish(mut self) -> Vec<StageTime> {
        self.close();
        self.times
    }
}

/// Everything the attempt learned before it ended, filled in as it goes.
struct Observed {
    address: Option<SocketAddr>,
    resolved: Vec<SocketAddr>,
    tls: Option<crate::report::TlsSession>,
    certificate: Option<crate::report::CertificateInfo>,
}

/// Makes exactly one attempt with the knobs in `spec`. Never panics on server input; every
/// network stage is bounded by `spec.timeouts`.
pub async fn run_attempt(spec: &AttemptSpec) -> AttemptReport {
    let started = Instant::now();
    let mut clock = StageClock::default();
    let mut observed = Observed {
        address: None,
        resolved: Vec::new(),
        tls: None,
        certificate: None,
    };

    let result = attempt(spec, &mut clock, &mut observed).await;
    let report = AttemptReport {
        address: observed.address,
        resolved: observed.resolved,
        server_name: spec.effective_server_name().to_owned(),
        nla: spec.nla,
        udp: spec.udp,
        tls_requested: spec.tls.clone(),
        tls: observed.tls,
        certificate: observed.certificate,
        stages: clock.finish(),
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
    clock: &mut StageClock,
    observed: &mut Observed,
) -> Result<Connected, Failure> {
    let t = &spec.timeouts;

    let address = match &spec.dial {
        DialTarget::Address(address) => *address,
        DialTarget::ResolveHost => {
            clock.enter(Stage::Dns);
            observed.resolved = dial::resolve(&spec.host, spec.port, t.dns).await?;
            observed.resolved[0]
        }
    };
    observed.address = Some(address);
    tracing::debug!(%address, server_name = spec.effective_server_name(), "dialling");

    clock.enter(Stage::Tcp);
    let tcp = dial::connect(address, t.tcp).await?;
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));

    clock.enter(Stage::X224);
    let mut connector = ClientConnector::new(connector_config::build(spec), local);
    let mut framed = TokioFramed::new(tcp);
    let selected = x224::negotiate(&mut framed, &mut connector, t.x224).await?;
    tracing::debug!(protocol = x224::protocol_name(selected), "X.224 negotiated");

    clock.enter(Stage::Tls);
    let (tcp, leftover) = framed.into_inner();
    let server_name = spec.effective_server_name();
    let handshake = async {
        tls::upgrade(tcp, &spec.tls, server_name)
            .await
            .map_err(|e| Failure::new(Stage::Tls, e.class, e.detail))
    };
    let upgraded = deadline::bounded(
        Stage::Tls,
        t.tls,
        "TLS handshake did not complete",
        handshake,
    )
    .await?;
    observed.tls = Some(upgraded.session.clone());
    let inspected = cert::inspect(&upgraded.certificate_der, SystemTime::now()).map_err(|e| {
        Failure::new(
            Stage::Tls,
            FailureClass::TlsOther("bad-certificate".into()),
            e,
        )
    })?;
    observed.certificate = Some(inspected.info.clone());
    cert::check_pin(spec.pinned_certificate.as_deref(), &inspected.info)?;

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
    clock.close_after(frame.after);

    let (screenshot, screenshot_error) = match frame.screenshot {
        Some(Ok(())) => (spec.screenshot.clone(), None),
        Some(Err(e)) => (None, Some(e)),
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
