//! Scanners end to end: a serial scanner played through a real pty pair
//! (socat), recorded by the real binary; unplug and replug; the live stream
//! with a loyalty scan; no clear number anywhere on disk or in the logs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{self, contains_bytes, next_sse, pty_pair, Service, DEADLINE};
use serde_json::{json, Value};

/// A demo key for these tests only (not a secret).
const KEY_HEX: &str = "7afc0e7c7bf4b24c6e9673a9de072ebf0d35d885daf1052c175d95854a183e44";
/// A club card: prefix 2400, 13 digits, GTIN check digit. Invented.
const CLUB_CARD: &str = "2400000012344";

fn ean13(base12: u64) -> String {
    let s = format!("{base12:012}");
    let sum: u32 = s
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 1 { 3 } else { 1 })
        .sum();
    format!("{s}{}", (10 - sum % 10) % 10)
}

fn sections(dir: &Path) -> String {
    let key = dir.join("loyalty.key");
    common::write_secret(&key, &format!("{KEY_HEX}\n"));
    format!(
        "[[devices]]\nid = \"till-1-scanner\"\nkind = \"scanner\"\ntransport = \"serial\"\nregister = \"till-1\"\ncontext = \"basket\"\npath = \"{}\"\nbaud = 9600\nsuffix = \"\\r\"\n\n[loyalty]\nkey_file = \"{}\"\n\n[[loyalty.programs]]\nname = \"club\"\nprefix = \"2400\"\nlength = 13\ncheck = \"gtin\"\n",
        dir.join("scanner").display(),
        key.display()
    )
}

