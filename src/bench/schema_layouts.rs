//! `store-edge bench ingest --schema-only`: which costs of the event
//! table's layout matter (issue 15, goal "Schema"). Raw rusqlite, the
//! service's pragmas (WAL, synchronous=FULL), 1,000 rows per transaction,
//! every layout fed the same event. Row values are made BEFORE the timed
//! loop for every layout here, the plain table included (one row = one
//! `Vec<Value>` bound with `params_from_iter`), so the layouts differ only
//! in what SQLite does; the service's own `raw_sqlite` row (values made in
//! the loop, as the writer does) is printed beside them.

use std::path::Path;
use std::time::Instant;

use rusqlite::types::Value;

use crate::telemetry::out::outln;

struct Layout {
    name: &'static str,
    /// Creates the table (and its index / CHECK) on a fresh database.
    create: &'static str,
    insert: &'static str,
    row: fn(u64, &Sample) -> Vec<Value>,
}

/// One event's parts, as the writer has them.
pub(super) struct Sample {
    data: String,
    doc: String,
    doc_short: String,
    start_ms: i64,
}

const TYPE_NAME: &str = "store.transaction.completed";

fn uuid_text(i: u64) -> String {
    uuid::Uuid::from_u64_pair(0x0190_0000_0000_7000 | (i >> 32), 0x8000_0000_0000_0000 | i)
        .to_string()
}

fn uuid_blob(i: u64) -> Vec<u8> {
    uuid::Uuid::from_u64_pair(0x0190_0000_0000_7000 | (i >> 32), 0x8000_0000_0000_0000 | i)
        .as_bytes()
        .to_vec()
}

