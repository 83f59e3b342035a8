//! The KPI rollups and facts (migration 7, KPI.md), maintained in the
//! transaction that appends each event: `WriteCtx::append` calls [`ingest`]
//! right after its INSERT, so a crash keeps an event and its rollups
//! together. `kpi_verify` replays raw events through the same function.
//!
//! Every rule is order-independent: the result is a function of the set of
//! events (ties in time aside), whatever order they arrive in. Late events
//! re-run what they change (the loyalty matching of a register from their
//! time on, silence flags, cross-sell flags); in-order events take the fast
//! path (one indexed look-up each).
//!
//! Must never: touch the kpi tables for an event type that feeds no KPI,
//! read anything outside the transaction's connection, or fail an append
//! for a field a KPI merely lacks (a missing field counts nothing).

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use super::StoreError;

/// A transaction uses an identification of its register at most this long before it.
pub const IDENT_WINDOW_MS: i64 = 10 * 60_000;
/// An identification is silent without a transaction within this long after it.
pub const IDENT_SILENT_MS: i64 = 30 * 60_000;
/// A price check is silent without a transaction within this long after it.
pub const PRICE_CHECK_SILENT_MS: i64 = 10 * 60_000;
/// A transaction this long after a handover is a cross-sell.
pub const CROSS_SELL_MS: i64 = 30 * 60_000;

/// One event as the ingest sees it.
#[derive(Debug, Clone, Copy)]
pub struct Ev<'a> {
    pub seq: i64,
    pub type_name: &'a str,
    pub stage: Option<&'a str>,
    pub at_ms: i64,
    /// The local day (`YYYY-MM-DD` in `store.timezone`) of `at_ms`.
    pub day: &'a str,
    pub data: &'a Map<String, Value>,
}

