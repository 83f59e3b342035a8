//! The open live streams (`GET /api/v1/stream`), by token: at most
//! `[api] max_streams_per_token` each (a new one beyond it closes that
//! token's oldest, so a tablet that roamed Wi-Fi and left a dead stream
//! behind is never locked out), and every stream of a revoked token closed
//! within a second.
//!
//! Why: a stream checked its token once, so a lost tablet's open stream
//! kept delivering orders with customer names after `token revoke`
//! (issue 10). The check is a primary-key read per token and second, not a
//! cache: revocation keeps taking effect on the next request too.
//!
//! Each stream's sending task ([`feed`]) races every wait against its
//! ticket and the shutdown, the send to the client included: a client that
//! stops reading fills the queue and blocks the send, and such a task once
//! never saw its token revoked and lived on with its memory (issue 10).
//!
//! Must never: keep a stream of a token it could not confirm is valid
//! beyond the next check; wait on a client without also watching the
//! ticket.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::Event;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::live::{Audience, LiveEvent};
use crate::store::{tokens, ReadPool};
use crate::telemetry::Metrics;

/// Events queued for one stream's client; beyond it the sending task waits
/// (and still watches its ticket).
const QUEUE: usize = 64;

/// How often the tokens of open streams are checked.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);

type TokenHash = [u8; 32];

#[derive(Default)]
struct Open {
    next_id: u64,
    by_token: HashMap<TokenHash, VecDeque<(u64, CancellationToken)>>,
}

/// The registry of open streams; cheap to clone.
#[derive(Clone)]
pub struct LiveStreams {
    open: Arc<Mutex<Open>>,
    max_per_token: usize,
    metrics: Arc<Metrics>,
}

/// One open stream's place in the registry: `closed` fires when the
/// service ends it; dropping the ticket (the stream's sending task ended)
/// frees the place. The task holds it for its whole life, so
/// `store_edge_api_streams_open` counts the tasks that still run.
pub struct StreamTicket {
    streams: LiveStreams,
    token: TokenHash,
    id: u64,
    pub closed: CancellationToken,
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        self.streams.metrics.api_streams_open.dec();
        let mut open = self.streams.lock();
        if let Some(list) = open.by_token.get_mut(&self.token) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                open.by_token.remove(&self.token);
            }
        }
    }
}

