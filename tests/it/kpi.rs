//! Issue 13's "synthetic histories: every KPI exact". A seeded history of
//! touchpoints, sales and pickups around both DST changes in Europe/Berlin
//! (with events at local midnight, two currencies, late events arriving
//! out of order) is recorded through the real writer; every `Report` field
//! is computed again here with plain loops over the generated list (not
//! the SQL) and whole reports are compared as JSON for several windows,
//! also after the raw events were pruned, and once through the real binary
//! (`POST /api/v1/events`, then `store-edge kpi --json`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::civil::{date, Date};
use jiff::tz::TimeZone;
use serde_json::{json, Value};
use store_edge::events::made::{self, HandedLine};
use store_edge::events::NewEvent;
use store_edge::kpi::*;

const ZONE: &str = "Europe/Berlin";
const MIN: i64 = 60_000;

/// One generated event: its type, time and data (as posted).
#[derive(Debug, Clone)]
struct Ev {
    ty: &'static str,
    at: i64,
    data: Value,
}

/// xorshift64*: the history is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn tz() -> TimeZone {
    TimeZone::get(ZONE).expect("bundled zone")
}

fn start_ms(d: Date) -> i64 {
    d.to_zoned_datetime(tz())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn day_of(at: i64) -> Date {
    jiff::Timestamp::from_millisecond(at)
        .unwrap()
        .to_zoned_datetime(tz())
        .date()
}

fn token(n: u64) -> String {
    format!("{:A<43}", format!("cust{n}"))
}

/// The days of the history: both DST changes, a day in between (the
/// 90-day lookback of the October window reaches it) and the days around.
fn history_days() -> Vec<Date> {
    vec![
        date(2026, 3, 27),
        date(2026, 3, 28),
        date(2026, 3, 29), // 23 hours
        date(2026, 3, 30),
        date(2026, 9, 15),
        date(2026, 10, 24),
        date(2026, 10, 25), // 25 hours
        date(2026, 10, 26),
    ]
}

/// Touchpoints and sales of one day; with `near_midnight`, some just
/// before and after the day's first instant.
fn generate_day(rng: &mut Rng, d: Date, n: usize, next_tx: &mut u64, out: &mut Vec<Ev>) {
    let (start, end) = (start_ms(d), start_ms(d.tomorrow().unwrap()));
    for _ in 0..n {
        let at = match rng.below(10) {
            0 => start + rng.below(5 * MIN as u64) as i64, // just after midnight
            1 => end - 1 - rng.below(5 * MIN as u64) as i64, // just before the next
            _ => start + rng.below((end - start) as u64) as i64,
        };
        let register = ["till-1", "till-2"][rng.below(2) as usize];
        let device = ["scanner-1", "scanner-2", "reader-1"][rng.below(3) as usize];
        let with_register = |rng: &mut Rng, mut v: Value| {
            if rng.chance(85) {
                v["register_id"] = json!(register);
            }
            v
        };
        let customer = token(rng.below(25));
        match rng.below(10) {
            0..=2 => {
                let data =
                    json!({"customer_token": customer, "method": "barcode", "device_id": device});
                out.push(Ev {
                    ty: "store.loyalty.identified",
                    at,
                    data: with_register(rng, data),
                });
            }
            3..=4 => {
                let context = if rng.chance(60) {
                    "price_check"
                } else {
                    "basket"
                };
                let data = json!({"symbology": "]E0", "device_id": device, "context": context, "gtin": "04012345678901"});
                out.push(Ev {
                    ty: "store.product.scanned",
                    at,
                    data: with_register(rng, data),
                });
            }
            5..=8 => {
                *next_tx += 1;
                let mut data = json!({"transaction_id": format!("T{next_tx}"), "register_id": register,
                    "total_minor": 100 + rng.below(20_000), "currency": if rng.chance(20) { "CHF" } else { "EUR" },
                    "item_count": 1 + rng.below(6)});
                if rng.chance(25) {
                    data["customer_token"] = json!(customer);
                }
                out.push(Ev {
                    ty: "store.transaction.completed",
                    at,
                    data,
                });
            }
            _ => {
                let context = ["pickup", "checkout", "service_desk"][rng.below(3) as usize];
                let data = json!({"score": rng.below(11), "context": context});
                out.push(Ev {
                    ty: "store.feedback.submitted",
                    at,
                    data,
                });
            }
        }
    }
}

/// One order's life from `at`: received (sometimes twice, sometimes not
/// at all), ready, arrival and one end; a sale with the order's id after
/// some handovers (within 30 minutes or just after).
fn generate_order(rng: &mut Rng, id: &str, at: i64, next_tx: &mut u64, out: &mut Vec<Ev>) {
    let pickup_by = jiff::Timestamp::from_millisecond(at + 2 * 86_400_000)
        .unwrap()
        .to_string();
    let channel = ["web", "app", "chat"][rng.below(3) as usize];
    let received = json!({"order_id": id, "version": 1, "channel": channel,
        "item_count": 1 + rng.below(4), "pickup_by": pickup_by});
    if rng.chance(10) {
        let mut r = received.clone();
        r["channel"] = json!("store");
        out.push(Ev {
            ty: "store.reservation.created",
            at,
            data: r,
        });
    } else if !rng.chance(5) {
        out.push(Ev {
            ty: "store.pickup.received",
            at,
            data: received.clone(),
        });
    }
    if rng.chance(20) {
        let mut again = received;
        again["version"] = json!(2);
        out.push(Ev {
            ty: "store.pickup.received",
            at: at + 90 * MIN,
            data: again,
        });
    }
    if rng.chance(10) {
        let by = if rng.chance(50) { "central" } else { "store" };
        let data = json!({"order_id": id, "by": by, "reason": "gone"});
        out.push(Ev {
            ty: "store.pickup.cancelled",
            at: at + rng.below(300) as i64 * MIN,
            data,
        });
        return;
    }
    let ready = at + (30 + rng.below(200) as i64) * MIN + rng.below(60_000) as i64;
    out.push(Ev {
        ty: "store.pickup.ready",
        at: ready,
        data: json!({"order_id": id, "staff_id": "anna", "location": "A1", "missing_lines": []}),
    });
    let arrived = ready + (60 + rng.below(1200) as i64) * MIN;
    let end = arrived + rng.below(900_000) as i64;
    match rng.below(10) {
        0 => out.push(Ev {
            ty: "store.pickup.no_show",
            at: end,
            data: json!({"order_id": id, "pickup_by": pickup_by, "reminders_sent": 0}),
        }),
        1 => {
            let reason = ["damaged", "wrong_item", "changed_mind", "other"][rng.below(4) as usize];
            out.push(Ev {
                ty: "store.pickup.customer_arrived",
                at: arrived,
                data: json!({"order_id": id, "verified_by": "pass"}),
            });
            out.push(Ev {
                ty: "store.pickup.refused",
                at: end,
                data: json!({"order_id": id, "staff_id": "anna", "reason": reason}),
            });
        }
        k => {
            if k != 2 {
                out.push(Ev {
                    ty: "store.pickup.customer_arrived",
                    at: arrived,
                    data: json!({"order_id": id, "verified_by": "pass"}),
                });
            }
            let data = json!({"order_id": id, "staff_id": "anna", "verified_by": "pass",
                "lines": [{"line_id": "1", "quantity_handed": 1}], "partial": k == 3});
            out.push(Ev {
                ty: "store.pickup.handed_over",
                at: end,
                data,
            });
            if rng.chance(60) {
                *next_tx += 1;
                let sale = json!({"transaction_id": format!("T{next_tx}"), "register_id": "till-3",
                    "total_minor": 500 + rng.below(5000), "currency": "EUR", "item_count": 1, "pickup_order_id": id});
                out.push(Ev {
                    ty: "store.transaction.completed",
                    at: end + rng.below(40) as i64 * MIN,
                    data: sale,
                });
            }
        }
    }
}

/// The whole history, in the order it arrives: shuffled in part, so some
/// events come late (after later ones of their register or order).
fn generate(seed: u64, per_day: usize, orders_per_day: usize) -> Vec<Ev> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut next_tx = 0;
    for (i, d) in history_days().into_iter().enumerate() {
        generate_day(&mut rng, d, per_day, &mut next_tx, &mut out);
        for k in 0..orders_per_day {
            let at = start_ms(d) + rng.below(20 * 3_600_000) as i64;
            generate_order(&mut rng, &format!("W-{i}-{k}"), at, &mut next_tx, &mut out);
        }
    }
    out.sort_by_key(|e| e.at);
    // Late events: a fifth of them swap with one up to 300 places later.
    for i in 0..out.len() {
        if rng.chance(20) {
            let j = (i + 1 + rng.below(300) as usize).min(out.len() - 1);
            out.swap(i, j);
        }
    }
    out
}

