//! Turns the rows of `store::kpi_query` into the [`Report`]: sums, rates,
//! percentiles and NPS by the rules of KPI.md (`rules.rs`), per window and
//! per local day. No SQL, no clock: the caller passes `now`.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::report::*;
use super::rules::{self, ScoreCounts};
use super::{KpiError, Settings, Window};
use crate::store::kpi_query::{self, OrderFacts, Rollup};
use crate::store::ReadConn;

/// The five journey stages (all always in `by_stage`).
pub const STAGES: [&str; 5] = [
    "awareness",
    "consideration",
    "decision",
    "service",
    "loyalty",
];
/// The feedback contexts always in `nps.by_context`.
pub const NPS_CONTEXTS: [&str; 3] = ["pickup", "checkout", "service_desk"];
/// The refusal reasons always in `refusals_by_reason`.
pub const REFUSAL_REASONS: [&str; 4] = ["damaged", "wrong_item", "changed_mind", "other"];
/// The sides always in `cancellations`.
pub const CANCELLED_BY: [&str; 2] = ["central", "store"];

/// Rollups summed by metric, then dim (nested so that adding to and
/// reading a known (metric, dim) borrows instead of allocating a key: a
/// year's report adds ~13,000 rows twice).
#[derive(Debug, Default)]
struct Sums(BTreeMap<String, BTreeMap<String, i64>>);

impl Sums {
    fn add(&mut self, r: &Rollup) {
        let dims = match self.0.get_mut(r.metric.as_str()) {
            Some(dims) => dims,
            None => self.0.entry(r.metric.clone()).or_default(),
        };
        match dims.get_mut(r.dim.as_str()) {
            Some(n) => *n += r.n,
            None => {
                dims.insert(r.dim.clone(), r.n);
            }
        }
    }
    fn get(&self, metric: &str, dim: &str) -> i64 {
        self.0
            .get(metric)
            .and_then(|dims| dims.get(dim))
            .copied()
            .unwrap_or(0)
    }
    fn count(&self, metric: &str, dim: &str) -> u64 {
        self.get(metric, dim).max(0) as u64
    }
    /// (dim, n) of one metric, by dim.
    fn dims<'a>(&'a self, metric: &str) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.0
            .get(metric)
            .into_iter()
            .flat_map(|dims| dims.iter().map(|(d, n)| (d.as_str(), *n)))
    }
    fn total(&self, metric: &str) -> i64 {
        self.dims(metric).map(|(_, n)| n).sum()
    }
}

