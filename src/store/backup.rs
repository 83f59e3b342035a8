//! Backup and restore, the SQL half (`cli/db.rs` does the files: temp
//! names, renames, modes, the lock). A backup is `VACUUM INTO` on a read
//! snapshot, stamped with when it was taken and an id. A restore checks a
//! backup (header, `PRAGMA integrity_check`, application, schema, store),
//! then prepares a copy of it: migrated, the sequence moved on by the
//! restore gap, open orders flagged for a shelf check, the record of
//! restores carried over, and `store.edge.restored` appended as the first
//! event after the gap.
//!
//! Architecture invariant: no `(source, sequence)` is reused after a
//! restore. The first sequence after a restore is the backup's last plus
//! the gap, and a restore that could reach into a range an earlier
//! restore handed out (the same backup again, or an older one) is refused
//! with the gap that would be safe ([`required_gap`]).
//!
//! Must never: write to the backup file it restores from, or to the live
//! database (only to the copy that replaces it).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::migrations::{APPLICATION_ID, LATEST};
use super::{Db, StoreError, Writer, WriterSettings};
use crate::events::{format_time, NewEvent};

/// `meta` keys of this module.
const TAKEN_AT: &str = "backup_taken_at";
const BACKUP_ID: &str = "backup_id";
const RESTORES: &str = "restores";

/// Orders that may have left the store on the lost box: neither handed
/// over, refused nor cancelled in the backup.
const OPEN_IN_BACKUP: &str = "state IN ('received', 'picking', 'ready', 'no_show')";

/// How far a restore moves the store's own reservation numbers
/// (`S-<store>-<n>`), so that an order the lost box created after the
/// backup never shares its id with a new one.
pub const RESERVATION_GAP: u64 = 10_000;

/// What a backup holds, as read (never written) by [`inspect`].
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub store_id: String,
    pub schema_version: i64,
    pub last_sequence: u64,
    /// When the backup was taken (its stamp; for a copy made otherwise,
    /// the newest event's recording time, see `taken_at_stamped`).
    pub taken_at: String,
    pub taken_at_stamped: bool,
    pub backup_id: String,
    /// Restores recorded in the backup (of earlier backups).
    pub restores: Vec<RestoreRecord>,
    pub events: i64,
}

/// One restore, as kept in `meta` under `restores` (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRecord {
    pub backup_id: String,
    pub backup_taken_at: String,
    pub last_sequence_in_backup: u64,
    pub sequence_gap: u64,
    pub first_sequence_after: u64,
    pub restored_at: String,
}

/// What a finished backup is.
#[derive(Debug, Clone, Serialize)]
pub struct Stamp {
    pub backup_id: String,
    pub taken_at: String,
    pub last_sequence: u64,
}

