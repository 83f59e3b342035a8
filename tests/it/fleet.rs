//! Issue 15's fleet: one fake central (`fake-central --stores FILE
//! --max-concurrent N`) for many stores, and a bounded `bench fleet` (20
//! edges × 2,000 events back after an outage). No timing is asserted:
//! only that stores are kept apart, that capacity answers 429 with
//! Retry-After, and that every event arrives exactly once.

use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::common::{free_port, http, wait_healthy, write_secret, BIN};

const BATCH_TYPE: &str = "application/cloudevents-batch+json";

/// The fake central as a process, killed by its pid when dropped.
struct Central {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Central {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Central {
    async fn start(stores: &str, extra: &[&str]) -> Central {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("stores.txt");
        write_secret(&file, stores);
        let port = free_port();
        let child = Command::new(BIN)
            .args(["fake-central", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--stores")
            .arg(&file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fake central");
        let central = Central {
            child,
            port,
            _dir: dir,
        };
        wait_healthy(&central.url("/v1/health")).await;
        central
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Posts `events` (plain JSON) for `store` with `token`.
    async fn push(
        &self,
        store: &str,
        token: &str,
        key: &str,
        events: &[Value],
    ) -> reqwest::Response {
        http()
            .post(self.url(&format!("/v1/stores/{store}/events")))
            .bearer_auth(token)
            .header("content-type", BATCH_TYPE)
            .header("idempotency-key", key)
            .body(serde_json::to_vec(events).expect("json"))
            .send()
            .await
            .expect("push")
    }

    async fn control(&self, path: &str) -> Value {
        http()
            .get(self.url(path))
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("control json")
    }
}

/// A valid event of `store` with this id and sequence.
fn event(store: &str, id: &str, seq: u64) -> Value {
    let customer = "A".repeat(43);
    json!({
        "specversion": "1.0",
        "id": id,
        "source": format!("urn:store-edge:{store}"),
        "type": "store.loyalty.identified",
        "subject": customer,
        "time": "2026-11-26T10:00:00.000Z",
        "datacontenttype": "application/json",
        "sequence": seq.to_string(),
        "journeystage": "loyalty",
        "recordedat": "2026-11-26T10:00:00.002Z",
        "data": {"customer_token": customer, "method": "barcode", "device_id": "till-1"}
    })
}

async fn statuses(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("results");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn row<'a>(stores: &'a Value, id: &str) -> &'a Value {
    stores["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|r| r["store_id"] == id)
        .expect("store row")
}

#[tokio::test]
async fn one_central_keeps_stores_apart_and_answers_429_beyond_its_capacity() {
    let central = Central::start(
        "# two stores\nstore-a token-of-store-a-0001\n\nstore-b token-of-store-b-0002\n",
        &["--max-concurrent", "1", "--retry-after", "3"],
    )
    .await;
    let id = "0190d6c0-0000-7000-8000-000000000001";

    // The same event id in two stores: each store keeps its own.
    let a = statuses(
        central
            .push(
                "store-a",
                "token-of-store-a-0001",
                "key-a-00001",
                &[event("store-a", id, 1)],
            )
            .await,
    )
    .await;
    let b = statuses(
        central
            .push(
                "store-b",
                "token-of-store-b-0002",
                "key-b-00001",
                &[event("store-b", id, 1)],
            )
            .await,
    )
    .await;
    assert_eq!(
        (a, b),
        (vec!["accepted".to_owned()], vec!["accepted".to_owned()])
    );
    // Sent again (a lost reply): duplicate, not stored twice.
    let again = statuses(
        central
            .push(
                "store-a",
                "token-of-store-a-0001",
                "key-a-00002",
                &[event("store-a", id, 1)],
            )
            .await,
    )
    .await;
    assert_eq!(again, ["duplicate"]);
    // Another store's event in store a's batch is refused by its source.
    let foreign = statuses(
        central
            .push(
                "store-a",
                "token-of-store-a-0001",
                "key-a-00003",
                &[event("store-b", "0190d6c0-0000-7000-8000-000000000002", 2)],
            )
            .await,
    )
    .await;
    assert_eq!(foreign, ["rejected"]);

    // A known token for another store's id is 403; an unknown token 401.
    let r = central
        .push(
            "store-b",
            "token-of-store-a-0001",
            "key-x-00001",
            &[event("store-b", id, 1)],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = central
        .push(
            "store-a",
            "not-a-token-of-this-fleet",
            "key-x-00002",
            &[event("store-a", id, 1)],
        )
        .await;
    assert_eq!(r.status(), 401);

    let stores = central.control("/_control/stores").await;
    let (ra, rb) = (row(&stores, "store-a"), row(&stores, "store-b"));
    assert_eq!(
        (
            ra["stored"].as_u64(),
            ra["duplicates"].as_u64(),
            ra["rejected"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (rb["stored"].as_u64(), rb["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(ra["stored_twice"], 0);
    assert_eq!(rb["stored_twice"], 0);

    // Capacity 1: requests held in flight by a delay; the rest are 429
    // with Retry-After and store nothing.
    let faults = http()
        .put(central.url("/_control/faults"))
        .json(&json!({"delay_ms": 1500, "retry_after_s": 3}))
        .send()
        .await
        .expect("faults");
    assert!(faults.status().is_success());
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..4u64 {
        let url = central.url("/v1/stores/store-b/events");
        let e = event(
            "store-b",
            &format!("0190d6c0-0000-7000-8000-00000000010{i}"),
            10 + i,
        );
        sends.spawn(async move {
            http()
                .post(url)
                .bearer_auth("token-of-store-b-0002")
                .header("content-type", BATCH_TYPE)
                .header("idempotency-key", format!("key-cap-{i:04}"))
                .body(serde_json::to_vec(&[e]).expect("json"))
                .send()
                .await
                .expect("push")
        });
    }
    let answers = sends.join_all().await;
    let refused: Vec<_> = answers.iter().filter(|r| r.status() == 429).collect();
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    assert!(
        !refused.is_empty() && ok >= 1,
        "{:?}",
        answers.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    for r in &refused {
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("3")
        );
    }
    let stats = central.control("/_control/stats").await;
    assert_eq!(stats["over_capacity"].as_u64(), Some(refused.len() as u64));
    let stores = central.control("/_control/stores").await;
    assert_eq!(
        row(&stores, "store-b")["stored"].as_u64(),
        Some(1 + ok as u64)
    );

    let timeline = central.control("/_control/timeline?bucket_ms=100").await;
    let buckets = timeline["buckets"].as_array().expect("buckets");
    let sum = |k: &str| {
        buckets
            .iter()
            .map(|b| b[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(sum("over_capacity"), refused.len() as u64);
    assert_eq!(sum("requests"), stats["requests"].as_u64().unwrap_or(0));
}

#[test]
fn a_fleet_of_20_edges_back_after_an_outage_delivers_every_event_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut args = store_edge::bench::fleet::FleetArgs::new(dir.path().to_path_buf(), 20, 2_000);
    args.binary = Some(BIN.into());
    args.outage_s = 2;
    args.max_concurrent = 4;
    args.backoff_cap_s = 2;
    args.timeout_s = 300;
    let report = store_edge::bench::fleet::run_fleet(&args).expect("the fleet run");
    assert_eq!(report.stores_complete, 20);
    assert_eq!(report.stored, 20 * 2_000, "every event at central");
    assert_eq!(report.stored_twice, 0, "nothing stored twice");
    assert_eq!((report.conflicts, report.rejected), (0, 0));
    assert!(report.edge_rss_mib.min > 0.0, "every edge's VmHWM was read");
    let plot = dir.path().join("fleet-jitter").join("fleet-jitter.svg");
    assert!(std::fs::read_to_string(plot)
        .expect("svg")
        .ends_with("</svg>\n"));
    let summary: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("fleet-jitter").join("summary.json")).expect("summary"),
    )
    .expect("summary json");
    assert_eq!(summary["stored_twice"], 0);
}