async fn wait_device_state(svc: &Service, token: &str, state: &str) -> Value {
    let http = common::http();
    let started = Instant::now();
    loop {
        let v: Value = http
            .get(svc.url("/api/v1/devices"))
            .bearer_auth(token)
            .send()
            .await
            .expect("devices")
            .json()
            .await
            .expect("json");
        if v["devices"][0]["state"] == state {
            return v;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "device not {state}: {v}\n{}",
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn scanned_gtins(svc: &Service) -> Vec<String> {
    let db = svc.db();
    let mut stmt = db
        .prepare("SELECT json_extract(data, '$.gtin') FROM events WHERE type = 'store.product.scanned' ORDER BY seq")
        .expect("prepare");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

async fn wait_scans(svc: &Service, n: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let got = scanned_gtins(svc);
        if got.len() >= n {
            return got;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} of {n} scans recorded\n{}",
            got.len(),
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes scans at 50/s, alternating CR and CRLF, every third one split
/// across two writes.
async fn play(host: &mut std::fs::File, codes: &[String]) {
    for (i, code) in codes.iter().enumerate() {
        let frame = if i % 2 == 0 {
            format!("{code}\r")
        } else {
            format!("{code}\r\n")
        };
        if i % 3 == 0 {
            let (a, b) = frame.split_at(5);
            host.write_all(a.as_bytes()).expect("write");
            host.flush().expect("flush");
            tokio::time::sleep(Duration::from_millis(3)).await;
            host.write_all(b.as_bytes()).expect("write");
        } else {
            host.write_all(frame.as_bytes()).expect("write");
        }
        host.flush().expect("flush");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_scanner_records_every_scan_once_in_order_through_unplug_and_replug() {
    let mut svc = Service::new("", "");
    let mut pty = pty_pair(svc.dir.path());
    svc.write_config("", &sections(svc.dir.path()));
    let staff = svc.token("staff", "tablet");
    svc.start().await;
    wait_device_state(&svc, &staff, "online").await;

    let first: Vec<String> = (0..100).map(|i| ean13(400_638_100_000 + i)).collect();
    play(&mut pty.host().expect("open host pty"), &first).await;
    let got = wait_scans(&svc, 100).await;
    let want: Vec<String> = first.iter().map(|c| format!("0{c}")).collect();
    assert_eq!(got, want, "every scan once, in order");

    // Unplug.
    pty.kill();
    let devices = wait_device_state(&svc, &staff, "offline").await;
    assert!(devices["devices"][0]["last_error"].is_string());
    // Replug at the same path.
    let pty = pty_pair(svc.dir.path());
    wait_device_state(&svc, &staff, "online").await;
    let second: Vec<String> = (0..30).map(|i| ean13(400_638_200_000 + i)).collect();
    play(&mut pty.host().expect("open host pty"), &second).await;
    let got = wait_scans(&svc, 130).await;
    let want_after: Vec<String> = second.iter().map(|c| format!("0{c}")).collect();
    assert_eq!(
        &got[100..],
        &want_after[..],
        "no scan after the replug is lost"
    );

    let db = svc.db();
    let states: Vec<String> = db
        .prepare("SELECT json_extract(data, '$.state') FROM events WHERE type = 'store.device.status' ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let transitions: Vec<&str> = states.iter().map(String::as_str).collect();
    assert!(
        transitions
            .windows(3)
            .any(|w| w == ["online", "offline", "online"]),
        "device status events record the unplug and replug: {transitions:?}"
    );
    let context: String = db
        .query_row("SELECT json_extract(data, '$.context') FROM events WHERE type = 'store.product.scanned' LIMIT 1", [], |r| r.get(0))
        .expect("context");
    assert_eq!(context, "basket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loyalty_scan_reaches_the_till_stream_with_token_only_and_no_clear_number_is_kept() {
    let mut svc = Service::new("", "");
    let pty = pty_pair(svc.dir.path());
    svc.write_config("", &sections(svc.dir.path()));
    let pos = svc.token("pos", "till-1");
    let staff = svc.token("staff", "tablet");
    svc.start().await;
    wait_device_state(&svc, &staff, "online").await;
    let http = common::http();
    let mut stream = http
        .get(svc.url("/api/v1/stream?register=till-1"))
        .bearer_auth(&pos)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut buf = String::new();
    // Another register's subscriber must not see till-1's scans.
    let mut other = http
        .get(svc.url("/api/v1/stream?register=till-9"))
        .bearer_auth(&pos)
        .send()
        .await
        .expect("stream");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut host = pty.host().expect("open host pty");
    host.write_all(format!("{CLUB_CARD}\r").as_bytes())
        .expect("write");
    host.flush().expect("flush");
    let scan = next_sse(&mut stream, &mut buf, "scan").await;
    assert_eq!(scan["kind"], "loyalty", "{scan}");
    assert_eq!(scan["number_masked"], "****2344");
    assert_eq!(scan["program"], "club");
    assert_eq!(scan["register_id"], "till-1");
    let token = scan["customer_token"].as_str().expect("token");
    assert_eq!(token.len(), 43);
    assert!(
        !scan.to_string().contains(CLUB_CARD),
        "the stream never carries the clear number"
    );
    let quiet = tokio::time::timeout(Duration::from_millis(500), other.chunk()).await;
    if let Ok(Ok(Some(chunk))) = quiet {
        assert!(
            !String::from_utf8_lossy(&chunk).contains("loyalty"),
            "till-9 saw till-1's scan"
        );
    }

    // A till that reads cards itself hands the number over the API.
    let clear = "4111 1111 1111 1111";
    let r = http
        .post(svc.url("/api/v1/loyalty/identify"))
        .bearer_auth(&pos)
        .json(&json!({"number": clear, "method": "magstripe", "register_id": "till-1"}))
        .send()
        .await
        .expect("identify");
    assert_eq!(r.status(), 201);
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["number_masked"], "****1111");
    assert_eq!(answer["customer_token"].as_str().map(str::len), Some(43));
    let bad = http
        .post(svc.url("/api/v1/loyalty/identify"))
        .bearer_auth(&staff)
        .json(&json!({"number": clear, "method": "magstripe"}))
        .send()
        .await
        .expect("identify");
    assert_eq!(bad.status(), 403, "staff tablets do not identify");

    // The events are stored with tokens; the clear numbers nowhere.
    let started = Instant::now();
    while svc
        .db()
        .query_row(
            "SELECT count(*) FROM events WHERE type = 'store.loyalty.identified'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("count")
        < 2
    {
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(svc.term().success());
    let mut files = vec![svc.db.clone(), svc.log.clone()];
    for suffix in ["-wal", "-shm"] {
        let mut p = svc.db.clone().into_os_string();
        p.push(suffix);
        files.push(PathBuf::from(p));
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for needle in [CLUB_CARD, "4111111111111111", clear] {
            assert!(
                !contains_bytes(&bytes, needle),
                "{needle} found in {}",
                f.display()
            );
        }
    }
}

/// Issue 10: a card number scanned bare (no AIM, no GS) at a till decoded as
/// a product with `ais.411 = 1000000000511` and was stored and synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_number_scanned_at_a_till_is_shown_masked_and_never_stored() {
    const PAN: &str = "4111000000000511";
    let mut svc = Service::new("", "");
    let pty = pty_pair(svc.dir.path());
    svc.write_config("", &sections(svc.dir.path()));
    let pos = svc.token("pos", "till-1");
    let staff = svc.token("staff", "tablet");
    svc.start().await;
    wait_device_state(&svc, &staff, "online").await;
    let mut stream = common::http()
        .get(svc.url("/api/v1/stream?register=till-1"))
        .bearer_auth(&pos)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut buf = String::new();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut host = pty.host().expect("open host pty");
    host.write_all(format!("{PAN}\r4006381333931\r").as_bytes())
        .expect("write");
    host.flush().expect("flush");
    let card = next_sse(&mut stream, &mut buf, "scan").await;
    assert_eq!(card["kind"], "unknown", "{card}");
    assert_eq!(card["raw_masked"], "************0511", "{card}");
    assert!(!card.to_string().contains("1000000000511"), "{card}");
    let product = next_sse(&mut stream, &mut buf, "scan").await;
    assert_eq!(product["kind"], "product", "{product}");
    // The product after it is recorded; the card number is not.
    assert_eq!(wait_scans(&svc, 1).await, ["04006381333931"]);
    assert!(svc.term().success());
    assert_eq!(scanned_gtins(&svc), ["04006381333931"]);
    let mut files = vec![svc.db.clone(), svc.log.clone()];
    for suffix in ["-wal", "-shm"] {
        let mut p = svc.db.clone().into_os_string();
        p.push(suffix);
        files.push(PathBuf::from(p));
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for needle in [PAN, "1000000000511"] {
            assert!(
                !contains_bytes(&bytes, needle),
                "{needle} found in {}",
                f.display()
            );
        }
    }
}

#[test]
fn decode_prints_one_json_object_per_input() {
    let svc = Service::new("", "");
    std::fs::write(svc.dir.path().join("scanner"), "").expect("placeholder");
    svc.write_config("", &sections(svc.dir.path()));
    let out = svc.cli(&[
        "decode",
        CLUB_CARD,
        "4006381333931",
        r"]C1010950110153000317271231\x1d10ABC",
        "12345",
        "\u{7}bell",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["kind"], "loyalty");
    assert_eq!(lines[0]["number_masked"], "****2344");
    assert_eq!(lines[0]["customer_token"].as_str().map(str::len), Some(43));
    assert!(
        !text.contains(CLUB_CARD),
        "decode never prints the clear number"
    );
    assert_eq!(lines[1]["kind"], "product");
    assert_eq!(lines[1]["gtin"], "04006381333931");
    assert_eq!(lines[2]["expiry"], "2027-12-31");
    assert_eq!(lines[2]["batch"], "ABC");
    assert!(matches!(
        lines[3]["kind"].as_str(),
        Some("unknown" | "invalid")
    ));
    assert_eq!(lines[4]["kind"], "invalid");
    assert!(lines[4]["reason"].is_string());
}
