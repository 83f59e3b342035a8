//! The local HTTP API (axum): events, health, readiness, metrics and the
//! OpenAPI document generated from the handlers (so it cannot drift).
//!
//! Architecture invariant: handlers never wait on the network to central;
//! they only talk to `store/` (the writer queue and read connections).

pub mod auth;
pub mod body;
pub mod client;
pub mod error;
pub mod events;
pub mod feedback;
pub mod kpis;
pub mod listener;
pub mod pickups;
pub mod printing;
pub mod problems;
pub mod redirect;
pub mod streams;
pub mod sync;
pub mod tablets;
pub mod tls;
pub mod touchpoints;
pub mod ui;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::OpenApi;

pub use error::ApiError;
use problems::CommonResponses;

use crate::store::{ReadPool, Writer};
use crate::telemetry::Metrics;

/// Everything a handler may use.
#[derive(Clone)]
pub struct AppState {
    pub writer: Writer,
    pub readers: ReadPool,
    pub metrics: Arc<Metrics>,
    /// `urn:store-edge:<store_id>`.
    pub source: Arc<str>,
    /// Set once the listener is bound (migrations ran before the writer started).
    pub listening: Arc<AtomicBool>,
    /// "sync now" for the running sync tasks; None without `[central]`.
    pub sync: Option<crate::sync::SyncHandle>,
    /// `sync.unsent_alarm_after_s`, for the status.
    pub unsent_alarm_after: Duration,
    /// Devices, the live stream and the loyalty key.
    pub touchpoints: crate::touchpoints::Touchpoints,
    /// The printers' states and paper for `GET /api/v1/devices`.
    pub printers: crate::printers::registry::Registry,
    /// The click-and-collect workflow (verification, PINs, actions).
    pub pickups: crate::pickup::service::Pickups,
    /// Fires on SIGTERM: long-lived responses (the live stream) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The open live streams by token (cap per token, closed on revocation).
    pub streams: streams::LiveStreams,
    /// Wrong pairing codes per source address (429 after ten).
    pub pairing: Arc<tablets::PairingGuard>,
    /// The print queue: post, read, reprint, skip.
    pub print_jobs: crate::printers::jobs::PrintJobs,
    /// What a KPI report needs besides the database (store, time zone,
    /// `[kpi] ready_within_min`); also the local day of `/metrics`.
    pub kpi: Arc<crate::kpi::Settings>,
}

/// Why the service is not ready, if it is not.
pub fn readiness(state: &AppState) -> Result<Readiness, String> {
    if let Some(fatal) = state.writer.health.fatal_error() {
        return Err(format!("database not writable: {fatal}"));
    }
    if !state.listening.load(Ordering::Relaxed) {
        return Err("listener not bound yet".into());
    }
    // The writer beats after every group and at least every second.
    let age = state.writer.health.heartbeat_age();
    if age > Duration::from_secs(15) {
        return Err(format!(
            "database writer has not answered for {}s",
            age.as_secs()
        ));
    }
    Ok(Readiness {
        ready: true,
        quota_reached: state.writer.health.quota_reached.load(Ordering::Relaxed),
        disk_full: state.writer.health.disk_full.load(Ordering::Relaxed),
    })
}

/// `/readyz`'s answer. (Named apart from `pickups::ReadyBody`, the ready
/// action's body: the OpenAPI components are keyed by name, and the two
/// once shared one, so the document described the action's body as this.)
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// True while new events are refused (507); the box is still healthy.
    pub quota_reached: bool,
    /// True while the data disk is full: new events are refused (507)
    /// until space is freed; the box is still healthy (a restart would not
    /// make room), so readiness stays 200.
    pub disk_full: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "store-edge local API", description = "Touchpoints and click-and-collect for the store's tills and tablets. Errors are application/problem+json. Pickup orders carry `ETag: \"<revision>\"`; a pickup action sent with `If-Match: \"<revision>\"` on an order that changed meanwhile answers 409 with `current_state` and `allowed`."),
    paths(events::post_events, events::list_events, sync::status, sync::now, sync::requeue, pickups::list, pickups::get, pickups::start_picking, pickups::ready, pickups::handover, pickups::refuse, pickups::cancel, pickups::reminded, pickups::verify, pickups::reserve, tablets::pair, tablets::session, tablets::list_staff, tablets::login, tablets::logout, printing::post_job, printing::get_job, printing::list_jobs, printing::reprint, printing::skip, printing::slip_again, touchpoints::devices, touchpoints::stream, touchpoints::identify, kpis::kpis, kpis::pickups, feedback::ask_feedback, healthz, readyz, metrics),
    components(schemas(events::EventIn, events::EventAck, error::Problem, Readiness, sync::RequeueBody, touchpoints::IdentifyBody, pickups::StaffBody, pickups::ReadyBody, pickups::HandoverBody, pickups::HandoverLine, pickups::RefuseBody, pickups::CancelBody, pickups::VerifyBody, pickups::ReservationBody, pickups::ReservationCustomer, pickups::ReservationItem, tablets::PairBody, tablets::LoginBody, printing::JobView, printing::TemplateJob, printing::FiscalBlock, feedback::FeedbackPrompt)),
    modifiers(&BearerAuth, &CommonResponses)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole router. Open routes: health, readiness, metrics, OpenAPI.
