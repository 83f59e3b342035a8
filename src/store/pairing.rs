//! The `pairing_codes` table: single-use 8-digit codes that pair a tablet
//! (`store-edge tablet pair` prints one; the tablet redeems it for its own
//! token). Only a SHA-256 of each code is stored.
//!
//! Must never: store or log a clear code, or void an open code because of
//! wrong guesses (those are counted per source address in `api/`).

use rusqlite::{Connection, OptionalExtension};

use super::tokens::{self, hash_token, Role};
use super::{Db, ReadConn, StoreError, WriteCtx};
use crate::secrets;

/// How long a tablet pairing code is valid.
pub const CODE_TTL_S: i64 = 10 * 60;

/// A new single-use 8-digit pairing code for a tablet of `role` (staff,
/// kiosk or manager); only its SHA-256 is stored. Returns the clear code
/// (shown once).
pub fn create(db: &Db, role: Role, register: Option<&str>, now: i64) -> Result<String, StoreError> {
    if !matches!(role, Role::Staff | Role::Kiosk | Role::Manager) {
        return Err(StoreError::Conflict(
            "tablets pair as staff, kiosk or manager; use `store-edge token create` for other roles".into(),
        ));
    }
    let code = secrets::random_digits(8).map_err(|e| StoreError::internal("a pairing code", e))?;
    let created = crate::events::format_time(time::OffsetDateTime::now_utc());
    let conn = db.sql();
    conn.execute(
        "DELETE FROM pairing_codes WHERE expires_at < ?1 OR used_at IS NOT NULL",
        [now],
    )?;
    conn.execute(
        "INSERT INTO pairing_codes (code_hash, role, register, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![&hash_token(&code)[..], role.as_str(), register, now + CODE_TTL_S, created],
    )?;
    Ok(code)
}

/// Whether `code` is an unused, unexpired pairing code (a read: wrong
/// guesses never reach the writer).
pub fn is_open(conn: &ReadConn, code: &str, now: i64) -> Result<bool, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached(
            "SELECT 1 FROM pairing_codes WHERE code_hash = ?1 AND used_at IS NULL AND expires_at >= ?2",
        )?
        .query_row(rusqlite::params![&hash_token(code)[..], now], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A paired tablet's new token.
#[derive(Debug)]
pub struct Paired {
    pub token: String,
    pub role: Role,
    pub register: Option<String>,
    pub name: String,
}

/// Uses a pairing code once, inside the writer's transaction: creates a
/// token named after the tablet, marked as a paired tablet's. None when the
/// code is unknown, used or expired.
pub fn redeem(
    ctx: &mut WriteCtx<'_>,
    code: &str,
    tablet_name: &str,
    now: i64,
) -> Result<Option<Paired>, StoreError> {
    redeem_on(ctx.conn(), code, tablet_name, now)
}

fn redeem_on(
    conn: &Connection,
    code: &str,
    tablet_name: &str,
    now: i64,
) -> Result<Option<Paired>, StoreError> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached(
            "UPDATE pairing_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL AND expires_at >= ?2 RETURNING role, register",
        )?
        .query_row(rusqlite::params![&hash_token(code)[..], now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((role, register)) = row else {
        return Ok(None);
    };
    let role = Role::parse(&role).unwrap_or(Role::Kiosk);
    let clean: String = tablet_name
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect();
    let suffix =
        secrets::random_digits(4).map_err(|e| StoreError::internal("a tablet name's suffix", e))?;
    let name = format!("{} #{suffix}", clean.trim());
    let token = tokens::create_on(conn, &name, role)?;
    conn.execute(
        "UPDATE api_tokens SET register = ?2, paired = 1 WHERE name = ?1",
        rusqlite::params![name, register],
    )?;
    Ok(Some(Paired {
        token,
        role,
        register,
        name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tokens::authenticate;

    #[test]
    fn pairing_codes_are_single_use_and_expire_after_ten_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("t.db"), "t").unwrap();
        let now = 1_800_000_000;
        let code = create(&db, Role::Staff, Some("counter-1"), now).unwrap();
        assert_eq!(code.len(), 8);
        assert!(is_open(&db, &code, now + 60).unwrap());
        let paired = redeem_on(db.sql(), &code, "counter", now + 60)
            .unwrap()
            .expect("valid");
        assert_eq!(paired.role, Role::Staff);
        let who = authenticate(&db, &paired.token).unwrap().expect("token");
        assert_eq!(who.register.as_deref(), Some("counter-1"));
        assert!(who.paired, "a paired tablet's token says so");
        let made = tokens::create(&db, "script", Role::Staff).unwrap();
        assert!(!authenticate(&db, &made).unwrap().expect("token").paired);
        assert!(!is_open(&db, &code, now + 61).unwrap());
        assert!(redeem_on(db.sql(), &code, "again", now + 61)
            .unwrap()
            .is_none());

        let late = create(&db, Role::Kiosk, None, now).unwrap();
        assert!(redeem_on(db.sql(), &late, "kiosk", now + CODE_TTL_S + 1)
            .unwrap()
            .is_none());
        assert!(create(&db, Role::Admin, None, now).is_err());
    }
}
