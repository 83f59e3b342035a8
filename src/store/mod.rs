//! The local SQLite database: the only source of truth. One writer thread
//! owns the read-write connection ([`writer`]); readers use pooled
//! read-only connections ([`ReadPool`]).
//!
//! Architecture invariant: only `store/` issues SQL. Everything else calls
//! the functions and write operations defined here.

pub mod backup;
mod checkpointer;
pub mod drain_read;
pub mod kpi_counts;
pub mod kpi_ingest;
pub mod kpi_query;
pub mod kpi_verify;
pub mod lock;
pub mod meta;
mod migrations;
mod open;
pub mod orders;
pub mod pairing;
pub mod print_jobs;
#[cfg(test)]
mod print_queue_tests;
pub mod read;
#[cfg(test)]
mod schema_fixtures;
pub mod staff;
pub mod sync;
pub mod tokens;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

pub use migrations::LATEST as SCHEMA_VERSION;
pub use open::STEP_9_CHUNK;
pub use writer::{
    AppendOutcome, Appended, Idempotency, WriteCtx, WriteOp, Writer, WriterHealth, WriterSettings,
};

/// A lower error kept as the source of a [`StoreError`] (shared, so the
/// writer can answer every caller of a failed group with the same error).
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

/// Errors of the store, each with a message a person can act on and, where
/// one caused it, its source (`#[source]`, for the logs' error chain).
///
/// The writer decides from the variant alone what it survives: only
/// [`StoreError::Storage`] (the database file itself failed) stops it; see
/// [`StoreError::is_fatal`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be used as this store's database (startup).
    #[error("database {file}: {problem}")]
    Unusable { file: PathBuf, problem: String },
    #[error("storage quota reached: {used_bytes} of {max_bytes} bytes in use; new events are refused until sent events are pruned or storage.max_size_mb is raised")]
    QuotaReached { used_bytes: u64, max_bytes: u64 },
    #[error("the disk is full; free space on the data disk")]
    DiskFull,
    #[error("the Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    /// A `store.feedback.submitted` for an order that has its answer
    /// already (or twice in one request): one answer per order, whoever
    /// asks; nothing of the request was recorded.
    #[error("order `{order_id}` has its feedback answer already: one answer per order; nothing of this request was recorded")]
    FeedbackExists { order_id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("the database writer has stopped; the service is shutting down")]
    WriterStopped,
    /// The writer's queue stayed full for a request's patience; nothing
    /// was queued (`writer::REQUEST_PATIENCE`).
    #[error("the store is busy: its write queue is full; nothing was recorded, try again in {retry_after_s} s")]
    Overloaded { retry_after_s: u64 },
    /// Another connection holds the database (a CLI command beside the
    /// service); this operation fails, a retry may succeed.
    #[error("database busy: {0}")]
    Busy(#[source] Arc<rusqlite::Error>),
    /// SQLite refused this statement (a constraint, a bug): the operation
    /// fails, the database and the writer are fine.
    #[error("database error: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The database file itself failed (I/O error, corruption, read-only,
    /// gone): the writer stops rather than go on with a file it cannot trust.
    #[error("database file failed: {0}")]
    Storage(#[source] Arc<rusqlite::Error>),
    /// A stored row does not read back as what store-edge writes (a bug, or
    /// a foreign write to the file); this operation fails.
    #[error("stored data is invalid: {what}")]
    Invalid {
        what: String,
        #[source]
        source: Option<Source>,
    },
    /// Something the operation needed besides the database failed (a worker
    /// thread, the OS's random source, a hashing thread); this operation fails.
    #[error("{what}: {source}")]
    Internal {
        what: &'static str,
        #[source]
        source: Source,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let code = e.sqlite_error_code();
        let e = Arc::new(e);
        match code {
            Some(C::DiskFull) => StoreError::DiskFull,
            Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Busy(e),
            Some(
                C::SystemIoFailure
                | C::DatabaseCorrupt
                | C::NotADatabase
                | C::CannotOpen
                | C::ReadOnly,
            ) => StoreError::Storage(e),
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// Errors after which the writer must not go on: the file failed.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StoreError::Storage(_))
    }

    /// A stored row that does not parse; `source` is the parser's error.
    pub fn invalid(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Invalid {
            what: what.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A failure outside the database that an operation needed.
    pub fn internal(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Internal {
            what,
            source: Arc::new(source),
        }
    }
}

/// A connection that store's read functions run on, opaque outside
/// `store/`: a pooled read-only connection ([`PooledConn`]), a command's own
/// connection ([`Db`]), or the writer's open transaction
/// ([`WriteCtx::reader`], which sees the operation's own changes).
/// Nothing outside `store/` can issue SQL through it.
pub struct ReadConn(Connection);

impl ReadConn {
    /// The SQLite connection, for `store/`'s own functions only.
    fn sql(&self) -> &Connection {
        &self.0
    }
}

/// A read-write connection of its own, for the commands (`token`, `staff`,
/// `tablet pair`, `sync requeue`), for tests and benchmarks, and handed to
/// [`Writer::start`] by the service. Reads go through its [`ReadConn`];
/// the writes it allows are the functions that take a `&Db`.
pub struct Db(ReadConn);

impl std::ops::Deref for Db {
    type Target = ReadConn;
    fn deref(&self) -> &ReadConn {
        &self.0
    }
}

impl Db {
    /// The raw connection, for `bench/`'s raw limits only (plain SQLite
    /// with the service's own schema and pragmas, to compare against).
    pub fn into_raw(self) -> Connection {
        self.0 .0
    }
}

/// Opens (creating if missing) and migrates the database of `store_id`,
/// refusing damaged, foreign, newer or other-store files without changing
/// their bytes. Returns the read-write connection for the writer.
pub fn open_for_writing(path: &Path, store_id: &str) -> Result<Db, StoreError> {
    open::open_checked(path, store_id).map(|c| Db(ReadConn(c)))
}

/// [`open_for_writing`], with `progress(done, total)` called after every
/// chunk of a long migration (schema 9 copies the events in chunks): the
/// service passes one that tells systemd it is still starting.
pub fn open_for_writing_with_progress(
    path: &Path,
    store_id: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Db, StoreError> {
    open::open_checked_with(path, store_id, progress).map(|c| Db(ReadConn(c)))
}

/// Read-only connections, reused. SQLite connections are cheap but not
/// free to open; a handful serve the API's concurrent readers.
#[derive(Clone)]
pub struct ReadPool {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<ReadConn>>>,
    /// Reads in flight through [`ReadPool::run`]: each holds a connection
    /// (a file descriptor) and a blocking thread, so a flood of requests
    /// waits here instead of opening hundreds of both.
    running: Arc<tokio::sync::Semaphore>,
}

/// How long a pooled read waits for a lock before `SQLITE_BUSY`.
const READ_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads at once through [`ReadPool::run`]; more wait their turn. Plenty
/// for a store's tablets and tills (a read takes milliseconds), few enough
/// that connections stay far below the open-files limit.
pub const MAX_READS: usize = 32;

/// A connection borrowed from the pool; returned on drop.
pub struct PooledConn {
    conn: Option<ReadConn>,
    idle: Arc<Mutex<Vec<ReadConn>>>,
}

impl std::ops::Deref for PooledConn {
    type Target = ReadConn;
    fn deref(&self) -> &ReadConn {
        // Set in `get`, taken only in `drop`.
        self.conn
            .as_ref()
            .expect("pooled connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.idle.lock()) {
            if idle.len() < 8 {
                idle.push(conn);
            }
        }
    }
}

impl ReadPool {
    pub fn new(path: &Path) -> ReadPool {
        ReadPool {
            path: Arc::new(path.to_path_buf()),
            idle: Arc::new(Mutex::new(Vec::new())),
            running: Arc::new(tokio::sync::Semaphore::new(MAX_READS)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self) -> Result<PooledConn, StoreError> {
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match reused {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    self.path.as_ref(),
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(READ_BUSY_TIMEOUT)?;
                ReadConn(c)
            }
        };
        Ok(PooledConn {
            conn: Some(conn),
            idle: self.idle.clone(),
        })
    }

    /// Runs a short read (a primary-key lookup) right here when SQLite can
    /// answer without waiting, else like [`ReadPool::run`] on the blocking
    /// pool. For the hot path of every request (the token lookup): a hop to
    /// the blocking pool and back costs more than the read itself and, with
    /// 64 clients on 2 cores, took a third of the single-event throughput.
    /// The connection's busy timeout is zero for the attempt, so an async
    /// worker never sleeps on a lock: a busy database (a checkpoint, a
    /// recovery) answers `SQLITE_BUSY` at once and the read moves over.
    /// `f` must be cheap and must not hold a lock on its own: it may run
    /// twice (once here, once there).
    pub async fn run_short<T: Send + 'static>(
        &self,
        f: impl Fn(&ReadConn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let attempt = self.get().and_then(|conn| {
            conn.sql().busy_timeout(std::time::Duration::ZERO)?;
            let result = f(&conn);
            conn.sql().busy_timeout(READ_BUSY_TIMEOUT)?;
            result
        });
        match attempt {
            Err(StoreError::Busy(_)) => self.run(f).await,
            other => other,
        }
    }

    /// Runs `f` on a pooled connection on tokio's blocking pool (SQLite
    /// reads block; async handlers must not).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadConn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.clone();
        let permit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::internal("the reader pool is closed", e))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&*pool.get()?)
        })
        .await
        .map_err(|e| StoreError::internal("a database reader task failed", e))?
    }
}

/// For commands that read or edit the database while the service may be
/// running (`token`, `events list`, `status`, `db check`): the same checks
/// as at start, then a normal read-write connection (WAL lets both work).
pub fn open_for_cli(path: &Path, store_id: &str) -> Result<Db, StoreError> {
    open_for_writing(path, store_id)
}

/// For commands that read a database that must already exist.
pub fn open_existing(path: &Path, store_id: &str) -> Result<Db, StoreError> {
    if !path.exists() {
        return Err(StoreError::Unusable {
            file: path.to_path_buf(),
            problem: "does not exist yet; start the service once (store-edge run) or create a token to create it".into(),
        });
    }
    open_for_writing(path, store_id)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn started() -> (tempfile::TempDir, Writer, std::thread::JoinHandle<()>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kinds.db");
        let conn = open_for_writing(&path, "s1").unwrap();
        let settings = WriterSettings {
            path,
            max_size_bytes: 1 << 30,
            retain_sent_days: 30,
            timezone: jiff::tz::TimeZone::UTC,
            kpi_ingest: true,
        };
        let metrics = Arc::new(crate::telemetry::Metrics::new());
        let (writer, thread) = Writer::start(conn, settings, metrics).unwrap();
        (dir, writer, thread)
    }

    /// A flood of reads (every request reads its token) waits for one of
    /// `MAX_READS` turns instead of opening a connection and a thread each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_reads_holds_at_most_max_reads_connections() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (dir, writer, thread) = started();
        let pool = ReadPool::new(&dir.path().join("kinds.db"));
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (pool, now, most) = (pool.clone(), now.clone(), most.clone());
            reads.spawn(async move {
                pool.run(move |conn| {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    let v: i64 = conn.sql().query_row("SELECT 1", [], |r| r.get(0))?;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(v)
                })
                .await
            });
        }
        for read in reads.join_all().await {
            assert_eq!(read.unwrap(), 1);
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=MAX_READS).contains(&most), "{most} reads at once");
        drop(writer);
        thread.join().unwrap();
    }

    /// The token lookup of every request runs in place; only when SQLite
    /// says busy does it move to the blocking pool, and the answer is the
    /// same.
    #[tokio::test]
    async fn a_short_read_runs_in_place_and_moves_over_only_when_busy() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (dir, writer, thread) = started();
        let pool = ReadPool::new(&dir.path().join("kinds.db"));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let here = std::thread::current().id();
        let ran_on = pool
            .run_short(move |conn| {
                counted.fetch_add(1, Ordering::SeqCst);
                let one: i64 = conn.sql().query_row("SELECT 1", [], |r| r.get(0))?;
                Ok((one, std::thread::current().id()))
            })
            .await
            .unwrap();
        assert_eq!(ran_on, (1, here), "in place, once");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let counted = calls.clone();
        let busy_first = pool
            .run_short(move |_| {
                if counted.fetch_add(1, Ordering::SeqCst) == 1 {
                    let busy = rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        None,
                    );
                    return Err(StoreError::from(busy));
                }
                Ok(std::thread::current().id())
            })
            .await
            .unwrap();
        assert_ne!(busy_first, here, "moved to the blocking pool");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        drop(writer);
        thread.join().unwrap();
    }

    /// The writer decides from the error's kind alone: an operation's own
    /// failure (a refused statement, something outside the database) fails
    /// that operation and the writer goes on; only the file failing stops it.
    /// Every kind keeps its source for the log's error chain.
    #[tokio::test]
    async fn the_writer_stops_only_when_the_file_fails_and_errors_keep_their_source() {
        let (_dir, writer, thread) = started();

        let refused = writer
            .run(0, |ctx| {
                ctx.conn()
                    .execute("INSERT INTO meta (key, value) VALUES ('store_id', 'x')", [])?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(refused, StoreError::Sqlite(_)), "{refused:?}");
        assert!(refused.source().is_some());

        let outside = writer
            .run(0, |_| -> Result<(), _> {
                Err(StoreError::internal(
                    "a test's worker",
                    std::io::Error::other("gone"),
                ))
            })
            .await
            .unwrap_err();
        assert!(outside.source().is_some_and(|s| s.to_string() == "gone"));
        assert!(writer.health.fatal_error().is_none());
        writer.run(0, |_| Ok(())).await.unwrap();

        let io = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            None,
        );
        let failed = writer
            .run(0, move |_| -> Result<(), _> { Err(StoreError::from(io)) })
            .await
            .unwrap_err();
        assert!(matches!(failed, StoreError::Storage(_)), "{failed:?}");
        assert!(failed.source().is_some());
        // The callers are answered first, then the writer stops.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while writer.health.fatal_error().is_none() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(writer.health.fatal_error().is_some());
        assert!(matches!(
            writer.run(0, |_| Ok(())).await,
            Err(StoreError::WriterStopped)
        ));
        drop(writer);
        thread.join().unwrap();
    }
}
