//! The click-and-collect workflow on the database: every change of an
//! order is ONE writer operation that checks the rules of [`super`],
//! updates the row and records the matching event from events.md, so the
//! state and the event log cannot disagree after a crash.
//!
//! Functions taking a `WriteCtx` run inside the writer's transaction;
//! functions taking a `ReadConn` only read. All checks happen before the
//! first write, so an error never leaves half an action behind. The SQL is
//! `store/orders.rs`'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{next, reconcile, Action, CentralChange, Effect, Illegal, State};
use crate::events::{format_time, NewEvent};
use crate::store::orders::{self, NewOrderRow, OrderRow, Query};
use crate::store::sync::CentralOrder;
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
    pub outcome: Option<Value>,
    /// The state an order was in when it became a no-show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_no_show: Option<String>,
}

/// One order as stored.
#[derive(Debug, Clone)]
pub struct Order {
    pub order_id: String,
    pub version: i64,
    pub central_status: String,
    pub document: Value,
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
    /// error (nothing but this module writes one).
    pub fn from_row(row: OrderRow) -> Result<Order, StoreError> {
        let bad = |what: String| StoreError::Sqlite(format!("order {}: {what}", row.order_id));
        Ok(Order {
            document: serde_json::from_str(&row.document).map_err(|e| bad(e.to_string()))?,
            state: State::parse(&row.state)
                .ok_or_else(|| bad(format!("unknown state {}", row.state)))?,
            local: serde_json::from_str(&row.local).map_err(|e| bad(e.to_string()))?,
            order_id: row.order_id,
            version: row.version,
            central_status: row.central_status,
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
        let local = serde_json::to_string(&self.local)
            .map_err(|e| StoreError::Sqlite(format!("order {}: {e}", self.order_id)))?;
        Ok(OrderRow {
            order_id: self.order_id.clone(),
            version: self.version,
            central_status: self.central_status.clone(),
            document: self.document.to_string(),
            state: self.state.as_str().to_owned(),
            revision: self.revision,
            pickup_by_unix: self.pickup_by_unix,
            local,
            code_failures: self.code_failures,
            code_locked_until: self.code_locked_until,
            received_at: self.received_at.clone(),
            updated_at: self.updated_at.clone(),
        })
    }
}

impl Order {
    pub fn items(&self) -> &[Value] {
        self.document
            .get("items")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Ordered quantity per line, in the document's order.
    pub fn lines(&self) -> Vec<(String, i64)> {
        self.items()
            .iter()
            .filter_map(|i| {
                Some((
                    i.get("line_id")?.as_str()?.to_owned(),
                    i.get("quantity")?.as_i64()?,
                ))
            })
            .collect()
    }

    pub fn require_id_check(&self) -> bool {
        self.document
            .pointer("/verification/require_id_check")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn code_hash(&self) -> Option<&str> {
        self.document
            .pointer("/verification/code_hash")
            .and_then(Value::as_str)
    }

    pub fn pickup_by(&self) -> &str {
        self.document
            .get("pickup_by")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn channel(&self) -> &str {
        self.document
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Made in this store (`S-<store>-<n>`): central's copies change it silently.
    pub fn is_store_reservation(&self) -> bool {
        self.order_id.starts_with("S-") && self.channel() == "store"
    }

    /// The order as the API and the tablets see it (no code hash, ever).
    pub fn view(&self) -> Value {
        let d = &self.document;
        let mut customer = json!({
            "display_name": d.pointer("/customer/display_name").cloned().unwrap_or(json!("")),
        });
        if let Some(p) = d.pointer("/customer/phone_last4") {
            customer["phone_last4"] = p.clone();
        }
        let items: Vec<Value> = self
            .items()
            .iter()
            .map(|i| {
                let mut item = json!({
                    "line_id": i.get("line_id"),
                    "sku": i.get("sku"),
                    "name": i.get("name"),
                    "quantity": i.get("quantity"),
                });
                if let Some(g) = i.get("gtin") {
                    item["gtin"] = g.clone();
                }
                let line = i.get("line_id").and_then(Value::as_str).unwrap_or("");
                if let Some(p) = self.local.picked.get(line) {
                    item["picked"] = json!(p);
                }
                item
            })
            .collect();
        let mut v = json!({
            "order_id": self.order_id,
            "version": self.version,
            "revision": self.revision,
            "state": self.state.as_str(),
            "central_status": self.central_status,
            "channel": self.channel(),
            "pickup_by": self.pickup_by(),
            "customer": customer,
            "items": items,
            "require_id_check": self.require_id_check(),
            "reminders_sent": self.local.reminders_sent,
            "updated_at": self.updated_at,
            "received_at": self.received_at,
            "allowed": super::allowed(self.state),
        });
        let mut put = |k: &str, val: Option<Value>| {
            if let Some(val) = val {
                v[k] = val;
            }
        };
        put("paid", d.get("paid").cloned());
        put("notes", d.get("notes").cloned());
        put("location", self.local.location.clone().map(Value::from));
        if !self.local.missing_lines.is_empty() {
            put("missing_lines", Some(json!(self.local.missing_lines)));
        }
        put("arrived_at", self.local.arrived_at.clone().map(Value::from));
        put(
            "arrived_verified_by",
            self.local.arrived_verified_by.clone().map(Value::from),
        );
        put("changes", self.local.changes.clone().map(Value::from));
        put("outcome", self.local.outcome.clone());
        put(
            "code_locked_until",
            self.code_locked_until
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .map(|t| Value::from(format_time(t))),
        );
        v
    }
}

pub fn get(conn: &ReadConn, order_id: &str) -> Result<Option<Order>, StoreError> {
    orders::get(conn, order_id)?
        .map(Order::from_row)
        .transpose()
}

fn must_get(conn: &ReadConn, order_id: &str) -> Result<Order, PickupError> {
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
}

pub fn list(conn: &ReadConn, filter: &Filter, limit: u32) -> Result<Vec<Order>, StoreError> {
    let query = match filter {
        Filter::All => Query::All,
        Filter::State(s) => Query::State(s.as_str()),
        Filter::Due { now, until } => Query::Due {
            now: *now,
            until: *until,
        },
        Filter::Overdue { now } => Query::Overdue { now: *now },
        Filter::Search(q) => Query::Search(q),
    };
    orders::list(conn, &query, limit)?
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
fn write(ctx: &mut WriteCtx<'_>, order: &mut Order, now: &str) -> Result<(), StoreError> {
    order.updated_at = now.to_owned();
    orders::update(ctx, &order.to_row()?)
}

fn record(ctx: &mut WriteCtx<'_>, event_type: &str, data: Value) -> Result<(), StoreError> {
    let event = NewEvent::service(event_type, data)
        .map_err(|e| StoreError::Sqlite(format!("{event_type} does not fit events.md: {e}")))?;
    ctx.append(&event)?;
    Ok(())
}

/// How staff verified the customer at handover (events.md mapping table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        lines: Vec<(String, i64)>,
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
    let (event_type, data) = match cmd {
        Command::StartPicking { staff_id } => {
            order.local.changes = None;
            (
                "store.pickup.picking_started",
                json!({"order_id": order_id, "staff_id": staff_id}),
            )
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
                if !lines.iter().any(|(l, _)| l == m) {
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
                .iter()
                .map(|(l, q)| (l.clone(), if missing.contains(l) { 0 } else { *q }))
                .collect();
            order.local.location = Some(location.to_owned());
            order.local.missing_lines = missing.clone();
            order.local.changes = None;
            (
                "store.pickup.ready",
                json!({"order_id": order_id, "staff_id": staff_id, "location": location, "missing_lines": missing}),
            )
        }
        Command::Handover {
            staff_id,
            verified_by,
            lines,
        } => {
            let handed = check_handover(&order, *verified_by, lines)?;
            if order.local.arrived_at.is_none() {
                // Found by name or id at the counter: the arrival is this moment.
                arrive(ctx, &mut order, "manual_lookup", now)?;
            }
            let partial = matches!(to, State::PartiallyHandedOver);
            let mut data = json!({
                "order_id": order_id,
                "staff_id": staff_id,
                "verified_by": verified_by.as_str(),
                "lines": handed.iter().map(|(l, q)| json!({"line_id": l, "quantity_handed": q})).collect::<Vec<_>>(),
                "partial": partial,
            });
            if let Some(arrived) = order.local.arrived_unix {
                data["wait_seconds"] = json!((now.unix_timestamp() - arrived).max(0));
            }
            order.local.outcome = Some(json!({
                "handed_over_at": now_s, "staff_id": staff_id,
                "verified_by": verified_by.as_str(), "lines": data["lines"].clone(),
            }));
            ("store.pickup.handed_over", data)
        }
        Command::Refuse { staff_id, reason } => {
            if !REFUSE_REASONS.contains(&reason.as_str()) {
                return Err(PickupError::Invalid(format!(
                    "reason must be one of {}",
                    REFUSE_REASONS.join(", ")
                )));
            }
            order.local.outcome =
                Some(json!({"refused_at": now_s, "staff_id": staff_id, "reason": reason}));
            (
                "store.pickup.refused",
                json!({"order_id": order_id, "staff_id": staff_id, "reason": reason}),
            )
        }
        Command::Cancel { staff_id, reason } => {
            let reason = reason.trim();
            if reason.is_empty() || reason.len() > 500 {
                return Err(PickupError::Invalid(
                    "reason must say why (1 to 500 characters)".into(),
                ));
            }
            order.local.outcome = Some(
                json!({"cancelled_at": now_s, "by": "store", "staff_id": staff_id, "reason": reason}),
            );
            (
                "store.pickup.cancelled",
                json!({"order_id": order_id, "by": "store", "reason": reason}),
            )
        }
        Command::Reminded { .. } => {
            order.local.reminders_sent += 1;
            order.revision += 1;
            write(ctx, &mut order, &now_s)?;
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
            (
                "store.pickup.no_show",
                json!({"order_id": order_id, "pickup_by": order.pickup_by(), "reminders_sent": order.local.reminders_sent}),
            )
        }
    };
    order.state = to;
    order.revision += 1;
    write(ctx, &mut order, &now_s)?;
    record(ctx, event_type, data)?;
    Ok(order)
}

fn handover_is_partial(order: &Order, lines: &[(String, i64)]) -> bool {
    order.lines().iter().any(|(line, ordered)| {
        let handed: i64 = lines
            .iter()
            .filter(|(l, _)| l == line)
            .map(|(_, q)| q)
            .sum();
        handed < *ordered
    })
}

/// The lines handed over, one per ordered line, after checking them and
/// that the verification fits the order.
fn check_handover(
    order: &Order,
    verified_by: HandoverVerification,
    lines: &[(String, i64)],
) -> Result<Vec<(String, i64)>, PickupError> {
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
    for (l, q) in lines {
        let Some((_, quantity)) = ordered.iter().find(|(o, _)| o == l) else {
            return Err(PickupError::Invalid(format!(
                "line `{l}` is not in the order"
            )));
        };
        // Only what was picked can leave the store (0 for a missing line).
        // (Orders made ready before picks were recorded have none: the
        // ordered quantity.)
        let max = if order.local.picked.is_empty() {
            *quantity
        } else {
            order
                .local
                .picked
                .get(l)
                .copied()
                .unwrap_or(0)
                .min(*quantity)
        };
        if *q < 0 || *q > max {
            return Err(PickupError::Invalid(format!(
                "line `{l}`: quantity_handed must be 0 to {max} (picked {max} of {quantity})"
            )));
        }
        if lines.iter().filter(|(o, _)| o == l).count() > 1 {
            return Err(PickupError::Invalid(format!("line `{l}` is listed twice")));
        }
    }
    let handed: Vec<(String, i64)> = ordered
        .iter()
        .map(|(l, _)| {
            let q = lines.iter().find(|(o, _)| o == l).map_or(0, |(_, q)| *q);
            (l.clone(), q)
        })
        .collect();
    if handed.iter().all(|(_, q)| *q == 0) {
        return Err(PickupError::Invalid(
            "nothing handed over: when the customer takes nothing, refuse the order".into(),
        ));
    }
    Ok(handed)
}

/// Why a customer's pass or code was not accepted (the `reason` of a 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    BadSignature,
    UnknownKey,
    Expired,
    OtherStore,
    UnknownOrder,
    WrongCode,
    AlreadyHandedOver,
    Cancelled,
    Refused,
    NoShow,
    /// The order's `code_hash` cannot be checked on this box (not argon2id,
    /// or costlier than central issues); the pass and the ID check still work.
    CodeUnavailable,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadSignature => "bad_signature",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Expired => "expired",
            Refusal::OtherStore => "other_store",
            Refusal::UnknownOrder => "unknown_order",
            Refusal::WrongCode => "wrong_code",
            Refusal::AlreadyHandedOver => "already_handed_over",
            Refusal::Cancelled => "cancelled",
            Refusal::Refused => "refused",
            Refusal::NoShow => "no_show",
            Refusal::CodeUnavailable => "code_unavailable",
        }
    }

    /// Whether a customer may be verified for an order in `state`.
    pub fn for_state(state: State) -> Option<Refusal> {
        match state {
            State::Received | State::Picking | State::Ready => None,
            State::HandedOver | State::PartiallyHandedOver => Some(Refusal::AlreadyHandedOver),
            State::Cancelled => Some(Refusal::Cancelled),
            State::Refused => Some(Refusal::Refused),
            State::NoShow => Some(Refusal::NoShow),
        }
    }
}

fn arrive(
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
        "store.pickup.customer_arrived",
        json!({"order_id": order.order_id, "verified_by": verified_by}),
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
        write(ctx, &mut order, &format_time(now))?;
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
    write(ctx, &mut order, &format_time(now))?;
    Ok(Verified::Refused(Refusal::WrongCode))
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
    let doc: Value = serde_json::from_str(&incoming.document)
        .map_err(|e| StoreError::Sqlite(format!("order {}: {e}", incoming.order_id)))?;
    let pickup_by_unix = unix(&incoming.pickup_by);
    let Some(mut order) = get(ctx.reader(), &incoming.order_id)? else {
        let cancelled = incoming.status == "cancelled";
        let state = if cancelled {
            State::Cancelled
        } else {
            State::Received
        };
        orders::insert(
            ctx,
            &NewOrderRow {
                order_id: &incoming.order_id,
                version: incoming.version,
                central_status: &incoming.status,
                document: &incoming.document,
                state: state.as_str(),
                pickup_by_unix,
                now: &now_s,
            },
        )?;
        record(ctx, "store.pickup.received", received_data(incoming))?;
        if cancelled {
            record(
                ctx,
                "store.pickup.cancelled",
                json!({"order_id": incoming.order_id, "by": "central", "reason": central_reason(&doc)}),
            )?;
        }
        return Ok(Stored::New);
    };
    if order.version >= incoming.version {
        return Ok(Stored::Older);
    }
    let silent = order.is_store_reservation();
    let old_lines = order.lines();
    let old_pickup_by = order.pickup_by().to_owned();
    let cancelled = incoming.status == "cancelled" && order.central_status != "cancelled";
    let items_changed = order.items()
        != doc
            .get("items")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
    let old_document = std::mem::replace(&mut order.document, doc.clone());
    if silent {
        // Central's copy of an order made here: our code hash stays.
        if let Some(v) = old_document.get("verification") {
            order.document["verification"] = v.clone();
        }
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
    order.central_status = incoming.status.clone();
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
        order.local.outcome =
            Some(json!({"cancelled_at": now_s, "by": "central", "reason": central_reason(&doc)}));
    }
    write(ctx, &mut order, &now_s)?;
    match effect {
        Effect::CancelledByCentral => record(
            ctx,
            "store.pickup.cancelled",
            json!({"order_id": order.order_id, "by": "central", "reason": central_reason(&doc)}),
        )?,
        Effect::Conflict => record(
            ctx,
            "store.pickup.conflict",
            json!({
                "order_id": order.order_id,
                "local_state": from.as_str(),
                "central_state": "cancelled",
                "detail": format!("handed over in the store, but central cancelled it (version {})", incoming.version),
            }),
        )?,
        // Central moved the order back (to picking, or out of no-show): the
        // transition is recorded as receiving that version. A change that
        // moves nothing records nothing (central knows what it changed).
        Effect::None if to != from => {
            record(ctx, "store.pickup.received", received_data(incoming))?
        }
        Effect::None => {}
    }
    Ok(Stored::Updated)
}

/// Whether what was picked no longer fits the order: a picked line gone or
/// cut below its pick, or a line added or raised since picking.
fn picks_stale(
    picked: &BTreeMap<String, i64>,
    old_lines: &[(String, i64)],
    new_lines: &[(String, i64)],
) -> bool {
    !picked.is_empty()
        && (picked
            .iter()
            .any(|(line, p)| *p > 0 && !new_lines.iter().any(|(l, q)| l == line && q >= p))
            || new_lines.iter().any(|(l, q)| {
                !picked.contains_key(l)
                    || old_lines
                        .iter()
                        .find(|(o, _)| o == l)
                        .is_none_or(|(_, old_q)| q > old_q)
            }))
}

/// What storing one of central's versions did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Updated,
    Older,
}

fn received_data(o: &CentralOrder) -> Value {
    json!({
        "order_id": o.order_id,
        "version": o.version,
        "channel": o.channel,
        "item_count": o.item_count,
        "pickup_by": o.pickup_by,
    })
}

fn central_reason(doc: &Value) -> String {
    doc.get("notes")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or("cancelled by central")
        .chars()
        .take(500)
        .collect()
}

fn describe_changes(
    old: &[(String, i64)],
    new: &[(String, i64)],
    old_by: &str,
    new_by: &str,
) -> String {
    let mut parts = Vec::new();
    for (l, q) in old {
        match new.iter().find(|(n, _)| n == l) {
            None => parts.push(format!("line {l} removed")),
            Some((_, nq)) if nq != q => parts.push(format!("line {l}: quantity {q} → {nq}")),
            _ => {}
        }
    }
    for (l, q) in new {
        if !old.iter().any(|(o, _)| o == l) {
            parts.push(format!("line {l} added (quantity {q})"));
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

/// Unix seconds of an RFC 3339 time (0 when unparseable: checked earlier).
pub fn unix(t: &str) -> i64 {
    crate::events::parse_time(t)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

/// A reservation made in the store (a customer called; staff scanned items).
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub display_name: String,
    pub phone_last4: Option<String>,
    /// (sku, gtin, name, quantity)
    pub items: Vec<(String, Option<String>, String, i64)>,
    pub pickup_by: OffsetDateTime,
    pub require_id_check: bool,
    pub paid: Option<bool>,
}

/// Creates `S-<store_id>-<n>` (version 1, channel `store`) with the code's
/// hash and records `store.reservation.created`.
pub fn create_reservation(
    ctx: &mut WriteCtx<'_>,
    store_id: &str,
    r: &NewReservation,
    code_hash: &str,
    now: OffsetDateTime,
) -> Result<Order, PickupError> {
    let n = orders::next_reservation_number(ctx)?;
    let order_id = format!("S-{store_id}-{n}");
    let now_s = format_time(now);
    let pickup_by = format_time(r.pickup_by);
    let items: Vec<Value> = r
        .items
        .iter()
        .enumerate()
        .map(|(i, (sku, gtin, name, quantity))| {
            let mut item = json!({"line_id": (i + 1).to_string(), "sku": sku, "name": name, "quantity": quantity});
            if let Some(g) = gtin {
                item["gtin"] = json!(g);
            }
            item
        })
        .collect();
    let mut customer = json!({"display_name": r.display_name});
    if let Some(p) = &r.phone_last4 {
        customer["phone_last4"] = json!(p);
    }
    let mut doc = json!({
        "order_id": order_id, "version": 1, "status": "open", "channel": "store",
        "created_at": now_s, "pickup_by": pickup_by, "customer": customer, "items": items,
        "verification": {"code_hash": code_hash, "require_id_check": r.require_id_check},
    });
    if let Some(p) = r.paid {
        doc["paid"] = json!(p);
    }
    orders::insert(
        ctx,
        &NewOrderRow {
            order_id: &order_id,
            version: 1,
            central_status: "open",
            document: &doc.to_string(),
            state: State::Received.as_str(),
            pickup_by_unix: r.pickup_by.unix_timestamp(),
            now: &now_s,
        },
    )?;
    record(
        ctx,
        "store.reservation.created",
        json!({"order_id": order_id, "version": 1, "channel": "store", "item_count": items.len(), "pickup_by": pickup_by}),
    )?;
    must_get(ctx.reader(), &order_id)
}

/// What storing a page of the order feed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PageOutcome {
    pub new: u64,
    pub updated: u64,
    pub ignored_older: u64,
}

/// Central's versions of a page of the order feed, each through
/// [`central_version`], in the caller's (one) writer transaction: the
/// downlink stores the cursor after the page in the same one.
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
