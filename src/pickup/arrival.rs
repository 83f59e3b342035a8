//! The customer at the counter, as the database records it: a verified pass
//! or code records the arrival once (`store.pickup.customer_arrived`) and
//! which methods were seen; a wrong code is counted, and the
//! `code_max_failures`-th locks the order's code. The checks themselves
//! (signature, argon2id) run before, off the writer (`verify.rs`,
//! `hasher.rs`, `service.rs`).
//!
//! Must never: see or keep a clear code.

use time::OffsetDateTime;

use super::order::{get, record, save, Order};
use super::verify::Refusal;
use crate::events::format_time;
use crate::events::made::CustomerArrived;
use crate::store::{StoreError, WriteCtx};

/// Marks the customer arrived (by `verified_by`) and records the event.
pub(super) fn arrive(
    ctx: &mut WriteCtx<'_>,
    order: &mut Order,
    verified_by: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    order.local.arrived_at = Some(format_time(now));
    order.local.arrived_unix = Some(now.unix_timestamp());
    order.local.arrived_verified_by = Some(verified_by.to_owned());
    record(
        ctx,
        &CustomerArrived {
            order_id: &order.order_id,
            verified_by,
        },
    )
}

/// The outcome of a verification attempt, as the writer applied it.
#[derive(Debug)]
pub enum Verified {
    Ok(Box<Order>),
    Refused(Refusal),
}

/// Records a successful verification by `method` (pass or code): the
/// arrival once per order, and that this method was seen. Resets the
/// code failures on a right code.
pub fn verified(
    ctx: &mut WriteCtx<'_>,
    order_id: &str,
    method: &str,
    now: OffsetDateTime,
) -> Result<Verified, StoreError> {
    let Some(mut order) = get(ctx.reader(), order_id)? else {
        return Ok(Verified::Refused(Refusal::UnknownOrder));
    };
    if let Some(r) = Refusal::for_state(order.state) {
        return Ok(Verified::Refused(r));
    }
    let mut changed = false;
    if method == "code" && order.code_failures != 0 {
        order.code_failures = 0;
        changed = true;
    }
    if !order.local.verified.iter().any(|m| m == method) {
        order.local.verified.push(method.to_owned());
        changed = true;
    }
    if order.local.arrived_at.is_none() {
        arrive(ctx, &mut order, method, now)?;
        changed = true;
    }
    if changed {
        order.revision += 1;
        save(ctx, &mut order, &format_time(now))?;
    }
    Ok(Verified::Ok(Box::new(order)))
}

/// Counts a wrong code; the `max_failures`-th locks the order for `lock_s`.
pub fn wrong_code(
    ctx: &mut WriteCtx<'_>,
    order_id: &str,
    max_failures: i64,
    lock_s: i64,
    now: OffsetDateTime,
) -> Result<Verified, StoreError> {
    let Some(mut order) = get(ctx.reader(), order_id)? else {
        return Ok(Verified::Refused(Refusal::UnknownOrder));
    };
    order.code_failures += 1;
    if order.code_failures >= max_failures {
        order.code_failures = 0;
        order.code_locked_until = Some(now.unix_timestamp() + lock_s);
        tracing::warn!(
            order_id,
            lock_s,
            "pickup code locked after repeated wrong codes"
        );
    }
    save(ctx, &mut order, &format_time(now))?;
    Ok(Verified::Refused(Refusal::WrongCode))
}
