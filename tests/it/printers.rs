//! Receipt printers end to end (issue 12): the real binary printing to a
//! serial printer played through a socat pty pair, jobs posted and decided
//! on through the HTTP API with real tokens.

use std::io::Read as _;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use store_edge::bench::socat::SocatPair;

use crate::common::{http, pty_pair, Service, DEADLINE};

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
/// buffers (576 dots × 2000 rows = 144,000 bytes), then `marker`.
fn big_job(marker: &str) -> Value {
    let image = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 72 * 2000]);
    json!({"blocks": [
        {"kind": "image", "width": 576, "data": image},
        {"kind": "text", "text": marker},
        {"kind": "cut"}]})
}

fn small_job(marker: &str) -> Value {
    json!({"blocks": [{"kind": "text", "text": marker}, {"kind": "cut"}]})
}

/// Posts a job as `token`; its id.
async fn post(svc: &Service, token: &str, printer: &str, document: &Value) -> i64 {
    let r = http()
        .post(svc.url(&format!("/api/v1/printers/{printer}/jobs")))
        .bearer_auth(token)
        .json(document)
        .send()
        .await
        .expect("post a job");
    assert_eq!(r.status().as_u16(), 202, "job accepted");
    let job: Value = r.json().await.expect("the job");
    job["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a job id")
}

/// A person's decision (`reprint` or `skip`) on a job, through the API.
async fn decide(svc: &Service, token: &str, id: i64, action: &str) {
    let r = http()
        .post(svc.url(&format!("/api/v1/print-jobs/{id}/{action}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("decide");
    assert_eq!(r.status().as_u16(), 200, "{action} of job {id}");
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

/// `store.receipt.printed` events as (job_id, reprint) in order.
fn printed_events(svc: &Service) -> Vec<(String, i64)> {
    svc.db()
        .prepare("SELECT json_extract(data, '$.job_id'), coalesce(json_extract(data, '$.reprint'), 0) FROM events WHERE type = 'store.receipt.printed' ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The service prints to a pty printer that takes 16 KiB of a big job
/// (job 1) and stops reading, with a small job (2) behind it; `kill -9`
/// while job 1 is `sending`; the printer is plugged in again and the
/// service restarted. Returns the new pair, what it prints and a staff
/// token.
async fn cut_off_by_kill_9(svc: &mut Service) -> (SocatPair, Arc<Mutex<Vec<u8>>>, String) {
    let pair = pty_pair(svc.dir.path());
    svc.write_config("", &printer_section(&pair.device()));
    let (taken, release) = read_printer(&pair, Some(TAKEN));
    svc.start().await;
    let till = svc.token("pos", "till-1");
    assert_eq!(
        post(svc, &till, "counter", &big_job("BIG-JOB-END")).await,
        1
    );
    wait_for("the printer to take its 16 KiB", || {
        taken.lock().unwrap().len() == TAKEN
    })
    .await;
    wait_for("job 1 sending", || job(svc, 1).0 == "sending").await;
    assert_eq!(
        post(svc, &till, "counter", &small_job("SMALL-JOB")).await,
        2
    );
    assert_eq!(job(svc, 2).0, "queued", "the small job waits behind it");

    svc.kill9();
    assert_eq!(job(svc, 1).0, "sending", "committed before the first byte");
    drop(release);
    let mut old = pair;
    old.kill();
    let pair = pty_pair(svc.dir.path());
    // Unlimited: it reads until the pair is gone.
    let (paper, _) = read_printer(&pair, None);
    svc.spawn(&[]);
    svc.wait_ready().await;

    // The cut-off job waits for a person; the one behind it prints.
    wait_for("job 2 printed", || job(svc, 2).0 == "printed").await;
    wait_for("the small job on paper", || {
        count(&paper.lock().unwrap(), "SMALL-JOB") == 1
    })
    .await;
    assert_eq!(job(svc, 1), ("uncertain".into(), 1, 0));
    assert_eq!(
        count(&paper.lock().unwrap(), "BIG-JOB-END"),
        0,
        "never printed again silently"
    );
    (pair, paper, svc.token("staff", "counter-tablet"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_off_by_kill_9_is_uncertain_after_restart_never_printed_again_and_later_jobs_print(
) {
    let mut svc = Service::new("", "");
    let (mut pair, paper, staff) = cut_off_by_kill_9(&mut svc).await;

    // A person's reprint prints it once, and records it as a reprint.
    decide(&svc, &staff, 1, "reprint").await;
    wait_for("job 1 reprinted", || job(&svc, 1).0 == "printed").await;
    wait_for("the big job on paper", || {
        count(&paper.lock().unwrap(), "BIG-JOB-END") == 1
    })
    .await;
    assert_eq!(job(&svc, 1), ("printed".into(), 2, 1));
    assert_eq!(printed_events(&svc), [("2".into(), 0), ("1".into(), 1)]);
    assert_eq!(count(&paper.lock().unwrap(), "SMALL-JOB"), 1);
    svc.term();
    pair.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncertain_job_a_person_skips_is_never_printed_and_records_nothing() {
    let mut svc = Service::new("", "");
    let (mut pair, paper, staff) = cut_off_by_kill_9(&mut svc).await;

    decide(&svc, &staff, 1, "skip").await;
    assert_eq!(job(&svc, 1), ("skipped".into(), 1, 0));
    // A later job prints: the skipped one is not sent before it.
    let till = svc.token("pos", "till-2");
    assert_eq!(
        post(&svc, &till, "counter", &small_job("LATER-JOB")).await,
        3
    );
    wait_for("job 3 printed", || job(&svc, 3).0 == "printed").await;
    wait_for("the later job on paper", || {
        count(&paper.lock().unwrap(), "LATER-JOB") == 1
    })
    .await;
    assert_eq!(count(&paper.lock().unwrap(), "BIG-JOB-END"), 0);
    assert_eq!(printed_events(&svc), [("2".into(), 0), ("3".into(), 0)]);
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
    svc.start().await;
    let pos = svc.token("pos", "till-1");
    assert_eq!(
        post(&svc, &pos, "till-printer", &small_job("TILL-RECEIPT")).await,
        1
    );

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
