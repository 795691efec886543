//! The legacy stack: OpenSSL at security level 0, for servers that speak only TLS 1.0/1.1
//! or only CBC suites with RSA key exchange (Server 2008 R2 / 2012 R2 era configurations).
//!
//! Used only when asked for (`--tls-stack openssl`) or by a planner after rustls failed with
//! a version or suite mismatch; every use is a downgrade the caller announces.

use std::pin::Pin;

use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslRef,
    SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use tokio_openssl::SslStream;

use super::{
    is_peer_closed, no_certificate, setup_error, AsyncStream, HandshakeError, TlsConfigError,
    Upgraded,
};
use crate::attempt::{TlsChoice, TlsStack, TlsVersion};
use crate::report::{FailureClass, TlsSession};

/// OpenSSL's own default list with the security level dropped to 0, which re-enables
/// TLS 1.0/1.1, SHA-1 signatures and small RSA keys.
const LEGACY_CIPHERS: &str = "DEFAULT:@SECLEVEL=0";

/// A bare context, not `SslConnector`: the connector loads the system CA bundle (~20 ms per
/// build, measured by the benchmark) for a verification we do not do (trust is pinning).
/// Security level 0, exactly `min..=max` and `cipher_list`; no verification, no resumption.
fn context_builder(
    min: SslVersion,
    max: SslVersion,
    cipher_list: &str,
) -> Result<SslContextBuilder, TlsConfigError> {
    let mut builder = SslContext::builder(SslMethod::tls_client())?;
    builder.set_security_level(0);
    builder
        .set_min_proto_version(Some(min))
        .and_then(|()| builder.set_max_proto_version(Some(max)))
        .map_err(|source| TlsConfigError::OpensslVersions {
            versions: format!("{min:?}..{max:?}"),
            source,
        })?;
    builder
        .set_cipher_list(cipher_list)
        .map_err(|source| TlsConfigError::OpensslCiphers {
            list: cipher_list.to_owned(),
            source,
        })?;
    builder.set_verify(SslVerifyMode::NONE);
    // CredSSP does not support TLS session resumption (MS-CSSP 3.1.5).
    builder.set_session_cache_mode(SslSessionCacheMode::OFF);
    builder.set_options(SslOptions::NO_TICKET);
    Ok(builder)
}

/// The context for an attempt with `choice`.
pub(super) fn connector(choice: &TlsChoice) -> Result<SslContext, TlsConfigError> {
    let (min, max) = match choice.version {
        None => (SslVersion::TLS1, SslVersion::TLS1_2),
        Some(version) => {
            let v = ssl_version(version);
            (v, v)
        }
    };
    let ciphers = match &choice.ciphers {
        // Keep the level-0 marker so a user list of CBC suites is not filtered out again.
        Some(list) if !list.contains("@SECLEVEL") => format!("{list}:@SECLEVEL=0"),
        Some(list) => list.clone(),
        None => LEGACY_CIPHERS.to_owned(),
    };
    Ok(context_builder(min, max, &ciphers)?.build())
}

fn ssl_version(version: TlsVersion) -> SslVersion {
    match version {
        TlsVersion::Tls10 => SslVersion::TLS1,
        TlsVersion::Tls11 => SslVersion::TLS1_1,
        TlsVersion::Tls12 => SslVersion::TLS1_2,
        TlsVersion::Tls13 => SslVersion::TLS1_3,
    }
}

pub(super) async fn handshake<S: AsyncStream + 'static>(
    tcp: S,
    choice: &TlsChoice,
    server_name: &str,
    is_ip: bool,
) -> Result<Upgraded, HandshakeError> {
    let context = connector(choice).map_err(setup_error)?;
    let stream = connect(tcp, &context, server_name, is_ip).await?;

    let ssl = stream.ssl();
    let (certificate_der, version) = negotiated(ssl)?;
    let cipher = ssl
        .current_cipher()
        .map(|c| c.name().to_owned())
        .unwrap_or_default();

    Ok(Upgraded {
        stream: Box::new(stream),
        session: TlsSession {
            stack: TlsStack::Openssl,
            version,
            cipher,
        },
        certificate_der,
    })
}

