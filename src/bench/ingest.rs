//! `store-edge bench ingest`: acknowledged events per second through the
//! real HTTP API (the real binary as a child process) at 1, 16 and 64
//! clients, single events and batches of 100, with p50/p99 latency; a paced
//! 50 events/s run; peak RSS idle and loaded; time to ready with 1 million
//! events stored. In the same run, on the same disk, the two limits: raw
//! rusqlite inserting 1,000 rows per transaction into the same schema, and
//! the in-process group commit with the same number of waiting callers.

use crate::telemetry::out::outln;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use super::free_port;
use crate::events::NewEvent;
use crate::store::{self, Writer, WriterSettings};
use crate::telemetry::Metrics;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Working directory for the benchmark databases (on the disk to measure).
    #[arg(long, default_value = "var/bench")]
    pub dir: PathBuf,
    /// Seconds per HTTP measurement.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Events stored before measuring the time to ready.
    #[arg(long, default_value_t = 1_000_000)]
    pub ready_events: u64,
    /// Only the raw insert limits and the candidate event-table layouts
    /// (issue 15 "Schema"); no HTTP, no time to ready.
    #[arg(long)]
    pub schema_only: bool,
    /// Rounds per layout in `--schema-only` (the median is printed).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// A realistic transaction event: ids, amounts, tills and customer tokens
/// vary the way a day at a till does (so gzip sees real entropy).
pub(super) fn sample_event(i: u64) -> serde_json::Value {
    let h = mix(i);
    json!({
        "type": "store.transaction.completed",
        "data": {"transaction_id": format!("T-{:06}-N{i}", h % 1_000_000), "register_id": format!("till-{}", h % 8 + 1),
                 "total_minor": (h >> 8) % 250_000 + 99, "currency": "EUR", "item_count": (h >> 20) % 12 + 1,
                 "customer_token": pseudo_token(h), "pickup_order_id": format!("W-{}", (h >> 30) % 90_000 + 10_000)}
    })
}

/// SplitMix64: a cheap, well-spread hash for synthetic data.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 43 base64url characters, like a real customer token (one of 50,000
/// customers, so repeat visits repeat tokens).
fn pseudo_token(h: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = mix(h % 50_000);
    (0..43)
        .map(|k| {
            if k % 10 == 0 {
                x = mix(x);
            }
            let c = ALPHABET[(x & 63) as usize] as char;
            x >>= 6;
            c
        })
        .collect()
}

fn new_event(i: u64) -> anyhow::Result<NewEvent> {
    let v = sample_event(i);
    Ok(NewEvent::from_client(
        "store.transaction.completed",
        v["data"].clone(),
        None,
        None,
    )?)
}

pub(super) fn fresh_dir(base: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = base.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(std::path::absolute(&dir)?)
}

