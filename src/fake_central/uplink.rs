//! `POST /v1/stores/{storeId}/events`: the uplink as central answers it.
//! Batch-level refusals (400, 413, 415, 422) store nothing; otherwise each
//! event gets `accepted`, `duplicate`, `conflict` or `rejected`, in order.
//! Count-only mode reads just the ids, for the drain benchmark.
//!
//! Must never store part of a batch it refuses as a whole, nor store an
//! event it answers with anything but `accepted`.

use std::borrow::Cow;
use std::io::Read;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::faults::{self, Faults};
use super::problem::Problem;
use super::stores::{self, digest64, Seen, Tenant};
use super::{bump, lock, validate, Inner, Ledger, Shared, Who};

/// Most events in one batch (the contract's `maxItems`).
pub(crate) const MAX_EVENTS: usize = 5000;
/// Most bytes a gzip body may inflate to; far above 5000 real events, it
/// only stops a zip bomb.
const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// What the headers said, checked before the body is touched.
struct Head {
    idempotency_key: String,
    gzip: bool,
}

#[derive(Serialize)]
struct BatchResult<'a> {
    results: Vec<EventResult<'a>>,
}

#[derive(Serialize)]
struct EventResult<'a> {
    id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub(crate) async fn post_events(
    State(shared): State<Shared>,
    Path(store_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let admitted = match shared.admit(&store_id, &headers).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    let head = match read_head(&headers) {
        Ok(head) => head,
        Err(problem) => return problem.into_response(),
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return Problem::new(rejection.status(), "unreadable-body", rejection.body_text())
                .into_response()
        }
    };
    // Inflating and parsing 5000 events takes milliseconds of CPU: off the
    // async workers, so other connections (and the edge, when the fake
    // runs in-process) keep moving.
    let inner = shared.inner.clone();
    let who = admitted.who.clone();
    let answer = tokio::task::spawn_blocking(move || process(&inner, &who, &head, &body)).await;
    drop(admitted);
    match answer {
        Ok(Ok(answer)) => faults::drop_answer(&shared.inner).unwrap_or(answer),
        Ok(Err(problem)) => problem.into_response(),
        Err(e) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the fake central failed while processing the batch: {e}"),
        )
        .into_response(),
    }
}

fn read_head(headers: &HeaderMap) -> Result<Head, Problem> {
    let idempotency_key = headers
        .get("idempotency-key")
        .ok_or_else(|| Problem::bad_request("the Idempotency-Key header is required"))?
        .to_str()
        .ok()
        .filter(|k| (8..=128).contains(&k.len()))
        .ok_or_else(|| {
            Problem::bad_request("Idempotency-Key must be 8 to 128 visible ASCII characters")
        })?
        .to_owned();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(BATCH_CONTENT_TYPE) {
        return Err(Problem::unsupported(format!(
            "Content-Type must be {BATCH_CONTENT_TYPE}"
        )));
    }
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("identity") => false,
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("gzip") => true,
        Some(_) => {
            return Err(Problem::unsupported(
                "Content-Encoding must be gzip or identity (or absent)",
            ))
        }
    };
    Ok(Head {
        idempotency_key,
        gzip,
    })
}

fn process(inner: &Inner, who: &Who, head: &Head, body: &[u8]) -> Result<Response, Problem> {
    bump(&inner.counters.wire_bytes, body.len() as u64);
    let json: Cow<'_, [u8]> = if head.gzip {
        Cow::Owned(gunzip(body)?)
    } else {
        Cow::Borrowed(body)
    };
    if inner.count_only {
        return count_only(inner, &json);
    }
    let events = match serde_json::from_slice::<Value>(&json) {
        Ok(Value::Array(events)) => events,
        Ok(_) => {
            return Err(Problem::bad_request(
                "the body must be a JSON array of CloudEvents (batch format)",
            ))
        }
        Err(e) => return Err(Problem::bad_request(format!("the body is not JSON: {e}"))),
    };
    check_count(events.len())?;
    let faults = inner.faults();
    refuse_listed_subjects(&faults, &events)?;
    let digest: [u8; 32] = Sha256::digest(&json).into();
    if let Who::Tenant(tenant) = who {
        return process_tenant(inner, tenant, head, digest, &events);
    }
    let verdicts: Vec<_> = events
        .iter()
        .map(|e| validate::check_event(e, &inner.source))
        .collect();

    let mut ledger = lock(&inner.ledger);
    remember_key(&mut ledger.idempotency, &head.idempotency_key, digest)?;
    let mut results = Vec::with_capacity(events.len());
    for (event, verdict) in events.iter().zip(verdicts) {
        let id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let (status, reason) = judge(&mut ledger, &faults, event, id, verdict);
        results.push(EventResult { id, status, reason });
    }
    drop(ledger);

    Ok(answer(inner, results))
}

