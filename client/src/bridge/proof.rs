//! What a client must prove to the bridge before the bridge spends anything it holds on
//! that client's behalf. Pure: table-tested below.
//!
//! The bridge holds two things a client could borrow: the host's account (CredSSP to an
//! NLA server) and, through an RD Gateway, the gateway's account (every session opens a
//! tunnel with it, before the server says a word). The invariant (ARCHITECTURE.md: the
//! bridge never gives anyone a session they could not get without it) becomes one rule:
//! **the client proves, with CredSSP toward the bridge, every account the bridge would use
//! for it.**
//!
//! | route | server NLA | gateway account | the client proves |
//! |---|---|---|---|
//! | direct | no | - | nothing: TLS only, the server's own login screen |
//! | direct | yes | - | the host's account |
//! | gateway | no | the host's | the host's account (the gateway's); the server gets none |
//! | gateway | yes | the host's | the host's account (which is the gateway's) |
//! | gateway | either | its own | refused at [`super::Bridge::open`] |
//!
//! A gateway account of its own is refused whatever the server: in front of an NLA server
//! the client would have to prove two accounts and one CredSSP proves one; in front of a
//! server without NLA the client would prove the gateway's account, and the logon its own
//! client sends next (the Client Info PDU, which the bridge forwards as it is) would carry
//! that account's password to the RDP server, which mstsc with the same settings never
//! sends there.
//!
//! A server without NLA behind a gateway used to be the hole: its login screen came through
//! a tunnel the bridge opened with its gateway account for anyone who reached the listener.

use crate::attempt::Credentials;
use crate::route::gateway::GatewayCredentials;

/// Whose account an RD Gateway signs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayAccount {
    /// The host's (mstsc's "use my RD Gateway credentials for the remote computer", the
    /// default): same user name, domain and password.
    Host,
    /// One of its own (`--gateway-user`, or the same name with another password).
    Own,
}

/// What the client must prove before the bridge uses what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Nothing: the client leg is TLS only and the user logs on at the server's own login
    /// screen (a direct server without NLA: the bridge uses nothing of its own).
    Nothing,
    /// The host's account, before the bridge authenticates to the server (and, through a
    /// gateway with the same account, before it opens the tunnel).
    HostAccount,
    /// The gateway's account (the host's), before the bridge opens a tunnel; the server (no
    /// NLA) gets no credentials from the bridge and shows its own login screen.
    GatewayAccount,
}

/// Why no client can be let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// The gateway has an account of its own (see the module doc: two accounts to prove
    /// with one CredSSP, or the gateway's password carried to the server by the client's
    /// logon).
    OwnGatewayAccount,
}

/// The rule (the table above). `gateway`: `None` when the server is dialled directly.
pub fn required(gateway: Option<GatewayAccount>, server_nla: bool) -> Result<Proof, ProofError> {
    match (gateway, server_nla) {
        (None, false) => Ok(Proof::Nothing),
        (None, true) | (Some(GatewayAccount::Host), true) => Ok(Proof::HostAccount),
        (Some(GatewayAccount::Host), false) => Ok(Proof::GatewayAccount),
        (Some(GatewayAccount::Own), _) => Err(ProofError::OwnGatewayAccount),
    }
}

impl Proof {
    /// Whether the client leg must be NLA (CredSSP toward the bridge).
    pub fn needs_nla(self) -> bool {
        self != Self::Nothing
    }
}

/// Whose account `gateway` signs in with, against the host's `host` (`None`: the run had
/// no host credentials, so the gateway's are its own).
pub fn gateway_account(host: Option<&Credentials>, gateway: &GatewayCredentials) -> GatewayAccount {
    let same = host.is_some_and(|host| {
        host.username == gateway.username
            && host.domain.as_deref().map(str::to_ascii_lowercase)
                == gateway.domain.as_deref().map(str::to_ascii_lowercase)
            && host.password.same_as(&gateway.password)
    });
    if same {
        GatewayAccount::Host
    } else {
        GatewayAccount::Own
    }
}

/// The gateway's account as the credentials a client proves.
pub fn gateway_credentials(gateway: &GatewayCredentials) -> Credentials {
    Credentials {
        username: gateway.username.clone(),
        domain: gateway.domain.clone(),
        password: gateway.password.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Password;
    use GatewayAccount::{Host, Own};

    #[test]
    fn the_client_proves_every_account_the_bridge_would_use_for_it() {
        let cases = [
            // (gateway, server NLA, what the client proves)
            (None, false, Ok(Proof::Nothing)),
            (None, true, Ok(Proof::HostAccount)),
            (Some(Host), false, Ok(Proof::GatewayAccount)),
            (Some(Own), false, Err(ProofError::OwnGatewayAccount)),
            (Some(Host), true, Ok(Proof::HostAccount)),
            (Some(Own), true, Err(ProofError::OwnGatewayAccount)),
        ];
        for (gateway, nla, expected) in cases {
            let proof = required(gateway, nla);
            assert_eq!(proof, expected, "gateway {gateway:?}, server NLA {nla}");
            // Through a gateway the client leg is always NLA: the tunnel is the bridge's.
            if let (Some(_), Ok(proof)) = (gateway, proof) {
                assert!(proof.needs_nla(), "gateway {gateway:?}, server NLA {nla}");
            }
        }
        assert!(!Proof::Nothing.needs_nla());
    }

    fn host(user: &str, domain: Option<&str>, password: &str) -> Credentials {
        Credentials {
            username: user.into(),
            domain: domain.map(str::to_owned),
            password: Password::new(password),
        }
    }

    fn gateway(user: &str, domain: Option<&str>, password: &str) -> GatewayCredentials {
        GatewayCredentials {
            username: user.into(),
            domain: domain.map(str::to_owned),
            password: Password::new(password),
        }
    }

    #[test]
    fn a_gateway_account_is_the_hosts_only_when_name_domain_and_password_match() {
        let alice = host("alice", Some("CORP"), "pw");
        let cases = [
            (gateway("alice", Some("CORP"), "pw"), Host),
            (gateway("alice", Some("corp"), "pw"), Host),
            (gateway("alice", Some("CORP"), "other"), Own),
            (gateway("gwuser", Some("CORP"), "pw"), Own),
            (gateway("alice", None, "pw"), Own),
        ];
        for (gw, expected) in cases {
            assert_eq!(gateway_account(Some(&alice), &gw), expected, "{gw:?}");
        }
        assert_eq!(gateway_account(None, &gateway("alice", None, "pw")), Own);
        let proved = gateway_credentials(&gateway("gwuser", None, "gw-secret"));
        assert_eq!(proved.username, "gwuser");
        assert!(proved.password.matches("gw-secret"));
    }
}
