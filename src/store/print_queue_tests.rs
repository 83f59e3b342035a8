//! The print queue's rules (`queue.rs`) applied by its storage
//! (`store::print_jobs`) on a real SQLite file through the real writer,
//! including a restart of the writer on the same file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::printing::queue::{step, Action, State};
use crate::store::print_jobs::{self, Enqueued, JobKey, JobRow, NewJob};
use crate::store::{StoreError, WriteCtx, Writer, WriterSettings};

/// A writer on a database file that outlives it (a restart is a new one).
struct Queue {
    _dir: tempfile::TempDir,
    path: PathBuf,
    writer: Option<(Writer, std::thread::JoinHandle<()>)>,
}

impl Queue {
    fn new() -> Queue {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let writer = Some(start(&path));
        Queue {
            _dir: dir,
            path,
            writer,
        }
    }

    /// The writer stops (as at a crash, nothing is done at the end) and a
    /// new one opens the same file.
    fn restart(&mut self) {
        if let Some((writer, thread)) = self.writer.take() {
            drop(writer);
            thread.join().unwrap();
        }
        self.writer = Some(start(&self.path));
    }

    fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (writer, _) = self.writer.as_ref().unwrap();
        writer.run_blocking(1024, f)
    }

    fn enqueue(&self, printer: &'static str, now: i64) -> i64 {
        self.run(move |ctx| {
            print_jobs::enqueue(
                ctx,
                &NewJob {
                    printer_id: printer,
                    document_kind: "receipt",
                    document: r#"{"blocks":[]}"#,
                    token_hash: None,
                    idempotency: None,
                    now,
                },
            )
        })
        .unwrap()
        .id()
    }

    fn get(&self, id: i64) -> JobRow {
        self.run(move |ctx| print_jobs::get(ctx.reader(), id))
            .unwrap()
            .unwrap()
    }

    fn next(&self, printer: &'static str) -> Option<i64> {
        self.run(move |ctx| print_jobs::next_queued(ctx.reader(), printer))
            .unwrap()
            .map(|j| j.id)
    }

    fn send(&self, id: i64) -> Result<JobRow, StoreError> {
        self.run(move |ctx| print_jobs::mark_sending(ctx, id, &step(Action::Send), 10))
    }

    /// What the queue's runner does with a job that goes through.
    fn print(&self, id: i64) {
        self.send(id).unwrap();
        self.run(move |ctx| print_jobs::mark_printed(ctx, id, &step(Action::Printed), 11))
            .unwrap();
    }

    fn state(&self, id: i64) -> State {
        State::parse(&self.get(id).state).unwrap()
    }
}

fn start(path: &Path) -> (Writer, std::thread::JoinHandle<()>) {
    let conn = crate::store::open_for_writing(path, "s1").unwrap();
    let settings = WriterSettings {
        path: path.to_path_buf(),
        max_size_bytes: 1 << 30,
        retain_sent_days: 30,
        timezone: jiff::tz::TimeZone::UTC,
        kpi_ingest: true,
    };
    let metrics = Arc::new(crate::telemetry::Metrics::new());
    Writer::start(conn, settings, metrics).unwrap()
}

/// Jobs of a printer come out in the order they were queued; another
/// printer's jobs are its own line.
#[test]
fn jobs_of_a_printer_come_out_in_the_order_they_were_queued() {
    let q = Queue::new();
    let a1 = q.enqueue("counter", 1);
    let b1 = q.enqueue("back", 1);
    let a2 = q.enqueue("counter", 1);
    let a3 = q.enqueue("counter", 1);
    let mut printed = Vec::new();
    while let Some(id) = q.next("counter") {
        q.print(id);
        printed.push(id);
    }
    assert_eq!(printed, [a1, a2, a3]);
    assert_eq!(q.next("back"), Some(b1));
    let a1 = q.get(a1);
    assert_eq!((a1.attempts, a1.printed, a1.reprint), (1, 1, false));
}

