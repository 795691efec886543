//! Every address a name resolves to, and whether each accepts TCP (and how fast).
//!
//! mstsc dials the first address only; a name whose first address is dead (an AAAA record
//! for a host that listens on IPv4 only) fails there although the next address works. So
//! every address is tried, concurrently, each under the TCP time limit.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::super::dial;
use crate::diagnose::findings::{AddressReach, DnsFinding, Reach};

pub async fn reach_all(
    host: &str,
    port: u16,
    dns_limit: Duration,
    tcp_limit: Duration,
) -> DnsFinding {
    let ip_literal = host.parse::<IpAddr>().is_ok();
    let addresses = match dial::resolve(host, port, dns_limit).await {
        Ok(addresses) => addresses,
        Err(failure) => {
            return DnsFinding {
                ip_literal,
                error: Some(failure.detail),
                addresses: Vec::new(),
            };
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (index, address) in addresses.into_iter().enumerate() {
        tasks.spawn(async move { (index, reach(address, tcp_limit).await) });
    }
    let mut reached: Vec<(usize, AddressReach)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(pair) = joined {
            reached.push(pair);
        }
    }
    reached.sort_by_key(|(index, _)| *index);
    DnsFinding {
        ip_literal,
        error: None,
        addresses: reached.into_iter().map(|(_, r)| r).collect(),
    }
}

async fn reach(address: SocketAddr, limit: Duration) -> AddressReach {
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, TcpStream::connect(address)).await;
    let ms = crate::report::millis(started.elapsed());
    let (tcp, detail) = match outcome {
        Ok(Ok(_stream)) => (Reach::Connected, None),
        // Accepted, then reset: reachable; the probes that follow see the close.
        Ok(Err(e)) if dial::is_reset_after_accept(&e) => (
            Reach::Connected,
            Some(format!("accepted, then reset at once ({e})")),
        ),
        Ok(Err(e)) => (reach_of(&e), Some(e.to_string())),
        Err(_) => (
            Reach::Timeout,
            Some(format!("no answer within {:.1} s", limit.as_secs_f64())),
        ),
    };
    AddressReach {
        address,
        tcp,
        ms,
        detail,
    }
}

fn reach_of(error: &io::Error) -> Reach {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => Reach::Refused,
        io::ErrorKind::TimedOut => Reach::Timeout,
        _ => Reach::Unreachable,
    }
}
