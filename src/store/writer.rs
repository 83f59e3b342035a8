//! The single writer: one OS thread owns the read-write connection and
//! commits whatever is queued as one transaction (group commit: many
//! callers, one fsync). A caller's reply is sent only after its group's
//! COMMIT returned, so an acknowledged write is on disk.
//!
//! Durability, written down (as Vector does for its disk buffer):
//! - An operation is *acknowledged* when its `finish(Ok)` runs, strictly
//!   after `COMMIT` succeeded with `synchronous=FULL` in WAL mode: the WAL
//!   frames are fsync'd. Loss window: none.
//! - An operation that fails alone (validation, idempotency mismatch, quota)
//!   is rolled back to its savepoint; the rest of the group still commits.
//! - A failed COMMIT answers every operation of the group with an error and
//!   restores the sequence counter, so sequences stay gap-free.
//! - An I/O or corruption error is unrecoverable: the writer stops, loudly,
//!   the service stops, and systemd restarts it. It never guesses.
//!
//! Must never: hold a transaction open across anything but local SQLite
//! work, call the network, or acknowledge before COMMIT.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{Db, ReadConn, StoreError};
use crate::events::{format_time, NewEvent};
use crate::telemetry::Metrics;

/// At most this many operations share one transaction; more wait for the
/// next group. Keeps a group's latency bounded under a flood.
const MAX_OPS_PER_GROUP: usize = 2048;
/// Sent events deleted per maintenance pass, so pruning never holds the
/// write lock for long.
const PRUNE_CHUNK: i64 = 20_000;
/// Idempotency records are kept this long (the API contract says 7 days).
const IDEMPOTENCY_TTL_S: i64 = 7 * 24 * 3600;

/// One unit of work for the writer. `apply` runs inside the group
/// transaction (under its own savepoint); `finish` runs after the group
/// committed (`Ok`) or failed (`Err`). Later capabilities (sync marking,
/// pickup transitions) are more implementations of this trait.
pub trait WriteOp: Send + 'static {
    /// Bytes this op may add to the database (for the quota); 0 for ops
    /// that only update or delete, which are never refused for quota.
    fn estimated_bytes(&self) -> u64;
    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), StoreError>;
    fn finish(self: Box<Self>, outcome: Result<(), StoreError>);
}

enum Job {
    Op(Box<dyn WriteOp>),
    /// Heartbeat and maintenance (retention, idempotency expiry, gauges).
    Tick,
}

/// What the writer shares with the rest of the process.
#[derive(Debug)]
pub struct WriterHealth {
    started: Instant,
    /// Milliseconds since `started` at the writer's last completed loop.
    heartbeat_ms: AtomicU64,
    pub quota_reached: AtomicBool,
    pub db_size_bytes: AtomicU64,
    /// -1 until counted after start (counting 1M rows must not delay ready).
    pub unsent: AtomicI64,
    pub last_seq: AtomicU64,
    pub fatal: Mutex<Option<String>>,
}

impl WriterHealth {
    /// How long ago the writer last completed a loop.
    pub fn heartbeat_age(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed)))
    }

    fn beat(&self) {
        self.heartbeat_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn fatal_error(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|g| g.clone())
    }
}

/// A cloneable handle to submit work to the writer.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Job>,
    pub health: Arc<WriterHealth>,
}

/// Settings the writer needs from the config.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub path: std::path::PathBuf,
    pub max_size_bytes: u64,
    pub retain_sent_days: u32,
}

