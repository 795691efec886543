//! The server leg of `rdpshim bridge`: one connection with a configuration the ladder
//! found, carried up to the point where session bytes can flow (TLS up, CredSSP done),
//! then handed over as a stream. The connector is not used past X.224: after the security
//! handshakes the session belongs to the bridged client, whose own MCS and capability PDUs
//! go to the server unchanged (apart from the GCC rewrite in `bridge/gcc.rs`).
//!
//! Three steps, each a type, so that the bridge can put its client leg's checks between
//! them: [`negotiate`] (TCP, X.224 with the client's requestedProtocols where the
//! configuration allows) -> [`Negotiated::secure`] (TLS with the found stack, version and
//! suites, certificate pin) -> [`Secured::authenticate`] (CredSSP with the bridge's own
//! credentials, only when the server selected NLA). The bridge calls the last step only
//! after the client proved it knows those credentials.

use std::net::SocketAddr;
use std::time::SystemTime;

use ironrdp_core::{decode, encode_vec};
use ironrdp_pdu::nego::{ConnectionConfirm, ConnectionRequest, ResponseFlags, SecurityProtocol};
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::bytes::BytesMut;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::net::TcpStream;

use super::classify::io_failure;
use super::deadline::bounded;
use super::tls::BoxStream;
use super::{cert, connector_config, credssp, dial, tls, x224};
use crate::attempt::{AttemptSpec, DialTarget};
use crate::report::{CertificateInfo, Failure, FailureClass, NegotiationCode, Stage, TlsSession};

/// TCP is up and the server answered the Connection Request.
pub struct Negotiated {
    tcp: TcpStream,
    leftover: BytesMut,
    pub address: SocketAddr,
    /// What the server selected (within what was requested and what the configuration allows).
    pub selected: SecurityProtocol,
    /// The server's RDP_NEG_RSP flags (EXTENDED_CLIENT_DATA_SUPPORTED and friends).
    pub flags: ResponseFlags,
}

/// TLS is up with the found configuration and the certificate is the pinned one.
pub struct Secured {
    stream: BoxStream,
    leftover: BytesMut,
    pub address: SocketAddr,
    pub selected: SecurityProtocol,
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
    pub address: SocketAddr,
    pub selected: SecurityProtocol,
    pub tls: TlsSession,
    pub certificate: CertificateInfo,
}

/// The protocols a leg with this configuration may end up with: NLA (HYBRID or
/// HYBRID_EX) when `spec.nla`, else TLS alone. Standard RDP Security is never one of them.
pub fn allowed(spec: &AttemptSpec) -> SecurityProtocol {
    if spec.nla {
        SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX
    } else {
        SecurityProtocol::SSL
    }
}