impl LiveStreams {
    pub fn new(max_per_token: usize, metrics: Arc<Metrics>) -> LiveStreams {
        LiveStreams {
            open: Arc::default(),
            max_per_token: max_per_token.max(1),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_closed(&self, why: &str, n: usize) {
        if n > 0 {
            self.metrics
                .api_streams_closed
                .get_or_create(&vec![("why".to_owned(), why.to_owned())])
                .inc_by(n as u64);
        }
    }

    /// Registers a new stream of `token`, closing the token's oldest
    /// streams beyond the cap.
    pub fn open(&self, token: TokenHash) -> StreamTicket {
        let closed = CancellationToken::new();
        let (id, replaced) = {
            let mut open = self.lock();
            open.next_id += 1;
            let id = open.next_id;
            let list = open.by_token.entry(token).or_default();
            list.push_back((id, closed.clone()));
            let mut replaced = 0;
            while list.len() > self.max_per_token {
                if let Some((_, oldest)) = list.pop_front() {
                    oldest.cancel();
                    replaced += 1;
                }
            }
            (id, replaced)
        };
        if replaced > 0 {
            tracing::info!(
                max_streams_per_token = self.max_per_token,
                "a token opened more live streams than allowed: its oldest was closed"
            );
        }
        self.count_closed("replaced", replaced);
        self.metrics.api_streams_open.inc();
        StreamTicket {
            streams: self.clone(),
            token,
            id,
            closed,
        }
    }

    /// Open streams in all.
    pub fn len(&self) -> usize {
        self.lock().by_token.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every stream of `token`; how many.
    fn close_token(&self, token: &TokenHash) -> usize {
        let list = self.lock().by_token.remove(token).unwrap_or_default();
        for (_, c) in &list {
            c.cancel();
        }
        list.len()
    }

    /// Every [`RECHECK_EVERY`], closes the streams of tokens that were
    /// revoked (or deleted) since they opened. A failed read closes nothing
    /// and is said once until reads work again.
    pub async fn watch_revocations(self, readers: ReadPool, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(RECHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let held: Vec<TokenHash> = self.lock().by_token.keys().copied().collect();
            if held.is_empty() {
                continue;
            }
            let checked = readers
                .run(move |c| {
                    let mut gone = Vec::new();
                    for t in held {
                        if !tokens::is_valid(c, &t)? {
                            gone.push(t);
                        }
                    }
                    Ok(gone)
                })
                .await;
            match checked {
                Ok(gone) => {
                    failing = false;
                    for t in gone {
                        let n = self.close_token(&t);
                        if n > 0 {
                            tracing::info!(
                                streams = n,
                                "token revoked: its open live streams were closed"
                            );
                            self.count_closed("revoked", n);
                        }
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot re-check the tokens of open live streams; retrying every second");
                }
                Err(_) => {}
            }
        }
    }
}

/// The server-sent events of one stream: the live events `audience` may
/// see, and `lagged` when it fell behind. A task sends them while `ticket`
/// holds (it owns the ticket, so the place is freed when it ends); it ends
/// when the client leaves, the ticket is closed (revoked, replaced) or the
/// service shuts down, whichever comes first, also while a send waits on a
/// client that stopped reading. Once the ticket is closed the stream ends
/// at the client's next read: what was queued is not delivered.
pub fn feed(
    ticket: StreamTicket,
    mut live: broadcast::Receiver<LiveEvent>,
    audience: Audience,
    shutdown: CancellationToken,
) -> impl futures_core::Stream<Item = Result<Event, Infallible>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let closed = ticket.closed.clone();
    tokio::spawn(async move {
        let ticket = ticket;
        loop {
            // `biased`: closing wins over an event that is also ready.
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = ticket.closed.cancelled() => return,
                // The client went away: free the place now, not at the next event.
                _ = tx.closed() => return,
                n = live.recv() => n,
            };
            let event = match next {
                Ok(e) if audience.wants(&e) => {
                    Event::default().event(e.topic.as_str()).data(e.json)
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => Event::default()
                    .event("lagged")
                    .data(json!({"missed": n}).to_string()),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // The send waits while the queue is full, i.e. while the client
            // does not read: it must not outlive the ticket.
            let sent = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = ticket.closed.cancelled() => return,
                sent = tx.send(Ok(event)) => sent,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Queue { rx, closed }
}

/// The client's end of a stream's queue.
struct Queue {
    rx: mpsc::Receiver<Result<Event, Infallible>>,
    closed: CancellationToken,
}

impl futures_core::Stream for Queue {
    type Item = Result<Event, Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        // A revoked token's queued events stay undelivered.
        if self.closed.is_cancelled() {
            return std::task::Poll::Ready(None);
        }
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Live, Topic};

    /// Security review of issue 10: the task sent outside the wait that
    /// watched the ticket, so with a client that reads nothing (nobody
    /// polls the stream here) it waited in the send for ever and never saw
    /// the revocation. Paused clock: the wait costs no real time.
    #[tokio::test(start_paused = true)]
    async fn a_task_waiting_on_a_client_that_reads_nothing_ends_when_its_token_is_revoked() {
        let metrics = Arc::new(Metrics::new());
        let streams = LiveStreams::new(4, metrics.clone());
        let live = Live::new();
        let token = [7u8; 32];
        let unread = feed(
            streams.open(token),
            live.subscribe(),
            Audience {
                register: None,
                pickups_visible: true,
                watching: crate::live::Watching::Store,
            },
            CancellationToken::new(),
        );
        // More than the queue holds: the task ends up waiting in a send.
        for i in 0..QUEUE * 2 {
            live.publish(None, Topic::Scan, &json!({"n": i}));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(metrics.api_streams_open.get(), 1, "the task still runs");
        assert_eq!(streams.close_token(&token), 1);
        tokio::time::timeout(Duration::from_secs(60), async {
            while metrics.api_streams_open.get() != 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the task ended at the revocation");
        drop(unread);
    }

    #[test]
    fn a_token_keeps_its_newest_streams_and_places_come_back() {
        let streams = LiveStreams::new(2, Arc::new(Metrics::new()));
        let a = [1u8; 32];
        let b = [2u8; 32];
        let first = streams.open(a);
        let second = streams.open(a);
        let other = streams.open(b);
        assert_eq!(streams.len(), 3);
        let third = streams.open(a);
        assert!(first.closed.is_cancelled(), "the oldest gives way");
        assert!(!second.closed.is_cancelled() && !third.closed.is_cancelled());
        assert!(!other.closed.is_cancelled(), "another token's stream stays");
        drop(first);
        assert_eq!(streams.len(), 3);
        assert_eq!(streams.close_token(&a), 2);
        assert!(second.closed.is_cancelled() && third.closed.is_cancelled());
        drop((second, third));
        assert_eq!(streams.len(), 1);
        drop(other);
        assert!(streams.is_empty());
    }
}
