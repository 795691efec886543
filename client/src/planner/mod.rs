//! The fallback planner: from the policy and the outcomes so far to the next attempt or a
//! verdict.
//!
//! **Invariant: no I/O and no clock.** Elapsed time comes in as a value, resolved addresses
//! come from earlier attempt reports. Every path is therefore a table test (see `tests.rs`).
//!
//! How it decides: a configuration has five dimensions (where to dial, which name to use,
//! NLA, TLS rung, UDP). Each dimension has a preference order, strongest first (or the
//! saved profile's value first). Every failure rules out the values it proves useless
//! (a `protocol_version` alert rules out every rung offering only versions the server just
//! refused; SSL_REQUIRED_BY_SERVER rules out NLA on; a refused address rules out that
//! address). The next attempt takes, per dimension, the first value not ruled out. A failure
//! that rules out nothing new, or a class no configuration can fix (wrong password, Standard
//! RDP Security only, a silent firewall on every address), ends with a verdict.

mod fallback;
mod rungs;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use fallback::Fallback;
pub use rungs::{lowest_version, offered_versions, tls_ladder, Grade};

use crate::attempt::{TlsChoice, TlsStack};
use crate::report::{FailureClass, NegotiationCode, Stage};

/// Where an attempt dials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dial {
    /// Resolve the host name and dial the first address, as mstsc does.
    ByName,
    /// Dial this address.
    Ip(SocketAddr),
}

/// The knobs of one attempt, as the planner sees them (no credentials, no timeouts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Knobs {
    pub dial: Dial,
    /// Use the dialled IP literal as TLS SNI / CredSSP target instead of the host name.
    pub ip_as_server_name: bool,
    pub nla: bool,
    pub tls: TlsChoice,
    pub udp: bool,
}

impl Knobs {
    pub fn grade(&self) -> Grade {
        Grade::of(self.nla, &self.tls)
    }
}

/// Dimensions fixed on the command line: the ladder varies only the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    pub dial: Option<Dial>,
    /// `--server-name` given: never switch to the IP literal.
    pub server_name: bool,
    pub nla: Option<bool>,
    pub tls: Option<TlsChoice>,
    pub udp: Option<bool>,
}

/// Everything the planner is told up front.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The host the user typed, when it is an IP literal (nothing to resolve, no name to swap).
    pub host_ip: Option<IpAddr>,
    pub port: u16,
    pub pins: Pins,
    /// `--min-security`: never go below.
    pub floor: Grade,
    /// The saved profile's knobs: tried first.
    pub profile: Option<Knobs>,
    /// Knobs that connected before (a verified profile): the strength a later connect must
    /// not silently fall below. An imported, never-used profile sets `profile` only.
    pub baseline: Option<Knobs>,
    /// `--accept-downgrade`: allow going below the profile's strength.
    pub accept_downgrade: bool,
    /// Addresses known to have worked (profile, last good first) and `--resolve` hints.
    pub known_addresses: Vec<SocketAddr>,
    pub max_attempts: usize,
    pub deadline: Duration,
}

impl Policy {
    pub fn new(host_ip: Option<IpAddr>, port: u16) -> Self {
        Self {
            host_ip,
            port,
            pins: Pins::default(),
            floor: Grade::NoNla,
            profile: None,
            baseline: None,
            accept_downgrade: false,
            known_addresses: Vec::new(),
            max_attempts: 12,
            deadline: Duration::from_secs(90),
        }
    }

    fn host_is_ip(&self) -> bool {
        self.host_ip.is_some()
    }
}

/// One finished attempt, as far as the planner cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub knobs: Knobs,
    pub with_credentials: bool,
    /// `None` = connected.
    pub failure: Option<(Stage, FailureClass)>,
    /// Addresses the name resolved to (when the attempt resolved it).
    pub resolved: Vec<SocketAddr>,
    /// The socket address actually dialled, when it got that far.
    pub dialled: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    AuthFailed,
    NoWorkingConfiguration,
    Unreachable,
    RefusedByPolicy,
    CertificateChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// The diagnosis, for people.
    pub reason: String,
}

