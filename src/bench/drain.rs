//! `store-edge bench drain`: drains a backlog (default 1,000,000 events) to
//! the fake central in count-only mode on loopback, timed from the edge
//! process's start, with a progress line; gzip bytes per event on the wire;
//! peak RSS. In the same run: the one-thread in-process limit (page,
//! serialize, gzip, mark sent; no HTTP) at the same gzip level and at
//! level 1, and the simplest correct alternative (one event per request).

use crate::telemetry::out::outln;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::ingest::{fill, fresh_dir, signal_process, wait_ready_at, Server};
use crate::store::{self, sync as store_sync};
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

    outln!("| measurement | events/s | gzip bytes/event | peak RSS MiB |\n|---|---|---|---|")?;
    for level in [args.gzip_level, 1] {
        let copy = dir.join(format!("limit-{level}.db"));
        std::fs::copy(&limit_db, &copy)?;
        eprintln!("in-process limit at gzip level {level} ...");
        let (rate, bpe) = in_process_limit(&copy, level, args.batch_max_events)?;
        outln!("| in-process limit, one thread, level {level} (page, serialize, gzip, mark sent) | {rate:.0} | {bpe:.1} | – |")?;
    }

    let (rate, bpe, rss) = drain_through_http(
        &dir,
        "pipeline",
        &db,
        args.events,
        args.gzip_level,
        args.batch_max_events,
    )?;
    outln!("| **store-edge → fake central (count-only), HTTP on loopback, timed from process start** | **{rate:.0}** | **{bpe:.1}** | **{:.1}** |", rss as f64 / 1024.0)?;

    let simple_dir = fresh_dir(&args.dir, "drain-simple")?;
    let simple_db = simple_dir.join("store-edge.db");
    fill(&simple_db, args.simple_events)?;
    let (rate, bpe, rss) = drain_through_http(
        &simple_dir,
        "one event per request",
        &simple_db,
        args.simple_events,
        args.gzip_level,
        1,
    )?;
    outln!("| simplest correct alternative: one event per request ({} events) | {rate:.0} | {bpe:.1} | {:.1} |", args.simple_events, rss as f64 / 1024.0)?;
    Ok(())
}

/// One thread, no HTTP: what the pipeline could do with a single core.
fn in_process_limit(path: &Path, level: u32, batch_events: usize) -> anyhow::Result<(f64, f64)> {
    let db = store::open_for_writing(path, "bench")?;
    // Marking sent is plain SQL on a second connection (the raw limit).
    let conn = store::open_for_writing(path, "bench")?.into_raw();
    let source = crate::events::source_of("bench");
    let started = Instant::now();
    let (mut total, mut wire, mut after) = (0u64, 0u64, 0u64);
    loop {
        let events = store_sync::unsent_after(&db, after, batch_events, 64 * 1024 * 1024)?;
        let Some(last) = events.last() else { break };
        let (first, last) = (events[0].sequence, last.sequence);
        let body = batch::encode(&events, &source)?;
        let gz = batch::gzip(&body, level)?;
        wire += gz.len() as u64;
        total += events.len() as u64;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE events SET sync_state = 1, sent_at = ?3 WHERE seq BETWEEN ?1 AND ?2 AND sync_state = 0",
            rusqlite::params![first as i64, last as i64, now],
        )?;
        tx.commit()?;
        after = last;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((total as f64 / secs, wire as f64 / total.max(1) as f64))
}

/// Starts a count-only fake central and the edge on `db`; returns events/s
/// from the edge's spawn until nothing is unsent, wire bytes per event and
/// the edge's peak RSS (KiB).
fn drain_through_http(
    dir: &Path,
    label: &str,
    db: &Path,
    events: u64,
    level: u32,
    batch_events: usize,
) -> anyhow::Result<(f64, f64, u64)> {
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
    let reader =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut last_print = Instant::now();
    let mut hwm = 0;
    loop {
        hwm = hwm.max(server.memory_kib().map(|m| m.0).unwrap_or(0));
        let unsent: i64 = reader.query_row(
            "SELECT count(*) FROM events WHERE sync_state = 0",
            [],
            |r| r.get(0),
        )?;
        if unsent == 0 {
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let done = events.saturating_sub(unsent as u64);
            eprintln!(
                "  {label}: {done} / {events} drained ({:.0} events/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("drain did not finish in 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secs = started.elapsed().as_secs_f64();
    drop(server);
    let stats = fetch_stats(central_port).unwrap_or_default();
    signal_process(central.id(), 15);
    let _ = central.wait();
    let wire = stats
        .get("wire_bytes")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    Ok((events as f64 / secs, wire / events.max(1) as f64, hwm))
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
