//! The SQL reads of the KPI report (issue 13, KPI.md): the daily rollups,
//! the per-order facts, the identified customers' visits and the now-figures
//! of the order table. Plain rows out; the rules (percentiles, rates, NPS,
//! the windows) are `kpi/`'s.
//!
//! Days are `YYYY-MM-DD` text, compared as text (their order is the
//! calendar's); a window is `[from, to)`. Every read of a window is one
//! query over an index range, never one per day: a year's report reads
//! ~25,000 rollup rows and ~15,000 order rows.
//!
//! Must never: write, or compute a rule here (what counts where is
//! `kpi/`'s and the ingest's, `store/kpi_ingest.rs`).

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

/// The order facts of the days `[from, to)`.
pub fn order_facts(conn: &ReadConn, from: &str, to: &str) -> Result<OrderFacts, StoreError> {
    let c = conn.sql();
    let received = c
        .prepare_cached(
            "SELECT received_day, coalesce(channel, 'unknown'), count(*) FROM kpi_orders
             WHERE received_day >= ?1 AND received_day < ?2 GROUP BY 1, 2",
        )?
        .query_map([from, to], |r| {
            Ok(Received {
                day: r.get(0)?,
                channel: r.get(1)?,
                n: count(r, 2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let span = |r: &rusqlite::Row<'_>| {
        Ok(Span {
            day: r.get(0)?,
            start_ms: r.get(1)?,
            end_ms: r.get(2)?,
        })
    };
    let ready = c
        .prepare_cached(
            "SELECT ready_day, received_ms, ready_ms FROM kpi_orders
             WHERE ready_day >= ?1 AND ready_day < ?2
               AND received_ms IS NOT NULL AND ready_ms IS NOT NULL",
        )?
        .query_map([from, to], span)?
        .collect::<Result<Vec<_>, _>>()?;
    let counter_wait = c
        .prepare_cached(
            "SELECT handed_day, arrived_ms, handed_ms FROM kpi_orders
             WHERE handed_day >= ?1 AND handed_day < ?2
               AND arrived_ms IS NOT NULL AND handed_ms IS NOT NULL",
        )?
        .query_map([from, to], span)?
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = c
        .prepare_cached(
            "SELECT outcome_day, outcome, refusal_reason, count(*) FROM kpi_orders
             WHERE outcome_day >= ?1 AND outcome_day < ?2 AND outcome IS NOT NULL
             GROUP BY 1, 2, 3",
        )?
        .query_map([from, to], |r| {
            Ok(Outcome {
                day: r.get(0)?,
                outcome: r.get(1)?,
                refusal_reason: r.get(2)?,
                n: count(r, 3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let cancellations = c
        .prepare_cached(
            "SELECT coalesce(cancelled_by, 'unknown'), count(*) FROM kpi_orders
             WHERE cancelled_day >= ?1 AND cancelled_day < ?2 GROUP BY 1",
        )?
        .query_map([from, to], |r| Ok((r.get(0)?, count(r, 1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let (handed_over, handed_over_with_sale) = c
        .prepare_cached(
            "SELECT count(*), coalesce(sum(cross_sell), 0) FROM kpi_orders
             WHERE handed_day >= ?1 AND handed_day < ?2
               AND outcome IN ('handed_over', 'partially_handed_over')",
        )?
        .query_row([from, to], |r| Ok((count(r, 0)?, count(r, 1)?)))?;
    Ok(OrderFacts {
        received,
        ready,
        counter_wait,
        outcomes,
        cancellations,
        handed_over,
        handed_over_with_sale,
    })
}

/// The identified customers of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Customers {
    /// Distinct customer tokens with a visit in the window.
    pub customers: u64,
    /// Visits (customer, day) in the window.
    pub visits: u64,
    /// Customers of the window with a visit in `[lookback_from, from)`.
    pub returning: u64,
}

/// Customers, visits and returning customers of `[from, to)` (`kpi_visits`,
/// by the index `kpi_visits_day`; the lookback by its primary key).
pub fn customers(
    conn: &ReadConn,
    from: &str,
    to: &str,
    lookback_from: &str,
) -> Result<Customers, StoreError> {
    let c = conn.sql();
    let visits = c
        .prepare_cached("SELECT count(*) FROM kpi_visits WHERE day >= ?1 AND day < ?2")?
        .query_row([from, to], |r| count(r, 0))?;
    let (customers, returning) = c
        .prepare_cached(
            "SELECT count(*), coalesce(sum(EXISTS (
                 SELECT 1 FROM kpi_visits p
                 WHERE p.customer_token = w.customer_token AND p.day >= ?3 AND p.day < ?1)), 0)
             FROM (SELECT DISTINCT customer_token FROM kpi_visits
                   WHERE day >= ?1 AND day < ?2) w",
        )?
        .query_row([from, to, lookback_from], |r| {
            Ok((count(r, 0)?, count(r, 1)?))
        })?;
    Ok(Customers {
        customers,
        visits,
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
