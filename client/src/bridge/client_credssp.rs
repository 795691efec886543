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
//! Every message is read as one bounded frame ([`CappedTsRequest`]): an NTLM exchange is a
//! few hundred bytes, and a malformed length must not make the bridge buffer more.

use std::time::Duration;

use ironrdp_acceptor::credssp::CredsspSequence;
use ironrdp_connector::sspi::credssp::{EarlyUserAuthResult, ServerError, TsRequest};
use ironrdp_connector::sspi::generator::GeneratorState;
use ironrdp_connector::sspi::{self, AuthIdentity, Username};
use ironrdp_connector::ServerName;
use ironrdp_core::WriteBuf;
use ironrdp_pdu::PduHint;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use subtle::ConstantTimeEq as _;

use super::client_leg::client_io;
use crate::attempt::Credentials;
use crate::engine::bounded;
use crate::engine::tls::BoxStream;
use crate::report::{Failure, FailureClass, Stage};

/// Largest TSRequest a client can send: a BER SEQUENCE with at most a 2-byte length
/// (sspi reads no longer length form), so 65535 bytes of content and a 4-byte header.
pub const MAX_TS_REQUEST: usize = 4 + 0xFFFF;

/// The longest BER SEQUENCE header: tag, 0x82, two length bytes.
const HEADER: usize = 4;

/// Frames a TSRequest by its DER length. sspi's own reader reports a malformed header as
/// "not enough bytes", which would make the framed reader wait (and buffer) for more until
/// the time limit: here a header that is still unreadable once [`HEADER`] bytes are in is
/// an error, so a client can never make the bridge buffer more than one bounded frame.
#[derive(Debug, Clone, Copy)]
pub struct CappedTsRequest;

impl PduHint for CappedTsRequest {
    fn find_size(&self, bytes: &[u8]) -> ironrdp_core::DecodeResult<Option<(bool, usize)>> {
        match TsRequest::read_length(bytes) {
            Ok(length) if length > MAX_TS_REQUEST => Err(ironrdp_core::other_err!(
                "TsRequest",
                "longer than a TSRequest can be"
            )),
            Ok(length) => Ok(Some((true, length))),
            Err(_) if bytes.len() < HEADER => Ok(None),
            Err(e) => Err(ironrdp_core::other_err!("TsRequest", source: e)),
        }
    }
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
        let pdu = framed
            .read_by_hint(&CappedTsRequest)
            .await
            .map_err(|e| client_io(Stage::Credssp, &e))?;
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

    #[test]
    fn a_malformed_ts_request_header_is_refused_not_waited_for() {
        // SEQUENCE with a 4-byte length of 0x7FFFFFFF: sspi calls that "not enough bytes".
        let header = [0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF];
        assert!(CappedTsRequest.find_size(&header).is_err());
        assert!(CappedTsRequest.find_size(b"GET / HTTP/1.1").is_err());
        assert_eq!(CappedTsRequest.find_size(&header[..1]).unwrap(), None);
        let small = [0x30, 0x03, 0x02, 0x01, 0x06];
        assert_eq!(CappedTsRequest.find_size(&small).unwrap(), Some((true, 5)));
        let long = [0x30, 0x82, 0x10, 0x00];
        assert_eq!(
            CappedTsRequest.find_size(&long).unwrap(),
            Some((true, 4 + 0x1000))
        );
    }
}
