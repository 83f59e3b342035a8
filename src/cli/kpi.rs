//! `store-edge kpi …`: the store's KPIs from the command line. `kpi verify
//! [--rebuild]` recomputes the rollups from the raw events still present
//! and compares (store::kpi_verify); the report itself (`store-edge kpi`
//! with `--from`/`--to`/`--format`) comes with branch i13-query.

use clap::{Args, Subcommand};

use super::{print_json, CliError};
use crate::config::Config;
use crate::store::{self, kpi_verify};
use crate::telemetry::out::outln;

#[derive(Debug, Args)]
pub struct Kpi {
    #[command(subcommand)]
    pub command: Option<KpiCommand>,
}

#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// Recompute every day whose raw events are all still present (and
    /// those of the 14 days before it) and compare with the rollups kept;
    /// names the days skipped (pruned) and the days that differ. Exit 1
    /// when a day differs.
    Verify {
        /// Replace the rollups of the verifiable days with the recomputation
        /// (local days from `time` in store.timezone, e.g. after a time-zone
        /// change); the others are kept. Stop the service first: it holds
        /// the write lock while it runs.
        #[arg(long)]
        rebuild: bool,
        /// Print JSON with stable field names instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config: &Config, kpi: Kpi) -> Result<(), CliError> {
    let Some(KpiCommand::Verify { rebuild, json }) = kpi.command else {
        return Err(CliError::Runtime(
            "todo: the KPI report (store-edge kpi) comes with branch i13-query; `store-edge kpi verify` is here".into(),
        ));
    };
    let conn = store::open_existing(&config.storage.path, &config.store.id)?;
    let mut progress = |done: u64, total: u64| {
        if total >= 100_000 {
            eprintln!("replayed {done} of {total} events");
        }
    };
    let report = if rebuild {
        kpi_verify::rebuild(&conn, &config.store.tz, &mut progress)?
    } else {
        kpi_verify::verify(&conn, &config.store.tz, &mut progress)?
    };
    if json {
        print_json(&report)?;
    } else {
        outln!("events replayed  {}", report.events)?;
        outln!("days equal       {}", report.equal.len())?;
        outln!(
            "days skipped     {} (raw events pruned){}",
            report.skipped.len(),
            list(&report.skipped)
        )?;
        if rebuild {
            outln!("days rebuilt     {}", report.rebuilt.len())?;
            outln!(
                "days kept        {}{}",
                report.kept.len(),
                list(&report.kept)
            )?;
        }
        outln!("days different   {}", report.differ.len())?;
        for d in &report.differ {
            outln!("  {} differs in {}", d.day, d.tables.join(", "))?;
        }
    }
    if !rebuild && !report.is_clean() {
        return Err(CliError::Runtime(format!(
            "{} day(s) differ from a recomputation: {}",
            report.differ.len(),
            report
                .differ
                .iter()
                .map(|d| d.day.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// `: a, b, c` (at most 10, then `…`), or nothing.
fn list(days: &[String]) -> String {
    if days.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = days.iter().take(10).map(String::as_str).collect();
    let more = if days.len() > 10 { ", …" } else { "" };
    format!(": {}{more}", shown.join(", "))
}
