//! Sync end to end: the real edge binary against the fake central as its
//! own process. Waits are generous deadlines, never timing assertions.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{self, marker_event, order_doc, sequence, FakeCentralProc, Rng, Service};
use serde_json::{json, Value};

/// Posts `n` marker events in batches of 100; returns the acknowledged ids.
async fn post_markers(svc: &Service, token: &str, prefix: &str, n: usize) -> Vec<String> {
    let http = common::http();
    let mut acked = Vec::new();
    for chunk in 0..n.div_ceil(100) {
        let body = Value::Array(
            (0..100.min(n - chunk * 100))
                .map(|i| marker_event(&format!("{prefix}-{chunk}-{i}")))
                .collect(),
        );
        if let Ok(r) = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
        {
            if r.status() == 201 {
                let acks: Vec<Value> = r.json().await.expect("acks");
                acked.extend(
                    acks.iter()
                        .map(|a| a["id"].as_str().expect("id").to_owned()),
                );
            }
        }
    }
    acked
}

/// Central holds each of `acked` exactly once, and the sequences it holds
/// are gap-free from 1.
fn assert_exactly_once(central: &[Value], acked: &[String]) {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for e in central {
        *by_id.entry(e["id"].as_str().expect("id")).or_default() += 1;
    }
    assert!(
        by_id.values().all(|n| *n == 1),
        "central holds an event twice"
    );
    for id in acked {
        assert_eq!(
            by_id.get(id.as_str()),
            Some(&1),
            "acknowledged event {id} missing at central"
        );
    }
    let mut seqs: Vec<u64> = central.iter().map(sequence).collect();
    seqs.sort_unstable();
    for (i, s) in seqs.iter().enumerate() {
        assert_eq!(*s, i as u64 + 1, "gap-free sequence at central");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_every_acknowledged_event_reaches_central_exactly_once() {
    let fake = FakeCentralProc::start(&[], &[]).await;
    fake.set_faults(json!({
        "fail_5xx_pct": 30, "timeout_pct": 10, "timeout_ms": 1500,
        "drop_after_store_pct": 10, "status_429_pct": 5, "retry_after_s": 1
    }))
    .await;
    let mut svc = Service::new("", &fake.edge_sections("batch_max_events = 500"));
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let mut rng = Rng::seeded();
    let mut acked = Vec::new();
    for round in 0..10 {
        acked.extend(post_markers(&svc, &token, &format!("r{round}"), 2000).await);
        tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        svc.kill9();
        svc.start().await;
    }
    assert!(
        acked.len() >= 19_000,
        "the API acknowledged {} of 20,000",
        acked.len()
    );
    // Central recovers; everything drains.
    fake.set_faults(json!({})).await;
    let status = svc
        .wait_sync("all delivered", |s| {
            s["unsent"] == 0 && s["quarantined"] == 0
        })
        .await;
    assert_eq!(status["reachable"], true);
    let central = fake.events().await;
    assert_eq!(
        central.len(),
        svc.event_count() as usize,
        "central holds every recorded event"
    );
    assert_exactly_once(&central, &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_event_is_quarantined_passed_and_delivered_after_requeue() {
    let fake = FakeCentralProc::start(&[], &[]).await;
    fake.set_faults(json!({"reject_subjects": ["T-bad"], "status_400_if_subject": ["T-poison"]}))
        .await;
    let mut svc = Service::new("", &fake.edge_sections(""));
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let http = common::http();
    let post = |body: Value| {
        let req = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&body);
        async move { assert_eq!(req.send().await.expect("post").status(), 201) }
    };
    post(json!([
        marker_event("T-1"),
        marker_event("T-2"),
        marker_event("T-bad"),
        marker_event("T-3")
    ]))
    .await;
    let status = svc
        .wait_sync("the bad event is quarantined", |s| {
            s["unsent"] == 0 && s["quarantined"] == 1
        })
        .await;
    let q = &status["quarantine"][0];
    assert!(
        q["reason"].as_str().is_some_and(|r| r.contains("rejected")),
        "{q}"
    );
    // Events behind it were delivered.
    let subjects: Vec<String> = fake
        .events()
        .await
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(subjects, ["T-1", "T-2", "T-3"]);

    // A batch answered 400 is bisected down to its poison event.
    let mut batch: Vec<Value> = (0..20).map(|i| marker_event(&format!("P-{i}"))).collect();
    batch[13] = marker_event("T-poison");
    post(Value::Array(batch)).await;
    let status = svc
        .wait_sync("the poison event is isolated", |s| {
            s["unsent"] == 0 && s["quarantined"] == 2
        })
        .await;
    let reasons: Vec<&str> = status["quarantine"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|q| q["reason"].as_str())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("400")), "{reasons:?}");
    assert_eq!(fake.events().await.len(), 3 + 19);
    assert!(svc.log_text().contains("bisecting"));

    // Central is fixed; an operator requeues.
    fake.set_faults(json!({})).await;
    let out = svc.cli(&["sync", "requeue", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    svc.wait_sync("requeued events delivered", |s| {
        s["unsent"] == 0 && s["quarantined"] == 0
    })
    .await;
    let central = fake.events().await;
    assert_eq!(central.len(), 24);
    assert_exactly_once(&central, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_day_backlog_of_300k_drains_within_64_mb() {
    let fake = FakeCentralProc::start(&[], &[]).await;
    let mut svc = Service::new("", "");
    svc.token("pos", "till-1"); // creates and migrates the database
                                // Three days of a busy store while central was down: 300,000 events.
    {
        let db = rusqlite::Connection::open(&svc.db).expect("open");
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; BEGIN;")
            .expect("begin");
        let three_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(3);
        let mut stmt = db
            .prepare("INSERT INTO event_log (seq, id, type, subject, time, recorded, data) VALUES (?1, ?2, (SELECT code FROM event_types WHERE name = 'store.transaction.completed'), ?3, ?4, ?4, ?5)")
            .expect("prepare");
        for seq in 1..=300_000i64 {
            let at = three_days_ago + time::Duration::seconds(seq / 2);
            let at = (at.unix_timestamp_nanos() / 1_000_000) as i64;
            let data = json!({"transaction_id": format!("T-{seq}"), "register_id": "till-1", "total_minor": 1299, "currency": "EUR", "item_count": 2});
            stmt.execute(rusqlite::params![
                seq,
                &uuid::Uuid::now_v7().as_bytes()[..],
                format!("T-{seq}"),
                at,
                data.to_string()
            ])
            .expect("insert");
        }
        drop(stmt);
        db.execute_batch("UPDATE meta SET value = '300000' WHERE key = 'last_seq'; COMMIT;")
            .expect("commit");
    }
    svc.write_config("", &fake.edge_sections("batch_max_events = 2000"));
    svc.start().await;
    let pid = svc.pid();
    svc.wait_sync("backlog drained", |s| s["unsent"] == 0).await;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let hwm_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    eprintln!("peak RSS while draining 300,000 events: {hwm_kib} KiB");
    assert!(
        hwm_kib <= 64 * 1024,
        "peak RSS {hwm_kib} KiB must stay within 64 MiB"
    );
    let central = fake.events().await;
    assert_eq!(central.len(), 300_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downlink_pages_with_an_atomic_cursor_through_kill_9() {
    let orders: Vec<Value> = (0..250)
        .map(|i| order_doc(&format!("W-{i:04}"), 1, "open"))
        .collect();
    let fake = FakeCentralProc::start(&orders, &[]).await;
    // Slow pages so that kill -9 lands between and during them.
    fake.set_faults(json!({"delay_ms": 150})).await;
    let mut svc = Service::new("", &fake.edge_sections(""));
    svc.token("staff", "tablet-1");
    svc.start().await;
    let mut rng = Rng::seeded();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100 + rng.below(300))).await;
        svc.kill9();
        svc.start().await;
    }
    fake.set_faults(json!({})).await;
    let wait_for = |pred: &dyn Fn(&rusqlite::Connection) -> bool| {
        let started = std::time::Instant::now();
        loop {
            if pred(&svc.db()) {
                break;
            }
            assert!(
                started.elapsed() < common::DEADLINE,
                "downlink did not get there; log:\n{}",
                svc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let count = |db: &rusqlite::Connection, sql: &str| -> i64 {
        db.query_row(sql, [], |r| r.get(0)).expect("count")
    };
    wait_for(&|db| count(db, "SELECT count(*) FROM pickup_orders") == 250);
    let db = svc.db();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE type = 'store.pickup.received'"
        ),
        250,
        "each order recorded as received exactly once"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT subject) FROM events WHERE type = 'store.pickup.received'"
        ),
        250
    );
    // Versions only go up; a cancellation version is stored.
    fake.push_order(order_doc("W-0007", 3, "cancelled")).await;
    fake.push_order(order_doc("W-0007", 2, "open")).await;
    wait_for(&|db| {
        count(
            db,
            "SELECT count(*) FROM pickup_orders WHERE order_id = 'W-0007' AND version = 3",
        ) == 1
    });
    tokio::time::sleep(Duration::from_secs(2)).await; // another poll has run past the older version
    let db = svc.db();
    let (version, status): (i64, String) = db
        .query_row(
            "SELECT version, central_status FROM pickup_orders WHERE order_id = 'W-0007'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("order");
    assert_eq!((version, status.as_str()), (3, "cancelled"));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE type = 'store.pickup.received'"
        ),
        250
    );
    // The API shows central's document with its status.
    let admin = svc.token("admin", "it");
    let order: Value = common::http()
        .get(svc.url("/api/v1/pickups/W-0007"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(order["central_status"], "cancelled");
    assert_eq!(order["version"], 3);
    assert!(
        order.get("verification").is_none(),
        "the code hash is not shown"
    );
    let keys: i64 = count(&db, "SELECT count(*) FROM pickup_keys");
    assert!(keys >= 1, "pickup keys cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_removes_sent_events_never_unsent_and_clears_the_quota() {
    let mut fake = FakeCentralProc::start(&[], &[]).await;
    fake.set_faults(json!({"fail_5xx_pct": 100})).await;
    let mut svc = Service::new(
        "max_size_mb = 2\nretain_sent_days = 0",
        &fake.edge_sections(""),
    );
    let token = svc.token("pos", "till-1");
    svc.start().await;
    // Central down: fill up to the quota; nothing may be pruned.
    let http = common::http();
    let mut stored = 0usize;
    let mut hit_quota = false;
    for chunk in 0..400 {
        let body = Value::Array(
            (0..100)
                .map(|i| marker_event(&format!("Q-{chunk}-{i}")))
                .collect(),
        );
        let r = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("post");
        if r.status() == 507 {
            hit_quota = true;
            break;
        }
        assert_eq!(r.status(), 201);
        stored += 100;
    }
    assert!(hit_quota, "the quota was reached");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        svc.event_count() as usize,
        stored,
        "unsent events are never pruned"
    );
    // Central comes back: sent events are pruned, room returns.
    fake.set_faults(json!({})).await;
    svc.wait_sync("delivered", |s| s["unsent"] == 0).await;
    let started = std::time::Instant::now();
    loop {
        let r = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&marker_event("after-prune"))
            .send()
            .await
            .expect("post");
        if r.status() == 201 {
            break;
        }
        assert_eq!(r.status(), 507);
        assert!(
            started.elapsed() < common::DEADLINE,
            "the quota error did not clear"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let delivered_q = fake
        .events()
        .await
        .iter()
        .filter(|e| e["subject"].as_str().is_some_and(|s| s.starts_with("Q-")))
        .count();
    assert_eq!(
        delivered_q, stored,
        "every pruned event had reached central"
    );
    fake.stop();
    // Room can return first by the WAL shrinking; the prune runs on the
    // writer's next tick.
    let started = std::time::Instant::now();
    while svc.event_count() >= stored as i64 {
        assert!(
            started.elapsed() < common::DEADLINE,
            "sent events were pruned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_wakes_a_sleeping_uplink_and_metrics_show_sync() {
    let fake = FakeCentralProc::start(&[], &[]).await;
    // 401 makes the uplink wait the backoff cap: 10 minutes here.
    fake.set_faults(json!({"unauthorized": true})).await;
    let mut svc = Service::new(
        "",
        &fake
            .edge_sections("")
            .replace("backoff_cap_s = 1", "backoff_cap_s = 600"),
    );
    let token = svc.token("pos", "till-1");
    let admin = svc.token("admin", "it");
    let staff = svc.token("staff", "tablet");
    svc.start().await;
    let http = common::http();
    let r = http
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&marker_event("T-now"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let status = svc
        .wait_sync("the token alarm is raised", |s| {
            s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("ALARM"))
        })
        .await;
    assert_eq!(status["reachable"], false);
    assert_eq!(
        status["unsent"], 1,
        "events are kept while central refuses the token"
    );
    assert!(svc
        .log_text()
        .contains("central refuses this store's token"));
    fake.set_faults(json!({})).await;
    // Without "sync now" the uplink would sleep 10 minutes.
    let out = svc.cli(&["sync", "now"]);
    assert!(out.status.success());
    svc.wait_sync("delivered after sync now", |s| {
        s["unsent"] == 0 && s["reachable"] == true
    })
    .await;
    // The API form: admin only.
    let now = |t: &str| http.post(svc.url("/api/v1/sync/now")).bearer_auth(t).send();
    assert_eq!(now(&staff).await.expect("now").status(), 403);
    assert_eq!(now(&admin).await.expect("now").status(), 202);
    let api_status: Value = http
        .get(svc.url("/api/v1/sync"))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("sync")
        .json()
        .await
        .expect("json");
    for key in [
        "reachable",
        "since",
        "unsent",
        "oldest_unsent_age_s",
        "last_success",
        "last_error",
        "quarantined",
        "clock_skew_s",
        "cursor_age_s",
    ] {
        assert!(
            api_status.get(key).is_some(),
            "{key} in GET /api/v1/sync: {api_status}"
        );
    }
    assert!(
        api_status["clock_skew_s"]
            .as_i64()
            .is_some_and(|s| s.abs() <= 5),
        "skew from central's Date header: {api_status}"
    );
    let bad = http
        .post(svc.url("/api/v1/sync/requeue"))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .expect("requeue");
    assert_eq!(bad.status(), 422);
    let metrics = svc.metrics().await;
    for name in [
        "store_edge_events_unsent 0",
        "store_edge_oldest_unsent_age_seconds",
        "store_edge_sync_batches_total",
        "store_edge_sync_retries_total{cause=\"unauthorized\"}",
        "store_edge_sync_wire_bytes_total",
        "store_edge_quarantine_events 0",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_config_runs_with_the_builtin_fake_central() {
    let demo = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml"),
    )
    .expect("demo.toml");
    assert!(
        demo.contains("fake = true"),
        "the demo uses the built-in fake central"
    );
    let mut svc = Service::new(
        "",
        "[central]\nfake = true\n\n[sync]\npoll_interval_s = 1\n",
    );
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let r = common::http()
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&marker_event("T-demo"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    svc.wait_sync("demo events delivered and orders received", |s| {
        s["unsent"] == 0 && s["cursor_age_s"].is_u64()
    })
    .await;
    let orders: i64 = svc
        .db()
        .query_row("SELECT count(*) FROM pickup_orders", [], |r| r.get(0))
        .expect("orders");
    assert!(orders >= 2, "the demo orders arrived");
    assert!(svc.log_text().contains("built-in fake central running"));
}

/// Serves `router` on a free loopback port in this test process.
async fn serve_locally(router: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    port
}

/// The value of one sample in Prometheus text, 0 when absent.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_central_is_not_followed_and_the_events_stay_unsent() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    // Another host that would happily take the batch, counting every request.
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let other = serve_locally(axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::OK, "{\"results\":[]}")
        }
    }))
    .await;
    // "Central" sends everything there with a 307 (method and body kept).
    let central = serve_locally(axum::Router::new().fallback(
        move |uri: axum::http::Uri| async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(
                    axum::http::header::LOCATION,
                    format!("http://127.0.0.1:{other}{uri}"),
                )],
            )
        },
    ))
    .await;

    let mut svc = Service::new("", "");
    let token_file = svc.dir.path().join("central.token");
    common::write_secret(&token_file, "central-token-for-tests-0123456789\n");
    svc.write_config(
        "",
        &format!(
            "[central]\nurl = \"http://127.0.0.1:{central}\"\ntoken_file = \"{}\"\n\n[sync]\nrequest_timeout_s = 2\nbackoff_base_ms = 20\nbackoff_cap_s = 1\npoll_interval_s = 1\n",
            token_file.display()
        ),
    );
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let r = common::http()
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&marker_event("T-redirect"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);

    let redirects = "store_edge_sync_retries_total{cause=\"redirect\"}";
    let started = std::time::Instant::now();
    loop {
        let m = svc.metrics().await;
        if hits.load(Ordering::SeqCst) > 0 || sample(&m, redirects) >= 3 {
            break;
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "no redirect retries counted:\n{m}\nlog:\n{}",
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed to another host"
    );
    let status = svc.sync_status();
    assert_eq!(status["unsent"], 1, "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("307")),
        "the failure is reported: {status}"
    );
}

/// Waits until the running service's `/metrics` shows `want` unsent events.
async fn wait_unsent_gauge(svc: &Service, want: u64, what: &str) {
    let started = std::time::Instant::now();
    loop {
        let metrics = svc.metrics().await;
        if sample(&metrics, "store_edge_events_unsent") == want {
            return;
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "{what}: /metrics never showed {want} unsent:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 11: `store-edge sync requeue` writes beside the running
/// service's writer. Its unsent gauge stayed 0 until a restart; now the
/// writer sees the other connection's commit, counts again and wakes the
/// uplink, which delivers the requeued events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeue_from_the_command_line_is_counted_and_delivered_by_the_running_service() {
    let fake = FakeCentralProc::start(&[], &[]).await;
    fake.set_faults(json!({"reject_subjects": ["T-bad-1", "T-bad-2"]}))
        .await;
    let mut svc = Service::new("", &fake.edge_sections(""));
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let r = common::http()
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&json!([
            marker_event("T-1"),
            marker_event("T-bad-1"),
            marker_event("T-bad-2")
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    svc.wait_sync("two events quarantined", |s| {
        s["unsent"] == 0 && s["quarantined"] == 2
    })
    .await;
    wait_unsent_gauge(&svc, 0, "after the quarantine").await;

    // Central now refuses the store's token, so the requeued events stay
    // unsent long enough to be seen on the gauge.
    fake.set_faults(json!({"unauthorized": true})).await;
    let out = svc.cli(&["sync", "requeue", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_unsent_gauge(&svc, 2, "the service counts the CLI's requeue").await;

    fake.set_faults(json!({})).await;
    wait_unsent_gauge(&svc, 0, "the requeued events are delivered").await;
    let mut subjects: Vec<String> = fake
        .events()
        .await
        .iter()
        .map(|e| e["subject"].as_str().unwrap_or("").to_owned())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["T-1", "T-bad-1", "T-bad-2"]);
    assert!(svc.child.is_some(), "the same service, never restarted");
}
