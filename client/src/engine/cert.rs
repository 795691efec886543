//! What the server's certificate says, for the report and for CredSSP.

use std::time::SystemTime;

use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::diagnose::findings::CertificateDetails;
use crate::report::{CertificateInfo, Failure, FailureClass, Stage};

/// The parsed certificate plus the key CredSSP binds to.
pub struct Inspected {
    pub info: CertificateInfo,
    /// Contents of the SubjectPublicKeyInfo BIT STRING: what MS-CSSP 3.1.5 calls the
    /// server's public key (pubKeyAuth is computed over it).
    pub public_key: Vec<u8>,
}

/// Parses a DER certificate. `now` is passed in so that expiry is testable.
pub fn inspect(der: &[u8], now: SystemTime) -> Result<Inspected, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("unparsable server certificate: {e}"))?;
    let now_unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    let self_signed = cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok();

    let info = CertificateInfo {
        sha256: fingerprint(der),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        self_signed,
        expired: now_unix > not_after,
        not_yet_valid: now_unix < not_before,
        names: names(&cert),
    };
    Ok(Inspected {
        info,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// The certificate as `diagnose` reports it: the pinning facts plus the subjectAltName
/// entries, the key and the signature algorithm (a 1024-bit RSA key or a SHA-1 signature is
/// what makes a modern client refuse an otherwise valid certificate).
pub fn details(der: &[u8], now: SystemTime) -> Result<CertificateDetails, String> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::public_key::PublicKey;

    let info = inspect(der, now)?.info;
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("unparsable server certificate: {e}"))?;
    let mut san = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(dns) => san.push(format!("DNS:{dns}")),
                GeneralName::IPAddress(_) => {}
                other => san.push(other.to_string()),
            }
        }
        san.extend(
            names(&cert)
                .into_iter()
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .map(|ip| format!("IP:{ip}")),
        );
    }
    let registry = x509_parser::objects::oid_registry();
    let oid_name = |oid: &x509_parser::der_parser::Oid<'_>| {
        x509_parser::objects::oid2sn(oid, registry)
            .map(str::to_owned)
            .unwrap_or_else(|_| oid.to_id_string())
    };
    let spki = cert.public_key();
    let (key_type, key_bits) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".to_owned(), rsa.key_size()),
        Ok(PublicKey::EC(ec)) => ("EC".to_owned(), ec.key_size()),
        Ok(PublicKey::DSA(y)) => ("DSA".to_owned(), y.len() * 8),
        Ok(other) => (oid_name(&spki.algorithm.algorithm), other.key_size()),
        Err(_) => (oid_name(&spki.algorithm.algorithm), 0),
    };
    Ok(CertificateDetails {
        info,
        san,
        key_type,
        key_bits: u32::try_from(key_bits).unwrap_or(0),
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
    })
}

/// A certificate other than the pinned one stops the connection right after TLS, before
/// CredSSP sends anything (trust on first use: the profile pinned the first one seen).
pub fn check_pin(pinned: Option<&str>, presented: &CertificateInfo) -> Result<(), Failure> {
    match pinned {
        Some(pinned) if !pinned.eq_ignore_ascii_case(&presented.sha256) => Err(Failure::new(
            Stage::Tls,
            FailureClass::CertificateChanged,
            format!(
                "the server certificate changed: pinned {pinned}, presented {}; nothing was sent",
                presented.sha256
            ),
        )),
        _ => Ok(()),
    }
}

/// The names a client may check the server name against: subjectAltName DNS names and IP
/// addresses, or the subject CN when there is no SAN (Windows' self-signed RDP certificates
/// carry only a CN with the machine's FQDN).
fn names(cert: &X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(
                        std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
                    ),
                    16 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(bytes);
                        names.push(std::net::Ipv6Addr::from(octets).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_owned)),
        );
    }
    names
}

/// `AB:CD:...`, the form `openssl x509 -fingerprint -sha256` prints, so users can compare.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_format_matches_openssl() {
        // sha256("") as openssl prints it.
        assert!(fingerprint(b"").starts_with("E3:B0:C4:42:98:FC:1C:14"));
        assert_eq!(fingerprint(b"").len(), 32 * 3 - 1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(inspect(&[0x30, 0x03, 0x02, 0x01], SystemTime::now()).is_err());
        assert!(inspect(&[], SystemTime::now()).is_err());
    }
}
