//! Central's versions of an order, reconciled with what the store did: the
//! issue's table (`super::reconcile`) on the stored order, in the
//! downlink's writer operation, so a page of the feed, its events and the
//! cursor after it commit together (`sync/downlink.rs` owns the op and the
//! cursor; this module the orders).
//!
//! Must never: let an older version overwrite a newer one, or undo a
//! handover (a cancellation after one becomes `store.pickup.conflict`).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::document::{CentralOrder, CentralStatus, Line};
use super::order::{get, record, save, unix, CancelledBy, Outcome};
use super::{reconcile, CentralChange, Effect, State};
use crate::events::format_time;
use crate::events::made::{PickupCancelled, PickupConflict, PickupReceived};
use crate::store::orders::{self, NewOrderRow};
use crate::store::{StoreError, WriteCtx};

/// What storing one of central's versions did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Updated,
    Older,
}

/// What storing a page of the order feed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageOutcome {
    pub new: u64,
    pub updated: u64,
    pub ignored_older: u64,
}

/// A page of the order feed, each order through [`central_version`], in
/// the caller's (one) writer transaction.
pub fn central_page(
    ctx: &mut WriteCtx<'_>,
    orders: &[CentralOrder],
    now: OffsetDateTime,
    no_show_grace_s: i64,
) -> Result<PageOutcome, StoreError> {
    let mut outcome = PageOutcome::default();
    for order in orders {
        match central_version(ctx, order, now, no_show_grace_s)? {
            Stored::New => outcome.new += 1,
            Stored::Updated => outcome.updated += 1,
            Stored::Older => outcome.ignored_older += 1,
        }
    }
    Ok(outcome)
}

/// Central's new version of an order (or a first one), with the store's
/// reconciliation table applied. Returns whether it was new, newer or older.
pub fn central_version(
    ctx: &mut WriteCtx<'_>,
    incoming: &CentralOrder,
    now: OffsetDateTime,
    no_show_grace_s: i64,
) -> Result<Stored, StoreError> {
    let now_s = format_time(now);
    let pickup_by_unix = unix(&incoming.pickup_by);
    let Some(mut order) = get(ctx.reader(), &incoming.order_id)? else {
        let cancelled = incoming.status == CentralStatus::Cancelled;
        let state = if cancelled {
            State::Cancelled
        } else {
            State::Received
        };
        let document = incoming
            .to_json()
            .map_err(|e| StoreError::invalid(format!("order {}", incoming.order_id), e))?;
        orders::insert(
            ctx,
            &NewOrderRow {
                order_id: &incoming.order_id,
                version: incoming.version,
                central_status: incoming.status.as_str(),
                document: &document,
                state: state.as_str(),
                pickup_by_unix,
                now: &now_s,
            },
        )?;
        record(ctx, &received(incoming))?;
        if cancelled {
            record_cancelled_by_central(ctx, incoming)?;
        }
        return Ok(Stored::New);
    };
    if order.version >= incoming.version {
        return Ok(Stored::Older);
    }
    let silent = order.is_store_reservation();
    let old_lines = order.lines();
    let old_pickup_by = order.pickup_by().to_owned();
    let cancelled = incoming.status == CentralStatus::Cancelled
        && order.central_status != CentralStatus::Cancelled;
    let items_changed = order.document.items != incoming.items;
    let old_document = std::mem::replace(&mut order.document, incoming.clone());
    if silent {
        // Central's copy of an order made here: our code hash stays.
        order.document.verification = old_document.verification;
    }
    let new_lines = order.lines();
    let change = if silent {
        // Central's copy of an order made here changes nothing but a
        // cancellation: the store owns it.
        CentralChange {
            cancelled,
            ..CentralChange::default()
        }
    } else {
        CentralChange {
            cancelled,
            items_changed,
            // Compared as instants: the same time written differently is no change.
            deadline_changed: order.pickup_by_unix != pickup_by_unix,
            deadline_ahead: pickup_by_unix + no_show_grace_s > now.unix_timestamp(),
            picks_stale: picks_stale(&order.local.picked, &old_lines, &new_lines),
            // Orders that became no-shows before this was recorded: ready if
            // something was picked, else picking.
            before_no_show: order
                .local
                .before_no_show
                .as_deref()
                .and_then(State::parse)
                .or(Some(if order.local.picked.is_empty() {
                    State::Picking
                } else {
                    State::Ready
                })),
        }
    };
    let (to, effect) = reconcile(order.state, change);
    let from = order.state;
    order.version = incoming.version;
    order.central_status = incoming.status;
    order.pickup_by_unix = pickup_by_unix;
    order.state = to;
    order.revision += 1;
    if !silent && (change.items_changed || change.deadline_changed) {
        order.local.changes = Some(describe_changes(
            &old_lines,
            &new_lines,
            &old_pickup_by,
            &incoming.pickup_by,
        ));
    }
    if to == State::Picking && from != State::Picking {
        // Picked again from scratch.
        order.local.picked.clear();
        order.local.missing_lines.clear();
    }
    if from == State::NoShow && to != State::NoShow {
        order.local.before_no_show = None;
    }
    if effect == Effect::CancelledByCentral {
        order.local.outcome = Some(Outcome::Cancelled {
            by: CancelledBy::Central,
            cancelled_at: now_s.clone(),
            reason: incoming.cancel_reason(),
            staff_id: None,
        });
    }
    save(ctx, &mut order, &now_s)?;
    match effect {
        Effect::CancelledByCentral => record_cancelled_by_central(ctx, incoming)?,
        Effect::Conflict => record(
            ctx,
            &PickupConflict {
                order_id: &order.order_id,
                local_state: from.as_str(),
                central_state: "cancelled",
                detail: &format!(
                    "handed over in the store, but central cancelled it (version {})",
                    incoming.version
                ),
            },
        )?,
        // Central moved the order back (to picking, or out of no-show): the
        // transition is recorded as receiving that version. A change that
        // moves nothing records nothing (central knows what it changed).
        Effect::None if to != from => record(ctx, &received(incoming))?,
        Effect::None => {}
    }
    Ok(Stored::Updated)
}

