//! `store-edge run`: wires the parts together and owns the lifecycle —
//! open and check the database, start the writer, bind the API, tell
//! systemd, and on SIGTERM stop taking requests, finish in-flight commits
//! and exit cleanly.

mod systemd;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::store::{self, ReadPool, StoreError, Writer, WriterSettings};
use crate::telemetry::Metrics;

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Open connections of the `[api] redirect_http` port in all (each answer
/// is one short redirect or refusal).
const REDIRECT_MAX_CONNECTIONS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source} (is another store-edge running? change api.listen in {config})")]
    Listen {
        addr: std::net::SocketAddr,
        config: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the database writer stopped: {0}")]
    WriterFailed(String),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error("[loyalty] key_file {file}: {problem}")]
    LoyaltyKey { file: String, problem: String },
    #[error("cannot start the built-in fake central: {0}")]
    FakeCentral(String),
    #[error("cannot start the hashing threads: {0}")]
    Threads(std::io::Error),
    #[error(transparent)]
    Printers(#[from] crate::printers::worker::WorkerError),
    #[error(transparent)]
    SecretFile(#[from] crate::config::secret::SecretFileError),
    #[error(transparent)]
    Locked(#[from] store::lock::LockError),
}

/// `STORE_EDGE_BENCH_NO_KPI=1` ([`store::writer::NO_KPI_ENV`]), said loudly.
fn kpi_ingest_off() -> bool {
    use store::writer::NO_KPI_ENV;
    let off = std::env::var(NO_KPI_ENV).is_ok_and(|v| v == "1");
    if off {
        tracing::warn!(
            "{NO_KPI_ENV}=1: the KPI ingest is OFF (a benchmark switch); the KPIs miss every event recorded now until `store-edge kpi verify --rebuild`"
        );
    }
    off
}

/// Runs the service until SIGTERM/SIGINT. Returns Ok after a clean stop.
pub async fn run(config: Config) -> Result<(), ServiceError> {
    // Held until the service ends: `db restore` refuses while it is held,
    // and the service does not start while a restore holds it.
    let _lock = store::lock::DbLock::try_acquire(&config.storage.path)?;
    let path = config.storage.path.clone();
    let store_id = config.store.id.clone();
    let conn = tokio::task::spawn_blocking(move || {
        store::open_for_writing_with_progress(&path, &store_id, &mut systemd::migrating)
    })
    .await
    .map_err(|e| StoreError::internal("opening the database", e))??;
    let metrics = Arc::new(Metrics::new());
    let (writer, writer_thread) = Writer::start(
        conn,
        WriterSettings {
            path: config.storage.path.clone(),
            max_size_bytes: config.storage.max_size_bytes(),
            retain_sent_days: config.storage.retain_sent_days,
            timezone: config.store.tz.clone(),
            kpi_ingest: !kpi_ingest_off(),
        },
        metrics.clone(),
    )?;
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|source| ServiceError::Listen {
            addr: config.api.listen,
            config: config.file.display().to_string(),
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(config.api.listen);
    // HTTPS when `[api] tls_cert`/`tls_key` are set; the pair was checked
    // by `check_secret_files` already, this reads it for serving.
    let tls = config
        .api
        .tls
        .as_ref()
        .map(api::tls::Tls::new)
        .transpose()?;
    let redirect = match config.api.redirect_http {
        None => None,
        Some(port) => {
            let addr = std::net::SocketAddr::new(config.api.listen.ip(), port);
            Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServiceError::Listen {
                        addr,
                        config: config.file.display().to_string(),
                        source,
                    })?,
            )
        }
    };
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let readers = ReadPool::new(&config.storage.path);
    let sync = match central(&config, &cancel).await? {
        Some(central) => Some(
            crate::sync::start(
                &config, central, &writer, &readers, &metrics, &tasks, &cancel,
            )
            .await?,
        ),
        None => {
            tracing::warn!("no [central] in the config: events are recorded but not synced");
            None
        }
    };
    // Without sync nothing rings it: no orders arrive from central.
    let orders_changed = sync
        .as_ref()
        .map(|s| s.orders_changed.clone())
        .unwrap_or_default();
    let loyalty = load_loyalty(&config)?;
    let live = crate::live::Live::new();
    let (pass_route, pass_rx) = crate::live::PassRoute::new(&config.pickup.counter_register);
    let touchpoints = crate::touchpoints::Touchpoints::new(
        &config.devices,
        loyalty,
        live.clone(),
        Some(pass_route),
    );
    if !config.devices.is_empty() {
        let (dev_tx, dev_rx) = tokio::sync::mpsc::channel(1024);
        let device_tasks =
            crate::devices::spawn_all(config.devices.clone(), dev_tx, cancel.clone());
        tasks.spawn(crate::touchpoints::run(
            touchpoints.clone(),
            config.devices.clone(),
            writer.clone(),
            dev_rx,
            cancel.clone(),
        ));
        tasks.spawn(async move {
            device_tasks.close();
            device_tasks.wait().await;
        });
        tracing::info!(devices = config.devices.len(), "devices started");
    }
    // Printers: the crash rule and removed printers before any worker
    // sends (and the debug-build job hook), then one worker each.
    let printer_states = crate::printers::registry::Registry::default();
    // One wake for every printer queue: the API and pickup ring it after
    // they queued a job; the printers' workers subscribe to it.
    let wake = crate::printers::Wake::default();
    crate::printers::worker::Printers {
        writer: writer.clone(),
        readers: readers.clone(),
        wake: wake.clone(),
        live: live.clone(),
        registry: printer_states.clone(),
        printing: config.printing.clone(),
    }
    .start(&config.printers, &tasks, &cancel)
    .await?;
    if !config.printers.is_empty() {
        tracing::info!(printers = config.printers.len(), "printers started");
    }
    let pickups = crate::pickup::service::Pickups::new(
        writer.clone(),
        readers.clone(),
        &config.store.id,
        config.pickup.clone(),
        live.clone(),
        metrics.clone(),
        orders_changed,
    )
    .map_err(ServiceError::Threads)?;
    let pickups = pickups.with_printing(config.printing.language, {
        let wake = wake.clone();
        Arc::new(move || wake.ring())
    });
    {
        tasks.spawn(pickups.clone().run_pass_scans(pass_rx, cancel.clone()));
        // The timer checks deadlines at once: a box that was off over a
        // deadline catches up before the first tablet asks.
        tasks.spawn(pickups.clone().run_timer(cancel.clone()));
    }
    // HTTP requests enter the writer's queue through a handle that gives up
    // (503) when the queue stays full; devices, timers and sync (above) wait.
    // (`pickups` moves: no handle may outlive the state, or the writer
    // never sees its queue close at shutdown.)
    let mut request_pickups = pickups;
    request_pickups.writer = writer.for_requests();
    let print_jobs = crate::printers::jobs::PrintJobs::new(
        writer.for_requests(),
        readers.clone(),
        &config.printers,
        config.printing.language,
        wake,
    );
    let state = AppState {
        writer: writer.for_requests(),
        readers,
        metrics: metrics.clone(),
        source: api::events::source(&config.store.id),
        listening: Arc::new(AtomicBool::new(true)),
        sync,
        unsent_alarm_after: config.sync.unsent_alarm_after,
        touchpoints,
        printers: printer_states,
        pickups: request_pickups,
        shutdown: cancel.clone(),
        streams: api::streams::LiveStreams::new(config.api.max_streams_per_token, metrics.clone()),
        pairing: Default::default(),
        print_jobs,
        kpi: Arc::new(crate::kpi::Settings::from_config(&config)),
    };
    // Dashboards reload on `kpis_changed`, rung by the writer's commits.
    tasks.spawn_blocking({
        let (health, live, tz, cancel) = (
            writer.health.clone(),
            live.clone(),
            config.store.tz.clone(),
            cancel.clone(),
        );
        move || api::kpis::announce_kpi_changes(health, live, tz, cancel)
    });
    tasks.spawn(
        state
            .streams
            .clone()
            .watch_revocations(state.readers.clone(), cancel.clone()),
    );

    let fatal = Arc::new(std::sync::Mutex::new(None::<String>));

    // Heartbeat and maintenance for the writer; also notices a dead writer.
    {
        let writer = writer.clone();
        let cancel = cancel.clone();
        let fatal = fatal.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {
                        if let Some(e) = writer.health.fatal_error() {
                            if let Ok(mut f) = fatal.lock() { *f = Some(e); }
                            cancel.cancel();
                            break;
                        }
                        if writer.tick().is_err() { cancel.cancel(); break; }
                    }
                }
            }
        });
    }
    tasks.spawn(systemd::notifier(state.clone(), cancel.clone()));
    tasks.spawn(wait_for_signal(cancel.clone()));
    tasks.spawn(reload_on_sighup(tls.clone(), cancel.clone()));
    drop(writer);

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        api = %format!("{scheme}://{bound}"),
        store_id = %config.store.id,
        database = %config.storage.path.display(),
        "store-edge is running; API at {scheme}://{bound}/api/v1 — create a token with: store-edge token create --role admin --name it --config {}",
        config.file.display()
    );

    let caps = api::listener::Caps {
        max_connections: api::listener::fit_open_files(config.api.max_connections),
        max_connections_per_client: config.api.max_connections_per_client,
    };
    let api_server = api::listener::serve(
        listener,
        api::router(state.clone()),
        caps,
        state.metrics.clone(),
        tls.as_ref().map(|t| t.acceptor().clone()),
        cancel.clone(),
    );
    // The redirect port: the same loop and timers, caps of its own (it
    // holds a connection for one short answer).
    let redirect_server = redirect.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(redirect = %format!("http://{addr}"), "plain HTTP sends browsers to https and refuses the API");
        }
        api::listener::serve(
            listener,
            api::redirect::router(bound.port()),
            api::listener::Caps {
                max_connections: REDIRECT_MAX_CONNECTIONS.min(caps.max_connections),
                max_connections_per_client: caps.max_connections_per_client,
            },
            state.metrics.clone(),
            None,
            cancel.clone(),
        )
    });
    let server = tokio::spawn(async move {
        match redirect_server {
            Some(redirect) => {
                tokio::join!(api_server, redirect);
            }
            None => api_server.await,
        }
    });
    let abort_server = server.abort_handle();
    cancel.cancelled().await;
    state.listening.store(false, Ordering::Relaxed);
    tracing::info!("stopping: no new requests; finishing those in flight");
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server task failed"),
        Err(_) => {
            tracing::warn!(
                "requests still running after {}s; closing them",
                DRAIN_TIMEOUT.as_secs()
            );
            // The server task holds the API state (and a writer handle);
            // it must end for the writer to finish.
            abort_server.abort();
        }
    }
    tasks.close();
    tasks.wait().await;
    // Every Writer handle is gone now: the writer commits what is queued and ends.
    drop(state);
    let joined = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    if !matches!(joined, Ok(Ok(()))) {
        return Err(ServiceError::WriterFailed(
            "the writer thread panicked".into(),
        ));
    }
    let fatal = fatal.lock().ok().and_then(|f| f.clone());
    match fatal {
        Some(e) => Err(ServiceError::WriterFailed(e)),
        None => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
    }
}