// ---- The answers, with plain loops over the generated list ----

fn s<'a>(e: &'a Ev, k: &str) -> Option<&'a str> {
    e.data[k].as_str()
}

fn int(e: &Ev, k: &str) -> i64 {
    e.data[k].as_i64().unwrap_or(0)
}

/// One order's first steps (earliest by time, then by arrival).
#[derive(Debug, Default, Clone)]
struct Order {
    channel: String,
    received: Option<i64>,
    ready: Option<i64>,
    arrived: Option<i64>,
    handed: Option<i64>,
    outcome: Option<(String, i64, Option<String>)>,
    cancelled: Option<(String, i64)>,
    cross_sell: bool,
}

/// What each event amounts to, by its index in the arrival order.
struct Derived {
    identified: BTreeSet<usize>,
    silent: BTreeSet<usize>,
    cross_sell_tx: BTreeSet<usize>,
    orders: BTreeMap<String, Order>,
}

fn derive(evs: &[Ev]) -> Derived {
    let mut by_time: Vec<usize> = (0..evs.len()).collect();
    by_time.sort_by_key(|&i| (evs[i].at, i));
    let is = |i: usize, ty: &str| evs[i].ty == ty;
    let reg = |i: usize| s(&evs[i], "register_id");
    let txs: Vec<usize> = by_time
        .iter()
        .copied()
        .filter(|&i| is(i, "store.transaction.completed"))
        .collect();

    // Loyalty: per register, transactions by (time, id) use the latest
    // unused identification of the 10 minutes before.
    let mut identified = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut ordered = txs.clone();
    ordered.sort_by(|&a, &b| {
        (evs[a].at, s(&evs[a], "transaction_id")).cmp(&(evs[b].at, s(&evs[b], "transaction_id")))
    });
    for &t in &ordered {
        let best = (0..evs.len())
            .filter(|&i| is(i, "store.loyalty.identified") && reg(i).is_some() && reg(i) == reg(t))
            .filter(|&i| {
                !used.contains(&i) && evs[i].at <= evs[t].at && evs[i].at >= evs[t].at - 10 * MIN
            })
            .max_by_key(|&i| (evs[i].at, i));
        if let Some(i) = best {
            used.insert(i);
        }
        if best.is_some() || s(&evs[t], "customer_token").is_some() {
            identified.insert(t);
        }
    }
    // Silence: no transaction of the register within 30 / 10 minutes after.
    let mut silent = BTreeSet::new();
    for i in 0..evs.len() {
        let within = match evs[i].ty {
            "store.loyalty.identified" => 30 * MIN,
            "store.product.scanned" if s(&evs[i], "context") == Some("price_check") => 10 * MIN,
            _ => continue,
        };
        if reg(i).is_none() {
            continue;
        }
        let followed = txs.iter().any(|&t| {
            reg(t) == reg(i) && evs[t].at >= evs[i].at && evs[t].at <= evs[i].at + within
        });
        if !followed {
            silent.insert(i);
        }
    }
    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    for &i in &by_time {
        let e = &evs[i];
        let Some(id) = s(e, "order_id") else { continue };
        let o = orders.entry(id.to_owned()).or_default();
        match e.ty {
            "store.pickup.received" | "store.reservation.created" if o.received.is_none() => {
                o.received = Some(e.at);
                o.channel = s(e, "channel").unwrap_or_default().to_owned();
            }
            "store.pickup.ready" if o.ready.is_none() => o.ready = Some(e.at),
            "store.pickup.customer_arrived" if o.arrived.is_none() => o.arrived = Some(e.at),
            "store.pickup.cancelled" if o.cancelled.is_none() => {
                o.cancelled = Some((s(e, "by").unwrap_or_default().to_owned(), e.at));
            }
            _ => {}
        }
        if e.ty == "store.pickup.handed_over" && o.handed.is_none() {
            o.handed = Some(e.at);
        }
        if o.outcome.is_none() {
            o.outcome = match e.ty {
                "store.pickup.handed_over" if e.data["partial"] == json!(true) => {
                    Some(("partially_handed_over".into(), e.at, None))
                }
                "store.pickup.handed_over" => Some(("handed_over".into(), e.at, None)),
                "store.pickup.refused" => {
                    Some(("refused".into(), e.at, s(e, "reason").map(str::to_owned)))
                }
                "store.pickup.no_show" => Some(("no_show".into(), e.at, None)),
                _ => None,
            };
        }
    }
    // Cross-sell: a sale naming the order within 30 minutes of its handover.
    let mut cross_sell_tx = BTreeSet::new();
    for (id, o) in orders.iter_mut() {
        let handed = matches!(&o.outcome, Some((k, _, _)) if k == "handed_over" || k == "partially_handed_over");
        let Some(h) = o.handed.filter(|_| handed) else {
            continue;
        };
        for &t in &txs {
            if s(&evs[t], "pickup_order_id") == Some(id.as_str())
                && evs[t].at >= h
                && evs[t].at <= h + 30 * MIN
            {
                cross_sell_tx.insert(t);
                o.cross_sell = true;
            }
        }
    }
    Derived {
        identified,
        silent,
        cross_sell_tx,
        orders,
    }
}

fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// ⌈q·n⌉-th smallest, q in tenths.
fn rank(mut v: Vec<i64>) -> Percentiles {
    v.sort();
    let n = v.len();
    let at = |t: usize| (n > 0).then(|| v[(t * n).div_ceil(10).max(1) - 1]);
    Percentiles {
        count: n as u64,
        p50: at(5),
        p90: at(9),
    }
}

fn nps_of(scores: &[i64]) -> NpsScore {
    let p = scores.iter().filter(|&&x| x >= 9).count() as u64;
    let d = scores.iter().filter(|&&x| x <= 6).count() as u64;
    let n = scores.len() as u64;
    NpsScore {
        answers: n,
        promoters: p,
        passives: n - p - d,
        detractors: d,
        score: (n >= 10).then(|| (100.0 * (p as f64 - d as f64) / n as f64).round() as i64),
        enough_answers: n >= 10,
    }
}

fn stage_of(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "store.loyalty.identified" | "store.feedback.submitted" => "loyalty",
        "store.product.scanned" => "consideration",
        "store.transaction.completed" | "store.pickup.received" | "store.reservation.created" => {
            "decision"
        }
        t if t.starts_with("store.pickup.") => "service",
        _ => return None,
    })
}

fn sales_of(evs: &[Ev], inw: &dyn Fn(i64) -> bool) -> Sales {
    let mut cur: BTreeMap<String, (u64, i64, u64)> = BTreeMap::new();
    for e in evs
        .iter()
        .filter(|e| e.ty == "store.transaction.completed" && inw(e.at))
    {
        let c = cur.entry(s(e, "currency").unwrap().to_owned()).or_default();
        c.0 += 1;
        c.1 += int(e, "total_minor");
        c.2 += int(e, "item_count") as u64;
    }
    let transactions = cur.values().map(|c| c.0).sum();
    let items: u64 = cur.values().map(|c| c.2).sum();
    Sales {
        transactions,
        items_per_transaction: rate(items, transactions),
        by_currency: cur
            .into_iter()
            .map(|(currency, (n, revenue, items))| CurrencySales {
                currency,
                transactions: n,
                revenue_minor: revenue,
                average_order_value_minor: (revenue as f64 / n as f64).round() as i64,
                items,
            })
            .collect(),
    }
}