/// The loyalty token of an order in the local order table (central's
/// document: `customer.loyalty_token`), read at its handover.
fn order_token(conn: &Connection, order_id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT json_extract(document, '$.customer.loyalty_token') FROM pickup_orders
             WHERE order_id = ?1 AND json_type(document, '$.customer.loyalty_token') = 'text'",
        )?
        .query_row([order_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// The local day of `at_ms` in `tz`, `YYYY-MM-DD`.
pub fn local_day(at_ms: i64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_millisecond(at_ms) {
        Ok(ts) => tz.to_datetime(ts).date().to_string(),
        // Out of jiff's range: unreachable for the years 2000–9999 events may carry.
        Err(_) => "0000-00-00".to_owned(),
    }
}

/// Does the event feed anything beyond the `events`/`stage`/`device` upserts?
fn feeds_facts(type_name: &str) -> bool {
    matches!(
        type_name,
        "store.transaction.completed"
            | "store.loyalty.identified"
            | "store.product.scanned"
            | "store.feedback.submitted"
            | "store.pickup.received"
            | "store.reservation.created"
            | "store.pickup.ready"
            | "store.pickup.customer_arrived"
            | "store.pickup.handed_over"
            | "store.pickup.refused"
            | "store.pickup.no_show"
            | "store.pickup.cancelled"
    )
}

/// Maintains every rollup and fact of one event. Runs inside the append's
/// transaction (or verify's scratch transaction); the facts are written at
/// once, the rollups' changes go into `ro` for the caller to flush before
/// it commits.
pub fn ingest(conn: &Connection, ro: &mut Rollups, ev: &Ev<'_>) -> Result<(), StoreError> {
    ro.add(ev.day, "events", "", 1);
    if let Some(stage) = ev.stage {
        ro.add(ev.day, "stage", stage, 1);
        if let Some(device) = str_field(ev.data, "device_id") {
            ro.add(ev.day, "device", device, 1);
        }
    }
    if !feeds_facts(ev.type_name) {
        return Ok(());
    }
    match ev.type_name {
        "store.transaction.completed" => transaction(conn, ro, ev),
        "store.loyalty.identified" => identification(conn, ro, ev),
        "store.product.scanned" => price_check(conn, ro, ev),
        "store.feedback.submitted" => feedback(conn, ro, ev),
        _ => order_step(conn, ro, ev),
    }
}

fn str_field<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

fn int_field(data: &Map<String, Value>, key: &str) -> Option<i64> {
    data.get(key).and_then(Value::as_i64)
}

/// The daily rollups' changes (`kpi_daily`) of the events ingested since
/// the last [`Rollups::flush`], summed in memory: a busy group of events
/// bumps the same few rows (`events`, the stage, the device) thousands of
/// times, and one upsert per row and group costs a fraction of one per
/// event. Nothing in the ingest reads `kpi_daily`, so holding the sums back
/// until the group's end changes no decision; the writer flushes them in
/// the group's transaction before its commit (a crash keeps both or
/// neither) and drops an op's share when the op is rolled back.
#[derive(Debug, Default)]
pub struct Rollups {
    /// Keyed by `day \x1f metric \x1f dim` (a day and a metric never hold
    /// the separator; the dim is the rest, whatever it holds), so that the
    /// thousands of adds to a known row borrow the key being built in
    /// `key` instead of allocating one (three adds per event).
    deltas: HashMap<String, i64>,
    key: String,
}

impl Rollups {
    /// Adds `delta` to a daily rollup.
    fn add(&mut self, day: &str, metric: &'static str, dim: &str, delta: i64) {
        if delta == 0 {
            return;
        }
        self.key.clear();
        self.key.push_str(day);
        self.key.push('\x1f');
        self.key.push_str(metric);
        self.key.push('\x1f');
        self.key.push_str(dim);
        match self.deltas.get_mut(self.key.as_str()) {
            Some(n) => *n += delta,
            None => {
                self.deltas.insert(self.key.clone(), delta);
            }
        }
    }

    /// Moves `other`'s changes into these (an op's, once it succeeded).
    pub fn absorb(&mut self, other: &mut Rollups) {
        if self.deltas.is_empty() {
            std::mem::swap(&mut self.deltas, &mut other.deltas);
            return;
        }
        for (key, delta) in other.deltas.drain() {
            *self.deltas.entry(key).or_default() += delta;
        }
    }

    /// Forgets the changes (an op rolled back to its savepoint).
    pub fn clear(&mut self) {
        self.deltas.clear();
    }

    /// Writes the changes into `kpi_daily`: one upsert per row; a row that
    /// falls to 0 is removed, so the table is the same whatever the order
    /// of arrival.
    pub fn flush(&mut self, conn: &Connection) -> Result<(), StoreError> {
        for (key, delta) in self.deltas.drain() {
            if delta == 0 {
                continue;
            }
            let mut parts = key.splitn(3, '\x1f');
            let (Some(day), Some(metric), Some(dim)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            conn.prepare_cached(
                "INSERT INTO kpi_daily (day, metric, dim, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (day, metric, dim) DO UPDATE SET n = n + excluded.n",
            )?
            .execute(params![day, metric, dim, delta])?;
            if delta < 0 {
                conn.prepare_cached(
                    "DELETE FROM kpi_daily WHERE day = ?1 AND metric = ?2 AND dim = ?3 AND n = 0",
                )?
                .execute(params![day, metric, dim])?;
            }
        }
        Ok(())
    }
}

/// A customer appeared on `day`: a visit when it is a new (customer, day).
fn visit(conn: &Connection, ro: &mut Rollups, token: &str, day: &str) -> Result<(), StoreError> {
    let new = conn
        .prepare_cached("INSERT OR IGNORE INTO kpi_visits (customer_token, day) VALUES (?1, ?2)")?
        .execute(params![token, day])?;
    if new == 0 {
        return Ok(());
    }
    ro.add(day, "visits", "", 1);
    conn.prepare_cached(
        "INSERT INTO kpi_customers (customer_token, first_day, last_day) VALUES (?1, ?2, ?2)
         ON CONFLICT (customer_token) DO UPDATE SET
           first_day = min(first_day, excluded.first_day),
           last_day = max(last_day, excluded.last_day)",
    )?
    .execute(params![token, day])?;
    Ok(())
}

fn transaction(conn: &Connection, ro: &mut Rollups, ev: &Ev<'_>) -> Result<(), StoreError> {
    let d = ev.data;
    let (Some(tid), Some(register), Some(total), Some(currency)) = (
        str_field(d, "transaction_id"),
        str_field(d, "register_id"),
        int_field(d, "total_minor"),
        str_field(d, "currency"),
    ) else {
        return Ok(());
    };
    let items = int_field(d, "item_count").unwrap_or(0);
    let token = str_field(d, "customer_token");
    let order = str_field(d, "pickup_order_id");
    ro.add(ev.day, "tx", currency, 1);
    ro.add(ev.day, "revenue", currency, total);
    ro.add(ev.day, "items", currency, items);
    conn.prepare_cached(
        "INSERT INTO kpi_tx (seq, day, at_ms, transaction_id, register_id, total_minor, currency,
                             item_count, customer_token, pickup_order_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        ev.seq, ev.day, ev.at_ms, tid, register, total, currency, items, token, order
    ])?;
    if let Some(token) = token {
        // Identified by its own token: counted here, since `rematch` only
        // adds the difference to what a row already counted (and a new
        // row with a token reads as counted).
        ro.add(ev.day, "tx_identified", "", 1);
        visit(conn, ro, token, ev.day)?;
    }
    rematch(conn, ro, register, ev.at_ms)?;
    // Silence: this transaction clears what it follows closely enough.
    clear_silent(
        conn,
        ro,
        "kpi_ident",
        "silent_ident",
        register,
        ev.at_ms - IDENT_SILENT_MS,
        ev.at_ms,
    )?;
    clear_silent(
        conn,
        ro,
        "kpi_price_check",
        "silent_price_check",
        register,
        ev.at_ms - PRICE_CHECK_SILENT_MS,
        ev.at_ms,
    )?;
    if token.is_none() && order.is_none() {
        // Neither an order nor a token to follow a handover by: no
        // cross-sell either way (most sales; two look-ups saved).
        return Ok(());
    }
    refresh_tx_cross_sell(conn, ro, ev.seq)?;
    // Orders this transaction makes a cross-sell of.
    let orders: Vec<String> = conn
        .prepare_cached(
            "SELECT order_id FROM kpi_orders
             WHERE order_id = ?2 AND cross_sell = 0
               AND outcome IN ('handed_over', 'partially_handed_over') AND handed_ms BETWEEN ?1 - ?4 AND ?1
             UNION
             SELECT order_id FROM kpi_orders
             WHERE customer_token = ?3 AND cross_sell = 0
               AND outcome IN ('handed_over', 'partially_handed_over') AND handed_ms BETWEEN ?1 - ?4 AND ?1",
        )?
        .query_map(params![ev.at_ms, order, token, CROSS_SELL_MS], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in orders {
        conn.prepare_cached("UPDATE kpi_orders SET cross_sell = 1 WHERE order_id = ?1")?
            .execute([id])?;
    }
    Ok(())
}

/// Unsilences the identifications or price checks of `register` in
/// `[from, to]` (a transaction at `to` follows them closely enough).
fn clear_silent(
    conn: &Connection,
    ro: &mut Rollups,
    table: &str,
    metric: &'static str,
    register: &str,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    // A SELECT, then an UPDATE only when it found rows: `UPDATE ...
    // RETURNING` buffers its rows in a temporary b-tree with a page cache of
    // its own, set up and torn down on every call (issue 15's profile: a
    // quarter of the writer thread), though almost every call finds none.
    let where_ = "register_id = ?1 AND at_ms BETWEEN ?2 AND ?3 AND silent = 1";
    let days: Vec<String> = conn
        .prepare_cached(&format!("SELECT day FROM {table} WHERE {where_}"))?
        .query_map(params![register, from, to], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !days.is_empty() {
        conn.prepare_cached(&format!("UPDATE {table} SET silent = 0 WHERE {where_}"))?
            .execute(params![register, from, to])?;
    }
    for day in days {
        ro.add(&day, metric, "", -1);
    }
    Ok(())
}

/// Is there a transaction of `register` in `[from, to]`?
fn tx_within(conn: &Connection, register: &str, from: i64, to: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM kpi_tx WHERE register_id = ?1 AND at_ms BETWEEN ?2 AND ?3 LIMIT 1",
        )?
        .query_row(params![register, from, to], |_| Ok(()))
        .optional()?
        .is_some())
}

fn identification(conn: &Connection, ro: &mut Rollups, ev: &Ev<'_>) -> Result<(), StoreError> {
    let Some(token) = str_field(ev.data, "customer_token") else {
        return Ok(());
    };
    let register = str_field(ev.data, "register_id");
    let silent = match register {
        Some(r) => !tx_within(conn, r, ev.at_ms, ev.at_ms + IDENT_SILENT_MS)?,
        None => false,
    };
    conn.prepare_cached(
        "INSERT INTO kpi_ident (seq, day, at_ms, register_id, customer_token, silent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![ev.seq, ev.day, ev.at_ms, register, token, silent])?;
    if silent {
        ro.add(ev.day, "silent_ident", "", 1);
    }
    visit(conn, ro, token, ev.day)?;
    // A silent identification has no transaction of its register in the
    // 30 minutes after it, so none within the 10 that could use it: the
    // re-match would find nothing (the usual case in order: the sale that
    // follows is recorded after it, and re-matches then).
    if let (Some(register), false) = (register, silent) {
        rematch(conn, ro, register, ev.at_ms)?;
    }
    Ok(())
}

fn price_check(conn: &Connection, ro: &mut Rollups, ev: &Ev<'_>) -> Result<(), StoreError> {
    if str_field(ev.data, "context") != Some("price_check") {
        return Ok(());
    }
    let register = str_field(ev.data, "register_id");
    let silent = match register {
        Some(r) => !tx_within(conn, r, ev.at_ms, ev.at_ms + PRICE_CHECK_SILENT_MS)?,
        None => false,
    };
    conn.prepare_cached(
        "INSERT INTO kpi_price_check (seq, day, at_ms, register_id, silent) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![ev.seq, ev.day, ev.at_ms, register, silent])?;
    if silent {
        ro.add(ev.day, "silent_price_check", "", 1);
    }
    Ok(())
}

fn feedback(conn: &Connection, ro: &mut Rollups, ev: &Ev<'_>) -> Result<(), StoreError> {
    let (Some(score), Some(context)) = (int_field(ev.data, "score"), str_field(ev.data, "context"))
    else {
        return Ok(());
    };
    if !(0..=10).contains(&score) {
        return Ok(());
    }
    // One answer per order: a second one for the same order counts nothing
    // (the API refuses it first; this is the backstop).
    let new = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO kpi_feedback (seq, day, at_ms, context, score, order_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            ev.seq,
            ev.day,
            ev.at_ms,
            context,
            score,
            str_field(ev.data, "order_id")
        ])?;
    if new == 1 {
        ro.add(ev.day, "nps", &format!("{context}:{score}"), 1);
    }
    Ok(())
}

/// A transaction of the loyalty matching.
struct MatchTx {
    seq: i64,
    at_ms: i64,
    day: String,
    has_token: bool,
    ident_seq: Option<i64>,
}

/// Re-runs the loyalty matching of `register` for its transactions from
/// `from_ms` on, up to a gap of more than [`IDENT_WINDOW_MS`] without
/// transactions (nothing after such a gap can change), and adjusts
/// `tx_identified` by the difference. Transactions before `from_ms` only
/// use identifications before them, which nothing at `from_ms` changes.
/// In order (the newest transaction, or an identification after the last
/// one) this is a single look-up.
fn rematch(
    conn: &Connection,
    ro: &mut Rollups,
    register: &str,
    from_ms: i64,
) -> Result<(), StoreError> {
    // No identification of the register from `from_ms - IDENT_WINDOW_MS`
    // on: no transaction of the segment (all at or after `from_ms`) has
    // one or can get one, since each uses one of the 10 minutes before it
    // and a used one is never deleted. Nothing would change; one seek
    // instead of the segment's read and a look-up per transaction (issue
    // 15's profile: a tenth of the server under sales without
    // identifications).
    let any_ident = conn
        .prepare_cached("SELECT 1 FROM kpi_ident WHERE register_id = ?1 AND at_ms >= ?2 LIMIT 1")?
        .query_row(params![register, from_ms - IDENT_WINDOW_MS], |_| Ok(()))
        .optional()?
        .is_some();
    if !any_ident {
        return Ok(());
    }
    let mut segment: Vec<MatchTx> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at_ms, day, customer_token IS NOT NULL, ident_seq FROM kpi_tx
             WHERE register_id = ?1 AND at_ms >= ?2 ORDER BY at_ms, transaction_id",
        )?;
        let mut rows = stmt.query(params![register, from_ms])?;
        let mut last = from_ms;
        while let Some(r) = rows.next()? {
            let at_ms: i64 = r.get(1)?;
            if at_ms - last > IDENT_WINDOW_MS {
                break;
            }
            last = at_ms;
            segment.push(MatchTx {
                seq: r.get(0)?,
                at_ms,
                day: r.get(2)?,
                has_token: r.get(3)?,
                ident_seq: r.get(4)?,
            });
        }
    }
    if segment.is_empty() {
        return Ok(());
    }
    for tx in &segment {
        if tx.ident_seq.is_some() {
            conn.prepare_cached("UPDATE kpi_ident SET used_by = NULL WHERE seq = ?1")?
                .execute([tx.ident_seq])?;
        }
    }
    for tx in &segment {
        let ident: Option<i64> = conn
            .prepare_cached(
                "SELECT seq FROM kpi_ident
                 WHERE register_id = ?1 AND at_ms BETWEEN ?2 AND ?3 AND used_by IS NULL
                 ORDER BY at_ms DESC, seq DESC LIMIT 1",
            )?
            .query_row(
                params![register, tx.at_ms - IDENT_WINDOW_MS, tx.at_ms],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(ident) = ident {
            conn.prepare_cached("UPDATE kpi_ident SET used_by = ?1 WHERE seq = ?2")?
                .execute(params![tx.seq, ident])?;
        }
        if ident != tx.ident_seq {
            conn.prepare_cached("UPDATE kpi_tx SET ident_seq = ?1 WHERE seq = ?2")?
                .execute(params![ident, tx.seq])?;
        }
        let was = tx.has_token || tx.ident_seq.is_some();
        let now = tx.has_token || ident.is_some();
        ro.add(
            &tx.day,
            "tx_identified",
            "",
            i64::from(now) - i64::from(was),
        );
    }
    Ok(())
}

/// Sets a transaction's cross-sell flag from the orders handed over in the
/// 30 minutes before it, and its revenue in `cross_sell_revenue`.
fn refresh_tx_cross_sell(
    conn: &Connection,
    ro: &mut Rollups,
    tx_seq: i64,
) -> Result<(), StoreError> {
    let row: Option<(bool, bool, String, String, i64)> = conn
        .prepare_cached(
            "SELECT t.cross_sell = 1,
                    EXISTS (SELECT 1 FROM kpi_orders o
                            WHERE o.order_id = t.pickup_order_id
                              AND o.outcome IN ('handed_over', 'partially_handed_over')
                              AND t.at_ms BETWEEN o.handed_ms AND o.handed_ms + ?2)
                    OR EXISTS (SELECT 1 FROM kpi_orders o
                            WHERE o.customer_token = t.customer_token
                              AND o.outcome IN ('handed_over', 'partially_handed_over')
                              AND t.at_ms BETWEEN o.handed_ms AND o.handed_ms + ?2),
                    t.day, t.currency, t.total_minor
             FROM kpi_tx t WHERE t.seq = ?1",
        )?
        .query_row(params![tx_seq, CROSS_SELL_MS], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((was, now, day, currency, total)) = row else {
        return Ok(());
    };
    if was != now {
        conn.prepare_cached("UPDATE kpi_tx SET cross_sell = ?1 WHERE seq = ?2")?
            .execute(params![now, tx_seq])?;
        ro.add(
            &day,
            "cross_sell_revenue",
            &currency,
            if now { total } else { -total },
        );
    }
    Ok(())
}

/// The transactions that follow an order's handover closely enough.
fn cross_sell_txs(conn: &Connection, order_id: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.seq FROM kpi_orders o JOIN kpi_tx t
           ON t.pickup_order_id = o.order_id AND t.at_ms BETWEEN o.handed_ms AND o.handed_ms + ?2
         WHERE o.order_id = ?1 AND o.outcome IN ('handed_over', 'partially_handed_over')
         UNION
         SELECT t.seq FROM kpi_orders o JOIN kpi_tx t
           ON t.customer_token = o.customer_token AND t.at_ms BETWEEN o.handed_ms AND o.handed_ms + ?2
         WHERE o.order_id = ?1 AND o.outcome IN ('handed_over', 'partially_handed_over')",
    )?;
    let seqs = stmt
        .query_map(params![order_id, CROSS_SELL_MS], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(seqs)
}

/// What decides an order's cross-sell: handed_ms, outcome, customer_token.
type CrossSellKey = (Option<i64>, Option<String>, Option<String>);

/// The order's [`CrossSellKey`] now.
fn cross_sell_key(conn: &Connection, order_id: &str) -> Result<Option<CrossSellKey>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT handed_ms, outcome, customer_token FROM kpi_orders WHERE order_id = ?1",
        )?
        .query_row([order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// One pickup step: the earliest event of each kind wins its columns.
fn order_step(conn: &Connection, ro: &mut Rollups, ev: &Ev<'_>) -> Result<(), StoreError> {
    let Some(order_id) = str_field(ev.data, "order_id") else {
        return Ok(());
    };
    conn.prepare_cached("INSERT OR IGNORE INTO kpi_orders (order_id) VALUES (?1)")?
        .execute([order_id])?;
    let before = cross_sell_key(conn, order_id)?;
    let old_txs = cross_sell_txs(conn, order_id)?;
    let earliest =
        |set: &str, col: &str, extra: &[&dyn rusqlite::ToSql]| -> Result<(), StoreError> {
            let sql = format!(
                "UPDATE kpi_orders SET {set} WHERE order_id = ?1 AND ({col} IS NULL OR {col} > ?2)"
            );
            let mut p: Vec<&dyn rusqlite::ToSql> = vec![&order_id, &ev.at_ms, &ev.day];
            p.extend_from_slice(extra);
            conn.prepare_cached(&sql)?.execute(p.as_slice())?;
            Ok(())
        };
    match ev.type_name {
        "store.pickup.received" | "store.reservation.created" => {
            let channel = str_field(ev.data, "channel").unwrap_or(
                if ev.type_name == "store.reservation.created" {
                    "store"
                } else {
                    ""
                },
            );
            earliest(
                "received_ms = ?2, received_day = ?3, channel = ?4",
                "received_ms",
                &[&channel],
            )?;
        }
        "store.pickup.ready" => earliest("ready_ms = ?2, ready_day = ?3", "ready_ms", &[])?,
        "store.pickup.customer_arrived" => {
            conn.prepare_cached(
                "UPDATE kpi_orders SET arrived_ms = ?2
                 WHERE order_id = ?1 AND (arrived_ms IS NULL OR arrived_ms > ?2)",
            )?
            .execute(params![order_id, ev.at_ms])?;
        }
        "store.pickup.handed_over" => {
            let partial = ev
                .data
                .get("partial")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let outcome = if partial {
                "partially_handed_over"
            } else {
                "handed_over"
            };
            earliest("handed_ms = ?2, handed_day = ?3", "handed_ms", &[])?;
            earliest(
                "outcome = ?4, outcome_ms = ?2, outcome_day = ?3, refusal_reason = NULL",
                "outcome_ms",
                &[&outcome],
            )?;
            if let Some(token) = order_token(conn, order_id)? {
                conn.prepare_cached(
                    "UPDATE kpi_orders SET customer_token = ?2 WHERE order_id = ?1",
                )?
                .execute(params![order_id, token])?;
            }
        }
        "store.pickup.refused" => {
            let reason = str_field(ev.data, "reason");
            earliest(
                "outcome = 'refused', outcome_ms = ?2, outcome_day = ?3, refusal_reason = ?4",
                "outcome_ms",
                &[&reason],
            )?;
        }
        "store.pickup.no_show" => earliest(
            "outcome = 'no_show', outcome_ms = ?2, outcome_day = ?3, refusal_reason = NULL",
            "outcome_ms",
            &[],
        )?,
        "store.pickup.cancelled" => {
            let by = str_field(ev.data, "by");
            // cancelled_day orders the earliest; the day is enough (no ms column).
            conn.prepare_cached(
                "UPDATE kpi_orders SET cancelled_by = ?2, cancelled_day = ?3
                 WHERE order_id = ?1 AND (cancelled_day IS NULL OR cancelled_day > ?3)",
            )?
            .execute(params![order_id, by, ev.day])?;
        }
        _ => {}
    }
    if cross_sell_key(conn, order_id)? != before {
        let new_txs = cross_sell_txs(conn, order_id)?;
        let affected: BTreeSet<i64> = old_txs.into_iter().chain(new_txs.iter().copied()).collect();
        for seq in affected {
            refresh_tx_cross_sell(conn, ro, seq)?;
        }
        conn.prepare_cached("UPDATE kpi_orders SET cross_sell = ?2 WHERE order_id = ?1")?
            .execute(params![order_id, !new_txs.is_empty()])?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "kpi_ingest_tests.rs"]
mod tests;
