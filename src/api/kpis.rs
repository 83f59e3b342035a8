//! The store's KPIs over HTTP (issue 13): `GET /api/v1/kpis` (the whole
//! report: managers and admin, since it holds revenue), `GET
//! /api/v1/kpis/pickups` (the click-and-collect part: staff tablets too),
//! and the task that announces `kpis_changed` on the live stream while
//! events are being committed.
//!
//! Must never: compute a report on the writer (reports run on the read
//! pool), or poll SQL to find out that something changed (the writer's
//! commit signal says so).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{auth::Caller, ApiError, AppState};
use crate::kpi::{self, KpiError, Window};
use crate::live::{Live, Topic};
use crate::store::tokens::Role;
use crate::store::WriterHealth;

/// At most one `kpis_changed` per this period, however fast events come.
pub const KPIS_CHANGED_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// First local day, `YYYY-MM-DD` (in `store.timezone`).
    pub from: Option<String>,
    /// The day after the last, `YYYY-MM-DD` (exclusive). Both absent: today so far.
    pub to: Option<String>,
}

impl From<KpiError> for ApiError {
    fn from(e: KpiError) -> ApiError {
        match e {
            KpiError::Window(reason) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-window",
                format!("bad window: {reason}"),
            ),
            KpiError::Store(s) => s.into(),
        }
    }
}

/// The window asked for, in the store's time zone; 400 with the reason.
fn window(
    state: &AppState,
    query: Result<Query<WindowQuery>, QueryRejection>,
    now: jiff::Timestamp,
) -> Result<Window, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))?;
    let today = state.kpi.tz.to_datetime(now).date();
    Ok(Window::parse(q.from.as_deref(), q.to.as_deref(), today)?)
}

/// The store's KPIs for whole local days `[from, to)`: sales, loyalty,
/// click-and-collect, NPS, touchpoints, moments of silence, the overdue
/// orders and one entry per day (KPI.md has the rules).
#[utoipa::path(get, path = "/api/v1/kpis", params(WindowQuery), responses(
    (status = 200, description = "The report", body = kpi::Report),
    (status = 400, description = "A bad window (`from`/`to` not `YYYY-MM-DD`, or `to` not after `from`): the reason", body = super::error::Problem),
    (status = 403, description = "Only manager and admin tokens", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn kpis(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Manager], "read the KPIs (revenue included)")?;
    let now = jiff::Timestamp::now();
    let window = window(&state, query, now)?;
    let settings = state.kpi.clone();
    let report = state
        .readers
        .run(move |c| Ok(kpi::report(c, &settings, &window, now)))
        .await??;
    Ok(Json(report).into_response())
}

/// The click-and-collect part of the KPIs for `[from, to)` and the overdue
/// orders (no sales, no revenue: for staff tablets).
#[utoipa::path(get, path = "/api/v1/kpis/pickups", params(WindowQuery), responses(
    (status = 200, description = "The click-and-collect report", body = kpi::PickupsReport),
    (status = 400, description = "A bad window: the reason", body = super::error::Problem),
    (status = 403, description = "Only staff, manager and admin tokens", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn pickups(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(
        &[Role::Staff, Role::Manager],
        "read the click-and-collect KPIs",
    )?;
    let now = jiff::Timestamp::now();
    let window = window(&state, query, now)?;
    let settings = state.kpi.clone();
    let report = state
        .readers
        .run(move |c| Ok(kpi::pickups_report(c, &settings, &window, now)))
        .await??;
    Ok(Json(report).into_response())
}

/// Publishes `kpis_changed` `{"day": today}` after commits that may have
/// changed the KPIs (the writer's `unsent_grew`: a commit appended or
/// requeued events, or another connection committed), at most once every
/// [`KPIS_CHANGED_EVERY`]: commits during the pause are announced by one
/// event after it, so the last change is never left unannounced. Blocks:
/// run it on a blocking thread; it returns within a second of `cancel`.
pub fn announce_kpi_changes(
    health: Arc<WriterHealth>,
    live: Live,
    tz: jiff::tz::TimeZone,
    cancel: CancellationToken,
) {
    let mut mark = health.unsent_grew.mark();
    let mut last: Option<Instant> = None;
    while !cancel.is_cancelled() {
        let now_mark = health.unsent_grew.wait_past(mark, Duration::from_secs(1));
        if now_mark == mark {
            continue;
        }
        if let Some(wait) = last.and_then(|t| KPIS_CHANGED_EVERY.checked_sub(t.elapsed())) {
            // Rings during the pause are counted by the next mark.
            std::thread::sleep(wait.min(KPIS_CHANGED_EVERY));
            if cancel.is_cancelled() {
                return;
            }
        }
        mark = health.unsent_grew.mark();
        let day = tz.to_datetime(jiff::Timestamp::now()).date().to_string();
        live.publish(None, Topic::KpisChanged, &json!({ "day": day }));
        last = Some(Instant::now());
    }
}
