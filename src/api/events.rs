//! `POST /api/v1/events` and `GET /api/v1/events`: record touchpoints and
//! read the log. A 201 is sent only after the events' transaction committed.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{value::RawValue, Value};
use sha2::{Digest, Sha256};

use super::{auth::Caller, ApiError, AppState};
use crate::events::{source_of, CloudEvent, NewEvent};
use crate::store::{read, tokens::Role, AppendOutcome, Appended, Idempotency};

/// Largest array accepted in one request (all-or-nothing).
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One event as a client posts it. The service fills id, sequence,
/// source, journeystage, recordedat and (if absent) time and subject.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// An event type of events.md, e.g. `store.loyalty.identified`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The type's data object (see events.md).
    #[schema(value_type = Object)]
    pub data: Value,
    /// Optional; must equal the data field events.md names for the type.
    pub subject: Option<String>,
    /// When it happened (RFC 3339); defaults to the recording time.
    pub time: Option<String>,
}

/// The acknowledgement of one recorded event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventAck {
    pub id: String,
    pub sequence: String,
}

/// Record one event or an array of up to 1,000 (all-or-nothing).
#[utoipa::path(
    post,
    path = "/api/v1/events",
    request_body(content = EventIn, content_type = "application/json",
        description = "One event object, or a JSON array of up to 1,000 of them"),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{8,128}$", description = "8–128 characters, one token's own: a repeat from the same token with the same body answers 200 with the original result, with another body 409")),
    responses(
        (status = 201, description = "Recorded and on disk", body = EventAck),
        (status = 200, description = "Idempotent repeat: the original answer", body = EventAck),
        (status = 400, description = "Malformed JSON", body = super::error::Problem),
        (status = 401, description = "Missing, unknown or revoked token", body = super::error::Problem),
        (status = 403, description = "Role may not post this type, or the type is recorded by the service itself", body = super::error::Problem),
        (status = 409, description = "Idempotency-Key reused with another body", body = super::error::Problem),
        (status = 413, description = "Body over 1 MiB or more than 1,000 events", body = super::error::Problem),
        (status = 415, description = "Content-Type is not application/json", body = super::error::Problem),
        (status = 422, description = "Unknown type, missing or invalid field", body = super::error::Problem),
        (status = 503, description = "The store's write queue is full (`reason: overloaded`): nothing was recorded; try again after `Retry-After` seconds", body = super::error::Problem),
        (status = 507, description = "Storage quota reached", body = super::error::Problem),
    ),
    security(("bearer" = []))
)]
pub async fn post_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Pos, Role::Staff, Role::Kiosk], "post events")?;
    check_json_content_type(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the body is larger than {MAX_BODY_BYTES} bytes; send fewer events per request"
            ))
        } else {
            ApiError::bad_request(format!("cannot read the body: {rejection}"))
        }
    })?;
    let idempotency = idempotency_key(&headers)?.map(|key| Idempotency {
        key,
        token_hash: caller.0.token_hash,
        request_hash: Sha256::digest(&body).into(),
    });
    let (events, single) = parse_events(&body, &caller)?;
    // A replay is the same request (same key, same body), so it has the
    // same shape as the one that recorded the events.
    let (status, acks) = match state.writer.append(events, idempotency).await? {
        AppendOutcome::Created { acks } => (StatusCode::CREATED, acks),
        AppendOutcome::Replayed { acks } => (StatusCode::OK, acks),
    };
    Ok(json_response(status, render_acks(&acks, single)?))
}

/// An error about event `i` of an array names it; one posted object's does not.
fn in_context(e: ApiError, i: usize, single: bool) -> ApiError {
    if single {
        e
    } else {
        e.context(&format!("event {i}"))
    }
}

/// The body's events, and whether it was one object (not an array), checked
/// in the order the API always checked them: JSON (400), the array's size
/// (413, 422), then event by event its shape (422), the caller's right to
/// post its type (403) and its data (422); the first refusal wins.
///
/// Fast path (issue 15): the body is split into its events' JSON text
/// without building a `Value` tree for it, and each event is parsed
/// straight into [`EventIn`] (only `data` stays a `Value`: the catalog
/// validates it and the KPI ingest reads it). Whenever the fast path meets
/// an error, the same text goes through the original `Value` route, so
/// every refusal, its message and every edge case (a repeated key, where
/// the last one counts) is exactly what it was.
fn parse_events(body: &[u8], caller: &Caller) -> Result<(Vec<NewEvent>, bool), ApiError> {
    let raw = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
    let Some(raw) = raw else {
        return parse_events_slowly(body, caller);
    };
    let text = raw.get();
    let (items, single): (Vec<&RawValue>, bool) = match text.as_bytes().first() {
        Some(b'[') => match serde_json::from_str(text) {
            Ok(items) => (items, false),
            Err(_) => return parse_events_slowly(body, caller),
        },
        Some(b'{') => (vec![raw], true),
        _ => return parse_events_slowly(body, caller),
    };
    check_count(items.len())?;
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let event = match serde_json::from_str::<EventIn>(item.get()) {
            Ok(event) => event,
            Err(_) => {
                let value: Value = serde_json::from_str(item.get()).map_err(|e| {
                    ApiError::bad_request(format!("the body is not valid JSON: {e}"))
                })?;
                event_from_value(value, i, single)?
            }
        };
        events.push(accept(caller, event, i, single)?);
    }
    Ok((events, single))
}