impl Verdict {
    fn new(kind: VerdictKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try these knobs; `fallbacks` names the steps this attempt takes, in order.
    Attempt {
        knobs: Knobs,
        fallbacks: Vec<Fallback>,
    },
    /// The server needs NLA credentials: obtain them, then try these knobs.
    NeedCredentials {
        knobs: Knobs,
        fallbacks: Vec<Fallback>,
    },
    /// Stop.
    Verdict(Verdict),
}

/// The next step. Pure: same inputs, same answer.
pub fn next(
    policy: &Policy,
    history: &[Tried],
    has_credentials: bool,
    elapsed: Duration,
) -> Decision {
    match plan(policy, history, has_credentials, elapsed) {
        Ok(decision) => decision,
        Err(verdict) => Decision::Verdict(verdict),
    }
}

fn plan(
    policy: &Policy,
    history: &[Tried],
    has_credentials: bool,
    elapsed: Duration,
) -> Result<Decision, Verdict> {
    if let Some(last) = history.last() {
        if last.failure.is_none() {
            return Err(Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                "internal: the planner was asked to continue after a connection",
            ));
        }
        terminal_verdict(last, has_credentials)?;
        if matches!(last.failure, Some((_, FailureClass::CredentialsRequired))) && !has_credentials
        {
            if history.len() >= policy.max_attempts {
                return Err(Verdict::new(
                    VerdictKind::AuthFailed,
                    "the server requires NLA: give a user name (-u USER) and a password",
                ));
            }
            // Same knobs, with credentials: a credential problem is never a reason to downgrade.
            return Ok(Decision::NeedCredentials {
                knobs: last.knobs.clone(),
                fallbacks: Vec::new(),
            });
        }
        if history.len() >= policy.max_attempts {
            return Err(give_up(
                format!(
                    "gave up after {} attempts (the attempt budget)",
                    history.len()
                ),
                last,
            ));
        }
        if elapsed >= policy.deadline {
            return Err(give_up(
                format!(
                    "gave up after {:.1} s (the overall deadline)",
                    elapsed.as_secs_f64()
                ),
                last,
            ));
        }
    }

    let ruled_out = RuledOut::from_history(policy, history)?;
    let knobs = choose(policy, history, &ruled_out)?;

    if history
        .iter()
        .any(|t| t.knobs == knobs && t.with_credentials == has_credentials)
    {
        let last = history.last().expect("a repeat needs a history");
        return Err(give_up(
            "no configuration left that could change the outcome".to_owned(),
            last,
        ));
    }
    check_policy(policy, &knobs)?;

    let fallbacks = history
        .last()
        .map(|last| step_fallbacks(&last.knobs, &knobs, last.failure.as_ref().map(|f| &f.1)))
        .unwrap_or_default();
    if knobs.nla && !has_credentials && ruled_out.nla.contains(&false) {
        return Ok(Decision::NeedCredentials { knobs, fallbacks });
    }
    Ok(Decision::Attempt { knobs, fallbacks })
}

