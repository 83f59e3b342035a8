//! Backup and restore end to end (issue 14): the real binary backs up its
//! database while it runs and syncs to the fake central, goes on writing,
//! is stopped and restored from the old backup, and goes on again. Central
//! never sees two ids under one `(source, sequence)`, everything recorded
//! after the restore reaches it, `store.edge.restored` comes first after
//! the gap, and an order open in the backup is handed over only after a
//! shelf check. And the refusals: a running service, another store's
//! backup, a damaged file, the same gap twice.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

const PIN: &str = "4711";
const GAP: u64 = 10_000_000;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: std::process::Output, what: &str) -> std::process::Output {
    assert!(out.status.success(), "{what}: {}", stderr(&out));
    out
}

async fn post(token: &str, url: String, body: Value) -> (u16, Value) {
    let r = http()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(token: &str, url: String) -> Value {
    http()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

async fn post_markers(svc: &Service, pos: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let (status, v) = post(
            pos,
            svc.url("/api/v1/events"),
            marker_event(&format!("{prefix}-{i}")),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
}

async fn wait_state(svc: &Service, staff: &str, order: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let v = get(staff, svc.url(&format!("/api/v1/pickups/{order}"))).await;
        if v["state"] == state {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "{order} never {state}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn make_ready(svc: &Service, staff: &str, order: &str) {
    for (action, body) in [
        ("start-picking", json!({"staff_id": "anna"})),
        ("ready", json!({"staff_id": "anna", "location": "B-07"})),
    ] {
        let (status, v) = post(
            staff,
            svc.url(&format!("/api/v1/pickups/{order}/{action}")),
            body,
        )
        .await;
        assert_eq!(status, 200, "{action} {order}: {v}");
    }
}

fn handover_body(shelf_checked: Option<bool>) -> Value {
    let mut b = json!({"staff_id": "anna", "pin": PIN, "verified_by": "id_check",
                       "lines": [{"line_id": "1", "quantity_handed": 1}]});
    if let Some(c) = shelf_checked {
        b["shelf_checked_after_restore"] = json!(c);
    }
    b
}

/// Every `(source, sequence)` central holds has exactly one id.
fn one_id_per_sequence(events: &[Value]) {
    let mut seen: HashMap<(String, u64), String> = HashMap::new();
    for e in events {
        let key = (
            e["source"].as_str().expect("source").to_owned(),
            sequence(e),
        );
        let id = e["id"].as_str().expect("id").to_owned();
        if let Some(other) = seen.insert(key.clone(), id.clone()) {
            assert_eq!(other, id, "two ids under {key:?}");
        }
    }
}

fn edge_events(svc: &Service) -> Vec<(u64, String, String)> {
    let conn = svc.db();
    let mut stmt = conn
        .prepare("SELECT seq, id, type FROM events ORDER BY seq")
        .expect("prepare");
    stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_box_reuses_no_sequence_delivers_what_follows_and_hands_over_only_after_a_shelf_check(
) {
    let central = FakeCentralProc::start(
        &[order_doc("W-1", 1, "open"), order_doc("W-2", 1, "open")],
        &[],
    )
    .await;
    let mut svc = Service::new("", &central.edge_sections(""));
    add_staff(&svc, "anna", "Anna K.", PIN);
    let staff = svc.token("staff", "counter");
    let pos = svc.token("pos", "till-1");
    svc.start().await;
    wait_state(&svc, &staff, "W-1", "received").await;
    wait_state(&svc, &staff, "W-2", "received").await;
    make_ready(&svc, &staff, "W-1").await;
    make_ready(&svc, &staff, "W-2").await;
    post_markers(&svc, &pos, "before-backup", 5).await;
    svc.wait_sync("sent before the backup", |s| s["unsent"] == 0)
        .await;
    // Three events central has not got when the backup is taken: the old
    // box sends them later, and the restored box sends them again (the
    // same ids: legitimate duplicates).
    central.set_faults(json!({"fail_5xx_pct": 100})).await;
    post_markers(&svc, &pos, "unsent-at-backup", 3).await;
    let unsent_in_backup: Vec<String> = edge_events(&svc)
        .into_iter()
        .rev()
        .take(3)
        .map(|(_, id, _)| id)
        .collect();

    // Step: back up while the service runs; a file is never overwritten.
    let backup = svc.dir.path().join("nightly.db");
    let out = ok(
        svc.cli(&["db", "backup", backup.to_str().expect("utf8")]),
        "backup",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        backup.display().to_string()
    );
    let mode = std::fs::metadata(&backup)
        .expect("backup")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "names and tokens inside: 0600");
    let again = svc.cli(&["db", "backup", backup.to_str().expect("utf8")]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let last_in_backup: u64 = backup_last_sequence(&backup);
    let unsent_at_backup: i64 =
        rusqlite::Connection::open_with_flags(&backup, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open backup")
            .query_row(
                "SELECT count(*) FROM events WHERE sync_state = 0",
                [],
                |r| r.get(0),
            )
            .expect("count");
    assert_eq!(unsent_at_backup, 3, "the backup holds three unsent events");

    // Step: the old box goes on: more events, W-2 handed over, all sent.
    central.set_faults(json!({})).await;
    post_markers(&svc, &pos, "after-backup", 5).await;
    let (status, v) = post(
        &staff,
        svc.url("/api/v1/pickups/W-2/handover"),
        handover_body(None),
    )
    .await;
    assert_eq!(status, 200, "the old box hands W-2 over: {v}");
    svc.wait_sync("the old box sent everything", |s| s["unsent"] == 0)
        .await;
    let old_box_last = edge_events(&svc).last().expect("events").0;
    assert!(old_box_last > last_in_backup);

    // Step: a client cannot record a restore.
    let (status, v) = post(
        &pos,
        svc.url("/api/v1/events"),
        json!({"type": "store.edge.restored", "data": {"backup_taken_at": "2026-12-01T02:00:00Z",
               "last_sequence_in_backup": 1, "first_sequence_after": 2}}),
    )
    .await;
    assert_eq!(status, 403, "{v}");

    // Step: no restore while the service runs.
    let refused = svc.cli(&["db", "restore", backup.to_str().expect("utf8")]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("running") && stderr(&refused).contains("stop it first"),
        "{}",
        stderr(&refused)
    );

    // Step: stop, restore the old backup, start again.
    assert!(svc.term().success(), "clean stop");
    let out = ok(
        svc.cli(&["db", "restore", backup.to_str().expect("utf8")]),
        "restore",
    );
    let said = stderr(&out);
    assert!(
        said.contains("W-1") && said.contains("W-2"),
        "flagged orders named: {said}"
    );
    let first_after = last_in_backup + GAP;
    assert!(
        said.contains(&format!("continues at {first_after}")),
        "{said}"
    );
    svc.start().await;
    post_markers(&svc, &pos, "after-restore", 5).await;
    svc.wait_sync("everything after the restore sent", |s| s["unsent"] == 0)
        .await;

    // Step: the restored box's log: the backup's events, then the gap, then
    // store.edge.restored first.
    let edge = edge_events(&svc);
    assert!(edge
        .iter()
        .all(|(seq, _, _)| *seq <= last_in_backup || *seq >= first_after));
    let first = edge
        .iter()
        .find(|(seq, _, _)| *seq > last_in_backup)
        .expect("an event after the backup");
    assert_eq!(
        (first.0, first.2.as_str()),
        (first_after, "store.edge.restored")
    );
    assert!(
        first_after > old_box_last,
        "beyond anything the old box sent"
    );

    // Step: central never sees two ids under one (source, sequence), and
    // has every event recorded after the restore.
    let at_central = central.events().await;
    one_id_per_sequence(&at_central);
    let central_ids: std::collections::HashSet<&str> =
        at_central.iter().filter_map(|e| e["id"].as_str()).collect();
    for (seq, id, ty) in edge.iter().filter(|(seq, _, _)| *seq >= first_after) {
        assert!(
            central_ids.contains(id.as_str()),
            "{seq} {ty} not delivered"
        );
    }
    for id in &unsent_in_backup {
        assert_eq!(
            at_central.iter().filter(|e| e["id"] == id.as_str()).count(),
            1,
            "{id}: sent by both boxes, stored once"
        );
    }
    let conn = svc.db();
    for id in &unsent_in_backup {
        let state: i64 = conn
            .query_row("SELECT sync_state FROM events WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("in the restored box");
        assert_eq!(
            state, 1,
            "{id}: sent again by the restored box and acknowledged"
        );
    }
    drop(conn);
    let restored = at_central
        .iter()
        .find(|e| e["type"] == "store.edge.restored")
        .expect("store.edge.restored at central");
    assert_eq!(restored["sequence"], first_after.to_string());
    assert_eq!(restored["source"], format!("urn:store-edge:{STORE_ID}"));
    assert_eq!(restored["data"]["last_sequence_in_backup"], last_in_backup);
    assert_eq!(restored["data"]["first_sequence_after"], first_after);
    assert!(restored["data"]["backup_taken_at"].is_string());
    assert!(restored.get("journeystage").is_none());

    // Step: status and sync status say what was lost.
    for args in [&["status"][..], &["sync", "status"][..]] {
        let text = String::from_utf8_lossy(&ok(svc.cli(args), "status").stdout).into_owned();
        assert!(
            text.contains("restored from a backup taken at")
                && text.contains("from the old box are lost unless central has them"),
            "{args:?}: {text}"
        );
    }

    // Step: W-2 (handed over on the lost box after the backup) is flagged:
    // no handover without the shelf check, then one with it.
    let w2 = wait_state(&svc, &staff, "W-2", "ready").await;
    assert_eq!(w2["shelf_check_after_restore"], true, "{w2}");
    for body in [handover_body(None), handover_body(Some(false))] {
        let (status, v) = post(&staff, svc.url("/api/v1/pickups/W-2/handover"), body).await;
        assert_eq!(status, 409, "{v}");
        assert_eq!(v["reason"], "shelf_check_needed", "{v}");
        assert!(
            v["detail"].as_str().unwrap_or_default().contains("shelf"),
            "{v}"
        );
    }
    let (status, v) = post(
        &staff,
        svc.url("/api/v1/pickups/W-2/handover"),
        handover_body(Some(true)),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "handed_over");
    svc.wait_sync("the handover sent", |s| s["unsent"] == 0)
        .await;
    one_id_per_sequence(&central.events().await);

    // Step: the same backup again with the same gap is refused, naming the gap.
    assert!(svc.term().success());
    let twice = svc.cli(&["db", "restore", backup.to_str().expect("utf8")]);
    assert_eq!(twice.status.code(), Some(2), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains(&format!("--sequence-gap {}", 2 * GAP)),
        "{}",
        stderr(&twice)
    );
}

fn backup_last_sequence(backup: &Path) -> u64 {
    let conn =
        rusqlite::Connection::open_with_flags(backup, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open backup");
    conn.query_row("SELECT max(seq) FROM events", [], |r| r.get::<_, i64>(0))
        .expect("max seq") as u64
}

/// A config of another store with its own database, in `dir`.
fn other_store_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("other.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nid = \"other-store\"\n\n[storage]\npath = \"{}\"\n",
            dir.join("other").join("store-edge.db").display()
        ),
    )
    .expect("config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_another_stores_backup_a_damaged_file_and_a_gap_that_was_used() {
    let mut svc = Service::new("", "[backup]\nkeep = 2\n");
    svc.token("admin", "it");
    let backup = svc.dir.path().join("b.db");
    let b = backup.to_str().expect("utf8");
    ok(svc.cli(&["db", "backup", b]), "backup of a stopped service");
    let db_before = file_bytes(&svc.db);

    // Another store's backup.
    let other = other_store_config(svc.dir.path());
    let other_cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(&other)
            .args(args)
            .output()
            .expect("run")
    };
    ok(
        other_cli(&["token", "create", "--role", "admin", "--name", "it"]),
        "other token",
    );
    let foreign = svc.dir.path().join("foreign.db");
    ok(
        other_cli(&["db", "backup", foreign.to_str().expect("utf8")]),
        "other backup",
    );
    let refused = svc.cli(&["db", "restore", foreign.to_str().expect("utf8")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("other-store") && stderr(&refused).contains(STORE_ID),
        "{}",
        stderr(&refused)
    );

    // A damaged backup, and a file that is no database at all.
    let damaged = svc.dir.path().join("damaged.db");
    let mut bytes = file_bytes(&backup);
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 16 * 1024] {
        *byte = 0xA5;
    }
    std::fs::write(&damaged, &bytes).expect("write damaged");
    let refused = svc.cli(&["db", "restore", damaged.to_str().expect("utf8")]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("integrity") || stderr(&refused).contains("damaged"),
        "{}",
        stderr(&refused)
    );
    let text = svc.dir.path().join("notes.db");
    std::fs::write(&text, "not a database\n").expect("write");
    let refused = svc.cli(&["db", "restore", text.to_str().expect("utf8")]);
    assert!(
        stderr(&refused).contains("not an SQLite database"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        file_bytes(&svc.db),
        db_before,
        "refusals leave the database as it was"
    );

    // The same backup twice: the second needs twice the gap, a third four times.
    ok(svc.cli(&["db", "restore", b]), "first restore");
    let twice = svc.cli(&["db", "restore", b]);
    assert!(
        stderr(&twice).contains("--sequence-gap 20000000"),
        "{}",
        stderr(&twice)
    );
    ok(
        svc.cli(&["db", "restore", b, "--sequence-gap", "20000000"]),
        "second restore, larger gap",
    );
    let thrice = svc.cli(&["db", "restore", b, "--sequence-gap", "20000000"]);
    assert!(
        stderr(&thrice).contains("--sequence-gap 40000000"),
        "{}",
        stderr(&thrice)
    );
    let status: Value =
        serde_json::from_slice(&ok(svc.cli(&["status", "--json"]), "status").stdout).expect("json");
    assert_eq!(status["last_sequence"], 20_000_000);
    assert_eq!(status["restore"]["sequence_gap"], 20_000_000);

    // A restore is refused while the service runs (it holds the lock), and
    // so is a second service on the same database.
    svc.start().await;
    let second = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&svc.config)
        .arg("run")
        .output()
        .expect("second run");
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("locked by another process"),
        "{}",
        stderr(&second)
    );
    let refused = svc.cli(&["db", "restore", b, "--sequence-gap", "90000000"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("stop it first"),
        "{}",
        stderr(&refused)
    );
    assert!(svc.term().success());

    // The nightly backup: a dated name in [backup] dir, the newest `keep` kept.
    let dir = svc.db.parent().expect("dir").join("backups");
    std::fs::create_dir_all(&dir).expect("dir");
    for old in ["20250101T020000Z", "20250102T020000Z"] {
        std::fs::write(dir.join(format!("store-edge-{STORE_ID}-{old}.db")), b"old").expect("old");
    }
    std::fs::write(dir.join("kept-by-hand.db"), b"mine").expect("own file");
    let out = ok(svc.cli(&["db", "backup", "--nightly"]), "nightly");
    let written = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(written.starts_with(
        &dir.join(format!("store-edge-{STORE_ID}-"))
            .display()
            .to_string()
    ));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "kept-by-hand.db");
    assert_eq!(
        names[1],
        format!("store-edge-{STORE_ID}-20250102T020000Z.db")
    );
    assert_eq!(
        Path::new(&written)
            .file_name()
            .expect("name")
            .to_string_lossy(),
        names[2]
    );

    // A new box (no database yet) takes over from the newest backup and runs.
    let mut new_box = Service::new("", "");
    assert!(!new_box.db.exists());
    ok(
        new_box.cli(&["db", "restore", &written]),
        "restore on a new box",
    );
    let status: Value =
        serde_json::from_slice(&ok(new_box.cli(&["status", "--json"]), "status").stdout)
            .expect("json");
    assert!(status["restored"]
        .as_str()
        .is_some_and(|s| s.starts_with("restored from a backup taken at")));
    new_box.start().await;
    assert!(new_box.term().success());
}

/// The tablet (Chromium, tests/ui/restore.mjs) shows a restored box's
/// flagged order with the shelf-check step and hands it over only once
/// staff ticked it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tablet_asks_for_the_shelf_check_of_a_flagged_order_in_chromium() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/ui/node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/test.sh (it runs `npm ci --prefix tests/ui`)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let central = FakeCentralProc::start(&[order_doc("W-7301", 1, "open")], &[]).await;
    let mut svc = Service::new(
        "",
        &format!(
            "{}\n[pickup]\ncounter_register = \"counter-1\"\n",
            central.edge_sections("")
        ),
    );
    add_staff(&svc, "anna", "Anna K.", PIN);
    let staff = svc.token("staff", "back-office");
    svc.start().await;
    wait_state(&svc, &staff, "W-7301", "received").await;
    make_ready(&svc, &staff, "W-7301").await;
    let backup = svc.dir.path().join("b.db");
    ok(
        svc.cli(&["db", "backup", backup.to_str().expect("utf8")]),
        "backup",
    );
    assert!(svc.term().success());
    ok(
        svc.cli(&["db", "restore", backup.to_str().expect("utf8")]),
        "restore",
    );
    svc.start().await;
    let code = svc.pairing_code("counter-1");
    let screenshots = root.join("target/ui-screenshots/restore");
    let _ = std::fs::remove_dir_all(&screenshots);
    let output = tokio::task::spawn_blocking({
        let url = svc.url("");
        let screenshots = screenshots.clone();
        move || {
            std::process::Command::new("node")
                .arg(root.join("tests/ui/restore.mjs"))
                .env("STORE_EDGE_URL", url)
                .env("PAIR_CODE", code)
                .env("STAFF_ID", "anna")
                .env("STAFF_PIN", PIN)
                .env("ORDER_ID", "W-7301")
                .env("SCREENSHOT_DIR", screenshots)
                .env("CHROMIUM", chromium)
                .output()
                .expect("node must be installed")
        }
    })
    .await
    .expect("node");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser test failed; see target/ui-screenshots/restore/failure.png; service log:\n{}",
        svc.log_text()
    );
    // Exactly one handover, the one after the shelf check.
    let order = wait_state(&svc, &staff, "W-7301", "handed_over").await;
    assert_eq!(order["outcome"]["staff_id"], "anna", "{order}");
    let handovers: i64 = svc
        .db()
        .query_row(
            "SELECT count(*) FROM events WHERE type = 'store.pickup.handed_over' AND subject = 'W-7301'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(handovers, 1);
}
