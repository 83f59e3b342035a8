//! Numbered schema migrations. Each runs once, in its own transaction, and
//! sets `PRAGMA user_version` to its number. Never edit a released step:
//! add a new one.

/// `PRAGMA application_id` of a store-edge database ("STED"), so that a
/// foreign SQLite file is recognised before anything is written to it.
pub const APPLICATION_ID: i32 = 0x5354_4544;

/// The steps, index + 1 = schema version.
pub const STEPS: &[&str] = &[
    // 1: the event log, API tokens and idempotency records.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- One row per touchpoint. `seq` is the CloudEvents sequence: gap-free,
    -- assigned by the single writer. sync_state: 0 unsent, 1 sent,
    -- 2 quarantined (central said rejected/conflict; kept for an operator).
    -- `id` is a UUIDv7 made by the writer, unique by construction; it has
    -- no index because nothing looks events up by id except among the few
    -- quarantined ones (ingest speed is dominated by index maintenance).
    CREATE TABLE events (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL,
        type         TEXT NOT NULL,
        subject      TEXT,
        time         TEXT NOT NULL,
        recorded_at  TEXT NOT NULL,
        journeystage TEXT,
        clockjump    INTEGER,
        data         TEXT NOT NULL CHECK (json_valid(data)),
        sync_state   INTEGER NOT NULL DEFAULT 0 CHECK (sync_state IN (0, 1, 2)),
        sent_at      INTEGER,
        quarantine_reason TEXT
    );
    -- Partial indexes: a new row (state 0) enters only the first one.
    CREATE INDEX events_unsent ON events(seq) WHERE sync_state = 0;
    CREATE INDEX events_sent_at ON events(sent_at) WHERE sync_state = 1;
    CREATE INDEX events_quarantined ON events(seq) WHERE sync_state = 2;

    -- Local API bearer tokens: only a SHA-256 of the token is kept.
    CREATE TABLE api_tokens (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL CHECK (role IN ('pos', 'staff', 'kiosk', 'admin')),
        hash       BLOB NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );

    -- Idempotency-Key of POST /api/v1/events, kept 7 days: the request's
    -- hash and the answer given, written in the same transaction as the events.
    CREATE TABLE idempotency (
        key          TEXT PRIMARY KEY,
        request_hash BLOB NOT NULL,
        status       INTEGER NOT NULL,
        response     TEXT NOT NULL,
        created_at   INTEGER NOT NULL
    );
    CREATE INDEX idempotency_created ON idempotency(created_at);
    "#,
];

/// The schema version this binary writes and understands.
pub const LATEST: i64 = STEPS.len() as i64;
