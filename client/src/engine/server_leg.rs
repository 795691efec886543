//! The server leg of `rdpshim bridge`: one connection with a configuration the ladder
//! found, carried up to the point where session bytes can flow (TLS up, CredSSP done),
//! then handed over as a stream. The connector is not used: the X.224 request is built
//! from the bridged client's own, and after the security handshakes the session belongs to
//! that client, whose MCS and capability PDUs go to the server unchanged (apart from the
//! GCC rewrite in `bridge/gcc.rs`). What the leg shares with an attempt is the engine's:
//! dialling, the selection check (`x224::check_selection`), the TLS handshake and
//! certificate facts (`channel`), the pin (`cert::check_pin`), CredSSP (`credssp::run`).
//!
//! Three steps, each a type, so that the bridge can put its client leg's checks between
//! them: [`negotiate`] (TCP, X.224 with the client's requestedProtocols where the
//! configuration allows; [`negotiate_over`] for a stream that already reaches the server,
//! an RD Gateway tunnel the bridge opened through `route::gateway`) -> [`Negotiated::secure`] (TLS with the found stack, version and
//! suites, certificate pin) -> [`Secured::authenticate`] (CredSSP with the bridge's own
//! credentials, only when the server selected NLA). The bridge calls the last step only
//! after the client proved it knows those credentials.

use std::net::SocketAddr;

use ironrdp_pdu::nego::{ConnectionConfirm, ConnectionRequest, ResponseFlags, SecurityProtocol};
use ironrdp_tokio::bytes::BytesMut;
use ironrdp_tokio::TokioFramed;

use super::deadline::bounded;
use super::framing::{self, Frame};
use super::tls::BoxStream;
use super::{cert, channel, connector_config, credssp, dial, x224};
use crate::attempt::{AttemptSpec, DialTarget, Nla};
use crate::planner::Protocol;
use crate::report::{CertificateInfo, Failure, FailureClass, NegotiationCode, Stage, TlsSession};

/// The server answered the Connection Request (over TCP, or through a gateway's tunnel).
pub struct Negotiated {
    stream: BoxStream,
    leftover: BytesMut,
    /// The server's address as dialled; `None` through a tunnel (the gateway resolves it).
    pub address: Option<SocketAddr>,
    /// What the server selected: one protocol, requested, with the configuration's NLA.
    pub selected: Protocol,
    /// The server's RDP_NEG_RSP flags (EXTENDED_CLIENT_DATA_SUPPORTED and friends).
    pub flags: ResponseFlags,
}

/// TLS is up with the found configuration and the certificate is the pinned one.
pub struct Secured {
    stream: BoxStream,
    leftover: BytesMut,
    pub address: Option<SocketAddr>,
    pub selected: Protocol,
    pub tls: TlsSession,
    pub certificate: CertificateInfo,
    public_key: Vec<u8>,
}

/// The leg is ready to carry the session: TLS up, CredSSP done when NLA was selected (and
/// the Early User Authorization Result of HYBRID_EX consumed by the CredSSP sequence).
pub struct Ready {
    pub stream: BoxStream,
    /// Bytes the server sent after the last handshake message, not yet consumed.
    pub leftover: BytesMut,
    pub address: Option<SocketAddr>,
    pub selected: Protocol,
    pub tls: TlsSession,
    pub certificate: CertificateInfo,
}

/// Dials the server of `spec` and sends `request` (the bridge builds it from its client's
/// request); the selection must be one `spec` allows. A spec that names an RD Gateway is
/// refused here, as `run_attempt` refuses it: the bridge opens the tunnel and calls
/// [`negotiate_over`], and going around a gateway is never the engine's shortcut.
pub async fn negotiate(
    spec: &AttemptSpec,
    request: &ConnectionRequest,
) -> Result<Negotiated, Failure> {
    if spec.gateway.is_some() {
        return Err(Failure::new(
            Stage::GatewayConnect,
            FailureClass::ProtocolError,
            "internal: a server leg through an RD Gateway must be negotiated over its tunnel",
        ));
    }
    let t = &spec.timeouts;
    let address = match &spec.dial {
        DialTarget::Address(address) => *address,
        DialTarget::ResolveHost => dial::resolve(&spec.host, spec.port, t.dns).await?[0],
    };
    let tcp = dial::connect(address, t.tcp).await?;
    negotiate_over(spec, request, Box::new(tcp), Some(address)).await
}

