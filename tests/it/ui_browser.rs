//! The staff tablet UI in a real browser: Debian's Chromium driven by
//! playwright-core (tests/ui/tablet.mjs) against the real binary, the fake
//! central as its own process and a counter scanner on a pty. The script
//! pairs, logs in with a PIN, sees an order arrive live, makes it ready,
//! hands it over after a pass is scanned, keeps the staff log-in over a
//! reload, is asked for the PIN again (not to pair) after the staff
//! session's idle time, sees the offline banner once central is killed, and
//! logs out. Screenshots go to target/ui-screenshots/.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;
use serde_json::json;

/// `pickup.staff_session_idle_s` of the service under test: the script
/// waits this plus 5 s to see the PIN asked again.
const IDLE_S: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staff_tablet_handles_a_pickup_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/ui/tablet.mjs");
    assert!(
        root.join("tests/ui/node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/test.sh (it runs `npm ci --prefix tests/ui`)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test.sh (it installs Debian's chromium)"
    );

    let mut central = FakeCentralProc::start(&[], &[]).await;
    let mut svc = Service::new("", "");
    let pty = pty_pair(svc.dir.path());
    let sections = format!(
        "{}\n[pickup]\ncounter_register = \"counter-1\"\nstaff_session_idle_s = {IDLE_S}\n\n[[devices]]\nid = \"counter-scanner\"\nkind = \"scanner\"\ntransport = \"serial\"\nregister = \"counter-1\"\ncontext = \"pickup\"\npath = \"{}\"\nbaud = 9600\nsuffix = \"\\r\"\n",
        central.edge_sections(""),
        svc.dir.path().join("scanner").display()
    );
    svc.write_config("", &sections);
    add_staff(&svc, "anna", "Anna K.", "4711");
    svc.start().await;
    let code = svc.pairing_code("counter-1");

    let mut order = order_doc("W-7001", 1, "open");
    order["customer"]["display_name"] = json!("Julia M.");
    order["items"] = json!([
        {"line_id": "1", "sku": "SOFA-GRN", "name": "Green velvet sofa", "quantity": 1},
        {"line_id": "2", "sku": "CUSH-GRN", "name": "Cushion", "quantity": 2}
    ]);
    let order2 = order_doc("W-7002", 1, "open");
    let screenshots = root.join("target/ui-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let central_pid = central.pid().to_string();
    let output = tokio::task::spawn_blocking({
        let svc_url = svc.url("");
        let central_url = central.url("");
        let host = svc.dir.path().join("host");
        let screenshots = screenshots.clone();
        move || {
            Command::new("node")
                .arg(&script)
                .env("STORE_EDGE_URL", svc_url)
                .env("PAIR_CODE", code)
                .env("STAFF_ID", "anna")
                .env("STAFF_PIN", "4711")
                .env("CENTRAL_URL", central_url)
                .env("CENTRAL_PID", central_pid)
                .env("PTY_HOST", host)
                .env("ORDER_DOC", order.to_string())
                .env("ORDER2_DOC", order2.to_string())
                .env("STAFF_NAME", "Anna K.")
                .env("STAFF_SESSION_IDLE_S", IDLE_S.to_string())
                .env("SCREENSHOT_DIR", screenshots)
                .env("CHROMIUM", chromium)
                .output()
                .expect("node must be installed")
        }
    })
    .await
    .expect("node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    central.stop();
    drop(pty);
    assert!(
        output.status.success(),
        "the browser test failed ({}); see the output above and target/ui-screenshots/failure.png; service log:\n{}",
        output.status,
        svc.log_text()
    );
    // What the browser did is in the database: one handover, by pass.
    let (state, handed): (String, i64) = svc
        .db()
        .query_row(
            "SELECT state, (SELECT count(*) FROM events WHERE type = 'store.pickup.handed_over' AND subject = 'W-7001' AND json_extract(data, '$.verified_by') = 'pass') FROM pickup_orders WHERE order_id = 'W-7001'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("order");
    assert_eq!((state.as_str(), handed), ("handed_over", 1));
    // The second order was picked after the PIN was asked again: by the
    // tablet's staff session, which the UI did not have to name.
    let picker: String = svc
        .db()
        .query_row(
            "SELECT json_extract(data, '$.staff_id') FROM events WHERE type = 'store.pickup.picking_started' AND subject = 'W-7002'",
            [],
            |r| r.get(0),
        )
        .expect("W-7002 picked");
    assert_eq!(picker, "anna");
    assert!(stdout.matches("screenshot: ").count() >= 8, "{stdout}");
}