fn ms_text(ms: i64) -> String {
    crate::events::format_time(
        time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

const PLAIN: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);";
const PLAIN_INSERT: &str = "INSERT INTO t (id, payload) VALUES (?1, ?2)";

const WIDE_COLUMNS: &str = "seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, subject TEXT,
    time TEXT NOT NULL, recorded_at TEXT NOT NULL, journeystage TEXT, clockjump INTEGER,
    data TEXT NOT NULL {check}, sync_state INTEGER NOT NULL DEFAULT 0 CHECK (sync_state IN (0, 1, 2)),
    sent_at INTEGER, quarantine_reason TEXT, local_day TEXT";
const WIDE_INSERT: &str = "INSERT INTO events (seq, id, type, subject, time, recorded_at, journeystage, clockjump, data, local_day) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

fn wide_row(i: u64, s: &Sample) -> Vec<Value> {
    let t = ms_text(s.start_ms + i as i64 * 250);
    vec![
        Value::Integer(i as i64),
        Value::Text(uuid_text(i)),
        Value::Text(TYPE_NAME.into()),
        Value::Text(format!("T-{i}")),
        Value::Text(t.clone()),
        Value::Text(t),
        Value::Text("decision".into()),
        Value::Null,
        Value::Text(s.data.clone()),
        Value::Text("2026-12-06".into()),
    ]
}

const COMPACT_INSERT: &str = "INSERT INTO ev (seq, id, type, subject, time, recorded, clockjump, local_day, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

fn compact_row(i: u64, s: &Sample) -> Vec<Value> {
    let ms = s.start_ms + i as i64 * 250;
    vec![
        Value::Integer(i as i64),
        Value::Blob(uuid_blob(i)),
        Value::Integer(3),
        Value::Text(format!("T-{i}")),
        Value::Integer(ms),
        Value::Integer(ms),
        Value::Null,
        Value::Integer(20_428),
        Value::Text(s.data.clone()),
    ]
}

fn compact_text_row(i: u64, s: &Sample) -> Vec<Value> {
    let mut r = compact_row(i, s);
    r[1] = Value::Text(uuid_text(i));
    r
}

fn compact_timetext_row(i: u64, s: &Sample) -> Vec<Value> {
    let mut r = compact_row(i, s);
    let t = ms_text(s.start_ms + i as i64 * 250);
    r[4] = Value::Text(t.clone());
    r[5] = Value::Text(t);
    r
}

fn compact_typetext_row(i: u64, s: &Sample) -> Vec<Value> {
    let mut r = compact_row(i, s);
    r[2] = Value::Text(TYPE_NAME.into());
    r
}

const LAYOUTS: &[Layout] = &[
    Layout {
        name: "plain (id, data): the limit",
        create: PLAIN,
        insert: PLAIN_INSERT,
        row: |i, s| vec![Value::Integer(i as i64), Value::Text(s.data.clone())],
    },
    Layout {
        name: "plain (id, whole event as JSON, 390 B)",
        create: PLAIN,
        insert: PLAIN_INSERT,
        row: |i, s| vec![Value::Integer(i as i64), Value::Text(s.doc.clone())],
    },
    Layout {
        name: "today's 13 columns + CHECK(json_valid) + partial index",
        create: "CREATE TABLE events ({WIDE}); CREATE INDEX events_unsent ON events(seq) WHERE sync_state = 0; CREATE INDEX events_sent_at ON events(sent_at) WHERE sync_state = 1; CREATE INDEX events_quarantined ON events(seq) WHERE sync_state = 2;",
        insert: WIDE_INSERT,
        row: wide_row,
    },
    Layout {
        name: "today's 13 columns, no CHECK",
        create: "CREATE TABLE events ({WIDE_NOCHECK}); CREATE INDEX events_unsent ON events(seq) WHERE sync_state = 0; CREATE INDEX events_sent_at ON events(sent_at) WHERE sync_state = 1; CREATE INDEX events_quarantined ON events(seq) WHERE sync_state = 2;",
        insert: WIDE_INSERT,
        row: wide_row,
    },
    Layout {
        name: "today's 13 columns, no CHECK, no index",
        create: "CREATE TABLE events ({WIDE_NOCHECK});",
        insert: WIDE_INSERT,
        row: wide_row,
    },
    Layout {
        name: "compact 9 (id BLOB16, type code, times INTEGER ms, day INTEGER), no CHECK/index",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type INTEGER NOT NULL, subject TEXT, time INTEGER NOT NULL, recorded INTEGER NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data TEXT NOT NULL);",
        insert: COMPACT_INSERT,
        row: compact_row,
    },
    Layout {
        name: "compact 9 + CHECK(json_valid(data))",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type INTEGER NOT NULL, subject TEXT, time INTEGER NOT NULL, recorded INTEGER NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data TEXT NOT NULL CHECK (json_valid(data)));",
        insert: COMPACT_INSERT,
        row: compact_row,
    },
    Layout {
        name: "compact 9 + index on recorded",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type INTEGER NOT NULL, subject TEXT, time INTEGER NOT NULL, recorded INTEGER NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data TEXT NOT NULL); CREATE INDEX ev_recorded ON ev(recorded);",
        insert: COMPACT_INSERT,
        row: compact_row,
    },
    Layout {
        name: "compact 9, id as 36-char text",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type INTEGER NOT NULL, subject TEXT, time INTEGER NOT NULL, recorded INTEGER NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data TEXT NOT NULL);",
        insert: COMPACT_INSERT,
        row: compact_text_row,
    },
    Layout {
        name: "compact 9, times as RFC 3339 text",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type INTEGER NOT NULL, subject TEXT, time TEXT NOT NULL, recorded TEXT NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data TEXT NOT NULL);",
        insert: COMPACT_INSERT,
        row: compact_timetext_row,
    },
    Layout {
        name: "compact 9, type as text",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type TEXT NOT NULL, subject TEXT, time INTEGER NOT NULL, recorded INTEGER NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data TEXT NOT NULL);",
        insert: COMPACT_INSERT,
        row: compact_typetext_row,
    },
    Layout {
        name: "compact 9, data stored as JSONB (jsonb(?))",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type INTEGER NOT NULL, subject TEXT, time INTEGER NOT NULL, recorded INTEGER NOT NULL, clockjump INTEGER, local_day INTEGER NOT NULL, data BLOB NOT NULL);",
        insert: "INSERT INTO ev (seq, id, type, subject, time, recorded, clockjump, local_day, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, jsonb(?9))",
        row: compact_row,
    },
    Layout {
        name: "minimal (seq, type code, recorded ms, day, doc = rest of the event as JSON)",
        create: "CREATE TABLE ev (seq INTEGER PRIMARY KEY, type INTEGER NOT NULL, recorded INTEGER NOT NULL, local_day INTEGER NOT NULL, doc TEXT NOT NULL);",
        insert: "INSERT INTO ev (seq, type, recorded, local_day, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
        row: |i, s| {
            vec![
                Value::Integer(i as i64),
                Value::Integer(3),
                Value::Integer(s.start_ms + i as i64 * 250),
                Value::Integer(20_428),
                Value::Text(s.doc_short.clone()),
            ]
        },
    },
];

fn create_sql(layout: &Layout) -> String {
    layout
        .create
        .replace(
            "{WIDE}",
            &WIDE_COLUMNS.replace("{check}", "CHECK (json_valid(data))"),
        )
        .replace("{WIDE_NOCHECK}", &WIDE_COLUMNS.replace("{check}", ""))
}

