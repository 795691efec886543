//! CredSSP as a server toward the user's client: the client proves it knows the user name
//! and password the bridge holds, before the bridge uses them on the server leg.
//!
//! Two checks, both must pass. NTLM (ironrdp-acceptor's CredSSP server, sspi): the client's
//! AUTHENTICATE is verified against the bridge's credentials (an account name other than
//! the bridge's is refused there, a wrong password fails the MIC or the pubKeyAuth). Then
//! the TSPasswordCreds the client delegates (MS-CSSP 2.2.1.2.1) are compared with the
//! bridge's own in constant time: user name exactly, password exactly, and the domain
//! (ignoring ASCII case, as NetBIOS names are) when the bridge has one. A mismatch is a
//! refusal; nothing reaches the server.
//!
//! Every message is read as one bounded frame through the engine's capped framing
//! ([`read_ts_request`]): an NTLM exchange is a few hundred bytes, and a malformed length
//! must not make the bridge buffer more.

use std::time::Duration;

use ironrdp_acceptor::credssp::CredsspSequence;
use ironrdp_connector::sspi::credssp::{EarlyUserAuthResult, ServerError};
use ironrdp_connector::sspi::generator::GeneratorState;
use ironrdp_connector::sspi::{self, AuthIdentity, Username};
use ironrdp_connector::ServerName;
use ironrdp_core::WriteBuf;
use ironrdp_tokio::bytes::Bytes;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use subtle::ConstantTimeEq as _;
use tokio::io::AsyncRead;

use super::client_leg::client_io;
use crate::attempt::Credentials;
use crate::engine::bounded;
use crate::engine::framing::{self, Frame};
use crate::engine::tls::BoxStream;
use crate::report::{Failure, FailureClass, Stage};

/// Reads one TSRequest from the client through the engine's capped framing
/// (`Frame::TsRequest`: a DER SEQUENCE of at most 64 KiB, a header no TSRequest starts with
/// refused at once rather than waited on), the failure naming the client.
async fn read_ts_request<S>(framed: &mut TokioFramed<S>) -> Result<Bytes, Failure>
where
    S: AsyncRead + Unpin + Send + Sync,
{
    framing::read(framed, Frame::TsRequest)
        .await
        .map_err(|e| e.failure_from("client", Stage::Credssp))
}

/// Runs CredSSP with the client and checks what it delegates. `hybrid_ex`: the client leg
/// negotiated HYBRID_EX, so a refusal is announced with an Early User Authorization Result
/// (access denied) before the bridge hangs up.
pub async fn verify(
    framed: &mut TokioFramed<BoxStream>,
    expected: &Credentials,
    public_key: Vec<u8>,
    client_name: String,
    hybrid_ex: bool,
    limit: Duration,
) -> Result<(), Failure> {
    let exchange = exchange(framed, expected, public_key, client_name);
    let result = bounded(
        Stage::Credssp,
        limit,
        "the client did not complete CredSSP",
        exchange,
    )
    .await;
    if result.is_err() && hybrid_ex {
        let _ = send_early_result(framed, EarlyUserAuthResult::AccessDenied).await;
    }
    result
}

/// The Early User Authorization Result PDU (MS-RDPBCGR 2.2.10.2), 4 bytes, sent right after
/// CredSSP on a HYBRID_EX leg.
pub async fn send_early_result(
    framed: &mut TokioFramed<BoxStream>,
    result: EarlyUserAuthResult,
) -> Result<(), Failure> {
    let mut bytes = Vec::with_capacity(result.buffer_len());
    result
        .to_buffer(&mut bytes)
        .map_err(|e| client_io(Stage::Credssp, &e))?;
    framed
        .write_all(&bytes)
        .await
        .map_err(|e| client_io(Stage::Credssp, &e))
}

