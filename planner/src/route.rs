//! The route dimension: straight to the server, or through an RD Gateway (MS-TSGU: HTTPS
//! to the gateway, HTTP authentication, a WebSocket or the legacy `RDG_OUT_DATA` /
//! `RDG_IN_DATA` channel pair, then a tunnel to `HOST:PORT`).
//!
//! A gateway route has knobs of its own, the gateway leg's: its TLS (the RDP leg's rungs,
//! so an old gateway that speaks only TLS 1.0 walks down the same ladder, announced with
//! the same names), its HTTP transport, and the HTTP authentication scheme. Everything
//! else (NLA, the RDP leg's TLS, UDP, the floor, the downgrade guard, the pins) applies
//! through the tunnel unchanged, because it is the same server at the other end.
//!
//! When the gateway is used follows mstsc's `gatewayusagemethod` ([`GatewayUsage`]):
//! `always` goes through the gateway first and goes around it only as the announced
//! `direct-instead-of-gateway`; `detect` ("bypass the RD Gateway for local addresses")
//! goes direct first and through the gateway (`via-gateway`) when the host cannot be
//! reached directly. Which failures rule out what:
//!
//! - the gateway does not answer (DNS, TCP), its resource authorization policy refuses the
//!   host (`E_PROXY_RAP_ACCESSDENIED`), it refuses the tunnel with another code, or the
//!   tunnel does not carry RDP: the gateway is ruled out, whatever its knobs;
//! - its TLS: the rungs the failure proves useless, as on the RDP leg;
//! - its transport: a refused WebSocket upgrade, an HTTP status no gateway sends for it (a
//!   proxy in front that cannot pass WebSockets), or a tunnel that breaks over WebSocket
//!   rule out WebSocket; the legacy HTTP transport is next (`gateway-transport`);
//! - its authentication: the schemes the gateway did not offer, and the one that failed.
//!   A scheme that checks the password (NTLM, Basic) failing is a wrong password or an
//!   account the gateway does not admit: the run stops there, as for the host's logon
//!   (a credential problem is never answered with a weaker configuration). Only a
//!   `Negotiate` that could not complete (Kerberos without a KDC) moves on to NTLM, then
//!   Basic (`gateway-auth-scheme`).
//!
//! Going direct is never "ruled out" by a failure of its own: it ends when no address is
//! left to dial, which is what "the host is not reachable directly" means here.

use alloc::borrow::ToOwned as _;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::failure::FailureClass;
use crate::fallback::{tls_steps, Fallback};
use crate::knobs::Knobs;
use crate::learn::Tried;
use crate::policy::Policy;
use crate::rungs::{lowest_version, offered_versions, tls_ladder, Grade};
use crate::stage::Stage;
use crate::tls::{TlsChoice, TlsStack};
use crate::verdict::{Verdict, VerdictKind};

/// How an attempt reaches the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Route {
    /// Resolve and dial the server (the other knobs say how).
    #[default]
    Direct,
    /// Through the RD Gateway the policy knows, with these gateway-leg knobs.
    Gateway(ViaGateway),
}

impl Route {
    pub fn is_gateway(&self) -> bool {
        matches!(self, Self::Gateway(_))
    }

    /// The gateway leg's knobs, when the route has one.
    pub fn gateway(&self) -> Option<&ViaGateway> {
        match self {
            Self::Gateway(via) => Some(via),
            Self::Direct => None,
        }
    }

    /// `direct` or `gateway`: the `--json` and matrix name of the route.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Gateway(_) => "gateway",
        }
    }
}

/// The gateway leg's knobs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViaGateway {
    /// The gateway's HTTPS: the same stacks and rungs as the RDP leg.
    pub tls: TlsChoice,
    pub transport: GatewayTransport,
    pub auth: GatewayAuth,
}

impl ViaGateway {
    /// What mstsc does: modern TLS, WebSocket with the legacy transport as the gateway's
    /// answer allows, the strongest scheme the gateway offers.
    pub fn strongest() -> Self {
        Self {
            tls: TlsChoice::modern(),
            transport: GatewayTransport::Auto,
            auth: GatewayAuth::Offered,
        }
    }
}