/// The central to sync with: the configured platform, or (`[central] fake
/// = true`, the demo) the built-in fake central, started here in-process on
/// a loopback port with the demo orders. None without `[central]`.
async fn central(
    config: &Config,
    cancel: &CancellationToken,
) -> Result<Option<crate::sync::Central>, ServiceError> {
    if !matches!(
        config.central,
        Some(crate::config::CentralConfig::Fake { .. })
    ) {
        return Ok(crate::sync::remote_central(config)?);
    }
    let fake_failed = |e: String| ServiceError::FakeCentral(e);
    let token = crate::store::tokens::generate_token().map_err(|e| fake_failed(e.to_string()))?;
    let fake = crate::fake_central::FakeCentral::new(crate::fake_central::FakeCentralConfig {
        store_id: config.store.id.clone(),
        token: token.clone(),
        orders: crate::sync::demo::orders(),
        count_only: false,
        faults: Default::default(),
        signing_key: None,
        ..Default::default()
    });
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let addr = fake
        .spawn(loopback, cancel.clone())
        .await
        .map_err(|e| fake_failed(e.to_string()))?;
    let url = format!("http://{addr}");
    tracing::info!(url = %url, "built-in fake central running (demo mode)");
    Ok(Some(crate::sync::Central { url, token }))
}

