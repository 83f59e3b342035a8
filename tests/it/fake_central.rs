//! The fake central over real HTTP: `FakeCentral::spawn` on 127.0.0.1:0,
//! driven with reqwest as the edge drives central.

use std::io::Write;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use store_edge::fake_central::{FakeCentral, FakeCentralConfig, Faults};
use tokio_util::sync::{CancellationToken, DropGuard};

const STORE: &str = "s-0042";
const SOURCE: &str = "urn:store-edge:s-0042";
const TOKEN: &str = "secret-store-token";
const CUSTOMER: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BATCH_TYPE: &str = "application/cloudevents-batch+json";

struct Central {
    fake: FakeCentral,
    base: String,
    http: reqwest::Client,
    _stop: DropGuard,
}

fn config() -> FakeCentralConfig {
    FakeCentralConfig {
        store_id: STORE.into(),
        token: TOKEN.into(),
        ..FakeCentralConfig::default()
    }
}

async fn start(config: FakeCentralConfig) -> Central {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeCentral::new(config);
    let cancel = CancellationToken::new();
    let addr = fake
        .clone()
        .spawn("127.0.0.1:0".parse().unwrap(), cancel.clone())
        .await
        .expect("bind the fake central");
    Central {
        fake,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        _stop: cancel.drop_guard(),
    }
}

/// A valid `store.loyalty.identified` event with sequence `seq`.
fn event(seq: u64) -> Value {
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::now_v7().to_string(),
        "source": SOURCE,
        "type": "store.loyalty.identified",
        "subject": CUSTOMER,
        "time": "2026-11-26T10:00:00.000Z",
        "datacontenttype": "application/json",
        "sequence": seq.to_string(),
        "journeystage": "loyalty",
        "recordedat": "2026-11-26T10:00:00.002Z",
        "data": {"customer_token": CUSTOMER, "method": "barcode", "device_id": "till-1"}
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn key() -> String {
    format!("batch-{}", uuid::Uuid::now_v7())
}

impl Central {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn events_url(&self) -> String {
        self.url(&format!("/v1/stores/{STORE}/events"))
    }

    /// A well-formed push of `events` (gzip) under `key`.
    fn push(&self, key: &str, events: &[Value]) -> reqwest::RequestBuilder {
        self.push_as(key, events, TOKEN, BATCH_TYPE, "gzip")
    }

    /// A push with the given token, Content-Type and Content-Encoding (the
    /// body is gzipped only for "gzip").
    fn push_as(
        &self,
        key: &str,
        events: &[Value],
        token: &str,
        content_type: &str,
        encoding: &str,
    ) -> reqwest::RequestBuilder {
        let mut body = serde_json::to_vec(events).unwrap();
        if encoding == "gzip" {
            body = gzip(&body);
        }
        self.http
            .post(self.events_url())
            .bearer_auth(token)
            .header("content-type", content_type)
            .header("content-encoding", encoding)
            .header("idempotency-key", key)
            .body(body)
    }

    /// Pushes and returns the per-event `(status, reason)` pairs.
    async fn results(&self, events: &[Value]) -> Vec<(String, Option<String>)> {
        let resp = self.push(&key(), events).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), events.len());
        results
            .iter()
            .zip(events)
            .map(|(r, e)| {
                let id = e["id"].as_str().unwrap_or("");
                assert_eq!(r["id"], id, "results follow the batch order");
                (
                    r["status"].as_str().unwrap().to_owned(),
                    r["reason"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }

    async fn statuses(&self, events: &[Value]) -> Vec<String> {
        self.results(events)
            .await
            .into_iter()
            .map(|r| r.0)
            .collect()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts a problem+json answer with `status` whose detail mentions `part`.
async fn assert_problem(resp: reqwest::Response, status: StatusCode, part: &str) {
    assert_eq!(resp.status(), status);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(part), "{detail:?} lacks {part:?}");
}

#[tokio::test]
async fn accepted_then_duplicate_then_conflict() {
    let c = start(config()).await;
    let first = event(1);
    let second = event(2);
    assert_eq!(
        c.statuses(&[first.clone(), second.clone()]).await,
        ["accepted", "accepted"]
    );
    // A retry under a new key (the edge re-batched): duplicates.
    assert_eq!(
        c.statuses(std::slice::from_ref(&first)).await,
        ["duplicate"]
    );
    let mut changed = second.clone();
    changed["data"]["device_id"] = json!("till-2");
    let results = c.results(&[changed, event(3)]).await;
    assert_eq!(results[0].0, "conflict");
    assert!(results[0]
        .1
        .as_deref()
        .unwrap()
        .contains("different payload"));
    assert_eq!(results[1].0, "accepted");

    let stored = c.fake.stored_events();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0], first);
    assert_eq!(
        stored[1], second,
        "a conflict never replaces what was stored"
    );
    let stats = c.fake.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.duplicates,
            stats.conflicts,
            stats.batches
        ),
        (3, 1, 1, 3)
    );
}