/// The HTTP transport of the tunnel (MS-TSGU 3.3.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GatewayTransport {
    /// Ask for the WebSocket upgrade; a gateway that answers with the legacy OUT channel
    /// gets the legacy transport (mstsc's behaviour).
    Auto,
    /// The WebSocket upgrade only (a pin).
    WebSocket,
    /// The legacy `RDG_OUT_DATA` + `RDG_IN_DATA` pair, without asking for an upgrade.
    LegacyHttp,
}

impl GatewayTransport {
    pub const ALL: [GatewayTransport; 3] = [Self::Auto, Self::WebSocket, Self::LegacyHttp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::WebSocket => "websocket",
            Self::LegacyHttp => "legacy-http",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Asks the gateway for a WebSocket.
    fn asks_for_websocket(self) -> bool {
        self != Self::LegacyHttp
    }
}

/// Which of the gateway's HTTP authentication schemes to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GatewayAuth {
    /// The strongest the gateway offers (Negotiate, then NTLM, then Basic).
    Offered,
    /// NTLM only.
    Ntlm,
    /// Basic only (the password itself, inside the gateway's TLS).
    Basic,
}

impl GatewayAuth {
    pub const ALL: [GatewayAuth; 3] = [Self::Offered, Self::Ntlm, Self::Basic];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Ntlm => "ntlm",
            Self::Basic => "basic",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The `WWW-Authenticate` scheme this value is limited to (`None`: any offered).
    pub fn scheme(self) -> Option<&'static str> {
        match self {
            Self::Offered => None,
            Self::Ntlm => Some("NTLM"),
            Self::Basic => Some("Basic"),
        }
    }
}

/// When to use the gateway the policy knows (mstsc's `gatewayusagemethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayUsage {
    /// `gatewayusagemethod:i:1`, `--gateway`: through the gateway; going around it is
    /// `direct-instead-of-gateway`, announced with what it gives up.
    Always,
    /// `gatewayusagemethod:i:2` (mstsc's "bypass RD Gateway server for local
    /// addresses"): direct first; `via-gateway` when the host cannot be reached directly.
    Detect,
}

impl GatewayUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Detect => "detect",
        }
    }
}

/// Why the gateway cannot be used at all: the failure that proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadEnd {
    pub stage: Stage,
    pub class: FailureClass,
}

/// What the failures so far rule out on the gateway leg.
#[derive(Debug, Default)]
pub(crate) struct RouteRuledOut {
    pub dead_end: Option<DeadEnd>,
    pub tls: Vec<TlsChoice>,
    pub transport: BTreeSet<GatewayTransport>,
    pub auth: BTreeSet<GatewayAuth>,
    /// The last authentication failure (for the verdict: what the gateway offered).
    pub last_auth: Option<FailureClass>,
}

/// What one failure proves about the route; `None` when it is the RDP leg's business (the
/// planner's other rules read it).
pub(crate) fn learn(
    ruled: &mut RouteRuledOut,
    tried: &Tried,
    stage: Stage,
    class: &FailureClass,
) -> Option<bool> {
    use FailureClass as F;
    let via = tried.knobs.route.gateway()?;
    let dead_end = |ruled: &mut RouteRuledOut| {
        let news = ruled.dead_end.is_none();
        ruled.dead_end.get_or_insert(DeadEnd {
            stage,
            class: class.clone(),
        });
        news
    };
    let learned = match (stage, class) {
        (Stage::Dns | Stage::Tcp | Stage::GatewayConnect, _) => dead_end(ruled),
        (Stage::GatewayTls, F::TlsVersionMismatch) => {
            let refused = offered_versions(&via.tls);
            ruled.rule_out_tls(|c| offered_versions(c).iter().all(|v| refused.contains(v)))
        }
        (Stage::GatewayTls, F::TlsCipherMismatch) => {
            let (stack, ciphers) = (via.tls.stack, via.tls.ciphers.clone());
            ruled.rule_out_tls(|c| c.stack == stack && c.ciphers == ciphers)
        }
        (Stage::GatewayTls, F::CertificateChanged) => false,
        (Stage::GatewayTls, _) => {
            let choice = via.tls.clone();
            ruled.rule_out_tls(|c| *c == choice)
        }
        (
            Stage::GatewayHttp,
            F::GatewayAuthFailed {
                offered,
                tried: answered,
            },
        ) => {
            ruled.last_auth = Some(class.clone());
            let mut news = ruled.auth.insert(via.auth);
            for auth in [GatewayAuth::Ntlm, GatewayAuth::Basic] {
                let scheme = auth.scheme().unwrap_or_default();
                if !names(offered, scheme) || names(answered, scheme) {
                    news |= ruled.auth.insert(auth);
                }
            }
            news
        }
        (Stage::GatewayHttp, F::GatewayTransportRefused) => ruled.rule_out_websocket(),
        (
            Stage::GatewayHttp | Stage::GatewayTunnel,
            F::ProtocolError | F::PeerClosed | F::Timeout,
        ) if via.transport.asks_for_websocket() => ruled.rule_out_websocket(),
        (Stage::GatewayHttp | Stage::GatewayTunnel, _) => dead_end(ruled),
        // The tunnel is open but what comes out of it is not RDP: going direct tells
        // whether the host or the gateway's path to it is at fault.
        (Stage::X224, F::PeerClosed | F::Timeout | F::ProtocolError) => dead_end(ruled),
        _ => return None,
    };
    Some(learned)
}

