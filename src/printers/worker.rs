//! One task per configured printer: keep its link open, read its status
//! (`DLE EOT`, polled every [`POLL`] when idle and before each job), and
//! print its queue in order — `mark_sending` committed before the first
//! byte, `mark_printed` and `store.receipt.printed` in one writer op after
//! the last. Plus what runs once at start (the crash rule, removed
//! printers, pruning, the debug-build job hook) and the hourly prune.
//!
//! Must never: send a job that is not `sending` in the database, send a
//! job twice on its own (a cut-off job is `uncertain` until a person
//! decides), print while the printer reports paper out, cover open or an
//! error, or log a job's contents.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::PrintingConfig;
use crate::devices::printer_link::{self, PrinterLink, StatusError};
use crate::devices::printer_status::{Condition, Paper};
use crate::devices::PrinterConfig;
use crate::events::{made, NewEvent};
use crate::live::{Live, Topic};
use crate::printing::job::Content;
use crate::printing::queue::{step, Action};
use crate::printing::{logo, Block};
use crate::store::print_jobs::{self, JobRow};
use crate::store::{ReadPool, StoreError, Writer};

use super::registry::{PrinterView, Registry};
use super::Wake;

/// How often an idle printer's status is read (and its queue looked at,
/// besides every [`Wake`]).
pub const POLL: Duration = Duration::from_secs(2);

/// How often finished jobs are pruned (also once at start).
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Why the start-up work failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("preparing the print queue: {0}")]
    Store(#[from] StoreError),
    #[error(
        "printer {printer}: logo {file}: {problem} (fix or remove `logo` in its [[devices]] table)"
    )]
    Logo {
        printer: String,
        file: String,
        problem: String,
    },
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Everything a printer's task needs.
#[derive(Clone)]
pub struct Printers {
    pub writer: Writer,
    pub readers: ReadPool,
    pub wake: Wake,
    pub live: Live,
    pub registry: Registry,
    pub printing: PrintingConfig,
}

impl Printers {
    /// Runs the start-up work, then one worker per printer and the prune
    /// timer on `tasks`.
    pub async fn start(
        self,
        printers: &[PrinterConfig],
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<(), WorkerError> {
        let mut logos = Vec::with_capacity(printers.len());
        for printer in printers {
            logos.push(load_logo(printer).await?);
        }
        let configured: Vec<String> = printers.iter().map(|p| p.id.clone()).collect();
        let retain_days = self.printing.retain_days;
        let (uncertain, removed) = self
            .writer
            .run(0, move |ctx| {
                let now = unix_now();
                let uncertain =
                    print_jobs::uncertain_after_restart(ctx, &step(Action::Interrupted), now)?;
                let ids: Vec<&str> = configured.iter().map(String::as_str).collect();
                let removed = print_jobs::fail_removed_printers(
                    ctx,
                    &ids,
                    &step(Action::PrinterRemoved),
                    now,
                )?;
                print_jobs::prune(ctx, retain_days, now)?;
                Ok((uncertain, removed))
            })
            .await?;
        if !uncertain.is_empty() {
            tracing::warn!(jobs = ?uncertain, "print jobs were being sent when the service stopped: uncertain until a person reprints or skips them");
        }
        if !removed.is_empty() {
            tracing::warn!(jobs = ?removed, "print jobs for printers no longer in the config failed");
        }
        for (printer, logo) in printers.iter().zip(logos) {
            self.registry.add(PrinterView::new(printer));
            tasks.spawn(self.clone().run(printer.clone(), logo, cancel.clone()));
        }
        tasks.spawn(self.prune_timer(cancel.clone()));
        Ok(())
    }

    /// Prints the queued job `id` on `printer` now, as its worker would
    /// (status first, `sending` committed before the first byte, printed
    /// and its event in one writer op), for `print test` while the service
    /// is stopped. The job afterwards, or why the printer cannot take it
    /// (the job then stays queued).
    pub async fn print_now(
        self,
        printer: PrinterConfig,
        logo: Option<Block>,
        id: i64,
    ) -> Result<JobRow, String> {
        let mut worker = Worker {
            shared: self,
            wake: None,
            link: None,
            recorded: None,
            printer,
            logo,
        };
        if !worker.check().await {
            let (state, detail) = worker.recorded.clone().unwrap_or(("offline", None));
            return Err(match detail {
                Some(d) => format!("{state}: {d}"),
                None => state.to_owned(),
            });
        }
        let read = |readers: ReadPool| async move {
            readers
                .run(move |c| print_jobs::get(c, id))
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("print job {id} is gone"))
        };
        let job = read(worker.shared.readers.clone()).await?;
        worker.print(job, &CancellationToken::new()).await;
        read(worker.shared.readers.clone()).await
    }

