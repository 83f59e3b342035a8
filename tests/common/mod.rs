//! Test harness: a real `store-edge` binary on a real SQLite file in a
//! temporary directory, on a free 127.0.0.1 port. Processes are killed by
//! pid when the harness is dropped, so no test leaves a server behind.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_store-edge");
pub const STORE_ID: &str = "test-store-01";
/// Generous deadline for anything a test waits for; never a timing assertion.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

pub struct Service {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    pub port: u16,
    pub child: Option<Child>,
    pub log: PathBuf,
    /// The binary to run; the test build's own unless set (see [`release_bin`]).
    pub bin: Option<PathBuf>,
    starts: usize,
}

impl Service {
    /// A config with the given extra TOML after `[storage]` keys (e.g.
    /// `max_size_mb = 1`) and any further sections.
    pub fn new(storage_extra: &str, extra_sections: &str) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let db = dir.path().join("data").join("store-edge.db");
        let config = dir.path().join("store-edge.toml");
        let svc = Service {
            log: dir.path().join("service.log"),
            dir,
            config,
            db,
            port,
            child: None,
            bin: None,
            starts: 0,
        };
        svc.write_config(storage_extra, extra_sections);
        svc
    }

    pub fn write_config(&self, storage_extra: &str, extra_sections: &str) {
        let text = format!(
            "[store]\nid = \"{STORE_ID}\"\ntimezone = \"UTC\"\n\n[storage]\npath = \"{}\"\n{storage_extra}\n\n[api]\nlisten = \"127.0.0.1:{}\"\n\n[log]\nlevel = \"info\"\n{extra_sections}\n",
            self.db.display(),
            self.port
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Runs a CLI command against this config and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run store-edge")
    }

    pub fn token(&self, role: &str, name: &str) -> String {
        let out = self.cli(&["token", "create", "--role", role, "--name", name]);
        assert!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf8 token");
        stdout.trim_end_matches('\n').to_owned()
    }

    /// Starts the binary (logs appended to `service.log`).
    pub fn spawn(&mut self, envs: &[(&str, &str)]) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut cmd = Command::new(self.bin.as_deref().unwrap_or(Path::new(BIN)));
        cmd.arg("--config")
            .arg(&self.config)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn store-edge"));
        self.starts += 1;
    }

    /// Starts and waits until `/readyz` answers 200.
    pub async fn start(&mut self) {
        self.spawn(&[]);
        self.wait_ready().await;
    }

    pub async fn wait_ready(&mut self) {
        let client = http();
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "store-edge exited during start with {status}; log:\n{}",
                        self.log_text()
                    );
                }
            }
            if let Ok(r) = client.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                started.elapsed() < DEADLINE,
                "not ready in time; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn term(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        wait_with_deadline(&mut child)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A separate read connection to the database file.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(&self.db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db")
    }

    pub fn event_count(&self) -> i64 {
        self.db()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .expect("count")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The optimised binary, built now if it is missing or stale
/// (`scripts/test.sh` builds it before the tests): what a store runs, for
/// the tests that measure memory; an unoptimised binary maps twice the code.
pub fn release_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--locked", "--bin", "store-edge"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build --release");
    assert!(
        out.status.success(),
        "cargo build --release failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let debug = PathBuf::from(BIN);
    let release = debug
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("release")
        .join("store-edge");
    assert!(
        release.exists(),
        "no release binary at {}",
        release.display()
    );
    release
}

/// A line of `/proc/PID/status` in KiB (e.g. `VmHWM`, `VmRSS`).
pub fn proc_status_kib(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

pub fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("process did not exit within the deadline");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A unique marker event: a completed transaction whose id is `marker`.
pub fn marker_event(marker: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "store.transaction.completed",
        "data": {"transaction_id": marker, "register_id": "till-1", "total_minor": 1299, "currency": "EUR", "item_count": 2}
    })
}

/// Writes a secret file (a token or key) the way IT must: mode 0600. The
/// service refuses secret files that others may read.
pub fn write_secret(path: &Path, contents: &str) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create secret file");
    f.write_all(contents.as_bytes()).expect("write secret file");
    // `mode` applies only when the file is created.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

/// Tiny deterministic PRNG (xorshift) so tests need no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42)
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An HTTP client (installs the process-wide rustls provider first, as the
/// binary's main does).
pub fn http() -> reqwest::Client {
    http_builder().build().expect("http client")
}

pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

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
        let client = http();
        let started = Instant::now();
        while client
            .get(fake.url("/v1/health"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(started.elapsed() < DEADLINE, "fake central did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

impl Service {
    /// `sync status --json` of this edge.
    pub fn sync_status(&self) -> serde_json::Value {
        let out = self.cli(&["sync", "status", "--json"]);
        assert!(
            out.status.success(),
            "sync status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("sync status json")
    }

    /// Waits until `sync status` satisfies `done`.
    pub async fn wait_sync(
        &self,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let s = self.sync_status();
            if done(&s) {
                return s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "{what}: not reached; last status {s}\nlog:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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

pub use store_edge::bench::socat::SocatPair;

/// A socat pty pair in `dir`: the service opens `dir/scanner`, the test
/// writes to `dir/host`.
pub fn pty_pair(dir: &Path) -> SocatPair {
    SocatPair::start(dir, DEADLINE)
        .unwrap_or_else(|e| panic!("{e} (scripts/test.sh installs socat)"))
}

/// `store-edge staff add` with the PIN given on stdin; its output.
pub fn staff_add(svc: &Service, id: &str, name: &str, pin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&svc.config)
        .args(["staff", "add", "--id", id, "--name", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("staff add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{pin}\n").as_bytes())
        .expect("pin");
    child.wait_with_output().expect("staff add output")
}

/// Adds a staff member, or fails the test.
pub fn add_staff(svc: &Service, id: &str, name: &str, pin: &str) {
    let out = staff_add(svc, id, name, pin);
    assert!(
        out.status.success(),
        "staff add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Service {
    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        http()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// `store-edge tablet pair --role staff --register R`: the code.
    pub fn pairing_code(&self, register: &str) -> String {
        let out = self.cli(&["tablet", "pair", "--role", "staff", "--register", register]);
        assert!(
            out.status.success(),
            "tablet pair: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_owned()
    }
}

/// A CloudEvent's `sequence` as a number.
pub fn sequence(e: &serde_json::Value) -> u64 {
    e["sequence"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("sequence")
}

/// Reads server-sent events until one named `name` arrives; returns its data.
pub async fn next_sse(
    resp: &mut reqwest::Response,
    buf: &mut String,
    name: &str,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = if e.trim() == name { name } else { "other" };
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if event == name {
                return serde_json::from_str(&data).expect("sse data is json");
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no `{name}` event on the stream"
        );
        match tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => panic!("stream ended"),
            Ok(Err(e)) => panic!("stream failed: {e}"),
            Err(_) => {}
        }
    }
}

/// Whether `number` occurs in `haystack` as a number of its own (not inside
/// a longer run of digits such as a port, a pid or the fraction of a
/// timestamp), the way a logged or stored PIN or code would appear.
pub fn contains_number(haystack: &[u8], number: &str) -> bool {
    let n = number.as_bytes();
    haystack.windows(n.len()).enumerate().any(|(i, w)| {
        w == n
            && (i == 0 || !haystack[i - 1].is_ascii_digit())
            && haystack
                .get(i + n.len())
                .is_none_or(|b| !b.is_ascii_digit())
    })
}
