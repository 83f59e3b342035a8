//! The store side of sync: fixed uplink batches, marking results, the
//! quarantine, requeue and central's pickup keys. (Central's orders are
//! `orders.rs`, the sync status and cursor `meta.rs`.)
//!
//! Sent state (schema 9): a persisted "sent up to" watermark
//! (`sync_watermark`) plus exceptions — quarantined events (`sync_held`)
//! and ranges delivered ahead of the watermark (`sync_sent`, merged into
//! it as soon as it reaches them). Marking a batch sent writes a range
//! and moves the watermark; no event row is rewritten.
//!
//! Must never: mark an event sent without central's `accepted`/`duplicate`
//! for its id, delete an unsent or quarantined event, or let an older order
//! version overwrite a newer one.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::read::{event_from_row, COLUMNS, FROM_EVENTS, UNSENT_AFTER_PARAM_1};
use super::{Db, ReadConn, StoreError, WriteCtx};
use crate::events::StoredEvent;

/// A fixed uplink batch: every retry sends the unsent events of this range
/// under this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRange {
    pub key: String,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// What central said about one event, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFate {
    /// `accepted` or `duplicate`: delivered, never send again.
    Delivered,
    /// `rejected` or `conflict` (or a lone event answered 4xx): kept aside
    /// for an operator with the reason.
    Quarantined(String),
}

pub fn pending_batches(conn: &ReadConn) -> Result<Vec<BatchRange>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(
        "SELECT idempotency_key, first_seq, last_seq FROM uplink_batches ORDER BY first_seq",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(BatchRange {
                key: r.get(0)?,
                first_seq: r.get::<_, i64>(1)? as u64,
                last_seq: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Unsent events after `after`, oldest first, at most `max_events` and
/// about `max_bytes` of data (always at least one).
pub fn unsent_after(
    conn: &ReadConn,
    after: u64,
    max_events: usize,
    max_bytes: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM_EVENTS} WHERE {UNSENT_AFTER_PARAM_1} ORDER BY e.seq LIMIT ?2"
    ))?;
    let mut rows = stmt.query(rusqlite::params![after as i64, max_events as i64])?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let event = event_from_row(row)?;
        bytes += event.data.len() + 300;
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(event);
    }
    Ok(out)
}

/// The unsent events of a fixed batch's range.
pub fn unsent_in_range(
    conn: &ReadConn,
    first: u64,
    last: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM_EVENTS} WHERE {UNSENT_AFTER_PARAM_1} AND e.seq <= ?2 ORDER BY e.seq"
    ))?;
    let rows = stmt
        .query_map(
            rusqlite::params![(first as i64).saturating_sub(1), last as i64],
            event_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Persists a new batch (before its first send).
pub fn create_batch(ctx: &mut WriteCtx<'_>, batch: &BatchRange) -> Result<(), StoreError> {
    ctx.conn()
        .prepare_cached("INSERT INTO uplink_batches (idempotency_key, first_seq, last_seq, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(rusqlite::params![batch.key, batch.first_seq as i64, batch.last_seq as i64, super::writer::unix_now()])?;
    Ok(())
}

/// Applies central's per-event results and retires the batch, in one
/// transaction. `fates` pairs sequence numbers with what central said.
/// Returns how many events were marked sent and quarantined.
pub fn apply_results(
    ctx: &mut WriteCtx<'_>,
    batch_key: &str,
    fates: &[(u64, EventFate)],
) -> Result<(u64, u64), StoreError> {
    let mut sent = 0u64;
    let mut quarantined = 0u64;
    // Consecutive delivered sequences become one range.
    let mut run: Option<(u64, u64)> = None;
    let flush = |ctx: &WriteCtx<'_>,
                 run: &mut Option<(u64, u64)>,
                 sent: &mut u64|
     -> Result<(), StoreError> {
        if let Some((a, b)) = run.take() {
            *sent += mark_delivered(ctx.conn(), a, b)?;
        }
        Ok(())
    };
    for (seq, fate) in fates {
        match fate {
            EventFate::Delivered => {
                run = match run {
                    Some((a, b)) if b + 1 == *seq => Some((a, *seq)),
                    other => {
                        let mut other = other;
                        flush(ctx, &mut other, &mut sent)?;
                        Some((*seq, *seq))
                    }
                };
            }
            EventFate::Quarantined(reason) => {
                flush(ctx, &mut run, &mut sent)?;
                quarantined += ctx
                    .conn()
                    .prepare_cached(&format!(
                        "INSERT INTO sync_held (seq, reason) SELECT e.seq, ?3 FROM event_log e
                          WHERE e.seq = ?2 AND {UNSENT_AFTER_PARAM_1}"
                    ))?
                    .execute(rusqlite::params![0, *seq as i64, reason])?
                    as u64;
            }
        }
    }
    flush(ctx, &mut run, &mut sent)?;
    advance_watermark(ctx.conn())?;
    ctx.conn()
        .prepare_cached("DELETE FROM uplink_batches WHERE idempotency_key = ?1")?
        .execute([batch_key])?;
    ctx.note_unsent_change(-((sent + quarantined) as i64));
    Ok((sent, quarantined))
}

/// Records `a..=b` delivered; returns how many of its events were unsent.
fn mark_delivered(conn: &Connection, a: u64, b: u64) -> Result<u64, StoreError> {
    let (a, b) = (a as i64, b as i64);
    let newly: i64 = conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM event_log e WHERE {UNSENT_AFTER_PARAM_1} AND e.seq <= ?2"
        ))?
        .query_row(rusqlite::params![a - 1, b], |r| r.get(0))?;
    if newly > 0 {
        add_sent_range(conn, a, b)?;
    }
    Ok(newly as u64)
}

