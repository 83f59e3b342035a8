//! The print-job API end to end (issue 12): the real binary with two
//! network printers in its config that are switched off (nothing listens
//! at their addresses), its SQLite file, real tokens. Their workers find
//! them offline, so a posted job stays `queued` where the tests look at
//! it; an `uncertain` job (what the worker leaves after a
//! crash mid-job) is made by writing the state into the stopped service's
//! file, as the crash would have.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

const PAN: &str = "4111 1111 1111 1111";

/// An address on 127.0.0.1 where nothing listens: a printer switched off.
fn switched_off() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    address
}

/// A 58 mm counter printer and an 80 mm till printer with a drawer, both
/// switched off.
fn printers() -> String {
    format!(
        "[[devices]]\nid = \"counter-printer\"\nkind = \"printer\"\nprofile = \"generic_58\"\ntransport = \"tcp\"\naddress = \"{}\"\n\n\
         [[devices]]\nid = \"till-printer\"\nkind = \"printer\"\nregister = \"till-1\"\nprofile = \"epson_tm_t20\"\ndrawer = true\ntransport = \"tcp\"\naddress = \"{}\"\n",
        switched_off(),
        switched_off()
    )
}

async fn edge_with_printers() -> Service {
    let mut svc = Service::new("", "");
    svc.write_config("", &printers());
    svc.start().await;
    svc
}

/// `(status, body)` of a request with `token` (none: no Authorization).
async fn call(
    svc: &Service,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let client = http();
    let mut req = match method {
        "GET" => client.get(svc.url(path)),
        _ => client.post(svc.url(path)),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({ "raw": text })),
    )
}

async fn post_job(svc: &Service, token: &str, printer: &str, body: &Value) -> (u16, Value) {
    let path = format!("/api/v1/printers/{printer}/jobs");
    call(svc, Some(token), "POST", &path, Some(body), None).await
}

fn text_doc(text: &str) -> Value {
    json!({"blocks": [{"kind": "text", "text": text}, {"kind": "cut"}]})
}

fn test_page() -> Value {
    json!({"template": "test", "data": {}})
}

