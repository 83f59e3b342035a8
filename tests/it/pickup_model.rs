//! Model-based test of the click-and-collect workflow: random command
//! sequences — staff actions, verifications, the deadline timer, central's
//! new versions and restarts of the writer on the same SQLite file — run
//! against a plain reference model written from the tables and
//! against the real SQLite-backed implementation. After every command the
//! states agree; at the end the recorded events (type and order, in order)
//! are exactly the model's, so every transition recorded exactly one event.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use store_edge::pickup::actions::{self, Command, HandoverVerification};
use store_edge::pickup::arrival::{self, Verified};
use store_edge::pickup::central;
use store_edge::pickup::document::{CentralOrder, Line};
use store_edge::pickup::order::{self, in_tx, HandedLine, PickupError};
use store_edge::store::{self, read, Writer, WriterSettings};
use store_edge::telemetry::Metrics;

const STORE: &str = "berlin-01";
const ORDERS: [&str; 3] = ["W-1", "W-2", "W-3"];

/// Central's three item lists and two deadlines a version can have.
fn items(variant: u8) -> Vec<(&'static str, i64)> {
    match variant {
        0 => vec![("1", 1), ("2", 2)],
        1 => vec![("1", 1)],
        _ => vec![("1", 1), ("2", 3)],
    }
}
fn deadline(variant: u8) -> &'static str {
    if variant == 0 {
        "2030-01-01T18:00:00Z"
    } else {
        "2030-02-01T18:00:00Z"
    }
}

#[derive(Debug, Clone)]
enum Cmd {
    Central {
        order: usize,
        cancelled: bool,
        items: u8,
        deadline: u8,
        /// Repeat the last version instead of a newer one (must be ignored).
        stale: bool,
    },
    StartPicking(usize),
    Ready {
        order: usize,
        missing_second: bool,
    },
    Handover {
        order: usize,
        partial: bool,
        by_pass: bool,
    },
    Refuse(usize),
    Cancel(usize),
    Reminded(usize),
    NoShow(usize),
    Verify {
        order: usize,
        pass: bool,
    },
    Restart,
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let o = 0..ORDERS.len();
    prop_oneof![
        3 => (o.clone(), proptest::bool::weighted(0.15), 0u8..3, 0u8..2, proptest::bool::weighted(0.1)).prop_map(
            |(order, cancelled, items, deadline, stale)| Cmd::Central { order, cancelled, items, deadline, stale }
        ),
        3 => o.clone().prop_map(Cmd::StartPicking),
        3 => (o.clone(), any::<bool>()).prop_map(|(order, missing_second)| Cmd::Ready { order, missing_second }),
        2 => (o.clone(), any::<bool>(), any::<bool>()).prop_map(|(order, partial, by_pass)| Cmd::Handover { order, partial, by_pass }),
        1 => o.clone().prop_map(Cmd::Refuse),
        1 => o.clone().prop_map(Cmd::Cancel),
        1 => o.clone().prop_map(Cmd::Reminded),
        1 => o.clone().prop_map(Cmd::NoShow),
        2 => (o, any::<bool>()).prop_map(|(order, pass)| Cmd::Verify { order, pass }),
        1 => Just(Cmd::Restart),
    ]
}

// ---------------------------------------------------------------- the model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    Received,
    Picking,
    Ready,
    HandedOver,
    Partial,
    Refused,
    NoShow,
    Cancelled,
}

impl S {
    fn name(self) -> &'static str {
        match self {
            S::Received => "received",
            S::Picking => "picking",
            S::Ready => "ready",
            S::HandedOver => "handed_over",
            S::Partial => "partially_handed_over",
            S::Refused => "refused",
            S::NoShow => "no_show",
            S::Cancelled => "cancelled",
        }
    }
    fn open(self) -> bool {
        matches!(self, S::Received | S::Picking | S::Ready)
    }
}

