//! One central for many stores (issue 15's fleet): the `--stores FILE`
//! table (store id → token), each store's events kept apart in a small
//! book, the capacity (`--max-concurrent`: more requests in flight are
//! answered 429 with Retry-After) and the timeline of requests and 429s.
//!
//! A store of the table keeps only 64-bit digests (of the event id, of the
//! event, of its sequence): enough to answer `duplicate` or `conflict`
//! and to count an event stored twice (a sequence of the store accepted
//! under a second id), at tens of bytes per event, so 200 stores of
//! 20,000 events fit in about 150 MB. Must never let one store's events
//! answer for another's, and never accept a token for another store.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::lock;

/// The width of one bucket of the timeline.
pub const TIMELINE_BUCKET: Duration = Duration::from_millis(100);

/// `STORE_ID TOKEN` lines; blank lines and `#` comments ignored. A store
/// id or a token given twice is refused with its line number.
pub fn parse_stores(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut tokens: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(id), Some(token), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "line {n}: expected `STORE_ID TOKEN` (two words separated by spaces)"
            ));
        };
        if let Some(first) = ids.insert(id.to_owned(), n) {
            return Err(format!(
                "line {n}: store `{id}` is already listed on line {first}"
            ));
        }
        if let Some(first) = tokens.insert(token.to_owned(), n) {
            // Never echo the token itself.
            return Err(format!(
                "line {n}: the token of store `{id}` is already used on line {first}; every store needs its own"
            ));
        }
        out.push((id.to_owned(), token.to_owned()));
    }
    Ok(out)
}

/// A 64-bit digest (SipHash with fixed keys: the same in every process).
pub fn digest64(bytes: &[u8]) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x5354_4f52_452d_4544, 0x4745_2d46_4c45_4554);
    bytes.hash(&mut h);
    h.finish()
}

/// What a store's book says of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// New: now stored.
    Accepted,
    /// The same id with the same event: already stored.
    Duplicate,
    /// The same id with another event.
    Conflict,
}

/// A store of the table: digests only.
#[derive(Default)]
pub struct Book {
    /// Digest of the id → digest of the event.
    ids: HashMap<u64, u64>,
    /// The sequences accepted: one seen again under a new id is an event
    /// stored twice.
    seqs: HashSet<u64>,
    /// Idempotency-Key → SHA-256 of the batch it was used for.
    pub idempotency: HashMap<String, [u8; 32]>,
    pub counts: BookCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BookCounts {
    pub stored: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub rejected: u64,
    /// Events accepted whose sequence was already accepted under another
    /// id: must stay 0.
    pub stored_twice: u64,
}

impl Book {
    /// Records one valid event: `id`, its canonical text's digest and its
    /// sequence (if it has one).
    pub fn judge(&mut self, id: &str, event_digest: u64, sequence: Option<u64>) -> Seen {
        match self.ids.get(&digest64(id.as_bytes())) {
            Some(&d) if d == event_digest => {
                self.counts.duplicates += 1;
                return Seen::Duplicate;
            }
            Some(_) => {
                self.counts.conflicts += 1;
                return Seen::Conflict;
            }
            None => {}
        }
        self.ids.insert(digest64(id.as_bytes()), event_digest);
        if let Some(seq) = sequence {
            if !self.seqs.insert(seq) {
                self.counts.stored_twice += 1;
            }
        }
        self.counts.stored += 1;
        Seen::Accepted
    }
}

/// A store of the table.
pub struct Tenant {
    pub store_id: String,
    /// `urn:store-edge:<store_id>`.
    pub source: String,
    pub book: Mutex<Book>,
}

/// The table: every store and which token is whose.
#[derive(Default)]
pub struct Tenants {
    pub stores: Vec<Arc<Tenant>>,
    by_token: HashMap<String, usize>,
}

/// What a presented token is.
pub enum Whose<'a> {
    Store(&'a Arc<Tenant>),
    /// A token of the table, but for another store id.
    OtherStore,
    Unknown,
}

impl Tenants {
    pub fn new(table: Vec<(String, String)>) -> Tenants {
        let mut t = Tenants::default();
        for (store_id, token) in table {
            t.by_token.insert(token, t.stores.len());
            t.stores.push(Arc::new(Tenant {
                source: crate::events::source_of(&store_id),
                store_id,
                book: Mutex::new(Book::default()),
            }));
        }
        t
    }

    pub fn whose(&self, token: &str, store_id: &str) -> Whose<'_> {
        match self.by_token.get(token).map(|&i| &self.stores[i]) {
            Some(t) if t.store_id == store_id => Whose::Store(t),
            Some(_) => Whose::OtherStore,
            None => Whose::Unknown,
        }
    }
}

/// `--max-concurrent`: requests in flight to the store routes.
pub struct Capacity {
    max: Option<usize>,
    in_flight: Arc<AtomicUsize>,
}

