//! The fallback ladder: the planner's decisions carried out by the engine, one attempt at a
//! time. The planner decides (pure), the engine connects (I/O); this module only connects
//! the two and keeps the record.

mod spec;

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use crate::attempt::{AttemptSpec, Credentials, StageTimeouts};
use crate::engine::Secured;
use crate::planner::{self, Decision, Fallback, Knobs, Policy, Tried, Verdict, VerdictKind};
use crate::report::AttemptReport;

pub use spec::{gateway_credentials_for, spec_for};

/// What the caller wants connected, and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub host: String,
    pub port: u16,
    pub policy: Policy,
    /// `--server-name`: the TLS/CredSSP name for every attempt.
    pub server_name: Option<String>,
    pub credentials: Option<Credentials>,
    pub timeouts: StageTimeouts,
    pub screenshot: Option<PathBuf>,
    /// The pinned certificate fingerprint (from the profile), unless the user accepted a new one.
    pub pinned_certificate: Option<String>,
    /// The RD Gateway the policy may route through (`policy.gateway` says when).
    pub gateway: Option<GatewayTarget>,
}

/// An RD Gateway in front of the host.
#[derive(Debug, Clone)]
pub struct GatewayTarget {
    pub host: String,
    pub port: u16,
    /// A gateway account of its own (`--gateway-user`: the user and domain; the password
    /// when one was found). `None`: the host's credentials, as mstsc's "use my RD Gateway
    /// credentials for the remote computer".
    pub account: Option<GatewayAccount>,
    /// The gateway certificate's pinned fingerprint, unless the user accepted a new one.
    pub pinned_certificate: Option<String>,
}

/// The gateway's own account.
#[derive(Debug, Clone)]
pub struct GatewayAccount {
    pub username: String,
    pub domain: Option<String>,
    pub password: Option<crate::secret::Password>,
}

impl GatewayTarget {
    /// `host:port` (brackets around an IPv6 literal).
    pub fn endpoint(&self) -> String {
        crate::host::HostPort {
            host: self.host.clone(),
            port: self.port,
        }
        .to_string()
    }
}

/// One attempt of the run.
#[derive(Debug)]
pub struct Step {
    pub number: usize,
    pub knobs: Knobs,
    /// The fallbacks this attempt applied relative to the one before.
    pub fallbacks: Vec<Fallback>,
    pub spec: AttemptSpec,
    pub report: AttemptReport,
}

#[derive(Debug, Clone)]
pub struct Success {
    /// The configuration as the winning attempt used it ([`Knobs::as_used`]): NLA on or off
    /// as the server selected it (never mstsc's offer), and after the legacy hello the TLS
    /// version and suite it negotiated. What the profile, the grade and the exports record.
    pub winner: Knobs,
    /// Fallbacks the winning configuration carries relative to the first attempt, in the
    /// order a connection applies them.
    pub fallbacks: Vec<Fallback>,
}

#[derive(Debug)]
pub struct Run {
    pub steps: Vec<Step>,
    pub result: Result<Success, Verdict>,
    pub elapsed: Duration,
    /// Credentials obtained during the run (the caller may save the password).
    pub credentials: Option<Credentials>,
    /// The gateway's own account's credentials, when it has one and they were found.
    pub gateway_credentials: Option<Credentials>,
}

/// Hooks for the front end: progress, per-attempt lines, and asking for credentials.
pub trait Observer {
    fn starting(&mut self, _number: usize, _knobs: &Knobs, _fallbacks: &[Fallback]) {}
    /// Attempt `number` completed TLS and is about to send over it: `used` is its
    /// configuration as the server settled it (NLA selected, TLS negotiated), whose
    /// downgrades (`planner::downgrades`) are what it gives up. Called before any
    /// credential leaves, so a front end announces them in time.
    fn secured(&mut self, _number: usize, _used: &Knobs) {}
    fn finished(&mut self, _step: &Step) {}
    /// The server needs NLA credentials; `None` when they cannot be had (no terminal).
    fn credentials(&mut self) -> Option<Credentials> {
        None
    }
    /// The RD Gateway `gateway` needs credentials for the account `user` (its own, or the
    /// host's when `user` is `None` and none are known); `None` when they cannot be had.
    fn gateway_credentials(&mut self, _gateway: &str, _user: Option<&str>) -> Option<Credentials> {
        None
    }
}

impl Step {
    /// This attempt's configuration as it went: NLA as the server selected it, the TLS
    /// version and suite negotiated (see [`Knobs::as_used`]).
    pub fn used(&self) -> Knobs {
        used(&self.knobs, &self.report)
    }

