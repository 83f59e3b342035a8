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
//! - a connection buffers at most [`MAX_BUF_BYTES`] of a request's head
//!   (hyper's read buffer; its default is ~400 KiB) and at most about as
//!   much of an answer, and the kernel at most [`SEND_BUFFER_BYTES`];
//!   bodies are read whole, within their own time and size, by
//!   `api/body.rs`;
//! - an answer must make progress: a client that stops reading it for
//!   [`WRITE_STALL_TIMEOUT`] is dropped ([`WriteStallGuard`], and
//!   `TCP_USER_TIMEOUT` for a peer that vanished);
//! - at most `max_connections_per_client` connections per client (an IPv4
//!   address or an IPv6 /64, [`ClientAddr`]) and `max_connections` in all;
//!   a connection over a cap is accepted and closed at once (never left
//!   waiting in the backlog), counted in
//!   `store_edge_api_connections_refused_total` and said in the log at most
//!   once a minute;
//! - with TLS (`[api] tls_cert`, `api/tls.rs`) the handshake must end
//!   within [`HEADER_READ_TIMEOUT`] too (counted as phase `handshake`), and
//!   runs over the same [`WriteStallGuard`]; requests served over it carry
//!   [`Https`], so the session cookie is `Secure`;
//! - at start the soft open-files limit is raised to the hard one, and
//!   `max_connections` lowered to fit if it must (said once), so the caps
//!   hold outside the systemd unit too.
//!
//! Must never: block the accept loop on a client, keep a connection that a
//! cap refused, or wait on a client without a timer.

use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service as _;

use super::client::ClientAddr;
use crate::telemetry::{LogEvery, Metrics};

/// Time a client has to send a request's headers, and the longest a
/// kept-alive connection may sit idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// hyper's buffer per connection: a request's head must fit (else 431),
/// and hyper takes no more of an answer while this much waits to be sent.
/// hyper's floor is 8 KiB; a tablet's head with its cookie is under 2 KiB.
pub const MAX_BUF_BYTES: usize = 16 * 1024;

/// Longest an answer may make no progress because the client does not
/// read it (its receive window and our send buffer are full); then the
/// connection is dropped. A tablet on a weak Wi-Fi stalls for seconds, not
/// half a minute; a live stream sends a keep-alive every 15 s.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The kernel's send buffer per API connection (it counts double that).
/// Left to autotuning it grows to 4 MiB per connection, held for a client
/// that stopped reading; 64 KiB still fills a store LAN's link.
pub const SEND_BUFFER_BYTES: usize = 64 * 1024;

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
    per_client: HashMap<ClientAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    open: Arc<Mutex<Open>>,
    client: ClientAddr,
    metrics: Arc<Metrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.client);
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
    client: ClientAddr,
    caps: Caps,
    metrics: &Arc<Metrics>,
) -> Result<Slot, Cap> {
    let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
    if o.total >= caps.max_connections {
        return Err(Cap::Total);
    }
    let mine = o.per_client.entry(client).or_insert(0);
    if *mine >= caps.max_connections_per_client {
        return Err(Cap::PerClient);
    }
    *mine += 1;
    o.total += 1;
    metrics.api_connections_open.inc();
    Ok(Slot {
        open: open.clone(),
        client,
        metrics: metrics.clone(),
    })
}

/// A request extension: the request came over TLS.
#[derive(Debug, Clone, Copy)]
pub struct Https;

