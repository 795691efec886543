//! The TLS upgrade after X.224, done here rather than by ironrdp-tls because rdpshim must
//! choose versions and suites per attempt (ironrdp-tls fixes both).
//!
//! Two stacks: rustls for TLS 1.3/1.2 with AEAD suites, OpenSSL at security level 0 for the
//! legacy servers rustls refuses (TLS 1.0/1.1, CBC suites, RSA key exchange). Both accept
//! any certificate: RDP servers are almost always self-signed, so trust is decided by the
//! caller from the [`CertificateInfo`](crate::report::CertificateInfo) we return (pinning),
//! not by a CA chain.

mod openssl;
pub mod probe;
mod rustls;

/// What a rustls session negotiated; the bridge's client leg (a rustls server) reports it too.
pub use self::rustls::negotiated as rustls_negotiated;

use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::attempt::{TlsChoice, TlsStack};
use crate::report::{FailureClass, TlsSession};

/// A byte stream the framed reader can own, whichever stack produced it.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> AsyncStream for T {}

pub type BoxStream = Box<dyn AsyncStream>;

/// A completed handshake.
pub struct Upgraded {
    pub stream: BoxStream,
    pub session: TlsSession,
    /// The leaf certificate, DER.
    pub certificate_der: Vec<u8>,
}

/// A handshake that failed, classified.
#[derive(Debug)]
pub struct HandshakeError {
    pub class: FailureClass,
    pub detail: String,
}

/// TLS knobs a stack cannot apply: the user's (an unknown suite, a version the stack does
/// not speak) or, rarely, the local library's.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("rustls has no cipher suite `{unknown}`; it knows {known} (use --tls-stack openssl for CBC suites)")]
    UnknownRustlsSuite { unknown: String, known: String },
    #[error("rustls does not speak TLS {0}; use --tls-stack openssl")]
    RustlsVersion(&'static str),
    #[error("no usable TLS configuration: {0}")]
    Rustls(::rustls::Error),
    #[error("`{name}` cannot be a TLS server name: {reason}")]
    ServerName { name: String, reason: String },
    #[error("OpenSSL: {0}")]
    Openssl(#[from] ::openssl::error::ErrorStack),
    #[error("OpenSSL cannot pin TLS {versions}: {source}")]
    OpensslVersions {
        versions: String,
        source: ::openssl::error::ErrorStack,
    },
    #[error("OpenSSL rejects the cipher list `{list}`: {source}")]
    OpensslCiphers {
        list: String,
        source: ::openssl::error::ErrorStack,
    },
    #[error("OpenSSL: `{name}` as SNI: {source}")]
    OpensslServerName {
        name: String,
        source: ::openssl::error::ErrorStack,
    },
    #[error("OpenSSL reports no cipher after a completed handshake")]
    NoCipher,
}

/// Checks the TLS knobs without touching the network, so bad flags are a usage error and
/// never look like a server's fault.
pub fn validate(choice: &TlsChoice) -> Result<(), TlsConfigError> {
    match choice.stack {
        TlsStack::Rustls => rustls::client_config(choice, false).map(|_| ()),
        TlsStack::Openssl => openssl::connector(choice).map(|_| ()),
    }
}

/// Runs the TLS handshake on `tcp` with `server_name` as SNI (none for an IP literal).
/// `tcp` is the attempt's metered TCP stream, or any byte stream to the server (an RD
/// Gateway tunnel).
pub async fn upgrade<S: AsyncStream + 'static>(
    tcp: S,
    choice: &TlsChoice,
    server_name: &str,
) -> Result<Upgraded, HandshakeError> {
    let is_ip = server_name.parse::<IpAddr>().is_ok();
    match choice.stack {
        TlsStack::Rustls => rustls::handshake(tcp, choice, server_name, is_ip).await,
        TlsStack::Openssl => openssl::handshake(tcp, choice, server_name, is_ip).await,
    }
}

/// The peer closed or reset the connection mid-handshake: many old servers answer a
/// ClientHello they dislike this way instead of with an alert.
pub(crate) fn is_peer_closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// The handshake completed without a server certificate: nothing to pin, no key for CredSSP.
fn no_certificate() -> HandshakeError {
    HandshakeError {
        class: FailureClass::TlsOther("no-certificate".into()),
        detail: "the server sent no certificate".into(),
    }
}

fn setup_error(error: TlsConfigError) -> HandshakeError {
    HandshakeError {
        class: FailureClass::TlsOther("local-configuration".into()),
        detail: error.to_string(),
    }
}
