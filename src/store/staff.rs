//! The `staff` table: who hands goods over, each with a PIN kept only as an
//! argon2id hash (made before it gets here), and the wrong PINs counted in
//! the row, so neither parallel guessing nor a restart resets a lock.
//!
//! Must never: see a clear PIN.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{Db, ReadConn, StoreError, WriteCtx};

#[derive(Debug, Clone, Serialize)]
pub struct StaffMember {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
}

/// What a PIN check needs: the name, the hash and the lock.
pub struct PinRecord {
    pub name: String,
    pub pin_hash: String,
    pub locked_until: Option<i64>,
}

/// When wrong PINs lock an account (the policy is `pickup/`'s).
#[derive(Debug, Clone, Copy)]
pub struct PinLock {
    /// Wrong PINs in a row that lock the account.
    pub max_failures: i64,
    /// How long it stays locked.
    pub lock_s: i64,
}

/// Adds a staff member (`store-edge staff add`); refuses an existing id.
pub fn add(db: &Db, id: &str, name: &str, pin_hash: &str) -> Result<(), StoreError> {
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    let n = db.sql().execute(
        "INSERT INTO staff (id, name, pin_hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO NOTHING",
        rusqlite::params![id, name, pin_hash, now],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "staff member `{id}` exists already; remove them first to set a new PIN"
        )));
    }
    Ok(())
}

pub fn remove(db: &Db, id: &str) -> Result<(), StoreError> {
    if db.sql().execute("DELETE FROM staff WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("staff member `{id}`")));
    }
    Ok(())
}

pub fn list(conn: &ReadConn) -> Result<Vec<StaffMember>, StoreError> {
    let mut stmt = conn
        .sql()
        .prepare_cached("SELECT id, name, locked_until FROM staff ORDER BY name, id")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(StaffMember {
                id: r.get(0)?,
                name: r.get(1)?,
                locked_until: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether a staff member with this id exists.
pub fn exists(conn: &ReadConn, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached("SELECT 1 FROM staff WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn pin_record(conn: &ReadConn, id: &str) -> Result<Option<PinRecord>, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached("SELECT name, pin_hash, locked_until FROM staff WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(PinRecord {
                name: r.get(0)?,
                pin_hash: r.get(1)?,
                locked_until: r.get(2)?,
            })
        })
        .optional()?)
}

/// Records a PIN check inside the writer's transaction: a right PIN clears
/// the count, a wrong one counts and the `max_failures`-th locks. Returns
/// the lock's end if the account is now locked.
pub fn record_pin(
    ctx: &mut WriteCtx<'_>,
    id: &str,
    right: bool,
    now: i64,
    lock: PinLock,
) -> Result<Option<i64>, StoreError> {
    record_pin_on(ctx.conn(), id, right, now, lock)
}

fn record_pin_on(
    conn: &Connection,
    id: &str,
    right: bool,
    now: i64,
    lock: PinLock,
) -> Result<Option<i64>, StoreError> {
    if right {
        conn.execute(
            "UPDATE staff SET pin_failures = 0, locked_until = NULL WHERE id = ?1",
            [id],
        )?;
        return Ok(None);
    }
    let failures: i64 = conn
        .prepare_cached(
            "UPDATE staff SET pin_failures = pin_failures + 1 WHERE id = ?1 RETURNING pin_failures",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if failures >= lock.max_failures {
        let until = now + lock.lock_s;
        conn.execute(
            "UPDATE staff SET pin_failures = 0, locked_until = ?2 WHERE id = ?1",
            rusqlite::params![id, until],
        )?;
        return Ok(Some(until));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_wrong_pins_lock_for_fifteen_minutes_and_a_right_one_clears() {
        let lock = PinLock {
            max_failures: 5,
            lock_s: 15 * 60,
        };
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("t.db"), "t").unwrap();
        add(&db, "anna", "Anna K.", "$argon2id$x").unwrap();
        assert!(add(&db, "anna", "Again", "$argon2id$x").is_err());
        assert!(exists(&db, "anna").unwrap() && !exists(&db, "ben").unwrap());
        let now = 1_800_000_000;
        let record = |right| record_pin_on(db.sql(), "anna", right, now, lock).unwrap();
        for _ in 0..2 {
            assert_eq!(record(false), None);
        }
        assert_eq!(record(true), None, "a right PIN clears the count");
        for _ in 0..4 {
            assert_eq!(record(false), None);
        }
        assert_eq!(record(false), Some(now + 15 * 60));
        assert_eq!(
            pin_record(&db, "anna").unwrap().unwrap().locked_until,
            Some(now + 15 * 60)
        );
        remove(&db, "anna").unwrap();
        assert!(remove(&db, "anna").is_err());
    }
}
