//! Click-and-collect over HTTP: the order lists, the staff actions (each one
//! writer transaction with its event), verification at the counter and
//! reservations made in the store.
//!
//! Roles: staff and admin may use every route; pos may only verify; kiosk
//! none.
//!
//! Staff identity: a paired staff tablet acts as the staff member logged in
//! on it (`pickup/staff_session.rs`): without a live staff session it gets
//! 403 `staff_login_required`, and a `staff_id` in the body must be that
//! member's (else 403 `staff_mismatch`). Other callers (admin, a `token
//! create` staff token) name the staff member in the body.
//!
//! Optimistic concurrency: every order answer carries
//! `ETag: "<revision>"`; an action sent with `If-Match` on an older revision
//! is refused with 409, like an action the state does not allow.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{auth::Caller, ApiError, AppState};
use crate::events::format_time;
use crate::pickup::actions::{Command, HandoverVerification};
use crate::pickup::order::{self, Filter, HandedLine, Order, PickupError};
use crate::pickup::reservation::{NewReservation, ReservedItem};
use crate::pickup::service::{PinError, Verification};
use crate::pickup::staff_session::StaffOnTablet;
use crate::pickup::view::OrderView;
use crate::scan::gtin;
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
            PickupError::ShelfCheckNeeded {
                order_id,
                location,
                revision,
            } => with_extra(
                ApiError::new(StatusCode::CONFLICT, "shelf-check-needed", detail),
                json!({"reason": "shelf_check_needed", "order_id": order_id, "location": location, "revision": revision}),
            ),
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

/// 403 `staff_login_required`: a paired tablet without a live staff session.
fn staff_login_required() -> ApiError {
    with_extra(
        ApiError::forbidden(
            "no staff member is logged in on this tablet (never, logged out, idle too long, or the service restarted): log in with your PIN (POST /api/v1/staff/login) and try again",
        ),
        json!({"reason": "staff_login_required"}),
    )
}

/// The staff member logged in on the caller's tablet, when the caller is a
/// paired tablet (the request counts as an action and keeps the session
/// alive); None for callers that are not tablets (admin, `token create`).
fn tablet_staff(state: &AppState, caller: &Caller) -> Result<Option<StaffOnTablet>, ApiError> {
    if !caller.0.paired {
        return Ok(None);
    }
    state
        .pickups
        .staff_sessions
        .act(&caller.0.token_hash, std::time::Instant::now())
        .map(Some)
        .ok_or_else(staff_login_required)
}

/// Who carries out an action: on a paired tablet the staff member logged in
/// there (`given`, if sent, must be the same), else the body's `staff_id`.
pub(super) fn acting_staff(
    state: &AppState,
    caller: &Caller,
    given: Option<String>,
) -> Result<String, ApiError> {
    match (tablet_staff(state, caller)?, given) {
        (Some(on_tablet), None) => Ok(on_tablet.id),
        (Some(on_tablet), Some(given)) if given == on_tablet.id => Ok(given),
        (Some(on_tablet), Some(given)) => Err(with_extra(
            ApiError::forbidden(format!(
                "staff_id `{given}` is not the staff member logged in on this tablet (`{}`): leave staff_id out, or log in as `{given}` first",
                on_tablet.id
            )),
            json!({"reason": "staff_mismatch"}),
        )),
        (None, Some(given)) => Ok(given),
        (None, None) => Err(ApiError::unprocessable(
            "staff_id is required: only a paired tablet with a staff member logged in may leave it out",
        )),
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

/// `GET /api/v1/pickups`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderList {
    pub orders: Vec<OrderView>,
}

/// A verified customer: the order and how they were verified.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifiedOrder {
    pub order: OrderView,
    pub order_id: String,
    /// pass or code.
    #[schema(value_type = String, example = "pass")]
    pub verified_by: &'static str,
}

/// A reservation made: its short code is shown only in this answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    /// The customer's 6-digit pickup code (only its hash is kept).
    pub code: String,
    pub order: OrderView,
    pub order_id: String,
}