/// Holds a place until dropped.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Capacity {
    pub fn new(max: Option<usize>) -> Capacity {
        Capacity {
            max,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place, or `None` when `max` requests are already in flight.
    pub fn enter(&self) -> Option<Slot> {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = Slot(self.in_flight.clone());
        match self.max {
            Some(max) if now > max => None, // `slot` drops: the count goes back
            _ => Some(slot),
        }
    }
}

/// Requests, 429s and accepted events per `TIMELINE_BUCKET` since start.
pub struct Timeline {
    started: Instant,
    buckets: Mutex<Vec<TimelineBucket>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TimelineBucket {
    pub requests: u64,
    pub over_capacity: u64,
    pub accepted: u64,
}

pub enum Mark {
    Request,
    OverCapacity,
    Accepted(u64),
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            started: Instant::now(),
            buckets: Mutex::new(Vec::new()),
        }
    }

    pub fn mark(&self, what: Mark) {
        let i = (self.started.elapsed().as_millis() / TIMELINE_BUCKET.as_millis()) as usize;
        let mut b = lock(&self.buckets);
        if b.len() <= i {
            b.resize(i + 1, TimelineBucket::default());
        }
        match what {
            Mark::Request => b[i].requests += 1,
            Mark::OverCapacity => b[i].over_capacity += 1,
            Mark::Accepted(n) => b[i].accepted += n,
        }
    }

    /// Buckets of `per` (a multiple of `TIMELINE_BUCKET`) from the start.
    pub fn buckets(&self, per: Duration) -> Vec<TimelineBucket> {
        let n = (per.as_millis() / TIMELINE_BUCKET.as_millis()).max(1) as usize;
        lock(&self.buckets)
            .chunks(n)
            .map(|c| {
                c.iter()
                    .fold(TimelineBucket::default(), |a, b| TimelineBucket {
                        requests: a.requests + b.requests,
                        over_capacity: a.over_capacity + b.over_capacity,
                        accepted: a.accepted + b.accepted,
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_file_parses_and_refuses_repeats_with_the_line() {
        let table = parse_stores("# fleet\n\ns-1 tok-1\n  s-2\ttok-2  \n").unwrap();
        assert_eq!(
            table,
            [
                ("s-1".to_owned(), "tok-1".to_owned()),
                ("s-2".to_owned(), "tok-2".to_owned())
            ]
        );
        let e = parse_stores("s-1 a\ns-2 b\n\ns-1 c\n").unwrap_err();
        assert!(
            e.contains("line 4") && e.contains("line 1") && e.contains("s-1"),
            "{e}"
        );
        let e = parse_stores("s-1 secret-a\ns-2 secret-a\n").unwrap_err();
        assert!(e.contains("line 2") && !e.contains("secret-a"), "{e}");
        assert!(parse_stores("s-1\n").unwrap_err().contains("line 1"));
        assert!(parse_stores("s-1 a b\n").unwrap_err().contains("line 1"));
        assert!(parse_stores("").unwrap().is_empty());
    }

    #[test]
    fn a_book_answers_duplicate_conflict_and_counts_a_sequence_stored_twice() {
        let mut b = Book::default();
        assert_eq!(b.judge("e1", 10, Some(1)), Seen::Accepted);
        assert_eq!(b.judge("e1", 10, Some(1)), Seen::Duplicate);
        assert_eq!(b.judge("e1", 11, Some(1)), Seen::Conflict);
        assert_eq!(b.judge("e2", 12, Some(2)), Seen::Accepted);
        // The same sequence under a new id: stored, and counted twice.
        assert_eq!(b.judge("e3", 13, Some(2)), Seen::Accepted);
        assert_eq!(
            b.counts,
            BookCounts {
                stored: 3,
                duplicates: 1,
                conflicts: 1,
                rejected: 0,
                stored_twice: 1
            }
        );
    }

    #[test]
    fn tokens_belong_to_one_store() {
        let t = Tenants::new(vec![("a".into(), "ta".into()), ("b".into(), "tb".into())]);
        assert!(matches!(t.whose("ta", "a"), Whose::Store(s) if s.store_id == "a"));
        assert!(matches!(t.whose("ta", "b"), Whose::OtherStore));
        assert!(matches!(t.whose("tc", "a"), Whose::Unknown));
    }

    #[test]
    fn capacity_admits_up_to_max_and_frees_on_drop() {
        let c = Capacity::new(Some(2));
        let a = c.enter().unwrap();
        let _b = c.enter().unwrap();
        assert!(c.enter().is_none());
        drop(a);
        assert!(c.enter().is_some());
        let unlimited = Capacity::new(None);
        let held: Vec<_> = (0..100).map(|_| unlimited.enter().unwrap()).collect();
        assert_eq!(held.len(), 100);
    }

    #[test]
    fn the_timeline_sums_buckets() {
        let t = Timeline::new();
        t.mark(Mark::Request);
        t.mark(Mark::Request);
        t.mark(Mark::OverCapacity);
        t.mark(Mark::Accepted(5));
        let s = t.buckets(Duration::from_secs(1));
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0],
            TimelineBucket {
                requests: 2,
                over_capacity: 1,
                accepted: 5
            }
        );
    }
}
