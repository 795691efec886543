//! The client leg up to TLS: the user's RDP client's X.224 Connection Request, the
//! bridge's Confirm (or RDP_NEG_FAILURE), and the TLS handshake with the bridge's own
//! certificate (rustls, TLS 1.3/1.2).
//!
//! Everything read here is bounded: the Connection Request is one TPKT frame (at most
//! 64 KiB by its 16-bit length field) read under the X.224 stage limit.

use std::sync::Arc;

use ironrdp_pdu::nego::{ConnectionConfirm, ConnectionRequest};
use ironrdp_tokio::TokioFramed;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::attempt::TlsVersion;
use crate::engine::framing::Frame;
use crate::engine::tls::{rustls_negotiated, BoxStream};
use crate::engine::{io_failure_from, read_x224, send_x224};
use crate::report::{Failure, FailureClass, Stage};

/// What the client leg's TLS negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    pub version: TlsVersion,
    pub cipher: String,
}

/// Reads the client's Connection Request.
pub async fn read_request(
    framed: &mut TokioFramed<TcpStream>,
) -> Result<ConnectionRequest, Failure> {
    read_x224(framed, Frame::X224Request, "Connection Request", "client").await
}

/// Sends `confirm` (a selection or an RDP_NEG_FAILURE).
pub async fn send_confirm(
    framed: &mut TokioFramed<TcpStream>,
    confirm: ConnectionConfirm,
) -> Result<(), Failure> {
    send_x224(framed, confirm, "Connection Confirm", "client").await
}

/// The TLS handshake as a server. A client that sent bytes before it had the Confirm
/// (`leftover`) is not following the protocol (MS-RDPBCGR 1.3.1.1): refused.
pub async fn accept_tls(
    tcp: TcpStream,
    leftover: &[u8],
    config: Arc<rustls::ServerConfig>,
) -> Result<(BoxStream, ClientTls), Failure> {
    if !leftover.is_empty() {
        return Err(Failure::new(
            Stage::Tls,
            FailureClass::ProtocolError,
            "the client sent data before the X.224 Connection Confirm",
        ));
    }
    let stream = TlsAcceptor::from(config)
        .accept(tcp)
        .await
        .map_err(|e| client_io(Stage::Tls, &e))?;
    let (version, cipher) = rustls_negotiated(stream.get_ref().1);
    Ok((Box::new(stream), ClientTls { version, cipher }))
}

/// A read or write on the client leg failed: the client closed, or sent what TLS refused
/// (classified as the engine classifies the server's).
pub fn client_io(stage: Stage, error: &std::io::Error) -> Failure {
    io_failure_from("client", stage, error)
}
