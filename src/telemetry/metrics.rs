//! The service's Prometheus metrics in one typed struct: each notable
//! thing is a field, so a producer bumps exactly the metric it means.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub events_ingested: Counter,
    pub commit_duration: Histogram,
    pub commit_group_size: Histogram,
    pub db_size_bytes: Gauge,
    pub events_unsent: Gauge,
    pub quota_reached: Gauge,
    pub disk_full: Gauge,
    pub http_rejected: Counter,
    pub sync_batches: Counter,
    /// Labelled by `cause`: server_error, timeout, connection, malformed_answer, rate_limited, redirect, unauthorized.
    pub sync_retries: Family<Vec<(String, String)>, Counter>,
    pub sync_wire_bytes: Counter,
    pub quarantine_events: Gauge,
    pub oldest_unsent_age_seconds: Gauge,
    /// Pickup actions carried out, labelled by `action` (start-picking, ready, handover, …, no-show).
    pub pickup_actions: Family<Vec<(String, String)>, Counter>,
    /// Counter verifications, labelled by `outcome` (pass, code, or the refusal reason, locked).
    pub pickup_verifications: Family<Vec<(String, String)>, Counter>,
    /// Connections closed at once because a cap was reached, labelled by
    /// `cap` (per_client, total).
    pub api_connections_refused: Family<Vec<(String, String)>, Counter>,
    /// Open API connections.
    pub api_connections_open: Gauge,
    /// Live streams ended by the service, labelled by `why` (revoked,
    /// replaced: a token's newest stream beyond `max_streams_per_token`).
    pub api_streams_closed: Family<Vec<(String, String)>, Counter>,
    /// Live streams whose sending task still runs (it ends when the client
    /// leaves or the service closes the stream, even for a client that
    /// stopped reading).
    pub api_streams_open: Gauge,
    /// Clients dropped for being too slow, labelled by `phase`: `headers`
    /// (not sent within 10 s, or idle that long), `body` (408), `write`
    /// (stopped reading our answer), `handshake` (a TLS handshake not
    /// finished within 10 s).
    pub api_client_timeouts: Family<Vec<(String, String)>, Counter>,
    /// Staff logged in on paired tablets now (`pickup/staff_session.rs`).
    pub staff_sessions: Gauge,
    /// Pickup orders by `state`, counted at scrape time (issue 13).
    pub pickup_orders: Family<Vec<(String, String)>, Gauge>,
    /// Open pickup orders past their `pickup_by` at scrape time.
    pub pickup_orders_overdue: Gauge,
    /// Feedback answers of today (the local day in `store.timezone`).
    pub feedback_answers_today: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let events_ingested = Counter::default();
        // 50 µs .. ~1.6 s: one FULL commit is ~0.2 ms on SSD, seconds on a dying SD card.
        let commit_duration = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let commit_group_size = Histogram::new(exponential_buckets(1.0, 2.0, 15));
        let db_size_bytes = Gauge::default();
        let events_unsent = Gauge::default();
        let quota_reached = Gauge::default();
        let disk_full = Gauge::default();
        let http_rejected = Counter::default();
        let sync_batches = Counter::default();
        let sync_retries = Family::<Vec<(String, String)>, Counter>::default();
        let sync_wire_bytes = Counter::default();
        let quarantine_events = Gauge::default();
        let oldest_unsent_age_seconds = Gauge::default();
        let pickup_actions = Family::<Vec<(String, String)>, Counter>::default();
        let pickup_verifications = Family::<Vec<(String, String)>, Counter>::default();
        let api_connections_refused = Family::<Vec<(String, String)>, Counter>::default();
        let api_connections_open = Gauge::default();
        let api_streams_closed = Family::<Vec<(String, String)>, Counter>::default();
        let api_streams_open = Gauge::default();
        let api_client_timeouts = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "store_edge_api_connections_refused",
            "API connections closed at once because a cap was reached, by cap (per_client, total)",
            api_connections_refused.clone(),
        );
        registry.register(
            "store_edge_api_connections_open",
            "Open API connections",
            api_connections_open.clone(),
        );
        registry.register(
            "store_edge_api_streams_closed",
            "Live streams ended by the service, by why (revoked, replaced)",
            api_streams_closed.clone(),
        );
        registry.register(
            "store_edge_api_streams_open",
            "Live streams whose sending task still runs",
            api_streams_open.clone(),
        );
        registry.register(
            "store_edge_api_client_timeouts",
            "API clients dropped for being too slow, by phase (headers, body, write, handshake)",
            api_client_timeouts.clone(),
        );
        let staff_sessions = Gauge::default();
        registry.register(
            "store_edge_staff_sessions",
            "Staff logged in on paired tablets (sessions end on log-out, idleness, revocation or restart)",
            staff_sessions.clone(),
        );
        let pickup_orders = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "store_edge_pickup_orders",
            "Pickup orders by state, counted when scraped",
            pickup_orders.clone(),
        );
        let pickup_orders_overdue = Gauge::default();
        registry.register(
            "store_edge_pickup_orders_overdue",
            "Open pickup orders (received, picking, ready) past their pickup time, counted when scraped",
            pickup_orders_overdue.clone(),
        );
        let feedback_answers_today = Gauge::default();
        registry.register(
            "store_edge_feedback_answers_today",
            "Customer feedback answers of the local day (store.timezone), counted when scraped",
            feedback_answers_today.clone(),
        );
        registry.register(
            "store_edge_pickup_actions",
            "Click-and-collect actions carried out, by action",
            pickup_actions.clone(),
        );
        registry.register(
            "store_edge_pickup_verifications",
            "Customer verifications at the counter, by outcome (pass, code, or why refused)",
            pickup_verifications.clone(),
        );
        registry.register(
            "store_edge_sync_batches",
            "Batches central answered per event",
            sync_batches.clone(),
        );
        registry.register(
            "store_edge_sync_retries",
            "Uplink sends that must be retried, by cause",
            sync_retries.clone(),
        );
        registry.register(
            "store_edge_sync_wire_bytes",
            "Compressed bytes sent to central (retries included)",
            sync_wire_bytes.clone(),
        );
        registry.register(
            "store_edge_quarantine_events",
            "Events central refused, kept aside for an operator",
            quarantine_events.clone(),
        );
        registry.register(
            "store_edge_oldest_unsent_age_seconds",
            "Age of the oldest event not yet accepted by central",
            oldest_unsent_age_seconds.clone(),
        );
        registry.register(
            "store_edge_events_ingested",
            "Events committed to the local database",
            events_ingested.clone(),
        );
        registry.register(
            "store_edge_commit_duration_seconds",
            "Time from BEGIN to COMMIT of one group commit",
            commit_duration.clone(),
        );
        registry.register(
            "store_edge_commit_group_size",
            "Events committed per transaction (group commit)",
            commit_group_size.clone(),
        );
        registry.register(
            "store_edge_db_size_bytes",
            "Database pages in use times page size, plus the WAL (what the quota counts)",
            db_size_bytes.clone(),
        );
        registry.register(
            "store_edge_events_unsent",
            "Events not yet accepted by central",
            events_unsent.clone(),
        );
        registry.register(
            "store_edge_quota_reached",
            "1 while new events are refused because storage.max_size_mb is reached",
            quota_reached.clone(),
        );
        registry.register(
            "store_edge_disk_full",
            "1 while new events are refused because the data disk is full (SQLITE_FULL)",
            disk_full.clone(),
        );
        registry.register(
            "store_edge_http_rejected_requests",
            "API requests answered with a 4xx or 5xx status",
            http_rejected.clone(),
        );
        Metrics {
            registry,
            events_ingested,
            commit_duration,
            commit_group_size,
            db_size_bytes,
            events_unsent,
            quota_reached,
            disk_full,
            http_rejected,
            sync_batches,
            sync_retries,
            sync_wire_bytes,
            quarantine_events,
            oldest_unsent_age_seconds,
            pickup_actions,
            pickup_verifications,
            api_connections_refused,
            api_connections_open,
            api_streams_closed,
            api_streams_open,
            api_client_timeouts,
            staff_sessions,
            pickup_orders,
            pickup_orders_overdue,
            feedback_answers_today,
        }
    }

    /// The Prometheus/OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            out = format!("# metrics encoding failed: {e}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_documented_ones() {
        let m = Metrics::new();
        m.events_ingested.inc();
        m.commit_duration.observe(0.001);
        let text = m.render();
        for name in [
            "store_edge_events_ingested_total 1",
            "store_edge_commit_duration_seconds_bucket",
            "store_edge_commit_group_size_bucket",
            "store_edge_db_size_bytes",
            "store_edge_events_unsent",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
