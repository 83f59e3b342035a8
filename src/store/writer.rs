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
//! The queue in front of it is bounded ([`QUEUE_CAPACITY`]): when it is
//! full, a request's handle ([`Writer::for_requests`]) waits
//! [`REQUEST_PATIENCE`] and then gives up with [`StoreError::Overloaded`]
//! (the API's 503), having queued nothing; every other handle (devices,
//! timers, sync) waits for room, so no scan is ever dropped.
//!
//! What it tells others: [`WriterHealth::unsent_grew`] rings after a commit
//! that appended or requeued events, and when another connection (a CLI
//! command beside the running service) committed, seen through
//! `PRAGMA data_version` at each tick; then the unsent count is recounted.
//!
//! Must never: hold a transaction open across anything but local SQLite
//! work, call the network, or acknowledge before COMMIT.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{Db, ReadConn, StoreError};
use crate::events::NewEvent;
use crate::telemetry::Metrics;

/// At most this many operations share one transaction; more wait for the
/// next group. Keeps a group's latency bounded under a flood.
const MAX_OPS_PER_GROUP: usize = 2048;
/// Prepared statements the writer's connection keeps.
const STATEMENT_CACHE: usize = 128;
/// Sent events deleted per maintenance pass, so pruning never holds the
/// write lock for long.
const PRUNE_CHUNK: i64 = 20_000;
/// Idempotency records are kept this long (the API contract says 7 days).
const IDEMPOTENCY_TTL_S: i64 = 7 * 24 * 3600;
/// Operations that may wait for the writer. The writer takes up to
/// [`MAX_OPS_PER_GROUP`] (twice this) into each group, so in normal running
/// the whole queue goes into the next commit and nobody waits for room; a
/// queue this deep only fills when the disk stalls. Then it stops growing:
/// an op may hold up to 1,000 events (a 1 MiB request), and an unbounded
/// queue would grow the service until the kernel kills it.
pub const QUEUE_CAPACITY: usize = 1024;
/// How long an HTTP request waits for room in a full queue before it is
/// answered 503: long enough to ride out a burst, short enough that a till
/// retries instead of hanging.
pub const REQUEST_PATIENCE: Duration = Duration::from_secs(2);
/// The `Retry-After` of that 503, in seconds: a full queue drains in well
/// under a second once the disk answers.
pub const RETRY_AFTER_S: u64 = 1;

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
    /// Heartbeat and maintenance (retention, idempotency expiry, gauges,
    /// commits by other connections).
    Tick,
}

/// A counter that waiters can sleep on: it rings after every commit that
/// may have given the uplink something to send. A blocking thread (the
/// uplink's preparer) takes a [`Signal::mark`] before it looks for work and
/// waits past it, so a ring in between is never lost.
#[derive(Debug, Default)]
pub struct Signal {
    rings: Mutex<u64>,
    rung: Condvar,
}

impl Signal {
    /// Wakes every waiter (a commit, or someone stopping who must not wait
    /// out the fallback).
    pub fn ring(&self) {
        if let Ok(mut n) = self.rings.lock() {
            *n += 1;
            self.rung.notify_all();
        }
    }

    /// The rings so far; pass it to [`Signal::wait_past`].
    pub fn mark(&self) -> u64 {
        self.rings.lock().map(|n| *n).unwrap_or(0)
    }

    /// Blocks until it rang after `mark`, or `at_most` passed (a fallback
    /// so that a missed ring can only delay, never stall). Returns the new mark.
    pub fn wait_past(&self, mark: u64, at_most: Duration) -> u64 {
        let Ok(n) = self.rings.lock() else {
            std::thread::sleep(at_most);
            return mark;
        };
        match self.rung.wait_timeout_while(n, at_most, |n| *n == mark) {
            Ok((n, _)) => *n,
            Err(_) => mark,
        }
    }
}

/// What the writer shares with the rest of the process.
#[derive(Debug)]
pub struct WriterHealth {
    started: Instant,
    /// Milliseconds since `started` at the writer's last completed loop.
    heartbeat_ms: AtomicU64,
    pub quota_reached: AtomicBool,
    /// The last group that added rows failed with `SQLITE_FULL` (507).
    pub disk_full: AtomicBool,
    pub db_size_bytes: AtomicU64,
    /// -1 until counted after start (counting 1M rows must not delay ready).
    pub unsent: AtomicI64,
    pub last_seq: AtomicU64,
    pub fatal: Mutex<Option<String>>,
    /// Rings when there may be new unsent events: a commit appended or
    /// requeued some, or another connection (the CLI) committed.
    pub unsent_grew: Signal,
    /// A tick found the queue full; the writer maintains after its group.
    tick_due: AtomicBool,
    /// When a full queue was last logged (seconds since `started`, +1; 0 = never).
    full_logged_s: AtomicU64,
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

    /// A full queue is worth one warning a minute, not one per request.
    fn log_full(&self) {
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.full_logged_s.load(Ordering::Relaxed);
        if (last == 0 || now >= last + 60)
            && self
                .full_logged_s
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                capacity = QUEUE_CAPACITY,
                "the database writer's queue is full: requests get 503 with Retry-After, devices and sync wait; is the disk slow?"
            );
        }
    }
}

/// A cloneable handle to submit work to the writer.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    pub health: Arc<WriterHealth>,
    /// How long to wait for room in a full queue: `None` as long as it
    /// takes (devices, timers, sync: nothing is dropped), `Some` for HTTP
    /// requests ([`Writer::for_requests`]), which then answer 503.
    patience: Option<Duration>,
}

