//! A full disk (issue 14, invariant 3): the database on a size-limited
//! tmpfs, in a mount namespace of its own (as root `unshare --mount`, else
//! `unshare --user --map-root-user --mount`), that a filler file and the
//! service's own writes fill up. Events are refused with 507 and an alarm
//! (log, `/readyz`, `/metrics`), every acknowledged event is stored and no
//! refused one, the file passes `integrity_check`, and writes resume as soon
//! as the filler is deleted.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{self, marker_event, wait_with_deadline, Service};

/// A tmpfs of `size` mounted on `dir` inside a mount namespace that a
/// holder process (`sleep`) keeps alive; the service and its CLI enter it
/// with `nsenter`, the test reaches its files through `/proc/PID/root`.
struct Tmpfs {
    holder: Child,
    root: bool,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let root = unsafe { libc::geteuid() } == 0;
        let mut cmd = Command::new("unshare");
        if !root {
            cmd.args(["--user", "--map-root-user"]);
        }
        let mut holder = cmd
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=\"$1\" tmpfs \"$2\" && echo mounted && exec sleep 600")
            .arg("sh")
            .arg(size)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read unshare");
        if line.trim() != "mounted" {
            let _ = holder.kill();
            let out = holder.wait_with_output().expect("unshare output");
            panic!(
                "cannot mount a tmpfs in a mount namespace of its own (needs root, or unprivileged user namespaces): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Tmpfs { holder, root }
    }

    /// `nsenter` into the namespace: the prefix of the service's commands.
    fn wrap(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["nsenter".into(), "--target".into()];
        args.push(self.holder.id().to_string().into());
        if !self.root {
            args.extend(["--user".into(), "--preserve-credentials".into()]);
        }
        args.push("--mount".into());
        args
    }

    /// A path inside the namespace, as this process reaches it.
    fn outside(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.holder.id()))
            .join(path.strip_prefix("/").expect("absolute path"))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        unsafe { libc::kill(self.holder.id() as i32, libc::SIGKILL) };
        let _ = self.holder.wait();
    }
}

fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0, "statvfs");
    st.f_bavail as u64 * st.f_frsize as u64
}

/// Fills the file system of `path` but `leave` bytes with a file at `path`.
fn fill_but(path: &Path, leave: u64) {
    let dir = path.parent().expect("dir");
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0x5a_u8; 64 * 1024];
    while free_bytes(dir) > leave + chunk.len() as u64 {
        f.write_all(&chunk).expect("write filler");
    }
    f.sync_all().expect("sync filler");
}

/// Posts batches of 20 markers from 4 clients at once until each client has
/// been refused; returns (acknowledged, refused) markers. Any answer but
/// 201 or 507 `disk-full` fails the test.
async fn post_until_full(svc: &Service, token: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut clients = Vec::new();
    for client in 0..4 {
        let (url, token, http) = (svc.url("/api/v1/events"), token.to_owned(), common::http());
        clients.push(tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), Vec::new());
            for batch in 0..2_000 {
                let markers: Vec<String> = (0..20)
                    .map(|i| format!("df-{client}-{batch}-{i}"))
                    .collect();
                let body = Value::Array(markers.iter().map(|m| marker_event(m)).collect());
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("post");
                match r.status() {
                    StatusCode::CREATED => acked.extend(markers),
                    StatusCode::INSUFFICIENT_STORAGE => {
                        let problem: Value = r.json().await.expect("problem");
                        assert_eq!(
                            problem["type"], "urn:store-edge:problem:disk-full",
                            "{problem}"
                        );
                        assert!(
                            problem["detail"]
                                .as_str()
                                .is_some_and(|d| d.contains("disk is full")),
                            "{problem}"
                        );
                        refused.extend(markers);
                        return (acked, refused);
                    }
                    other => panic!("unexpected {other}: {}", r.text().await.unwrap_or_default()),
                }
            }
            panic!("the disk did not fill within 2,000 batches");
        }));
    }
    let (mut acked, mut refused) = (BTreeSet::new(), BTreeSet::new());
    for c in clients {
        let (a, r) = c.await.expect("client");
        acked.extend(a);
        refused.extend(r);
    }
    (acked, refused)
}

async fn ready(svc: &Service) -> Value {
    let r = common::http()
        .get(svc.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a full disk is no reason to restart the box"
    );
    r.json().await.expect("readyz json")
}

/// The markers stored, after `db check` and a gap-free sequence, through
/// the CLI in the namespace (SQLite resolves `/proc/PID/root` to the
/// path outside it).
fn stored_markers(svc: &Service) -> BTreeSet<String> {
    let check = svc.cli(&["db", "check", "--json"]);
    assert!(
        check.status.success(),
        "db check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let check: Value = serde_json::from_slice(&check.stdout).expect("db check json");
    assert_eq!(check["ok"], true, "{check}");
    let list = svc.cli(&["events", "list", "--limit", "100000", "--json"]);
    assert!(
        list.status.success(),
        "events list: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    let page: Value = serde_json::from_slice(&list.stdout).expect("events json");
    let events = page["events"].as_array().expect("events");
    assert!(events.len() < 100_000, "one page holds them all");
    let sequences: Vec<u64> = events.iter().map(common::sequence).collect();
    assert_eq!(
        sequences,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "sequences stay gap-free"
    );
    events
        .iter()
        .filter(|e| e["type"] == "store.transaction.completed")
        .map(|e| {
            e["data"]["transaction_id"]
                .as_str()
                .expect("marker")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_full_disk_refuses_events_with_507_and_an_alarm_loses_nothing_and_writes_resume_when_space_returns(
) {
    let mut svc = Service::new("max_size_mb = 1024", "");
    let data = svc.db.parent().expect("data dir").to_path_buf();
    std::fs::create_dir_all(&data).expect("mkdir");
    let fs = Tmpfs::mount(&data, "16m");
    svc.wrap = fs.wrap();
    let token = svc.token("pos", "till-1");
    svc.start().await;
    let http = common::http();

    // The disk fills up: a filler leaves 1 MiB, the events take the rest.
    let filler = fs.outside(&data.join("filler"));
    fill_but(&filler, 1024 * 1024);
    let (acked, refused) = post_until_full(&svc, &token).await;
    assert!(
        !acked.is_empty(),
        "events were accepted before the disk was full"
    );
    let ready_full = ready(&svc).await;
    assert_eq!(ready_full["disk_full"], true, "{ready_full}");
    assert!(svc.metrics().await.contains("store_edge_disk_full 1"));
    assert!(
        svc.log_text().contains("ALARM: the disk is full"),
        "{}",
        svc.log_text()
    );
    let stored = stored_markers(&svc);
    assert_eq!(stored, acked, "exactly the acknowledged events are stored");
    assert!(stored.is_disjoint(&refused));

    // Space returns: the next event is accepted and the alarm clears.
    std::fs::remove_file(&filler).expect("delete the filler");
    let r = http
        .post(svc.url("/api/v1/events"))
        .bearer_auth(&token)
        .json(&marker_event("df-after"))
        .send()
        .await
        .expect("post");
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(ready(&svc).await["disk_full"], false);
    assert!(svc.metrics().await.contains("store_edge_disk_full 0"));
    assert!(svc.log_text().contains("the disk has room again"));

    // A clean stop and a start on the same file: nothing acknowledged lost.
    assert!(svc.term().success(), "log:\n{}", svc.log_text());
    svc.start().await;
    let mut expected = acked.clone();
    expected.insert("df-after".to_owned());
    assert_eq!(stored_markers(&svc), expected);
    let mut child = svc.child.take().expect("running");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(wait_with_deadline(&mut child).success());
}
