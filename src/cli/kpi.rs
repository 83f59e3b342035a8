//! `store-edge kpi`: the store's KPIs of a window of local days (KPI.md),
//! read-only like the other listing commands (works while the service
//! runs). Table (one block per section), CSV (`section,metric,dim,value`)
//! or JSON (the `Report`, as `GET /api/v1/kpis` answers).

use clap::{Args, Subcommand, ValueEnum};

use super::{print_json, CliError};
use crate::config::Config;
use crate::kpi::{self, Report, Window};
use crate::store::{self, kpi_verify};
use crate::telemetry::out::outln;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Kpi {
    #[command(subcommand)]
    pub command: Option<KpiCommand>,
    /// First local day, YYYY-MM-DD (with --to; both absent: today so far).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// The day after the last, YYYY-MM-DD (exclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    /// table (one block per section), json (the report) or csv (section,metric,dim,value).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// Recompute every day whose raw events are all still present (and
    /// those of the 14 days before it) and compare with the rollups kept;
    /// names the days skipped (pruned) and the days that differ. Exit 1
    /// when a day differs.
    Verify {
        /// Replace the rollups of the verifiable days with the recomputation
        /// (local days from `time` in store.timezone, e.g. after a time-zone
        /// change); the others are kept. Stop the service first: it holds
        /// the write lock while it runs.
        #[arg(long)]
        rebuild: bool,
        /// Print JSON with stable field names instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config: &Config, args: Kpi) -> Result<(), CliError> {
    if let Some(KpiCommand::Verify { rebuild, json }) = args.command {
        return verify(config, rebuild, json);
    }
    let settings = kpi::Settings::from_config(config);
    let now = jiff::Timestamp::now();
    let today = kpi::local_today(&settings.tz, now);
    let window = Window::parse(args.from.as_deref(), args.to.as_deref(), today)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let conn = store::open_existing(&config.storage.path, &config.store.id)?;
    let report = kpi::report(&conn, &settings, &window, now).map_err(|e| match e {
        kpi::KpiError::Window(w) => CliError::Usage(w),
        kpi::KpiError::Store(s) => s.into(),
    })?;
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Json => print_json(&report),
        Format::Csv => {
            for line in csv_lines(&report) {
                outln!("{line}")?;
            }
            Ok(())
        }
        Format::Table => {
            for line in table_lines(&report) {
                outln!("{line}")?;
            }
            Ok(())
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `section,metric,dim,value` lines with a header; a missing value (a rate
/// without a denominator, a score without enough answers) is empty.
pub fn csv_lines(r: &Report) -> Vec<String> {
    let mut rows: Vec<(&str, String, String, String)> = Vec::new();
    let mut add = |s: &'static str, m: &str, d: &str, v: String| {
        rows.push((s, m.to_owned(), d.to_owned(), v));
    };
    add("window", "from", "", r.from.clone());
    add("window", "to", "", r.to.clone());
    add("window", "timezone", "", r.timezone.clone());
    let s = &r.sales;
    add("sales", "transactions", "", s.transactions.to_string());
    add(
        "sales",
        "items_per_transaction",
        "",
        opt(s.items_per_transaction),
    );
    for c in &s.by_currency {
        add(
            "sales",
            "transactions",
            &c.currency,
            c.transactions.to_string(),
        );
        add(
            "sales",
            "revenue_minor",
            &c.currency,
            c.revenue_minor.to_string(),
        );
        add(
            "sales",
            "average_order_value_minor",
            &c.currency,
            c.average_order_value_minor.to_string(),
        );
        add("sales", "items", &c.currency, c.items.to_string());
    }
    let l = &r.loyalty;
    add(
        "loyalty",
        "identified_transactions",
        "",
        l.identified_transactions.to_string(),
    );
    add(
        "loyalty",
        "identification_rate",
        "",
        opt(l.identification_rate),
    );
    add(
        "loyalty",
        "identified_customers",
        "",
        l.identified_customers.to_string(),
    );
    add("loyalty", "visits", "", l.visits.to_string());
    add("loyalty", "repeat_visits", "", opt(l.repeat_visits));
    add(
        "loyalty",
        "returning_customers",
        "",
        l.returning_customers.to_string(),
    );
    add("loyalty", "retention", "", opt(l.retention));
    let p = &r.pickups;
    add("pickups", "received", "", p.received.to_string());
    for (ch, n) in &p.received_by_channel {
        add("pickups", "received", ch, n.to_string());
    }
    add("pickups", "ready", "", p.ready.to_string());
    add("pickups", "ready_on_time", "", p.ready_on_time.to_string());
    add(
        "pickups",
        "ready_on_time_rate",
        "",
        opt(p.ready_on_time_rate),
    );
    add(
        "pickups",
        "ready_within_min",
        "",
        p.ready_within_min.to_string(),
    );
    for (name, pc) in [
        ("time_to_ready_seconds", &p.time_to_ready_seconds),
        ("counter_wait_seconds", &p.counter_wait_seconds),
    ] {
        add("pickups", name, "count", pc.count.to_string());
        add("pickups", name, "p50", opt(pc.p50));
        add("pickups", name, "p90", opt(pc.p90));
    }
    let o = &p.outcomes;
    for (name, n) in [
        ("total", o.total),
        ("handed_over", o.handed_over),
        ("partially_handed_over", o.partially_handed_over),
        ("refused", o.refused),
        ("no_show", o.no_show),
    ] {
        add("pickups", "outcomes", name, n.to_string());
    }
    add("pickups", "pickup_rate", "", opt(p.pickup_rate));
    add("pickups", "partial_rate", "", opt(p.partial_rate));
    add("pickups", "refusal_rate", "", opt(p.refusal_rate));
    add("pickups", "no_show_rate", "", opt(p.no_show_rate));
    for (reason, n) in &p.refusals_by_reason {
        add("pickups", "refusals", reason, n.to_string());
    }
    for (by, n) in &p.cancellations {
        add("pickups", "cancellations", by, n.to_string());
    }
    add("pickups", "overdue_now", "", p.overdue_now.to_string());
    let x = &p.cross_sell;
    add(
        "pickups",
        "cross_sell_handed_over_orders",
        "",
        x.handed_over_orders.to_string(),
    );
    add(
        "pickups",
        "cross_sell_orders_with_sale",
        "",
        x.orders_with_sale.to_string(),
    );
    add("pickups", "cross_sell_rate", "", opt(x.rate));
    for a in &x.revenue {
        add(
            "pickups",
            "cross_sell_revenue_minor",
            &a.currency,
            a.amount_minor.to_string(),
        );
    }
    let mut nps = vec![("overall", &r.nps.overall)];
    nps.extend(r.nps.by_context.iter().map(|(c, s)| (c.as_str(), s)));
    for (ctx, s) in nps {
        add("nps", "answers", ctx, s.answers.to_string());
        add("nps", "promoters", ctx, s.promoters.to_string());
        add("nps", "passives", ctx, s.passives.to_string());
        add("nps", "detractors", ctx, s.detractors.to_string());
        add("nps", "score", ctx, opt(s.score));
    }
    add("touchpoints", "total", "", r.touchpoints.total.to_string());
    for (st, n) in &r.touchpoints.by_stage {
        add("touchpoints", "stage", st, n.to_string());
    }
    for (dev, n) in &r.touchpoints.by_device {
        add("touchpoints", "device", dev, n.to_string());
    }
    let si = &r.silence;
    add(
        "silence",
        "ready_not_reminded",
        "",
        si.ready_not_reminded.to_string(),
    );
    for id in &si.ready_not_reminded_orders {
        add("silence", "ready_not_reminded_order", id, "1".into());
    }
    add(
        "silence",
        "identified_without_sale",
        "",
        si.identified_without_sale.to_string(),
    );
    add(
        "silence",
        "price_checks_without_sale",
        "",
        si.price_checks_without_sale.to_string(),
    );
    for o in &r.overdue {
        add(
            "overdue",
            "minutes_overdue",
            &o.order_id,
            o.minutes_overdue.to_string(),
        );
    }
    for d in &r.days {
        add("days", "transactions", &d.day, d.transactions.to_string());
        for (cur, v) in &d.revenue_minor {
            add(
                "days",
                &format!("revenue_minor_{cur}"),
                &d.day,
                v.to_string(),
            );
        }
        add(
            "days",
            "identification_rate",
            &d.day,
            opt(d.identification_rate),
        );
        add("days", "received", &d.day, d.received.to_string());
        add(
            "days",
            "ready_on_time_rate",
            &d.day,
            opt(d.ready_on_time_rate),
        );
        add(
            "days",
            "time_to_ready_p50",
            &d.day,
            opt(d.time_to_ready_p50),
        );
        add("days", "counter_wait_p50", &d.day, opt(d.counter_wait_p50));
        add("days", "pickup_rate", &d.day, opt(d.pickup_rate));
        add("days", "no_show_rate", &d.day, opt(d.no_show_rate));
        add("days", "nps_answers", &d.day, d.nps_answers.to_string());
        add("days", "nps", &d.day, opt(d.nps));
        add("days", "touchpoints", &d.day, d.touchpoints.to_string());
    }
    let mut out = vec!["section,metric,dim,value".to_owned()];
    out.extend(
        rows.into_iter().map(|(s, m, d, v)| {
            format!("{s},{},{},{}", csv_field(&m), csv_field(&d), csv_field(&v))
        }),
    );
    out
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn secs(v: Option<i64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        Some(s) => format!("{}m {:02}s", s / 60, s % 60),
    }
}

/// Digits after the decimal point of a currency's minor unit (ISO 4217;
/// 2 unless listed).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

fn money(minor: i64, currency: &str) -> String {
    let e = exponent(currency);
    if e == 0 {
        return format!("{minor} {currency}");
    }
    let unit = 10i64.pow(e);
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0w$} {currency}",
        m / unit as u64,
        m % unit as u64,
        w = e as usize
    )
}

/// One readable block per section.
pub fn table_lines(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = |s: String| out.push(s);
    let row = |label: &str, value: String| format!("  {label:<30} {value}");
    line(format!(
        "KPIs of store {} from {} to {} (exclusive), {}",
        r.store_id, r.from, r.to, r.timezone
    ));
    line(String::new());
    line("Sales".into());
    line(row("transactions", r.sales.transactions.to_string()));
    line(row(
        "items per transaction",
        num(r.sales.items_per_transaction),
    ));
    for c in &r.sales.by_currency {
        line(row(
            &format!("{} revenue", c.currency),
            format!(
                "{} in {} transactions, average {}",
                money(c.revenue_minor, &c.currency),
                c.transactions,
                money(c.average_order_value_minor, &c.currency)
            ),
        ));
    }
    line(String::new());
    let l = &r.loyalty;
    line("Loyalty".into());
    line(row(
        "identification rate",
        format!(
            "{} ({} transactions)",
            pct(l.identification_rate),
            l.identified_transactions
        ),
    ));
    line(row(
        "identified customers",
        l.identified_customers.to_string(),
    ));
    line(row(
        "visits",
        format!("{} ({} per customer)", l.visits, num(l.repeat_visits)),
    ));
    line(row(
        "retention (90 days before)",
        format!("{} ({} returning)", pct(l.retention), l.returning_customers),
    ));
    line(String::new());
    let p = &r.pickups;
    line("Click and collect".into());
    let channels: Vec<String> = p
        .received_by_channel
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    line(row(
        "received",
        format!(
            "{} ({})",
            p.received,
            if channels.is_empty() {
                "-".into()
            } else {
                channels.join(", ")
            }
        ),
    ));
    line(row(
        &format!("ready within {} min", p.ready_within_min),
        format!(
            "{} ({} of {})",
            pct(p.ready_on_time_rate),
            p.ready_on_time,
            p.ready
        ),
    ));
    for (label, pc) in [
        ("time to ready", &p.time_to_ready_seconds),
        ("counter wait", &p.counter_wait_seconds),
    ] {
        line(row(
            label,
            format!(
                "median {}, p90 {} ({} orders)",
                secs(pc.p50),
                secs(pc.p90),
                pc.count
            ),
        ));
    }
    let o = &p.outcomes;
    line(row(
        "outcomes",
        format!(
            "{} (handed over {}, partially {}, refused {}, no-show {})",
            o.total, o.handed_over, o.partially_handed_over, o.refused, o.no_show
        ),
    ));
    line(row("pickup rate", pct(p.pickup_rate)));
    line(row("no-show rate", pct(p.no_show_rate)));
    line(row("partial rate", pct(p.partial_rate)));
    line(row("refusal rate", pct(p.refusal_rate)));
    let reasons: Vec<String> = p
        .refusals_by_reason
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    line(row("refusals by reason", reasons.join(", ")));
    let cancels: Vec<String> = p
        .cancellations
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    line(row("cancellations", cancels.join(", ")));
    let x = &p.cross_sell;
    let revenue: Vec<String> = x
        .revenue
        .iter()
        .map(|a| money(a.amount_minor, &a.currency))
        .collect();
    line(row(
        "cross-sell at pickup",
        format!(
            "{} ({} of {} handed-over orders{}{})",
            pct(x.rate),
            x.orders_with_sale,
            x.handed_over_orders,
            if revenue.is_empty() { "" } else { ", revenue " },
            revenue.join(", ")
        ),
    ));
    line(row("overdue now", p.overdue_now.to_string()));
    line(String::new());
    line("NPS".into());
    let score = |s: &kpi::NpsScore| match s.score {
        Some(v) => format!("{v} ({} answers)", s.answers),
        None => format!("not enough answers ({} of 10)", s.answers),
    };
    line(row("overall", score(&r.nps.overall)));
    for (c, s) in &r.nps.by_context {
        line(row(c, score(s)));
    }
    line(String::new());
    line("Touchpoints".into());
    line(row("total", r.touchpoints.total.to_string()));
    for (s, n) in &r.touchpoints.by_stage {
        line(row(s, n.to_string()));
    }
    for (d, n) in &r.touchpoints.by_device {
        line(row(&format!("device {d}"), n.to_string()));
    }
    line(String::new());
    let si = &r.silence;
    line("Moments of silence".into());
    line(row(
        "ready, nobody reminded",
        if si.ready_not_reminded_orders.is_empty() {
            "0".into()
        } else {
            format!(
                "{} ({})",
                si.ready_not_reminded,
                si.ready_not_reminded_orders.join(", ")
            )
        },
    ));
    line(row(
        "identified, no sale in 30 min",
        si.identified_without_sale.to_string(),
    ));
    line(row(
        "price check, no sale in 10 min",
        si.price_checks_without_sale.to_string(),
    ));
    line(String::new());
    line(format!("Overdue now ({})", r.overdue.len()));
    for o in &r.overdue {
        line(format!(
            "  {:<24} {:<10} due {}  {} min overdue, {} items",
            o.order_id, o.state, o.pickup_by, o.minutes_overdue, o.item_count
        ));
    }
    if r.days.len() > 1 {
        line(String::new());
        line("Days".into());
        line(format!(
            "  {:<10} {:>6} {:>9} {:>8} {:>9} {:>6} {:>8}",
            "DAY", "TX", "IDENT", "RECEIVED", "PICKUP", "NPS", "TOUCH"
        ));
        for d in &r.days {
            line(format!(
                "  {:<10} {:>6} {:>9} {:>8} {:>9} {:>6} {:>8}",
                d.day,
                d.transactions,
                pct(d.identification_rate),
                d.received,
                pct(d.pickup_rate),
                d.nps.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                d.touchpoints
            ));
        }
    }
    out
}

/// `kpi verify [--rebuild]`: exit 1 when a day differs.
fn verify(config: &Config, rebuild: bool, json: bool) -> Result<(), CliError> {
    let conn = store::open_existing(&config.storage.path, &config.store.id)?;
    let mut progress = |done: u64, total: u64| {
        if total >= 100_000 {
            eprintln!("replayed {done} of {total} events");
        }
    };
    let report = if rebuild {
        kpi_verify::rebuild(&conn, &config.store.tz, &mut progress)?
    } else {
        kpi_verify::verify(&conn, &config.store.tz, &mut progress)?
    };
    if json {
        print_json(&report)?;
    } else {
        outln!("events replayed  {}", report.events)?;
        outln!("days equal       {}", report.equal.len())?;
        outln!(
            "days skipped     {} (raw events pruned){}",
            report.skipped.len(),
            list(&report.skipped)
        )?;
        if rebuild {
            outln!("days rebuilt     {}", report.rebuilt.len())?;
            outln!(
                "days kept        {}{}",
                report.kept.len(),
                list(&report.kept)
            )?;
        }
        outln!("days different   {}", report.differ.len())?;
        for d in &report.differ {
            outln!("  {} differs in {}", d.day, d.tables.join(", "))?;
        }
    }
    if !rebuild && !report.is_clean() {
        return Err(CliError::Runtime(format!(
            "{} day(s) differ from a recomputation: {}",
            report.differ.len(),
            report
                .differ
                .iter()
                .map(|d| d.day.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// `: a, b, c` (at most 10, then `…`), or nothing.
fn list(days: &[String]) -> String {
    if days.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = days.iter().take(10).map(String::as_str).collect();
    let more = if days.len() > 10 { ", …" } else { "" };
    format!(": {}{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currency_minor_unit() {
        assert_eq!(money(123_456, "EUR"), "1234.56 EUR");
        assert_eq!(money(-5, "EUR"), "-0.05 EUR");
        assert_eq!(money(1500, "JPY"), "1500 JPY");
        assert_eq!(money(1_500, "KWD"), "1.500 KWD");
    }

    #[test]
    fn csv_fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(csv_field("till-1"), "till-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
