//! Warnings for people, derived from what an attempt observed. Pure functions.

use crate::ladder::Run;
use crate::report::CertificateInfo;

/// What a finished run warns about: the last attempt's certificate, a screenshot that was
/// not saved, a UDP multitransport offer that was declined.
pub fn run_warnings(run: &Run) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(report) = run.steps.last().map(|s| &s.report) {
        if let Some(cert) = &report.certificate {
            warnings.extend(certificate_warnings(cert, &report.server_name));
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

/// What is wrong with the server certificate for `server_name`, and what to do about it on
/// the server.
pub fn certificate_warnings(cert: &CertificateInfo, server_name: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if !name_matches(&cert.names, server_name) {
        warnings.push(format!(
            "the server certificate is for {} and not for `{server_name}`: connect by the name in the \
             certificate, or issue the server a certificate that names it",
            if cert.names.is_empty() { "no name".to_owned() } else { cert.names.join(", ") }
        ));
    }
    if cert.expired {
        warnings.push(format!(
            "the server certificate expired on {}: renew the Remote Desktop certificate on the server \
             (delete it from the 'Remote Desktop' store and restart TermService, or fix MachineKeys permissions \
             if Windows cannot regenerate it)",
            cert.not_after
        ));
    }
    if cert.not_yet_valid {
        warnings.push(format!(
            "the server certificate is not valid before {}: check the clock on the server and on this machine",
            cert.not_before
        ));
    }
    if cert.self_signed {
        warnings.push(
            "the server certificate is self-signed: compare its SHA-256 fingerprint with the server's \
             (certlm.msc > Remote Desktop) before trusting it, or deploy a CA-issued Remote Desktop \
             certificate on the server (a Group Policy certificate template)"
                .to_owned(),
        );
    }
    warnings
}

/// RFC 6125 matching, simplified: case-insensitive, `*.` matches exactly one left-most label.
pub fn name_matches(names: &[String], server_name: &str) -> bool {
    let wanted = server_name.trim_end_matches('.').to_ascii_lowercase();
    names.iter().any(|name| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(suffix) => wanted
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => name == wanted,
        }
    })
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

    #[test]
    fn wildcards_match_one_label() {
        let names = vec!["*.corp.example".to_owned(), "10.0.0.5".to_owned()];
        assert!(name_matches(&names, "srv.corp.example"));
        assert!(name_matches(&names, "SRV.corp.example."));
        assert!(!name_matches(&names, "a.srv.corp.example"));
        assert!(!name_matches(&names, "corp.example"));
        assert!(name_matches(&names, "10.0.0.5"));
    }
}
