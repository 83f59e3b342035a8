//! The local API against the real binary: every bad input gets its status
//! code and a problem+json message, and leaves the database unchanged.

use crate::common::{self, marker_event, Service};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Api {
    svc: Service,
    http: Client,
    admin: String,
    pos: String,
    staff: String,
    kiosk: String,
}

async fn setup() -> Api {
    let mut svc = Service::new("", "");
    let admin = svc.token("admin", "it");
    let pos = svc.token("pos", "till-1");
    let staff = svc.token("staff", "tablet-1");
    let kiosk = svc.token("kiosk", "kiosk-1");
    svc.start().await;
    Api {
        svc,
        http: common::http(),
        admin,
        pos,
        staff,
        kiosk,
    }
}

impl Api {
    async fn post_raw(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.svc.url("/api/v1/events"))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            assert_eq!(
                ctype, "application/problem+json",
                "{status} must be problem+json"
            );
            assert!(
                body["detail"].as_str().is_some_and(|d| d.len() > 10),
                "{status} has a message a person can act on: {body}"
            );
        }
        (status, body)
    }

    async fn post(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(
            Some(token),
            "application/json",
            body.to_string().into_bytes(),
            None,
        )
        .await
    }

    /// Posts and asserts the status and that no row was added.
    async fn refused(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
        want: StatusCode,
        detail_has: &str,
    ) {
        let before = self.svc.event_count();
        let (status, problem) = self.post_raw(token, content_type, body, None).await;
        assert_eq!(status, want, "body answer: {problem}");
        let detail = problem["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains(detail_has),
            "{detail:?} should mention {detail_has:?}"
        );
        assert_eq!(
            self.svc.event_count(),
            before,
            "a refused request stored nothing"
        );
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

const TOKEN43: &str = "q9xT3mJ0bq2bB5Kc1nO8ZrE4vW7yU6sA0dF2gH4jK5l";

/// After every refusal of a test: the good request still works, and it is
/// the first event stored (no refused request took a sequence).
async fn the_good_event_is_stored_first(api: &Api) {
    assert_eq!(api.svc.event_count(), 0);
    let (status, ack) = api.post(&api.pos, &marker_event("T-ok")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(ack["sequence"], "1");
    assert_eq!(api.svc.event_count(), 1);
}

// Every bad input gets its status and a problem+json message, and stores
// nothing: one test per kind of refusal.

#[tokio::test]
async fn malformed_json_and_a_missing_or_unknown_token_are_400_and_401() {
    let api = setup().await;
    let ok = marker_event("T-ok");
    let json = "application/json";

    // 400 malformed JSON
    api.refused(
        Some(&api.pos),
        json,
        b"{\"type\": ".to_vec(),
        StatusCode::BAD_REQUEST,
        "not valid JSON",
    )
    .await;
    // 401 missing, unknown
    api.refused(
        None,
        json,
        json_bytes(&ok),
        StatusCode::UNAUTHORIZED,
        "missing token",
    )
    .await;
    api.refused(
        Some("se_not-a-real-token"),
        json,
        json_bytes(&ok),
        StatusCode::UNAUTHORIZED,
        "unknown or revoked",
    )
    .await;
    the_good_event_is_stored_first(&api).await;
}

#[tokio::test]
async fn a_wrong_role_and_a_type_only_the_service_records_are_403() {
    let api = setup().await;
    let json = "application/json";

    // 403 wrong role, service-only type
    let loyalty = json!({"type": "store.loyalty.identified", "data": {"customer_token": TOKEN43, "method": "barcode", "device_id": "s1"}});
    api.refused(
        Some(&api.kiosk),
        json,
        json_bytes(&loyalty),
        StatusCode::FORBIDDEN,
        "kiosk",
    )
    .await;
    let ready = json!({"type": "store.pickup.ready", "data": {"order_id": "o1", "staff_id": "s", "location": "A1", "missing_lines": []}});
    api.refused(
        Some(&api.admin),
        json,
        json_bytes(&ready),
        StatusCode::FORBIDDEN,
        "recorded by the service itself",
    )
    .await;
    let device = json!({"type": "store.device.status", "data": {"device_id": "d", "kind": "scanner", "state": "online"}});
    api.refused(
        Some(&api.pos),
        json,
        json_bytes(&device),
        StatusCode::FORBIDDEN,
        "service itself",
    )
    .await;
    the_good_event_is_stored_first(&api).await;
}

#[tokio::test]
async fn too_large_a_body_or_batch_and_another_media_type_are_413_and_415() {
    let api = setup().await;
    let ok = marker_event("T-ok");
    let json = "application/json";

    // 413 body over 1 MiB; 1,001 events under 1 MiB
    let big = json!({"type": "store.feedback.submitted", "data": {"score": 9, "context": "pickup", "comment": "x".repeat(1_100_000)}});
    api.refused(
        Some(&api.pos),
        json,
        json_bytes(&big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    )
    .await;
    let small =
        json!({"type": "store.feedback.submitted", "data": {"score": 9, "context": "pickup"}});
    let many = Value::Array(vec![small.clone(); 1001]);
    let many = json_bytes(&many);
    assert!(many.len() < 1024 * 1024);
    api.refused(
        Some(&api.pos),
        json,
        many,
        StatusCode::PAYLOAD_TOO_LARGE,
        "1001 events",
    )
    .await;
    // 415 wrong content type
    api.refused(
        Some(&api.pos),
        "text/plain",
        json_bytes(&ok),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "application/json",
    )
    .await;
    the_good_event_is_stored_first(&api).await;
}

#[tokio::test]
async fn invalid_events_are_422_and_one_in_a_batch_stores_none_of_it() {
    let api = setup().await;
    let json = "application/json";

    // 422 unknown type, missing field, bad enum, clear card number, subject mismatch, bad time
    let cases = [
        (
            json!({"type": "store.teleport.used", "data": {}}),
            "unknown event type",
        ),
        (
            json!({"type": "store.feedback.submitted", "data": {"context": "pickup"}}),
            "`score` is required",
        ),
        (
            json!({"type": "store.feedback.submitted", "data": {"score": 9, "context": "beach"}}),
            "must be one of",
        ),
        (
            json!({"type": "store.loyalty.identified", "data": {"customer_token": "4111111111111111", "method": "barcode", "device_id": "s1"}}),
            "`data.customer_token` holds what looks like a payment card number",
        ),
        (
            json!({"type": "store.loyalty.identified", "data": {"customer_token": "4111 1111 1111 1111 1111 1111 1111 1111 111", "method": "barcode", "device_id": "s1"}}),
            "card number",
        ),
        (
            json!({"type": "store.loyalty.identified", "data": {"customer_token": "A".repeat(31) + "123456789012", "method": "barcode", "device_id": "s1"}}),
            "clear card numbers are never accepted",
        ),
        (
            json!({"type": "store.transaction.completed", "subject": "T-other", "data": {"transaction_id": "T1", "register_id": "r", "total_minor": 1, "currency": "EUR", "item_count": 1}}),
            "subject",
        ),
        (
            json!({"type": "store.feedback.submitted", "time": "yesterday", "data": {"score": 1, "context": "pickup"}}),
            "RFC 3339",
        ),
        (
            json!({"type": "store.feedback.submitted", "id": "mine", "data": {"score": 1, "context": "pickup"}}),
            "unknown field `id`",
        ),
        (json!([]), "no events"),
        (json!(42), "event object"),
    ];
    for (body, detail) in cases {
        api.refused(
            Some(&api.pos),
            json,
            json_bytes(&body),
            StatusCode::UNPROCESSABLE_ENTITY,
            detail,
        )
        .await;
    }
    // All-or-nothing: one bad event in an array stores none of it.
    let mixed = json!([marker_event("T-a"), {"type": "store.feedback.submitted", "data": {"score": 99, "context": "pickup"}}]);
    api.refused(
        Some(&api.pos),
        json,
        json_bytes(&mixed),
        StatusCode::UNPROCESSABLE_ENTITY,
        "event 1",
    )
    .await;
    the_good_event_is_stored_first(&api).await;
}

#[tokio::test]
async fn idempotent_retry_answers_the_original_and_mismatch_is_409() {
    let api = setup().await;
    let body = json_bytes(&json!([marker_event("T-1"), marker_event("T-2")]));
    let (s1, a1) = api
        .post_raw(
            Some(&api.pos),
            "application/json",
            body.clone(),
            Some("batch-0001"),
        )
        .await;
    assert_eq!(s1, StatusCode::CREATED);
    assert_eq!(a1.as_array().map(Vec::len), Some(2));
    let (s2, a2) = api
        .post_raw(Some(&api.pos), "application/json", body, Some("batch-0001"))
        .await;
    assert_eq!(s2, StatusCode::OK, "a repeat answers 200");
    assert_eq!(a1, a2, "with the original ids and sequences");
    assert_eq!(api.svc.event_count(), 2);
    let other = json_bytes(&json!([marker_event("T-3")]));
    let (s3, p3) = api
        .post_raw(
            Some(&api.pos),
            "application/json",
            other,
            Some("batch-0001"),
        )
        .await;
    assert_eq!(s3, StatusCode::CONFLICT, "{p3}");
    assert_eq!(api.svc.event_count(), 2);
    let (s4, _) = api
        .post_raw(
            Some(&api.pos),
            "application/json",
            json_bytes(&marker_event("x")),
            Some("short"),
        )
        .await;
    assert_eq!(s4, StatusCode::BAD_REQUEST, "keys are 8-128 characters");
    assert_eq!(api.svc.event_count(), 2);
}

/// Issue 10: a kiosk that posted a till's Idempotency-Key first got the
/// till's answer, and the till's real event then failed with 409.
#[tokio::test]
async fn an_idempotency_key_from_another_token_is_another_key() {
    let api = setup().await;
    let json = "application/json";
    let feedback = json_bytes(
        &json!({"type": "store.feedback.submitted", "data": {"score": 10, "context": "checkout"}}),
    );
    let sale = json_bytes(&marker_event("T-till-1"));
    let (s1, kiosk_ack) = api
        .post_raw(
            Some(&api.kiosk),
            json,
            feedback.clone(),
            Some("till-1-0001"),
        )
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{kiosk_ack}");
    let (s2, till_ack) = api
        .post_raw(Some(&api.pos), json, sale.clone(), Some("till-1-0001"))
        .await;
    assert_eq!(s2, StatusCode::CREATED, "the till's own event: {till_ack}");
    assert_ne!(kiosk_ack["id"], till_ack["id"]);
    assert_eq!(api.svc.event_count(), 2);
    // Each token's repeat gets its own original answer.
    let (s3, again) = api
        .post_raw(Some(&api.pos), json, sale, Some("till-1-0001"))
        .await;
    assert_eq!((s3, &again), (StatusCode::OK, &till_ack));
    let (s4, again) = api
        .post_raw(Some(&api.kiosk), json, feedback, Some("till-1-0001"))
        .await;
    assert_eq!((s4, &again), (StatusCode::OK, &kiosk_ack));
    assert_eq!(api.svc.event_count(), 2);
    let types: Vec<String> = api
        .svc
        .db()
        .prepare("SELECT type FROM events ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        types,
        ["store.feedback.submitted", "store.transaction.completed"]
    );
}

/// Issue 10: `0000-01-01T00:00:00+23:59` was stored as year -1, which
/// central refuses, so the event stayed quarantined for good.
#[tokio::test]
async fn an_event_time_outside_the_years_2000_to_9999_utc_is_refused() {
    let api = setup().await;
    let at = |time: &str| {
        json_bytes(
            &json!({"type": "store.feedback.submitted", "time": time, "data": {"score": 7, "context": "pickup"}}),
        )
    };
    for (time, detail) in [
        ("0000-01-01T00:00:00+23:59", "2000 to 9999"),
        ("1999-12-31T23:59:59Z", "2000 to 9999"),
        ("9999-12-31T23:59:59-01:00", "2000 to 9999"),
        ("10000-01-01T00:00:00Z", "time"),
    ] {
        api.refused(
            Some(&api.pos),
            "application/json",
            at(time),
            StatusCode::UNPROCESSABLE_ENTITY,
            detail,
        )
        .await;
    }
    let (status, ack) = api
        .post_raw(
            Some(&api.pos),
            "application/json",
            at("9999-12-31T23:59:59Z"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ack}");
    let stored: String = api
        .svc
        .db()
        .query_row("SELECT time FROM events", [], |r| r.get(0))
        .expect("time");
    assert_eq!(stored, "9999-12-31T23:59:59.000Z");

    // A reservation's deadline past 9999 in UTC is refused too: it used to
    // reach the writer thread, whose time formatting panics on it.
    let r = api
        .http
        .post(api.svc.url("/api/v1/reservations"))
        .bearer_auth(&api.staff)
        .json(&json!({"customer": {"display_name": "Julia M."}, "pickup_by": "9999-12-31T23:59:59-01:00",
                      "items": [{"sku": "S1", "name": "Sofa", "quantity": 1}]}))
        .send()
        .await
        .expect("reserve");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = api.post(&api.pos, &marker_event("T-after")).await;
    assert_eq!(status, StatusCode::CREATED, "the writer is still there");
}

#[tokio::test]
async fn roles_tokens_and_reading_the_log() {
    let api = setup().await;
    // kiosk may post feedback; pos may post; neither may read.
    let feedback = json!({"type": "store.feedback.submitted", "data": {"score": 10, "context": "pickup", "order_id": "W-1"}});
    assert_eq!(api.post(&api.kiosk, &feedback).await.0, StatusCode::CREATED);
    for i in 0..5 {
        assert_eq!(
            api.post(&api.pos, &marker_event(&format!("T-{i}"))).await.0,
            StatusCode::CREATED
        );
    }
    let get = |token: &str, query: &str| {
        api.http
            .get(api.svc.url(&format!("/api/v1/events{query}")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        get(&api.pos, "").await.expect("get").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&api.kiosk, "").await.expect("get").status(),
        StatusCode::FORBIDDEN
    );
    let page: Value = get(&api.staff, "?after=1&limit=2")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["sequence"], "2");
    assert_eq!(page["next_after"], "3");
    let first: Value = get(&api.admin, "?limit=1")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let e = &first["events"][0];
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["source"], "urn:store-edge:test-store-01");
    assert_eq!(e["type"], "store.feedback.submitted");
    assert_eq!(e["journeystage"], "loyalty");
    assert_eq!(e["subject"], "W-1");
    assert_eq!(e["datacontenttype"], "application/json");
    assert_eq!(e["time"], e["recordedat"]);
    assert_eq!(e["id"].as_str().map(|s| &s[14..15]), Some("7"), "UUIDv7");
    let typed: Value = get(&api.staff, "?type=store.feedback.submitted")
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(typed["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(typed["next_after"], Value::Null);
    assert_eq!(
        get(&api.staff, "?limit=0").await.expect("get").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&api.staff, "?after=x").await.expect("get").status(),
        StatusCode::BAD_REQUEST
    );

    // Revocation takes effect on the next request.
    let out = api.svc.cli(&["token", "revoke", "till-1"]);
    assert!(out.status.success());
    let (status, _) = api.post(&api.pos, &marker_event("T-after-revoke")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Cookie sessions are accepted like bearer tokens.
    let r = api
        .http
        .get(api.svc.url("/api/v1/events?limit=1"))
        .header(
            "cookie",
            format!("theme=dark; store_edge_session={}", api.staff),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn open_routes_health_metrics_openapi() {
    let api = setup().await;
    let get = |path: &str| api.http.get(api.svc.url(path)).send();
    assert_eq!(
        get("/healthz").await.expect("healthz").status(),
        StatusCode::OK
    );
    let ready: Value = get("/readyz")
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ready,
        json!({"ready": true, "quota_reached": false, "disk_full": false})
    );
    api.post(&api.pos, &marker_event("T-m")).await;
    let metrics = get("/metrics")
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for name in [
        "store_edge_events_ingested_total 1",
        "store_edge_commit_duration_seconds_bucket",
        "store_edge_commit_group_size_bucket",
        "store_edge_db_size_bytes",
        "store_edge_events_unsent",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    let doc: Value = get("/api/openapi.json")
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"].as_str().map(|s| &s[..2]), Some("3."));
    for path in ["/api/v1/events", "/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["paths"]["/api/v1/events"]["post"]["responses"]["507"].is_object());
    let r = get("/api/v1/nothing").await.expect("404");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Raises this test process's soft open-files limit to the hard one (the
/// slow-client test holds 1,500 sockets).
fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// Reads until the server closes the connection (EOF or reset).
async fn closed_by_server(s: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Issue 10, item 2: axum was served without timers or caps, and 4,192
/// connections that never finished their headers held every file
/// descriptor: `/healthz` and the tills stopped answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_no_longer_take_the_api_offline() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    let limit = raise_open_files();
    assert!(
        limit >= 2000,
        "this test needs 2,000 open files; the hard limit is {limit}"
    );
    let mut svc = Service::new("", "");
    svc.start().await;
    let server: std::net::SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();

    // A keep-alive connection that made one request and then idles.
    let mut idle = tokio::net::TcpStream::connect(server).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: store\r\n\r\n")
        .await
        .unwrap();

    // 1,500 requests from one address that never finish their headers.
    let mut slow = Vec::new();
    for _ in 0..1500 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let Ok(mut s) = socket.connect(server).await else {
            continue;
        };
        // A refused connection may already be closed: writing may fail.
        let _ = s
            .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: store\r\nX-Slow: ")
            .await;
        slow.push(s);
    }
    let opened = Instant::now();
    assert!(slow.len() >= 1000, "only {} connections opened", slow.len());

    // Meanwhile another client is served.
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(svc.url("/healthz"))
        .send()
        .await
        .expect("healthz while 1,500 slow clients are connected");
    assert_eq!(fresh.status(), StatusCode::OK);

    // Every slow connection and the idle one is closed by the server.
    let all = async {
        for s in slow.iter_mut() {
            closed_by_server(s).await;
        }
        closed_by_server(&mut idle).await;
    };
    tokio::time::timeout(
        Duration::from_secs(60).saturating_sub(opened.elapsed()),
        all,
    )
    .await
    .expect("every half-sent and idle connection closed by the server within 60 s");

    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("store_edge_api_connections_refused_total{cap=\"per_client\"}"),
        "{metrics}"
    );
    let log = svc.log_text();
    let said: Vec<_> = log
        .lines()
        .filter(|l| l.contains("API connection cap reached"))
        .collect();
    assert_eq!(said.len(), 1, "said once a minute: {said:?}");
    assert!(said[0].contains("127.0.0.2"), "{}", said[0]);
}

/// Opens `GET /api/v1/stream` with `token` and waits for its headers.
async fn open_stream(api: &Api, token: &str) -> reqwest::Response {
    let r = api
        .http
        .get(api.svc.url("/api/v1/stream"))
        .bearer_auth(token)
        .send()
        .await
        .expect("stream");
    assert_eq!(r.status(), StatusCode::OK);
    r
}

/// Waits (up to 30 s) until the server ends `stream`.
async fn ended_by_server(stream: &mut reqwest::Response) {
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream was not closed within 30 s");
}

/// Issue 10, item 3: the live stream checked its token once, so a lost
/// tablet's open stream kept delivering orders after `token revoke`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_no_longer_keeps_its_live_stream() {
    let api = setup().await;
    let mut stream = open_stream(&api, &api.staff).await;
    let mut other = open_stream(&api, &api.pos).await;
    let out = api.svc.cli(&["token", "revoke", "tablet-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ended_by_server(&mut stream).await;
    let again = api
        .http
        .get(api.svc.url("/api/v1/stream"))
        .bearer_auth(&api.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let metrics = api.svc.metrics().await;
    assert!(
        metrics.contains("store_edge_api_streams_closed_total{why=\"revoked\"} 1"),
        "{metrics}"
    );
    // The till's stream, whose token is valid, is still open.
    let still = tokio::time::timeout(std::time::Duration::from_millis(1500), other.chunk()).await;
    assert!(
        !matches!(still, Ok(Ok(None)) | Ok(Err(_))),
        "a valid token's stream was closed"
    );
}

/// Issue 10, item 2: at most 4 live streams per token; a new one closes
/// the token's oldest, so a tablet that roamed Wi-Fi is never locked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifth_stream_of_one_token_closes_its_oldest_instead_of_piling_up() {
    let api = setup().await;
    let mut first = open_stream(&api, &api.staff).await;
    let mut rest = Vec::new();
    for _ in 0..4 {
        rest.push(open_stream(&api, &api.staff).await);
    }
    ended_by_server(&mut first).await;
    let metrics = api.svc.metrics().await;
    assert!(
        metrics.contains("store_edge_api_streams_closed_total{why=\"replaced\"} 1"),
        "{metrics}"
    );
}

/// One POST of the queue test: the marker, the status, `Retry-After`, the
/// body (the ack or the problem).
type Answer = (String, StatusCode, Option<String>, Value);

/// Issue 11: the writer's queue is bounded. With the writer stalled (the
/// debug build's test-only gate: a disk that stops answering) and its
/// queue full, a request waits briefly, then gets 503 `overloaded` with
/// `Retry-After` and nothing is recorded; once the writer goes on, every
/// event answered 201 is stored and none answered 503 is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_503_with_retry_after_and_stores_exactly_the_201s() {
    let mut svc = Service::new("", "");
    let pos = svc.token("pos", "till-1");
    let gate = svc.dir.path().join("writer-gate");
    let gate_env = gate.display().to_string();
    svc.spawn(&[
        ("STORE_EDGE_TEST_WRITER_QUEUE", "4"),
        ("STORE_EDGE_TEST_WRITER_GATE", &gate_env),
    ]);
    svc.wait_ready().await;
    std::fs::write(&gate, b"").expect("close the gate");

    // One op held by the writer, four queued: 24 requests overflow it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Answer>();
    for i in 0..24 {
        let (tx, http, url, pos) = (
            tx.clone(),
            common::http(),
            svc.url("/api/v1/events"),
            pos.clone(),
        );
        tokio::spawn(async move {
            let marker = format!("Q-{i}");
            let r = http
                .post(url)
                .bearer_auth(&pos)
                .json(&marker_event(&marker))
                .send()
                .await
                .expect("post");
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = r.status();
            let _ = tx.send((
                marker,
                status,
                retry_after,
                r.json().await.unwrap_or(Value::Null),
            ));
        });
    }
    drop(tx);
    let mut answers = Vec::new();
    let started = std::time::Instant::now();
    while !answers
        .iter()
        .any(|(_, s, _, _): &Answer| *s == StatusCode::SERVICE_UNAVAILABLE)
    {
        assert!(started.elapsed() < common::DEADLINE, "no 503: {answers:?}");
        if let Ok(Some(a)) =
            tokio::time::timeout(std::time::Duration::from_secs(1), rx.recv()).await
        {
            answers.push(a);
        }
    }
    // The disk answers again: the queue drains.
    std::fs::remove_file(&gate).expect("open the gate");
    while let Some(a) = rx.recv().await {
        answers.push(a);
    }
    assert_eq!(answers.len(), 24);

    let mut created = std::collections::BTreeSet::new();
    for (marker, status, retry_after, body) in &answers {
        match *status {
            StatusCode::CREATED => {
                assert!(body["id"].is_string(), "{body}");
                created.insert(marker.clone());
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
                assert_eq!(body["type"], "urn:store-edge:problem:overloaded");
                assert_eq!(body["reason"], "overloaded");
            }
            other => panic!("{marker}: {other} {body}"),
        }
    }
    assert!(
        created.len() >= 5,
        "the held and the queued requests are recorded"
    );
    let stored: std::collections::BTreeSet<String> = svc
        .db()
        .prepare("SELECT json_extract(data, '$.transaction_id') FROM events")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(stored, created, "stored: exactly the events answered 201");
    assert!(svc.log_text().contains("queue is full"));
}
