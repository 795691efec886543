//! Which security protocol each leg uses, from the client's X.224 request and the found
//! configuration. Pure: table-tested below.
//!
//! Rules, and why:
//! - **Server leg, NLA found**: the client's own requestedProtocols go to the server
//!   (masked to SSL|HYBRID|HYBRID_EX, the ones the bridge can carry). Devolutions Gateway
//!   learned that mstsc is picky here (`rdp_proxy.rs`: logon fails with 0x609 when the bits
//!   reaching the server differ from the client's); the server's selection is then checked
//!   against the configuration (`engine::server_leg`), so a server or path that answers
//!   "TLS only" ends the leg rather than weakening it.
//! - **Server leg, TLS found**: TLS alone, exactly what the ladder proved. Forwarding the
//!   client's HYBRID bit could make the server select NLA, and a server the bridge
//!   reaches without NLA gets no credentials from it.
//! - **Client leg**: NLA (HYBRID_EX when the client offered it, else HYBRID) exactly when
//!   the server leg uses NLA: the client must prove it knows the password the bridge is
//!   about to use. TLS when the server leg is TLS only: the client's user logs on at the
//!   server's own login screen. Never a protocol the client did not request; a client that
//!   cannot follow gets the RDP_NEG_FAILURE code a server would send (MS-RDPBCGR 2.2.1.2.2).
//! - **Through an RD Gateway** the client proves an account before the bridge opens the
//!   tunnel (`proof.rs`), and the server's Connection Confirm only comes through that
//!   tunnel, so the order cannot be "server first": the bridge answers the client's X.224
//!   itself, selecting NLA (HYBRID_EX when offered, else HYBRID; a client offering neither
//!   gets HYBRID_REQUIRED_BY_SERVER) with no RDP_NEG_RSP flags (it has not seen the
//!   server's: promising nothing is what an older server does, and every client copes),
//!   verifies CredSSP, and only then opens the tunnel and asks the server for
//!   [`server_request_after_proof`]: the client's NLA bits for an NLA server, TLS alone
//!   for a TLS one. The two legs' selections may then differ (HYBRID toward the client,
//!   TLS toward the server); the GCC rewrite below and the Early User Authorization Result
//!   the bridge sends itself on a HYBRID_EX client leg cover that, as they cover HYBRID vs
//!   HYBRID_EX.
//! - When the requestedProtocols the server saw differ from the client's, the server's
//!   echo of them (clientRequestedProtocols, MS-RDPBCGR 2.2.1.4.2) is rewritten toward the
//!   client (`gcc.rs`), which may compare it with what it sent to detect a downgrade.

use ironrdp_pdu::nego::{FailureCode, RequestFlags, ResponseFlags, SecurityProtocol};

use crate::planner::Protocol;

/// The protocols the bridge can carry on either leg.
pub fn carried() -> SecurityProtocol {
    SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX
}

fn nla() -> SecurityProtocol {
    SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX
}

/// What the bridge requests from the server for a client that requested `client`, or the
/// failure code to answer the client with.
pub fn server_request(
    client: SecurityProtocol,
    server_nla: bool,
) -> Result<SecurityProtocol, FailureCode> {
    if server_nla {
        if client.intersects(nla()) {
            Ok(client & carried())
        } else {
            Err(FailureCode::HYBRID_REQUIRED_BY_SERVER)
        }
    } else if client.contains(SecurityProtocol::SSL) {
        Ok(SecurityProtocol::SSL)
    } else {
        Err(FailureCode::SSL_REQUIRED_BY_SERVER)
    }
}

/// What the bridge selects toward the client once the server selected `server_selected`.
/// Only called with a client request [`server_request`] accepted, so the result is one of
/// the client's own bits.
pub fn client_selection(client: SecurityProtocol, server_selected: Protocol) -> Protocol {
    if server_selected.nla() == Some(true) {
        if client.contains(SecurityProtocol::HYBRID_EX) {
            Protocol::HybridEx
        } else {
            Protocol::Hybrid
        }
    } else {
        Protocol::Ssl
    }
}

/// What the bridge selects toward a client that must prove an account before any server
/// leg exists (through an RD Gateway), or the failure code to answer it with.
pub fn selection_before_server(client: SecurityProtocol) -> Result<Protocol, FailureCode> {
    if client.contains(SecurityProtocol::HYBRID_EX) {
        Ok(Protocol::HybridEx)
    } else if client.contains(SecurityProtocol::HYBRID) {
        Ok(Protocol::Hybrid)
    } else {
        Err(FailureCode::HYBRID_REQUIRED_BY_SERVER)
    }
}

/// The RDP_NEG_RSP flags of a Confirm the bridge sends before it has heard the server:
/// none (no extended client data, no graphics pipeline promised on the server's behalf).
pub fn response_flags_before_server() -> ResponseFlags {
    ResponseFlags::empty()
}

/// What the bridge requests from the server after the client proved its account
/// ([`selection_before_server`] accepted `client`, so it offered NLA): the client's own
/// carried bits for an NLA server (as [`server_request`]), exactly TLS for a TLS one.
pub fn server_request_after_proof(client: SecurityProtocol, server_nla: bool) -> SecurityProtocol {
    if server_nla {
        client & carried()
    } else {
        SecurityProtocol::SSL
    }
}

/// `protocol` as the bit set ironrdp-pdu encodes (a Connection Confirm, the GCC echo).
pub fn wire(protocol: Protocol) -> SecurityProtocol {
    SecurityProtocol::from_bits_truncate(protocol.bits())
}