#[tokio::test]
async fn the_same_batch_retried_with_its_key_answers_duplicates() {
    let c = start(config()).await;
    let batch = [event(1), event(2)];
    let k = key();
    for expect in ["accepted", "duplicate"] {
        let resp = c.push(&k, &batch).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["results"][1]["status"], expect);
    }
    assert_eq!(c.fake.stored_events().len(), 2);
}

#[tokio::test]
async fn invalid_events_are_rejected_with_a_reason_naming_the_field() {
    let c = start(config()).await;
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut e = event(1);
        f(&mut e);
        e
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            edit(&|e| {
                e["data"].as_object_mut().unwrap().remove("device_id");
            }),
            "`device_id` is required",
        ),
        (
            edit(&|e| e["journeystage"] = json!("decision")),
            "`journeystage`",
        ),
        (
            edit(&|e| e["subject"] = json!("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")),
            "`subject`",
        ),
        (
            edit(&|e| e["source"] = json!("urn:store-edge:other")),
            "`source`",
        ),
        (
            edit(&|e| {
                e["data"]["customer_token"] = json!("4111111111111111");
                e["subject"] = json!("4111111111111111");
            }),
            "`customer_token`",
        ),
        (edit(&|e| e["sequence"] = json!("007")), "`sequence`"),
        (edit(&|e| e["sequence"] = json!("0")), "`sequence`"),
        (edit(&|e| e["time"] = json!("26.11.2026")), "`time`"),
        (json!("not an event"), "not a JSON object"),
    ];
    let events: Vec<Value> = cases.iter().map(|(e, _)| e.clone()).collect();
    let results = c.results(&events).await;
    for ((status, reason), (_, part)) in results.iter().zip(&cases) {
        assert_eq!(status, "rejected", "{part}");
        let reason = reason.as_deref().unwrap();
        assert!(reason.contains(part), "{reason:?} lacks {part:?}");
        assert!(!reason.contains("4111"), "reasons never echo card numbers");
    }
    assert!(c.fake.stored_events().is_empty());
    assert_eq!(c.fake.stats().rejected, cases.len() as u64);
}

#[tokio::test]
async fn unknown_store_types_are_accepted_without_data_checks() {
    let c = start(config()).await;
    let mut e = event(1);
    e["type"] = json!("store.shelf.restocked");
    e["data"] = json!({"shelf": 3});
    e.as_object_mut().unwrap().remove("subject");
    let mut not_store = event(2);
    not_store["type"] = json!("web.page.viewed");
    assert_eq!(c.statuses(&[e, not_store]).await, ["accepted", "rejected"]);
}

