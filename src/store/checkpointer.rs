//! WAL checkpoints on a thread of their own, beside the writer.
//!
//! SQLite checkpoints from inside the COMMIT that pushes the WAL past
//! 1,000 pages: the writer thread copied pages into the database file and
//! fsync'd it while every caller of the next group waited (issue 15's
//! profile of batched HTTP ingest: 13 % of the server's CPU, in the
//! writer). Here the writer's WAL hook only pokes this thread, which runs a
//! PASSIVE checkpoint on its own connection while the writer goes on with
//! the next group (WAL mode lets one checkpointer and one writer work at
//! once, and PASSIVE never waits for either).
//!
//! The WAL stays bounded: it restarts from its beginning only when a
//! checkpoint caught up with it, which a writer that never pauses may not
//! let happen; past [`WRITER_CHECKPOINT_PAGES`] the writer checkpoints in
//! its own commit again, as SQLite would (and the quota's TRUNCATE
//! checkpoint is unchanged). Durability is not touched: a commit is on disk
//! once its WAL frames are fsync'd, whoever copies them later.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// WAL pages after which the writer asks for a checkpoint (SQLite's own
/// auto-checkpoint threshold).
pub(super) const CHECKPOINT_PAGES: i32 = 1000;

/// WAL pages after which the writer checkpoints itself, in its commit: the
/// background checkpoints did not let the WAL restart (16 MiB at 4 KiB
/// pages, the size `journal_size_limit` trims the file back to).
pub(super) const WRITER_CHECKPOINT_PAGES: i32 = 4 * CHECKPOINT_PAGES;

/// Starts the checkpoint thread on a connection of its own to `path` and
/// hands its checkpoints to it from `writer`'s WAL hook. The thread ends
/// when the hook is removed ([`stop`]) or `writer` is closed (the hook, and
/// with it the sender, is dropped). When the second connection cannot be
/// opened, SQLite's own automatic checkpoint in the writer's commits stays,
/// and this says why.
pub(super) fn install(
    writer: &mut Connection,
    path: &Path,
) -> Result<Option<JoinHandle<()>>, StoreError> {
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, file = %path.display(),
                "cannot open a connection for background checkpoints; the writer checkpoints in its commits");
            return Ok(None);
        }
    };
    super::open::configure(&conn)?;
    let (poke, poked) = sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || run(conn, poked))
        .map_err(|e| StoreError::internal("starting the checkpoint thread", e))?;
    let mut pace = Pace::default();
    writer.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
        match pace.after_commit(pages) {
            Due::Nothing => {}
            Due::Background => {
                // Full: a checkpoint is already asked for. Disconnected:
                // the thread stopped; the writer's own checkpoint below
                // still bounds the WAL. Neither needs more.
                let _ = poke.try_send(());
            }
            Due::InTheWriter => {
                // Errors as SQLite's own auto-checkpoint treats them: the
                // commit stands, the next one tries again.
                if let Err(e) = wal.checkpoint() {
                    tracing::debug!(error = %e, "checkpoint in the writer's commit did not complete");
                }
            }
        }
        Ok(())
    }))?;
    Ok(Some(thread))
}

/// Ends the checkpoint thread and waits for it, so that the writer's last
/// checkpoint on the way out does not meet one of its own in progress
/// (SQLite would answer BUSY and leave the WAL to the next start). The
/// writer checkpoints in its commits again afterwards.
pub(super) fn stop(writer: &mut Connection, thread: Option<JoinHandle<()>>) {
    let Some(thread) = thread else { return };
    // Dropping the hook drops the sender: the thread's wait ends.
    if let Err(e) =
        writer.wal_hook(None::<fn(&mut rusqlite::hooks::Wal, i32) -> rusqlite::Result<()>>)
    {
        tracing::debug!(error = %e, "removing the WAL hook failed");
        return;
    }
    if thread.join().is_err() {
        tracing::warn!("the checkpoint thread panicked");
    }
}

/// Which checkpoint a commit that left `pages` frames in the WAL calls for.
#[derive(Debug, PartialEq, Eq)]
enum Due {
    Nothing,
    Background,
    InTheWriter,
}

/// Asks for a background checkpoint once per [`CHECKPOINT_PAGES`] new
/// frames, not after every commit past the threshold: a checkpoint that
/// has not finished when the next transaction begins keeps the WAL from
/// restarting, and asking again after each small commit then cost an
/// extra fsync per commit (`bench pickup`: one per staff action).
#[derive(Debug)]
struct Pace {
    /// The WAL's frames at the last commit (fewer now: it restarted).
    last: i32,
    /// Frames at which the next background checkpoint is due.
    next: i32,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            last: 0,
            next: CHECKPOINT_PAGES,
        }
    }
}

