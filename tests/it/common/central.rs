//! The fake central as its own process, and the order documents it serves.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, http, write_secret, BIN, DEADLINE, STORE_ID};

/// The fake central as its own process (`store-edge fake-central`), on a
/// free loopback port, steered through its `/_control/` endpoints.
pub struct FakeCentralProc {
    pub port: u16,
    pub token: String,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl FakeCentralProc {
    pub async fn start(orders: &[serde_json::Value], extra_args: &[&str]) -> FakeCentralProc {
        let dir = tempfile::tempdir().expect("tmp");
        let token = "central-token-for-tests-0123456789".to_owned();
        let token_file = dir.path().join("central.token");
        write_secret(&token_file, &format!("{token}\n"));
        let orders_file = dir.path().join("orders.json");
        std::fs::write(&orders_file, serde_json::to_vec(orders).expect("orders"))
            .expect("orders file");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("fake.log")).expect("log");
        let child = Command::new(BIN)
            .args([
                "fake-central",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--store-id",
                STORE_ID,
            ])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--orders")
            .arg(&orders_file)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("fd"))
            .stderr(log)
            .spawn()
            .expect("spawn fake central");
        let fake = FakeCentralProc {
            port,
            token,
            child: Some(child),
            dir,
        };
        wait_healthy(&fake.url("/v1/health")).await;
        fake
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `[central]` and `[sync]` sections for an edge that talks to it,
    /// with short timeouts and backoff for tests.
    pub fn edge_sections(&self, sync_extra: &str) -> String {
        let token_file = self.dir.path().join("central.token");
        format!(
            "[central]\nurl = \"http://127.0.0.1:{}\"\ntoken_file = \"{}\"\n\n[sync]\nrequest_timeout_s = 1\nbackoff_base_ms = 20\nbackoff_cap_s = 1\npoll_interval_s = 1\n{sync_extra}\n",
            self.port,
            token_file.display()
        )
    }

    pub async fn set_faults(&self, faults: serde_json::Value) {
        let r = http()
            .put(self.url("/_control/faults"))
            .json(&faults)
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success(), "set faults: {}", r.status());
    }

    pub async fn events(&self) -> Vec<serde_json::Value> {
        http()
            .get(self.url("/_control/events"))
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("events json")
    }

    pub async fn push_order(&self, order: serde_json::Value) {
        let r = http()
            .post(self.url("/_control/orders"))
            .json(&order)
            .send()
            .await
            .expect("order");
        assert!(r.status().is_success(), "push order: {}", r.status());
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
            let _ = c.wait();
        }
    }

    /// The process id (a browser test kills it to take central away).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for FakeCentralProc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// RFC 3339 time `days` from now (deadlines must stay in the future
/// whenever the tests run).
pub fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// A pickup order document as central sends it.
pub fn order_doc(id: &str, version: i64, status: &str) -> serde_json::Value {
    serde_json::json!({
        "order_id": id, "version": version, "status": status, "channel": "web",
        "created_at": "2026-11-25T10:00:00Z", "pickup_by": in_days(30),
        "customer": {"display_name": "Julia M."},
        "items": [{"line_id": "1", "sku": "SOFA-GRN", "name": "Green velvet sofa", "quantity": 1}],
        "verification": {"code_hash": "$argon2id$v=19$m=19456,t=2,p=1$ZGVtby1zYWx0LTAx$bVUT2XT9AwTmAUAepPmKW3steoVHwjM5h5Pz6LdiezI"}
    })
}

/// Waits until a fake central answers 200 on `health_url` (panics after
/// `DEADLINE`): a process just spawned is not listening yet.
pub async fn wait_healthy(health_url: &str) {
    let client = http();
    let started = Instant::now();
    while client
        .get(health_url)
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(started.elapsed() < DEADLINE, "fake central did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
