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
    // 2: sync with central — fixed uplink batches, central's pickup orders,
    // the cached pickup-pass keys.
    r#"
    -- An uplink batch is fixed before its first send: its key and sequence
    -- range are stored, and every retry (also after a restart) sends the
    -- unsent events of exactly that range with exactly that key. Rows are
    -- deleted when central's per-event results are applied.
    CREATE TABLE uplink_batches (
        idempotency_key TEXT PRIMARY KEY,
        first_seq       INTEGER NOT NULL,
        last_seq        INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        CHECK (first_seq <= last_seq)
    );
    CREATE INDEX uplink_batches_order ON uplink_batches(first_seq);

    -- Central's order documents, the highest version seen of each. The
    -- store's own workflow state is added by the click-and-collect capability.
    CREATE TABLE pickup_orders (
        order_id       TEXT PRIMARY KEY,
        version        INTEGER NOT NULL CHECK (version >= 1),
        central_status TEXT NOT NULL CHECK (central_status IN ('open', 'cancelled')),
        document       TEXT NOT NULL CHECK (json_valid(document)),
        received_at    TEXT NOT NULL,
        updated_at     TEXT NOT NULL
    );

    -- Ed25519 public keys that sign pickup passes, as central last listed them.
    CREATE TABLE pickup_keys (
        kid        TEXT PRIMARY KEY,
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        fetched_at TEXT NOT NULL
    );
    "#,
    // 3: click-and-collect in the store — the workflow state of each order,
    // staff with PINs, tablet pairing codes, the register a tablet serves.
    r#"
    -- The store's side of an order. `local` holds what the store added
    -- (picked lines, location, arrival, reminders, what central changed,
    -- the handover) as JSON; `revision` counts every local change and is
    -- the ETag / If-Match value. Code failures are counted here so that a
    -- restart does not reset a lockout.
    ALTER TABLE pickup_orders ADD COLUMN state TEXT NOT NULL DEFAULT 'received'
        CHECK (state IN ('received', 'picking', 'ready', 'handed_over',
                         'partially_handed_over', 'refused', 'no_show', 'cancelled'));
    ALTER TABLE pickup_orders ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE pickup_orders ADD COLUMN pickup_by_unix INTEGER;
    ALTER TABLE pickup_orders ADD COLUMN local TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(local));
    ALTER TABLE pickup_orders ADD COLUMN code_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE pickup_orders ADD COLUMN code_locked_until INTEGER;
    UPDATE pickup_orders SET pickup_by_unix = unixepoch(json_extract(document, '$.pickup_by')),
                             state = CASE central_status WHEN 'cancelled' THEN 'cancelled' ELSE 'received' END;
    CREATE INDEX pickup_orders_state ON pickup_orders(state, pickup_by_unix);

    -- Staff who hand over goods: only an argon2id hash of the PIN is kept;
    -- failures and the lock survive a restart.
    CREATE TABLE staff (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        pin_hash     TEXT NOT NULL,
        pin_failures INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER,
        created_at   TEXT NOT NULL
    );

    -- One-time tablet pairing codes (a SHA-256 of the 8 digits).
    CREATE TABLE pairing_codes (
        code_hash  BLOB PRIMARY KEY,
        role       TEXT NOT NULL CHECK (role IN ('staff', 'kiosk')),
        register   TEXT,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER,
        created_at TEXT NOT NULL
    );

    ALTER TABLE api_tokens ADD COLUMN register TEXT;
    "#,
    // 4: which tokens belong to a paired tablet (they hold a staff session
    // after a PIN log-in; a `token create` token does not). Tablets paired
    // before this step are recognised by what pairing gave them: a register,
    // or the name `<tablet name> #<4 digits>`. A `token create` token that
    // happens to be named so only becomes stricter (it must log staff in).
    r#"
    ALTER TABLE api_tokens ADD COLUMN paired INTEGER NOT NULL DEFAULT 0 CHECK (paired IN (0, 1));
    UPDATE api_tokens SET paired = 1
     WHERE role IN ('staff', 'kiosk')
       AND (register IS NOT NULL OR name GLOB '* #[0-9][0-9][0-9][0-9]*');
    "#,
    // 5: an Idempotency-Key belongs to the token that sent it (issue 10): the
    // same key from another token is another key.
    r#"
    -- `token_hash` is api_tokens.hash of the caller. Rows from before this
    -- step get an empty one: their owner is unknown, so they still answer a
    -- repeat from any token until they expire (7 days), as they did before.
    CREATE TABLE idempotency_by_token (
        token_hash   BLOB NOT NULL,
        key          TEXT NOT NULL,
        request_hash BLOB NOT NULL,
        status       INTEGER NOT NULL,
        response     TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (token_hash, key)
    );
    INSERT INTO idempotency_by_token (token_hash, key, request_hash, status, response, created_at)
        SELECT x'', key, request_hash, status, response, created_at FROM idempotency;
    DROP TABLE idempotency;
    ALTER TABLE idempotency_by_token RENAME TO idempotency;
    CREATE INDEX idempotency_created ON idempotency(created_at);
    "#,
    // 6: the durable print queue (issue 12). A job is `sending`, committed,
    // before its first byte leaves; after a crash it is `uncertain` and waits
    // for a person (reprint or skip). Which state may follow which is
    // `printing::queue`'s; this table only lists the names.
    r#"
    -- `queue_pos` orders the queued jobs (per printer): given at enqueue and
    -- again at a reprint, which goes behind what was queued before it.
    -- `document_kind` is events.md's `document` value (`receipt` for a free
    -- document); `document` the encoder's document or a template's name and
    -- data (JSON). `token_hash` is api_tokens.hash of the caller that posted
    -- it (NULL for the service's own jobs), `idempotency_key` and
    -- `request_hash` its Idempotency-Key, per caller as for events.
    -- `printed` counts physical prints, `reprint` marks the queued pass a
    -- reprint, `attempts` counts the times it was sent. Times in unix seconds.
    CREATE TABLE print_jobs (
        id              INTEGER PRIMARY KEY,
        printer_id      TEXT NOT NULL,
        document_kind   TEXT NOT NULL,
        document        TEXT NOT NULL CHECK (json_valid(document)),
        state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'printed',
                                                        'failed', 'uncertain', 'skipped')),
        queue_pos       INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        printed         INTEGER NOT NULL DEFAULT 0,
        reprint         INTEGER NOT NULL DEFAULT 0 CHECK (reprint IN (0, 1)),
        reason          TEXT,
        token_hash      BLOB,
        idempotency_key TEXT,
        request_hash    BLOB,
        CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
        CHECK (idempotency_key IS NULL OR token_hash IS NOT NULL)
    );
    -- The next queued job of a printer, in order (a new job enters only here).
    CREATE INDEX print_jobs_queued ON print_jobs(printer_id, queue_pos) WHERE state = 'queued';
    -- The last position given (enqueue and reprint take the next one).
    CREATE INDEX print_jobs_pos ON print_jobs(queue_pos);
    -- Jobs by state (the lists, the restart rule, pruning by age).
    CREATE INDEX print_jobs_state ON print_jobs(state, updated_at);
    CREATE UNIQUE INDEX print_jobs_idempotency ON print_jobs(token_hash, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    "#,
    // 7: the store's journey KPIs (issue 13, KPI.md). Maintained by
    // `store::kpi_ingest` in the transaction that appends each event, and
    // kept apart from the event log's retention: a year of KPIs survives
    // pruning. Times are unix milliseconds, days `YYYY-MM-DD` in
    // `store.timezone`, fixed when the event is committed, from its `time`.
    r#"
    ALTER TABLE events ADD COLUMN local_day TEXT;

    -- Daily rollups of what adds up: (day, metric, dimension) -> n. The
    -- metrics are named in store/kpi_ingest.rs; `dim` is '' when none.
    CREATE TABLE kpi_daily (
        day    TEXT NOT NULL,
        metric TEXT NOT NULL,
        dim    TEXT NOT NULL DEFAULT '',
        n      INTEGER NOT NULL,
        PRIMARY KEY (day, metric, dim)
    ) WITHOUT ROWID;

    -- One row per store.transaction.completed (`seq` = events.seq).
    -- Transactions of a register are taken in (at_ms, transaction_id) order
    -- (not seq: the rules must not depend on the order of arrival).
    -- `ident_seq`: the identification it used (loyalty rate), `cross_sell`:
    -- 1 when it followed a handover within 30 minutes (by order or token).
    CREATE TABLE kpi_tx (
        seq             INTEGER PRIMARY KEY,
        day             TEXT NOT NULL,
        at_ms           INTEGER NOT NULL,
        transaction_id  TEXT NOT NULL,
        register_id     TEXT NOT NULL,
        total_minor     INTEGER NOT NULL,
        currency        TEXT NOT NULL,
        item_count      INTEGER NOT NULL,
        customer_token  TEXT,
        pickup_order_id TEXT,
        ident_seq       INTEGER,
        cross_sell      INTEGER NOT NULL DEFAULT 0 CHECK (cross_sell IN (0, 1))
    );
    CREATE INDEX kpi_tx_register ON kpi_tx(register_id, at_ms, transaction_id);
    CREATE INDEX kpi_tx_order ON kpi_tx(pickup_order_id) WHERE pickup_order_id IS NOT NULL;
    CREATE INDEX kpi_tx_customer ON kpi_tx(customer_token, at_ms) WHERE customer_token IS NOT NULL;

    -- One row per store.loyalty.identified. `used_by`: the kpi_tx.seq that
    -- used it; `silent`: 1 while no transaction followed on its register
    -- within 30 minutes.
    CREATE TABLE kpi_ident (
        seq            INTEGER PRIMARY KEY,
        day            TEXT NOT NULL,
        at_ms          INTEGER NOT NULL,
        register_id    TEXT,
        customer_token TEXT NOT NULL,
        used_by        INTEGER,
        silent         INTEGER NOT NULL DEFAULT 0 CHECK (silent IN (0, 1))
    );
    CREATE INDEX kpi_ident_register ON kpi_ident(register_id, at_ms);

    -- One row per store.product.scanned with context price_check.
    CREATE TABLE kpi_price_check (
        seq         INTEGER PRIMARY KEY,
        day         TEXT NOT NULL,
        at_ms       INTEGER NOT NULL,
        register_id TEXT,
        silent      INTEGER NOT NULL DEFAULT 0 CHECK (silent IN (0, 1))
    );
    CREATE INDEX kpi_price_check_register ON kpi_price_check(register_id, at_ms);

    -- One row per pickup order with the times of its steps (the percentiles
    -- are computed from here, never from daily aggregates). `received_*` is
    -- the first store.pickup.received or store.reservation.created;
    -- `outcome` handed_over, partially_handed_over, refused or no_show.
    CREATE TABLE kpi_orders (
        order_id       TEXT PRIMARY KEY,
        channel        TEXT,
        customer_token TEXT,
        received_ms    INTEGER,
        received_day   TEXT,
        ready_ms       INTEGER,
        ready_day      TEXT,
        arrived_ms     INTEGER,
        handed_ms      INTEGER,
        handed_day     TEXT,
        outcome        TEXT CHECK (outcome IN ('handed_over', 'partially_handed_over',
                                               'refused', 'no_show')),
        outcome_ms     INTEGER,
        outcome_day    TEXT,
        refusal_reason TEXT,
        cancelled_by   TEXT,
        cancelled_day  TEXT,
        cross_sell     INTEGER NOT NULL DEFAULT 0 CHECK (cross_sell IN (0, 1))
    ) WITHOUT ROWID;
    CREATE INDEX kpi_orders_received ON kpi_orders(received_day) WHERE received_day IS NOT NULL;
    CREATE INDEX kpi_orders_ready ON kpi_orders(ready_day) WHERE ready_day IS NOT NULL;
    CREATE INDEX kpi_orders_handed ON kpi_orders(handed_day) WHERE handed_day IS NOT NULL;
    CREATE INDEX kpi_orders_outcome ON kpi_orders(outcome_day) WHERE outcome_day IS NOT NULL;
    CREATE INDEX kpi_orders_cancelled ON kpi_orders(cancelled_day) WHERE cancelled_day IS NOT NULL;
    CREATE INDEX kpi_orders_customer ON kpi_orders(customer_token) WHERE customer_token IS NOT NULL;

    -- Identified customers: the days each appeared (a visit), for repeat
    -- visits and retention's 90-day lookback.
    CREATE TABLE kpi_visits (
        customer_token TEXT NOT NULL,
        day            TEXT NOT NULL,
        PRIMARY KEY (customer_token, day)
    ) WITHOUT ROWID;
    CREATE INDEX kpi_visits_day ON kpi_visits(day, customer_token);
    CREATE TABLE kpi_customers (
        customer_token TEXT PRIMARY KEY,
        first_day      TEXT NOT NULL,
        last_day       TEXT NOT NULL
    ) WITHOUT ROWID;

    -- Feedback answers: one per order at most (the API's 409
    -- `feedback-exists` checks here first; the index is the backstop).
    CREATE TABLE kpi_feedback (
        seq      INTEGER PRIMARY KEY,
        day      TEXT NOT NULL,
        at_ms    INTEGER NOT NULL,
        context  TEXT NOT NULL,
        score    INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
        order_id TEXT
    );
    CREATE UNIQUE INDEX kpi_feedback_order ON kpi_feedback(order_id) WHERE order_id IS NOT NULL;
    CREATE INDEX kpi_feedback_day ON kpi_feedback(day);
    "#,
    // 8: the role `manager` (issue 13: the KPI dashboard) for tokens and
    // tablet pairing codes. SQLite cannot change a CHECK, so both tables are
    // rebuilt with the wider one: create, copy every row, drop, rename. The
    // only index of either is the one their UNIQUE/PRIMARY KEY makes, which
    // comes back with the table.
    r#"
    CREATE TABLE api_tokens_8 (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL CHECK (role IN ('pos', 'staff', 'kiosk', 'manager', 'admin')),
        hash       BLOB NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        register   TEXT,
        paired     INTEGER NOT NULL DEFAULT 0 CHECK (paired IN (0, 1))
    );
    INSERT INTO api_tokens_8 (name, role, hash, created_at, revoked_at, register, paired)
        SELECT name, role, hash, created_at, revoked_at, register, paired FROM api_tokens;
    DROP TABLE api_tokens;
    ALTER TABLE api_tokens_8 RENAME TO api_tokens;

    CREATE TABLE pairing_codes_8 (
        code_hash  BLOB PRIMARY KEY,
        role       TEXT NOT NULL CHECK (role IN ('staff', 'kiosk', 'manager')),
        register   TEXT,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER,
        created_at TEXT NOT NULL
    );
    INSERT INTO pairing_codes_8 (code_hash, role, register, expires_at, used_at, created_at)
        SELECT code_hash, role, register, expires_at, used_at, created_at FROM pairing_codes;
    DROP TABLE pairing_codes;
    ALTER TABLE pairing_codes_8 RENAME TO pairing_codes;
    "#,
    // 9: a lean event log (issue 15, BENCHMARKS.md "Schema"). Ingest pays
    // for every byte and every index of a row; `bench ingest --schema-only`
    // measured which ones matter. The event keeps only what is filtered or
    // ordered on plus what the API and central are sent, in compact form:
    // the UUID as its 16 bytes, times as unix milliseconds, the type as a
    // small code, no journeystage (the catalog's, derived from the type),
    // no CHECK on the data (the writer stores what it serialised itself),
    // no secondary index. The sent state moves out of the rows: a persisted
    // "sent up to" watermark plus exceptions, so an acknowledgement is one
    // small write instead of rewriting every row (and its index entries).
    //
    // The rows are copied by `open::finish_step_9` in chunks of their own
    // transactions (resumable; oldest first, each chunk deleted from the
    // old table as it is copied, so the file grows by about a chunk); the
    // SQL here only renames the old table and moves the sent state, which
    // is small.
    r#"
    -- The event types, by a code that never changes once given (new ones
    -- are added when a binary that knows them opens the database).
    CREATE TABLE event_types (
        code INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    INSERT INTO event_types (code, name) VALUES
        (1, 'store.loyalty.identified'), (2, 'store.product.scanned'),
        (3, 'store.transaction.completed'), (4, 'store.receipt.printed'),
        (5, 'store.pickup.received'), (6, 'store.pickup.picking_started'),
        (7, 'store.pickup.ready'), (8, 'store.pickup.customer_arrived'),
        (9, 'store.pickup.handed_over'), (10, 'store.pickup.refused'),
        (11, 'store.pickup.no_show'), (12, 'store.pickup.cancelled'),
        (13, 'store.pickup.conflict'), (14, 'store.reservation.created'),
        (15, 'store.feedback.submitted'), (16, 'store.service.visit'),
        (17, 'store.edge.restored'), (18, 'store.device.status');

    -- One row per touchpoint. `seq`: the CloudEvents sequence, gap-free,
    -- given by the single writer. `id`: the UUIDv7 as 16 bytes (an older
    -- id that is not a UUID stays text). `time`, `recorded`: unix ms (an
    -- older value that does not read back the same stays text). `type`:
    -- event_types.code. `local_day`: `YYYY-MM-DD` in store.timezone.
    CREATE TABLE event_log (
        seq       INTEGER PRIMARY KEY,
        id        BLOB NOT NULL,
        type      INTEGER NOT NULL,
        subject   TEXT,
        time      INTEGER NOT NULL,
        recorded  INTEGER NOT NULL,
        clockjump INTEGER,
        local_day TEXT,
        data      TEXT NOT NULL
    );

    -- Sent state. Every event with seq <= sent_upto was delivered, unless
    -- sync_held holds it; above it, an event is unsent unless sync_held
    -- holds it or a sync_sent range covers it (results applied out of
    -- order; merged into the watermark as soon as it reaches them).
    CREATE TABLE sync_watermark (
        one       INTEGER PRIMARY KEY CHECK (one = 1),
        sent_upto INTEGER NOT NULL
    );
    CREATE TABLE sync_sent (
        lo INTEGER PRIMARY KEY,
        hi INTEGER NOT NULL,
        CHECK (lo <= hi)
    );
    -- Quarantined events (central said rejected/conflict): kept for an
    -- operator, never sent again until `sync requeue`, never pruned.
    CREATE TABLE sync_held (
        seq    INTEGER PRIMARY KEY,
        reason TEXT
    );

    INSERT INTO sync_watermark (one, sent_upto) VALUES (1, coalesce(
        (SELECT min(seq) - 1 FROM events WHERE sync_state = 0),
        (SELECT max(seq) FROM events),
        0));
    INSERT INTO sync_held (seq, reason)
        SELECT seq, quarantine_reason FROM events WHERE sync_state = 2;
    INSERT INTO sync_sent (lo, hi)
        SELECT min(seq), max(seq) FROM (
            SELECT seq, seq - row_number() OVER (ORDER BY seq) AS island FROM events
             WHERE sync_state = 1 AND seq > (SELECT sent_upto FROM sync_watermark))
        GROUP BY island;

    -- The old rows wait here for the chunked copy (open::finish_step_9).
    DROP INDEX events_unsent;
    DROP INDEX events_sent_at;
    DROP INDEX events_quarantined;
    ALTER TABLE events RENAME TO events_v8;

    -- The old shape, read-only, for a person with sqlite3 and old scripts
    -- (nothing in the service reads it; the writer inserts into event_log).
    CREATE VIEW events AS
    SELECT e.seq AS seq,
           CASE WHEN typeof(e.id) = 'blob' THEN lower(substr(hex(e.id), 1, 8) || '-' || substr(hex(e.id), 9, 4) || '-'
                || substr(hex(e.id), 13, 4) || '-' || substr(hex(e.id), 17, 4) || '-' || substr(hex(e.id), 21))
                ELSE e.id END AS id,
           t.name AS type,
           e.subject AS subject,
           CASE WHEN typeof(e.time) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.time / 1000.0, 'unixepoch')
                ELSE e.time END AS time,
           CASE WHEN typeof(e.recorded) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', e.recorded / 1000.0, 'unixepoch')
                ELSE e.recorded END AS recorded_at,
           e.clockjump AS clockjump,
           e.data AS data,
           e.local_day AS local_day,
           CASE WHEN h.seq IS NOT NULL THEN 2
                WHEN e.seq <= (SELECT sent_upto FROM sync_watermark)
                  OR EXISTS (SELECT 1 FROM sync_sent s WHERE s.lo <= e.seq AND s.hi >= e.seq) THEN 1
                ELSE 0 END AS sync_state,
           h.reason AS quarantine_reason
      FROM event_log e JOIN event_types t ON t.code = e.type LEFT JOIN sync_held h ON h.seq = e.seq;
    "#,
];

/// The schema version this binary writes and understands.
pub const LATEST: i64 = STEPS.len() as i64;