/// An Idempotency-Key seen before must carry the same batch (by digest);
/// a new one is remembered.
fn remember_key(
    seen: &mut std::collections::HashMap<String, [u8; 32]>,
    key: &str,
    digest: [u8; 32],
) -> Result<(), Problem> {
    match seen.get(key) {
        Some(before) if *before != digest => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different batch; nothing was stored",
        )),
        Some(_) => Ok(()),
        None => {
            seen.insert(key.to_owned(), digest);
            Ok(())
        }
    }
}

/// Counts the results and makes the answer.
fn answer(inner: &Inner, results: Vec<EventResult<'_>>) -> Response {
    let c = &inner.counters;
    bump(&c.batches, 1);
    let mut accepted = 0;
    for r in &results {
        match r.status {
            "accepted" => accepted += 1,
            "duplicate" => bump(&c.duplicates, 1),
            "conflict" => bump(&c.conflicts, 1),
            _ => bump(&c.rejected, 1),
        }
    }
    bump(&c.accepted, accepted);
    inner.timeline.mark(stores::Mark::Accepted(accepted));
    tracing::debug!(events = results.len(), "fake central: batch answered");
    Json(BatchResult { results }).into_response()
}

/// A batch of a store of the `--stores` table: judged against its book of
/// digests (the same answers as the ledger gives, without keeping the
/// events). Injected rejections by type or subject do not apply here.
fn process_tenant(
    inner: &Inner,
    tenant: &Tenant,
    head: &Head,
    digest: [u8; 32],
    events: &[Value],
) -> Result<Response, Problem> {
    let verdicts: Vec<_> = events
        .iter()
        .map(|e| validate::check_event(e, &tenant.source))
        .collect();
    // Digests of the canonical text (serde_json's maps are sorted), made
    // before the lock.
    let digests: Vec<u64> = events
        .iter()
        .map(|e| digest64(e.to_string().as_bytes()))
        .collect();
    let mut book = lock(&tenant.book);
    remember_key(&mut book.idempotency, &head.idempotency_key, digest)?;
    let mut results = Vec::with_capacity(events.len());
    for ((event, verdict), event_digest) in events.iter().zip(verdicts).zip(digests) {
        let id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let (status, reason) = match verdict {
            Err(reason) => {
                book.counts.rejected += 1;
                ("rejected", Some(reason))
            }
            Ok(()) => match book.judge(id, event_digest, sequence_of(event)) {
                Seen::Accepted => ("accepted", None),
                Seen::Duplicate => ("duplicate", None),
                Seen::Conflict => (
                    "conflict",
                    Some("this id was already accepted with a different payload".into()),
                ),
            },
        };
        results.push(EventResult { id, status, reason });
    }
    drop(book);
    Ok(answer(inner, results))
}

/// The edge's `sequence` extension attribute (a decimal string).
fn sequence_of(event: &Value) -> Option<u64> {
    event.get("sequence")?.as_str()?.parse().ok()
}

