//! The devices layer end to end: recorded evdev and HID POS streams through
//! the same read/decode code a real device uses, a serial scanner played by
//! socat over a pty pair (including unplug and replug), a TCP scanner that
//! drops its connection, a simulated FIFO, and a supervisor that keeps one
//! device working while another is missing.
//!
//! Needs `socat` on PATH for the serial test. Deadlines are generous and
//! only bound a wait; nothing here asserts on timing.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use store_edge::bench::socat::SocatPair;
use store_edge::devices::evdev::WedgeReader;
use store_edge::devices::hid_pos::HidPosLink;
use store_edge::devices::link::{pump, PumpEnd};
use store_edge::devices::simulated::unescape;
use store_edge::devices::{
    spawn_all, DataBits, DeviceConfig, DeviceEvent, DeviceKind, DeviceState, FlowControl, Framing,
    Layout, Parity, StopBits, Transport,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// Bound for every wait; generous because CI machines are small and busy.
const DEADLINE: Duration = Duration::from_secs(30);

fn fixture(path: &str) -> PathBuf {
    Path::new(FIXTURES).join(path)
}

/// The hand-written expectation: one item per line, escaped like simulated
/// lines; `!` marks a bad frame.
fn expected(path: &str) -> Vec<String> {
    let text = std::fs::read(fixture(path)).expect("read .expected");
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            if l.starts_with(b"!") {
                "!".to_owned()
            } else {
                String::from_utf8(unescape(l)).expect("expected files are UTF-8")
            }
        })
        .collect()
}

/// Render events the way `.expected` files are written.
fn render(ev: &DeviceEvent) -> Option<String> {
    match ev {
        DeviceEvent::Frame { bytes, .. } => Some(String::from_utf8_lossy(bytes).into_owned()),
        DeviceEvent::BadFrame { .. } => Some("!".to_owned()),
        DeviceEvent::State { .. } => None,
    }
}

fn drain(rx: &mut mpsc::Receiver<DeviceEvent>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        out.extend(render(&ev));
    }
    out
}

fn device(id: &str, transport: Transport) -> DeviceConfig {
    DeviceConfig {
        id: id.to_owned(),
        kind: DeviceKind::Scanner,
        transport,
        register: Some("till-1".to_owned()),
        context: "basket".to_owned(),
        framing: Framing::default(),
    }
}

/// Events of a running supervisor, with waits that fail after [`DEADLINE`].
struct Events {
    rx: mpsc::Receiver<DeviceEvent>,
    seen: VecDeque<DeviceEvent>,
}

impl Events {
    fn new(rx: mpsc::Receiver<DeviceEvent>) -> Self {
        Events {
            rx,
            seen: VecDeque::new(),
        }
    }

    async fn next(&mut self, what: &str, deadline: Instant) -> DeviceEvent {
        if let Some(ev) = self.seen.pop_front() {
            return ev;
        }
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => panic!("event channel closed while waiting for {what}"),
            Err(_) => panic!("no {what} within {DEADLINE:?}"),
        }
    }

    /// Wait for `device` to reach `state`; frames seen meanwhile are returned.
    async fn state(&mut self, device: &str, state: DeviceState) -> Vec<DeviceEvent> {
        let deadline = Instant::now() + DEADLINE;
        let mut other = Vec::new();
        loop {
            let ev = self.next(&format!("{device} {state:?}"), deadline).await;
            match &ev {
                DeviceEvent::State {
                    device_id,
                    state: s,
                    ..
                } if device_id == device && *s == state => return other,
                _ => other.push(ev),
            }
        }
    }

    /// Collect `n` frames (and bad frames) of `device`, in arrival order.
    async fn frames(&mut self, device: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut out = Vec::new();
        while out.len() < n {
            let ev = self
                .next(&format!("{n} frames of {device}"), deadline)
                .await;
            match &ev {
                DeviceEvent::Frame { device_id, .. } | DeviceEvent::BadFrame { device_id, .. }
                    if device_id == device =>
                {
                    out.extend(render(&ev))
                }
                _ => {}
            }
        }
        out
    }
}

// ---- evdev: recorded keyboard-wedge streams -------------------------------

