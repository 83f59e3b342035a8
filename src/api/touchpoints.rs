//! Devices and the live stream: `GET /api/v1/devices`, `GET
//! /api/v1/stream?register=…` (server-sent events for till and counter
//! tablets) and `POST /api/v1/loyalty/identify` for tills that read cards
//! themselves. The clear number handed over is tokenised at once and never
//! stored, logged or echoed.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{auth::Caller, ApiError, AppState};
use crate::live::{Audience, Topic, Watching};
use crate::scan;
use crate::store::tokens::Role;

/// Devices with state, last seen, counts and last error; printers with
/// their state and paper. A till (`pos`) may read it: it must see that its
/// printer is out of paper.
#[utoipa::path(get, path = "/api/v1/devices", responses((status = 200, description = "`{\"devices\": [{id, kind, transport, register, context, state, last_seen, frames, bad_frames, last_error}, …, {id, kind: \"printer\", transport, register, state (online, paper_low, paper_out, cover_open, offline, error, unknown), paper (ok, near_end, out, unknown), last_error}]}`")), security(("bearer" = [])))]
pub async fn devices(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff, Role::Pos], "list devices")?;
    let readers = state
        .touchpoints
        .devices
        .lock()
        .map(|d| d.clone())
        .map_err(|_| ApiError::internal("device registry unavailable"))?;
    let mut list: Vec<serde_json::Value> = readers
        .iter()
        .filter_map(|d| serde_json::to_value(d).ok())
        .collect();
    list.extend(
        state
            .printers
            .list()
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok()),
    );
    Ok(Json(json!({"devices": list})).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Only this register's devices (e.g. `till-1`); all when absent.
    pub register: Option<String>,
}

/// Live feed: `event: scan` with the decoded scan, `event: device` with state changes,
/// `event: order` when a pickup order changed, `event: pass` with the verification of a
/// pickup pass scanned on this register's scanner (pos, staff, admin);
/// `event: kpis_changed` `{"day"}` when events that feed the KPIs were committed, at most
/// every 2 s (manager: only these; admin too); `event: feedback_prompt` `{prompt_id,
/// order_id, context, register}` (a kiosk: only these, of its own register).
#[utoipa::path(get, path = "/api/v1/stream", params(StreamQuery), responses(
    (status = 200, description = "text/event-stream"),
    (status = 403, description = "The role may not watch, a tablet asked for another register, or a kiosk has no register", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    caller.require(
        &[Role::Pos, Role::Staff, Role::Manager, Role::Kiosk],
        "watch the live stream",
    )?;
    // A paired tablet sees its own register only; tills (pos) see scans
    // and devices but not pickup orders or their customers.
    let register = match (&caller.0.register, q.register) {
        (Some(own), Some(asked)) if *own != asked => {
            return Err(ApiError::forbidden(format!(
                "this tablet serves register {own}, not {asked}"
            )))
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    };
    let watching = match caller.role() {
        Role::Pos | Role::Staff => Watching::Store,
        Role::Admin => Watching::StoreAndKpis,
        Role::Manager => Watching::Kpis,
        // A customer's kiosk shows the prompts of the register it stands
        // at, which its token names; it never picks one itself.
        Role::Kiosk => match &caller.0.register {
            Some(_) => Watching::FeedbackPrompts,
            None => {
                return Err(ApiError::forbidden(
                    "this kiosk token names no register, so no feedback prompts can reach it: pair the kiosk with `store-edge tablet pair --role kiosk --register R`",
                ))
            }
        },
    };
    let audience = Audience {
        register: if watching == Watching::FeedbackPrompts {
            caller.0.register.clone()
        } else {
            register
        },
        pickups_visible: matches!(caller.role(), Role::Staff | Role::Admin),
        watching,
    };
    // Held for the stream's life: closed when the token is revoked or opens
    // too many streams; dropped (the place freed) when the stream ends.
    let ticket = state.streams.open(caller.0.token_hash);
    let events = super::streams::feed(
        ticket,
        state.touchpoints.live.subscribe(),
        audience,
        state.shutdown.clone(),
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyBody {
    /// The clear card number as the till read it (never stored).
    pub number: String,
    /// barcode, magstripe, nfc, manual or app.
    pub method: String,
    pub register_id: Option<String>,
}

/// A till that reads cards itself hands over the number; the edge
/// tokenises it and records `store.loyalty.identified`.
#[utoipa::path(post, path = "/api/v1/loyalty/identify", request_body = IdentifyBody, responses(
    (status = 201, description = "`{customer_token, number_masked, program?, id, sequence}`"),
    (status = 422, description = "Bad number or method", body = super::error::Problem),
    (status = 409, description = "No [loyalty] key configured", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn identify(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<IdentifyBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Pos], "identify loyalty customers")?;
    // The rejection text could quote the body (the clear number): keep it out.
    let Json(body) = body.map_err(|_| {
        ApiError::unprocessable(
            "expected {\"number\": string, \"method\": string, \"register_id\"?: string}",
        )
    })?;
    let Some(key) = &state.touchpoints.loyalty.key else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no-loyalty-key",
            "no [loyalty] key_file is configured, so numbers cannot be tokenised",
        ));
    };
    if !["barcode", "magstripe", "nfc", "manual", "app"].contains(&body.method.as_str()) {
        return Err(ApiError::unprocessable(
            "method must be barcode, magstripe, nfc, manual or app",
        ));
    }
    // `number` is the secret meant to be posted; `register_id` goes into the event.
    ApiError::screen_card_numbers(&[("register_id", body.register_id.as_deref().unwrap_or(""))])?;
    let normalised = if body.method == "nfc" {
        scan::loyalty::normalise_uid(&body.number)
            .map_err(|e| ApiError::unprocessable(format!("number: {}", e.reason())))?
    } else {
        scan::normalise_number(&body.number)
    };
    if normalised.len() < 4
        || normalised.len() > 64
        || !normalised.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::unprocessable(
            "number must be 4 to 64 letters and digits (spaces and dashes are ignored)",
        ));
    }
    let token = scan::customer_token(key.as_bytes(), &normalised);
    let masked = scan::mask(&normalised);
    let program = scan::match_program(&normalised, &state.touchpoints.loyalty.programs)
        .map(|p| p.name.clone());
    let device_id = format!("pos:{}", caller.0.name);
    let identified = crate::touchpoints::Identification {
        customer_token: &token,
        method: &body.method,
        device_id: &device_id,
        number_masked: &masked,
        program: program.as_deref(),
        register_id: body.register_id.as_deref(),
    };
    let ack = crate::touchpoints::record_identification(&state.writer, &identified)
        .await
        .map_err(|e| match e {
            crate::touchpoints::RecordError::Event(e) => ApiError::from(e),
            crate::touchpoints::RecordError::Store(e) => ApiError::from(e),
            e @ crate::touchpoints::RecordError::NotAcknowledged => {
                ApiError::internal(e.to_string())
            }
        })?;
    let mut answer = json!({"customer_token": token, "number_masked": masked, "id": ack.id, "sequence": ack.sequence});
    if let Some(p) = program {
        answer["program"] = json!(p);
    }
    if let Some(r) = body.register_id {
        let shown = json!({"kind": "loyalty", "method": body.method, "customer_token": token, "number_masked": masked, "register_id": r, "event_id": ack.id});
        state.touchpoints.live.publish(Some(r), Topic::Scan, &shown);
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