/// Failures that no other configuration can fix.
fn terminal_verdict(last: &Tried, has_credentials: bool) -> Result<(), Verdict> {
    use FailureClass as F;
    use VerdictKind as V;
    let (stage, class) = last.failure.as_ref().expect("checked by caller");
    let verdict = match class {
        F::AuthFailed => Verdict::new(
            V::AuthFailed,
            "authentication failed (wrong password, unknown user, or an account not allowed to log on \
             remotely); a weaker configuration would not change that",
        ),
        F::CertificateChanged => Verdict::new(
            V::CertificateChanged,
            "the server presented a different certificate than the one pinned on the first connection \
             (both fingerprints above); nothing was sent. If the server's certificate was renewed, check \
             the new fingerprint and re-run with --accept-new-cert",
        ),
        F::CredentialsRequired if has_credentials => Verdict::new(
            V::AuthFailed,
            "the server requires NLA and the credentials given were not usable",
        ),
        F::RdpSecuritySelected | F::NegotiationFailure(NegotiationCode::SslNotAllowedByServer) => Verdict::new(
            V::NoWorkingConfiguration,
            "the server only offers Standard RDP Security (no TLS, no NLA), which sends the session \
             under RC4 at best; enable TLS on the server (Security Layer = Negotiate or SSL/TLS)",
        ),
        F::NegotiationFailure(NegotiationCode::SslCertNotOnServer) => Verdict::new(
            V::NoWorkingConfiguration,
            "the server has no usable certificate for TLS: on the server, renew the Remote Desktop \
             certificate or fix the MachineKeys permissions so TermService can read its key",
        ),
        F::NegotiationFailure(code @ (NegotiationCode::SslWithUserAuthRequiredByServer
        | NegotiationCode::EntraAuthRequiredByServer
        | NegotiationCode::InconsistentFlags
        | NegotiationCode::Unknown(_))) => Verdict::new(
            V::NoWorkingConfiguration,
            format!("the server refused negotiation with {}, which rdpshim cannot satisfy", code.name()),
        ),
        F::Licensing => Verdict::new(
            V::NoWorkingConfiguration,
            "the licensing exchange failed: the server has no Remote Desktop licence to hand out \
             (check the RD Licensing configuration)",
        ),
        F::TlsOther(alert)
            if alert == BAD_CERTIFICATE
                && *stage == Stage::Tls
                && last.knobs.tls.stack == TlsStack::Openssl =>
        {
            Verdict::new(
                V::NoWorkingConfiguration,
                "the server's certificate cannot be read (malformed, impossible dates, or a chain \
                 too large for any TLS stack); no other TLS version or suite changes that: replace \
                 the Remote Desktop certificate on the server",
            )
        }
        F::Timeout if *stage == Stage::Credssp => Verdict::new(
            V::NoWorkingConfiguration,
            "CredSSP stalled: the server stopped answering during authentication",
        ),
        F::PeerClosed if *stage == Stage::Credssp => Verdict::new(
            V::NoWorkingConfiguration,
            "the server closed the connection during CredSSP before checking credentials: a CredSSP \
             version mismatch (the 2018 'encryption oracle remediation' policy) or a server-side NLA failure",
        ),
        _ => return Ok(()),
    };
    Err(verdict)
}

/// The `tls-other` reason of a server certificate that cannot be read: by the TLS stack
/// (malformed DER, a chain over its size limit) or, after the handshake, by rdpshim.
const BAD_CERTIFICATE: &str = "bad-certificate";

/// Values each dimension may no longer take, learned from every failure so far.
#[derive(Debug, Default)]
struct RuledOut {
    by_name: bool,
    addresses: HashSet<SocketAddr>,
    ip_as_server_name: HashSet<bool>,
    nla: HashSet<bool>,
    tls: Vec<TlsChoice>,
    udp: HashSet<bool>,
}

impl RuledOut {
    fn from_history(policy: &Policy, history: &[Tried]) -> Result<Self, Verdict> {
        let mut ruled = Self::default();
        for (index, tried) in history.iter().enumerate() {
            let Some((stage, class)) = &tried.failure else {
                continue;
            };
            let learned = ruled.learn(policy, tried, *stage, class);
            if !learned && index + 1 == history.len() {
                return Err(give_up(
                    format!("{class} at {stage} is not something another configuration can fix"),
                    tried,
                ));
            }
        }
        Ok(ruled)
    }

