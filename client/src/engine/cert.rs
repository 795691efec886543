//! What the server's certificate says, for the report and for CredSSP.

use std::time::SystemTime;

use sha2::{Digest as _, Sha256};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::diagnose::findings::CertificateDetails;
use crate::report::{CertificateInfo, Failure, FailureClass, Stage};

/// A server certificate we cannot read: no pinning, no key for CredSSP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("unparsable server certificate: {0}")]
    Unparsable(String),
}

/// The parsed certificate plus the key CredSSP binds to.
pub struct Inspected {
    pub info: CertificateInfo,
    /// Contents of the SubjectPublicKeyInfo BIT STRING: what MS-CSSP 3.1.5 calls the
    /// server's public key (pubKeyAuth is computed over it).
    pub public_key: Vec<u8>,
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| CertError::Unparsable(e.to_string()))
}

/// Parses a DER certificate. `now` is passed in so that expiry is testable.
pub fn inspect(der: &[u8], now: SystemTime) -> Result<Inspected, CertError> {
    let cert = parse(der)?;
    let now_unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    let self_signed = self_signed(&cert, der);

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
pub fn details(der: &[u8], now: SystemTime) -> Result<CertificateDetails, CertError> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::public_key::PublicKey;

    let info = inspect(der, now)?.info;
    let cert = parse(der)?;
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

/// Issued by itself: the issuer is the subject and, where the signature can be checked,
/// the certificate's own key verifies it. x509-parser verifies with ring, which refuses RSA
/// keys under 2048 bits for SHA-2 signatures (and some algorithms), so a self-signed
/// RSA-1024 certificate (old Windows servers have them) read as "not self-signed": what ring
/// does not confirm, OpenSSL checks (only then, as loading OpenSSL's algorithms costs ~3 MiB
/// of RSS). When the signature cannot be checked at all (an algorithm OpenSSL does not
/// know, a key it cannot load), the names decide; only a signature that does not verify
/// makes a certificate with issuer == subject not self-signed.
fn self_signed(cert: &X509Certificate<'_>, der: &[u8]) -> bool {
    if cert.subject() != cert.issuer() {
        return false;
    }
    if cert.verify_signature(None).is_ok() {
        return true;
    }
    let Ok(x509) = openssl::x509::X509::from_der(der) else {
        return true;
    };
    let Ok(key) = x509.public_key() else {
        return true;
    };
    // Ok(false): the signature does not verify; Err: it could not be checked.
    let verified = x509.verify(&key);
    // OpenSSL keeps errors on a thread-local queue; drain it so none leaks into a later,
    // unrelated error report on this thread.
    let _ = openssl::error::ErrorStack::get();
    verified.unwrap_or(true)
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

    /// Certificates made by `openssl req` (see client/testdata/certs/README.md).
    const RSA1024: &[u8] = include_bytes!("../../testdata/certs/rsa1024.der");
    const RSA1024_SHA1: &[u8] = include_bytes!("../../testdata/certs/rsa1024-sha1.der");
    const RSA2048: &[u8] = include_bytes!("../../testdata/certs/rsa2048.der");
    const EC_P256: &[u8] = include_bytes!("../../testdata/certs/ec-p256.der");
    const EXPIRED: &[u8] = include_bytes!("../../testdata/certs/expired.der");
    const TWIN: &[u8] = include_bytes!("../../testdata/certs/twin-not-self-signed.der");

    /// 2026-12-01, inside every fixture's validity but the expired one's.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_083_200)
    }

    #[test]
    fn self_signed_whatever_the_key_size_or_algorithm() {
        for (name, der, key_type, bits, signature) in [
            ("rsa1024", RSA1024, "RSA", 1024, "sha256WithRSAEncryption"),
            (
                "rsa1024-sha1",
                RSA1024_SHA1,
                "RSA",
                1024,
                "sha1WithRSAEncryption",
            ),
            ("rsa2048", RSA2048, "RSA", 2048, "sha256WithRSAEncryption"),
            ("ec-p256", EC_P256, "EC", 256, "ecdsa-with-SHA256"),
            ("expired", EXPIRED, "RSA", 2048, "sha256WithRSAEncryption"),
        ] {
            let details = details(der, now()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(details.info.self_signed, "{name} is self-signed");
            assert_eq!(details.key_type, key_type, "{name}");
            assert_eq!(details.key_bits, bits, "{name}");
            assert_eq!(details.signature_algorithm, signature, "{name}");
            assert_eq!(details.info.names, vec![format!("{name}.example")]);
        }
    }

    #[test]
    fn the_same_name_signed_by_another_key_is_not_self_signed() {
        let info = inspect(TWIN, now()).unwrap().info;
        assert_eq!(info.subject, info.issuer);
        assert!(!info.self_signed);
    }

    #[test]
    fn a_signature_that_does_not_verify_is_not_self_signed() {
        let mut broken = RSA2048.to_vec();
        let last = broken.len() - 1;
        broken[last] ^= 0x01; // inside the signature BIT STRING, the DER's last field
        assert!(!inspect(&broken, now()).unwrap().info.self_signed);
    }

    #[test]
    fn a_signature_that_cannot_be_checked_leaves_the_names_to_decide() {
        // sha256WithRSAEncryption (1.2.840.113549.1.1.11) made an OID nobody knows, in the
        // TBS and in the outer AlgorithmIdentifier alike.
        let oid = [
            0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B,
        ];
        let mut unknown = RSA2048.to_vec();
        let mut patched = 0;
        let mut at = 0;
        while let Some(found) = unknown[at..].windows(oid.len()).position(|w| w == oid) {
            let end = at + found + oid.len();
            unknown[end - 1] = 0x7F;
            patched += 1;
            at = end;
        }
        assert_eq!(patched, 2);
        assert!(inspect(&unknown, now()).unwrap().info.self_signed);
    }

    #[test]
    fn expiry_is_read_against_the_clock_given() {
        let info = inspect(EXPIRED, now()).unwrap().info;
        assert!(info.expired && !info.not_yet_valid);
        assert!(
            info.not_after.starts_with("2021-01-01"),
            "{}",
            info.not_after
        );
        let in_2020 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_590_000_000);
        assert!(!inspect(EXPIRED, in_2020).unwrap().info.expired);
        let in_2019 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_550_000_000);
        assert!(inspect(EXPIRED, in_2019).unwrap().info.not_yet_valid);
        assert!(!inspect(RSA2048, now()).unwrap().info.expired);
    }
}
