//! The gateway's HTTPS: its own self-signed certificate, served with rustls (TLS 1.3/1.2,
//! what a current RD Gateway speaks) or, with `--tls legacy`, OpenSSL at security level 0
//! speaking only TLS 1.0 (a Server 2008 R2 / 2012 gateway nobody reconfigured).

use std::pin::Pin;

use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslContext, SslMethod, SslVersion};
use openssl::x509::X509;
use tokio::net::TcpStream;

use crate::Io;

/// Which TLS the gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// rustls, TLS 1.3 and 1.2.
    Modern,
    /// OpenSSL, TLS 1.0 only, `ECDHE-RSA-AES128-SHA:AES128-SHA` at security level 0.
    Legacy,
}

pub enum Acceptor {
    Rustls(tokio_rustls::TlsAcceptor),
    Openssl(SslContext),
}

pub struct ServerTls {
    pub acceptor: Acceptor,
    /// SHA-256 of the certificate, `AB:CD:..`.
    pub fingerprint: String,
}

pub fn make(mode: TlsMode, common_name: &str) -> Result<ServerTls, String> {
    match mode {
        TlsMode::Modern => {
            let modern = rdpshim_test_acceptor::tls::make(common_name, None)?;
            Ok(ServerTls {
                acceptor: Acceptor::Rustls(modern.acceptor),
                fingerprint: modern.fingerprint,
            })
        }
        TlsMode::Legacy => {
            let (cert_der, key_pkcs8, _) = rdpshim_test_acceptor::tls::self_signed(common_name)
                .map_err(|e| format!("certificate: {e}"))?;
            let context =
                legacy_context(&cert_der, &key_pkcs8).map_err(|e| format!("OpenSSL: {e}"))?;
            Ok(ServerTls {
                acceptor: Acceptor::Openssl(context),
                fingerprint: rdpshim_test_acceptor::tls::fingerprint(&cert_der),
            })
        }
    }
}

fn legacy_context(
    cert_der: &[u8],
    key_pkcs8: &[u8],
) -> Result<SslContext, openssl::error::ErrorStack> {
    let mut builder = SslContext::builder(SslMethod::tls_server())?;
    builder.set_security_level(0);
    builder.set_min_proto_version(Some(SslVersion::TLS1))?;
    builder.set_max_proto_version(Some(SslVersion::TLS1))?;
    builder.set_cipher_list("ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0")?;
    let certificate = X509::from_der(cert_der)?;
    builder.set_certificate(&certificate)?;
    let key = PKey::private_key_from_pkcs8(key_pkcs8)?;
    builder.set_private_key(&key)?;
    Ok(builder.build())
}

impl Acceptor {
    pub async fn accept(&self, tcp: TcpStream) -> Result<Box<dyn Io>, String> {
        match self {
            Self::Rustls(acceptor) => acceptor
                .accept(tcp)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>)
                .map_err(|e| format!("TLS (rustls): {e}")),
            Self::Openssl(context) => {
                let ssl = Ssl::new(context).map_err(|e| format!("OpenSSL: {e}"))?;
                let mut stream =
                    tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| format!("OpenSSL: {e}"))?;
                Pin::new(&mut stream)
                    .accept()
                    .await
                    .map_err(|e| format!("TLS (OpenSSL): {e}"))?;
                Ok(Box::new(stream))
            }
        }
    }
}
