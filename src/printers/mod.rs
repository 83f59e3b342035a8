//! Printers at work (issue 12): the print queue's running part on top of
//! `store::print_jobs` (the durable queue), `printing/` (documents →
//! ESC/POS bytes) and `devices::printer_config` (how bytes reach each
//! printer).
//!
//! - `jobs.rs`: [`jobs::PrintJobs`], the handle the API uses to post,
//!   read, reprint and skip jobs (checks, the drawer rule, who sees what).
//! - [`Wake`]: rung whenever a printer's queue changed (a job posted, a
//!   reprint, an order's slip queued by `pickup/` in its own transaction),
//!   so the printer's worker looks again at once instead of polling.
//! - [`worker`]: one task per printer (status, the queue in order, the
//!   crash rule at start, pruning); [`worker::Printers::start`] is called
//!   by `service/`.
//! - [`registry`]: each printer's state and paper for `GET /api/v1/devices`.
//!
//! Must never: print a job twice without a person deciding it (a job is
//! `sending`, committed, before its first byte leaves; after a crash it is
//! `uncertain`), lose a job silently, or let one printer's trouble hold up
//! another printer's queue.

pub mod jobs;
pub mod registry;
pub mod worker;

pub mod fake_printer;
#[cfg(test)]
mod worker_tests;

use tokio::sync::watch;

/// Rings every printer worker: "a queue changed, look again". Cheap to
/// clone; ringing never blocks and never fails (a worker that is not
/// listening yet looks at its queue when it starts anyway).
#[derive(Debug, Clone)]
pub struct Wake {
    tx: std::sync::Arc<watch::Sender<u64>>,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            tx: std::sync::Arc::new(watch::channel(0).0),
        }
    }
}

impl Wake {
    /// A queue changed.
    pub fn ring(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// For a worker: `changed().await` returns after the next ring.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_wakes_every_subscriber_and_none_is_missed_between_waits() {
        let wake = Wake::default();
        let mut a = wake.subscribe();
        let mut b = wake.subscribe();
        // Rung while nobody waits: the next wait returns at once.
        wake.ring();
        a.changed().await.expect("a sees the ring");
        b.changed().await.expect("b sees the ring");
        let waiting = tokio::spawn(async move { a.changed().await.is_ok() });
        wake.ring();
        assert!(waiting.await.expect("task"));
    }
}