fn unusable(path: &Path, problem: impl Into<String>) -> StoreError {
    StoreError::Unusable {
        file: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Copies the database at `source` (which must be this store's) into
/// `target` — a missing or empty file — as one consistent snapshot, while
/// the service may be writing; then stamps the copy and leaves it in
/// rollback-journal mode, one self-contained file.
pub fn write_copy(source: &Path, store_id: &str, target: &Path) -> Result<Stamp, StoreError> {
    super::open::check_header(source).map_err(|p| unusable(source, p))?;
    super::open::probe(source, store_id)?;
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| unusable(source, format!("cannot open read-only: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let taken_at = format_time(time::OffsetDateTime::now_utc());
    let target_text = target
        .to_str()
        .ok_or_else(|| unusable(target, "the backup's path is not valid UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target_text])?;
    drop(conn);
    let copy = Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let _: String = copy.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
    copy.pragma_update(None, "synchronous", "FULL")?;
    let backup_id = uuid::Uuid::now_v7().to_string();
    copy.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2), (?3, ?4)",
        (TAKEN_AT, &taken_at, BACKUP_ID, &backup_id),
    )?;
    let last_sequence = last_sequence(&copy)?;
    Ok(Stamp {
        backup_id,
        taken_at,
        last_sequence,
    })
}

/// The highest sequence a database holds or handed out.
fn last_sequence(conn: &Connection) -> Result<u64, rusqlite::Error> {
    let meta: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'last_seq'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let max: Option<i64> = conn.query_row(
        &format!("SELECT max(seq) FROM {}", event_table(conn)?),
        [],
        |r| r.get(0),
    )?;
    let meta = meta.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(meta.max(max.unwrap_or(0).max(0) as u64))
}

/// The table holding the events: `event_log` from schema 9 on, `events`
/// in a backup of an older schema.
fn event_table(conn: &Connection) -> Result<&'static str, rusqlite::Error> {
    let lean = super::open::has_table(conn, "event_log")?;
    Ok(if lean { "event_log" } else { "events" })
}

fn restores_of(conn: &Connection) -> Result<Vec<RestoreRecord>, StoreError> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [RESTORES], |r| {
            r.get(0)
        })
        .optional()?;
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(&t).map_err(|e| StoreError::invalid("meta.restores", e)),
    }
}

/// Checks a backup file without writing to it: an SQLite header, the
/// whole `PRAGMA integrity_check`, a store-edge database of a schema this
/// binary knows, of `store_id`.
pub fn inspect(path: &Path, store_id: &str) -> Result<BackupInfo, StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| unusable(path, format!("cannot read: {e}")))?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(unusable(path, "is not a backup (empty, or not a file)"));
    }
    super::open::check_header(path).map_err(|p| unusable(path, p))?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| unusable(path, format!("cannot open read-only: {e}")))?;
    let damaged = |e: rusqlite::Error| {
        unusable(
            path,
            format!("is damaged ({e}); take another backup (the nightly ones are in [backup] dir)"),
        )
    };
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(damaged)?;
    if problems != ["ok"] {
        let shown: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Err(unusable(
            path,
            format!(
                "failed the integrity check ({}{}); take another backup (the nightly ones are in [backup] dir)",
                shown.join("; "),
                if problems.len() > 3 { "; ..." } else { "" }
            ),
        ));
    }
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(damaged)?;
    if app_id != APPLICATION_ID {
        return Err(unusable(
            path,
            format!("is not a store-edge database (application_id {app_id:#x})"),
        ));
    }
    let schema_version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(damaged)?;
    if !(1..=LATEST).contains(&schema_version) {
        return Err(unusable(
            path,
            format!(
                "has schema version {schema_version}; this binary knows 1 to {LATEST}: restore it with the store-edge version that wrote it or a newer one"
            ),
        ));
    }
    let get = |key: &str| -> Result<Option<String>, StoreError> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(damaged)
    };
    let owner = get("store_id")?.unwrap_or_default();
    if owner != store_id {
        return Err(unusable(
            path,
            format!(
                "is a backup of store `{owner}` but the config says store.id = `{store_id}`; restore a backup of this store, or use that store's config"
            ),
        ));
    }
    let last_sequence = last_sequence(&conn).map_err(damaged)?;
    let stamped = get(TAKEN_AT)?;
    let taken_at_stamped = stamped.is_some();
    let taken_at = match stamped {
        Some(t) => t,
        None => match event_table(&conn).map_err(damaged)? {
            "event_log" => conn
                .query_row(
                    "SELECT recorded FROM event_log ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| {
                        let mut buf = String::new();
                        Ok(super::read::time_text(r.get_ref(0)?, &mut buf)?.to_owned())
                    },
                )
                .optional()
                .map_err(damaged)?,
            _ => conn
                .query_row("SELECT max(recorded_at) FROM events", [], |r| {
                    r.get::<_, Option<String>>(0)
                })
                .map_err(damaged)?,
        }
        .or(get("created_at")?)
        .unwrap_or_default(),
    };
    let backup_id =
        get(BACKUP_ID)?.unwrap_or_else(|| format!("unstamped-{last_sequence}-{taken_at}"));
    let events = event_table(&conn)
        .and_then(|t| conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)))
        .map_err(damaged)?;
    Ok(BackupInfo {
        store_id: owner,
        schema_version,
        last_sequence,
        taken_at,
        taken_at_stamped,
        backup_id,
        restores: restores_of(&conn)?,
        events,
    })
}

