//! `store-edge bench load`: a busy store's mixed API load against a real
//! `store-edge run` (its own process, API on a free loopback port, the
//! built-in fake central, one `tcp` printer answered by a fake printer on
//! loopback), from `--clients` closed-loop clients for `--seconds`. Each
//! request goes out with the token a real caller has (tills `pos`, tablets
//! `staff`, the dashboard `manager`, IT `admin`, Prometheus none). Reports
//! the error rate (anything but the route's success status is an error) and
//! p50/p99 per route; exits non-zero on any error.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::ingest::{create_token, fresh_dir, sample_event, Server};
use crate::printers::fake_printer::FakePrinter;
use crate::telemetry::out::outln;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Working directory.
    #[arg(long, default_value = "var/bench")]
    pub dir: std::path::PathBuf,
    /// How long the load runs.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Concurrent clients, each sending its next request when the last one
    /// was answered.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
}

/// Who sends a request.
#[derive(Clone, Copy, Debug)]
enum Who {
    Till,
    Tablet,
    Manager,
    It,
    Prometheus,
}

/// What a request does.
#[derive(Clone, Copy, Debug)]
enum Kind {
    OneEvent,
    EventBatch,
    Receipt,
    BoardColumn,
    Search,
    Order,
    Session,
    Devices,
    UncertainJobs,
    Staff,
    PickupKpis,
    Reserve,
    Kpis,
    Sync,
    EventPage,
    Metrics,
}

/// One kind of request of the mix, with how many of every 100 it makes.
struct Route {
    name: &'static str,
    weight: u32,
    who: Who,
    kind: Kind,
}

/// The mix: tills post events and receipts; tablets read the board,
/// search, open orders, check the session and the devices, now and then
/// reserve; the dashboard reads KPIs; IT and Prometheus look in.
const ROUTES: &[Route] = &[
    Route {
        name: "POST /api/v1/events (1 event)",
        weight: 30,
        who: Who::Till,
        kind: Kind::OneEvent,
    },
    Route {
        name: "POST /api/v1/events (batch of 20)",
        weight: 4,
        who: Who::Till,
        kind: Kind::EventBatch,
    },
    Route {
        name: "POST /api/v1/printers/{id}/jobs (receipt)",
        weight: 5,
        who: Who::Till,
        kind: Kind::Receipt,
    },
    Route {
        name: "GET /api/v1/pickups?state=… (board column)",
        weight: 15,
        who: Who::Tablet,
        kind: Kind::BoardColumn,
    },
    Route {
        name: "GET /api/v1/pickups?q=… (search)",
        weight: 4,
        who: Who::Tablet,
        kind: Kind::Search,
    },
    Route {
        name: "GET /api/v1/pickups/{id}",
        weight: 6,
        who: Who::Tablet,
        kind: Kind::Order,
    },
    Route {
        name: "GET /api/v1/session",
        weight: 10,
        who: Who::Tablet,
        kind: Kind::Session,
    },
    Route {
        name: "GET /api/v1/devices",
        weight: 6,
        who: Who::Tablet,
        kind: Kind::Devices,
    },
    Route {
        name: "GET /api/v1/print-jobs?state=uncertain",
        weight: 5,
        who: Who::Tablet,
        kind: Kind::UncertainJobs,
    },
    Route {
        name: "GET /api/v1/staff",
        weight: 2,
        who: Who::Tablet,
        kind: Kind::Staff,
    },
    Route {
        name: "GET /api/v1/kpis/pickups",
        weight: 2,
        who: Who::Tablet,
        kind: Kind::PickupKpis,
    },
    Route {
        name: "POST /api/v1/reservations",
        weight: 1,
        who: Who::Tablet,
        kind: Kind::Reserve,
    },
    Route {
        name: "GET /api/v1/kpis",
        weight: 3,
        who: Who::Manager,
        kind: Kind::Kpis,
    },
    Route {
        name: "GET /api/v1/sync",
        weight: 2,
        who: Who::It,
        kind: Kind::Sync,
    },
    Route {
        name: "GET /api/v1/events?after=…",
        weight: 2,
        who: Who::It,
        kind: Kind::EventPage,
    },
    Route {
        name: "GET /metrics",
        weight: 3,
        who: Who::Prometheus,
        kind: Kind::Metrics,
    },
];

const BOARD: [&str; 5] = ["received", "picking", "ready", "due", "overdue"];

/// The tokens of the callers and what the requests refer to.
struct Ctx {
    base: String,
    pos: String,
    staff: String,
    manager: String,
    admin: String,
    orders: Vec<String>,
}

