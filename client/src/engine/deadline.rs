//! Stage time limits: every network stage runs under one, and running out is a `timeout`
//! failure that names the stage and what did not arrive.

use std::future::Future;
use std::time::Duration;

use crate::report::{Failure, FailureClass, Stage};

/// `2.0 s`, for messages.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Runs `work` for at most `limit`; past it, a `timeout` at `stage`: "`what` within `limit`".
pub(crate) async fn bounded<T>(
    stage: Stage,
    limit: Duration,
    what: &str,
    work: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(
            stage,
            FailureClass::Timeout,
            format!("{what} within {}", secs(limit)),
        )),
    }
}