impl Writer {
    /// Starts the writer thread on an already checked and migrated
    /// connection. The thread ends when every `Writer` handle is dropped,
    /// after committing what was queued.
    pub fn start(
        db: Db,
        settings: WriterSettings,
        metrics: Arc<Metrics>,
    ) -> Result<(Writer, std::thread::JoinHandle<()>), StoreError> {
        let last_seq = read_last_seq(db.sql())?;
        let health = Arc::new(WriterHealth {
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            quota_reached: AtomicBool::new(false),
            db_size_bytes: AtomicU64::new(0),
            unsent: AtomicI64::new(-1),
            last_seq: AtomicU64::new(last_seq),
            fatal: Mutex::new(None),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = WriterThread {
            conn: db.0,
            rx,
            settings,
            metrics,
            health: health.clone(),
            next_seq: last_seq + 1,
            clock: ClockTracker::default(),
            last_prune: None,
            estimated_since_measure: 0,
        };
        state.refresh_size();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || state.run())
            .map_err(|e| StoreError::internal("starting the writer thread", e))?;
        Ok((Writer { tx, health }, handle))
    }

    /// Queues an operation. Fails only when the writer has stopped.
    pub fn submit(&self, op: Box<dyn WriteOp>) -> Result<(), StoreError> {
        self.tx
            .send(Job::Op(op))
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Asks the writer for a heartbeat and maintenance pass.
    pub fn tick(&self) -> Result<(), StoreError> {
        self.tx
            .send(Job::Tick)
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Appends events (all or nothing), optionally under an idempotency key.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
        single: bool,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Box::new(AppendOp {
            events,
            idempotency,
            single,
            outcome: None,
            reply: Some(reply),
        }))?;
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }
}

impl Writer {
    /// Runs `f` inside the next group transaction and returns its result
    /// after the commit. `estimated_bytes` > 0 makes it subject to the quota.
    pub async fn run<T, F>(&self, estimated_bytes: u64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit_fn(estimated_bytes, f)?
            .await
            .map_err(|_| StoreError::WriterStopped)?
    }

    /// Like [`Writer::run`], for threads outside the runtime.
    pub fn run_blocking<T, F>(&self, estimated_bytes: u64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit_fn(estimated_bytes, f)?
            .blocking_recv()
            .map_err(|_| StoreError::WriterStopped)?
    }

    /// Queues `f` and returns where its result will arrive after the commit.
    fn submit_fn<T, F>(
        &self,
        estimated_bytes: u64,
        f: F,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.submit(Box::new(FnOp {
            estimated_bytes,
            f: Some(f),
            value: None,
            reply: Some(reply),
        }))?;
        Ok(rx)
    }
}

struct FnOp<T, F> {
    estimated_bytes: u64,
    f: Option<F>,
    value: Option<T>,
    reply: Option<oneshot::Sender<Result<T, StoreError>>>,
}

impl<T, F> WriteOp for FnOp<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
{
    fn estimated_bytes(&self) -> u64 {
        self.estimated_bytes
    }

    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), StoreError> {
        let f = self.f.take().ok_or(StoreError::WriterStopped)?;
        self.value = Some(f(ctx)?);
        Ok(())
    }

    fn finish(mut self: Box<Self>, outcome: Result<(), StoreError>) {
        let result = outcome.and_then(|()| self.value.take().ok_or(StoreError::WriterStopped));
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result);
        }
    }
}

/// The id and sequence given to a recorded event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Appended {
    pub id: String,
    pub sequence: String,
}

/// A request's Idempotency-Key, whose it is and the hash of its body.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    /// The SHA-256 of the caller's API token (`Principal::token_hash`): a key
    /// belongs to one token, so another token's request with the same key is
    /// a request of its own.
    pub token_hash: [u8; 32],
    pub request_hash: [u8; 32],
}

#[derive(Debug)]
pub enum AppendOutcome {
    /// Newly recorded; `body` is the acknowledgement as JSON.
    Created { acks: Vec<Appended>, body: String },
    /// The same request was seen before under this key: its answer again.
    Replayed { status: u16, body: String },
}

/// Allocation state visible to operations inside the group transaction.
pub struct WriteCtx<'a> {
    /// The writer's connection, inside the group's transaction.
    conn: &'a ReadConn,
    next_seq: &'a mut u64,
    clock: &'a mut ClockTracker,
    appended: u64,
    unsent_delta: i64,
}