    /// Records what one failure proves; `false` if it proves nothing the ladder can use.
    fn learn(
        &mut self,
        policy: &Policy,
        tried: &Tried,
        stage: Stage,
        class: &FailureClass,
    ) -> bool {
        use FailureClass as F;
        let knobs = &tried.knobs;
        match (stage, class) {
            (_, F::Dns) => {
                self.by_name = true;
                true
            }
            (Stage::Tcp, F::TcpRefused | F::TcpTimeout | F::Timeout)
            | (Stage::X224, F::PeerClosed | F::Timeout | F::ProtocolError) => {
                // This address does not speak RDP to us; others might (a dead IPv6 first).
                let by_name = knobs.dial == Dial::ByName && !self.by_name;
                if by_name {
                    self.by_name = true;
                }
                let address = tried.dialled.is_some_and(|a| self.addresses.insert(a));
                by_name || address
            }
            (Stage::X224, F::NegotiationFailure(NegotiationCode::SslRequiredByServer)) => {
                self.nla.insert(true)
            }
            (Stage::X224, F::NegotiationFailure(NegotiationCode::HybridRequiredByServer)) => {
                self.nla.insert(false)
            }
            (_, F::CredentialsRequired) => true,
            (Stage::Tls, F::TlsVersionMismatch) => {
                // Every rung that offers only versions the server just refused is useless.
                let refused = offered_versions(&knobs.tls);
                self.rule_out_tls(|c| offered_versions(c).iter().all(|v| refused.contains(v)))
            }
            (Stage::Tls, F::TlsCipherMismatch) => {
                // The stack's whole suite set was refused; other versions on it share the suites.
                let stack = knobs.tls.stack;
                let ciphers = knobs.tls.ciphers.clone();
                self.rule_out_tls(|c| c.stack == stack && c.ciphers == ciphers)
            }
            (Stage::Tls, F::TlsOther(alert))
                if alert == "unrecognized-name" && !knobs.ip_as_server_name =>
            {
                self.ip_as_server_name.insert(false)
            }
            (Stage::Tls, F::TlsOther(alert))
                if alert == BAD_CERTIFICATE && knobs.tls.stack == TlsStack::Rustls =>
            {
                // No rustls rung reads it (the certificate is the same for every version);
                // OpenSSL reads some that webpki refuses (X.509 v1, chains up to 100 KB).
                self.rule_out_tls(|c| c.stack == TlsStack::Rustls)
            }
            (Stage::Tls, F::PeerClosed | F::Timeout | F::TlsOther(_) | F::ProtocolError) => {
                // The server hung up on this ClientHello; the next rung may suit it.
                let choice = knobs.tls.clone();
                self.rule_out_tls(|c| *c == choice)
            }
            (Stage::Credssp, F::CredsspError)
                if !policy.host_is_ip() && !knobs.ip_as_server_name =>
            {
                // A target name the server cannot match (SPN); the IP literal forces plain NTLM.
                self.ip_as_server_name.insert(false)
            }
            (
                Stage::Mcs | Stage::Capabilities | Stage::FirstFrame,
                F::PeerClosed | F::Timeout | F::ProtocolError,
            ) if knobs.udp => {
                // Servers that offer UDP and then wait for it drop the TCP session when a
                // firewall eats the UDP side.
                self.udp.insert(true)
            }
            _ => false,
        }
    }

    fn rule_out_tls(&mut self, matches: impl Fn(&TlsChoice) -> bool) -> bool {
        let before = self.tls.len();
        let mut candidates = tls_ladder();
        candidates.retain(|c| matches(c) && !self.tls.contains(c));
        self.tls.extend(candidates);
        self.tls.len() > before
    }
}