fn loyalty_of(evs: &[Ev], dv: &Derived, from: Date, to: Date) -> Loyalty {
    let inw = |d: Date, a: Date, b: Date| d >= a && d < b;
    let tx: Vec<usize> = (0..evs.len())
        .filter(|&i| evs[i].ty == "store.transaction.completed" && inw(day_of(evs[i].at), from, to))
        .collect();
    let identified = tx.iter().filter(|i| dv.identified.contains(i)).count() as u64;
    let visits: BTreeSet<(String, Date)> = evs
        .iter()
        .filter(|e| {
            matches!(
                e.ty,
                "store.loyalty.identified" | "store.transaction.completed"
            )
        })
        .filter_map(|e| Some((s(e, "customer_token")?.to_owned(), day_of(e.at))))
        .collect();
    let back = from.checked_sub(jiff::Span::new().days(90)).unwrap();
    let in_window: Vec<&(String, Date)> =
        visits.iter().filter(|(_, d)| inw(*d, from, to)).collect();
    let customers: BTreeSet<&String> = in_window.iter().map(|(c, _)| c).collect();
    let returning = customers
        .iter()
        .filter(|c| visits.iter().any(|(t, d)| t == **c && inw(*d, back, from)))
        .count() as u64;
    let n = customers.len() as u64;
    Loyalty {
        identified_transactions: identified,
        identification_rate: rate(identified, tx.len() as u64),
        identified_customers: n,
        visits: in_window.len() as u64,
        repeat_visits: rate(in_window.len() as u64, n),
        returning_customers: returning,
        retention: rate(returning, n),
    }
}