fn time_text(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Windows longer than this read the whole order fact table in one pass
/// rather than the orders of the window by the day indexes: past a month
/// the pass is the cheaper (`kpi_query::order_facts`).
const ORDER_SCAN_DAYS: i64 = 31;

fn whole_table(window: &Window) -> bool {
    window.len_days() > ORDER_SCAN_DAYS
}

/// Reads everything a window needs and builds the whole report.
pub(super) fn report(
    conn: &ReadConn,
    settings: &Settings,
    window: &Window,
    now: Timestamp,
) -> Result<Report, KpiError> {
    let (from, to) = (window.from.to_string(), window.to.to_string());
    let rows = kpi_query::rollups(conn, &from, &to)?;
    let facts = kpi_query::order_facts(conn, &from, &to, whole_table(window))?;
    let lookback = window.lookback()?.from.to_string();
    let customers = kpi_query::customers(conn, &from, &to, &lookback)?;
    let (overdue, silent_orders) = now_figures(conn, settings, now)?;

    let mut total = Sums::default();
    let mut by_day: BTreeMap<&str, Sums> = BTreeMap::new();
    for r in &rows {
        total.add(r);
        by_day.entry(r.day.as_str()).or_default().add(r);
    }

    let pickups = pickups(&facts, settings, &total, overdue.len() as u64);
    let tx = total.total("tx").max(0) as u64;
    let identified = total.count("tx_identified", "");
    let visits = total.count("visits", "");
    let facts_by_day = DayFacts::group(&facts);
    let (empty_sums, empty_facts) = (Sums::default(), DayFacts::default());
    let days = window
        .days()
        .into_iter()
        .map(|d| {
            let day = d.to_string();
            let sums = by_day.get(day.as_str()).unwrap_or(&empty_sums);
            let facts = facts_by_day.get(day.as_str()).unwrap_or(&empty_facts);
            day_figures(day, sums, facts, settings)
        })
        .collect();

    Ok(Report {
        store_id: settings.store_id.clone(),
        timezone: settings.timezone_name.clone(),
        from,
        to,
        generated_at: time_text(now),
        sales: sales(&total),
        loyalty: Loyalty {
            identified_transactions: identified,
            identification_rate: rules::rate(identified, tx),
            identified_customers: customers.customers,
            visits,
            repeat_visits: rules::rate(visits, customers.customers),
            returning_customers: customers.returning,
            retention: rules::rate(customers.returning, customers.customers),
        },
        pickups,
        nps: nps(&total),
        touchpoints: touchpoints(&total),
        silence: Silence {
            ready_not_reminded: silent_orders.len() as u64,
            ready_not_reminded_orders: silent_orders,
            identified_without_sale: total.count("silent_ident", ""),
            price_checks_without_sale: total.count("silent_price_check", ""),
        },
        overdue,
        days,
    })
}

/// The click-and-collect part only.
pub(super) fn pickups_report(
    conn: &ReadConn,
    settings: &Settings,
    window: &Window,
    now: Timestamp,
) -> Result<PickupsReport, KpiError> {
    let (from, to) = (window.from.to_string(), window.to.to_string());
    // Only the cross-sell revenue comes from the rollups.
    let mut total = Sums::default();
    for r in kpi_query::rollups(conn, &from, &to)?
        .iter()
        .filter(|r| r.metric == "cross_sell_revenue")
    {
        total.add(r);
    }
    let facts = kpi_query::order_facts(conn, &from, &to, whole_table(window))?;
    let (overdue, _) = now_figures(conn, settings, now)?;
    Ok(PickupsReport {
        store_id: settings.store_id.clone(),
        timezone: settings.timezone_name.clone(),
        from,
        to,
        generated_at: time_text(now),
        pickups: pickups(&facts, settings, &total, overdue.len() as u64),
        overdue,
    })
}

/// The overdue list and the ready orders nobody reminded, now.
fn now_figures(
    conn: &ReadConn,
    settings: &Settings,
    now: Timestamp,
) -> Result<(Vec<OverdueOrder>, Vec<String>), KpiError> {
    let now_s = now.as_second();
    let overdue = kpi_query::overdue(conn, now_s)?
        .into_iter()
        .map(|o| OverdueOrder {
            pickup_by: Timestamp::from_second(o.pickup_by_unix)
                .map(time_text)
                .unwrap_or_default(),
            minutes_overdue: (now_s - o.pickup_by_unix).div_euclid(60),
            order_id: o.order_id,
            state: o.state,
            item_count: o.item_count,
        })
        .collect();
    let until = now_s.saturating_add(settings.reminder_before_s as i64);
    let silent = kpi_query::ready_not_reminded(conn, now_s, until)?;
    Ok((overdue, silent))
}

fn sales(total: &Sums) -> Sales {
    let by_currency: Vec<CurrencySales> = total
        .dims("tx")
        .map(|(cur, n)| {
            let revenue = total.get("revenue", cur);
            CurrencySales {
                currency: cur.to_owned(),
                transactions: n.max(0) as u64,
                revenue_minor: revenue,
                average_order_value_minor: if n > 0 {
                    rules::div_round(revenue, n)
                } else {
                    0
                },
                items: total.count("items", cur),
            }
        })
        .collect();
    let transactions: u64 = by_currency.iter().map(|c| c.transactions).sum();
    let items: u64 = by_currency.iter().map(|c| c.items).sum();
    Sales {
        transactions,
        items_per_transaction: rules::rate(items, transactions),
        by_currency,
    }
}

/// Answers by context from the `nps` rollups (`<context>:<score>`).
fn score_counts(sums: &Sums) -> BTreeMap<String, ScoreCounts> {
    let mut out: BTreeMap<String, ScoreCounts> = NPS_CONTEXTS
        .iter()
        .map(|c| ((*c).to_owned(), [0; 11]))
        .collect();
    for (dim, n) in sums.dims("nps") {
        let Some((context, score)) = dim.rsplit_once(':') else {
            continue;
        };
        let Ok(score) = score.parse::<usize>() else {
            continue;
        };
        if let Some(slot) = out
            .entry(context.to_owned())
            .or_insert([0; 11])
            .get_mut(score)
        {
            *slot += n.max(0) as u64;
        }
    }
    out
}

fn overall(by_context: &BTreeMap<String, ScoreCounts>) -> ScoreCounts {
    let mut all = [0; 11];
    for counts in by_context.values() {
        for (a, c) in all.iter_mut().zip(counts) {
            *a += c;
        }
    }
    all
}

fn nps(total: &Sums) -> Nps {
    let by_context = score_counts(total);
    Nps {
        overall: rules::nps(&overall(&by_context)),
        by_context: by_context
            .iter()
            .map(|(c, counts)| (c.clone(), rules::nps(counts)))
            .collect(),
    }
}

fn touchpoints(total: &Sums) -> Touchpoints {
    let mut by_stage: BTreeMap<String, u64> = STAGES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    for (stage, n) in total.dims("stage") {
        *by_stage.entry(stage.to_owned()).or_default() += n.max(0) as u64;
    }
    let by_device = total
        .dims("device")
        .map(|(d, n)| (d.to_owned(), n.max(0) as u64))
        .collect();
    Touchpoints {
        total: by_stage.values().sum(),
        by_stage,
        by_device,
    }
}

/// Outcome counts of some outcome rows.
fn outcomes<'a>(
    rows: impl Iterator<Item = &'a kpi_query::Outcome>,
) -> (Outcomes, BTreeMap<String, u64>) {
    let mut o = Outcomes {
        total: 0,
        handed_over: 0,
        partially_handed_over: 0,
        refused: 0,
        no_show: 0,
    };
    let mut reasons: BTreeMap<String, u64> = REFUSAL_REASONS
        .iter()
        .map(|r| ((*r).to_owned(), 0))
        .collect();
    for r in rows {
        o.total += r.n;
        match r.outcome.as_str() {
            "handed_over" => o.handed_over += r.n,
            "partially_handed_over" => o.partially_handed_over += r.n,
            "refused" => {
                o.refused += r.n;
                let reason = r.refusal_reason.clone().unwrap_or_else(|| "other".into());
                *reasons.entry(reason).or_default() += r.n;
            }
            _ => o.no_show += r.n,
        }
    }
    (o, reasons)
}

