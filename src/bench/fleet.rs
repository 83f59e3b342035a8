//! `store-edge bench fleet` (issue 15): a fleet coming back after an
//! outage. Many edge processes (`store-edge run`, each with its own
//! config, database and backlog) against one `store-edge fake-central
//! --stores FILE --max-concurrent N`, which is down (not listening) for
//! `--outage-s`, then up. Measures the time until every backlog is at
//! central, the 429s, each edge's retries (from its `/metrics`), peak RSS
//! per edge and in total (VmHWM), central's, `duplicate` answers apart
//! from events stored twice (must be 0), and the request rate at central
//! over time as a text plot and an SVG (`--dir`), with a `summary.json`.
//!
//! The backlogs are one database filled once (the benchmarks' raw fill)
//! and copied per edge with the store id changed, so 200 × 20,000 events
//! take seconds; the same event ids in every store show that central keeps
//! the stores apart. Every process it starts is stopped by its pid, on
//! success, error and Ctrl-C. Shared with `tests/it/fleet.rs` (20 edges ×
//! 2,000 events, no timing), which passes the binary in `--binary`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use super::free_port;
use super::ingest::{fill_as, fresh_dir, signal_process};
use crate::telemetry::out::outln;

#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Working directory: each edge's config and database, the logs, the
    /// plot (`fleet-<jitter|no-jitter>.svg`) and `summary.json`.
    #[arg(long, default_value = "var/bench")]
    pub dir: PathBuf,
    /// Edge processes.
    #[arg(long, default_value_t = 200)]
    pub edges: usize,
    /// Backlog of each edge.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Central's capacity: requests in flight beyond it are answered 429.
    #[arg(long, default_value_t = 32)]
    pub max_concurrent: u64,
    /// Seconds central is down after the edges have started.
    #[arg(long, default_value_t = 20)]
    pub outage_s: u64,
    /// Seconds in central's Retry-After.
    #[arg(long, default_value_t = 1)]
    pub retry_after_s: u64,
    /// The edges' `sync.backoff_cap_s` (their backoff while central is down).
    #[arg(long, default_value_t = 30)]
    pub backoff_cap_s: u64,
    /// Turn the edges' jitter off (`STORE_EDGE_BENCH_NO_JITTER=1` in their
    /// environment; a bench switch, not a config key): the herd.
    #[arg(long)]
    pub no_jitter: bool,
    /// Give up when not every backlog is at central this long after
    /// central came up.
    #[arg(long, default_value_t = 900)]
    pub timeout_s: u64,
    /// The `store-edge` binary for the edges and central (default: this
    /// one; a release build measures what a store runs).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

impl FleetArgs {
    /// The defaults of `bench fleet`, for callers that build it in code.
    pub fn new(dir: PathBuf, edges: usize, events: u64) -> FleetArgs {
        FleetArgs {
            dir,
            edges,
            events,
            max_concurrent: 32,
            outage_s: 20,
            retry_after_s: 1,
            backoff_cap_s: 30,
            no_jitter: false,
            timeout_s: 900,
            binary: None,
        }
    }
}

/// What a fleet run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FleetReport {
    pub edges: usize,
    pub events_per_edge: u64,
    pub jitter: bool,
    pub max_concurrent: u64,
    pub outage_s: u64,
    /// From central's start until every store's backlog was at central.
    pub delivered_after_s: f64,
    /// Events stored at central, all stores.
    pub stored: u64,
    /// Stores whose whole backlog is at central.
    pub stores_complete: usize,
    /// `duplicate` answers (legitimate after a lost reply).
    pub duplicates: u64,
    /// Events stored twice at central: must be 0.
    pub stored_twice: u64,
    pub conflicts: u64,
    pub rejected: u64,
    /// Requests central answered 429 for capacity.
    pub over_capacity: u64,
    pub requests: u64,
    /// Each edge's `store_edge_sync_retries_total`, all causes.
    pub retries: Spread,
    /// Each edge's retries after a 429.
    pub retries_rate_limited: Spread,
    /// Each edge's peak RSS (VmHWM), MiB.
    pub edge_rss_mib: Spread,
    pub edges_rss_total_mib: f64,
    pub central_rss_mib: f64,
    /// Requests and 429s at central per second since its start.
    pub per_second: Vec<(u64, u64)>,
    /// The same per 100 ms (the SVG).
    pub per_100ms: Vec<(u64, u64)>,
    pub utc: String,
    pub loadavg: String,
}

