//! Fault injection: the ways a real central fails (slow, 5xx, timeouts,
//! 429, an answer lost after the batch was stored, rejections), decided per
//! request with a small xorshift PRNG seeded from the clock. Must never
//! store anything when the answer it injects says "not delivered".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::problem::Problem;
use super::{bump, Inner};

/// What goes wrong, and how often. Percentages are 0–100 (more counts as
/// 100). Unknown keys are refused so a typo in a test or the demo's
/// control call does not silently inject nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer 500 or 503 (with Retry-After) without storing.
    pub fail_5xx_pct: u8,
    /// Sleep `timeout_ms`, then answer 500 without storing: the client's
    /// own timeout fires first.
    pub timeout_pct: u8,
    /// How long a "timeout" answer sleeps (default 60000).
    pub timeout_ms: u64,
    /// Store the batch, then lose the answer (the connection breaks
    /// mid-response).
    pub drop_after_store_pct: u8,
    /// Answer 429 with Retry-After without storing.
    pub status_429_pct: u8,
    /// Seconds in Retry-After on 429 and 503 (default 1).
    pub retry_after_s: u64,
    /// Answer every authenticated route with 401.
    pub unauthorized: bool,
    /// Events of these types are `rejected` ("rejected by fault injection").
    pub reject_types: Vec<String>,
    /// Events with these subjects are `rejected` likewise.
    pub reject_subjects: Vec<String>,
    /// A batch with any event of such a subject is answered 400 as a whole
    /// (nothing stored), as a batch-level refusal the edge must bisect.
    pub status_400_if_subject: Vec<String>,
    /// Sleep this long before anything else, on every request.
    pub delay_ms: u64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            fail_5xx_pct: 0,
            timeout_pct: 0,
            timeout_ms: 60_000,
            drop_after_store_pct: 0,
            status_429_pct: 0,
            retry_after_s: 1,
            unauthorized: false,
            reject_types: Vec::new(),
            reject_subjects: Vec::new(),
            status_400_if_subject: Vec::new(),
            delay_ms: 0,
        }
    }
}

impl Faults {
    /// Whether injection refuses an event of this type and subject.
    pub(crate) fn rejects(&self, event_type: Option<&str>, subject: Option<&str>) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            value.is_some_and(|v| list.iter().any(|item| item == v))
        };
        listed(&self.reject_types, event_type) || listed(&self.reject_subjects, subject)
    }
}

/// xorshift64*: plenty for "fail about N% of requests", and no rand crate.
pub(crate) struct Dice(AtomicU64);

impl Dice {
    pub fn from_clock() -> Dice {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Dice::seeded(nanos)
    }

    pub fn seeded(seed: u64) -> Dice {
        // xorshift never leaves 0, so 0 must not be the state.
        Dice(AtomicU64::new(seed | 1))
    }

    pub fn next(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        // fetch_update with a closure that always returns Some cannot fail;
        // either arm carries the previous state.
        let prev = match self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
        {
            Ok(x) | Err(x) => x,
        };
        step(prev).wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `pct`% (0 never, 100 or more always).
    pub fn roll(&self, pct: u8) -> bool {
        pct > 0 && self.next() % 100 < u64::from(pct.min(100))
    }
}

/// Sleeps `ms`, or less if the server is stopping.
async fn nap(ms: u64, stop: &CancellationToken) {
    if ms > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// The faults that replace an answer before anything is read or stored:
/// delay, then 5xx, timeout, 429 (each rolled on its own). `Some` is the
/// answer to give instead of processing the request.
pub(crate) async fn before_request(inner: &Inner, stop: &CancellationToken) -> Option<Response> {
    let faults = inner.faults();
    nap(faults.delay_ms, stop).await;
    let injected = |problem: Problem| {
        bump(&inner.counters.faults_injected, 1);
        Some(problem.into_response())
    };
    if inner.dice.roll(faults.fail_5xx_pct) {
        tracing::debug!("fault injection: 5xx");
        return if inner.dice.next() % 2 == 0 {
            injected(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "injected-failure",
                "internal error (injected by the fake central); nothing was stored",
            ))
        } else {
            injected(
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "injected-unavailable",
                    "down for maintenance (injected by the fake central); nothing was stored",
                )
                .retry_after(faults.retry_after_s),
            )
        };
    }
    if inner.dice.roll(faults.timeout_pct) {
        tracing::debug!(ms = faults.timeout_ms, "fault injection: timeout");
        nap(faults.timeout_ms, stop).await;
        return injected(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected-timeout",
            "answered after an injected timeout; nothing was stored",
        ));
    }
    if inner.dice.roll(faults.status_429_pct) {
        tracing::debug!("fault injection: 429");
        return injected(
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "injected-rate-limit",
                "too many requests (injected by the fake central); nothing was stored",
            )
            .retry_after(faults.retry_after_s),
        );
    }
    None
}

/// After the request was processed (a batch: stored): whether to lose the
/// answer instead of giving it.
pub(crate) fn drop_answer(inner: &Inner) -> Option<Response> {
    if !inner.dice.roll(inner.faults().drop_after_store_pct) {
        return None;
    }
    tracing::debug!("fault injection: answer dropped after processing");
    bump(&inner.counters.faults_injected, 1);
    Some(broken_answer())
}

/// A 200 whose body breaks off: `Content-Length` promises 1 MiB, the body
/// (a stream, so neither axum nor hyper replace the header) ends after a
/// few bytes. hyper then fails the write ("body write aborted") and closes
/// the connection before the answer is complete; the client's request
/// fails (reqwest: `IncompleteMessage`) as when a connection is lost after
/// central stored the batch. (A body yielding an `io::Error` would be the
/// direct way, but naming `http_body::Frame` needs a crate the project
/// does not depend on.)
fn broken_answer() -> Response {
    let partial = Body::from(&b"{\"results\":["[..]).into_data_stream();
    let mut response = Response::new(Body::from_stream(partial));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(1_048_576u64));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_rolls_about_the_percentage() {
        let dice = Dice::seeded(42);
        let hits = (0..10_000).filter(|_| dice.roll(30)).count();
        assert!((2_500..3_500).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| !dice.roll(0)));
        assert!((0..1000).all(|_| dice.roll(100)));
        assert!((0..1000).all(|_| dice.roll(250)));
    }

    #[test]
    fn dice_from_zero_seed_still_moves() {
        let dice = Dice::seeded(0);
        assert_ne!(dice.next(), dice.next());
    }

    #[test]
    fn faults_parse_partially_and_refuse_typos() {
        let f: Faults = serde_json::from_str(r#"{"fail_5xx_pct": 20}"#).unwrap();
        assert_eq!(f.fail_5xx_pct, 20);
        assert_eq!(f.timeout_ms, 60_000);
        assert!(serde_json::from_str::<Faults>(r#"{"fail_5xx": 20}"#).is_err());
    }

    #[test]
    fn injected_rejections_match_type_or_subject() {
        let f = Faults {
            reject_types: vec!["store.product.scanned".into()],
            reject_subjects: vec!["O-1".into()],
            ..Faults::default()
        };
        assert!(f.rejects(Some("store.product.scanned"), None));
        assert!(f.rejects(Some("store.pickup.ready"), Some("O-1")));
        assert!(!f.rejects(Some("store.pickup.ready"), Some("O-2")));
        assert!(!f.rejects(None, None));
    }
}
