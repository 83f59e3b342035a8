//! `store-edge bench …`: performance measured on the box itself, with the
//! limits (raw SQLite, in-process group commit) measured in the same run on
//! the same disk. Numbers go to BENCHMARKS.md; tests never time anything.

mod drain;
pub mod fleet;
mod ingest;
mod kpi;
mod load;
mod pickup;
mod print;
mod print_jobs;
mod scan;
mod schema_layouts;
pub mod soak;
pub mod socat;

use std::path::Path;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Acknowledged events/s and latency through the HTTP API at 1, 16 and 64
    /// clients, against raw SQLite and in-process group commit; RSS; time to ready.
    Ingest(ingest::IngestArgs),
    /// Drain a 1M-event backlog to a count-only fake central; the one-thread
    /// in-process limit and one-event-per-request in the same run.
    Drain(drain::DrainArgs),
    /// Decoder throughput; scan-to-stream latency from a pty scanner at 50
    /// scans/s; replug to online (needs socat).
    Scan(scan::ScanArgs),
    /// Click-and-collect at the counter: a staff action against a raw FULL
    /// commit, board and search queries with many orders, pass and code checks.
    Pickup(pickup::PickupArgs),
    /// Receipt printing: job latency from enqueue to the printer's last
    /// byte on a loopback fake TCP printer at 5 jobs/s; memory with 1,000
    /// jobs waiting for paper.
    PrintJobs(print_jobs::PrintJobsArgs),
    /// KPIs: a store's year and a flagship's 28 days through the writer
    /// path; the dashboard's report for today, 28 and 365 days; the KPI
    /// ingest's cost; database size per million events.
    Kpi(kpi::KpiArgs),
    /// 60 s of a busy store's mixed API load (events, receipts, the pickup
    /// board, orders, sessions, devices, KPIs, sync, metrics) against a
    /// running `store-edge run`: error rate and p50/p99 per route.
    Load(load::LoadArgs),
    /// Receipt printing on one core: encoder (receipt template with 20
    /// lines, QR and cut → ESC/POS bytes) and interpreter (the bytes back).
    Print(print::PrintArgs),
    /// The soak: mixed load (API events, a pty scanner, pickup actions, print
    /// jobs, sync to a faulty fake central) killed with kill -9 at seeded
    /// random moments; every cycle drained and checked (nothing acknowledged
    /// lost, nothing twice at central, gap-free, integrity, no job printed
    /// twice). Needs socat.
    Soak(soak::SoakArgs),
    /// A fleet back after an outage: many edge processes with a backlog
    /// each against one fake central with a capacity (429 beyond it),
    /// down, then up: time until every backlog is delivered, 429s,
    /// retries and peak RSS per edge, duplicates vs stored twice, and the
    /// request rate at central over time (text plot, SVG).
    Fleet(fleet::FleetArgs),
}

/// A free port on loopback for a process a bench starts.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn execute(cmd: BenchCommand, _config: Option<&Path>) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest::run(args),
        BenchCommand::Drain(args) => drain::run(args),
        BenchCommand::Scan(args) => scan::run(args),
        BenchCommand::Pickup(args) => pickup::run(args),
        BenchCommand::PrintJobs(args) => print_jobs::run(args),
        BenchCommand::Print(args) => print::run(args),
        BenchCommand::Kpi(args) => kpi::run(args),
        BenchCommand::Load(args) => load::run(args),
        BenchCommand::Soak(args) => soak::run_bench(args),
        BenchCommand::Fleet(args) => fleet::run(args),
    }
}