/// `sending` is committed before the first byte leaves, so a crash finds it
/// so; at the next start it is `uncertain`: never handed out again, and
/// the jobs behind it print.
#[test]
fn a_job_sending_at_a_crash_is_uncertain_after_the_restart_and_blocks_nothing() {
    let mut q = Queue::new();
    let first = q.enqueue("counter", 1);
    let second = q.enqueue("counter", 1);
    q.send(first).unwrap();
    q.restart();
    assert_eq!(q.state(first), State::Sending, "committed before the crash");

    let found = q
        .run(|ctx| print_jobs::uncertain_after_restart(ctx, &step(Action::Interrupted), 20))
        .unwrap();
    assert_eq!(found, [first]);
    let job = q.get(first);
    assert_eq!((job.state.as_str(), job.printed), ("uncertain", 0));
    assert!(job.reason.is_some_and(|r| r.contains("may have printed")));

    assert_eq!(q.next("counter"), Some(second), "uncertain blocks nothing");
    q.print(second);
    assert_eq!(q.next("counter"), None, "uncertain is never handed out");
    let again = q.send(first).unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    assert_eq!(q.state(first), State::Uncertain);
}

/// A person's reprint queues the job once more, behind what was queued
/// before the decision, and it prints exactly once more; a second click on
/// a job already queued again is refused.
#[test]
fn a_reprint_prints_the_job_once_more() {
    let q = Queue::new();
    let lost = q.enqueue("counter", 1);
    q.send(lost).unwrap();
    q.run(move |ctx| {
        let lost_connection = "the connection closed mid-job";
        print_jobs::mark_uncertain(ctx, lost, &step(Action::Interrupted), lost_connection, 12)
    })
    .unwrap();
    let behind = q.enqueue("counter", 13);

    let reprint =
        move |ctx: &mut WriteCtx<'_>| print_jobs::reprint(ctx, lost, &step(Action::Reprint), 14);
    let queued = q.run(reprint).unwrap();
    assert_eq!((queued.state.as_str(), queued.reprint), ("queued", true));
    assert_eq!(queued.reason, None);
    let twice = q.run(reprint).unwrap_err();
    assert_eq!(
        twice.to_string(),
        format!(
            "print job {lost} is queued: reprint is allowed only when it is uncertain or printed"
        )
    );

    assert_eq!(q.next("counter"), Some(behind));
    q.print(behind);
    assert_eq!(q.next("counter"), Some(lost));
    q.print(lost);
    assert_eq!(q.next("counter"), None);
    let done = q.get(lost);
    assert_eq!(
        (done.state.as_str(), done.printed, done.attempts),
        ("printed", 1, 2)
    );

    q.run(reprint).unwrap();
    q.print(lost);
    assert_eq!(q.get(lost).printed, 2, "a printed job may be reprinted");
}

/// Skipping an uncertain job drops it for good; only an uncertain job can
/// be skipped.
#[test]
fn a_skip_drops_an_uncertain_job() {
    let mut q = Queue::new();
    let job = q.enqueue("counter", 1);
    let printed = q.enqueue("counter", 1);
    q.send(job).unwrap();
    q.restart();
    q.run(|ctx| print_jobs::uncertain_after_restart(ctx, &step(Action::Interrupted), 20))
        .unwrap();
    q.print(printed);

    let skip =
        |id: i64| move |ctx: &mut WriteCtx<'_>| print_jobs::skip(ctx, id, &step(Action::Skip), 21);
    assert_eq!(q.run(skip(job)).unwrap().state, "skipped");
    assert_eq!(q.next("counter"), None);
    let reprint = q
        .run(move |ctx| print_jobs::reprint(ctx, job, &step(Action::Reprint), 22))
        .unwrap_err();
    assert!(matches!(reprint, StoreError::Conflict(_)), "{reprint}");
    let refused = q.run(skip(printed)).unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!("print job {printed} is printed: skip is allowed only when it is uncertain")
    );
    let missing = q.run(skip(999)).unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");
}

