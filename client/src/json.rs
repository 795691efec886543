//! The `--json` shape: one object per run. Field names are a public interface (scripts and
//! CI parse them); add fields, do not rename them.

use serde::Serialize;

use crate::diagnose::verdicts::Remedy;
use crate::ladder::Run;
use crate::planner::{offered_protocols, CauseId, Fallback, Finding, Knobs, Severity};
use crate::report::{
    AttemptReport, CertificateInfo, FailureClass, GatewayLeg, Protocol, RaceOutcome, StageTime,
    TransportUsed,
};

#[derive(Debug, Serialize)]
pub struct RunJson<'a> {
    pub host: &'a str,
    pub port: u16,
    pub connected: bool,
    /// Fallbacks the winning configuration carries, in the order applied; empty when the
    /// first attempt worked.
    pub fallbacks: Vec<Fallback>,
    /// Why the run stopped without a connection.
    pub verdict: Option<VerdictJson>,
    /// Milliseconds for the whole run.
    pub ms: f64,
    pub attempts: Vec<AttemptJson<'a>>,
    /// The certificate of the last attempt that completed TLS.
    pub certificate: Option<&'a CertificateInfo>,
    pub desktop: Option<DesktopJson>,
    pub screenshot: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct VerdictJson {
    pub kind: &'static str,
    pub reason: String,
    /// The causes the attempts proved (ids from the table of causes, blocking first), with
    /// the attempts that show each and the same remedies `diagnose` prints.
    pub causes: Vec<CauseJson>,
}

/// A cause from the table with the evidence that proved it.
#[derive(Debug, Serialize)]
pub struct CauseJson {
    pub id: CauseId,
    pub title: &'static str,
    pub severity: Severity,
    pub evidence: String,
    pub remedy: Remedy,
    /// The fallback that works around it, when there is one.
    pub workaround: Option<Fallback>,
}

