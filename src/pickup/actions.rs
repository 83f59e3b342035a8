//! Staff actions (and the deadline timer's no-show) on an order: each is
//! ONE writer operation that checks the rules of [`super`] (and `If-Match`)
//! first, then updates the row and records exactly one event from
//! events.md, so the state and the event log cannot disagree after a crash.
//!
//! Must never: undo a handover, write before every check passed, or act
//! for a staff id that does not exist.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::arrival::arrive;
use super::order::{
    made, must_get, save, CancelledBy, HandedLine, Order, Outcome, PickupError, ARRIVAL_HOLD_S,
};
use super::printouts::{self, Printouts};
use super::{next, Action, Illegal, State};
use crate::events::format_time;
use crate::events::made::{
    HandedOver, NoShow, PickingStarted, PickupCancelled, PickupReady, PickupRefused,
};
use crate::store::WriteCtx;

/// How staff verified the customer at handover (events.md mapping table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoverVerification {
    Pass,
    Code,
    IdCheck,
    ManualOverride,
}

impl HandoverVerification {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pass" => Self::Pass,
            "code" => Self::Code,
            "id_check" => Self::IdCheck,
            "manual_override" => Self::ManualOverride,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Code => "code",
            Self::IdCheck => "id_check",
            Self::ManualOverride => "manual_override",
        }
    }
}

/// A staff action or the deadline timer.
#[derive(Debug, Clone)]
pub enum Command {
    StartPicking {
        staff_id: String,
    },
    Ready {
        staff_id: String,
        location: String,
        missing_lines: Vec<String>,
    },
    Handover {
        staff_id: String,
        verified_by: HandoverVerification,
        lines: Vec<HandedLine>,
        /// Staff confirmed the goods are on the shelf (needed for an order
        /// flagged at a restore, ignored otherwise).
        shelf_checked: bool,
    },
    Refuse {
        staff_id: String,
        reason: String,
    },
    Cancel {
        staff_id: String,
        reason: String,
    },
    Reminded {
        staff_id: String,
    },
    NoShow,
}

impl Command {
    /// The action's name as in API paths (and metrics).
    pub fn action_name(&self) -> &'static str {
        match self {
            Command::StartPicking { .. } => "start-picking",
            Command::Ready { .. } => "ready",
            Command::Handover { .. } => "handover",
            Command::Refuse { .. } => "refuse",
            Command::Cancel { .. } => "cancel",
            Command::Reminded { .. } => "reminded",
            Command::NoShow => "no-show",
        }
    }

    fn staff_id(&self) -> Option<&str> {
        match self {
            Command::StartPicking { staff_id }
            | Command::Ready { staff_id, .. }
            | Command::Handover { staff_id, .. }
            | Command::Refuse { staff_id, .. }
            | Command::Cancel { staff_id, .. }
            | Command::Reminded { staff_id } => Some(staff_id),
            Command::NoShow => None,
        }
    }
}

pub const REFUSE_REASONS: [&str; 4] = ["damaged", "wrong_item", "changed_mind", "other"];

