//! How a run ends without a connection: the kind (which decides the exit code), the reason
//! for people, and the causes from the table ([`crate::causes`]) that the attempts proved,
//! with their evidence (filled in by [`crate::next`] from the whole history, so every
//! verdict carries them). Failures that no other configuration can fix end the run at once.

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::causes::{CauseId, Finding};
use crate::failure::{FailureClass, NegotiationCode};
use crate::learn::Tried;
use crate::protocol::offers_tls_without_nla;
use crate::stage::Stage;
use crate::tls::TlsStack;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictKind {
    AuthFailed,
    NoWorkingConfiguration,
    Unreachable,
    RefusedByPolicy,
    CertificateChanged,
}

impl VerdictKind {
    /// The `--json` `verdict.kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthFailed => "auth-failed",
            Self::NoWorkingConfiguration => "no-working-configuration",
            Self::Unreachable => "unreachable",
            Self::RefusedByPolicy => "refused-by-policy",
            Self::CertificateChanged => "certificate-changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// The diagnosis, for people.
    pub reason: String,
    /// The causes the attempts proved, blocking first, each with the attempts that show it.
    pub causes: Vec<Finding>,
}

impl Verdict {
    pub fn new(kind: VerdictKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            causes: Vec::new(),
        }
    }

    /// A verdict whose reason is a cause's title.
    fn of(cause: CauseId) -> Self {
        Self::new(VerdictKind::NoWorkingConfiguration, cause.title())
    }
}

/// The verdict for a failure that no other configuration can fix, if `last` is one.
pub(crate) fn terminal(last: &Tried, has_credentials: bool) -> Result<(), Verdict> {
    use FailureClass as F;
    use VerdictKind as V;
    let Some((stage, class)) = last.failure.as_ref() else {
        return Ok(());
    };
    crate::route::terminal(last)?;
    let verdict = match class {
        F::AuthFailed => Verdict::new(
            V::AuthFailed,
            "authentication failed (wrong password, unknown user, or an account not allowed to log on \
             remotely); a weaker configuration would not change that",
        ),
        F::CertificateChanged if *stage == Stage::GatewayTls => Verdict::new(
            V::CertificateChanged,
            "the RD Gateway presented a different certificate than the one pinned on the first connection \
             (both fingerprints above); nothing was sent. If the gateway's certificate was renewed, check \
             the new fingerprint and re-run with --accept-new-cert",
        ),
        F::CertificateChanged => Verdict::new(
            V::CertificateChanged,
            "the server presented a different certificate than the one pinned on the first connection \
             (both fingerprints above); nothing was sent. If the server's certificate was renewed, check \
             the new fingerprint and re-run with --accept-new-cert",
        ),
        F::CredentialsRequired if has_credentials => Verdict::new(
            V::AuthFailed,
            "the server requires NLA and the credentials given were not usable",
        ),
        // Offered TLS (alone or in mstsc's offer), it selected Standard RDP Security (asked
        // for NLA only, it may still take TLS: `learn` follows it there).
        F::RdpSecuritySelected if offers_tls_without_nla(&last.knobs) => {
            Verdict::of(CauseId::RdpSecurityOnly)
        }
        F::NegotiationFailure(NegotiationCode::SslNotAllowedByServer) => {
            Verdict::of(CauseId::RdpSecurityOnly)
        }
        F::NegotiationFailure(NegotiationCode::SslCertNotOnServer) => {
            Verdict::of(CauseId::CertificateMissing)
        }
        F::NegotiationFailure(code @ (NegotiationCode::SslWithUserAuthRequiredByServer
        | NegotiationCode::EntraAuthRequiredByServer
        | NegotiationCode::InconsistentFlags
        | NegotiationCode::Unknown(_))) => Verdict::new(
            V::NoWorkingConfiguration,
            format!("the server refused negotiation with {}, which rdpshim cannot satisfy", code.name()),
        ),
        F::Licensing => Verdict::of(CauseId::Licensing),
        // The certificate is the same for every version and suite: once OpenSSL (after
        // rustls, see `learn.rs`) cannot read it either, no other rung changes that.
        class
            if class.is_bad_certificate()
                && *stage == Stage::Tls
                && last.knobs.tls.stack == TlsStack::Openssl =>
        {
            Verdict::of(CauseId::CertificateUnreadable)
        }
        F::Timeout if *stage == Stage::Credssp => Verdict::new(
            V::NoWorkingConfiguration,
            "CredSSP stalled: the server stopped answering during authentication",
        ),
        F::PeerClosed if *stage == Stage::Credssp => Verdict::new(
            V::NoWorkingConfiguration,
            "the server closed the connection during CredSSP before checking credentials: a CredSSP \
             version mismatch (the 2018 'encryption oracle remediation' policy) or a server-side NLA failure",
        ),
        _ => return Ok(()),
    };
    Err(verdict)
}

/// No address left to dial: why, from the failures of the direct attempts so far.
pub(crate) fn unreachable(history: &[Tried]) -> Verdict {
    let classes: Vec<&FailureClass> = history
        .iter()
        .filter(|t| !t.knobs.route.is_gateway())
        .filter_map(|t| t.failure.as_ref().map(|f| &f.1))
        .collect();
    let reason = if classes.iter().all(|c| **c == FailureClass::Dns) {
        "the host name does not resolve and no address is known (give one with --resolve HOST:ADDR)"
            .to_owned()
    } else if classes.contains(&&FailureClass::TcpTimeout) {
        "no address answers on the RDP port: a firewall drops the packets, or the host is down"
            .to_owned()
    } else if classes.contains(&&FailureClass::TcpRefused) {
        "every address refuses the connection: nothing listens on the RDP port, or a firewall rejects it".to_owned()
    } else if classes.contains(&&FailureClass::PeerClosed) {
        "the server closes the connection right after the X.224 request: not an RDP server, or one that \
         rejects this client outright"
            .to_owned()
    } else if classes.contains(&&FailureClass::ProtocolError) {
        "the server answers the X.224 Connection Request with something that is not RDP".to_owned()
    } else {
        "the server does not answer the X.224 Connection Request".to_owned()
    };
    let kind = if classes.iter().all(|c| {
        matches!(
            c,
            FailureClass::Dns | FailureClass::TcpRefused | FailureClass::TcpTimeout
        )
    }) {
        VerdictKind::Unreachable
    } else {
        VerdictKind::NoWorkingConfiguration
    };
    Verdict::new(kind, reason)
}

/// Stops with `reason`, naming the last failure.
pub(crate) fn give_up(reason: String, last: &Tried) -> Verdict {
    let kind = match &last.failure {
        Some((Stage::Dns | Stage::Tcp | Stage::GatewayConnect, _)) => VerdictKind::Unreachable,
        _ => VerdictKind::NoWorkingConfiguration,
    };
    let detail = match &last.failure {
        Some((stage, class)) => format!("{reason}; last failure: {class} at {stage}"),
        None => reason,
    };
    Verdict::new(kind, detail)
}
