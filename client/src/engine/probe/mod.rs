//! Probes for `rdpshim diagnose`: what a server accepts, found without credentials.
//!
//! Reachability first (every address), then, concurrently against the first address that
//! accepts TCP: one X.224 request per security protocol (the NLA one goes on to an NTLM
//! CHALLENGE), the TLS version and suite scan, and the GCC exchange for multitransport.
//! Then what the answers call for: Standard RDP Security's encryption methods when the
//! server accepts it (`rdp_security`), and a TLS handshake without X.224 when no request
//! got a Connection Confirm (a port that speaks TLS straight away is not an RDP server).
//! Every connection holds a permit of a per-host gate, because small servers drop
//! connections beyond a tiny listen backlog (xrdp listens with a backlog of 2), and every
//! network step has a time limit. The findings are plain data; judging them is
//! `crate::diagnose::verdicts`, which does no I/O.

pub mod gateway;
mod gcc;
mod negotiation;
mod ntlm;
mod rdp_security;
mod reach;
mod tls_scan;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::join_all;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::tls::probe::{handshake, Negotiated, Offer};
use crate::attempt::StageTimeouts;
use crate::diagnose::findings::{
    protocol, ExchangeError, Findings, Layer, LayerProbe, MultitransportFinding, NlaFinding,
    Refusal, Tri, UnreadableCertificate, X224Answer,
};
use crate::diagnose::progress::{Phase, Progress};
use crate::report::{Failure, FailureClass, NegotiationCode, Stage};

pub use negotiation::{decode_confirm, encode_request};
pub use ntlm::parse_challenge;
pub(crate) use ntlm::read_challenge;

/// How hard `diagnose` may push one server.
#[derive(Debug, Clone)]
pub struct ProbeLimits {
    pub timeouts: StageTimeouts,
    /// Simultaneous connections to the server.
    pub connections: usize,
    /// Where the probes say what they are doing (for a progress line).
    pub progress: Option<Arc<Progress>>,
}

/// The server being probed, shared by concurrent probes.
pub(crate) struct Target {
    address: SocketAddr,
    /// SNI (none for an IP literal), as mstsc would send it.
    server_name: String,
    timeouts: StageTimeouts,
    gate: Semaphore,
    progress: Option<Arc<Progress>>,
}

impl Target {
    /// `address` under a gate of `limits.connections`, with `server_name` as SNI.
    fn new(address: SocketAddr, server_name: &str, limits: &ProbeLimits) -> Self {
        Self {
            address,
            server_name: server_name.to_owned(),
            timeouts: limits.timeouts,
            gate: Semaphore::new(limits.connections.max(1)),
            progress: limits.progress.clone(),
        }
    }

    /// A TCP connection under the gate; the permit lives as long as the connection.
    async fn connect(&self) -> Result<(tokio::sync::SemaphorePermit<'_>, TcpStream), Refusal> {
        // The gate is never closed; if it were, the probe would be ours to stop.
        let permit = self.gate.acquire().await.map_err(|_| Refusal::Cancelled)?;
        if let Some(progress) = &self.progress {
            progress.connected();
        }
        let stream = super::dial::connect(self.address, self.timeouts.tcp)
            .await
            .map_err(Refusal::Failed)?;
        Ok((permit, stream))
    }

    /// X.224 requesting `requested` (none for a port that speaks TLS straight away, an RD
    /// Gateway's), then one TLS handshake with `offer`.
    async fn tls_handshake(
        &self,
        requested: Option<u32>,
        offer: &Offer,
    ) -> Result<Negotiated, Refusal> {
        let (_permit, mut tcp) = self.connect().await?;
        if let Some(requested) = requested {
            match negotiation::exchange(&mut tcp, requested, self.timeouts.x224).await {
                X224Answer::Selected { selected, .. }
                    if selected & (protocol::SSL | protocol::HYBRID | protocol::HYBRID_EX) != 0 => {
                }
                other => return Err(Refusal::X224(other)),
            }
        }
        let failed = |class, detail| Refusal::Failed(Failure::new(Stage::Tls, class, detail));
        match tokio::time::timeout(self.timeouts.tls, handshake(tcp, offer, &self.server_name))
            .await
        {
            Ok(Ok((negotiated, _stream))) => Ok(negotiated),
            Ok(Err(e)) => Err(failed(e.class, e.detail)),
            Err(_) => Err(failed(
                FailureClass::Timeout,
                "no TLS handshake within the limit".to_owned(),
            )),
        }
    }
}

