//! One click-and-collect order as the store keeps it: central's typed
//! document, the store's state and what the store added (`Local`), read
//! from and written to `store/orders.rs`'s rows. Also the lists (board,
//! due, overdue, search) and the no-show candidates.
//!
//! Functions taking a `ReadConn` only read; [`save`] and [`record`] run
//! inside the writer's transaction of an action (`actions.rs`), a
//! verification (`arrival.rs`), a central version (`central.rs`) or a
//! reservation (`reservation.rs`), each of which checks everything before
//! its first write, so an error never leaves half a change behind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::actions::HandoverVerification;
use super::document::{CentralOrder, CentralStatus, Channel, Line};
use super::{Illegal, State};
use crate::events::made::Made;
use crate::events::NewEvent;
use crate::store::orders::{self, OrderRow, Query};
use crate::store::{ReadConn, StoreError, WriteCtx};

/// Why an action on an order was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum PickupError {
    #[error("no pickup order {0}")]
    NotFound(String),
    #[error("`{action}` is not possible while the order is {}; possible now: {}", .illegal.current_state, allowed_text(&.illegal.allowed))]
    Illegal {
        action: &'static str,
        illegal: Illegal,
        revision: i64,
    },
    #[error("the order changed meanwhile (revision {current}, you sent {sent}); reload it and try again")]
    Stale {
        sent: i64,
        current: i64,
        illegal: Illegal,
    },
    #[error("{0}")]
    Invalid(String),
    /// A handover of an order flagged at a restore without
    /// `shelf_checked_after_restore: true`.
    #[error("order {order_id} was open in the backup this box was restored from: the lost box may have handed it over after that backup. Check that the goods are still on the shelf{}, then hand over with shelf_checked_after_restore: true; if they are gone, do not hand over (ask central)", .location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default())]
    ShelfCheckNeeded {
        order_id: String,
        location: Option<String>,
        revision: i64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn allowed_text(allowed: &[&str]) -> String {
    if allowed.is_empty() {
        "nothing (the order is finished)".into()
    } else {
        allowed.join(", ")
    }
}

/// Lets a writer closure commit nothing on a refused action while still
/// rolling back on a storage error.
pub fn in_tx<T>(r: Result<T, PickupError>) -> Result<Result<T, PickupError>, StoreError> {
    match r {
        Err(PickupError::Store(e)) => Err(e),
        other => Ok(other),
    }
}

pub use crate::events::made::HandedLine;

/// Who cancelled an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CancelledBy {
    Store,
    Central,
}

/// How an order ended, as staff see it (fields in alphabetical order: the
/// API's JSON has always listed them so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Outcome {
    HandedOver {
        handed_over_at: String,
        lines: Vec<HandedLine>,
        staff_id: String,
        verified_by: HandoverVerification,
    },
    Refused {
        reason: String,
        refused_at: String,
        staff_id: String,
    },
    Cancelled {
        by: CancelledBy,
        cancelled_at: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staff_id: Option<String>,
    },
}

/// What the store added to central's document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Local {
    /// Picked quantity per line (set when the order is made ready).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub picked: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_unix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_verified_by: Option<String>,
    /// Every way the customer was verified so far (pass, code).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<String>,
    #[serde(default)]
    pub reminders_sent: i64,
    /// What central's last version changed, for staff to see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The state an order was in when it became a no-show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_no_show: Option<String>,
    /// Set by `store-edge db restore` on an order that was open in the
    /// backup: the lost box may have handed it over after the backup, so a
    /// handover needs staff to confirm the goods are still on the shelf.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shelf_check_after_restore: bool,
}

/// One order as stored.
#[derive(Debug, Clone)]
pub struct Order {
    pub order_id: String,
    pub version: i64,
    pub central_status: CentralStatus,
    pub document: CentralOrder,
    pub state: State,
    pub revision: i64,
    pub pickup_by_unix: i64,
    pub local: Local,
    pub code_failures: i64,
    pub code_locked_until: Option<i64>,
    pub received_at: String,
    pub updated_at: String,
}

impl Order {
    /// The order in a stored row; a row that does not parse is a storage
    /// error (only this folder writes rows, from checked documents).
    pub fn from_row(row: OrderRow) -> Result<Order, StoreError> {
        let id = &row.order_id;
        let bad = |what: String| StoreError::Invalid {
            what: format!("order {id}: {what}"),
            source: None,
        };
        Ok(Order {
            document: CentralOrder::from_stored(&row.document)
                .map_err(|e| StoreError::invalid(format!("order {id}: its document"), e))?,
            central_status: CentralStatus::parse(&row.central_status)
                .ok_or_else(|| bad(format!("unknown central status {}", row.central_status)))?,
            state: State::parse(&row.state)
                .ok_or_else(|| bad(format!("unknown state {}", row.state)))?,
            local: serde_json::from_str(&row.local)
                .map_err(|e| StoreError::invalid(format!("order {id}: its local part"), e))?,
            order_id: row.order_id,
            version: row.version,
            revision: row.revision,
            pickup_by_unix: row.pickup_by_unix,
            code_failures: row.code_failures,
            code_locked_until: row.code_locked_until,
            received_at: row.received_at,
            updated_at: row.updated_at,
        })
    }

