//! Human-readable lines. Only the edge renders for people; everything below returns data.
//! Text a server (or a profile, or a flag) controls goes through [`escape`] as it is
//! formatted.

use rdpshim::attempt::TlsChoice;
use rdpshim::ladder::{Run, Step};
use rdpshim::planner::{describe, Fallback, Knobs, Nla, VerdictKind};
use rdpshim::report::{AttemptReport, GatewayLeg, Protocol, TlsSession};
use rdpshim::terminal::escape;

/// `attempt 2 [tls-version-downgrade]: 127.0.0.1:3389 (name srv) nla=negotiate->off tls=openssl TLS 1.0 ... -> ok (ssl, 1024x768), 41 ms`
pub fn attempt_line(step: &Step) -> String {
    let report = &step.report;
    let spec = &step.spec;
    let changed = if step.number == 1 {
        "first".to_owned()
    } else if step.fallbacks.is_empty() {
        "retry".to_owned()
    } else {
        join(&step.fallbacks)
    };
    let mut address = report.address.map_or_else(
        || format!("{}:{}", escape(&spec.host), spec.port),
        |a| a.to_string(),
    );
    if let Some(leg) = &report.gateway {
        address.push_str(&format!(" via gateway {}", gateway_words(leg)));
    }
    let tls = tls_words(report.tls.as_ref(), &spec.tls);
    let outcome = match &report.result {
        Ok(c) => format!(
            "ok at first-frame ({}, {}x{})",
            c.selected_protocol, c.desktop_width, c.desktop_height
        ),
        Err(f) => format!(
            "{} at {}: {}",
            escape(&f.class.to_string()),
            f.stage,
            escape(&f.detail)
        ),
    };
    // mstsc's offer shows what the server made of it: `nla=negotiate->off`.
    let nla = match (report.nla, report.selected.and_then(Protocol::nla)) {
        (Nla::Negotiate, Some(used)) => format!("negotiate->{}", on_off(used)),
        (offer, _) => offer.as_str().to_owned(),
    };
    format!(
        "attempt {} [{changed}]: {address} (name {}) nla={nla} tls={tls} udp={} -> {outcome}, {} ms",
        step.number,
        escape(&report.server_name),
        on_off(report.udp),
        report.total.as_millis()
    )
}

/// The progress line shown on a terminal while an attempt runs.
pub fn progress_line(number: usize, knobs: &Knobs, fallbacks: &[Fallback]) -> String {
    let what = if fallbacks.is_empty() {
        String::new()
    } else {
        format!("{}: ", join(fallbacks))
    };
    format!("[attempt {number}] trying {what}{} ...", describe(knobs))
}

/// The final line: which fallbacks won, or the verdict.
pub fn final_line(run: &Run) -> String {
    let attempts = run.steps.len();
    let plural = if attempts == 1 { "attempt" } else { "attempts" };
    let ms = run.elapsed.as_millis();
    match &run.result {
        Ok(success) => {
            let tls = run
                .steps
                .last()
                .and_then(|s| s.report.tls.as_ref())
                .map(|s| format!("TLS {}, {}", s.version.as_str(), s.stack.name()))
                .unwrap_or_default();
            let nla = if success.winner.nla.is_on() {
                "NLA"
            } else {
                "no NLA"
            };
            // Through a gateway, its leg's TLS too (a downgrade may be the gateway's).
            let gateway_tls = run
                .steps
                .last()
                .and_then(|s| s.report.gateway.as_ref())
                .and_then(|leg| leg.tls.as_ref());
            let nla = match gateway_tls {
                Some(s) => format!(
                    "{nla}; through the RD Gateway with TLS {}, {}",
                    s.version.as_str(),
                    s.stack.name()
                ),
                None => nla.to_owned(),
            };
            let carried = rdpshim::planner::downgrades(&success.winner);
            if success.fallbacks.is_empty() && !carried.is_empty() {
                format!(
                    "connected with the saved configuration's {} ({tls}, {nla}) in {attempts} {plural}, {ms} ms",
                    carried.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(" + ")
                )
            } else if success.fallbacks.is_empty() {
                format!(
                    "connected without fallbacks ({tls}, {nla}) in {attempts} {plural}, {ms} ms"
                )
            } else {
                format!(
                    "connected with fallbacks {} ({tls}, {nla}) in {attempts} {plural}, {ms} ms",
                    success
                        .fallbacks
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(" + ")
                )
            }
        }
        Err(verdict) => format!(
            "not connected: {} ({attempts} {plural}, {ms} ms)",
            escape(&verdict.reason)
        ),
    }
}

