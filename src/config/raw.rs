//! The TOML file as written, key for key. Spans are kept on every value that
//! is checked later so that errors can point at the line.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub store: RawStore,
    pub storage: RawStorage,
    #[serde(default)]
    pub api: RawApi,
    pub central: Option<RawCentral>,
    pub sync: Option<RawSync>,
    #[serde(default)]
    pub devices: Vec<crate::devices::RawDevice>,
    pub loyalty: Option<RawLoyalty>,
    pub pickup: Option<RawPickup>,
    pub printing: Option<RawPrinting>,
    pub kpi: Option<RawKpi>,
    pub backup: Option<RawBackup>,
    pub log: Option<RawLog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    pub dir: Option<Spanned<String>>,
    pub keep: Option<Spanned<u64>>,
    pub restore_sequence_gap: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKpi {
    pub ready_within_min: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrinting {
    pub retain_days: Option<Spanned<u64>>,
    pub language: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPickup {
    pub no_show_grace_min: Option<Spanned<u64>>,
    pub reminder_before_h: Option<Spanned<u64>>,
    pub code_max_failures: Option<Spanned<u64>>,
    pub code_lock_min: Option<Spanned<u64>>,
    pub counter_register: Option<Spanned<String>>,
    pub staff_session_idle_s: Option<Spanned<u64>>,
    pub slip_printer: Option<Spanned<String>>,
    pub confirmation_printer: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoyalty {
    pub key_file: Spanned<String>,
    #[serde(default)]
    pub programs: Vec<crate::scan::LoyaltyProgram>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub id: Spanned<String>,
    #[serde(default = "default_timezone")]
    pub timezone: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub path: Spanned<String>,
    #[serde(default = "default_max_size_mb")]
    pub max_size_mb: Spanned<u64>,
    #[serde(default = "default_retain_sent_days")]
    pub retain_sent_days: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    pub max_connections: Option<Spanned<u64>>,
    pub max_connections_per_client: Option<Spanned<u64>>,
    pub max_streams_per_token: Option<Spanned<u64>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub redirect_http: Option<Spanned<u64>>,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            listen: default_listen(),
            max_connections: None,
            max_connections_per_client: None,
            max_streams_per_token: None,
            tls_cert: None,
            tls_key: None,
            redirect_http: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCentral {
    pub url: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub fake: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub batch_max_events: Option<Spanned<u64>>,
    pub batch_max_bytes: Option<Spanned<u64>>,
    pub gzip_level: Option<Spanned<u64>>,
    pub request_timeout_s: Option<Spanned<u64>>,
    pub backoff_base_ms: Option<Spanned<u64>>,
    pub backoff_cap_s: Option<Spanned<u64>>,
    pub poll_interval_s: Option<Spanned<u64>>,
    pub unsent_alarm_after_s: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub level: Spanned<String>,
}

// Defaults carry an empty span: an error on a default value points at line 1.
fn default_timezone() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_owned())
}
fn default_max_size_mb() -> Spanned<u64> {
    Spanned::new(0..0, 2048)
}
fn default_retain_sent_days() -> Spanned<u32> {
    Spanned::new(0..0, 30)
}
fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "0.0.0.0:8080".to_owned())
}