#[tokio::test]
async fn tokens_and_stores_are_checked() {
    let c = start(config()).await;
    let body = gzip(&serde_json::to_vec(&[event(1)]).unwrap());
    let post = |url: String| {
        c.http
            .post(url)
            .header("content-type", BATCH_TYPE)
            .header("content-encoding", "gzip")
            .header("idempotency-key", key())
            .body(body.clone())
    };
    let resp = post(c.events_url()).send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_problem(resp, StatusCode::UNAUTHORIZED, "missing store token").await;
    let resp = post(c.events_url())
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unknown store token").await;
    let other = c.url("/v1/stores/s-0043/events");
    let resp = post(other).bearer_auth(TOKEN).send().await.unwrap();
    assert_problem(resp, StatusCode::FORBIDDEN, "s-0043").await;

    c.fake.set_faults(Faults {
        unauthorized: true,
        ..Faults::default()
    });
    let resp = c.push(&key(), &[event(1)]).send().await.unwrap();
    assert_problem(resp, StatusCode::UNAUTHORIZED, "injected").await;
    let resp = c.get(&format!("/v1/stores/{STORE}/pickup-orders")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(c.fake.stored_events().is_empty());

    // Health needs no token.
    let resp = c.http.get(c.url("/v1/health")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_media_types_are_415() {
    let c = start(config()).await;
    let resp = c
        .push_as(&key(), &[event(1)], TOKEN, "application/json", "gzip")
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type").await;
    let resp = c
        .push_as(&key(), &[event(1)], TOKEN, BATCH_TYPE, "br")
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Encoding").await;
    // With parameters and identity encoding, the type is still right.
    let resp = c
        .http
        .post(c.events_url())
        .bearer_auth(TOKEN)
        .header("content-type", format!("{BATCH_TYPE}; charset=utf-8"))
        .header("content-encoding", "identity")
        .header("idempotency-key", key())
        .body(serde_json::to_vec(&[event(1)]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(c.fake.stored_events().len(), 1);
}

#[tokio::test]
async fn more_than_5000_events_is_413() {
    let c = start(config()).await;
    let events: Vec<Value> = (1..=5001).map(event).collect();
    let resp = c.push(&key(), &events).send().await.unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "5001").await;
    let resp = c.push(&key(), &events[..5000]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(c.fake.stored_events().len(), 5000);
}

#[tokio::test]
async fn a_reused_idempotency_key_with_another_batch_is_422() {
    let c = start(config()).await;
    let k = key();
    let resp = c.push(&k, &[event(1)]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c.push(&k, &[event(2)]).send().await.unwrap();
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key").await;
    assert_eq!(
        c.fake.stored_events().len(),
        1,
        "nothing of the 422 batch stored"
    );
}

#[tokio::test]
async fn malformed_batches_are_400() {
    let c = start(config()).await;
    let raw = |key: Option<&str>, encoding: &str, body: Vec<u8>| {
        let mut req = c
            .http
            .post(c.events_url())
            .bearer_auth(TOKEN)
            .header("content-type", BATCH_TYPE)
            .header("content-encoding", encoding)
            .body(body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send()
    };
    let k = key();
    let resp = raw(Some(&k), "gzip", b"this is not gzip".to_vec())
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "gzip").await;
    let resp = raw(Some(&k), "gzip", gzip(b"{\"not\": \"an array\"}"))
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "array").await;
    let resp = raw(Some(&k), "identity", b"[1, 2".to_vec()).await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "not JSON").await;
    let resp = raw(Some(&k), "identity", b"[]".to_vec()).await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "empty").await;
    let resp = raw(None, "identity", b"[]".to_vec()).await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "Idempotency-Key").await;
    let resp = raw(Some("short"), "identity", b"[]".to_vec())
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "8 to 128").await;
    // The key of a refused batch is not used up.
    let resp = c.push(&k, &[event(1)]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn injected_5xx_store_nothing_and_503_says_when_to_retry() {
    let c = start(config()).await;
    c.fake.set_faults(Faults {
        fail_5xx_pct: 100,
        retry_after_s: 7,
        ..Faults::default()
    });
    let (mut saw_500, mut saw_503) = (false, false);
    for _ in 0..200 {
        let resp = c.push(&key(), &[event(1)]).send().await.unwrap();
        match resp.status() {
            StatusCode::INTERNAL_SERVER_ERROR => saw_500 = true,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(resp.headers()["retry-after"], "7");
                saw_503 = true;
            }
            other => panic!("unexpected {other}"),
        }
        if saw_500 && saw_503 {
            break;
        }
    }
    assert!(saw_500 && saw_503);
    assert!(c.fake.stored_events().is_empty());
    assert!(c.fake.stats().faults_injected >= 2);
}

#[tokio::test]
async fn injected_429_says_when_to_retry() {
    let c = start(config()).await;
    c.fake.set_faults(Faults {
        status_429_pct: 100,
        retry_after_s: 3,
        ..Faults::default()
    });
    let resp = c.push(&key(), &[event(1)]).send().await.unwrap();
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "nothing was stored").await;
    assert!(c.fake.stored_events().is_empty());
}

#[tokio::test]
async fn an_injected_timeout_lets_the_client_time_out_and_stores_nothing() {
    let c = start(config()).await;
    c.fake.set_faults(Faults {
        timeout_pct: 100,
        timeout_ms: 2_000,
        ..Faults::default()
    });
    let err = c
        .push(&key(), &[event(1)])
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(c.fake.stored_events().is_empty());
}

#[tokio::test]
async fn drop_after_store_stores_the_batch_but_the_client_sees_an_error() {
    let c = start(config()).await;
    c.fake.set_faults(Faults {
        drop_after_store_pct: 100,
        ..Faults::default()
    });
    let batch = [event(1), event(2)];
    let k = key();
    // As the edge's client does: send, then read the whole answer.
    let outcome = async {
        let resp = c.push(&k, &batch).send().await?;
        resp.bytes().await
    }
    .await;
    let err = outcome.expect_err("the answer must be lost");
    assert!(
        !err.is_timeout(),
        "a broken connection, not a timeout: {err}"
    );
    assert_eq!(
        c.fake.stored_events().len(),
        2,
        "stored before the answer was lost"
    );
    assert_eq!(
        c.fake.stats().batches,
        1,
        "the client did not retry by itself"
    );

    // The edge retries the same batch: both already there.
    c.fake.set_faults(Faults::default());
    let resp = c.push(&k, &batch).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["results"][0]["status"], "duplicate");
    assert_eq!(body["results"][1]["status"], "duplicate");
}

