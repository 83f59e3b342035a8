//! The `print_jobs` table: the durable print queue (issue 12). A job is
//! `sending`, committed, before its first byte leaves; after a crash it is
//! `uncertain` and waits for a person (reprint or skip).
//!
//! Which state may follow which is `printing::queue`'s (a row above):
//! every change here takes its [`Step`] (from which states, to which) and
//! applies it in one guarded UPDATE, so a change the job's current state
//! does not allow is refused with [`StoreError::Conflict`] (409) and
//! changes nothing — also when two requests race. The policy is passed in,
//! as `pickup/` passes its `PinLock` to `staff.rs`.
//!
//! Must never: hand out a `sending` or `uncertain` job again, or move a job
//! by any step but the one it was given.

use rusqlite::OptionalExtension;

pub use crate::printing::queue::Step;

use super::{Db, ReadConn, StoreError, WriteCtx};

/// One stored job, column by column (times in unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub printer_id: String,
    /// events.md's `document` value (`receipt` for a free document).
    pub document_kind: String,
    /// The encoder's document, or a template's name and data (JSON).
    pub document: String,
    /// `printing::queue::State`'s name.
    pub state: String,
    /// Its place in its printer's queue (smaller prints first).
    pub queue_pos: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Times it was sent.
    pub attempts: i64,
    /// Times it was printed (physically, as far as the printer said).
    pub printed: i64,
    /// The queued pass is a person's reprint.
    pub reprint: bool,
    /// Why it failed or is uncertain.
    pub reason: Option<String>,
    /// api_tokens.hash of the caller that posted it (`None`: the service).
    pub token_hash: Option<Vec<u8>>,
}

/// A request's Idempotency-Key for a job: per caller, as for events.
#[derive(Debug, Clone)]
pub struct JobKey {
    pub key: String,
    pub request_hash: [u8; 32],
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub printer_id: &'a str,
    pub document_kind: &'a str,
    /// JSON.
    pub document: &'a str,
    /// The caller's token hash; `None` for the service's own jobs.
    pub token_hash: Option<[u8; 32]>,
    /// Only with a `token_hash`.
    pub idempotency: Option<JobKey>,
    pub now: i64,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    Created(i64),
    /// The same request was queued before under this key: that job's id.
    Replayed(i64),
}

impl Enqueued {
    pub fn id(self) -> i64 {
        match self {
            Enqueued::Created(id) | Enqueued::Replayed(id) => id,
        }
    }
}

const COLUMNS: &str = "id, printer_id, document_kind, document, state, queue_pos, created_at, updated_at, attempts, printed, reprint, reason, token_hash";

/// The states pruned after `retain_days` (they hold customer names).
const DONE: &str = "state IN ('printed', 'skipped', 'failed')";

fn from_row(r: &rusqlite::Row<'_>) -> Result<JobRow, rusqlite::Error> {
    Ok(JobRow {
        id: r.get(0)?,
        printer_id: r.get(1)?,
        document_kind: r.get(2)?,
        document: r.get(3)?,
        state: r.get(4)?,
        queue_pos: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        attempts: r.get(8)?,
        printed: r.get(9)?,
        reprint: r.get(10)?,
        reason: r.get(11)?,
        token_hash: r.get(12)?,
    })
}

/// Queues a job behind everything queued before, inside the writer's
/// transaction (so marking an order ready can queue its slip with it). A
/// repeat of the same request under the same caller's key is that job
/// again; another body under that key is refused.
pub fn enqueue(ctx: &mut WriteCtx<'_>, job: &NewJob<'_>) -> Result<Enqueued, StoreError> {
    enqueue_on(ctx.conn(), job)
}

/// [`enqueue`] from a command's own connection (`store-edge print test`),
/// in its own transaction; a running service's worker finds the job at its
/// next look at the queue.
pub fn enqueue_direct(db: &mut Db, job: &NewJob<'_>) -> Result<Enqueued, StoreError> {
    let tx = db.sql().unchecked_transaction()?;
    let done = enqueue_on(&tx, job)?;
    tx.commit()?;
    Ok(done)
}