async fn exchange(
    framed: &mut TokioFramed<BoxStream>,
    expected: &Credentials,
    public_key: Vec<u8>,
    client_name: String,
) -> Result<(), Failure> {
    let refused = |why: String| Failure::new(Stage::Credssp, FailureClass::AuthFailed, why);
    let protocol = |why: String| Failure::new(Stage::Credssp, FailureClass::CredsspError, why);

    let username = Username::new(&expected.username, expected.domain.as_deref())
        .map_err(|e| protocol(format!("the bridge's own user name: {e}")))?;
    // An `expose()` outside `secret/`, on the architecture check's short list: sspi's
    // NTLM server needs the clear password to check the client's AUTHENTICATE (the NTLMv2
    // response is keyed by it), so it gets a copy for this exchange; the delegated password
    // is compared inside `secret/` (`Password::matches`, constant time).
    let ours = AuthIdentity {
        username,
        password: expected.password.expose().to_owned().into(),
    };
    let mut sequence = CredsspSequence::init(&ours, ServerName::new(client_name), public_key, None)
        .map_err(|e| protocol(format!("CredSSP server: {e}")))?;

    let mut buf = WriteBuf::new();
    loop {
        match sequence.next_pdu_hint() {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(protocol(
                    "CredSSP ended without the client's credentials".into(),
                ))
            }
            Err(e) => return Err(protocol(format!("CredSSP: {e}"))),
        }
        let pdu = read_ts_request(framed).await?;
        let Some(request) = sequence
            .decode_client_message(&pdu)
            .map_err(|e| protocol(format!("the client's TSRequest: {e}")))?
        else {
            return Err(protocol("the client sent no TSRequest".into()));
        };
        let result = {
            let mut generator = sequence.process_ts_request(request);
            match generator.start() {
                GeneratorState::Completed(result) => result,
                // Only Kerberos asks for the network; the bridge accepts NTLM only.
                GeneratorState::Suspended(_) => Err(ServerError {
                    ts_request: None,
                    error: sspi::Error::new(
                        sspi::ErrorKind::InternalError,
                        "the client asked for Kerberos; the bridge accepts NTLM",
                    ),
                }),
            }
        };
        let failed = result.as_ref().err().map(|e| e.error.clone());
        buf.clear();
        let (written, delegated) = sequence
            .handle_process_result(result, &mut buf)
            .map_err(|e| protocol(format!("CredSSP: {e}")))?;
        if let Some(len) = written.size() {
            // On failure this is the TSRequest carrying the error code (STATUS_LOGON_FAILURE
            // for a wrong password), so the client can say why.
            framed
                .write_all(&buf[..len])
                .await
                .map_err(|e| client_io(Stage::Credssp, &e))?;
        }
        if let Some(error) = failed {
            return Err(match error.error_type {
                sspi::ErrorKind::LogonDenied | sspi::ErrorKind::MessageAltered => refused(format!(
                    "wrong user name or password: the client's NTLM response does not match \
                     the bridge's credentials ({})",
                    error.description
                )),
                _ => protocol(format!("CredSSP with the client: {error}")),
            });
        }
        if let Some(delegated) = delegated {
            return match check(expected, &delegated) {
                Ok(()) => Ok(()),
                Err(why) => Err(refused(why.to_owned())),
            };
        }
    }
}

/// The delegated credentials against the bridge's: `Err` names what differs (never a value).
fn check(expected: &Credentials, delegated: &AuthIdentity) -> Result<(), &'static str> {
    let expected_name = Username::new(&expected.username, expected.domain.as_deref())
        .map_err(|_| "the bridge's own user name does not parse")?;
    let user_ok = bool::from(
        delegated
            .username
            .account_name()
            .as_bytes()
            .ct_eq(expected_name.account_name().as_bytes()),
    );
    let password_ok = expected.password.matches(delegated.password.as_ref());
    let domain_ok = match domain_of(&expected_name) {
        None => true,
        Some(ours) => domain_of(&delegated.username).is_some_and(|theirs| {
            bool::from(
                theirs
                    .to_ascii_lowercase()
                    .as_bytes()
                    .ct_eq(ours.to_ascii_lowercase().as_bytes()),
            )
        }),
    };
    match (user_ok, domain_ok, password_ok) {
        (true, true, true) => Ok(()),
        (false, _, _) => {
            Err("wrong user name: the client delegated another user than the bridge's")
        }
        (_, false, _) => Err("wrong domain: the client delegated another domain than the bridge's"),
        (_, _, false) => {
            Err("wrong password: the client delegated another password than the bridge's")
        }
    }
}

