//! The supervisor: one task per device that opens it, pumps its frames, and
//! reopens it with capped backoff after an error, an unplug or a dropped
//! connection, publishing every state change.
//!
//! Replug is noticed fast: for devices with a path, the supervisor watches the
//! path's directory with inotify and also polls the path every
//! [`POLL_INTERVAL`], and the moment the path appears the backoff is cut short
//! and reset (udev creates `/dev/serial/by-id/…` links a moment after plug-in).
//!
//! Must never: let one device's failure stop another device's task; spin
//! without a pause on a device that keeps failing; or publish the same state
//! with the same detail twice in a row.

use std::path::{Path, PathBuf};
use std::time::Duration;

use inotify::{Inotify, WatchMask};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::link::{pump, Link, PumpEnd};
use super::serial::LineSettings;
use super::{
    evdev, hid_pos, serial, simulated, tcp, DeviceConfig, DeviceError, DeviceEvent, DeviceState,
    Transport,
};

/// First pause after a failure; doubles per failure up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);
pub const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// Longest pause between attempts to open a HID POS scanner.
pub const HID_RETRY_CAP: Duration = Duration::from_secs(2);
/// How often a missing path is checked even without inotify events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// A link that stayed up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Starts one task per device; returns when all are started. Frames and state
/// changes go to `events`. The tasks end when `cancel` fires (or when nobody
/// receives `events` any more); wait for them with the returned tracker.
pub fn spawn_all(
    devices: Vec<DeviceConfig>,
    events: mpsc::Sender<DeviceEvent>,
    cancel: CancellationToken,
) -> TaskTracker {
    let tracker = TaskTracker::new();
    for device in devices {
        let events = events.clone();
        let cancel = cancel.clone();
        tracker.spawn(async move {
            let id = device.id.clone();
            // Its own task: a panic in one device's code ends only that task.
            supervise(device, events, cancel).await;
            tracing::debug!(device = %id, "device task ended");
        });
    }
    tracker.close();
    tracker
}

/// Publishes state changes of one device, each only once.
struct States<'a> {
    device_id: &'a str,
    events: &'a mpsc::Sender<DeviceEvent>,
    last: Option<(DeviceState, Option<String>)>,
}

impl States<'_> {
    /// Publish if different from the last published state; false when nobody listens.
    async fn set(&mut self, state: DeviceState, detail: Option<String>) -> bool {
        let now = (state, detail);
        if self.last.as_ref() == Some(&now) {
            return true;
        }
        let (state, detail) = now.clone();
        match state {
            DeviceState::Online => tracing::info!(device = self.device_id, "device online"),
            _ => tracing::warn!(
                device = self.device_id,
                state = state.as_str(),
                detail = detail.as_deref().unwrap_or(""),
                "device not available"
            ),
        }
        self.last = Some(now);
        self.events
            .send(DeviceEvent::State {
                device_id: self.device_id.to_owned(),
                state,
                detail,
            })
            .await
            .is_ok()
    }
}

/// Open, pump, reopen: until cancelled or nobody listens.
pub async fn supervise(
    device: DeviceConfig,
    events: mpsc::Sender<DeviceEvent>,
    cancel: CancellationToken,
) {
    let mut states = States {
        device_id: &device.id,
        events: &events,
        last: None,
    };
    let mut watch = device.transport.path().map(PathWatch::new);
    let mut failures: u32 = 0;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let opened_at = Instant::now();
        let end = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            end = open_and_pump(&device, &mut states, &cancel) => end,
        };
        let (state, detail) = match end {
            Ended::Cancelled | Ended::ReceiverGone => break,
            Ended::Closed => (
                DeviceState::Offline,
                "device closed the connection".to_owned(),
            ),
            Ended::Failed(e) => (e.state(), e.to_string()),
        };
        if !states.set(state, Some(detail)).await {
            break;
        }
        if opened_at.elapsed() >= STABLE_AFTER {
            failures = 0;
        }
        let delay = match device.transport {
            // No path to watch: poll-by-reopen often enough that a replugged
            // USB scanner is back within about 2 s (enumeration is cheap).
            Transport::HidPos { .. } => backoff(failures).min(HID_RETRY_CAP),
            _ => backoff(failures),
        };
        failures = failures.saturating_add(1);
        let wait = async {
            match watch.as_mut() {
                Some(w) => {
                    if w.wait_for_appearance(delay).await {
                        failures = 0;
                    }
                }
                None => tokio::time::sleep(delay).await,
            }
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            () = wait => {}
        }
    }
    // Best effort: on shutdown the receiver may already be gone or full.
    if states.last.as_ref().map(|(s, _)| *s) == Some(DeviceState::Online) {
        let _ = events.try_send(DeviceEvent::State {
            device_id: device.id.clone(),
            state: DeviceState::Offline,
            detail: Some("stopped".to_owned()),
        });
    }
}

enum Ended {
    Cancelled,
    ReceiverGone,
    Closed,
    Failed(DeviceError),
}