#[derive(Debug, Clone)]
struct MOrder {
    state: S,
    version: i64,
    cancelled_central: bool,
    items: Vec<(&'static str, i64)>,
    deadline: &'static str,
    picked: BTreeMap<&'static str, i64>,
    arrived: bool,
    verified: Vec<&'static str>,
    reminders: i64,
    before_no_show: Option<S>,
}

#[derive(Default)]
struct Model {
    orders: BTreeMap<&'static str, MOrder>,
    /// (type, order, data fields the event must carry).
    events: Vec<(&'static str, &'static str, serde_json::Value)>,
}

impl Model {
    fn apply(&mut self, c: &Cmd) {
        match *c {
            Cmd::Central {
                order,
                cancelled,
                items: iv,
                deadline: dv,
                stale,
            } => self.central(order, cancelled, iv, dv, stale),
            Cmd::StartPicking(i) => self.transition(
                i,
                &[S::Received],
                S::Picking,
                "store.pickup.picking_started",
            ),
            Cmd::Ready {
                order,
                missing_second,
            } => {
                let id = ORDERS[order];
                if let Some(o) = self.orders.get_mut(id) {
                    if o.state == S::Picking {
                        let missing = missing_second && o.items.len() > 1;
                        o.picked = o
                            .items
                            .iter()
                            .map(|(l, q)| (*l, if missing && *l == "2" { 0 } else { *q }))
                            .collect();
                    }
                }
                self.transition(order, &[S::Picking], S::Ready, "store.pickup.ready")
            }
            Cmd::Handover {
                order,
                partial,
                by_pass,
            } => self.handover(order, partial, by_pass),
            Cmd::Refuse(i) => self.transition(i, &[S::Ready], S::Refused, "store.pickup.refused"),
            Cmd::Cancel(i) => {
                self.transition(
                    i,
                    &[S::Received, S::Picking, S::Ready, S::NoShow],
                    S::Cancelled,
                    "store.pickup.cancelled",
                );
                if let Some(last) = self.events.last_mut() {
                    if last.0 == "store.pickup.cancelled"
                        && last.1 == ORDERS[i]
                        && last.2 == json!({})
                    {
                        last.2 = json!({"by": "store"});
                    }
                }
            }
            Cmd::Reminded(i) => {
                if let Some(o) = self.orders.get_mut(ORDERS[i]) {
                    if o.state.open() {
                        o.reminders += 1;
                    }
                }
            }
            Cmd::NoShow(i) => {
                // Someone at the counter is no no-show.
                let id = ORDERS[i];
                let Some(o) = self.orders.get_mut(id) else {
                    return;
                };
                if o.state.open() && !o.arrived {
                    o.before_no_show = Some(o.state);
                    o.state = S::NoShow;
                    let reminders = o.reminders;
                    self.events.push((
                        "store.pickup.no_show",
                        id,
                        json!({"reminders_sent": reminders}),
                    ));
                }
            }
            Cmd::Verify { order, pass } => {
                let id = ORDERS[order];
                let Some(o) = self.orders.get_mut(id) else {
                    return;
                };
                if !o.state.open() {
                    return;
                }
                let method = if pass { "pass" } else { "code" };
                if !o.verified.contains(&method) {
                    o.verified.push(method);
                }
                if !o.arrived {
                    o.arrived = true;
                    self.events.push((
                        "store.pickup.customer_arrived",
                        id,
                        json!({"verified_by": method}),
                    ));
                }
            }
            Cmd::Restart => {}
        }
    }

