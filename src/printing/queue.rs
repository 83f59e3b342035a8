//! The print queue's lifecycle as pure rules, like `pickup::next`: which
//! action is allowed in which state of a job, and where it leads. No I/O.
//! `store::print_jobs` stores the jobs and refuses, in the same UPDATE, any
//! change whose [`step`] does not start from the job's current state.
//!
//! ```text
//! queued ─send─► sending ─printed─► printed ─reprint─┐
//!   │               │  └─interrupted─► uncertain ─skip─► skipped
//!   │               └─fail─► failed        │  └─reprint─► queued
//!   └─fail / printer_removed ─► failed ◄───┘ printer_removed
//! ```
//!
//! Architecture invariant: a job is `sending` (committed) before its first
//! byte leaves; after a crash or a connection lost mid-job it is
//! `uncertain` and waits for a person. Printing is not idempotent, so
//! nothing here leads from `sending` or `uncertain` back to `queued` without
//! a person's `reprint`.

use std::fmt;

/// A job's state, stored by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Waits for its printer, in order.
    Queued,
    /// Its bytes are (maybe) leaving: committed before the first one does.
    Sending,
    /// The printer took every byte.
    Printed,
    /// It will not print (the printer was removed, the document cannot be
    /// rendered); `reason` says why.
    Failed,
    /// Sending was interrupted (a crash, a lost connection): it may or may
    /// not have printed. Waits for a person; blocks no other job.
    Uncertain,
    /// A person decided an uncertain job needs no reprint.
    Skipped,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Queued,
        State::Sending,
        State::Printed,
        State::Failed,
        State::Uncertain,
        State::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Sending => "sending",
            State::Printed => "printed",
            State::Failed => "failed",
            State::Uncertain => "uncertain",
            State::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Nothing more happens to it unless a person asks for a reprint
    /// (printed); these are pruned after `[printing] retain_days`.
    pub fn is_done(self) -> bool {
        matches!(self, State::Printed | State::Failed | State::Skipped)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a job: the queue's runner (send, printed, fail,
/// interrupted), the start of the service (interrupted, printer removed)
/// or a person (reprint, skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The runner takes the job; committed before the first byte leaves.
    Send,
    /// The printer took every byte.
    Printed,
    /// It cannot print (before sending, or the printer refused it whole).
    Fail,
    /// Sending stopped midway: a crash (found at the next start) or a lost
    /// connection. It may have printed.
    Interrupted,
    /// Its printer is no longer in the config.
    PrinterRemoved,
    /// A person asks for it (again): an uncertain job, or a printed one.
    Reprint,
    /// A person decides an uncertain job needs no reprint.
    Skip,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Send,
        Action::Printed,
        Action::Fail,
        Action::Interrupted,
        Action::PrinterRemoved,
        Action::Reprint,
        Action::Skip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Printed => "printed",
            Action::Fail => "fail",
            Action::Interrupted => "interrupted",
            Action::PrinterRemoved => "printer_removed",
            Action::Reprint => "reprint",
            Action::Skip => "skip",
        }
    }

    /// The states it may start from, and where it leads: the whole table.
    fn rule(self) -> (&'static [State], State) {
        use State::*;
        match self {
            Action::Send => (&[Queued], Sending),
            Action::Printed => (&[Sending], Printed),
            Action::Fail => (&[Queued, Sending], Failed),
            Action::Interrupted => (&[Sending], Uncertain),
            Action::PrinterRemoved => (&[Queued, Uncertain], Failed),
            Action::Reprint => (&[Uncertain, Printed], Queued),
            Action::Skip => (&[Uncertain], Skipped),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action the job's state does not allow (409 at the API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the print job is {state}: {action} is allowed only when it is {allowed}")]
pub struct NotAllowed {
    pub state: State,
    pub action: Action,
    /// The states it is allowed in, joined with " or ".
    pub allowed: String,
}

/// Where `action` leads from `state`, or why it may not happen.
pub fn next(state: State, action: Action) -> Result<State, NotAllowed> {
    let (from, to) = action.rule();
    if from.contains(&state) {
        Ok(to)
    } else {
        Err(NotAllowed {
            state,
            action,
            allowed: from
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
        })
    }
}

/// A state change as [`step`] gives it and `store::print_jobs` applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The action's name, for the refusal's message.
    pub action: &'static str,
    /// The states it may start from.
    pub from: Vec<&'static str>,
    /// The state it leads to.
    pub to: &'static str,
}

/// The action as `store::print_jobs` applies it: from which stored states,
/// to which one.
pub fn step(action: Action) -> Step {
    let (from, to) = action.rule();
    Step {
        action: action.as_str(),
        from: from.iter().map(|s| s.as_str()).collect(),
        to: to.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lifecycle as a table: every state × action, the allowed ones
    /// written out, everything else refused.
    #[test]
    fn only_the_listed_transitions_are_allowed() {
        use Action as A;
        use State as S;
        let allowed = [
            (S::Queued, A::Send, S::Sending),
            (S::Queued, A::Fail, S::Failed),
            (S::Queued, A::PrinterRemoved, S::Failed),
            (S::Sending, A::Printed, S::Printed),
            (S::Sending, A::Fail, S::Failed),
            (S::Sending, A::Interrupted, S::Uncertain),
            (S::Uncertain, A::Reprint, S::Queued),
            (S::Uncertain, A::Skip, S::Skipped),
            (S::Uncertain, A::PrinterRemoved, S::Failed),
            (S::Printed, A::Reprint, S::Queued),
        ];
        for state in State::ALL {
            for action in Action::ALL {
                let want = allowed
                    .iter()
                    .find(|(s, a, _)| *s == state && *a == action)
                    .map(|(_, _, to)| *to);
                assert_eq!(next(state, action).ok(), want, "{state} × {action}");
            }
        }
    }

    /// Printing is not idempotent: nothing but a person's reprint leads
    /// from sending or uncertain back to queued, and a skipped or failed
    /// job never prints again.
    #[test]
    fn an_interrupted_job_is_queued_again_only_by_a_person() {
        for action in Action::ALL {
            for from in [State::Sending, State::Uncertain] {
                if next(from, action) == Ok(State::Queued) {
                    assert_eq!((from, action), (State::Uncertain, Action::Reprint));
                }
            }
            assert!(next(State::Skipped, action).is_err());
            assert!(next(State::Failed, action).is_err());
        }
    }

    #[test]
    fn a_refusal_names_the_state_and_what_was_allowed() {
        let err = next(State::Printed, Action::Skip).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the print job is printed: skip is allowed only when it is uncertain"
        );
        let step = step(Action::Reprint);
        assert_eq!(
            (step.from, step.to),
            (vec!["uncertain", "printed"], "queued")
        );
    }

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("done"), None);
    }
}
