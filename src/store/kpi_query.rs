//! The SQL reads of the KPI report (issue 13, KPI.md): the daily rollups,
//! the per-order facts, the identified customers' visits and the now-figures
//! of the order table. Plain rows out; the rules (percentiles, rates, NPS,
//! the windows) are `kpi/`'s.
//!
//! Days are `YYYY-MM-DD` text, compared as text (their order is the
//! calendar's); a window is `[from, to)`. Every read of a window is one
//! query, never one per day: a year's report reads ~13,000 rollup rows,
//! ~15,000 order rows and one row per identified customer.
//!
//! Must never: write, or compute a rule here (what counts where is
//! `kpi/`'s and the ingest's, `store/kpi_ingest.rs`).

use std::collections::BTreeMap;

use super::{ReadConn, StoreError};

/// A count column (SQLite integers are i64; a count is never negative).
fn count(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.max(0) as u64)
}

/// One rollup of one day: `kpi_daily(day, metric, dim, n)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    pub day: String,
    pub metric: String,
    pub dim: String,
    pub n: i64,
}

/// Every rollup of the days `[from, to)`, by day (one range of the
/// primary key).
pub fn rollups(conn: &ReadConn, from: &str, to: &str) -> Result<Vec<Rollup>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(
        "SELECT day, metric, dim, n FROM kpi_daily WHERE day >= ?1 AND day < ?2 ORDER BY day",
    )?;
    let rows = stmt
        .query_map([from, to], |r| {
            Ok(Rollup {
                day: r.get(0)?,
                metric: r.get(1)?,
                dim: r.get(2)?,
                n: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Orders received on `day` through `channel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub day: String,
    pub channel: String,
    pub n: u64,
}

/// Two times of one order, in unix ms, and the day its figure counts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub day: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Outcomes of one kind (and refusal reason) on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub day: String,
    pub outcome: String,
    pub refusal_reason: Option<String>,
    pub n: u64,
}

/// What the click-and-collect figures of a window read from `kpi_orders`,
/// each by its own day column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFacts {
    /// By `received_day`.
    pub received: Vec<Received>,
    /// received → ready, by `ready_day`, orders with a known receipt.
    pub ready: Vec<Span>,
    /// arrival → handover, by `handed_day`, orders with a known arrival.
    pub counter_wait: Vec<Span>,
    /// By `outcome_day`.
    pub outcomes: Vec<Outcome>,
    /// By `cancelled_day`: side → count.
    pub cancellations: Vec<(String, u64)>,
    /// Orders with `handed_day` in the window and a handed-over outcome
    /// (complete or partial).
    pub handed_over: u64,
    /// Of those, the ones followed by a sale (`cross_sell` = 1).
    pub handed_over_with_sale: u64,
}

/// The columns of `kpi_orders` that [`order_facts`] reads.
const ORDER_COLUMNS: &str = "channel, received_ms, received_day, ready_ms, ready_day, arrived_ms,
     handed_ms, handed_day, outcome, outcome_day, refusal_reason, cancelled_by, cancelled_day,
     cross_sell";

/// The order facts of the days `[from, to)`: one read of each order, then
/// each column group counted by its own day here (five queries, one per
/// day column, read most orders of a long window five times). With
/// `whole_table` (a long window: most orders have a day in it) one plain
/// pass over `kpi_orders` (a year: ~15,000 rows, a few ms); otherwise the
/// orders with any day in the window, SQLite's union of the five day
/// indexes (fast for a few days, ~4 µs an order for many).
pub fn order_facts(
    conn: &ReadConn,
    from: &str,
    to: &str,
    whole_table: bool,
) -> Result<OrderFacts, StoreError> {
    let mut stmt = if whole_table {
        conn.sql()
            .prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM kpi_orders"))?
    } else {
        conn.sql().prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS} FROM kpi_orders
             WHERE (received_day >= ?1 AND received_day < ?2)
                OR (ready_day >= ?1 AND ready_day < ?2)
                OR (handed_day >= ?1 AND handed_day < ?2)
                OR (outcome_day >= ?1 AND outcome_day < ?2)
                OR (cancelled_day >= ?1 AND cancelled_day < ?2)"
        ))?
    };
    let inw = |d: &Option<String>| d.as_deref().is_some_and(|d| d >= from && d < to);
    let mut received: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<(String, String, Option<String>), u64> = BTreeMap::new();
    let mut cancellations: BTreeMap<String, u64> = BTreeMap::new();
    let mut facts = OrderFacts::default();
    let mut rows = if whole_table {
        stmt.query([])?
    } else {
        stmt.query([from, to])?
    };
    while let Some(r) = rows.next()? {
        let received_day: Option<String> = r.get(2)?;
        let received_ms: Option<i64> = r.get(1)?;
        if inw(&received_day) {
            let channel: Option<String> = r.get(0)?;
            *received
                .entry((
                    received_day.clone().unwrap_or_default(),
                    channel.unwrap_or_else(|| "unknown".into()),
                ))
                .or_default() += 1;
        }
        let ready_day: Option<String> = r.get(4)?;
        let ready_ms: Option<i64> = r.get(3)?;
        if let (true, Some(start_ms), Some(end_ms)) = (inw(&ready_day), received_ms, ready_ms) {
            facts.ready.push(Span {
                day: ready_day.unwrap_or_default(),
                start_ms,
                end_ms,
            });
        }
        let handed_day: Option<String> = r.get(7)?;
        let outcome: Option<String> = r.get(8)?;
        if inw(&handed_day) {
            let (arrived_ms, handed_ms): (Option<i64>, Option<i64>) = (r.get(5)?, r.get(6)?);
            if let (Some(start_ms), Some(end_ms)) = (arrived_ms, handed_ms) {
                facts.counter_wait.push(Span {
                    day: handed_day.clone().unwrap_or_default(),
                    start_ms,
                    end_ms,
                });
            }
            if matches!(
                outcome.as_deref(),
                Some("handed_over" | "partially_handed_over")
            ) {
                facts.handed_over += 1;
                facts.handed_over_with_sale += u64::from(r.get::<_, i64>(13)? == 1);
            }
        }
        let outcome_day: Option<String> = r.get(9)?;
        if let (true, Some(outcome)) = (inw(&outcome_day), outcome) {
            *outcomes
                .entry((outcome_day.unwrap_or_default(), outcome, r.get(10)?))
                .or_default() += 1;
        }
        let cancelled_day: Option<String> = r.get(12)?;
        if inw(&cancelled_day) {
            let by: Option<String> = r.get(11)?;
            *cancellations
                .entry(by.unwrap_or_else(|| "unknown".into()))
                .or_default() += 1;
        }
    }
    facts.received = received
        .into_iter()
        .map(|((day, channel), n)| Received { day, channel, n })
        .collect();
    facts.outcomes = outcomes
        .into_iter()
        .map(|((day, outcome, refusal_reason), n)| Outcome {
            day,
            outcome,
            refusal_reason,
            n,
        })
        .collect();
    facts.cancellations = cancellations.into_iter().collect();
    Ok(facts)
}

/// The identified customers of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Customers {
    /// Distinct customer tokens with a visit in the window.
    pub customers: u64,
    /// Customers of the window with a visit in `[lookback_from, from)`.
    pub returning: u64,
}

/// Customers and returning customers of `[from, to)`, one pass over
/// `kpi_customers` (first and last day of each customer's visits, kept
/// with `kpi_visits`) instead of a DISTINCT over the window's visits,
/// which grew with the window (a year: ~950,000 visits sorted per report).
/// A customer whose first or last visit falls in the window visited in it;
/// one whose visits straddle it needs one seek of `kpi_visits`' primary key
/// (customer, day). Likewise for the lookback: a first visit in
/// `[lookback_from, from)` answers it, one before needs a seek. The
/// visits themselves are the `visits` rollup (`kpi_daily`).
pub fn customers(
    conn: &ReadConn,
    from: &str,
    to: &str,
    lookback_from: &str,
) -> Result<Customers, StoreError> {
    let (customers, returning) = conn
        .sql()
        .prepare_cached(
            "SELECT count(*), coalesce(sum(CASE
                 WHEN c.first_day >= ?1 THEN 0
                 WHEN c.first_day >= ?3 THEN 1
                 ELSE EXISTS (SELECT 1 FROM kpi_visits p
                              WHERE p.customer_token = c.customer_token
                                AND p.day >= ?3 AND p.day < ?1) END), 0)
             FROM kpi_customers c
             WHERE c.last_day >= ?1 AND c.first_day < ?2
               AND (c.first_day >= ?1 OR c.last_day < ?2
                    OR EXISTS (SELECT 1 FROM kpi_visits v
                               WHERE v.customer_token = c.customer_token
                                 AND v.day >= ?1 AND v.day < ?2))",
        )?
        .query_row([from, to, lookback_from], |r| {
            Ok((count(r, 0)?, count(r, 1)?))
        })?;
    Ok(Customers {
        customers,
        returning,
    })
}

/// An open order of the order table (no customer data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrder {
    pub order_id: String,
    pub state: String,
    /// Unix seconds (0 when unknown).
    pub pickup_by_unix: i64,
    /// Lines of the order (the `item_count` of its `store.pickup.received`).
    pub item_count: u64,
}

/// The states in which an order still waits for its customer: the same
/// list as the pickup board's (`store/orders.rs`).
const OPEN: &str = "state IN ('received', 'picking', 'ready')";

/// Open orders whose `pickup_by` has passed at `now_s` (unix seconds), the
/// earliest deadline first: the pickup board's `overdue` list.
pub fn overdue(conn: &ReadConn, now_s: i64) -> Result<Vec<OpenOrder>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&format!(
        "SELECT order_id, state, coalesce(pickup_by_unix, 0),
                coalesce(json_array_length(document, '$.items'), 0)
         FROM pickup_orders WHERE {OPEN} AND pickup_by_unix < ?1
         ORDER BY pickup_by_unix, order_id"
    ))?;
    let rows = stmt
        .query_map([now_s], |r| {
            Ok(OpenOrder {
                order_id: r.get(0)?,
                state: r.get(1)?,
                pickup_by_unix: r.get(2)?,
                item_count: count(r, 3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Ready orders on the due list at `now_s` (deadline in `[now_s, until_s]`,
/// the pickup board's `due` list) whose customer nobody marked as reminded
/// (`reminders_sent` = 0), the earliest deadline first.
pub fn ready_not_reminded(
    conn: &ReadConn,
    now_s: i64,
    until_s: i64,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(
        "SELECT order_id FROM pickup_orders
         WHERE state = 'ready' AND pickup_by_unix >= ?1 AND pickup_by_unix <= ?2
           AND coalesce(json_extract(local, '$.reminders_sent'), 0) = 0
         ORDER BY pickup_by_unix, order_id",
    )?;
    let rows = stmt
        .query_map([now_s, until_s], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}