#[tokio::test]
async fn print_jobs_are_posted_by_role_and_a_till_sees_only_its_own() {
    let svc = edge_with_printers().await;
    let (pos_a, pos_b) = (svc.token("pos", "till-a"), svc.token("pos", "till-b"));
    let (staff, admin, kiosk) = (
        svc.token("staff", "tablet"),
        svc.token("admin", "it"),
        svc.token("kiosk", "kiosk"),
    );
    let path = "/api/v1/printers/counter-printer/jobs";
    let doc = text_doc("Hallo Jörg, 3,50 €");
    assert_eq!(
        call(&svc, None, "POST", path, Some(&doc), None).await.0,
        401
    );
    assert_eq!(post_job(&svc, &kiosk, "counter-printer", &doc).await.0, 403);
    let mut ids = Vec::new();
    for token in [&pos_a, &pos_b, &staff, &admin] {
        let (status, job) = post_job(&svc, token, "counter-printer", &doc).await;
        assert_eq!(status, 202, "{job}");
        assert_eq!(
            (&job["state"], &job["document"], &job["printer_id"]),
            (
                &json!("queued"),
                &json!("receipt"),
                &json!("counter-printer")
            )
        );
        assert!(job["id"].is_string(), "ids are strings: {job}");
        ids.push(job["id"].as_str().expect("id").to_owned());
    }
    let (status, job) = post_job(&svc, &staff, "counter-printer", &test_page()).await;
    assert_eq!((status, &job["document"]), (202, &json!("test")), "{job}");
    let (status, e) = post_job(&svc, &staff, "no-such-printer", &doc).await;
    assert_eq!(status, 404, "{e}");

    // A till reads its own job, not another till's.
    let own = format!("/api/v1/print-jobs/{}", ids[0]);
    let other = format!("/api/v1/print-jobs/{}", ids[1]);
    assert_eq!(
        call(&svc, Some(&pos_a), "GET", &own, None, None).await.0,
        200
    );
    assert_eq!(
        call(&svc, Some(&pos_a), "GET", &other, None, None).await.0,
        404
    );
    assert_eq!(
        call(&svc, Some(&staff), "GET", &other, None, None).await.0,
        200
    );
    let (_, mine) = call(&svc, Some(&pos_a), "GET", "/api/v1/print-jobs", None, None).await;
    assert_eq!(mine["jobs"].as_array().expect("jobs").len(), 1, "{mine}");
    let (_, all) = call(
        &svc,
        Some(&staff),
        "GET",
        "/api/v1/print-jobs?state=queued",
        None,
        None,
    )
    .await;
    assert_eq!(all["jobs"].as_array().expect("jobs").len(), 5, "{all}");
    let (_, none) = call(
        &svc,
        Some(&admin),
        "GET",
        "/api/v1/print-jobs?state=uncertain",
        None,
        None,
    )
    .await;
    assert_eq!(none["jobs"], json!([]));
    let bad = call(
        &svc,
        Some(&admin),
        "GET",
        "/api/v1/print-jobs?state=lost",
        None,
        None,
    )
    .await;
    assert_eq!(bad.0, 400, "{}", bad.1);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_job_and_refuses_another_body() {
    let svc = edge_with_printers().await;
    let (till, other_till) = (svc.token("pos", "till-a"), svc.token("pos", "till-b"));
    let path = "/api/v1/printers/till-printer/jobs";
    let doc = text_doc("Beleg 4711");
    let first = call(
        &svc,
        Some(&till),
        "POST",
        path,
        Some(&doc),
        Some("receipt-4711"),
    )
    .await;
    assert_eq!(first.0, 202, "{}", first.1);
    let again = call(
        &svc,
        Some(&till),
        "POST",
        path,
        Some(&doc),
        Some("receipt-4711"),
    )
    .await;
    assert_eq!(
        (again.0, &again.1["id"]),
        (200, &first.1["id"]),
        "{}",
        again.1
    );
    let changed = text_doc("Beleg 4712");
    let clash = call(
        &svc,
        Some(&till),
        "POST",
        path,
        Some(&changed),
        Some("receipt-4711"),
    )
    .await;
    assert_eq!(clash.0, 409, "{}", clash.1);
    // The same key from another till is that till's own request.
    let theirs = call(
        &svc,
        Some(&other_till),
        "POST",
        path,
        Some(&doc),
        Some("receipt-4711"),
    )
    .await;
    assert_eq!(theirs.0, 202, "{}", theirs.1);
    assert_ne!(theirs.1["id"], first.1["id"]);
    let count: i64 = svc
        .db()
        .query_row("SELECT count(*) FROM print_jobs", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 2, "a replay queues nothing");
}

#[tokio::test]
async fn a_card_number_in_text_is_refused_but_printed_in_a_qr_and_the_fiscal_block() {
    let svc = edge_with_printers().await;
    let till = svc.token("pos", "till-a");
    let (status, e) = post_job(
        &svc,
        &till,
        "till-printer",
        &text_doc(&format!("Karte {PAN}")),
    )
    .await;
    assert_eq!((status, &e["reason"]), (422, &json!("card_number")), "{e}");
    assert_eq!(e["field"], "blocks[0].text");
    assert!(!e.to_string().contains("1111 1111"), "never echoed: {e}");
    let columns = json!({"blocks": [{"kind": "columns", "left": PAN, "right": "1,00"}]});
    assert_eq!(post_job(&svc, &till, "till-printer", &columns).await.0, 422);

    let qr = json!({"blocks": [{"kind": "qr", "payload": PAN.replace(' ', "")},
        {"kind": "barcode", "symbology": {"type": "code128"}, "data": PAN.replace(' ', "")}]});
    let (status, job) = post_job(&svc, &till, "till-printer", &qr).await;
    assert_eq!(status, 202, "symbol payloads are printed verbatim: {job}");

    let receipt = |line_name: &str| {
        json!({"template": "receipt", "language": "en", "data": {
            "transaction_id": "T-1", "register_id": "till-1",
            "lines": [{"name": line_name, "total_minor": 350}],
            "total_minor": 350, "payments": [{"method": "Bar", "amount_minor": 350}],
            "fiscal": {"lines": [format!("TSE-Signatur: {PAN}")], "qr": format!("V0;till-1;{PAN}")}}})
    };
    let (status, job) = post_job(&svc, &till, "till-printer", &receipt("Käse")).await;
    assert_eq!(
        (status, &job["document"]),
        (202, &json!("receipt")),
        "{job}"
    );
    let (status, e) = post_job(&svc, &till, "till-printer", &receipt(PAN)).await;
    assert_eq!(
        (status, &e["field"]),
        (422, &json!("data.lines[0].name")),
        "{e}"
    );
    assert!(
        !svc.log_text().contains("1111 1111"),
        "no card number in the log"
    );
}

#[tokio::test]
async fn the_drawer_opens_only_for_admin_and_the_printers_own_till() {
    let svc = edge_with_printers().await;
    let out = svc.cli(&[
        "token",
        "create",
        "--role",
        "pos",
        "--name",
        "t1",
        "--register",
        "till-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let till_1 = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let out = svc.cli(&[
        "token",
        "create",
        "--role",
        "pos",
        "--name",
        "t2",
        "--register",
        "till-2",
    ]);
    let till_2 = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let (staff, admin) = (svc.token("staff", "tablet"), svc.token("admin", "it"));
    let kick = |register: &str| json!({"register": register, "blocks": [{"kind": "text", "text": "Bar"}, {"kind": "drawer_kick"}]});
    let (status, job) = post_job(&svc, &till_1, "till-printer", &kick("till-1")).await;
    assert_eq!(status, 202, "{job}");
    for (who, token, doc) in [
        ("another register's till", &till_2, kick("till-1")),
        ("a till naming another register", &till_1, kick("till-2")),
        ("staff", &staff, kick("till-1")),
    ] {
        let (status, e) = post_job(&svc, token, "till-printer", &doc).await;
        assert_eq!(status, 403, "{who}: {e}");
    }
    assert_eq!(
        post_job(&svc, &admin, "till-printer", &kick("x")).await.0,
        202
    );
    let (status, e) = post_job(&svc, &admin, "counter-printer", &kick("till-1")).await;
    assert_eq!(status, 422, "no drawer on that printer: {e}");
    assert!(e["detail"].as_str().unwrap_or("").contains("drawer"), "{e}");
}

#[tokio::test]
async fn a_job_that_cannot_print_on_its_printer_is_refused_saying_why() {
    let svc = edge_with_printers().await;
    let staff = svc.token("staff", "tablet");
    // 576 dots of image on 384-dot paper: fine on the 80 mm printer.
    let row = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0u8; 72]);
    let wide = json!({"blocks": [{"kind": "image", "width": 576, "data": row}]});
    let (status, e) = post_job(&svc, &staff, "counter-printer", &wide).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["detail"].as_str().unwrap_or("").contains("576"), "{e}");
    assert_eq!(post_job(&svc, &staff, "till-printer", &wide).await.0, 202);
    for (body, says) in [
        (
            json!({"template": "pickup_slip", "data": {"order_id": "A"}}),
            "customer",
        ),
        (json!({"template": "invoice", "data": {}}), "invoice"),
        (
            json!({"template": "test", "data": {}, "language": "fr"}),
            "fr",
        ),
        (json!({"blocks": [{"kind": "blink"}]}), "blink"),
    ] {
        let (status, e) = post_job(&svc, &staff, "counter-printer", &body).await;
        assert_eq!(status, 422, "{body}: {e}");
        assert!(e["detail"].as_str().unwrap_or("").contains(says), "{e}");
    }
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"kind": "separator"})).collect();
    let (status, e) = post_job(
        &svc,
        &staff,
        "counter-printer",
        &json!({ "blocks": too_many }),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    let huge = text_doc(&"x".repeat(300 * 1024));
    assert_eq!(
        post_job(&svc, &staff, "counter-printer", &huge).await.0,
        413
    );
}

