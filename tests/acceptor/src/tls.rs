//! Server-side TLS: a fresh self-signed RSA certificate per process, served with rustls
//! (ring provider, TLS 1.2 and 1.3).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

pub struct ServerTls {
    pub acceptor: TlsAcceptor,
    /// Contents of the certificate's SubjectPublicKeyInfo BIT STRING (PKCS#1 RSAPublicKey):
    /// what CredSSP binds to (MS-CSSP 3.1.5).
    pub public_key: Vec<u8>,
    /// SHA-256 of the DER certificate, `AB:CD:..` like `openssl x509 -fingerprint -sha256`.
    pub fingerprint: String,
}

pub fn make(common_name: &str) -> Result<ServerTls, String> {
    let (cert_der, key_pkcs8, public_key) =
        self_signed(common_name).map_err(|e| format!("certificate: {e}"))?;
    let fingerprint = fingerprint(&cert_der);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert_der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8)),
        )
        .map_err(|e| format!("rustls certificate: {e}"))?;

    Ok(ServerTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        public_key,
        fingerprint,
    })
}

/// SHA-256 of a DER certificate, `AB:CD:..` like `openssl x509 -fingerprint -sha256`.
pub fn fingerprint(cert_der: &[u8]) -> String {
    openssl::sha::sha256(cert_der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// (certificate DER, PKCS#8 private key DER, RSAPublicKey DER)
pub type KeyMaterial = (Vec<u8>, Vec<u8>, Vec<u8>);

/// A fresh self-signed RSA 2048 certificate for `common_name`, valid for 30 days.
pub fn self_signed(common_name: &str) -> Result<KeyMaterial, openssl::error::ErrorStack> {
    let rsa = Rsa::generate(2048)?;
    let public_key = rsa.public_key_to_der_pkcs1()?;
    let key = PKey::from_rsa(rsa)?;

    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);

    let mut serial = BigNum::new()?;
    serial.rand(63, openssl::bn::MsbOption::MAYBE_ZERO, false)?;

    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    // An hour of slack for clocks; valid for 30 days.
    let not_before = Asn1Time::from_unix(now - 3600)?;
    let not_after = Asn1Time::from_unix(now + 30 * 86400)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let cert = builder.build();

    Ok((cert.to_der()?, key.private_key_to_pkcs8()?, public_key))
}