/// Settings the writer needs from the config.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub path: std::path::PathBuf,
    pub max_size_bytes: u64,
    pub retain_sent_days: u32,
    /// `store.timezone`: each event's `local_day` and its KPI rollups.
    pub timezone: jiff::tz::TimeZone,
    /// Benchmark switch: `false` skips the KPI rollups and facts
    /// (`store::kpi_ingest`) so that `bench kpi` can measure what they cost
    /// in the same run. Always `true` in the service, the CLI and the
    /// tests: without it the KPIs miss the events it let through.
    pub kpi_ingest: bool,
}

/// Bench only (`bench ingest` sets it to measure what the KPI facts cost
/// the request path): `1` makes `store-edge run` start its writer with
/// `kpi_ingest: false`, so the KPI tables miss every event recorded
/// meanwhile until `kpi verify --rebuild`. Never set on a store's box; the
/// service warns when it is.
pub const NO_KPI_ENV: &str = "STORE_EDGE_BENCH_NO_KPI";

impl WriterSettings {
    /// The settings of a database at `path` with the service's defaults
    /// for everything but the quota, retention and time zone.
    pub fn new(
        path: std::path::PathBuf,
        max_size_bytes: u64,
        retain_sent_days: u32,
        timezone: jiff::tz::TimeZone,
    ) -> WriterSettings {
        WriterSettings {
            path,
            max_size_bytes,
            retain_sent_days,
            timezone,
            kpi_ingest: true,
        }
    }
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
        Self::start_with(db, settings, metrics, TestHooks::from_env())
    }

    fn start_with(
        mut db: Db,
        settings: WriterSettings,
        metrics: Arc<Metrics>,
        hooks: TestHooks,
    ) -> Result<(Writer, std::thread::JoinHandle<()>), StoreError> {
        let last_seq = read_last_seq(db.sql())?;
        // The append path alone (events, idempotency, the KPI ingest's ~30
        // statements) outgrows rusqlite's default cache of 16: a miss
        // re-prepares on every event (bench kpi: 7x slower ingest).
        db.sql()
            .set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        tune_writer_connection(db.sql())?;
        let checkpointer = super::checkpointer::install(&mut (db.0).0, &settings.path)?;
        let health = Arc::new(WriterHealth {
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
            quota_reached: AtomicBool::new(false),
            disk_full: AtomicBool::new(false),
            db_size_bytes: AtomicU64::new(0),
            unsent: AtomicI64::new(-1),
            last_seq: AtomicU64::new(last_seq),
            fatal: Mutex::new(None),
            unsent_grew: Signal::default(),
            tick_due: AtomicBool::new(false),
            full_logged_s: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(hooks.capacity.unwrap_or(QUEUE_CAPACITY));
        let type_codes = type_codes(db.sql())?;
        let mut state = WriterThread {
            data_version: data_version(db.sql())?,
            conn: db.0,
            rx,
            hooks,
            settings,
            metrics,
            health: health.clone(),
            next_seq: last_seq + 1,
            clock: ClockTracker::default(),
            last_prune: None,
            estimated_since_measure: 0,
            type_codes,
            checkpointer,
        };
        state.refresh_size();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || state.run())
            .map_err(|e| StoreError::internal("starting the writer thread", e))?;
        Ok((
            Writer {
                tx,
                health,
                patience: None,
            },
            handle,
        ))
    }

    /// The handle for HTTP requests: when the queue stays full for
    /// [`REQUEST_PATIENCE`], an operation fails with
    /// [`StoreError::Overloaded`] without having been queued.
    pub fn for_requests(&self) -> Writer {
        Writer {
            patience: Some(REQUEST_PATIENCE),
            ..self.clone()
        }
    }

    /// Queues an operation, waiting for room as this handle's patience
    /// allows. Fails when the writer has stopped or, for a request's
    /// handle, when the queue stayed full ([`StoreError::Overloaded`]).
    pub async fn submit(&self, op: Box<dyn WriteOp>) -> Result<(), StoreError> {
        let job = match self.tx.try_send(Job::Op(op)) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(StoreError::WriterStopped),
            Err(mpsc::error::TrySendError::Full(job)) => job,
        };
        self.health.log_full();
        let Some(patience) = self.patience else {
            return self
                .tx
                .send(job)
                .await
                .map_err(|_| StoreError::WriterStopped);
        };
        // Cancel-safe: when the time is up, the op was not queued (the
        // caller's 503 means "not recorded").
        match tokio::time::timeout(patience, self.tx.send(job)).await {
            Ok(sent) => sent.map_err(|_| StoreError::WriterStopped),
            Err(_) => Err(StoreError::Overloaded {
                retry_after_s: RETRY_AFTER_S,
            }),
        }
    }

    /// [`Writer::submit`] for threads outside the runtime: always waits
    /// for room (only internal producers run there).
    fn submit_blocking(&self, op: Box<dyn WriteOp>) -> Result<(), StoreError> {
        self.tx
            .blocking_send(Job::Op(op))
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Asks the writer for a heartbeat and maintenance pass. Never waits:
    /// with the queue full the writer is busy anyway, and it maintains
    /// after its current group.
    pub fn tick(&self) -> Result<(), StoreError> {
        match self.tx.try_send(Job::Tick) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.health.tick_due.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StoreError::WriterStopped),
        }
    }

    /// Appends events (all or nothing), optionally under an idempotency
    /// key. The acknowledgements come back as data, one per event in
    /// order; how they are shown is the caller's business.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Box::new(AppendOp {
            events,
            idempotency,
            outcome: None,
            reply: Some(reply),
        }))
        .await?;
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
        let (op, rx) = fn_op(estimated_bytes, f);
        self.submit(op).await?;
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Like [`Writer::run`], for threads outside the runtime (it waits for
    /// room in the queue whatever the handle: only internal producers run
    /// there).
    pub fn run_blocking<T, F>(&self, estimated_bytes: u64, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (op, rx) = fn_op(estimated_bytes, f);
        self.submit_blocking(op)?;
        rx.blocking_recv().map_err(|_| StoreError::WriterStopped)?
    }
}

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