/// Serves `router` on `listener` until `shutdown` fires, then lets the
/// open connections finish (hyper's graceful shutdown: requests in flight
/// complete, idle connections close) and returns when all have ended.
/// The caller bounds that wait. With `tls`, every connection is HTTPS.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    caps: Caps,
    metrics: Arc<Metrics>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let connections = TaskTracker::new();
    let refused_log = LogEvery::new(LOG_EVERY);
    let accept_log = LogEvery::new(LOG_EVERY);
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
        let client = ClientAddr::of(peer.ip());
        let slot = match admit(&open, client, caps, &metrics) {
            Ok(slot) => slot,
            Err(cap) => {
                metrics
                    .api_connections_refused
                    .get_or_create(&vec![("cap".to_owned(), cap.as_str().to_owned())])
                    .inc();
                if let Some(n) = refused_log.due() {
                    tracing::warn!(
                        client = %client,
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
        let metrics = metrics.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            serve_connection(stream, peer, router, metrics, tls, shutdown).await;
        });
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    metrics: Arc<Metrics>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let socket = socket2::SockRef::from(&stream);
    // Unacknowledged data for this long (the peer left the Wi-Fi or was
    // switched off) ends the connection in the kernel, as a stalled write
    // does in [`WriteStallGuard`]; by default the kernel retries ~15 min.
    let _ = socket.set_tcp_user_timeout(Some(WRITE_STALL_TIMEOUT));
    let _ = socket.set_send_buffer_size(SEND_BUFFER_BYTES);
    let io = WriteStallGuard::new(stream, WRITE_STALL_TIMEOUT);
    let served = match tls {
        None => serve_io(io, peer, router, false, shutdown).await,
        Some(acceptor) => {
            // A client that opens TCP and never finishes the handshake is
            // held no longer than one that never sends its headers.
            // The pending handshake (and with it the socket) lives until
            // the end of this arm, so a timeout is counted before the
            // client sees its connection close.
            let accept = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(io));
            tokio::pin!(accept);
            let handshake = tokio::select! {
                h = &mut accept => h,
                _ = shutdown.cancelled() => return,
            };
            match handshake {
                Ok(Ok(io)) => serve_io(io, peer, router, true, shutdown).await,
                Ok(Err(e)) => {
                    tracing::debug!(client = %peer.ip(), error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    count_timeout(&metrics, "handshake");
                    tracing::debug!(client = %peer.ip(), "TLS handshake not finished in time");
                    return;
                }
            }
        }
    };
    if let Err(e) = served {
        let phase = if write_stalled(&e) {
            Some("write")
        } else if e.is_timeout() {
            Some("headers")
        } else {
            None
        };
        if let Some(phase) = phase {
            count_timeout(&metrics, phase);
        }
        // Timeouts, resets and malformed requests from one client are
        // that client's business, not the store's.
        tracing::debug!(client = %peer.ip(), error = %e, "API connection ended");
    }
}

/// Counts a client dropped for being too slow (`headers`, `body`, `write`).
pub(crate) fn count_timeout(metrics: &Metrics, phase: &str) {
    metrics
        .api_client_timeouts
        .get_or_create(&vec![("phase".to_owned(), phase.to_owned())])
        .inc();
}

/// Serves one connection's requests until it ends; on `shutdown`, lets
/// the request in flight finish.
async fn serve_io<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    https: bool,
    shutdown: CancellationToken,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if https {
            req.extensions_mut().insert(Https);
        }
        router.clone().call(req)
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_BYTES)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

/// The error a stalled write ends a connection with.
#[derive(Debug, thiserror::Error)]
#[error("the client read nothing of the answer for {} s", WRITE_STALL_TIMEOUT.as_secs())]
struct WriteStalled;

