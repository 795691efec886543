//! Name resolution and the TCP connect, each under its own time limit; several addresses
//! of one name are raced ([`happy_eyeballs`]).

pub mod happy_eyeballs;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::deadline::secs;
use crate::report::{Failure, FailureClass, Stage};

/// Every address the resolver returns for `host:port`, in resolver order (mstsc dials the
/// first; a planner may try the rest).
pub async fn resolve(host: &str, port: u16, limit: Duration) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(limit, lookup).await {
        Err(_) => Err(Failure::new(
            Stage::Dns,
            FailureClass::Timeout,
            format!("resolving `{host}` took longer than {}", secs(limit)),
        )),
        Ok(Err(e)) => Err(Failure::new(
            Stage::Dns,
            FailureClass::Dns,
            format!("`{host}` does not resolve: {e}"),
        )),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(Failure::new(
                    Stage::Dns,
                    FailureClass::Dns,
                    format!("`{host}` resolves to no address"),
                ))
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Connects with `TCP_NODELAY` (RDP is a request/response protocol during the handshake;
/// Nagle would add delayed-ACK stalls to every round trip).
pub async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, Failure> {
    let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return Err(no_answer(addr, limit)),
        Ok(Err(e)) => return Err(classify_connect_error(addr, &e)),
        Ok(Ok(stream)) => stream,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A connect that failed with a reset did get through the TCP handshake: the kernel
/// reports a reset that arrives between the handshake and our first look at the socket as
/// the connect's own error (tokio reads it from SO_ERROR). A server that accepts and resets
/// at once (a proxy or an IPS dropping RDP, a service that is not RDP) is therefore not
/// "nothing listens" (a refusal is ECONNREFUSED): it is a close before the X.224 answer.
pub(crate) fn is_reset_after_accept(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// The connect to `addr` got no answer within `limit`.
fn no_answer(addr: SocketAddr, limit: Duration) -> Failure {
    Failure::new(
        Stage::Tcp,
        FailureClass::TcpTimeout,
        format!(
            "no answer from {addr} within {} (a firewall dropping packets, or a dead host)",
            secs(limit)
        ),
    )
}

fn classify_connect_error(addr: SocketAddr, e: &io::Error) -> Failure {
    if is_reset_after_accept(e) {
        return Failure::new(
            Stage::X224,
            FailureClass::PeerClosed,
            format!(
                "{addr} accepted the TCP connection and reset it before the X.224 exchange ({e})"
            ),
        );
    }
    let (class, why) = match e.kind() {
        io::ErrorKind::ConnectionRefused => (FailureClass::TcpRefused, "connection refused"),
        io::ErrorKind::TimedOut => (FailureClass::TcpTimeout, "timed out"),
        io::ErrorKind::HostUnreachable => (FailureClass::TcpRefused, "host unreachable"),
        io::ErrorKind::NetworkUnreachable => (FailureClass::TcpRefused, "network unreachable"),
        io::ErrorKind::AddrNotAvailable => (FailureClass::TcpRefused, "address not available"),
        _ => (FailureClass::TcpRefused, "connect failed"),
    };
    Failure::new(Stage::Tcp, class, format!("{why}: {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_during_connect_is_a_close_not_a_refusal() {
        let addr: SocketAddr = "127.0.0.1:3389".parse().unwrap();
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
        ] {
            let failure = classify_connect_error(addr, &io::Error::from(kind));
            assert_eq!(
                (failure.stage, failure.class),
                (Stage::X224, FailureClass::PeerClosed)
            );
        }
        let refused =
            classify_connect_error(addr, &io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            (refused.stage, refused.class),
            (Stage::Tcp, FailureClass::TcpRefused)
        );
    }
}