/// Runs every probe against `host:port`.
pub async fn diagnose(host: &str, port: u16, limits: ProbeLimits) -> Findings {
    let started = Instant::now();
    let t = limits.timeouts;
    let enter = |phase| {
        if let Some(progress) = &limits.progress {
            progress.enter(phase);
        }
    };
    enter(Phase::Reachability);
    let dns = reach::reach_all(host, port, t.dns, t.tcp).await;
    let probed = dns.first_connected();

    let mut findings = Findings {
        host: host.to_owned(),
        port,
        dns,
        probed,
        security_layers: Vec::new(),
        tls: None,
        certificate: None,
        certificate_error: None,
        tls_without_x224: Tri::Unknown,
        rdp_security: None,
        nla: NlaFinding {
            offered: Tri::Unknown,
            required: Tri::Unknown,
            credssp_version: None,
            ntlm: None,
            error: Some("the server was not reached".into()),
        },
        multitransport: MultitransportFinding {
            advertised: Tri::Unknown,
            flags: Vec::new(),
            rdp_version: None,
            detail: Some("the server was not reached".into()),
        },
        gateway: None,
        ms: 0.0,
    };
    let Some(address) = probed else {
        enter(Phase::Done);
        findings.ms = ms_since(started);
        return findings;
    };
    enter(Phase::Probing);

    let target = Arc::new(Target::new(address, host, &limits));
    let requested_tls = protocol::SSL | protocol::HYBRID | protocol::HYBRID_EX;

    // One request first: a server that never answers X.224 costs one time limit, not one
    // per probe.
    let (first, _) = layer_probe(&target, Layer::Tls).await;
    if first.answer == X224Answer::Timeout {
        findings.security_layers = Layer::ALL
            .iter()
            .map(|&layer| {
                if layer == Layer::Tls {
                    first.clone()
                } else {
                    probe_of(layer, X224Answer::NotProbed)
                }
            })
            .collect();
        findings.nla.error = Some("no X.224 answer".into());
        findings.multitransport.detail = Some("no X.224 answer".into());
        enter(Phase::Done);
        findings.ms = ms_since(started);
        return findings;
    }

    let layers = async {
        let mut probes = Vec::new();
        let mut nla_tail = None;
        let others = Layer::ALL
            .into_iter()
            .filter(|&l| l != Layer::Tls)
            .map(|layer| layer_probe(&target, layer));
        for (probe, tail) in join_all(others).await {
            if tail.is_some() {
                nla_tail = tail;
            }
            probes.push(probe);
        }
        probes.insert(
            Layer::ALL
                .iter()
                .position(|&l| l == Layer::Tls)
                .unwrap_or(0),
            first,
        );
        (probes, nla_tail)
    };
    let multitransport = async {
        let _permit = target.gate.acquire().await;
        gcc::probe(address, host, host, t).await
    };
    let ((layers, nla_tail), (scan, scanned_cert), multitransport) = tokio::join!(
        layers,
        tls_scan::scan(target.clone(), Some(requested_tls)),
        multitransport
    );

    let certificate_der =
        scanned_cert.or_else(|| nla_tail.as_ref().and_then(|n| n.certificate.clone()));
    match certificate_der.map(|der| super::cert::details(&der, SystemTime::now())) {
        Some(Ok(details)) => findings.certificate = Some(details),
        Some(Err(e)) => {
            findings.certificate_error = Some(UnreadableCertificate::Unparsable(e.to_string()));
        }
        // No handshake completed; if the stacks refused the certificate itself, say so.
        None => {
            findings.certificate_error = scan.versions.iter().find_map(|v| match &v.refusal {
                Some(Refusal::Failed(failure))
                    if failure.stage == Stage::Tls && failure.class.is_bad_certificate() =>
                {
                    Some(UnreadableCertificate::Refused(failure.clone()))
                }
                _ => None,
            });
        }
    }
    // Past X.224: a handshake was accepted, or one failed for a reason other than X.224.
    let tls_reached = scan.any_accepted()
        || scan.versions.iter().any(|v| {
            v.refusal
                .as_ref()
                .is_some_and(|r| !matches!(r, Refusal::X224(_)))
        });
    findings.tls = tls_reached.then_some(scan);
    findings.nla = nla_finding(&layers, nla_tail);
    findings.multitransport = multitransport;

    let rdp_accepted = layers.iter().any(|p| p.layer == Layer::Rdp && p.accepted);
    if rdp_accepted {
        findings.rdp_security = Some(rdp_security::probe(&target).await);
    }
    let confirmed = layers.iter().any(|p| {
        matches!(
            p.answer,
            X224Answer::Selected { .. }
                | X224Answer::Refused { .. }
                | X224Answer::NoNegotiationData
        )
    });
    if !confirmed {
        findings.tls_without_x224 = tls_without_x224(&target).await;
    }
    findings.security_layers = layers;
    enter(Phase::Done);
    findings.ms = ms_since(started);
    findings
}

/// A TLS handshake straight away, without X.224: does the port speak TLS?
async fn tls_without_x224(target: &Target) -> Tri {
    let Ok((_permit, tcp)) = target.connect().await else {
        return Tri::Unknown;
    };
    match tokio::time::timeout(
        target.timeouts.tls,
        handshake(tcp, &Offer::Anything, &target.server_name),
    )
    .await
    {
        Ok(Ok(_)) => Tri::Yes,
        Ok(Err(_)) | Err(_) => Tri::No,
    }
}

