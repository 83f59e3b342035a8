//! Opening the database file safely: recognise damaged, foreign, newer or
//! other-store files *before* writing a byte, then migrate.
//!
//! Architecture invariant: no startup path deletes or rewrites data it
//! cannot parse. Checks read the header bytes and then open the file
//! read-only; only a file that passed them is opened for writing.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::migrations::{APPLICATION_ID, LATEST, STEPS};
use super::StoreError;

const HEADER_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Pragmas every connection gets. `synchronous=FULL` in WAL mode: a commit
/// returns only after the WAL is fsync'd, so an acknowledged event survives
/// power loss. The query planner stability guarantee: a cached statement
/// keeps its plan whatever is bound to it. Without it the bundled SQLite
/// (STAT4) marks a statement for re-preparation whenever a bound value
/// could change its plan, and re-prepares it on the next bind: ~20 % of
/// the writer's time in the KPI ingest (perf, `sqlite3Reprepare`). No
/// query here relies on a bound value to pick a partial index.
pub(super) fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Checks the file (if it exists) and returns a read-write connection with
/// the schema migrated to [`LATEST`] and the store id recorded.
pub(super) fn open_checked(path: &Path, store_id: &str) -> Result<Connection, StoreError> {
    open_checked_with(path, store_id, &mut |_, _| {})
}

/// [`open_checked`], reporting the progress of a long migration (schema
/// 9's copy of the events: rows copied, rows in all) to `progress` after
/// every chunk, so that the service can tell systemd it is still starting.
pub(super) fn open_checked_with(
    path: &Path,
    store_id: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Connection, StoreError> {
    let fail = |problem: String| StoreError::Unusable {
        file: path.to_path_buf(),
        problem,
    };
    let exists = path.exists();
    if exists {
        check_header(path).map_err(fail)?;
        probe(path, store_id)?;
        // Before anything writes to the file (even the switch to WAL).
        if step_9_pending(path).map_err(|e| fail(e.to_string()))? {
            check_room_for_step_9(path).map_err(fail)?;
        }
    } else if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            fail(format!(
                "cannot create its directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| fail(format!("cannot open: {e}")))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| fail(format!("cannot switch to WAL mode: {e}")))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(fail(format!(
            "journal mode is {mode}, WAL is required (is the file on a network share?)"
        )));
    }
    configure(&conn).map_err(|e| fail(e.to_string()))?;
    // Keep the WAL file from staying large after a checkpoint; it counts
    // against the quota.
    conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 1024)
        .map_err(|e| fail(e.to_string()))?;
    migrate(&conn, store_id).map_err(|e| fail(format!("migration failed: {e}")))?;
    finish_step_9(&conn, progress).map_err(|e| fail(format!("migration failed: {e}")))?;
    register_event_types(&conn).map_err(|e| fail(e.to_string()))?;
    Ok(conn)
}

/// The 100-byte header must be SQLite's, with sane fixed fields.
pub(super) fn check_header(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len == 0 {
        // An empty file is what SQLite itself creates; it holds nothing.
        return Ok(());
    }
    let mut header = [0u8; 100];
    file.read_exact(&mut header).map_err(|_| {
        format!("is not an SQLite database (only {len} bytes, shorter than a header)")
    })?;
    if &header[..16] != HEADER_MAGIC {
        return Err(
            "is not an SQLite database (the header does not start with \"SQLite format 3\")".into(),
        );
    }
    let page_size = u16::from_be_bytes([header[16], header[17]]) as u32;
    let page_size = if page_size == 1 { 65536 } else { page_size };
    let fixed_ok = page_size.is_power_of_two()
        && (512..=65536).contains(&page_size)
        && matches!(header[18], 1 | 2)
        && matches!(header[19], 1 | 2)
        && header[21] == 64
        && header[22] == 32
        && header[23] == 32;
    if !fixed_ok {
        return Err(
            "has a damaged SQLite header (page size, versions or payload fractions are invalid); \
                    restore it from a backup or move it aside"
                .into(),
        );
    }
    Ok(())
}