fn pickups_of(evs: &[Ev], dv: &Derived, inw: &dyn Fn(i64) -> bool) -> Pickups {
    let mut by_channel = BTreeMap::new();
    let (mut ready, mut on_time, mut to_ready, mut waits) = (0, 0, vec![], vec![]);
    let mut outcomes = Outcomes {
        total: 0,
        handed_over: 0,
        partially_handed_over: 0,
        refused: 0,
        no_show: 0,
    };
    let mut reasons: BTreeMap<String, u64> = ["damaged", "wrong_item", "changed_mind", "other"]
        .iter()
        .map(|r| (r.to_string(), 0))
        .collect();
    let mut cancels: BTreeMap<String, u64> =
        [("central".to_string(), 0), ("store".to_string(), 0)].into();
    let (mut handed, mut with_sale) = (0, 0);
    for o in dv.orders.values() {
        if o.received.is_some_and(inw) {
            *by_channel.entry(o.channel.clone()).or_insert(0) += 1;
        }
        if let (Some(r), Some(rd)) = (o.received, o.ready.filter(|&t| inw(t))) {
            ready += 1;
            on_time += u64::from(rd - r <= 120 * MIN);
            to_ready.push(((rd - r) / 1000).max(0));
        }
        if let (Some(a), Some(h)) = (o.arrived, o.handed.filter(|&t| inw(t))) {
            waits.push(((h - a) / 1000).max(0));
        }
        if let Some((kind, _, reason)) = o.outcome.as_ref().filter(|(_, t, _)| inw(*t)) {
            outcomes.total += 1;
            match kind.as_str() {
                "handed_over" => outcomes.handed_over += 1,
                "partially_handed_over" => outcomes.partially_handed_over += 1,
                "refused" => {
                    outcomes.refused += 1;
                    *reasons.get_mut(reason.as_deref().unwrap()).unwrap() += 1;
                }
                _ => outcomes.no_show += 1,
            }
        }
        if let Some((by, _)) = o.cancelled.as_ref().filter(|(_, t)| inw(*t)) {
            *cancels.get_mut(by).unwrap() += 1;
        }
        let done = matches!(&o.outcome, Some((k, _, _)) if k != "refused" && k != "no_show");
        if done && o.handed.is_some_and(inw) {
            handed += 1;
            with_sale += u64::from(o.cross_sell);
        }
    }
    let mut revenue: BTreeMap<String, i64> = BTreeMap::new();
    for &i in &dv.cross_sell_tx {
        if inw(evs[i].at) {
            *revenue
                .entry(s(&evs[i], "currency").unwrap().to_owned())
                .or_default() += int(&evs[i], "total_minor");
        }
    }
    let total = outcomes.total;
    Pickups {
        received: by_channel.values().sum(),
        received_by_channel: by_channel,
        ready,
        ready_on_time: on_time,
        ready_on_time_rate: rate(on_time, ready),
        ready_within_min: 120,
        time_to_ready_seconds: rank(to_ready),
        counter_wait_seconds: rank(waits),
        pickup_rate: rate(outcomes.handed_over + outcomes.partially_handed_over, total),
        partial_rate: rate(outcomes.partially_handed_over, total),
        refusal_rate: rate(outcomes.refused, total),
        no_show_rate: rate(outcomes.no_show, total),
        outcomes,
        refusals_by_reason: reasons,
        cancellations: cancels,
        overdue_now: 0,
        cross_sell: CrossSell {
            handed_over_orders: handed,
            orders_with_sale: with_sale,
            rate: rate(with_sale, handed),
            revenue: revenue
                .into_iter()
                .map(|(currency, amount_minor)| CurrencyAmount {
                    currency,
                    amount_minor,
                })
                .collect(),
        },
    }
}

