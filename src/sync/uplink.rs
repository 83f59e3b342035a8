//! The uplink: delivers unsent events to central in sequence order, in
//! fixed batches, exactly once in effect.
//!
//! Three stages keep both cores busy: a *preparer* thread reads unsent
//! events and writes each row straight into the batch's JSON body while
//! SQLite holds it (no owned copy per event), after fixing the batch in
//! the database (key + range) before it is ever sent; *gzip jobs* on the
//! blocking pool compress bodies side by side (the channel keeps their
//! order); the *sender* task posts batches in order and applies central's
//! per-event results, the recording of one overlapping the next send. A retry
//! always resends the same batch with the same key; only a 413 split, a
//! 4xx bisection or a requeue makes new groupings (with new keys).
//!
//! Must never: mark an event sent without its `accepted`/`duplicate`, hold
//! a transaction across a request, drop an event, or stall on one bad event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::batch::{self, RetryCause, Verdict};
use super::client::TransportError;
use super::SyncContext;
use crate::store::drain_read;
use crate::store::meta::{self, Key};
use crate::store::sync::{self as store_sync, BatchRange, EventFate};
use crate::store::StoreError;

/// With nothing to send, the preparer sleeps until the writer rings
/// [`crate::store::WriterHealth::unsent_grew`]; this is only the fallback
/// in case a ring never comes.
const IDLE_FALLBACK: Duration = Duration::from_secs(1);

/// A batch ready to send: its fixed range, the (sequence, id) of each
/// event in it and the gzip body. The plain body goes back to the
/// preparer once compressed, which keeps a large backlog drain within its
/// memory budget.
pub(super) struct Prepared {
    range: BatchRange,
    events: batch::BatchIds,
    /// Shared, not copied, by each send of the batch (a retry resends it).
    gz: bytes::Bytes,
}

/// Plain body buffers handed back by the gzip jobs for the next batches:
/// a drain reuses a few ~2 MiB buffers instead of allocating one per
/// batch (each new one a fresh mapping or, worse, heap that the allocator
/// keeps for good in the arena of whichever thread freed it).
#[derive(Clone, Default)]
pub(super) struct Spares(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

/// Buffers kept: one for the batch being read and one per core
/// compressing (more are freed: rarely more are in flight).
const SPARES_KEPT: usize = 3;

impl Spares {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    fn give(&self, buffer: Vec<u8>) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < SPARES_KEPT {
                v.push(buffer);
            }
        }
    }
}

/// A fresh idempotency key: the store, the range and a random suffix (so a
/// regrouping of the same range after a requeue never reuses a key).
fn new_key(store_id: &str, first: u64, last: u64) -> String {
    let mut r = [0u8; 6];
    let _ = getrandom::fill(&mut r);
    let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let mut key = format!("{store_id}-{first}-{last}-{suffix}");
    key.truncate(128);
    key
}

/// Compresses an encoded batch (on the blocking pool) and hands the
/// plain buffer back to `spares`.
fn compress(
    ctx: &SyncContext,
    spares: &Spares,
    range: BatchRange,
    body: Vec<u8>,
    events: batch::BatchIds,
) -> Result<Prepared, String> {
    let gz =
        batch::gzip(&body, ctx.settings.gzip_level).map_err(|e| format!("cannot gzip batch: {e}"));
    spares.give(body);
    Ok(Prepared {
        range,
        events,
        gz: gz?.into(),
    })
}

/// Reads the unsent events of a fixed range and encodes them (the
/// restart and split paths). `None` when none is left.
fn encode_range(
    ctx: &SyncContext,
    conn: &crate::store::ReadConn,
    spares: &Spares,
    first: u64,
    last: u64,
) -> Result<Option<(Vec<u8>, batch::BatchIds)>, String> {
    let mut body = batch::BatchBody::with_buffer(&ctx.source, 0, spares.take())
        .map_err(|e| format!("cannot encode batch: {e}"))?;
    let mut failed = None;
    drain_read::for_each_unsent_in_range(conn, first, last, |e| {
        if let Err(err) = body.push(e) {
            failed.get_or_insert(err);
        }
    })
    .map_err(|e| format!("cannot read a pending batch: {e}"))?;
    if let Some(e) = failed {
        return Err(format!("cannot encode batch: {e}"));
    }
    if body.is_empty() {
        spares.give(body.finish().0);
        return Ok(None);
    }
    Ok(Some(body.finish()))
}

