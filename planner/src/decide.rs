//! The planner's one entry point: from the policy and the outcomes so far to the next
//! attempt or a verdict. The order of the questions is the whole algorithm: a failure no
//! configuration can fix stops at once; missing credentials are asked for, never answered
//! with a downgrade; then the budget and the deadline; then what the failures rule out
//! ([`crate::learn`]), what is left ([`crate::choose`]), and the floor and downgrade guard
//! ([`Policy`]).

use alloc::borrow::ToOwned as _;
use alloc::format;
use alloc::vec::Vec;
use core::time::Duration;

use crate::causes::from_history;
use crate::choose::choose;
use crate::failure::FailureClass;
use crate::fallback::{step_fallbacks, Fallback};
use crate::knobs::{Knobs, Nla};
use crate::learn::{RuledOut, Tried};
use crate::policy::Policy;
use crate::route;
use crate::verdict::{give_up, terminal, Verdict, VerdictKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try these knobs; `fallbacks` names the steps this attempt takes, in order.
    Attempt {
        knobs: Knobs,
        fallbacks: Vec<Fallback>,
    },
    /// The server needs NLA credentials: obtain them, then try these knobs.
    NeedCredentials {
        knobs: Knobs,
        fallbacks: Vec<Fallback>,
    },
    /// Stop.
    Verdict(Verdict),
}

/// The next step. Pure: same inputs, same answer. `elapsed` is the time the run has taken
/// so far, measured by the caller.
pub fn next(
    policy: &Policy,
    history: &[Tried],
    has_credentials: bool,
    elapsed: Duration,
) -> Decision {
    match plan(policy, history, has_credentials, elapsed) {
        Ok(decision) => decision,
        Err(mut verdict) => {
            verdict.causes = from_history(history);
            Decision::Verdict(verdict)
        }
    }
}

fn plan(
    policy: &Policy,
    history: &[Tried],
    has_credentials: bool,
    elapsed: Duration,
) -> Result<Decision, Verdict> {
    if let Some(last) = history.last() {
        if last.failure.is_none() {
            return Err(Verdict::new(
                VerdictKind::NoWorkingConfiguration,
                "internal: the planner was asked to continue after a connection",
            ));
        }
        terminal(last, has_credentials)?;
        if matches!(last.failure, Some((_, FailureClass::CredentialsRequired))) && !has_credentials
        {
            if history.len() >= policy.max_attempts {
                return Err(Verdict::new(
                    VerdictKind::AuthFailed,
                    "the server requires NLA: give a user name (-u USER) and a password",
                ));
            }
            // Same knobs, with credentials: a credential problem is never a reason to downgrade.
            return Ok(Decision::NeedCredentials {
                knobs: last.knobs.clone(),
                fallbacks: Vec::new(),
            });
        }
        if history.len() >= policy.max_attempts {
            return Err(give_up(
                format!(
                    "gave up after {} attempts (the attempt budget)",
                    history.len()
                ),
                last,
            ));
        }
        if elapsed >= policy.deadline {
            return Err(give_up(
                format!(
                    "gave up after {:.1} s (the overall deadline)",
                    elapsed.as_secs_f64()
                ),
                last,
            ));
        }
    }

    let ruled_out = RuledOut::from_history(policy, history)?;
    let knobs = choose(policy, history, &ruled_out)?;

    if let Some(last) = history.last() {
        if history
            .iter()
            .any(|t| t.knobs == knobs && t.with_credentials == has_credentials)
        {
            return Err(give_up(
                "no configuration left that could change the outcome".to_owned(),
                last,
            ));
        }
    }
    policy.admit(&knobs)?;

    let fallbacks = match history.last() {
        Some(last) => {
            let because = last.failure.as_ref().map(|f| &f.1);
            let mut steps = route::steps(policy, &last.knobs, &knobs, because);
            steps.extend(step_fallbacks(&last.knobs, &knobs, because));
            steps
        }
        None => route::first_steps(policy, &knobs),
    };
    if knobs.nla.is_on() && !has_credentials && ruled_out.nla.contains(&Nla::Off) {
        return Ok(Decision::NeedCredentials { knobs, fallbacks });
    }
    Ok(Decision::Attempt { knobs, fallbacks })
}
