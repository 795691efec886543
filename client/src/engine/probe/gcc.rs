//! Does the server advertise UDP multitransport? Only its MCS Connect Response says so
//! (Server Multitransport Channel Data, MS-RDPBCGR 2.2.1.4.6), and only to a client that
//! advertised it first. So: X.224 selecting TLS, a TLS handshake, our Connect Initial with
//! the UDP flags mstsc sends, and the server's Connect Response decoded. The Server Core
//! Data in the same response carries the server's RDP version.
//!
//! Without NLA this needs no credentials; a server that requires NLA only gets this far
//! after authentication, so for it the answer is "cannot tell".

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ironrdp_connector::{ClientConnector, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::gcc::ServerGccBlocks;
use ironrdp_pdu::mcs::ConnectResponse;
use ironrdp_pdu::x224::{X224Data, X224};
use ironrdp_tokio::{mark_as_upgraded, skip_connect_begin, FramedWrite as _, TokioFramed};

use super::super::framing::{self, FrameError};
use super::super::tls::probe::{handshake, Offer};
use super::super::{connector_config, dial, x224};
use crate::attempt::{AttemptSpec, Nla, StageTimeouts};
use crate::diagnose::findings::{ExchangeError, MultitransportFinding, Tri};
use crate::report::{FailureClass, NegotiationCode};

/// Why the exchange gave no Connect Response to read.
#[derive(Debug, thiserror::Error)]
enum GccError {
    /// The TCP connection (its failure's detail).
    #[error("{0}")]
    Connect(String),
    #[error("the server requires NLA: it sends its GCC data only after authentication")]
    NlaRequired,
    #[error("X.224 with TLS: {0}")]
    X224(String),
    #[error("TLS handshake timed out")]
    TlsTimeout,
    #[error("TLS handshake: {0}")]
    Tls(String),
    #[error("building the MCS Connect Initial: {0}")]
    Build(String),
    #[error("the connector expects no Connect Response")]
    NoResponseExpected,
    #[error("no MCS Connect Response in time")]
    Timeout,
    /// The server hung up on the TLS channel instead of answering (`closed-after-tls`).
    #[error("no MCS Connect Response ({0})")]
    ClosedAfterTls(io::Error),
    #[error("MCS Connect Initial/Response: {0}")]
    Exchange(FrameError),
    #[error("MCS Connect Response: {0}")]
    Decode(String),
}

impl From<GccError> for ExchangeError {
    fn from(error: GccError) -> Self {
        match error {
            GccError::ClosedAfterTls(_) => Self::ClosedAfterTls(error.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

/// Runs the exchange against `address`; never fails, the finding says what was learned.
pub async fn probe(
    address: SocketAddr,
    host: &str,
    server_name: &str,
    timeouts: StageTimeouts,
) -> MultitransportFinding {
    match exchange(address, host, server_name, timeouts).await {
        Ok(blocks) => {
            let flags: Vec<String> = blocks
                .multi_transport_channel
                .as_ref()
                .map(|m| m.flags.iter_names().map(|(n, _)| n.to_owned()).collect())
                .unwrap_or_default();
            MultitransportFinding {
                advertised: if flags.is_empty() { Tri::No } else { Tri::Yes },
                flags,
                rdp_version: Some(rdp_version(blocks.core.version.0)),
                detail: None,
            }
        }
        Err(error) => MultitransportFinding {
            advertised: Tri::Unknown,
            flags: Vec::new(),
            rdp_version: None,
            detail: Some(error.into()),
        },
    }
}

async fn exchange(
    address: SocketAddr,
    host: &str,
    server_name: &str,
    t: StageTimeouts,
) -> Result<ServerGccBlocks, GccError> {
    let mut spec = AttemptSpec::strongest(host, address.port());
    spec.nla = Nla::Off;
    spec.udp = true;
    spec.server_name = Some(server_name.to_owned());

    let tcp = dial::connect(address, t.tcp)
        .await
        .map_err(|f| GccError::Connect(f.detail))?;
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    let mut connector = ClientConnector::new(connector_config::build(&spec), local);
    let mut framed = TokioFramed::new(tcp);
    if let Err(failure) = x224::negotiate(&mut framed, &mut connector, t.x224).await {
        return Err(match failure.class {
            FailureClass::NegotiationFailure(NegotiationCode::HybridRequiredByServer) => {
                GccError::NlaRequired
            }
            _ => GccError::X224(failure.detail),
        });
    }
    let (tcp, leftover) = framed.into_inner();
    let (_, stream) = tokio::time::timeout(t.tls, handshake(tcp, &Offer::Anything, server_name))
        .await
        .map_err(|_| GccError::TlsTimeout)?
        .map_err(|e| GccError::Tls(e.detail))?;
    let should_upgrade = skip_connect_begin(&mut connector);
    let _ = mark_as_upgraded(should_upgrade, &mut connector);
    let mut framed = TokioFramed::new_with_leftover(stream, leftover);

    let mut buf = WriteBuf::new();
    let written = connector
        .step_no_input(&mut buf)
        .map_err(|e| GccError::Build(e.to_string()))?;
    let hint = connector
        .next_pdu_hint()
        .ok_or(GccError::NoResponseExpected)?;
    let read = async {
        if let Some(len) = written.size() {
            framed.write_all(&buf[..len]).await?;
        }
        framing::read_wanted(&mut framed, hint).await
    };
    let pdu = tokio::time::timeout(t.connection, read)
        .await
        .map_err(|_| GccError::Timeout)?
        .map_err(|e| match e {
            FrameError::Io(io) if super::super::tls::is_peer_closed(&io) => {
                GccError::ClosedAfterTls(io)
            }
            other => GccError::Exchange(other),
        })?;

    let x224 = ironrdp_core::decode::<X224<X224Data<'_>>>(&pdu)
        .map_err(|e| GccError::Decode(e.to_string()))?;
    let response = ironrdp_core::decode::<ConnectResponse>(x224.0.data.as_ref())
        .map_err(|e| GccError::Decode(e.to_string()))?;
    Ok(response.conference_create_response.into_gcc_blocks())
}

/// Server Core Data's version field (MS-RDPBCGR 2.2.1.4.2) as people know it.
pub fn rdp_version(raw: u32) -> String {
    match raw {
        0x0008_0001 => "4.0".to_owned(),
        0x0008_0004 => "5.0-8.1".to_owned(),
        v if (0x0008_0005..=0x0008_00FF).contains(&v) => format!("10.{}", v - 0x0008_0005),
        other => format!("unknown (0x{other:08x})"),
    }
}

#[cfg(test)]
mod tests {
    use super::rdp_version;

    #[test]
    fn versions_read_as_people_know_them() {
        assert_eq!(rdp_version(0x0008_0004), "5.0-8.1");
        assert_eq!(rdp_version(0x0008_0005), "10.0");
        assert_eq!(rdp_version(0x0008_000C), "10.7");
        assert!(rdp_version(7).starts_with("unknown"));
    }
}
