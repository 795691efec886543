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
