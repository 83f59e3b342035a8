//! Read queries: the event listing, the status summary and the integrity
//! check. They take any connection (pooled reader or a CLI's own), never
//! the writer's, and never write.

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::{ReadConn, StoreError};
use crate::events::StoredEvent;

/// The columns [`event_from_row`] reads, in order.
pub(crate) const COLUMNS: &str =
    "seq, id, type, subject, time, recorded_at, journeystage, clockjump, data";

pub(crate) fn event_from_row(r: &rusqlite::Row<'_>) -> Result<StoredEvent, rusqlite::Error> {
    Ok(StoredEvent {
        sequence: r.get::<_, i64>(0)? as u64,
        id: r.get(1)?,
        event_type: r.get(2)?,
        subject: r.get(3)?,
        time: r.get(4)?,
        recorded_at: r.get(5)?,
        stage: r.get(6)?,
        clockjump: r.get(7)?,
        data: r.get(8)?,
    })
}

/// Events with `sequence > after`, oldest first, optionally of one type.
pub fn list_events(
    conn: &ReadConn,
    after: u64,
    limit: u32,
    event_type: Option<&str>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let after = after.min(i64::MAX as u64) as i64;
    let conn = conn.sql();
    let rows = match event_type {
        Some(t) => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE type = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ))?
            .query_map(rusqlite::params![t, after, limit], event_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        None => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?
            .query_map(rusqlite::params![after, limit], event_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// What `store-edge status` and the API report about the database.
#[derive(Debug, Serialize)]
pub struct DbStatus {
    pub store_id: String,
    pub schema_version: i64,
    pub created_at: Option<String>,
    pub events_stored: i64,
    pub last_sequence: u64,
    pub unsent: i64,
    pub quarantined: i64,
    pub oldest_unsent_recorded_at: Option<String>,
    pub size_bytes: u64,
    pub api_tokens_active: i64,
    /// The last `db restore`, if any, and what it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<super::backup::RestoreRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<String>,
}

pub fn status(conn: &ReadConn, path: &std::path::Path) -> Result<DbStatus, StoreError> {
    let conn_ref = conn;
    let conn = conn.sql();
    let meta = |key: &str| super::meta::get_raw(conn, key);
    let count =
        |sql: &str| -> Result<i64, rusqlite::Error> { conn.query_row(sql, [], |r| r.get(0)) };
    let last_sequence = meta("last_seq")?.and_then(|s| s.parse().ok()).unwrap_or(0);
    let (pages, free, page_size): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let restore = super::backup::last_restore(conn_ref)?;
    Ok(DbStatus {
        store_id: meta("store_id")?.unwrap_or_default(),
        schema_version: conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
        created_at: meta("created_at")?,
        events_stored: count("SELECT count(*) FROM events")?,
        last_sequence,
        unsent: count("SELECT count(*) FROM events WHERE sync_state = 0")?,
        quarantined: count("SELECT count(*) FROM events WHERE sync_state = 2")?,
        oldest_unsent_recorded_at: conn
            .query_row(
                "SELECT recorded_at FROM events WHERE sync_state = 0 ORDER BY seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?,
        size_bytes: ((pages - free).max(0) as u64) * page_size as u64 + wal_len,
        api_tokens_active: count("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")?,
        restored: restore.as_ref().map(super::backup::restore_notice),
        restore,
    })
}

/// `PRAGMA integrity_check`: "ok" or the list of problems SQLite found.
pub fn integrity_check(conn: &ReadConn) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.sql().prepare("PRAGMA integrity_check")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