/// The original route: the whole body into a `Value`, then each event out
/// of it. Gives every refusal its message; used when the fast path fails.
fn parse_events_slowly(body: &[u8], caller: &Caller) -> Result<(Vec<NewEvent>, bool), ApiError> {
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let (items, single) = match parsed {
        Value::Array(items) => (items, false),
        object @ Value::Object(_) => (vec![object], true),
        _ => {
            return Err(ApiError::unprocessable(
                "the body must be one event object or an array of them",
            ))
        }
    };
    check_count(items.len())?;
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let event = event_from_value(item, i, single)?;
        events.push(accept(caller, event, i, single)?);
    }
    Ok((events, single))
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "{n} events in one request; at most {MAX_EVENTS_PER_REQUEST} are accepted"
        )));
    }
    if n == 0 {
        return Err(ApiError::unprocessable("the array holds no events"));
    }
    Ok(())
}

fn event_from_value(item: Value, i: usize, single: bool) -> Result<EventIn, ApiError> {
    serde_json::from_value(item).map_err(|e| {
        in_context(
            ApiError::unprocessable(format!("not an event: {e}")),
            i,
            single,
        )
    })
}

/// Event `i` as the store records it, if the caller may post its type and
/// the catalog accepts it.
fn accept(caller: &Caller, event: EventIn, i: usize, single: bool) -> Result<NewEvent, ApiError> {
    if caller.role() == Role::Kiosk && event.event_type != "store.feedback.submitted" {
        return Err(in_context(
            ApiError::forbidden("a kiosk token may only post store.feedback.submitted"),
            i,
            single,
        ));
    }
    NewEvent::from_client(
        &event.event_type,
        event.data,
        event.subject,
        event.time.as_deref(),
    )
    .map_err(|e| in_context(e.into(), i, single))
}

/// The acknowledgements as the API answers them: one object for a request
/// that posted one event object, else the array (also of one).
fn render_acks(acks: &[Appended], single: bool) -> Result<String, ApiError> {
    let ack = |a: &Appended| EventAck {
        id: a.id.clone(),
        sequence: a.sequence.clone(),
    };
    match (single, acks) {
        (true, [one]) => serde_json::to_string(&ack(one)),
        _ => serde_json::to_string(&acks.iter().map(ack).collect::<Vec<_>>()),
    }
    .map_err(|e| ApiError::internal(format!("cannot encode the acknowledgement: {e}")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only events with a greater sequence (default 0).
    pub after: Option<u64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
    /// Only this event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
}

/// Read the event log, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    params(ListQuery),
    responses(
        (status = 200, description = "`{\"events\": [CloudEvent…], \"next_after\": \"SEQ\" | null}`"),
        (status = 400, description = "Bad query parameter", body = super::error::Problem),
        (status = 401, description = "Missing, unknown or revoked token", body = super::error::Problem),
        (status = 403, description = "Role may not read events", body = super::error::Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "read events")?;
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let readers = state.readers.clone();
    let source = state.source.clone();
    let rows = readers
        .run(move |conn| {
            read::list_events(
                conn,
                query.after.unwrap_or(0),
                limit,
                query.event_type.as_deref(),
            )
        })
        .await?;
    let body = render_page(&rows, &source, limit)?;
    Ok(json_response(StatusCode::OK, body))
}

/// `{"events": [...], "next_after": "SEQ" | null}`; shared with the CLI.
pub fn render_page(
    rows: &[crate::events::StoredEvent],
    source: &str,
    limit: u32,
) -> Result<String, ApiError> {
    #[derive(Serialize)]
    struct Page<'a> {
        events: Vec<CloudEvent<'a>>,
        next_after: Option<String>,
    }
    let events = rows
        .iter()
        .map(|r| r.to_cloudevent(source))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(format!("stored event data is not JSON: {e}")))?;
    let next_after = (rows.len() as u32 >= limit)
        .then(|| rows.last().map(|r| r.sequence.to_string()))
        .flatten();
    serde_json::to_string(&Page { events, next_after })
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|mime| {
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (8..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key must be 8 to 128 visible ASCII characters")
        })?;
    Ok(Some(key.to_owned()))
}

