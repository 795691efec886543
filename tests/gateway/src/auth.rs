//! HTTP authentication of the gateway's channel requests, per connection (NTLM over HTTP
//! authenticates the connection, not the request: MS-TSGU 3.3.5.1, RFC 4559 4).
//!
//! NTLM is sspi's NTLM server (the one ironrdp-acceptor's CredSSP uses); Basic compares the
//! decoded `user:password`. `Negotiate` can be offered, to play a Kerberos-only gateway,
//! but is never accepted: this gateway has no KDC.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ironrdp_connector::sspi::{
    self, AuthIdentity, AuthIdentityBuffers, BufferType, CredentialUse, DataRepresentation, Ntlm,
    SecurityBuffer, SecurityStatus, ServerRequestFlags, Sspi as _, Username,
};

/// An HTTP authentication scheme the gateway offers in its 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    Ntlm,
    Basic,
    /// Offered, never accepted (no Kerberos here).
    Negotiate,
}

impl Scheme {
    fn challenge(self) -> &'static str {
        match self {
            Self::Ntlm => "NTLM",
            Self::Basic => "Basic realm=\"rdpshim-test-gateway\"",
            Self::Negotiate => "Negotiate",
        }
    }
}

/// The one account the gateway knows.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub password: String,
}

/// What to answer a request.
pub enum Verdict {
    /// The connection is authenticated as this user.
    Authenticated(String),
    /// 401 with these `WWW-Authenticate` values.
    Challenge(Vec<String>),
}

/// Authentication state of one connection.
pub struct ConnAuth<'a> {
    schemes: &'a [Scheme],
    account: &'a Account,
    ntlm: Option<NtlmServer>,
}

impl<'a> ConnAuth<'a> {
    pub fn new(schemes: &'a [Scheme], account: &'a Account) -> Self {
        Self {
            schemes,
            account,
            ntlm: None,
        }
    }

    fn offer(&self) -> Verdict {
        Verdict::Challenge(
            self.schemes
                .iter()
                .map(|s| s.challenge().to_owned())
                .collect(),
        )
    }

    /// Judges the request's `Authorization` header.
    pub fn check(&mut self, authorization: Option<&str>) -> Verdict {
        let Some(value) = authorization else {
            self.ntlm = None;
            return self.offer();
        };
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let token = STANDARD.decode(token.trim()).unwrap_or_default();
        match scheme.to_ascii_lowercase().as_str() {
            "ntlm" if self.schemes.contains(&Scheme::Ntlm) => self.ntlm_step(&token),
            "basic" if self.schemes.contains(&Scheme::Basic) => {
                let text = String::from_utf8_lossy(&token);
                match text.split_once(':') {
                    Some((user, password))
                        if same_user(user, &self.account.user)
                            && password == self.account.password =>
                    {
                        Verdict::Authenticated(user.to_owned())
                    }
                    _ => self.offer(),
                }
            }
            _ => {
                self.ntlm = None;
                self.offer()
            }
        }
    }

    fn ntlm_step(&mut self, token: &[u8]) -> Verdict {
        let result = match self.ntlm.take() {
            None => NtlmServer::start(self.account).and_then(|mut server| {
                let challenge = server.accept(token)?;
                Ok((Some(server), challenge))
            }),
            Some(mut server) => server
                .finish(token, &self.account.user)
                .map(|()| (None, None)),
        };
        match result {
            Ok((server, Some(challenge))) => {
                self.ntlm = server;
                Verdict::Challenge(vec![format!("NTLM {}", STANDARD.encode(challenge))])
            }
            Ok((_, None)) => Verdict::Authenticated(self.account.user.clone()),
            Err(e) => {
                eprintln!("gateway: NTLM authentication failed: {e}");
                self.offer()
            }
        }
    }
}

/// `DOMAIN\user`, `user@domain` and `user` all name the account `user`.
fn same_user(given: &str, account: &str) -> bool {
    let bare = given
        .rsplit('\\')
        .next()
        .unwrap_or(given)
        .split('@')
        .next()
        .unwrap_or(given);
    bare.eq_ignore_ascii_case(account)
}

struct NtlmServer {
    ntlm: Ntlm,
    credentials: Option<AuthIdentityBuffers>,
}

impl NtlmServer {
    fn start(account: &Account) -> Result<Self, sspi::Error> {
        let identity = AuthIdentity {
            username: Username::new(&account.user, None)?,
            password: account.password.clone().into(),
        };
        let mut ntlm = Ntlm::new();
        let credentials = ntlm
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Inbound)
            .with_auth_data(&identity)
            .execute(&mut ntlm)?
            .credentials_handle;
        Ok(Self { ntlm, credentials })
    }

    /// NEGOTIATE in, CHALLENGE out.
    fn accept(&mut self, token: &[u8]) -> Result<Option<Vec<u8>>, sspi::Error> {
        self.step(token).map(|(_, challenge)| Some(challenge))
    }

    /// AUTHENTICATE in: the NTLMv2 response must prove the account's password, and the
    /// user name must be the account's.
    fn finish(&mut self, token: &[u8], user: &str) -> Result<(), sspi::Error> {
        if self.step(token)?.0 == SecurityStatus::CompleteNeeded {
            self.ntlm.complete_auth_token(&mut [])?;
        }
        let names = self.ntlm.query_context_names()?;
        if !same_user(names.username.account_name(), user) {
            return Err(sspi::Error::new(
                sspi::ErrorKind::LogonDenied,
                format!("unknown user {:?}", names.username.account_name()),
            ));
        }
        Ok(())
    }

    /// One `AcceptSecurityContext` call: the status and the output token.
    fn step(&mut self, token: &[u8]) -> Result<(SecurityStatus, Vec<u8>), sspi::Error> {
        let mut input = [SecurityBuffer::new(token.to_vec(), BufferType::Token)];
        let mut output = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let result = self
            .ntlm
            .accept_security_context()
            .with_credentials_handle(&mut self.credentials)
            .with_context_requirements(ServerRequestFlags::empty())
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut input)
            .with_output(&mut output)
            .execute(&mut self.ntlm)?
            .resolve_to_result()?;
        Ok((result.status, std::mem::take(&mut output[0].buffer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_forms() {
        assert!(same_user("labuser", "labuser"));
        assert!(same_user("LAB\\labuser", "labuser"));
        assert!(same_user("labuser@lab", "labuser"));
        assert!(!same_user("other", "labuser"));
    }

    #[test]
    fn basic_accepts_only_the_account() {
        let account = Account {
            user: "u".into(),
            password: "p".into(),
        };
        let schemes = [Scheme::Basic];
        let mut auth = ConnAuth::new(&schemes, &account);
        let good = format!("Basic {}", STANDARD.encode("u:p"));
        let bad = format!("Basic {}", STANDARD.encode("u:x"));
        assert!(matches!(auth.check(Some(&good)), Verdict::Authenticated(_)));
        assert!(matches!(auth.check(Some(&bad)), Verdict::Challenge(_)));
        // NTLM is not offered here: a pre-emptive NTLM token gets the Basic challenge.
        match auth.check(Some("NTLM TlRMTVNTUAABAAAA")) {
            Verdict::Challenge(values) => assert_eq!(values.len(), 1),
            Verdict::Authenticated(_) => panic!("NTLM accepted although not offered"),
        }
    }
}
