//! Building a batch and judging central's answer: pure functions, no I/O
//! (shaped like a Vector sink's request builder and retry logic). The
//! verdict is a closed enum; the uplink only acts on it.

use std::time::Duration;

use serde::Deserialize;

use crate::events::StoredEvent;
use crate::store::drain_read::EventRef;
use crate::store::sync::EventFate;

/// The JSON array body of a batch (CloudEvents batch format).
pub fn encode(events: &[StoredEvent], source: &str) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = BatchBody::new(source, events.len())?;
    for e in events {
        body.push(e.as_ref())?;
    }
    Ok(body.finish().0)
}

/// A batch body built one event at a time, straight from the rows being
/// read ([`crate::store::drain_read`]): the JSON array and the (sequence,
/// id) of each event, in order.
///
/// Written field by field rather than through `CloudEvent`'s Serialize:
/// the stored `data` is copied in as it is (the schema's `json_valid`
/// check guarantees it is JSON), which saves re-parsing every event on the
/// hot path of a backlog drain. A test checks both forms are identical.
pub struct BatchBody {
    out: Vec<u8>,
    source: String,
    ids: BatchIds,
}

impl BatchBody {
    pub fn new(source: &str, events: usize) -> Result<BatchBody, serde_json::Error> {
        BatchBody::with_buffer(source, events, Vec::new())
    }

    /// Like [`BatchBody::new`], reusing `buffer`'s allocation for the body.
    pub fn with_buffer(
        source: &str,
        events: usize,
        mut buffer: Vec<u8>,
    ) -> Result<BatchBody, serde_json::Error> {
        buffer.clear();
        buffer.push(b'[');
        Ok(BatchBody {
            out: buffer,
            source: serde_json::to_string(source)?,
            ids: BatchIds {
                seqs: Vec::with_capacity(events),
                ids: String::with_capacity(events * 36),
                ends: Vec::with_capacity(events),
            },
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.len() == 0
    }

    /// Appends one event.
    pub fn push(&mut self, e: EventRef<'_>) -> Result<(), serde_json::Error> {
        let out = &mut self.out;
        if !self.ids.seqs.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
        serde_json::to_writer(&mut *out, e.id)?;
        out.extend_from_slice(b",\"source\":");
        out.extend_from_slice(self.source.as_bytes());
        out.extend_from_slice(b",\"type\":");
        serde_json::to_writer(&mut *out, e.event_type)?;
        if let Some(subject) = e.subject {
            out.extend_from_slice(b",\"subject\":");
            serde_json::to_writer(&mut *out, subject)?;
        }
        out.extend_from_slice(b",\"time\":");
        serde_json::to_writer(&mut *out, e.time)?;
        out.extend_from_slice(b",\"datacontenttype\":\"application/json\",\"sequence\":\"");
        write_u64(out, e.sequence);
        out.push(b'"');
        if let Some(stage) = e.stage {
            out.extend_from_slice(b",\"journeystage\":");
            serde_json::to_writer(&mut *out, stage)?;
        }
        out.extend_from_slice(b",\"recordedat\":");
        serde_json::to_writer(&mut *out, e.recorded_at)?;
        if let Some(jump) = e.clockjump {
            out.extend_from_slice(b",\"clockjump\":");
            if jump < 0 {
                out.push(b'-');
            }
            write_u64(out, jump.unsigned_abs());
        }
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(e.data.as_bytes());
        out.push(b'}');
        self.ids.push(e.sequence, e.id);
        Ok(())
    }

    /// The JSON array and the events' (sequence, id) in order.
    pub fn finish(mut self) -> (Vec<u8>, BatchIds) {
        self.out.push(b']');
        (self.out, self.ids)
    }
}

/// Decimal digits without a `String` per number.
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The (sequence, id) of each event of a batch, in order: all the uplink
/// keeps of a batch once it is encoded (the ids in one buffer, not a
/// `String` each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchIds {
    seqs: Vec<u64>,
    ids: String,
    ends: Vec<usize>,
}

impl BatchIds {
    pub fn push(&mut self, seq: u64, id: &str) {
        self.seqs.push(seq);
        self.ids.push_str(id);
        self.ends.push(self.ids.len());
    }

    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    pub fn seqs(&self) -> &[u64] {
        &self.seqs
    }

    pub fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.ids[start..self.ends[i]]
    }

    pub fn ids(&self) -> Vec<&str> {
        (0..self.len()).map(|i| self.id(i)).collect()
    }
}