/// The preparer thread: pending batches first (after a restart they are
/// resent exactly), then new ones, woken by the writer when events are
/// committed. Stops when `stop` is set (and the signal rung) or the
/// channel closes.
pub(super) fn run_preparer(
    ctx: SyncContext,
    tx: mpsc::Sender<PreparedJob>,
    stop: Arc<AtomicBool>,
    rt: tokio::runtime::Handle,
) {
    let spares = Spares::default();
    let unsent_grew = &ctx.writer.health.unsent_grew;
    'restart: while !stop.load(Ordering::Relaxed) {
        let generation = read_generation(&ctx);
        let conn = match ctx.readers.get() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "uplink cannot read the database; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let pending = match store_sync::pending_batches(&conn) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "uplink cannot read pending batches; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let mut after = 0u64;
        for range in pending {
            after = after.max(range.last_seq);
            let (body, events) = match encode_range(
                &ctx,
                &conn,
                &spares,
                range.first_seq,
                range.last_seq,
            ) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    let key = range.key.clone();
                    let _ = ctx
                        .writer
                        .run_blocking(0, move |w| store_sync::drop_batch(w, &key));
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "uplink cannot prepare a pending batch; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue 'restart;
                }
            };
            if !send_prepared(&ctx, &tx, &rt, &spares, range, body, events) {
                return;
            }
        }
        loop {
            // Taken before looking: a commit after it ends the wait below
            // at once, so none is missed.
            let mark = unsent_grew.mark();
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if read_generation(&ctx) != generation {
                tracing::info!("quarantined events were requeued; regrouping the uplink");
                continue 'restart;
            }
            // Read and encoded in one pass; the range is fixed in the
            // database below, before anything of it is sent.
            let mut body = match batch::BatchBody::with_buffer(
                &ctx.source,
                ctx.settings.batch_max_events.min(8192),
                spares.take(),
            ) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "uplink cannot encode a batch; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let mut failed = None;
            let read = drain_read::for_each_unsent_after(
                &conn,
                after,
                ctx.settings.batch_max_events,
                ctx.settings.batch_max_bytes,
                |e| {
                    if let Err(err) = body.push(e) {
                        failed.get_or_insert(err);
                    }
                },
            );
            let (body, events) = body.finish();
            if let Err(e) = read {
                spares.give(body);
                tracing::error!(error = %e, "uplink cannot read unsent events; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            if let Some(e) = failed {
                spares.give(body);
                tracing::error!(error = %e, "ALARM: uplink cannot encode stored events; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            let (Some(&first), Some(&last)) = (events.seqs().first(), events.seqs().last()) else {
                spares.give(body);
                // Nothing to send: sleep until the writer commits new or
                // requeued events (or sees the CLI commit), with a slow
                // poll as a safety net.
                unsent_grew.wait_past(mark, IDLE_FALLBACK);
                continue;
            };
            let range = BatchRange {
                key: new_key(&ctx.store_id, first, last),
                first_seq: first,
                last_seq: last,
            };
            // Fixed before its first send.
            let fixed = range.clone();
            match ctx
                .writer
                .run_blocking(0, move |w| store_sync::create_batch(w, &fixed))
            {
                Ok(()) => {}
                Err(StoreError::WriterStopped) => return,
                Err(e) => {
                    spares.give(body);
                    tracing::error!(error = %e, "uplink cannot record a batch; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
            after = last;
            if !send_prepared(&ctx, &tx, &rt, &spares, range, body, events) {
                return;
            }
        }
    }
}

fn read_generation(ctx: &SyncContext) -> Option<String> {
    ctx.readers
        .get()
        .ok()
        .and_then(|c| meta::get(&c, Key::RequeueGeneration).ok().flatten())
}

/// A batch being compressed on the blocking pool. Several run at once
/// (both cores compress) while the channel keeps their order.
pub(super) type PreparedJob = tokio::task::JoinHandle<Result<Prepared, String>>;

/// Starts the gzip of an encoded, fixed batch and hands the job over in
/// order; false when the sender is gone.
fn send_prepared(
    ctx: &SyncContext,
    tx: &mpsc::Sender<PreparedJob>,
    rt: &tokio::runtime::Handle,
    spares: &Spares,
    range: BatchRange,
    body: Vec<u8>,
    events: batch::BatchIds,
) -> bool {
    let (c, s) = (ctx.clone(), spares.clone());
    let job = rt.spawn_blocking(move || compress(&c, &s, range, body, events));
    tx.blocking_send(job).is_ok()
}

/// The sender task: one batch at a time, in order, until cancelled.
pub(super) async fn run_sender(
    ctx: SyncContext,
    mut rx: mpsc::Receiver<PreparedJob>,
    cancel: CancellationToken,
) {
    let mut attempt = 0u32;
    let mut inflight = std::collections::VecDeque::new();
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            p = rx.recv() => p,
        };
        let Some(job) = next else { return };
        let prepared = match job.await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                // Encoding stored JSON cannot fail unless a row is damaged.
                // The batch stays recorded; the next start tries it again.
                tracing::error!(error = %e, "ALARM: cannot prepare an uplink batch; it stays pending");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "uplink batch preparation failed");
                continue;
            }
        };
        if !deliver(&ctx, prepared, &mut attempt, &mut inflight, &cancel).await {
            return;
        }
    }
}

