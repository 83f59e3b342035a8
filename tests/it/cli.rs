//! The command line as store IT uses it: exit codes, token output, listing
//! commands with --json, reading the database while the service runs.

use crate::common::{self, marker_event, Service, BIN};
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

// ---- secret files ------------------------------------------------------------

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// `store-edge run` (or any command) that is expected to exit by itself:
/// its exit status and stderr. A service that starts instead is killed at
/// the deadline and fails the test rather than hanging it.
fn exits_by_itself(svc: &Service, args: &[&str]) -> (Option<i32>, String) {
    let err_file = svc.dir.path().join("cli-stderr.txt");
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&svc.config)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("spawn");
    let status = common::wait_with_deadline(&mut child);
    (
        status.code(),
        std::fs::read_to_string(&err_file).unwrap_or_default(),
    )
}

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A loyalty section (with a simulated scanner and a card program) whose
/// key file is written with mode 0600.
fn loyalty_sections(svc: &Service) -> (std::path::PathBuf, String) {
    let key = svc.dir.path().join("loyalty.key");
    common::write_secret(&key, &format!("{KEY_HEX}\n"));
    let scans = svc.dir.path().join("scans.txt");
    std::fs::write(&scans, "#pause 100000\n").expect("scans");
    let sections = format!(
        "[[devices]]\nid = \"till-1-scanner\"\nkind = \"scanner\"\ntransport = \"simulated\"\nregister = \"till-1\"\ncontext = \"basket\"\npath = \"{}\"\n\n[loyalty]\nkey_file = \"{}\"\n\n[[loyalty.programs]]\nname = \"club\"\nprefix = \"2400\"\nlength = 13\ncheck = \"gtin\"\n",
        scans.display(),
        key.display()
    );
    (key, sections)
}

#[tokio::test]
async fn a_secret_file_others_may_read_is_refused_by_run_and_config_check() {
    let central = common::FakeCentralProc::start(&[], &[]).await;
    let svc = Service::new("", "");
    let (key, loyalty) = loyalty_sections(&svc);
    svc.write_config("", &format!("{}\n{loyalty}", central.edge_sections("")));
    let token_file = central.dir.path().join("central.token");
    for (name, file) in [
        ("loyalty.key_file", &key),
        ("central.token_file", &token_file),
    ] {
        chmod(file, 0o644);
        for cmd in [&["config", "check"][..], &["run"][..]] {
            let (code, stderr) = exits_by_itself(&svc, cmd);
            assert_eq!(code, Some(2), "{cmd:?} with {name} 0644: {stderr}");
            assert!(
                stderr.contains(&file.display().to_string())
                    && stderr.contains("0644")
                    && stderr.contains("chmod 0640")
                    && stderr.contains(name),
                "names the file, its mode and the fix: {stderr}"
            );
            assert!(!stderr.contains(KEY_HEX) && !stderr.contains(&central.token));
        }
        chmod(file, 0o600);
    }
}