pub fn run(args: IngestArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&args.dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    outln!(
        "# store-edge bench ingest ({} cores, dir {})",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        args.dir.display()
    )?;
    outln!()?;

    if args.schema_only {
        eprintln!("candidate layouts and the service's schema ...");
        return super::schema_layouts::run(
            &fresh_dir(&args.dir, "layouts")?,
            200_000,
            args.rounds,
            &|dir| raw_sqlite(dir, 200_000, false),
            &|dir| raw_sqlite(dir, 200_000, true),
        );
    }

    eprintln!("[1/7] raw rusqlite, 1,000 rows per transaction ...");
    let raw_in_loop = raw_sqlite(&fresh_dir(&args.dir, "raw")?, 200_000, false)?;
    let raw = raw_sqlite(&fresh_dir(&args.dir, "raw")?, 200_000, true)?;
    let plain = raw_plain(&fresh_dir(&args.dir, "plain")?, 300_000)?;
    let one_commit = raw_single_commit(&fresh_dir(&args.dir, "single")?, 500)?;
    outln!("| limit | result |\n|---|---|")?;
    outln!("| raw rusqlite, 1,000 rows/transaction, plain 2-column table | {plain:.0} rows/s |")?;
    outln!("| raw rusqlite, 1,000 rows/transaction, same schema, values made before the loop (as for the plain table) | {raw:.0} rows/s ({:.0} % of plain) |", 100.0 * raw / plain)?;
    outln!("| raw rusqlite, 1,000 rows/transaction, same schema, values made in the loop (as the writer does) | {raw_in_loop:.0} rows/s ({:.0} % of plain) |", 100.0 * raw_in_loop / plain)?;
    outln!(
        "| one FULL commit of one row (median of 500) | {:.3} ms |",
        one_commit * 1000.0
    )?;

    eprintln!("[2/7] in-process group commit ...");
    let mut group = Vec::new();
    for callers in [1usize, 16, 64] {
        let rate = rt.block_on(in_process_group_commit(
            &fresh_dir(&args.dir, "group")?,
            callers,
            Duration::from_secs(args.seconds),
        ))?;
        outln!("| in-process group commit, {callers} waiting callers | {rate:.0} events/s |")?;
        group.push((callers, rate));
    }
    outln!()?;

    eprintln!("[3/7] HTTP through the real binary ...");
    let server = Server::start(&fresh_dir(&args.dir, "http")?, &[])?;
    std::thread::sleep(Duration::from_millis(500));
    let idle = server.memory_kib()?;
    outln!("{HTTP_HEADER}")?;
    for batch in [1usize, 100] {
        for clients in [1usize, 16, 64] {
            http_row(&rt, &server, clients, batch, &group, raw, args.seconds)?;
        }
    }
    eprintln!("[4/7] paced 50 events/s ...");
    let paced = rt.block_on(paced_load(
        &server,
        50.0,
        Duration::from_secs(args.seconds.max(10)),
    ))?;
    outln!()?;
    outln!("| paced load | p50 ms | p99 ms | max ms |\n|---|---|---|---|")?;
    outln!(
        "| 50 events/s, single-event requests | {:.2} | {:.2} | {:.2} |",
        paced.p50_ms,
        paced.p99_ms,
        paced.max_ms
    )?;
    let loaded = server.memory_kib()?;
    drop(server);
    outln!()?;
    outln!("| memory (server process) | KiB |\n|---|---|")?;
    outln!("| RSS idle after start | {} |", idle.1)?;
    outln!("| peak RSS (VmHWM) after all load | {} |", loaded.0)?;

    // The same rows with the KPI ingest off (a bench-only switch): what the
    // request path and the event log cost without the KPI facts that every
    // one of these sales feeds (issue 15's profile puts half the writer
    // there), against the same limits.
    eprintln!("[5/7] HTTP again, KPI ingest off ...");
    let server = Server::start(
        &fresh_dir(&args.dir, "http-no-kpi")?,
        &[(store::writer::NO_KPI_ENV, "1")],
    )?;
    outln!()?;
    outln!(
        "KPI ingest off (`{}=1`, bench only; the limits above):",
        store::writer::NO_KPI_ENV
    )?;
    outln!()?;
    outln!("{HTTP_HEADER}")?;
    for (clients, batch) in [(64usize, 1usize), (16, 100), (64, 100)] {
        http_row(&rt, &server, clients, batch, &group, raw, args.seconds)?;
    }
    drop(server);

    eprintln!(
        "[6/7] building a database with {} events ...",
        args.ready_events
    );
    let ready_dir = fresh_dir(&args.dir, "ready")?;
    fill(&ready_dir.join("store-edge.db"), args.ready_events)?;
    eprintln!("[7/7] time to ready ...");
    let mut times = Vec::new();
    for _ in 0..5 {
        times.push(time_to_ready(&ready_dir)?);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    outln!()?;
    outln!(
        "| time to ready, {} events stored | ms |\n|---|---|",
        args.ready_events
    )?;
    outln!(
        "| first (cold-ish) start | {:.1} |",
        times.first().copied().unwrap_or(0.0)
    )?;
    outln!(
        "| median of 5 warm starts | {:.1} |",
        times[times.len() / 2]
    )?;
    Ok(())
}

const HTTP_HEADER: &str = "| HTTP clients | request | events/s | p50 ms | p99 ms | vs limit | clients' CPU | server CPU | server µs/request |\n|---|---|---|---|---|---|---|---|---|";

/// One HTTP row: `clients` posting `batch` events per request for
/// `seconds`, against in-process group commit (single events) or the raw
/// same-schema insert (batches).
fn http_row(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    clients: usize,
    batch: usize,
    group: &[(usize, f64)],
    raw: f64,
    seconds: u64,
) -> anyhow::Result<()> {
    let r = rt.block_on(http_load(
        server,
        clients,
        batch,
        Duration::from_secs(seconds),
    ))?;
    let (limit, limit_name) = if batch == 1 {
        let group = group
            .iter()
            .find(|(c, _)| *c == clients)
            .map_or(1.0, |(_, r)| *r);
        (group, "group commit")
    } else {
        (raw, "raw batched")
    };
    let cpu = r.cpu.as_ref();
    outln!(
        "| {clients} | {} | {:.0} | {:.2} | {:.2} | {:.0}% of {limit_name} | {} | {} | {} |",
        if batch == 1 {
            "1 event".to_owned()
        } else {
            format!("batch of {batch}")
        },
        r.events_per_s,
        r.p50_ms,
        r.p99_ms,
        100.0 * r.events_per_s / limit,
        cpu.map_or("?".into(), |c| c.clients_share()),
        cpu.map_or("?".into(), |c| c.server_share()),
        cpu.map_or("?".into(), |c| format!("{:.0}", c.server_us_per_request())),
    )?;
    Ok(())
}

/// Inserts `rows` rows, 1,000 per transaction, into a fresh database with
/// the service's own schema and pragmas. Returns rows/s.
fn raw_sqlite(dir: &Path, rows: u64, premade: bool) -> anyhow::Result<f64> {
    let conn = store::open_for_writing(&dir.join("raw.db"), "bench")?.into_raw();
    let data = serde_json::to_string(&sample_event(1)["data"])?;
    // The writer's values (schema 9): the UUIDv7's bytes, the subject, the
    // time in ms. `premade`: made before the timed loop, like the plain
    // table's (which makes none); else in the loop, as the writer does.
    let make = |seq: u64| {
        (
            *uuid::Uuid::now_v7().as_bytes(),
            format!("T-{seq}"),
            crate::events::unix_ms(time::OffsetDateTime::now_utc()),
        )
    };
    let values: Vec<([u8; 16], String, i64)> = if premade {
        (1..=rows).map(make).collect()
    } else {
        Vec::new()
    };
    // The writer looks the type's code up once (`WriterThread::type_codes`).
    let code: i64 = conn.query_row(
        "SELECT code FROM event_types WHERE name = 'store.transaction.completed'",
        [],
        |r| r.get(0),
    )?;
    let started = Instant::now();
    let mut seq = 0u64;
    while seq < rows {
        let tx = conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO event_log (seq, id, type, subject, time, recorded, local_day, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
            )?;
            for _ in 0..1000 {
                seq += 1;
                let made;
                let (id, subject, now) = if premade {
                    let v = &values[seq as usize - 1];
                    (&v.0, &v.1, v.2)
                } else {
                    made = make(seq);
                    (&made.0, &made.1, made.2)
                };
                stmt.execute(rusqlite::params![
                    seq as i64,
                    &id[..],
                    code,
                    subject,
                    now,
                    "2026-12-06",
                    data
                ])?;
            }
        }
        tx.commit()?;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// The plainest batched insert: a 2-column table, same pragmas, same payload.
fn raw_plain(dir: &Path, rows: u64) -> anyhow::Result<f64> {
    let path = dir.join("plain.db");
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);")?;
    let data = serde_json::to_string(&sample_event(1)["data"])?;
    let started = Instant::now();
    let mut id = 0u64;
    while id < rows {
        let tx = conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO t (id, payload) VALUES (?1, ?2)")?;
            for _ in 0..1000 {
                id += 1;
                stmt.execute(rusqlite::params![id as i64, data])?;
            }
        }
        tx.commit()?;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Median seconds of one FULL commit holding one row.
pub(super) fn raw_single_commit(dir: &Path, n: usize) -> anyhow::Result<f64> {
    let conn = store::open_for_writing(&dir.join("single.db"), "bench")?.into_raw();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO event_log (seq, id, type, time, recorded, data) VALUES (?1, ?2, 15, 0, 0, '{}')",
            rusqlite::params![i as i64 + 1, &uuid::Uuid::now_v7().as_bytes()[..]],
        )?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[n / 2])
}