/// Reads the chain-wide loyalty key (64 hex characters) named by
/// `[loyalty] key_file`. Never logs it.
fn load_loyalty(config: &Config) -> Result<crate::touchpoints::LoyaltySettings, ServiceError> {
    let Some(l) = &config.loyalty else {
        return Ok(Default::default());
    };
    let fail = |problem: String| ServiceError::LoyaltyKey {
        file: l.key_file.display().to_string(),
        problem,
    };
    let text = crate::config::secret::read_secret_file(&l.key_file, "loyalty.key_file")?;
    let key = crate::scan::parse_key_file(&text).map_err(|e| fail(e.reason().to_owned()))?;
    Ok(crate::touchpoints::LoyaltySettings {
        key: Some(crate::scan::TokenKey::new(key)),
        programs: l.programs.clone(),
    })
}

/// SIGHUP (`systemctl reload`, the unit's `ExecReload`): reload the TLS
/// certificate and key without touching the listener. Without TLS there
/// is nothing to reload, and the signal must not end the service either.
async fn reload_on_sighup(tls: Option<api::tls::Tls>, cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "cannot install the SIGHUP handler; reload by restarting");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        match &tls {
            Some(tls) => {
                let tls = tls.clone();
                // Reads two files: off the async threads.
                let _ = tokio::task::spawn_blocking(move || tls.reload_and_log()).await;
            }
            None => tracing::info!("SIGHUP: nothing to reload (no [api] tls_cert); other config changes need a restart"),
        }
    }
}

async fn wait_for_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; stopping");
            cancel.cancel();
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
        _ = cancel.cancelled() => {}
    }
    cancel.cancel();
}