    /// The row that stores this order.
    fn to_row(&self) -> Result<OrderRow, StoreError> {
        let bad = |e: serde_json::Error| StoreError::invalid(format!("order {}", self.order_id), e);
        Ok(OrderRow {
            order_id: self.order_id.clone(),
            version: self.version,
            central_status: self.central_status.as_str().to_owned(),
            document: self.document.to_json().map_err(bad)?,
            state: self.state.as_str().to_owned(),
            revision: self.revision,
            pickup_by_unix: self.pickup_by_unix,
            local: serde_json::to_string(&self.local).map_err(bad)?,
            code_failures: self.code_failures,
            code_locked_until: self.code_locked_until,
            received_at: self.received_at.clone(),
            updated_at: self.updated_at.clone(),
        })
    }

    /// Ordered quantity per line, in the document's order.
    pub fn lines(&self) -> Vec<Line> {
        self.document.lines()
    }

    pub fn require_id_check(&self) -> bool {
        self.document.verification.require_id_check
    }

    /// Central's argon2id hash of the customer's short code.
    pub fn code_hash(&self) -> &str {
        &self.document.verification.code_hash
    }

    pub fn pickup_by(&self) -> &str {
        &self.document.pickup_by
    }

    pub fn channel(&self) -> Channel {
        self.document.channel
    }

    /// Made in this store (`S-<store>-<n>`): central's copies change it silently.
    pub fn is_store_reservation(&self) -> bool {
        self.order_id.starts_with("S-") && self.channel() == Channel::Store
    }
}

pub fn get(conn: &ReadConn, order_id: &str) -> Result<Option<Order>, StoreError> {
    orders::get(conn, order_id)?
        .map(Order::from_row)
        .transpose()
}

pub(super) fn must_get(conn: &ReadConn, order_id: &str) -> Result<Order, PickupError> {
    get(conn, order_id)?.ok_or_else(|| PickupError::NotFound(order_id.to_owned()))
}

/// Which orders a list shows.
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    State(State),
    /// Open orders due from now until `until` (unix seconds).
    Due {
        now: i64,
        until: i64,
    },
    /// Open orders whose `pickup_by` has passed.
    Overdue {
        now: i64,
    },
    /// Order id or customer name containing the text.
    Search(String),
}

impl Filter {
    /// The list asked for by `state` (a state name, `due` or `overdue`) or
    /// a search text, which wins when it is not blank. `due_within_s` is
    /// `pickup.reminder_before_h` in seconds.
    pub fn from_request(
        state: Option<&str>,
        search: Option<&str>,
        now: i64,
        due_within_s: i64,
    ) -> Result<Filter, String> {
        if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
            return Ok(Filter::Search(text.to_owned()));
        }
        Ok(match state {
            None => Filter::All,
            Some("due") => Filter::Due {
                now,
                until: now + due_within_s,
            },
            Some("overdue") => Filter::Overdue { now },
            Some(s) => Filter::State(State::parse(s).ok_or_else(|| {
                format!(
                    "unknown state `{s}`; use one of received, picking, ready, handed_over, partially_handed_over, refused, no_show, cancelled, due, overdue"
                )
            })?),
        })
    }

    fn query(&self) -> Query<'_> {
        match self {
            Filter::All => Query::All,
            Filter::State(s) => Query::State(s.as_str()),
            Filter::Due { now, until } => Query::Due {
                now: *now,
                until: *until,
            },
            Filter::Overdue { now } => Query::Overdue { now: *now },
            Filter::Search(q) => Query::Search(q),
        }
    }
}

pub fn list(conn: &ReadConn, filter: &Filter, limit: u32) -> Result<Vec<Order>, StoreError> {
    orders::list(conn, &filter.query(), limit)?
        .into_iter()
        .map(Order::from_row)
        .collect()
}

/// How long a verified arrival holds off the no-show: the customer is at
/// the counter; one who verified early and left is a no-show after this.
pub const ARRIVAL_HOLD_S: i64 = 3600;

/// Open orders whose deadline plus grace has passed at `now` and whose
/// customer did not arrive within the last [`ARRIVAL_HOLD_S`].
pub fn no_show_candidates(
    conn: &ReadConn,
    now: i64,
    grace_s: i64,
) -> Result<Vec<String>, StoreError> {
    orders::no_show_candidates(conn, now, grace_s, ARRIVAL_HOLD_S)
}

/// Stores the whole row from `order` (which then is exactly what is on disk).
pub(super) fn save(ctx: &mut WriteCtx<'_>, order: &mut Order, now: &str) -> Result<(), StoreError> {
    order.updated_at = now.to_owned();
    orders::update(ctx, &order.to_row()?)
}

/// One of the service's own events, typed (`events::made`: a wrong field
/// does not compile), checked against the catalog.
pub(super) fn made<M: Made>(data: &M) -> Result<NewEvent, StoreError> {
    NewEvent::made(data)
        .map_err(|e| StoreError::invalid(format!("{} does not fit events.md", M::TYPE), e))
}

/// Records one of the service's own events in the same transaction.
pub(super) fn record<M: Made>(ctx: &mut WriteCtx<'_>, data: &M) -> Result<(), StoreError> {
    ctx.append(&made(data)?)?;
    Ok(())
}

/// Unix seconds of an RFC 3339 time (0 when unparseable: checked earlier).
pub fn unix(t: &str) -> i64 {
    crate::events::parse_time(t)
        .map(OffsetDateTime::unix_timestamp)
        .unwrap_or(0)
}
