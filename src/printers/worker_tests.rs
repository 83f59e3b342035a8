//! The worker against a fake TCP printer on 127.0.0.1, with a real SQLite
//! file and the real writer: jobs wait while the paper is out and print
//! once each, in order, when it is back.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fake_printer::FakePrinter;
use super::registry::Registry;
use super::worker::Printers;
use super::Wake;
use crate::devices::{PrinterConfig, PrinterTransport};
use crate::printing::{interpret, Profile};
use crate::store::print_jobs::{self, NewJob};
use crate::store::{read, ReadPool, Writer, WriterSettings};

const DEADLINE: Duration = Duration::from_secs(60);

fn start_writer(path: &Path) -> Writer {
    let conn = crate::store::open_for_writing(path, "s1").unwrap();
    let settings = WriterSettings {
        path: path.to_path_buf(),
        max_size_bytes: 1 << 30,
        retain_sent_days: 30,
        timezone: jiff::tz::TimeZone::UTC,
        kpi_ingest: true,
    };
    let metrics = Arc::new(crate::telemetry::Metrics::new());
    Writer::start(conn, settings, metrics).unwrap().0
}

fn printer(address: &str) -> PrinterConfig {
    let profile = Profile::by_name("epson_tm_t20").unwrap();
    PrinterConfig {
        id: "front".into(),
        register: Some("till-1".into()),
        profile,
        code_page: profile.default_page,
        logo: None,
        drawer: false,
        transport: PrinterTransport::Tcp {
            address: address.into(),
        },
    }
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn events(readers: &ReadPool, event_type: &str) -> Vec<serde_json::Value> {
    let conn = readers.get().unwrap();
    read::list_events(&conn, 0, 1000, Some(event_type))
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

fn states(readers: &ReadPool) -> Vec<String> {
    let conn = readers.get().unwrap();
    print_jobs::list(&conn, None, 100)
        .unwrap()
        .into_iter()
        .map(|j| j.state)
        .collect()
}

async fn enqueue(writer: &Writer, document: String) {
    writer
        .run(0, move |ctx| {
            print_jobs::enqueue(
                ctx,
                &NewJob {
                    printer_id: "front",
                    document_kind: "receipt",
                    document: &document,
                    token_hash: None,
                    idempotency: None,
                    now: 1,
                },
            )
        })
        .await
        .unwrap();
}

fn text_job(text: &str) -> String {
    crate::printing::job::Content::Document {
        document: serde_json::json!({"blocks": [{"kind": "text", "text": text}, {"kind": "cut"}]}),
    }
    .to_json()
}

/// The workers of `printers` on `writer`'s file; stop with the token.
async fn start_printers(
    writer: &Writer,
    readers: &ReadPool,
    printers: &[PrinterConfig],
) -> (Registry, TaskTracker, CancellationToken) {
    let registry = Registry::default();
    let (tasks, cancel) = (TaskTracker::new(), CancellationToken::new());
    Printers {
        writer: writer.clone(),
        readers: readers.clone(),
        wake: Wake::default(),
        live: crate::live::Live::new(),
        registry: registry.clone(),
        printing: Default::default(),
    }
    .start(printers, &tasks, &cancel)
    .await
    .unwrap();
    (registry, tasks, cancel)
}

/// A job its printer cannot print (bad template data) fails with the
/// reason, is never sent, and the job behind it prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_be_rendered_fails_with_its_reason_and_the_next_one_prints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("print.db");
    let writer = start_writer(&path);
    let readers = ReadPool::new(&path);
    let fake = FakePrinter::start(false).await.expect("fake printer");
    let bad = crate::printing::job::Content::template(
        crate::printing::Template::PickupSlip,
        crate::printing::Language::De,
        serde_json::json!({"no_such_field": 1}),
    );
    enqueue(&writer, bad.to_json()).await;
    enqueue(&writer, text_job("Danach")).await;
    let config = printer(&fake.address);
    let (_, tasks, cancel) = start_printers(&writer, &readers, std::slice::from_ref(&config)).await;
    wait_until("both jobs done", || {
        states(&readers) == ["failed", "printed"]
    })
    .await;
    let conn = readers.get().unwrap();
    let failed = print_jobs::get(&conn, 1).unwrap().unwrap();
    assert!(
        failed
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("pickup_slip"),
        "{failed:?}"
    );
    assert_eq!(failed.attempts, 0, "never sent");
    let printout = interpret::interpret(&fake.received(), config.profile).unwrap();
    assert!(printout.text().contains(&"Danach"));
    assert_eq!(events(&readers, "store.receipt.printed").len(), 1);
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_wait_while_the_paper_is_out_and_print_once_each_in_order_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("print.db");
    let writer = start_writer(&path);
    let readers = ReadPool::new(&path);
    let fake = FakePrinter::start(true).await.expect("fake printer");
    let texts = [
        "Abholschein Nr. 1 für Müller",
        "Beleg 2: 12,50 €",
        "Beleg 3 Größe",
    ];
    for text in texts {
        enqueue(&writer, text_job(text)).await;
    }
    let config = printer(&fake.address);
    let (registry, tasks, cancel) =
        start_printers(&writer, &readers, std::slice::from_ref(&config)).await;

    wait_until("paper_out recorded", || {
        events(&readers, "store.device.status")
            .iter()
            .any(|e| e["state"] == "paper_out" && e["kind"] == "printer")
    })
    .await;
    let shown = registry.list();
    assert_eq!((shown[0].state, shown[0].paper), ("paper_out", "out"));
    // A few polls later: nothing sent, everything still queued.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fake.received().is_empty());
    assert_eq!(states(&readers), ["queued"; 3]);

    fake.set_paper_out(false);
    wait_until("every job printed", || states(&readers) == ["printed"; 3]).await;
    let printout = interpret::interpret(&fake.received(), config.profile).unwrap();
    let lines: Vec<&str> = printout
        .text()
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines, texts, "each job once, in order");
    assert_eq!(printout.cuts, 3);
    let printed = events(&readers, "store.receipt.printed");
    let job_ids: Vec<&str> = printed
        .iter()
        .map(|e| e["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(job_ids, ["1", "2", "3"], "one event per job");
    assert!(events(&readers, "store.device.status")
        .iter()
        .any(|e| e["state"] == "online" && e["device_id"] == "front"));
    assert_eq!(registry.list()[0].paper, "ok");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}

/// The configured logo prints at the top of a template job (a raster
/// before the slip's text), dithered for the printer's paper; a free
/// document prints as posted, without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printers_logo_prints_at_the_top_of_its_templates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("print.db");
    let writer = start_writer(&path);
    let readers = ReadPool::new(&path);
    let fake = FakePrinter::start(false).await.expect("fake printer");
    let slip = crate::printing::job::Content::template(
        crate::printing::Template::Test,
        crate::printing::Language::En,
        serde_json::json!({}),
    );
    enqueue(&writer, slip.to_json()).await;
    enqueue(&writer, text_job("Ohne Logo")).await;
    let mut config = printer(&fake.address);
    config.logo = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/print/logo.png"));
    let (_, tasks, cancel) = start_printers(&writer, &readers, std::slice::from_ref(&config)).await;
    wait_until("both printed", || states(&readers) == ["printed"; 2]).await;
    let received = fake.received();
    let printout = interpret::interpret(&received, config.profile).unwrap();
    assert_eq!(printout.images, 1, "the logo, once: on the template only");
    assert!(printout.text().contains(&"Ohne Logo"));
    let commands = interpret::parse(&received).unwrap();
    let first = |f: fn(&interpret::Command) -> bool| commands.iter().position(f);
    let raster = first(|c| matches!(c, interpret::Command::Raster { .. })).expect("a raster");
    let text = first(|c| matches!(c, interpret::Command::Text(_))).expect("text");
    assert!(raster < text, "the logo comes first");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}

/// A configured logo that is not a usable PNG stops the start with the
/// printer, the file and the reason.
#[tokio::test]
async fn a_bad_logo_stops_the_start_naming_the_printer_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("logo.png");
    std::fs::write(&bad, b"GIF89a not a png").unwrap();
    let mut config = printer("127.0.0.1:9");
    config.logo = Some(bad.clone());
    let err = super::worker::load_logo(&config)
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("front") && text.contains(&bad.display().to_string()),
        "{text}"
    );
    assert!(text.contains("PNG"), "{text}");
    config.logo = Some(dir.path().join("missing.png"));
    let text = super::worker::load_logo(&config)
        .await
        .expect_err("missing")
        .to_string();
    assert!(text.contains("missing.png"), "{text}");
}
