//! From what is left to the next attempt: per dimension, the first value in preference
//! order (the pin, else the saved profile's value, else strongest first; for NLA, mstsc's
//! offer first when nothing requires NLA) that is not ruled out. A dimension with nothing
//! left ends the run with a verdict that says which.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::knobs::{Dial, Knobs, Nla};
use crate::learn::{RuledOut, Tried};
use crate::policy::Policy;
use crate::route::{self, Route};
use crate::rungs::{tls_ladder, tolerant, Grade};
use crate::stage::Stage;
use crate::verdict::{unreachable, Verdict, VerdictKind};

/// The next knobs, or the verdict of the first dimension with no value left.
pub(crate) fn choose(
    policy: &Policy,
    history: &[Tried],
    ruled: &RuledOut,
) -> Result<Knobs, Verdict> {
    let profile = policy.profile.as_ref();

    let dial = {
        let mut order: Vec<Dial> = Vec::new();
        if let Some(pinned) = &policy.pins.dial {
            order.push(pinned.clone());
        } else {
            if let Some(p) = profile {
                order.push(p.dial.clone());
            }
            match policy.host_ip {
                Some(ip) => order.push(Dial::Ip(SocketAddr::new(ip, policy.port))),
                None => order.push(Dial::ByName),
            }
            let resolved = history.iter().flat_map(|t| t.resolved.iter().copied());
            order.extend(
                resolved
                    .chain(policy.known_addresses.iter().copied())
                    .map(Dial::Ip),
            );
        }
        first_allowed(order, |d| match d {
            Dial::ByName => !ruled.by_name,
            Dial::Ip(address) => !ruled.addresses.contains(address),
        })
    };

    // The route first: direct is left while an address is; through a gateway, the gateway
    // resolves the host and the host's name is the TLS/CredSSP name.
    let route = route::choose(policy, &ruled.route, dial.is_some())
        .map_err(|exhausted| route_verdict(history, exhausted.gateway))?;
    let dial = match (&route, dial) {
        (Route::Gateway(_), _) => Dial::ByName,
        (Route::Direct, Some(dial)) => dial,
        (Route::Direct, None) => return Err(unreachable(history)),
    };

    let ip_as_server_name = if policy.pins.server_name || policy.host_is_ip() || route.is_gateway()
    {
        false
    } else {
        let preferred = profile.map(|p| p.ip_as_server_name).unwrap_or(false);
        first_allowed(vec![preferred, false, true], |v| !ruled.ip_as_server_name.contains(v)).ok_or_else(|| {
            Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                "neither the host name nor the IP literal is accepted as the TLS/CredSSP target name",
            )
        })?
    };

    let nla = {
        let order = match (policy.pins.nla, profile.map(|p| p.nla)) {
            (Some(pinned), _) => vec![Nla::exact(pinned)],
            (None, Some(saved)) => vec![saved, Nla::On, Nla::Off],
            // Nothing known and nothing requires NLA: mstsc's offer, the server chooses.
            (None, None) if !policy.requires_nla() => vec![Nla::Negotiate, Nla::On, Nla::Off],
            (None, None) => vec![Nla::On, Nla::Off],
        };
        first_allowed(order, |v| !ruled.nla.contains(v)).ok_or_else(|| {
            let pinned = policy
                .pins
                .nla
                .map(|on| if on { "--nla on" } else { "--nla off" });
            Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                match pinned {
                    Some(flag) => {
                        format!("the server refuses {flag}; drop the flag to let rdpshim adapt")
                    }
                    None => "the server refused both NLA and TLS-only logon".to_owned(),
                },
            )
        })?
    };

    let tls = {
        // The ladder under the floor (and the saved profile's strength), then the legacy
        // hello below it: reached only when nothing above is left, and then refused by the
        // floor or the downgrade guard with a verdict that names it.
        let mut ladder = tls_ladder(policy.tls_floor());
        ladder.push(tolerant(Grade::NoNla));
        let mut order = match (&policy.pins.tls, profile) {
            (Some(pinned), _) => vec![pinned.clone()],
            (None, Some(p)) => core::iter::once(p.tls.clone()).chain(ladder).collect(),
            (None, None) => ladder,
        };
        // The server hung up on a ClientHello: the most tolerant one next tells a hello it
        // dislikes from a server that hangs up on every hello (see `learn`).
        if policy.pins.tls.is_none() {
            if let Some(hello) = ruled.tolerant_next(policy) {
                order.insert(0, hello);
            }
        }
        first_allowed(order, |c| !ruled.tls.contains(c)).ok_or_else(|| {
            Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                if policy.pins.tls.is_some() {
                    "the server refuses the pinned TLS settings; drop --tls/--tls-stack/--ciphers to let rdpshim adapt"
                } else {
                    "no TLS version or cipher suite in common with the server, down to TLS 1.0 at security level 0"
                },
            )
        })?
    };

    let udp = {
        let order = on_off_order(policy.pins.udp, profile.map(|p| p.udp));
        first_allowed(order, |v| !ruled.udp.contains(v)).ok_or_else(|| {
            Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                "the server ends the session after the connection sequence, with and without UDP advertised",
            )
        })?
    };

    Ok(Knobs {
        dial,
        ip_as_server_name,
        nla,
        tls,
        udp,
        route,
    })
}

/// No route left: the host is not reachable directly (or going direct is not allowed), and
/// the gateway, when there is one, cannot be used either.
fn route_verdict(history: &[Tried], gateway: Option<alloc::string::String>) -> Verdict {
    let direct_tried = history.iter().any(|t| !t.knobs.route.is_gateway());
    match gateway {
        None => unreachable(history),
        Some(why) if !direct_tried => Verdict::new(VerdictKind::NoWorkingConfiguration, why),
        Some(why) => {
            let direct = unreachable(history);
            let kind = if direct.kind == VerdictKind::Unreachable
                && history.iter().all(|t| {
                    matches!(
                        t.failure,
                        Some((Stage::GatewayConnect | Stage::Dns | Stage::Tcp, _))
                    )
                }) {
                VerdictKind::Unreachable
            } else {
                VerdictKind::NoWorkingConfiguration
            };
            Verdict::new(kind, format!("{why}; and directly: {}", direct.reason))
        }
    }
}

/// UDP: the pin alone, else the saved value first, then on before off.
fn on_off_order(pinned: Option<bool>, saved: Option<bool>) -> Vec<bool> {
    match (pinned, saved) {
        (Some(pinned), _) => vec![pinned],
        (None, Some(saved)) => vec![saved, true, false],
        (None, None) => vec![true, false],
    }
}

fn first_allowed<T>(order: Vec<T>, allowed: impl Fn(&T) -> bool) -> Option<T> {
    order.into_iter().find(|v| allowed(v))
}