/// A context for diagnostic handshakes: exactly `versions`, exactly `cipher_list` (TLS 1.2
/// and older) and `tls13_suites`, security level 0 so nothing the server speaks is hidden.
pub(super) fn probe_context(
    versions: (TlsVersion, TlsVersion),
    cipher_list: &str,
    tls13_suites: &str,
) -> Result<SslContext, TlsConfigError> {
    let mut builder = context_builder(
        ssl_version(versions.0),
        ssl_version(versions.1),
        cipher_list,
    )?;
    builder
        .set_ciphersuites(tls13_suites)
        .map_err(|source| TlsConfigError::OpensslCiphers {
            list: tls13_suites.to_owned(),
            source,
        })?;
    Ok(builder.build())
}

/// The leaf certificate (DER) and the version of a completed handshake.
pub(super) fn negotiated(ssl: &SslRef) -> Result<(Vec<u8>, TlsVersion), HandshakeError> {
    let certificate_der = ssl
        .peer_certificate()
        .and_then(|cert| cert.to_der().ok())
        .ok_or_else(no_certificate)?;
    let version = match ssl.version_str() {
        "TLSv1" => TlsVersion::Tls10,
        "TLSv1.1" => TlsVersion::Tls11,
        "TLSv1.3" => TlsVersion::Tls13,
        _ => TlsVersion::Tls12,
    };
    Ok((certificate_der, version))
}

/// The client handshake on `tcp` with `context`; SNI only for names (RFC 6066 3).
pub(super) async fn connect<S: AsyncStream>(
    tcp: S,
    context: &SslContext,
    server_name: &str,
    is_ip: bool,
) -> Result<SslStream<S>, HandshakeError> {
    let mut ssl = Ssl::new(context).map_err(|e| setup_error(e.into()))?;
    if !is_ip {
        ssl.set_hostname(server_name).map_err(|source| {
            setup_error(TlsConfigError::OpensslServerName {
                name: server_name.to_owned(),
                source,
            })
        })?;
    }
    let mut stream = SslStream::new(ssl, tcp).map_err(|e| setup_error(e.into()))?;
    Pin::new(&mut stream).connect().await.map_err(classify)?;
    Ok(stream)
}

/// OpenSSL reports handshake failures as reason strings; these are stable across 1.1 and 3.x.
fn classify(error: openssl::ssl::Error) -> HandshakeError {
    let detail = format!("TLS handshake (OpenSSL): {error}");
    if let Some(io) = error.io_error() {
        let class = if is_peer_closed(io) {
            FailureClass::PeerClosed
        } else {
            FailureClass::TlsOther(format!("{:?}", io.kind()))
        };
        return HandshakeError { class, detail };
    }
    let reasons: Vec<String> = error
        .ssl_error()
        .map(|stack| {
            stack
                .errors()
                .iter()
                .filter_map(|e| e.reason().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // A certificate OpenSSL cannot decode (ASN.1 errors from its decoder, wrapped as
    // "ASN1 lib"), or a certificate list over its 100 KB limit ("excessive message size").
    let unreadable_certificate = error.ssl_error().is_some_and(|stack| {
        stack
            .errors()
            .iter()
            .any(|e| e.library() == Some("asn1 encoding routines"))
    }) || reasons
        .iter()
        .any(|r| r == "ASN1 lib" || r == "excessive message size");
    if unreadable_certificate {
        return HandshakeError {
            class: FailureClass::bad_certificate(),
            detail,
        };
    }
    if reasons.is_empty() && matches!(error.code(), ErrorCode::SYSCALL | ErrorCode::ZERO_RETURN) {
        // EOF without close_notify: the server hung up on our ClientHello.
        return HandshakeError {
            class: FailureClass::PeerClosed,
            detail,
        };
    }
    let has = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    let class = if has("unsupported protocol")
        || has("alert protocol version")
        || has("wrong version number")
        || has("no protocols available")
        || has("version too low")
    {
        FailureClass::TlsVersionMismatch
    } else if has("handshake failure")
        || has("no shared cipher")
        || has("no ciphers available")
        || has("insufficient security")
    {
        FailureClass::TlsCipherMismatch
    } else {
        FailureClass::TlsOther(
            reasons
                .first()
                .map(|r| r.replace(' ', "-"))
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    };
    HandshakeError { class, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_versions_and_bad_cipher_lists() {
        let mut choice = TlsChoice {
            stack: TlsStack::Openssl,
            version: Some(TlsVersion::Tls10),
            ciphers: Some("ECDHE-RSA-AES128-SHA".into()),
        };
        assert!(connector(&choice).is_ok());
        choice.ciphers = Some("NOT-A-CIPHER".into());
        assert!(connector(&choice)
            .unwrap_err()
            .to_string()
            .contains("NOT-A-CIPHER"));
    }
}
