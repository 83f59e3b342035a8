//! Upgrades (issue 14): every schema version there has been has a database
//! file in `tests/fixtures/schema/` written by that version's migrations
//! with a few rows of store data (`scripts/gen_schema_fixtures.sh`). The
//! current binary opens each, upgrades it to its schema and keeps the
//! data; and it starts on it. A newer schema is refused untouched
//! (`quota_and_startup.rs::a_newer_schema_is_refused_untouched`).

use std::path::PathBuf;

use serde_json::Value;

use crate::common::*;

fn fixture(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schema")
        .join(format!("v{version}.db"))
}

fn json_of(svc: &Service, args: &[&str]) -> Value {
    let out = svc.cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The schema version this binary writes, from a fresh database.
fn current_version() -> i64 {
    let svc = Service::new("", "");
    svc.token("admin", "it");
    json_of(&svc, &["status", "--json"])["schema_version"]
        .as_i64()
        .expect("version")
}

/// Copies the fixture of `version` into a service's place, upgrades it
/// through the CLI, checks that its rows survived, then starts on it.
async fn upgrades(version: u32) {
    let mut svc = Service::new("", "");
    std::fs::create_dir_all(svc.db.parent().expect("dir")).expect("dir");
    std::fs::copy(fixture(version), &svc.db).expect("copy fixture");
    let status = json_of(&svc, &["status", "--json"]);
    assert_eq!(status["schema_version"], current_version(), "{status}");
    assert_eq!(status["events_stored"], 3, "{status}");
    assert_eq!(status["last_sequence"], 3, "{status}");
    assert_eq!(status["unsent"], 1, "{status}");

    let events = json_of(&svc, &["events", "list", "--json"]);
    let types: Vec<&str> = events["events"]
        .as_array()
        .or(events.as_array())
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "store.loyalty.identified",
            "store.transaction.completed",
            "store.pickup.received"
        ]
    );
    // Schema 9 stores ids as bytes and times as milliseconds: they read
    // back as they were written, whatever version wrote them.
    let list = events["events"]
        .as_array()
        .or(events.as_array())
        .expect("events");
    for (i, e) in list.iter().enumerate() {
        let seq = i + 1;
        assert_eq!(
            e["id"],
            format!("0195a0c4-7e00-7000-8000-00000000000{seq}"),
            "{e}"
        );
        assert_eq!(e["time"], format!("2026-03-02T08:0{seq}:00.000Z"), "{e}");
        assert_eq!(
            e["recordedat"],
            format!("2026-03-02T08:0{seq}:00.000Z"),
            "{e}"
        );
        assert_eq!(e["sequence"], seq.to_string(), "{e}");
    }
    assert_eq!(list[1]["subject"], "T-0815");
    assert_eq!(list[1]["journeystage"], "decision");
    assert_eq!(list[1]["data"]["total_minor"], 4999);

    let tokens = json_of(&svc, &["token", "list", "--json"]);
    let names: Vec<&str> = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert!(
        names.contains(&"till-1") && names.contains(&"it"),
        "{names:?}"
    );
    if version >= 3 {
        assert!(names.contains(&"counter tablet #0421"), "{names:?}");
        let staff = json_of(&svc, &["staff", "list", "--json"]);
        assert_eq!(staff[0]["id"], "anna", "{staff}");
    }
    if version >= 8 {
        assert!(names.contains(&"office"), "{names:?}");
    }
    if version >= 2 {
        let order = json_of(&svc, &["pickups", "show", "W-1001"]);
        assert_eq!(order["version"], 2, "{order}");
        assert_eq!(order["customer"]["display_name"], "Julia M.");
        assert_eq!(
            order["state"],
            if version >= 3 { "ready" } else { "received" }
        );
        if version >= 3 {
            assert_eq!(order["location"], "B-07", "{order}");
        }
    }
    // And the service runs on it and takes new events after the old ones.
    let pos = svc.token("pos", "till-2");
    svc.start().await;
    let r = http()
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&pos)
        .json(&marker_event("after-upgrade"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["sequence"], "4", "{v}");
    assert!(svc.term().success());
}

#[test]
fn there_is_a_fixture_for_every_schema_version() {
    let latest = current_version();
    for v in 1..=latest {
        assert!(
            fixture(v as u32).exists(),
            "no fixture for schema version {v}: run scripts/gen_schema_fixtures.sh and commit it"
        );
    }
}

#[tokio::test]
async fn a_schema_1_database_upgrades() {
    upgrades(1).await;
}

#[tokio::test]
async fn a_schema_2_database_upgrades() {
    upgrades(2).await;
}

#[tokio::test]
async fn a_schema_3_database_upgrades() {
    upgrades(3).await;
}

#[tokio::test]
async fn a_schema_4_database_upgrades() {
    upgrades(4).await;
}

#[tokio::test]
async fn a_schema_5_database_upgrades() {
    upgrades(5).await;
}

#[tokio::test]
async fn a_schema_6_database_upgrades() {
    upgrades(6).await;
}

#[tokio::test]
async fn a_schema_7_database_upgrades() {
    upgrades(7).await;
}

#[tokio::test]
async fn a_schema_8_database_upgrades() {
    upgrades(8).await;
}

#[tokio::test]
async fn a_schema_9_database_upgrades() {
    upgrades(9).await;
}

/// Schema 9 rewrites the event log: with less free disk than the database
/// takes it refuses, says why, and leaves the file as it was.
#[test]
fn the_schema_9_upgrade_is_refused_without_room() {
    let svc = Service::new("", "");
    std::fs::create_dir_all(svc.db.parent().expect("dir")).expect("dir");
    std::fs::copy(fixture(8), &svc.db).expect("copy fixture");
    let before = std::fs::read(&svc.db).expect("read");
    let out = svc
        .cli_command(&["status", "--json"])
        .env("STORE_EDGE_DEBUG_FREE_BYTES", "4096")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs at least as much free disk as the database takes"),
        "{err}"
    );
    assert_eq!(std::fs::read(&svc.db).expect("read"), before, "untouched");
    // With room it upgrades.
    let status = json_of(&svc, &["status", "--json"]);
    assert_eq!(status["schema_version"], current_version(), "{status}");
}
