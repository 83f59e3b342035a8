//! The real `store-edge` binary as a service under test: its config, its
//! database file, its log, and the CLI run against the same config.
//! Processes are killed by pid when a [`Service`] is dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, http, wait_with_deadline, BIN, DEADLINE, STORE_ID};

/// One service under test: a config in a temporary directory, a free
/// 127.0.0.1 port, and the process once started.
pub struct Service {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    pub port: u16,
    pub child: Option<Child>,
    pub log: PathBuf,
    /// The binary to run; the test build's own unless set (see [`super::release_bin`]).
    pub bin: Option<PathBuf>,
    /// A command the service and its CLI run under (e.g. `nsenter` into
    /// the mount namespace of a size-limited tmpfs); empty: none.
    pub wrap: Vec<std::ffi::OsString>,
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
            wrap: Vec::new(),
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

    /// `bin` as a command, under [`Service::wrap`] if set.
    fn command(&self, bin: &Path) -> Command {
        match self.wrap.split_first() {
            None => Command::new(bin),
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(bin);
                cmd
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Runs a CLI command against this config and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("run store-edge")
    }

    /// The CLI command with this service's config, to add to (env, stdin).
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(Path::new(BIN));
        cmd.arg("--config").arg(&self.config).args(args);
        cmd
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
        let mut cmd = self.command(self.bin.as_deref().unwrap_or(Path::new(BIN)));
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