/// One event's fate. Stores it only when the answer is `accepted`.
fn judge(
    ledger: &mut Ledger,
    faults: &Faults,
    event: &Value,
    id: &str,
    verdict: Result<(), String>,
) -> (&'static str, Option<String>) {
    if let Err(reason) = verdict {
        ledger.counts.rejected += 1;
        return ("rejected", Some(reason));
    }
    if let Some(&index) = ledger.by_id.get(id) {
        // Compared as values, so key order and whitespace do not matter.
        let same = ledger
            .events
            .get(index)
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .is_some_and(|stored| stored == *event);
        return if same {
            ledger.counts.duplicates += 1;
            ("duplicate", None)
        } else {
            ledger.counts.conflicts += 1;
            (
                "conflict",
                Some("this id was already accepted with a different payload".into()),
            )
        };
    }
    let event_type = event.get("type").and_then(Value::as_str);
    let subject = event.get("subject").and_then(Value::as_str);
    if faults.rejects(event_type, subject) {
        ledger.counts.rejected += 1;
        return ("rejected", Some("rejected by fault injection".into()));
    }
    if let Some(seq) = sequence_of(event) {
        if !ledger.seqs.insert(seq) {
            ledger.counts.stored_twice += 1;
        }
    }
    ledger.counts.stored += 1;
    ledger.by_id.insert(id.to_owned(), ledger.events.len());
    ledger.events.push(event.to_string().into_boxed_str());
    ("accepted", None)
}

/// `status_400_if_subject`: a whole-batch refusal the edge must bisect.
fn refuse_listed_subjects(faults: &Faults, events: &[Value]) -> Result<(), Problem> {
    if faults.status_400_if_subject.is_empty() {
        return Ok(());
    }
    let listed = events.iter().position(|e| {
        e.get("subject")
            .and_then(Value::as_str)
            .is_some_and(|s| faults.status_400_if_subject.iter().any(|l| l == s))
    });
    match listed {
        Some(index) => Err(Problem::bad_request(format!(
            "event {index} of the batch has a subject this central refuses (injected); nothing was stored"
        ))),
        None => Ok(()),
    }
}

fn check_count(n: usize) -> Result<(), Problem> {
    if n == 0 {
        return Err(Problem::bad_request(
            "the batch is empty; send 1 to 5000 events",
        ));
    }
    if n > MAX_EVENTS {
        return Err(Problem::too_large(format!(
            "the batch has {n} events; at most {MAX_EVENTS} per batch, split it"
        )));
    }
    Ok(())
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, Problem> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(6));
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| Problem::bad_request(format!("the body is not valid gzip: {e}")))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(Problem::too_large(format!(
            "the body inflates to more than {MAX_INFLATED_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Just the id of an event; serde skips the rest without building it.
#[derive(Deserialize)]
struct IdOnly<'a> {
    // Borrowed unless the id has escapes; a missing id answers as "".
    #[serde(borrow, default)]
    id: Cow<'a, str>,
}

/// The benchmark's central: every event `accepted`, nothing stored,
/// nothing validated beyond "a JSON array of objects".
fn count_only(inner: &Inner, json: &[u8]) -> Result<Response, Problem> {
    let events: Vec<IdOnly<'_>> = serde_json::from_slice(json).map_err(|e| {
        Problem::bad_request(format!("the body must be a JSON array of CloudEvents: {e}"))
    })?;
    check_count(events.len())?;
    bump(&inner.counters.batches, 1);
    bump(&inner.counters.events_counted, events.len() as u64);
    let results = events
        .iter()
        .map(|e| EventResult {
            id: &e.id,
            status: "accepted",
            reason: None,
        })
        .collect();
    Ok(Json(BatchResult { results }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_borrow_when_plain_and_survive_escapes() {
        let events: Vec<IdOnly<'_>> =
            serde_json::from_str(r#"[{"id":"a","data":{"x":[1,2]}},{"id":"b\"c"},{}]"#).unwrap();
        assert!(matches!(events[0].id, Cow::Borrowed("a")));
        assert_eq!(events[1].id, "b\"c");
        assert_eq!(events[2].id, "");
    }

    #[test]
    fn gunzip_refuses_garbage() {
        assert!(gunzip(b"definitely not gzip").is_err());
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"[1]").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz).unwrap(), b"[1]");
    }

    #[test]
    fn counts_outside_1_to_5000_are_refused() {
        assert_eq!(check_count(0).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert!(check_count(1).is_ok());
        assert!(check_count(MAX_EVENTS).is_ok());
        assert_eq!(
            check_count(MAX_EVENTS + 1).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