/// Reads identity and version through a read-only connection.
pub(super) fn probe(path: &Path, store_id: &str) -> Result<(), StoreError> {
    let fail = |problem: String| StoreError::Unusable {
        file: path.to_path_buf(),
        problem,
    };
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => return Err(fail(format!("cannot open read-only: {e}"))),
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| fail(e.to_string()))?;
    let read = || -> Result<(i32, i64, bool, Option<String>), rusqlite::Error> {
        let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        let owner = if has_table(&conn, "meta")? {
            conn.query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| {
                r.get(0)
            })
            .optional()?
        } else {
            None
        };
        Ok((app_id, version, tables > 0, owner))
    };
    let (app_id, version, has_tables, owner) = match read() {
        Ok(v) => v,
        // A WAL left by a crash may need recovery, which a read-only
        // connection cannot do; the header was checked, so let the
        // read-write open recover it and run the same checks afterwards.
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DatabaseBusy
            ) =>
        {
            return Ok(());
        }
        Err(e) => {
            return Err(fail(format!(
                "cannot be read ({e}); restore it from a backup or move it aside"
            )))
        }
    };
    if app_id != APPLICATION_ID && (app_id != 0 || has_tables) {
        return Err(fail(format!(
            "is an SQLite database of another application (application_id {app_id:#x}, tables present); \
             point storage.path at a store-edge database or a new file"
        )));
    }
    if version > LATEST {
        return Err(fail(format!(
            "has schema version {version}, newer than this binary understands ({LATEST}); \
             install the store-edge version that wrote it or a newer one"
        )));
    }
    if let Some(owner) = owner {
        if owner != store_id {
            return Err(fail(format!(
                "belongs to store `{owner}` but the config says store.id = `{store_id}`; \
                 use that store's config or another storage.path"
            )));
        }
    }
    Ok(())
}

/// Rows of the old event table copied per transaction by schema 9's
/// migration: a chunk takes well under a second on a store box, so each
/// progress report comes far inside systemd's start timeout.
pub const STEP_9_CHUNK: i64 = 50_000;

/// Does the database have a table of this name?
pub(super) fn has_table(conn: &Connection, name: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )
}

/// Does the database still have schema 9's copy of the events ahead?
fn step_9_pending(path: &Path) -> Result<bool, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(version < 9 || has_table(&conn, "events_v8")?)
}

