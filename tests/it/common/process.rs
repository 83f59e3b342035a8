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
    let out = cargo()
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

/// Cargo as a shell would run it: without the variables `cargo test` sets
/// for the test process (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, …). ring's
/// build script reruns when those differ from the last build's, so a
/// `cargo build --release` from a test with them rebuilt ring and
/// everything above it (minutes) right after scripts/test.sh had built it.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
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
