//! Local API tokens: created by `store-edge token create`, looked up by the
//! API on every request. Only a SHA-256 of each token is stored; tokens are
//! 256 random bits, so a fast hash is enough (no password stretching needed).

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{Db, ReadConn, StoreError};

/// What a token may do (the route table in README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A till: posts events, identifies loyalty customers.
    Pos,
    /// Store staff tablets: read events, pickups.
    Staff,
    /// The customer feedback kiosk: only feedback (and its register's
    /// feedback prompts on the live stream).
    Kiosk,
    /// The store manager: the KPIs (revenue included) and their live
    /// `kpis_changed` events; nothing else.
    Manager,
    /// Store IT: everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pos => "pos",
            Role::Staff => "staff",
            Role::Kiosk => "kiosk",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "pos" => Some(Role::Pos),
            "staff" => Some(Role::Staff),
            "kiosk" => Some(Role::Kiosk),
            "manager" => Some(Role::Manager),
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
    crate::secrets::sha256(token.as_bytes())
}

/// A new random token: `se_` + 43 characters of base64url (256 bits).
pub fn generate_token() -> Result<String, StoreError> {
    use base64::Engine;
    let bytes =
        crate::secrets::random_bytes::<32>().map_err(|e| StoreError::internal("a token", e))?;
    Ok(format!(
        "se_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Stores a new token for `name`; returns the clear token (shown once).
pub fn create(db: &Db, name: &str, role: Role) -> Result<String, StoreError> {
    create_on(db.sql(), name, role)
}

/// [`create`] for a till at `register` (`token create --register`): a
/// `pos` token of a printer's register may open that printer's drawer.
pub fn create_for_register(
    db: &Db,
    name: &str,
    role: Role,
    register: Option<&str>,
) -> Result<String, StoreError> {
    let tx = db.sql().unchecked_transaction()?;
    let token = create_on(&tx, name, role)?;
    if let Some(register) = register {
        tx.execute(
            "UPDATE api_tokens SET register = ?2 WHERE name = ?1",
            rusqlite::params![name, register],
        )?;
    }
    tx.commit()?;
    Ok(token)
}

/// [`create`] on any connection of `store/` (a tablet's pairing creates
/// its token inside the writer's transaction).
pub(super) fn create_on(conn: &Connection, name: &str, role: Role) -> Result<String, StoreError> {
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

pub fn list(conn: &ReadConn) -> Result<Vec<TokenInfo>, StoreError> {
    let mut stmt = conn
        .sql()
        .prepare("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name")?;
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
pub fn revoke(db: &Db, name: &str) -> Result<(), StoreError> {
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    let tx = db.sql().unchecked_transaction()?;
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
pub fn authenticate(conn: &ReadConn, token: &str) -> Result<Option<Principal>, StoreError> {
    let hash = hash_token(token);
    let row: Option<(String, String, Option<String>, bool)> = conn
        .sql()
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

/// Whether an active (not revoked) token of `role` serves `register`: the
/// kiosk a feedback prompt is meant for.
pub fn any_active_at(conn: &ReadConn, role: Role, register: &str) -> Result<bool, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached(
            "SELECT 1 FROM api_tokens WHERE role = ?1 AND register = ?2 AND revoked_at IS NULL LIMIT 1",
        )?
        .query_row([role.as_str(), register], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether the token with this hash exists and is not revoked (a unique-index
/// read; no cache, so a revocation counts from the next check on).
pub fn is_valid(conn: &ReadConn, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached("SELECT 1 FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL")?
        .query_row([&token_hash[..]], |_| Ok(()))
        .optional()?
        .is_some())
}
