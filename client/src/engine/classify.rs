//! Turning ironrdp connector errors into failure classes.
//!
//! The planner branches on the class, so the mapping is conservative: only what the server
//! unambiguously said (a negotiation failure code, a CredSSP logon status, a closed socket)
//! gets a specific class; anything else is `protocol-error`.

use std::io;

use ironrdp_connector::sspi::credssp::NStatusCode;
use ironrdp_connector::{ConnectorError, ConnectorErrorKind};

use crate::report::{Failure, FailureClass, NegotiationCode, Stage};

/// Classifies an error raised while the connector was in `stage`.
pub fn connector_failure(stage: Stage, error: &ConnectorError) -> Failure {
    let mut detail = error.report().to_string();
    let class = match error.kind() {
        ConnectorErrorKind::Negotiation(failure) => {
            let code = NegotiationCode::from_u32(u32::from(failure.code()));
            detail = format!("{failure} ({})", code.name());
            FailureClass::NegotiationFailure(code)
        }
        ConnectorErrorKind::AccessDenied => FailureClass::AuthFailed,
        ConnectorErrorKind::Credssp(sspi_error) => credssp_class(sspi_error),
        _ => match io_cause(error) {
            Some(io) => io_class(io),
            None if stage == Stage::Licensing => FailureClass::Licensing,
            None => FailureClass::ProtocolError,
        },
    };
    Failure::new(stage, class, detail)
}

/// Classifies a read or write error on the framed stream to the server.
pub fn io_failure(stage: Stage, error: &io::Error) -> Failure {
    io_failure_from("server", stage, error)
}

/// Classifies a read or write error on a connection to `peer` ("server", or "client" for
/// a bridge's client leg), naming it when it closed.
pub fn io_failure_from(peer: &str, stage: Stage, error: &io::Error) -> Failure {
    let class = io_class(error);
    let detail = match class {
        FailureClass::PeerClosed => {
            format!("the {peer} closed the connection during {stage} ({error})")
        }
        _ => format!("{error}"),
    };
    Failure::new(stage, class, detail)
}

/// What a failed read or write means: the peer closed or reset, a time-out, anything else.
fn io_class(error: &io::Error) -> FailureClass {
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => FailureClass::PeerClosed,
        io::ErrorKind::TimedOut => FailureClass::Timeout,
        _ => FailureClass::ProtocolError,
    }
}

/// Walks the error's source chain for the I/O error underneath, if any.
fn io_cause(error: &ConnectorError) -> Option<&io::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = current.source();
    }
    None
}

/// CredSSP errors that are about the account, not the protocol (MS-CSSP 2.2.1 errorCode
/// carries an NTSTATUS; MS-ERREF 2.3.1 names them).
pub fn credssp_class(error: &ironrdp_connector::sspi::Error) -> FailureClass {
    use ironrdp_connector::sspi::ErrorKind;

    const ACCOUNT_STATUSES: [NStatusCode; 10] = [
        NStatusCode::LOGON_FAILURE,
        NStatusCode::WRONG_PASSWORD,
        NStatusCode::NO_SUCH_USER,
        NStatusCode::ACCOUNT_RESTRICTION,
        NStatusCode::ACCOUNT_DISABLED,
        NStatusCode::PASSWORD_EXPIRED,
        NStatusCode::INVALID_LOGON_HOURS,
        NStatusCode::INVALID_WORKSTATION,
        NStatusCode::PASSWORD_MUST_CHANGE,
        NStatusCode::ACCOUNT_LOCKED_OUT,
    ];
    if let Some(status) = error.nstatus {
        if ACCOUNT_STATUSES.contains(&status) {
            return FailureClass::AuthFailed;
        }
    }
    match error.error_type {
        ErrorKind::LogonDenied | ErrorKind::NoCredentials | ErrorKind::UnknownCredentials => {
            FailureClass::AuthFailed
        }
        _ => FailureClass::CredsspError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_connector::sspi;

    #[test]
    fn logon_statuses_are_auth_failures() {
        let err = sspi::Error::new_with_nstatus(
            sspi::ErrorKind::InternalError,
            "server said no",
            NStatusCode::LOGON_FAILURE,
        );
        assert_eq!(credssp_class(&err), FailureClass::AuthFailed);
        let err = sspi::Error::new(sspi::ErrorKind::InvalidToken, "garbled");
        assert_eq!(credssp_class(&err), FailureClass::CredsspError);
    }

    #[test]
    fn eof_is_peer_closed() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "not enough bytes");
        assert_eq!(io_failure(Stage::Mcs, &eof).class, FailureClass::PeerClosed);
    }
}
