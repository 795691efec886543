//! From outcomes to what they rule out. Every failure class names the values it proves
//! useless (a `protocol_version` alert rules out every rung offering only versions the
//! server just refused; SSL_REQUIRED_BY_SERVER rules out NLA on; a refused address rules out
//! that address), so the rules stay local and every attempt makes progress.
//!
//! Failures on the way through an RD Gateway (its stages, and a tunnel that does not carry
//! RDP) rule out route values ([`crate::route::learn`]); the RDP leg's rules below never see
//! them.
//!
//! Two rules read more than one class:
//!
//! - **Follow the server.** The protocol a server selects is evidence whatever the
//!   attempt's outcome: a selection outside the offer ([`crate::protocol::offered`]) rules
//!   out the NLA value that made the offer, and the selection says which way to go (TLS:
//!   NLA off; HYBRID: NLA on). The next attempt is an announced fallback like any other,
//!   under the same pins, floor and downgrade guard. The ladder's first offer is
//!   TLS|HYBRID|HYBRID_EX ([`crate::Nla::Negotiate`], what mstsc sends): there every
//!   selection but Standard RDP Security and RDSTLS is inside the offer, the attempt goes on
//!   with what the server chose, and no attempt is spent learning it.
//! - **Stop when downgrades cannot help.** A close or time-out at the ClientHello rules out
//!   that hello and puts the most tolerant one ([`crate::rungs::tolerant`]) next; when that
//!   one is closed too, no TLS version or suite would change the outcome, and the run ends
//!   with the cause (`closed-during-tls`, `not-answering`) instead of walking the ladder.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::causes::CauseId;
use crate::failure::{FailureClass, NegotiationCode};
use crate::knobs::{Dial, Knobs, Nla};
use crate::policy::Policy;
use crate::protocol::{was_offered, Protocol};
use crate::route::{self, RouteRuledOut};
use crate::rungs::{offered_versions, rule_out, tolerant};
use crate::stage::Stage;
use crate::tls::{TlsChoice, TlsStack};
use crate::verdict::{give_up, Verdict, VerdictKind};

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
    /// The protocol the server selected in its X.224 Connection Confirm, when it got that
    /// far (also when the attempt failed later, or at the selection itself).
    pub selected: Option<Protocol>,
}

/// Values each dimension may no longer take, learned from every failure so far.
#[derive(Debug, Default)]
pub(crate) struct RuledOut {
    pub by_name: bool,
    pub addresses: BTreeSet<SocketAddr>,
    pub ip_as_server_name: BTreeSet<bool>,
    pub nla: BTreeSet<Nla>,
    pub tls: Vec<TlsChoice>,
    pub udp: BTreeSet<bool>,
    /// ClientHellos the server closed the connection on (or never answered), in order, with
    /// the class: the evidence for "downgrades cannot help".
    pub tls_closed: Vec<(TlsChoice, FailureClass)>,
    /// The route's: the gateway leg's values, or the gateway altogether.
    pub route: RouteRuledOut,
}

impl RuledOut {
    /// Everything the history proves; a verdict when its last failure proves nothing new.
    pub fn from_history(policy: &Policy, history: &[Tried]) -> Result<Self, Verdict> {
        let mut ruled = Self::default();
        for (index, tried) in history.iter().enumerate() {
            let followed = ruled.follow(tried);
            let Some((stage, class)) = &tried.failure else {
                continue;
            };
            let learned = ruled.learn(policy, tried, *stage, class) | followed;
            if !learned && index + 1 == history.len() {
                return Err(give_up(
                    format!("{class} at {stage} is not something another configuration can fix"),
                    tried,
                ));
            }
        }
        ruled.tls_dead_end(policy)?;
        Ok(ruled)
    }

    /// Follows the server's selection: one outside the offer rules out the NLA value that
    /// made the offer, and one that says which way to go (TLS: NLA off; HYBRID: NLA on) rules
    /// out mstsc's offer too, so the next attempt asks for exactly that. `true` if that is
    /// news.
    fn follow(&mut self, tried: &Tried) -> bool {
        match tried.selected {
            Some(selected) if !was_offered(&tried.knobs, selected) => {
                let exact = selected.nla().is_some() && self.nla.insert(Nla::Negotiate);
                self.nla.insert(tried.knobs.nla) | exact
            }
            _ => false,
        }
    }

    /// The most tolerant hello the policy allows, once the server has hung up on a hello.
    pub fn tolerant_next(&self, policy: &Policy) -> Option<TlsChoice> {
        let hello = tolerant(policy.tls_floor());
        (!self.tls_closed.is_empty() && !self.tls.contains(&hello)).then_some(hello)
    }

