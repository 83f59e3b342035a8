//! Who is calling: a bearer token (tills, tablets, scripts) or, for
//! browsers that cannot set headers on server-sent events, the
//! `store_edge_session` cookie. Both name a row of the token table; a
//! revoked token is refused from the next request on.
//!
//! Who may call what is each handler's [`Caller::require`] list (admin
//! always may), so a role gets only what it is listed for: a `manager`
//! (issue 13) the KPIs, `/session` and `kpis_changed` on the stream; a
//! `kiosk` feedback answers, `/session` and its register's prompts on the
//! stream (the README's route table; walked over the whole OpenAPI
//! document by `tests/it/kpi_api.rs`).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use super::{ApiError, AppState};
use crate::store::tokens::{self, Principal, Role};

/// Name of the HttpOnly session cookie that tablet pairing issues.
pub const SESSION_COOKIE: &str = "store_edge_session";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles` (admin always may).
    pub fn require(&self, roles: &[Role], what: &str) -> Result<(), ApiError> {
        if self.0.role == Role::Admin || roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "a {} token may not {what}; allowed: {}",
                self.0.role.as_str(),
                roles
                    .iter()
                    .chain(std::iter::once(&Role::Admin))
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    pub fn role(&self) -> Role {
        self.0.role
    }
}

fn presented_token(parts: &Parts) -> Option<&str> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = presented_token(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "missing token: send `Authorization: Bearer <token>` (create one with `store-edge token create`)",
            )
        })?;
        // A primary-key lookup on a warm read connection: microseconds, so
        // done here unless SQLite would have to wait for a lock, in which
        // case it moves to the blocking pool (`run_short`: an async worker
        // never sleeps on SQLite). No cache: a revocation counts from the
        // next request.
        let found = state
            .readers
            .run_short({
                let presented = token.to_owned();
                move |c| tokens::authenticate(c, &presented)
            })
            .await?;
        match found {
            Some(principal) => Ok(Caller(principal)),
            None => {
                // A revoked tablet's staff session goes with its token at
                // once (the pickup timer also sweeps it within a second).
                state.pickups.staff_sessions.end(&tokens::hash_token(token));
                Err(ApiError::unauthorized(
                "unknown or revoked token; ask store IT for a new one (`store-edge token create`)",
                ))
            }
        }
    }
}