    /// A version of an order from central: new, stale, a cancellation, or
    /// new lines or a new deadline (the reconciliation table).
    fn central(&mut self, order: usize, cancelled: bool, iv: u8, dv: u8, stale: bool) {
        let id = ORDERS[order];
        let Some(o) = self.orders.get_mut(id) else {
            if stale {
                return;
            }
            self.orders.insert(
                id,
                MOrder {
                    state: if cancelled { S::Cancelled } else { S::Received },
                    version: 1,
                    cancelled_central: cancelled,
                    items: items(iv),
                    deadline: deadline(dv),
                    picked: BTreeMap::new(),
                    arrived: false,
                    verified: vec![],
                    reminders: 0,
                    before_no_show: None,
                },
            );
            self.events
                .push(("store.pickup.received", id, json!({"version": 1})));
            if cancelled {
                self.events
                    .push(("store.pickup.cancelled", id, json!({"by": "central"})));
            }
            return;
        };
        if stale {
            return; // an older or equal version changes nothing
        }
        o.version += 1;
        let newly_cancelled = cancelled && !o.cancelled_central;
        o.cancelled_central = cancelled;
        let new_items = items(iv);
        let old_items = std::mem::replace(&mut o.items, new_items.clone());
        let deadline_changed = o.deadline != deadline(dv);
        o.deadline = deadline(dv);
        let from = o.state;
        if newly_cancelled {
            match from {
                S::Received | S::Picking | S::Ready | S::NoShow => {
                    o.state = S::Cancelled;
                    self.events
                        .push(("store.pickup.cancelled", id, json!({"by": "central"})));
                }
                S::HandedOver | S::Partial => self.events.push((
                    "store.pickup.conflict",
                    id,
                    json!({"local_state": from.name(), "central_state": "cancelled"}),
                )),
                S::Refused | S::Cancelled => {}
            }
            return;
        }
        // What was picked no longer fits: a picked line gone or cut
        // below its pick, or a line added or raised since.
        let stale = !o.picked.is_empty()
            && (o.picked.iter().any(|(line, picked)| {
                *picked > 0 && !new_items.iter().any(|(l, q)| l == line && q >= picked)
            }) || new_items.iter().any(|(l, q)| {
                !o.picked.contains_key(l)
                    || old_items
                        .iter()
                        .find(|(o, _)| o == l)
                        .is_none_or(|(_, old)| q > old)
            }));
        if from == S::Ready && stale {
            o.state = S::Picking;
        }
        // Both deadlines are years ahead: a no-show re-opens where it
        // was, on the shelf only if the picks still fit.
        if from == S::NoShow && deadline_changed {
            let back = o.before_no_show.take().unwrap_or(S::Ready);
            o.state = if back == S::Ready && stale {
                S::Picking
            } else {
                back
            };
        }
        if o.state == S::Picking && from != S::Picking {
            o.picked.clear();
        }
        // Only a move made by central records the version it came with.
        if o.state != from {
            let version = o.version;
            self.events
                .push(("store.pickup.received", id, json!({"version": version})));
        }
    }

    /// A handover of what was picked (only the first line when `partial`),
    /// verified by the pass or by an ID check.
    fn handover(&mut self, order: usize, partial: bool, by_pass: bool) {
        let id = ORDERS[order];
        let Some(o) = self.orders.get_mut(id) else {
            return;
        };
        if o.state != S::Ready || (by_pass && !o.verified.contains(&"pass")) {
            return;
        }
        if !o.arrived {
            o.arrived = true;
            self.events.push((
                "store.pickup.customer_arrived",
                id,
                json!({"verified_by": "manual_lookup"}),
            ));
        }
        // What was picked of each line (only the first when partial).
        let handed: Vec<i64> = o
            .items
            .iter()
            .enumerate()
            .map(|(i, (l, _))| {
                if partial && i > 0 {
                    0
                } else {
                    o.picked.get(l).copied().unwrap_or(0)
                }
            })
            .collect();
        let is_partial = o.items.iter().zip(&handed).any(|((_, q), h)| h < q);
        o.state = if is_partial {
            S::Partial
        } else {
            S::HandedOver
        };
        self.events.push((
            "store.pickup.handed_over",
            id,
            json!({"partial": is_partial, "verified_by": if by_pass { "pass" } else { "id_check" }}),
        ));
    }

    fn transition(&mut self, i: usize, from: &[S], to: S, event: &'static str) {
        let id = ORDERS[i];
        if let Some(o) = self.orders.get_mut(id) {
            if from.contains(&o.state) {
                o.state = to;
                self.events.push((event, id, json!({})));
            }
        }
    }
}

// ------------------------------------------------------- the real workflow

struct Real {
    path: std::path::PathBuf,
    writer: Option<(Writer, std::thread::JoinHandle<()>)>,
    versions: BTreeMap<&'static str, i64>,
}

impl Real {
    fn start(path: &std::path::Path) -> (Writer, std::thread::JoinHandle<()>) {
        let conn = store::open_for_writing(path, STORE).expect("open");
        Writer::start(
            conn,
            WriterSettings {
                path: path.to_owned(),
                max_size_bytes: 1 << 30,
                retain_sent_days: 30,
                timezone: jiff::tz::TimeZone::UTC,
                kpi_ingest: true,
            },
            Arc::new(Metrics::new()),
        )
        .expect("writer")
    }