/// The client's RDP_NEG_REQ flags the server may see: restricted admin and remote
/// credential guard ask for a logon without delegated credentials, which the bridge cannot
/// verify; they are not forwarded (and the client's CredSSP check then refuses them).
pub fn forwarded_request_flags(flags: RequestFlags) -> RequestFlags {
    flags
        - (RequestFlags::RESTRICTED_ADMIN_MODE_REQUIRED
            | RequestFlags::REDIRECTED_AUTHENTICATION_MODE_REQUIRED)
}

/// The server's RDP_NEG_RSP flags the client may see: the bridge offers neither restricted
/// admin nor remote credential guard itself.
pub fn forwarded_response_flags(flags: ResponseFlags) -> ResponseFlags {
    flags
        - (ResponseFlags::RESTRICTED_ADMIN_MODE_SUPPORTED
            | ResponseFlags::REDIRECTED_AUTHENTICATION_MODE_SUPPORTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SecurityProtocol as P;

    #[test]
    fn server_requests_per_client_request_and_configuration() {
        let mstsc = P::SSL | P::HYBRID | P::HYBRID_EX; // 0xB
        let freerdp2 = P::SSL | P::HYBRID; // 0x3
        let cases = [
            // NLA found: the client's own bits go on.
            (mstsc, true, Ok(mstsc)),
            (freerdp2, true, Ok(freerdp2)),
            (P::HYBRID, true, Ok(P::HYBRID)),
            (P::HYBRID_EX, true, Ok(P::HYBRID_EX)),
            // RDSTLS and RDSAAD are not carried.
            (mstsc | P::RDSTLS | P::RDSAAD, true, Ok(mstsc)),
            // A client that cannot do NLA never gets the bridge's credentials used for it.
            (P::SSL, true, Err(FailureCode::HYBRID_REQUIRED_BY_SERVER)),
            (
                P::empty(),
                true,
                Err(FailureCode::HYBRID_REQUIRED_BY_SERVER),
            ),
            // TLS found: exactly TLS, whatever else the client offers.
            (mstsc, false, Ok(P::SSL)),
            (freerdp2, false, Ok(P::SSL)),
            (P::SSL, false, Ok(P::SSL)),
            (P::HYBRID, false, Err(FailureCode::SSL_REQUIRED_BY_SERVER)),
            (P::empty(), false, Err(FailureCode::SSL_REQUIRED_BY_SERVER)),
        ];
        for (client, server_nla, expected) in cases {
            assert_eq!(
                server_request(client, server_nla),
                expected,
                "client {client} server_nla={server_nla}"
            );
        }
    }

    #[test]
    fn the_client_gets_nla_exactly_when_the_server_leg_has_it() {
        use Protocol::{Hybrid, HybridEx, Ssl};
        let cases = [
            (P::SSL | P::HYBRID | P::HYBRID_EX, HybridEx, HybridEx),
            (P::SSL | P::HYBRID | P::HYBRID_EX, Hybrid, HybridEx),
            (P::SSL | P::HYBRID, HybridEx, Hybrid),
            (P::HYBRID_EX, Hybrid, HybridEx),
            (P::SSL | P::HYBRID, Ssl, Ssl),
            (P::SSL | P::HYBRID | P::HYBRID_EX, Ssl, Ssl),
        ];
        for (client, server, expected) in cases {
            let selected = client_selection(client, server);
            assert_eq!(selected, expected, "client {client} server {server}");
            assert!(client.contains(wire(selected)), "never unrequested");
            assert_eq!(selected.nla(), server.nla());
        }
    }

    /// Through a gateway the client leg is NLA whatever the server does, decided before the
    /// server is asked; the server is then asked for what the configuration found.
    #[test]
    fn before_the_server_the_client_gets_nla_or_a_refusal() {
        use Protocol::{Hybrid, HybridEx};
        let mstsc = P::SSL | P::HYBRID | P::HYBRID_EX;
        let freerdp2 = P::SSL | P::HYBRID;
        let cases = [
            (mstsc, Ok(HybridEx)),
            (freerdp2, Ok(Hybrid)),
            (P::HYBRID_EX, Ok(HybridEx)),
            (P::HYBRID, Ok(Hybrid)),
            (P::SSL, Err(FailureCode::HYBRID_REQUIRED_BY_SERVER)),
            (P::empty(), Err(FailureCode::HYBRID_REQUIRED_BY_SERVER)),
        ];
        for (client, expected) in cases {
            let selected = selection_before_server(client);
            assert_eq!(selected, expected, "client {client}");
            if let Ok(selected) = selected {
                assert!(client.contains(wire(selected)), "never unrequested");
            }
        }
        assert_eq!(response_flags_before_server(), ResponseFlags::empty());
        for (client, nla, expected) in [
            (mstsc, true, mstsc),
            (mstsc | P::RDSTLS, true, mstsc),
            (P::HYBRID, true, P::HYBRID),
            (mstsc, false, P::SSL),
            // A client that offered NLA only still reaches a TLS server: its leg is NLA.
            (P::HYBRID, false, P::SSL),
        ] {
            assert_eq!(
                server_request_after_proof(client, nla),
                expected,
                "{client} {nla}"
            );
        }
    }

    #[test]
    fn credential_less_logon_modes_are_not_forwarded() {
        let all = RequestFlags::RESTRICTED_ADMIN_MODE_REQUIRED
            | RequestFlags::REDIRECTED_AUTHENTICATION_MODE_REQUIRED
            | RequestFlags::CORRELATION_INFO_PRESENT;
        assert_eq!(
            forwarded_request_flags(all),
            RequestFlags::CORRELATION_INFO_PRESENT
        );
        let response = ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED
            | ResponseFlags::RESTRICTED_ADMIN_MODE_SUPPORTED
            | ResponseFlags::REDIRECTED_AUTHENTICATION_MODE_SUPPORTED;
        assert_eq!(
            forwarded_response_flags(response),
            ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED
        );
    }
}