#[tokio::test]
async fn a_client_cannot_post_store_receipt_printed() {
    let svc = edge_with_printers().await;
    let till = svc.token("pos", "till-a");
    let event = json!({"type": "store.receipt.printed", "data": {
        "job_id": "1", "printer_id": "till-printer", "document": "receipt"}});
    let (status, e) = call(
        &svc,
        Some(&till),
        "POST",
        "/api/v1/events",
        Some(&event),
        None,
    )
    .await;
    assert_eq!(status, 403, "{e}");
    let printed: i64 = svc
        .db()
        .query_row(
            "SELECT count(*) FROM events WHERE type = 'store.receipt.printed'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(printed, 0, "only the printers' status events are recorded");
}

/// What a crash mid-job leaves for a person: the jobs `uncertain` (written
/// into the file of the stopped service).
fn make_uncertain(svc: &mut Service, ids: &[String]) {
    assert!(svc.term().success());
    let db = rusqlite::Connection::open(&svc.db).expect("open db");
    for id in ids {
        db.execute(
            "UPDATE print_jobs SET state = 'uncertain', reason = 'test' WHERE id = ?1",
            [id.parse::<i64>().expect("numeric id")],
        )
        .expect("update");
    }
}

#[tokio::test]
async fn reprint_and_skip_are_a_persons_decision_on_an_uncertain_job_only() {
    let mut svc = edge_with_printers().await;
    let (till, other_till, staff) = (
        svc.token("pos", "till-a"),
        svc.token("pos", "till-b"),
        svc.token("staff", "tablet"),
    );
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, job) = post_job(&svc, &till, "till-printer", &text_doc("Beleg")).await;
        ids.push(job["id"].as_str().expect("id").to_owned());
    }
    for action in ["reprint", "skip"] {
        let path = format!("/api/v1/print-jobs/{}/{action}", ids[0]);
        let (status, e) = call(&svc, Some(&staff), "POST", &path, None, None).await;
        assert_eq!(
            (status, &e["current_state"]),
            (409, &json!("queued")),
            "{action}: {e}"
        );
    }
    make_uncertain(&mut svc, &ids);
    svc.start().await;
    let (_, listed) = call(
        &svc,
        Some(&staff),
        "GET",
        "/api/v1/print-jobs?state=uncertain",
        None,
        None,
    )
    .await;
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(2), "{listed}");
    let reprint = format!("/api/v1/print-jobs/{}/reprint", ids[0]);
    assert_eq!(
        call(&svc, Some(&other_till), "POST", &reprint, None, None)
            .await
            .0,
        404
    );
    let (status, job) = call(&svc, Some(&till), "POST", &reprint, None, None).await;
    assert_eq!(
        (status, &job["state"], &job["reprint"]),
        (200, &json!("queued"), &json!(true)),
        "{job}"
    );
    let skip = format!("/api/v1/print-jobs/{}/skip", ids[1]);
    let (status, job) = call(&svc, Some(&staff), "POST", &skip, None, None).await;
    assert_eq!((status, &job["state"]), (200, &json!("skipped")), "{job}");
    let (status, e) = call(&svc, Some(&staff), "POST", &skip, None, None).await;
    assert_eq!(
        (status, &e["current_state"]),
        (409, &json!("skipped")),
        "{e}"
    );
}

