//! The soak in the test command (issue 14): 50 short cycles of mixed load
//! — API events and batches, a pty scanner, pickup actions, print jobs to a
//! fake TCP printer, sync to a fake central injecting 5xx, timeouts, 429
//! and answers lost after storing — each ended by `kill -9` at a seeded
//! random moment, then restarted, drained and checked by the driver shared
//! with `store-edge bench soak` (`store_edge::bench::soak`, which lists the
//! invariants). The seed is printed; `STORE_EDGE_SOAK_SEED=N` reruns it.

use std::time::Duration;

use store_edge::bench::soak::{self, Options};

use crate::common::BIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kill_9_cycles_under_mixed_load_lose_nothing_and_double_nothing() {
    let seed = std::env::var("STORE_EDGE_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(soak::clock_seed);
    eprintln!("soak seed {seed} (rerun: STORE_EDGE_SOAK_SEED={seed} cargo test --test it soak)");
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = Options {
        bin: BIN.into(),
        dir: dir.path().to_path_buf(),
        cycles: 50,
        seed,
        load_ms: (200, 900),
        drain_limit: Duration::from_secs(60),
        progress: false,
    };
    let s = soak::run(&opts).await.unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{s:?}");
    assert_eq!(s.cycles, 50);
    assert!(s.kills >= 50, "a kill -9 in every cycle: {s:?}");
    // Every kind of load ran and was checked, and central did fail.
    assert!(
        s.api_events > 0 && s.central_events >= s.api_events,
        "{s:?}"
    );
    assert!(s.scans_seen > 0, "no scan was stored: {s:?}");
    assert!(s.orders_handed_over > 0, "no order got through: {s:?}");
    assert!(s.printed > 0, "nothing printed: {s:?}");
    assert!(s.faults_injected > 0, "central injected no fault: {s:?}");
}