/// The causes a failed run's attempts proved, with the table's remedies (the words
/// `diagnose` prints), for stderr under the final line.
pub fn verdict_causes(run: &Run) -> String {
    let mut out = String::new();
    let Err(verdict) = &run.result else {
        return out;
    };
    for finding in &verdict.causes {
        let info = finding.id.info();
        out.push_str(&format!(
            "cause {} ({}): {}
  evidence: {}
  server: {}
  client: {}
",
            finding.id,
            info.severity,
            info.title,
            escape(&finding.evidence),
            info.server,
            info.client
        ));
        let taken = |f: &Fallback| run.steps.iter().any(|s| s.fallbacks.contains(f));
        if let Some(fallback) = info.workaround.filter(|f| !taken(f)) {
            // Why not: the floor or the profile's strength said no (the verdict says which),
            // or the run ended on another cause (a pinned knob, a blocking cause the fallback
            // cannot help with) before the fallback could matter.
            let why = if verdict.kind == VerdictKind::RefusedByPolicy {
                "--min-security or the saved profile's strength forbids it"
            } else {
                "a pinned knob, or another cause ended the run first"
            };
            out.push_str(&format!(
                "  the `{fallback}` fallback works around it; not taken in this run ({why})\n"
            ));
        }
    }
    out
}

/// Details after a connection, on stdout.
pub fn summary(report: &AttemptReport) -> String {
    let mut out = String::new();
    if let Ok(c) = &report.result {
        let route = match &report.gateway {
            Some(leg) => format!("through the RD Gateway {}", gateway_words(leg)),
            None => format!(
                "via {}",
                report.address.map(|a| a.to_string()).unwrap_or_default()
            ),
        };
        out.push_str(&format!(
            "connected to {} {route} in {} ms (to first frame {:.1} ms)\n",
            escape(&report.server_name),
            report.total.as_millis(),
            report.connect_to_first_frame().as_secs_f64() * 1000.0,
        ));
        out.push_str(&format!(
            "  security: {}{}\n",
            c.selected_protocol,
            report
                .tls
                .as_ref()
                .map(|s| format!(
                    ", TLS {} ({}, {})",
                    s.version.as_str(),
                    escape(&s.cipher),
                    s.stack.as_str()
                ))
                .unwrap_or_default()
        ));
        out.push_str(&format!(
            "  desktop: {}x{}\n",
            c.desktop_width, c.desktop_height
        ));
        if let Some(path) = &c.screenshot {
            out.push_str(&format!(
                "  screenshot: {}\n",
                escape(&path.display().to_string())
            ));
        }
    }
    let gateway = report.gateway.as_ref().and_then(|g| g.certificate.as_ref());
    for (whose, cert) in [("", report.certificate.as_ref()), ("gateway ", gateway)] {
        if let Some(cert) = cert {
            out.push_str(&format!(
                "  {whose}certificate: {} (issuer {}), valid {} .. {}\n  {whose}sha256: {}\n",
                escape(&cert.subject),
                escape(&cert.issuer),
                escape(&cert.not_before),
                escape(&cert.not_after),
                cert.sha256
            ));
        }
    }
    out
}

/// `gw:443 (openssl TLS 1.0 ECDHE-RSA-AES128-SHA, legacy-http)`: the gateway leg as an
/// attempt line shows it (what it negotiated, else what it asked for).
pub fn gateway_words(leg: &GatewayLeg) -> String {
    let tls = tls_words(leg.tls.as_ref(), &leg.tls_requested);
    let transport = match leg.transport {
        Some(used) => used.as_str(),
        None => leg.transport_requested.as_str(),
    };
    let auth = match leg.auth.scheme() {
        Some(scheme) => format!(", {scheme} only"),
        None => String::new(),
    };
    format!("{} ({tls}, {transport}{auth})", escape(&leg.endpoint))
}

/// `openssl TLS 1.0 ECDHE-RSA-AES128-SHA` when the handshake completed, else what was
/// asked for: `openssl/1.1`, `rustls/auto [SUITES]`.
fn tls_words(session: Option<&TlsSession>, requested: &TlsChoice) -> String {
    match session {
        Some(s) => format!(
            "{} TLS {} {}",
            s.stack.as_str(),
            s.version.as_str(),
            escape(&s.cipher)
        ),
        None => format!(
            "{}/{}{}",
            requested.stack.as_str(),
            requested.version.map_or("auto", |v| v.as_str()),
            requested
                .ciphers
                .as_ref()
                .map(|c| format!(" [{}]", escape(c)))
                .unwrap_or_default()
        ),
    }
}

fn join(fallbacks: &[Fallback]) -> String {
    fallbacks
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

fn on_off(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}