/// Free bytes on the database's file system; `STORE_EDGE_DEBUG_FREE_BYTES`
/// pretends (tests of the refusal).
// statvfs's field types differ between targets (u32 on 32-bit ARM).
#[allow(clippy::useless_conversion)]
fn free_bytes(path: &Path) -> Option<u64> {
    if let Some(fake) = std::env::var_os("STORE_EDGE_DEBUG_FREE_BYTES") {
        return fake.to_str().and_then(|s| s.parse().ok());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path, `st` a buffer statvfs fills.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// Schema 9 rewrites every event: refuse to begin (or go on) when the
/// file system has less room than the database takes, rather than fill
/// the disk half-way through.
fn check_room_for_step_9(path: &Path) -> Result<(), String> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let Some(free) = free_bytes(path) else {
        return Ok(());
    };
    if free < size {
        return Err(format!(
            "the upgrade to schema 9 rewrites the event log and needs at least as much free disk as the database takes: {} MiB free, the database is {} MiB; free space on {} (or move the database) and start again; nothing was changed",
            free / (1024 * 1024),
            size.div_ceil(1024 * 1024),
            path.parent().map_or_else(|| ".".into(), |d| d.display().to_string())
        ));
    }
    Ok(())
}

/// Schema 9's copy of the events into the lean `event_log`, oldest first,
/// [`STEP_9_CHUNK`] rows per transaction, each chunk deleted from the old
/// table in the same transaction (so a crash or kill resumes where it
/// stopped, and the file grows by about a chunk, not by a copy of the
/// log). The old table is dropped when it is empty. Times and ids are
/// made compact only where they read back exactly the same (see
/// migrations.rs); anything else is kept as it was.
pub(super) fn finish_step_9(
    conn: &Connection,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), rusqlite::Error> {
    if !has_table(conn, "events_v8")? {
        return Ok(());
    }
    let left: i64 = conn.query_row("SELECT count(*) FROM events_v8", [], |r| r.get(0))?;
    let done_before: i64 = conn.query_row("SELECT count(*) FROM event_log", [], |r| r.get(0))?;
    let total = (left + done_before) as u64;
    let mut done = done_before as u64;
    progress(done, total);
    loop {
        let tx = conn.unchecked_transaction()?;
        let last: Option<i64> = tx.query_row(
            "SELECT max(seq) FROM (SELECT seq FROM events_v8 ORDER BY seq LIMIT ?1)",
            [STEP_9_CHUNK],
            |r| r.get(0),
        )?;
        let Some(last) = last else {
            tx.execute_batch("DROP TABLE events_v8;")?;
            tx.commit()?;
            break;
        };
        tx.execute(
            "INSERT OR IGNORE INTO event_types (name) SELECT DISTINCT type FROM events_v8 WHERE seq <= ?1",
            [last],
        )?;
        let n = tx.execute(
            "INSERT INTO event_log (seq, id, type, subject, time, recorded, clockjump, local_day, data)
             SELECT seq,
                    CASE WHEN length(id) = 36 AND lower(id) = id
                          AND id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*'
                          AND substr(id, 9, 1) = '-' AND substr(id, 14, 1) = '-' AND substr(id, 19, 1) = '-' AND substr(id, 24, 1) = '-'
                          AND unhex(replace(id, '-', '')) IS NOT NULL
                         THEN unhex(replace(id, '-', '')) ELSE id END,
                    (SELECT t.code FROM event_types t WHERE t.name = events_v8.type),
                    subject,
                    CASE WHEN strftime('%Y-%m-%dT%H:%M:%fZ', time) = time
                         THEN CAST(round(unixepoch(time, 'subsec') * 1000) AS INTEGER) ELSE time END,
                    CASE WHEN strftime('%Y-%m-%dT%H:%M:%fZ', recorded_at) = recorded_at
                         THEN CAST(round(unixepoch(recorded_at, 'subsec') * 1000) AS INTEGER) ELSE recorded_at END,
                    clockjump, local_day, data
               FROM events_v8 WHERE seq <= ?1 ORDER BY seq",
            [last],
        )?;
        tx.execute("DELETE FROM events_v8 WHERE seq <= ?1", [last])?;
        tx.commit()?;
        done += n as u64;
        progress(done, total);
    }
    Ok(())
}

/// Gives every type of this binary's catalog a code (schema 9's
/// `event_types`; a type added by a later release gets the next one).
pub(super) fn register_event_types(conn: &Connection) -> Result<(), rusqlite::Error> {
    let mut stmt = conn.prepare("INSERT OR IGNORE INTO event_types (name) VALUES (?1)")?;
    for t in crate::events::catalog::CATALOG {
        stmt.execute([t.name])?;
    }
    Ok(())
}

/// Migration step `i` (0-based) in a transaction of its own: its SQL and
/// `user_version`; the first also writes the application id and the
/// store's identity (`created_at` given, so the schema fixtures can fix it).
pub(super) fn apply_step(
    conn: &Connection,
    i: usize,
    store_id: &str,
    created_at: &str,
) -> Result<(), rusqlite::Error> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(STEPS[i])?;
    tx.pragma_update(None, "user_version", i as i64 + 1)?;
    if i == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('store_id', ?1), ('created_at', ?2), ('last_seq', '0')",
            (store_id, created_at),
        )?;
    }
    tx.commit()
}

