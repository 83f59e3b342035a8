//! The ingest's rules on a real (migrated) database file, event by event.

use super::*;
use serde_json::json;

const MIN: i64 = 60_000;
/// 2026-03-02T09:00:00Z.
const T0: i64 = 1_772_442_000_000;

struct Db {
    _dir: tempfile::TempDir,
    db: crate::store::Db,
    seq: i64,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::open_for_writing(&dir.path().join("k.db"), "s1").unwrap();
        Db {
            _dir: dir,
            db,
            seq: 0,
        }
    }

    fn conn(&self) -> &Connection {
        self.db.sql()
    }

    fn add(&mut self, type_name: &str, at_ms: i64, data: Value) {
        self.seq += 1;
        let Value::Object(data) = data else {
            panic!("data is an object")
        };
        let stage = crate::events::lookup(type_name)
            .and_then(|t| t.stage)
            .map(|s| s.as_str());
        let day = local_day(at_ms, &jiff::tz::TimeZone::UTC);
        let ev = Ev {
            seq: self.seq,
            type_name,
            stage,
            at_ms,
            day: &day,
            data: &data,
        };
        let mut rollups = Rollups::default();
        ingest(self.conn(), &mut rollups, &ev).unwrap();
        rollups.flush(self.conn()).unwrap();
    }

    fn n(&self, metric: &str, dim: &str) -> i64 {
        self.conn()
            .query_row(
                "SELECT coalesce(sum(n), 0) FROM kpi_daily WHERE metric = ?1 AND dim = ?2",
                [metric, dim],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Every kpi table without its seq-valued columns, as text.
    fn dump(&self) -> Vec<String> {
        let queries = [
            "SELECT day, metric, dim, n FROM kpi_daily ORDER BY 1, 2, 3",
            "SELECT day, at_ms, transaction_id, register_id, total_minor, currency, item_count, customer_token, pickup_order_id, ident_seq IS NOT NULL, cross_sell FROM kpi_tx ORDER BY at_ms, transaction_id",
            "SELECT day, at_ms, register_id, customer_token, used_by IS NOT NULL, silent FROM kpi_ident ORDER BY at_ms, customer_token",
            "SELECT day, at_ms, register_id, silent FROM kpi_price_check ORDER BY at_ms",
            "SELECT * FROM kpi_orders ORDER BY order_id",
            "SELECT * FROM kpi_visits ORDER BY 1, 2",
            "SELECT * FROM kpi_customers ORDER BY 1",
            "SELECT day, at_ms, context, score, order_id FROM kpi_feedback ORDER BY at_ms",
        ];
        let mut out = Vec::new();
        for q in queries {
            let mut stmt = self.conn().prepare(q).unwrap();
            let cols = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    let mut line = Vec::new();
                    for i in 0..cols {
                        line.push(format!("{:?}", r.get_ref(i)?));
                    }
                    Ok(line.join("|"))
                })
                .unwrap();
            for row in rows {
                out.push(row.unwrap());
            }
            out.push("--".into());
        }
        out
    }
}

fn tx(id: &str, register: &str, total: i64) -> Value {
    json!({"transaction_id": id, "register_id": register, "total_minor": total, "currency": "EUR", "item_count": 2})
}

fn ident(token: &str, register: &str) -> Value {
    json!({"customer_token": token, "method": "barcode", "device_id": "scan-1", "register_id": register})
}

#[test]
fn a_transaction_uses_the_most_recent_identification_of_its_register_within_10_minutes() {
    let mut db = Db::new();
    db.add("store.loyalty.identified", T0, ident("a", "r1"));
    db.add("store.loyalty.identified", T0 + MIN, ident("b", "r2"));
    db.add(
        "store.transaction.completed",
        T0 + 5 * MIN,
        tx("T1", "r1", 100),
    );
    db.add(
        "store.transaction.completed",
        T0 + 6 * MIN,
        tx("T2", "r1", 100),
    );
    db.add(
        "store.transaction.completed",
        T0 + 40 * MIN,
        tx("T3", "r2", 100),
    );
    assert_eq!(db.n("tx", "EUR"), 3);
    assert_eq!(db.n("revenue", "EUR"), 300);
    assert_eq!(
        db.n("tx_identified", ""),
        1,
        "one identification, used once"
    );
    assert_eq!(db.n("visits", ""), 2);
    assert_eq!(
        db.n("silent_ident", ""),
        1,
        "b had no transaction on r2 within 30 min"
    );
}