/// What the database being replaced tells a restore, when it can still be
/// read: its last sequence and its record of restores.
#[derive(Debug, Clone, Default)]
pub struct Replaced {
    pub last_sequence: u64,
    pub restores: Vec<RestoreRecord>,
}

/// Reads the live database read-only (the service is stopped); an error
/// means it cannot be read (a dead box's disk, a damaged file).
pub fn read_replaced(path: &Path) -> Result<Replaced, StoreError> {
    super::open::check_header(path).map_err(|p| unusable(path, p))?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Folds a WAL left behind into the file, so that the file alone is
    // the database when it is kept aside.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    Ok(Replaced {
        last_sequence: last_sequence(&conn)?,
        restores: restores_of(&conn)?,
    })
}

/// The smallest gap that reuses no sequence a box may have sent: above
/// the replaced database's last sequence, and beyond every range that an
/// earlier restore handed out after this backup's last sequence (that box
/// may have used as many as the gap it left). Returns the gap and why,
/// when it is more than the safe minimum of 1.
pub fn required_gap(
    last_in_backup: u64,
    records: &[RestoreRecord],
    replaced_last: Option<u64>,
) -> (u64, Option<String>) {
    let mut need = 1u64;
    let mut why = None;
    for r in records {
        if r.first_sequence_after > last_in_backup {
            let g = (r.first_sequence_after + r.sequence_gap).saturating_sub(last_in_backup);
            if g > need {
                need = g;
                why = Some(if r.last_sequence_in_backup == last_in_backup {
                    format!(
                        "this backup (taken at {}) was restored before, on {}, with gap {}: that box went on from sequence {}",
                        r.backup_taken_at, r.restored_at, r.sequence_gap, r.first_sequence_after
                    )
                } else {
                    format!(
                        "a later restore (on {}, of a backup taken at {}) went on from sequence {} with gap {}",
                        r.restored_at, r.backup_taken_at, r.first_sequence_after, r.sequence_gap
                    )
                });
            }
        }
    }
    if let Some(c) = replaced_last {
        if c >= last_in_backup + need {
            need = c - last_in_backup + 1;
            why = Some(format!(
                "the database being replaced already reached sequence {c}"
            ));
        }
    }
    (need, why)
}

/// What a restore applies to its copy.
#[derive(Debug, Clone)]
pub struct Plan {
    pub backup: BackupInfo,
    pub gap: u64,
    /// Every known restore before this one (the backup's and the replaced
    /// database's), merged.
    pub earlier: Vec<RestoreRecord>,
}

impl Plan {
    pub fn first_sequence_after(&self) -> u64 {
        self.backup.last_sequence + self.gap
    }
}

/// What [`prepare`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    pub record: RestoreRecord,
    /// Order ids flagged for a shelf check.
    pub flagged_orders: Vec<String>,
    pub restored_event_id: String,
}