/// [`negotiate`] over `stream`, which already reaches the server of `spec` (an RD Gateway
/// tunnel from `route::gateway`; `address`: where it goes when known): X.224 onwards,
/// judged exactly as over TCP.
pub async fn negotiate_over(
    spec: &AttemptSpec,
    request: &ConnectionRequest,
    stream: BoxStream,
    address: Option<SocketAddr>,
) -> Result<Negotiated, Failure> {
    let mut framed = TokioFramed::new(stream);
    let exchange = async {
        x224::send_pdu(&mut framed, request.clone(), "Connection Request", "server").await?;
        framing::read(&mut framed, Frame::X224Confirm)
            .await
            .map_err(|e| e.failure(Stage::X224))
    };
    let confirm = bounded(
        Stage::X224,
        spec.timeouts.x224,
        "no X.224 Connection Confirm",
        exchange,
    )
    .await?;
    let (flags, selected) = judge(spec, request.protocol, &confirm)?;
    let (stream, leftover) = framed.into_inner();
    Ok(Negotiated {
        stream,
        leftover,
        address,
        selected,
        flags,
    })
}

/// The server's Connection Confirm (one capped frame) judged: a refusal is a
/// `negotiation-failure`; a selection is judged as the attempt judges it
/// (`x224::check_confirm`: Standard RDP Security, a protocol outside the request, anything
/// but exactly one protocol), then against the NLA setting of the found configuration. The
/// bridge forwards its client's request, which may offer TLS alone next to NLA; a server (or
/// someone on the path) selecting TLS where the ladder found NLA ends the leg as
/// `unrequested-protocol`: the bridge never carries a session weaker than the configuration
/// it announced.
fn judge(
    spec: &AttemptSpec,
    requested: SecurityProtocol,
    confirm: &[u8],
) -> Result<(ResponseFlags, Protocol), Failure> {
    let (flags, selected) = match x224::decode_pdu(confirm, "Connection Confirm", "server")? {
        ConnectionConfirm::Failure { code } => {
            let code = NegotiationCode::from_u32(u32::from(code));
            return Err(Failure::new(
                Stage::X224,
                FailureClass::NegotiationFailure(code),
                format!("the server refused the negotiation: {}", code.name()),
            ));
        }
        ConnectionConfirm::Response { flags, protocol } => (flags, protocol),
    };
    x224::check_confirm(confirm, requested)?;
    let Some(protocol) = Protocol::from_selected(selected.bits()) else {
        // `x224::check_confirm` refuses anything that is not exactly one protocol.
        return Err(Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            format!("the server selected 0x{:x}", selected.bits()),
        ));
    };
    let expected = match spec.nla {
        Nla::On => Some(true),
        Nla::Off => Some(false),
        // The server's choice (mstsc's offer): either is the configuration.
        Nla::Negotiate => None,
    };
    if let Some(nla) = expected.filter(|nla| protocol.nla() != Some(*nla)) {
        return Err(Failure::new(
            Stage::X224,
            FailureClass::UnrequestedProtocol(protocol),
            format!(
                "the server selected {protocol}; the configuration found {} NLA",
                if nla { "uses" } else { "does not use" }
            ),
        ));
    }
    Ok((flags, protocol))
}

