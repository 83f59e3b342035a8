//! The uplink's read of unsent events without an owned copy per row: each
//! row is handed to the caller as borrowed text ([`EventRef`]) while SQLite
//! still holds it, and the caller writes it straight into a batch body. A
//! backlog drain of 1 M events then allocates nothing per event on the
//! read side (the owned [`StoredEvent`] path cost ~7 allocations and a
//! copy of every field per event, and ~4 MiB per 5,000-event batch).
//!
//! Same rows, order and limits as [`super::sync::unsent_after`] and
//! [`super::sync::unsent_in_range`]; the tests below hold them to it.
//!
//! Must never: return an event that those functions would not, or skip
//! one that they would.

use std::sync::LazyLock;

use super::{ReadConn, StoreError};
use crate::events::StoredEvent;

/// One stored event, borrowed from the row being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub sequence: u64,
    pub id: &'a str,
    pub event_type: &'a str,
    pub subject: Option<&'a str>,
    pub time: &'a str,
    pub recorded_at: &'a str,
    pub stage: Option<&'a str>,
    pub clockjump: Option<i64>,
    pub data: &'a str,
}

impl StoredEvent {
    /// The borrowed view of an owned event (same fields).
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            sequence: self.sequence,
            id: &self.id,
            event_type: &self.event_type,
            subject: self.subject.as_deref(),
            time: &self.time,
            recorded_at: &self.recorded_at,
            stage: self.stage.as_deref(),
            clockjump: self.clockjump,
            data: &self.data,
        }
    }
}

/// The columns in [`super::read::COLUMNS`] order, the unsent predicate of
/// `store::sync` (the same constant: the tests compare the results too).
static UNSENT_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM {} WHERE {} ORDER BY e.seq LIMIT ?2",
        super::read::COLUMNS,
        super::read::FROM_EVENTS,
        super::read::UNSENT_AFTER_PARAM_1
    )
});
static UNSENT_IN_RANGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM {} WHERE {} AND e.seq <= ?2 ORDER BY e.seq",
        super::read::COLUMNS,
        super::read::FROM_EVENTS,
        super::read::UNSENT_AFTER_PARAM_1
    )
});

fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, rusqlite::Error> {
    row.get_ref(i)?.as_str().map_err(Into::into)
}

fn opt_text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<Option<&'r str>, rusqlite::Error> {
    row.get_ref(i)?.as_str_or_null().map_err(Into::into)
}

/// Where the id and times of one row are rendered (the event log stores
/// them as bytes and milliseconds); reused from row to row.
#[derive(Default)]
struct Rendered {
    id: String,
    time: String,
    recorded: String,
}

fn event_ref<'r>(
    row: &'r rusqlite::Row<'_>,
    buf: &'r mut Rendered,
) -> Result<EventRef<'r>, rusqlite::Error> {
    let event_type = text(row, 2)?;
    Ok(EventRef {
        sequence: row.get::<_, i64>(0)? as u64,
        id: super::read::id_text(row.get_ref(1)?, &mut buf.id)?,
        event_type,
        subject: opt_text(row, 3)?,
        time: super::read::time_text(row.get_ref(4)?, &mut buf.time)?,
        recorded_at: super::read::time_text(row.get_ref(5)?, &mut buf.recorded)?,
        stage: super::read::stage_of(event_type),
        clockjump: row.get(6)?,
        data: text(row, 7)?,
    })
}

/// Hands the unsent events after `after` to `f`, oldest first: at most
/// `max_events` and about `max_bytes` of data (always at least one), as
/// [`super::sync::unsent_after`] counts them. Returns how many.
pub fn for_each_unsent_after(
    conn: &ReadConn,
    after: u64,
    max_events: usize,
    max_bytes: usize,
    mut f: impl FnMut(EventRef<'_>),
) -> Result<usize, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&UNSENT_AFTER)?;
    let mut rows = stmt.query(rusqlite::params![
        after.min(i64::MAX as u64) as i64,
        max_events.min(i64::MAX as usize) as i64
    ])?;
    let (mut n, mut bytes) = (0usize, 0usize);
    let mut buf = Rendered::default();
    while let Some(row) = rows.next()? {
        let event = event_ref(row, &mut buf)?;
        bytes += event.data.len() + 300;
        if n > 0 && bytes > max_bytes {
            break;
        }
        f(event);
        n += 1;
    }
    Ok(n)
}

