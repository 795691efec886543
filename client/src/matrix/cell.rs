//! One cell: what one configuration did on one host, kept small (a matrix of 50 hosts holds
//! 2,000 of them; the certificate and per-stage times of each attempt are not kept).

use std::net::SocketAddr;
use std::time::Duration;

use crate::report::{AttemptReport, Failure, FailureClass, Stage, TlsSession};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `None` = ok (first frame decoded).
    pub failure: Option<FailureClass>,
    /// The last stage reached (`first-frame` when ok).
    pub stage: Stage,
    pub detail: String,
    pub elapsed: Duration,
    /// False when the outcome was inferred without an attempt: the host did not resolve, or
    /// its first cell already failed to reach it over TCP.
    pub dialled: bool,
    pub address: Option<SocketAddr>,
    pub server_name: String,
    pub tls: Option<TlsSession>,
    /// X.224 selected protocol ("ssl", "hybrid", "hybrid-ex") when ok.
    pub selected_protocol: Option<String>,
}

impl Cell {
    pub fn from_report(report: &AttemptReport) -> Self {
        let (failure, detail, selected_protocol) = match &report.result {
            Ok(connected) => (
                None,
                format!(
                    "first frame {}x{}",
                    connected.desktop_width, connected.desktop_height
                ),
                Some(connected.selected_protocol.clone()),
            ),
            Err(failure) => (Some(failure.class.clone()), failure.detail.clone(), None),
        };
        Self {
            failure,
            stage: report.stage(),
            detail,
            elapsed: report.total,
            dialled: true,
            address: report.address,
            server_name: report.server_name.clone(),
            tls: report.tls.clone(),
            selected_protocol,
        }
    }

    /// A cell not attempted because `failure` already decides it; `why` says so.
    pub fn not_dialled(failure: &Failure, why: &str, server_name: String) -> Self {
        Self {
            failure: Some(failure.class.clone()),
            stage: failure.stage,
            detail: format!("not dialled: {why}: {}", failure.detail),
            elapsed: Duration::ZERO,
            dialled: false,
            address: None,
            server_name,
            tls: None,
            selected_protocol: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    /// `ok` or the failure class: the `--json` `outcome` value.
    pub fn outcome(&self) -> &'static str {
        self.failure.as_ref().map_or("ok", FailureClass::as_str)
    }

    /// What a baseline records: the outcome, with the RDP_NEG_FAILURE code or the TLS alert
    /// in parentheses (`negotiation-failure (HYBRID_REQUIRED_BY_SERVER)`), so "the server
    /// now requires NLA" shows as a change even between two failures.
    pub fn result_key(&self) -> String {
        self.failure
            .as_ref()
            .map_or_else(|| "ok".to_owned(), ToString::to_string)
    }

    /// Did the attempt fail to reach the host at all (so every other configuration would
    /// fail the same way)?
    pub fn host_unreachable(&self) -> bool {
        self.stage == Stage::Tcp
            && matches!(
                self.failure,
                Some(FailureClass::TcpTimeout | FailureClass::TcpRefused)
            )
    }

    /// Did the attempt fail to reach the RD Gateway at all (so every other gateway
    /// configuration would fail the same way)?
    pub fn gateway_unreachable(&self) -> bool {
        self.stage == Stage::GatewayConnect
            && matches!(
                self.failure,
                Some(
                    FailureClass::Dns
                        | FailureClass::TcpTimeout
                        | FailureClass::TcpRefused
                        | FailureClass::Timeout
                )
            )
    }

    /// The failure this cell is, for inferring the others from it.
    pub fn as_failure(&self) -> Option<Failure> {
        self.failure
            .as_ref()
            .map(|class| Failure::new(self.stage, class.clone(), self.detail.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NegotiationCode;

    #[test]
    fn result_keys_carry_the_code_and_outcomes_do_not() {
        let failure = Failure::new(
            Stage::X224,
            FailureClass::NegotiationFailure(NegotiationCode::HybridRequiredByServer),
            "server requires NLA",
        );
        let cell = Cell::not_dialled(&failure, "test", "h".into());
        assert_eq!(cell.outcome(), "negotiation-failure");
        assert_eq!(
            cell.result_key(),
            "negotiation-failure (HYBRID_REQUIRED_BY_SERVER)"
        );
        assert!(!cell.dialled && !cell.host_unreachable());
        assert!(cell.detail.starts_with("not dialled: test: "));
    }

    #[test]
    fn only_tcp_refusals_and_timeouts_make_a_host_unreachable() {
        let at_tcp =
            |class| Cell::not_dialled(&Failure::new(Stage::Tcp, class, ""), "", "h".into());
        assert!(at_tcp(FailureClass::TcpTimeout).host_unreachable());
        assert!(at_tcp(FailureClass::TcpRefused).host_unreachable());
        assert!(!at_tcp(FailureClass::Timeout).host_unreachable());
    }
}
