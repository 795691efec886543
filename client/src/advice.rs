//! Warnings for people, derived from what an attempt observed. Pure functions.

use crate::report::CertificateInfo;

/// What is wrong with the server certificate and what to do about it on the server.
pub fn certificate_warnings(cert: &CertificateInfo) -> Vec<String> {
    let mut warnings = Vec::new();
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
            "the server certificate is self-signed: verify its SHA-256 fingerprint out of band before trusting it"
                .to_owned(),
        );
    }
    warnings
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
        }
    }

    #[test]
    fn expired_certificate_names_the_fix() {
        let w = certificate_warnings(&cert(true, false));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("renew the Remote Desktop certificate"));
        assert!(certificate_warnings(&cert(false, false)).is_empty());
        assert_eq!(certificate_warnings(&cert(true, true)).len(), 2);
    }
}