/// The source string of this store, shared by the handlers.
pub fn source(store_id: &str) -> std::sync::Arc<str> {
    source_of(store_id).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: &str, sequence: &str) -> Appended {
        Appended {
            id: id.into(),
            sequence: sequence.into(),
        }
    }

    /// The bytes the API always answered: an object for one posted event
    /// object, an array for a posted array (also of one).
    #[test]
    fn acknowledgements_render_in_the_shape_of_the_request() {
        let one = [ack("0190", "7")];
        assert_eq!(
            render_acks(&one, true).unwrap(),
            r#"{"id":"0190","sequence":"7"}"#
        );
        assert_eq!(
            render_acks(&one, false).unwrap(),
            r#"[{"id":"0190","sequence":"7"}]"#
        );
        assert_eq!(
            render_acks(&[ack("a", "1"), ack("b", "2")], false).unwrap(),
            r#"[{"id":"a","sequence":"1"},{"id":"b","sequence":"2"}]"#
        );
    }

    fn caller(role: Role) -> Caller {
        Caller(crate::store::tokens::Principal {
            name: "t".into(),
            role,
            register: None,
            token_hash: [0; 32],
            paired: false,
        })
    }

    /// What a parse gave, comparable: the events as stored, or the refusal.
    fn outcome(r: Result<(Vec<NewEvent>, bool), ApiError>) -> String {
        match r {
            Ok((events, single)) => format!(
                "ok single={single} {:?}",
                events
                    .iter()
                    .map(|e| (e.event_type.name, &e.subject, e.time, &e.data_json))
                    .collect::<Vec<_>>()
            ),
            Err(e) => format!("{} {} {}", e.status, e.kind, e.detail),
        }
    }

    /// The fast path (no `Value` tree for the body) answers every body
    /// exactly as the original route did: the same events, or the same
    /// status and message, in the same order of checks.
    #[test]
    fn the_fast_parse_answers_every_body_as_the_original_route() {
        let feedback =
            r#"{"type": "store.feedback.submitted", "data": {"score": 9, "context": "pickup"}}"#;
        let tx = r#"{"type":"store.transaction.completed","time":"2026-11-26T11:00:00+01:00","data":{"transaction_id":"T1","register_id":"r","total_minor":100,"currency":"EUR","item_count":1}}"#;
        let bad_data =
            r#"{"type": "store.feedback.submitted", "data": {"score": 99, "context": "pickup"}}"#;
        let many = format!("[{}]", vec![feedback; 1001].join(","));
        let bodies = [
            feedback.to_owned(),
            tx.to_owned(),
            format!("[{feedback}]"),
            format!("[{feedback}, {tx}]"),
            format!(" \n[{tx},{feedback}] "),
            // repeated keys: the last one counts, as in a `Value`
            r#"{"type": "store.nope", "type": "store.feedback.submitted", "data": {"score": 9, "context": "pickup"}}"#.to_owned(),
            r#"{"type": "store.feedback.submitted", "data": {"score": 1, "score": 9, "context": "pickup"}}"#.to_owned(),
            "{\"type\": ".to_owned(),
            format!("[{feedback}"),
            format!("{feedback} x"),
            "42".to_owned(),
            "null".to_owned(),
            "\"text\"".to_owned(),
            "[]".to_owned(),
            "[42]".to_owned(),
            many,
            r#"{"type": "store.feedback.submitted", "id": "mine", "data": {"score": 1, "context": "pickup"}}"#.to_owned(),
            r#"{"data": {"score": 1, "context": "pickup"}}"#.to_owned(),
            r#"{"type": 5, "data": {}}"#.to_owned(),
            r#"{"type": "store.teleport.used", "data": {}}"#.to_owned(),
            r#"{"type": "store.feedback.submitted", "time": "yesterday", "data": {"score": 1, "context": "pickup"}}"#.to_owned(),
            bad_data.to_owned(),
            // the first refusal wins: bad data of event 0 before a kiosk's 403 of event 1
            format!("[{bad_data}, {tx}]"),
            format!("[{tx}, {bad_data}]"),
            format!("[{feedback}, {{\"type\": 1}}]"),
        ];
        let mut invalid_utf8 = feedback.as_bytes().to_vec();
        invalid_utf8[40] = 0xff;
        for role in [Role::Pos, Role::Kiosk] {
            for body in bodies
                .iter()
                .map(|b| b.as_bytes())
                .chain([&invalid_utf8[..]])
            {
                let fast = outcome(parse_events(body, &caller(role)));
                let slow = outcome(parse_events_slowly(body, &caller(role)));
                assert_eq!(fast, slow, "{role:?} {}", String::from_utf8_lossy(body));
            }
        }
    }
}
