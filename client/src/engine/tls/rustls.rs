//! The modern stack: rustls, TLS 1.3/1.2, AEAD suites only.
//!
//! Observed against the lab: a TLS 1.0-only server answers our ClientHello with alert
//! `protocol_version`; a TLS 1.2 server offering only AES128-SHA answers with
//! `handshake_failure`. Those two alerts are how the planner tells a version mismatch
//! from a suite mismatch.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, ClientConfig, DigitallySignedStruct, InvalidMessage, PeerIncompatible,
    SignatureScheme,
};
use tokio_rustls::TlsConnector;

use super::{
    is_peer_closed, no_certificate, setup_error, AsyncStream, HandshakeError, TlsConfigError,
    Upgraded,
};
use crate::attempt::{TlsChoice, TlsStack, TlsVersion};
use crate::report::{FailureClass, TlsSession};

/// Builds the client configuration for `choice`; errors are the user's (unknown suite name,
/// a version rustls does not speak).
pub(super) fn client_config(
    choice: &TlsChoice,
    is_ip: bool,
) -> Result<ClientConfig, TlsConfigError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(list) = &choice.ciphers {
        let wanted: Vec<String> = list
            .split([':', ','])
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        let known: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
            return Err(TlsConfigError::UnknownRustlsSuite {
                unknown: unknown.clone(),
                known: known.join(", "),
            });
        }
        provider
            .cipher_suites
            .retain(|s| wanted.contains(&format!("{:?}", s.suite())));
    }

    let versions: &[&rustls::SupportedProtocolVersion] = match choice.version {
        None => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
        Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
        Some(old) => return Err(TlsConfigError::RustlsVersion(old.as_str())),
    };

    let provider = Arc::new(provider);
    let verifier = Arc::new(AcceptAnyCertificate(
        provider.signature_verification_algorithms,
    ));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(TlsConfigError::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // CredSSP binds to the TLS channel and does not support resumption (MS-CSSP 3.1.5).
    config.resumption = rustls::client::Resumption::disabled();
    // No SNI for an IP literal (RFC 6066 3 forbids it; some servers reset on it).
    config.enable_sni = !is_ip;
    Ok(config)
}

pub(super) async fn handshake<S: AsyncStream + 'static>(
    tcp: S,
    choice: &TlsChoice,
    server_name: &str,
    is_ip: bool,
) -> Result<Upgraded, HandshakeError> {
    let config = client_config(choice, is_ip).map_err(setup_error)?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
        setup_error(TlsConfigError::ServerName {
            name: server_name.to_owned(),
            reason: e.to_string(),
        })
    })?;

    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(classify)?;

    let (_, connection) = stream.get_ref();
    let certificate_der = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .ok_or_else(no_certificate)?;
    let (version, cipher) = negotiated(connection);

    Ok(Upgraded {
        stream: Box::new(stream),
        session: TlsSession {
            stack: TlsStack::Rustls,
            version,
            cipher,
        },
        certificate_der,
    })
}

/// The version and suite a rustls connection (client or server side) negotiated, named as
/// reports name them (`TLS13_AES_256_GCM_SHA384`).
pub fn negotiated(state: &rustls::CommonState) -> (TlsVersion, String) {
    let version = match state.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => TlsVersion::Tls13,
        _ => TlsVersion::Tls12,
    };
    let cipher = state
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    (version, cipher)
}

fn classify(error: std::io::Error) -> HandshakeError {
    let tls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    let Some(tls_error) = tls_error else {
        let class = if is_peer_closed(&error) {
            FailureClass::PeerClosed
        } else {
            FailureClass::TlsOther(format!("{:?}", error.kind()))
        };
        return HandshakeError {
            class,
            detail: format!("TLS handshake (rustls): {error}"),
        };
    };

    let class = match &tls_error {
        // A certificate webpki cannot parse (it reads the key to check the handshake
        // signature), or a certificate message over rustls' 64 KB handshake message limit.
        rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        | rustls::Error::InvalidMessage(
            InvalidMessage::HandshakePayloadTooLarge | InvalidMessage::CertificatePayloadTooLarge,
        ) => FailureClass::bad_certificate(),
        // Bytes that are not TLS records (or not the messages they claim to be).
        rustls::Error::InvalidMessage(_) => FailureClass::ProtocolError,
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
        | rustls::Error::PeerIncompatible(
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::SupportedVersionsExtensionRequired,
        ) => FailureClass::TlsVersionMismatch,
        rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        )
        | rustls::Error::PeerIncompatible(
            PeerIncompatible::NoCipherSuitesInCommon
            | PeerIncompatible::NoKxGroupsInCommon
            | PeerIncompatible::NoSignatureSchemesInCommon,
        ) => FailureClass::TlsCipherMismatch,
        rustls::Error::AlertReceived(alert) => FailureClass::TlsOther(alert_name(*alert)),
        other => FailureClass::TlsOther(short_name(other)),
    };
    HandshakeError {
        class,
        detail: format!("TLS handshake (rustls): {tls_error}"),
    }
}

/// `AlertDescription::BadRecordMac` -> `bad-record-mac`.
fn alert_name(alert: AlertDescription) -> String {
    kebab(&format!("{alert:?}"))
}

fn short_name(error: &rustls::Error) -> String {
    let debug = format!("{error:?}");
    let head = debug.split(['(', ' ', '{']).next().unwrap_or("error");
    kebab(head)
}

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// Accepts any server certificate; see the module docs of `tls` for why this is safe here
/// (trust is pinning, decided by the caller, before credentials are sent).
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_are_kebab_case() {
        assert_eq!(alert_name(AlertDescription::BadRecordMac), "bad-record-mac");
        assert_eq!(
            alert_name(AlertDescription::ProtocolVersion),
            "protocol-version"
        );
    }

    #[test]
    fn old_versions_and_unknown_suites_are_usage_errors() {
        let mut choice = TlsChoice::modern();
        choice.version = Some(TlsVersion::Tls10);
        assert!(client_config(&choice, false)
            .unwrap_err()
            .to_string()
            .contains("openssl"));
        choice.version = None;
        choice.ciphers = Some("AES128-SHA".into());
        assert!(client_config(&choice, false)
            .unwrap_err()
            .to_string()
            .contains("AES128-SHA"));
        choice.ciphers = Some("tls13_aes_128_gcm_sha256".into());
        assert!(client_config(&choice, false).is_ok());
    }
}