thread_local! {
    /// The deflate state of this thread's last gzip, kept for the next:
    /// zlib's window and hash tables (~0.3 MiB at level 6) are reset
    /// instead of being allocated, zeroed and freed per batch (above the
    /// uplink's 128 KiB mmap threshold each was a fresh mapping: page
    /// faults and a munmap per batch, issue 15's drain profile).
    static DEFLATE: std::cell::RefCell<Option<(u32, flate2::Compress)>> =
        const { std::cell::RefCell::new(None) };
}

/// gzip at `level` (0–9): the same bytes as `flate2::write::GzEncoder`
/// (header without name or time, raw deflate, CRC-32 and length).
pub fn gzip(body: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let level = level.min(9);
    let mut out = Vec::with_capacity(body.len() / 5 + 64);
    // XFL as flate2 writes it: 2 = best compression, 4 = fastest.
    let xfl = if level >= 9 {
        2
    } else if level <= 1 {
        4
    } else {
        0
    };
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
    DEFLATE.with(|cell| -> std::io::Result<()> {
        let mut slot = cell.borrow_mut();
        let reusable = matches!(&*slot, Some((l, _)) if *l == level);
        if !reusable {
            *slot = Some((
                level,
                flate2::Compress::new(flate2::Compression::new(level), false),
            ));
        }
        let Some((_, deflate)) = slot.as_mut() else {
            return Err(std::io::Error::other("no deflate state"));
        };
        if reusable {
            deflate.reset();
        }
        loop {
            if out.capacity() - out.len() < 4096 {
                out.reserve(out.capacity().max(4096));
            }
            let done = usize::try_from(deflate.total_in()).unwrap_or(body.len());
            let status = deflate
                .compress_vec(
                    body.get(done..).unwrap_or_default(),
                    &mut out,
                    flate2::FlushCompress::Finish,
                )
                .map_err(std::io::Error::other);
            match status {
                Ok(flate2::Status::StreamEnd) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    // A failed stream is not reused.
                    *slot = None;
                    return Err(e);
                }
            }
        }
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    Ok(out)
}

/// Why a send is retried (the `cause` label of the retries metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCause {
    ServerError,
    Timeout,
    Connection,
    Malformed,
    RateLimited,
    /// A 3xx: redirects are never followed (a batch goes only to
    /// `central.url`), so this is a failure until the URL is fixed.
    Redirect,
}

impl RetryCause {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryCause::ServerError => "server_error",
            RetryCause::Timeout => "timeout",
            RetryCause::Connection => "connection",
            RetryCause::Malformed => "malformed_answer",
            RetryCause::RateLimited => "rate_limited",
            RetryCause::Redirect => "redirect",
        }
    }
}

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Central answered per event: apply these fates (one per event sent).
    Delivered(Vec<EventFate>),
    /// Nothing counts as delivered; send the same batch again later
    /// (at least `after`, from Retry-After).
    Retry {
        cause: RetryCause,
        detail: String,
        after: Option<Duration>,
    },
    /// 401/403: keep everything, raise the alarm, retry at the backoff cap.
    AuthFailed { status: u16, detail: String },
    /// 413: the batch is too large; split it in two.
    Split,
    /// 400/415/422: the batch as a whole was refused; bisect until the
    /// offending event is alone, then quarantine it with `problem`.
    Bisect { status: u16, problem: String },
}

#[derive(Deserialize)]
struct BatchResult<'a> {
    #[serde(borrow)]
    results: Vec<EventResult<'a>>,
}

/// Borrowed from the answer where it has no escapes (an id never has):
/// 5,000 results are read without an allocation each.
#[derive(Deserialize)]
struct EventResult<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    reason: Option<std::borrow::Cow<'a, str>>,
}