/// Click-and-collect orders: all (newest change first), by state, due, overdue or a search.
#[utoipa::path(get, path = "/api/v1/pickups", params(ListQuery), responses(
    (status = 200, description = "`{\"orders\": [order…]}`", body = OrderList),
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
        state.pickups.settings.reminder_before.as_secs() as i64,
    )
    .map_err(ApiError::unprocessable)?;
    let orders = state
        .pickups
        .read(move |c| order::list(c, &filter, 1000))
        .await?;
    let orders = orders.iter().map(Order::view).collect();
    Ok(Json(OrderList { orders }).into_response())
}

/// One click-and-collect order (with `ETag: "<revision>"`).
#[utoipa::path(get, path = "/api/v1/pickups/{order_id}", params(("order_id" = String, Path)), responses(
    (status = 200, description = "The order", body = OrderView), (status = 404, description = "Unknown order", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "read pickup orders")?;
    let id = order_id.clone();
    match state.pickups.read(move |c| order::get(c, &id)).await? {
        Some(o) => Ok(order_response(&o)),
        None => Err(PickupError::NotFound(order_id).into()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    /// Optional on a paired tablet with a staff log-in (must then be that member).
    pub staff_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadyBody {
    /// Optional on a paired tablet with a staff log-in (must then be that member).
    pub staff_id: Option<String>,
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
    /// Optional on a paired tablet with a staff log-in (must then be that member).
    pub staff_id: Option<String>,
    /// The PIN of the staff member who hands over (on a tablet: the one logged in).
    pub pin: String,
    /// pass, code, id_check or manual_override (admin, not for `require_id_check` orders).
    #[schema(pattern = "^(pass|code|id_check|manual_override)$")]
    pub verified_by: String,
    pub lines: Vec<HandoverLine>,
    /// Staff checked that the goods are still on the shelf. Required (true)
    /// for an order flagged `shelf_check_after_restore` (open in the backup
    /// this box was restored from: the lost box may have handed it over);
    /// ignored for other orders.
    #[serde(default)]
    pub shelf_checked_after_restore: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseBody {
    /// Optional on a paired tablet with a staff log-in (must then be that member).
    pub staff_id: Option<String>,
    /// The PIN of the staff member (on a tablet: the one logged in).
    pub pin: String,
    /// damaged, wrong_item, changed_mind or other.
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Optional on a paired tablet with a staff log-in (must then be that member).
    pub staff_id: Option<String>,
    pub reason: String,
}

async fn act(
    state: &AppState,
    order_id: &str,
    headers: &HeaderMap,
    cmd: Command,
) -> Result<Response, ApiError> {
    let expected = if_match(headers)?;
    let order = state.pickups.act(order_id, cmd, expected).await?;
    Ok(order_response(&order))
}

/// Start picking (received → picking).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/start-picking", params(("order_id" = String, Path)), request_body = StaffBody, responses(
    (status = 200, description = "The order", body = OrderView), (status = 409, description = "Not possible now: `current_state`, `allowed`", body = super::error::Problem),
    (status = 403, description = "A paired tablet without a staff log-in (`reason: staff_login_required`), or `staff_id` not the logged-in member's (`reason: staff_mismatch`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn start_picking(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<StaffBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "act on pickup orders")?;
    let b = body(
        b,
        "{\"staff_id\"} (or {} from a tablet with staff logged in)",
    )?;
    let cmd = Command::StartPicking {
        staff_id: acting_staff(&state, &caller, b.staff_id)?,
    };
    act(&state, &order_id, &headers, cmd).await
}

/// Ready for pickup (picking → ready) at a shelf or bin.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/ready", params(("order_id" = String, Path)), request_body = ReadyBody, responses(
    (status = 200, description = "The order", body = OrderView), (status = 409, description = "Not possible now", body = super::error::Problem),
    (status = 403, description = "A paired tablet without a staff log-in (`reason: staff_login_required`), or `staff_id` not the logged-in member's (`reason: staff_mismatch`)", body = super::error::Problem),
    (status = 422, description = "Bad location or lines", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn ready(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ReadyBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "act on pickup orders")?;
    let b = body(b, "{\"staff_id\", \"location\", \"missing_lines\": [...]}")?;
    ApiError::screen_card_numbers(&[("location", &b.location)])?;
    let cmd = Command::Ready {
        staff_id: acting_staff(&state, &caller, b.staff_id)?,
        location: b.location,
        missing_lines: b.missing_lines,
    };
    act(&state, &order_id, &headers, cmd).await
}

/// Hand the goods over (all or some lines), confirmed with the staff PIN.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/handover", params(("order_id" = String, Path)), request_body = HandoverBody, responses(
    (status = 200, description = "The order, handed_over or partially_handed_over", body = OrderView),
    (status = 403, description = "Wrong PIN (`reason: wrong_pin`); a paired tablet without a staff log-in (`reason: staff_login_required`), or `staff_id` not the logged-in member's (`reason: staff_mismatch`)", body = super::error::Problem),
    (status = 409, description = "Not possible now; or `shelf-check-needed` (`reason: shelf_check_needed`, `location`): the order was open in the backup this box was restored from and the body lacks `shelf_checked_after_restore: true`", body = super::error::Problem),
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
    let staff_id = acting_staff(&state, &caller, b.staff_id)?;
    let verified_by = HandoverVerification::parse(&b.verified_by).ok_or_else(|| {
        ApiError::unprocessable("verified_by must be pass, code, id_check or manual_override")
    })?;
    if verified_by == HandoverVerification::ManualOverride && caller.role() != Role::Admin {
        return Err(ApiError::forbidden(
            "a handover without an ID check (manual_override) needs an admin token",
        ));
    }
    state.pickups.check_pin(&staff_id, &b.pin).await?;
    let cmd = Command::Handover {
        staff_id,
        verified_by,
        lines: b
            .lines
            .into_iter()
            .map(|l| HandedLine {
                line_id: l.line_id,
                quantity: l.quantity_handed,
            })
            .collect(),
        shelf_checked: b.shelf_checked_after_restore,
    };
    act(&state, &order_id, &headers, cmd).await
}

/// The customer took nothing (ready → refused), confirmed with the staff PIN.
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/refuse", params(("order_id" = String, Path)), request_body = RefuseBody, responses(
    (status = 200, description = "The order", body = OrderView), (status = 403, description = "Wrong PIN (`reason: wrong_pin`); a paired tablet without a staff log-in (`reason: staff_login_required`), or `staff_id` not the logged-in member's (`reason: staff_mismatch`)", body = super::error::Problem),
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
    let staff_id = acting_staff(&state, &caller, b.staff_id)?;
    state.pickups.check_pin(&staff_id, &b.pin).await?;
    let cmd = Command::Refuse {
        staff_id,
        reason: b.reason,
    };
    act(&state, &order_id, &headers, cmd).await
}

/// Cancel by the store (from received, picking, ready or no_show).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/cancel", params(("order_id" = String, Path)), request_body = CancelBody, responses(
    (status = 200, description = "The order", body = OrderView), (status = 409, description = "Not possible now", body = super::error::Problem),
    (status = 403, description = "A paired tablet without a staff log-in (`reason: staff_login_required`), or `staff_id` not the logged-in member's (`reason: staff_mismatch`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<CancelBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "act on pickup orders")?;
    let b = body(b, "{\"staff_id\", \"reason\"}")?;
    ApiError::screen_card_numbers(&[("reason", &b.reason)])?;
    let cmd = Command::Cancel {
        staff_id: acting_staff(&state, &caller, b.staff_id)?,
        reason: b.reason,
    };
    act(&state, &order_id, &headers, cmd).await
}

/// Staff reminded the customer (counted in `reminders_sent`).
#[utoipa::path(post, path = "/api/v1/pickups/{order_id}/reminded", params(("order_id" = String, Path)), request_body = StaffBody, responses(
    (status = 200, description = "The order", body = OrderView), (status = 409, description = "Not possible now", body = super::error::Problem),
    (status = 403, description = "A paired tablet without a staff log-in (`reason: staff_login_required`), or `staff_id` not the logged-in member's (`reason: staff_mismatch`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn reminded(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<StaffBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "act on pickup orders")?;
    let b = body(
        b,
        "{\"staff_id\"} (or {} from a tablet with staff logged in)",
    )?;
    let cmd = Command::Reminded {
        staff_id: acting_staff(&state, &caller, b.staff_id)?,
    };
    act(&state, &order_id, &headers, cmd).await
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
    (status = 200, description = "`{order_id, verified_by, order}`", body = VerifiedOrder),
    (status = 403, description = "A paired tablet without a staff log-in (`reason: staff_login_required`)", body = super::error::Problem),
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
    // It records the arrival: from a tablet, only with staff logged in.
    tablet_staff(&state, &caller)?;
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
        Verification::Ok { order, verified_by } => Ok(Json(VerifiedOrder {
            order: order.view(),
            order_id: order.order_id,
            verified_by,
        })
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
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub display_name: String,
    #[schema(pattern = "^[0-9]{4}$")]
    pub phone_last4: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationItem {
    #[schema(pattern = "\\S")]
    pub sku: String,
    /// 14 digits ending in the GS1 check digit.
    #[schema(pattern = "^[0-9]{14}$")]
    pub gtin: Option<String>,
    #[schema(pattern = "\\S")]
    pub name: String,
    #[schema(minimum = 1, maximum = 999)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationBody {
    pub customer: ReservationCustomer,
    #[schema(min_items = 1, max_items = 200)]
    pub items: Vec<ReservationItem>,
    /// RFC 3339; default: three days from now.
    #[schema(format = DateTime)]
    pub pickup_by: Option<String>,
    #[serde(default)]
    pub require_id_check: bool,
    pub paid: Option<bool>,
}

/// Reserve in the store: `S-<store_id>-<n>` and a 6-digit code shown once.
#[utoipa::path(post, path = "/api/v1/reservations", request_body = ReservationBody, responses(
    (status = 201, description = "`{order_id, code, order}` — the code is shown only now", body = Reservation),
    (status = 403, description = "A paired tablet without a staff log-in (`reason: staff_login_required`)", body = super::error::Problem),
    (status = 422, description = "Bad reservation", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn reserve(
    State(state): State<AppState>,
    caller: Caller,
    b: Result<Json<ReservationBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "make reservations")?;
    tablet_staff(&state, &caller)?;
    let b = body(
        b,
        "{\"customer\": {\"display_name\"}, \"items\": [{\"sku\", \"name\", \"quantity\"}], \"pickup_by\"?}",
    )?;
    let r = check_reservation(b)?;
    let (order, code) = state.pickups.reserve(r).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(Reservation {
            code,
            order: order.view(),
            order_id: order.order_id,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn check_reservation(b: ReservationBody) -> Result<NewReservation, ApiError> {
    let bad = |m: &str| ApiError::unprocessable(m.to_owned());
    ApiError::screen_card_numbers(&[("customer.display_name", &b.customer.display_name)])?;
    for (i, it) in b.items.iter().enumerate() {
        // A SKU is any string (central's contract), so it is screened like
        // the name; a GTIN only when it is not one.
        ApiError::screen_card_numbers(&[
            (&format!("items[{i}].sku"), &it.sku),
            (&format!("items[{i}].name"), &it.name),
        ])?;
        if let Some(g) = it.gtin.as_deref().filter(|g| !gtin::is_gtin14(g)) {
            ApiError::screen_card_numbers(&[(&format!("items[{i}].gtin"), g)])?;
        }
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
        if it.gtin.as_deref().is_some_and(|g| !gtin::is_gtin14(g)) {
            return Err(bad(&format!(
                "items[{i}]: gtin must be 14 digits ending in the GS1 check digit, e.g. 04006381333931"
            )));
        }
        items.push(ReservedItem {
            sku: it.sku,
            gtin: it.gtin,
            name: it.name,
            quantity: it.quantity,
        });
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
    Ok(NewReservation {
        display_name: name.to_owned(),
        phone_last4: b.customer.phone_last4,
        items,
        pickup_by,
        require_id_check: b.require_id_check,
        paid: b.paid,
    })
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// The order's answers name their schema, so the OpenAPI document
    /// describes the order (it used to say only "The order").
    #[test]
    fn the_openapi_document_describes_the_order() {
        let doc = serde_json::to_value(super::super::ApiDoc::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        for name in [
            "OrderView",
            "ItemView",
            "CustomerView",
            "Outcome",
            "OrderList",
            "VerifiedOrder",
            "Reservation",
        ] {
            assert!(schemas.get(name).is_some(), "{name} in {schemas}");
        }
        let order = &schemas["OrderView"]["properties"];
        for field in [
            "order_id", "state", "allowed", "items", "customer", "revision",
        ] {
            assert!(order.get(field).is_some(), "OrderView.{field}");
        }
        assert_eq!(
            doc["paths"]["/api/v1/pickups/{order_id}"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"]["$ref"],
            "#/components/schemas/OrderView"
        );
    }
}
