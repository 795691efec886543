//! Diagnostic handshakes: one exact offer (a version, a suite list) per handshake, so a
//! scan can learn every version and suite the server accepts.
//!
//! OpenSSL at security level 0 speaks everything a server may (TLS 1.0 to 1.3, CBC, RSA key
//! exchange, 3DES); rustls is what a modern client offers. Scanning with both means a suite
//! is listed whenever either stack can complete a handshake with it, and the report can say
//! which of them did.

use std::net::IpAddr;

use tokio::net::TcpStream;

use super::{openssl, rustls, BoxStream, HandshakeError, Upgraded};
use crate::attempt::{TlsChoice, TlsStack, TlsVersion};
use crate::report::FailureClass;

/// Everything OpenSSL knows for TLS 1.2 and older, NULL and export suites included (what
/// `sslscan` offers).
pub const OPENSSL_ALL: &str = "ALL:COMPLEMENTOFALL";

/// Every TLS 1.3 suite OpenSSL implements (the CCM ones are off by default).
pub const OPENSSL_TLS13_ALL: [&str; 5] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
];

/// What one diagnostic handshake offers.
#[derive(Debug, Clone)]
pub enum Offer {
    /// OpenSSL, one version, a cipher string (TLS 1.2 and older) or a TLS 1.3 suite list.
    Openssl {
        version: TlsVersion,
        cipher_list: String,
        tls13_suites: String,
    },
    /// rustls, one version, these suites (rustls names).
    Rustls {
        version: TlsVersion,
        suites: Vec<String>,
    },
    /// Anything either end could agree on: OpenSSL, TLS 1.0 to 1.3, every suite. For
    /// probes that need a TLS channel, not facts about TLS.
    Anything,
}

/// The suite a handshake settled on.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub stack: TlsStack,
    pub version: TlsVersion,
    /// The stack's own name (OpenSSL: `ECDHE-RSA-AES128-SHA`; rustls: `TLS13_AES_128_GCM_SHA256`).
    pub name: String,
    pub iana: String,
    pub aead: bool,
    pub forward_secrecy: bool,
    pub bits: u32,
    pub certificate_der: Vec<u8>,
}

/// Every suite rustls (with ring) implements for `version`, by rustls name.
pub fn rustls_suites(version: TlsVersion) -> Vec<String> {
    let v13 = version == TlsVersion::Tls13;
    ::rustls::crypto::ring::default_provider()
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_some() == v13)
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

/// Runs one handshake with `offer` on `tcp` and returns what was agreed and the stream.
pub async fn handshake(
    tcp: TcpStream,
    offer: &Offer,
    server_name: &str,
) -> Result<(Negotiated, BoxStream), HandshakeError> {
    let is_ip = server_name.parse::<IpAddr>().is_ok();
    match offer {
        Offer::Rustls { version, suites } => {
            let choice = TlsChoice {
                stack: TlsStack::Rustls,
                version: Some(*version),
                ciphers: Some(suites.join(":")),
            };
            let Upgraded {
                stream,
                session,
                certificate_der,
            } = rustls::handshake(tcp, &choice, server_name, is_ip).await?;
            let iana = match session.cipher.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => session.cipher.clone(),
            };
            let bits = if session.cipher.contains("_256_") || session.cipher.contains("CHACHA20") {
                256
            } else {
                128
            };
            let negotiated = Negotiated {
                stack: TlsStack::Rustls,
                version: session.version,
                name: session.cipher,
                iana,
                aead: true,
                forward_secrecy: true,
                bits,
                certificate_der,
            };
            Ok((negotiated, stream))
        }
        Offer::Openssl {
            version,
            cipher_list,
            tls13_suites,
        } => {
            let context = openssl::probe_context((*version, *version), cipher_list, tls13_suites)
                .map_err(super::setup_error)?;
            openssl_handshake(tcp, &context, server_name, is_ip).await
        }
        Offer::Anything => {
            let list = format!("{OPENSSL_ALL}:@SECLEVEL=0");
            let context = openssl::probe_context(
                (TlsVersion::Tls10, TlsVersion::Tls13),
                &list,
                &OPENSSL_TLS13_ALL.join(":"),
            )
            .map_err(super::setup_error)?;
            openssl_handshake(tcp, &context, server_name, is_ip)
                .await
                .map_err(not_tls)
        }
    }
}

/// A ClientHello offering TLS 1.0 to 1.3 cannot meet a version mismatch from a TLS
/// server: OpenSSL says "wrong version number" there when the answer's record header is not
/// TLS at all (another protocol, or random bytes).
fn not_tls(error: HandshakeError) -> HandshakeError {
    match error.class {
        FailureClass::TlsVersionMismatch => HandshakeError {
            class: FailureClass::ProtocolError,
            detail: format!(
                "the answer to a ClientHello offering TLS 1.0 to 1.3 is not TLS ({})",
                error.detail
            ),
        },
        _ => error,
    }
}

async fn openssl_handshake(
    tcp: TcpStream,
    context: &::openssl::ssl::SslContext,
    server_name: &str,
    is_ip: bool,
) -> Result<(Negotiated, BoxStream), HandshakeError> {
    let stream = openssl::connect(tcp, context, server_name, is_ip).await?;
    let ssl = stream.ssl();
    let (certificate_der, version) = openssl::negotiated(ssl)?;
    let Some(cipher) = ssl.current_cipher() else {
        return Err(super::setup_error(super::TlsConfigError::NoCipher));
    };
    let description = cipher.description();
    let field = |key: &str| {
        description
            .split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .unwrap_or("")
            .to_owned()
    };
    let kx = field("Kx=");
    let negotiated = Negotiated {
        stack: TlsStack::Openssl,
        version,
        name: cipher.name().to_owned(),
        iana: cipher.standard_name().unwrap_or(cipher.name()).to_owned(),
        aead: field("Mac=") == "AEAD",
        forward_secrecy: matches!(kx.as_str(), "ECDH" | "DH" | "any" | "ECDHEPSK" | "DHEPSK"),
        bits: u32::try_from(cipher.bits().secret).unwrap_or(0),
        certificate_der,
    };
    Ok((negotiated, Box::new(stream)))
}
