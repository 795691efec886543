//! The bridge's own certificate: what the user's RDP client sees on the client leg.
//!
//! Generated once (RSA 2048, SHA-256, self-signed, CN `rdpshim bridge`, SAN localhost,
//! 127.0.0.1, ::1, ten years) and kept in `<config dir>/bridge/` next to `profiles/`:
//! `certificate.pem` and `key.pem` (0600), in a private directory (0700, refused when it is
//! a link, another user's or writable by others), read and written through
//! `rdpshim_profiles::safe_file` (atomically, never through a link). Keeping it means a client that
//! pinned the fingerprint (FreeRDP `/cert:deny,fingerprint:sha256:...`, or "don't ask
//! again" in mstsc and Windows App) trusts the bridge on the next run too.
//!
//! RSA rather than ECDSA because every RDP client back to Windows 7's mstsc accepts it, and
//! CredSSP binds to the key either way (MS-CSSP 3.1.5: pubKeyAuth over the
//! SubjectPublicKey). A key file that is a symlink, readable by others, or that does not
//! match the certificate is refused with the reason, never replaced: it may be the user's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use rdpshim_profiles::safe_file::{self, Dir, FileError};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use x509_parser::prelude::{FromDer as _, X509Certificate};

pub const CERTIFICATE_FILE: &str = "certificate.pem";
pub const KEY_FILE: &str = "key.pem";
const LOCK_FILE: &str = ".identity.lock";
/// A PEM certificate or RSA key is a few KiB; anything larger is not ours (refused unread).
const MAX_PEM: u64 = 64 * 1024;
const VALID_DAYS: u32 = 3650;

/// Why the bridge has no certificate to show.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The directory, a file in it, or the lock cannot be used (a link, others may read
    /// the key, too large, permissions): `safe_file` says which and why.
    #[error(transparent)]
    File(#[from] FileError),
    /// A file that is there but is not what the bridge wrote; left as it is.
    #[error("{}: {why}", .path.display())]
    Unusable { path: PathBuf, why: String },
    #[error("generating the bridge certificate: {0}")]
    Generate(#[from] openssl::error::ErrorStack),
    #[error("the bridge certificate cannot be used for TLS: {0}")]
    Tls(String),
}

/// The certificate and key, ready for the client leg's TLS and CredSSP.
#[derive(Debug)]
pub struct Identity {
    /// `AB:CD:...`, SHA-256 over the DER, the form FreeRDP's `/cert:...fingerprint:sha256:`
    /// and `openssl x509 -fingerprint -sha256` use.
    pub sha256: String,
    pub certificate_path: PathBuf,
    /// Whether this run generated it (the user sees a new fingerprint).
    pub created: bool,
    /// The SubjectPublicKey BIT STRING contents: what CredSSP's pubKeyAuth covers.
    pub public_key: Vec<u8>,
    tls: Arc<ServerConfig>,
}

impl Identity {
    /// Loads the certificate in `dir`, or generates and stores one when there is none.
    /// Concurrent bridges starting at once agree on one (an exclusive lock in `dir`).
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        let dir = Dir::open_private(path, true)?.ok_or_else(|| FileError::Missing {
            path: path.to_owned(),
        })?;
        let lock = dir.lock(LOCK_FILE)?;

        let certificate_path = dir.join(CERTIFICATE_FILE);
        let key_path = dir.join(KEY_FILE);
        let key = match dir.read_secret(KEY_FILE, MAX_PEM)? {
            Some(pem) => {
                Some(
                    PKey::private_key_from_pem(&pem).map_err(|e| IdentityError::Unusable {
                        path: key_path.clone(),
                        why: format!("not a PEM private key ({e}); move it away to get a new one"),
                    })?,
                )
            }
            None => None,
        };
        let certificate = match dir.read(CERTIFICATE_FILE, MAX_PEM)? {
            Some(pem) => Some(X509::from_pem(&pem).map_err(|e| IdentityError::Unusable {
                path: certificate_path.clone(),
                why: format!("not a PEM certificate ({e}); move it away to get a new one"),
            })?),
            None => None,
        };
        let (certificate, key, created) = match (certificate, key) {
            (Some(certificate), Some(key)) => {
                let matches = certificate
                    .public_key()
                    .map(|public| public.public_eq(&key))
                    .unwrap_or(false);
                if !matches {
                    return Err(IdentityError::Unusable {
                        path: certificate_path,
                        why: format!(
                            "does not belong to {}; move both away to get a new pair",
                            key_path.display()
                        ),
                    });
                }
                (certificate, key, false)
            }
            (Some(_), None) => {
                return Err(IdentityError::Unusable {
                    path: key_path,
                    why: format!(
                        "missing while {} exists; move the certificate away to get a new pair",
                        certificate_path.display()
                    ),
                });
            }
            // A key without its certificate (a crash between the two writes): certify it.
            (None, Some(key)) => {
                let certificate = self_signed(&key)?;
                dir.replace(CERTIFICATE_FILE, &certificate.to_pem()?, safe_file::PRIVATE)?;
                (certificate, key, true)
            }
            (None, None) => {
                let key = PKey::from_rsa(Rsa::generate(2048)?)?;
                dir.replace(
                    KEY_FILE,
                    &key.private_key_to_pem_pkcs8()?,
                    safe_file::PRIVATE,
                )?;
                let certificate = self_signed(&key)?;
                dir.replace(CERTIFICATE_FILE, &certificate.to_pem()?, safe_file::PRIVATE)?;
                (certificate, key, true)
            }
        };
        drop(lock);
        Self::from_parts(&certificate, &key, certificate_path, created)
    }

    fn from_parts(
        certificate: &X509,
        key: &PKey<Private>,
        certificate_path: PathBuf,
        created: bool,
    ) -> Result<Self, IdentityError> {
        let der = certificate.to_der()?;
        let public_key = X509Certificate::from_der(&der)
            .map(|(_, parsed)| parsed.public_key().subject_public_key.data.to_vec())
            .map_err(|e| IdentityError::Tls(format!("unparsable certificate: {e}")))?;
        let tls = server_config(der.clone(), key.private_key_to_pkcs8()?)?;
        Ok(Self {
            sha256: crate::engine::fingerprint(&der),
            certificate_path,
            created,
            public_key,
            tls,
        })
    }

    /// The client leg's TLS configuration.
    pub fn tls_config(&self) -> Arc<ServerConfig> {
        self.tls.clone()
    }
}

