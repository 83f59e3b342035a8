//! Receipt printers end to end (issue 12): the real binary printing to a
//! serial printer played through a socat pty pair. Jobs are queued with the
//! debug build's `STORE_EDGE_TEST_PRINT_JOBS` hook (the HTTP route is
//! another part of the issue).

use std::io::Read as _;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use store_edge::bench::socat::SocatPair;
use store_edge::printing::queue::{step, Action};

use crate::common::{pty_pair, Service, DEADLINE, STORE_ID};

/// Bytes the pty printer takes of the big job before it stops reading:
/// far less than the job, so the job is provably still being sent.
const TAKEN: usize = 16 * 1024;

fn printer_section(device: &Path) -> String {
    format!(
        "[[devices]]\nid = \"counter\"\nkind = \"printer\"\ntransport = \"serial\"\nprofile = \"epson_tm_t88\"\npath = \"{}\"\nbaud = 115200\n",
        device.display()
    )
}

/// A receipt with a raster image far larger than the pty's and socat's
/// buffers (576 dots × 8000 rows = 576,000 bytes), then `marker`.
fn big_job(marker: &str) -> serde_json::Value {
    let image = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 72 * 8000]);
    json!({"printer": "counter", "kind": "receipt", "document": {"blocks": [
        {"kind": "image", "width": 576, "data": image},
        {"kind": "text", "text": marker},
        {"kind": "cut"}]}})
}

fn small_job(marker: &str) -> serde_json::Value {
    json!({"printer": "counter", "kind": "pickup_slip", "document": {"blocks": [
        {"kind": "text", "text": marker}, {"kind": "cut"}]}})
}

/// Reads the printer's side of the pair: everything, or (with `limit`) that
/// many bytes and then nothing more, keeping the side open (a closed side
/// would be a lost connection, not a stall) until `release` is dropped.
fn read_printer(pair: &SocatPair, limit: Option<usize>) -> (Arc<Mutex<Vec<u8>>>, mpsc::Sender<()>) {
    let mut file = std::fs::File::open(pair.host_path()).expect("open the printer side");
    let got = Arc::new(Mutex::new(Vec::new()));
    let (release, released) = mpsc::channel::<()>();
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let want = match limit {
                Some(l) => (l - sink.lock().unwrap().len()).min(buf.len()),
                None => buf.len(),
            };
            if want == 0 {
                let _ = released.recv();
                return;
            }
            match file.read(&mut buf[..want]) {
                Ok(0) | Err(_) => return,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    });
    (got, release)
}