async fn decode_evdev_fixture(name: &str, layout: Layout) -> Vec<String> {
    let file = tokio::fs::File::open(fixture(&format!("evdev/{name}.bin")))
        .await
        .expect("open fixture");
    // Exactly what `evdev::open` returns, with the fixture in place of the device.
    let mut link = WedgeReader::new(file, layout);
    let (tx, mut rx) = mpsc::channel(1024);
    let end = pump(
        &mut link,
        &Framing::default(),
        "wedge",
        &tx,
        &CancellationToken::new(),
    )
    .await;
    assert!(matches!(end, PumpEnd::Closed), "{end:?}");
    drain(&mut rx)
}

#[tokio::test]
async fn evdev_us_layout_fixtures_decode_to_the_expected_scans() {
    for name in ["us-gs1", "us-text", "us-ascii"] {
        let got = decode_evdev_fixture(name, Layout::Us).await;
        assert_eq!(got, expected(&format!("evdev/{name}.expected")), "{name}");
    }
}

#[tokio::test]
async fn evdev_de_layout_fixtures_decode_to_the_expected_scans() {
    for name in ["de-gs1", "de-qwertz", "de-ascii"] {
        let got = decode_evdev_fixture(name, Layout::De).await;
        assert_eq!(got, expected(&format!("evdev/{name}.expected")), "{name}");
    }
}

#[tokio::test]
async fn evdev_stream_read_with_the_wrong_layout_is_not_the_scan() {
    // A guard that the layout matters: QWERTZ read as QWERTY swaps y and z.
    let got = decode_evdev_fixture("de-qwertz", Layout::Us).await;
    assert_ne!(got, expected("evdev/de-qwertz.expected"));
}

// ---- HID POS: recorded input reports --------------------------------------

#[tokio::test]
async fn hid_pos_report_fixtures_decode_to_the_expected_frames() {
    for name in ["ean13", "qr-continued", "gs1-datamatrix", "mixed"] {
        let bytes = std::fs::read(fixture(&format!("hid/{name}.bin"))).expect("read fixture");
        assert_eq!(bytes.len() % 64, 0, "{name}: whole 64-byte reports");
        // The reports go through the same link and assembler the rusb thread feeds.
        let (reports_tx, reports_rx) = mpsc::channel(64);
        for report in bytes.chunks(64) {
            reports_tx
                .send(Ok(report.to_vec()))
                .await
                .expect("queue report");
        }
        drop(reports_tx);
        let framing = Framing {
            suffix: Vec::new(),
            ..Framing::default()
        };
        let mut link = HidPosLink::from_reports(reports_rx, framing.max_len);
        let (tx, mut rx) = mpsc::channel(64);
        let end = pump(&mut link, &framing, "hid", &tx, &CancellationToken::new()).await;
        assert!(matches!(end, PumpEnd::Closed), "{name}: {end:?}");
        assert_eq!(
            drain(&mut rx),
            expected(&format!("hid/{name}.expected")),
            "{name}"
        );
    }
}

// ---- serial: socat plays the scanner over a pty pair ----------------------

/// Write scans to the host side like a scanner at ~50 scans/s: each scan in
/// two writes, alternating CR and CRLF suffixes.
fn play_scans(host: PathBuf, scans: Vec<String>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut port = std::fs::OpenOptions::new()
            .write(true)
            .open(&host)
            .expect("open host pty");
        for (i, scan) in scans.iter().enumerate() {
            let (a, b) = scan.as_bytes().split_at(scan.len() / 2);
            port.write_all(a).expect("write");
            port.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(2));
            port.write_all(b).expect("write");
            port.write_all(if i % 2 == 0 { b"\r" } else { b"\r\n" })
                .expect("write");
            port.flush().expect("flush");
            std::thread::sleep(Duration::from_millis(18));
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_scanner_over_pty_survives_unplug_and_replug() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut socat = SocatPair::start(dir.path(), DEADLINE)
        .expect("socat must be installed (apt-get install socat)");
    let transport = Transport::Serial {
        path: dir.path().join("scanner"),
        baud: 9600,
        parity: Parity::None,
        data_bits: DataBits::Eight,
        stop_bits: StopBits::One,
        flow_control: FlowControl::None,
    };
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let tracker = spawn_all(vec![device("serial-1", transport)], tx, cancel.clone());
    let mut events = Events::new(rx);
    events.state("serial-1", DeviceState::Online).await;

    let scans: Vec<String> = (0..100).map(|i| format!("0400638133{i:04}")).collect();
    let writer = play_scans(dir.path().join("host"), scans.clone());
    assert_eq!(events.frames("serial-1", scans.len()).await, scans);
    writer.join().expect("writer");

    socat.terminate();
    events.state("serial-1", DeviceState::Offline).await;

    let mut socat = SocatPair::start(dir.path(), DEADLINE)
        .expect("socat must be installed (apt-get install socat)");
    events.state("serial-1", DeviceState::Online).await;
    let scans: Vec<String> = (0..20).map(|i| format!("]C1REPLUG{i:02}")).collect();
    let writer = play_scans(dir.path().join("host"), scans.clone());
    assert_eq!(events.frames("serial-1", scans.len()).await, scans);
    writer.join().expect("writer");

    cancel.cancel();
    tracker.wait().await;
    socat.terminate();
}

