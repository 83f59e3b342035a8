//! `store-edge bench kpi`: a store's year (10 million events over 365 days
//! by default: ~800 transactions, ~40 pickups, ~30 feedback answers a day,
//! scans and identifications in proportion) and a flagship at 10× for 28
//! days, generated straight into databases through the writer path; the
//! dashboard's report (`kpi::report`) for today, 28 and 365 days; the cost
//! of the KPI ingest (events/s with and without it, same run, same events);
//! database size per million events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use super::ingest::fresh_dir;
use super::pickup::quantiles;
use crate::events::{lookup, NewEvent};
use crate::kpi;
use crate::store::{self, Writer, WriterSettings};
use crate::telemetry::out::outln;

#[derive(Debug, Args)]
pub struct KpiArgs {
    /// Working directory.
    #[arg(long, default_value = "var/bench")]
    pub dir: PathBuf,
    /// Events of the store's year.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Days of the store's year.
    #[arg(long, default_value_t = 365)]
    pub days: u64,
    /// Reports per window for the percentiles.
    #[arg(long, default_value_t = 30)]
    pub runs: u32,
    /// Only the reports, on the databases an earlier run left in
    /// `--dir` (`kpi/year.db`, `kpi/flagship.db` when present): fills
    /// nothing and measures no ingest (`--events`/`--days` must be the
    /// earlier run's).
    #[arg(long)]
    pub reuse: bool,
    /// Like `--reuse`, but first completes a year an earlier run left
    /// unfinished in `--dir` (e.g. stopped by a full disk): the same
    /// events are generated, those already recorded skipped.
    #[arg(long, conflicts_with = "reuse")]
    pub resume: bool,
    /// Skip the flagship (28 days at 10x): the ingest comparison and the
    /// year's reports only.
    #[arg(long)]
    pub no_flagship: bool,
}

/// Milliseconds of CPU time a clock (`CLOCK_THREAD_CPUTIME_ID`, or a
/// thread's from `pthread_getcpuclockid`) has counted: what a report or
/// the writer cost whatever else the box runs (the wall times of a loaded
/// box are those of a fraction of its cores).
fn cpu_ms(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; a bad clock id is an error
    // return, read as 0.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// The CPU clock of a running thread.
fn thread_clock(thread: &std::thread::JoinHandle<()>) -> Option<libc::clockid_t> {
    use std::os::unix::thread::JoinHandleExt;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive (its handle is not joined) and `clock`
    // is a valid place to write.
    (unsafe { libc::pthread_getcpuclockid(thread.as_pthread_t(), &mut clock) } == 0)
        .then_some(clock)
}

/// 2025-01-01T00:00:00Z: the year starts here.
const YEAR_START: i64 = 1_735_689_600;

fn event(type_name: &str, at: i64, data: Value) -> anyhow::Result<NewEvent> {
    let event_type = lookup(type_name).ok_or_else(|| anyhow::anyhow!("unknown {type_name}"))?;
    let Value::Object(map) = data else {
        anyhow::bail!("bench data is an object")
    };
    Ok(NewEvent {
        event_type,
        subject: None,
        time: Some(time::OffsetDateTime::from_unix_timestamp(at)?),
        data_json: serde_json::to_string(&map)?,
        data: map,
    })
}

fn token(i: u64) -> String {
    format!("{:x<43}", format!("c{i}"))
}

/// One day's events, `per_day` of them, `scale` times a store's pickups,
/// transactions and answers (the rest scans and identifications).
fn day_events(day: u64, per_day: u64, scale: u64, rng: &mut u64) -> anyhow::Result<Vec<NewEvent>> {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let base = YEAR_START + day as i64 * 86_400 + 8 * 3600;
    let open = 12 * 3600u64;
    let (txs, pickups, answers) = (800 * scale, 40 * scale, 30 * scale);
    let rest = per_day.saturating_sub(txs + pickups * 5 + answers);
    let mut out = Vec::with_capacity(per_day as usize);
    for i in 0..txs {
        let at = base + (next() % open) as i64;
        let reg = format!("r{}", i % (4 * scale));
        let mut d = json!({"transaction_id": format!("T{day}-{i}"), "register_id": reg,
            "total_minor": 500 + next() % 9000, "currency": "EUR", "item_count": 1 + next() % 6});
        if next() % 5 == 0 {
            d["customer_token"] = json!(token(next() % 20_000));
        }
        out.push(event("store.transaction.completed", at, d)?);
    }
    for i in 0..pickups {
        let id = format!("W-{day}-{i}");
        let at = base + (next() % (open / 2)) as i64;
        out.push(event("store.pickup.received", at, json!({"order_id": id, "version": 1, "channel": "web", "item_count": 2, "pickup_by": "2030-01-01T00:00:00Z"}))?);
        out.push(event(
            "store.pickup.ready",
            at + 3600,
            json!({"order_id": id, "staff_id": "s", "location": "A", "missing_lines": []}),
        )?);
        out.push(event(
            "store.pickup.customer_arrived",
            at + 7200,
            json!({"order_id": id, "verified_by": "pass"}),
        )?);
        out.push(event("store.pickup.handed_over", at + 7400, json!({"order_id": id, "staff_id": "s", "verified_by": "pass", "lines": [], "partial": false}))?);
        out.push(event("store.receipt.printed", at + 7410, json!({"printer_id": "p", "document": "handover_confirmation", "job_id": format!("J{day}-{i}")}))?);
    }
    for _ in 0..answers {
        let at = base + (next() % open) as i64;
        out.push(event(
            "store.feedback.submitted",
            at,
            json!({"score": next() % 11, "context": "checkout"}),
        )?);
    }
    for i in 0..rest {
        let at = base + (next() % open) as i64;
        let reg = format!("r{}", i % (4 * scale));
        let e = match i % 20 {
            0 | 1 => event(
                "store.loyalty.identified",
                at,
                json!({"customer_token": token(next() % 20_000), "method": "barcode", "device_id": format!("reader-{reg}"), "register_id": reg}),
            )?,
            2 => event(
                "store.product.scanned",
                at,
                json!({"symbology": "]E0", "device_id": "scan", "context": "price_check", "register_id": reg}),
            )?,
            _ => event(
                "store.product.scanned",
                at,
                json!({"symbology": "]E0", "device_id": format!("scan-{reg}"), "context": "basket", "gtin": "04006381333931"}),
            )?,
        };
        out.push(e);
    }
    out.sort_by_key(|e| e.time.map(|t| t.unix_timestamp()));
    Ok(out)
}

/// What `fill` measured over its first `timed` events.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    /// Events per second of wall time.
    per_s: f64,
    /// Microseconds of the writer thread's CPU time per event.
    writer_us: f64,
}