/// Records `lo..=hi` as delivered ahead of the watermark (widening a
/// range that starts at the same sequence).
fn add_sent_range(conn: &Connection, lo: i64, hi: i64) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO sync_sent (lo, hi) VALUES (?1, ?2)
         ON CONFLICT (lo) DO UPDATE SET hi = max(hi, excluded.hi)",
    )?
    .execute([lo, hi])?;
    Ok(())
}

/// The "sent up to" watermark.
fn watermark(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.prepare_cached("SELECT sent_upto FROM sync_watermark")?
        .query_row([], |r| r.get(0))
}

/// Moves the watermark over every event above it that is delivered (a
/// `sync_sent` range) or held, and over sequences no event has; drops
/// the ranges it passed.
fn advance_watermark(conn: &Connection) -> Result<(), StoreError> {
    let start = watermark(conn)?;
    let mut w = start;
    loop {
        let next: Option<i64> = conn
            .prepare_cached("SELECT min(seq) FROM event_log WHERE seq > ?1")?
            .query_row([w], |r| r.get(0))?;
        let Some(m) = next else { break };
        let held = conn
            .prepare_cached("SELECT 1 FROM sync_held WHERE seq = ?1")?
            .query_row([m], |_| Ok(()))
            .optional()?
            .is_some();
        if held {
            w = m;
            continue;
        }
        let hi: Option<i64> = conn
            .prepare_cached("SELECT max(hi) FROM sync_sent WHERE lo <= ?1 AND hi >= ?1")?
            .query_row([m], |r| r.get(0))?;
        match hi {
            Some(hi) => w = hi,
            None => {
                w = w.max(m - 1);
                break;
            }
        }
    }
    if w != start {
        conn.prepare_cached("UPDATE sync_watermark SET sent_upto = ?1")?
            .execute([w])?;
        conn.prepare_cached("DELETE FROM sync_sent WHERE hi <= ?1")?
            .execute([w])?;
    }
    Ok(())
}

/// Replaces a batch by new groupings (413 split, 4xx bisection). The new
/// batches get new keys: central has never seen them.
pub fn replace_batch(
    ctx: &mut WriteCtx<'_>,
    old_key: &str,
    new: &[BatchRange],
) -> Result<(), StoreError> {
    ctx.conn()
        .prepare_cached("DELETE FROM uplink_batches WHERE idempotency_key = ?1")?
        .execute([old_key])?;
    for b in new {
        create_batch(ctx, b)?;
    }
    Ok(())
}