/// Sends one batch until central has answered for every event in it.
/// Returns false when cancelled.
async fn deliver(
    ctx: &SyncContext,
    prepared: Prepared,
    attempt: &mut u32,
    inflight: &mut std::collections::VecDeque<tokio::task::JoinHandle<bool>>,
    cancel: &CancellationToken,
) -> bool {
    let mut stack = vec![prepared];
    while let Some(p) = stack.pop() {
        loop {
            if cancel.is_cancelled() {
                return false;
            }
            let ids = p.events.ids();
            ctx.metrics.sync_wire_bytes.inc_by(p.gz.len() as u64);
            let verdict = match ctx.client.push(&p.range.key, p.gz.clone()).await {
                Ok(answer) => batch::classify(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &ids,
                ),
                Err(TransportError::Timeout(d)) => Verdict::Retry {
                    cause: RetryCause::Timeout,
                    detail: format!("no answer within {d:?}"),
                    after: None,
                },
                Err(TransportError::Connection(e)) => Verdict::Retry {
                    cause: RetryCause::Connection,
                    detail: e,
                    after: None,
                },
            };
            match verdict {
                Verdict::Delivered(fates) => {
                    let pairs: Vec<(u64, EventFate)> =
                        p.events.seqs().iter().copied().zip(fates).collect();
                    let quarantined: Vec<(u64, String)> = pairs
                        .iter()
                        .filter_map(|(s, f)| match f {
                            EventFate::Quarantined(r) => Some((*s, r.clone())),
                            EventFate::Delivered => None,
                        })
                        .collect();
                    // Recording the results runs beside the next send (the
                    // writer keeps them durable); at most one waits at once.
                    let (c, key) = (ctx.clone(), p.range.key.clone());
                    inflight.push_back(tokio::spawn(async move { apply(&c, &key, pairs).await }));
                    while inflight.len() > 1 {
                        if let Some(oldest) = inflight.pop_front() {
                            if !oldest.await.unwrap_or(false) {
                                return false;
                            }
                        }
                    }
                    for (seq, reason) in quarantined {
                        tracing::warn!(sequence = seq, reason = %reason, "central refused an event; it is kept in quarantine (store-edge sync status)");
                    }
                    ctx.metrics.sync_batches.inc();
                    ctx.link.succeeded(ctx).await;
                    *attempt = 0;
                    break;
                }
                Verdict::Retry {
                    cause,
                    detail,
                    after,
                } => {
                    ctx.metrics
                        .sync_retries
                        .get_or_create(&vec![("cause".to_owned(), cause.as_str().to_owned())])
                        .inc();
                    ctx.link.failed(ctx, &format!("uplink: {detail}")).await;
                    let (base, cap) = (ctx.settings.backoff_base, ctx.settings.backoff_cap);
                    let wait = match jitter() {
                        Some(random) => batch::backoff(*attempt, base, cap, after, random),
                        None => batch::backoff_without_jitter(*attempt, base, cap, after),
                    };
                    *attempt = attempt.saturating_add(1);
                    if !sleep_or_wake(ctx, wait, cancel).await {
                        return false;
                    }
                }
                Verdict::AuthFailed { status, detail } => {
                    ctx.metrics
                        .sync_retries
                        .get_or_create(&vec![("cause".to_owned(), "unauthorized".to_owned())])
                        .inc();
                    tracing::error!(status, detail = %detail, "ALARM: central refuses this store's token; events are kept; check central.token_file");
                    ctx.link.failed(ctx, &format!("ALARM: central answered {status}: check the store token ({detail})")).await;
                    if !sleep_or_wake(ctx, ctx.settings.backoff_cap, cancel).await {
                        return false;
                    }
                }
                Verdict::Split | Verdict::Bisect { .. } => {
                    let problem = match &verdict {
                        Verdict::Bisect { problem, .. } => problem.clone(),
                        _ => "central answered 413: a single event is too large for central"
                            .to_owned(),
                    };
                    if let Verdict::Bisect { status, .. } = &verdict {
                        tracing::error!(status, problem = %problem, events = p.events.len(), "ALARM: central refused a whole batch; bisecting to find the event");
                    }
                    if p.events.len() == 1 {
                        let seq = p.events.seqs()[0];
                        if !apply(
                            ctx,
                            &p.range.key,
                            vec![(seq, EventFate::Quarantined(problem.clone()))],
                        )
                        .await
                        {
                            return false;
                        }
                        tracing::warn!(sequence = seq, reason = %problem, "event quarantined after bisection");
                        break;
                    }
                    match split(ctx, p).await {
                        Some(halves) => {
                            // The first half goes first: order is kept.
                            stack.extend(halves.into_iter().rev());
                        }
                        None => return false,
                    }
                    break;
                }
            }
        }
    }
    true
}

