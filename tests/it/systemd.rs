//! Running under systemd: the shipped unit verifies and is hardened
//! (exposure ≤ 2.5), and the binary speaks the notify protocol: READY=1 only
//! once /readyz is 200, repeated WATCHDOG=1, STOPPING=1 on SIGTERM, exit 0.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{self, Service, BIN, DEADLINE};

fn unit_pointing_at_built_binary(dir: &Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/store-edge.service"),
    )
    .expect("read unit");
    assert!(
        unit.contains("ExecStart=/usr/bin/store-edge run --config /etc/store-edge/store-edge.toml")
    );
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="));
    let copy = dir.join("store-edge.service");
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/bin/store-edge ",
            &format!("ExecStart={BIN} "),
        ),
    )
    .expect("write unit");
    copy
}

#[test]
fn unit_verifies_and_scores_at_most_2_5() {
    let dir = tempfile::tempdir().expect("tmp");
    let unit = unit_pointing_at_built_binary(dir.path());
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze must be installed (the test command installs systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "verify failed: {said}");
    // verify exits 0 even on ignored settings, so any output is a failure.
    assert!(said.trim().is_empty(), "verify complained: {said}");

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&security.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in: {text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    eprintln!("{line}");
    assert!(score <= 2.5, "exposure {score} must be at most 2.5");
}

#[tokio::test]
async fn notify_ready_watchdog_and_stopping() {
    let mut svc = Service::new("", "");
    let socket_path = svc.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    // A 600 ms watchdog: pings must come at least every 300 ms.
    svc.spawn(&[
        ("NOTIFY_SOCKET", socket_path.to_str().expect("utf8")),
        ("WATCHDOG_USEC", "600000"),
    ]);
    let http = common::http();
    let started = Instant::now();
    let mut ready_seen = false;
    let mut watchdogs = 0;
    let mut status_seen = false;
    let mut buf = [0u8; 4096];
    while watchdogs < 3 {
        assert!(
            started.elapsed() < DEADLINE,
            "READY=1 and 3 WATCHDOG=1 within the deadline"
        );
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        for line in msg.lines() {
            if line == "READY=1" {
                assert!(!ready_seen, "READY=1 once");
                ready_seen = true;
                let r = http.get(svc.url("/readyz")).send().await.expect("readyz");
                assert_eq!(
                    r.status(),
                    200,
                    "READY=1 is sent only when /readyz answers 200"
                );
            }
            if line == "WATCHDOG=1" {
                assert!(ready_seen, "watchdog pings follow READY=1");
                watchdogs += 1;
            }
            status_seen |= line.starts_with("STATUS=ready");
        }
    }
    assert!(status_seen, "STATUS= carries a short summary");
    unsafe { libc::kill(svc.pid(), libc::SIGTERM) };
    let mut stopping = false;
    let deadline = Instant::now() + DEADLINE;
    while !stopping && Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            stopping = String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "STOPPING=1");
        }
    }
    assert!(stopping, "STOPPING=1 on SIGTERM");
    let mut child = svc.child.take().expect("child");
    let status = common::wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
}

/// The upgrade to schema 9 copies the event log before READY: each chunk
/// asks systemd for more start time (EXTEND_TIMEOUT_USEC) and says how far
/// it got, all before READY=1.
#[tokio::test]
async fn the_schema_9_upgrade_extends_the_start_timeout_before_ready() {
    let mut svc = Service::new("", "");
    std::fs::create_dir_all(svc.db.parent().expect("dir")).expect("dir");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema/v8.db"),
        &svc.db,
    )
    .expect("copy the schema 8 fixture");
    let socket_path = svc.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    svc.spawn(&[("NOTIFY_SOCKET", socket_path.to_str().expect("utf8"))]);
    let started = Instant::now();
    let mut before_ready = Vec::new();
    let mut buf = [0u8; 4096];
    'outer: loop {
        assert!(
            started.elapsed() < DEADLINE,
            "READY=1 within the deadline; seen {before_ready:?}"
        );
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        for line in String::from_utf8_lossy(&buf[..n]).lines() {
            if line == "READY=1" {
                break 'outer;
            }
            before_ready.push(line.to_owned());
        }
    }
    let extends = before_ready
        .iter()
        .filter(|l| *l == "EXTEND_TIMEOUT_USEC=30000000")
        .count();
    assert!(
        extends >= 2,
        "one at the start, one per chunk: {before_ready:?}"
    );
    assert!(
        before_ready
            .iter()
            .any(|l| l == "STATUS=upgrading the event log: 3 of 3 events copied"),
        "{before_ready:?}"
    );
    unsafe { libc::kill(svc.pid(), libc::SIGTERM) };
    let mut child = svc.child.take().expect("child");
    let status = common::wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(0));
}

/// The package's nightly backup: the timer and its service verify together
/// (the service pointing at the built binary), the service runs the issue's
/// command as store-edge and is hardened at least as well as the main unit.
#[test]
fn backup_timer_and_service_verify_and_are_hardened() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let service =
        std::fs::read_to_string(root.join("store-edge-backup.service")).expect("backup service");
    let timer = std::fs::read_to_string(root.join("store-edge-backup.timer")).expect("timer");
    assert!(service.contains(
        "\nExecStart=/usr/bin/store-edge --config /etc/store-edge/store-edge.toml db backup --nightly\n"
    ));
    assert!(service.contains("\nUser=store-edge\n") && service.contains("\nType=oneshot\n"));
    assert!(timer.contains("\nOnCalendar=") && timer.contains("\nPersistent=true\n"));
    assert!(timer.contains("\nWantedBy=timers.target\n"));

    let dir = tempfile::tempdir().expect("tmp");
    let unit = dir.path().join("store-edge-backup.service");
    std::fs::write(
        &unit,
        service.replace(
            "ExecStart=/usr/bin/store-edge ",
            &format!("ExecStart={BIN} "),
        ),
    )
    .expect("write service");
    let timer_path = dir.path().join("store-edge-backup.timer");
    std::fs::write(&timer_path, &timer).expect("write timer");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&timer_path)
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "verify: {said}"
    );

    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {text}"));
    assert!(score <= 2.5, "exposure {score} must be at most 2.5");
}
