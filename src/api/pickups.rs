//! Click-and-collect over HTTP: the order lists, the staff actions (each one
//! writer transaction with its event), verification at the counter and
//! reservations made in the store.
//!
//! Roles: staff and admin may use every route; pos may only verify; kiosk
//! none. Optimistic concurrency: every order answer carries
//! `ETag: "<revision>"`; an action sent with `If-Match` on an older revision
//! is refused with 409, like an action the state does not allow.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{auth::Caller, ApiError, AppState};
use crate::events::format_time;
use crate::pickup::service::{PinError, Verification};
use crate::pickup::workflow::{self, Command, Filter, HandoverVerification, Order, PickupError};
use crate::store::tokens::Role;

fn with_extra(mut e: ApiError, extra: Value) -> ApiError {
    if let Value::Object(m) = extra {
        e.extra = Some(m);
    }
    e
}

impl From<PickupError> for ApiError {
    fn from(e: PickupError) -> ApiError {
        let detail = e.to_string();
        match e {
            PickupError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not-found", detail),
            PickupError::Illegal {
                illegal, revision, ..
            } => with_extra(
                ApiError::new(StatusCode::CONFLICT, "illegal-transition", detail),
                json!({"current_state": illegal.current_state.as_str(), "allowed": illegal.allowed, "revision": revision}),
            ),
            PickupError::Stale {
                current, illegal, ..
            } => with_extra(
                ApiError::new(StatusCode::CONFLICT, "stale-revision", detail),
                json!({"current_state": illegal.current_state.as_str(), "allowed": illegal.allowed, "revision": current}),
            ),
            PickupError::Invalid(_) => ApiError::unprocessable(detail),
            PickupError::Store(s) => s.into(),
        }
    }
}

fn locked(until: i64, what: &str) -> ApiError {
    let at = OffsetDateTime::from_unix_timestamp(until)
        .map(format_time)
        .unwrap_or_default();
    with_extra(
        ApiError::new(
            StatusCode::LOCKED,
            "locked",
            format!("{what} is locked after too many wrong tries until {at}"),
        ),
        json!({"locked_until": at}),
    )
}

impl From<PinError> for ApiError {
    fn from(e: PinError) -> ApiError {
        match e {
            PinError::UnknownStaff(id) => with_extra(
                ApiError::unprocessable(format!("unknown staff_id `{id}`")),
                json!({"reason": "unknown_staff"}),
            ),
            PinError::Wrong => with_extra(
                ApiError::forbidden("wrong PIN"),
                json!({"reason": "wrong_pin"}),
            ),
            PinError::Locked { until } => locked(until, "this staff account"),
            PinError::Store(s) => s.into(),
        }
    }
}

/// 200 with the order and its ETag.
fn order_response(order: &Order) -> Response {
    let mut r = Json(order.view()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", order.revision)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse().map(Some).map_err(|_| {
        ApiError::bad_request(format!(
            "If-Match must be the order's ETag, e.g. \"3\"; got {text:?}"
        ))
    })
}

fn body<T>(b: Result<Json<T>, JsonRejection>, shape: &str) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::unprocessable(format!("expected {shape}: {}", e.body_text())))
}

/// Like [`body`] for bodies that carry a PIN or code: the parser's message
/// may quote the value it choked on, so only the expected shape is said.
pub(super) fn secret_body<T>(
    b: Result<Json<T>, JsonRejection>,
    shape: &str,
) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|_| {
        ApiError::unprocessable(format!(
            "expected {shape}, with every value a JSON string (PINs and codes in quotes)"
        ))
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// received, picking, ready, handed_over, partially_handed_over, refused,
    /// no_show, cancelled, or the lists `due` (open, due within
    /// `pickup.reminder_before_h`) and `overdue` (open, past `pickup_by`).
    pub state: Option<String>,
    /// Order id or customer name containing this text.
    pub q: Option<String>,
}

