//! Warnings for people, derived from what an attempt observed. Pure functions. The
//! certificate's are causes from the table of causes, in its words.

use crate::diagnose::names::name_matches;
use crate::ladder::Run;
use crate::planner::{CauseId, Finding};
use crate::report::CertificateInfo;

/// What a finished run warns about: the last attempt's certificate (and its RD Gateway's),
/// a screenshot that was not saved, a UDP multitransport offer that was declined.
pub fn run_warnings(run: &Run) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(step) = run.steps.last() {
        let report = &step.report;
        if let Some(cert) = &report.certificate {
            warnings.extend(certificate_warnings(cert, &report.server_name));
        }
        let gateway = step.spec.gateway.as_ref();
        let leg_cert = report.gateway.as_ref().and_then(|l| l.certificate.as_ref());
        if let (Some(gateway), Some(cert)) = (gateway, leg_cert) {
            warnings.extend(gateway_certificate_warning(cert, &gateway.host));
        }
        if let Ok(connected) = &report.result {
            if let Some(error) = &connected.screenshot_error {
                warnings.push(format!("the screenshot was not saved: {error}"));
            }
            if connected.declined_multitransport {
                warnings.push(
                    "the server offered UDP multitransport; declined, the session stays on TCP"
                        .to_owned(),
                );
            }
        }
    }
    warnings
}

/// What is wrong with the server certificate for `server_name`, as causes from the table
/// (`certificate-name`, `certificate-expired`, `certificate-self-signed`) with the evidence.
pub fn certificate_causes(cert: &CertificateInfo, server_name: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    if !name_matches(&cert.names, server_name) {
        found.push(Finding {
            id: CauseId::CertificateName,
            evidence: format!(
                "the server certificate is for {} and not for `{server_name}`",
                if cert.names.is_empty() {
                    "no name".to_owned()
                } else {
                    cert.names.join(", ")
                }
            ),
        });
    }
    if cert.expired {
        found.push(Finding {
            id: CauseId::CertificateExpired,
            evidence: format!("the server certificate expired on {}", cert.not_after),
        });
    }
    if cert.not_yet_valid {
        found.push(Finding {
            id: CauseId::CertificateExpired,
            evidence: format!(
                "the server certificate is not valid before {} (check both clocks)",
                cert.not_before
            ),
        });
    }
    if cert.self_signed {
        found.push(Finding {
            id: CauseId::CertificateSelfSigned,
            evidence: format!("the server certificate `{}` is self-signed", cert.subject),
        });
    }
    found
}

/// What is wrong with the RD Gateway's certificate for `gateway` (as the client addresses
/// it), as the table's `gateway-certificate` cause: mstsc refuses such a gateway outright.
pub fn gateway_certificate_cause(cert: &CertificateInfo, gateway: &str) -> Option<Finding> {
    let mut problems = Vec::new();
    if !name_matches(&cert.names, gateway) {
        let names = if cert.names.is_empty() {
            "no name".to_owned()
        } else {
            cert.names.join(", ")
        };
        problems.push(format!("it names {names}, not `{gateway}`"));
    }
    if cert.expired {
        problems.push(format!("it expired on {}", cert.not_after));
    }
    if cert.not_yet_valid {
        problems.push(format!("it is not valid before {}", cert.not_before));
    }
    if cert.self_signed {
        problems.push("it is self-signed".to_owned());
    }
    (!problems.is_empty()).then(|| Finding {
        id: CauseId::GatewayCertificate,
        evidence: format!(
            "the RD Gateway's certificate `{}`: {}",
            cert.subject,
            problems.join("; ")
        ),
    })
}

fn gateway_certificate_warning(cert: &CertificateInfo, gateway: &str) -> Option<String> {
    let f = gateway_certificate_cause(cert, gateway)?;
    Some(format!(
        "{} ({}): {}; on the gateway: {}",
        f.id,
        f.id.severity(),
        f.evidence,
        f.id.info().server
    ))
}

/// The warnings for people: each certificate cause with its evidence and the remedy on the
/// server, in the table's words.
pub fn certificate_warnings(cert: &CertificateInfo, server_name: &str) -> Vec<String> {
    certificate_causes(cert, server_name)
        .iter()
        .map(|f| {
            format!(
                "{} ({}): {}; on the server: {}",
                f.id,
                f.id.severity(),
                f.evidence,
                f.id.info().server
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(expired: bool, self_signed: bool) -> CertificateInfo {
        CertificateInfo {
            sha256: "AA".into(),
            subject: "CN=x".into(),
            issuer: "CN=x".into(),
            not_before: "2020-01-01T00:00:00Z".into(),
            not_after: "2021-01-01T00:00:00Z".into(),
            self_signed,
            expired,
            not_yet_valid: false,
            names: vec!["x".into()],
        }
    }

    #[test]
    fn expired_certificate_names_the_fix() {
        let w = certificate_warnings(&cert(true, false), "x");
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("certificate-expired (conditional): "));
        assert!(w[0].contains("renew the Remote Desktop certificate"));
        assert!(certificate_warnings(&cert(false, false), "x").is_empty());
        assert_eq!(certificate_warnings(&cert(true, true), "x").len(), 2);
    }

    #[test]
    fn name_mismatch_is_reported() {
        let w = certificate_warnings(&cert(false, false), "other.example");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("not for `other.example`"));
    }
}