/// Min, median, max.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        if v.is_empty() {
            return Spread::default();
        }
        v.sort_by(f64::total_cmp);
        Spread {
            min: v[0],
            median: v[v.len() / 2],
            max: v[v.len() - 1],
        }
    }
}

/// `store-edge bench fleet`: runs, prints the report, writes the plot and
/// `summary.json`.
pub fn run(args: FleetArgs) -> anyhow::Result<()> {
    install_interrupt_flag();
    let report = run_fleet(&args)?;
    print_report(&args, &report)?;
    Ok(())
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C (and SIGTERM) set a flag the waits check, so the processes are
/// stopped by `Fleet`'s drop instead of being left behind.
fn install_interrupt_flag() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_interrupt as *const () as libc::sighandler_t,
        );
    }
}

fn check_interrupted() -> anyhow::Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; every process started is being stopped");
    }
    Ok(())
}

/// The processes of a run, each stopped by its pid when dropped: SIGTERM,
/// then SIGKILL for any still there after 10 s.
#[derive(Default)]
struct Fleet {
    edges: Vec<Child>,
    central: Option<Child>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let all: Vec<&mut Child> = self.edges.iter_mut().chain(self.central.as_mut()).collect();
        for c in &all {
            signal_process(c.id(), libc::SIGTERM);
        }
        let started = Instant::now();
        for c in all {
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// One edge of the run: its store, API port, config and directory.
struct Edge {
    store_id: String,
    port: u16,
    config: PathBuf,
    dir: PathBuf,
}

impl Edge {
    fn write_config(&self, central_port: u16, backoff_cap_s: u64) -> anyhow::Result<()> {
        std::fs::write(
            &self.config,
            format!(
                "[store]\nid = \"{}\"\n[storage]\npath = \"{}\"\nmax_size_mb = 100000\n[api]\nlisten = \"127.0.0.1:{}\"\n[central]\nurl = \"http://127.0.0.1:{central_port}\"\ntoken_file = \"{}\"\n[sync]\nbackoff_cap_s = {backoff_cap_s}\n[log]\nlevel = \"warn\"\n",
                self.store_id,
                self.dir.join("store-edge.db").display(),
                self.port,
                self.dir.join("central.token").display(),
            ),
        )?;
        Ok(())
    }

    fn spawn(&self, exe: &Path, no_jitter: bool) -> anyhow::Result<Child> {
        let log = std::fs::File::create(self.dir.join("edge.log"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("NOTIFY_SOCKET")
            .env_remove(crate::sync::uplink::NO_JITTER_ENV);
        if no_jitter {
            cmd.env(crate::sync::uplink::NO_JITTER_ENV, "1");
        }
        cmd.spawn()
            .with_context(|| format!("start {}", exe.display()))
    }
}

fn edge_log_says_address_in_use(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("edge.log"))
        .is_ok_and(|l| l.contains("Address already in use"))
}

/// `n` distinct free ports (all bound at once, then released).
fn reserve_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Runs the fleet and returns what it measured (the plot and
/// `summary.json` are written into the run's directory).
pub fn run_fleet(args: &FleetArgs) -> anyhow::Result<FleetReport> {
    if args.edges == 0 || args.events == 0 {
        bail!("--edges and --events must be at least 1");
    }
    let exe = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe()?,
    };
    let label = if args.no_jitter {
        "no-jitter"
    } else {
        "jitter"
    };
    let dir = fresh_dir(&args.dir, &format!("fleet-{label}"))?;
    let store_ids: Vec<String> = (0..args.edges).map(|i| format!("fleet-{i:04}")).collect();

    eprintln!(
        "fleet: {} backlogs of {} events ...",
        args.edges, args.events
    );
    let template = dir.join("template.db");
    fill_as(&template, args.events, "fleet-template")?;
    // Held open together, so no two of them are the same port.
    let mut ports = reserve_ports(args.edges + 1)?;
    let central_port = ports.pop().context("no port")?;
    let mut stores_file = String::from("# store id, token (bench fleet)\n");
    let mut edges = Vec::with_capacity(args.edges);
    for (i, store_id) in store_ids.iter().enumerate() {
        let edge_dir = dir.join(store_id);
        std::fs::create_dir_all(&edge_dir)?;
        let db = edge_dir.join("store-edge.db");
        std::fs::copy(&template, &db).context("copy the backlog")?;
        set_store_id(&db, store_id)?;
        let token = format!("fleet-token-{i:04}-{:016x}", random_u64());
        stores_file.push_str(&format!("{store_id} {token}\n"));
        let token_file = edge_dir.join("central.token");
        crate::config::secret::write_secret_file(&token_file, &format!("{token}\n"))?;
        let edge = Edge {
            store_id: store_id.clone(),
            port: ports[i],
            config: edge_dir.join("store-edge.toml"),
            dir: edge_dir,
        };
        edge.write_config(central_port, args.backoff_cap_s)?;
        edges.push(edge);
    }
    std::fs::remove_file(&template)?;
    let stores_path = dir.join("stores.txt");
    crate::config::secret::write_secret_file(&stores_path, &stores_file)?;

    let mut fleet = Fleet::default();
    eprintln!("fleet: starting {} edges, central down ...", args.edges);
    let edges_started = Instant::now();
    for edge in &edges {
        check_interrupted()?;
        fleet.edges.push(edge.spawn(&exe, args.no_jitter)?);
    }
    for (i, edge) in edges.iter_mut().enumerate() {
        // A port another process took between our choice and the edge's
        // bind (an outgoing connection's, say): a new port, up to 3 times.
        let mut attempts = 0;
        while let Err(e) = wait_ready(edge.port, &mut fleet.edges[i], &edge.dir) {
            attempts += 1;
            if attempts > 3 || !edge_log_says_address_in_use(&edge.dir) {
                return Err(e);
            }
            eprintln!(
                "fleet: {} lost its port {}; a new one",
                edge.store_id, edge.port
            );
            let _ = fleet.edges[i].wait();
            edge.port = free_port()?;
            edge.write_config(central_port, args.backoff_cap_s)?;
            fleet.edges[i] = edge.spawn(&exe, args.no_jitter)?;
        }
    }
    eprintln!(
        "fleet: {} edges ready after {:.1} s; central comes up {} s after their start",
        args.edges,
        edges_started.elapsed().as_secs_f64(),
        args.outage_s
    );
    while edges_started.elapsed() < Duration::from_secs(args.outage_s) {
        check_interrupted()?;
        std::thread::sleep(Duration::from_millis(50));
    }

    let central_log = std::fs::File::create(dir.join("central.log"))?;
    let central = Command::new(&exe)
        .args([
            "fake-central",
            "--listen",
            &format!("127.0.0.1:{central_port}"),
        ])
        .arg("--stores")
        .arg(&stores_path)
        .args([
            "--max-concurrent",
            &args.max_concurrent.to_string(),
            "--retry-after",
            &args.retry_after_s.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(central_log)
        .spawn()?;
    let central_pid = central.id();
    fleet.central = Some(central);
    let central_started = Instant::now();

    let total = args.events * args.edges as u64;
    let mut last_print = Instant::now();
    let (delivered_after_s, stores) = loop {
        check_interrupted()?;
        if let Some(Ok(Some(status))) = fleet.central.as_mut().map(Child::try_wait) {
            bail!(
                "fake central exited ({status}); see {}",
                dir.join("central.log").display()
            );
        }
        if let Some(i) = fleet
            .edges
            .iter_mut()
            .position(|c| matches!(c.try_wait(), Ok(Some(_))))
        {
            bail!(
                "edge {} exited before its backlog was delivered; see {}",
                edges[i].store_id,
                edges[i].dir.join("edge.log").display()
            );
        }
        if let Ok(stores) = http_json(central_port, "/_control/stores") {
            let rows = stores["stores"].as_array().cloned().unwrap_or_default();
            let stored: u64 = rows.iter().map(|r| r["stored"].as_u64().unwrap_or(0)).sum();
            let complete = rows
                .iter()
                .filter(|r| r["stored"].as_u64().unwrap_or(0) >= args.events)
                .count();
            if complete == args.edges {
                break (central_started.elapsed().as_secs_f64(), rows);
            }
            if last_print.elapsed() >= Duration::from_secs(2) {
                last_print = Instant::now();
                eprintln!(
                    "  {:5.1} s: {stored} / {total} events at central, {complete} / {} stores complete",
                    central_started.elapsed().as_secs_f64(),
                    args.edges
                );
            }
        }
        if central_started.elapsed() > Duration::from_secs(args.timeout_s) {
            bail!(
                "not every backlog was at central {} s after it came up (--timeout-s)",
                args.timeout_s
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("fleet: every backlog at central after {delivered_after_s:.1} s");

    let mut retries = Vec::new();
    let mut rate_limited = Vec::new();
    let mut rss = Vec::new();
    for (edge, child) in edges.iter().zip(&fleet.edges) {
        let (all, limited) = edge_retries(edge.port).unwrap_or((f64::NAN, f64::NAN));
        retries.push(all);
        rate_limited.push(limited);
        rss.push(crate::telemetry::memory_kib_of(child.id()).map_or(0, |m| m.0) as f64 / 1024.0);
    }
    let central_rss_mib =
        crate::telemetry::memory_kib_of(central_pid).map_or(0, |m| m.0) as f64 / 1024.0;
    let stats = http_json(central_port, "/_control/stats")?;
    let timeline = |ms: u64| -> anyhow::Result<Vec<(u64, u64)>> {
        let t = http_json(central_port, &format!("/_control/timeline?bucket_ms={ms}"))?;
        Ok(t["buckets"]
            .as_array()
            .map(|b| {
                b.iter()
                    .map(|x| {
                        (
                            x["requests"].as_u64().unwrap_or(0),
                            x["over_capacity"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    };
    let per_second = timeline(1000)?;
    let per_100ms = timeline(100)?;
    drop(fleet);

    let sum = |key: &str| -> u64 { stores.iter().map(|r| r[key].as_u64().unwrap_or(0)).sum() };
    let report = FleetReport {
        edges: args.edges,
        events_per_edge: args.events,
        jitter: !args.no_jitter,
        max_concurrent: args.max_concurrent,
        outage_s: args.outage_s,
        delivered_after_s,
        stored: sum("stored"),
        stores_complete: stores
            .iter()
            .filter(|r| r["stored"].as_u64().unwrap_or(0) >= args.events)
            .count(),
        duplicates: sum("duplicates"),
        stored_twice: sum("stored_twice"),
        conflicts: sum("conflicts"),
        rejected: sum("rejected"),
        over_capacity: stats["over_capacity"].as_u64().unwrap_or(0),
        requests: stats["requests"].as_u64().unwrap_or(0),
        retries: Spread::of(retries),
        retries_rate_limited: Spread::of(rate_limited),
        edges_rss_total_mib: rss.iter().sum(),
        edge_rss_mib: Spread::of(rss),
        central_rss_mib,
        per_second,
        per_100ms,
        utc: crate::events::format_time(time::OffsetDateTime::now_utc()),
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let title = format!(
        "bench fleet, {}: {} edges × {} events, max {} in flight, requests/s at central",
        if report.jitter {
            "jitter"
        } else {
            "--no-jitter"
        },
        args.edges,
        args.events,
        args.max_concurrent
    );
    std::fs::write(
        dir.join(format!("fleet-{label}.svg")),
        svg_plot(&report.per_100ms, 100, &title),
    )?;
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    Ok(report)
}

fn print_report(args: &FleetArgs, r: &FleetReport) -> anyhow::Result<()> {
    let label = if r.jitter { "jitter" } else { "no-jitter" };
    outln!(
        "# store-edge bench fleet ({} edges × {} events, {}, --max-concurrent {}, outage {} s)",
        r.edges,
        r.events_per_edge,
        if r.jitter {
            "jittered backoff"
        } else {
            "--no-jitter"
        },
        r.max_concurrent,
        r.outage_s
    )?;
    outln!()?;
    outln!("{} UTC, load average {}", r.utc, r.loadavg)?;
    outln!()?;
    outln!("| figure | value |\n|---|---|")?;
    outln!(
        "| every backlog at central, from central's start | **{:.1} s** ({} events, {:.0} events/s) |",
        r.delivered_after_s,
        r.stored,
        r.stored as f64 / r.delivered_after_s.max(1e-9)
    )?;
    outln!(
        "| requests at central / answered 429 (capacity) | {} / {} |",
        r.requests,
        r.over_capacity
    )?;
    outln!(
        "| retries per edge, all causes (min / median / max) | {:.0} / {:.0} / {:.0} |",
        r.retries.min,
        r.retries.median,
        r.retries.max
    )?;
    outln!(
        "| retries per edge after a 429 (min / median / max) | {:.0} / {:.0} / {:.0} |",
        r.retries_rate_limited.min,
        r.retries_rate_limited.median,
        r.retries_rate_limited.max
    )?;
    outln!(
        "| peak RSS per edge, VmHWM (min / median / max) | {:.1} / {:.1} / {:.1} MiB |",
        r.edge_rss_mib.min,
        r.edge_rss_mib.median,
        r.edge_rss_mib.max
    )?;
    outln!(
        "| peak RSS, all edges / fake central | {:.2} GiB / {:.0} MiB |",
        r.edges_rss_total_mib / 1024.0,
        r.central_rss_mib
    )?;
    outln!(
        "| `duplicate` answers (legitimate after a lost reply) | {} |",
        r.duplicates
    )?;
    outln!(
        "| **events stored twice (must be 0)** | **{}** |",
        r.stored_twice
    )?;
    outln!(
        "| conflicts / rejected | {} / {} |",
        r.conflicts,
        r.rejected
    )?;
    let peak = r.per_second.iter().map(|b| b.0).max().unwrap_or(0);
    let peak_100 = r.per_100ms.iter().map(|b| b.0).max().unwrap_or(0);
    outln!("| peak request rate at central | {peak} per s, {peak_100} per 100 ms |")?;
    outln!()?;
    outln!("Requests per second at central since it came up (`#` answered, `x` 429):")?;
    outln!()?;
    outln!("```\n{}```", text_plot(&r.per_second, 1, 10))?;
    outln!()?;
    // The herd shows at 100 ms: the requests told "retry after 1 s" in
    // the same moment come back in the same moment.
    let start = r.per_100ms.iter().position(|b| b.0 > 0).unwrap_or(0);
    let first = &r.per_100ms[start..r.per_100ms.len().min(start + 100)];
    outln!(
        "The first {:.0} s from the first request, {:.1} s after central came up, per 100 ms (one column = 100 ms):",
        first.len() as f64 / 10.0,
        start as f64 / 10.0
    )?;
    outln!()?;
    outln!("```\n{}```", text_plot_ms(first, 100, 8))?;
    outln!()?;
    outln!(
        "SVG (per 100 ms) and summary.json in {}",
        args.dir.join(format!("fleet-{label}")).display()
    )?;
    Ok(())
}

/// Sets the store id of a copied backlog (the benchmarks' raw access).
fn set_store_id(db: &Path, store_id: &str) -> anyhow::Result<()> {
    let conn = crate::store::open_for_writing(db, "fleet-template")?.into_raw();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'store_id'",
        [store_id],
    )?;
    Ok(())
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// Waits for the edge's `/readyz`; fails early, naming its log, if it exits.
fn wait_ready(port: u16, child: &mut Child, edge_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        check_interrupted()?;
        // Exit first: another process on the port must not answer for it.
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "an edge exited ({status}) before it was ready; see {}",
                edge_dir.join("edge.log").display()
            );
        }
        if let Ok((status, _)) = http_get(port, "/readyz") {
            if status == 200 {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "an edge was not ready within 120 s; see {}",
                edge_dir.join("edge.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (all retries, retries after a 429) from an edge's `/metrics`.
fn edge_retries(port: u16) -> anyhow::Result<(f64, f64)> {
    let (_, body) = http_get(port, "/metrics")?;
    Ok(parse_retries(&body))
}

fn parse_retries(metrics: &str) -> (f64, f64) {
    let (mut all, mut limited) = (0.0, 0.0);
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("store_edge_sync_retries_total{") else {
            continue;
        };
        let Some(n) = rest
            .rsplit_once(' ')
            .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        else {
            continue;
        };
        all += n;
        if rest.contains("cause=\"rate_limited\"") {
            limited += n;
        }
    }
    (all, limited)
}

/// A GET on loopback: (status, body), with chunked bodies joined.
fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

fn http_json(port: u16, path: &str) -> anyhow::Result<Value> {
    let (status, body) = http_get(port, path)?;
    if status != 200 {
        bail!("GET {path}: {status}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// A column per bucket of (requests, 429s), `height` rows: `#` for
/// answered requests over `x` for 429s, the peak on the left axis and
/// seconds below. Wide runs are folded so the plot stays within 100
/// columns.
pub fn text_plot(buckets: &[(u64, u64)], bucket_s: u64, height: usize) -> String {
    text_plot_ms(buckets, bucket_s * 1000, height)
}

/// [`text_plot`] for buckets of `bucket_ms`.
pub fn text_plot_ms(buckets: &[(u64, u64)], bucket_ms: u64, height: usize) -> String {
    let fold = buckets.len().div_ceil(100).max(1);
    let cols: Vec<(u64, u64)> = buckets
        .chunks(fold)
        .map(|c| c.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)))
        .map(|(r, o)| (r / fold as u64, o / fold as u64))
        .collect();
    let peak = cols.iter().map(|c| c.0).max().unwrap_or(0).max(1);
    let height = height.max(1);
    let rows_of = |n: u64| ((n as f64 / peak as f64) * height as f64).round() as usize;
    let mut out = String::new();
    for row in (1..=height).rev() {
        let label = if row == height {
            format!("{peak:>6} ")
        } else {
            " ".repeat(7)
        };
        out.push_str(&label);
        out.push('|');
        for &(requests, refused) in &cols {
            let (all, x) = (rows_of(requests), rows_of(refused));
            out.push(if row <= x {
                'x'
            } else if row <= all {
                '#'
            } else {
                ' '
            });
        }
        out.push('\n');
    }
    out.push_str("     0 +");
    out.push_str(&"-".repeat(cols.len()));
    out.push('\n');
    let step_ms = bucket_ms * fold as u64;
    let mut axis = " ".repeat(8);
    let mut col = 0;
    while col < cols.len() {
        let label = format!("{}s", seconds(col as u64 * step_ms));
        axis.push_str(&label);
        let pad = 10usize.saturating_sub(label.len());
        axis.push_str(&" ".repeat(pad));
        col += 10;
    }
    out.push_str(axis.trim_end());
    out.push('\n');
    if fold > 1 {
        out.push_str(&format!(
            "        (one column = {} s, the mean per {} s)\n",
            seconds(step_ms),
            seconds(bucket_ms)
        ));
    }
    out
}

/// Milliseconds as seconds without a needless fraction: 3000 → "3", 1500 → "1.5".
fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}

/// The same as an SVG document, written by hand: a bar per bucket of
/// `bucket_ms` (requests, with the 429s in red over them), axes with the
/// peak and the seconds.
pub fn svg_plot(buckets: &[(u64, u64)], bucket_ms: u64, title: &str) -> String {
    let (w, h, left, top, bottom) = (900.0, 320.0, 60.0, 40.0, 40.0);
    let plot_w = w - left - 20.0;
    let plot_h = h - top - bottom;
    let n = buckets.len().max(1) as f64;
    let bar = plot_w / n;
    let peak = buckets.iter().map(|b| b.0).max().unwrap_or(0).max(1) as f64;
    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!(
        "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">{}</text>\n",
        xml_escape(title)
    ));
    let base = top + plot_h;
    for (i, &(requests, refused)) in buckets.iter().enumerate() {
        if requests == 0 {
            continue;
        }
        let x = left + i as f64 * bar;
        let bh = requests as f64 / peak * plot_h;
        s.push_str(&format!(
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\" fill=\"#4a78b5\"/>\n",
            base - bh,
            bar.max(0.5)
        ));
        if refused > 0 {
            let rh = refused as f64 / peak * plot_h;
            s.push_str(&format!(
                "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{rh:.2}\" fill=\"#d9534f\"/>\n",
                base - rh,
                bar.max(0.5)
            ));
        }
    }
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"black\"/>\n",
        left + plot_w
    ));
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"black\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} per {bucket_ms} ms</text>\n",
        left - 4.0,
        top + 4.0,
        peak as u64
    ));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n",
        left - 4.0,
        base
    ));
    let total_s = n * bucket_ms as f64 / 1000.0;
    let tick = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0]
        .into_iter()
        .find(|t| total_s / t <= 12.0)
        .unwrap_or(600.0);
    let mut t = 0.0;
    while t <= total_s {
        let x = left + t / total_s.max(1e-9) * plot_w;
        s.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{t} s</text>\n",
            base + 16.0
        ));
        t += tick;
    }
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><tspan fill=\"#4a78b5\">■ requests</tspan> <tspan fill=\"#d9534f\">■ 429 (over capacity)</tspan>, seconds since central came up</text>\n",
        left + plot_w,
        h - 6.0
    ));
    s.push_str("</svg>\n");
    s
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_plot_shows_requests_over_429s_with_the_peak_and_seconds() {
        let plot = text_plot(&[(0, 0), (10, 0), (10, 5), (5, 0)], 1, 4);
        assert_eq!(
            plot,
            "    10 | ## \n       | ## \n       | #x#\n       | #x#\n     0 +----\n        0s\n"
        );
        let wide: Vec<(u64, u64)> = (0..250).map(|i| (i, 0)).collect();
        let plot = text_plot(&wide, 1, 3);
        assert!(plot.lines().all(|l| l.chars().count() <= 110), "{plot}");
        assert!(plot.contains("one column = 3 s"), "{plot}");
        assert!(text_plot(&[], 1, 2).contains("0 +"));
        let fine: Vec<(u64, u64)> = (0..20).map(|i| (i % 10, 0)).collect();
        let plot = text_plot_ms(&fine, 100, 2);
        assert!(plot.ends_with("0s        1s\n"), "{plot}");
    }

    #[test]
    fn the_svg_is_one_document_with_a_bar_per_busy_bucket() {
        let svg = svg_plot(&[(4, 0), (0, 0), (8, 2)], 100, "a <b> & c");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("</svg>").count(), 1);
        // background + two request bars + one 429 bar
        assert_eq!(svg.matches("<rect").count(), 4);
        assert_eq!(svg.matches("fill=\"#d9534f\"/>").count(), 1);
        assert!(svg.contains("a &lt;b&gt; &amp; c") && !svg.contains("<b>"));
        // Every element opened is closed.
        let opened = svg.matches("<text").count() + svg.matches("<tspan").count();
        let closed = svg.matches("</text>").count() + svg.matches("</tspan>").count();
        assert_eq!(opened, closed);
    }

    #[test]
    fn retries_are_summed_over_causes_from_metrics() {
        let m = "# TYPE store_edge_sync_retries counter\nstore_edge_sync_retries_total{cause=\"connection\"} 7\nstore_edge_sync_retries_total{cause=\"rate_limited\"} 3\nstore_edge_sync_batches_total 40\n";
        assert_eq!(parse_retries(m), (10.0, 3.0));
        assert_eq!(parse_retries(""), (0.0, 0.0));
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(unchunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }

    #[test]
    fn spreads_are_min_median_max() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
    }
}
