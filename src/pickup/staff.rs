//! Staff who hand goods over, with a 4–8 digit PIN kept only as an argon2id
//! hash. Wrong PINs are counted in the database: the fifth locks the account
//! for 15 minutes, and a restart does not reset that.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::store::StoreError;

/// Wrong PINs in a row that lock an account.
pub const PIN_MAX_FAILURES: i64 = 5;
/// How long a locked account stays locked.
pub const PIN_LOCK_S: i64 = 15 * 60;

/// A PIN as the issue fixes it: 4 to 8 digits.
pub fn check_pin_format(pin: &str) -> Result<(), String> {
    if (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a PIN is 4 to 8 digits".into())
    }
}

/// `[A-Za-z0-9._-]{1,32}`: staff ids appear in events and URLs.
pub fn check_staff_id(id: &str) -> Result<(), String> {
    if (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        Ok(())
    } else {
        Err("a staff id is 1 to 32 letters, digits, dots, dashes or underscores".into())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StaffMember {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
}

pub fn add(conn: &Connection, id: &str, name: &str, pin_hash: &str) -> Result<(), StoreError> {
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    let n = conn.execute(
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

pub fn remove(conn: &Connection, id: &str) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM staff WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("staff member `{id}`")));
    }
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<StaffMember>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name, locked_until FROM staff ORDER BY name, id")?;
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

/// What a PIN check needs: the name, the hash and the lock.
pub struct PinRecord {
    pub name: String,
    pub pin_hash: String,
    pub locked_until: Option<i64>,
}

pub fn pin_record(conn: &Connection, id: &str) -> Result<Option<PinRecord>, StoreError> {
    Ok(conn
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

/// Records a PIN check: a right PIN clears the count, a wrong one counts and
/// the fifth locks. Returns the lock's end if the account is now locked.
pub fn record_pin(
    conn: &Connection,
    id: &str,
    right: bool,
    now: i64,
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
    if failures >= PIN_MAX_FAILURES {
        let until = now + PIN_LOCK_S;
        conn.execute(
            "UPDATE staff SET pin_failures = 0, locked_until = ?2 WHERE id = ?1",
            rusqlite::params![id, until],
        )?;
        tracing::warn!(
            staff_id = id,
            "staff account locked after repeated wrong PINs"
        );
        return Ok(Some(until));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_wrong_pins_lock_for_fifteen_minutes_and_a_right_one_clears() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_writing(&dir.path().join("t.db"), "t").unwrap();
        add(&conn, "anna", "Anna K.", "$argon2id$x").unwrap();
        assert!(add(&conn, "anna", "Again", "$argon2id$x").is_err());
        let now = 1_800_000_000;
        for _ in 0..2 {
            assert_eq!(record_pin(&conn, "anna", false, now).unwrap(), None);
        }
        assert_eq!(
            record_pin(&conn, "anna", true, now).unwrap(),
            None,
            "a right PIN clears the count"
        );
        for _ in 0..4 {
            assert_eq!(record_pin(&conn, "anna", false, now).unwrap(), None);
        }
        assert_eq!(
            record_pin(&conn, "anna", false, now).unwrap(),
            Some(now + PIN_LOCK_S)
        );
        assert_eq!(
            pin_record(&conn, "anna").unwrap().unwrap().locked_until,
            Some(now + PIN_LOCK_S)
        );
        assert!(check_pin_format("1234").is_ok() && check_pin_format("12345678").is_ok());
        for bad in ["123", "123456789", "12a4", ""] {
            assert!(check_pin_format(bad).is_err(), "{bad}");
        }
        remove(&conn, "anna").unwrap();
        assert!(remove(&conn, "anna").is_err());
    }
}