/// Judges an HTTP answer. `sent_ids` are the ids of the batch, in order.
pub fn classify(status: u16, retry_after: Option<&str>, body: &[u8], sent_ids: &[&str]) -> Verdict {
    let after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = || String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
    match status {
        200 => judge_results(body, sent_ids),
        429 => Verdict::Retry {
            cause: RetryCause::RateLimited,
            detail: "429 too many requests".into(),
            after,
        },
        401 | 403 => Verdict::AuthFailed {
            status,
            detail: problem_detail(body).unwrap_or_else(text),
        },
        413 => Verdict::Split,
        400 | 415 | 422 => Verdict::Bisect {
            status,
            problem: format!(
                "central answered {status}: {}",
                problem_detail(body).unwrap_or_else(text)
            ),
        },
        300..=399 => Verdict::Retry {
            cause: RetryCause::Redirect,
            detail: format!(
                "central answered {status} (a redirect); redirects are not followed, \
                 so nothing was delivered: check central.url"
            ),
            after,
        },
        s if s >= 500 => Verdict::Retry {
            cause: RetryCause::ServerError,
            detail: format!("central answered {s}"),
            after,
        },
        other => Verdict::Retry {
            cause: RetryCause::Malformed,
            detail: format!("unexpected status {other}"),
            after,
        },
    }
}

fn problem_detail(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("detail")
        .or_else(|| v.get("title"))
        .and_then(|d| d.as_str())
        .map(str::to_owned)
}

fn judge_results(body: &[u8], sent_ids: &[&str]) -> Verdict {
    let malformed = |detail: String| Verdict::Retry {
        cause: RetryCause::Malformed,
        detail,
        after: None,
    };
    let parsed: BatchResult = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => return malformed(format!("answer is not a batch result: {e}")),
    };
    if parsed.results.len() != sent_ids.len() {
        return malformed(format!(
            "answer has {} results for {} events",
            parsed.results.len(),
            sent_ids.len()
        ));
    }
    let mut fates = Vec::with_capacity(sent_ids.len());
    for (result, id) in parsed.results.iter().zip(sent_ids) {
        if result.id != *id {
            return malformed(format!("answer names id {} where {id} was sent", result.id));
        }
        let fate = match &*result.status {
            "accepted" | "duplicate" => EventFate::Delivered,
            "rejected" | "conflict" => EventFate::Quarantined(format!(
                "central: {}{}",
                result.status,
                result
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )),
            other => return malformed(format!("unknown result status {other:?} for {id}")),
        };
        fates.push(fate);
    }
    Verdict::Delivered(fates)
}

/// Capped exponential backoff with full jitter: a random delay in
/// `[0, min(cap, base·2^attempt)]`. When central said Retry-After, that
/// is believed instead: a floor plus a random extra up to as long again
/// (`[after, 2·after)`), so a herd of stores told "retry after 1 s" does
/// not come back in the same millisecond (issue 15, `bench fleet`), nor
/// waits out an exponential delay grown while central was down.
/// `random` is a number in [0, 1).
pub fn backoff(
    attempt: u32,
    base: Duration,
    cap: Duration,
    retry_after: Option<Duration>,
    random: f64,
) -> Duration {
    let random = random.clamp(0.0, 1.0);
    match retry_after {
        Some(after) => after + after.mul_f64(random),
        None => ceiling(attempt, base, cap).mul_f64(random),
    }
}

/// The same backoff without jitter: `min(cap, base·2^attempt)`, or exactly
/// Retry-After. Only for `bench fleet --no-jitter` (the herd it
/// shows), through the bench-only `STORE_EDGE_BENCH_NO_JITTER`.
pub fn backoff_without_jitter(
    attempt: u32,
    base: Duration,
    cap: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    retry_after.unwrap_or_else(|| ceiling(attempt, base, cap))
}

fn ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    base.saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX))
        .min(cap)
}