async fn in_process_group_commit(
    dir: &Path,
    callers: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let path = dir.join("group.db");
    let conn = store::open_for_writing(&path, "bench")?;
    let (writer, thread) = Writer::start(
        conn,
        WriterSettings {
            path,
            max_size_bytes: u64::MAX / 2,
            retain_sent_days: 30,
            timezone: jiff::tz::TimeZone::UTC,
            kpi_ingest: true,
        },
        Arc::new(Metrics::new()),
    )?;
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let event = new_event(c as u64 * 1_000_000_000 + n)?;
                writer.append(vec![event], None).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(writer);
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    Ok(total as f64 / elapsed)
}

pub(super) struct Server {
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) token: String,
}

impl Server {
    /// Spawns `store-edge run` on `config`, whose API listens on `port`.
    pub(super) fn spawn(config: &Path, port: u16, token: String) -> anyhow::Result<Server> {
        Server::spawn_env(config, port, token, &[])
    }

    /// [`Server::spawn`] with extra environment variables (the bench-only
    /// switches).
    fn spawn_env(
        config: &Path,
        port: u16,
        token: String,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let child = Command::new(std::env::current_exe()?)
            .envs(env.iter().copied())
            .arg("--config")
            .arg(config)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .env_remove("NOTIFY_SOCKET")
            .spawn()?;
        Ok(Server { child, port, token })
    }