/// Carries out `cmd` on the order: checks the rules (and `If-Match`), then
/// updates the row and records exactly one event (a handover of a customer
/// not yet marked arrived also records the arrival first).
pub fn act(
    ctx: &mut WriteCtx<'_>,
    order_id: &str,
    cmd: &Command,
    if_match: Option<i64>,
    now: OffsetDateTime,
    printouts: &Printouts,
) -> Result<Order, PickupError> {
    let mut order = must_get(ctx.reader(), order_id)?;
    let illegal_now = |o: &Order| Illegal {
        current_state: o.state,
        allowed: super::allowed(o.state),
    };
    if let Some(sent) = if_match {
        if sent != order.revision {
            return Err(PickupError::Stale {
                sent,
                current: order.revision,
                illegal: illegal_now(&order),
            });
        }
    }
    let action = match cmd {
        Command::StartPicking { .. } => Action::StartPicking,
        Command::Ready { .. } => Action::Ready,
        Command::Handover { lines, .. } => Action::Handover {
            partial: handover_is_partial(&order, lines),
        },
        Command::Refuse { .. } => Action::Refuse,
        Command::Cancel { .. } => Action::Cancel,
        Command::Reminded { .. } => Action::Reminded,
        Command::NoShow => Action::NoShow,
    };
    let to = next(order.state, action).map_err(|illegal| PickupError::Illegal {
        action: action.name(),
        illegal,
        revision: order.revision,
    })?;
    if let Some(staff) = cmd.staff_id() {
        if !crate::store::staff::exists(ctx.reader(), staff)? {
            return Err(PickupError::Invalid(format!(
                "unknown staff_id `{staff}`; staff are added with `store-edge staff add`"
            )));
        }
    }
    let now_s = format_time(now);
    let event = match cmd {
        Command::StartPicking { staff_id } => {
            order.local.changes = None;
            made(&PickingStarted { order_id, staff_id })?
        }
        Command::Ready {
            staff_id,
            location,
            missing_lines,
        } => {
            let location = location.trim();
            if location.is_empty() || location.len() > 64 {
                return Err(PickupError::Invalid(
                    "location (the shelf or bin) must be 1 to 64 characters".into(),
                ));
            }
            let lines = order.lines();
            let mut missing: Vec<String> = Vec::new();
            for m in missing_lines {
                if !lines.iter().any(|l| l.line_id == *m) {
                    return Err(PickupError::Invalid(format!(
                        "missing_lines names line `{m}`, which the order does not have"
                    )));
                }
                if !missing.contains(m) {
                    missing.push(m.clone());
                }
            }
            if missing.len() == lines.len() {
                return Err(PickupError::Invalid(
                    "every line is missing: nothing can be made ready; cancel the order instead"
                        .into(),
                ));
            }
            order.local.picked = lines
                .into_iter()
                .map(|l| {
                    let q = if missing.contains(&l.line_id) {
                        0
                    } else {
                        l.quantity
                    };
                    (l.line_id, q)
                })
                .collect();
            order.local.location = Some(location.to_owned());
            order.local.changes = None;
            let event = made(&PickupReady {
                order_id,
                staff_id,
                location,
                missing_lines: &missing,
            })?;
            order.local.missing_lines = missing;
            event
        }
        Command::Handover {
            staff_id,
            verified_by,
            lines,
            shelf_checked,
        } => {
            if order.local.shelf_check_after_restore && !shelf_checked {
                return Err(PickupError::ShelfCheckNeeded {
                    order_id: order_id.to_owned(),
                    location: order.local.location.clone(),
                    revision: order.revision,
                });
            }
            let handed = check_handover(&order, *verified_by, lines)?;
            if order.local.arrived_at.is_none() {
                // Found by name or id at the counter: the arrival is this moment.
                arrive(ctx, &mut order, "manual_lookup", now)?;
            }
            let event = made(&HandedOver {
                order_id,
                staff_id,
                verified_by: verified_by.as_str(),
                lines: &handed,
                partial: matches!(to, State::PartiallyHandedOver),
                wait_seconds: order
                    .local
                    .arrived_unix
                    .map(|arrived| (now.unix_timestamp() - arrived).max(0)),
            })?;
            order.local.outcome = Some(Outcome::HandedOver {
                handed_over_at: now_s.clone(),
                lines: handed,
                staff_id: staff_id.clone(),
                verified_by: *verified_by,
            });
            event
        }
        Command::Refuse { staff_id, reason } => {
            if !REFUSE_REASONS.contains(&reason.as_str()) {
                return Err(PickupError::Invalid(format!(
                    "reason must be one of {}",
                    REFUSE_REASONS.join(", ")
                )));
            }
            order.local.outcome = Some(Outcome::Refused {
                reason: reason.clone(),
                refused_at: now_s.clone(),
                staff_id: staff_id.clone(),
            });
            made(&PickupRefused {
                order_id,
                staff_id,
                reason,
            })?
        }
        Command::Cancel { staff_id, reason } => {
            let reason = reason.trim();
            if reason.is_empty() || reason.len() > 500 {
                return Err(PickupError::Invalid(
                    "reason must say why (1 to 500 characters)".into(),
                ));
            }
            order.local.outcome = Some(Outcome::Cancelled {
                by: CancelledBy::Store,
                cancelled_at: now_s.clone(),
                reason: reason.to_owned(),
                staff_id: Some(staff_id.clone()),
            });
            made(&PickupCancelled {
                order_id,
                by: "store",
                reason,
            })?
        }
        Command::Reminded { .. } => {
            order.local.reminders_sent += 1;
            order.revision += 1;
            save(ctx, &mut order, &now_s)?;
            // events.md has no type for a reminder: it is counted and sent
            // with the no-show, if it comes to that.
            return Ok(order);
        }
        Command::NoShow
            if order
                .local
                .arrived_unix
                .is_some_and(|a| a >= now.unix_timestamp() - ARRIVAL_HOLD_S) =>
        {
            return Err(PickupError::Invalid(
                "the customer arrived within the last hour: not a no-show".into(),
            ))
        }
        Command::NoShow => {
            order.local.before_no_show = Some(order.state.as_str().to_owned());
            made(&NoShow {
                order_id,
                pickup_by: order.pickup_by(),
                reminders_sent: order.local.reminders_sent,
            })?
        }
    };
    order.state = to;
    order.revision += 1;
    save(ctx, &mut order, &now_s)?;
    ctx.append(&event)?;
    queue_printouts(ctx, &order, cmd, printouts, now)?;
    Ok(order)
}

