//! Tablets and staff: pairing a tablet with a one-time code (it gets a token
//! and the HttpOnly session cookie), who the session is, the staff list and
//! the PIN log-in and log-out of the staff tablet: on a paired tablet a
//! log-in starts the server-side staff session its actions are recorded
//! under (`pickup/staff_session.rs`).
//!
//! Wrong pairing codes are counted (a read each; they never reach the
//! writer): after ten, every open code is voided and IT prints a new one,
//! so guessing 8 digits inside the 10 minutes is hopeless.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{auth::Caller, ApiError, AppState};
use crate::pickup::staff;
use crate::pickup::staff_session::StaffOnTablet;
use crate::store::tokens::{self, Role};

/// Wrong pairing codes (all tablets) within [`PAIRING_WINDOW`] before the
/// open codes are voided: a code lives 10 minutes, so that is the window
/// that matters; old typos are forgotten.
const PAIRING_MAX_FAILURES: u32 = 10;
const PAIRING_WINDOW: Duration = Duration::from_secs(600);
static PAIRING_FAILURES: Mutex<Option<(u32, Instant)>> = Mutex::new(None);

/// Counts one wrong code; true when the open codes must be voided now.
fn wrong_pairing_code() -> bool {
    let mut f = PAIRING_FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let (count, since) = match *f {
        Some((n, since)) if now.duration_since(since) < PAIRING_WINDOW => (n + 1, since),
        _ => (1, now),
    };
    tracing::warn!(
        failures = count,
        "tablet pairing refused: unknown, used or expired code"
    );
    if count >= PAIRING_MAX_FAILURES {
        *f = None;
        true
    } else {
        *f = Some((count, since));
        false
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairBody {
    /// The 8-digit code printed by `store-edge tablet pair`.
    pub code: String,
    /// A name for the tablet, e.g. "counter tablet".
    pub name: String,
}

/// Pair a tablet: `{token, role}` and the `store_edge_session` cookie.
#[utoipa::path(post, path = "/api/v1/tablets/pair", request_body = PairBody, responses(
    (status = 200, description = "`{token, role, name, register}` and `Set-Cookie: store_edge_session=…; HttpOnly; SameSite=Strict`"),
    (status = 422, description = "Unknown, used or expired code", body = super::error::Problem)))]
pub async fn pair(
    State(state): State<AppState>,
    b: Result<Json<PairBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = super::pickups::secret_body(b, "{\"code\", \"name\"}")?;
    let code = b.code.trim().to_owned();
    let name = b.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::unprocessable("give the tablet a name"));
    }
    if code.len() != 8 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::unprocessable("a pairing code is 8 digits"));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let probe = code.clone();
    let open = state
        .pickups
        .read(move |c| tokens::pairing_code_open(c, &probe, now))
        .await?;
    let paired = if open {
        state
            .writer
            .run(0, move |ctx| {
                tokens::redeem_pairing_code(ctx.conn(), &code, &name, now)
            })
            .await?
    } else {
        None
    };
    let Some(paired) = paired else {
        if wrong_pairing_code() {
            let voided = state
                .writer
                .run(0, |ctx| tokens::void_pairing_codes(ctx.conn()))
                .await?;
            tracing::warn!(
                voided,
                "too many wrong pairing codes: every open code was voided"
            );
        }
        return Err(ApiError::unprocessable(
            "unknown, used or expired pairing code; print a new one with `store-edge tablet pair`",
        ));
    };
    tracing::info!(tablet = %paired.name, role = paired.role.as_str(), "tablet paired");
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000",
        super::auth::SESSION_COOKIE,
        paired.token
    );
    let mut response = Json(json!({
        "token": paired.token, "role": paired.role.as_str(),
        "name": paired.name, "register": paired.register,
    }))
    .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Who this token or session is, and who is logged in on it (a paired
/// staff tablet's staff session; asking does not count as an action).
#[utoipa::path(get, path = "/api/v1/session", responses((status = 200, description = "`{name, role, register, staff: {id, name} | null}`"), (status = 401, description = "No session", body = super::error::Problem)), security(("bearer" = [])))]
pub async fn session(State(state): State<AppState>, caller: Caller) -> Response {
    let staff = caller
        .0
        .paired
        .then(|| {
            state
                .pickups
                .staff_sessions
                .current(&caller.0.token_hash, Instant::now())
        })
        .flatten()
        .map(|s| json!({"id": s.id, "name": s.name}));
    Json(json!({
        "name": caller.0.name, "role": caller.0.role.as_str(),
        "register": caller.0.register, "staff": staff,
    }))
    .into_response()
}

/// Staff who may log in on the staff tablet.
#[utoipa::path(get, path = "/api/v1/staff", responses((status = 200, description = "`{staff: [{id, name}]}`")), security(("bearer" = [])))]
pub async fn list_staff(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "list staff")?;
    let list = state.pickups.read(staff::list).await?;
    let list: Vec<_> = list
        .into_iter()
        .map(|s| json!({"id": s.id, "name": s.name}))
        .collect();
    Ok(Json(json!({"staff": list})).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub staff_id: String,
    pub pin: String,
}

/// Check a staff PIN (wrong PINs count toward the lock). On a paired
/// tablet this logs the staff member in: the tablet's actions are theirs
/// until log-out, `pickup.staff_session_idle_s` without an action,
/// revocation of the tablet's token or a restart.
#[utoipa::path(post, path = "/api/v1/staff/login", request_body = LoginBody, responses(
    (status = 200, description = "`{staff_id, name, session_idle_s}` (`session_idle_s` null for callers that are not paired tablets)"),
    (status = 403, description = "Wrong PIN (`reason: wrong_pin`)", body = super::error::Problem),
    (status = 423, description = "Locked (`locked_until`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn login(
    State(state): State<AppState>,
    caller: Caller,
    b: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "log staff in")?;
    let b = super::pickups::secret_body(b, "{\"staff_id\", \"pin\"}")?;
    let name = state.pickups.check_pin(&b.staff_id, &b.pin).await?;
    let sessions = &state.pickups.staff_sessions;
    let idle = caller.0.paired.then(|| {
        sessions.start(
            caller.0.token_hash,
            StaffOnTablet {
                id: b.staff_id.clone(),
                name: name.clone(),
            },
            Instant::now(),
        );
        tracing::info!(tablet = %caller.0.name, staff_id = %b.staff_id, "staff logged in on a tablet");
        sessions.idle().as_secs()
    });
    Ok((
        StatusCode::OK,
        Json(json!({"staff_id": b.staff_id, "name": name, "session_idle_s": idle})),
    )
        .into_response())
}

/// End the staff session of this tablet (nothing to end for other callers).
#[utoipa::path(post, path = "/api/v1/staff/logout", responses(
    (status = 204, description = "Logged out (also when nobody was logged in)")),
    security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "log staff out")?;
    if state.pickups.staff_sessions.end(&caller.0.token_hash) {
        tracing::info!(tablet = %caller.0.name, "staff logged out on a tablet");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
