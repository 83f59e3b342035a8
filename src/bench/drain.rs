//! `store-edge bench drain`: drains a backlog (default 1,000,000 events) to
//! the fake central in count-only mode on loopback, timed from the edge
//! process's start, with a progress line; gzip bytes per event on the wire;
//! peak RSS; the CPU time per event of the edge process and of the fake
//! central (utime + stime from /proc/PID/stat) and their shares of the
//! box. In the same run: the one-thread in-process limit (read + encode,
//! gzip, fix the batch and mark it sent through the writer with the
//! pipeline's own functions; no HTTP) at the same gzip level and at level
//! 1, with its CPU per event, and the simplest correct alternative (one
//! event per request).

use crate::telemetry::out::outln;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::ingest::{fill, fresh_dir, signal_process, wait_ready_at, Server};
use crate::store::{self, drain_read, sync as store_sync};
use crate::sync::batch;

#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// Working directory (on the disk to measure).
    #[arg(long, default_value = "var/bench")]
    pub dir: PathBuf,
    /// Backlog size.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// gzip level for the edge and the in-process limit.
    #[arg(long, default_value_t = 6)]
    pub gzip_level: u32,
    /// Events per batch (central takes at most 5000).
    #[arg(long, default_value_t = 5000)]
    pub batch_max_events: usize,
    /// Backlog for the one-event-per-request contrast.
    #[arg(long, default_value_t = 20_000)]
    pub simple_events: u64,
}

