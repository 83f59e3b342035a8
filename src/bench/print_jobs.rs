//! `store-edge bench print-jobs`: the whole print path of a running
//! service. A real `store-edge run` (its own process, API on a free
//! loopback port, one `tcp` printer) prints to a fake TCP printer on
//! loopback that answers `DLE EOT` like a real one. Job latency from the
//! `POST /api/v1/printers/{id}/jobs` to the printer's receipt of the job's
//! last byte, at a steady rate; then the service's resident memory with a
//! backlog of jobs posted while the paper is out.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use super::ingest::{fresh_dir, Server};
use crate::printers::fake_printer::FakePrinter;
use crate::printing::{encode, Document, Profile};
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

/// The service's config: one `tcp` printer at the fake printer, the API
/// on `port`, the database in `dir`.
fn write_config(config: &Path, dir: &Path, port: u16, printer: &str) -> anyhow::Result<()> {
    std::fs::write(
        config,
        format!(
            "[store]\nid = \"bench\"\n[storage]\npath = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
             [[devices]]\nid = \"bench\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{printer}\"\nprofile = \"epson_tm_t20\"\n\
             [log]\nlevel = \"warn\"\n",
            dir.join("store-edge.db").display()
        ),
    )?;
    Ok(())
}

/// Posts receipt `i` as a `pos` till does.
async fn post(http: &reqwest::Client, server: &Server, i: usize) -> anyhow::Result<()> {
    let response = http
        .post(format!(
            "http://127.0.0.1:{}/api/v1/printers/bench/jobs",
            server.port
        ))
        .bearer_auth(&server.token)
        .json(&receipt_document(i))
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "POST job {i}: {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

pub fn run(args: PrintJobsArgs) -> anyhow::Result<()> {
    let dir = fresh_dir(&args.dir, "print-jobs")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let profile = Profile::by_name("epson_tm_t20").ok_or_else(|| anyhow::anyhow!("profile"))?;
    eprintln!("[0/2] the limit: one FULL commit of one row on the same disk ...");
    let full_commit_ms = super::ingest::raw_single_commit(&dir, 300)? * 1000.0;
    // Every receipt encodes to the same length (the number is fixed-width).
    let doc: Document = serde_json::from_value(receipt_document(0))?;
    let job_len = encode(&doc, profile, profile.default_page)?.len();
    let result = rt.block_on(async {
        let fake = FakePrinter::start(false).await?;
        let server = Server::start_with(&dir, "pos", |config, port| {
            write_config(config, &dir, port, &fake.address)
        })?;
        let http = reqwest::Client::new();

        eprintln!("[1/2] {} jobs at {}/s through HTTP ...", args.jobs, args.rate);
        let mut latencies = Vec::with_capacity(args.jobs);
        let gap = Duration::from_secs_f64(1.0 / args.rate);
        let mut next = Instant::now();
        for i in 0..args.jobs {
            tokio::time::sleep_until(next.into()).await;
            next += gap;
            let started = Instant::now();
            post(&http, &server, i).await?;
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
                        "job {i} did not arrive within 30 s (its state and reason: GET /api/v1/print-jobs, or the print_jobs table in {})",
                        dir.display()
                    ))?;
            }
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }

        eprintln!("[2/2] {} jobs posted while the paper is out ...", args.backlog);
        fake.set_paper_out(true);
        // Two polls: the worker has seen the paper out.
        tokio::time::sleep(crate::printers::worker::POLL * 2).await;
        let rss_before = server.memory_kib()?.1;
        for i in 0..args.backlog {
            post(&http, &server, args.jobs + i).await?;
            if (i + 1) % 250 == 0 {
                eprintln!("      {} of {}", i + 1, args.backlog);
            }
        }
        tokio::time::sleep(crate::printers::worker::POLL * 3).await;
        let rss_after = server.memory_kib()?.1;
        let printed_meanwhile = fake.received_len() - args.jobs * job_len;
        drop(server);
        anyhow::Ok((latencies, rss_before, rss_after, printed_meanwhile))
    });
    let (latencies, rss_before, rss_after, printed_meanwhile) =
        result.context("bench print-jobs")?;
    let (p50, p99) = super::pickup::quantiles(latencies.clone());
    let max = latencies.iter().copied().fold(0.0, f64::max);
    outln!("# store-edge bench print-jobs")?;
    outln!()?;
    outln!("| measurement | value |")?;
    outln!("|---|---|")?;
    outln!(
        "| job latency, `POST` → last byte at the printer ({} jobs of {} bytes at {}/s, `store-edge run` over loopback HTTP and TCP) | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms |",
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
        "| the service's resident memory (VmRSS) before / with {} jobs queued, paper out | {} KiB / {} KiB |",
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