/// `f` as an operation, and where its result will arrive after the commit.
fn fn_op<T, F>(estimated_bytes: u64, f: F) -> (Box<dyn WriteOp>, Reply<T>)
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let op = Box::new(FnOp {
        estimated_bytes,
        f: Some(f),
        value: None,
        reply: Some(reply),
    });
    (op, rx)
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

/// The id and sequence given to a recorded event. Its JSON (an array of
/// them) is what the idempotency table keeps of a request's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What became of an append: the acknowledgements, one per event, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Newly recorded.
    Created { acks: Vec<Appended> },
    /// The same request was seen before under this key: its
    /// acknowledgements again (nothing new is recorded).
    Replayed { acks: Vec<Appended> },
}

/// Allocation state visible to operations inside the group transaction.
pub struct WriteCtx<'a> {
    /// The writer's connection, inside the group's transaction.
    conn: &'a ReadConn,
    next_seq: &'a mut u64,
    clock: &'a mut ClockTracker,
    appended: u64,
    unsent_delta: i64,
    timezone: &'a jiff::tz::TimeZone,
    kpi_ingest: bool,
    type_codes: &'a std::collections::HashMap<String, i64>,
    /// The KPI rollups' changes of the current op (dropped when it rolls back).
    op_rollups: super::kpi_ingest::Rollups,
    /// Those of the group's committed ops, flushed before the commit.
    rollups: super::kpi_ingest::Rollups,
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
    /// sequence, its recording time and its local day, and maintains the
    /// KPI rollups and facts it feeds (`kpi_ingest`) in the same
    /// transaction, so a crash keeps both or neither.
    pub fn append(&mut self, event: &NewEvent) -> Result<Appended, StoreError> {
        let now = SystemTime::now();
        let recorded = time::OffsetDateTime::from(now);
        let happened = event.time.unwrap_or(recorded);
        let at_ms = crate::events::unix_ms(happened);
        let local_day = super::kpi_ingest::local_day(at_ms, self.timezone);
        let clockjump = self.clock.observe(now, Instant::now());
        let id = uuid::Uuid::now_v7();
        let seq = *self.next_seq;
        let stage = event.event_type.stage.map(|s| s.as_str());
        // Schema 9's lean row: the UUID's bytes, times in milliseconds,
        // the type's code (migrations.rs; `open` registers every catalog
        // type), no stage (the catalog's), no sent state (sync.rs).
        let code = self
            .type_codes
            .get(event.event_type.name)
            .copied()
            .ok_or_else(|| {
                StoreError::internal(
                    "appending an event",
                    std::io::Error::other(format!("no code for type {}", event.event_type.name)),
                )
            })?;
        self.conn()
            .prepare_cached(
                "INSERT INTO event_log (seq, id, type, subject, time, recorded, clockjump, local_day, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(rusqlite::params![
                seq as i64,
                &id.as_bytes()[..],
                code,
                event.subject,
                at_ms,
                crate::events::unix_ms(recorded),
                clockjump,
                local_day,
                event.data_json,
            ])?;
        let id = id.hyphenated().to_string();
        if self.kpi_ingest {
            super::kpi_ingest::ingest(
                self.conn.sql(),
                &mut self.op_rollups,
                &super::kpi_ingest::Ev {
                    seq: seq as i64,
                    type_name: event.event_type.name,
                    stage,
                    at_ms,
                    day: &local_day,
                    data: &event.data,
                },
            )?;
        }
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
            let seen: Option<(Vec<u8>, String)> = ctx
                .conn()
                .prepare_cached(
                    "SELECT request_hash, response FROM idempotency
                     WHERE key = ?1 AND token_hash IN (?2, x'')
                     ORDER BY length(token_hash) DESC LIMIT 1",
                )?
                .query_row(rusqlite::params![idem.key, &idem.token_hash[..]], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((hash, response)) = seen {
                if hash != idem.request_hash {
                    return Err(StoreError::IdempotencyMismatch);
                }
                let acks = parse_acks(&response).map_err(|e| {
                    StoreError::invalid(
                        "the idempotency record of this key is not a list of acknowledgements",
                        e,
                    )
                })?;
                self.outcome = Some(AppendOutcome::Replayed { acks });
                return Ok(());
            }
        }
        // One feedback answer per order, checked before anything is
        // appended so that a request holding a second answer records nothing.
        super::kpi_counts::refuse_second_feedback(ctx.reader(), &self.events)?;
        let mut acks = Vec::with_capacity(self.events.len());
        for event in &self.events {
            acks.push(ctx.append(event)?);
        }
        if let Some(idem) = &self.idempotency {
            // Always the array: the request (same key, same body) knows
            // its own shape when it is replayed.
            let response = serde_json::to_string(&acks)
                .map_err(|e| StoreError::invalid("the acknowledgements", e))?;
            ctx.conn()
                .prepare_cached(
                    "INSERT INTO idempotency (token_hash, key, request_hash, status, response, created_at) VALUES (?1, ?2, ?3, 201, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    &idem.token_hash[..],
                    idem.key,
                    &idem.request_hash[..],
                    response,
                    unix_now()
                ])?;
        }
        self.outcome = Some(AppendOutcome::Created { acks });
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

