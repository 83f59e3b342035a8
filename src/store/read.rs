//! Read queries: the event listing, the status summary and the integrity
//! check. They take any connection (pooled reader or a CLI's own), never
//! the writer's, and never write.

use serde::Serialize;

use super::{ReadConn, StoreError};
use crate::events::StoredEvent;

/// The event log with its type names (schema 9, migrations.rs).
pub(crate) const FROM_EVENTS: &str = "event_log e JOIN event_types t ON t.code = e.type";

/// The columns [`event_from_row`] reads, in order (from [`FROM_EVENTS`]).
pub(crate) const COLUMNS: &str =
    "e.seq, e.id, t.name, e.subject, e.time, e.recorded, e.clockjump, e.data";

/// An event is unsent: above the "sent up to" watermark (or `?1`, the
/// larger), not held (quarantined), not in a range delivered out of order.
/// `e` is the event log. One statement, so one snapshot.
pub(crate) const UNSENT_AFTER_PARAM_1: &str =
    "e.seq > max(?1, (SELECT sent_upto FROM sync_watermark))
     AND e.seq NOT IN (SELECT seq FROM sync_held)
     AND NOT EXISTS (SELECT 1 FROM sync_sent s WHERE s.lo <= e.seq AND s.hi >= e.seq)";

/// The id column: 16 bytes of a UUID, written in its hyphenated form to
/// `buf`, or (an id from before schema 9 that is not a UUID) the text.
pub(crate) fn id_text<'r>(
    v: rusqlite::types::ValueRef<'r>,
    buf: &'r mut String,
) -> Result<&'r str, rusqlite::Error> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Blob(b) if b.len() == 16 => {
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(b);
            let mut enc = [0u8; uuid::fmt::Hyphenated::LENGTH];
            buf.clear();
            buf.push_str(
                uuid::Uuid::from_bytes(bytes)
                    .hyphenated()
                    .encode_lower(&mut enc),
            );
            Ok(buf.as_str())
        }
        other => other.as_str().map_err(Into::into),
    }
}

/// A time column: unix milliseconds rendered as `format_time` does into
/// `buf`, or (a value from before schema 9 that did not read back the
/// same as milliseconds) the text.
pub(crate) fn time_text<'r>(
    v: rusqlite::types::ValueRef<'r>,
    buf: &'r mut String,
) -> Result<&'r str, rusqlite::Error> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(ms) => {
            buf.clear();
            crate::events::write_time_ms(ms, buf);
            Ok(buf.as_str())
        }
        other => other.as_str().map_err(Into::into),
    }
}

/// The id the event log stores for an API id: the UUID's bytes, or the
/// text for an older id that is not a UUID.
pub(crate) fn id_value(id: &str) -> rusqlite::types::Value {
    match uuid::Uuid::try_parse(id) {
        Ok(u) if u.hyphenated().to_string() == id => {
            rusqlite::types::Value::Blob(u.as_bytes().to_vec())
        }
        _ => rusqlite::types::Value::Text(id.to_owned()),
    }
}

/// The catalog's journey stage of a type (the event log does not store it).
pub(crate) fn stage_of(type_name: &str) -> Option<&'static str> {
    crate::events::catalog::lookup(type_name).and_then(|t| t.stage.map(|s| s.as_str()))
}

pub(crate) fn event_from_row(r: &rusqlite::Row<'_>) -> Result<StoredEvent, rusqlite::Error> {
    let mut buf = String::new();
    let event_type: String = r.get(2)?;
    Ok(StoredEvent {
        sequence: r.get::<_, i64>(0)? as u64,
        id: id_text(r.get_ref(1)?, &mut buf)?.to_owned(),
        stage: stage_of(&event_type).map(str::to_owned),
        event_type,
        subject: r.get(3)?,
        time: time_text(r.get_ref(4)?, &mut buf)?.to_owned(),
        recorded_at: time_text(r.get_ref(5)?, &mut buf)?.to_owned(),
        clockjump: r.get(6)?,
        data: r.get(7)?,
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
                "SELECT {COLUMNS} FROM {FROM_EVENTS} WHERE e.type = (SELECT code FROM event_types WHERE name = ?1) AND e.seq > ?2 ORDER BY e.seq LIMIT ?3"
            ))?
            .query_map(rusqlite::params![t, after, limit], event_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        None => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {FROM_EVENTS} WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
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
    let sync = super::sync::sync_counts(conn_ref)?;
    Ok(DbStatus {
        store_id: meta("store_id")?.unwrap_or_default(),
        schema_version: conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
        created_at: meta("created_at")?,
        events_stored: count("SELECT count(*) FROM event_log")?,
        last_sequence,
        unsent: sync.unsent,
        quarantined: sync.quarantined,
        oldest_unsent_recorded_at: sync.oldest_unsent_recorded_at,
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