/// `true` when `schemes` (as a gateway named them) holds `scheme`.
fn names(schemes: &[String], scheme: &str) -> bool {
    schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme))
}

impl RouteRuledOut {
    fn rule_out_tls(&mut self, matches: impl Fn(&TlsChoice) -> bool) -> bool {
        crate::rungs::rule_out(&mut self.tls, matches)
    }

    fn rule_out_websocket(&mut self) -> bool {
        let auto = self.transport.insert(GatewayTransport::Auto);
        let websocket = self.transport.insert(GatewayTransport::WebSocket);
        auto || websocket
    }
}

/// The verdict for a gateway failure no configuration can fix: the gateway refused the
/// password itself (a scheme that checks it failed).
pub(crate) fn terminal(last: &Tried) -> Result<(), Verdict> {
    let Some((Stage::GatewayHttp, FailureClass::GatewayAuthFailed { offered, tried })) =
        &last.failure
    else {
        return Ok(());
    };
    if !(names(tried, "NTLM") || names(tried, "Basic")) {
        return Ok(());
    }
    Err(Verdict::new(
        VerdictKind::AuthFailed,
        format!(
            "the RD Gateway refused the credentials (it offered {}; rdpshim answered with {}): a wrong \
             password, or an account its connection authorization policy does not admit; a weaker \
             configuration would not change that (give the gateway account with --gateway-user)",
            list(offered),
            list(tried)
        ),
    ))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}

/// The route of the next attempt: in the policy's order, the first that is left. `direct`
/// is left while an address is (`direct_left`).
pub(crate) fn choose(
    policy: &Policy,
    ruled: &RouteRuledOut,
    direct_left: bool,
) -> Result<Route, RouteExhausted> {
    let gateway_first = match (&policy.pins.route, policy.gateway) {
        (Some(Route::Direct), _) | (None, None) => {
            return if direct_left {
                Ok(Route::Direct)
            } else {
                Err(RouteExhausted { gateway: None })
            };
        }
        (Some(Route::Gateway(_)), _) => {
            return gateway(policy, ruled)
                .map(Route::Gateway)
                .ok_or_else(|| RouteExhausted {
                    gateway: Some(gateway_reason(ruled, policy.floor)),
                });
        }
        (None, Some(GatewayUsage::Always)) => true,
        // "Bypass for local addresses": direct first, unless the saved profile connected
        // through the gateway (trying direct again would cost a time-out on every run).
        (None, Some(GatewayUsage::Detect)) => policy
            .profile
            .as_ref()
            .is_some_and(|p| p.route.is_gateway()),
    };
    let via = gateway(policy, ruled);
    let route = match (gateway_first, via) {
        (true, Some(via)) => Route::Gateway(via),
        (_, _) if direct_left => Route::Direct,
        (false, Some(via)) => Route::Gateway(via),
        (_, None) => {
            return Err(RouteExhausted {
                gateway: Some(gateway_reason(ruled, policy.floor)),
            })
        }
    };
    Ok(route)
}

/// No route left: why the gateway could not be used (`None` when there is no gateway).
#[derive(Debug)]
pub(crate) struct RouteExhausted {
    pub gateway: Option<String>,
}

