//! A fake of the central omnichannel platform: a real HTTP server that
//! implements `shared/contracts/central-api.yaml` (uplink, order feed,
//! pickup keys, health) with fault injection, for tests, the demo and the
//! drain benchmark. Runs in-process (`FakeCentral::spawn`) or as
//! `store-edge fake-central` (`run_cli`).
//!
//! It judges events exactly as central would: the envelope in `validate`,
//! the data through `crate::events::catalog` (the only place that knows the
//! field rules). It must never accept what the contract forbids, never
//! store anything from a batch it answers with an error status, and never
//! panic on input.
//!
//! The `/_control/` routes (faults, stored events, stats, orders, passes)
//! have no authentication: bind the fake to loopback only.

mod cli;
mod control;
mod faults;
mod orders;
mod problem;
mod stores;
mod uplink;
mod validate;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cli::{run_cli, FakeCentralArgs};
pub use faults::Faults;
pub use stores::{parse_stores, BookCounts, TimelineBucket, TIMELINE_BUCKET};

use problem::Problem;

/// Largest request body accepted on the wire (compressed). A full batch of
/// 5000 events is a few MB uncompressed; this only stops runaway clients.
const MAX_WIRE_BYTES: usize = 64 * 1024 * 1024;
/// After the cancel token fires, open connections get this long to finish
/// before the server stops waiting for them, so shutdown never hangs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The key id under which the pickup-pass key is published.
pub const PICKUP_KEY_ID: &str = "k1";

/// What the fake central is started with.
#[derive(Clone, Default)]
pub struct FakeCentralConfig {
    /// The one store this central serves; other store ids get 403.
    pub store_id: String,
    /// The bearer token that store must present.
    pub token: String,
    /// Initial order feed: PickupOrder documents, oldest first.
    pub orders: Vec<Value>,
    /// Benchmark mode: count events without validating or storing them.
    pub count_only: bool,
    pub faults: Faults,
    /// Ed25519 secret key for pickup passes; random when `None`.
    pub signing_key: Option<[u8; 32]>,
    /// More stores (issue 15's fleet): store id → token. Their events are
    /// kept as digests only (`stores.rs`); `store_id` may then be empty.
    pub stores: Vec<(String, String)>,
    /// More requests in flight to the store routes are answered 429 with
    /// Retry-After (`faults.retry_after_s`).
    pub max_concurrent: Option<usize>,
}

/// Counters since start. `accepted + duplicates + rejected + conflicts` is
/// the number of per-event results given in full mode; `events_counted` is
/// the count-only mode's total.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests to the `/v1/stores/...` routes, including refused ones.
    pub requests: u64,
    /// Event batches answered with per-event results.
    pub batches: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub conflicts: u64,
    /// Events counted in count-only mode.
    pub events_counted: u64,
    /// Bytes of event batch bodies as received (compressed, if gzip).
    pub wire_bytes: u64,
    /// Answers replaced or lost by fault injection (5xx, timeout, 429, drop).
    pub faults_injected: u64,
    /// Requests answered 429 because `max_concurrent` were in flight.
    #[serde(default)]
    pub over_capacity: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    batches: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    conflicts: AtomicU64,
    events_counted: AtomicU64,
    wire_bytes: AtomicU64,
    faults_injected: AtomicU64,
    over_capacity: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Accepted events and used idempotency keys.
#[derive(Default)]
struct Ledger {
    /// Accepted events in receipt order, as compact JSON text: about a
    /// third of the memory of a `serde_json::Value`, so 300,000 events fit
    /// comfortably.
    events: Vec<Box<str>>,
    /// Event id → index in `events`. Keyed by id alone because every
    /// accepted event has this store's source (others are rejected).
    by_id: HashMap<String, usize>,
    /// Idempotency-Key → SHA-256 of the decompressed batch it was used for.
    idempotency: HashMap<String, [u8; 32]>,
    /// Sequences accepted, to count an event stored twice (under two ids).
    seqs: std::collections::HashSet<u64>,
    counts: BookCounts,
}

struct Inner {
    store_id: String,
    /// `urn:store-edge:<store_id>`.
    source: String,
    token: String,
    count_only: bool,
    faults: RwLock<Arc<Faults>>,
    ledger: Mutex<Ledger>,
    /// The order change feed: append-only, a cursor is an index into it.
    feed: Mutex<Vec<Value>>,
    counters: Counters,
    dice: faults::Dice,
    key: SigningKey,
    /// Every server task `spawn` started, for `stopped`.
    tracker: TaskTracker,
    tenants: stores::Tenants,
    capacity: stores::Capacity,
    timeline: stores::Timeline,
}