/// The acknowledgements an idempotency record keeps: a JSON array; rows
/// written before acknowledgements were data hold a single request's
/// answer, one object.
fn parse_acks(response: &str) -> Result<Vec<Appended>, serde_json::Error> {
    serde_json::from_str::<Vec<Appended>>(response)
        .or_else(|_| serde_json::from_str::<Appended>(response).map(|one| vec![one]))
}

/// Test-only knobs, read once when the writer starts and only in debug
/// builds (the release binary has none): the end-to-end test of a full
/// queue (`tests/it/api.rs`) runs the real binary with them.
/// - `STORE_EDGE_TEST_WRITER_QUEUE=N`: a queue of N ops instead of
///   [`QUEUE_CAPACITY`], so that a test fills it with a few requests;
/// - `STORE_EDGE_TEST_WRITER_GATE=PATH`: while the file PATH exists, the
///   writer holds the group it has just taken (a stalled disk, on demand).
#[derive(Debug, Default)]
struct TestHooks {
    capacity: Option<usize>,
    gate: Option<std::path::PathBuf>,
}

impl TestHooks {
    #[cfg(debug_assertions)]
    fn from_env() -> TestHooks {
        let hooks = TestHooks {
            capacity: std::env::var("STORE_EDGE_TEST_WRITER_QUEUE")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0),
            gate: std::env::var_os("STORE_EDGE_TEST_WRITER_GATE").map(Into::into),
        };
        if hooks.capacity.is_some() || hooks.gate.is_some() {
            tracing::warn!(?hooks, "test hooks of the database writer are set");
        }
        hooks
    }

    #[cfg(not(debug_assertions))]
    fn from_env() -> TestHooks {
        TestHooks::default()
    }

    /// Holds the writer while the gate file exists.
    fn hold(&self, health: &WriterHealth) {
        if let Some(gate) = &self.gate {
            while gate.exists() {
                health.beat();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// SQLite's count of commits by *other* connections to this database
/// (it does not move for the writer's own commits).
fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

struct WriterThread {
    conn: ReadConn,
    rx: mpsc::Receiver<Job>,
    hooks: TestHooks,
    /// `PRAGMA data_version` when last looked at (each tick).
    data_version: i64,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
    health: Arc<WriterHealth>,
    next_seq: u64,
    clock: ClockTracker,
    last_prune: Option<Instant>,
    /// Bytes estimated for commits since the size was last measured.
    estimated_since_measure: u64,
    /// `event_types` (schema 9): the code of every catalog type, read once
    /// (`open` registered them all; a code never changes once given).
    type_codes: std::collections::HashMap<String, i64>,
    /// The background checkpoint thread (`store/checkpointer.rs`), stopped
    /// before the last checkpoint on the way out.
    checkpointer: Option<std::thread::JoinHandle<()>>,
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
            self.hooks.hold(&self.health);
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
            // A tick that found the queue full is still due.
            tick |= self.health.tick_due.swap(false, Ordering::Relaxed);
            if tick {
                match self.maintain() {
                    Err(fatal) if fatal.is_fatal() => {
                        self.stop_fatally(fatal);
                        return;
                    }
                    // A full disk (pruning needs room in the WAL too) or a
                    // busy CLI command: the next tick tries again.
                    Err(StoreError::DiskFull) => {
                        tracing::debug!("database maintenance: the disk is full")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "database maintenance failed; trying again at the next tick")
                    }
                    Ok(()) => {}
                }
            }
            self.health.beat();
        }
        // All handles dropped: the queue is drained and committed.
        super::checkpointer::stop(&mut (self.conn).0, self.checkpointer.take());
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
        // SQLite says "disk I/O error"; what the OS said is what IT can act
        // on (EIO: the disk; EFBIG: a file size limit; EROFS: remounted
        // read-only).
        let os_error = match self.system_errno() {
            0 => None,
            errno => Some(std::io::Error::from_raw_os_error(errno)),
        };
        let os = os_error
            .as_ref()
            .map(|e| format!(" (the OS said: {e})"))
            .unwrap_or_default();
        let file = self.settings.path.display();
        let os_error = os_error
            .map(|e| e.to_string())
            .unwrap_or_else(|| "none".into());
        tracing::error!(error = %error, os_error = %os_error, file = %file, "unrecoverable database write error; stopping the writer and the service (exit status 1) so that systemd restarts it once the disk is fixed; nothing acknowledged is lost");
        if let Ok(mut fatal) = self.health.fatal.lock() {
            *fatal = Some(format!("{error}{os} on {file}"));
        }
        // Answer everything still queued so no caller waits forever.
        self.rx.close();
        while let Ok(job) = self.rx.try_recv() {
            if let Job::Op(op) = job {
                op.finish(Err(StoreError::WriterStopped));
            }
        }
    }

    /// The OS error (`errno`) behind the connection's last I/O error, 0
    /// when there was none.
    fn system_errno(&self) -> i32 {
        // SAFETY: the handle is this thread's own open connection, used
        // only for this read of its last error.
        unsafe { rusqlite::ffi::sqlite3_system_errno(self.conn.sql().handle()) }
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
                    op.finish(Err(err.clone()));
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
            timezone: &self.settings.timezone,
            kpi_ingest: self.settings.kpi_ingest,
            type_codes: &self.type_codes,
            op_rollups: Default::default(),
            rollups: Default::default(),
        };
        let mut results: Vec<(Box<dyn WriteOp>, Result<(), StoreError>)> =
            Vec::with_capacity(ops.len());
        let mut quota_hit = false;
        let mut any_adding = false;
        let mut ops = ops.into_iter();
        while let Some(mut op) = ops.next() {
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
                    // SQLite rolls the whole transaction back by itself
                    // after some errors (SQLITE_FULL, an I/O error): then
                    // there is no savepoint left to end, and the op's own
                    // error is what the callers must hear.
                    let end = if ctx.conn().is_autocommit() {
                        Ok(())
                    } else if outcome.is_ok() {
                        savepoint(ctx.conn(), "RELEASE op")
                    } else {
                        savepoint(ctx.conn(), "ROLLBACK TO op")
                            .and_then(|()| savepoint(ctx.conn(), "RELEASE op"))
                    };
                    match (end, outcome) {
                        (_, Err(e)) => Err(e),
                        (Ok(()), ok) => ok,
                        (Err(e), Ok(())) => Err(StoreError::from(e)),
                    }
                }
            };
            if let Err(e) = &outcome {
                // The transaction is gone (an I/O error, or SQLite rolled it
                // back after SQLITE_FULL): nothing of the group is in it any
                // more, so no op of it may be acknowledged — and the next
                // op's SAVEPOINT would open a transaction of its own that
                // commits outside the group. Every op fails with this error.
                if e.is_fatal() || ctx.conn().is_autocommit() {
                    drop(tx);
                    self.next_seq = seq_before;
                    let err = e.clone();
                    for (op, _) in results {
                        op.finish(Err(err.clone()));
                    }
                    op.finish(Err(err.clone()));
                    for op in ops {
                        op.finish(Err(err.clone()));
                    }
                    self.note_failed_group(&err);
                    return if err.is_fatal() { Err(err) } else { Ok(()) };
                }
                *ctx.next_seq = seq_at_op;
                ctx.appended = appended_at_op;
                ctx.unsent_delta = unsent_at_op;
                ctx.op_rollups.clear();
            } else {
                used = used.saturating_add(estimate);
                let WriteCtx {
                    op_rollups,
                    rollups,
                    ..
                } = &mut ctx;
                rollups.absorb(op_rollups);
            }
            results.push((op, outcome));
        }
        let appended = ctx.appended;
        let unsent_delta = ctx.unsent_delta;
        let last_seq = *ctx.next_seq - 1;
        let mut rollups = std::mem::take(&mut ctx.rollups);
        // The rollups of the group's events go in with them (a failure here
        // drops the transaction: nobody is acknowledged).
        let committed = rollups.flush(&tx).and_then(|()| {
            if appended > 0 {
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'last_seq'",
                    [last_seq.to_string()],
                )
                .map_err(StoreError::from)
                .and_then(|_| tx.commit().map_err(StoreError::from))
            } else {
                tx.commit().map_err(StoreError::from)
            }
        });
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
                // New events, or requeued ones: the uplink has work.
                if appended > 0 || unsent_delta > 0 {
                    self.health.unsent_grew.ring();
                }
                self.metrics
                    .commit_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.commit_group_size.observe(appended as f64);
                if any_adding {
                    self.note_quota(quota_hit, used, max);
                    self.note_disk_full(false);
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
                    op.finish(Err(err.clone()));
                }
                self.note_failed_group(&err);
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

    /// A group that failed as a whole: on a full disk, raise the alarm.
    fn note_failed_group(&mut self, err: &StoreError) {
        if matches!(err, StoreError::DiskFull) {
            self.note_disk_full(true);
        }
    }

    /// The disk-full alarm: raised when a group fails with `SQLITE_FULL`
    /// (every op of it answered 507, nothing acknowledged), cleared by the
    /// next group that adds rows and commits. The writer goes on: a full
    /// disk is not a broken file, and writes resume once space returns.
    fn note_disk_full(&mut self, full: bool) {
        let was = self.health.disk_full.swap(full, Ordering::Relaxed);
        self.metrics.disk_full.set(i64::from(full));
        if full && !was {
            tracing::error!(
                file = %self.settings.path.display(),
                "ALARM: the disk is full; new events are refused (507) until space is freed on the data disk; nothing acknowledged is lost"
            );
        } else if !full && was {
            tracing::info!("the disk has room again; accepting events again");
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
        // Another connection committed (a CLI command beside the running
        // service: `sync requeue`, `token create`, …): what it changed is
        // not in our counts. Count again and let the uplink look.
        let version = data_version(self.conn.sql())?;
        let outside = version != self.data_version;
        if outside || self.health.unsent.load(Ordering::Relaxed) < 0 {
            let unsent: i64 = super::sync::unsent_count(self.conn.sql())?;
            self.health.unsent.store(unsent, Ordering::Relaxed);
        }
        if outside {
            self.data_version = version;
            self.health.unsent_grew.ring();
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
            let pruned = prune_sent(self.conn.sql(), cutoff * 1000, PRUNE_CHUNK)? as i64;
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
                if pruned == PRUNE_CHUNK {
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

/// The writer connection's own settings (issue 15's profile of batched
/// HTTP ingest, below). Every op runs under a savepoint, and SQLite copies
/// each page an op first changes into the savepoint's sub-journal: by
/// default a temporary *file* once it passes 64 KiB, so a batch that
/// touches a few hundred index pages paid a `pwrite` per page (half of
/// the KPI ingest's `kpi_tx` insert). In memory it is a `memcpy`, freed at
/// the op's RELEASE; an op touches at most a few MiB. The page cache: a
/// group that dirties more pages than the cache holds spills them to the
/// WAL before its commit and reads them back (`pagerStress`).
fn tune_writer_connection(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    Ok(())
}

/// The writer's page cache, in KiB (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: i64 = 8 * 1024;

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
    let max: Option<i64> = conn.query_row("SELECT max(seq) FROM event_log", [], |r| r.get(0))?;
    Ok(recorded.max(max.unwrap_or(0).max(0) as u64))
}

/// The codes of the event types (schema 9's `event_types`).
fn type_codes(conn: &Connection) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT name, code FROM event_types")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Retention: deletes, oldest first, up to `chunk` events below the
/// "sent up to" watermark recorded at or before `cutoff_ms`, stopping at
/// the first one recorded later (recording times rise with the sequence
/// but for clock corrections, which then wait a little longer). Held
/// (quarantined) events stay. Returns how many were deleted.
fn prune_sent(conn: &Connection, cutoff_ms: i64, chunk: i64) -> Result<usize, StoreError> {
    let mut last = None;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, recorded FROM event_log
              WHERE seq <= (SELECT sent_upto FROM sync_watermark)
                AND seq NOT IN (SELECT seq FROM sync_held) ORDER BY seq LIMIT ?1",
        )?;
        let mut rows = stmt.query([chunk])?;
        while let Some(r) = rows.next()? {
            let recorded = match r.get_ref(1)? {
                rusqlite::types::ValueRef::Integer(ms) => ms,
                other => other
                    .as_str()
                    .ok()
                    .and_then(|t| crate::events::parse_time(t).ok())
                    .map_or(i64::MAX, crate::events::unix_ms),
            };
            if recorded > cutoff_ms {
                break;
            }
            last = Some(r.get::<_, i64>(0)?);
        }
    }
    let Some(last) = last else { return Ok(0) };
    Ok(conn
        .prepare_cached(
            "DELETE FROM event_log WHERE seq <= ?1 AND seq NOT IN (SELECT seq FROM sync_held)",
        )?
        .execute([last])?)
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
            timezone: jiff::tz::TimeZone::UTC,
            kpi_ingest: true,
        };
        let (writer, thread) =
            Writer::start(conn, settings, Arc::new(crate::telemetry::Metrics::new())).unwrap();

        // The old record (one object, as a single-event request was
        // answered) answers its repeat from any token, and refuses another body.
        let old = vec![Appended {
            id: "old".into(),
            sequence: "7".into(),
        }];
        for token in [2, 3] {
            assert_eq!(
                writer
                    .append(feedback(), idem("old-key-1", token, 1))
                    .await
                    .unwrap(),
                AppendOutcome::Replayed { acks: old.clone() }
            );
        }
        assert!(matches!(
            writer.append(feedback(), idem("old-key-1", 2, 9)).await,
            Err(StoreError::IdempotencyMismatch)
        ));

        // A new key: two tokens, two bodies, two events; each repeat gets its own answer.
        let Ok(AppendOutcome::Created { acks: till }) =
            writer.append(feedback(), idem("key-0001", 2, 5)).await
        else {
            panic!("till's first post")
        };
        let Ok(AppendOutcome::Created { acks: kiosk }) =
            writer.append(feedback(), idem("key-0001", 3, 6)).await
        else {
            panic!("kiosk's post with the till's key is its own")
        };
        assert_ne!(till, kiosk);
        for (token, body, answer) in [(2, 5, &till), (3, 6, &kiosk)] {
            match writer
                .append(feedback(), idem("key-0001", token, body))
                .await
            {
                Ok(AppendOutcome::Replayed { acks }) => assert_eq!(&acks, answer),
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

    /// A fresh database and its writer, with the given test hooks.
    fn fresh(
        dir: &std::path::Path,
        hooks: TestHooks,
    ) -> (Writer, std::thread::JoinHandle<()>, std::path::PathBuf) {
        let path = dir.join("w.db");
        let conn = crate::store::open_for_writing(&path, "s1").unwrap();
        let settings = WriterSettings {
            path: path.clone(),
            max_size_bytes: 1 << 30,
            retain_sent_days: 30,
            timezone: jiff::tz::TimeZone::UTC,
            kpi_ingest: true,
        };
        let (writer, thread) = Writer::start_with(
            conn,
            settings,
            Arc::new(crate::telemetry::Metrics::new()),
            hooks,
        )
        .unwrap();
        (writer, thread, path)
    }

    /// Before acknowledgements were data, the idempotency table kept the
    /// answer as sent: one object for a single-event request, an array
    /// otherwise. Both still replay as acknowledgements; new records are
    /// always the array.
    #[tokio::test]
    async fn answers_recorded_before_acks_were_data_still_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, thread, path) = fresh(dir.path(), TestHooks::default());
        let raw = Connection::open(&path).unwrap();
        for (key, response) in [
            ("single-1", r#"{"id":"a","sequence":"1"}"#),
            (
                "array-02",
                r#"[{"id":"b","sequence":"2"},{"id":"c","sequence":"3"}]"#,
            ),
        ] {
            raw.execute(
                "INSERT INTO idempotency (token_hash, key, request_hash, status, response, created_at) VALUES (?1, ?2, ?3, 201, ?4, ?5)",
                rusqlite::params![&[2u8; 32][..], key, &[1u8; 32][..], response, unix_now()],
            )
            .unwrap();
        }
        let ack = |id: &str, sequence: &str| Appended {
            id: id.into(),
            sequence: sequence.into(),
        };
        assert_eq!(
            writer
                .append(feedback(), idem("single-1", 2, 1))
                .await
                .unwrap(),
            AppendOutcome::Replayed {
                acks: vec![ack("a", "1")]
            }
        );
        assert_eq!(
            writer
                .append(feedback(), idem("array-02", 2, 1))
                .await
                .unwrap(),
            AppendOutcome::Replayed {
                acks: vec![ack("b", "2"), ack("c", "3")]
            }
        );
        let Ok(AppendOutcome::Created { acks }) =
            writer.append(feedback(), idem("new-key-1", 2, 1)).await
        else {
            panic!("a new key records")
        };
        let stored: String = raw
            .query_row(
                "SELECT response FROM idempotency WHERE key = 'new-key-1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, serde_json::to_string(&acks).unwrap());
        assert!(stored.starts_with('['), "{stored}");
        drop(writer);
        thread.join().unwrap();
    }

    async fn await_all(replies: Vec<Reply<()>>) -> Vec<Result<(), StoreError>> {
        let mut out = Vec::new();
        for rx in replies {
            out.push(rx.await.unwrap());
        }
        out
    }

    /// `PRAGMA max_page_count` makes SQLite answer `SQLITE_FULL` like a
    /// full disk, after which it may roll the whole transaction back
    /// itself. Every op of the group must then be told `DiskFull` or have
    /// committed — never another error, never stored while told an error —
    /// and the next group must commit with the next sequence.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_disk_in_the_middle_of_a_group_acknowledges_exactly_what_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        std::fs::write(&gate, b"").unwrap();
        let path = dir.path().join("w.db");
        let conn = crate::store::open_for_writing(&path, "s1").unwrap();
        let pages: i64 = conn
            .sql()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        let limit = format!("PRAGMA max_page_count = {}", pages + 40);
        let _: i64 = conn.sql().query_row(&limit, [], |r| r.get(0)).unwrap();
        let (writer, thread) = Writer::start_with(
            conn,
            WriterSettings::new(path.clone(), 1 << 30, 30, jiff::tz::TimeZone::UTC),
            Arc::new(crate::telemetry::Metrics::new()),
            TestHooks {
                capacity: Some(8),
                gate: Some(gate.clone()),
            },
        )
        .unwrap();
        let op = |n: usize| {
            fn_op(1, move |ctx: &mut WriteCtx<'_>| {
                let mut seqs = Vec::new();
                for _ in 0..n {
                    for e in feedback() {
                        let seq = ctx.append(&e)?.sequence;
                        seqs.push(seq.parse::<u64>().unwrap());
                    }
                }
                Ok(seqs)
            })
        };
        // One group: a small op, one that outgrows the file, a small one.
        let mut replies = Vec::new();
        for n in [1, 20_000, 1] {
            let (op, rx) = op(n);
            writer.submit(op).await.unwrap();
            replies.push(rx);
        }
        std::fs::remove_file(&gate).unwrap();
        let mut acked = Vec::new();
        for rx in replies {
            match rx.await.unwrap() {
                Ok(seqs) => acked.extend(seqs),
                Err(StoreError::DiskFull) => {}
                Err(other) => panic!("a full disk answered {other:?}"),
            }
        }
        assert!(writer.health.disk_full.load(Ordering::Relaxed));
        let stored = || -> Vec<u64> {
            let reader = Connection::open(&path).unwrap();
            let mut stmt = reader
                .prepare("SELECT seq FROM events ORDER BY seq")
                .unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap();
            rows.map(|r| r.unwrap() as u64).collect()
        };
        assert_eq!(
            stored(),
            acked,
            "exactly the acknowledged events are stored"
        );
        // Room again: the next group commits, the sequence goes on gap-free.
        writer
            .run(0, |ctx| {
                let _: i64 = ctx
                    .conn()
                    .query_row("PRAGMA max_page_count = 1000000", [], |r| r.get(0))?;
                Ok(())
            })
            .await
            .unwrap();
        let (op1, rx) = op(1);
        writer.submit(op1).await.unwrap();
        let next = rx.await.unwrap().expect("room again");
        assert_eq!(next, vec![acked.len() as u64 + 1]);
        assert!(!writer.health.disk_full.load(Ordering::Relaxed));
        drop(writer);
        thread.join().unwrap();
    }

    /// The KPI rollups of a group are summed in memory and written just
    /// before its commit: an op that fails after appending leaves none of
    /// its events in them, and the ops around it in the same group count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rolled_back_op_leaves_nothing_in_the_rollups_of_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        std::fs::write(&gate, b"").unwrap();
        let hooks = TestHooks {
            capacity: Some(8),
            gate: Some(gate.clone()),
        };
        let (writer, thread, path) = fresh(dir.path(), hooks);
        // Submitted in this order: a good op, one that fails after
        // appending, a good one after it (so a leftover of the failed op
        // would be carried into the third's share).
        let op = |n: usize, fail: bool| {
            fn_op(1, move |ctx: &mut WriteCtx<'_>| {
                for _ in 0..n {
                    for e in feedback() {
                        ctx.append(&e)?;
                    }
                }
                if fail {
                    return Err(StoreError::Conflict("rolled back".into()));
                }
                Ok(())
            })
        };
        let mut replies = Vec::new();
        for (n, fail) in [(2, false), (3, true), (1, false)] {
            let (op, rx) = op(n, fail);
            writer.submit(op).await.unwrap();
            replies.push(rx);
        }
        std::fs::remove_file(&gate).unwrap();
        let results: Vec<_> = await_all(replies).await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(
            matches!(results[1], Err(StoreError::Conflict(_))),
            "{:?}",
            results[1]
        );
        assert!(results[2].is_ok(), "{:?}", results[2]);
        drop(writer);
        thread.join().unwrap();
        let conn = Connection::open(&path).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM events"), 3);
        assert_eq!(
            count("SELECT coalesce(sum(n), 0) FROM kpi_daily WHERE metric = 'events'"),
            3
        );
        assert_eq!(
            count("SELECT coalesce(sum(n), 0) FROM kpi_daily WHERE metric = 'nps'"),
            3
        );
        assert_eq!(count("SELECT count(*) FROM kpi_feedback"), 3);
    }

    /// With the writer held (a stalled disk) and its queue full, a
    /// request's handle gives up with `Overloaded` and records nothing,
    /// while an internal producer waits and is recorded once the writer
    /// goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_turns_requests_away_and_lets_internal_producers_wait() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        std::fs::write(&gate, b"").unwrap();
        let hooks = TestHooks {
            capacity: Some(2),
            gate: Some(gate.clone()),
        };
        let (writer, thread, path) = fresh(dir.path(), hooks);
        // One op held by the writer, two queued, more waiting for room.
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let w = writer.clone();
                tokio::spawn(async move { w.append(feedback(), None).await })
            })
            .collect();
        let started = Instant::now();
        while writer.tx.capacity() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "queue never filled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let refused = writer.for_requests().append(feedback(), None).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Overloaded {
                    retry_after_s: RETRY_AFTER_S
                })
            ),
            "{refused:?}"
        );
        std::fs::remove_file(&gate).unwrap();
        for w in waiting {
            assert!(matches!(
                w.await.unwrap(),
                Ok(AppendOutcome::Created { .. })
            ));
        }
        drop(writer);
        thread.join().unwrap();
        let events: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 5, "every waiting producer, not the refused request");
    }

    /// A CLI command beside the running service commits on its own
    /// connection: at the next tick the writer counts unsent events again
    /// and rings `unsent_grew` for the uplink.
    #[tokio::test]
    async fn a_commit_by_another_connection_is_counted_at_the_next_tick() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, thread, path) = fresh(dir.path(), TestHooks::default());
        for _ in 0..3 {
            writer.append(feedback(), None).await.unwrap();
        }
        // A tick, then two ops: the second is queued after the tick's
        // maintenance ran.
        let settle = || async {
            writer.tick().unwrap();
            for _ in 0..2 {
                writer.run(0, |_| Ok(())).await.unwrap();
            }
        };
        settle().await;
        assert_eq!(writer.health.unsent.load(Ordering::Relaxed), 3);
        let mark = writer.health.unsent_grew.mark();
        settle().await;
        assert_eq!(
            writer.health.unsent_grew.mark(),
            mark,
            "no outside commit yet"
        );

        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE sync_watermark SET sent_upto = (SELECT min(seq) FROM event_log)",
                [],
            )
            .unwrap();
        settle().await;
        assert_eq!(writer.health.unsent.load(Ordering::Relaxed), 2);
        assert!(writer.health.unsent_grew.mark() > mark);
        drop(writer);
        thread.join().unwrap();
    }

    /// Retention deletes below the watermark only, oldest first, by the
    /// recording time, keeps held (quarantined) events, and stops at the
    /// first event recorded after the cutoff.
    #[test]
    fn retention_prunes_below_the_watermark_by_recording_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("r.db"), "s1").unwrap();
        let c = db.sql();
        // Recorded at 1000 * seq ms; event 6 recorded late (a clock step).
        for seq in 1..=10i64 {
            let recorded = if seq == 6 { 99_000 } else { 1000 * seq };
            c.execute(
                "INSERT INTO event_log (seq, id, type, time, recorded, data) VALUES (?1, x'00', 15, 0, ?2, '{}')",
                [seq, recorded],
            )
            .unwrap();
        }
        c.execute_batch(
            "UPDATE sync_watermark SET sent_upto = 8; INSERT INTO sync_held (seq, reason) VALUES (2, 'rejected');",
        )
        .unwrap();
        let left = |c: &Connection| -> Vec<i64> {
            c.prepare("SELECT seq FROM event_log ORDER BY seq")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(prune_sent(c, 3_000, 100).unwrap(), 2, "1 and 3; 2 is held");
        assert_eq!(left(c), [2, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(
            prune_sent(c, 50_000, 100).unwrap(),
            2,
            "stops at 6, recorded later"
        );
        assert_eq!(left(c), [2, 6, 7, 8, 9, 10]);
        assert_eq!(prune_sent(c, i64::MAX, 1).unwrap(), 1, "a chunk of one");
        assert_eq!(
            prune_sent(c, i64::MAX, 100).unwrap(),
            2,
            "7, 8; never above the watermark"
        );
        assert_eq!(left(c), [2, 9, 10]);
    }

    #[test]
    fn a_ring_between_mark_and_wait_is_not_missed() {
        let signal = Signal::default();
        let mark = signal.mark();
        signal.ring();
        // Returns at once: waiting out an hour would hang the test.
        assert_eq!(signal.wait_past(mark, Duration::from_secs(3600)), mark + 1);
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
