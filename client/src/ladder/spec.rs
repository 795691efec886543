//! From the planner's knobs to the engine's attempt spec.

use std::net::SocketAddr;
use std::time::Duration;

use crate::attempt::{AttemptSpec, Credentials, DialTarget, StageTimeouts};
use crate::planner::{Dial, Knobs, Route, Tried};
use crate::report::Stage;
use crate::route::gateway::{GatewayCredentials, GatewaySpec, GatewayTimeouts};
use crate::secret::Password;

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
    if let (Route::Gateway(via), Some(gateway)) = (&knobs.route, &request.gateway) {
        spec.gateway = Some(GatewaySpec {
            host: gateway.host.clone(),
            port: gateway.port,
            tls: via.tls.clone(),
            credentials: gateway_credentials_for(request).unwrap_or(GatewayCredentials {
                username: String::new(),
                domain: None,
                password: Password::new(""),
            }),
            transport: via.transport,
            auth: via.auth,
            timeouts: GatewayTimeouts::from_stages(&spec.timeouts),
            pinned_certificate: gateway.pinned_certificate.clone(),
            client_name: "rdpshim".to_owned(),
        });
    }
    spec.preferred_addresses = preferred_addresses(request, history);
    spec
}

/// The credentials the gateway gets: its own account's, else the host's.
pub fn gateway_credentials_for(request: &Request) -> Option<GatewayCredentials> {
    let own = request.gateway.as_ref().and_then(|g| g.account.as_ref());
    let credentials = match own {
        Some(account) => Credentials {
            username: account.username.clone(),
            domain: account.domain.clone(),
            password: account.password.clone()?,
        },
        None => request.credentials.clone()?,
    };
    Some(GatewayCredentials {
        username: credentials.username,
        domain: credentials.domain,
        password: credentials.password,
    })
}

/// The addresses a by-name dial races first: those this run's attempts completed TCP with
/// (latest first: the second attempt of a ladder does not wait for a dead first address
/// again), then the profile's (last good first) and `--resolve` hints.
fn preferred_addresses(request: &Request, history: &[Tried]) -> Vec<SocketAddr> {
    let connected = history
        .iter()
        .rev()
        .filter(|t| {
            t.failure
                .as_ref()
                .is_none_or(|(stage, _)| *stage > Stage::Tcp)
        })
        .filter_map(|t| t.dialled);
    let mut out: Vec<SocketAddr> = Vec::new();
    for address in connected.chain(request.policy.known_addresses.iter().copied()) {
        if !out.contains(&address) {
            out.push(address);
        }
    }
    out
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
    use crate::planner::{FailureClass, Policy};

    fn request(known: &[SocketAddr]) -> Request {
        let mut policy = Policy::new(None, 3389);
        policy.known_addresses = known.to_vec();
        Request::for_tests(policy)
    }

    fn tried(dialled: &str, failure: Option<(Stage, FailureClass)>) -> Tried {
        Tried {
            knobs: Knobs::strongest(),
            with_credentials: false,
            failure,
            resolved: Vec::new(),
            dialled: Some(dialled.parse().unwrap()),
            selected: None,
        }
    }

    #[test]
    fn addresses_that_completed_tcp_are_raced_first_then_the_remembered_ones() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let request = request(&[a("10.0.0.9:3389"), a("10.0.0.2:3389")]);
        let history = [
            // Never answered: not preferred.
            tried(
                "10.0.0.1:3389",
                Some((Stage::Tcp, FailureClass::TcpTimeout)),
            ),
            // Answered X.224 (NLA refused): TCP works there.
            tried(
                "10.0.0.2:3389",
                Some((Stage::X224, FailureClass::RdpSecuritySelected)),
            ),
            tried(
                "10.0.0.3:3389",
                Some((Stage::Tls, FailureClass::TlsVersionMismatch)),
            ),
        ];
        let spec = spec_for(
            &request,
            &Knobs::strongest(),
            &history,
            Duration::from_secs(60),
        );
        assert_eq!(
            spec.preferred_addresses,
            [a("10.0.0.3:3389"), a("10.0.0.2:3389"), a("10.0.0.9:3389")],
            "this run's latest first, each address once"
        );
        assert_eq!(spec.dial, DialTarget::ResolveHost);
    }

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