impl Pace {
    fn after_commit(&mut self, pages: i32) -> Due {
        if pages < self.last {
            self.next = CHECKPOINT_PAGES;
        }
        self.last = pages;
        if pages >= WRITER_CHECKPOINT_PAGES {
            // Fully copied once this returns: the next transaction
            // restarts the WAL, which the line above then sees.
            Due::InTheWriter
        } else if pages >= self.next {
            self.next = pages + CHECKPOINT_PAGES;
            Due::Background
        } else {
            Due::Nothing
        }
    }
}

fn run(conn: Connection, poked: Receiver<()>) {
    while poked.recv().is_ok() {
        // PASSIVE copies what no reader still needs and returns; BUSY
        // (another checkpoint, e.g. the quota's) is left to the next poke.
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
            tracing::debug!(error = %e, "background WAL checkpoint did not complete");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NewEvent;
    use crate::store::{open_for_writing, Writer, WriterSettings};

    fn wal_bytes(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// Many times the WAL's bound written through the real writer, in
    /// groups as the API sends them: the background checkpoints (and the
    /// writer's own past 4,000 frames) keep the WAL file bounded, and on
    /// the way out the writer stops the thread and folds everything in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_and_everything_is_in_the_database_after_a_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let (writer, thread) = Writer::start(
            open_for_writing(&path, "s1").unwrap(),
            WriterSettings::new(path.clone(), 1 << 30, 30, jiff::tz::TimeZone::UTC),
            std::sync::Arc::new(crate::telemetry::Metrics::new()),
        )
        .unwrap();
        let mut wal_max = 0;
        let (rounds, per_round) = (300, 300);
        for round in 0..rounds {
            let events = (0..per_round)
                .map(|i| {
                    let data = serde_json::json!({
                        "transaction_id": format!("T-{round}-{i}"),
                        "register_id": format!("till-{}", i % 4),
                        "total_minor": 1999, "currency": "EUR", "item_count": 3,
                        "customer_token": format!("{:x<43}", format!("Tok{}", (round * per_round + i) % 997)),
                        "pickup_order_id": format!("W-{}", round * per_round + i),
                    });
                    NewEvent::from_client("store.transaction.completed", data, None, None).unwrap()
                })
                .collect();
            writer.append(events, None).await.unwrap();
            wal_max = wal_max.max(wal_bytes(&path));
        }
        let db_bytes = std::fs::metadata(&path).unwrap().len();
        // 4,000 frames of 4 KiB pages plus one group's frames.
        let bound = (WRITER_CHECKPOINT_PAGES as u64 + 1_000) * 4_120;
        assert!(
            db_bytes > 2 * bound,
            "the test wrote too little: {db_bytes} bytes"
        );
        assert!(
            wal_max <= bound,
            "WAL grew to {wal_max} bytes (bound {bound})"
        );
        drop(writer);
        thread.join().unwrap();
        // Every connection closed after a full checkpoint: SQLite removed
        // the WAL, so the database file alone holds every event.
        assert_eq!(wal_bytes(&path), 0);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM event_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, rounds * per_round);
    }

    #[test]
    fn asks_once_per_thousand_new_frames_and_the_writer_past_four_thousand() {
        let mut pace = Pace::default();
        let mut seen = Vec::new();
        // Small commits of 7 frames each, the WAL never restarting.
        for pages in (7..=4_200).step_by(7) {
            match pace.after_commit(pages) {
                Due::Nothing => {}
                due => seen.push((pages, due)),
            }
        }
        seen.truncate(5);
        assert_eq!(
            seen,
            vec![
                (1_001, Due::Background),
                (2_002, Due::Background),
                (3_003, Due::Background),
                // From here on as SQLite's own auto-checkpoint: in the
                // commit, until the WAL restarts.
                (4_004, Due::InTheWriter),
                (4_011, Due::InTheWriter),
            ]
        );
    }

    #[test]
    fn a_restarted_wal_starts_counting_again() {
        let mut pace = Pace::default();
        assert_eq!(pace.after_commit(1_500), Due::Background);
        assert_eq!(pace.after_commit(1_600), Due::Nothing);
        // Restarted: 20 frames now, fewer than before.
        assert_eq!(pace.after_commit(20), Due::Nothing);
        assert_eq!(pace.after_commit(1_000), Due::Background);
    }
}