/// What the NLA probe learned after its X.224 exchange.
struct NlaTail {
    certificate: Option<Vec<u8>>,
    result: Result<ntlm::Challenge, ExchangeError>,
}

/// One X.224 request; the NLA one continues to an NTLM CHALLENGE when HYBRID is selected.
async fn layer_probe(target: &Target, layer: Layer) -> (LayerProbe, Option<NlaTail>) {
    let requested = layer.requested();
    let (permit, mut tcp) = match target.connect().await {
        Ok(pair) => pair,
        Err(refusal) => {
            let answer = match refusal {
                // Accepted and reset at once is the server closing on us, not "no TCP".
                Refusal::Failed(failure) if failure.class == FailureClass::PeerClosed => {
                    X224Answer::Closed {
                        detail: failure.detail,
                    }
                }
                Refusal::Failed(failure) => X224Answer::NotConnected {
                    detail: failure.detail,
                },
                other => X224Answer::NotConnected {
                    detail: other.to_string(),
                },
            };
            return (probe_of(layer, answer), None);
        }
    };
    let answer = negotiation::exchange(&mut tcp, requested, target.timeouts.x224).await;
    let hybrid_selected =
        matches!(answer, X224Answer::Selected { selected, .. } if selected == protocol::HYBRID);
    let tail = if layer == Layer::Nla && hybrid_selected {
        Some(nla_tail(target, tcp).await)
    } else {
        None
    };
    drop(permit);
    (probe_of(layer, answer), tail)
}

async fn nla_tail(target: &Target, tcp: TcpStream) -> NlaTail {
    let t = target.timeouts;
    match tokio::time::timeout(t.tls, handshake(tcp, &Offer::Anything, &target.server_name)).await {
        Ok(Ok((negotiated, mut stream))) => NlaTail {
            certificate: Some(negotiated.certificate_der),
            result: ntlm::identify(&mut stream, t.credssp)
                .await
                .map_err(ExchangeError::from),
        },
        Ok(Err(e)) => NlaTail {
            certificate: None,
            result: Err(ExchangeError::Other(format!(
                "TLS before CredSSP: {}",
                e.detail
            ))),
        },
        Err(_) => NlaTail {
            certificate: None,
            result: Err("TLS before CredSSP timed out".into()),
        },
    }
}

fn probe_of(layer: Layer, answer: X224Answer) -> LayerProbe {
    let accepted = matches!(&answer, X224Answer::Selected { selected, .. } if *selected == layer.accepted_when_selected())
        || (layer == Layer::Rdp && answer == X224Answer::NoNegotiationData);
    LayerProbe {
        layer,
        requested: layer.requested(),
        answer,
        accepted,
    }
}

fn nla_finding(layers: &[LayerProbe], tail: Option<NlaTail>) -> NlaFinding {
    let answer = |layer: Layer| layers.iter().find(|p| p.layer == layer);
    let accepted = |layer: Layer| answer(layer).is_some_and(|p| p.accepted);
    let answered = |layer: Layer| {
        answer(layer).is_some_and(|p| {
            matches!(
                p.answer,
                X224Answer::Selected { .. }
                    | X224Answer::Refused { .. }
                    | X224Answer::NoNegotiationData
            )
        })
    };
    let hybrid_required = |layer: Layer| {
        answer(layer).is_some_and(|p| {
            p.answer
                == X224Answer::Refused {
                    code: NegotiationCode::HybridRequiredByServer,
                }
        })
    };
    let offered = if accepted(Layer::Nla) || accepted(Layer::HybridEx) {
        Tri::Yes
    } else if answered(Layer::Nla) {
        Tri::No
    } else {
        Tri::Unknown
    };
    let required = if hybrid_required(Layer::Tls) || hybrid_required(Layer::Rdp) {
        Tri::Yes
    } else if accepted(Layer::Tls) || accepted(Layer::Rdp) {
        Tri::No
    } else {
        Tri::Unknown
    };
    let (credssp_version, ntlm, error) = match tail.map(|t| t.result) {
        Some(Ok(challenge)) => (
            Some(challenge.credssp_version),
            Some(challenge.identity),
            None,
        ),
        Some(Err(e)) => (None, None, Some(e)),
        None if offered == Tri::Yes => {
            (None, None, Some("NLA was offered only as HYBRID_EX".into()))
        }
        None => (None, None, None),
    };
    NlaFinding {
        offered,
        required,
        credssp_version,
        ntlm,
        error,
    }
}

/// For messages: what an X.224 answer was (its `Display`).
pub fn describe(answer: &X224Answer) -> String {
    answer.to_string()
}

fn ms_since(started: Instant) -> f64 {
    crate::report::millis(started.elapsed())
}