/// The NetBIOS domain or UPN suffix of a user name, if any.
fn domain_of(name: &Username) -> Option<&str> {
    match name.parts() {
        sspi::UsernameParts::DownLevelLogonName(parts) => parts.netbios_domain(),
        sspi::UsernameParts::UserPrincipalName(parts) => Some(parts.suffix()),
    }
    .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Password;

    fn ours(user: &str, domain: Option<&str>, password: &str) -> Credentials {
        Credentials {
            username: user.into(),
            domain: domain.map(str::to_owned),
            password: Password::new(password),
        }
    }

    fn delegated(user: &str, domain: Option<&str>, password: &str) -> AuthIdentity {
        AuthIdentity {
            username: Username::new(user, domain).unwrap(),
            password: password.to_owned().into(),
        }
    }

    #[test]
    fn only_the_bridges_own_credentials_pass() {
        let bridge = ours("labuser", None, "Lab-Passw0rd!");
        let cases = [
            (delegated("labuser", None, "Lab-Passw0rd!"), true),
            // No domain on the bridge: the client's domain is not compared.
            (
                delegated("labuser", Some("WORKGROUP"), "Lab-Passw0rd!"),
                true,
            ),
            (delegated("labuser", None, "lab-passw0rd!"), false),
            (delegated("labuser", None, "Lab-Passw0rd"), false),
            (delegated("labuser", None, ""), false),
            (delegated("LabUser", None, "Lab-Passw0rd!"), false),
            (delegated("other", None, "Lab-Passw0rd!"), false),
        ];
        for (identity, ok) in cases {
            assert_eq!(check(&bridge, &identity).is_ok(), ok, "{identity:?}");
        }

        let bridge = ours("alice", Some("CORP"), "pw");
        assert!(check(&bridge, &delegated("alice", Some("corp"), "pw")).is_ok());
        assert!(check(&bridge, &delegated("alice", Some("OTHER"), "pw")).is_err());
        assert!(check(&bridge, &delegated("alice", None, "pw")).is_err());
        assert!(check(&bridge, &delegated("alice@corp", None, "pw")).is_ok());
    }

    /// Through the capped framing: a SEQUENCE announcing 0x7FFFFFFF bytes (sspi calls that
    /// "not enough bytes", which a hint-driven reader waits on) and a non-DER first byte are
    /// a protocol-error naming the client at once, with the client still connected and
    /// silent; a well-formed TSRequest is read as exactly its own bytes.
    #[tokio::test]
    async fn a_malformed_ts_request_header_is_refused_not_waited_for() {
        use tokio::io::AsyncWriteExt as _;
        for bytes in [&[0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF][..], b"GET / HTTP/1.1"] {
            let (bridge_end, mut client) = tokio::io::duplex(1024);
            client.write_all(bytes).await.unwrap();
            let mut framed = TokioFramed::new(bridge_end);
            let read = tokio::time::timeout(Duration::from_secs(5), read_ts_request(&mut framed))
                .await
                .expect("refused at once, not waited for");
            let failure = read.expect_err("no TSRequest");
            assert_eq!(failure.class, FailureClass::ProtocolError, "{failure}");
            assert!(failure.detail.contains("the client"), "{failure}");
            drop(client);
        }
        let (bridge_end, mut client) = tokio::io::duplex(1024);
        client
            .write_all(&[0x30, 0x03, 0x02, 0x01, 0x06, 0xAA])
            .await
            .unwrap();
        let mut framed = TokioFramed::new(bridge_end);
        let pdu = read_ts_request(&mut framed).await.unwrap();
        assert_eq!(&pdu[..], &[0x30, 0x03, 0x02, 0x01, 0x06]);
    }
}