#[tokio::test]
async fn injected_rejections_by_type_and_subject() {
    let c = start(config()).await;
    let mut scanned = event(2);
    scanned["type"] = json!("store.product.scanned");
    scanned["journeystage"] = json!("consideration");
    scanned["subject"] = json!("04006381333931");
    scanned["data"] = json!({"symbology": "]E0", "device_id": "s1", "context": "basket", "gtin": "04006381333931"});
    let mut order = event(3);
    order["type"] = json!("store.pickup.picking_started");
    order["journeystage"] = json!("service");
    order["subject"] = json!("O-9");
    order["data"] = json!({"order_id": "O-9", "staff_id": "anna"});
    c.fake.set_faults(Faults {
        reject_types: vec!["store.product.scanned".into()],
        reject_subjects: vec!["O-9".into()],
        ..Faults::default()
    });
    let results = c.results(&[event(1), scanned, order]).await;
    assert_eq!(results[0].0, "accepted");
    for r in &results[1..] {
        assert_eq!(r.0, "rejected");
        assert_eq!(r.1.as_deref(), Some("rejected by fault injection"));
    }
    assert_eq!(c.fake.stored_events().len(), 1);
}

#[tokio::test]
async fn a_listed_subject_makes_the_whole_batch_400() {
    let c = start(config()).await;
    let mut order = event(2);
    order["type"] = json!("store.pickup.picking_started");
    order["journeystage"] = json!("service");
    order["subject"] = json!("O-bad");
    order["data"] = json!({"order_id": "O-bad", "staff_id": "anna"});
    c.fake.set_faults(Faults {
        status_400_if_subject: vec!["O-bad".into()],
        ..Faults::default()
    });
    let resp = c.push(&key(), &[event(1), order]).send().await.unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "event 1").await;
    assert!(c.fake.stored_events().is_empty());
    assert_eq!(c.statuses(&[event(1)]).await, ["accepted"]);
}