/// Appends `days` days of `per_day` events; returns the rate of the first
/// `timed` events (`timed` = 0: all).
fn fill(
    path: &Path,
    days: u64,
    per_day: u64,
    scale: u64,
    kpi_ingest: bool,
    timed: u64,
) -> anyhow::Result<Rate> {
    let db = store::open_for_writing(path, "bench")?;
    let mut settings =
        WriterSettings::new(path.to_owned(), u64::MAX / 2, 30, jiff::tz::TimeZone::UTC);
    settings.kpi_ingest = kpi_ingest;
    let (writer, thread) = Writer::start(db, settings, Arc::new(crate::telemetry::Metrics::new()))?;
    let clock = thread_clock(&thread);
    let writer_cpu = || clock.map(cpu_ms).unwrap_or(0.0);
    let cpu_started = writer_cpu();
    // Resuming: the events already recorded are the first ones generated
    // (each chunk is one op, committed whole or not at all).
    let recorded = writer
        .health
        .last_seq
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut rng = 0x5eed_u64;
    let (mut done, mut rate) = (0u64, Rate::default());
    let started = Instant::now();
    for day in 0..days {
        let events = day_events(day, per_day, scale, &mut rng)?;
        for chunk in events.chunks(2_000) {
            if done + chunk.len() as u64 <= recorded {
                done += chunk.len() as u64;
                continue;
            }
            let chunk = chunk.to_vec();
            done += chunk.len() as u64;
            writer.run_blocking(1, move |ctx| {
                for e in &chunk {
                    ctx.append(e)?;
                }
                Ok(())
            })?;
            if timed > 0 && done >= timed && rate.per_s == 0.0 {
                rate = Rate {
                    per_s: done as f64 / started.elapsed().as_secs_f64(),
                    writer_us: (writer_cpu() - cpu_started) * 1000.0 / done as f64,
                };
                if !kpi_ingest {
                    break;
                }
            }
        }
        if !kpi_ingest && rate.per_s > 0.0 {
            break;
        }
        if day % 30 == 29 {
            eprintln!("  day {} of {days}: {done} events", day + 1);
        }
    }
    if rate.per_s == 0.0 {
        rate = Rate {
            per_s: done as f64 / started.elapsed().as_secs_f64(),
            writer_us: (writer_cpu() - cpu_started) * 1000.0 / done.max(1) as f64,
        };
    }
    drop(writer);
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    Ok(rate)
}

