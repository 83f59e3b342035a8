//! The store's journey KPIs (issue 13, KPI.md): windows of whole local
//! days in `store.timezone`, the rules (nearest-rank percentiles, NPS,
//! rates) and the report that the CLI, `GET /api/v1/kpis` and the manager
//! dashboard show. The numbers come from `store::kpi_query` (rollups and
//! fact tables that `store::kpi_ingest` keeps as events are committed);
//! this folder does no SQL.

mod build;
pub mod report;
pub mod rules;
pub mod window;

pub use report::*;
pub use window::local_today;

use crate::store::{ReadConn, StoreError};

/// What a report needs besides the database.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store_id: String,
    /// `store.timezone` as written (shown in the report).
    pub timezone_name: String,
    pub tz: jiff::tz::TimeZone,
    /// `[kpi] ready_within_min`.
    pub ready_within_min: u32,
    /// `pickup.reminder_before_h` in seconds: how far ahead the due list
    /// looks (the pickup board's `due`), for the ready orders nobody
    /// reminded.
    pub reminder_before_s: u64,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            store_id: config.store.id.clone(),
            timezone_name: config.store.timezone.clone(),
            tz: config.store.tz.clone(),
            ready_within_min: config.kpi.ready_within_min,
            reminder_before_s: config.pickup.reminder_before.as_secs(),
        }
    }
}

/// Whole local days `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: jiff::civil::Date,
    pub to: jiff::civil::Date,
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum KpiError {
    /// A `from`/`to` that is not a `YYYY-MM-DD` date, or `to` not after `from`.
    #[error("{0}")]
    Window(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Window {
    /// `from`/`to` as given by the CLI or the API (`YYYY-MM-DD`, `to`
    /// exclusive); both absent = today so far (`today` is the local date now,
    /// [`local_today`]); one absent, a bad date, `to` not after `from` or
    /// more than 400 days: [`KpiError::Window`] saying which.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: jiff::civil::Date,
    ) -> Result<Window, KpiError> {
        Window::parse_impl(from, to, today)
    }
}

/// The whole report of `window` (the manager and admin).
pub fn report(
    conn: &ReadConn,
    settings: &Settings,
    window: &Window,
    now: jiff::Timestamp,
) -> Result<Report, KpiError> {
    build::report(conn, settings, window, now)
}

/// The click-and-collect part of `window` (staff tablets).
pub fn pickups_report(
    conn: &ReadConn,
    settings: &Settings,
    window: &Window,
    now: jiff::Timestamp,
) -> Result<PickupsReport, KpiError> {
    build::pickups_report(conn, settings, window, now)
}
