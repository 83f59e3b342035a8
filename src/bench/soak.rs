//! The soak (issue 14): a real `store-edge run` under mixed load — API
//! events and batches, a pty scanner, pickup actions, print jobs to a fake
//! TCP printer, sync to a faulty fake central (5xx, timeouts, 429, stored
//! then the answer lost) — killed with `kill -9` at seeded random moments.
//! After every cycle it restarts the service, lets the print queue and sync
//! drain, and checks the invariants (ARCHITECTURE.md, "The soak"): no
//! acknowledged event lost, none stored twice at central, `(source,
//! sequence)` gap-free at central and equal to the edge's log, integrity
//! ok, no print job printed twice and an interrupted one `uncertain`.
//!
//! Shared by `store-edge bench soak --cycles N` and `tests/it/soak.rs`.
//! Must never: send anything beyond loopback, leave a process behind (each
//! child is killed by pid when dropped), or call a violation anything but
//! an error naming the seed, the cycle and the invariant.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::free_port;
use super::socat::SocatPair;
use crate::printers::fake_printer::FakePrinter;
use crate::telemetry::out::outln;

const STORE_ID: &str = "soak-store";
const PRINTER_ID: &str = "soak-printer";
const STAFF_ID: &str = "anna";
/// The soak's staff PIN (not a secret: a throwaway database).
const PIN: &str = "4711";
/// Orders pushed to central per cycle.
const ORDERS_PER_CYCLE: usize = 2;

/// What to run and how long.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `store-edge` binary to run as the service and the fake central.
    pub bin: PathBuf,
    /// An empty working directory (database, config, logs, ptys).
    pub dir: PathBuf,
    pub cycles: u32,
    /// Seeds every choice of the driver: load mix, faults, kill moments.
    pub seed: u64,
    /// The load runs a random time in this range before the kill.
    pub load_ms: (u64, u64),
    /// How long one cycle may take to drain before it counts as a failure.
    pub drain_limit: Duration,
    /// A line per cycle on stderr.
    pub progress: bool,
}

/// What a soak did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub cycles: u32,
    pub kills: u32,
    /// Events the API acknowledged with 201 (single and in batches).
    pub api_events: u64,
    pub api_requests: u64,
    /// Scans written to the pty / seen stored before the kill.
    pub scans_written: u64,
    pub scans_seen: u64,
    /// Pickup actions answered 200 (start-picking, ready, verify, handover).
    pub pickup_actions: u64,
    pub orders_handed_over: u64,
    /// Print jobs answered 202, and how they ended.
    pub print_jobs: u64,
    /// Requests a kill left unanswered, sent again with their
    /// Idempotency-Key after the restart (events and print jobs).
    pub retried: u64,
    pub printed: u64,
    pub uncertain: u64,
    /// Events central holds at the end (every one checked).
    pub central_events: u64,
    /// Faults the fake central injected (5xx, timeouts, 429, dropped answers).
    pub faults_injected: u64,
    pub elapsed: Duration,
}

/// xorshift64: the driver's seeded choices.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }
}

/// A seed from the clock, for a run that was not given one.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// A child process killed by pid (SIGKILL) and reaped when dropped.
struct Proc(Option<Child>);