#[test]
fn a_late_identification_re_runs_the_matching_of_its_register() {
    let mut db = Db::new();
    db.add(
        "store.transaction.completed",
        T0 + 5 * MIN,
        tx("T1", "r1", 100),
    );
    db.add(
        "store.transaction.completed",
        T0 + 8 * MIN,
        tx("T2", "r1", 100),
    );
    assert_eq!(db.n("tx_identified", ""), 0);
    db.add("store.loyalty.identified", T0 + 4 * MIN, ident("a", "r1"));
    db.add("store.loyalty.identified", T0 + 6 * MIN, ident("b", "r1"));
    // T1 takes a (b is after it), T2 takes b.
    assert_eq!(db.n("tx_identified", ""), 2);
    assert_eq!(db.n("silent_ident", ""), 0);
}

#[test]
fn an_identification_without_register_is_never_used_nor_silent() {
    let mut db = Db::new();
    db.add(
        "store.loyalty.identified",
        T0,
        json!({"customer_token": "a", "method": "app", "device_id": "d"}),
    );
    db.add("store.transaction.completed", T0 + MIN, tx("T1", "r1", 100));
    assert_eq!(db.n("tx_identified", ""), 0);
    assert_eq!(db.n("silent_ident", ""), 0);
    assert_eq!(db.n("device", "d"), 1);
    assert_eq!(db.n("stage", "loyalty"), 1);
}

#[test]
fn price_checks_are_silent_until_a_transaction_on_their_register_within_10_minutes() {
    let mut db = Db::new();
    let check = |r: &str| json!({"symbology": "]E0", "device_id": "s", "context": "price_check", "register_id": r});
    db.add("store.product.scanned", T0, check("r1"));
    db.add("store.product.scanned", T0, check("r2"));
    assert_eq!(db.n("silent_price_check", ""), 2);
    db.add(
        "store.transaction.completed",
        T0 + 10 * MIN,
        tx("T1", "r1", 100),
    );
    db.add(
        "store.transaction.completed",
        T0 + 11 * MIN,
        tx("T2", "r2", 100),
    );
    assert_eq!(db.n("silent_price_check", ""), 1);
}

fn order_events(db: &mut Db, order: &str, refused_first: bool) {
    db.add(
        "store.pickup.received",
        T0,
        json!({"order_id": order, "version": 1, "channel": "web", "item_count": 1, "pickup_by": "x"}),
    );
    db.add(
        "store.pickup.handed_over",
        T0 + 60 * MIN,
        json!({"order_id": order, "staff_id": "s", "verified_by": "pass", "lines": [], "partial": false}),
    );
    if refused_first {
        db.add(
            "store.pickup.refused",
            T0 + 50 * MIN,
            json!({"order_id": order, "staff_id": "s", "reason": "damaged"}),
        );
    }
}

#[test]
fn a_transaction_within_30_minutes_of_a_handover_is_a_cross_sell_in_either_order() {
    for tx_first in [false, true] {
        let mut db = Db::new();
        let sale = json!({"transaction_id": "T", "register_id": "r", "total_minor": 990,
                          "currency": "EUR", "item_count": 1, "pickup_order_id": "O1"});
        if tx_first {
            db.add("store.transaction.completed", T0 + 80 * MIN, sale.clone());
        }
        order_events(&mut db, "O1", false);
        if !tx_first {
            db.add("store.transaction.completed", T0 + 80 * MIN, sale);
        }
        assert_eq!(
            db.n("cross_sell_revenue", "EUR"),
            990,
            "tx_first={tx_first}"
        );
        let flag: i64 = db
            .conn()
            .query_row("SELECT cross_sell FROM kpi_orders", [], |r| r.get(0))
            .unwrap();
        assert_eq!(flag, 1);
    }
}