/// The report of `[from, to)` (and, with `days`, its per-day series).
fn expected(
    evs: &[Ev],
    dv: &Derived,
    from: Date,
    to: Date,
    now: jiff::Timestamp,
    days: bool,
) -> Report {
    let inw = |at: i64| {
        let d = day_of(at);
        d >= from && d < to
    };
    let mut scores: BTreeMap<String, Vec<i64>> = ["pickup", "checkout", "service_desk"]
        .iter()
        .map(|c| (c.to_string(), vec![]))
        .collect();
    let mut by_stage: BTreeMap<String, u64> = [
        "awareness",
        "consideration",
        "decision",
        "service",
        "loyalty",
    ]
    .iter()
    .map(|c| (c.to_string(), 0))
    .collect();
    let (mut by_device, mut silent_ident, mut silent_check) = (BTreeMap::new(), 0, 0);
    for (i, e) in evs.iter().enumerate().filter(|(_, e)| inw(e.at)) {
        if e.ty == "store.feedback.submitted" {
            scores
                .get_mut(s(e, "context").unwrap())
                .unwrap()
                .push(int(e, "score"));
        }
        if let Some(stage) = stage_of(e.ty) {
            *by_stage.get_mut(stage).unwrap() += 1;
            if let Some(d) = s(e, "device_id") {
                *by_device.entry(d.to_owned()).or_insert(0) += 1;
            }
        }
        if dv.silent.contains(&i) {
            *(if e.ty == "store.loyalty.identified" {
                &mut silent_ident
            } else {
                &mut silent_check
            }) += 1;
        }
    }
    let all: Vec<i64> = scores.values().flatten().copied().collect();
    let mut day_list = vec![];
    let mut d = from;
    while days && d < to {
        let r = expected(evs, dv, d, d.tomorrow().unwrap(), now, false);
        day_list.push(Day {
            day: d.to_string(),
            transactions: r.sales.transactions,
            revenue_minor: r
                .sales
                .by_currency
                .iter()
                .map(|c| (c.currency.clone(), c.revenue_minor))
                .collect(),
            identification_rate: r.loyalty.identification_rate,
            received: r.pickups.received,
            ready_on_time_rate: r.pickups.ready_on_time_rate,
            time_to_ready_p50: r.pickups.time_to_ready_seconds.p50,
            counter_wait_p50: r.pickups.counter_wait_seconds.p50,
            pickup_rate: r.pickups.pickup_rate,
            no_show_rate: r.pickups.no_show_rate,
            nps_answers: r.nps.overall.answers,
            nps: r.nps.overall.score,
            touchpoints: r.touchpoints.total,
        });
        d = d.tomorrow().unwrap();
    }
    Report {
        store_id: "test-store-01".into(),
        timezone: ZONE.into(),
        from: from.to_string(),
        to: to.to_string(),
        generated_at: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        sales: sales_of(evs, &inw),
        loyalty: loyalty_of(evs, dv, from, to),
        pickups: pickups_of(evs, dv, &inw),
        nps: Nps {
            overall: nps_of(&all),
            by_context: scores.iter().map(|(c, v)| (c.clone(), nps_of(v))).collect(),
        },
        touchpoints: Touchpoints {
            total: by_stage.values().sum(),
            by_stage,
            by_device,
        },
        silence: Silence {
            ready_not_reminded: 0,
            ready_not_reminded_orders: vec![],
            identified_without_sale: silent_ident,
            price_checks_without_sale: silent_check,
        },
        overdue: vec![],
        days: day_list,
    }
}

// ---- Recording and comparing ----