/// Per dimension, the first value in preference order that is not ruled out.
fn choose(policy: &Policy, history: &[Tried], ruled: &RuledOut) -> Result<Knobs, Verdict> {
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
        first_unique(order, |d| match d {
            Dial::ByName => !ruled.by_name,
            Dial::Ip(address) => !ruled.addresses.contains(address),
        })
        .ok_or_else(|| unreachable_verdict(history))?
    };

    let ip_as_server_name = if policy.pins.server_name || policy.host_is_ip() {
        false
    } else {
        let preferred = profile.map(|p| p.ip_as_server_name).unwrap_or(false);
        first_unique(vec![preferred, false, true], |v| !ruled.ip_as_server_name.contains(v)).ok_or_else(|| {
            Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                "neither the host name nor the IP literal is accepted as the TLS/CredSSP target name",
            )
        })?
    };

    let nla = {
        let order = match (policy.pins.nla, profile) {
            (Some(pinned), _) => vec![pinned],
            (None, Some(p)) => vec![p.nla, true, false],
            (None, None) => vec![true, false],
        };
        first_unique(order, |v| !ruled.nla.contains(v)).ok_or_else(|| {
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
        let order = match (&policy.pins.tls, profile) {
            (Some(pinned), _) => vec![pinned.clone()],
            (None, Some(p)) => std::iter::once(p.tls.clone()).chain(tls_ladder()).collect(),
            (None, None) => tls_ladder(),
        };
        first_unique(order, |c| !ruled.tls.contains(c)).ok_or_else(|| {
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
        let order = match (policy.pins.udp, profile) {
            (Some(pinned), _) => vec![pinned],
            (None, Some(p)) => vec![p.udp, true, false],
            (None, None) => vec![true, false],
        };
        first_unique(order, |v| !ruled.udp.contains(v)).ok_or_else(|| {
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
    })
}

fn first_unique<T: PartialEq>(order: Vec<T>, allowed: impl Fn(&T) -> bool) -> Option<T> {
    order.into_iter().find(|v| allowed(v))
}

fn unreachable_verdict(history: &[Tried]) -> Verdict {
    let classes: Vec<&FailureClass> = history
        .iter()
        .filter_map(|t| t.failure.as_ref().map(|f| &f.1))
        .collect();
    let reason = if classes.iter().all(|c| **c == FailureClass::Dns) {
        "the host name does not resolve and no address is known (give one with --resolve HOST:ADDR)"
            .to_owned()
    } else if classes.contains(&&FailureClass::TcpTimeout) {
        "no address answers on the RDP port: a firewall drops the packets, or the host is down"
            .to_owned()
    } else if classes.contains(&&FailureClass::TcpRefused) {
        "every address refuses the connection: nothing listens on the RDP port, or a firewall rejects it".to_owned()
    } else if classes.contains(&&FailureClass::ProtocolError) {
        "the server answers the X.224 Connection Request with something that is not a valid \
         Connection Confirm: another service on this port, or a broken RDP server"
            .to_owned()
    } else if classes.contains(&&FailureClass::PeerClosed) {
        "the server closes the connection right after the X.224 request: not an RDP server, or one that \
         rejects this client outright"
            .to_owned()
    } else {
        "the server does not answer the X.224 Connection Request".to_owned()
    };
    let kind = if classes.iter().all(|c| {
        matches!(
            c,
            FailureClass::Dns | FailureClass::TcpRefused | FailureClass::TcpTimeout
        )
    }) {
        VerdictKind::Unreachable
    } else {
        VerdictKind::NoWorkingConfiguration
    };
    Verdict::new(kind, reason)
}

fn give_up(reason: String, last: &Tried) -> Verdict {
    let kind = match &last.failure {
        Some((Stage::Dns | Stage::Tcp, _)) => VerdictKind::Unreachable,
        _ => VerdictKind::NoWorkingConfiguration,
    };
    let detail = match &last.failure {
        Some((stage, class)) => format!("{reason}; last failure: {class} at {stage}"),
        None => reason,
    };
    Verdict::new(kind, detail)
}

/// Refuses knobs below the floor, or below the profile's strength without consent.
fn check_policy(policy: &Policy, knobs: &Knobs) -> Result<(), Verdict> {
    let grade = knobs.grade();
    if grade < policy.floor {
        return Err(Verdict::new(
            VerdictKind::RefusedByPolicy,
            format!(
                "the next step would be {} (security {grade}), below --min-security {}",
                describe(knobs),
                policy.floor
            ),
        ));
    }
    if let (Some(profile), false) = (&policy.baseline, policy.accept_downgrade) {
        if let Some(weaker) = weakened_property(profile, knobs) {
            return Err(Verdict::new(
                VerdictKind::RefusedByPolicy,
                format!(
                    "possible downgrade attack: the saved profile connected with {}, but the server now \
                     only leaves {} ({weaker}); re-run with --accept-downgrade if the server really changed",
                    describe(profile),
                    describe(knobs)
                ),
            ));
        }
    }
    Ok(())
}

/// Which security property `now` has weaker than `before`, if any.
pub fn weakened_property(before: &Knobs, now: &Knobs) -> Option<String> {
    if before.nla && !now.nla {
        return Some("NLA turned off".to_owned());
    }
    let (was, is) = (lowest_version(&before.tls), lowest_version(&now.tls));
    if is < was {
        return Some(format!("TLS {} -> TLS {}", was.as_str(), is.as_str()));
    }
    if before.tls.stack == TlsStack::Rustls && now.tls.stack == TlsStack::Openssl {
        return Some("AEAD-only suites -> CBC/RSA suites".to_owned());
    }
    None
}

/// `NLA on, TLS 1.3/1.2 (rustls)` and the like.
pub fn describe(knobs: &Knobs) -> String {
    let versions: Vec<&str> = offered_versions(&knobs.tls)
        .iter()
        .map(|v| v.as_str())
        .collect();
    format!(
        "NLA {}, TLS {} ({})",
        if knobs.nla { "on" } else { "off" },
        versions.join("/"),
        knobs.tls.stack.as_str()
    )
}

/// The downgrades `knobs` carries relative to the strongest configuration, whatever run
/// produced them (a saved profile's configuration is announced on every use).
pub fn downgrades(knobs: &Knobs) -> Vec<Fallback> {
    let mut steps = Vec::new();
    if knobs.tls.stack == TlsStack::Openssl
        && lowest_version(&knobs.tls) >= crate::attempt::TlsVersion::Tls12
    {
        steps.push(Fallback::CipherDowngrade);
    }
    if lowest_version(&knobs.tls) < crate::attempt::TlsVersion::Tls12 {
        steps.push(Fallback::TlsVersionDowngrade);
    }
    if !knobs.nla {
        steps.push(Fallback::NlaOff);
    }
    steps
}

/// The fallbacks that the winning knobs still carry, in the order they were first applied.
pub fn fallbacks_used(first: &Knobs, winner: &Knobs, applied: &[Fallback]) -> Vec<Fallback> {
    let mut used: Vec<Fallback> = Vec::new();
    for step in applied {
        let still_in_effect = match step {
            Fallback::IpForHostname => {
                first.dial != winner.dial || first.ip_as_server_name != winner.ip_as_server_name
            }
            Fallback::TlsVersionDowngrade | Fallback::CipherDowngrade => first.tls != winner.tls,
            Fallback::NlaOff => first.nla && !winner.nla,
            Fallback::NlaOn => !first.nla && winner.nla,
            Fallback::UdpOff => first.udp && !winner.udp,
        };
        if still_in_effect && !used.contains(step) {
            used.push(*step);
        }
    }
    used
}

/// Names the steps between two consecutive attempts. The failure that prompted the step
/// decides between a version and a suite downgrade when the TLS rung changed.
pub fn step_fallbacks(from: &Knobs, to: &Knobs, because: Option<&FailureClass>) -> Vec<Fallback> {
    let mut steps = Vec::new();
    if (from.dial == Dial::ByName && matches!(to.dial, Dial::Ip(_)))
        || (matches!(from.dial, Dial::Ip(_))
            && matches!(to.dial, Dial::Ip(_))
            && from.dial != to.dial)
        || (!from.ip_as_server_name && to.ip_as_server_name)
    {
        steps.push(Fallback::IpForHostname);
    }
    if from.tls != to.tls && Grade::of(true, &to.tls) <= Grade::of(true, &from.tls) {
        let step = match because {
            Some(FailureClass::TlsCipherMismatch) => Fallback::CipherDowngrade,
            Some(FailureClass::TlsVersionMismatch) => Fallback::TlsVersionDowngrade,
            _ if from.tls.stack == TlsStack::Rustls && to.tls.stack == TlsStack::Openssl => {
                Fallback::CipherDowngrade
            }
            _ => Fallback::TlsVersionDowngrade,
        };
        steps.push(step);
    }
    match (from.nla, to.nla) {
        (true, false) => steps.push(Fallback::NlaOff),
        (false, true) => steps.push(Fallback::NlaOn),
        _ => {}
    }
    if from.udp && !to.udp {
        steps.push(Fallback::UdpOff);
    }
    steps
}