    /// A `pos` service on the plain config in `dir`, with `env` set.
    fn start(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Server> {
        Server::start_with_env(dir, "pos", env, |config, port| {
            write_plain_config(config, dir, port)
        })
    }

    /// Writes a config with `write(config, port)`, creates a token of
    /// `role` and starts the service on it, ready.
    pub(super) fn start_with(
        dir: &Path,
        role: &str,
        write: impl FnOnce(&Path, u16) -> anyhow::Result<()>,
    ) -> anyhow::Result<Server> {
        Server::start_with_env(dir, role, &[], write)
    }

    /// [`Server::start_with`] with extra environment variables.
    fn start_with_env(
        dir: &Path,
        role: &str,
        env: &[(&str, &str)],
        write: impl FnOnce(&Path, u16) -> anyhow::Result<()>,
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let config = dir.join("bench.toml");
        write(&config, port)?;
        let token = create_token(&config, role)?;
        let server = Server::spawn_env(&config, port, token, env)?;
        server.wait_ready(Duration::from_secs(30))?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/events", self.port)
    }

    fn wait_ready(&self, limit: Duration) -> anyhow::Result<Duration> {
        wait_ready_at(self.port, limit)
    }

    /// (VmHWM, VmRSS) of the server in KiB.
    pub(super) fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        crate::telemetry::memory_kib_of(self.child.id())
            .context("cannot read the server's memory from /proc")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM for a clean stop; SIGKILL if it does not go.
        signal_process(self.child.id(), 15);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `store-edge token create --role ROLE` on `config` (named `bench-ROLE`):
/// the token.
pub(super) fn create_token(config: &Path, role: &str) -> anyhow::Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(config)
        .args(["token", "create", "--role", role, "--name"])
        .arg(format!("bench-{role}"))
        .output()?;
    if !out.status.success() {
        bail!(
            "token create --role {role}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

pub(super) fn signal_process(pid: u32, signal: i32) {
    // std has no SIGTERM; `kill` the command is always present on Linux.
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

pub(super) fn wait_ready_at(port: u16, limit: Duration) -> anyhow::Result<Duration> {
    use std::io::{Read, Write};
    let started = Instant::now();
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_ok() && &buf[9..12] == b"200" {
                return Ok(started.elapsed());
            }
        }
        if started.elapsed() > limit {
            bail!("server not ready within {limit:?}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

struct LoadResult {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Where the CPU went during an HTTP load (absent for the paced run).
    cpu: Option<CpuUse>,
}

/// CPU seconds the load's two sides used while it ran: this process (the
/// HTTP clients: building bodies, reqwest, reading answers) and the server
/// process (everything it does for the requests), beside the wall time.
/// On a box where both share the same cores, the clients' share says how
/// much of the machine the measurement itself takes.
struct CpuUse {
    clients_s: f64,
    server_s: f64,
    wall_s: f64,
    requests: u64,
}

impl CpuUse {
    /// `clients x% (y% of the CPU both used)`: x of one core.
    fn clients_share(&self) -> String {
        format!(
            "{:.0}% of a core ({:.0}% of both sides')",
            100.0 * self.clients_s / self.wall_s,
            100.0 * self.clients_s / (self.clients_s + self.server_s).max(f64::EPSILON)
        )
    }

    fn server_share(&self) -> String {
        format!("{:.0}% of a core", 100.0 * self.server_s / self.wall_s)
    }

    fn server_us_per_request(&self) -> f64 {
        1e6 * self.server_s / self.requests.max(1) as f64
    }
}

/// CPU seconds (user + system) this process has used, all its threads
/// (`getrusage(RUSAGE_SELF)`; children are not counted).
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds (utime + stime) process `pid` has used, from /proc/PID/stat.
fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count after its `)`.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are the 12th and 13th after `)`.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<f64>()?)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

fn summarize(mut latencies: Vec<f64>, events: u64, elapsed: f64) -> LoadResult {
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
            * 1000.0
    };
    LoadResult {
        events_per_s: events as f64 / elapsed,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        max_ms: pick(1.0),
        cpu: None,
    }
}

async fn http_load(
    server: &Server,
    clients: usize,
    batch: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let (clients_cpu, server_cpu) = (own_cpu_seconds(), process_cpu_seconds(server.child.id())?);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (url, token) = (server.url(), server.token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut lat = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let body = if batch == 1 {
                    sample_event(n).to_string()
                } else {
                    serde_json::Value::Array(
                        (0..batch as u64).map(|i| sample_event(n + i)).collect(),
                    )
                    .to_string()
                };
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                if r.status() != 201 {
                    bail!("client {c}: status {}", r.status());
                }
                r.bytes().await?;
                lat.push(t.elapsed().as_secs_f64());
                n += batch as u64;
            }
            anyhow::Ok((lat, n))
        }));
    }
    let mut all = Vec::new();
    let mut events = 0;
    for t in tasks {
        let (lat, n) = t.await??;
        all.extend(lat);
        events += n;
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu = CpuUse {
        clients_s: own_cpu_seconds() - clients_cpu,
        server_s: process_cpu_seconds(server.child.id())? - server_cpu,
        wall_s,
        requests: all.len() as u64,
    };
    let mut result = summarize(all, events, wall_s);
    result.cpu = Some(cpu);
    Ok(result)
}

async fn paced_load(
    server: &Server,
    per_second: f64,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let http = reqwest::Client::new();
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut n = 0;
    while started.elapsed() < duration {
        interval.tick().await;
        let t = Instant::now();
        let r = http
            .post(server.url())
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .body(sample_event(n).to_string())
            .send()
            .await?;
        if r.status() != 201 {
            bail!("status {}", r.status());
        }
        r.bytes().await?;
        lat.push(t.elapsed().as_secs_f64());
        n += 1;
    }
    Ok(summarize(lat, n, started.elapsed().as_secs_f64()))
}

/// Fills a database with `n` events through the service's schema.
pub(super) fn fill(path: &Path, n: u64) -> anyhow::Result<()> {
    fill_as(path, n, "bench")
}

/// [`fill`] for the database of store `store_id`.
pub(super) fn fill_as(path: &Path, n: u64, store_id: &str) -> anyhow::Result<()> {
    let conn = store::open_for_writing(path, store_id)?.into_raw();
    conn.pragma_update(None, "synchronous", "OFF")?;
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    let mut seq = 0u64;
    while seq < n {
        let tx = conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO event_log (seq, id, type, subject, time, recorded, local_day, data)
                 VALUES (?1, ?2, (SELECT code FROM event_types WHERE name = ?3), ?4, ?5, ?5, ?6, ?7)",
            )?;
            for _ in 0..10_000 {
                if seq >= n {
                    break;
                }
                seq += 1;
                let event = sample_event(seq);
                let data = event["data"].to_string();
                let at = start + time::Duration::milliseconds(seq as i64 * 250);
                stmt.execute(rusqlite::params![
                    seq as i64,
                    &uuid::Uuid::now_v7().as_bytes()[..],
                    "store.transaction.completed",
                    event["data"]["transaction_id"].as_str(),
                    crate::events::unix_ms(at),
                    at.date().to_string(),
                    data
                ])?;
            }
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'last_seq'",
            [seq.to_string()],
        )?;
        tx.commit()?;
        if seq % 200_000 == 0 {
            eprintln!("  {seq} / {n} events");
        }
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// A config for the service under measurement: database in `dir`, API on
/// `port`, no central, quiet logs.
fn write_plain_config(config: &Path, dir: &Path, port: u16) -> anyhow::Result<()> {
    std::fs::write(
        config,
        format!(
            "[store]\nid = \"bench\"\n[storage]\npath = \"{}\"\nmax_size_mb = 100000\n[api]\nlisten = \"127.0.0.1:{port}\"\n[log]\nlevel = \"warn\"\n",
            dir.join("store-edge.db").display()
        ),
    )?;
    Ok(())
}

/// Milliseconds from spawning the binary to `/readyz` answering 200.
fn time_to_ready(dir: &Path) -> anyhow::Result<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("ready.toml");
    write_plain_config(&config, dir, port)?;
    let started = Instant::now();
    let server = Server::spawn(&config, port, String::new())?;
    server.wait_ready(Duration::from_secs(60))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(server);
    Ok(ms)
}