// ---- TCP: a network scanner that drops the connection ---------------------

#[tokio::test]
async fn tcp_scanner_reconnects_after_the_connection_drops() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let tracker = spawn_all(
        vec![device("net-1", Transport::Tcp { address })],
        tx,
        cancel.clone(),
    );
    let mut events = Events::new(rx);

    let (mut conn, _) = listener.accept().await.expect("accept");
    events.state("net-1", DeviceState::Online).await;
    conn.write_all(b"A1\rA2\r\nA").await.expect("write");
    conn.write_all(b"3\r").await.expect("write");
    assert_eq!(events.frames("net-1", 3).await, ["A1", "A2", "A3"]);
    drop(conn);
    events.state("net-1", DeviceState::Offline).await;

    let (mut conn, _) = tokio::time::timeout(DEADLINE, listener.accept())
        .await
        .expect("reconnect within deadline")
        .expect("accept");
    events.state("net-1", DeviceState::Online).await;
    conn.write_all(b"B1\r").await.expect("write");
    assert_eq!(events.frames("net-1", 1).await, ["B1"]);

    cancel.cancel();
    tracker.wait().await;
}

// ---- simulated: a FIFO a person can echo scans into -----------------------

#[tokio::test]
async fn simulated_fifo_takes_lines_from_writers_that_come_and_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("scanner.fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let sim = DeviceConfig {
        framing: Framing {
            suffix: Vec::new(),
            ..Framing::default()
        },
        ..device("sim-1", Transport::Simulated { path: fifo.clone() })
    };
    let tracker = spawn_all(vec![sim], tx, cancel.clone());
    let mut events = Events::new(rx);
    events.state("sim-1", DeviceState::Online).await;

    for text in ["X1\nX2\\x1d3\n", "X4\n"] {
        let fifo = fifo.clone();
        let text = text.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(fifo)
                .expect("open fifo");
            w.write_all(text.as_bytes()).expect("write fifo");
        })
        .await
        .expect("writer");
    }
    assert_eq!(events.frames("sim-1", 3).await, ["X1", "X2\u{1d}3", "X4"]);
    cancel.cancel();
    tracker.wait().await;
}

// ---- supervisor: one missing device does not stop another -----------------

#[tokio::test]
async fn missing_device_is_offline_and_retried_while_another_delivers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("later").join("scans.txt");
    let present = dir.path().join("scans.txt");
    std::fs::write(&present, "#pause 20\n1111\n2222\n3333\n").expect("write");
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let tracker = spawn_all(
        vec![
            device(
                "absent",
                Transport::Simulated {
                    path: missing.clone(),
                },
            ),
            device("present", Transport::Simulated { path: present }),
        ],
        tx,
        cancel.clone(),
    );
    let mut events = Events::new(rx);
    // Whatever order the two tasks start in, both facts must show up.
    let before = events.state("absent", DeviceState::Offline).await;
    events.seen.extend(before);
    assert_eq!(events.frames("present", 3).await, ["1111", "2222", "3333"]);

    // The absent device keeps being retried: once its file appears it comes online.
    std::fs::create_dir_all(missing.parent().expect("parent")).expect("mkdir");
    std::fs::write(&missing, "#pause 0\n9999\n").expect("write");
    let before = events.state("absent", DeviceState::Online).await;
    assert!(
        !before.iter().any(|e| matches!(e, DeviceEvent::State { device_id, state: DeviceState::Online, .. } if device_id == "absent")),
        "online only once"
    );
    assert_eq!(events.frames("absent", 1).await, ["9999"]);

    cancel.cancel();
    tracker.wait().await;
}