/// What handlers share: the state and the token that ends the server they
/// run in (so injected timeouts end at shutdown instead of holding it up).
#[derive(Clone)]
struct Shared {
    inner: Arc<Inner>,
    stop: CancellationToken,
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data
/// that is still consistent enough for a fake, so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fake central platform. Cheap to clone: clones share one state, so
/// keep a clone to inspect it after `spawn`.
#[derive(Clone)]
pub struct FakeCentral {
    inner: Arc<Inner>,
}

impl FakeCentral {
    pub fn new(config: FakeCentralConfig) -> FakeCentral {
        let key_bytes = config.signing_key.unwrap_or_else(random_key);
        let tracker = TaskTracker::new();
        // Closed at once: `stopped` then waits only for spawned servers.
        tracker.close();
        FakeCentral {
            inner: Arc::new(Inner {
                source: crate::events::source_of(&config.store_id),
                store_id: config.store_id,
                token: config.token,
                count_only: config.count_only,
                faults: RwLock::new(Arc::new(config.faults)),
                ledger: Mutex::new(Ledger::default()),
                feed: Mutex::new(config.orders),
                counters: Counters::default(),
                dice: faults::Dice::from_clock(),
                key: SigningKey::from_bytes(&key_bytes),
                tracker,
                tenants: stores::Tenants::new(config.stores),
                capacity: stores::Capacity::new(config.max_concurrent),
                timeline: stores::Timeline::new(),
            }),
        }
    }

    /// All routes of the contract plus `/_control/`. Injected timeouts in a
    /// router made here only end when they elapse; `spawn` ends them at
    /// shutdown.
    pub fn router(&self) -> Router {
        self.router_with(CancellationToken::new())
    }

    fn router_with(&self, stop: CancellationToken) -> Router {
        let shared = Shared {
            inner: self.inner.clone(),
            stop,
        };
        Router::new()
            .route("/v1/stores/{store_id}/events", post(uplink::post_events))
            .route(
                "/v1/stores/{store_id}/pickup-orders",
                get(orders::list_orders),
            )
            .route(
                "/v1/stores/{store_id}/pickup-keys",
                get(orders::pickup_keys),
            )
            .route("/v1/health", get(health))
            .route(
                "/_control/faults",
                put(control::put_faults).get(control::get_faults),
            )
            .route("/_control/events", get(control::events))
            .route("/_control/stats", get(control::stats))
            .route("/_control/stores", get(control::stores))
            .route("/_control/timeline", get(control::timeline))
            .route("/_control/orders", post(control::push_order))
            .route("/_control/passes", post(control::make_pass))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(MAX_WIRE_BYTES))
            .with_state(shared)
    }

    /// Binds and serves until `cancel`; returns the bound address at once
    /// (the server runs in a spawned task). After `cancel`, open
    /// connections get `SHUTDOWN_GRACE` before the server stops waiting.
    pub async fn spawn(
        self,
        listen: SocketAddr,
        cancel: CancellationToken,
    ) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stop = cancel.child_token();
        let router = self.router_with(stop.clone());
        self.inner.tracker.spawn(async move {
            let graceful = stop.clone();
            let serve = axum::serve(listener, router)
                .with_graceful_shutdown(async move { graceful.cancelled().await });
            let grace = async {
                stop.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            };
            tokio::select! {
                result = std::future::IntoFuture::into_future(serve) => {
                    if let Err(e) = result {
                        tracing::error!(error = %e, %addr, "fake central stopped serving");
                    }
                }
                () = grace => {
                    tracing::warn!(%addr, "fake central: connections still open after the grace period; stopped waiting");
                }
            }
        });
        Ok(addr)
    }

    /// Resolves when every server started by `spawn` has stopped.
    pub async fn stopped(&self) {
        self.inner.tracker.wait().await;
    }

    /// Replaces the fault settings; the next request uses them.
    pub fn set_faults(&self, faults: Faults) {
        *self.inner.faults.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(faults);
    }

    pub fn faults(&self) -> Faults {
        (*self.inner.faults()).clone()
    }

    /// Appends a new version of an order to the change feed. Not validated,
    /// so tests can feed the edge malformed documents.
    pub fn push_order(&self, order: Value) {
        self.inner.push_order(order);
    }

    /// Accepted events in receipt order.
    pub fn stored_events(&self) -> Vec<Value> {
        lock(&self.inner.ledger)
            .events
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect()
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// A pickup pass `SEP1.<payload>.<signature>` (events.md) signed with
    /// this central's key.
    pub fn sign_pass(&self, order_id: &str, store_id: &str, exp_unix: i64) -> String {
        orders::sign_pass(&self.inner.key, order_id, store_id, exp_unix)
    }

    /// `{"keys":[{"kid","alg":"Ed25519","public_key"}]}` as served at
    /// `GET /v1/stores/{storeId}/pickup-keys`.
    pub fn public_keys(&self) -> Value {
        orders::public_keys(&self.inner.key)
    }
}

