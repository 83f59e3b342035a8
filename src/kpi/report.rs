//! The KPI report: what `store-edge kpi --json`, `GET /api/v1/kpis` and the
//! dashboard read. Field names are the API's (snake_case, documented in the
//! OpenAPI document). A rate is a fraction 0..=1, `null` when its
//! denominator is 0; money is integer minor units per currency; durations
//! are whole seconds.

use std::collections::BTreeMap;

use serde::Serialize;

/// The whole report of one window `[from, to)` of local days.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub store_id: String,
    pub timezone: String,
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// The day after the last, `YYYY-MM-DD` (exclusive).
    pub to: String,
    /// RFC 3339, when computed.
    pub generated_at: String,
    pub sales: Sales,
    pub loyalty: Loyalty,
    pub pickups: Pickups,
    pub nps: Nps,
    pub touchpoints: Touchpoints,
    pub silence: Silence,
    /// Orders past their pickup time now (from the order table), oldest first.
    pub overdue: Vec<OverdueOrder>,
    /// One entry per local day of the window, in order (the charts).
    pub days: Vec<Day>,
}

/// `GET /api/v1/kpis/pickups`: the click-and-collect part only (staff).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PickupsReport {
    pub store_id: String,
    pub timezone: String,
    pub from: String,
    pub to: String,
    pub generated_at: String,
    pub pickups: Pickups,
    pub overdue: Vec<OverdueOrder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sales {
    /// All currencies together.
    pub transactions: u64,
    /// Items per transaction over all currencies (`null` without any).
    pub items_per_transaction: Option<f64>,
    /// One entry per currency, by currency code.
    pub by_currency: Vec<CurrencySales>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencySales {
    pub currency: String,
    pub transactions: u64,
    pub revenue_minor: i64,
    /// revenue / transactions, rounded half away from zero to a minor unit.
    pub average_order_value_minor: i64,
    pub items: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Loyalty {
    /// Transactions with a customer token or a matching identification.
    pub identified_transactions: u64,
    pub identification_rate: Option<f64>,
    /// Distinct customer tokens of the window.
    pub identified_customers: u64,
    /// Distinct (customer, local day) pairs of the window.
    pub visits: u64,
    /// visits / identified customers.
    pub repeat_visits: Option<f64>,
    /// Customers of the window also seen in the 90 days before it.
    pub returning_customers: u64,
    pub retention: Option<f64>,
}

/// A nearest-rank median and 90th percentile with the number of values.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Pickups {
    /// First `store.pickup.received` per order plus reservations, by channel.
    pub received: u64,
    pub received_by_channel: BTreeMap<String, u64>,
    /// Orders that became ready in the window (with a known receipt).
    pub ready: u64,
    /// Of those, ready within `ready_within_min` of being received.
    pub ready_on_time: u64,
    pub ready_on_time_rate: Option<f64>,
    pub ready_within_min: u32,
    /// Received → ready, counted on the day of ready.
    pub time_to_ready_seconds: Percentiles,
    /// Arrival → handover, counted on the day of handover.
    pub counter_wait_seconds: Percentiles,
    pub outcomes: Outcomes,
    /// (handed over + partially) / outcomes.
    pub pickup_rate: Option<f64>,
    pub partial_rate: Option<f64>,
    pub refusal_rate: Option<f64>,
    pub no_show_rate: Option<f64>,
    /// damaged, wrong_item, changed_mind, other → count.
    pub refusals_by_reason: BTreeMap<String, u64>,
    /// `central` and `store` → count (not outcomes).
    pub cancellations: BTreeMap<String, u64>,
    /// Orders overdue now.
    pub overdue_now: u64,
    pub cross_sell: CrossSell,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Outcomes {
    pub total: u64,
    pub handed_over: u64,
    pub partially_handed_over: u64,
    pub refused: u64,
    pub no_show: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CrossSell {
    /// Handed-over orders (complete and partial) of the window.
    pub handed_over_orders: u64,
    /// Of those, followed within 30 minutes by a sale (by order or token).
    pub orders_with_sale: u64,
    pub rate: Option<f64>,
    /// Revenue of those sales per currency.
    pub revenue: Vec<CurrencyAmount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencyAmount {
    pub currency: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Nps {
    pub overall: NpsScore,
    /// pickup, checkout, service_desk → score (all three always present).
    pub by_context: BTreeMap<String, NpsScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NpsScore {
    pub answers: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// % promoters − % detractors, rounded to a whole number; `null` with
    /// fewer than 10 answers ("not enough answers").
    pub score: Option<i64>,
    pub enough_answers: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Touchpoints {
    pub total: u64,
    /// awareness, consideration, decision, service, loyalty (all five).
    pub by_stage: BTreeMap<String, u64>,
    /// device_id → count (events that name a device).
    pub by_device: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Silence {
    /// Ready orders on the due list now that nobody marked as reminded.
    pub ready_not_reminded: u64,
    pub ready_not_reminded_orders: Vec<String>,
    /// Identifications with no transaction on their register within 30 min.
    pub identified_without_sale: u64,
    /// Price checks with no transaction on their register within 10 min.
    pub price_checks_without_sale: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverdueOrder {
    pub order_id: String,
    pub state: String,
    /// RFC 3339.
    pub pickup_by: String,
    pub minutes_overdue: i64,
    pub item_count: u64,
}

/// One local day of the window: the figures the charts draw.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Day {
    pub day: String,
    pub transactions: u64,
    /// currency → revenue in minor units.
    pub revenue_minor: BTreeMap<String, i64>,
    pub identification_rate: Option<f64>,
    pub received: u64,
    pub ready_on_time_rate: Option<f64>,
    pub time_to_ready_p50: Option<i64>,
    pub counter_wait_p50: Option<i64>,
    pub pickup_rate: Option<f64>,
    pub no_show_rate: Option<f64>,
    pub nps_answers: u64,
    pub nps: Option<i64>,
    pub touchpoints: u64,
}
