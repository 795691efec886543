//! A TLS channel to a host that is not the RDP server: an RD Gateway (`route::gateway`
//! opens its HTTPS connections here, so the engine stays the only module with sockets and
//! the gateway's TLS goes through the same stacks, versions and suites as the RDP leg's).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::{cert, deadline, dial, tls};
use crate::attempt::TlsChoice;
use crate::report::{CertificateInfo, Failure, FailureClass, Stage, TlsSession};

/// Time limits of [`open_tls_channel`].
#[derive(Debug, Clone, Copy)]
pub struct ChannelLimits {
    pub dns: Duration,
    pub tcp: Duration,
    pub tls: Duration,
}

/// An open TLS connection and what its handshake showed.
pub struct TlsChannel {
    pub stream: tls::BoxStream,
    pub address: SocketAddr,
    pub session: TlsSession,
    pub certificate: CertificateInfo,
}

/// DNS (unless `address` is given), TCP and the TLS handshake with `choice` to
/// `host:port`, SNI `host` (none for an IP literal). Failures carry the engine's stages
/// (`dns`, `tcp`, `tls`) and classes; the caller names the leg.
pub async fn open_tls_channel(
    host: &str,
    port: u16,
    address: Option<SocketAddr>,
    choice: &TlsChoice,
    limits: ChannelLimits,
) -> Result<TlsChannel, Failure> {
    let address = match address {
        Some(address) => address,
        None => dial::resolve(host, port, limits.dns).await?[0],
    };
    let tcp = dial::connect(address, limits.tcp).await?;
    let upgraded = handshake(tcp, choice, host, limits.tls).await?;
    let inspected = inspect(&upgraded.certificate_der)?;
    Ok(TlsChannel {
        stream: upgraded.stream,
        address,
        session: upgraded.session,
        certificate: inspected.info,
    })
}

/// Our TLS upgrade on `stream` within `limit`, failures at the `tls` stage (the RDP leg's
/// and the gateway's handshake alike).
pub(super) async fn handshake<S: tls::AsyncStream + 'static>(
    stream: S,
    choice: &TlsChoice,
    server_name: &str,
    limit: Duration,
) -> Result<tls::Upgraded, Failure> {
    let handshake = async {
        tls::upgrade(stream, choice, server_name)
            .await
            .map_err(|e| Failure::new(Stage::Tls, e.class, e.detail))
    };
    deadline::bounded(
        Stage::Tls,
        limit,
        "TLS handshake did not complete",
        handshake,
    )
    .await
}

/// The presented certificate's facts; an unparsable one is `tls-other (bad-certificate)`,
/// as when the TLS stack itself cannot read it.
pub(super) fn inspect(certificate_der: &[u8]) -> Result<cert::Inspected, Failure> {
    cert::inspect(certificate_der, SystemTime::now())
        .map_err(|e| Failure::new(Stage::Tls, FailureClass::bad_certificate(), e.to_string()))
}