fn write_stalled(e: &hyper::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<WriteStalled>()) {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

/// A connection whose writes must make progress: once a write finds the
/// socket full (the client reads nothing, its window and our send buffer
/// are full), a timer starts; any write that goes through stops it; if it
/// runs out, the write fails with [`WriteStalled`] and hyper drops the
/// connection.
///
/// Why here and not only `TCP_USER_TIMEOUT`: a client that stops reading
/// still acknowledges our zero-window probes, and kernels before 5.11 then
/// never time the connection out; and hyper stops sending (and a live
/// stream's task waits) long before the kernel would notice. A timer around
/// the writes holds on every kernel and is tested with tokio's clock.
pub struct WriteStallGuard<T> {
    io: T,
    stall: Duration,
    /// Armed while writes find the socket full; made on the first stall.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl<T> WriteStallGuard<T> {
    pub fn new(io: T, stall: Duration) -> WriteStallGuard<T> {
        WriteStallGuard {
            io,
            stall,
            timer: None,
            armed: false,
        }
    }

    fn watch<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if r.is_ready() {
            self.armed = false;
            return r;
        }
        let deadline = tokio::time::Instant::now() + self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, WriteStalled)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
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
        let a = ClientAddr::of([127, 0, 0, 2].into());
        let b = ClientAddr::of([127, 0, 0, 3].into());
        let a1 = admit(&open, a, caps, &metrics).unwrap();
        let _a2 = admit(&open, a, caps, &metrics).unwrap();
        assert_eq!(admit(&open, a, caps, &metrics).err(), Some(Cap::PerClient));
        let _b1 = admit(&open, b, caps, &metrics).unwrap();
        assert_eq!(admit(&open, b, caps, &metrics).err(), Some(Cap::Total));
        drop(a1);
        let _a3 = admit(&open, a, caps, &metrics).expect("a place came back");
        assert_eq!(metrics.api_connections_open.get(), 3);
    }

    /// Issue 10 review: the per-client cap counted exact addresses, and an
    /// IPv6 host owns a /64, so it could open the cap once per address.
    #[test]
    fn ipv6_peers_in_one_64_share_the_per_client_cap() {
        let open = Arc::new(Mutex::new(Open::default()));
        let metrics = Arc::new(Metrics::new());
        let caps = Caps {
            max_connections: 100,
            max_connections_per_client: 2,
        };
        let peer = |s: &str| ClientAddr::of(s.parse().unwrap());
        let _one = admit(&open, peer("2001:db8:1:2::1"), caps, &metrics).unwrap();
        let _two = admit(&open, peer("2001:db8:1:2::2"), caps, &metrics).unwrap();
        assert_eq!(
            admit(&open, peer("2001:db8:1:2:abcd::3"), caps, &metrics).err(),
            Some(Cap::PerClient),
            "a third address of the same /64 is the same client"
        );
        let _other = admit(&open, peer("2001:db8:1:3::1"), caps, &metrics)
            .expect("the next /64 is another client");
    }

    /// A router whose `/big` answers `len` bytes.
    fn big_answer(len: usize) -> Router {
        Router::new().route(
            "/big",
            axum::routing::get(move || async move { vec![b'x'; len] }),
        )
    }

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    /// Issue 10 review: only the headers were timed, so a client that
    /// stopped reading an answer (full window) held its connection, and a
    /// live stream's task, for ever.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_the_answer_is_dropped() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(4096);
        let served = tokio::spawn(serve_io(
            WriteStallGuard::new(server, WRITE_STALL_TIMEOUT),
            peer(),
            big_answer(1 << 20),
            false,
            CancellationToken::new(),
        ));
        client
            .write_all(b"GET /big HTTP/1.1\r\nHost: store\r\n\r\n")
            .await
            .unwrap();
        // The client reads nothing from here on (tokio's clock is paused:
        // the wait costs no real time).
        let ended = tokio::time::timeout(WRITE_STALL_TIMEOUT * 3, served)
            .await
            .expect("the connection was dropped")
            .unwrap();
        let e = ended.expect_err("ended by the stall timer");
        assert!(write_stalled(&e), "{e:?}");
        drop(client);
    }

    /// The stall timer counts only time without progress: a slow reader
    /// gets the whole answer however long it takes.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_slowly_gets_the_whole_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let len = 256 * 1024;
        let (mut client, server) = tokio::io::duplex(4096);
        let served = tokio::spawn(serve_io(
            WriteStallGuard::new(server, WRITE_STALL_TIMEOUT),
            peer(),
            big_answer(len),
            false,
            CancellationToken::new(),
        ));
        client
            .write_all(b"GET /big HTTP/1.1\r\nHost: store\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let mut got = 0;
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::time::sleep(WRITE_STALL_TIMEOUT * 2 / 3).await;
            let n = client.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got += n;
        }
        assert!(got > len, "the whole answer arrived: {got} bytes");
        assert!(started.elapsed() > WRITE_STALL_TIMEOUT * 10);
        served.await.unwrap().expect("the connection ended cleanly");
    }
}
