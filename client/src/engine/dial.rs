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