/// p50/p99 ms of the report over the last `days` days, and the p50 of its
/// CPU time.
fn report_ms(path: &Path, last_day: u64, days: u64, runs: u32) -> anyhow::Result<(f64, f64, f64)> {
    let db = store::open_existing(path, "bench")?;
    let settings = kpi::Settings {
        store_id: "bench".into(),
        timezone_name: "UTC".into(),
        tz: jiff::tz::TimeZone::UTC,
        ready_within_min: 120,
        reminder_before_s: 24 * 3600,
    };
    let first = jiff::civil::date(2025, 1, 1);
    let to = first.checked_add(jiff::Span::new().days(last_day as i64 + 1))?;
    let from = to.checked_sub(jiff::Span::new().days(days as i64))?;
    let window = kpi::Window { from, to };
    let now = jiff::Timestamp::from_second(YEAR_START + last_day as i64 * 86_400 + 20 * 3600)?;
    let (mut ms, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID));
        kpi::report(&db, &settings, &window, now)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu.push(cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID) - c);
    }
    let (p50, p99) = quantiles(ms);
    Ok((p50, p99, quantiles(cpu).0))
}

fn mib_per_million(path: &Path, events: u64) -> f64 {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64;
    size / (1 << 20) as f64 / (events.max(1) as f64 / 1e6)
}

pub fn run(args: KpiArgs) -> anyhow::Result<()> {
    outln!("# store-edge bench kpi")?;
    outln!()?;
    let per_day = (args.events / args.days.max(1)).max(1_200);
    let timed = (per_day * args.days).min(1_000_000);
    let (dir, ingest) = if args.reuse || args.resume {
        let dir = std::path::absolute(args.dir.join("kpi"))?;
        if !dir.join("year.db").exists() {
            anyhow::bail!(
                "--reuse/--resume: no {} (run bench kpi without them first)",
                dir.join("year.db").display()
            );
        }
        if args.resume {
            eprintln!("[1/4] completing the store's year in {} ...", dir.display());
            fill(&dir.join("year.db"), args.days, per_day, 1, true, 0)?;
        }
        (dir, None)
    } else {
        let dir = fresh_dir(&args.dir, "kpi")?;
        eprintln!(
            "[1/4] a store's year: {} days of {per_day} events, KPI ingest on ...",
            args.days
        );
        let with = fill(&dir.join("year.db"), args.days, per_day, 1, true, timed)?;
        eprintln!("[2/4] the same first {timed} events with the KPI ingest off ...");
        let without = fill(&dir.join("no-kpi.db"), args.days, per_day, 1, false, timed)?;
        if !args.no_flagship {
            eprintln!("[3/4] a flagship: 28 days at 10x ...");
            fill(
                &dir.join("flagship.db"),
                28.min(args.days),
                per_day * 10,
                10,
                true,
                0,
            )?;
        }
        (dir, Some((with, without)))
    };
    let (year, flagship) = (dir.join("year.db"), dir.join("flagship.db"));
    eprintln!(
        "[4/4] the dashboard's report, {} runs per window ...",
        args.runs
    );
    let last = args.days - 1;
    outln!("| database | window | report p50 ms | report p99 ms | CPU p50 ms |")?;
    outln!("|---|---|---|---|---|")?;
    let flagship_days = if flagship.exists() && !args.no_flagship {
        28.min(args.days)
    } else {
        0
    };
    for (name, path, last, windows) in [
        ("year", &year, last, &[1u64, 28, 365][..]),
        (
            "flagship",
            &flagship,
            flagship_days.saturating_sub(1),
            if flagship_days > 0 {
                &[1u64, 28][..]
            } else {
                &[][..]
            },
        ),
    ] {
        for &w in windows {
            let w = w.min(last + 1);
            let (p50, p99, cpu) = report_ms(path, last, w, args.runs)?;
            outln!("| {name} | {w} days | {p50:.1} | {p99:.1} | {cpu:.1} |")?;
        }
    }
    if let Some((with, without)) = ingest {
        outln!()?;
        outln!(
            "| ingest (first {timed} events, writer path) | events/s | writer CPU µs per event |"
        )?;
        outln!("|---|---|---|")?;
        outln!(
            "| KPI ingest on | {:.0} | {:.2} |",
            with.per_s,
            with.writer_us
        )?;
        outln!(
            "| KPI ingest off | {:.0} | {:.2} |",
            without.per_s,
            without.writer_us
        )?;
        outln!(
            "| cost | {:.1} % slower | {:.1} % more CPU |",
            (without.per_s / with.per_s.max(1.0) - 1.0) * 100.0,
            (with.writer_us / without.writer_us.max(1e-9) - 1.0) * 100.0
        )?;
    }
    outln!()?;
    let total = per_day * args.days;
    outln!(
        "database size: {:.1} MiB per million events (year, {total} events)",
        mib_per_million(&year, total)
    )?;
    Ok(())
}