impl WriteCtx<'_> {
    /// The transaction's connection: `store/`'s functions only.
    pub(super) fn conn(&self) -> &Connection {
        self.conn.sql()
    }

    /// Reads inside this transaction (they see this op's own changes).
    pub fn reader(&self) -> &ReadConn {
        self.conn
    }

    /// Tells the writer that this op changed the number of unsent events
    /// other than by appending (sync marking sent, quarantine, requeue).
    pub fn note_unsent_change(&mut self, delta: i64) {
        self.unsent_delta += delta;
    }

    /// Records one event: gives it its id (UUIDv7, kept forever), its
    /// sequence and its recording time.
    pub fn append(&mut self, event: &NewEvent) -> Result<Appended, StoreError> {
        let now = SystemTime::now();
        let recorded = time::OffsetDateTime::from(now);
        let recorded_at = format_time(recorded);
        let time = event
            .time
            .map(format_time)
            .unwrap_or_else(|| recorded_at.clone());
        let clockjump = self.clock.observe(now, Instant::now());
        let id = uuid::Uuid::now_v7().to_string();
        let seq = *self.next_seq;
        self.conn()
            .prepare_cached(
                "INSERT INTO events (seq, id, type, subject, time, recorded_at, journeystage, clockjump, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(rusqlite::params![
                seq as i64,
                id,
                event.event_type.name,
                event.subject,
                time,
                recorded_at,
                event.event_type.stage.map(|s| s.as_str()),
                clockjump,
                event.data_json,
            ])?;
        *self.next_seq += 1;
        self.appended += 1;
        Ok(Appended {
            id,
            sequence: seq.to_string(),
        })
    }
}

/// Detects wall-clock jumps between consecutive events (events.md:
/// `clockjump` when wall and monotonic distance differ by more than 2 s).
#[derive(Default)]
struct ClockTracker {
    last: Option<(SystemTime, Instant)>,
}

impl ClockTracker {
    fn observe(&mut self, wall: SystemTime, mono: Instant) -> Option<i64> {
        let jump = self.last.and_then(|(last_wall, last_mono)| {
            let wall_delta = match wall.duration_since(last_wall) {
                Ok(d) => d.as_secs_f64(),
                Err(e) => -e.duration().as_secs_f64(),
            };
            let mono_delta = mono.duration_since(last_mono).as_secs_f64();
            let diff = wall_delta - mono_delta;
            (diff.abs() > 2.0).then(|| diff.round() as i64)
        });
        self.last = Some((wall, mono));
        jump
    }
}

struct AppendOp {
    events: Vec<NewEvent>,
    idempotency: Option<Idempotency>,
    single: bool,
    outcome: Option<AppendOutcome>,
    reply: Option<oneshot::Sender<Result<AppendOutcome, StoreError>>>,
}

impl WriteOp for AppendOp {
    fn estimated_bytes(&self) -> u64 {
        self.events
            .iter()
            .map(|e| 256 + 2 * e.data_json.len() as u64)
            .sum()
    }

    fn apply(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), StoreError> {
        if let Some(idem) = &self.idempotency {
            // This token's record, else one from before keys had owners
            // (empty token_hash, migration 5), which answers as it used to.
            let seen: Option<(Vec<u8>, u16, String)> = ctx
                .conn()
                .prepare_cached(
                    "SELECT request_hash, status, response FROM idempotency
                     WHERE key = ?1 AND token_hash IN (?2, x'')
                     ORDER BY length(token_hash) DESC LIMIT 1",
                )?
                .query_row(rusqlite::params![idem.key, &idem.token_hash[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            if let Some((hash, status, body)) = seen {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyMismatch);
                }
                self.outcome = Some(AppendOutcome::Replayed { status, body });
                return Ok(());
            }
        }
        let mut acks = Vec::with_capacity(self.events.len());
        for event in &self.events {
            acks.push(ctx.append(event)?);
        }
        let body = if self.single && acks.len() == 1 {
            serde_json::to_string(&acks[0])
        } else {
            serde_json::to_string(&acks)
        }
        .map_err(|e| StoreError::invalid("an acknowledgement", e))?;
        if let Some(idem) = &self.idempotency {
            ctx.conn()
                .prepare_cached(
                    "INSERT INTO idempotency (token_hash, key, request_hash, status, response, created_at) VALUES (?1, ?2, ?3, 201, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    &idem.token_hash[..],
                    idem.key,
                    &idem.request_hash[..],
                    body,
                    unix_now()
                ])?;
        }
        self.outcome = Some(AppendOutcome::Created { acks, body });
        Ok(())
    }