/// The explicit table of transports: how each one opens.
async fn open_and_pump(
    device: &DeviceConfig,
    states: &mut States<'_>,
    cancel: &CancellationToken,
) -> Ended {
    let max_len = device.framing.max_len;
    match &device.transport {
        Transport::Serial {
            path,
            baud,
            parity,
            data_bits,
            stop_bits,
            flow_control,
        } => {
            let settings = LineSettings {
                baud: *baud,
                parity: *parity,
                data_bits: *data_bits,
                stop_bits: *stop_bits,
                flow_control: *flow_control,
            };
            run(serial::open(path, settings), device, states, cancel).await
        }
        Transport::Evdev { path, layout } => {
            run(evdev::open(path, *layout), device, states, cancel).await
        }
        Transport::HidPos { vid, pid } => {
            let (vid, pid) = (*vid, *pid);
            // libusb device enumeration blocks: keep it off the async workers.
            let opened = tokio::task::spawn_blocking(move || hid_pos::open(vid, pid, max_len))
                .await
                .unwrap_or_else(|e| {
                    Err(DeviceError::Failed(format!("opening HID POS device: {e}")))
                });
            run(opened, device, states, cancel).await
        }
        Transport::Tcp { address } => run(tcp::open(address).await, device, states, cancel).await,
        Transport::Simulated { path } => {
            run(simulated::open(path, max_len).await, device, states, cancel).await
        }
    }
}

async fn run<L: Link>(
    opened: Result<L, DeviceError>,
    device: &DeviceConfig,
    states: &mut States<'_>,
    cancel: &CancellationToken,
) -> Ended {
    let mut link = match opened {
        Ok(link) => link,
        Err(e) => return Ended::Failed(e),
    };
    if !states.set(DeviceState::Online, None).await {
        return Ended::ReceiverGone;
    }
    match pump(
        &mut link,
        &device.framing,
        &device.id,
        states.events,
        cancel,
    )
    .await
    {
        PumpEnd::Cancelled => Ended::Cancelled,
        PumpEnd::ReceiverGone => Ended::ReceiverGone,
        PumpEnd::Closed => Ended::Closed,
        PumpEnd::Failed(e) => Ended::Failed(e),
    }
}

/// Pause after `failures` consecutive failures: 250 ms, 500 ms, 1 s … 10 s.
pub fn backoff(failures: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1u32 << failures.min(16))
        .min(BACKOFF_CAP)
}

/// Notices when a device path (re)appears: inotify on the nearest existing
/// directory above it, plus a poll every [`POLL_INTERVAL`] (inotify can be
/// unavailable, and the watched directory itself can come and go).
pub struct PathWatch {
    path: PathBuf,
    inotify: Option<AsyncFd<Inotify>>,
    watched: Option<PathBuf>,
}

impl PathWatch {
    pub fn new(path: &Path) -> Self {
        // SAFETY: `Inotify` owns its (non-blocking) descriptor and closes it only
        // when dropped, which the `AsyncFd` owning it makes happen after deregistering.
        let inotify = match Inotify::init()
            .and_then(|i| unsafe { AsyncFd::register(i) }.map_err(std::io::Error::from))
        {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!(error = %e, "inotify unavailable; polling device paths only");
                None
            }
        };
        PathWatch {
            path: path.to_owned(),
            inotify,
            watched: None,
        }
    }

    /// Watch the nearest existing ancestor directory of the path.
    fn ensure_watch(&mut self) {
        let Some(inotify) = self.inotify.as_mut() else {
            return;
        };
        let mut dir = self.path.parent();
        while let Some(d) = dir {
            if d.as_os_str().is_empty() {
                dir = Some(Path::new("."));
                continue;
            }
            if d.is_dir() {
                break;
            }
            dir = d.parent();
        }
        let Some(dir) = dir else { return };
        if self.watched.as_deref() == Some(dir) && dir.is_dir() {
            return;
        }
        let mask = WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::ATTRIB
            | WatchMask::DELETE
            | WatchMask::DELETE_SELF;
        match inotify.get_mut().watches().add(dir, mask) {
            Ok(_) => self.watched = Some(dir.to_owned()),
            Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "inotify watch failed"),
        }
    }

    /// Wait up to `max`; true when the path appeared (it was missing when the
    /// wait began and exists now), false when the time ran out.
    pub async fn wait_for_appearance(&mut self, max: Duration) -> bool {
        let deadline = Instant::now() + max;
        let was_missing = !self.path.exists();
        loop {
            self.ensure_watch();
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let tick = (now + POLL_INTERVAL).min(deadline);
            let mut buffer = [0u8; 1024];
            match self.inotify.as_mut() {
                Some(inotify) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(tick) => {}
                        ready = inotify.readable_mut() => {
                            if let Ok(mut guard) = ready {
                                // Drain; which event it was does not matter.
                                let _ = guard.try_io(|i| i.get_mut().read_events(&mut buffer).map(|_| ()));
                            }
                        }
                    }
                }
                None => tokio::time::sleep_until(tick).await,
            }
            if was_missing && self.path.exists() {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(6), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }

    #[tokio::test]
    async fn path_watch_sees_a_file_appear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("scanner");
        let mut watch = PathWatch::new(&path);
        assert!(!watch.wait_for_appearance(Duration::from_millis(50)).await);
        let creator = {
            let path = path.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, b"").expect("create");
            })
        };
        assert!(watch.wait_for_appearance(Duration::from_secs(20)).await);
        creator.await.expect("join");
    }
}
