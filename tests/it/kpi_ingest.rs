//! Issue 13, "rollups and facts equal a recomputation after random insert
//! orders and a kill -9 in the middle of a batch": (a) one generated
//! history inserted in several seeded random orders into fresh databases
//! gives identical rollups and facts, and `kpi verify` finds them equal to
//! a replay; (b) the real service, posted arrays of events by several
//! clients and killed with SIGKILL mid-batch, verifies clean after a restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use store_edge::events::{lookup, NewEvent};
use store_edge::store::{self, Writer, WriterSettings};

use crate::common::*;

const MIN: i64 = 60;
/// 2026-03-28T06:00:00Z: Saturday before the spring DST change in Berlin
/// (Sunday 2026-03-29 has 23 hours).
const START: i64 = 1_774_677_600;

fn token(i: u64) -> String {
    format!("{:x<43}", format!("cust{i}"))
}

/// A tiny seeded PRNG (xorshift), so each insert order can be replayed.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One generated event: type, unix seconds, data.
type Gen = (&'static str, i64, Value);

/// Three days of a small store: transactions on 3 registers (two
/// currencies), identifications before some, price checks, feedback.
fn till_history(rng: &mut Seeded) -> Vec<Gen> {
    let mut h = Vec::new();
    for day in 0..3 {
        for k in 0..60 {
            let t = START + day * 86_400 + k * 11 * MIN + rng.below(300) as i64;
            let reg = ["r1", "r2", "r3"][(k % 3) as usize];
            let cust = rng.below(25);
            if k % 9 == 0 {
                // At a register without a till: a moment of silence.
                h.push((
                    "store.loyalty.identified",
                    t,
                    json!({"customer_token": token(cust), "method": "nfc", "device_id": "reader-r4", "register_id": "r4"}),
                ));
            }
            if rng.below(3) == 0 {
                h.push((
                    "store.loyalty.identified",
                    t - rng.below(900) as i64,
                    json!({"customer_token": token(cust), "method": "barcode", "device_id": format!("reader-{reg}"), "register_id": reg}),
                ));
            }
            if rng.below(4) == 0 {
                h.push((
                    "store.product.scanned",
                    t - rng.below(1200) as i64,
                    json!({"symbology": "]E0", "device_id": "scan-1", "context": "price_check", "register_id": reg}),
                ));
            }
            let mut tx = json!({"transaction_id": format!("T{day}-{k}"), "register_id": reg,
                "total_minor": 500 + rng.below(5000), "currency": if k % 7 == 0 { "CHF" } else { "EUR" },
                "item_count": 1 + rng.below(5)});
            if rng.below(5) == 0 {
                tx["customer_token"] = json!(token(cust));
            }
            h.push(("store.transaction.completed", t, tx));
            if k % 5 == 0 {
                h.push(("store.feedback.submitted", t + 60, {
                    let context = ["pickup", "checkout", "service_desk"][(k % 3) as usize];
                    json!({"score": rng.below(11), "context": context})
                }));
            }
        }
    }
    h
}

/// Pickups through their events, with cross-sells by order and by token,
/// a refusal, a no-show, a cancellation and an answer per order.
fn pickup_history() -> Vec<Gen> {
    let mut h = Vec::new();
    for i in 0..8i64 {
        let id = format!("O{i}");
        let t = START + i * 9 * 3600;
        h.push(("store.pickup.received", t, json!({"order_id": id, "version": 1, "channel": "web", "item_count": 2, "pickup_by": "2026-04-05T18:00:00Z"})));
        h.push(("store.pickup.received", t + 600, json!({"order_id": id, "version": 2, "channel": "web", "item_count": 2, "pickup_by": "2026-04-05T18:00:00Z"})));
        h.push((
            "store.pickup.ready",
            t + 3000 + i * 600,
            json!({"order_id": id, "staff_id": "s1", "location": "A1", "missing_lines": []}),
        ));
        let end = t + 5 * 3600;
        match i % 4 {
            3 => h.push((
                "store.pickup.no_show",
                end,
                json!({"order_id": id, "pickup_by": "x", "reminders_sent": 0}),
            )),
            2 => h.push((
                "store.pickup.refused",
                end,
                json!({"order_id": id, "staff_id": "s1", "reason": "damaged"}),
            )),
            _ => {
                h.push((
                    "store.pickup.customer_arrived",
                    end - 240,
                    json!({"order_id": id, "verified_by": "pass"}),
                ));
                h.push(("store.pickup.handed_over", end, json!({"order_id": id, "staff_id": "s1", "verified_by": "pass", "lines": [], "partial": i % 4 == 1})));
                let mut sale = json!({"transaction_id": format!("X{i}"), "register_id": "r1", "total_minor": 1200, "currency": "EUR", "item_count": 1});
                if i % 2 == 0 {
                    sale["pickup_order_id"] = json!(id);
                } else {
                    sale["customer_token"] = json!(token(100 + i as u64));
                }
                h.push(("store.transaction.completed", end + 600, sale));
                h.push((
                    "store.feedback.submitted",
                    end + 700,
                    json!({"score": 9, "context": "pickup", "order_id": id}),
                ));
            }
        }
    }
    h.push(("store.reservation.created", START + 3600, json!({"order_id": "S-1", "version": 1, "channel": "store", "item_count": 1, "pickup_by": "2026-04-05T18:00:00Z"})));
    h.push((
        "store.pickup.cancelled",
        START + 7200,
        json!({"order_id": "S-1", "by": "store", "reason": "out of stock"}),
    ));
    h
}

fn new_event((type_name, at, data): &Gen) -> NewEvent {
    NewEvent {
        event_type: lookup(type_name).expect("known type"),
        subject: None,
        time: Some(time::OffsetDateTime::from_unix_timestamp(*at).expect("time")),
        data_json: data.to_string(),
        data: data.as_object().expect("object").clone(),
    }
}

/// A fresh database at `path` with the orders' loyalty tokens in the order
/// table, `history` appended in the order `rng` shuffles it to, in groups.
fn build(path: &std::path::Path, history: &[Gen], rng: &mut Seeded) {
    std::fs::create_dir_all(path.parent().expect("dir")).expect("data dir");
    let db = store::open_for_writing(path, STORE_ID).expect("open");
    {
        let conn = rusqlite::Connection::open(path).expect("raw open");
        for i in 0..8 {
            let doc = json!({"customer": {"display_name": "X", "loyalty_token": token(100 + i)}});
            conn.execute(
                "INSERT INTO pickup_orders (order_id, version, central_status, document, received_at, updated_at)
                 VALUES (?1, 1, 'open', ?2, 'x', 'x')",
                [format!("O{i}"), doc.to_string()],
            )
            .expect("order row");
        }
    }
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
    let settings = WriterSettings::new(path.to_owned(), 1 << 30, 30, tz);
    let (writer, thread) = Writer::start(
        db,
        settings,
        Arc::new(store_edge::telemetry::Metrics::new()),
    )
    .expect("writer");
    let mut order: Vec<usize> = (0..history.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut events: Vec<NewEvent> = order.iter().map(|&i| new_event(&history[i])).collect();
    while !events.is_empty() {
        let n = (1 + rng.below(40) as usize).min(events.len());
        let group: Vec<NewEvent> = events.drain(..n).collect();
        append_all(&writer, group);
    }
    drop(writer);
    thread.join().expect("writer thread");
}

fn append_all(writer: &Writer, group: Vec<NewEvent>) {
    writer
        .run_blocking(1 << 20, move |ctx| {
            for e in &group {
                ctx.append(e)?;
            }
            Ok(())
        })
        .expect("append");
}

/// Every kpi table without its seq-valued columns, one line per row.
fn dump(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("open");
    let queries = [
        "SELECT day, metric, dim, n FROM kpi_daily ORDER BY 1, 2, 3",
        "SELECT day, at_ms, transaction_id, register_id, total_minor, currency, item_count, customer_token, pickup_order_id, ident_seq IS NOT NULL, cross_sell FROM kpi_tx ORDER BY at_ms, transaction_id",
        "SELECT day, at_ms, register_id, customer_token, silent FROM kpi_ident ORDER BY at_ms, customer_token",
        "SELECT day, at_ms, register_id, silent FROM kpi_price_check ORDER BY at_ms, register_id",
        "SELECT * FROM kpi_orders ORDER BY order_id",
        "SELECT * FROM kpi_visits ORDER BY 1, 2",
        "SELECT * FROM kpi_customers ORDER BY 1",
        "SELECT day, at_ms, context, score, order_id FROM kpi_feedback ORDER BY at_ms, context, score",
        "SELECT local_day, count(*) FROM events GROUP BY 1 ORDER BY 1",
    ];
    let mut out = Vec::new();
    for q in queries {
        let mut stmt = conn.prepare(q).expect(q);
        let cols = stmt.column_count();
        let mut rows = stmt.query([]).expect("query");
        while let Some(r) = rows.next().expect("row") {
            let line: Vec<String> = (0..cols)
                .map(|i| format!("{:?}", r.get_ref(i).expect("col")))
                .collect();
            out.push(line.join("|"));
        }
        out.push(format!("-- {q}"));
    }
    out
}

fn berlin(svc: &Service) {
    let text = std::fs::read_to_string(&svc.config).expect("config");
    std::fs::write(
        &svc.config,
        text.replace("timezone = \"UTC\"", "timezone = \"Europe/Berlin\""),
    )
    .expect("config");
}

fn verify_json(svc: &Service) -> Value {
    let out = svc.cli(&["kpi", "verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kpi verify --json: {e}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "kpi verify: {report}");
    report
}

#[test]
fn rollups_and_facts_equal_a_recomputation_after_random_insert_orders() {
    let mut rng = Seeded(0x5eed_0013);
    let mut history = till_history(&mut rng);
    history.extend(pickup_history());
    let svc = Service::new("", "");
    berlin(&svc);
    build(&svc.db, &history, &mut Seeded(1));
    let expected = dump(&svc.db);
    for seed in [2u64, 3, 4] {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("data").join("k.db");
        build(&path, &history, &mut Seeded(seed * 0x9e37_79b9));
        assert_eq!(dump(&path), expected, "insert order of seed {seed}");
    }
    let conn = rusqlite::Connection::open(&svc.db).expect("open");
    let n = |metric: &str, day: &str| -> i64 {
        conn.query_row(
            "SELECT coalesce(sum(n), 0) FROM kpi_daily WHERE metric = ?1 AND day LIKE ?2",
            [metric, day],
            |r| r.get(0),
        )
        .expect("rollup")
    };
    assert!(n("events", "2026-03-29") > 0, "the DST day has events");
    assert!(n("cross_sell_revenue", "%") > 0, "cross-sells were found");
    assert!(
        n("tx_identified", "%") > 0,
        "identified transactions were found"
    );
    assert!(n("silent_ident", "%") > 0 && n("silent_price_check", "%") > 0);
    let report = verify_json(&svc);
    assert_eq!(report["differ"], json!([]), "{report}");
    assert_eq!(report["skipped"], json!([]), "{report}");
    assert_eq!(report["events"], json!(history.len()), "{report}");
}

/// Several tills post arrays of events until told to stop.
fn spawn_tills(
    url: String,
    token: String,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4u64)
        .map(|c| {
            let (url, token, stop, acked) = (url.clone(), token.clone(), stop.clone(), acked.clone());
            tokio::spawn(async move {
                let client = http();
                let mut rng = Seeded(0xc0ffee + c);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<Value> = (0..50)
                        .map(|_| {
                            n += 1;
                            let at = START + rng.below(4 * 86_400) as i64;
                            let (type_name, data) = till_history(&mut Seeded(rng.below(1 << 30) | 1))
                                .into_iter()
                                .nth(rng.below(40) as usize)
                                .map(|(t, _, mut d)| {
                                    if let Some(id) = d.get("transaction_id").cloned() {
                                        d["transaction_id"] = json!(format!("c{c}-{n}-{}", id.as_str().unwrap_or("")));
                                    }
                                    (t, d)
                                })
                                .expect("an event");
                            let time = time::OffsetDateTime::from_unix_timestamp(at).expect("time");
                            json!({"type": type_name, "data": data, "time": store_edge::events::format_time(time)})
                        })
                        .collect();
                    match client.post(&url).bearer_auth(&token).json(&batch).send().await {
                        Ok(r) if r.status().is_success() => {
                            acked.fetch_add(50, Ordering::Relaxed);
                        }
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollups_and_facts_equal_a_recomputation_after_a_kill_9_in_the_middle_of_a_batch() {
    let mut svc = Service::new("", "");
    berlin(&svc);
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let tills = spawn_tills(
        svc.url("/api/v1/events"),
        token,
        stop.clone(),
        acked.clone(),
    );
    let deadline = std::time::Instant::now() + DEADLINE;
    while acked.load(Ordering::Relaxed) < 2_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    svc.kill9();
    svc.start().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tills {
        t.await.expect("till task");
    }
    let status = svc.term();
    assert!(status.success(), "clean stop after the crash: {status}");
    assert!(
        acked.load(Ordering::Relaxed) >= 2_000,
        "the tills made progress"
    );
    let report = verify_json(&svc);
    assert_eq!(report["differ"], json!([]), "{report}");
    assert_eq!(report["skipped"], json!([]), "{report}");
    assert!(
        report["equal"].as_array().is_some_and(|d| d.len() >= 4),
        "{report}"
    );
}
