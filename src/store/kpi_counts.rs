//! Small reads of the KPI tables and the order table for what the API
//! answers at once: the `/metrics` counts at scrape time (orders by state,
//! overdue now, feedback answers today) and the one-answer-per-order rule
//! of feedback, checked in the writer's transaction before an append.
//!
//! Must never: count money (the metrics are open, without a token), or
//! scan the event log (the fact tables are indexed for exactly these).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::OptionalExtension;

use super::{ReadConn, StoreError};
use crate::events::NewEvent;

/// The feedback event type whose answers are one per order.
const FEEDBACK: &str = "store.feedback.submitted";

/// Refuses `events` when one of them is a feedback answer for an order
/// that already has one in `kpi_feedback`, or for an order answered twice
/// among `events` ([`StoreError::FeedbackExists`]). Runs inside the
/// writer's transaction (`conn` = `WriteCtx::reader`), so an answer
/// committed a moment ago by another request is seen.
pub fn refuse_second_feedback(conn: &ReadConn, events: &[NewEvent]) -> Result<(), StoreError> {
    let mut seen = BTreeSet::new();
    for event in events.iter().filter(|e| e.event_type.name == FEEDBACK) {
        let Some(order_id) = event.data.get("order_id").and_then(|v| v.as_str()) else {
            continue;
        };
        if !seen.insert(order_id) || feedback_exists(conn, order_id)? {
            return Err(StoreError::FeedbackExists {
                order_id: order_id.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether `order_id` has a feedback answer (the unique index of
/// `kpi_feedback.order_id`).
pub fn feedback_exists(conn: &ReadConn, order_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached("SELECT 1 FROM kpi_feedback WHERE order_id = ?1")?
        .query_row([order_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// What `/metrics` shows of the store's day: counts only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    /// Pickup orders by state (every state of the workflow, 0 included).
    pub orders_by_state: BTreeMap<&'static str, i64>,
    /// Open orders (received, picking, ready) past `pickup_by`, as the
    /// pickup board's `overdue` list shows them.
    pub overdue: i64,
    /// Feedback answers whose local day is `today`.
    pub feedback_today: i64,
}

/// The states of `pickup_orders.state` (migration 3), all reported.
const STATES: [&str; 8] = [
    "received",
    "picking",
    "ready",
    "handed_over",
    "partially_handed_over",
    "refused",
    "no_show",
    "cancelled",
];

/// The counts at `now` (unix seconds); `today` is the local day
/// `YYYY-MM-DD` in `store.timezone`.
pub fn counts(conn: &ReadConn, now: i64, today: &str) -> Result<Counts, StoreError> {
    let mut orders_by_state: BTreeMap<&'static str, i64> = STATES.iter().map(|s| (*s, 0)).collect();
    let mut stmt = conn
        .sql()
        .prepare_cached("SELECT state, count(*) FROM pickup_orders GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        if let Some(known) = STATES.iter().find(|s| **s == state) {
            orders_by_state.insert(known, n);
        }
    }
    let overdue = conn.sql().query_row(
        &format!(
            "SELECT count(*) FROM pickup_orders WHERE {} AND pickup_by_unix < ?1",
            super::orders::OPEN
        ),
        [now],
        |r| r.get(0),
    )?;
    let feedback_today = conn
        .sql()
        .prepare_cached("SELECT count(*) FROM kpi_feedback WHERE day = ?1")?
        .query_row([today], |r| r.get(0))?;
    Ok(Counts {
        orders_by_state,
        overdue,
        feedback_today,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback(order_id: Option<&str>) -> NewEvent {
        let mut data = serde_json::json!({"score": 9, "context": "pickup"});
        if let Some(o) = order_id {
            data["order_id"] = o.into();
        }
        NewEvent::from_client(FEEDBACK, data, None, None).unwrap()
    }

    #[test]
    fn a_second_answer_for_an_order_is_refused_in_the_table_and_in_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("k.db"), "s1").unwrap();
        db.sql()
            .execute(
                "INSERT INTO kpi_feedback (seq, day, at_ms, context, score, order_id) VALUES (1, '2026-03-01', 0, 'pickup', 9, 'W-1')",
                [],
            )
            .unwrap();
        let refused = |events: &[NewEvent]| match refuse_second_feedback(&db, events) {
            Err(StoreError::FeedbackExists { order_id }) => Some(order_id),
            Ok(()) => None,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(refused(&[feedback(Some("W-1"))]).as_deref(), Some("W-1"));
        assert_eq!(refused(&[feedback(Some("W-2"))]), None);
        assert_eq!(
            refused(&[feedback(Some("W-2")), feedback(Some("W-2"))]).as_deref(),
            Some("W-2")
        );
        assert_eq!(
            refused(&[feedback(None), feedback(None)]),
            None,
            "answers without an order are not limited"
        );
    }

    #[test]
    fn counts_are_by_state_overdue_as_the_board_and_answers_of_the_local_day() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("k.db"), "s1").unwrap();
        db.sql()
            .execute_batch(
                "INSERT INTO pickup_orders (order_id, version, central_status, document, received_at, updated_at, state, pickup_by_unix) VALUES
                   ('W-1', 1, 'open', '{}', 't', 't', 'ready', 100),
                   ('W-2', 1, 'open', '{}', 't', 't', 'ready', 300),
                   ('W-3', 1, 'open', '{}', 't', 't', 'handed_over', 100),
                   ('W-4', 1, 'open', '{}', 't', 't', 'picking', 50);
                 INSERT INTO kpi_feedback (seq, day, at_ms, context, score, order_id) VALUES
                   (1, '2026-03-01', 0, 'pickup', 9, 'W-3'), (2, '2026-03-02', 0, 'checkout', 3, NULL),
                   (3, '2026-03-02', 0, 'pickup', 10, NULL);",
            )
            .unwrap();
        let c = counts(&db, 200, "2026-03-02").unwrap();
        assert_eq!(c.orders_by_state["ready"], 2);
        assert_eq!(c.orders_by_state["handed_over"], 1);
        assert_eq!(c.orders_by_state["picking"], 1);
        assert_eq!(c.orders_by_state["no_show"], 0);
        assert_eq!(c.orders_by_state.len(), 8);
        assert_eq!(c.overdue, 2, "W-1 and W-4: open and past pickup_by");
        assert_eq!(c.feedback_today, 2);
    }
}