/// Click-and-collect orders: all (newest change first), by state, due, overdue or a search.
#[utoipa::path(get, path = "/api/v1/pickups", params(ListQuery), responses(
    (status = 200, description = "`{\"orders\": [order…]}`"),
    (status = 422, description = "Unknown state", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "read pickup orders")?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let filter = Filter::from_request(
        q.state.as_deref(),
        q.q.as_deref(),
        now,
        state.pickups.settings.reminder_before_h as i64 * 3600,
    )
    .map_err(ApiError::unprocessable)?;
    let orders = state
        .pickups
        .read(move |c| workflow::list(c, &filter, 1000))
        .await?;
    let orders: Vec<Value> = orders.iter().map(Order::view).collect();
    Ok(Json(json!({"orders": orders})).into_response())
}

/// One click-and-collect order (with `ETag: "<revision>"`).
#[utoipa::path(get, path = "/api/v1/pickups/{order_id}", params(("order_id" = String, Path)), responses(
    (status = 200, description = "The order"), (status = 404, description = "Unknown order", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "read pickup orders")?;
    let id = order_id.clone();
    match state.pickups.read(move |c| workflow::get(c, &id)).await? {
        Some(o) => Ok(order_response(&o)),
        None => Err(PickupError::NotFound(order_id).into()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    pub staff_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyBody {
    pub staff_id: String,
    /// Shelf or bin where the goods wait.
    pub location: String,
    /// Lines that could not be picked.
    #[serde(default)]
    pub missing_lines: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverLine {
    pub line_id: String,
    pub quantity_handed: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    pub staff_id: String,
    pub pin: String,
    /// pass, code, id_check or manual_override (admin, not for `require_id_check` orders).
    pub verified_by: String,
    pub lines: Vec<HandoverLine>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseBody {
    pub staff_id: String,
    pub pin: String,
    /// damaged, wrong_item, changed_mind or other.
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub staff_id: String,
    pub reason: String,
}

async fn act(
    state: &AppState,
    caller: &Caller,
    order_id: &str,
    headers: &HeaderMap,
    cmd: Command,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "act on pickup orders")?;
    let expected = if_match(headers)?;
    let order = state.pickups.act(order_id, cmd, expected).await?;
    Ok(order_response(&order))
}

/// Start picking (received → picking).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/start-picking", params(("order_id" = String, Path)), request_body = StaffBody, responses(
    (status = 200, description = "The order"), (status = 409, description = "Not possible now: `current_state`, `allowed`", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn start_picking(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<StaffBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b, "{\"staff_id\"}")?;
    let cmd = Command::StartPicking {
        staff_id: b.staff_id,
    };
    act(&state, &caller, &order_id, &headers, cmd).await
}

/// Ready for pickup (picking → ready) at a shelf or bin.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/ready", params(("order_id" = String, Path)), request_body = ReadyBody, responses(
    (status = 200, description = "The order"), (status = 409, description = "Not possible now", body = super::error::Problem),
    (status = 422, description = "Bad location or lines", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn ready(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ReadyBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b, "{\"staff_id\", \"location\", \"missing_lines\": [...]}")?;
    ApiError::screen_card_numbers(&[("location", &b.location)])?;
    let cmd = Command::Ready {
        staff_id: b.staff_id,
        location: b.location,
        missing_lines: b.missing_lines,
    };
    act(&state, &caller, &order_id, &headers, cmd).await
}

/// Hand the goods over (all or some lines), confirmed with the staff PIN.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/handover", params(("order_id" = String, Path)), request_body = HandoverBody, responses(
    (status = 200, description = "The order, handed_over or partially_handed_over"),
    (status = 403, description = "Wrong PIN (`reason: wrong_pin`)", body = super::error::Problem),
    (status = 409, description = "Not possible now", body = super::error::Problem),
    (status = 422, description = "Bad lines or verification", body = super::error::Problem),
    (status = 423, description = "Staff account locked (`locked_until`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn handover(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<HandoverBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "hand over orders")?;
    let b = secret_body(
        b,
        "{\"staff_id\", \"pin\", \"verified_by\", \"lines\": [{\"line_id\", \"quantity_handed\"}]}",
    )?;
    let verified_by = HandoverVerification::parse(&b.verified_by).ok_or_else(|| {
        ApiError::unprocessable("verified_by must be pass, code, id_check or manual_override")
    })?;
    if verified_by == HandoverVerification::ManualOverride && caller.role() != Role::Admin {
        return Err(ApiError::forbidden(
            "a handover without an ID check (manual_override) needs an admin token",
        ));
    }
    state.pickups.check_pin(&b.staff_id, &b.pin).await?;
    let cmd = Command::Handover {
        staff_id: b.staff_id,
        verified_by,
        lines: b
            .lines
            .into_iter()
            .map(|l| (l.line_id, l.quantity_handed))
            .collect(),
    };
    act(&state, &caller, &order_id, &headers, cmd).await
}

/// The customer took nothing (ready → refused), confirmed with the staff PIN.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/refuse", params(("order_id" = String, Path)), request_body = RefuseBody, responses(
    (status = 200, description = "The order"), (status = 403, description = "Wrong PIN", body = super::error::Problem),
    (status = 409, description = "Not possible now", body = super::error::Problem),
    (status = 423, description = "Staff account locked", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn refuse(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<RefuseBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "refuse orders")?;
    let b = secret_body(b, "{\"staff_id\", \"pin\", \"reason\"}")?;
    ApiError::screen_card_numbers(&[("reason", &b.reason)])?;
    state.pickups.check_pin(&b.staff_id, &b.pin).await?;
    let cmd = Command::Refuse {
        staff_id: b.staff_id,
        reason: b.reason,
    };
    act(&state, &caller, &order_id, &headers, cmd).await
}

/// Cancel by the store (from received, picking, ready or no_show).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/cancel", params(("order_id" = String, Path)), request_body = CancelBody, responses(
    (status = 200, description = "The order"), (status = 409, description = "Not possible now", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<CancelBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b, "{\"staff_id\", \"reason\"}")?;
    ApiError::screen_card_numbers(&[("reason", &b.reason)])?;
    let cmd = Command::Cancel {
        staff_id: b.staff_id,
        reason: b.reason,
    };
    act(&state, &caller, &order_id, &headers, cmd).await
}

/// Staff reminded the customer (counted in `reminders_sent`).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/reminded", params(("order_id" = String, Path)), request_body = StaffBody, responses(
    (status = 200, description = "The order"), (status = 409, description = "Not possible now", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn reminded(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<StaffBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b, "{\"staff_id\"}")?;
    let cmd = Command::Reminded {
        staff_id: b.staff_id,
    };
    act(&state, &caller, &order_id, &headers, cmd).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The pickup pass `SEP1.<payload>.<signature>`, scanned or typed.
    pub pass: Option<String>,
    pub order_id: Option<String>,
    /// The customer's short code (never logged or stored).
    pub code: Option<String>,
}

/// Verify a customer by pass or short code; records the arrival once.
#[utoipa::path(post, path = "/api/v1/pickups/verify", request_body = VerifyBody, responses(
    (status = 200, description = "`{order_id, verified_by, order}`"),
    (status = 422, description = "`reason`: bad_signature, unknown_key, expired, other_store, unknown_order, wrong_code, already_handed_over, cancelled (also refused, no_show)", body = super::error::Problem),
    (status = 423, description = "Too many wrong codes: `locked_until`", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    b: Result<Json<VerifyBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Pos, Role::Staff], "verify pickup customers")?;
    let b = secret_body(b, "{\"pass\"} or {\"order_id\", \"code\"}")?;
    let outcome = match (b.pass, b.order_id, b.code) {
        (Some(pass), None, None) => state.pickups.verify_pass(&pass).await?,
        (None, Some(id), Some(code)) if !code.trim().is_empty() => {
            state.pickups.verify_code(&id, &code).await?
        }
        _ => {
            return Err(ApiError::unprocessable(
                "send either {\"pass\": \"SEP1…\"} or {\"order_id\", \"code\"}",
            ))
        }
    };
    match outcome {
        Verification::Ok { order, verified_by } => Ok(Json(
            json!({"order_id": order.order_id, "verified_by": verified_by, "order": order.view()}),
        )
        .into_response()),
        Verification::Refused { reason, order_id } => {
            let mut extra = json!({"reason": reason.as_str()});
            if let Some(id) = order_id {
                extra["order_id"] = json!(id);
            }
            Err(with_extra(
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "verification-refused",
                    format!("not verified: {}", reason.as_str().replace('_', " ")),
                ),
                extra,
            ))
        }
        Verification::Locked { until } => Err(locked(until, "this order's code")),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationCustomer {
    pub display_name: String,
    pub phone_last4: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationItem {
    pub sku: String,
    pub gtin: Option<String>,
    pub name: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationBody {
    pub customer: ReservationCustomer,
    pub items: Vec<ReservationItem>,
    /// RFC 3339; default: three days from now.
    pub pickup_by: Option<String>,
    #[serde(default)]
    pub require_id_check: bool,
    pub paid: Option<bool>,
}

/// Reserve in the store: `S-<store_id>-<n>` and a 6-digit code shown once.
#[utoipa::path(post, path = "/api/v1/reservations", request_body = ReservationBody, responses(
    (status = 201, description = "`{order_id, code, order}` — the code is shown only now"),
    (status = 422, description = "Bad reservation", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn reserve(
    State(state): State<AppState>,
    caller: Caller,
    b: Result<Json<ReservationBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "make reservations")?;
    let b = body(
        b,
        "{\"customer\": {\"display_name\"}, \"items\": [{\"sku\", \"name\", \"quantity\"}], \"pickup_by\"?}",
    )?;
    let r = check_reservation(b)?;
    let (order, code) = state.pickups.reserve(r).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(json!({"order_id": order.order_id, "code": code, "order": order.view()})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn check_reservation(b: ReservationBody) -> Result<workflow::NewReservation, ApiError> {
    let bad = |m: &str| ApiError::unprocessable(m.to_owned());
    ApiError::screen_card_numbers(&[("customer.display_name", &b.customer.display_name)])?;
    for (i, it) in b.items.iter().enumerate() {
        ApiError::screen_card_numbers(&[(&format!("items[{i}].name"), &it.name)])?;
    }
    let name = b.customer.display_name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(bad("customer.display_name must be 1 to 100 characters"));
    }
    if let Some(p) = &b.customer.phone_last4 {
        if p.len() != 4 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("customer.phone_last4 must be 4 digits"));
        }
    }
    if b.items.is_empty() || b.items.len() > 200 {
        return Err(bad("items must hold 1 to 200 lines"));
    }
    let mut items = Vec::with_capacity(b.items.len());
    for (i, it) in b.items.into_iter().enumerate() {
        if it.sku.trim().is_empty() || it.name.trim().is_empty() {
            return Err(bad(&format!("items[{i}]: sku and name are required")));
        }
        if !(1..=999).contains(&it.quantity) {
            return Err(bad(&format!("items[{i}]: quantity must be 1 to 999")));
        }
        if let Some(g) = &it.gtin {
            if g.len() != 14 || !g.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad(&format!("items[{i}]: gtin must be 14 digits")));
            }
        }
        items.push((it.sku, it.gtin, it.name, it.quantity));
    }
    let now = OffsetDateTime::now_utc();
    let pickup_by = match b.pickup_by {
        None => now + time::Duration::days(3),
        Some(t) => {
            let t = crate::events::parse_time(&t)
                .ok()
                .filter(|t| crate::events::in_event_years(*t))
                .ok_or_else(|| {
                    bad("pickup_by must be an RFC 3339 date-time before the year 10000")
                })?;
            if t <= now {
                return Err(bad("pickup_by must be in the future"));
            }
            t
        }
    };
    Ok(workflow::NewReservation {
        display_name: name.to_owned(),
        phone_last4: b.customer.phone_last4,
        items,
        pickup_by,
        require_id_check: b.require_id_check,
        paid: b.paid,
    })
}