    /// What the planner needs to know of this attempt.
    fn tried(&self) -> Tried {
        Tried {
            knobs: self.knobs.clone(),
            with_credentials: self.spec.credentials.is_some(),
            failure: self
                .report
                .result
                .as_ref()
                .err()
                .map(|f| (f.stage, f.class.clone())),
            resolved: self.report.resolved.clone(),
            dialled: self.report.address,
            selected: self.report.selected,
        }
    }
}

/// `knobs` as an attempt with this report used them.
fn used(knobs: &Knobs, report: &AttemptReport) -> Knobs {
    let tls = report
        .tls
        .as_ref()
        .map(|session| (session.version, session.cipher.as_str()));
    knobs.as_used(report.selected, tls)
}

/// Runs the ladder to a connection or a verdict.
pub async fn run(mut request: Request, observer: &mut dyn Observer) -> Run {
    let started = Instant::now();
    let mut steps: Vec<Step> = Vec::new();

    let result = loop {
        let tried: Vec<Tried> = steps.iter().map(Step::tried).collect();
        let elapsed = started.elapsed();
        let decision = planner::next(
            &request.policy,
            &tried,
            request.credentials.is_some(),
            elapsed,
        );
        let (knobs, fallbacks) = match decision {
            Decision::Verdict(verdict) => break Err(verdict),
            Decision::Attempt { knobs, fallbacks } => (knobs, fallbacks),
            Decision::NeedCredentials { knobs, fallbacks } => match observer.credentials() {
                Some(credentials) => {
                    request.credentials = Some(credentials);
                    (knobs, fallbacks)
                }
                None => {
                    let mut verdict = Verdict::new(
                        VerdictKind::AuthFailed,
                        "the server requires NLA and no credentials are available: \
                         give -u USER and a password (--password-stdin, RDPSHIM_PASSWORD, or a terminal)",
                    );
                    verdict.causes = planner::causes::from_history(&tried);
                    break Err(verdict);
                }
            },
        };

        if knobs.route.is_gateway() {
            if let Err(mut verdict) = gateway_credentials(&mut request, observer) {
                verdict.causes = planner::causes::from_history(&tried);
                break Err(verdict);
            }
        }

        let number = steps.len() + 1;
        observer.starting(number, &knobs, &fallbacks);
        let remaining = request.policy.deadline.saturating_sub(started.elapsed());
        let spec = spec_for(&request, &knobs, &tried, remaining);
        let report = crate::route::run_attempt_with(&spec, &mut |secured: Secured<'_>| {
            let session = secured.tls;
            let used = knobs.as_used(
                secured.selected,
                Some((session.version, session.cipher.as_str())),
            );
            observer.secured(number, &used);
        })
        .await;

        let connected = report.is_connected();
        let step = Step {
            number,
            knobs,
            fallbacks,
            spec,
            report,
        };
        observer.finished(&step);
        steps.push(step);

        if connected {
            // `steps` holds at least the attempt just pushed.
            let winner = steps[steps.len() - 1].used();
            break Ok(Success {
                fallbacks: planner::fallbacks_used(&steps[0].knobs, &winner),
                winner,
            });
        }
    };

    Run {
        steps,
        result,
        elapsed: started.elapsed(),
        credentials: request.credentials,
        gateway_credentials: request.gateway.and_then(|g| g.account).and_then(|a| {
            Some(Credentials {
                username: a.username,
                domain: a.domain,
                password: a.password?,
            })
        }),
    }
}

/// Makes sure an attempt through the gateway has credentials for it: the gateway's own
/// account's password, or the host's credentials; asked of the observer when missing (the
/// host's, asked for the gateway, then serve the host too, as in mstsc).
fn gateway_credentials(request: &mut Request, observer: &mut dyn Observer) -> Result<(), Verdict> {
    let Some(gateway) = request.gateway.as_mut() else {
        return Err(Verdict::new(
            VerdictKind::NoWorkingConfiguration,
            "internal: a route through an RD Gateway without a gateway",
        ));
    };
    let endpoint = gateway.endpoint();
    match gateway.account.as_mut() {
        Some(account) if account.password.is_some() => return Ok(()),
        Some(account) => {
            if let Some(given) = observer.gateway_credentials(&endpoint, Some(&account.username)) {
                account.password = Some(given.password);
                return Ok(());
            }
        }
        None if request.credentials.is_some() => return Ok(()),
        None => {
            if let Some(given) = observer.gateway_credentials(&endpoint, None) {
                request.credentials = Some(given);
                return Ok(());
            }
        }
    }
    Err(Verdict::new(
        VerdictKind::AuthFailed,
        format!(
            "the RD Gateway {endpoint} needs credentials and none are available: give -u USER (the \
             host's account serves for the gateway too) or --gateway-user USER, and a password \
             (--password-stdin, RDPSHIM_PASSWORD or RDPSHIM_GATEWAY_PASSWORD, the keyring, or a \
             terminal)"
        ),
    ))
}
