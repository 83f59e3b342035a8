//! Click-and-collect. This file is the order lifecycle as pure rules:
//! which action is allowed in which state, where it leads, and what a new
//! version from central does to an order the store is working on. No I/O.
//! The parts that store transitions and record their events build on it,
//! each one idea:
//!
//! - `document.rs`: central's order document, typed, checked where it enters
//! - `order.rs`: the stored order (document + state + what the store added),
//!   its lists, and `PickupError`
//! - `view.rs`: `OrderView`, the order as the API and the tablets see it
//! - `actions.rs`: staff actions and the no-show, one writer op each
//! - `arrival.rs`: verified passes and codes (the arrival), wrong codes
//! - `central.rs`: central's versions reconciled with the store's state
//! - `reservation.rs`: reservations made in the store
//! - `verify.rs` (passes), `hasher.rs` (argon2id threads), `staff.rs`,
//!   `staff_session.rs`, and `service.rs`, the running part
//!
//! Must never: undo a handover (the store's handover decision wins; a clash
//! with central becomes a conflict), or allow an action it cannot name in
//! `allowed()`.

pub mod actions;
pub mod arrival;
pub mod central;
pub mod document;
pub mod hasher;
pub mod order;
pub mod printouts;
pub mod reservation;
pub mod service;
pub mod staff;
pub mod staff_session;
pub mod verify;
pub mod view;

use std::fmt;

/// The store's state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Received,
    Picking,
    Ready,
    HandedOver,
    PartiallyHandedOver,
    Refused,
    NoShow,
    Cancelled,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Received,
        State::Picking,
        State::Ready,
        State::HandedOver,
        State::PartiallyHandedOver,
        State::Refused,
        State::NoShow,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Picking => "picking",
            State::Ready => "ready",
            State::HandedOver => "handed_over",
            State::PartiallyHandedOver => "partially_handed_over",
            State::Refused => "refused",
            State::NoShow => "no_show",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The goods left the store (fully or in part).
    pub fn is_handed_over(self) -> bool {
        matches!(self, State::HandedOver | State::PartiallyHandedOver)
    }

    /// Nothing more happens to the order in the store.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::HandedOver | State::PartiallyHandedOver | State::Refused | State::Cancelled
        )
    }

    /// Still waiting for the customer (the due and overdue lists).
    pub fn is_open(self) -> bool {
        matches!(self, State::Received | State::Picking | State::Ready)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What staff (or the deadline timer) do to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    StartPicking,
    Ready,
    /// `partial`: some ordered quantity was not handed over.
    Handover {
        partial: bool,
    },
    Refuse,
    /// Cancelled by the store.
    Cancel,
    /// Staff reminded the customer; no state change.
    Reminded,
    /// The deadline (plus grace) passed.
    NoShow,
}

impl Action {
    /// The name used in API paths and in `allowed`.
    pub fn name(self) -> &'static str {
        match self {
            Action::StartPicking => "start-picking",
            Action::Ready => "ready",
            Action::Handover { .. } => "handover",
            Action::Refuse => "refuse",
            Action::Cancel => "cancel",
            Action::Reminded => "reminded",
            Action::NoShow => "no-show",
        }
    }
}

/// An action that is not possible now; says what is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Illegal {
    pub current_state: State,
    pub allowed: Vec<&'static str>,
}

/// The staff actions possible in `state` (the timer's no-show is not listed).
pub fn allowed(state: State) -> Vec<&'static str> {
    [
        Action::StartPicking,
        Action::Ready,
        Action::Handover { partial: false },
        Action::Refuse,
        Action::Cancel,
        Action::Reminded,
    ]
    .into_iter()
    .filter(|a| target(state, *a).is_some())
    .map(Action::name)
    .collect()
}

/// Where `action` leads from `state`.
pub fn next(state: State, action: Action) -> Result<State, Illegal> {
    target(state, action).ok_or_else(|| Illegal {
        current_state: state,
        allowed: allowed(state),
    })
}

/// The transition table itself.
fn target(state: State, action: Action) -> Option<State> {
    use State as S;
    let to = match (state, action) {
        (S::Received, Action::StartPicking) => S::Picking,
        (S::Picking, Action::Ready) => S::Ready,
        (S::Ready, Action::Handover { partial: false }) => S::HandedOver,
        (S::Ready, Action::Handover { partial: true }) => S::PartiallyHandedOver,
        (S::Ready, Action::Refuse) => S::Refused,
        (S::Received | S::Picking | S::Ready | S::NoShow, Action::Cancel) => S::Cancelled,
        (S::Received | S::Picking | S::Ready, Action::Reminded) => state,
        (S::Received | S::Picking | S::Ready, Action::NoShow) => S::NoShow,
        _ => return None,
    };
    Some(to)
}

/// What central's new version of an order changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CentralChange {
    pub cancelled: bool,
    pub items_changed: bool,
    pub deadline_changed: bool,
    /// The new deadline is still ahead (a no-show may re-open only then).
    pub deadline_ahead: bool,
    /// What was picked no longer fits the order: a picked line is gone or
    /// reduced below what was picked, or lines were added or raised.
    pub picks_stale: bool,
    /// Where a no-show order was before the deadline passed.
    pub before_no_show: Option<State>,
}