fn migrate(conn: &Connection, store_id: &str) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if version > LATEST || (app_id != APPLICATION_ID && app_id != 0) {
        // Checked by probe; repeated here for the crash-recovery path.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "schema version {version} / application_id {app_id:#x} not supported"
            )),
        ));
    }
    let created_at = crate::events::format_time(time::OffsetDateTime::now_utc());
    for i in version as usize..STEPS.len() {
        apply_step(conn, i, store_id, &created_at)?;
    }
    let owner: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| {
            r.get(0)
        })?;
    if owner != store_id {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "database belongs to store `{owner}`, config says `{store_id}`"
            )),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by the previous release (schema 2: orders without
    /// the store's workflow columns) is upgraded in place: its orders keep
    /// their data and get a state and a deadline the timer can use.
    #[test]
    fn a_schema_2_database_with_orders_upgrades_to_the_workflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for (i, step) in STEPS.iter().take(2).enumerate() {
                conn.execute_batch(step).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('store_id', 's1'), ('created_at', 'x'), ('last_seq', '0');
                 INSERT INTO pickup_orders VALUES
                   ('W-1', 2, 'open', '{\"order_id\":\"W-1\",\"pickup_by\":\"2030-01-01T18:00:00Z\",\"items\":[]}', 't', 't'),
                   ('W-2', 3, 'cancelled', '{\"order_id\":\"W-2\",\"pickup_by\":\"2030-01-01T18:00:00.500Z\",\"items\":[]}', 't', 't');",
            )
            .unwrap();
        }
        let db = crate::store::open_for_writing(&path, "s1").unwrap();
        let open = crate::store::orders::get(&db, "W-1").unwrap().unwrap();
        assert_eq!(open.state, "received");
        assert_eq!(open.version, 2);
        assert_eq!(open.pickup_by_unix, 1_893_520_800);
        assert_eq!(open.revision, 1);
        assert_eq!(open.local, "{}");
        let cancelled = crate::store::orders::get(&db, "W-2").unwrap().unwrap();
        assert_eq!(cancelled.state, "cancelled");
        assert_eq!(cancelled.pickup_by_unix, 1_893_520_800);
    }

    /// Tablets paired before schema 4 keep acting as tablets (they must log
    /// staff in); tokens made with `token create` stay what they were.
    #[test]
    fn tablets_paired_before_schema_4_are_still_known_as_tablets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for (i, step) in STEPS.iter().take(3).enumerate() {
                conn.execute_batch(step).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('store_id', 's1'), ('created_at', 'x'), ('last_seq', '0');
                 INSERT INTO api_tokens (name, role, hash, created_at, register) VALUES
                   ('counter tablet #0421', 'staff', x'01', 't', 'counter-1'),
                   ('back office #7730', 'staff', x'02', 't', NULL),
                   ('ops script', 'staff', x'03', 't', NULL),
                   ('till 1', 'pos', x'04', 't', NULL);",
            )
            .unwrap();
        }
        let conn = crate::store::open_for_writing(&path, "s1").unwrap();
        let paired: Vec<String> = conn
            .sql()
            .prepare("SELECT name FROM api_tokens WHERE paired = 1 ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(paired, ["back office #7730", "counter tablet #0421"]);
    }

    /// A database of the previous release (schema 5) gains the print queue
    /// in place: its events, tokens and Idempotency-Keys are kept, and jobs
    /// can be queued at once.
    #[test]
    fn a_schema_5_database_gains_the_print_queue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for (i, step) in STEPS.iter().take(5).enumerate() {
                conn.execute_batch(step).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('store_id', 's1'), ('created_at', 'x'), ('last_seq', '1');
                 INSERT INTO events (seq, id, type, time, recorded_at, data) VALUES
                   (1, 'e1', 'store.visit.started', 't', 't', '{}');
                 INSERT INTO api_tokens (name, role, hash, created_at) VALUES ('till 1', 'pos', x'04', 't');
                 INSERT INTO idempotency VALUES (x'04', 'k', x'00', 201, '[]', 1);",
            )
            .unwrap();
        }
        let db = crate::store::open_for_writing(&path, "s1").unwrap();
        let version: i64 = db
            .sql()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, LATEST, "migrated to the newest schema");
        let kept: (i64, i64, i64) = db
            .sql()
            .query_row(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM api_tokens), (SELECT count(*) FROM idempotency)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, (1, 1, 1));

        let settings = crate::store::WriterSettings {
            path: path.clone(),
            max_size_bytes: 1 << 30,
            retain_sent_days: 30,
            timezone: jiff::tz::TimeZone::UTC,
            kpi_ingest: true,
        };
        let metrics = std::sync::Arc::new(crate::telemetry::Metrics::new());
        let (writer, thread) = crate::store::Writer::start(db, settings, metrics).unwrap();
        let job = writer
            .run_blocking(1024, |ctx| {
                let job = crate::store::print_jobs::NewJob {
                    printer_id: "counter",
                    document_kind: "receipt",
                    document: "{}",
                    token_hash: Some([4; 32]),
                    idempotency: None,
                    now: 1,
                };
                crate::store::print_jobs::enqueue(ctx, &job)?;
                crate::store::print_jobs::next_queued(ctx.reader(), "counter")
            })
            .unwrap()
            .expect("queued");
        assert_eq!((job.state.as_str(), job.queue_pos), ("queued", 1));
        drop(writer);
        thread.join().unwrap();
    }

    /// Migration 8 rebuilds the token and pairing-code tables to admit the
    /// role `manager`: a schema-7 database keeps every token (revoked,
    /// paired, with a register) and every open or used code, each still
    /// working, and takes manager tokens and codes afterwards.
    #[test]
    fn a_schema_7_database_keeps_its_tokens_and_codes_and_admits_managers() {
        use crate::store::tokens::{self, Role};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let till = "se_till-token-of-schema-7";
        let kiosk = "se_kiosk-token-of-schema-7";
        {
            let conn = Connection::open(&path).unwrap();
            for (i, step) in STEPS.iter().take(7).enumerate() {
                conn.execute_batch(step).unwrap();
                conn.pragma_update(None, "user_version", i as i64 + 1)
                    .unwrap();
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO meta (key, value) VALUES ('store_id', 's1'), ('created_at', 'x'), ('last_seq', '0');",
            )
            .unwrap();
            let mut insert = conn
                .prepare("INSERT INTO api_tokens (name, role, hash, created_at, revoked_at, register, paired) VALUES (?1, ?2, ?3, 't', ?4, ?5, ?6)")
                .unwrap();
            insert
                .execute(rusqlite::params![
                    "till 1",
                    "pos",
                    &tokens::hash_token(till)[..],
                    None::<String>,
                    "till-1",
                    0
                ])
                .unwrap();
            insert
                .execute(rusqlite::params![
                    "kiosk #0421",
                    "kiosk",
                    &tokens::hash_token(kiosk)[..],
                    None::<String>,
                    "counter-1",
                    1
                ])
                .unwrap();
            insert
                .execute(rusqlite::params![
                    "old (revoked t)",
                    "staff",
                    &[9u8][..],
                    "t",
                    None::<String>,
                    0
                ])
                .unwrap();
            conn.execute(
                "INSERT INTO pairing_codes (code_hash, role, register, expires_at, used_at, created_at) VALUES (?1, 'kiosk', 'counter-1', ?2, NULL, 't'), (x'07', 'staff', NULL, ?2, ?3, 't')",
                rusqlite::params![&tokens::hash_token("12345678")[..], now + 300, now - 10],
            )
            .unwrap();
            let refused = conn.execute(
                "INSERT INTO api_tokens (name, role, hash, created_at) VALUES ('boss', 'manager', x'08', 't')",
                [],
            );
            assert!(refused.is_err(), "schema 7 has no manager yet");
        }
        let db = crate::store::open_for_writing(&path, "s1").unwrap();
        let version: i64 = db
            .sql()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, LATEST);
        let till_now = tokens::authenticate(&db, till).unwrap().expect("till kept");
        assert_eq!(
            (till_now.role, till_now.register.as_deref(), till_now.paired),
            (Role::Pos, Some("till-1"), false)
        );
        let kiosk_now = tokens::authenticate(&db, kiosk)
            .unwrap()
            .expect("kiosk kept");
        assert_eq!(
            (
                kiosk_now.role,
                kiosk_now.register.as_deref(),
                kiosk_now.paired
            ),
            (Role::Kiosk, Some("counter-1"), true)
        );
        let listed: Vec<(String, Option<String>)> = tokens::list(&db)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.revoked_at))
            .collect();
        assert_eq!(listed.len(), 3);
        assert!(listed.contains(&("old (revoked t)".into(), Some("t".into()))));
        assert!(
            crate::store::pairing::is_open(&db, "12345678", now).unwrap(),
            "the open code still pairs"
        );
        let codes: i64 = db
            .sql()
            .query_row("SELECT count(*) FROM pairing_codes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(codes, 2, "used codes are kept too");
        let duplicate = db.sql().execute(
            "INSERT INTO api_tokens (name, role, hash, created_at) VALUES ('again', 'pos', ?1, 't')",
            [&tokens::hash_token(till)[..]],
        );
        assert!(duplicate.is_err(), "a hash is still unique");

        let manager = tokens::create(&db, "office", Role::Manager).unwrap();
        assert_eq!(
            tokens::authenticate(&db, &manager)
                .unwrap()
                .expect("manager")
                .role,
            Role::Manager
        );
        crate::store::pairing::create(&db, Role::Manager, None, now).unwrap();
    }

    /// The old shape of every event, as schema 8 held it and as the
    /// `events` view shows it from schema 9 on.
    fn old_rows(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT seq, id, type, subject, time, recorded_at, clockjump, data, local_day, sync_state, quarantine_reason FROM events ORDER BY seq")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                let mut out = Vec::new();
                for i in 0..11 {
                    out.push(format!("{:?}", r.get_ref(i)?));
                }
                Ok(out.join("|"))
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// Schema 9 copies a big event log in chunks (progress after each),
    /// resumes after being stopped half-way, and keeps every event, its
    /// sent state and its exact id and times (also an id that is not a
    /// UUID, a time with an offset, a type no longer in the catalog).
    #[test]
    fn schema_9_copies_the_events_in_chunks_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.db");
        let n: i64 = 2 * STEP_9_CHUNK + 10_000;
        let before = {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            for i in 0..8 {
                apply_step(&conn, i, "s1", "2026-03-02T07:55:00.000Z").unwrap();
            }
            let tx = conn.unchecked_transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare("INSERT INTO events (seq, id, type, subject, time, recorded_at, journeystage, clockjump, data, sync_state, sent_at, quarantine_reason, local_day) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'decision', ?7, ?8, ?9, ?10, ?11, '2026-03-02')")
                    .unwrap();
                let watermark = n - 10_000;
                for seq in 1..=n {
                    let id = match seq % 1000 {
                        1 => format!("legacy-{seq}"),
                        2 => uuid::Uuid::now_v7().hyphenated().to_string().to_uppercase(),
                        _ => uuid::Uuid::now_v7().hyphenated().to_string(),
                    };
                    let ms = 1_772_438_400_000i64 + seq * 250;
                    let mut time = String::new();
                    crate::events::write_time_ms(ms, &mut time);
                    if seq % 777 == 0 {
                        time = "2026-03-02T09:00:00+01:00".into();
                    }
                    let mut recorded = String::new();
                    crate::events::write_time_ms(ms + 3, &mut recorded);
                    let state = if seq == 500 || seq == watermark + 7_000 {
                        2
                    } else if seq <= watermark
                        || (watermark + 5_000..=watermark + 5_010).contains(&seq)
                    {
                        1
                    } else {
                        0
                    };
                    stmt.execute(rusqlite::params![
                        seq,
                        id,
                        if seq % 10 == 0 {
                            "store.legacy.thing"
                        } else {
                            "store.transaction.completed"
                        },
                        (seq % 3 == 0).then(|| format!("T-{seq}")),
                        time,
                        recorded,
                        (seq % 101 == 0).then_some(-seq),
                        format!("{{\"n\":{seq}}}"),
                        state,
                        (state == 1).then_some(1_772_438_700i64),
                        (state == 2).then_some("rejected: test"),
                    ])
                    .unwrap();
                }
            }
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'last_seq'",
                [n.to_string()],
            )
            .unwrap();
            tx.commit().unwrap();
            old_rows(&conn)
        };
        assert_eq!(before.len() as i64, n);

        // Stopped (a kill, a crash) after the first chunk committed.
        let mut reports = Vec::new();
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            open_checked_with(&path, "s1", &mut |done, total| {
                reports.push((done, total));
                if done > 0 {
                    panic!("stopped half-way");
                }
            })
        }));
        assert!(stopped.is_err());
        assert_eq!(reports, [(0, n as u64), (STEP_9_CHUNK as u64, n as u64)]);

        let mut reports = Vec::new();
        let conn =
            open_checked_with(&path, "s1", &mut |done, total| reports.push((done, total))).unwrap();
        assert_eq!(
            reports.first(),
            Some(&(STEP_9_CHUNK as u64, n as u64)),
            "resumed"
        );
        assert_eq!(reports.last(), Some(&(n as u64, n as u64)));
        assert!(reports.len() >= 3, "{reports:?}");
        assert!(!has_table(&conn, "events_v8").unwrap());
        let after = old_rows(&conn);
        assert_eq!(after.len(), before.len());
        for (a, b) in before.iter().zip(&after) {
            assert_eq!(a, b);
        }
        // The compact forms where they read back the same.
        let (blobs, ints): (i64, i64) = conn
            .query_row(
                "SELECT sum(typeof(id) = 'blob'), sum(typeof(time) = 'integer') FROM event_log",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let legacy = (1..=n).filter(|s| matches!(s % 1000, 1 | 2)).count() as i64;
        assert_eq!(blobs, n - legacy);
        assert_eq!(ints, n - n / 777);
        let w: i64 = conn
            .query_row("SELECT sent_upto FROM sync_watermark", [], |r| r.get(0))
            .unwrap();
        assert_eq!(w, n - 10_000);
    }
}
