//! `store-edge kpi verify [--rebuild]`: replays every raw event still
//! present, in sequence order, through the same ingest code
//! (`kpi_ingest::ingest`) into a scratch in-memory database, and compares
//! each day's rollups and facts with the ones kept. A day is verifiable
//! when its `events` rollup equals the raw events still present with that
//! local day, and the same holds for the 14 days before it (orders and the
//! loyalty matching span days); the others are named as skipped (pruned).
//! `rebuild` puts the replay's rollups and facts of the verifiable days in
//! place (with `local_day` recomputed from `time` in the configured time
//! zone, e.g. after a time-zone change) and keeps those of the others.
//!
//! Must never: change anything without `rebuild`, or replace a day whose
//! raw events are not all present (its rollups are all that is left of it).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params, Connection};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::kpi_ingest::{self, Ev};
use super::{migrations, Db, StoreError};

/// Days before a day whose raw events must be present too.
pub const LOOKBACK_DAYS: i64 = 14;

/// What verify (or rebuild) found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    /// Raw events replayed.
    pub events: u64,
    /// Verifiable days whose rollups and facts equal the replay.
    pub equal: Vec<String>,
    /// Verifiable days that differ, each with the tables that differ.
    pub differ: Vec<DayDiff>,
    /// Days not verifiable: raw events of it, or of the 14 days before it,
    /// are gone (pruned), so their rollups cannot be recomputed.
    pub skipped: Vec<String>,
    /// `--rebuild`: days replaced by the replay.
    pub rebuilt: Vec<String>,
    /// `--rebuild`: days whose rollups were kept as they were.
    pub kept: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DayDiff {
    pub day: String,
    pub tables: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.differ.is_empty()
    }
}

/// The per-day row sets compared, as `(name, query)`: the query returns the
/// day first; rows of a day are hashed in the query's order.
const DAY_TABLES: &[(&str, &str)] = &[
    (
        "kpi_daily",
        "SELECT day, metric, dim, n FROM {s}.kpi_daily ORDER BY day, metric, dim",
    ),
    (
        "kpi_tx",
        "SELECT day, seq, at_ms, transaction_id, register_id, total_minor, currency, item_count,
                customer_token, pickup_order_id, ident_seq IS NOT NULL, cross_sell
         FROM {s}.kpi_tx ORDER BY day, seq",
    ),
    (
        "kpi_ident",
        "SELECT day, seq, at_ms, register_id, customer_token, used_by IS NOT NULL, silent
         FROM {s}.kpi_ident ORDER BY day, seq",
    ),
    (
        "kpi_price_check",
        "SELECT day, seq, at_ms, register_id, silent FROM {s}.kpi_price_check ORDER BY day, seq",
    ),
    (
        "kpi_visits",
        "SELECT day, customer_token FROM {s}.kpi_visits ORDER BY day, customer_token",
    ),
    (
        "kpi_feedback",
        "SELECT day, seq, at_ms, context, score, order_id FROM {s}.kpi_feedback ORDER BY day, seq",
    ),
];

/// Tables whose rows carry their day in `day` (replaced day by day).
const DAY_KEYED: &[&str] = &[
    "kpi_daily",
    "kpi_tx",
    "kpi_ident",
    "kpi_price_check",
    "kpi_visits",
    "kpi_feedback",
];

/// The column groups of `kpi_orders`, each with the day it belongs to.
const ORDER_GROUPS: &[(&str, &[&str])] = &[
    ("received_day", &["channel", "received_ms", "received_day"]),
    ("ready_day", &["ready_ms", "ready_day"]),
    (
        "handed_day",
        &[
            "arrived_ms",
            "handed_ms",
            "handed_day",
            "customer_token",
            "cross_sell",
        ],
    ),
    (
        "outcome_day",
        &["outcome", "outcome_ms", "outcome_day", "refusal_reason"],
    ),
    ("cancelled_day", &["cancelled_by", "cancelled_day"]),
];

