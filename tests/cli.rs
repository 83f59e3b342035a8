//! The command line as store IT uses it: exit codes, token output, listing
//! commands with --json, reading the database while the service runs.

mod common;

use common::{marker_event, Service, BIN};
use serde_json::Value;

#[test]
fn token_create_prints_exactly_the_token_and_stores_only_its_hash() {
    let svc = Service::new("", "");
    let out = svc.cli(&["token", "create", "--role", "staff", "--name", "tablet-1"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    let token = stdout.trim_end();
    assert!(token.starts_with("se_") && token.len() == 46, "{token}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(token),
        "notes go to stderr, without the token"
    );
    let db = std::fs::read(&svc.db).unwrap_or_default();
    let wal = std::fs::read(svc.db.with_extension("db-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    assert!(
        !db.windows(needle.len()).any(|w| w == needle)
            && !wal.windows(needle.len()).any(|w| w == needle)
    );

    let dup = svc.cli(&["token", "create", "--role", "staff", "--name", "tablet-1"]);
    assert_eq!(
        dup.status.code(),
        Some(1),
        "a duplicate name is a runtime error"
    );
    let list = svc.cli(&["token", "list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(list[0]["name"], "tablet-1");
    assert_eq!(list[0]["role"], "staff");
    assert!(svc.cli(&["token", "revoke", "tablet-1"]).status.success());
    assert_eq!(
        svc.cli(&["token", "revoke", "nobody"]).status.code(),
        Some(1)
    );
}

#[test]
fn exit_codes_for_usage_and_config_errors() {
    let svc = Service::new("", "");
    assert_eq!(
        svc.cli(&["frobnicate"]).status.code(),
        Some(2),
        "unknown command"
    );
    assert_eq!(
        svc.cli(&["token", "create", "--role", "boss", "--name", "x"])
            .status
            .code(),
        Some(2)
    );
    let missing = std::process::Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/store-edge.toml",
            "config",
            "check",
        ])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/store-edge.toml"));
    let via_env = std::process::Command::new(BIN)
        .args(["config", "check"])
        .env("STORE_EDGE_CONFIG", &svc.config)
        .output()
        .expect("run");
    assert!(via_env.status.success(), "$STORE_EDGE_CONFIG is used");
    std::fs::write(
        &svc.config,
        "[store]\nid = \"x\"\n[storage]\npath = \"/tmp/x.db\"\nmax_size_mb = \"big\"\n",
    )
    .expect("write");
    let bad = svc.cli(&["config", "check"]);
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains(":5:") && msg.contains("store-edge.toml"),
        "file and line: {msg}"
    );
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for word in [
        "run",
        "config",
        "token",
        "events",
        "status",
        "db",
        "Exit codes",
    ] {
        assert!(help.contains(word), "--help mentions {word}");
    }
}

#[tokio::test]
async fn read_commands_work_while_the_service_runs() {
    let mut svc = Service::new("", "");
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let http = common::http();
    for i in 0..3 {
        http.post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&marker_event(&format!("T{i}")))
            .send()
            .await
            .expect("post");
    }
    let list = svc.cli(&["events", "list", "--after", "1", "--json"]);
    assert!(list.status.success());
    let page: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["events"][0]["sequence"], "2");
    let text = svc.cli(&["events", "list", "--type", "store.transaction.completed"]);
    assert_eq!(String::from_utf8_lossy(&text.stdout).lines().count(), 3);
    let status: Value =
        serde_json::from_slice(&svc.cli(&["status", "--json"]).stdout).expect("json");
    assert_eq!(status["events_stored"], 3);
    assert_eq!(status["unsent"], 3);
    assert_eq!(status["last_sequence"], 3);
    assert_eq!(status["store_id"], "test-store-01");
    let check = svc.cli(&["db", "check", "--json"]);
    assert!(check.status.success());
    let check: Value = serde_json::from_slice(&check.stdout).expect("json");
    assert_eq!(check["ok"], true);
    let effective = svc.cli(&["config", "check"]);
    assert!(String::from_utf8_lossy(&effective.stdout).contains("test-store-01"));
}
