//! The HTTP listener: accepts connections, admits them under the caps and
//! serves each with hyper's HTTP/1 and a header-read timer.
//!
//! Why by hand (axum's `serve` has no timers and no caps): 4,192
//! connections that never finished their headers once held every file
//! descriptor of the unit, and `/healthz` and the tills stopped answering
//! (issue 10). Here:
//! - a request's headers must arrive within [`HEADER_READ_TIMEOUT`]; hyper
//!   runs the same timer while a kept-alive connection waits for its next
//!   request, so it is also the idle keep-alive timeout;
//! - at most `max_connections_per_client` connections per source address
//!   and `max_connections` in all; a connection over a cap is accepted and
//!   closed at once (never left waiting in the backlog), counted in
//!   `store_edge_api_connections_refused_total` and said in the log at most
//!   once a minute;
//! - at start the soft open-files limit is raised to the hard one, and
//!   `max_connections` lowered to fit if it must (said once), so the caps
//!   hold outside the systemd unit too.
//!
//! Must never: block the accept loop on a client, or keep a connection
//! that a cap refused.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service as _;

use crate::telemetry::Metrics;

/// Time a client has to send a request's headers, and the longest a
/// kept-alive connection may sit idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors kept for everything but API connections: the database
/// and its WAL, read connections, devices, sync, the log, the listener.
pub const RESERVED_FDS: usize = 256;

/// How often a refused connection is said in the log at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The connection caps, resolved from `[api]` and the open-files limit.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
}

/// Raises the soft open-files limit to the hard one and returns
/// `max_connections` lowered to what it allows (with [`RESERVED_FDS`] kept
/// for the rest of the service), saying so when it had to lower it.
pub fn fit_open_files(max_connections: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot read the open-files limit; keeping api.max_connections as configured"
        );
        return max_connections;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    let allowed = usize::try_from(lim.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(RESERVED_FDS)
        .max(16);
    if allowed < max_connections {
        tracing::warn!(
            open_files_limit = lim.rlim_cur,
            configured = max_connections,
            lowered_to = allowed,
            "api.max_connections lowered to fit the open-files limit (raise LimitNOFILE to keep it)"
        );
        allowed
    } else {
        max_connections
    }
}

/// Open connections, in all and per source address.
#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_client.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.ip);
            }
        }
        self.metrics.api_connections_open.dec();
    }
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    PerClient,
    Total,
}

impl Cap {
    fn as_str(self) -> &'static str {
        match self {
            Cap::PerClient => "per_client",
            Cap::Total => "total",
        }
    }
}

fn admit(
    open: &Arc<Mutex<Open>>,
    ip: IpAddr,
    caps: Caps,
    metrics: &Arc<Metrics>,
) -> Result<Slot, Cap> {
    let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
    if o.total >= caps.max_connections {
        return Err(Cap::Total);
    }
    let mine = o.per_client.entry(ip).or_insert(0);
    if *mine >= caps.max_connections_per_client {
        return Err(Cap::PerClient);
    }
    *mine += 1;
    o.total += 1;
    metrics.api_connections_open.inc();
    Ok(Slot {
        open: open.clone(),
        ip,
        metrics: metrics.clone(),
    })
}

/// Says a recurring problem at most once a minute, with how often it
/// happened since it was last said.
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    since: u64,
}

impl Throttled {
    /// Some(count since the last line) when it is time to say it again.
    fn due(&mut self) -> Option<u64> {
        self.since += 1;
        match self.last {
            Some(t) if t.elapsed() < LOG_EVERY => None,
            _ => {
                self.last = Some(Instant::now());
                Some(std::mem::take(&mut self.since))
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` fires, then lets the
/// open connections finish (hyper's graceful shutdown: requests in flight
/// complete, idle connections close) and returns when all have ended.
/// The caller bounds that wait.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    caps: Caps,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let connections = TaskTracker::new();
    let mut refused_log = Throttled::default();
    let mut accept_log = Throttled::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (or a connection reset before we
                // took it): wait a little instead of spinning.
                if let Some(n) = accept_log.due() {
                    tracing::warn!(error = %e, times = n, "cannot accept API connections");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match admit(&open, peer.ip(), caps, &metrics) {
            Ok(slot) => slot,
            Err(cap) => {
                metrics
                    .api_connections_refused
                    .get_or_create(&vec![("cap".to_owned(), cap.as_str().to_owned())])
                    .inc();
                if let Some(n) = refused_log.due() {
                    tracing::warn!(
                        client = %peer.ip(),
                        cap = cap.as_str(),
                        refused_since_last_said = n,
                        max_connections = caps.max_connections,
                        max_connections_per_client = caps.max_connections_per_client,
                        "API connection cap reached: closing new connections at once (said at most once a minute)"
                    );
                }
                drop(stream);
                continue;
            }
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            serve_connection(stream, peer, router, shutdown).await;
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(req)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        // Timeouts, resets and malformed requests from one client are
        // that client's business, not the store's.
        tracing::debug!(client = %peer.ip(), error = %e, "API connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_per_address_and_in_all_and_places_come_back() {
        let open = Arc::new(Mutex::new(Open::default()));
        let metrics = Arc::new(Metrics::new());
        let caps = Caps {
            max_connections: 3,
            max_connections_per_client: 2,
        };
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let a1 = admit(&open, a, caps, &metrics).unwrap();
        let _a2 = admit(&open, a, caps, &metrics).unwrap();
        assert_eq!(admit(&open, a, caps, &metrics).err(), Some(Cap::PerClient));
        let _b1 = admit(&open, b, caps, &metrics).unwrap();
        assert_eq!(admit(&open, b, caps, &metrics).err(), Some(Cap::Total));
        drop(a1);
        let _a3 = admit(&open, a, caps, &metrics).expect("a place came back");
        assert_eq!(metrics.api_connections_open.get(), 3);
    }

    #[test]
    fn a_recurring_problem_is_said_once_a_minute_with_its_count() {
        let mut t = Throttled::default();
        assert_eq!(t.due(), Some(1));
        assert_eq!(t.due(), None);
        assert_eq!(t.due(), None);
        t.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(t.due(), Some(3));
    }
}