type Digests = BTreeMap<(String, &'static str), Sha256>;

/// Compares the kept rollups and facts with a replay of the raw events.
pub fn verify(
    db: &Db,
    tz: &jiff::tz::TimeZone,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let scratch = Scratch::open(db)?;
    scratch.conn.execute_batch("BEGIN")?;
    let result = scratch.verify(tz, false, progress);
    scratch.conn.execute_batch("ROLLBACK")?;
    result.map(|(report, _)| report)
}

/// Replaces the rollups and facts of the verifiable days with a replay of
/// the raw events, `local_day` recomputed from `time` in `tz`; keeps the
/// others. Run it with the service stopped: it holds the write lock.
pub fn rebuild(
    db: &Db,
    tz: &jiff::tz::TimeZone,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let scratch = Scratch::open(db)?;
    // Immediate: nothing is appended between the replay and the swap.
    scratch.conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = scratch
        .verify(tz, true, progress)
        .and_then(|(mut report, verifiable)| {
            scratch.swap(&verifiable)?;
            report.rebuilt = verifiable.iter().cloned().collect();
            report.kept = report.skipped.clone();
            Ok(report)
        });
    match result {
        Ok(report) => {
            scratch.conn.execute_batch("COMMIT")?;
            Ok(report)
        }
        Err(e) => {
            let _ = scratch.conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// An in-memory database with the store's schema (`main`) and the store's
/// file attached as `real`.
struct Scratch {
    conn: Connection,
}

impl Scratch {
    fn open(db: &Db) -> Result<Scratch, StoreError> {
        let path = db
            .sql()
            .path()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StoreError::Conflict("kpi verify needs a database file".into()))?
            .to_owned();
        let conn = Connection::open_in_memory()?;
        for step in migrations::STEPS {
            conn.execute_batch(step)?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute("ATTACH DATABASE ?1 AS real", [path])?;
        Ok(Scratch { conn })
    }

    /// Replays into `main`, compares per day. Returns the report and the
    /// verifiable days. With `recompute`, each event's day comes from its
    /// time in `tz` (and `real.event_log.local_day` is updated); otherwise
    /// the stored local day is used (the one the ingest used).
    fn verify(
        &self,
        tz: &jiff::tz::TimeZone,
        recompute: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(VerifyReport, BTreeSet<String>), StoreError> {
        let c = &self.conn;
        c.execute_batch(
            "INSERT INTO main.pickup_orders (order_id, version, central_status, document, received_at, updated_at)
             SELECT order_id, version, central_status, document, received_at, updated_at FROM real.pickup_orders",
        )?;
        let total: i64 = c.query_row("SELECT count(*) FROM real.event_log", [], |r| r.get(0))?;
        // Raw events present per day, by the day stored with them.
        let mut present: HashMap<String, i64> = HashMap::new();
        let mut replayed = 0u64;
        let mut rollups = kpi_ingest::Rollups::default();
        {
            let mut set_day =
                c.prepare("UPDATE real.event_log SET local_day = ?1 WHERE seq = ?2")?;
            let mut stmt = c.prepare(
                "SELECT e.seq, t.name, e.time, e.local_day, e.data
                   FROM real.event_log e JOIN real.event_types t ON t.code = e.type ORDER BY e.seq",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                let type_name: String = r.get(1)?;
                let stage = super::read::stage_of(&type_name);
                let stored: Option<String> = r.get(3)?;
                let data: String = r.get(4)?;
                let at_ms = match r.get_ref(2)? {
                    rusqlite::types::ValueRef::Integer(ms) => ms,
                    other => {
                        let time = other.as_str().map_err(rusqlite::Error::from)?;
                        let at = crate::events::parse_time(time).map_err(|e| {
                            StoreError::invalid(format!("event {seq}: its time `{time}`"), e)
                        })?;
                        crate::events::unix_ms(at)
                    }
                };
                let computed = || kpi_ingest::local_day(at_ms, tz);
                let day = match (&stored, recompute) {
                    (Some(d), false) => d.clone(),
                    _ => computed(),
                };
                *present
                    .entry(stored.clone().unwrap_or_else(computed))
                    .or_default() += 1;
                if recompute && stored.as_deref() != Some(day.as_str()) {
                    set_day.execute(params![day, seq])?;
                }
                let data: Map<String, Value> = serde_json::from_str(&data)
                    .map_err(|e| StoreError::invalid(format!("event {seq}: its data"), e))?;
                kpi_ingest::ingest(
                    c,
                    &mut rollups,
                    &Ev {
                        seq,
                        type_name: &type_name,
                        stage,
                        at_ms,
                        day: &day,
                        data: &data,
                    },
                )?;
                replayed += 1;
                if replayed % 100_000 == 0 {
                    rollups.flush(c)?;
                    progress(replayed, total as u64);
                }
            }
        }
        rollups.flush(c)?;
        progress(replayed, total as u64);
        // Complete days: the `events` rollup kept equals the events present.
        let mut kept_events: HashMap<String, i64> = HashMap::new();
        let mut days: BTreeSet<String> = BTreeSet::new();
        {
            let mut stmt = c.prepare(
                "SELECT day, sum(CASE WHEN metric = 'events' THEN n ELSE 0 END) FROM real.kpi_daily GROUP BY day",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (day, n) = row?;
                days.insert(day.clone());
                kept_events.insert(day, n);
            }
        }
        days.extend(present.keys().cloned());
        let complete = |day: &str| {
            kept_events.get(day).copied().unwrap_or(0) == present.get(day).copied().unwrap_or(0)
        };
        let mut verifiable = BTreeSet::new();
        let mut report = VerifyReport {
            events: replayed,
            ..VerifyReport::default()
        };
        for day in &days {
            let ok = complete(day)
                && match day.parse::<jiff::civil::Date>() {
                    Ok(date) => (1..=LOOKBACK_DAYS).all(|k| {
                        date.checked_sub(jiff::Span::new().days(k))
                            .map(|d| complete(&d.to_string()))
                            .unwrap_or(true)
                    }),
                    Err(_) => false,
                };
            if ok {
                verifiable.insert(day.clone());
            } else {
                report.skipped.push(day.clone());
            }
        }
        let kept = digests(c, "real")?;
        let replay = digests(c, "main")?;
        for day in &verifiable {
            let mut tables = Vec::new();
            for name in DAY_TABLES.iter().map(|(n, _)| *n).chain(["kpi_orders"]) {
                let key = (day.clone(), name);
                let a = kept.get(&key).map(|h| h.clone().finalize());
                let b = replay.get(&key).map(|h| h.clone().finalize());
                if a != b {
                    tables.push(name.to_owned());
                }
            }
            if tables.is_empty() {
                report.equal.push(day.clone());
            } else {
                report.differ.push(DayDiff {
                    day: day.clone(),
                    tables,
                });
            }
        }
        Ok((report, verifiable))
    }

    /// Puts the replay's rows of `days` in place of the kept ones.
    fn swap(&self, days: &BTreeSet<String>) -> Result<(), StoreError> {
        let c = &self.conn;
        c.execute_batch("CREATE TEMP TABLE c_days (day TEXT PRIMARY KEY)")?;
        {
            let mut ins = c.prepare("INSERT INTO temp.c_days (day) VALUES (?1)")?;
            for day in days {
                ins.execute([day])?;
            }
        }
        for table in DAY_KEYED {
            c.execute_batch(&format!(
                "DELETE FROM real.{table} WHERE day IN (SELECT day FROM temp.c_days);
                 INSERT INTO real.{table} SELECT * FROM main.{table} WHERE day IN (SELECT day FROM temp.c_days);"
            ))?;
        }
        // Orders span days: each column group comes from the replay when
        // its day (then or now) is rebuilt, else stays as kept.
        let mut cols = vec!["coalesce(s.order_id, r.order_id)".to_owned()];
        let mut names = vec!["order_id"];
        for (day_col, group) in ORDER_GROUPS {
            for col in *group {
                cols.push(format!(
                    "CASE WHEN s.{day_col} IN (SELECT day FROM temp.c_days) OR r.{day_col} IN (SELECT day FROM temp.c_days)
                          THEN s.{col} ELSE r.{col} END"
                ));
                names.push(col);
            }
        }
        let cross = names.iter().position(|n| *n == "cross_sell").unwrap_or(0);
        cols[cross] = format!("coalesce({}, 0)", cols[cross]);
        c.execute_batch(&format!(
            "CREATE TEMP TABLE merged AS SELECT {} FROM main.kpi_orders s FULL OUTER JOIN real.kpi_orders r ON r.order_id = s.order_id;
             DELETE FROM real.kpi_orders;
             INSERT INTO real.kpi_orders ({}) SELECT * FROM temp.merged;
             DROP TABLE temp.merged;
             DELETE FROM real.kpi_customers;
             INSERT INTO real.kpi_customers (customer_token, first_day, last_day)
               SELECT customer_token, min(day), max(day) FROM real.kpi_visits GROUP BY customer_token;
             DROP TABLE temp.c_days;",
            cols.join(", "),
            names.join(", ")
        ))?;
        Ok(())
    }
}

/// A hash of each day's rows per table of `schema` (orders: every day an
/// order's row belongs to).
fn digests(c: &Connection, schema: &str) -> Result<Digests, StoreError> {
    let mut out: Digests = BTreeMap::new();
    for (name, query) in DAY_TABLES {
        let mut stmt = c.prepare(&query.replace("{s}", schema))?;
        let cols = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let day: String = r.get(0)?;
            let h = out.entry((day, *name)).or_default();
            for i in 1..cols {
                h.update(format!("{:?}\u{1f}", r.get_ref(i)?).as_bytes());
            }
            h.update(b"\n");
        }
    }
    let mut stmt = c.prepare(&format!(
        "SELECT * FROM {schema}.kpi_orders ORDER BY order_id"
    ))?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let mut line = String::new();
        let mut days = BTreeSet::new();
        for (i, name) in names.iter().enumerate() {
            let v = r.get_ref(i)?;
            line.push_str(&format!("{v:?}\u{1f}"));
            if name.ends_with("_day") {
                if let Ok(day) = v.as_str() {
                    days.insert(day.to_owned());
                }
            }
        }
        for day in days {
            let h = out.entry((day, "kpi_orders")).or_default();
            h.update(line.as_bytes());
            h.update(b"\n");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(writer: &crate::store::Writer) {
        let events: Vec<crate::events::NewEvent> = (0..40)
            .map(|i| {
                let data = serde_json::json!({"transaction_id": format!("T{i}"), "register_id": "r1",
                    "total_minor": 100, "currency": "EUR", "item_count": 1});
                let mut e = crate::events::NewEvent::from_client(
                    "store.transaction.completed",
                    data,
                    None,
                    None,
                )
                .unwrap();
                // Two a day, 20 days from 2026-03-01.
                e.time = Some(
                    time::OffsetDateTime::from_unix_timestamp(1_772_352_000 + i * 43_200).unwrap(),
                );
                e
            })
            .collect();
        writer
            .run_blocking(1 << 20, move |ctx| {
                for e in &events {
                    ctx.append(e)?;
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn verify_is_clean_after_ingest_names_pruned_days_and_rebuild_moves_days_to_a_new_zone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let db = crate::store::open_for_writing(&path, "s1").unwrap();
        let settings =
            crate::store::WriterSettings::new(path.clone(), 1 << 30, 30, jiff::tz::TimeZone::UTC);
        let metrics = std::sync::Arc::new(crate::telemetry::Metrics::new());
        let (writer, thread) = crate::store::Writer::start(db, settings, metrics).unwrap();
        history(&writer);
        drop(writer);
        thread.join().unwrap();

        let db = crate::store::open_for_writing(&path, "s1").unwrap();
        let utc = jiff::tz::TimeZone::UTC;
        let report = verify(&db, &utc, &mut |_, _| {}).unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.equal.len(), 20);
        assert!(report.skipped.is_empty());

        // The first two days' events pruned: they and the 14 days after are skipped.
        db.sql()
            .execute("DELETE FROM event_log WHERE local_day <= '2026-03-02'", [])
            .unwrap();
        let report = verify(&db, &utc, &mut |_, _| {}).unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.skipped.len(), 16, "{report:?}");
        assert_eq!(report.equal.len(), 4);

        // A rollup changed by hand is found.
        db.sql()
            .execute(
                "UPDATE kpi_daily SET n = n + 1 WHERE day = '2026-03-20' AND metric = 'tx'",
                [],
            )
            .unwrap();
        let report = verify(&db, &utc, &mut |_, _| {}).unwrap();
        assert_eq!(report.differ.len(), 1);
        assert_eq!(report.differ[0].day, "2026-03-20");
        assert_eq!(report.differ[0].tables, ["kpi_daily"]);

        // Rebuild fixes it and keeps the pruned days' rollups.
        let report = rebuild(&db, &utc, &mut |_, _| {}).unwrap();
        assert_eq!(report.rebuilt.len(), 4);
        let kept_tx: i64 = db
            .sql()
            .query_row(
                "SELECT sum(n) FROM kpi_daily WHERE metric = 'tx'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            kept_tx, 40,
            "the pruned days' transactions are still counted"
        );
        assert!(verify(&db, &utc, &mut |_, _| {}).unwrap().is_clean());
    }
}
