//! From the planner's knobs to the engine's attempt spec.

use std::time::Duration;

use crate::attempt::{AttemptSpec, DialTarget, StageTimeouts};
use crate::planner::{Dial, Knobs, Tried};

use super::Request;

/// Builds the spec for `knobs`. The IP literal used as server name is the address dialled,
/// or for a by-name dial the first address an earlier attempt resolved.
pub fn spec_for(
    request: &Request,
    knobs: &Knobs,
    history: &[Tried],
    remaining: Duration,
) -> AttemptSpec {
    let dial = match &knobs.dial {
        Dial::ByName => DialTarget::ResolveHost,
        Dial::Ip(address) => DialTarget::Address(*address),
    };
    let server_name = match (&request.server_name, knobs.ip_as_server_name, &knobs.dial) {
        (Some(name), _, _) => Some(name.clone()),
        (None, true, Dial::Ip(address)) => Some(address.ip().to_string()),
        (None, true, Dial::ByName) => history
            .iter()
            .find_map(|t| t.resolved.first())
            .map(|a| a.ip().to_string()),
        (None, false, _) => None,
    };
    let mut spec = AttemptSpec::strongest(request.host.clone(), request.port);
    spec.dial = dial;
    spec.server_name = server_name;
    spec.nla = knobs.nla;
    spec.tls = knobs.tls.clone();
    spec.udp = knobs.udp;
    spec.credentials = request.credentials.clone();
    spec.timeouts = cap(request.timeouts, remaining);
    spec.screenshot = request.screenshot.clone();
    spec.pinned_certificate = request.pinned_certificate.clone();
    spec
}

/// No stage may outlive the overall deadline.
fn cap(timeouts: StageTimeouts, remaining: Duration) -> StageTimeouts {
    let floor = Duration::from_millis(50);
    let c = |d: Duration| d.min(remaining.max(floor));
    StageTimeouts {
        dns: c(timeouts.dns),
        tcp: c(timeouts.tcp),
        x224: c(timeouts.x224),
        tls: c(timeouts.tls),
        credssp: c(timeouts.credssp),
        connection: c(timeouts.connection),
        first_frame: c(timeouts.first_frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_stage_outlives_what_is_left_of_the_deadline() {
        let limits = StageTimeouts::uniform(Duration::from_secs(10));
        let capped = cap(limits, Duration::from_millis(1500));
        assert_eq!(capped, StageTimeouts::uniform(Duration::from_millis(1500)));
        assert_eq!(cap(limits, Duration::from_secs(60)), limits);
        // Past the deadline a stage still gets a moment, never zero (a zero timeout would
        // report the stage as the server's failure).
        assert_eq!(
            cap(limits, Duration::ZERO),
            StageTimeouts::uniform(Duration::from_millis(50))
        );
    }
}