/// Dials the server of `spec` and sends `request` (the bridge builds it from its client's
/// request); the selection must be one `spec` allows.
pub async fn negotiate(
    spec: &AttemptSpec,
    request: &ConnectionRequest,
) -> Result<Negotiated, Failure> {
    let t = &spec.timeouts;
    let address = match &spec.dial {
        DialTarget::Address(address) => *address,
        DialTarget::ResolveHost => dial::resolve(&spec.host, spec.port, t.dns).await?[0],
    };
    let tcp = dial::connect(address, t.tcp).await?;
    let mut framed = TokioFramed::new(tcp);
    let exchange = async {
        let bytes = encode_vec(&X224(request.clone())).map_err(|e| {
            Failure::new(
                Stage::X224,
                FailureClass::ProtocolError,
                format!("encoding the Connection Request: {e}"),
            )
        })?;
        framed
            .write_all(&bytes)
            .await
            .map_err(|e| io_failure(Stage::X224, &e))?;
        // A TPKT frame: at most 64 KiB by its 16-bit length.
        let (_, confirm) = framed
            .read_pdu()
            .await
            .map_err(|e| io_failure(Stage::X224, &e))?;
        decode::<X224<ConnectionConfirm>>(&confirm)
            .map(|X224(confirm)| confirm)
            .map_err(|e| {
                Failure::new(
                    Stage::X224,
                    FailureClass::ProtocolError,
                    format!("the server's Connection Confirm does not decode: {e}"),
                )
            })
    };
    let confirm = bounded(Stage::X224, t.x224, "no X.224 Connection Confirm", exchange).await?;
    let (flags, selected) = match confirm {
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
    check_selection(spec, request.protocol, selected)?;
    let (tcp, leftover) = framed.into_inner();
    Ok(Negotiated {
        tcp,
        leftover,
        address,
        selected,
        flags,
    })
}

/// A selection outside the request, or outside what the found configuration allows (a
/// server, or someone on the path, choosing TLS without NLA where NLA was found), ends the
/// leg: the bridge never carries a session weaker than the configuration it announced.
fn check_selection(
    spec: &AttemptSpec,
    requested: SecurityProtocol,
    selected: SecurityProtocol,
) -> Result<(), Failure> {
    if selected.is_standard_rdp_security() {
        return Err(Failure::new(
            Stage::X224,
            FailureClass::RdpSecuritySelected,
            "the server selected Standard RDP Security (no TLS, no NLA)",
        ));
    }
    let single = selected.bits().count_ones() == 1;
    if !single || !requested.contains(selected) || !allowed(spec).contains(selected) {
        return Err(Failure::new(
            Stage::X224,
            FailureClass::ProtocolError,
            format!(
                "the server selected {} when asked for {}; the configuration found allows {}",
                x224::protocol_name(selected),
                requested,
                allowed(spec)
            ),
        ));
    }
    Ok(())
}

impl Negotiated {
    /// The TLS handshake with the found stack, version and suites; a certificate other than
    /// the pinned one ends the leg here, before anything is sent.
    pub async fn secure(self, spec: &AttemptSpec) -> Result<Secured, Failure> {
        let server_name = spec.effective_server_name();
        let handshake = async {
            tls::upgrade(self.tcp, &spec.tls, server_name)
                .await
                .map_err(|e| Failure::new(Stage::Tls, e.class, e.detail))
        };
        let upgraded = bounded(
            Stage::Tls,
            spec.timeouts.tls,
            "TLS handshake did not complete",
            handshake,
        )
        .await?;
        let inspected =
            cert::inspect(&upgraded.certificate_der, SystemTime::now()).map_err(|e| {
                Failure::new(
                    Stage::Tls,
                    FailureClass::TlsOther("bad-certificate".into()),
                    e,
                )
            })?;
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
        self.selected
            .intersects(SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX)
    }

    /// CredSSP with `spec`'s credentials when the server selected NLA; nothing otherwise (a
    /// TLS-only server gets no credentials: its user logs on at its own login screen).
    pub async fn authenticate(self, spec: &AttemptSpec) -> Result<Ready, Failure> {
        let mut framed = TokioFramed::new_with_leftover(self.stream, self.leftover);
        if self
            .selected
            .intersects(SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX)
        {
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
                self.selected,
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
        spec.nla = nla;
        spec
    }

    #[test]
    fn the_selection_must_be_requested_allowed_and_single() {
        use SecurityProtocol as P;
        let all = P::SSL | P::HYBRID | P::HYBRID_EX;
        let cases = [
            (true, all, P::HYBRID, true),
            (true, all, P::HYBRID_EX, true),
            // NLA was found: TLS alone is a downgrade, refused even though it was requested.
            (true, all, P::SSL, false),
            (false, P::SSL, P::SSL, true),
            // Not requested.
            (false, P::SSL, P::HYBRID, false),
            (true, P::HYBRID, P::HYBRID_EX, false),
            // Two protocols at once is no selection.
            (true, all, P::HYBRID | P::HYBRID_EX, false),
            (true, all, P::empty(), false),
        ];
        for (nla, requested, selected, ok) in cases {
            assert_eq!(
                check_selection(&spec(nla), requested, selected).is_ok(),
                ok,
                "nla={nla} requested={requested} selected={selected}"
            );
        }
        assert_eq!(
            check_selection(&spec(false), P::SSL, P::empty())
                .unwrap_err()
                .class,
            FailureClass::RdpSecuritySelected
        );
    }
}