/// Applies fates in one transaction; retries on a busy database.
async fn apply(ctx: &SyncContext, key: &str, pairs: Vec<(u64, EventFate)>) -> bool {
    let key = key.to_owned();
    let now = crate::events::format_time(time::OffsetDateTime::now_utc());
    loop {
        let (k, p, n) = (key.clone(), pairs.clone(), now.clone());
        let result = ctx
            .writer
            .run(0, move |w| {
                let done = store_sync::apply_results(w, &k, &p)?;
                meta::set(w, &[(Key::SyncLastSuccess, Some(n))])?;
                Ok(done)
            })
            .await;
        match result {
            Ok(_) => return true,
            Err(StoreError::WriterStopped) => return false,
            Err(e) => {
                tracing::error!(error = %e, "cannot record central's results; retrying (the batch would be resent and answered duplicate)");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Replaces a batch by its two halves (new keys), prepared for sending.
async fn split(ctx: &SyncContext, p: Prepared) -> Option<Vec<Prepared>> {
    let mid = p.events.len() / 2;
    let (first, second) = p.events.seqs().split_at(mid);
    let mk = |seqs: &[u64]| BatchRange {
        key: new_key(&ctx.store_id, seqs[0], seqs[seqs.len() - 1]),
        first_seq: seqs[0],
        last_seq: seqs[seqs.len() - 1],
    };
    let ranges = vec![mk(first), mk(second)];
    let old = p.range.key.clone();
    let new = ranges.clone();
    match ctx
        .writer
        .run(0, move |w| store_sync::replace_batch(w, &old, &new))
        .await
    {
        Ok(()) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot record the split batches");
            return None;
        }
    }
    // The halves are read again from the database: exactly the unsent
    // events of each sub-range, as after a restart.
    let c = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let conn = c.readers.get().ok()?;
        let spares = Spares::default();
        let mut out = Vec::new();
        for range in ranges {
            let Some((body, events)) =
                encode_range(&c, &conn, &spares, range.first_seq, range.last_seq).ok()?
            else {
                let key = range.key.clone();
                let _ = c
                    .writer
                    .run_blocking(0, move |w| store_sync::drop_batch(w, &key));
                continue;
            };
            out.push(compress(&c, &spares, range, body, events).ok()?);
        }
        Some(out)
    })
    .await
    .ok()
    .flatten()
}

/// Sleeps, unless cancelled (false) or woken by "sync now".
async fn sleep_or_wake(ctx: &SyncContext, wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
        _ = ctx.now.notified() => true,
    }
}

/// The environment variable that turns jitter off. A bench-only switch
/// for `bench fleet --no-jitter` (the herd it shows), not a config key:
/// a store never sets it.
pub const NO_JITTER_ENV: &str = "STORE_EDGE_BENCH_NO_JITTER";

/// A number in [0, 1) for jitter, or `None` when `STORE_EDGE_BENCH_NO_JITTER=1`
/// (read once per process).
pub(super) fn jitter() -> Option<f64> {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let off = *OFF.get_or_init(|| std::env::var(NO_JITTER_ENV).is_ok_and(|v| v == "1"));
    if off {
        tracing::debug!("{NO_JITTER_ENV}=1: no jitter (bench only)");
        None
    } else {
        Some(fastrand())
    }
}

/// A number in [0, 1) for jitter, from the OS's randomness.
fn fastrand() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_and_within_the_contract() {
        let a = new_key("berlin-01", 1, 500);
        let b = new_key("berlin-01", 1, 500);
        assert_ne!(a, b);
        assert!(a.starts_with("berlin-01-1-500-") && (8..=128).contains(&a.len()));
        assert!(new_key(&"x".repeat(64), u64::MAX, u64::MAX).len() <= 128);
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..1000 {
            let r = fastrand();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
