//! Invariant 1 end to end: an event answered 201 is on disk. 64 clients
//! post while the real binary is `kill -9`ed at random moments, and while it
//! is stopped with SIGTERM.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{self, marker_event, Rng, Service};

const CLIENTS: usize = 64;

/// Acknowledged markers and every marker ever attempted.
#[derive(Default)]
struct Ledger {
    acked: Vec<String>,
    attempted: usize,
}

/// 64 clients posting until `stop`; every 5th request is a batch of 5.
/// A marker is never sent twice, so a reply lost in a crash cannot make the
/// same marker appear twice on its own.
fn spawn_clients(
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|client| {
            let (url, token, stop, ledger) =
                (url.clone(), token.clone(), stop.clone(), ledger.clone());
            tokio::spawn(async move {
                let http = common::http_builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("client");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let markers: Vec<String> = if n % 5 == 0 {
                        (0..5).map(|i| format!("c{client}-{n}-{i}")).collect()
                    } else {
                        vec![format!("c{client}-{n}")]
                    };
                    let body = if markers.len() == 1 {
                        marker_event(&markers[0])
                    } else {
                        serde_json::Value::Array(markers.iter().map(|m| marker_event(m)).collect())
                    };
                    ledger.lock().expect("ledger").attempted += markers.len();
                    let sent = http.post(&url).bearer_auth(&token).json(&body).send().await;
                    match sent {
                        Ok(r) if r.status() == 201 => {
                            // The body must be read too: 201 with its ids.
                            if r.text().await.is_ok() {
                                ledger.lock().expect("ledger").acked.extend(markers);
                            }
                        }
                        Ok(r) => assert!(
                            r.status().is_server_error(),
                            "unexpected status {} during crash test",
                            r.status()
                        ),
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect()
}

/// Checks the database after the run: every acked marker exactly once, no
/// marker twice, sequences gap-free from 1, integrity ok.
fn verify(svc: &Service, ledger: &Ledger) {
    let db = svc.db();
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut stmt = db
        .prepare("SELECT json_extract(data, '$.transaction_id'), count(*) FROM events GROUP BY 1")
        .expect("prepare");
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("query")
    {
        let (marker, n) = row.expect("row");
        counts.insert(marker, n);
    }
    for (marker, n) in &counts {
        assert_eq!(*n, 1, "marker {marker} stored {n} times");
    }
    for marker in &ledger.acked {
        assert_eq!(
            counts.get(marker),
            Some(&1),
            "acknowledged event {marker} is missing"
        );
    }
    let (count, min, max): (i64, i64, i64) = db
        .query_row("SELECT count(*), min(seq), max(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("seq range");
    assert_eq!(min, 1, "sequences start at 1");
    assert_eq!(
        count, max,
        "sequences are gap-free: {count} events, max sequence {max}"
    );
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
    eprintln!(
        "{} attempted, {} acknowledged, {} stored",
        ledger.attempted,
        ledger.acked.len(),
        count
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_random_moments_loses_no_acknowledged_event() {
    let mut svc = Service::new("", "");
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients = spawn_clients(
        svc.url("/api/v1/events"),
        token,
        stop.clone(),
        ledger.clone(),
    );
    let mut rng = Rng::seeded();
    for round in 0..20 {
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        svc.kill9();
        eprintln!("round {round}: killed with SIGKILL");
        tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        svc.start().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    let status = svc.term();
    assert!(status.success(), "clean stop after the crashes: {status}");
    let ledger = ledger.lock().expect("ledger");
    assert!(ledger.acked.len() > 100, "the test made real progress");
    verify(&svc, &ledger);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_keeps_every_201_and_exits_0() {
    let mut svc = Service::new("", "");
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients = spawn_clients(
        svc.url("/api/v1/events"),
        token,
        stop.clone(),
        ledger.clone(),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = svc.term();
        (svc, status)
    })
    .await
    .expect("term");
    let (svc, status) = status;
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM exits 0; log:\n{}",
        svc.log_text()
    );
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    let ledger = ledger.lock().expect("ledger");
    assert!(!ledger.acked.is_empty());
    verify(&svc, &ledger);
    assert!(svc.log_text().contains("stopped cleanly"));
}