impl Negotiated {
    /// The TLS handshake with the found stack, version and suites; a certificate other than
    /// the pinned one ends the leg here, before anything is sent.
    pub async fn secure(self, spec: &AttemptSpec) -> Result<Secured, Failure> {
        let server_name = spec.effective_server_name();
        let upgraded =
            channel::handshake(self.stream, &spec.tls, server_name, spec.timeouts.tls).await?;
        let inspected = channel::inspect(&upgraded.certificate_der)?;
        cert::check_pin(spec.pinned_certificate.as_deref(), &inspected.info)?;
        Ok(Secured {
            stream: upgraded.stream,
            leftover: self.leftover,
            address: self.address,
            selected: self.selected,
            tls: upgraded.session,
            certificate: inspected.info,
            public_key: inspected.public_key,
        })
    }
}

impl Secured {
    /// Whether [`Secured::authenticate`] will send credentials (the server selected NLA).
    pub fn needs_credentials(&self) -> bool {
        self.selected.nla() == Some(true)
    }

    /// CredSSP with `spec`'s credentials when the server selected NLA; nothing otherwise (a
    /// TLS-only server gets no credentials: its user logs on at its own login screen).
    pub async fn authenticate(self, spec: &AttemptSpec) -> Result<Ready, Failure> {
        let needs_credentials = self.needs_credentials();
        let mut framed = TokioFramed::new_with_leftover(self.stream, self.leftover);
        if needs_credentials {
            if spec.credentials.is_none() {
                return Err(Failure::new(
                    Stage::Credssp,
                    FailureClass::CredentialsRequired,
                    "the server requires NLA and the bridge holds no credentials",
                ));
            }
            let (credentials, domain) = connector_config::identity(spec);
            let exchange = credssp::run(
                &mut framed,
                credentials,
                domain.as_deref(),
                SecurityProtocol::from_bits_truncate(self.selected.bits()),
                spec.effective_server_name(),
                self.public_key,
            );
            bounded(
                Stage::Credssp,
                spec.timeouts.credssp,
                "CredSSP did not complete",
                exchange,
            )
            .await?;
        }
        let (stream, leftover) = framed.into_inner();
        Ok(Ready {
            stream,
            leftover,
            address: self.address,
            selected: self.selected,
            tls: self.tls,
            certificate: self.certificate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nla: bool) -> AttemptSpec {
        let mut spec = AttemptSpec::strongest("server", 3389);
        spec.nla = Nla::exact(nla);
        spec
    }

    #[test]
    fn the_selection_must_be_requested_allowed_and_single() {
        use FailureClass as F;
        use SecurityProtocol as P;
        let all = P::SSL | P::HYBRID | P::HYBRID_EX;
        let cases = [
            (true, all, P::HYBRID, Ok(Protocol::Hybrid)),
            (true, all, P::HYBRID_EX, Ok(Protocol::HybridEx)),
            // NLA was found: TLS alone is a downgrade, refused even though it was requested.
            (
                true,
                all,
                P::SSL,
                Err(F::UnrequestedProtocol(Protocol::Ssl)),
            ),
            (false, P::SSL, P::SSL, Ok(Protocol::Ssl)),
            // Not requested.
            (
                false,
                P::SSL,
                P::HYBRID,
                Err(F::UnrequestedProtocol(Protocol::Hybrid)),
            ),
            (
                true,
                P::HYBRID,
                P::HYBRID_EX,
                Err(F::UnrequestedProtocol(Protocol::HybridEx)),
            ),
            // Two protocols at once is no selection.
            (true, all, P::HYBRID | P::HYBRID_EX, Err(F::ProtocolError)),
            (true, all, P::empty(), Err(F::RdpSecuritySelected)),
            (false, P::SSL, P::empty(), Err(F::RdpSecuritySelected)),
        ];
        for (nla, requested, selected, expected) in cases {
            let confirm =
                ironrdp_core::encode_vec(&ironrdp_pdu::x224::X224(ConnectionConfirm::Response {
                    flags: ResponseFlags::empty(),
                    protocol: selected,
                }))
                .unwrap();
            assert_eq!(
                judge(&spec(nla), requested, &confirm)
                    .map(|(_, p)| p)
                    .map_err(|f| f.class),
                expected,
                "nla={nla} requested={requested} selected={selected}"
            );
        }
    }
}