/// TLS 1.3 and 1.2 with rustls' AEAD suites: the client leg is modern whatever the server
/// leg needs. No resumption and no tickets: CredSSP binds to one TLS channel (MS-CSSP 3.1.5).
fn server_config(certificate: Vec<u8>, pkcs8: Vec<u8>) -> Result<Arc<ServerConfig>, IdentityError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| IdentityError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certificate)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
        )
        .map_err(|e| IdentityError::Tls(e.to_string()))?;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

fn self_signed(key: &PKey<Private>) -> Result<X509, IdentityError> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "rdpshim bridge")?;
    let name = name.build();

    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(key)?;
    // A day back, so a client whose clock runs a little behind does not call it "not yet valid".
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let not_before = Asn1Time::from_unix(now - 86_400)?;
    let not_after = Asn1Time::days_from_now(VALID_DAYS)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()?,
    )?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .ip("::1")
        .build(&builder.x509v3_context(None, None))?;
    builder.append_extension(san)?;
    let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(ski)?;
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rdpshim-identity-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generated_once_then_reused_with_a_private_key_file() {
        let dir = temp("reuse");
        let first = Identity::load_or_create(&dir).unwrap();
        assert!(first.created);
        assert_eq!(first.sha256.len(), 32 * 3 - 1);
        let second = Identity::load_or_create(&dir).unwrap();
        assert!(!second.created);
        assert_eq!(first.sha256, second.sha256);
        assert_eq!(first.public_key, second.public_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_lost_certificate_is_reissued_for_the_same_key() {
        let dir = temp("reissue");
        let first = Identity::load_or_create(&dir).unwrap();
        std::fs::remove_file(dir.join(CERTIFICATE_FILE)).unwrap();
        let again = Identity::load_or_create(&dir).unwrap();
        assert!(again.created);
        assert_eq!(first.public_key, again.public_key, "same key");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_cannot_be_used_is_refused_and_left_alone() {
        let dir = temp("refuse");
        Identity::load_or_create(&dir).unwrap();
        let key = dir.join(KEY_FILE);

        std::fs::write(dir.join(CERTIFICATE_FILE), b"garbage").unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err().to_string();
        assert!(err.contains("not a PEM certificate"), "{err}");
        assert_eq!(
            std::fs::read(dir.join(CERTIFICATE_FILE)).unwrap(),
            b"garbage"
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::remove_file(dir.join(CERTIFICATE_FILE)).unwrap();
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = Identity::load_or_create(&dir).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");

            let elsewhere = dir.join("elsewhere.pem");
            std::fs::rename(&key, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &key).unwrap();
            let err = Identity::load_or_create(&dir).unwrap_err().to_string();
            assert!(err.contains("symbolic link"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