/// The slip of an order made ready and the confirmation of a handover, in
/// the action's own transaction, when the config names their printers.
fn queue_printouts(
    ctx: &mut WriteCtx<'_>,
    order: &Order,
    cmd: &Command,
    printouts: &Printouts,
    now: OffsetDateTime,
) -> Result<(), PickupError> {
    let at = now.unix_timestamp();
    match (cmd, &order.local.outcome) {
        (Command::Ready { .. }, _) => {
            if let Some(printer) = &printouts.slip_printer {
                printouts::queue(
                    ctx,
                    printer,
                    &printouts::slip(order, printouts.language),
                    at,
                )?;
            }
        }
        (
            Command::Handover { staff_id, .. },
            Some(Outcome::HandedOver {
                handed_over_at,
                lines,
                ..
            }),
        ) => {
            if let Some(printer) = &printouts.confirmation_printer {
                let staff = crate::store::staff::list(ctx.reader())?
                    .into_iter()
                    .find(|m| m.id == *staff_id)
                    .map_or_else(|| staff_id.clone(), |m| m.name);
                let partial = order.state == State::PartiallyHandedOver;
                let content = printouts::confirmation(
                    order,
                    lines,
                    partial,
                    &staff,
                    handed_over_at,
                    printouts.language,
                );
                printouts::queue(ctx, printer, &content, at)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn handover_is_partial(order: &Order, lines: &[HandedLine]) -> bool {
    order.lines().iter().any(|ordered| {
        let handed: i64 = lines
            .iter()
            .filter(|l| l.line_id == ordered.line_id)
            .map(|l| l.quantity)
            .sum();
        handed < ordered.quantity
    })
}

/// The lines handed over, one per ordered line, after checking them and
/// that the verification fits the order.
fn check_handover(
    order: &Order,
    verified_by: HandoverVerification,
    lines: &[HandedLine],
) -> Result<Vec<HandedLine>, PickupError> {
    match verified_by {
        HandoverVerification::Pass | HandoverVerification::Code => {
            let method = verified_by.as_str();
            if !order.local.verified.iter().any(|m| m == method) {
                return Err(PickupError::Invalid(format!(
                    "verified_by is {method}, but no {method} was verified for this order; verify it first (POST /api/v1/pickups/verify) or check an ID document"
                )));
            }
        }
        HandoverVerification::IdCheck => {}
        HandoverVerification::ManualOverride => {
            if order.require_id_check() {
                return Err(PickupError::Invalid(
                    "this order requires an ID check: manual_override is not allowed".into(),
                ));
            }
        }
    }
    let ordered = order.lines();
    if lines.len() > ordered.len() {
        return Err(PickupError::Invalid(
            "more handed-over lines than the order has".into(),
        ));
    }
    for HandedLine {
        line_id: l,
        quantity: q,
    } in lines
    {
        let Some(line) = ordered.iter().find(|o| o.line_id == *l) else {
            return Err(PickupError::Invalid(format!(
                "line `{l}` is not in the order"
            )));
        };
        let quantity = line.quantity;
        // Only what was picked can leave the store (0 for a missing line).
        // (Orders made ready before picks were recorded have none: the
        // ordered quantity.)
        let max = if order.local.picked.is_empty() {
            quantity
        } else {
            order
                .local
                .picked
                .get(l)
                .copied()
                .unwrap_or(0)
                .min(quantity)
        };
        if *q < 0 || *q > max {
            return Err(PickupError::Invalid(format!(
                "line `{l}`: quantity_handed must be 0 to {max} (picked {max} of {quantity})"
            )));
        }
        if lines.iter().filter(|o| o.line_id == *l).count() > 1 {
            return Err(PickupError::Invalid(format!("line `{l}` is listed twice")));
        }
    }
    let handed: Vec<HandedLine> = ordered
        .into_iter()
        .map(|o| {
            let quantity = lines
                .iter()
                .find(|h| h.line_id == o.line_id)
                .map_or(0, |h| h.quantity);
            HandedLine {
                line_id: o.line_id,
                quantity,
            }
        })
        .collect();
    if handed.iter().all(|h| h.quantity == 0) {
        return Err(PickupError::Invalid(
            "nothing handed over: when the customer takes nothing, refuse the order".into(),
        ));
    }
    Ok(handed)
}