/// The print jobs in the file: `(printer_id, document)`, oldest first.
fn jobs_in(svc: &Service) -> Vec<(String, String)> {
    let db = svc.db();
    let mut stmt = db
        .prepare("SELECT printer_id, document_kind FROM print_jobs ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

async fn staff_ok(svc: &Service, token: &str, path: &str, body: Value) -> Value {
    let (status, v) = call(svc, Some(token), "POST", path, Some(&body), None).await;
    assert_eq!(status, 200, "POST {path}: {v}");
    v
}

async fn counter_with_order(slip_printer: bool) -> (Service, FakeCentralProc, String) {
    let central = FakeCentralProc::start(&[order_doc("W-7001", 1, "open")], &[]).await;
    let mut svc = Service::new("", "");
    let pickup = if slip_printer {
        "[pickup]\nslip_printer = \"counter-printer\"\nconfirmation_printer = \"counter-printer\"\n"
    } else {
        ""
    };
    let sections = format!("{}\n{}\n{pickup}", central.edge_sections(""), printers());
    svc.write_config("", &sections);
    add_staff(&svc, "anna", "Anna K.", "4711");
    let token = svc.token("staff", "counter");
    svc.start().await;
    let started = Instant::now();
    while call(
        &svc,
        Some(&token),
        "GET",
        "/api/v1/pickups/W-7001",
        None,
        None,
    )
    .await
    .0 != 200
    {
        assert!(started.elapsed() < DEADLINE, "the order never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (svc, central, token)
}

#[tokio::test]
async fn marking_an_order_ready_queues_its_slip_with_it_and_a_handover_its_confirmation() {
    let (svc, _central, staff) = counter_with_order(true).await;
    let o = "/api/v1/pickups/W-7001";
    staff_ok(
        &svc,
        &staff,
        &format!("{o}/start-picking"),
        json!({"staff_id": "anna"}),
    )
    .await;
    assert!(jobs_in(&svc).is_empty(), "nothing printed before ready");
    let body = json!({"staff_id": "anna", "location": "A-12", "missing_lines": []});
    staff_ok(&svc, &staff, &format!("{o}/ready"), body).await;
    let slip = ("counter-printer".to_owned(), "pickup_slip".to_owned());
    assert_eq!(jobs_in(&svc), std::slice::from_ref(&slip));
    let (status, job) = call(&svc, Some(&staff), "POST", &format!("{o}/slip"), None, None).await;
    assert_eq!(
        (status, &job["document"]),
        (202, &json!("pickup_slip")),
        "{job}"
    );
    assert_eq!(jobs_in(&svc), [slip.clone(), slip.clone()]);
    let handover = json!({"staff_id": "anna", "pin": "4711", "verified_by": "id_check",
        "lines": [{"line_id": "1", "quantity_handed": 1}]});
    staff_ok(&svc, &staff, &format!("{o}/handover"), handover).await;
    let confirmation = (
        "counter-printer".to_owned(),
        "handover_confirmation".to_owned(),
    );
    assert_eq!(jobs_in(&svc), [slip.clone(), slip, confirmation]);
    let (status, e) = call(&svc, Some(&staff), "POST", &format!("{o}/slip"), None, None).await;
    assert_eq!(status, 422, "no slip for a handed-over order: {e}");
}

#[tokio::test]
async fn without_a_slip_printer_marking_ready_queues_nothing() {
    let (svc, _central, staff) = counter_with_order(false).await;
    let o = "/api/v1/pickups/W-7001";
    staff_ok(
        &svc,
        &staff,
        &format!("{o}/start-picking"),
        json!({"staff_id": "anna"}),
    )
    .await;
    let body = json!({"staff_id": "anna", "location": "A-12", "missing_lines": []});
    let order = staff_ok(&svc, &staff, &format!("{o}/ready"), body).await;
    assert_eq!(order["state"], "ready");
    assert!(jobs_in(&svc).is_empty());
    let (status, e) = call(&svc, Some(&staff), "POST", &format!("{o}/slip"), None, None).await;
    assert_eq!(status, 422, "{e}");
}

#[tokio::test]
async fn print_test_queues_a_test_page_in_the_running_services_queue_and_print_jobs_lists_it() {
    let svc = edge_with_printers().await;
    let out = svc.cli(&["print", "test", "counter-printer", "--language", "en"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let admin = svc.token("admin", "it");
    let (status, job) = call(
        &svc,
        Some(&admin),
        "GET",
        &format!("/api/v1/print-jobs/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &job["document"], &job["state"]),
        (200, &json!("test"), &json!("queued")),
        "{job}"
    );

    let out = svc.cli(&["print", "test", "no-such-printer"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("counter-printer"),
        "names the printers"
    );

    let out = svc.cli(&["print", "jobs", "--state", "queued", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["printer_id"], "counter-printer");
    let out = svc.cli(&["print", "jobs"]);
    let table = String::from_utf8(out.stdout).expect("utf8");
    assert!(table.starts_with("    ID  PRINTER"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("counter-printer") && l.contains("queued")),
        "{table}"
    );
    assert_eq!(
        svc.cli(&["print", "jobs", "--state", "lost"]).status.code(),
        Some(2)
    );
}

/// With the service stopped, `print test` prints directly, as the worker
/// would (the job printed, its event recorded); a printer that is switched
/// off leaves the page queued and says so (exit 1).
#[tokio::test]
async fn print_test_prints_directly_while_the_service_is_stopped() {
    let svc = Service::new("", "");
    let paper = svc.dir.path().join("counter.prn");
    svc.write_config(
        "",
        &format!(
            "[[devices]]\nid = \"counter-printer\"\nkind = \"printer\"\nprofile = \"generic_58\"\ntransport = \"simulated\"\npath = \"{}\"\n\n\
             [[devices]]\nid = \"off-printer\"\nkind = \"printer\"\nprofile = \"epson_tm_t20\"\ntransport = \"tcp\"\naddress = \"{}\"\n",
            paper.display(),
            switched_off()
        ),
    );
    let out = svc.cli(&["print", "test", "counter-printer", "--language", "en"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("directly"), "{stderr}");
    let bytes = std::fs::read(&paper).expect("the simulated printer's paper");
    let profile = store_edge::printing::Profile::by_name("generic_58").expect("profile");
    let printout = store_edge::printing::interpret::interpret(&bytes, profile).expect("ESC/POS");
    assert!(
        printout.text().contains(&"End of test page") && !printout.qr_payloads.is_empty(),
        "{printout:?}"
    );
    let db = svc.db();
    let state: String = db
        .query_row("SELECT state FROM print_jobs WHERE id = 1", [], |r| {
            r.get(0)
        })
        .expect("job 1");
    assert_eq!(state, "printed");
    let printed: String = db
        .query_row(
            "SELECT json_extract(data, '$.document') FROM events WHERE type = 'store.receipt.printed'",
            [],
            |r| r.get(0),
        )
        .expect("one event");
    assert_eq!(printed, "test");

    let out = svc.cli(&["print", "test", "off-printer"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stays queued"), "{stderr}");
    let state: String = db
        .query_row("SELECT state FROM print_jobs WHERE id = 2", [], |r| {
            r.get(0)
        })
        .expect("job 2");
    assert_eq!(state, "queued");
}