fn new_event(e: &Ev) -> NewEvent {
    let d = &e.data;
    let st = |k: &str| d[k].as_str().unwrap_or_default();
    let lines = [HandedLine {
        line_id: "1".into(),
        quantity: 1,
    }];
    let made = match e.ty {
        "store.pickup.received" | "store.reservation.created" => {
            let r = made::PickupReceived {
                order_id: st("order_id"),
                version: d["version"].as_i64().unwrap(),
                channel: st("channel"),
                item_count: d["item_count"].as_i64().unwrap(),
                pickup_by: st("pickup_by"),
            };
            if e.ty == "store.pickup.received" {
                NewEvent::made(&r)
            } else {
                NewEvent::made(&made::ReservationCreated(r))
            }
        }
        "store.pickup.ready" => NewEvent::made(&made::PickupReady {
            order_id: st("order_id"),
            staff_id: "anna",
            location: "A1",
            missing_lines: &[],
        }),
        "store.pickup.customer_arrived" => NewEvent::made(&made::CustomerArrived {
            order_id: st("order_id"),
            verified_by: "pass",
        }),
        "store.pickup.handed_over" => NewEvent::made(&made::HandedOver {
            order_id: st("order_id"),
            staff_id: "anna",
            verified_by: "pass",
            lines: &lines,
            partial: d["partial"] == json!(true),
            wait_seconds: None,
        }),
        "store.pickup.refused" => NewEvent::made(&made::PickupRefused {
            order_id: st("order_id"),
            staff_id: "anna",
            reason: st("reason"),
        }),
        "store.pickup.no_show" => NewEvent::made(&made::NoShow {
            order_id: st("order_id"),
            pickup_by: st("pickup_by"),
            reminders_sent: 0,
        }),
        "store.pickup.cancelled" => NewEvent::made(&made::PickupCancelled {
            order_id: st("order_id"),
            by: st("by"),
            reason: st("reason"),
        }),
        client => {
            return NewEvent::from_client(client, d.clone(), None, Some(&time_text(e.at)))
                .expect("a valid client event")
        }
    };
    let mut ev = made.expect("a valid service event");
    ev.time = Some(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at) * 1_000_000).unwrap(),
    );
    ev
}

fn time_text(at: i64) -> String {
    jiff::Timestamp::from_millisecond(at).unwrap().to_string()
}

fn settings() -> Settings {
    Settings {
        store_id: "test-store-01".into(),
        timezone_name: ZONE.into(),
        tz: tz(),
        ready_within_min: 120,
        reminder_before_s: 86_400,
    }
}

/// The windows compared: both DST days, two crossing midnight, one whose
/// lookback reaches September, an empty one, and everything.
fn windows() -> Vec<(Date, Date)> {
    vec![
        (date(2026, 3, 29), date(2026, 3, 30)),
        (date(2026, 10, 25), date(2026, 10, 26)),
        (date(2026, 3, 28), date(2026, 3, 30)),
        (date(2026, 3, 30), date(2026, 4, 2)),
        (date(2026, 10, 24), date(2026, 10, 27)),
        (date(2026, 6, 1), date(2026, 6, 3)),
        (date(2026, 3, 27), date(2026, 10, 28)),
    ]
}

/// Every window's report from the database equals the one computed here.
fn check_windows(db: &store_edge::store::Db, evs: &[Ev], dv: &Derived, step: &str) {
    let now: jiff::Timestamp = "2026-11-02T12:00:00Z".parse().unwrap();
    for (from, to) in windows() {
        let window = Window::parse(Some(&from.to_string()), Some(&to.to_string()), from).unwrap();
        let got =
            serde_json::to_value(report(db, &settings(), &window, now).expect("report")).unwrap();
        let want = serde_json::to_value(expected(evs, dv, from, to, now, true)).unwrap();
        assert_json_eq(&got, &want, &format!("{step}: window {from} to {to}"));
    }
}

