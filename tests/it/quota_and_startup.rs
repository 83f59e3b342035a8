//! Quota (507, then room after raising it, nothing lost) and the refusal to
//! start on damaged, foreign, newer or other-store databases, leaving their
//! bytes unchanged (invariants 3 and 6).

use crate::common::{self, file_bytes, marker_event, Service, BIN};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn quota_refuses_with_507_and_accepts_again_after_raising_it() {
    let mut svc = Service::new("max_size_mb = 1", "");
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let http = common::http();
    let mut acked = Vec::new();
    let mut refused = None;
    for batch in 0..400 {
        let markers: Vec<String> = (0..100).map(|i| format!("q{batch}-{i}")).collect();
        let body = Value::Array(markers.iter().map(|m| marker_event(m)).collect());
        let r = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("post");
        match r.status() {
            StatusCode::CREATED => acked.extend(markers),
            StatusCode::INSUFFICIENT_STORAGE => {
                refused = Some(r.json::<Value>().await.expect("problem"));
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let problem = refused.expect("the quota was reached within 40,000 events");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("quota")),
        "{problem}"
    );
    let ready: Value = http
        .get(svc.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["quota_reached"], true, "readyz stays 200 and says so");
    assert!(svc.log_text().contains("ALARM: storage quota reached"));
    let count_at_quota = svc.event_count();
    assert_eq!(
        count_at_quota as usize,
        acked.len(),
        "only acknowledged batches were stored"
    );

    assert!(svc.term().success());
    svc.write_config("max_size_mb = 64", "");
    svc.start().await;
    let r = http
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&marker_event("after-raise"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let db = svc.db();
    let stored: i64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE json_extract(data, '$.transaction_id') LIKE 'q%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(stored as usize, acked.len(), "nothing stored was touched");
}

/// Runs `store-edge run` on the prepared database and returns (exit code, stderr).
fn run_expecting_refusal(svc: &Service) -> (Option<i32>, String) {
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&svc.config)
        .arg("run")
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused_unchanged(svc: &Service, expect_in_message: &str) {
    let before = file_bytes(&svc.db);
    let (code, stderr) = run_expecting_refusal(svc);
    assert!(
        code.is_some_and(|c| c != 0),
        "run must fail, got {code:?}: {stderr}"
    );
    assert!(
        stderr.contains(&svc.db.display().to_string()),
        "message names the file: {stderr}"
    );
    assert!(
        stderr.contains(expect_in_message),
        "message says {expect_in_message:?}: {stderr}"
    );
    assert_eq!(
        file_bytes(&svc.db),
        before,
        "the file's bytes are unchanged"
    );
}

/// A database with a few events, written by the real binary and closed.
async fn prepared() -> Service {
    let mut svc = Service::new("", "");
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let http = common::http();
    for i in 0..3 {
        let r = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&marker_event(&format!("T{i}")))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert!(svc.term().success());
    svc
}

#[tokio::test]
async fn corrupted_header_is_refused_untouched() {
    let svc = prepared().await;
    let mut bytes = file_bytes(&svc.db);
    bytes[16..24].copy_from_slice(&[0x12, 0x34, 9, 9, 0, 7, 7, 7]);
    std::fs::write(&svc.db, &bytes).expect("corrupt");
    assert_refused_unchanged(&svc, "damaged SQLite header");
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_untouched() {
    let svc = Service::new("", "");
    std::fs::create_dir_all(svc.db.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &svc.db,
        "PK\u{3}\u{4} this is a zip file, not a database ".repeat(20),
    )
    .expect("write");
    assert_refused_unchanged(&svc, "not an SQLite database");
}

#[tokio::test]
async fn a_newer_schema_is_refused_untouched() {
    let svc = prepared().await;
    {
        let db = rusqlite::Connection::open(&svc.db).expect("open");
        db.pragma_update(None, "user_version", 99).expect("bump");
    }
    assert_refused_unchanged(&svc, "schema version 99, newer than this binary");
}

#[tokio::test]
async fn another_stores_database_is_refused_untouched() {
    let svc = prepared().await;
    let text = std::fs::read_to_string(&svc.config).expect("config");
    std::fs::write(&svc.config, text.replace("test-store-01", "hamburg-02")).expect("config");
    assert_refused_unchanged(&svc, "belongs to store `test-store-01`");
}

#[tokio::test]
async fn another_applications_sqlite_file_is_refused_untouched() {
    let svc = Service::new("", "");
    std::fs::create_dir_all(svc.db.parent().expect("dir")).expect("mkdir");
    {
        let db = rusqlite::Connection::open(&svc.db).expect("open");
        db.execute_batch("CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x');")
            .expect("foreign");
    }
    assert_refused_unchanged(&svc, "another application");
}
