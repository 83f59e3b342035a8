//! systemd integration (`Type=notify`): READY=1 once `/readyz` would answer
//! 200, WATCHDOG=1 only while the database writer is alive, STATUS= with a
//! short summary, STOPPING=1 on shutdown. Without `NOTIFY_SOCKET` every
//! call is a no-op, so the same code runs on a terminal.

use std::sync::atomic::Ordering;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::api::{readiness, AppState};

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Progress of a long migration before READY (schema 9 copies the event
/// log in chunks): each chunk asks systemd for 30 s more of start time
/// (`EXTEND_TIMEOUT_USEC`) and shows how far it got. The store reports
/// progress through a callback; only this module talks to systemd.
pub fn migrating(done: u64, total: u64) {
    let status = format!("upgrading the event log: {done} of {total} events copied");
    notify(&[
        NotifyState::ExtendTimeoutUsec(30_000_000),
        NotifyState::Status(&status),
    ]);
    if total > 0 && (done == total || done % 500_000 < crate::store::STEP_9_CHUNK as u64) {
        tracing::info!(done, total, "upgrading the event log to schema 9");
    }
}

fn summary(state: &AppState) -> String {
    let h = &state.writer.health;
    let unsent = h.unsent.load(Ordering::Relaxed);
    format!(
        "ready; last sequence {}, {} unsent{}",
        h.last_seq.load(Ordering::Relaxed),
        if unsent < 0 {
            "counting".to_owned()
        } else {
            unsent.to_string()
        },
        if h.disk_full.load(Ordering::Relaxed) {
            "; DISK FULL, refusing new events"
        } else if h.quota_reached.load(Ordering::Relaxed) {
            "; QUOTA REACHED, refusing new events"
        } else {
            ""
        }
    )
}

pub(super) async fn notifier(state: AppState, cancel: CancellationToken) {
    // READY=1 exactly when /readyz turns 200.
    loop {
        if readiness(&state).is_ok() {
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => { notify(&[NotifyState::Stopping]); return; }
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    let status = summary(&state);
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    // Ping at a third of WatchdogSec: "less than half" with margin.
    let watchdog = sd_notify::watchdog_enabled();
    let period = watchdog
        .map(|w| w / 3)
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(50));
    let mut interval = tokio::time::interval(period);
    let mut last_status = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {
                if let Some(w) = watchdog {
                    // Only a live writer earns a ping: a stuck writer lets
                    // systemd restart us.
                    if state.writer.health.heartbeat_age() < w / 2 && state.writer.health.fatal_error().is_none() {
                        notify(&[NotifyState::Watchdog]);
                    } else {
                        tracing::error!("database writer unresponsive; withholding the watchdog ping");
                    }
                }
                if last_status.elapsed() >= Duration::from_secs(5) {
                    last_status = std::time::Instant::now();
                    let status = summary(&state);
                    notify(&[NotifyState::Status(&status)]);
                }
            }
        }
    }
    notify(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing in-flight requests"),
    ]);
}