/// Drops a batch whose range holds no unsent event any more.
pub fn drop_batch(ctx: &mut WriteCtx<'_>, key: &str) -> Result<(), StoreError> {
    ctx.conn()
        .prepare_cached("DELETE FROM uplink_batches WHERE idempotency_key = ?1")?
        .execute([key])?;
    Ok(())
}

/// Sends quarantined events again: all, or those with the given ids.
/// Pending batches are dropped so that everything is grouped anew (new
/// keys), and `requeue_generation` tells a running uplink to start over.
pub fn requeue(ctx: &mut WriteCtx<'_>, ids: Option<&[String]>) -> Result<u64, StoreError> {
    let n = requeue_rows(ctx.conn(), ids)?;
    ctx.note_unsent_change(n as i64);
    Ok(n)
}

/// Same as [`requeue`], for the CLI's own connection (one transaction).
pub fn requeue_direct(db: &mut Db, ids: Option<&[String]>) -> Result<u64, StoreError> {
    let tx = db.sql().unchecked_transaction()?;
    let n = requeue_rows(&tx, ids)?;
    tx.commit()?;
    Ok(n)
}

/// The rows of a requeue, inside the caller's transaction: the held
/// events leave `sync_held`; those below the watermark bring it down to
/// just before the first of them, and what lay between stays delivered
/// as `sync_sent` ranges.
fn requeue_rows(conn: &Connection, ids: Option<&[String]>) -> Result<u64, StoreError> {
    let seqs: Vec<i64> = match ids {
        None => conn
            .prepare("SELECT seq FROM sync_held ORDER BY seq")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        Some(ids) => {
            let mut stmt = conn.prepare_cached(
                "SELECT h.seq FROM sync_held h JOIN event_log e ON e.seq = h.seq WHERE e.id = ?1",
            )?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(seq) = stmt
                    .query_row([super::read::id_value(id)], |r| r.get::<_, i64>(0))
                    .optional()?
                {
                    out.push(seq);
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    };
    let n = seqs.len() as u64;
    if n > 0 {
        let mut del = conn.prepare_cached("DELETE FROM sync_held WHERE seq = ?1")?;
        for s in &seqs {
            del.execute([s])?;
        }
        let w = watermark(conn)?;
        let below: Vec<i64> = seqs.iter().copied().filter(|s| *s <= w).collect();
        if let Some(&first) = below.first() {
            for (i, s) in below.iter().enumerate() {
                let hi = below.get(i + 1).map_or(w, |next| next - 1);
                if *s < hi {
                    add_sent_range(conn, s + 1, hi)?;
                }
            }
            conn.execute("UPDATE sync_watermark SET sent_upto = ?1", [first - 1])?;
        }
        conn.execute("DELETE FROM uplink_batches", [])?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('requeue_generation', '1')
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            [],
        )?;
    }
    Ok(n)
}

/// One quarantined event, for `sync status` and the API.
#[derive(Debug, Serialize)]
pub struct Quarantined {
    pub sequence: String,
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub reason: Option<String>,
}

pub fn quarantined(conn: &ReadConn, limit: u32) -> Result<Vec<Quarantined>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(
        "SELECT h.seq, e.id, t.name, h.reason FROM sync_held h
           JOIN event_log e ON e.seq = h.seq JOIN event_types t ON t.code = e.type
          ORDER BY h.seq LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit], |r| {
            let mut buf = String::new();
            Ok(Quarantined {
                sequence: r.get::<_, i64>(0)?.to_string(),
                id: super::read::id_text(r.get_ref(1)?, &mut buf)?.to_owned(),
                event_type: r.get(2)?,
                reason: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Counts for the sync status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncCounts {
    pub unsent: i64,
    pub quarantined: i64,
    pub oldest_unsent_recorded_at: Option<String>,
}

pub fn sync_counts(conn: &ReadConn) -> Result<SyncCounts, StoreError> {
    let sql = conn.sql();
    Ok(SyncCounts {
        unsent: unsent_count(sql)?,
        quarantined: quarantined_count(conn)?,
        oldest_unsent_recorded_at: oldest_unsent(conn)?,
    })
}

/// Quarantined events (the held exceptions; no scan of the log).
pub fn quarantined_count(conn: &ReadConn) -> Result<i64, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached("SELECT count(*) FROM sync_held")?
        .query_row([], |r| r.get(0))?)
}

/// Unsent events: the same events as the unsent predicate
/// (`read::UNSENT_AFTER_PARAM_1`), counted without evaluating it per row.
/// The events above the watermark are a range count of the rowid; from
/// them go the events inside the `sync_sent` ranges (merged first: two
/// ranges may overlap) and the held ones outside those ranges. The
/// predicate per row (a `sync_sent` seek and a `sync_held` probe for each
/// of a backlog's million events) was most of the service's start-up work
/// on a large backlog (BENCHMARKS.md, the drain's profile).
pub(crate) fn unsent_count(conn: &Connection) -> Result<i64, rusqlite::Error> {
    let w = watermark(conn)?;
    let count_between = |lo: i64, hi: i64| -> Result<i64, rusqlite::Error> {
        conn.prepare_cached("SELECT count(*) FROM event_log WHERE seq BETWEEN ?1 AND ?2")?
            .query_row([lo, hi], |r| r.get(0))
    };
    let above = count_between(w.saturating_add(1), i64::MAX)?;
    let mut merged: Vec<(i64, i64)> = Vec::new();
    {
        let mut stmt =
            conn.prepare_cached("SELECT lo, hi FROM sync_sent WHERE hi > ?1 ORDER BY lo")?;
        let mut rows = stmt.query([w])?;
        while let Some(r) = rows.next()? {
            let (lo, hi): (i64, i64) = (r.get::<_, i64>(0)?.max(w + 1), r.get(1)?);
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
    }
    let mut sent = 0;
    for &(lo, hi) in &merged {
        sent += count_between(lo, hi)?;
    }
    let in_ranges = |seq: i64| {
        let i = merged.partition_point(|&(lo, _)| lo <= seq);
        i > 0 && merged[i - 1].1 >= seq
    };
    let mut held = 0;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT h.seq FROM sync_held h JOIN event_log e ON e.seq = h.seq WHERE h.seq > ?1",
        )?;
        let mut rows = stmt.query([w])?;
        while let Some(r) = rows.next()? {
            if !in_ranges(r.get(0)?) {
                held += 1;
            }
        }
    }
    Ok(above - sent - held)
}

pub fn oldest_unsent(conn: &ReadConn) -> Result<Option<String>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&format!(
        "SELECT e.recorded FROM event_log e WHERE {UNSENT_AFTER_PARAM_1} ORDER BY e.seq LIMIT 1"
    ))?;
    Ok(stmt
        .query_row([0], |r| {
            let mut buf = String::new();
            Ok(super::read::time_text(r.get_ref(0)?, &mut buf)?.to_owned())
        })
        .optional()?)
}

