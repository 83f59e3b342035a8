//! Local API tokens: created by `store-edge token create`, looked up by the
//! API on every request. Only a SHA-256 of each token is stored; tokens are
//! 256 random bits, so a fast hash is enough (no password stretching needed).

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::StoreError;

/// What a token may do (the route table in README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A till: posts events, identifies loyalty customers.
    Pos,
    /// Store staff tablets: read events, pickups.
    Staff,
    /// The customer feedback kiosk: only feedback.
    Kiosk,
    /// Store IT: everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pos => "pos",
            Role::Staff => "staff",
            Role::Kiosk => "kiosk",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "pos" => Some(Role::Pos),
            "staff" => Some(Role::Staff),
            "kiosk" => Some(Role::Kiosk),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who is calling, once a token was recognised.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// The register a paired tablet serves (its live stream, its scanner).
    pub register: Option<String>,
    /// SHA-256 of the presented token: the row's identity (the primary-key
    /// lookup of [`is_valid`]), for what must follow one token, such as its
    /// open live streams or a tablet's staff session.
    pub token_hash: [u8; 32],
    /// A paired tablet's token (`tablet pair`), not one from `token create`:
    /// a staff tablet acts as the staff member logged in on it.
    pub paired: bool,
}

#[derive(Debug, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token: `se_` + 43 characters of base64url (256 bits).
pub fn generate_token() -> Result<String, StoreError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| StoreError::Io(format!("no randomness available: {e}")))?;
    Ok(format!(
        "se_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Stores a new token for `name`; returns the clear token (shown once).
pub fn create(conn: &Connection, name: &str, role: Role) -> Result<String, StoreError> {
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        return Err(StoreError::Conflict(
            "a token name must be 1 to 64 printable characters".into(),
        ));
    }
    let token = generate_token()?;
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    let inserted = conn.execute(
        "INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO NOTHING",
        rusqlite::params![name, role.as_str(), &hash_token(&token)[..], now],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "a token named `{name}` exists already; revoke it first or choose another name"
        )));
    }
    Ok(token)
}

pub fn list(conn: &Connection) -> Result<Vec<TokenInfo>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(TokenInfo {
                name: r.get(0)?,
                role: r.get(1)?,
                created_at: r.get(2)?,
                revoked_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Revokes `name`; a revoked token is refused from the next request on.
/// Revoking also frees the name, so a replacement can be created.
pub fn revoke(conn: &Connection, name: &str) -> Result<(), StoreError> {
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    let tx = conn.unchecked_transaction()?;
    let found: Option<Option<String>> = tx
        .query_row(
            "SELECT revoked_at FROM api_tokens WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    match found {
        None => {
            return Err(StoreError::NotFound(format!(
                "no token named `{name}` (see `store-edge token list`)"
            )))
        }
        Some(Some(_)) => {}
        Some(None) => {
            // Keep the revoked row under a suffixed name for the audit trail.
            tx.execute(
                "UPDATE api_tokens SET revoked_at = ?2, name = name || ' (revoked ' || ?2 || ')' WHERE name = ?1",
                [name, &now],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Finds the active token with this clear value.
pub fn authenticate(conn: &Connection, token: &str) -> Result<Option<Principal>, StoreError> {
    let hash = hash_token(token);
    let row: Option<(String, String, Option<String>, bool)> = conn
        .prepare_cached(
            "SELECT name, role, register, paired FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([&hash[..]], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    Ok(row.and_then(|(name, role, register, paired)| {
        Role::parse(&role).map(|role| Principal {
            name,
            role,
            register,
            token_hash: hash,
            paired,
        })
    }))
}

/// Whether the token with this hash exists and is not revoked (a unique-index
/// read; no cache, so a revocation counts from the next check on).
pub fn is_valid(conn: &Connection, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL")?
        .query_row([&token_hash[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// How long a tablet pairing code is valid.
pub const PAIRING_CODE_TTL_S: i64 = 10 * 60;

/// A new single-use 8-digit pairing code for a tablet of `role` (staff or
/// kiosk); only its SHA-256 is stored. Returns the clear code (shown once).
pub fn create_pairing_code(
    conn: &Connection,
    role: Role,
    register: Option<&str>,
    now: i64,
) -> Result<String, StoreError> {
    if !matches!(role, Role::Staff | Role::Kiosk) {
        return Err(StoreError::Conflict(
            "tablets pair as staff or kiosk; use `store-edge token create` for other roles".into(),
        ));
    }
    let code = crate::pickup::verify::random_digits(8).map_err(StoreError::Io)?;
    let created = crate::events::format_time(time::OffsetDateTime::now_utc());
    conn.execute(
        "DELETE FROM pairing_codes WHERE expires_at < ?1 OR used_at IS NOT NULL",
        [now],
    )?;
    conn.execute(
        "INSERT INTO pairing_codes (code_hash, role, register, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![&hash_token(&code)[..], role.as_str(), register, now + PAIRING_CODE_TTL_S, created],
    )?;
    Ok(code)
}

/// Whether `code` is an unused, unexpired pairing code (a read: wrong
/// guesses never reach the writer).
pub fn pairing_code_open(conn: &Connection, code: &str, now: i64) -> Result<bool, StoreError> {
    Ok(conn
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

/// Uses a pairing code once: creates a token named after the tablet, marked
/// as a paired tablet's. None when the code is unknown, used or expired.
pub fn redeem_pairing_code(
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
    let suffix = crate::pickup::verify::random_digits(4).map_err(StoreError::Io)?;
    let name = format!("{} #{suffix}", clean.trim());
    let token = create(conn, &name, role)?;
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

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_writing(&dir.path().join("t.db"), "t").unwrap();
        (dir, conn)
    }

    #[test]
    fn pairing_codes_are_single_use_and_expire_after_ten_minutes() {
        let (_dir, conn) = db();
        let now = 1_800_000_000;
        let code = create_pairing_code(&conn, Role::Staff, Some("counter-1"), now).unwrap();
        assert_eq!(code.len(), 8);
        let paired = redeem_pairing_code(&conn, &code, "counter", now + 60)
            .unwrap()
            .expect("valid");
        assert_eq!(paired.role, Role::Staff);
        let who = authenticate(&conn, &paired.token).unwrap().expect("token");
        assert_eq!(who.register.as_deref(), Some("counter-1"));
        assert!(who.paired, "a paired tablet's token says so");
        let made = create(&conn, "script", Role::Staff).unwrap();
        assert!(!authenticate(&conn, &made).unwrap().expect("token").paired);
        assert!(redeem_pairing_code(&conn, &code, "again", now + 61)
            .unwrap()
            .is_none());

        let late = create_pairing_code(&conn, Role::Kiosk, None, now).unwrap();
        assert!(
            redeem_pairing_code(&conn, &late, "kiosk", now + PAIRING_CODE_TTL_S + 1)
                .unwrap()
                .is_none()
        );
        assert!(create_pairing_code(&conn, Role::Admin, None, now).is_err());
    }
}