/// Rows/s of one layout: `rows` rows made first, then inserted 1,000 per
/// transaction into a fresh database.
fn measure(
    dir: &Path,
    n: usize,
    layout: &Layout,
    sample: &Sample,
    rows: u64,
) -> anyhow::Result<f64> {
    let path = dir.join(format!("layout-{n}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(&p);
    }
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")?;
    conn.execute_batch(&create_sql(layout))?;
    let values: Vec<Vec<Value>> = (1..=rows).map(|i| (layout.row)(i, sample)).collect();
    let started = Instant::now();
    let mut it = values.iter();
    let mut left = rows;
    while left > 0 {
        let tx = conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(layout.insert)?;
            for _ in 0..1000.min(left) {
                let row = it.next().expect("rows made");
                stmt.execute(rusqlite::params_from_iter(row.iter()))?;
                left -= 1;
            }
        }
        tx.commit()?;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let _ = size;
    Ok(rate)
}

/// Runs every layout `rounds` times (interleaved, so drift of the box hits
/// all alike) and prints the median of each beside the plain table's.
pub(super) fn run(
    dir: &Path,
    rows: u64,
    rounds: usize,
    service_raw: &dyn Fn(&Path) -> anyhow::Result<f64>,
    service_premade: &dyn Fn(&Path) -> anyhow::Result<f64>,
) -> anyhow::Result<()> {
    let event = super::ingest::sample_event(1);
    let data = serde_json::to_string(&event["data"])?;
    let start_ms = 1_796_000_000_000i64;
    let doc = serde_json::to_string(&serde_json::json!({
        "specversion": "1.0", "id": uuid_text(1), "source": "urn:store:0042", "type": TYPE_NAME,
        "subject": "T-1", "time": ms_text(start_ms), "datacontenttype": "application/json",
        "sequence": "1", "journeystage": "decision", "recordedat": ms_text(start_ms), "data": event["data"],
    }))?;
    let doc_short = serde_json::to_string(&serde_json::json!({
        "id": uuid_text(1), "subject": "T-1", "time": ms_text(start_ms), "data": event["data"],
    }))?;
    let sample = Sample {
        data,
        doc,
        doc_short,
        start_ms,
    };
    // The last entry: the service's own schema and writer-like loop.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); LAYOUTS.len() + 2];
    for round in 0..rounds {
        for (n, layout) in LAYOUTS.iter().enumerate() {
            eprintln!("  round {}/{rounds}: {}", round + 1, layout.name);
            rates[n].push(measure(dir, n, layout, &sample, rows)?);
        }
        eprintln!("  round {}/{rounds}: the service's schema", round + 1);
        let service_dir = dir.join("service");
        if service_dir.exists() {
            std::fs::remove_dir_all(&service_dir)?;
        }
        std::fs::create_dir_all(&service_dir)?;
        rates[LAYOUTS.len()].push(service_raw(&service_dir)?);
        std::fs::remove_dir_all(&service_dir)?;
        std::fs::create_dir_all(&service_dir)?;
        rates[LAYOUTS.len() + 1].push(service_premade(&service_dir)?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let spread: Vec<(f64, f64)> = rates
        .iter()
        .map(|v| {
            (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(0.0, f64::max),
            )
        })
        .collect();
    // The goal's ratio per round (the service's schema and the plain table
    // of the same round: a slow disk spell hits both or neither).
    let mut paired: Vec<f64> = rates[LAYOUTS.len() + 1]
        .iter()
        .zip(&rates[0])
        .map(|(s, p)| 100.0 * s / p)
        .collect();
    let paired_text = paired
        .iter()
        .map(|r| format!("{r:.0} %"))
        .collect::<Vec<_>>()
        .join(", ");
    let paired_median = median(&mut paired);
    let medians: Vec<f64> = rates.iter_mut().map(median).collect();
    let plain = medians[0];
    outln!(
        "data {} B, whole event {} B, doc without the columns {} B; {rows} rows per run, median of {rounds} rounds\n",
        sample.data.len(),
        sample.doc.len(),
        sample.doc_short.len()
    )?;
    let best: Vec<f64> = spread.iter().map(|(_, hi)| *hi).collect();
    outln!("| layout (values made before the timed loop) | rows/s (median) | min – max | median vs plain's median | best vs plain's best |\n|---|---|---|---|---|")?;
    let names = LAYOUTS.iter().map(|l| l.name).chain([
        "the service's schema, values made in the loop (as the writer does)",
        "**the service's schema, values made before the loop (as for every row above)**",
    ]);
    for (((name, rate), (lo, hi)), top) in names.zip(&medians).zip(&spread).zip(&best) {
        outln!(
            "| {name} | {rate:.0} | {lo:.0} – {hi:.0} | {:.0} % | {:.0} % |",
            100.0 * rate / plain,
            100.0 * top / best[0]
        )?;
    }
    outln!(
        "\nthe service's schema (values made before the loop) vs the plain table, round by round: {paired_text} (median {paired_median:.0} %; goal ≥ 50 %)"
    )?;
    Ok(())
}