/// The gateway leg's knobs: per knob, the pin, else the saved profile's value, else
/// strongest first, not ruled out. `None` when the gateway is a dead end or a knob has no
/// value left.
fn gateway(policy: &Policy, ruled: &RouteRuledOut) -> Option<ViaGateway> {
    if ruled.dead_end.is_some() {
        return None;
    }
    let pinned = match &policy.pins.route {
        Some(Route::Gateway(via)) => Some(via),
        _ => None,
    };
    let saved = policy.profile.as_ref().and_then(|p| p.route.gateway());
    let tls_order: Vec<TlsChoice> = match (pinned, saved) {
        (Some(pin), _) => vec![pin.tls.clone()],
        (None, Some(saved)) => core::iter::once(saved.tls.clone())
            .chain(tls_ladder(policy.floor))
            .collect(),
        (None, None) => tls_ladder(policy.floor),
    };
    let transport_order: Vec<GatewayTransport> = match (pinned, saved) {
        (Some(pin), _) => vec![pin.transport],
        (None, Some(saved)) => vec![
            saved.transport,
            GatewayTransport::Auto,
            GatewayTransport::LegacyHttp,
        ],
        (None, None) => vec![GatewayTransport::Auto, GatewayTransport::LegacyHttp],
    };
    let auth_order: Vec<GatewayAuth> = match (pinned, saved) {
        (Some(pin), _) => vec![pin.auth],
        (None, Some(saved)) => core::iter::once(saved.auth)
            .chain(GatewayAuth::ALL)
            .collect(),
        (None, None) => GatewayAuth::ALL.to_vec(),
    };
    Some(ViaGateway {
        tls: tls_order.into_iter().find(|c| !ruled.tls.contains(c))?,
        transport: transport_order
            .into_iter()
            .find(|t| !ruled.transport.contains(t))?,
        auth: auth_order.into_iter().find(|a| !ruled.auth.contains(a))?,
    })
}

/// Why the gateway cannot be used, for a verdict.
fn gateway_reason(ruled: &RouteRuledOut, floor: Grade) -> String {
    use FailureClass as F;
    if let Some(DeadEnd { stage, class }) = &ruled.dead_end {
        return match (stage, class) {
            (_, F::Dns) => "the RD Gateway's name does not resolve".to_owned(),
            (Stage::GatewayConnect, F::TcpRefused) => {
                "the RD Gateway refuses the connection (nothing listens on its port, or a firewall \
                 rejects it)"
                    .to_owned()
            }
            (Stage::GatewayConnect, _) => {
                "the RD Gateway does not answer (a firewall drops the packets, or it is down)"
                    .to_owned()
            }
            (_, F::GatewayResourceRefused) => {
                "the RD Gateway's resource authorization policy (RD RAP) does not let this user \
                 reach the host"
                    .to_owned()
            }
            (_, F::GatewayRefused(code)) => {
                format!("the RD Gateway refused the tunnel (0x{code:08x})")
            }
            (Stage::GatewayTunnel, F::TcpRefused) => {
                "the RD Gateway cannot reach the host (E_PROXY_TS_CONNECTFAILED)".to_owned()
            }
            (stage, class) => {
                format!("the tunnel through the RD Gateway does not carry RDP ({class} at {stage})")
            }
        };
    }
    if let Some(F::GatewayAuthFailed { offered, .. }) = &ruled.last_auth {
        if GatewayAuth::ALL.iter().all(|a| ruled.auth.contains(a)) {
            return format!(
                "the RD Gateway offers no HTTP authentication rdpshim can complete (it offered {})",
                list(offered)
            );
        }
    }
    if tls_ladder(floor).iter().all(|c| ruled.tls.contains(c)) {
        return "no TLS version or cipher suite in common with the RD Gateway, down to TLS 1.0 at \
                security level 0"
            .to_owned();
    }
    if ruled.transport.contains(&GatewayTransport::LegacyHttp) {
        return "neither of the RD Gateway's HTTP transports carries the tunnel (WebSocket, legacy \
                HTTP)"
            .to_owned();
    }
    "the RD Gateway refuses the pinned gateway settings".to_owned()
}