    /// Ends the run when the server hung up on the most tolerant hello and on another one:
    /// no TLS version or suite would change that.
    fn tls_dead_end(&self, policy: &Policy) -> Result<(), Verdict> {
        let hello = tolerant(policy.tls_floor());
        let on_tolerant = self.tls_closed.iter().find(|(c, _)| *c == hello);
        let on_another = self.tls_closed.iter().any(|(c, _)| *c != hello);
        let Some((_, class)) = on_tolerant.filter(|_| on_another) else {
            return Ok(());
        };
        let cause = if *class == FailureClass::Timeout {
            CauseId::NotAnswering
        } else {
            CauseId::ClosedDuringTls
        };
        Err(Verdict::new(
            VerdictKind::NoWorkingConfiguration,
            cause.title(),
        ))
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
        if let Some(learned) = route::learn(&mut self.route, tried, stage, class) {
            return learned;
        }
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
            // The code says which value the server takes: every other is ruled out, mstsc's
            // offer included (the next attempt asks for exactly what the server requires),
            // and so is the offer that got the refusal (a server that refuses an offer
            // holding what it requires is broken; the run then ends).
            (Stage::X224, F::NegotiationFailure(NegotiationCode::SslRequiredByServer)) => {
                self.rule_out_nla(&[Nla::On, Nla::Negotiate, knobs.nla])
            }
            (Stage::X224, F::NegotiationFailure(NegotiationCode::HybridRequiredByServer)) => {
                self.rule_out_nla(&[Nla::Off, Nla::Negotiate, knobs.nla])
            }
            // The selection itself: `follow` learned from it (Standard RDP Security asked
            // for by no one: NLA is ruled out, TLS is next; asked for TLS: `terminal`).
            (Stage::X224, F::RdpSecuritySelected | F::UnrequestedProtocol(_)) => false,
            (_, F::CredentialsRequired) => true,
            (Stage::Tls, F::TlsVersionMismatch) => {
                // Every rung that offers only versions the server just refused is useless.
                let refused = offered_versions(&knobs.tls);
                self.rule_out_tls(&knobs.tls, |c| {
                    offered_versions(c).iter().all(|v| refused.contains(v))
                })
            }
            (Stage::Tls, F::TlsCipherMismatch) => {
                // The stack's whole suite set was refused; other versions on it share the suites.
                let stack = knobs.tls.stack;
                let ciphers = knobs.tls.ciphers.clone();
                self.rule_out_tls(&knobs.tls, |c| c.stack == stack && c.ciphers == ciphers)
            }
            (Stage::Tls, F::TlsOther(alert))
                if alert == "unrecognized-name" && !knobs.ip_as_server_name =>
            {
                self.ip_as_server_name.insert(false)
            }
            (Stage::Tls, class)
                if class.is_bad_certificate() && knobs.tls.stack == TlsStack::Rustls =>
            {
                // No rustls rung reads it (the certificate is the same for every version);
                // OpenSSL reads some that webpki refuses (X.509 v1, chains up to 100 KB), so
                // it gets one try, and `verdict::terminal` ends the run if it fails too.
                self.rule_out_tls(&knobs.tls, |c| c.stack == TlsStack::Rustls)
            }
            (Stage::Tls, F::PeerClosed | F::Timeout) => {
                // The server hung up on this ClientHello: the most tolerant one is next, and
                // if it hangs up on that one too, `tls_dead_end` ends the run.
                let choice = knobs.tls.clone();
                self.tls_closed.push((choice.clone(), class.clone()));
                self.rule_out_tls(&choice, |c| *c == choice)
            }
            (Stage::Tls, F::TlsOther(_) | F::ProtocolError) => {
                // The server refused this ClientHello; the next rung may suit it.
                let choice = knobs.tls.clone();
                self.rule_out_tls(&choice, |c| *c == choice)
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

    fn rule_out_nla(&mut self, values: &[Nla]) -> bool {
        values
            .iter()
            .fold(false, |news, value| self.nla.insert(*value) | news)
    }

    /// Rules out the choices `matches` picks among the planner's own and `tried` (a pinned
    /// or saved hello the ladder does not have).
    fn rule_out_tls(&mut self, tried: &TlsChoice, matches: impl Fn(&TlsChoice) -> bool) -> bool {
        let mut news = rule_out(&mut self.tls, &matches);
        if matches(tried) && !self.tls.contains(tried) {
            self.tls.push(tried.clone());
            news = true;
        }
        news
    }
}
