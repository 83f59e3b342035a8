//! The store's journey KPIs (issue 13, KPI.md): windows of whole local
//! days in `store.timezone`, the rules (nearest-rank percentiles, NPS,
//! rates) and the report that the CLI, `GET /api/v1/kpis` and the manager
//! dashboard show. The numbers come from `store::kpi_query` (rollups and
//! fact tables that `store::kpi_ingest` keeps as events are committed);
//! this folder does no SQL.

pub mod report;

pub use report::*;