fn on_time(span: &kpi_query::Span, settings: &Settings) -> bool {
    span.end_ms - span.start_ms <= i64::from(settings.ready_within_min) * 60_000
}

fn seconds(spans: &[&kpi_query::Span]) -> Vec<i64> {
    spans
        .iter()
        .map(|s| rules::seconds_between(s.start_ms, s.end_ms))
        .collect()
}

fn pickups(facts: &OrderFacts, settings: &Settings, total: &Sums, overdue_now: u64) -> Pickups {
    let mut received_by_channel: BTreeMap<String, u64> = BTreeMap::new();
    for r in &facts.received {
        *received_by_channel.entry(r.channel.clone()).or_default() += r.n;
    }
    let ready: Vec<_> = facts.ready.iter().collect();
    let ready_on_time = ready.iter().filter(|s| on_time(s, settings)).count() as u64;
    let waits: Vec<_> = facts.counter_wait.iter().collect();
    let (outcomes, refusals_by_reason) = outcomes(facts.outcomes.iter());
    let mut cancellations: BTreeMap<String, u64> =
        CANCELLED_BY.iter().map(|s| ((*s).to_owned(), 0)).collect();
    for (by, n) in &facts.cancellations {
        *cancellations.entry(by.clone()).or_default() += n;
    }
    let handed = outcomes.handed_over + outcomes.partially_handed_over;
    Pickups {
        received: received_by_channel.values().sum(),
        received_by_channel,
        ready: ready.len() as u64,
        ready_on_time,
        ready_on_time_rate: rules::rate(ready_on_time, ready.len() as u64),
        ready_within_min: settings.ready_within_min,
        time_to_ready_seconds: rules::percentiles(seconds(&ready)),
        counter_wait_seconds: rules::percentiles(seconds(&waits)),
        pickup_rate: rules::rate(handed, outcomes.total),
        partial_rate: rules::rate(outcomes.partially_handed_over, outcomes.total),
        refusal_rate: rules::rate(outcomes.refused, outcomes.total),
        no_show_rate: rules::rate(outcomes.no_show, outcomes.total),
        outcomes,
        refusals_by_reason,
        cancellations,
        overdue_now,
        cross_sell: CrossSell {
            handed_over_orders: facts.handed_over,
            orders_with_sale: facts.handed_over_with_sale,
            rate: rules::rate(facts.handed_over_with_sale, facts.handed_over),
            revenue: total
                .dims("cross_sell_revenue")
                .map(|(c, n)| CurrencyAmount {
                    currency: c.to_owned(),
                    amount_minor: n,
                })
                .collect(),
        },
    }
}

