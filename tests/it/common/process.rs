//! Child processes and their memory: deadlines for exits, the release
//! binary, `/proc/PID/status`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::{BIN, DEADLINE};

/// The optimised binary, built now if it is missing or stale (so the
/// first run of a test that needs it takes minutes): what a store runs, for
/// the tests that measure memory; an unoptimised binary maps twice the code.
pub fn release_bin() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--locked", "--bin", "store-edge"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build --release");
    assert!(
        out.status.success(),
        "cargo build --release failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let debug = PathBuf::from(BIN);
    let release = debug
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("release")
        .join("store-edge");
    assert!(
        release.exists(),
        "no release binary at {}",
        release.display()
    );
    release
}

/// A line of `/proc/PID/status` in KiB (e.g. `VmHWM`, `VmRSS`).
pub fn proc_status_kib(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

pub fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("process did not exit within the deadline");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
