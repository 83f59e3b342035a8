//! Write errors (issue 14): the service runs with `RLIMIT_FSIZE` set just
//! above its database file and SIGXFSZ ignored, so the write that would
//! grow the WAL past it fails with EFBIG — a real `write(2)` failing, which
//! SQLite reports as `SQLITE_IOERR_WRITE`. The service must say so clearly
//! and exit non-zero (ARCHITECTURE.md, "Durability, written down"); the
//! test then plays systemd: it starts the service again without the limit
//! and checks the file's integrity and that every acknowledged event is
//! there, and only those.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::common::{self, marker_event, wait_with_deadline, Service, BIN};

/// A WAL frame: a 24-byte header and a 4 KiB page, after a 32-byte header.
const WAL_HEADER: u64 = 32;
const WAL_FRAME: u64 = 24 + 4096;

/// Starts the service with `RLIMIT_FSIZE = limit` and SIGXFSZ ignored; its
/// output goes through pipes into the log (a pipe has no size limit, the
/// log file would).
fn spawn_limited(svc: &mut Service, limit: u64) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(&svc.config)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0
                || libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn store-edge");
    for mut pipe in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&svc.log)
            .expect("log");
        std::thread::spawn(move || std::io::copy(&mut pipe, &mut log));
    }
    svc.child = Some(child);
}

/// Four clients post single events until one is not acknowledged; returns
/// the acknowledged markers. A refusal must be the store failing (500
/// `storage-error`, 503 once the writer stopped) or the service gone.
async fn post_until_refused(svc: &Service, token: &str) -> BTreeSet<String> {
    let mut clients = Vec::new();
    for client in 0..4 {
        let (url, token, http) = (svc.url("/api/v1/events"), token.to_owned(), common::http());
        clients.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..20_000 {
                let marker = format!("io-{client}-{i}");
                let Ok(r) = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&marker_event(&marker))
                    .send()
                    .await
                else {
                    return acked;
                };
                match r.status() {
                    StatusCode::CREATED => acked.push(marker),
                    StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE => {
                        return acked
                    }
                    other => panic!("unexpected {other}: {}", r.text().await.unwrap_or_default()),
                }
            }
            panic!("no write failed within 20,000 events");
        }));
    }
    let mut acked = BTreeSet::new();
    for c in clients {
        acked.extend(c.await.expect("client"));
    }
    acked
}

#[tokio::test]
async fn a_write_error_stops_the_service_non_zero_and_a_restart_finds_every_acknowledged_event() {
    let mut svc = Service::new("", "");
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let http = common::http();
    let mut acked = BTreeSet::new();
    for i in 0..50 {
        let marker = format!("io-before-{i}");
        let r = http
            .post(svc.url("/api/v1/events"))
            .bearer_auth(&token)
            .json(&marker_event(&marker))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::CREATED);
        acked.insert(marker);
    }
    assert!(svc.term().success());

    // The limit: a WAL frame boundary 256 KiB past the database file, so
    // the frame written there fails whole (EFBIG) rather than in part.
    let db_len = std::fs::metadata(&svc.db).expect("db").len();
    let frames = (db_len + 256 * 1024 - WAL_HEADER).div_ceil(WAL_FRAME);
    spawn_limited(&mut svc, WAL_HEADER + frames * WAL_FRAME);
    svc.wait_ready().await;
    acked.extend(post_until_refused(&svc, &token).await);

    let mut child = svc.child.take().expect("running");
    let status = wait_with_deadline(&mut child);
    let log = svc.log_text();
    assert_eq!(status.code(), Some(1), "exits non-zero; log:\n{log}");
    assert!(
        log.contains("unrecoverable database write error"),
        "the log says what happened:\n{log}"
    );
    assert!(
        log.contains("File too large"),
        "the log says what the OS said:\n{log}"
    );
    assert!(
        log.contains(
            "store-edge: the database writer stopped: database file failed: disk I/O error"
        ) && log.contains(&svc.db.display().to_string()),
        "the exit message names the error and the file:\n{log}"
    );

    // systemd restarts it, the fault gone.
    svc.start().await;
    let conn = svc.db();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
    let (count, max): (i64, i64) = conn
        .query_row("SELECT count(*), max(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("seq");
    assert_eq!(count, max, "sequences stay gap-free");
    let mut stmt = conn
        .prepare("SELECT json_extract(data, '$.transaction_id') FROM events WHERE type = 'store.transaction.completed'")
        .expect("prepare");
    let stored = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<Result<BTreeSet<_>, _>>()
        .expect("markers");
    assert_eq!(
        stored, acked,
        "every acknowledged event is stored, and nothing that was refused"
    );
    let r = http
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&marker_event("io-after"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(svc.term().success());
}
