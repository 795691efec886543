//! Routes to the RDP server other than dialling it directly: today, through an RD Gateway
//! ([`gateway`], MS-TSGU over HTTPS). A route produces a byte stream that reaches the
//! server; [`crate::engine::run_attempt_over`] makes the attempt over it, X.224 onwards,
//! exactly as over TCP.
//!
//! Routes open no sockets themselves: their connections come from
//! [`crate::engine::open_tls_channel`], so the engine stays the only module with sockets and
//! a route's TLS goes through the same stacks, versions and suites as the RDP leg's.

pub mod gateway;

use tokio::time::Instant;

use crate::attempt::AttemptSpec;
use crate::report::{AttemptReport, GatewayLeg};

/// Makes the attempt in `spec` by its route: directly ([`crate::engine::run_attempt`]), or
/// through `spec.gateway`: the tunnel first, then [`crate::engine::run_attempt_over`] over
/// it. One report either way: a gateway failure is the attempt's failure at its gateway
/// stage, the gateway's stage times come first, and `gateway` holds what its leg showed
/// (address, TLS, certificate, transport) also when the attempt failed later.
pub async fn run_attempt(spec: &AttemptSpec) -> AttemptReport {
    run_attempt_with(spec, &mut |_| {}).await
}

/// [`run_attempt`], calling `secured` once the RDP leg's TLS is up and before anything is
/// sent over it (see [`crate::engine::Secured`]).
pub async fn run_attempt_with(
    spec: &AttemptSpec,
    secured: &mut dyn FnMut(crate::engine::Secured<'_>),
) -> AttemptReport {
    let Some(gateway) = &spec.gateway else {
        return crate::engine::run_attempt_with(spec, secured).await;
    };
    let started = Instant::now();
    let mut observed = gateway::Observed::default();
    let opened = gateway::open_observed(gateway, &spec.host, spec.port, &mut observed).await;
    let leg = |transport| GatewayLeg {
        endpoint: gateway.endpoint(),
        address: observed.address,
        tls_requested: gateway.tls.clone(),
        transport_requested: gateway.transport,
        auth: gateway.auth,
        tls: observed.tls.clone(),
        certificate: observed.certificate.clone(),
        transport,
    };
    match opened {
        Ok(tunnel) => {
            let leg = leg(Some(tunnel.transport));
            let mut report =
                crate::engine::run_attempt_over_with(spec, tunnel.stream, secured).await;
            let mut stages = observed.times.clone();
            stages.append(&mut report.stages);
            report.stages = stages;
            report.total = started.elapsed();
            report.gateway = Some(leg);
            report
        }
        Err(error) => AttemptReport {
            address: None,
            resolved: Vec::new(),
            raced: Vec::new(),
            server_name: spec.effective_server_name().to_owned(),
            nla: spec.nla,
            udp: spec.udp,
            tls_requested: spec.tls.clone(),
            selected: None,
            tls: None,
            certificate: None,
            gateway: Some(leg(None)),
            stages: observed.times.clone(),
            rtt: None,
            total: started.elapsed(),
            result: Err(error.failure()),
        },
    }
}
