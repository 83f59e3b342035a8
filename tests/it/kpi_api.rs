//! The KPI API of issue 13 end to end: who may call what (the kiosk and
//! manager tokens against every route of the OpenAPI document), asking for
//! feedback after a handover (the prompt reaches the kiosk of that register
//! only; the manager's stream carries only `kpis_changed`), one feedback
//! answer per order, and the counts on `/metrics`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

const PIN: &str = "4711";

/// A caller with one token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(svc: &Service, token: &str) -> Client {
        Client {
            http: http(),
            base: svc.url(""),
            token: token.to_owned(),
        }
    }

    /// The status and JSON body (`{"raw": text}` when not JSON).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "PUT" => self.http.put(url),
            "DELETE" => self.http.delete(url),
            other => panic!("no method {other} in the tests"),
        }
        .bearer_auth(&self.token);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        if r.headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
        {
            return (status, json!({"stream": true}));
        }
        let text = r.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(json!({ "raw": text }));
        (status, v)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.post(path, body.clone()).await;
        assert!(
            (200..300).contains(&status),
            "POST {path} {body}: {status} {v}"
        );
        v
    }

    /// The live stream of this token, once its headers arrived.
    async fn stream(&self) -> Stream {
        let resp = self
            .http
            .get(format!("{}/api/v1/stream", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), 200, "stream refused");
        Stream {
            resp,
            buf: String::new(),
        }
    }
}

/// An open live stream and what was read of it.
struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    /// The next event: its name and data; None when nothing came for `wait`.
    async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let started = Instant::now();
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        name = Some(e.trim().to_owned());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                // Comments (keep-alives) have no name.
                if let Some(name) = name {
                    let v = serde_json::from_str(&data).unwrap_or(json!({ "raw": data }));
                    return Some((name, v));
                }
            }
            let left = wait.checked_sub(started.elapsed())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) => panic!("stream ended"),
                Ok(Err(e)) => panic!("stream failed: {e}"),
                Err(_) => return None,
            }
        }
    }

    /// Every event until one named `name` (included).
    async fn until(&mut self, name: &str) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let e = self
                .next(DEADLINE)
                .await
                .unwrap_or_else(|| panic!("no `{name}` on the stream; saw {seen:?}"));
            let done = e.0 == name;
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
}

fn create_token(svc: &Service, role: &str, name: &str, register: Option<&str>) -> String {
    let mut args = vec!["token", "create", "--role", role, "--name", name];
    if let Some(r) = register {
        args.extend(["--register", r]);
    }
    let out = svc.cli(&args);
    assert!(
        out.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// `tablet pair --role R --register REG`, then the pairing: the token.
async fn paired(svc: &Service, role: &str, register: &str) -> String {
    let out = svc.cli(&["tablet", "pair", "--role", role, "--register", register]);
    assert!(
        out.status.success(),
        "tablet pair --role {role}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let (status, v) = Client::new(svc, "")
        .post(
            "/api/v1/tablets/pair",
            json!({"code": code, "name": format!("{role} tablet")}),
        )
        .await;
    assert_eq!(status, 200, "pair: {v}");
    assert_eq!(v["role"], role);
    v["token"].as_str().expect("token").to_owned()
}

/// A feedback answer as the kiosk posts it.
fn answer(score: u8, order_id: Option<&str>) -> Value {
    let mut data = json!({"score": score, "context": "pickup"});
    if let Some(o) = order_id {
        data["order_id"] = json!(o);
    }
    json!({"type": "store.feedback.submitted", "data": data})
}

/// The routes each role may call besides the open ones (method, path).
const MANAGER_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/kpis"),
    ("GET", "/api/v1/kpis/pickups"),
    ("GET", "/api/v1/session"),
    ("GET", "/api/v1/stream"),
];
const KIOSK_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/events"),
    ("GET", "/api/v1/session"),
    ("GET", "/api/v1/stream"),
];
/// Open to anyone: no token needed (pairing needs its code instead).
const OPEN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/v1/tablets/pair"),
    ("GET", "/"),
];

/// Every (method, path) of the OpenAPI document, path parameters filled
/// with plausible values.
fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut routes = Vec::new();
    for (path, item) in paths {
        let filled = path
            .replace("{order_id}", "W-1")
            .replace("{printer_id}", "counter")
            .replace("{id}", "1");
        assert!(!filled.contains('{'), "unfilled parameter in {path}");
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                routes.push((method.to_uppercase(), filled.clone()));
            }
        }
    }
    routes
}