#[tokio::test]
async fn a_missing_secret_file_is_a_config_error_naming_it() {
    let central = common::FakeCentralProc::start(&[], &[]).await;
    let svc = Service::new("", "");
    let (key, loyalty) = loyalty_sections(&svc);
    std::fs::remove_file(&key).expect("rm");
    svc.write_config("", &format!("{}\n{loyalty}", central.edge_sections("")));
    for cmd in [&["config", "check"][..], &["run"][..]] {
        let (code, stderr) = exits_by_itself(&svc, cmd);
        assert_eq!(code, Some(2), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains(&key.display().to_string()) && stderr.contains("does not exist"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn secret_files_with_mode_0640_are_fine_and_config_check_lists_devices_and_programs_without_keys(
) {
    let central = common::FakeCentralProc::start(&[], &[]).await;
    let mut svc = Service::new("", "");
    let (key, loyalty) = loyalty_sections(&svc);
    svc.write_config("", &format!("{}\n{loyalty}", central.edge_sections("")));
    let token_file = central.dir.path().join("central.token");
    chmod(&key, 0o640);
    chmod(&token_file, 0o640);

    let out = svc.cli(&["config", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("[[devices]]")
            && stdout.contains("till-1-scanner")
            && stdout.contains("simulated"),
        "devices listed:\n{stdout}"
    );
    assert!(
        stdout.contains("[[loyalty.programs]]") && stdout.contains("name = \"club\""),
        "programs listed:\n{stdout}"
    );
    assert!(
        stderr.contains("mode 0640"),
        "the secret files' modes: {stderr}"
    );
    let json = svc.cli(&["config", "check", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(json["devices"][0]["id"], "till-1-scanner");
    assert_eq!(json["loyalty"]["programs"][0]["name"], "club");
    let json = json.to_string();
    for text in [stdout.as_ref(), stderr.as_ref(), json.as_str()] {
        assert!(!text.contains(KEY_HEX), "no key in the output");
        assert!(!text.contains(&central.token), "no token in the output");
    }

    // The service starts with them.
    svc.start().await;
}

#[tokio::test]
async fn the_demo_writes_its_loyalty_key_under_var_with_mode_0600_on_first_start() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        !root.join("config/demo-loyalty.key").exists(),
        "no committed demo key"
    );
    let demo = std::fs::read_to_string(root.join("config/demo.toml")).expect("demo.toml");
    assert!(
        demo.contains("key_file = \"var/demo-loyalty.key\""),
        "{demo}"
    );
    // The demo as shipped, with its relative paths anchored in a fresh
    // directory and its own port.
    let mut svc = Service::new("", "");
    let here = svc.dir.path().to_path_buf();
    let text = demo
        .replace("\"var/", &format!("\"{}/var/", here.display()))
        .replace(
            "\"config/demo-scans.txt\"",
            &format!("\"{}\"", root.join("config/demo-scans.txt").display()),
        )
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", svc.port));
    std::fs::write(&svc.config, text).expect("config");
    let key = here.join("var/demo-loyalty.key");

    let check = svc.cli(&["config", "check"]);
    assert!(
        check.status.success(),
        "config check of a fresh demo: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!key.exists(), "config check creates nothing");

    svc.start().await;
    assert_eq!(mode_of(&key), 0o600);
    let first = std::fs::read_to_string(&key).expect("key");
    assert_eq!(first.trim().len(), 64);
    assert!(first.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        !svc.log_text().contains(first.trim()),
        "the key is never logged"
    );
    assert!(svc.term().success());
    svc.start().await;
    assert_eq!(
        std::fs::read_to_string(&key).expect("key"),
        first,
        "kept across restarts"
    );
}

#[test]
fn the_fake_central_on_an_api_beyond_loopback_is_refused_by_run_and_config_check() {
    let svc = Service::new("", "[central]\nfake = true\n");
    let text = std::fs::read_to_string(&svc.config).expect("config");
    std::fs::write(
        &svc.config,
        text.replace(
            &format!("127.0.0.1:{}", svc.port),
            &format!("0.0.0.0:{}", svc.port),
        ),
    )
    .expect("config");
    for cmd in [&["config", "check"][..], &["run"][..]] {
        let (code, stderr) = exits_by_itself(&svc, cmd);
        assert_eq!(code, Some(2), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains(&svc.config.display().to_string())
                && stderr.contains("`api.listen`")
                && stderr.contains("loopback"),
            "names file, key and what is allowed: {stderr}"
        );
    }
}

// ---- output into a closed pipe -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickups_list_into_a_pipe_closed_early_exits_quietly_with_status_0() {
    use std::io::Read as _;
    use std::process::{Command, Stdio};

    let orders: Vec<Value> = (0..400)
        .map(|i| common::order_doc(&format!("W-{i:05}"), 1, "open"))
        .collect();
    let central = common::FakeCentralProc::start(&orders, &[]).await;
    let mut svc = Service::new("", &central.edge_sections(""));
    svc.start().await;
    let started = std::time::Instant::now();
    loop {
        let n: i64 = svc
            .db()
            .query_row("SELECT count(*) FROM pickup_orders", [], |r| r.get(0))
            .expect("count");
        if n == 400 {
            break;
        }
        assert!(started.elapsed() < common::DEADLINE, "{n} orders arrived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let args = ["pickups", "list", "--json", "--limit", "10000"];
    // The whole answer is several pipe buffers (64 KiB) long, so the
    // command is still writing when the reader below goes away.
    let full = svc.cli(&args);
    assert!(full.status.success());
    assert!(full.stdout.len() > 3 * 65536, "{} bytes", full.stdout.len());

    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&svc.config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).expect("the list starts");
    assert_eq!(first[0], b'[');
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "quietly, status 0: {stderr}");
    assert!(stderr.is_empty(), "nothing to say: {stderr}");
}