pub fn run(args: DrainArgs) -> anyhow::Result<()> {
    outln!(
        "# store-edge bench drain ({} events, gzip level {}, batches of up to {})",
        args.events,
        args.gzip_level,
        args.batch_max_events
    )?;
    outln!()?;
    let dir = fresh_dir(&args.dir, "drain")?;
    eprintln!("building a backlog of {} events ...", args.events);
    let db = dir.join("store-edge.db");
    fill(&db, args.events)?;
    let limit_db = dir.join("limit.db");
    std::fs::copy(&db, &limit_db).context("copy the backlog")?;

    outln!("| measurement | events/s | gzip bytes/event | peak RSS MiB | CPU µs/event |\n|---|---|---|---|---|")?;
    let mut limit_cpu = 0.0;
    let mut limit_rate = 0.0;
    for level in [args.gzip_level, 1] {
        let copy = dir.join(format!("limit-{level}.db"));
        std::fs::copy(&limit_db, &copy)?;
        eprintln!("in-process limit at gzip level {level} ...");
        let (rate, bpe, cpu) = in_process_limit(&copy, level, args.batch_max_events)?;
        if level == args.gzip_level {
            (limit_cpu, limit_rate) = (cpu, rate);
        }
        outln!("| in-process limit, one thread, level {level} (read + encode, gzip, fix the batch and mark sent through the writer) | {rate:.0} | {bpe:.1} | – | {cpu:.2} |")?;
    }

    let drained = drain_through_http(
        &dir,
        "pipeline",
        &db,
        args.events,
        args.gzip_level,
        args.batch_max_events,
    )?;
    outln!("| **store-edge → fake central (count-only), HTTP on loopback, timed from process start** | **{:.0}** | **{:.1}** | **{:.1}** | **{:.2}** (edge) |", drained.rate, drained.bytes_per_event, drained.peak_rss_kib as f64 / 1024.0, drained.edge_cpu_us)?;
    outln!("| fake central (count-only: gunzip, parse, answer), the receiver on the same box | – | – | – | {:.2} |", drained.central_cpu_us)?;

    let simple_dir = fresh_dir(&args.dir, "drain-simple")?;
    let simple_db = simple_dir.join("store-edge.db");
    fill(&simple_db, args.simple_events)?;
    let simple = drain_through_http(
        &simple_dir,
        "one event per request",
        &simple_db,
        args.simple_events,
        args.gzip_level,
        1,
    )?;
    outln!("| simplest correct alternative: one event per request ({} events) | {:.0} | {:.1} | {:.1} | {:.2} (edge) |", args.simple_events, simple.rate, simple.bytes_per_event, simple.peak_rss_kib as f64 / 1024.0, simple.edge_cpu_us)?;
    outln!()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    outln!("| ratio (same run) | value |\n|---|---|")?;
    outln!(
        "| edge CPU per event / the limit's (goal ≤ 1.2) | {:.2} ({:.2} vs {limit_cpu:.2} µs) |",
        drained.edge_cpu_us / limit_cpu.max(f64::MIN_POSITIVE),
        drained.edge_cpu_us
    )?;
    outln!(
        "| wall-clock drain / the one-thread limit (goal ≥ 1.5) | {:.2} ({:.0} vs {limit_rate:.0} events/s) |",
        drained.rate / limit_rate.max(f64::MIN_POSITIVE),
        drained.rate
    )?;
    outln!(
        "| CPU share of the box during the drain ({cores:.0} cores): edge / fake central | {:.0} % / {:.0} % |",
        100.0 * drained.edge_cpu_s / (drained.secs * cores),
        100.0 * drained.central_cpu_s / (drained.secs * cores)
    )?;
    outln!(
        "| load average at the end | {} |",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    Ok(())
}

/// What one drain through HTTP measured.
struct Drained {
    rate: f64,
    secs: f64,
    bytes_per_event: f64,
    peak_rss_kib: u64,
    edge_cpu_s: f64,
    edge_cpu_us: f64,
    central_cpu_s: f64,
    central_cpu_us: f64,
}

/// utime + stime of a process in seconds, from /proc/PID/stat.
fn process_cpu_s(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file are the 12th and 13th after ')'.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<u64>()? as f64)
    };
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// One thread at a time, no HTTP: what the pipeline could do with a
/// single core. The same work as the edge per batch with the same
/// functions: read the unsent rows straight into the JSON body
/// (`drain_read`, `BatchBody`), gzip, fix the batch (`create_batch`) and
/// mark it sent (`apply_results`) through the real writer thread, waiting
/// for each step (so only one thread works at a time). Returns events/s,
/// gzip bytes per event and the process's CPU µs per event.
fn in_process_limit(
    path: &Path,
    level: u32,
    batch_events: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let settings = store::WriterSettings::new(
        path.to_path_buf(),
        u64::MAX / 2,
        30,
        jiff::tz::TimeZone::UTC,
    );
    let (writer, thread) = store::Writer::start(
        store::open_for_writing(path, "bench")?,
        settings,
        std::sync::Arc::new(crate::telemetry::Metrics::new()),
    )?;
    let readers = store::ReadPool::new(path);
    let conn = readers.get()?;
    let source = crate::events::source_of("bench");
    let cpu_before = process_cpu_s(std::process::id())?;
    let started = Instant::now();
    let (mut total, mut wire, mut after) = (0u64, 0u64, 0u64);
    let mut buffer = Vec::new();
    loop {
        let mut body = batch::BatchBody::with_buffer(&source, batch_events, buffer)?;
        let mut failed = None;
        drain_read::for_each_unsent_after(&conn, after, batch_events, 64 * 1024 * 1024, |e| {
            if let Err(err) = body.push(e) {
                failed.get_or_insert(err);
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        let (json, events) = body.finish();
        let (Some(&first), Some(&last)) = (events.seqs().first(), events.seqs().last()) else {
            break;
        };
        let range = store_sync::BatchRange {
            key: format!("bench-{first}-{last}"),
            first_seq: first,
            last_seq: last,
        };
        let fixed = range.clone();
        writer.run_blocking(0, move |w| store_sync::create_batch(w, &fixed))?;
        let gz = batch::gzip(&json, level)?;
        buffer = json;
        wire += gz.len() as u64;
        total += events.len() as u64;
        let fates: Vec<(u64, store_sync::EventFate)> = events
            .seqs()
            .iter()
            .map(|&s| (s, store_sync::EventFate::Delivered))
            .collect();
        writer.run_blocking(0, move |w| store_sync::apply_results(w, &range.key, &fates))?;
        after = last;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = process_cpu_s(std::process::id())? - cpu_before;
    drop(conn);
    drop(writer);
    let _ = thread.join();
    let total_f = total.max(1) as f64;
    Ok((
        total as f64 / secs,
        wire as f64 / total_f,
        cpu * 1e6 / total_f,
    ))
}

/// Starts a count-only fake central and the edge on `db`; measures from
/// the edge's spawn until nothing is unsent: events/s, wire bytes per
/// event, the edge's peak RSS and both processes' CPU.
fn drain_through_http(
    dir: &Path,
    label: &str,
    db: &Path,
    events: u64,
    level: u32,
    batch_events: usize,
) -> anyhow::Result<Drained> {
    let exe = std::env::current_exe()?;
    let central_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let token_file = dir.join("central.token");
    crate::config::secret::write_secret_file(&token_file, "bench-central-token-0123456789\n")?;
    let mut central = Command::new(&exe)
        .args([
            "fake-central",
            "--count-only",
            "--listen",
            &format!("127.0.0.1:{central_port}"),
            "--store-id",
            "bench",
        ])
        .arg("--token-file")
        .arg(&token_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let health = format!("http://127.0.0.1:{central_port}");
    let waited = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", central_port)).is_err() {
        if waited.elapsed() > Duration::from_secs(30) {
            let _ = central.kill();
            bail!("fake central did not start");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join(format!("drain-{batch_events}.toml"));
    std::fs::write(
        &config,
        format!(
            "[store]\nid = \"bench\"\n[storage]\npath = \"{}\"\nmax_size_mb = 100000\n[api]\nlisten = \"127.0.0.1:{port}\"\n[central]\nurl = \"{health}\"\ntoken_file = \"{}\"\n[sync]\nbatch_max_events = {batch_events}\nbatch_max_bytes = 67108864\ngzip_level = {level}\n[log]\nlevel = \"warn\"\n",
            db.display(),
            token_file.display()
        ),
    )?;
    let started = Instant::now();
    let server = Server::spawn(&config, port, String::new())?;
    wait_ready_at(port, Duration::from_secs(60))?;
    // The oldest unsent event is one index lookup: the poll costs the box
    // next to nothing (a count of the unsent rows every 50 ms took a
    // visible share of a core from the drain it measured).
    let readers = store::ReadPool::new(db);
    let reader = readers.get()?;
    let mut last_print = Instant::now();
    let mut hwm = 0;
    let (edge_cpu_s, central_cpu_s) = loop {
        hwm = hwm.max(server.memory_kib().map(|m| m.0).unwrap_or(0));
        if store_sync::oldest_unsent(&reader)?.is_none() {
            let edge = process_cpu_s(server.child.id())?;
            let central = process_cpu_s(central.id())?;
            break (edge, central);
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let done = fetch_stats(central_port)
                .ok()
                .and_then(|s| s.get("events_counted").and_then(|v| v.as_u64()))
                .unwrap_or(0);
            eprintln!(
                "  {label}: {done} / {events} drained ({:.0} events/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("drain did not finish in 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let secs = started.elapsed().as_secs_f64();
    drop(reader);
    drop(server);
    let stats = fetch_stats(central_port).unwrap_or_default();
    signal_process(central.id(), 15);
    let _ = central.wait();
    let wire = stats
        .get("wire_bytes")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let n = events.max(1) as f64;
    Ok(Drained {
        rate: events as f64 / secs,
        secs,
        bytes_per_event: wire / n,
        peak_rss_kib: hwm,
        edge_cpu_s,
        edge_cpu_us: edge_cpu_s * 1e6 / n,
        central_cpu_s,
        central_cpu_us: central_cpu_s * 1e6 / n,
    })
}

fn fetch_stats(port: u16) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(b"GET /_control/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("{}");
    Ok(serde_json::from_str(body)?)
}