impl Ctx {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Till => Some(&self.pos),
            Who::Tablet => Some(&self.staff),
            Who::Manager => Some(&self.manager),
            Who::It => Some(&self.admin),
            Who::Prometheus => None,
        }
    }
}

fn reservation(n: u64) -> Value {
    json!({
        "customer": {"display_name": format!("Kundin {n}")},
        "items": [{"sku": format!("SKU-{}", n % 97), "name": "Jacke", "quantity": 1}],
    })
}

fn receipt(n: u64) -> Value {
    let mut blocks = vec![json!({"kind": "text", "text": format!("Beleg {n:06}"), "bold": true})];
    for line in 0..18 {
        blocks.push(
            json!({"kind": "columns", "left": format!("Artikel {line:02}"), "right": "12,50 €"}),
        );
    }
    blocks.push(json!({"kind": "cut"}));
    json!({ "blocks": blocks })
}

/// Sends request `n` of route `r`; the answer's status must be `expect`.
async fn send(http: &reqwest::Client, ctx: &Ctx, r: usize, n: u64) -> Result<(), String> {
    let route = &ROUTES[r];
    let url = |path: &str| format!("{}{path}", ctx.base);
    let (request, expect) = match route.kind {
        Kind::OneEvent => (http.post(url("/api/v1/events")).json(&sample_event(n)), 201),
        Kind::EventBatch => (
            http.post(url("/api/v1/events")).json(&Value::Array(
                (0..20).map(|k| sample_event(n * 20 + k)).collect(),
            )),
            201,
        ),
        Kind::Receipt => (
            http.post(url("/api/v1/printers/bench/jobs"))
                .json(&receipt(n)),
            202,
        ),
        Kind::BoardColumn => (
            http.get(url(&format!(
                "/api/v1/pickups?state={}",
                BOARD[n as usize % BOARD.len()]
            ))),
            200,
        ),
        Kind::Search => (
            http.get(url(&format!("/api/v1/pickups?q=Kundin%20{}", n % 40))),
            200,
        ),
        Kind::Order => (
            http.get(url(&format!(
                "/api/v1/pickups/{}",
                ctx.orders[n as usize % ctx.orders.len()]
            ))),
            200,
        ),
        Kind::Session => (http.get(url("/api/v1/session")), 200),
        Kind::Devices => (http.get(url("/api/v1/devices")), 200),
        Kind::UncertainJobs => (http.get(url("/api/v1/print-jobs?state=uncertain")), 200),
        Kind::Staff => (http.get(url("/api/v1/staff")), 200),
        Kind::PickupKpis => (http.get(url("/api/v1/kpis/pickups")), 200),
        Kind::Reserve => (
            http.post(url("/api/v1/reservations")).json(&reservation(n)),
            201,
        ),
        Kind::Kpis => (http.get(url("/api/v1/kpis")), 200),
        Kind::Sync => (http.get(url("/api/v1/sync")), 200),
        Kind::EventPage => (
            http.get(url(&format!("/api/v1/events?after={}&limit=100", n % 1000))),
            200,
        ),
        Kind::Metrics => (http.get(url("/metrics")), 200),
    };
    let request = match ctx.token(route.who) {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("{}: {e}", route.name))?;
    let status = response.status().as_u16();
    // The whole body, as a client reads it.
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{}: body: {e}", route.name))?;
    if status != expect {
        return Err(format!(
            "{}: {status} (expected {expect}): {}",
            route.name,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(())
}

/// What one client saw: latencies (ms) per route, errors.
struct Tally {
    ms: Vec<Vec<f64>>,
    errors: Vec<u64>,
    first_errors: Vec<String>,
}

/// The order of routes a client goes through: each route `weight` times
/// in 100, spread out (route r at the multiples of 100/weight).
fn schedule() -> Vec<usize> {
    let mut slots: Vec<(f64, usize)> = Vec::new();
    for (r, route) in ROUTES.iter().enumerate() {
        for k in 0..route.weight {
            slots.push(((f64::from(k) + 0.5) / f64::from(route.weight), r));
        }
    }
    slots.sort_by(|a, b| a.0.total_cmp(&b.0));
    slots.into_iter().map(|(_, r)| r).collect()
}

async fn client(ctx: std::sync::Arc<Ctx>, id: usize, until: Instant) -> Tally {
    let http = reqwest::Client::new();
    let plan = schedule();
    let mut tally = Tally {
        ms: vec![Vec::new(); ROUTES.len()],
        errors: vec![0; ROUTES.len()],
        first_errors: Vec::new(),
    };
    let mut k = id * 7;
    while Instant::now() < until {
        let r = plan[k % plan.len()];
        let n = (k as u64) * 64 + id as u64;
        k += 1;
        let started = Instant::now();
        match send(&http, &ctx, r, n).await {
            Ok(()) => tally.ms[r].push(started.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                tally.errors[r] += 1;
                if tally.first_errors.len() < 5 {
                    tally.first_errors.push(e);
                }
            }
        }
    }
    tally
}

fn write_config(config: &Path, dir: &Path, port: u16, printer: &str) -> anyhow::Result<()> {
    std::fs::write(
        config,
        format!(
            "[store]\nid = \"bench\"\ntimezone = \"Europe/Berlin\"\n[storage]\npath = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n\
             [central]\nfake = true\n\
             [[devices]]\nid = \"bench\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{printer}\"\nprofile = \"epson_tm_t20\"\n\
             [log]\nlevel = \"warn\"\n",
            dir.join("store-edge.db").display()
        ),
    )?;
    Ok(())
}

pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    let dir = fresh_dir(&args.dir, "load")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let fake = FakePrinter::start(false).await?;
        let server = Server::start_with(&dir, "pos", |config, port| {
            write_config(config, &dir, port, &fake.address)
        })?;
        let config = dir.join("bench.toml");
        let base = format!("http://127.0.0.1:{}", server.port);
        let (staff, manager, admin) = (
            create_token(&config, "staff")?,
            create_token(&config, "manager")?,
            create_token(&config, "admin")?,
        );
        let http = reqwest::Client::new();
        eprintln!("[1/2] 40 reservations, so that the board and search have orders ...");
        let mut orders = Vec::new();
        for n in 0..40 {
            let r = http
                .post(format!("{base}/api/v1/reservations"))
                .bearer_auth(&staff)
                .json(&reservation(n))
                .send()
                .await?;
            if r.status() != 201 {
                bail!(
                    "reservation: {}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
            }
            let v: Value = r.json().await?;
            orders.push(v["order_id"].as_str().context("order_id")?.to_owned());
        }
        let ctx = std::sync::Arc::new(Ctx {
            base,
            pos: server.token.clone(),
            staff,
            manager,
            admin,
            orders,
        });
        eprintln!(
            "[2/2] {} s of mixed load from {} clients ...",
            args.seconds, args.clients
        );
        let started = Instant::now();
        let until = started + Duration::from_secs(args.seconds);
        let clients: Vec<_> = (0..args.clients)
            .map(|id| tokio::spawn(client(ctx.clone(), id, until)))
            .collect();
        let mut tallies = Vec::new();
        for c in clients {
            tallies.push(c.await?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let (hwm, _) = server.memory_kib()?;
        drop(server);
        anyhow::Ok((tallies, elapsed, hwm))
    });
    let (tallies, elapsed, hwm) = result.context("bench load")?;
    let mut ms = vec![Vec::new(); ROUTES.len()];
    let mut errors = vec![0u64; ROUTES.len()];
    let mut first_errors = Vec::new();
    for t in tallies {
        for (r, v) in t.ms.into_iter().enumerate() {
            ms[r].extend(v);
            errors[r] += t.errors[r];
        }
        first_errors.extend(t.first_errors);
    }
    let ok: usize = ms.iter().map(Vec::len).sum();
    let failed: u64 = errors.iter().sum();
    let total = ok as u64 + failed;
    outln!("# store-edge bench load")?;
    outln!()?;
    outln!(
        "{} s, {} clients: {} requests ({:.0}/s), {} errors ({:.3} %); the service's peak RSS {} KiB",
        args.seconds,
        args.clients,
        total,
        total as f64 / elapsed,
        failed,
        failed as f64 * 100.0 / total.max(1) as f64,
        hwm
    )?;
    outln!()?;
    outln!("| route (caller) | requests | errors | p50 ms | p99 ms |")?;
    outln!("|---|---:|---:|---:|---:|")?;
    for (r, route) in ROUTES.iter().enumerate() {
        let n = ms[r].len() as u64 + errors[r];
        let (p50, p99) = super::pickup::quantiles(ms[r].clone());
        outln!(
            "| {} ({:?}) | {} | {} | {:.2} | {:.2} |",
            route.name,
            route.who,
            n,
            errors[r],
            p50,
            p99
        )?;
    }
    std::fs::remove_dir_all(&dir).ok();
    if failed > 0 {
        for e in &first_errors {
            eprintln!("error: {e}");
        }
        bail!("{failed} of {total} requests failed");
    }
    Ok(())
}