fn job(svc: &Service, id: i64) -> (String, i64, i64) {
    svc.db()
        .query_row(
            "SELECT state, attempts, printed FROM print_jobs WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or_else(|_| ("missing".into(), 0, 0))
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// A person's reprint, as the CLI or the API would make it: the store's
/// function on a connection of its own next to the running service.
fn reprint(db: &Path, id: i64) {
    let conn = store_edge::store::open_for_cli(db, STORE_ID).expect("open");
    let settings = store_edge::store::WriterSettings {
        path: db.to_path_buf(),
        max_size_bytes: 1 << 30,
        retain_sent_days: 30,
    };
    let metrics = Arc::new(store_edge::telemetry::Metrics::new());
    let (writer, thread) =
        store_edge::store::Writer::start(conn, settings, metrics).expect("writer");
    writer
        .run_blocking(0, move |ctx| {
            store_edge::store::print_jobs::reprint(ctx, id, &step(Action::Reprint), 0)
        })
        .expect("reprint");
    drop(writer);
    thread.join().expect("writer thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_off_by_kill_9_is_uncertain_after_restart_never_printed_again_and_later_jobs_print(
) {
    let mut svc = Service::new("", "");
    let mut pair = pty_pair(svc.dir.path());
    svc.write_config("", &printer_section(&pair.device()));
    let jobs = svc.dir.path().join("jobs.jsonl");
    std::fs::write(
        &jobs,
        format!("{}\n{}\n", big_job("BIG-JOB-END"), small_job("SMALL-JOB")),
    )
    .unwrap();

    // Step 1: the printer takes 16 KiB of the big job and stops reading.
    let (taken, release) = read_printer(&pair, Some(TAKEN));
    svc.spawn(&[("STORE_EDGE_TEST_PRINT_JOBS", jobs.to_str().unwrap())]);
    svc.wait_ready().await;
    wait_for("the printer to take its 16 KiB", || {
        taken.lock().unwrap().len() == TAKEN
    })
    .await;
    wait_for("job 1 sending", || job(&svc, 1).0 == "sending").await;
    assert_eq!(job(&svc, 2).0, "queued", "the small job waits behind it");

    // Step 2: kill -9 mid-job; the printer is unplugged and plugged again.
    svc.kill9();
    assert_eq!(job(&svc, 1).0, "sending", "committed before the first byte");
    drop(release);
    pair.kill();
    let mut pair = pty_pair(svc.dir.path());
    let (paper, _keep) = read_printer(&pair, None);
    svc.spawn(&[]);
    svc.wait_ready().await;

    // Step 3: the cut-off job waits for a person; the one behind it prints.
    wait_for("job 2 printed", || job(&svc, 2).0 == "printed").await;
    wait_for("the small job on paper", || {
        count(&paper.lock().unwrap(), "SMALL-JOB") == 1
    })
    .await;
    assert_eq!(job(&svc, 1), ("uncertain".into(), 1, 0));
    assert_eq!(
        count(&paper.lock().unwrap(), "BIG-JOB-END"),
        0,
        "never printed again silently"
    );

    // Step 4: a person's reprint prints it once.
    let db = svc.db.clone();
    tokio::task::spawn_blocking(move || reprint(&db, 1))
        .await
        .unwrap();
    wait_for("job 1 reprinted", || job(&svc, 1).0 == "printed").await;
    wait_for("the big job on paper", || {
        count(&paper.lock().unwrap(), "BIG-JOB-END") == 1
    })
    .await;
    assert_eq!(job(&svc, 1), ("printed".into(), 2, 1));
    let printed: Vec<(String, String)> = svc
        .db()
        .prepare("SELECT json_extract(data, '$.job_id'), coalesce(json_extract(data, '$.reprint'), 0) FROM events WHERE type = 'store.receipt.printed' ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.to_string())))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        printed,
        [("2".into(), "0".into()), ("1".into(), "1".into())]
    );
    assert_eq!(count(&paper.lock().unwrap(), "SMALL-JOB"), 1);
    svc.term();
    pair.kill();
}

/// A printer that takes jobs but never answers `DLE EOT` (here the
/// simulated one, a file): jobs still print, a till's `pos` token sees it
/// as `unknown` in the devices list, and the recorded event says `online`
/// with "status not readable".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_whose_status_cannot_be_read_shows_unknown_to_a_till_and_still_prints() {
    let mut svc = Service::new("", "");
    let out = svc.dir.path().join("printer.bin");
    svc.write_config(
        "",
        &format!(
            "[[devices]]\nid = \"till-printer\"\nkind = \"printer\"\ntransport = \"simulated\"\nprofile = \"generic_58\"\nregister = \"till-1\"\npath = \"{}\"\n",
            out.display()
        ),
    );
    let jobs = svc.dir.path().join("jobs.jsonl");
    let mut job = small_job("TILL-RECEIPT");
    job["printer"] = json!("till-printer");
    std::fs::write(&jobs, format!("{job}\n")).unwrap();
    svc.spawn(&[("STORE_EDGE_TEST_PRINT_JOBS", jobs.to_str().unwrap())]);
    svc.wait_ready().await;
    let pos = svc.token("pos", "till-1");

    wait_for("the job printed", || job_state(&svc, 1) == "printed").await;
    assert_eq!(count(&std::fs::read(&out).unwrap(), "TILL-RECEIPT"), 1);
    let devices: serde_json::Value = crate::common::http()
        .get(svc.url("/api/v1/devices"))
        .bearer_auth(&pos)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let printer = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "till-printer")
        .cloned()
        .expect("the printer is listed");
    assert_eq!(printer["kind"], "printer");
    assert_eq!(printer["state"], "unknown");
    assert_eq!(printer["paper"], "unknown");
    let status: (String, Option<String>) = svc
        .db()
        .query_row(
            "SELECT json_extract(data, '$.state'), json_extract(data, '$.detail') FROM events WHERE type = 'store.device.status' AND json_extract(data, '$.device_id') = 'till-printer'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        status,
        ("online".into(), Some("status not readable".into()))
    );
    svc.term();
}

fn job_state(svc: &Service, id: i64) -> String {
    job(svc, id).0
}