#[tokio::test]
async fn count_only_counts_without_storing() {
    let c = start(FakeCentralConfig {
        count_only: true,
        ..config()
    })
    .await;
    let mut wire = 0;
    for round in 0..3 {
        let events: Vec<Value> = (1..=1000).map(|i| event(round * 1000 + i)).collect();
        let body = gzip(&serde_json::to_vec(&events).unwrap());
        wire += body.len() as u64;
        let resp = c
            .http
            .post(c.events_url())
            .bearer_auth(TOKEN)
            .header("content-type", BATCH_TYPE)
            .header("content-encoding", "gzip")
            .header("idempotency-key", key())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let answer: Value = resp.json().await.unwrap();
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), 1000);
        assert!(results
            .iter()
            .zip(&events)
            .all(|(r, e)| r["id"] == e["id"] && r["status"] == "accepted"));
    }
    assert!(c.fake.stored_events().is_empty());
    let stats = c.fake.stats();
    assert_eq!(stats.events_counted, 3000);
    assert_eq!(stats.wire_bytes, wire);
    assert_eq!(stats.accepted, 0);
    // Still authenticated.
    let resp = c
        .push_as(&key(), &[event(1)], "nope", BATCH_TYPE, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

fn order(id: &str, version: u64) -> Value {
    json!({
        "order_id": id, "version": version, "status": "open", "channel": "web",
        "created_at": "2026-11-25T09:00:00Z", "pickup_by": "2026-11-28T18:00:00Z",
        "items": [{"line_id": "1", "sku": "SKU-1", "name": "Kettle", "quantity": 1}],
        "customer": {"display_name": "Julia M."},
        "verification": {"code_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
    })
}

#[tokio::test]
async fn the_order_feed_pages_with_a_cursor_and_shows_new_changes_after_it() {
    let c = start(FakeCentralConfig {
        orders: (1..=5).map(|i| order(&format!("O-{i}"), 1)).collect(),
        ..config()
    })
    .await;
    let page = |cursor: Option<String>| {
        let mut path = format!("/v1/stores/{STORE}/pickup-orders?limit=2");
        if let Some(cursor) = cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let c = &c;
        async move {
            let resp = c.get(&path).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let body: Value = resp.json().await.unwrap();
            let ids: Vec<String> = body["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| format!("{}@{}", o["order_id"].as_str().unwrap(), o["version"]))
                .collect();
            (
                ids,
                body["next_cursor"].as_str().unwrap().to_owned(),
                body["has_more"].as_bool().unwrap(),
            )
        }
    };
    let (ids, cursor, more) = page(None).await;
    assert_eq!(
        (ids, more),
        (vec!["O-1@1".to_owned(), "O-2@1".to_owned()], true)
    );
    let (ids, cursor, more) = page(Some(cursor)).await;
    assert_eq!(
        (ids, more),
        (vec!["O-3@1".to_owned(), "O-4@1".to_owned()], true)
    );
    let (ids, cursor, more) = page(Some(cursor)).await;
    assert_eq!((ids, more), (vec!["O-5@1".to_owned()], false));
    let (ids, same, more) = page(Some(cursor.clone())).await;
    assert!(ids.is_empty() && !more);
    assert_eq!(same, cursor, "at the end the cursor stays put");

    c.fake.push_order(order("O-2", 2));
    let resp = c
        .http
        .post(c.url("/_control/orders"))
        .json(&order("O-6", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (ids, _, more) = page(Some(cursor)).await;
    assert_eq!(
        (ids, more),
        (vec!["O-2@2".to_owned(), "O-6@1".to_owned()], false)
    );

    let resp = c
        .get(&format!("/v1/stores/{STORE}/pickup-orders?limit=501"))
        .await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "`limit`").await;
    let resp = c
        .get(&format!("/v1/stores/{STORE}/pickup-orders?cursor=zz"))
        .await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "`cursor`").await;
}

#[tokio::test]
async fn a_pass_from_sign_pass_verifies_with_the_published_key() {
    let c = start(FakeCentralConfig {
        signing_key: Some([9u8; 32]),
        ..config()
    })
    .await;
    let resp = c.get(&format!("/v1/stores/{STORE}/pickup-keys")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let keys: Value = resp.json().await.unwrap();
    assert_eq!(keys, c.fake.public_keys());
    let key = &keys["keys"][0];
    assert_eq!(key["alg"], "Ed25519");
    let kid = key["kid"].as_str().unwrap();
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let verifying = VerifyingKey::from_bytes(&public).unwrap();

    let check = |pass: &str, order_id: &str, store_id: &str| {
        let rest = pass.strip_prefix("SEP1.").unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({"oid": order_id, "sid": store_id, "kid": kid, "exp": 1_900_000_000})
        );
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap()
            .try_into()
            .unwrap();
        verifying
            .verify(
                format!("SEP1.{payload}").as_bytes(),
                &Signature::from_bytes(&signature),
            )
            .expect("the signature verifies");
        let mut tampered = pass.to_owned();
        tampered.replace_range(5..6, if &pass[5..6] == "e" { "f" } else { "e" });
        let (signed, signature) = tampered.rsplit_once('.').unwrap();
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap()
            .try_into()
            .unwrap();
        assert!(verifying
            .verify(signed.as_bytes(), &Signature::from_bytes(&signature))
            .is_err());
    };
    check(&c.fake.sign_pass("O-7", STORE, 1_900_000_000), "O-7", STORE);

    let resp = c
        .http
        .post(c.url("/_control/passes"))
        .json(&json!({"order_id": "O-8", "exp": 1_900_000_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    check(body["pass"].as_str().unwrap(), "O-8", STORE);
}

#[tokio::test]
async fn the_control_api_sets_faults_and_shows_events_and_stats() {
    let c = start(config()).await;
    let resp = c
        .http
        .put(c.url("/_control/faults"))
        .json(&json!({"reject_types": ["store.loyalty.identified"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(c.fake.faults().reject_types, ["store.loyalty.identified"]);
    assert_eq!(c.statuses(&[event(1)]).await, ["rejected"]);
    let resp = c
        .http
        .put(c.url("/_control/faults"))
        .json(&json!({"fail_5xx": 100}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "fail_5xx").await;
    let resp = c
        .http
        .put(c.url("/_control/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let sent = [event(2), event(3)];
    assert_eq!(c.statuses(&sent).await, ["accepted", "accepted"]);
    let events: Value = c
        .http
        .get(c.url("/_control/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events, json!(sent));
    let stats: Value = c
        .http
        .get(c.url("/_control/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["accepted"], 2);
    assert_eq!(stats["rejected"], 1);
    assert_eq!(stats["requests"], 2);

    let resp = c.http.get(c.url("/nowhere")).send().await.unwrap();
    assert_problem(resp, StatusCode::NOT_FOUND, "no such route").await;
}

#[tokio::test]
async fn cancel_stops_the_server_even_with_a_hanging_request() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeCentral::new(FakeCentralConfig {
        faults: Faults {
            timeout_pct: 100,
            timeout_ms: 600_000,
            ..Faults::default()
        },
        ..config()
    });
    let cancel = CancellationToken::new();
    let addr = fake
        .clone()
        .spawn("127.0.0.1:0".parse().unwrap(), cancel.clone())
        .await
        .unwrap();
    let hanging = tokio::spawn(
        reqwest::Client::new()
            .get(format!("http://{addr}/v1/stores/{STORE}/pickup-keys"))
            .bearer_auth(TOKEN)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(20), fake.stopped())
        .await
        .expect("stopped within the grace period");
    let _ = tokio::time::timeout(Duration::from_secs(20), hanging).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
