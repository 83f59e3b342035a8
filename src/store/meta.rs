//! The `meta` table: small named values the service keeps beside its data
//! (the downlink cursor, the sync link's status, counters). Every key is a
//! [`Key`], so a typo is a compile error, not a value nobody reads.
//!
//! Must never: hold an event, an order or anything secret.

use rusqlite::{Connection, OptionalExtension};

use super::{Db, ReadConn, StoreError, WriteCtx};

/// The keys others read and write (`store/` itself also keeps `store_id`,
/// `created_at` and `last_seq` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The order feed's cursor after the last stored page.
    DownlinkCursor,
    /// When that cursor was stored (RFC 3339).
    DownlinkCursorAt,
    /// `true` or `false`: whether central answered the last attempt.
    SyncReachable,
    /// Since when `SyncReachable` has had its value.
    SyncSince,
    SyncLastSuccess,
    SyncLastError,
    SyncLastErrorAt,
    /// Central's clock minus ours, in seconds.
    ClockSkewS,
    /// Set by `store-edge sync now|requeue`; a running service syncs when it changes.
    SyncNowRequested,
    /// Bumped by every requeue; a running uplink regroups when it changes.
    RequeueGeneration,
    /// The last `n` of the store's own reservations `S-<store>-<n>`.
    ReservationSeq,
}

impl Key {
    pub fn as_str(self) -> &'static str {
        match self {
            Key::DownlinkCursor => "downlink_cursor",
            Key::DownlinkCursorAt => "downlink_cursor_at",
            Key::SyncReachable => "sync_reachable",
            Key::SyncSince => "sync_since",
            Key::SyncLastSuccess => "sync_last_success",
            Key::SyncLastError => "sync_last_error",
            Key::SyncLastErrorAt => "sync_last_error_at",
            Key::ClockSkewS => "clock_skew_s",
            Key::SyncNowRequested => "sync_now_requested",
            Key::RequeueGeneration => "requeue_generation",
            Key::ReservationSeq => "reservation_seq",
        }
    }
}

/// The value of `key`, if set.
pub fn get(conn: &ReadConn, key: Key) -> Result<Option<String>, StoreError> {
    get_raw(conn.sql(), key.as_str())
}

/// Sets (or, with `None`, removes) keys inside the writer's transaction.
pub fn set(ctx: &mut WriteCtx<'_>, pairs: &[(Key, Option<String>)]) -> Result<(), StoreError> {
    set_raw(ctx.conn(), pairs)
}

/// [`set`] on a command's own connection (`sync now`, `sync requeue`).
pub fn set_direct(db: &Db, pairs: &[(Key, Option<String>)]) -> Result<(), StoreError> {
    set_raw(db.sql(), pairs)
}

pub(super) fn get_raw(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn set_raw(conn: &Connection, pairs: &[(Key, Option<String>)]) -> Result<(), StoreError> {
    for (key, value) in pairs {
        let key = key.as_str();
        match value {
            Some(v) => conn
                .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
                .execute([key, v.as_str()])?,
            None => conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?.execute([key])?,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_set_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("t.db"), "t").unwrap();
        assert_eq!(get(&db, Key::SyncNowRequested).unwrap(), None);
        set_direct(&db, &[(Key::SyncNowRequested, Some("a".into()))]).unwrap();
        set_direct(&db, &[(Key::SyncNowRequested, Some("b".into()))]).unwrap();
        assert_eq!(
            get(&db, Key::SyncNowRequested).unwrap().as_deref(),
            Some("b")
        );
        set_direct(&db, &[(Key::SyncNowRequested, None)]).unwrap();
        assert_eq!(get(&db, Key::SyncNowRequested).unwrap(), None);
    }
}