/// Whether what was picked no longer fits the order: a picked line gone or
/// cut below its pick, or a line added or raised since picking.
fn picks_stale(picked: &BTreeMap<String, i64>, old_lines: &[Line], new_lines: &[Line]) -> bool {
    !picked.is_empty()
        && (picked.iter().any(|(line, p)| {
            *p > 0
                && !new_lines
                    .iter()
                    .any(|n| n.line_id == *line && n.quantity >= *p)
        }) || new_lines.iter().any(|n| {
            !picked.contains_key(&n.line_id)
                || old_lines
                    .iter()
                    .find(|o| o.line_id == n.line_id)
                    .is_none_or(|o| n.quantity > o.quantity)
        }))
}

/// `store.pickup.received` for central's version.
fn received(o: &CentralOrder) -> PickupReceived<'_> {
    PickupReceived {
        order_id: &o.order_id,
        version: o.version,
        channel: o.channel.as_str(),
        item_count: o.items.len() as i64,
        pickup_by: &o.pickup_by,
    }
}

/// Records `store.pickup.cancelled` by central, with central's reason.
fn record_cancelled_by_central(ctx: &mut WriteCtx<'_>, o: &CentralOrder) -> Result<(), StoreError> {
    record(
        ctx,
        &PickupCancelled {
            order_id: &o.order_id,
            by: "central",
            reason: &o.cancel_reason(),
        },
    )
}

/// What a version changed, for staff to see.
fn describe_changes(old: &[Line], new: &[Line], old_by: &str, new_by: &str) -> String {
    let mut parts = Vec::new();
    for o in old {
        match new.iter().find(|n| n.line_id == o.line_id) {
            None => parts.push(format!("line {} removed", o.line_id)),
            Some(n) if n.quantity != o.quantity => parts.push(format!(
                "line {}: quantity {} → {}",
                o.line_id, o.quantity, n.quantity
            )),
            _ => {}
        }
    }
    for n in new {
        if !old.iter().any(|o| o.line_id == n.line_id) {
            parts.push(format!(
                "line {} added (quantity {})",
                n.line_id, n.quantity
            ));
        }
    }
    if old_by != new_by {
        parts.push(format!("pickup_by {old_by} → {new_by}"));
    }
    if parts.is_empty() {
        parts.push("item details changed".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(l: &[(&str, i64)]) -> Vec<Line> {
        l.iter()
            .map(|(id, q)| Line {
                line_id: (*id).into(),
                quantity: *q,
            })
            .collect()
    }

    #[test]
    fn picks_go_stale_when_a_picked_line_shrinks_or_a_line_is_added_or_raised() {
        let picked: BTreeMap<String, i64> = [("1".into(), 1), ("2".into(), 2)].into();
        let old = lines(&[("1", 1), ("2", 2)]);
        assert!(!picks_stale(&picked, &old, &old));
        assert!(picks_stale(&picked, &old, &lines(&[("1", 1), ("2", 1)])));
        assert!(picks_stale(&picked, &old, &lines(&[("1", 1)])));
        assert!(picks_stale(&picked, &old, &lines(&[("1", 2), ("2", 2)])));
        assert!(picks_stale(
            &picked,
            &old,
            &lines(&[("1", 1), ("2", 2), ("3", 1)])
        ));
        assert!(!picks_stale(&BTreeMap::new(), &old, &lines(&[("1", 9)])));
    }

    #[test]
    fn changes_are_described_line_by_line() {
        assert_eq!(
            describe_changes(
                &lines(&[("1", 1), ("2", 2)]),
                &lines(&[("2", 3), ("3", 1)]),
                "a",
                "b"
            ),
            "line 1 removed; line 2: quantity 2 → 3; line 3 added (quantity 1); pickup_by a → b"
        );
        assert_eq!(
            describe_changes(&lines(&[("1", 1)]), &lines(&[("1", 1)]), "a", "a"),
            "item details changed"
        );
    }
}