/// The order feed's poll interval jittered to 0.75–1.25× (`random` in
/// [0, 1)), so stores that came back together do not poll together.
pub fn jittered_interval(interval: Duration, random: f64) -> Duration {
    interval.mul_f64(0.75 + 0.5 * random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_reuses_its_state_without_changing_the_output() {
        let body: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"seq\":{i},\"x\":\"{}\"}},", i % 97).into_bytes())
            .collect();
        let unzip = |gz: &[u8]| {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut plain).unwrap();
            plain
        };
        // A fresh thread has no state: its output is the reference.
        let fresh = |level: u32| {
            let b = body.clone();
            std::thread::spawn(move || gzip(&b, level).unwrap())
                .join()
                .unwrap()
        };
        for level in [1, 6, 9, 6, 6] {
            let reference = fresh(level);
            for part in [&body[..], &body[..10], &[][..]] {
                let ours = gzip(part, level).unwrap();
                assert_eq!(&ours[..2], &[0x1f, 0x8b], "a gzip member");
                assert!(unzip(&ours) == part, "level {level}: round trip");
            }
            // After other bodies through the same state: the same bytes.
            assert!(gzip(&body, level).unwrap() == reference, "level {level}");
            let mut enc =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
            enc.write_all(&body).unwrap();
            let theirs = enc.finish().unwrap().len() as f64;
            assert!(
                (reference.len() as f64 - theirs).abs() <= theirs * 0.01,
                "level {level}: size"
            );
        }
    }

    const IDS: &[&str] = &["a", "b", "c"];

    fn check(status: u16, retry_after: Option<&str>, body: &str, expect: &Verdict) {
        assert_eq!(
            &classify(status, retry_after, body.as_bytes(), IDS),
            expect,
            "{status} {body}"
        );
    }

    #[test]
    fn per_event_results_map_to_fates() {
        check(
            200,
            None,
            r#"{"results":[{"id":"a","status":"accepted"},{"id":"b","status":"duplicate"},{"id":"c","status":"rejected","reason":"data field `score` is required"}]}"#,
            &Verdict::Delivered(vec![
                EventFate::Delivered,
                EventFate::Delivered,
                EventFate::Quarantined("central: rejected: data field `score` is required".into()),
            ]),
        );
    }

    #[test]
    fn malformed_answers_deliver_nothing() {
        for body in [
            "not json",
            r#"{"results":[{"id":"a","status":"accepted"}]}"#,
            r#"{"results":[{"id":"a","status":"accepted"},{"id":"x","status":"accepted"},{"id":"c","status":"accepted"}]}"#,
            r#"{"results":[{"id":"a","status":"accepted"},{"id":"b","status":"maybe"},{"id":"c","status":"accepted"}]}"#,
        ] {
            assert!(
                matches!(
                    classify(200, None, body.as_bytes(), IDS),
                    Verdict::Retry {
                        cause: RetryCause::Malformed,
                        ..
                    }
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn statuses() {
        assert!(
            matches!(classify(503, Some("7"), b"", IDS), Verdict::Retry { cause: RetryCause::ServerError, after: Some(d), .. } if d == Duration::from_secs(7))
        );
        assert!(
            matches!(classify(429, Some("3"), b"", IDS), Verdict::Retry { cause: RetryCause::RateLimited, after: Some(d), .. } if d == Duration::from_secs(3))
        );
        assert!(matches!(
            classify(401, None, b"", IDS),
            Verdict::AuthFailed { status: 401, .. }
        ));
        assert!(matches!(
            classify(403, None, b"", IDS),
            Verdict::AuthFailed { status: 403, .. }
        ));
        assert_eq!(classify(413, None, b"", IDS), Verdict::Split);
        assert!(
            matches!(classify(400, None, br#"{"detail":"not an array"}"#, IDS), Verdict::Bisect { status: 400, problem } if problem.contains("not an array"))
        );
        assert!(matches!(
            classify(422, None, b"", IDS),
            Verdict::Bisect { status: 422, .. }
        ));
        assert!(matches!(
            classify(415, None, b"", IDS),
            Verdict::Bisect { .. }
        ));
    }

    #[test]
    fn a_redirect_is_a_retried_failure_never_a_delivery() {
        for status in [301, 302, 303, 307, 308] {
            let body = r#"{"results":[{"id":"a","status":"accepted"},{"id":"b","status":"accepted"},{"id":"c","status":"accepted"}]}"#;
            assert!(
                matches!(
                    classify(status, None, body.as_bytes(), IDS),
                    Verdict::Retry { cause: RetryCause::Redirect, ref detail, .. }
                        if detail.contains(&status.to_string()) && detail.contains("central.url")
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn backoff_is_capped_jittered_and_honours_retry_after() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(300);
        assert_eq!(backoff(0, base, cap, None, 0.999_999).as_millis(), 499);
        assert_eq!(backoff(3, base, cap, None, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(40, base, cap, None, 0.5), Duration::from_secs(150));
        // Retry-After is a floor plus up to as long again.
        let ten = Some(Duration::from_secs(10));
        assert_eq!(backoff(2, base, cap, ten, 0.0), Duration::from_secs(10));
        assert_eq!(backoff(2, base, cap, ten, 0.1), Duration::from_secs(11));
        assert!(backoff(2, base, cap, ten, 0.999_999) < Duration::from_secs(20));
        // Central's Retry-After replaces the delay grown while it was down.
        assert_eq!(
            backoff(10, base, cap, Some(Duration::from_secs(1)), 0.5),
            Duration::from_millis(1500)
        );
        assert_eq!(backoff(0, base, cap, None, 0.0), Duration::ZERO);
    }

    #[test]
    fn a_herd_told_the_same_retry_after_spreads_over_as_long_again() {
        let after = Some(Duration::from_secs(1));
        let (base, cap) = (Duration::from_millis(500), Duration::from_secs(300));
        let waits: Vec<Duration> = (0..100)
            .map(|i| backoff(0, base, cap, after, f64::from(i) / 100.0))
            .collect();
        assert_eq!(waits[0], Duration::from_secs(1));
        assert!(waits.windows(2).all(|w| w[0] < w[1]));
        assert!(waits[99] < Duration::from_secs(2));
        // Without jitter every one of them comes back at the same moment.
        assert!(
            (0..100).all(|_| backoff_without_jitter(0, base, cap, after) == Duration::from_secs(1))
        );
        assert_eq!(
            backoff_without_jitter(3, base, cap, None),
            Duration::from_secs(4)
        );
        assert_eq!(
            backoff_without_jitter(40, base, cap, after),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff_without_jitter(40, base, cap, None),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn the_poll_interval_is_jittered_within_a_quarter() {
        let i = Duration::from_secs(15);
        assert_eq!(jittered_interval(i, 0.0), Duration::from_millis(11_250));
        assert_eq!(jittered_interval(i, 0.5), i);
        assert!(jittered_interval(i, 0.999_999) < Duration::from_millis(18_750));
    }

    #[test]
    fn numbers_are_written_like_serde_and_ids_kept_in_order() {
        for n in [0u64, 7, 10, 4_294_967_296, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        let mut body = BatchBody::new("urn:store-edge:s1", 0).unwrap();
        assert!(body.is_empty());
        for (seq, id, jump) in [
            (3u64, "a", Some(i64::MIN)),
            (9, "", Some(0)),
            (u64::MAX, "ccc", None),
        ] {
            let e = StoredEvent {
                sequence: seq,
                id: id.into(),
                event_type: "store.feedback.submitted".into(),
                subject: None,
                time: "2026-11-26T10:00:00.000Z".into(),
                recorded_at: "2026-11-26T10:00:00.000Z".into(),
                stage: None,
                clockjump: jump,
                data: "{}".into(),
            };
            body.push(e.as_ref()).unwrap();
        }
        assert_eq!(body.len(), 3);
        let (json, ids) = body.finish();
        assert_eq!(ids.seqs(), &[3, 9, u64::MAX]);
        assert_eq!(ids.ids(), vec!["a", "", "ccc"]);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v[0]["clockjump"], i64::MIN);
        assert_eq!(v[1]["clockjump"], 0);
        assert_eq!(v[2]["sequence"], u64::MAX.to_string());
        assert!(v[2].get("clockjump").is_none());
        // A reused buffer starts empty.
        let again = BatchBody::with_buffer("urn:store-edge:s1", 0, json).unwrap();
        assert_eq!(again.finish().0, b"[]");
    }

    #[test]
    fn encode_and_gzip_round_trip() {
        let e = StoredEvent {
            sequence: 7,
            id: "0190-x".into(),
            event_type: "store.feedback.submitted".into(),
            subject: None,
            time: "2026-11-26T10:00:00.000Z".into(),
            recorded_at: "2026-11-26T10:00:00.000Z".into(),
            stage: Some("loyalty".into()),
            clockjump: Some(-5),
            data: r#"{"score":9,"context":"pickup"}"#.into(),
        };
        let body = encode(&[e.clone(), e.clone()], "urn:store-edge:s1").unwrap();
        // Identical to the Serialize form the API uses.
        let via_serde =
            serde_json::to_vec(&vec![e.to_cloudevent("urn:store-edge:s1").unwrap(); 2]).unwrap();
        assert_eq!(body, via_serde);
        let plain = StoredEvent {
            subject: Some("q\"uote".into()),
            clockjump: None,
            stage: None,
            ..e.clone()
        };
        let a = encode(std::slice::from_ref(&plain), "urn:store-edge:s1").unwrap();
        let b =
            serde_json::to_vec(&vec![plain.to_cloudevent("urn:store-edge:s1").unwrap()]).unwrap();
        assert_eq!(a, b);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v[1]["sequence"], "7");
        assert_eq!(v[0]["clockjump"], -5);
        assert_eq!(v[0]["data"]["score"], 9);
        let gz = gzip(&body, 6).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, body);
    }
}