/// The route steps between two consecutive attempts (the gateway leg's TLS downgrades use
/// the RDP leg's names: the warning says which leg).
pub(crate) fn steps(
    policy: &Policy,
    from: &Knobs,
    to: &Knobs,
    because: Option<&FailureClass>,
) -> Vec<Fallback> {
    let mut steps = Vec::new();
    match (&from.route, &to.route) {
        (Route::Gateway(_), Route::Direct) if policy.gateway == Some(GatewayUsage::Always) => {
            steps.push(Fallback::DirectInsteadOfGateway)
        }
        (Route::Direct, Route::Gateway(_)) if policy.gateway != Some(GatewayUsage::Always) => {
            steps.push(Fallback::ViaGateway)
        }
        (Route::Gateway(a), Route::Gateway(b)) => {
            if a.tls != b.tls {
                steps.extend(tls_steps(&a.tls, &b.tls, because));
            }
            if a.transport != b.transport && b.transport == GatewayTransport::LegacyHttp {
                steps.push(Fallback::GatewayTransport);
            }
            if a.auth != b.auth {
                steps.push(Fallback::GatewayAuthScheme);
            }
        }
        _ => {}
    }
    steps
}

/// The route steps a first attempt already takes relative to the policy's own route (a
/// saved profile's route, or a pin).
pub(crate) fn first_steps(policy: &Policy, knobs: &Knobs) -> Vec<Fallback> {
    match (&knobs.route, policy.gateway) {
        (Route::Direct, Some(GatewayUsage::Always)) => vec![Fallback::DirectInsteadOfGateway],
        (Route::Gateway(_), Some(GatewayUsage::Detect)) => vec![Fallback::ViaGateway],
        _ => Vec::new(),
    }
}

/// The gateway leg's downgrades relative to the strongest gateway knobs (for a saved or
/// pinned configuration, announced on every use).
pub(crate) fn downgrades(route: &Route) -> Vec<Fallback> {
    let Some(via) = route.gateway() else {
        return Vec::new();
    };
    let mut steps = crate::fallback::tls_downgrades(&via.tls);
    if via.auth == GatewayAuth::Basic {
        steps.push(Fallback::GatewayAuthScheme);
    }
    steps
}

/// The security grade the gateway leg allows: its TLS, graded as the RDP leg's with NLA.
pub(crate) fn grade(route: &Route) -> Option<Grade> {
    route.gateway().map(|via| Grade::of(true, &via.tls))
}

/// What the gateway leg of `now` has weaker than that of `before`, when both go through
/// the gateway (going around it is announced, not guarded: the end-to-end RDP leg keeps
/// its own strength).
pub(crate) fn weakened(before: &Route, now: &Route) -> Option<String> {
    let (Some(was), Some(is)) = (before.gateway(), now.gateway()) else {
        return None;
    };
    let (low_was, low_is) = (lowest_version(&was.tls), lowest_version(&is.tls));
    if low_is < low_was {
        return Some(format!(
            "the RD Gateway's TLS {} -> TLS {}",
            low_was.as_str(),
            low_is.as_str()
        ));
    }
    if was.tls.stack == TlsStack::Rustls && is.tls.stack == TlsStack::Openssl {
        return Some("the RD Gateway's AEAD-only suites -> CBC/RSA suites".to_owned());
    }
    if was.auth != GatewayAuth::Basic && is.auth == GatewayAuth::Basic {
        return Some("the RD Gateway's authentication -> HTTP Basic".to_owned());
    }
    None
}

/// `, via the RD Gateway (TLS 1.0 (openssl), legacy HTTP)` for [`crate::describe`].
pub(crate) fn describe(route: &Route) -> String {
    let Some(via) = route.gateway() else {
        return String::new();
    };
    let versions: Vec<&str> = offered_versions(&via.tls)
        .iter()
        .map(|v| v.as_str())
        .collect();
    let mut parts = vec![format!(
        "TLS {} ({})",
        versions.join("/"),
        via.tls.stack.as_str()
    )];
    if via.transport != GatewayTransport::Auto {
        parts.push(via.transport.as_str().to_owned());
    }
    if via.auth != GatewayAuth::Offered {
        parts.push(format!("{} only", via.auth.as_str()));
    }
    format!(", via the RD Gateway ({})", parts.join(", "))
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