impl Proc {
    fn kill9(&mut self) {
        if let Some(mut child) = self.0.take() {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An EAN-13 from its first 12 digits (`base12` below 10^12).
fn ean13(base12: u64) -> String {
    let body = format!("{base12:012}");
    // Twelve ASCII digits always have a check digit.
    let check = crate::scan::gtin::check_digit(&body).unwrap_or(0);
    format!("{body}{check}")
}

/// The marker a print job carries, found in the printer's bytes.
fn job_marker(n: u64) -> String {
    format!("SOAKJOB-{n:08}-")
}

/// How often each job marker is on the paper, in one pass.
fn marker_counts(paper: &[u8]) -> HashMap<u64, usize> {
    const PREFIX: &[u8] = b"SOAKJOB-";
    let mut counts = HashMap::new();
    let mut i = 0;
    while let Some(at) = paper[i..].windows(PREFIX.len()).position(|w| w == PREFIX) {
        let start = i + at + PREFIX.len();
        let digits = paper.get(start..start + 8);
        if paper.get(start + 8) == Some(&b'-') {
            if let Some(n) = digits
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<u64>().ok())
            {
                *counts.entry(n).or_insert(0) += 1;
            }
        }
        i = start;
    }
    counts
}

/// What the load was told yes to, and what central and the edge hold,
/// across cycles.
#[derive(Default)]
struct Ledger {
    /// Event ids answered 201 and not yet found at central.
    acked_events: Vec<String>,
    /// GTINs the scan watcher saw stored, not yet found at central.
    scans_seen: Vec<String>,
    /// (order id, event type) of actions answered 200.
    pickup_acked: HashSet<(String, &'static str)>,
    /// Orders not yet handed over, with their pickup pass.
    open_orders: Vec<(String, String)>,
    /// Print jobs answered 202 and not yet final: id → marker number.
    jobs_pending: HashMap<String, u64>,
    /// Requests cut off by a kill (sent, no answer): a till sends them
    /// again with the same Idempotency-Key after the restart.
    unanswered_events: Vec<Unanswered>,
    unanswered_jobs: Vec<Unanswered>,
}

/// A request that got no answer: its Idempotency-Key, body and what it
/// carries (events: how many; a job: its marker).
#[derive(Clone)]
struct Unanswered {
    key: String,
    body: Value,
    n: u64,
}

/// Counters of the current cycle's load.
#[derive(Default)]
struct LoadCounts {
    api_events: u64,
    api_requests: u64,
    scans_written: u64,
    scans_seen: u64,
    pickup_actions: u64,
    print_jobs: u64,
    retried: u64,
}

/// Everything the soak runs against.
struct Rig {
    opts: Options,
    http: reqwest::Client,
    config: PathBuf,
    log: PathBuf,
    port: u16,
    central_url: String,
    tokens: Tokens,
    service: Proc,
    _central: Proc,
    _socat: SocatPair,
    scanner_host: PathBuf,
    printer: FakePrinter,
}

struct Tokens {
    pos: String,
    staff: String,
    admin: String,
}

impl Rig {
    async fn start(opts: &Options) -> anyhow::Result<Rig> {
        let dir = &opts.dir;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        let central_token = dir.join("central.token");
        crate::config::secret::write_secret_file(
            &central_token,
            "central-token-for-the-soak-0123456789\n",
        )?;
        let central_port = free_port()?;
        let central_log = std::fs::File::create(dir.join("fake-central.log"))?;
        let central = Command::new(&opts.bin)
            .args([
                "fake-central",
                "--listen",
                &format!("127.0.0.1:{central_port}"),
                "--store-id",
                STORE_ID,
                "--timeout-ms",
                "1500",
                "--retry-after",
                "1",
            ])
            .arg("--token-file")
            .arg(&central_token)
            .stdin(Stdio::null())
            .stdout(central_log.try_clone()?)
            .stderr(central_log)
            .spawn()
            .context("cannot start the fake central")?;
        let central = Proc(Some(central));
        let central_url = format!("http://127.0.0.1:{central_port}");
        wait_http_ok(
            &http,
            &format!("{central_url}/v1/health"),
            Duration::from_secs(30),
        )
        .await
        .context("the fake central did not start")?;

        let socat = SocatPair::start(dir, Duration::from_secs(30))
            .map_err(|e| anyhow!("{e} (scripts/test.sh installs socat)"))?;
        let printer = FakePrinter::start(false).await?;
        let port = free_port()?;
        let config = dir.join("store-edge.toml");
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::write(
            &config,
            format!(
                "[store]\nid = \"{STORE_ID}\"\ntimezone = \"UTC\"\n\n\
                 [storage]\npath = \"{db}\"\n\n\
                 [api]\nlisten = \"127.0.0.1:{port}\"\n\n\
                 [central]\nurl = \"{central_url}\"\ntoken_file = \"{token}\"\n\n\
                 [sync]\nbatch_max_events = 50\nrequest_timeout_s = 1\nbackoff_base_ms = 20\nbackoff_cap_s = 1\npoll_interval_s = 1\n\n\
                 [log]\nlevel = \"warn\"\n\n\
                 [[devices]]\nid = \"soak-scanner\"\nkind = \"scanner\"\ntransport = \"serial\"\nregister = \"till-1\"\ncontext = \"basket\"\npath = \"{scanner}\"\nbaud = 9600\nsuffix = \"\\r\"\n\n\
                 [[devices]]\nid = \"{PRINTER_ID}\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{printer}\"\nprofile = \"epson_tm_t20\"\n",
                db = dir.join("data").join("store-edge.db").display(),
                token = central_token.display(),
                scanner = socat.device().display(),
                printer = printer.address,
            ),
        )?;
        let cli = |args: &[&str], stdin: Option<&str>| -> anyhow::Result<String> {
            let mut child = Command::new(&opts.bin)
                .arg("--config")
                .arg(&config)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
                input.write_all(text.as_bytes())?;
            }
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!(
                    "store-edge {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Ok(String::from_utf8(out.stdout)?.trim().to_owned())
        };
        let tokens = Tokens {
            pos: cli(
                &["token", "create", "--role", "pos", "--name", "soak-till"],
                None,
            )?,
            staff: cli(
                &[
                    "token",
                    "create",
                    "--role",
                    "staff",
                    "--name",
                    "soak-counter",
                ],
                None,
            )?,
            admin: cli(
                &["token", "create", "--role", "admin", "--name", "soak-it"],
                None,
            )?,
        };
        cli(
            &["staff", "add", "--id", STAFF_ID, "--name", "Anna K."],
            Some(&format!("{PIN}\n")),
        )?;
        let mut rig = Rig {
            opts: opts.clone(),
            http,
            log: dir.join("service.log"),
            config,
            port,
            central_url,
            tokens,
            service: Proc(None),
            _central: central,
            scanner_host: socat.host_path(),
            _socat: socat,
            printer,
        };
        rig.start_service().await?;
        Ok(rig)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn start_service(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.opts.bin)
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM")
            .spawn()
            .context("cannot start store-edge run")?;
        self.service = Proc(Some(child));
        let started = Instant::now();
        loop {
            if let Some(status) = self.service.exited() {
                bail!(
                    "store-edge run exited during start with {status}; see {}",
                    self.log.display()
                );
            }
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "store-edge run not ready in 60 s; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn set_faults(&self, faults: Value) -> anyhow::Result<()> {
        let r = self
            .http
            .put(format!("{}/_control/faults", self.central_url))
            .json(&faults)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("set faults: {}", r.status());
        }
        Ok(())
    }

    async fn central_get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.central_url))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("fake central {path}: {}", r.status());
        }
        Ok(r.json().await?)
    }

    async fn central_post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.central_url))
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("fake central {path}: {}", r.status());
        }
        Ok(r.json().await?)
    }

    async fn edge_get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.tokens.staff)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// `store-edge db check --json` on the live file.
    fn integrity_ok(&self) -> anyhow::Result<()> {
        let out = Command::new(&self.opts.bin)
            .arg("--config")
            .arg(&self.config)
            .args(["db", "check", "--json"])
            .output()?;
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if !out.status.success() || v["ok"] != true {
            bail!(
                "PRAGMA integrity_check is not ok: {v} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

async fn wait_http_ok(http: &reqwest::Client, url: &str, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if started.elapsed() > limit {
            bail!("{url} did not answer within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the checks keep across cycles: central's and the edge's logs as
/// far as read, and counts per key.
#[derive(Default)]
struct Seen {
    /// Events read from central so far (`/_control/events?from=`).
    central_read: usize,
    central_ids: HashSet<String>,
    central_seqs: HashSet<u64>,
    /// The highest sequence at central.
    central_max: u64,
    /// The edge's log up to here was found at central.
    edge_checked: usize,
    central_gtins: HashSet<String>,
    /// The till transactions' ids (each posted once, retries included).
    central_transactions: HashSet<String>,
    /// (order id, type) → events of a `store.pickup.*` type at central.
    central_pickup: HashMap<(String, String), u32>,
    /// Print job id → `store.receipt.printed` events at central.
    central_printed: HashMap<String, u32>,
    /// The edge's log by sequence (index = sequence - 1): the ids.
    edge_ids: Vec<String>,
}

/// Runs the soak; an `Err` names the seed, the cycle and what broke.
pub async fn run(opts: &Options) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut rig = Rig::start(opts).await?;
    let mut rng = Rng::new(opts.seed);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut seen = Seen::default();
    let mut summary = Summary::default();
    let mut next_gtin: u64 = 400_000_000_000;
    let mut next_job: u64 = 1;
    let mut scan_after: u64 = 0;
    for cycle in 1..=opts.cycles {
        let log = rig.log.clone();
        // One line with the cause: `main` prints only the outermost message.
        let what = |e: anyhow::Error| {
            anyhow!(
                "soak seed {} cycle {cycle} of {}: {e:#} (rerun with this seed; the service's log: {})",
                opts.seed,
                opts.cycles,
                log.display()
            )
        };
        let counts = cycle_load(
            &mut rig,
            &mut rng,
            &ledger,
            cycle,
            &mut next_gtin,
            &mut next_job,
            &mut scan_after,
            &mut summary,
        )
        .await
        .map_err(what)?;
        summary.api_events += counts.api_events;
        summary.api_requests += counts.api_requests;
        summary.scans_written += counts.scans_written;
        summary.scans_seen += counts.scans_seen;
        summary.pickup_actions += counts.pickup_actions;
        summary.print_jobs += counts.print_jobs;
        summary.retried += counts.retried;
        settle_and_check(&rig, &ledger, &mut seen, &mut summary)
            .await
            .map_err(what)?;
        summary.cycles = cycle;
        if opts.progress {
            eprintln!(
                "cycle {cycle}/{}: {} events at central, {} kills, {:.0} s",
                opts.cycles,
                seen.central_ids.len(),
                summary.kills,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let stats = rig.central_get("/_control/stats").await?;
    summary.faults_injected = stats["faults_injected"].as_u64().unwrap_or(0);
    summary.central_events = seen.central_ids.len() as u64;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// One cycle's load under faults, ended by `kill -9` (sometimes a second
/// one soon after the restart), and the restart.
#[allow(clippy::too_many_arguments)]
async fn cycle_load(
    rig: &mut Rig,
    rng: &mut Rng,
    ledger: &Arc<Mutex<Ledger>>,
    cycle: u32,
    next_gtin: &mut u64,
    next_job: &mut u64,
    scan_after: &mut u64,
    summary: &mut Summary,
) -> anyhow::Result<LoadCounts> {
    // Faults for this cycle: every kind, each at a seeded rate.
    rig.set_faults(json!({
        "fail_5xx_pct": rng.between(0, 30),
        "timeout_pct": rng.between(0, 10),
        "timeout_ms": 1500,
        "status_429_pct": rng.between(0, 10),
        "retry_after_s": 1,
        "drop_after_store_pct": rng.between(0, 25),
    }))
    .await?;
    for i in 0..ORDERS_PER_CYCLE {
        let order_id = format!("SOAK-{cycle}-{i}");
        rig.central_post("/_control/orders", order_doc(&order_id))
            .await?;
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 7 * 86_400;
        let pass = rig
            .central_post(
                "/_control/passes",
                json!({"order_id": order_id, "exp": exp}),
            )
            .await?["pass"]
            .as_str()
            .ok_or_else(|| anyhow!("the fake central made no pass"))?
            .to_owned();
        lock(ledger).open_orders.push((order_id, pass));
    }

    let stop = CancellationToken::new();
    let counts = Arc::new(Mutex::new(LoadCounts::default()));
    let base = Load {
        http: rig.http.clone(),
        base: rig.url(""),
        pos: rig.tokens.pos.clone(),
        staff: rig.tokens.staff.clone(),
        ledger: ledger.clone(),
        counts: counts.clone(),
        stop: stop.clone(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(base.clone().events(Rng::new(rng.next()), cycle));
    tasks.spawn(base.clone().pickups());
    tasks.spawn(base.clone().print_jobs(Rng::new(rng.next()), *next_job));
    tasks.spawn(base.clone().watch_scans(*scan_after));
    let writing = Arc::new(AtomicBool::new(true));
    let scanner = {
        let host = rig.scanner_host.clone();
        let writing = writing.clone();
        let first = *next_gtin;
        tokio::task::spawn_blocking(move || write_scans(&host, first, &writing))
    };

    tokio::time::sleep(Duration::from_millis(
        rng.between(rig.opts.load_ms.0, rig.opts.load_ms.1),
    ))
    .await;
    rig.service.kill9();
    summary.kills += 1;
    stop.cancel();
    writing.store(false, Ordering::SeqCst);
    let mut last_job = *next_job;
    while let Some(done) = tasks.join_next().await {
        match done?? {
            TaskEnd::Jobs(next) => last_job = next,
            TaskEnd::ScansAfter(after) => *scan_after = after,
            TaskEnd::Done => {}
        }
    }
    *next_job = last_job;
    let written = scanner.await??;
    *next_gtin += written;
    rig.start_service().await?;
    // Now and then a second kill while sync resends what the first one cut off.
    if rng.below(4) == 0 {
        tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
        rig.service.kill9();
        summary.kills += 1;
        rig.start_service().await?;
    }
    let mut counts = std::mem::take(&mut *lock(&counts));
    counts.scans_written = written;
    Ok(counts)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pickup order as central sends it (version 1, open, one line).
fn order_doc(order_id: &str) -> Value {
    let in_days = |d: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::days(d))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    json!({
        "order_id": order_id, "version": 1, "status": "open", "channel": "web",
        "created_at": in_days(0), "pickup_by": in_days(30),
        "customer": {"display_name": "Soak T."},
        "items": [{"line_id": "1", "sku": "SOAK-1", "name": "Soak item", "quantity": 1}],
        "verification": {"code_hash": "$argon2id$v=19$m=19456,t=2,p=1$ZGVtby1zYWx0LTAx$bVUT2XT9AwTmAUAepPmKW3steoVHwjM5h5Pz6LdiezI"}
    })
}

/// Writes one scan every 50 ms until told to stop; returns how many.
fn write_scans(host: &Path, first: u64, writing: &AtomicBool) -> anyhow::Result<u64> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(host)
        .with_context(|| format!("cannot open the scanner pty {}", host.display()))?;
    let mut n = 0;
    while writing.load(Ordering::SeqCst) {
        file.write_all(format!("{}\r", ean13(first + n)).as_bytes())?;
        file.flush()?;
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(n)
}

enum TaskEnd {
    Done,
    /// The next job marker number.
    Jobs(u64),
    /// The sequence the scan watcher read up to.
    ScansAfter(u64),
}

/// The load's shared handles; each task a clone.
#[derive(Clone)]
struct Load {
    http: reqwest::Client,
    base: String,
    pos: String,
    staff: String,
    ledger: Arc<Mutex<Ledger>>,
    counts: Arc<Mutex<LoadCounts>>,
    stop: CancellationToken,
}

impl Load {
    async fn nap(&self, ms: u64) -> bool {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => true,
            () = self.stop.cancelled() => false,
        }
    }

    /// Posts with `token` (and an Idempotency-Key); `None` when the
    /// request failed or was cut off.
    async fn post(
        &self,
        token: &str,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Option<(u16, Value)> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let send = request.send();
        let r = send.await.ok()?;
        let status = r.status().as_u16();
        // An answer counts only when it arrived whole.
        let v: Value = r.json().await.ok()?;
        Some((status, v))
    }

    /// Marker events, one at a time or in batches of up to 50, each
    /// request with its Idempotency-Key; first the requests the last kill
    /// left unanswered, again with their keys, as a till does.
    async fn events(self, mut rng: Rng, cycle: u32) -> anyhow::Result<TaskEnd> {
        let retries = std::mem::take(&mut lock(&self.ledger).unanswered_events);
        for (i, request) in retries.iter().enumerate() {
            lock(&self.counts).retried += 1;
            if !self.post_events(request).await? {
                lock(&self.ledger)
                    .unanswered_events
                    .extend(retries[i..].iter().cloned());
                return Ok(TaskEnd::Done);
            }
        }
        let mut k = 0u64;
        loop {
            let n = if rng.below(3) == 0 {
                1
            } else {
                rng.between(2, 50)
            };
            let mut events: Vec<Value> = (0..n)
                .map(|i| {
                    json!({"type": "store.transaction.completed", "data": {
                        "transaction_id": format!("soak-{cycle}-{}", k + i),
                        "register_id": "till-1", "total_minor": 1299,
                        "currency": "EUR", "item_count": 2}})
                })
                .collect();
            let request = Unanswered {
                key: format!("soak-events-{cycle}-{k}"),
                body: if n == 1 {
                    events.remove(0)
                } else {
                    Value::Array(events)
                },
                n,
            };
            k += n;
            if !self.post_events(&request).await? {
                lock(&self.ledger).unanswered_events.push(request);
                return Ok(TaskEnd::Done);
            }
            if !self.nap(rng.between(5, 40)).await {
                return Ok(TaskEnd::Done);
            }
        }
    }

    /// One `POST /api/v1/events`; `false` when it got no answer (the
    /// service is down: the kill came). 201 (or 200 for a replay) counts
    /// its events as acknowledged.
    async fn post_events(&self, request: &Unanswered) -> anyhow::Result<bool> {
        lock(&self.counts).api_requests += 1;
        let n = request.n;
        match self
            .post(
                &self.pos,
                "/api/v1/events",
                &request.body,
                Some(&request.key),
            )
            .await
        {
            None => Ok(false),
            Some((200 | 201, acks)) => {
                let ids: Vec<String> = match &acks {
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|x| x["id"].as_str())
                        .map(str::to_owned)
                        .collect(),
                    one => one["id"].as_str().map(str::to_owned).into_iter().collect(),
                };
                if ids.len() as u64 != n {
                    bail!(
                        "POST /api/v1/events: {n} events, {} acknowledgements: {acks}",
                        ids.len()
                    );
                }
                lock(&self.counts).api_events += n;
                lock(&self.ledger).acked_events.extend(ids);
                Ok(true)
            }
            // 503 overloaded and the like: not acknowledged, not retried.
            Some((status, _)) if status >= 500 => Ok(true),
            Some((status, v)) => bail!("POST /api/v1/events answered {status}: {v}"),
        }
    }

    /// Walks the open orders through picking, ready, the pass and the
    /// handover; every 200 is an action central must hold once.
    async fn pickups(self) -> anyhow::Result<TaskEnd> {
        loop {
            let orders = lock(&self.ledger).open_orders.clone();
            for (order_id, pass) in orders {
                if self.stop.is_cancelled() {
                    return Ok(TaskEnd::Done);
                }
                let Ok(r) = self
                    .http
                    .get(format!("{}/api/v1/pickups/{order_id}", self.base))
                    .bearer_auth(&self.staff)
                    .send()
                    .await
                else {
                    continue;
                };
                if r.status() != 200 {
                    continue; // not arrived from central yet
                }
                let Ok(order) = r.json::<Value>().await else {
                    continue;
                };
                let base = format!("/api/v1/pickups/{order_id}");
                let (path, body, event) = match (
                    order["state"].as_str().unwrap_or(""),
                    order["arrived_verified_by"].is_null(),
                ) {
                    ("received", _) => (
                        format!("{base}/start-picking"),
                        json!({"staff_id": STAFF_ID}),
                        "store.pickup.picking_started",
                    ),
                    ("picking", _) => (
                        format!("{base}/ready"),
                        json!({"staff_id": STAFF_ID, "location": "A-1", "missing_lines": []}),
                        "store.pickup.ready",
                    ),
                    ("ready", true) => (
                        "/api/v1/pickups/verify".to_owned(),
                        json!({"pass": pass}),
                        "store.pickup.customer_arrived",
                    ),
                    ("ready", false) => (
                        format!("{base}/handover"),
                        json!({"staff_id": STAFF_ID, "pin": PIN, "verified_by": "pass",
                               "lines": [{"line_id": "1", "quantity_handed": 1}]}),
                        "store.pickup.handed_over",
                    ),
                    ("handed_over", _) => {
                        lock(&self.ledger)
                            .open_orders
                            .retain(|(id, _)| *id != order_id);
                        continue;
                    }
                    (other, _) => bail!(
                        "order {order_id} is {other}, which the soak never asked for: {order}"
                    ),
                };
                if let Some((200, _)) = self.post(&self.staff, &path, &body, None).await {
                    lock(&self.counts).pickup_actions += 1;
                    lock(&self.ledger)
                        .pickup_acked
                        .insert((order_id.clone(), event));
                }
            }
            if !self.nap(30).await {
                return Ok(TaskEnd::Done);
            }
        }
    }

    /// A small receipt every 50–250 ms, each with its own marker and
    /// Idempotency-Key; first those the last kill left unanswered.
    async fn print_jobs(self, mut rng: Rng, mut next: u64) -> anyhow::Result<TaskEnd> {
        let retries = std::mem::take(&mut lock(&self.ledger).unanswered_jobs);
        for (i, request) in retries.iter().enumerate() {
            lock(&self.counts).retried += 1;
            if !self.post_job(request).await? {
                lock(&self.ledger)
                    .unanswered_jobs
                    .extend(retries[i..].iter().cloned());
                return Ok(TaskEnd::Jobs(next));
            }
        }
        loop {
            let marker = next;
            next += 1;
            let request = Unanswered {
                key: format!("soak-job-{marker}"),
                body: json!({"blocks": [
                    {"kind": "text", "text": job_marker(marker), "bold": true},
                    {"kind": "columns", "left": "Artikel", "right": "1,00 EUR"},
                    {"kind": "cut"}
                ]}),
                n: marker,
            };
            if !self.post_job(&request).await? {
                lock(&self.ledger).unanswered_jobs.push(request);
                return Ok(TaskEnd::Jobs(next));
            }
            if !self.nap(rng.between(50, 250)).await {
                return Ok(TaskEnd::Jobs(next));
            }
        }
    }

    /// One job post; `false` when it got no answer.
    async fn post_job(&self, request: &Unanswered) -> anyhow::Result<bool> {
        let path = format!("/api/v1/printers/{PRINTER_ID}/jobs");
        match self
            .post(&self.pos, &path, &request.body, Some(&request.key))
            .await
        {
            None => Ok(false),
            Some((200 | 202, job)) => {
                let id = job["id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("a print job without an id: {job}"))?
                    .to_owned();
                let mut l = lock(&self.ledger);
                if let Some(other) = l.jobs_pending.insert(id.clone(), request.n) {
                    if other != request.n {
                        bail!(
                            "print job {id} answered for markers {other} and {}",
                            request.n
                        );
                    }
                } else {
                    lock(&self.counts).print_jobs += 1;
                }
                Ok(true)
            }
            Some((status, _)) if status >= 500 => Ok(true),
            Some((status, v)) => bail!("POST {path} answered {status}: {v}"),
        }
    }

    /// Reads the stored scans as they come: a scan seen here was stored.
    async fn watch_scans(self, mut after: u64) -> anyhow::Result<TaskEnd> {
        loop {
            let page = self
                .http
                .get(format!(
                    "{}/api/v1/events?type=store.product.scanned&limit=1000&after={after}",
                    self.base
                ))
                .bearer_auth(&self.staff)
                .send()
                .await;
            if let Ok(r) = page {
                if r.status() == 200 {
                    if let Ok(v) = r.json::<Value>().await {
                        for e in v["events"].as_array().into_iter().flatten() {
                            let gtin = e["data"]["gtin"].as_str().unwrap_or("").to_owned();
                            lock(&self.ledger).scans_seen.push(gtin);
                            lock(&self.counts).scans_seen += 1;
                            after = sequence(e).unwrap_or(after);
                        }
                    }
                }
            }
            if !self.nap(100).await {
                return Ok(TaskEnd::ScansAfter(after));
            }
        }
    }
}

fn sequence(e: &Value) -> Option<u64> {
    e["sequence"].as_str().and_then(|s| s.parse().ok())
}

/// Faults off, then waits until the print queue and sync have drained,
/// and checks every invariant.
async fn settle_and_check(
    rig: &Rig,
    ledger: &Arc<Mutex<Ledger>>,
    seen: &mut Seen,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    rig.set_faults(json!({})).await?;
    let _ = rig
        .http
        .post(rig.url("/api/v1/sync/now"))
        .bearer_auth(&rig.tokens.admin)
        .send()
        .await;
    let deadline = Instant::now() + rig.opts.drain_limit;

    // 1. Every acknowledged print job ends printed or uncertain.
    let pending: Vec<(String, u64)> = lock(ledger)
        .jobs_pending
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let mut finals = Vec::new();
    for (id, marker) in pending {
        loop {
            let (status, job) = rig.edge_get(&format!("/api/v1/print-jobs/{id}")).await?;
            if status != 200 {
                bail!("no job printed twice: acknowledged print job {id} is gone ({status} {job})");
            }
            match job["state"].as_str().unwrap_or("") {
                "queued" | "sending" => {}
                "printed" | "uncertain" => {
                    finals.push((id, marker, job));
                    break;
                }
                other => bail!("print job {id} ended {other}: {job}"),
            }
            if Instant::now() > deadline {
                bail!(
                    "print job {id} not printed in {:?}: {job}",
                    rig.opts.drain_limit
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // 2. Sync drains: nothing unsent, central holds the edge's whole log.
    loop {
        read_edge_log(rig, seen).await?;
        let (_, sync) = rig.edge_get("/api/v1/sync").await?;
        read_central(rig, seen).await?;
        if sync["unsent"] == 0
            && sync["quarantined"] == 0
            && seen.central_ids.len() == seen.edge_ids.len()
        {
            break;
        }
        if sync["quarantined"].as_i64().unwrap_or(0) > 0 {
            bail!("events quarantined (none should be: no rejections injected): {sync}");
        }
        if Instant::now() > deadline {
            bail!(
                "sync did not drain in {:?}: edge {} events, central {}, status {sync}",
                rig.opts.drain_limit,
                seen.edge_ids.len(),
                seen.central_ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 3. Gap-free at central, and central's log is the edge's.
    seen.gap_free()?;
    for id in &seen.edge_ids[seen.edge_checked..] {
        if !seen.central_ids.contains(id) {
            bail!("event {id} is in the edge's log but not at central although nothing is unsent");
        }
    }
    seen.edge_checked = seen.edge_ids.len();

    // 4. Nothing acknowledged is lost.
    let mut l = lock(ledger);
    if let Some(id) = l
        .acked_events
        .iter()
        .find(|id| !seen.central_ids.contains(*id))
    {
        bail!("acknowledged event lost: the API answered 201 for {id}, central does not hold it");
    }
    l.acked_events.clear();
    if let Some(g) = l
        .scans_seen
        .iter()
        .find(|g| !seen.central_gtins.contains(*g))
    {
        bail!("stored scan lost: GTIN {g} was in the edge's log, central does not hold it");
    }
    l.scans_seen.clear();
    for (order, event) in &l.pickup_acked {
        let n = seen
            .central_pickup
            .get(&(order.clone(), (*event).to_owned()))
            .copied()
            .unwrap_or(0);
        if n != 1 {
            bail!("pickup action answered 200 for {order} ({event}): central holds {n}");
        }
    }
    summary.orders_handed_over = l
        .pickup_acked
        .iter()
        .filter(|(_, e)| *e == "store.pickup.handed_over")
        .count() as u64;

    // 5. No job printed twice; a printed one once, with one event.
    let paper = marker_counts(&rig.printer.received());
    if let Some((marker, times)) = paper.iter().find(|(_, times)| **times > 1) {
        bail!(
            "print job with marker {} printed {times} times",
            job_marker(*marker)
        );
    }
    for (id, marker, job) in finals {
        let times = paper.get(&marker).copied().unwrap_or(0);
        let events = seen.central_printed.get(&id).copied().unwrap_or(0);
        let printed = job["state"] == "printed";
        if printed && (times != 1 || events != 1) {
            bail!("print job {id} is printed: on paper {times} times, {events} store.receipt.printed at central (want 1 and 1): {job}");
        }
        if !printed && events != 0 {
            bail!("print job {id} is uncertain but central holds {events} store.receipt.printed: {job}");
        }
        if printed {
            summary.printed += 1;
        } else {
            summary.uncertain += 1;
        }
        l.jobs_pending.remove(&id);
    }
    drop(l);

    // 6. The file.
    rig.integrity_ok()
}

/// Reads the edge's log past what was read, checking it is gap-free.
async fn read_edge_log(rig: &Rig, seen: &mut Seen) -> anyhow::Result<()> {
    loop {
        let after = seen.edge_ids.len();
        let (status, page) = rig
            .edge_get(&format!("/api/v1/events?limit=1000&after={after}"))
            .await?;
        if status != 200 {
            bail!("GET /api/v1/events: {status} {page}");
        }
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for e in &events {
            let seq = sequence(e).ok_or_else(|| anyhow!("an event without a sequence: {e}"))?;
            if seq != seen.edge_ids.len() as u64 + 1 {
                bail!(
                    "the edge's log is not gap-free: sequence {seq} after {}",
                    seen.edge_ids.len()
                );
            }
            seen.edge_ids
                .push(e["id"].as_str().unwrap_or_default().to_owned());
        }
        if events.len() < 1000 {
            return Ok(());
        }
    }
}

/// Reads central's new events, checking that none is there twice.
async fn read_central(rig: &Rig, seen: &mut Seen) -> anyhow::Result<()> {
    let events = rig
        .central_get(&format!("/_control/events?from={}", seen.central_read))
        .await?;
    seen.take_central(events.as_array().cloned().unwrap_or_default())
}

impl Seen {
    /// Central's next events in receipt order: no id, `(source,
    /// sequence)`, till transaction, scan, pickup step or printed job twice.
    fn take_central(&mut self, events: Vec<Value>) -> anyhow::Result<()> {
        self.central_read += events.len();
        for e in events {
            let id = e["id"].as_str().unwrap_or_default().to_owned();
            let seq = sequence(&e)
                .ok_or_else(|| anyhow!("central holds an event without a sequence: {e}"))?;
            if !self.central_ids.insert(id.clone()) {
                bail!("central holds event {id} twice");
            }
            let source = e["source"].as_str().unwrap_or_default();
            if source != crate::events::source_of(STORE_ID) {
                bail!("central holds event {id} of source {source}");
            }
            self.central_max = self.central_max.max(seq);
            if !self.central_seqs.insert(seq) {
                bail!("central holds two events under ({source}, {seq}) (the second is {id})");
            }
            let kind = e["type"].as_str().unwrap_or_default();
            let data = &e["data"];
            let once = |set: &mut HashSet<String>, what: &str, value: &Value| {
                let value = value.as_str().unwrap_or_default().to_owned();
                if set.insert(value.clone()) {
                    Ok(())
                } else {
                    Err(anyhow!(
                        "{what} {value} (sent once) stored twice at central"
                    ))
                }
            };
            match kind {
                "store.product.scanned" => {
                    once(&mut self.central_gtins, "the scan of GTIN", &data["gtin"])?;
                }
                "store.transaction.completed" => once(
                    &mut self.central_transactions,
                    "till transaction",
                    &data["transaction_id"],
                )?,
                "store.receipt.printed" => {
                    let job = data["job_id"].as_str().unwrap_or_default().to_owned();
                    let n = self.central_printed.entry(job.clone()).or_default();
                    *n += 1;
                    if *n > 1 {
                        bail!("central holds store.receipt.printed for job {job} twice");
                    }
                }
                _ if kind.starts_with("store.pickup.") => {
                    let order = data["order_id"].as_str().unwrap_or_default().to_owned();
                    let n = self
                        .central_pickup
                        .entry((order.clone(), kind.to_owned()))
                        .or_default();
                    *n += 1;
                    if *n > 1 {
                        bail!("central holds {kind} for {order} twice");
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Central's sequences are 1..=n, each once.
    fn gap_free(&self) -> anyhow::Result<()> {
        let n = self.central_seqs.len() as u64;
        if self.central_max != n {
            let mut missing: Vec<u64> =
                (1..=n).filter(|s| !self.central_seqs.contains(s)).collect();
            missing.truncate(10);
            bail!("(source, sequence) not gap-free at central: {n} events, missing sequences {missing:?}");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- the bench

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Working directory (its `soak/` is cleared first).
    #[arg(long, default_value = "var/bench")]
    pub dir: PathBuf,
    /// Cycles of load, kill -9, restart, drain and check.
    #[arg(long, default_value_t = 1_000)]
    pub cycles: u32,
    /// The seed (printed at the start; default from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The load before each kill runs between this many milliseconds …
    #[arg(long, default_value_t = 300)]
    pub min_load_ms: u64,
    /// … and this many.
    #[arg(long, default_value_t = 1_500)]
    pub max_load_ms: u64,
}

pub fn run_bench(args: SoakArgs) -> anyhow::Result<()> {
    let dir = super::ingest::fresh_dir(&args.dir, "soak")?;
    let seed = args.seed.unwrap_or_else(clock_seed);
    eprintln!(
        "soak seed {seed} (rerun: store-edge bench soak --cycles {} --seed {seed})",
        args.cycles
    );
    let opts = Options {
        bin: std::env::current_exe()?,
        dir: dir.clone(),
        cycles: args.cycles,
        seed,
        load_ms: (args.min_load_ms, args.max_load_ms.max(args.min_load_ms)),
        drain_limit: Duration::from_secs(120),
        progress: true,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let summary = rt.block_on(run(&opts))?;
    print_summary(&summary, seed)?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn print_summary(s: &Summary, seed: u64) -> anyhow::Result<()> {
    outln!("# store-edge bench soak")?;
    outln!()?;
    outln!("| measurement | value |")?;
    outln!("|---|---|")?;
    outln!(
        "| cycles (load, kill -9, restart, drain, check), seed | {} cycles, seed {seed} |",
        s.cycles
    )?;
    outln!(
        "| time | {:.0} s ({:.2} s a cycle) |",
        s.elapsed.as_secs_f64(),
        s.elapsed.as_secs_f64() / f64::from(s.cycles.max(1))
    )?;
    outln!("| kills (`kill -9`) | {} |", s.kills)?;
    outln!(
        "| events at central, each checked once and gap-free | {} |",
        s.central_events
    )?;
    outln!(
        "| API events acknowledged (201) in {} requests | {} |",
        s.api_requests,
        s.api_events
    )?;
    outln!(
        "| scans written to the pty / seen stored before the kill | {} / {} |",
        s.scans_written,
        s.scans_seen
    )?;
    outln!(
        "| pickup actions answered 200 / orders handed over | {} / {} |",
        s.pickup_actions,
        s.orders_handed_over
    )?;
    outln!(
        "| requests a kill left unanswered, sent again with their Idempotency-Key | {} |",
        s.retried
    )?;
    outln!(
        "| print jobs acknowledged (202): printed once / uncertain after a kill | {}: {} / {} |",
        s.print_jobs,
        s.printed,
        s.uncertain
    )?;
    outln!("| faults injected by the fake central (5xx, timeouts, 429, answers lost after storing) | {} |", s.faults_injected)?;
    outln!("| invariant violations | 0 (the run stops at the first) |")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ean13_has_its_check_digit() {
        assert_eq!(ean13(400_638_133_393), "4006381333931");
    }

    #[test]
    fn a_marker_is_counted_once_per_print() {
        let paper = [
            "\x1b!\x08",
            &job_marker(1),
            "x",
            &job_marker(12),
            "SOAKJOB-12",
            &job_marker(1),
        ]
        .concat();
        let counts = marker_counts(paper.as_bytes());
        assert_eq!(counts.get(&1), Some(&2));
        assert_eq!(counts.get(&12), Some(&1));
        assert_eq!(counts.get(&2), None);
    }

    fn event(id: &str, seq: u64, kind: &str, data: Value) -> Value {
        json!({"id": id, "source": crate::events::source_of(STORE_ID),
               "sequence": seq.to_string(), "type": kind, "data": data})
    }

    /// The checks fail on what they are there to find.
    #[test]
    fn central_twice_or_with_a_gap_is_an_error() {
        let tx = |t: &str| json!({"transaction_id": t});
        let mut seen = Seen::default();
        seen.take_central(vec![
            event("a", 1, "store.transaction.completed", tx("t1")),
            event("b", 2, "store.pickup.ready", json!({"order_id": "O-1"})),
        ])
        .unwrap();
        seen.gap_free().unwrap();
        let twice = |e: Value| {
            let mut s = Seen::default();
            s.take_central(vec![
                event("a", 1, "store.transaction.completed", tx("t1")),
                e,
            ])
            .unwrap_err()
            .to_string()
        };
        assert!(twice(event("a", 2, "x.y", json!({}))).contains("event a twice"));
        assert!(twice(event("b", 1, "x.y", json!({}))).contains("two events under"));
        assert!(
            twice(event("b", 2, "store.transaction.completed", tx("t1"))).contains("stored twice")
        );
        let mut gap = Seen::default();
        gap.take_central(vec![
            event("a", 1, "x.y", json!({})),
            event("c", 3, "x.y", json!({})),
        ])
        .unwrap();
        assert!(gap
            .gap_free()
            .unwrap_err()
            .to_string()
            .contains("missing sequences [2]"));
        let printed = json!({"job_id": "7"});
        let mut p = Seen::default();
        assert!(p
            .take_central(vec![
                event("a", 1, "store.receipt.printed", printed.clone()),
                event("b", 2, "store.receipt.printed", printed)
            ])
            .is_err());
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert!((0..100).all(|_| a.between(3, 9) == b.between(3, 9)));
        let mut c = Rng::new(7);
        assert!((0..1000)
            .map(|_| c.between(3, 9))
            .all(|x| (3..=9).contains(&x)));
    }
}