/// Every route reads its body through [`body::read_whole`]: pairing and the
/// staff log-in (no token needed) take at most [`body::SMALL_BODY_BYTES`],
/// the rest [`events::MAX_BODY_BYTES`].
pub fn router(state: AppState) -> Router {
    let body_limit = |max_bytes| {
        axum::middleware::from_fn_with_state(
            body::BodyLimit {
                state: state.clone(),
                max_bytes,
            },
            body::read_whole,
        )
    };
    let small_bodies = Router::new()
        .route("/api/v1/tablets/pair", post(tablets::pair))
        .route("/api/v1/staff/login", post(tablets::login))
        .layer(body_limit(body::SMALL_BODY_BYTES));
    let print_bodies = Router::new()
        .route(
            "/api/v1/printers/{printer_id}/jobs",
            post(printing::post_job),
        )
        .layer(body_limit(printing::MAX_JOB_BODY_BYTES));
    Router::new()
        .route(
            "/api/v1/events",
            get(events::list_events).post(events::post_events),
        )
        .route("/api/v1/sync", get(sync::status))
        .route("/api/v1/sync/now", axum::routing::post(sync::now))
        .route("/api/v1/sync/requeue", axum::routing::post(sync::requeue))
        .route("/api/v1/pickups", get(pickups::list))
        .route("/api/v1/pickups/verify", post(pickups::verify))
        .route("/api/v1/pickups/{order_id}", get(pickups::get))
        .route(
            "/api/v1/pickups/{order_id}/start-picking",
            post(pickups::start_picking),
        )
        .route("/api/v1/pickups/{order_id}/ready", post(pickups::ready))
        .route(
            "/api/v1/pickups/{order_id}/handover",
            post(pickups::handover),
        )
        .route("/api/v1/pickups/{order_id}/refuse", post(pickups::refuse))
        .route("/api/v1/pickups/{order_id}/cancel", post(pickups::cancel))
        .route(
            "/api/v1/pickups/{order_id}/reminded",
            post(pickups::reminded),
        )
        .route(
            "/api/v1/pickups/{order_id}/slip",
            post(printing::slip_again),
        )
        .route(
            "/api/v1/pickups/{order_id}/ask-feedback",
            post(feedback::ask_feedback),
        )
        .route("/api/v1/kpis", get(kpis::kpis))
        .route("/api/v1/kpis/pickups", get(kpis::pickups))
        .route("/api/v1/print-jobs", get(printing::list_jobs))
        .route("/api/v1/print-jobs/{id}", get(printing::get_job))
        .route("/api/v1/print-jobs/{id}/reprint", post(printing::reprint))
        .route("/api/v1/print-jobs/{id}/skip", post(printing::skip))
        .route("/api/v1/reservations", post(pickups::reserve))
        .route("/api/v1/session", get(tablets::session))
        .route("/api/v1/staff", get(tablets::list_staff))
        .route("/api/v1/staff/logout", post(tablets::logout))
        .merge(ui::routes())
        .route("/api/v1/devices", get(touchpoints::devices))
        .route("/api/v1/stream", get(touchpoints::stream))
        .route(
            "/api/v1/loyalty/identify",
            axum::routing::post(touchpoints::identify),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .layer(body_limit(events::MAX_BODY_BYTES))
        .merge(small_bodies)
        .merge(print_bodies)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(events::MAX_BODY_BYTES))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            count_rejections,
        ))
        .with_state(state)
}

async fn count_rejections(State(state): State<AppState>, response: Response) -> Response {
    if response.status().is_client_error() || response.status().is_server_error() {
        state.metrics.http_rejected.inc();
    }
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: migrations done, database writable, listener bound. Still 200
/// at quota (with `quota_reached: true`) so supervisors don't restart a
/// healthy box.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "Not ready", body = error::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match readiness(&state) {
        Ok(body) => Json(body).into_response(),
        Err(reason) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", reason).into_response()
        }
    }
}

/// Prometheus metrics (text exposition). Besides the service's own, the
/// store's day as counts (never revenue: this route is open): pickup
/// orders by state, overdue now, feedback answers today (local day).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let health = &state.writer.health;
    state
        .metrics
        .events_unsent
        .set(health.unsent.load(Ordering::Relaxed).max(0));
    state
        .metrics
        .db_size_bytes
        .set(health.db_size_bytes.load(Ordering::Relaxed) as i64);
    let now = jiff::Timestamp::now();
    let today = state.kpi.tz.to_datetime(now).date().to_string();
    let counted = state
        .readers
        .run(move |c| crate::store::kpi_counts::counts(c, now.as_second(), &today))
        .await;
    match counted {
        Ok(counts) => {
            for (order_state, n) in counts.orders_by_state {
                state
                    .metrics
                    .pickup_orders
                    .get_or_create(&vec![("state".to_owned(), order_state.to_owned())])
                    .set(n);
            }
            state.metrics.pickup_orders_overdue.set(counts.overdue);
            state
                .metrics
                .feedback_answers_today
                .set(counts.feedback_today);
        }
        // The rest of the metrics still answer; the counts keep their
        // last values.
        Err(e) => tracing::warn!(error = %e, "cannot count orders and feedback for /metrics"),
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => {
            let mut r = text.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => {
            ApiError::internal(format!("cannot render the OpenAPI document: {e}")).into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such route; the routes are listed at /api/openapi.json",
    )
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    /// Every request body and answer of the document is its own schema:
    /// the ready action's body has its `location`, `/readyz` its `ready`.
    #[test]
    fn the_ready_action_and_readyz_have_schemas_of_their_own() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).expect("json");
        let schema = |name: &str| doc["components"]["schemas"][name]["properties"].clone();
        assert!(schema("ReadyBody").get("location").is_some(), "{doc}");
        assert!(schema("Readiness").get("ready").is_some(), "{doc}");
        let body = &doc["paths"]["/api/v1/pickups/{order_id}/ready"]["post"]["requestBody"]
            ["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, "#/components/schemas/ReadyBody");
    }
}
