//! `/_control/`: the fake's own routes for tests and the demo — set faults,
//! read what was stored and the counters, add order changes, make pickup
//! passes. No authentication: the fake must only listen on loopback.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::faults::Faults;
use super::problem::Problem;
use super::{lock, orders, BookCounts, Shared, TIMELINE_BUCKET};

fn bad_json(e: JsonRejection) -> Response {
    Problem::new(e.status(), "bad-request", e.body_text()).into_response()
}

/// `PUT /_control/faults` with a `Faults` document (missing keys take
/// their defaults, so `{}` clears every fault).
pub(crate) async fn put_faults(
    State(shared): State<Shared>,
    faults: Result<Json<Faults>, JsonRejection>,
) -> Response {
    match faults {
        Ok(Json(faults)) => {
            tracing::info!(?faults, "fake central: faults set");
            *shared
                .inner
                .faults
                .write()
                .unwrap_or_else(|e| e.into_inner()) = faults.into();
            Json(&*shared.inner.faults()).into_response()
        }
        Err(e) => bad_json(e),
    }
}

pub(crate) async fn get_faults(State(shared): State<Shared>) -> Response {
    Json(&*shared.inner.faults()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Skip the first `from` events (the soak reads only what is new).
    #[serde(default)]
    from: usize,
}

/// `GET /_control/events[?from=N]`: the accepted events in receipt order
/// (from the `N`th on), as one JSON array joined from the stored text (no
/// re-parsing).
pub(crate) async fn events(
    State(shared): State<Shared>,
    query: Result<axum::extract::Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let from = match query {
        Ok(q) => q.0.from,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    let body = {
        let ledger = lock(&shared.inner.ledger);
        let events = ledger.events.get(from..).unwrap_or_default();
        let len = events.iter().map(|e| e.len() + 1).sum::<usize>() + 2;
        let mut body = String::with_capacity(len);
        body.push('[');
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(event);
        }
        body.push(']');
        body
    };
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) async fn stats(State(shared): State<Shared>) -> Response {
    Json(shared.inner.stats()).into_response()
}

/// `POST /_control/orders` with one order document: appended to the feed
/// as it is (not validated, so tests can feed the edge malformed ones).
pub(crate) async fn push_order(
    State(shared): State<Shared>,
    order: Result<Json<Value>, JsonRejection>,
) -> Response {
    match order {
        Ok(Json(order)) if order.is_object() => {
            let feed_length = shared.inner.push_order(order);
            Json(json!({"feed_length": feed_length})).into_response()
        }
        Ok(Json(_)) => {
            Problem::bad_request("an order document must be a JSON object").into_response()
        }
        Err(e) => bad_json(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PassRequest {
    order_id: String,
    /// Unix seconds.
    exp: i64,
    /// Defaults to this central's store; another id makes a wrong-store pass.
    store_id: Option<String>,
}

/// `POST /_control/passes {"order_id", "exp", "store_id"?}` → `{"pass"}`.
pub(crate) async fn make_pass(
    State(shared): State<Shared>,
    request: Result<Json<PassRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(r)) => {
            let store_id = r.store_id.as_deref().unwrap_or(&shared.inner.store_id);
            let pass = orders::sign_pass(&shared.inner.key, &r.order_id, store_id, r.exp);
            Json(json!({"pass": pass})).into_response()
        }
        Err(e) => bad_json(e),
    }
}

/// `GET /_control/stores`: per store (the `--store-id` one first, then the
/// `--stores` table in its order) what was stored, answered `duplicate`,
/// `conflict` or `rejected`, and stored twice (must stay 0).
pub(crate) async fn stores(State(shared): State<Shared>) -> Response {
    let inner = &shared.inner;
    let mut out = Vec::new();
    if !inner.store_id.is_empty() {
        let counts = lock(&inner.ledger).counts;
        out.push(store_row(&inner.store_id, counts));
    }
    for tenant in &inner.tenants.stores {
        let counts = lock(&tenant.book).counts;
        out.push(store_row(&tenant.store_id, counts));
    }
    Json(json!({ "stores": out })).into_response()
}

fn store_row(store_id: &str, counts: BookCounts) -> Value {
    let mut row = serde_json::to_value(counts).unwrap_or_else(|_| json!({}));
    if let Some(map) = row.as_object_mut() {
        map.insert("store_id".into(), Value::from(store_id));
    }
    row
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimelineQuery {
    /// Bucket width: a multiple of 100 ms (default 1000).
    #[serde(default = "one_second")]
    bucket_ms: u64,
}

fn one_second() -> u64 {
    1000
}

/// `GET /_control/timeline[?bucket_ms=100|1000|…]`: requests to the store
/// routes, 429s for capacity and events accepted, per bucket since start.
pub(crate) async fn timeline(
    State(shared): State<Shared>,
    query: Result<axum::extract::Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let step = TIMELINE_BUCKET.as_millis() as u64;
    let bucket_ms = match query {
        Ok(q) if q.0.bucket_ms >= step && q.0.bucket_ms % step == 0 => q.0.bucket_ms,
        Ok(_) => {
            return Problem::bad_request(format!("`bucket_ms` must be a multiple of {step}"))
                .into_response()
        }
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    let buckets = shared
        .inner
        .timeline
        .buckets(std::time::Duration::from_millis(bucket_ms));
    Json(json!({ "bucket_ms": bucket_ms, "buckets": buckets })).into_response()
}