impl CauseJson {
    pub fn from_finding(finding: &Finding) -> Self {
        let info = finding.id.info();
        Self {
            id: finding.id,
            title: info.title,
            severity: info.severity,
            evidence: finding.evidence.clone(),
            remedy: Remedy {
                server: info.server,
                client: info.client,
            },
            workaround: info.workaround,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DesktopJson {
    pub width: u16,
    pub height: u16,
}

#[derive(Debug, Serialize)]
pub struct AttemptJson<'a> {
    pub number: usize,
    /// Fallbacks this attempt applied relative to the previous one.
    pub changed: Vec<Fallback>,
    /// The address dialled: of several raced, the one that connected (or the first raced).
    pub address: Option<String>,
    /// The addresses a by-name dial raced (Happy Eyeballs), in the order started; empty
    /// when the name had one address or an address was given.
    pub raced: Vec<RacedJson>,
    pub server_name: &'a str,
    /// The security protocols the X.224 request offered: `["ssl", "hybrid", "hybrid-ex"]`
    /// for mstsc's offer (the server chooses), `["hybrid", "hybrid-ex"]` for NLA required,
    /// `["ssl"]` for TLS only.
    pub offered: Vec<Protocol>,
    /// NLA as used: whether the server selected it, once it had; before that, whether it
    /// was offered.
    pub nla: bool,
    pub tls: TlsJson,
    pub udp: bool,
    /// `direct` or `gateway`.
    pub route: &'static str,
    /// Through an RD Gateway: its leg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayJson<'a>>,
    /// Last stage reached.
    pub stage: &'static str,
    /// "ok" or a failure class.
    pub outcome: &'static str,
    /// RDP_NEG_FAILURE code name, for `negotiation-failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// TLS alert or reason, for `tls-other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub detail: String,
    /// The protocol the server selected (`ssl`, `hybrid`, `hybrid-ex`, `rdp`, ...), also
    /// when the attempt failed after (or at) the selection; null before it.
    pub selected_protocol: Option<String>,
    /// Milliseconds for the whole attempt.
    pub ms: f64,
    /// Round trips the attempt waited for (the sum of the stages' `round_trips`).
    pub round_trips: u32,
    /// The measured round trip in ms: the shortest wait for an answer; null when nothing
    /// was answered.
    pub rtt_ms: Option<f64>,
    pub stages: &'a [StageTime],
}

/// The gateway leg of an attempt.
#[derive(Debug, Serialize)]
pub struct GatewayJson<'a> {
    /// `host:port` as given.
    pub endpoint: &'a str,
    pub address: Option<String>,
    pub tls: TlsJson,
    /// The transport asked for: `auto`, `websocket`, `legacy-http`.
    pub transport_requested: &'static str,
    /// The transport the tunnel ran over, when it opened.
    pub transport: Option<TransportUsed>,
    /// The HTTP scheme allowed: `offered`, `ntlm`, `basic`.
    pub auth: &'static str,
    pub certificate: Option<&'a CertificateInfo>,
}

impl<'a> GatewayJson<'a> {
    fn from_leg(leg: &'a GatewayLeg) -> Self {
        Self {
            endpoint: &leg.endpoint,
            address: leg.address.map(|a| a.to_string()),
            tls: TlsJson::of(leg.tls.as_ref(), &leg.tls_requested),
            transport_requested: leg.transport_requested.as_str(),
            transport: leg.transport,
            auth: leg.auth.as_str(),
            certificate: leg.certificate.as_ref(),
        }
    }
}

/// One raced address.
#[derive(Debug, Serialize)]
pub struct RacedJson {
    pub address: String,
    /// `connected`, `abandoned` (still connecting when another connected), or the failure
    /// class (`tcp-refused`, `tcp-timeout`).
    pub outcome: &'static str,
    /// When its connect started, ms from the start of the `tcp` stage.
    pub started_ms: f64,
    /// How long it took to connect or fail, or ran until the race ended.
    pub ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TlsJson {
    pub stack: &'static str,
    /// Negotiated version when the handshake completed, else the requested pin or "auto".
    pub version: String,
    /// Negotiated suite, else the requested list, else null.
    pub cipher: Option<String>,
}

impl TlsJson {
    /// What the handshake negotiated, else what was asked for.
    fn of(
        session: Option<&crate::report::TlsSession>,
        requested: &crate::attempt::TlsChoice,
    ) -> Self {
        match session {
            Some(session) => TlsJson {
                stack: session.stack.as_str(),
                version: session.version.as_str().to_owned(),
                cipher: Some(session.cipher.clone()),
            },
            None => TlsJson {
                stack: requested.stack.as_str(),
                version: requested.version.map_or("auto", |v| v.as_str()).to_owned(),
                cipher: requested.ciphers.clone(),
            },
        }
    }
}

impl<'a> AttemptJson<'a> {
    pub fn from_report(number: usize, changed: Vec<Fallback>, report: &'a AttemptReport) -> Self {
        let tls = TlsJson::of(report.tls.as_ref(), &report.tls_requested);
        let (outcome, code, alert, detail, selected_protocol) = match &report.result {
            Ok(connected) => (
                "ok",
                None,
                None,
                format!(
                    "first frame {}x{}",
                    connected.desktop_width, connected.desktop_height
                ),
                Some(connected.selected_protocol.clone()),
            ),
            Err(failure) => {
                let code = match &failure.class {
                    FailureClass::NegotiationFailure(code) => Some(code.name()),
                    _ => None,
                };
                let alert = match &failure.class {
                    FailureClass::TlsOther(alert) => Some(alert.clone()),
                    _ => None,
                };
                (
                    failure.class.as_str(),
                    code,
                    alert,
                    failure.detail.clone(),
                    report.selected.map(|p| p.as_str().to_owned()),
                )
            }
        };
        Self {
            number,
            changed,
            address: report.address.map(|a| a.to_string()),
            raced: report
                .raced
                .iter()
                .map(|r| RacedJson {
                    address: r.address.to_string(),
                    outcome: r.outcome.as_str(),
                    started_ms: crate::report::millis(r.started),
                    ms: crate::report::millis(r.elapsed),
                    detail: match &r.outcome {
                        RaceOutcome::Failed(failure) => Some(failure.detail.clone()),
                        _ => None,
                    },
                })
                .collect(),
            server_name: &report.server_name,
            offered: offered_protocols(&Knobs {
                nla: report.nla,
                ..Knobs::strongest()
            }),
            nla: report.nla_used(),
            tls,
            udp: report.udp,
            route: if report.gateway.is_some() {
                "gateway"
            } else {
                "direct"
            },
            gateway: report.gateway.as_ref().map(GatewayJson::from_leg),
            stage: report.stage().as_str(),
            outcome,
            code,
            alert,
            detail,
            selected_protocol,
            ms: crate::report::millis(report.total),
            round_trips: report.round_trips(),
            rtt_ms: report.rtt.map(crate::report::millis),
            stages: &report.stages,
        }
    }
}

impl<'a> RunJson<'a> {
    pub fn new(host: &'a str, port: u16, run: &'a Run, warnings: Vec<String>) -> Self {
        let reports: Vec<&AttemptReport> = run.steps.iter().map(|s| &s.report).collect();
        let success = reports.last().and_then(|r| r.result.as_ref().ok());
        Self {
            host,
            port,
            connected: run.result.is_ok(),
            fallbacks: run
                .result
                .as_ref()
                .map(|s| s.fallbacks.clone())
                .unwrap_or_default(),
            verdict: run.result.as_ref().err().map(|v| VerdictJson {
                kind: v.kind.as_str(),
                reason: v.reason.clone(),
                causes: v.causes.iter().map(CauseJson::from_finding).collect(),
            }),
            ms: crate::report::millis(run.elapsed),
            attempts: run
                .steps
                .iter()
                .map(|s| AttemptJson::from_report(s.number, s.fallbacks.clone(), &s.report))
                .collect(),
            certificate: reports.iter().rev().find_map(|r| r.certificate.as_ref()),
            desktop: success.map(|c| DesktopJson {
                width: c.desktop_width,
                height: c.desktop_height,
            }),
            screenshot: success
                .and_then(|c| c.screenshot.as_ref().map(|p| p.display().to_string())),
            warnings,
        }
    }
}
