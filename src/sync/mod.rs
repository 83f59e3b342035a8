//! Sync with the central platform: the uplink delivers every event exactly
//! once in effect (`uplink.rs`), the downlink pulls the pickup order feed
//! (`downlink.rs`). `batch.rs` is pure (build a batch, judge an answer),
//! `client.rs` is the only network I/O.
//!
//! Architecture invariant: nothing here blocks ingest. Sync reads through
//! its own read connections and writes only through short writer ops; no
//! SQLite transaction is ever held across an HTTP request.

pub mod batch;
pub mod client;
pub mod demo;
pub mod downlink;
pub mod uplink;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{CentralConfig, Config, SyncConfig};
use crate::store::meta::{self, Key};
use crate::store::sync as store_sync;
use crate::store::{ReadConn, ReadPool, StoreError, Writer};
use crate::telemetry::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    TokenFile(#[from] crate::config::secret::SecretFileError),
    #[error("the central token file {0} is empty")]
    EmptyToken(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Everything the sync tasks share.
#[derive(Clone)]
pub struct SyncContext {
    pub store_id: String,
    pub source: Arc<str>,
    pub settings: SyncConfig,
    /// `pickup.no_show_grace`: a no-show whose new deadline is still
    /// within it re-opens.
    pub no_show_grace: Duration,
    pub client: client::CentralClient,
    pub writer: Writer,
    pub readers: ReadPool,
    pub metrics: Arc<Metrics>,
    pub link: Arc<Link>,
    /// "sync now" for the uplink's backoff.
    pub now: Arc<Notify>,
    /// "poll now" for the downlink (sync now, or the uplink recovered).
    pub now_downlink: Arc<Notify>,
    /// Rung when a page of the order feed stored new or changed orders
    /// (the pickup workflow tells the tablets).
    pub orders_changed: Arc<Notify>,
}

/// Reachability of central, kept in memory and mirrored to `meta` on every
/// change so that `store-edge sync status` can read it from the database.
#[derive(Debug, Default)]
pub struct Link {
    state: Mutex<LinkState>,
    /// The clock skew last written to `meta` (written only when it changes).
    skew_written: Mutex<Option<i64>>,
}

#[derive(Debug, Default, Clone)]
struct LinkState {
    reachable: Option<bool>,
    last_error: Option<String>,
}

impl Link {
    async fn succeeded(&self, ctx: &SyncContext) {
        // The skew first: whoever sees "reachable" also sees central's clock.
        self.persist_skew(ctx).await;
        let changed = {
            let Ok(mut s) = self.state.lock() else { return };
            let changed = s.reachable != Some(true);
            s.reachable = Some(true);
            changed
        };
        if changed {
            tracing::info!("central is reachable");
            ctx.now_downlink.notify_one();
            self.persist(ctx, true, None).await;
        }
    }

    async fn failed(&self, ctx: &SyncContext, error: &str) {
        let changed = {
            let Ok(mut s) = self.state.lock() else { return };
            let changed = s.reachable != Some(false) || s.last_error.as_deref() != Some(error);
            let was_up = s.reachable != Some(false);
            s.reachable = Some(false);
            s.last_error = Some(error.to_owned());
            if was_up {
                tracing::warn!(
                    error,
                    "central is not reachable; events are kept and sent later"
                );
            }
            changed
        };
        if changed {
            self.persist(ctx, false, Some(error.to_owned())).await;
        }
    }

    async fn persist(&self, ctx: &SyncContext, reachable: bool, error: Option<String>) {
        let now = crate::events::format_time(time::OffsetDateTime::now_utc());
        let result = ctx
            .writer
            .run(0, move |w| {
                let since: Option<String> = meta::get(w.reader(), Key::SyncReachable)?
                    .filter(|r| r == if reachable { "true" } else { "false" })
                    .and_then(|_| meta::get(w.reader(), Key::SyncSince).ok().flatten());
                let mut pairs = vec![
                    (Key::SyncReachable, Some(reachable.to_string())),
                    (Key::SyncSince, Some(since.unwrap_or_else(|| now.clone()))),
                ];
                if let Some(e) = error {
                    pairs.push((Key::SyncLastError, Some(e)));
                    pairs.push((Key::SyncLastErrorAt, Some(now.clone())));
                }
                meta::set(w, &pairs)
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot record sync status");
        }
    }

    async fn persist_skew(&self, ctx: &SyncContext) {
        let Some(skew) = ctx.client.clock_skew_s() else {
            return;
        };
        let changed = self
            .skew_written
            .lock()
            .map(|mut w| w.replace(skew) != Some(skew))
            .unwrap_or(false);
        if changed {
            let _ = ctx
                .writer
                .run(0, move |w| {
                    meta::set(w, &[(Key::ClockSkewS, Some(skew.to_string()))])
                })
                .await;
        }
    }
}

/// The sync status as `store-edge sync status` and `GET /api/v1/sync` show it.
#[derive(Debug, Serialize)]
pub struct SyncStatus {
    pub reachable: Option<bool>,
    pub since: Option<String>,
    pub unsent: i64,
    pub oldest_unsent_age_s: Option<i64>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub quarantined: i64,
    pub clock_skew_s: Option<i64>,
    pub cursor_age_s: Option<u64>,
    pub unsent_alarm: bool,
    pub quarantine: Vec<store_sync::Quarantined>,
    /// After `store-edge db restore`: "restored from a backup taken at T;
    /// events after T from the old box are lost unless central has them".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<String>,
}

/// Reads the status from the database (works with or without the service).
pub fn status(conn: &ReadConn, unsent_alarm_after: Duration) -> Result<SyncStatus, StoreError> {
    let counts = store_sync::sync_counts(conn)?;
    let meta = |k: Key| meta::get(conn, k);
    let oldest_unsent_age_s = counts
        .oldest_unsent_recorded_at
        .as_deref()
        .and_then(|t| crate::events::parse_time(t).ok())
        .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0));
    Ok(SyncStatus {
        reachable: meta(Key::SyncReachable)?.map(|v| v == "true"),
        since: meta(Key::SyncSince)?,
        unsent: counts.unsent,
        oldest_unsent_age_s,
        last_success: meta(Key::SyncLastSuccess)?,
        last_error: meta(Key::SyncLastError)?,
        last_error_at: meta(Key::SyncLastErrorAt)?,
        quarantined: counts.quarantined,
        clock_skew_s: meta(Key::ClockSkewS)?.and_then(|v| v.parse().ok()),
        cursor_age_s: downlink::cursor_age(conn).map(|d| d.as_secs()),
        unsent_alarm: oldest_unsent_age_s.is_some_and(|a| a as u64 > unsent_alarm_after.as_secs()),
        quarantine: store_sync::quarantined(conn, 100)?,
        restored: crate::store::backup::last_restore(conn)?
            .map(|r| crate::store::backup::restore_notice(&r)),
    })
}

/// Handles the running service keeps: "sync now" triggers.
#[derive(Clone)]
pub struct SyncHandle {
    pub now: Arc<Notify>,
    pub now_downlink: Arc<Notify>,
    /// Rung by the downlink when it stored new or changed orders.
    pub orders_changed: Arc<Notify>,
}

impl SyncHandle {
    pub fn sync_now(&self) {
        self.now.notify_one();
        self.now_downlink.notify_one();
    }
}

/// Where central is, resolved by the service: a real platform's URL and
/// token, or the built-in fake central it started.
#[derive(Debug, Clone)]
pub struct Central {
    pub url: String,
    pub token: String,
}

/// The central of `config`'s `[central] url`/`token_file` (the token read
/// through the secret-file check); None without `[central]` or when it is
/// the built-in fake (the service starts that itself).
pub fn remote_central(config: &Config) -> Result<Option<Central>, SyncError> {
    match &config.central {
        Some(CentralConfig::Remote { url, token_file }) => {
            let token = crate::config::secret::read_secret_file(token_file, "central.token_file")?;
            let token = token.trim().to_owned();
            if token.is_empty() {
                return Err(SyncError::EmptyToken(token_file.display().to_string()));
            }
            Ok(Some(Central {
                url: url.clone(),
                token,
            }))
        }
        _ => Ok(None),
    }
}

/// Bounds what glibc's allocator keeps of the uplink's buffers, for the
/// whole process (called once sync starts; idempotent). A backlog drain
/// frees ~2 MiB bodies, gzip output, zlib state and central's 5,000-result
/// answers on whichever pool thread finished with them; glibc gives every
/// such thread an arena of its own (up to 8 per core) and keeps the freed
/// memory in it, and its dynamic mmap threshold rises after the first
/// large free so later bodies land in those arenas too: a 1 M drain left
/// ~24 MiB in 8 arenas (`bench drain`, issue 15). Two arenas (the box has
/// two cores) and a fixed 128 KiB mmap threshold (glibc's initial one,
/// without the rise: a buffer that large — a gzip body, central's answer,
/// zlib's tables — is mapped and handed back when freed, at ~one page
/// fault per 4 KiB, ~1 % of the drain's CPU) bound what stays. No effect
/// on other allocators or libcs.
fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ARENAS: libc::c_int = 2;
        const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only sets allocator parameters; the values are
        // within glibc's documented ranges.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Starts uplink, downlink and the watcher (alarm, metrics, CLI "sync now")
/// on `tasks`, talking to `central`.
pub async fn start(
    config: &Config,
    central: Central,
    writer: &Writer,
    readers: &ReadPool,
    metrics: &Arc<Metrics>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Result<SyncHandle, SyncError> {
    bound_allocator();
    let orders_changed = Arc::new(Notify::new());
    let Central { url, token } = central;
    let settings = config.sync.clone();
    let client =
        client::CentralClient::new(&url, &config.store.id, &token, settings.request_timeout)
            // The cause is in the sources (e.g. no CA certificates on the
            // box: the package depends on ca-certificates for this).
            .map_err(|e| SyncError::Client(crate::telemetry::error_chain(&e)))?;
    let ctx = SyncContext {
        store_id: config.store.id.clone(),
        source: crate::events::source_of(&config.store.id).into(),
        settings,
        no_show_grace: config.pickup.no_show_grace,
        client,
        writer: writer.clone(),
        readers: readers.clone(),
        metrics: metrics.clone(),
        link: Arc::new(Link::default()),
        now: Arc::new(Notify::new()),
        now_downlink: Arc::new(Notify::new()),
        orders_changed,
    };
    let handle = SyncHandle {
        now: ctx.now.clone(),
        now_downlink: ctx.now_downlink.clone(),
        orders_changed: ctx.orders_changed.clone(),
    };

    // Preparer thread → bounded channel → sender task.
    // The sender awaits one gzip job, one more waits in the channel and
    // the preparer holds a third while it blocks on the send: up to three
    // batches compress at once (both cores), and at most three plain
    // bodies (~2.6 MiB each at 5,000 events) exist (issue 15: a channel of
    // two allowed four, for no gain in rate).
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let ctx = ctx.clone();
        let stop = stop.clone();
        let rt = tokio::runtime::Handle::current();
        tasks.spawn_blocking(move || uplink::run_preparer(ctx, tx, stop, rt));
    }
    tasks.spawn(uplink::run_sender(ctx.clone(), rx, cancel.clone()));
    tasks.spawn(downlink::run(ctx.clone(), cancel.clone()));
    tasks.spawn(watch(ctx, cancel.clone(), stop));
    Ok(handle)
}

/// Once a second: the unsent-age alarm (logged once per crossing), the
/// sync gauges, and "sync now" asked by the CLI through the database.
async fn watch(ctx: SyncContext, cancel: CancellationToken, stop_preparer: Arc<AtomicBool>) {
    let mut alarmed = false;
    // The first reading of `sync_now_requested` is the baseline; a later
    // change means the CLI asked.
    let mut seen_now: Option<Option<String>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let read = ctx
            .readers
            .run(|conn| {
                let oldest = store_sync::oldest_unsent(conn)?;
                // The held exceptions only: counting the unsent events too
                // scans the whole backlog (schema 9) every second.
                let quarantined: i64 = store_sync::quarantined_count(conn)?;
                let now_req = meta::get(conn, Key::SyncNowRequested)?;
                Ok((oldest, quarantined, now_req))
            })
            .await;
        let Ok((oldest, quarantined, now_req)) = read else {
            continue;
        };
        let age = oldest
            .as_deref()
            .and_then(|t| crate::events::parse_time(t).ok())
            .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0))
            .unwrap_or(0);
        ctx.metrics.oldest_unsent_age_seconds.set(age);
        ctx.metrics.quarantine_events.set(quarantined);
        let over = age as u64 > ctx.settings.unsent_alarm_after.as_secs();
        if over && !alarmed {
            tracing::error!(
                oldest_unsent_age_s = age,
                threshold_s = ctx.settings.unsent_alarm_after.as_secs(),
                "ALARM: events are waiting too long to reach central"
            );
        } else if !over && alarmed {
            tracing::info!("unsent events are flowing again; alarm cleared");
        }
        alarmed = over;
        if seen_now.as_ref().is_some_and(|prev| *prev != now_req) {
            tracing::info!("sync now (asked from the command line)");
            ctx.now.notify_one();
            ctx.now_downlink.notify_one();
        }
        seen_now = Some(now_req);
    }
    stop_preparer.store(true, Ordering::Relaxed);
    // The preparer may be waiting for a commit: it should see `stop` now.
    ctx.writer.health.unsent_grew.ring();
}
