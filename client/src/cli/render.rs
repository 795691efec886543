//! Human-readable lines. Only the edge renders for people; everything below returns data.

use rdpshim::attempt::AttemptSpec;
use rdpshim::report::AttemptReport;

/// `attempt 1: 127.0.0.1:3389 (name localhost) nla=on tls=rustls/auto udp=on -> ok at first-frame, 41 ms`
pub fn attempt_line(number: usize, spec: &AttemptSpec, report: &AttemptReport) -> String {
    let address = report
        .address
        .map_or_else(|| format!("{}:{}", spec.host, spec.port), |a| a.to_string());
    let tls = match &report.tls {
        Some(s) => format!(
            "{} TLS {} {}",
            s.stack.as_str(),
            s.version.as_str(),
            s.cipher
        ),
        None => format!(
            "{}/{}{}",
            spec.tls.stack.as_str(),
            spec.tls.version.map_or("auto", |v| v.as_str()),
            spec.tls
                .ciphers
                .as_ref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default()
        ),
    };
    let outcome = match &report.result {
        Ok(c) => format!(
            "ok ({}, {}x{})",
            c.selected_protocol, c.desktop_width, c.desktop_height
        ),
        Err(f) => format!("{} at {}: {}", f.class, f.stage, f.detail),
    };
    format!(
        "attempt {number}: {address} (name {}) nla={} tls={tls} udp={} -> {outcome}, {} ms",
        report.server_name,
        on_off(report.nla),
        on_off(report.udp),
        report.total.as_millis()
    )
}

/// The final summary on stdout.
pub fn summary(spec: &AttemptSpec, report: &AttemptReport) -> String {
    let mut out = String::new();
    match &report.result {
        Ok(c) => {
            out.push_str(&format!(
                "connected to {}:{} via {} in {} ms ({} stages: {})\n",
                spec.host,
                spec.port,
                report.address.map(|a| a.to_string()).unwrap_or_default(),
                report.total.as_millis(),
                report.stages.len(),
                report
                    .stages
                    .iter()
                    .map(|t| format!("{} {:.1}", t.stage, t.elapsed.as_secs_f64() * 1000.0))
                    .collect::<Vec<_>>()
                    .join(", ")
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
                        s.cipher,
                        s.stack.as_str()
                    ))
                    .unwrap_or_default()
            ));
            out.push_str(&format!(
                "  desktop: {}x{}\n",
                c.desktop_width, c.desktop_height
            ));
            if let Some(path) = &c.screenshot {
                out.push_str(&format!("  screenshot: {}\n", path.display()));
            }
        }
        Err(f) => {
            out.push_str(&format!(
                "not connected to {}:{}: {}\n",
                spec.host, spec.port, f
            ));
        }
    }
    if let Some(cert) = &report.certificate {
        out.push_str(&format!(
            "  certificate: {} (issuer {}), valid {} .. {}\n  sha256: {}\n",
            cert.subject, cert.issuer, cert.not_before, cert.not_after, cert.sha256
        ));
    }
    out
}

fn on_off(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}