fn enqueue_on(conn: &rusqlite::Connection, job: &NewJob<'_>) -> Result<Enqueued, StoreError> {
    if let (Some(token_hash), Some(key)) = (&job.token_hash, &job.idempotency) {
        let seen: Option<(i64, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT id, request_hash FROM print_jobs WHERE token_hash = ?1 AND idempotency_key = ?2",
            )?
            .query_row(rusqlite::params![&token_hash[..], key.key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((id, request_hash)) = seen {
            return if request_hash == key.request_hash {
                Ok(Enqueued::Replayed(id))
            } else {
                Err(StoreError::IdempotencyMismatch)
            };
        }
    }
    let id = conn
        .prepare_cached(
            "INSERT INTO print_jobs (printer_id, document_kind, document, state, queue_pos, created_at, updated_at, token_hash, idempotency_key, request_hash)
             VALUES (?1, ?2, ?3, 'queued', (SELECT coalesce(max(queue_pos), 0) + 1 FROM print_jobs), ?4, ?4, ?5, ?6, ?7)
             RETURNING id",
        )?
        .query_row(
            rusqlite::params![
                job.printer_id,
                job.document_kind,
                job.document,
                job.now,
                job.token_hash.as_ref().map(|h| &h[..]),
                job.idempotency.as_ref().map(|k| k.key.as_str()),
                job.idempotency.as_ref().map(|k| &k.request_hash[..]),
            ],
            |r| r.get(0),
        )?;
    Ok(Enqueued::Created(id))
}

/// The job, if there is one with this id.
pub fn get(conn: &ReadConn, id: i64) -> Result<Option<JobRow>, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached(&format!("SELECT {COLUMNS} FROM print_jobs WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The printer's next queued job, in order. `sending` and `uncertain` jobs
/// are never handed out (and block nothing behind them).
pub fn next_queued(conn: &ReadConn, printer_id: &str) -> Result<Option<JobRow>, StoreError> {
    Ok(conn
        .sql()
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM print_jobs WHERE state = 'queued' AND printer_id = ?1 ORDER BY queue_pos LIMIT 1"
        ))?
        .query_row([printer_id], from_row)
        .optional()?)
}

/// At most `limit` jobs, in one state or all, the oldest first.
pub fn list(conn: &ReadConn, state: Option<&str>, limit: u32) -> Result<Vec<JobRow>, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&format!(
        "SELECT {COLUMNS} FROM print_jobs WHERE ?1 IS NULL OR state = ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(rusqlite::params![state, limit], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// `queued → sending`, counted as an attempt. Commit it before the first
/// byte leaves.
pub fn mark_sending(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    step: &Step,
    now: i64,
) -> Result<JobRow, StoreError> {
    change(
        ctx,
        id,
        step,
        "sending",
        "attempts = attempts + 1",
        None,
        now,
    )
}

/// The printer took every byte: one more physical print.
pub fn mark_printed(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    step: &Step,
    now: i64,
) -> Result<JobRow, StoreError> {
    change(ctx, id, step, "printed", "printed = printed + 1", None, now)
}

/// It will not print, and why.
pub fn mark_failed(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    step: &Step,
    reason: &str,
    now: i64,
) -> Result<JobRow, StoreError> {
    change(ctx, id, step, "failed", "", Some(reason), now)
}

/// Sending stopped midway (a lost connection): it may have printed.
pub fn mark_uncertain(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    step: &Step,
    reason: &str,
    now: i64,
) -> Result<JobRow, StoreError> {
    change(ctx, id, step, "uncertain", "", Some(reason), now)
}

/// A person's reprint: queued again, behind everything queued before.
pub fn reprint(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    step: &Step,
    now: i64,
) -> Result<JobRow, StoreError> {
    change(
        ctx,
        id,
        step,
        "queued",
        "reprint = 1, queue_pos = (SELECT max(queue_pos) + 1 FROM print_jobs)",
        None,
        now,
    )
}

/// A person's decision that an uncertain job needs no reprint.
pub fn skip(ctx: &mut WriteCtx<'_>, id: i64, step: &Step, now: i64) -> Result<JobRow, StoreError> {
    change(ctx, id, step, "skipped", "", None, now)
}

/// At start, before anything is sent: every job that was `sending` when
/// the service stopped becomes `uncertain` (the crash rule). Their ids.
pub fn uncertain_after_restart(
    ctx: &mut WriteCtx<'_>,
    step: &Step,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    expect_target(step, "uncertain")?;
    let mut stmt = ctx.conn().prepare_cached(
        "UPDATE print_jobs SET state = ?1, updated_at = ?2,
                reason = 'the service stopped while sending it; it may have printed'
          WHERE state = 'sending' AND state IN (SELECT value FROM json_each(?3))
         RETURNING id",
    )?;
    let ids = stmt
        .query_map(rusqlite::params![step.to, now, from_json(step)], |r| {
            r.get(0)
        })?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// Jobs of a printer that is no longer in the config (`configured` are the
/// ids that are) become `failed` with that reason, where `step` allows it.
/// Their ids.
pub fn fail_removed_printers(
    ctx: &mut WriteCtx<'_>,
    configured: &[&str],
    step: &Step,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    expect_target(step, "failed")?;
    let configured = serde_json::to_string(configured)
        .map_err(|e| StoreError::internal("listing the configured printers", e))?;
    let mut stmt = ctx.conn().prepare_cached(
        "UPDATE print_jobs SET state = ?1, updated_at = ?2,
                reason = 'printer `' || printer_id || '` is no longer in the config'
          WHERE state IN (SELECT value FROM json_each(?3))
            AND printer_id NOT IN (SELECT value FROM json_each(?4))
         RETURNING id",
    )?;
    let mut ids = stmt
        .query_map(
            rusqlite::params![step.to, now, from_json(step), configured],
            |r| r.get(0),
        )?
        .collect::<Result<Vec<i64>, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// Deletes printed, skipped and failed jobs last changed more than
/// `retain_days` before `now` (they hold customer names); queued, sending
/// and uncertain jobs stay whatever their age. How many went.
pub fn prune(ctx: &mut WriteCtx<'_>, retain_days: u32, now: i64) -> Result<usize, StoreError> {
    let before = now - i64::from(retain_days) * 86_400;
    Ok(ctx
        .conn()
        .prepare_cached(&format!(
            "DELETE FROM print_jobs WHERE {DONE} AND updated_at < ?1"
        ))?
        .execute([before])?)
}

/// Applies `step` to one job in a single guarded UPDATE (`set` and
/// `reason` besides the state), or says why not.
fn change(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    step: &Step,
    target: &str,
    set: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<JobRow, StoreError> {
    expect_target(step, target)?;
    let extra = if set.is_empty() {
        String::new()
    } else {
        format!(", {set}")
    };
    let changed = ctx
        .conn()
        .prepare_cached(&format!(
            "UPDATE print_jobs SET state = ?2, updated_at = ?3, reason = ?4{extra}
              WHERE id = ?1 AND state IN (SELECT value FROM json_each(?5))
             RETURNING {COLUMNS}"
        ))?
        .query_row(
            rusqlite::params![id, step.to, now, reason, from_json(step)],
            from_row,
        )
        .optional()?;
    if let Some(row) = changed {
        return Ok(row);
    }
    match get(ctx.reader(), id)? {
        None => Err(StoreError::NotFound(format!("print job {id}"))),
        Some(row) => Err(StoreError::Conflict(format!(
            "print job {id} is {}: {} is allowed only when it is {}",
            row.state,
            step.action,
            step.from.join(" or ")
        ))),
    }
}

/// A step handed to the wrong function is a bug, never applied.
fn expect_target(step: &Step, target: &str) -> Result<(), StoreError> {
    if step.to == target {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: format!(
                "print job step `{}` leads to {}, not {target}",
                step.action, step.to
            ),
            source: None,
        })
    }
}

/// The step's start states as a JSON array, for `json_each`.
/// (An array of strings always serializes; an empty one would allow nothing.)
fn from_json(step: &Step) -> String {
    serde_json::to_string(&step.from).unwrap_or_else(|_| "[]".to_owned())
}