    fn finish(mut self: Box<Self>, outcome: Result<(), StoreError>) {
        let result = outcome.and_then(|()| self.outcome.take().ok_or(StoreError::WriterStopped));
        if let Some(reply) = self.reply.take() {
            // The caller may have gone away (client disconnected); the
            // events are committed all the same.
            let _ = reply.send(result);
        }
    }
}

struct WriterThread {
    conn: ReadConn,
    rx: mpsc::UnboundedReceiver<Job>,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
    health: Arc<WriterHealth>,
    next_seq: u64,
    clock: ClockTracker,
    last_prune: Option<Instant>,
    /// Bytes estimated for commits since the size was last measured.
    estimated_since_measure: u64,
}

impl WriterThread {
    fn run(mut self) {
        self.health.beat();
        while let Some(first) = self.rx.blocking_recv() {
            let mut ops = Vec::new();
            let mut tick = false;
            let mut push = |job: Job, ops: &mut Vec<Box<dyn WriteOp>>| match job {
                Job::Op(op) => ops.push(op),
                Job::Tick => tick = true,
            };
            push(first, &mut ops);
            while ops.len() < MAX_OPS_PER_GROUP {
                match self.rx.try_recv() {
                    Ok(job) => push(job, &mut ops),
                    Err(_) => break,
                }
            }
            if !ops.is_empty() {
                if let Err(fatal) = self.commit_group(ops) {
                    self.stop_fatally(fatal);
                    return;
                }
            }
            if tick {
                if let Err(fatal) = self.maintain() {
                    self.stop_fatally(fatal);
                    return;
                }
            }
            self.health.beat();
        }
        // All handles dropped: the queue is drained and committed.
        if let Err(e) = self
            .conn
            .sql()
            .execute_batch("PRAGMA wal_checkpoint(PASSIVE);")
        {
            tracing::warn!(error = %e, "final WAL checkpoint failed; the WAL is replayed at next start");
        }
        tracing::info!("writer stopped cleanly");
    }

    fn stop_fatally(&mut self, error: StoreError) {
        tracing::error!(error = %error, file = %self.settings.path.display(), "unrecoverable database write error; stopping the writer");
        if let Ok(mut fatal) = self.health.fatal.lock() {
            *fatal = Some(error.to_string());
        }
        // Answer everything still queued so no caller waits forever.
        self.rx.close();
        while let Ok(job) = self.rx.try_recv() {
            if let Job::Op(op) = job {
                op.finish(Err(StoreError::WriterStopped));
            }
        }
    }

