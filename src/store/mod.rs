//! The local SQLite database: the only source of truth. One writer thread
//! owns the read-write connection ([`writer`]); readers use pooled
//! read-only connections ([`ReadPool`]).
//!
//! Architecture invariant: only `store/` issues SQL. Everything else calls
//! the functions and write operations defined here.

pub mod meta;
mod migrations;
mod open;
pub mod orders;
pub mod pairing;
pub mod read;
pub mod staff;
pub mod sync;
pub mod tokens;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

pub use migrations::LATEST as SCHEMA_VERSION;
pub use writer::{
    AppendOutcome, Appended, Idempotency, WriteCtx, WriteOp, Writer, WriterHealth, WriterSettings,
};

/// Errors of the store, each with a message a person can act on.
#[derive(Debug, thiserror::Error)]
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
    #[error("database busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("database I/O error: {0}")]
    Io(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DiskFull) => StoreError::DiskFull,
            Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Busy(e.to_string()),
            Some(
                C::SystemIoFailure
                | C::DatabaseCorrupt
                | C::NotADatabase
                | C::CannotOpen
                | C::ReadOnly,
            ) => StoreError::Io(e.to_string()),
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

impl StoreError {
    /// Errors after which the writer must not go on.
    fn is_fatal(&self) -> bool {
        matches!(self, StoreError::Io(_))
    }

    /// A copy to answer each caller of a failed group with.
    fn clone_for_reply(&self) -> StoreError {
        match self {
            StoreError::DiskFull => StoreError::DiskFull,
            StoreError::QuotaReached {
                used_bytes,
                max_bytes,
            } => StoreError::QuotaReached {
                used_bytes: *used_bytes,
                max_bytes: *max_bytes,
            },
            StoreError::Busy(m) => StoreError::Busy(m.clone()),
            StoreError::Io(m) => StoreError::Io(m.clone()),
            other => StoreError::Sqlite(other.to_string()),
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

/// Read-only connections, reused. SQLite connections are cheap but not
/// free to open; a handful serve the API's concurrent readers.
#[derive(Clone)]
pub struct ReadPool {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<ReadConn>>>,
}

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
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                ReadConn(c)
            }
        };
        Ok(PooledConn {
            conn: Some(conn),
            idle: self.idle.clone(),
        })
    }

    /// Runs `f` on a pooled connection on tokio's blocking pool (SQLite
    /// reads block; async handlers must not).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadConn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || f(&*pool.get()?))
            .await
            .map_err(|e| StoreError::Io(format!("reader task failed: {e}")))?
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