    async fn prune_timer(self, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(PRUNE_EVERY) => {}
            }
            let days = self.printing.retain_days;
            match self
                .writer
                .run(0, move |ctx| print_jobs::prune(ctx, days, unix_now()))
                .await
            {
                Ok(n) if n > 0 => tracing::info!(jobs = n, "finished print jobs pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning print jobs failed"),
            }
        }
    }

    /// One printer's loop, until `cancel`.
    pub async fn run(self, printer: PrinterConfig, logo: Option<Block>, cancel: CancellationToken) {
        let mut worker = Worker {
            shared: self,
            wake: None,
            link: None,
            recorded: None,
            printer,
            logo,
        };
        worker.wake = Some(worker.shared.wake.subscribe());
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let ready = worker.check().await;
            if ready {
                if let Some(job) = worker.next_job().await {
                    worker.print(job, &cancel).await;
                    continue;
                }
            }
            worker.wait(&cancel).await;
        }
    }
}

struct Worker {
    shared: Printers,
    printer: PrinterConfig,
    wake: Option<tokio::sync::watch::Receiver<u64>>,
    link: Option<PrinterLink>,
    /// The last `store.device.status` recorded: state and detail.
    recorded: Option<(&'static str, Option<String>)>,
    /// The configured logo, dithered for this printer's paper once.
    logo: Option<Block>,
}

impl Worker {
    /// Opens the link if needed and reads the status: whether a job may go.
    async fn check(&mut self) -> bool {
        if self.link.is_none() {
            match printer_link::open(&self.printer.transport).await {
                Ok(link) => self.link = Some(link),
                Err(e) => {
                    let state = e.state().as_str();
                    self.show(state, state, Paper::Unknown, Some(e.to_string()))
                        .await;
                    return false;
                }
            }
        }
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        match link.status().await {
            Ok(status) => {
                let condition = status.condition();
                let state = condition.event_state();
                self.show(state, state, status.paper(), None).await;
                condition.prints()
            }
            Err(StatusError::NotReadable(why)) => {
                tracing::debug!(printer = %self.printer.id, reason = %why, "printer status not readable");
                // events.md has no `unknown`: the event says online.
                self.show(
                    "unknown",
                    Condition::Online.event_state(),
                    Paper::Unknown,
                    Some("status not readable".to_owned()),
                )
                .await;
                true
            }
            Err(StatusError::Link(e)) => {
                self.link = None;
                let state = e.state().as_str();
                self.show(state, state, Paper::Unknown, Some(e.to_string()))
                    .await;
                false
            }
        }
    }

    /// Updates the registry; records `store.device.status` and tells the
    /// live stream when the event's state or detail changed.
    async fn show(
        &mut self,
        shown: &'static str,
        event_state: &'static str,
        paper: Paper,
        detail: Option<String>,
    ) {
        let id = self.printer.id.clone();
        self.shared.registry.update(&id, |v| {
            v.state = shown;
            v.paper = paper.as_str();
            if shown != "online" && shown != "unknown" {
                v.last_error = detail.clone();
            }
        });
        let key = (event_state, detail);
        if self.recorded.as_ref() == Some(&key) {
            return;
        }
        tracing::info!(printer = %id, state = shown, paper = paper.as_str(), detail = key.1.as_deref().unwrap_or(""), "printer state");
        let status = made::DeviceStatus {
            device_id: &id,
            kind: "printer",
            state: event_state,
            detail: key.1.as_deref(),
        };
        let recorded = match NewEvent::made(&status) {
            Ok(event) => self
                .shared
                .writer
                .run(0, move |ctx| ctx.append(&event).map(|_| ()))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match recorded {
            Ok(()) => {
                let mut shown_json = serde_json::to_value(&status).unwrap_or_else(|_| json!({}));
                if let Some(o) = shown_json.as_object_mut() {
                    o.insert("paper".into(), json!(paper.as_str()));
                }
                self.shared
                    .live
                    .publish(self.printer.register.clone(), Topic::Device, &shown_json);
                self.recorded = Some(key);
            }
            // Tried again at the next look.
            Err(e) => {
                tracing::warn!(printer = %id, error = %e, "recording the printer's status failed")
            }
        }
    }

    async fn next_job(&self) -> Option<JobRow> {
        let id = self.printer.id.clone();
        match self
            .shared
            .readers
            .run(move |conn| print_jobs::next_queued(conn, &id))
            .await
        {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(printer = %self.printer.id, error = %e, "reading the print queue failed");
                None
            }
        }
    }