/// One caller against every route: refused (401/403) outside `allowed`
/// and the open routes, never refused on them.
async fn check_roles(
    who: &str,
    client: &Client,
    routes: &[(String, String)],
    allowed: &[(&str, &str)],
) {
    for (method, path) in routes {
        let listed = |list: &[(&str, &str)]| list.iter().any(|(m, p)| m == method && p == path);
        let body = match (method.as_str(), path.as_str()) {
            ("POST", "/api/v1/events") => Some(answer(9, None)),
            ("POST", _) => Some(json!({})),
            _ => None,
        };
        let (status, v) = client.call(method, path, body).await;
        if listed(allowed) || listed(OPEN_ROUTES) {
            assert!(
                status != 401 && status != 403,
                "{who} refused on its own route {method} {path}: {status} {v}"
            );
        } else {
            assert!(
                status == 401 || status == 403,
                "{who} was not refused on {method} {path}: {status} {v}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_and_manager_tokens_are_refused_on_every_other_route() {
    let mut svc = Service::new("", "");
    let kiosk = create_token(&svc, "kiosk", "kiosk-1", Some("counter-1"));
    let manager = create_token(&svc, "manager", "office", None);
    svc.start().await;
    let manager_tablet = paired(&svc, "manager", "office-1").await;
    let kiosk_tablet = paired(&svc, "kiosk", "counter-1").await;

    let doc: Value = http()
        .get(svc.url("/api/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let mut routes = documented_routes(&doc);
    for (m, p) in MANAGER_ROUTES.iter().chain(KIOSK_ROUTES).chain(OPEN_ROUTES) {
        // The UI and the document itself are the only undocumented routes.
        assert!(
            ["/", "/api/openapi.json"].contains(p)
                || routes.iter().any(|(rm, rp)| rm == m && rp == p),
            "{m} {p} is not in the OpenAPI document"
        );
        if !routes.iter().any(|(rm, rp)| rm == m && rp == p) {
            routes.push((m.to_string(), p.to_string()));
        }
    }
    assert!(routes.len() > 30, "only {} routes documented", routes.len());

    for (who, token, allowed) in [
        ("manager token", &manager, MANAGER_ROUTES),
        ("manager tablet", &manager_tablet, MANAGER_ROUTES),
        ("kiosk token", &kiosk, KIOSK_ROUTES),
        ("kiosk tablet", &kiosk_tablet, KIOSK_ROUTES),
    ] {
        check_roles(who, &Client::new(&svc, token), &routes, allowed).await;
    }

    // A manager tablet needs no staff PIN log-in: it is a manager at once.
    let (status, session) = Client::new(&svc, &manager_tablet)
        .call("GET", "/api/v1/session", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (session["role"].as_str(), &session["staff"]),
        (Some("manager"), &Value::Null)
    );
    // A kiosk may post feedback only.
    let (status, v) = Client::new(&svc, &kiosk)
        .post("/api/v1/events", marker_event("kiosk-sale"))
        .await;
    assert_eq!(status, 403, "{v}");
}

/// The counter's scenario: staff Anna, IT's token, the kiosks of counter-1
/// and till-2, a staff token at till-2, a manager.
struct Counter {
    svc: Service,
    admin: Client,
    till2_staff: Client,
    kiosk: Client,
    other_kiosk: Client,
    manager: Client,
}

impl Counter {
    async fn start() -> Counter {
        let mut svc = Service::new("", "");
        add_staff(&svc, "anna", "Anna K.", PIN);
        let admin = create_token(&svc, "admin", "it", None);
        let till2_staff = create_token(&svc, "staff", "till-2 screen", Some("till-2"));
        let kiosk = create_token(&svc, "kiosk", "kiosk-1", Some("counter-1"));
        let other_kiosk = create_token(&svc, "kiosk", "kiosk-2", Some("till-2"));
        let manager = create_token(&svc, "manager", "office", None);
        svc.start().await;
        Counter {
            admin: Client::new(&svc, &admin),
            till2_staff: Client::new(&svc, &till2_staff),
            kiosk: Client::new(&svc, &kiosk),
            other_kiosk: Client::new(&svc, &other_kiosk),
            manager: Client::new(&svc, &manager),
            svc,
        }
    }

    /// A reservation made ready on shelf A-1: its order id.
    async fn ready_order(&self) -> String {
        let made = self
            .admin
            .ok(
                "/api/v1/reservations",
                json!({"customer": {"display_name": "Jo P."}, "items": [{"sku": "LAMP-1", "name": "Lamp", "quantity": 1}]}),
            )
            .await;
        let id = made["order_id"].as_str().expect("order_id").to_owned();
        let anna = json!({"staff_id": "anna"});
        self.admin
            .ok(&format!("/api/v1/pickups/{id}/start-picking"), anna)
            .await;
        self.admin
            .ok(
                &format!("/api/v1/pickups/{id}/ready"),
                json!({"staff_id": "anna", "location": "A-1", "missing_lines": []}),
            )
            .await;
        id
    }

    async fn hand_over(&self, id: &str) {
        let v = self
            .admin
            .ok(
                &format!("/api/v1/pickups/{id}/handover"),
                json!({"staff_id": "anna", "pin": PIN, "verified_by": "id_check", "lines": [{"line_id": "1", "quantity_handed": 1}]}),
            )
            .await;
        assert_eq!(v["state"], "handed_over");
    }

    async fn ask(&self, by: &Client, id: &str) -> (u16, Value) {
        by.post(
            &format!("/api/v1/pickups/{id}/ask-feedback"),
            json!({"staff_id": "anna"}),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_asked_after_the_handover_on_the_kiosk_of_that_register_only() {
    let c = Counter::start().await;
    let mut kiosk = c.kiosk.stream().await;
    let mut other_kiosk = c.other_kiosk.stream().await;
    let mut manager = c.manager.stream().await;

    let first = c.ready_order().await;
    let (status, v) = c.ask(&c.admin, &first).await;
    assert_eq!(status, 409, "before the handover: {v}");
    assert_eq!(v["current_state"], "ready");
    c.hand_over(&first).await;
    let (status, prompt) = c.ask(&c.admin, &first).await;
    assert_eq!(status, 202, "{prompt}");
    assert_eq!(prompt["order_id"], first.as_str());
    assert_eq!(prompt["context"], "pickup");
    assert_eq!(
        prompt["register"], "counter-1",
        "the counter register by default"
    );
    assert_eq!(prompt["prompt_id"].as_str().map(str::len), Some(36));

    // The kiosk of counter-1 shows it, and nothing else reached it.
    let seen = kiosk.until("feedback_prompt").await;
    assert_eq!(seen.len(), 1, "a kiosk gets only its prompts: {seen:?}");
    assert_eq!(seen[0].1, prompt);

    // Asked at till-2, the prompt goes to till-2's kiosk, which never saw
    // counter-1's (the stream is in order: it would have come first).
    let second = c.ready_order().await;
    c.hand_over(&second).await;
    let (status, at_till) = c.ask(&c.till2_staff, &second).await;
    assert_eq!(status, 202, "{at_till}");
    assert_eq!(at_till["register"], "till-2");
    let seen = other_kiosk.until("feedback_prompt").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].1["order_id"], second.as_str());
    let (status, v) = c
        .kiosk
        .post("/api/v1/events", answer(10, Some(&first)))
        .await;
    assert_eq!(status, 201, "{v}");

    manager_gets_only_kpis_changed(&c, &mut manager).await;
    no_kiosk_no_prompt(&c).await;
}

/// The manager's stream, open through all of the above (orders changed,
/// prompts sent), carries `kpis_changed` with today's date and nothing
/// else. Three of them after the last order change: at most one every 2 s,
/// so the last was published well after that change was.
async fn manager_gets_only_kpis_changed(c: &Counter, manager: &mut Stream) {
    let mut kpis = 0;
    let started = Instant::now();
    while kpis < 3 {
        assert!(started.elapsed() < DEADLINE, "only {kpis} kpis_changed");
        match manager.next(Duration::from_secs(3)).await {
            Some((name, v)) => {
                assert_eq!(name, "kpis_changed", "a manager gets nothing else: {v}");
                let day = v["day"].as_str().expect("day");
                assert_eq!(day.len(), 10, "YYYY-MM-DD: {day}");
                kpis += 1;
            }
            // Quiet: commit something that feeds the KPIs.
            None => {
                let (status, v) = c.admin.post("/api/v1/events", marker_event("tick")).await;
                assert_eq!(status, 201, "{v}");
            }
        }
    }
}

/// A register without a kiosk: the staff are told, nothing is sent.
async fn no_kiosk_no_prompt(c: &Counter) {
    let out = c.svc.cli(&["token", "revoke", "kiosk-2"]);
    assert!(out.status.success());
    let third = c.ready_order().await;
    c.hand_over(&third).await;
    let (status, v) = c.ask(&c.till2_staff, &third).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["type"], "urn:store-edge:problem:no-kiosk");
    assert_eq!(v["register"], "till-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_feedback_answer_for_an_order_is_refused_whole_and_counted_once() {
    let c = Counter::start().await;
    let id = c.ready_order().await;
    c.hand_over(&id).await;
    let (status, v) = c.kiosk.post("/api/v1/events", answer(9, Some(&id))).await;
    assert_eq!(status, 201, "{v}");

    // A second answer, from anyone: 409 naming the order.
    for by in [&c.kiosk, &c.admin] {
        let (status, v) = by.post("/api/v1/events", answer(3, Some(&id))).await;
        assert_eq!(status, 409, "{v}");
        assert_eq!(v["type"], "urn:store-edge:problem:feedback-exists");
        assert_eq!(v["order_id"], id.as_str());
    }
    // Asking again is refused too.
    let (status, v) = c.ask(&c.admin, &id).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["type"], "urn:store-edge:problem:feedback-exists");

    // An array holding one is refused whole: nothing of it is recorded.
    let before = c.svc.event_count();
    let other = c.ready_order().await;
    let after_setup = c.svc.event_count();
    assert!(after_setup > before);
    let (status, v) = c
        .kiosk
        .post(
            "/api/v1/events",
            json!([
                answer(8, None),
                answer(10, Some(&other)),
                answer(7, Some(&id))
            ]),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["order_id"], id.as_str());
    let (status, v) = c
        .kiosk
        .post(
            "/api/v1/events",
            json!([answer(10, Some(&other)), answer(6, Some(&other))]),
        )
        .await;
    assert_eq!(status, 409, "twice in one request: {v}");
    assert_eq!(v["order_id"], other.as_str());
    assert_eq!(c.svc.event_count(), after_setup, "nothing recorded");

    metrics_count_orders_and_todays_answers(&c).await;
    the_report_counts_the_one_answer(&c).await;
}

/// `GET /api/v1/kpis` (manager) counts the one answer of today; staff get
/// only the click-and-collect part; a bad window is a 400 with the reason.
async fn the_report_counts_the_one_answer(c: &Counter) {
    let (status, report) = c.manager.call("GET", "/api/v1/kpis", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["nps"]["overall"]["answers"], 1, "{report}");
    assert_eq!(report["pickups"]["outcomes"]["handed_over"], 1);
    let (status, v) = c.till2_staff.call("GET", "/api/v1/kpis", None).await;
    assert_eq!(status, 403, "revenue is not for staff: {v}");
    let (status, part) = c
        .till2_staff
        .call("GET", "/api/v1/kpis/pickups", None)
        .await;
    assert_eq!(status, 200, "{part}");
    assert_eq!(part["pickups"]["outcomes"]["handed_over"], 1);
    assert!(part.get("sales").is_none(), "{part}");
    for bad in [
        "from=2026-13-01&to=2026-13-02",
        "from=2026-03-02&to=2026-03-01",
    ] {
        let (status, v) = c
            .manager
            .call("GET", &format!("/api/v1/kpis?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["type"], "urn:store-edge:problem:bad-window", "{v}");
    }
}

/// `/metrics` (open): orders by state, overdue, today's answers; no money.
async fn metrics_count_orders_and_todays_answers(c: &Counter) {
    let text = c.svc.metrics().await;
    let value = |line: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line}` in\n{text}"))
    };
    assert_eq!(value("store_edge_pickup_orders{state=\"handed_over\"} "), 1);
    assert_eq!(value("store_edge_pickup_orders{state=\"ready\"} "), 1);
    assert_eq!(value("store_edge_pickup_orders{state=\"no_show\"} "), 0);
    assert_eq!(value("store_edge_pickup_orders_overdue "), 0);
    assert_eq!(value("store_edge_feedback_answers_today "), 1);
    for money in ["revenue", "total_minor", "EUR"] {
        assert!(!text.contains(money), "{money} on the open /metrics");
    }
}