#[test]
fn an_earlier_refusal_arriving_late_wins_the_outcome_and_undoes_the_cross_sell() {
    let mut db = Db::new();
    let sale = json!({"transaction_id": "T", "register_id": "r", "total_minor": 990,
                      "currency": "EUR", "item_count": 1, "pickup_order_id": "O1"});
    db.add("store.transaction.completed", T0 + 70 * MIN, sale);
    order_events(&mut db, "O1", true);
    let (outcome, reason, cross): (String, String, i64) = db
        .conn()
        .query_row(
            "SELECT outcome, refusal_reason, cross_sell FROM kpi_orders",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (outcome.as_str(), reason.as_str(), cross),
        ("refused", "damaged", 0)
    );
    assert_eq!(db.n("cross_sell_revenue", "EUR"), 0);
}

#[test]
fn a_second_feedback_for_the_same_order_counts_nothing() {
    let mut db = Db::new();
    let fb = |s: i64| json!({"score": s, "context": "pickup", "order_id": "O1"});
    db.add("store.feedback.submitted", T0, fb(9));
    db.add("store.feedback.submitted", T0 + MIN, fb(3));
    assert_eq!(db.n("nps", "pickup:9"), 1);
    assert_eq!(db.n("nps", "pickup:3"), 0);
}

/// A small history with every kind of fact, in a fixed order.
fn history() -> Vec<(&'static str, i64, Value)> {
    let mut h = Vec::new();
    for i in 0..12 {
        let t = T0 + i * 4 * MIN;
        let reg = if i % 2 == 0 { "r1" } else { "r2" };
        h.push((
            "store.loyalty.identified",
            t,
            ident(&format!("c{}", i % 3), reg),
        ));
        h.push((
            "store.transaction.completed",
            t + 3 * MIN,
            tx(&format!("T{i}"), reg, 100 + i),
        ));
        h.push((
            "store.product.scanned",
            t + MIN,
            json!({"symbology": "]E0", "device_id": "s", "context": "price_check", "register_id": reg}),
        ));
    }
    h.push((
        "store.pickup.received",
        T0,
        json!({"order_id": "O1", "version": 1, "channel": "app", "item_count": 1, "pickup_by": "x"}),
    ));
    h.push((
        "store.pickup.received",
        T0 + MIN,
        json!({"order_id": "O1", "version": 2, "channel": "app", "item_count": 1, "pickup_by": "x"}),
    ));
    h.push((
        "store.pickup.ready",
        T0 + 20 * MIN,
        json!({"order_id": "O1", "staff_id": "s", "location": "A", "missing_lines": []}),
    ));
    h.push((
        "store.pickup.handed_over",
        T0 + 25 * MIN,
        json!({"order_id": "O1", "staff_id": "s", "verified_by": "pass", "lines": [], "partial": true}),
    ));
    h.push((
        "store.transaction.completed",
        T0 + 26 * MIN,
        json!({"transaction_id": "X", "register_id": "r1", "total_minor": 5, "currency": "CHF", "item_count": 1, "pickup_order_id": "O1"}),
    ));
    h.push((
        "store.feedback.submitted",
        T0 + 27 * MIN,
        json!({"score": 10, "context": "pickup", "order_id": "O1"}),
    ));
    h
}

#[test]
fn any_insert_order_gives_the_same_rollups_and_facts() {
    let build = |order: &[usize]| {
        let h = history();
        let mut db = Db::new();
        for &i in order {
            let (t, at, d) = &h[i];
            db.add(t, *at, d.clone());
        }
        db.dump()
    };
    let n = history().len();
    let in_order: Vec<usize> = (0..n).collect();
    let expected = build(&in_order);
    let reversed: Vec<usize> = (0..n).rev().collect();
    assert_eq!(build(&reversed), expected, "reversed");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..4 {
        let mut order = in_order.clone();
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        assert_eq!(build(&order), expected, "shuffle {round}");
    }
}