    async fn wait(&mut self, cancel: &CancellationToken) {
        let sleep = tokio::time::sleep(POLL);
        match self.wake.as_mut() {
            Some(wake) => {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = sleep => {}
                    changed = wake.changed() => {
                        if changed.is_err() { self.wake = None; }
                    }
                }
            }
            None => {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = sleep => {}
                }
            }
        }
    }

    /// Renders, marks sending (committed), sends, marks printed with its
    /// event — or failed (cannot render) or uncertain (cut off).
    async fn print(&mut self, job: JobRow, cancel: &CancellationToken) {
        let id = job.id;
        let bytes = match render(&job, &self.printer, self.logo.as_ref()) {
            Ok(bytes) => bytes,
            Err(reason) => {
                tracing::warn!(printer = %self.printer.id, job = id, reason = %reason, "print job cannot be rendered");
                self.commit("mark failed", move |ctx| {
                    print_jobs::mark_failed(ctx, id, &step(Action::Fail), &reason, unix_now())
                        .map(|_| ())
                })
                .await;
                return;
            }
        };
        if !self
            .commit("mark sending", move |ctx| {
                print_jobs::mark_sending(ctx, id, &step(Action::Send), unix_now()).map(|_| ())
            })
            .await
        {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            // `check` opened it just before; never reached.
            let reason = "the printer's link closed before the first byte".to_owned();
            self.commit("mark uncertain", move |ctx| {
                print_jobs::mark_uncertain(ctx, id, &step(Action::Interrupted), &reason, unix_now())
                    .map(|_| ())
            })
            .await;
            return;
        };
        let printer_id = self.printer.id.clone();
        let total = bytes.len();
        // A stop (SIGTERM) does not wait out a stalled printer: the job is
        // cut off like a lost connection, and uncertain.
        let sent = tokio::select! {
            sent = link.send(&bytes, |n| {
                tracing::trace!(printer = %printer_id, job = id, sent = n, total, "sending");
            }) => sent.map_err(|e| e.to_string()),
            _ = cancel.cancelled() => Err("the service stopped while sending it".to_owned()),
        };
        match sent {
            Ok(()) => {
                let event = printed_event(&job);
                self.commit("mark printed", move |ctx| {
                    print_jobs::mark_printed(ctx, id, &step(Action::Printed), unix_now())?;
                    if let Some(event) = &event {
                        ctx.append(event)?;
                    }
                    Ok(())
                })
                .await;
                tracing::info!(printer = %self.printer.id, job = id, bytes = total, "printed");
            }
            Err(reason) => {
                self.link = None;
                tracing::warn!(printer = %self.printer.id, job = id, reason = %reason, "sending stopped midway: the job is uncertain");
                self.commit("mark uncertain", move |ctx| {
                    print_jobs::mark_uncertain(
                        ctx,
                        id,
                        &step(Action::Interrupted),
                        &reason,
                        unix_now(),
                    )
                    .map(|_| ())
                })
                .await;
            }
        }
    }

    /// One writer op (not subject to the quota: it records what happened
    /// at the printer). Whether it committed.
    async fn commit<F>(&self, what: &str, f: F) -> bool
    where
        F: FnOnce(&mut crate::store::WriteCtx<'_>) -> Result<(), StoreError> + Send + 'static,
    {
        match self.shared.writer.run(0, f).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(printer = %self.printer.id, error = %e, "{what} failed");
                false
            }
        }
    }
}

/// `store.receipt.printed` for a printed job: its kind, its id as a
/// string, the order or transaction it belongs to when its data names one.
fn printed_event(job: &JobRow) -> Option<NewEvent> {
    let value: Value = serde_json::from_str(&job.document).unwrap_or(Value::Null);
    let data = value.get("data").unwrap_or(&value);
    let field = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_owned);
    let (order_id, transaction_id) = (field("order_id"), field("transaction_id"));
    let job_id = job.id.to_string();
    let printed = made::ReceiptPrinted {
        printer_id: &job.printer_id,
        document: &job.document_kind,
        job_id: &job_id,
        order_id: order_id.as_deref(),
        transaction_id: transaction_id.as_deref(),
        reprint: job.reprint,
    };
    match NewEvent::made(&printed) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::error!(job = job.id, error = %e, "store.receipt.printed does not match the event contract");
            None
        }
    }
}

/// The job's bytes for this printer, from its stored content
/// (`printing::job::Content`: a document, or a template with its data
/// and the language chosen when it was queued), templates with the
/// printer's logo at the top.
pub fn render(
    job: &JobRow,
    printer: &PrinterConfig,
    logo: Option<&Block>,
) -> Result<Vec<u8>, String> {
    Content::from_json(&job.document)
        .and_then(|c| c.render_with_logo(printer.profile, printer.code_page, logo))
        .map_err(|e| e.to_string())
}

/// The printer's `logo` PNG, read (at most `printing::logo::MAX_FILE_BYTES`
/// and one more, so a huge file is refused without reading it whole) and
/// dithered for its paper. A configured logo that cannot be used stops the
/// start with the file and the reason: a store's slips should not quietly
/// lose their logo.
pub async fn load_logo(printer: &PrinterConfig) -> Result<Option<Block>, WorkerError> {
    let Some(path) = printer.logo.clone() else {
        return Ok(None);
    };
    let fail = |problem: String| WorkerError::Logo {
        printer: printer.id.clone(),
        file: path.display().to_string(),
        problem,
    };
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut bytes = Vec::new();
            std::fs::File::open(&path)?
                .take(logo::MAX_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)?;
            Ok::<_, std::io::Error>(bytes)
        })
    };
    let bytes = read
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(e.to_string()))?;
    logo::logo(&bytes, printer.profile)
        .map(Some)
        .map_err(|e| fail(e.to_string()))
}
