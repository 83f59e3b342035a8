//! Sync status and operations (`/api/v1/sync…`) and central's pickup
//! orders as received (`/api/v1/pickups…`). Read from the database, so
//! they answer the same whether central is up or not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{auth::Caller, ApiError, AppState};
use crate::store::sync as store_sync;
use crate::store::tokens::Role;

/// The sync status: reachability, backlog, quarantine, clock skew.
#[utoipa::path(get, path = "/api/v1/sync", responses(
    (status = 200, description = "`{reachable, since, unsent, oldest_unsent_age_s, last_success, last_error, quarantined, clock_skew_s, cursor_age_s, unsent_alarm, quarantine:[…]}`"),
    (status = 403, description = "Role may not read the sync status", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn status(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "read the sync status")?;
    let alarm_after = state.unsent_alarm_after;
    let status = state
        .readers
        .run(move |conn| crate::sync::status(conn, alarm_after))
        .await?;
    Ok(Json(status).into_response())
}

fn no_central() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "no-central",
        "no [central] is configured, so nothing is synced; add it to the config and restart",
    )
}

/// Make the running service try to reach central at once.
#[utoipa::path(post, path = "/api/v1/sync/now", responses(
    (status = 202, description = "Uplink and downlink woken"),
    (status = 409, description = "No [central] configured", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn now(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[], "trigger a sync")?;
    let sync = state.sync.as_ref().ok_or_else(no_central)?;
    sync.sync_now();
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"triggered": true})),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequeueBody {
    /// Event ids to send again.
    pub ids: Option<Vec<String>>,
    /// Send every quarantined event again.
    pub all: Option<bool>,
}

/// Send quarantined events again (after central was fixed).
#[utoipa::path(post, path = "/api/v1/sync/requeue", request_body = RequeueBody, responses(
    (status = 200, description = "`{\"requeued\": N}`"),
    (status = 422, description = "Neither ids nor all given", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn requeue(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<RequeueBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[], "requeue events")?;
    let Json(body) = body.map_err(|e| {
        ApiError::unprocessable(format!(
            "expected {{\"ids\": [...]}} or {{\"all\": true}}: {}",
            e.body_text()
        ))
    })?;
    let ids = match (body.ids, body.all) {
        (Some(ids), None | Some(false)) if !ids.is_empty() => Some(ids),
        (None, Some(true)) => None,
        _ => {
            return Err(ApiError::unprocessable(
                "give either a non-empty \"ids\" list or \"all\": true",
            ))
        }
    };
    let n = state
        .writer
        .run(0, move |w| store_sync::requeue(w, ids.as_deref()))
        .await?;
    if n > 0 {
        tracing::info!(requeued = n, "quarantined events requeued");
        if let Some(sync) = &state.sync {
            sync.sync_now();
        }
    }
    Ok(Json(serde_json::json!({"requeued": n})).into_response())
}