/// The order facts of one day (grouped once, not filtered per day).
#[derive(Debug, Default)]
struct DayFacts<'a> {
    received: u64,
    ready: Vec<&'a kpi_query::Span>,
    waits: Vec<&'a kpi_query::Span>,
    outcomes: Vec<&'a kpi_query::Outcome>,
}

impl<'a> DayFacts<'a> {
    fn group(facts: &'a OrderFacts) -> BTreeMap<&'a str, DayFacts<'a>> {
        let mut out: BTreeMap<&str, DayFacts<'_>> = BTreeMap::new();
        for r in &facts.received {
            out.entry(&r.day).or_default().received += r.n;
        }
        for s in &facts.ready {
            out.entry(&s.day).or_default().ready.push(s);
        }
        for s in &facts.counter_wait {
            out.entry(&s.day).or_default().waits.push(s);
        }
        for o in &facts.outcomes {
            out.entry(&o.day).or_default().outcomes.push(o);
        }
        out
    }
}

fn day_figures(day: String, sums: &Sums, facts: &DayFacts<'_>, settings: &Settings) -> Day {
    let tx = sums.total("tx").max(0) as u64;
    let ready_on_time = facts.ready.iter().filter(|s| on_time(s, settings)).count() as u64;
    let mut ready_s = seconds(&facts.ready);
    ready_s.sort_unstable();
    let mut waits = seconds(&facts.waits);
    waits.sort_unstable();
    let (outcomes, _) = outcomes(facts.outcomes.iter().copied());
    let nps = rules::nps(&overall(&score_counts(sums)));
    Day {
        transactions: tx,
        revenue_minor: sums
            .dims("revenue")
            .map(|(c, n)| (c.to_owned(), n))
            .collect(),
        identification_rate: rules::rate(sums.count("tx_identified", ""), tx),
        received: facts.received,
        ready_on_time_rate: rules::rate(ready_on_time, facts.ready.len() as u64),
        time_to_ready_p50: rules::nearest_rank(&ready_s, 50),
        counter_wait_p50: rules::nearest_rank(&waits, 50),
        pickup_rate: rules::rate(
            outcomes.handed_over + outcomes.partially_handed_over,
            outcomes.total,
        ),
        no_show_rate: rules::rate(outcomes.no_show, outcomes.total),
        nps_answers: nps.answers,
        nps: nps.score,
        touchpoints: sums.total("stage").max(0) as u64,
        day,
    }
}