/// What the store records besides storing central's new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Stored; the state stays.
    None,
    /// `store.pickup.cancelled` with `by: central`.
    CancelledByCentral,
    /// `store.pickup.conflict`: handed over offline after central cancelled.
    Conflict,
}

/// The table of the issue: a new central version against the store's state.
pub fn reconcile(state: State, change: CentralChange) -> (State, Effect) {
    use State as S;
    if change.cancelled {
        return match state {
            S::Received | S::Picking | S::Ready | S::NoShow => {
                (S::Cancelled, Effect::CancelledByCentral)
            }
            S::HandedOver | S::PartiallyHandedOver => (state, Effect::Conflict),
            S::Refused | S::Cancelled => (state, Effect::None),
        };
    }
    match state {
        S::Ready if change.picks_stale => (S::Picking, Effect::None),
        // "New pickup_by → back to ready": back to where it was when the
        // deadline passed (ready for an order that was waiting on the
        // shelf), and only when the new deadline is still ahead.
        S::NoShow if change.deadline_changed && change.deadline_ahead => {
            let back = change
                .before_no_show
                .filter(|s| s.is_open())
                .unwrap_or(S::Ready);
            // Back on the shelf only if what is there still fits the order.
            let back = if back == S::Ready && change.picks_stale {
                S::Picking
            } else {
                back
            };
            (back, Effect::None)
        }
        _ => (state, Effect::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_and_partial_handover() {
        let s = next(State::Received, Action::StartPicking).unwrap();
        let s = next(s, Action::Ready).unwrap();
        assert_eq!(
            next(s, Action::Handover { partial: false }),
            Ok(State::HandedOver)
        );
        assert_eq!(
            next(s, Action::Handover { partial: true }),
            Ok(State::PartiallyHandedOver)
        );
        assert_eq!(next(s, Action::Refuse), Ok(State::Refused));
    }

    #[test]
    fn illegal_actions_say_what_is_allowed() {
        let e = next(State::Received, Action::Handover { partial: false }).unwrap_err();
        assert_eq!(e.current_state, State::Received);
        assert_eq!(e.allowed, ["start-picking", "cancel", "reminded"]);
        assert_eq!(
            allowed(State::Ready),
            ["handover", "refuse", "cancel", "reminded"]
        );
        for s in [
            State::HandedOver,
            State::PartiallyHandedOver,
            State::Refused,
            State::Cancelled,
        ] {
            assert!(allowed(s).is_empty(), "{s} is final");
            assert!(s.is_final());
        }
    }

    #[test]
    fn every_state_round_trips_its_name() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn the_central_version_table() {
        let cancel = CentralChange {
            cancelled: true,
            ..Default::default()
        };
        for s in [State::Received, State::Picking, State::Ready, State::NoShow] {
            assert_eq!(
                reconcile(s, cancel),
                (State::Cancelled, Effect::CancelledByCentral)
            );
        }
        for s in [State::HandedOver, State::PartiallyHandedOver] {
            assert_eq!(
                reconcile(s, cancel),
                (s, Effect::Conflict),
                "the store's handover wins"
            );
        }
        for s in [State::Refused, State::Cancelled] {
            assert_eq!(reconcile(s, cancel), (s, Effect::None));
        }
        let gone = CentralChange {
            items_changed: true,
            picks_stale: true,
            ..Default::default()
        };
        assert_eq!(
            reconcile(State::Ready, gone),
            (State::Picking, Effect::None)
        );
        let deadline = CentralChange {
            deadline_changed: true,
            deadline_ahead: true,
            ..Default::default()
        };
        assert_eq!(
            reconcile(State::NoShow, deadline),
            (State::Ready, Effect::None)
        );
        let from_picking = CentralChange {
            before_no_show: Some(State::Picking),
            ..deadline
        };
        assert_eq!(
            reconcile(State::NoShow, from_picking),
            (State::Picking, Effect::None),
            "back to where it was"
        );
        let past = CentralChange {
            deadline_ahead: false,
            ..deadline
        };
        assert_eq!(
            reconcile(State::NoShow, past),
            (State::NoShow, Effect::None),
            "a new deadline that has passed too re-opens nothing"
        );
        assert_eq!(
            reconcile(State::Refused, deadline),
            (State::Refused, Effect::None)
        );
    }

    #[test]
    fn no_action_ever_leaves_a_handover() {
        let actions = [
            Action::StartPicking,
            Action::Ready,
            Action::Handover { partial: false },
            Action::Handover { partial: true },
            Action::Refuse,
            Action::Cancel,
            Action::Reminded,
            Action::NoShow,
        ];
        for s in [State::HandedOver, State::PartiallyHandedOver] {
            for a in actions {
                assert!(next(s, a).is_err(), "{s} + {a:?}");
            }
            for change in [
                CentralChange {
                    cancelled: true,
                    ..Default::default()
                },
                CentralChange {
                    deadline_changed: true,
                    deadline_ahead: true,
                    picks_stale: true,
                    items_changed: true,
                    cancelled: false,
                    before_no_show: Some(State::Ready),
                },
            ] {
                assert_eq!(reconcile(s, change).0, s);
            }
        }
    }
}