/// Hands the unsent events of a fixed batch's range to `f`, oldest first,
/// as [`super::sync::unsent_in_range`] returns them. Returns how many.
pub fn for_each_unsent_in_range(
    conn: &ReadConn,
    first: u64,
    last: u64,
    mut f: impl FnMut(EventRef<'_>),
) -> Result<usize, StoreError> {
    let mut stmt = conn.sql().prepare_cached(&UNSENT_IN_RANGE)?;
    let mut rows = stmt.query(rusqlite::params![
        (first.min(i64::MAX as u64) as i64).saturating_sub(1),
        last.min(i64::MAX as u64) as i64
    ])?;
    let mut n = 0usize;
    let mut buf = Rendered::default();
    while let Some(row) = rows.next()? {
        f(event_ref(row, &mut buf)?);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sync as store_sync;

    fn owned(e: EventRef<'_>) -> StoredEvent {
        StoredEvent {
            sequence: e.sequence,
            id: e.id.to_owned(),
            event_type: e.event_type.to_owned(),
            subject: e.subject.map(str::to_owned),
            time: e.time.to_owned(),
            recorded_at: e.recorded_at.to_owned(),
            stage: e.stage.map(str::to_owned),
            clockjump: e.clockjump,
            data: e.data.to_owned(),
        }
    }

    #[test]
    fn the_borrowed_reads_return_what_store_sync_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let conn = crate::store::open_for_writing(&path, "s1")
                .unwrap()
                .into_raw();
            for seq in 1..=40i64 {
                // Ids as UUID bytes and as older text, times as
                // milliseconds and as older text, types with and without a stage.
                let id = if seq % 2 == 0 {
                    rusqlite::types::Value::Blob(uuid::Uuid::now_v7().as_bytes().to_vec())
                } else {
                    rusqlite::types::Value::Text(format!("id-{seq}"))
                };
                let time = if seq % 4 == 0 {
                    rusqlite::types::Value::Text("2026-11-26T10:00:00+01:00".into())
                } else {
                    rusqlite::types::Value::Integer(1_796_000_000_000 + seq)
                };
                conn.execute(
                    "INSERT INTO event_log (seq, id, type, subject, time, recorded, clockjump, data)
                     VALUES (?1, ?2, (SELECT code FROM event_types WHERE name = ?3), ?4, ?5, 1796000001000, ?6, ?7)",
                    rusqlite::params![
                        seq,
                        id,
                        if seq % 2 == 0 { "store.feedback.submitted" } else { "store.device.status" },
                        (seq % 3 == 0).then(|| format!("sub\"{seq}")),
                        time,
                        (seq % 5 == 0).then_some(-seq),
                        format!("{{\"score\":{seq},\"pad\":\"{}\"}}", "x".repeat(seq as usize * 10)),
                    ],
                )
                .unwrap();
            }
            conn.execute("UPDATE meta SET value = '40' WHERE key = 'last_seq'", [])
                .unwrap();
        }
        let settings =
            crate::store::WriterSettings::new(path.clone(), 1 << 30, 30, jiff::tz::TimeZone::UTC);
        let (writer, thread) = crate::store::Writer::start(
            crate::store::open_for_writing(&path, "s1").unwrap(),
            settings,
            std::sync::Arc::new(crate::telemetry::Metrics::new()),
        )
        .unwrap();
        // Some sent, one quarantined: the reads must skip them.
        writer
            .run_blocking(0, |w| {
                store_sync::apply_results(
                    w,
                    "k",
                    &[
                        (1, store_sync::EventFate::Delivered),
                        (2, store_sync::EventFate::Delivered),
                        (7, store_sync::EventFate::Quarantined("bad".into())),
                        (20, store_sync::EventFate::Delivered),
                    ],
                )
            })
            .unwrap();
        drop(writer);
        thread.join().unwrap();
        let readers = crate::store::ReadPool::new(&path);
        let conn = readers.get().unwrap();
        for (after, max_events, max_bytes) in [
            (0, 100, usize::MAX),
            (3, 5, usize::MAX),
            (0, 100, 2000),
            (0, 100, 1),
            (40, 10, usize::MAX),
        ] {
            let want = store_sync::unsent_after(&conn, after, max_events, max_bytes).unwrap();
            assert!(want.len() <= max_events);
            let mut got = Vec::new();
            let n =
                for_each_unsent_after(&conn, after, max_events, max_bytes, |e| got.push(owned(e)))
                    .unwrap();
            assert_eq!(n, got.len());
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "after {after}, {max_events} events, {max_bytes} bytes"
            );
        }
        for (first, last) in [(1, 40), (5, 9), (41, 50)] {
            let want = store_sync::unsent_in_range(&conn, first, last).unwrap();
            let mut got = Vec::new();
            let n = for_each_unsent_in_range(&conn, first, last, |e| got.push(owned(e))).unwrap();
            assert_eq!(n, got.len());
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "range {first}..={last}"
            );
        }
        // The borrowed view of an owned event is the same event.
        let all = store_sync::unsent_in_range(&conn, 1, 40).unwrap();
        assert!(all.iter().all(|e| owned(e.as_ref()).id == e.id));
    }
}