/// Fractions to 12 places: serde_json reads printed floats back within an
/// ulp (without its `float_roundtrip` feature), the CLI's JSON included.
fn fractions_rounded(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => json!((n.as_f64().unwrap() * 1e12).round() / 1e12),
        Value::Array(a) => Value::Array(a.iter().map(fractions_rounded).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), fractions_rounded(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn assert_json_eq(got: &Value, want: &Value, what: &str) {
    let (got, want) = (&fractions_rounded(got), &fractions_rounded(want));
    if got != want {
        let g = serde_json::to_string_pretty(got).unwrap();
        let w = serde_json::to_string_pretty(want).unwrap();
        let first = g
            .lines()
            .zip(w.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let ctx = |t: &str| {
            t.lines()
                .skip(first.saturating_sub(12))
                .take(24)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{what}: the report differs from the count at line {first}\n--- got\n{}\n--- want\n{}",
            ctx(&g),
            ctx(&w)
        );
    }
}

/// The writer of a fresh database in Europe/Berlin that prunes sent
/// events at once (`retain_sent_days = 0`).
fn start_writer(
    path: &std::path::Path,
) -> (store_edge::store::Writer, std::thread::JoinHandle<()>) {
    let db = store_edge::store::open_for_writing(path, "test-store-01").unwrap();
    let settings = store_edge::store::WriterSettings::new(path.to_path_buf(), 1 << 30, 0, tz());
    store_edge::store::Writer::start(
        db,
        settings,
        Arc::new(store_edge::telemetry::Metrics::new()),
    )
    .unwrap()
}

async fn record(writer: &store_edge::store::Writer, evs: &[Ev]) {
    for chunk in evs.chunks(64) {
        writer
            .append(chunk.iter().map(new_event).collect(), None)
            .await
            .expect("recorded");
    }
}

/// Marks every event sent, as a batch central accepted, and waits until
/// the writer's retention deleted them all.
async fn deliver_and_prune(
    writer: &store_edge::store::Writer,
    db: &store_edge::store::Db,
    path: &std::path::Path,
    n: u64,
) {
    use store_edge::store::sync::{apply_results, create_batch, BatchRange, EventFate};
    writer
        .run(0, move |ctx| {
            let batch = BatchRange {
                key: "all".into(),
                first_seq: 1,
                last_seq: n,
            };
            create_batch(ctx, &batch)?;
            let fates: Vec<_> = (1..=n).map(|s| (s, EventFate::Delivered)).collect();
            apply_results(ctx, "all", &fates)
        })
        .await
        .expect("marked sent");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        writer.tick().unwrap();
        let left = store_edge::store::read::status(db, path)
            .unwrap()
            .events_stored;
        if left == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} sent events still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_histories_every_kpi_exact_across_dst_midnight_late_events_and_pruning() {
    for seed in [7, 2026] {
        let evs = generate(seed, 160, 12);
        let dv = derive(&evs);
        assert!(
            dv.identified.len() > 20 && !dv.silent.is_empty() && !dv.cross_sell_tx.is_empty(),
            "the history exercises every rule"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kpi.db");
        let (writer, thread) = start_writer(&path);
        record(&writer, &evs).await;
        let db = store_edge::store::open_existing(&path, "test-store-01").unwrap();
        check_windows(&db, &evs, &dv, &format!("seed {seed}, recorded"));
        deliver_and_prune(&writer, &db, &path, evs.len() as u64).await;
        check_windows(&db, &evs, &dv, &format!("seed {seed}, raw events pruned"));
        drop(writer);
        thread.join().unwrap();
    }
}

/// The real path end to end: a running service in Europe/Berlin takes the
/// touchpoints and sales over HTTP (arrays, some late), and
/// `store-edge kpi --json` prints exactly the report counted here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kpi_command_of_a_running_service_prints_the_report_counted_independently() {
    let mut svc = crate::common::Service::new("", "");
    let text = std::fs::read_to_string(&svc.config)
        .unwrap()
        .replace("timezone = \"UTC\"", &format!("timezone = \"{ZONE}\""));
    std::fs::write(&svc.config, text).unwrap();
    svc.start().await;
    let pos = svc.token("pos", "till");
    let evs = generate(99, 60, 0);
    let client = crate::common::http();
    for chunk in evs.chunks(50) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|e| json!({"type": e.ty, "time": time_text(e.at), "data": e.data}))
            .collect();
        let r = client
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&pos)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    let dv = derive(&evs);
    for (from, to) in [
        (date(2026, 3, 28), date(2026, 3, 31)),
        (date(2026, 10, 25), date(2026, 10, 26)),
    ] {
        let out = svc.cli(&[
            "kpi",
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        let now: jiff::Timestamp = got["generated_at"].as_str().unwrap().parse().unwrap();
        let want = serde_json::to_value(expected(&evs, &dv, from, to, now, true)).unwrap();
        got["generated_at"] = want["generated_at"].clone();
        assert_json_eq(&got, &want, &format!("kpi --json {from} to {to}"));
    }
    let csv = svc.cli(&[
        "kpi",
        "--from",
        "2026-03-29",
        "--to",
        "2026-03-30",
        "--format",
        "csv",
    ]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.starts_with("section,metric,dim,value\n") && csv.contains("\nnps,answers,overall,"),
        "{csv}"
    );
    let bad = svc.cli(&["kpi", "--from", "2026-03-29"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "one bound alone is a usage error"
    );
}