    /// One transaction for the whole group. Returns Err only for an
    /// unrecoverable error (the writer then stops).
    fn commit_group(&mut self, ops: Vec<Box<dyn WriteOp>>) -> Result<(), StoreError> {
        let started = Instant::now();
        let seq_before = self.next_seq;
        let max = self.settings.max_size_bytes;
        // Measuring costs two queries and a stat; near the quota (or with a
        // quota alarm raised) measure every group, else trust the estimate.
        let mut used =
            self.health.db_size_bytes.load(Ordering::Relaxed) + self.estimated_since_measure;
        if used >= max / 10 * 9 || self.health.quota_reached.load(Ordering::Relaxed) {
            self.refresh_size();
            used = self.health.db_size_bytes.load(Ordering::Relaxed);
        }
        let used_before = used;
        // Unchecked: the connection stays shared with the ops' `WriteCtx`;
        // only this function opens transactions on it.
        let tx = match Transaction::new_unchecked(self.conn.sql(), TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let err = StoreError::from(e);
                let fatal = err.is_fatal();
                for op in ops {
                    op.finish(Err(err.clone_for_reply()));
                }
                return if fatal { Err(err) } else { Ok(()) };
            }
        };
        let mut ctx = WriteCtx {
            conn: &self.conn,
            next_seq: &mut self.next_seq,
            clock: &mut self.clock,
            appended: 0,
            unsent_delta: 0,
        };
        let mut results: Vec<(Box<dyn WriteOp>, Result<(), StoreError>)> =
            Vec::with_capacity(ops.len());
        let mut quota_hit = false;
        let mut any_adding = false;
        for mut op in ops {
            let estimate = op.estimated_bytes();
            any_adding |= estimate > 0;
            if estimate > 0 && used.saturating_add(estimate) > max {
                quota_hit = true;
                results.push((
                    op,
                    Err(StoreError::QuotaReached {
                        used_bytes: used,
                        max_bytes: max,
                    }),
                ));
                continue;
            }
            let seq_at_op = *ctx.next_seq;
            let appended_at_op = ctx.appended;
            let unsent_at_op = ctx.unsent_delta;
            let outcome = match savepoint(ctx.conn(), "SAVEPOINT op") {
                Err(e) => Err(StoreError::from(e)),
                Ok(()) => {
                    let outcome = op.apply(&mut ctx);
                    let end = if outcome.is_ok() {
                        savepoint(ctx.conn(), "RELEASE op")
                    } else {
                        savepoint(ctx.conn(), "ROLLBACK TO op")
                            .and_then(|()| savepoint(ctx.conn(), "RELEASE op"))
                    };
                    match end {
                        Ok(()) => outcome,
                        Err(e) => Err(StoreError::from(e)),
                    }
                }
            };
            if let Err(e) = &outcome {
                if e.is_fatal() {
                    drop(tx);
                    self.next_seq = seq_before;
                    let err = e.clone();
                    for (op, _) in results {
                        op.finish(Err(err.clone_for_reply()));
                    }
                    op.finish(Err(err.clone_for_reply()));
                    return Err(err);
                }
                *ctx.next_seq = seq_at_op;
                ctx.appended = appended_at_op;
                ctx.unsent_delta = unsent_at_op;
            } else {
                used = used.saturating_add(estimate);
            }
            results.push((op, outcome));
        }
        let appended = ctx.appended;
        let unsent_delta = ctx.unsent_delta;
        let last_seq = *ctx.next_seq - 1;
        let committed = if appended > 0 {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'last_seq'",
                [last_seq.to_string()],
            )
            .map_err(StoreError::from)
            .and_then(|_| tx.commit().map_err(StoreError::from))
        } else {
            tx.commit().map_err(StoreError::from)
        };
        match committed {
            Ok(()) => {
                self.health.last_seq.store(last_seq, Ordering::Relaxed);
                if appended > 0 {
                    self.metrics.events_ingested.inc_by(appended);
                }
                let change = appended as i64 + unsent_delta;
                if change != 0 && self.health.unsent.load(Ordering::Relaxed) >= 0 {
                    self.health.unsent.fetch_add(change, Ordering::Relaxed);
                }
                self.metrics
                    .commit_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.commit_group_size.observe(appended as f64);
                if any_adding {
                    self.note_quota(quota_hit, used, max);
                }
                self.estimated_since_measure += used - used_before;
                for (op, outcome) in results {
                    op.finish(outcome);
                }
                Ok(())
            }
            Err(err) => {
                self.next_seq = seq_before;
                let fatal = err.is_fatal();
                for (op, _) in results {
                    op.finish(Err(err.clone_for_reply()));
                }
                if fatal {
                    Err(err)
                } else {
                    tracing::warn!(error = %err, "group commit failed; its callers were told, nothing was acknowledged");
                    Ok(())
                }
            }
        }
    }

    fn note_quota(&mut self, hit: bool, used: u64, max: u64) {
        let was = self.health.quota_reached.swap(hit, Ordering::Relaxed);
        self.metrics.quota_reached.set(i64::from(hit));
        if hit && !was {
            tracing::error!(
                used_bytes = used,
                max_bytes = max,
                file = %self.settings.path.display(),
                "ALARM: storage quota reached; new events are refused (507) until sent events are pruned or storage.max_size_mb is raised; nothing stored is touched"
            );
            // Prune at the next maintenance pass, not in an hour.
            self.last_prune = None;
        } else if !hit && was {
            tracing::info!(
                used_bytes = used,
                max_bytes = max,
                "storage quota cleared; accepting events again"
            );
        }
    }

    /// The WAL file counts against the quota; after a checkpoint it keeps
    /// its size until truncated. Near the quota, truncate it so that only
    /// real data counts. Readers may hold it back; that is fine.
    fn shrink_wal(&mut self) {
        if let Err(e) = self
            .conn
            .sql()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        {
            tracing::debug!(error = %e, "WAL checkpoint near the quota did not complete");
        }
    }

    /// Pages in use times page size, plus the WAL file.
    fn used_bytes(&self) -> Result<u64, rusqlite::Error> {
        let (pages, free, page_size): (i64, i64, i64) = self.conn.sql().query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut wal = self.settings.path.clone().into_os_string();
        wal.push("-wal");
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        Ok(((pages - free).max(0) as u64) * page_size as u64 + wal_len)
    }

    fn refresh_size(&mut self) {
        if let Ok(size) = self.used_bytes() {
            self.estimated_since_measure = 0;
            self.health.db_size_bytes.store(size, Ordering::Relaxed);
            self.metrics.db_size_bytes.set(size as i64);
        }
    }

    /// Retention, idempotency expiry, the unsent count. Runs between groups.
    fn maintain(&mut self) -> Result<(), StoreError> {
        if self.health.unsent.load(Ordering::Relaxed) < 0 {
            let unsent: i64 = self.conn.sql().query_row(
                "SELECT count(*) FROM events WHERE sync_state = 0",
                [],
                |r| r.get(0),
            )?;
            self.health.unsent.store(unsent, Ordering::Relaxed);
        }
        self.metrics
            .events_unsent
            .set(self.health.unsent.load(Ordering::Relaxed).max(0));
        // Hourly-ish is plenty for day-based retention; with 0 days ("prune
        // at once") or a quota alarm, every tick.
        let every = if self.settings.retain_sent_days == 0
            || self.health.quota_reached.load(Ordering::Relaxed)
        {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(60)
        };
        let due = self.last_prune.is_none_or(|t| t.elapsed() >= every);
        if due {
            self.last_prune = Some(Instant::now());
            let cutoff = unix_now() - i64::from(self.settings.retain_sent_days) * 86_400;
            let pruned = self.conn.sql().execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE sync_state = 1 AND sent_at <= ?1 LIMIT ?2)",
                [cutoff, PRUNE_CHUNK],
            )?;
            self.conn.sql().execute(
                "DELETE FROM idempotency WHERE created_at < ?1",
                [unix_now() - IDEMPOTENCY_TTL_S],
            )?;
            if pruned > 0 {
                tracing::info!(
                    pruned,
                    retain_sent_days = self.settings.retain_sent_days,
                    "pruned sent events past retention"
                );
                if pruned as i64 == PRUNE_CHUNK {
                    self.last_prune = None;
                }
            }
        }
        if self.health.quota_reached.load(Ordering::Relaxed) {
            self.shrink_wal();
        }
        self.refresh_size();
        Ok(())
    }
}