/// Replaces the cached pickup-pass keys with central's current list.
pub fn replace_keys(ctx: &mut WriteCtx<'_>, keys: &[(String, [u8; 32])]) -> Result<(), StoreError> {
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    ctx.conn().execute("DELETE FROM pickup_keys", [])?;
    for (kid, key) in keys {
        ctx.conn()
            .prepare_cached(
                "INSERT INTO pickup_keys (kid, public_key, fetched_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(rusqlite::params![kid, &key[..], now])?;
    }
    Ok(())
}

pub fn pickup_keys(conn: &ReadConn) -> Result<Vec<(String, [u8; 32])>, StoreError> {
    let mut stmt = conn
        .sql()
        .prepare_cached("SELECT kid, public_key FROM pickup_keys ORDER BY kid")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(kid, key)| <[u8; 32]>::try_from(key.as_slice()).ok().map(|k| (kid, k)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with events 1..=n (recorded at `recorded(seq)` ms).
    fn db_with(n: i64, recorded: impl Fn(i64) -> i64) -> (tempfile::TempDir, crate::store::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("s.db"), "s1").unwrap();
        for seq in 1..=n {
            db.sql()
                .execute(
                    "INSERT INTO event_log (seq, id, type, time, recorded, data) VALUES (?1, ?2, 15, ?3, ?3, '{}')",
                    rusqlite::params![seq, &uuid::Uuid::now_v7().as_bytes()[..], recorded(seq)],
                )
                .unwrap();
        }
        (dir, db)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The counted unsent events are exactly those the unsent
        /// predicate selects, whatever the watermark, missing sequences
        /// (pruned or never written), overlapping or stale ranges and held
        /// events inside or outside them.
        #[test]
        fn the_unsent_count_is_the_predicates_count(
            present in proptest::collection::vec(proptest::bool::weighted(0.8), 1..120),
            w in 0i64..130,
            ranges in proptest::collection::vec((1i64..130, 0i64..20), 0..6),
            held in proptest::collection::vec(1i64..130, 0..8),
        ) {
            let (_dir, db) = db_with(present.len() as i64, |s| s);
            let c = db.sql();
            for (i, keep) in present.iter().enumerate() {
                if !keep {
                    c.execute("DELETE FROM event_log WHERE seq = ?1", [i as i64 + 1]).unwrap();
                }
            }
            c.execute("UPDATE sync_watermark SET sent_upto = ?1", [w]).unwrap();
            for (lo, len) in ranges {
                add_sent_range(c, lo, lo + len).unwrap();
            }
            for seq in held {
                c.execute("INSERT OR IGNORE INTO sync_held (seq, reason) VALUES (?1, 'x')", [seq])
                    .unwrap();
            }
            let by_predicate = state(c).3.len() as i64;
            proptest::prop_assert_eq!(unsent_count(c).unwrap(), by_predicate);
        }
    }

    /// The watermark, the delivered ranges, the held and the unsent events.
    type State = (i64, Vec<(i64, i64)>, Vec<i64>, Vec<i64>);

    fn state(c: &Connection) -> State {
        let w = watermark(c).unwrap();
        let ranges = c
            .prepare("SELECT lo, hi FROM sync_sent ORDER BY lo")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let held = c
            .prepare("SELECT seq FROM sync_held ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let unsent = c
            .prepare(&format!(
                "SELECT e.seq FROM event_log e WHERE {UNSENT_AFTER_PARAM_1} ORDER BY e.seq"
            ))
            .unwrap()
            .query_map([0], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (w, ranges, held, unsent)
    }

    /// Results applied out of order wait as ranges; the watermark moves
    /// over delivered, held and missing sequences as soon as it reaches
    /// them; a requeue below it brings it back and keeps what lay between
    /// delivered; a second delivery of the same range counts nothing.
    #[test]
    fn the_watermark_moves_over_what_is_settled_and_requeue_brings_it_back() {
        let (_dir, db) = db_with(20, |s| s);
        let c = db.sql();
        c.execute("DELETE FROM event_log WHERE seq = 12", [])
            .unwrap(); // a gap
        assert_eq!(mark_delivered(c, 11, 15).unwrap(), 4);
        advance_watermark(c).unwrap();
        assert_eq!(
            state(c),
            (0, vec![(11, 15)], vec![], (1..=10).chain(16..=20).collect())
        );
        assert_eq!(mark_delivered(c, 1, 4).unwrap(), 4);
        c.execute(
            "INSERT INTO sync_held (seq, reason) VALUES (5, 'rejected')",
            [],
        )
        .unwrap();
        assert_eq!(mark_delivered(c, 6, 10).unwrap(), 5);
        assert_eq!(mark_delivered(c, 6, 10).unwrap(), 0, "already delivered");
        advance_watermark(c).unwrap();
        assert_eq!(state(c), (15, vec![], vec![5], (16..=20).collect()));
        assert_eq!(unsent_count(c).unwrap(), 5);

        assert_eq!(requeue_rows(c, None).unwrap(), 1);
        assert_eq!(
            state(c),
            (4, vec![(6, 15)], vec![], (5..=5).chain(16..=20).collect())
        );
        assert_eq!(mark_delivered(c, 5, 5).unwrap(), 1);
        advance_watermark(c).unwrap();
        assert_eq!(state(c), (15, vec![], vec![], (16..=20).collect()));
        assert_eq!(mark_delivered(c, 16, 20).unwrap(), 5);
        advance_watermark(c).unwrap();
        assert_eq!(state(c), (20, vec![], vec![], vec![]));
    }
}