    fn writer(&self) -> &Writer {
        &self.writer.as_ref().expect("running").0
    }

    fn restart(&mut self) {
        if let Some((w, thread)) = self.writer.take() {
            drop(w);
            thread.join().expect("writer thread");
        }
        self.writer = Some(Self::start(&self.path));
    }

    /// The order's lines and quantities as stored now.
    fn lines(&self, id: &str) -> Vec<Line> {
        let conn = store::ReadPool::new(&self.path).get().expect("read");
        order::get(&conn, id)
            .expect("get")
            .map(|o| o.lines())
            .unwrap_or_default()
    }

    /// The picked quantity of each of the order's lines (0 if not picked).
    fn picked(&self, id: &str) -> Vec<HandedLine> {
        let conn = store::ReadPool::new(&self.path).get().expect("read");
        order::get(&conn, id)
            .expect("get")
            .map(|o| {
                o.lines()
                    .into_iter()
                    .map(|l| {
                        let p = o.local.picked.get(&l.line_id).copied().unwrap_or(0);
                        HandedLine {
                            line_id: l.line_id,
                            quantity: p,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn act(&self, id: &str, cmd: Command) -> Result<order::Order, PickupError> {
        let id = id.to_owned();
        let now = time::OffsetDateTime::now_utc();
        self.writer()
            .run_blocking(0, move |ctx| {
                in_tx(actions::act(ctx, &id, &cmd, None, now, &Default::default()))
            })
            .expect("storage")
    }

    fn apply(&mut self, c: &Cmd) {
        let staff = || "anna".to_owned();
        let result = match *c {
            Cmd::Central {
                order,
                cancelled,
                items: iv,
                deadline: dv,
                stale,
            } => {
                let id = ORDERS[order];
                let known = self.versions.get(id).copied();
                let version = match (known, stale) {
                    (Some(v), true) => v,
                    (None, true) => return,
                    (Some(v), false) => v + 1,
                    (None, false) => 1,
                };
                self.versions.insert(id, version);
                let lines = items(iv);
                let doc = json!({
                    "order_id": id, "version": version,
                    "status": if cancelled { "cancelled" } else { "open" },
                    "channel": "web", "created_at": "2029-12-01T10:00:00Z", "pickup_by": deadline(dv),
                    "customer": {"display_name": "Julia M."},
                    "items": lines.iter().map(|(l, q)| json!({"line_id": l, "sku": format!("SKU-{l}"), "name": "Sofa", "quantity": q})).collect::<Vec<_>>(),
                    "verification": {"code_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"}
                });
                let order = CentralOrder::from_central(&doc).expect("a contract order");
                let now = time::OffsetDateTime::now_utc();
                self.writer()
                    .run_blocking(0, move |ctx| central::central_version(ctx, &order, now, 0))
                    .expect("central version");
                return;
            }
            Cmd::StartPicking(i) => {
                self.act(ORDERS[i], Command::StartPicking { staff_id: staff() })
            }
            Cmd::Ready {
                order,
                missing_second,
            } => {
                // Staff can only name a line the order has.
                let lines = self.lines(ORDERS[order]);
                self.act(
                    ORDERS[order],
                    Command::Ready {
                        staff_id: staff(),
                        location: "A-12".into(),
                        missing_lines: if missing_second && lines.len() > 1 {
                            vec!["2".into()]
                        } else {
                            vec![]
                        },
                    },
                )
            }
            Cmd::Handover {
                order,
                partial,
                by_pass,
            } => {
                // Everything picked, or only the first line.
                let mut lines = self.picked(ORDERS[order]);
                if partial {
                    lines.truncate(1);
                }
                self.act(
                    ORDERS[order],
                    Command::Handover {
                        staff_id: staff(),
                        verified_by: if by_pass {
                            HandoverVerification::Pass
                        } else {
                            HandoverVerification::IdCheck
                        },
                        lines,
                        shelf_checked: false,
                    },
                )
            }
            Cmd::Refuse(i) => self.act(
                ORDERS[i],
                Command::Refuse {
                    staff_id: staff(),
                    reason: "damaged".into(),
                },
            ),
            Cmd::Cancel(i) => self.act(
                ORDERS[i],
                Command::Cancel {
                    staff_id: staff(),
                    reason: "out of stock".into(),
                },
            ),
            Cmd::Reminded(i) => self.act(ORDERS[i], Command::Reminded { staff_id: staff() }),
            Cmd::NoShow(i) => self.act(ORDERS[i], Command::NoShow),
            Cmd::Verify { order, pass } => {
                let id = ORDERS[order].to_owned();
                let method = if pass { "pass" } else { "code" };
                let now = time::OffsetDateTime::now_utc();
                let _: Verified = self
                    .writer()
                    .run_blocking(0, move |ctx| arrival::verified(ctx, &id, method, now))
                    .expect("verify");
                return;
            }
            Cmd::Restart => {
                self.restart();
                return;
            }
        };
        if let Err(e) = result {
            // Refusals change nothing; storage errors are bugs here.
            assert!(!matches!(e, PickupError::Store(_)), "{c:?}: {e}");
        }
    }
}

fn run(cmds: Vec<Cmd>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edge.db");
    let mut real = Real {
        writer: Some(Real::start(&path)),
        path: path.clone(),
        versions: BTreeMap::new(),
    };
    let db = store::open_for_cli(&path, STORE).expect("db");
    store::staff::add(&db, "anna", "Anna K.", "$argon2id$unused").expect("staff");
    drop(db);
    let mut model = Model::default();
    for c in cmds {
        model.apply(&c);
        real.apply(&c);
        let conn = store::ReadPool::new(&path).get().expect("read");
        for id in ORDERS {
            let stored = order::get(&conn, id).expect("get");
            match (model.orders.get(id), stored) {
                (None, None) => {}
                (Some(m), Some(r)) => {
                    assert_eq!(r.state.as_str(), m.state.name(), "{id} after {c:?}");
                    assert_eq!(r.version, m.version, "{id} version after {c:?}");
                    assert_eq!(
                        r.local.reminders_sent, m.reminders,
                        "{id} reminders after {c:?}"
                    );
                    assert_eq!(
                        r.local.arrived_at.is_some(),
                        m.arrived,
                        "{id} arrival after {c:?}"
                    );
                }
                (m, r) => panic!(
                    "{id} after {c:?}: model {m:?}, store {:?}",
                    r.map(|o| o.state)
                ),
            }
        }
    }
    let conn = store::ReadPool::new(&path).get().expect("read");
    let recorded = read::list_events(&conn, 0, 100_000, None).expect("events");
    let got: Vec<(String, String)> = recorded
        .iter()
        .map(|e| (e.event_type.clone(), e.subject.clone().unwrap_or_default()))
        .collect();
    let expected: Vec<(String, String)> = model
        .events
        .iter()
        .map(|(t, id, _)| (t.to_string(), id.to_string()))
        .collect();
    assert_eq!(got, expected, "the event log is exactly the model's");
    for (e, (_, _, fields)) in recorded.iter().zip(&model.events) {
        let data: serde_json::Value = serde_json::from_str(&e.data).expect("data");
        for (k, v) in fields.as_object().expect("object") {
            assert_eq!(
                &data[k], v,
                "{} {}: `{k}` in {data}",
                e.event_type, e.sequence
            );
        }
    }
    drop(real);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if std::env::var_os("CI").is_some() { 96 } else { 192 },
        .. ProptestConfig::default()
    })]

    #[test]
    fn the_workflow_agrees_with_the_reference_model(cmds in proptest::collection::vec(cmd(), 1..40)) {
        run(cmds);
    }
}