/// Printed, skipped and failed jobs go after `retain_days` (they hold
/// customer names); queued and uncertain jobs stay whatever their age.
#[test]
fn prune_keeps_queued_and_uncertain_jobs_whatever_their_age() {
    let mut q = Queue::new();
    let queued = q.enqueue("counter", 0);
    let uncertain = q.enqueue("counter", 0);
    let printed = q.enqueue("counter", 0);
    let failed = q.enqueue("counter", 0);
    let recent = q.enqueue("counter", 0);
    q.send(uncertain).unwrap();
    q.restart();
    q.run(|ctx| print_jobs::uncertain_after_restart(ctx, &step(Action::Interrupted), 0))
        .unwrap();
    q.run(move |ctx| {
        let send = step(Action::Send);
        for id in [printed, recent] {
            print_jobs::mark_sending(ctx, id, &send, 0)?;
        }
        print_jobs::mark_printed(ctx, printed, &step(Action::Printed), 0)?;
        print_jobs::mark_printed(ctx, recent, &step(Action::Printed), 6 * 86_400)?;
        print_jobs::mark_failed(ctx, failed, &step(Action::Fail), "no such template", 0)
    })
    .unwrap();

    let now = 7 * 86_400 + 1;
    let gone = q.run(move |ctx| print_jobs::prune(ctx, 7, now)).unwrap();
    assert_eq!(gone, 2);
    let left: Vec<(i64, String)> = q
        .run(|ctx| print_jobs::list(ctx.reader(), None, 100))
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j.state))
        .collect();
    assert_eq!(
        left,
        [
            (queued, "queued".to_owned()),
            (uncertain, "uncertain".to_owned()),
            (recent, "printed".to_owned()),
        ]
    );
}

/// A job of a printer that is no longer in the config fails with that
/// reason (queued or waiting for a person); what was printed stays so.
#[test]
fn jobs_of_a_removed_printer_fail_with_that_reason() {
    let q = Queue::new();
    let kept = q.enqueue("counter", 1);
    let waiting = q.enqueue("old", 1);
    let done = q.enqueue("old", 1);
    q.print(done);
    let failed = q
        .run(|ctx| {
            print_jobs::fail_removed_printers(ctx, &["counter"], &step(Action::PrinterRemoved), 5)
        })
        .unwrap();
    assert_eq!(failed, [waiting]);
    let job = q.get(waiting);
    assert_eq!(job.state, "failed");
    assert_eq!(
        job.reason.as_deref(),
        Some("printer `old` is no longer in the config")
    );
    assert_eq!(q.state(done), State::Printed);
    assert_eq!(q.state(kept), State::Queued);
    let by_state = q
        .run(|ctx| print_jobs::list(ctx.reader(), Some("failed"), 10))
        .unwrap();
    assert_eq!(by_state.len(), 1);
}

/// An Idempotency-Key belongs to the caller that sent it, as for events:
/// the same request again is the same job, another body is refused, and
/// another caller's key is its own.
#[test]
fn a_repeated_post_under_the_same_key_is_the_same_job() {
    let q = Queue::new();
    let post = |token: u8, body: u8| {
        move |ctx: &mut WriteCtx<'_>| {
            print_jobs::enqueue(
                ctx,
                &NewJob {
                    printer_id: "counter",
                    document_kind: "receipt",
                    document: "{}",
                    token_hash: Some([token; 32]),
                    idempotency: Some(JobKey {
                        key: "k-1".into(),
                        request_hash: [body; 32],
                    }),
                    now: 1,
                },
            )
        }
    };
    let Enqueued::Created(id) = q.run(post(1, 7)).unwrap() else {
        panic!("a first request creates a job")
    };
    assert_eq!(q.run(post(1, 7)).unwrap(), Enqueued::Replayed(id));
    let other_body = q.run(post(1, 8)).unwrap_err();
    assert!(matches!(other_body, StoreError::IdempotencyMismatch));
    let other_caller = q.run(post(2, 7)).unwrap();
    assert!(matches!(other_caller, Enqueued::Created(other) if other != id));
    let stored = q.get(id);
    assert_eq!(stored.token_hash, Some(vec![1; 32]));
}
