//! Which Standard RDP Security encryption methods the server accepts, found as nmap's
//! rdp-enum-encryption finds them: per method, an X.224 request for Standard RDP Security
//! and an MCS Connect Initial whose Client Security Data offers that method alone
//! (MS-RDPBCGR 2.2.1.3.3); the server's Connect Response names the method it chose and its
//! encryption level in Server Security Data (2.2.1.4.3). A server that cannot use the
//! method hangs up or picks another.
//!
//! Nothing is encrypted or sent beyond the Connect Initial; the exchange stops at the
//! response.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::future::join_all;
use ironrdp_connector::{ClientConnector, ClientConnectorState, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::gcc::EncryptionMethod as Flags;
use ironrdp_pdu::mcs::{ConnectInitial, ConnectResponse};
use ironrdp_pdu::x224::{X224Data, X224};
use ironrdp_tokio::{FramedWrite as _, TokioFramed};

use super::super::connector_config;
use super::super::framing::{self, Frame};
use super::Target;
use crate::attempt::AttemptSpec;
use crate::diagnose::findings::{
    EncryptionLevel, EncryptionMethod, MethodProbe, RdpSecurityFinding, Refusal,
};

/// Why one method's exchange gave no answer.
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error("no TCP connection: {0}")]
    Connect(String),
    /// A step of the exchange failed: the step, and ironrdp's or the socket's error.
    #[error("{0}: {1}")]
    Step(&'static str, String),
    #[error("the server did not select Standard RDP Security")]
    NotSelected,
    #[error("no MCS Connect Response in time")]
    Timeout,
}

fn step<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Failed {
    move |e| Failed::Step(what, e.to_string())
}

/// Every method, one connection each, concurrently under the target's gate.
pub(super) async fn probe(target: &Target) -> RdpSecurityFinding {
    let answers = join_all(
        EncryptionMethod::ALL
            .into_iter()
            .map(|method| exchange(target, method)),
    )
    .await;
    let mut methods = Vec::new();
    let mut level = None;
    for (method, answer) in EncryptionMethod::ALL.into_iter().zip(answers) {
        match answer {
            Ok((chosen, server_level)) => {
                level = level.or(server_level);
                methods.push(MethodProbe {
                    method,
                    accepted: chosen == method.flag(),
                    detail: None,
                });
            }
            Err(failed) => methods.push(MethodProbe {
                method,
                accepted: false,
                detail: Some(failed.to_string()),
            }),
        }
    }
    RdpSecurityFinding { level, methods }
}

/// One Connect Initial offering `method`: the method the server chose and its level.
async fn exchange(
    target: &Target,
    method: EncryptionMethod,
) -> Result<(u32, Option<EncryptionLevel>), Failed> {
    let t = target.timeouts;
    let (_permit, tcp) = target.connect().await.map_err(|r| match r {
        Refusal::Failed(f) => Failed::Connect(f.detail),
        other => Failed::Connect(other.to_string()),
    })?;
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).into());
    let spec = AttemptSpec::strongest(target.server_name.clone(), target.address.port());
    let mut config = connector_config::build(&spec);
    // Standard RDP Security alone (requestedProtocols = 0): only for this probe, which
    // never gets as far as encrypting anything.
    config.enable_tls = false;
    config.enable_credssp = false;
    config.enable_standard_rdp_security = true;
    let mut connector = ClientConnector::new(config, local);
    let mut framed = TokioFramed::new(tcp);

    let exchange = async {
        let mut buf = WriteBuf::new();
        let written = connector
            .step_no_input(&mut buf)
            .map_err(step("X.224 request"))?;
        if let Some(len) = written.size() {
            framed
                .write_all(&buf[..len])
                .await
                .map_err(step("X.224 request"))?;
        }
        let confirm = framing::read(&mut framed, Frame::X224Confirm)
            .await
            .map_err(step("X.224 confirm"))?;
        buf.clear();
        connector
            .step(&confirm, None, &mut buf)
            .map_err(step("X.224 confirm"))?;
        if !matches!(
            connector.state,
            ClientConnectorState::EnhancedSecurityUpgrade { .. }
        ) {
            return Err(Failed::NotSelected);
        }
        // No security upgrade under Standard RDP Security: straight on to the Connect
        // Initial, which the connector builds and we rewrite to offer `method` alone.
        buf.clear();
        connector
            .step(&[], None, &mut buf)
            .map_err(step("after X.224"))?;
        buf.clear();
        let written = connector
            .step_no_input(&mut buf)
            .map_err(step("building the MCS Connect Initial"))?;
        let initial = written
            .size()
            .map(|len| buf[..len].to_vec())
            .unwrap_or_default();
        let request = offer_only(&initial, method)?;
        framed
            .write_all(&request)
            .await
            .map_err(step("MCS Connect Initial"))?;
        let hint = connector
            .next_pdu_hint()
            .ok_or(Failed::Step("MCS Connect Response", "none expected".into()))?;
        let pdu = framing::read_wanted(&mut framed, hint)
            .await
            .map_err(step("no MCS Connect Response"))?;
        chosen(&pdu)
    };
    tokio::time::timeout(t.connection, exchange)
        .await
        .map_err(|_| Failed::Timeout)?
}

/// The connector's Connect Initial with Client Security Data offering `method` alone.
fn offer_only(initial: &[u8], method: EncryptionMethod) -> Result<Vec<u8>, Failed> {
    let ours = "our MCS Connect Initial";
    let x224 = ironrdp_core::decode::<X224<X224Data<'_>>>(initial).map_err(step(ours))?;
    let decoded =
        ironrdp_core::decode::<ConnectInitial>(x224.0.data.as_ref()).map_err(step(ours))?;
    let mut blocks = decoded.conference_create_request.into_gcc_blocks();
    blocks.security.encryption_methods = Flags::from_bits_retain(method.flag());
    blocks.security.ext_encryption_methods = 0;
    let rewritten = ConnectInitial::with_gcc_blocks(blocks).map_err(step(ours))?;
    let data = ironrdp_core::encode_vec(&rewritten).map_err(step(ours))?;
    ironrdp_core::encode_vec(&X224(X224Data { data: data.into() })).map_err(step(ours))
}

/// The method and level in the Connect Response's Server Security Data.
fn chosen(pdu: &[u8]) -> Result<(u32, Option<EncryptionLevel>), Failed> {
    let theirs = "MCS Connect Response";
    let x224 = ironrdp_core::decode::<X224<X224Data<'_>>>(pdu).map_err(step(theirs))?;
    let response =
        ironrdp_core::decode::<ConnectResponse>(x224.0.data.as_ref()).map_err(step(theirs))?;
    let security = response
        .conference_create_response
        .into_gcc_blocks()
        .security;
    use ironrdp_pdu::gcc::EncryptionLevel as Level;
    let level = match security.encryption_level {
        Level::None => EncryptionLevel::None,
        Level::Low => EncryptionLevel::Low,
        Level::ClientCompatible => EncryptionLevel::ClientCompatible,
        Level::High => EncryptionLevel::High,
        Level::Fips => EncryptionLevel::Fips,
    };
    Ok((security.encryption_method.bits(), Some(level)))
}
