//! `store-edge bench print-jobs`: the print queue's running part, in
//! process, through the real writer, the real printer worker and a fake
//! TCP printer on loopback that answers `DLE EOT`. Job latency from the
//! enqueue (as the API's handle does it: one writer op, then a ring) to the
//! printer's receipt of the job's last byte, at a steady rate; then the
//! resident memory with a backlog of queued jobs waiting for paper.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ingest::fresh_dir;
use crate::devices::{PrinterConfig, PrinterTransport};
use crate::printers::fake_printer::FakePrinter;
use crate::printers::registry::Registry;
use crate::printers::worker::Printers;
use crate::printers::Wake;
use crate::printing::{encode, Document, Profile};
use crate::store::print_jobs::{self, NewJob};
use crate::store::{self, ReadPool, Writer, WriterSettings};
use crate::telemetry::out::outln;

#[derive(Debug, clap::Args)]
pub struct PrintJobsArgs {
    /// Working directory.
    #[arg(long, default_value = "var/bench")]
    pub dir: std::path::PathBuf,
    /// Jobs sent for the latency, at `--rate`.
    #[arg(long, default_value_t = 300)]
    pub jobs: usize,
    /// Jobs per second.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Jobs queued while the paper is out, for the memory.
    #[arg(long, default_value_t = 1_000)]
    pub backlog: usize,
}

/// A receipt of about 20 lines (the size of a typical till receipt), as a
/// free document.
fn receipt_document(i: usize) -> serde_json::Value {
    let mut blocks = vec![json!({"kind": "text", "text": format!("Beleg {i:06}"), "bold": true})];
    for line in 0..18 {
        blocks.push(json!({"kind": "columns", "left": format!("Artikel {line:02} Größe M"), "right": "12,50 €"}));
    }
    blocks.push(json!({"kind": "cut"}));
    json!({ "blocks": blocks })
}

/// The receipt as the queue stores a job (`printing::job::Content`, what
/// `POST /api/v1/print-jobs` stores for a free document).
fn receipt(i: usize) -> String {
    crate::printing::job::Content::Document {
        document: receipt_document(i),
    }
    .to_json()
}

async fn enqueue(writer: &Writer, wake: &Wake, document: String) -> anyhow::Result<()> {
    writer
        .run(0, move |ctx| {
            print_jobs::enqueue(
                ctx,
                &NewJob {
                    printer_id: "bench",
                    document_kind: "receipt",
                    document: &document,
                    token_hash: None,
                    idempotency: None,
                    now: time::OffsetDateTime::now_utc().unix_timestamp(),
                },
            )
        })
        .await?;
    wake.ring();
    Ok(())
}

pub fn run(args: PrintJobsArgs) -> anyhow::Result<()> {
    let dir = fresh_dir(&args.dir, "print-jobs")?;
    let path = dir.join("print.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let conn = store::open_for_writing(&path, "bench")?;
    let (writer, thread) = Writer::start(
        conn,
        WriterSettings {
            path: path.clone(),
            max_size_bytes: 1 << 30,
            retain_sent_days: 30,
            timezone: jiff::tz::TimeZone::UTC,
            kpi_ingest: true,
        },
        Arc::new(crate::telemetry::Metrics::new()),
    )?;
    let profile = Profile::by_name("epson_tm_t20").ok_or_else(|| anyhow::anyhow!("profile"))?;
    // Every receipt encodes to the same length (the number is fixed-width).
    eprintln!("[0/2] the limit: one FULL commit of one row on the same disk ...");
    let full_commit_ms = super::ingest::raw_single_commit(&dir, 300)? * 1000.0;
    let doc: Document = serde_json::from_value(receipt_document(0))?;
    let job_len = encode(&doc, profile, profile.default_page)?.len();
    let result = rt.block_on(async {
        let fake = FakePrinter::start(false).await?;
        let wake = Wake::default();
        let printer = PrinterConfig {
            id: "bench".into(),
            register: None,
            profile,
            code_page: profile.default_page,
            logo: None,
            drawer: false,
            transport: PrinterTransport::Tcp {
                address: fake.address.clone(),
            },
        };
        let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
        Printers {
            writer: writer.clone(),
            readers: ReadPool::new(&path),
            wake: wake.clone(),
            live: crate::live::Live::new(),
            registry: Registry::default(),
            printing: Default::default(),
        }
        .start(std::slice::from_ref(&printer), &tasks, &cancel)
        .await?;

        eprintln!("[1/2] {} jobs at {}/s ...", args.jobs, args.rate);
        let mut latencies = Vec::with_capacity(args.jobs);
        let gap = Duration::from_secs_f64(1.0 / args.rate);
        let mut next = Instant::now();
        for i in 0..args.jobs {
            tokio::time::sleep_until(next.into()).await;
            next += gap;
            let started = Instant::now();
            enqueue(&writer, &wake, receipt(i)).await?;
            let want = (i + 1) * job_len;
            // One deadline per job, whatever else the printer receives.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let changed = fake.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if fake.received_len() >= want {
                    break;
                }
                tokio::time::timeout_at(deadline, changed)
                    .await
                    .map_err(|_| anyhow::anyhow!(
                        "job {i} did not arrive within 30 s (its state and reason: the print_jobs table of {})",
                        path.display()
                    ))?;
            }
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }

        eprintln!("[2/2] {} jobs waiting for paper ...", args.backlog);
        fake.set_paper_out(true);
        // Two polls: the worker has seen the paper out.
        tokio::time::sleep(crate::printers::worker::POLL * 2).await;
        let rss_before = crate::telemetry::memory_kib().map_or(0, |m| m.1);
        for i in 0..args.backlog {
            enqueue(&writer, &wake, receipt(args.jobs + i)).await?;
        }
        tokio::time::sleep(crate::printers::worker::POLL * 3).await;
        let rss_after = crate::telemetry::memory_kib().map_or(0, |m| m.1);
        let printed_meanwhile = fake.received_len() - args.jobs * job_len;
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
        anyhow::Ok((latencies, rss_before, rss_after, printed_meanwhile))
    });
    drop(writer);
    let _ = thread.join();
    let (latencies, rss_before, rss_after, printed_meanwhile) = result?;
    let (p50, p99) = super::pickup::quantiles(latencies.clone());
    let max = latencies.iter().copied().fold(0.0, f64::max);
    outln!("# store-edge bench print-jobs")?;
    outln!()?;
    outln!("| measurement | value |")?;
    outln!("|---|---|")?;
    outln!(
        "| job latency, enqueue → last byte at the printer ({} jobs of {} bytes at {}/s) | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms |",
        latencies.len(),
        job_len,
        args.rate,
        p50,
        p99,
        max
    )?;
    outln!(
        "| the limit, same disk and run: two FULL commits of one row (the enqueue and `sending` come before the first byte) | 2 × {:.3} ms = {:.3} ms |",
        full_commit_ms,
        2.0 * full_commit_ms
    )?;
    outln!(
        "| resident memory (VmRSS) before / with {} jobs queued, paper out | {} KiB / {} KiB |",
        args.backlog,
        rss_before,
        rss_after
    )?;
    outln!(
        "| bytes printed while the paper was out | {} |",
        printed_meanwhile
    )?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