/// Turns `copy` (a fresh copy of the backup, not yet in place) into the
/// restored database: migrated, the sequence moved on, open orders
/// flagged, the restores recorded, `store.edge.restored` appended as the
/// first event after the gap; then folded into one file.
pub fn prepare(
    copy: &Path,
    store_id: &str,
    plan: &Plan,
    mut settings: WriterSettings,
    metrics: std::sync::Arc<crate::telemetry::Metrics>,
) -> Result<Prepared, StoreError> {
    let db: Db = super::open_for_writing(copy, store_id)?;
    let first = plan.first_sequence_after();
    let now = format_time(time::OffsetDateTime::now_utc());
    let record = RestoreRecord {
        backup_id: plan.backup.backup_id.clone(),
        backup_taken_at: plan.backup.taken_at.clone(),
        last_sequence_in_backup: plan.backup.last_sequence,
        sequence_gap: plan.gap,
        first_sequence_after: first,
        restored_at: now.clone(),
    };
    let mut records = plan.earlier.clone();
    records.push(record.clone());
    let records_json = serde_json::to_string(&records)
        .map_err(|e| StoreError::internal("recording the restore", e))?;
    let flagged_orders = {
        let conn = db.sql();
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'last_seq'",
            [(first - 1).to_string()],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            (RESTORES, &records_json),
        )?;
        tx.execute(
            "DELETE FROM meta WHERE key IN (?1, ?2)",
            (TAKEN_AT, BACKUP_ID),
        )?;
        tx.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ?1 WHERE key = 'reservation_seq'",
            [RESERVATION_GAP as i64],
        )?;
        let flagged: Vec<String> = tx
            .prepare(&format!(
                "UPDATE pickup_orders SET local = json_set(local, '$.shelf_check_after_restore', json('true')),
                        revision = revision + 1, updated_at = ?1
                 WHERE {OPEN_IN_BACKUP} RETURNING order_id"
            ))?
            .query_map([&now], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        tx.commit()?;
        flagged
    };
    let event = NewEvent::made(&crate::events::made::EdgeRestored {
        backup_taken_at: &plan.backup.taken_at,
        last_sequence_in_backup: plan.backup.last_sequence,
        first_sequence_after: first,
    })
    .map_err(|e| StoreError::internal("building store.edge.restored", e))?;
    settings.path = copy.to_path_buf();
    let (writer, thread) = Writer::start(db, settings, metrics)?;
    let appended = writer.run_blocking(1024, move |ctx| ctx.append(&event));
    drop(writer);
    thread.join().map_err(|_| {
        StoreError::internal("the restore's writer", std::io::Error::other("panicked"))
    })?;
    let appended = appended?;
    if appended.sequence != first.to_string() {
        return Err(StoreError::Invalid {
            what: format!(
                "store.edge.restored got sequence {}, not {first}",
                appended.sequence
            ),
            source: None,
        });
    }
    // One self-contained file: the WAL folded in and switched off (the
    // service switches WAL on again when it opens it).
    let conn = Connection::open(copy)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
    drop(conn);
    Ok(Prepared {
        record,
        flagged_orders,
        restored_event_id: appended.id,
    })
}

/// The last restore recorded in this database, if any (`status`, `sync status`).
pub fn last_restore(conn: &super::ReadConn) -> Result<Option<RestoreRecord>, StoreError> {
    Ok(restores_of(conn.sql())?.pop())
}

/// The sentence `status` and `sync status` show after a restore.
pub fn restore_notice(r: &RestoreRecord) -> String {
    format!(
        "restored from a backup taken at {}; events after {} from the old box are lost unless central has them",
        r.backup_taken_at, r.backup_taken_at
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(last: u64, gap: u64) -> RestoreRecord {
        RestoreRecord {
            backup_id: "b".into(),
            backup_taken_at: "2026-12-01T02:00:00Z".into(),
            last_sequence_in_backup: last,
            sequence_gap: gap,
            first_sequence_after: last + gap,
            restored_at: "2026-12-02T09:00:00Z".into(),
        }
    }

    #[test]
    fn the_same_backup_again_needs_twice_the_gap_and_a_later_backup_needs_none() {
        assert_eq!(required_gap(100, &[], None), (1, None));
        let (need, why) = required_gap(100, &[record(100, 10_000_000)], None);
        assert_eq!(need, 20_000_000);
        assert!(why.unwrap().contains("restored before"));
        // An older backup than the one restored: beyond that box's range too.
        let (need, _) = required_gap(50, &[record(100, 10_000_000)], None);
        assert_eq!(need, 20_000_050);
        // A backup taken after the restore knows that box's sequences.
        assert_eq!(
            required_gap(10_000_500, &[record(100, 10_000_000)], None).0,
            1
        );
        // The replaced database reached further than the backup: beyond it.
        assert_eq!(required_gap(100, &[], Some(300)).0, 201);
    }
}