/// Savepoint statements, prepared once per connection.
fn savepoint(tx: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn read_last_seq(conn: &Connection) -> Result<u64, StoreError> {
    let recorded: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'last_seq'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let recorded: u64 = recorded.and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: Option<i64> = conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
    Ok(recorded.max(max.unwrap_or(0).max(0) as u64))
}

pub(crate) fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback() -> Vec<NewEvent> {
        let data = serde_json::json!({"score": 9, "context": "pickup"});
        vec![NewEvent::from_client("store.feedback.submitted", data, None, None).unwrap()]
    }

    fn idem(key: &str, token: u8, body: u8) -> Option<Idempotency> {
        Some(Idempotency {
            key: key.into(),
            token_hash: [token; 32],
            request_hash: [body; 32],
        })
    }

    /// Migration 4 gives every Idempotency-Key an owner. A record written
    /// before it (schema 3, no owner) still answers a repeat, from any token,
    /// as it did; a new key is each token's own.
    #[tokio::test]
    async fn an_idempotency_key_is_the_token_s_own_and_old_records_still_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for (i, step) in super::super::migrations::STEPS.iter().take(3).enumerate() {
                conn.execute_batch(step).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            conn.pragma_update(
                None,
                "application_id",
                super::super::migrations::APPLICATION_ID,
            )
            .unwrap();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('store_id', 's1'), ('created_at', 'x'), ('last_seq', '0')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES ('old-key-1', ?1, 201, '{\"id\":\"old\",\"sequence\":\"7\"}', ?2)",
                rusqlite::params![&[1u8; 32][..], unix_now()],
            )
            .unwrap();
        }
        let conn = crate::store::open_for_writing(&path, "s1").unwrap();
        let settings = WriterSettings {
            path: path.clone(),
            max_size_bytes: 1 << 30,
            retain_sent_days: 30,
        };
        let (writer, thread) =
            Writer::start(conn, settings, Arc::new(crate::telemetry::Metrics::new())).unwrap();

        // The old record answers its repeat from any token, and refuses another body.
        for token in [2, 3] {
            match writer
                .append(feedback(), idem("old-key-1", token, 1), true)
                .await
            {
                Ok(AppendOutcome::Replayed { status: 201, body }) => assert!(body.contains("old")),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            writer
                .append(feedback(), idem("old-key-1", 2, 9), true)
                .await,
            Err(StoreError::IdempotencyMismatch)
        ));

        // A new key: two tokens, two bodies, two events; each repeat gets its own answer.
        let Ok(AppendOutcome::Created { body: till, .. }) = writer
            .append(feedback(), idem("key-0001", 2, 5), true)
            .await
        else {
            panic!("till's first post")
        };
        let Ok(AppendOutcome::Created { body: kiosk, .. }) = writer
            .append(feedback(), idem("key-0001", 3, 6), true)
            .await
        else {
            panic!("kiosk's post with the till's key is its own")
        };
        assert_ne!(till, kiosk);
        for (token, body, answer) in [(2, 5, &till), (3, 6, &kiosk)] {
            match writer
                .append(feedback(), idem("key-0001", token, body), true)
                .await
            {
                Ok(AppendOutcome::Replayed { body, .. }) => assert_eq!(&body, answer),
                other => panic!("{other:?}"),
            }
        }
        drop(writer);
        thread.join().unwrap();
        let conn = Connection::open(&path).unwrap();
        let events: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 2);
    }

    #[test]
    fn clock_jump_is_signed_whole_seconds() {
        let mut c = ClockTracker::default();
        let (w, m) = (SystemTime::now(), Instant::now());
        assert_eq!(c.observe(w, m), None);
        assert_eq!(
            c.observe(w + Duration::from_secs(1), m + Duration::from_secs(1)),
            None
        );
        assert_eq!(
            c.observe(w + Duration::from_secs(12), m + Duration::from_secs(2)),
            Some(10)
        );
        assert_eq!(
            c.observe(w + Duration::from_secs(2), m + Duration::from_secs(3)),
            Some(-11)
        );
    }
}
