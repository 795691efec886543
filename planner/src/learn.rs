//! From outcomes to what they rule out. Every failure class names the values it proves
//! useless (a `protocol_version` alert rules out every rung offering only versions the
//! server just refused; SSL_REQUIRED_BY_SERVER rules out NLA on; a refused address rules out
//! that address), so the rules stay local and every attempt makes progress.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::failure::{FailureClass, NegotiationCode};
use crate::knobs::{Dial, Knobs};
use crate::policy::Policy;
use crate::rungs::{offered_versions, tls_ladder};
use crate::stage::Stage;
use crate::tls::TlsChoice;
use crate::verdict::{give_up, Verdict};

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

/// Values each dimension may no longer take, learned from every failure so far.
#[derive(Debug, Default)]
pub(crate) struct RuledOut {
    pub by_name: bool,
    pub addresses: BTreeSet<SocketAddr>,
    pub ip_as_server_name: BTreeSet<bool>,
    pub nla: BTreeSet<bool>,
    pub tls: Vec<TlsChoice>,
    pub udp: BTreeSet<bool>,
}

impl RuledOut {
    /// Everything the history proves; a verdict when its last failure proves nothing new.
    pub fn from_history(policy: &Policy, history: &[Tried]) -> Result<Self, Verdict> {
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