/// Whose request it is.
#[derive(Clone)]
pub(crate) enum Who {
    /// The `--store-id` store, kept in full in the ledger.
    Main,
    /// A store of the `--stores` table, kept as digests.
    Tenant(Arc<stores::Tenant>),
}

/// An admitted request: whose it is, and its place within the capacity
/// (held until the answer is made).
pub(crate) struct Admitted {
    pub who: Who,
    _slot: stores::Slot,
}

impl Shared {
    /// Counts the request, refuses it beyond the capacity, applies the
    /// request-level faults, then checks the token and the store. `Err` is
    /// the answer to give instead.
    async fn admit(&self, store_id: &str, headers: &HeaderMap) -> Result<Admitted, Response> {
        bump(&self.inner.counters.requests, 1);
        self.inner.timeline.mark(stores::Mark::Request);
        let Some(slot) = self.inner.capacity.enter() else {
            bump(&self.inner.counters.over_capacity, 1);
            self.inner.timeline.mark(stores::Mark::OverCapacity);
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "over-capacity",
                "central is at capacity; nothing was stored, retry after the time in Retry-After",
            )
            .retry_after(self.inner.faults().retry_after_s)
            .into_response());
        };
        if let Some(answer) = faults::before_request(&self.inner, &self.stop).await {
            return Err(answer);
        }
        let who = self
            .inner
            .authorize(store_id, headers)
            .map_err(IntoResponse::into_response)?;
        Ok(Admitted { who, _slot: slot })
    }
}

impl Inner {
    fn authorize(&self, store_id: &str, headers: &HeaderMap) -> Result<Who, Problem> {
        let unauthorized =
            |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        if self.faults().unauthorized {
            return Err(unauthorized(
                "the store token was refused (injected by the fake central)",
            ));
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let forbidden = || {
            Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the token is not valid for store `{store_id}`"),
            )
        };
        let token = match presented {
            None => {
                return Err(unauthorized(
                    "missing store token: send `Authorization: Bearer <token>`",
                ))
            }
            Some(token) => token,
        };
        if !self.store_id.is_empty() && token == self.token {
            return if store_id == self.store_id {
                Ok(Who::Main)
            } else {
                Err(forbidden())
            };
        }
        match self.tenants.whose(token, store_id) {
            stores::Whose::Store(tenant) => Ok(Who::Tenant(tenant.clone())),
            stores::Whose::OtherStore => Err(forbidden()),
            stores::Whose::Unknown => Err(unauthorized("unknown store token")),
        }
    }

    fn faults(&self) -> Arc<Faults> {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn push_order(&self, order: Value) -> usize {
        let mut feed = lock(&self.feed);
        feed.push(order);
        feed.len()
    }

    fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: get(&c.requests),
            batches: get(&c.batches),
            accepted: get(&c.accepted),
            duplicates: get(&c.duplicates),
            rejected: get(&c.rejected),
            conflicts: get(&c.conflicts),
            events_counted: get(&c.events_counted),
            wire_bytes: get(&c.wire_bytes),
            faults_injected: get(&c.faults_injected),
            over_capacity: get(&c.over_capacity),
        }
    }
}

/// 32 random bytes for a signing key. If the OS has no randomness (never
/// seen on Linux), a clock-derived key still lets the fake run; it is a
/// test double, not a vault.
fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        tracing::warn!(error = %e, "no OS randomness; deriving the fake central's pickup key from the clock");
        use sha2::Digest;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = sha2::Sha256::digest(format!("{nanos}:{}", std::process::id())).into();
    }
    bytes
}

async fn health() -> axum::Json<Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such route; central's routes are /v1/health and /v1/stores/{storeId}/(events|pickup-orders|pickup-keys), the fake's own are under /_control/",
    )
}
