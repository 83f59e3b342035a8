//! Logs and metrics. Logs go to journald when systemd started us
//! (`JOURNAL_STREAM`), else human-readable to stderr. Metrics are one
//! registry rendered as Prometheus text at `/metrics`. Never logs secrets,
//! tokens, clear loyalty numbers or pickup codes.

mod metrics;
pub mod out;

pub use metrics::Metrics;

use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

/// Sets up `tracing` once for the process. `level` is a filter such as
/// `info`; `RUST_LOG` overrides it.
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            let _ = registry
                .with(journald.with_syslog_identifier("store-edge".into()))
                .try_init();
            return;
        }
    }
    let _ = registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_target(false),
        )
        .try_init();
}

/// Peak and current resident memory (VmHWM, VmRSS) of this process in
/// KiB, from /proc (Linux).
pub fn memory_kib() -> Option<(u64, u64)> {
    memory_kib_of("self")
}

/// [`memory_kib`] of process `pid` (or `"self"`): the benchmarks read the
/// processes they start with it.
pub fn memory_kib_of(pid: impl std::fmt::Display) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// An error and all its sources, `outer: inner: root`, for the logs
/// (reqwest's own text is only "error sending request"; a store error's
/// cause is its source). A source whose text the chain already shows is
/// skipped.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Says a recurring, caller-driven problem (a refused code, a flood) at
/// most once per `every`, with how often it happened since it was last
/// said: a `pos` token guessing codes cannot fill the journal. The metrics
/// count every occurrence.
pub struct LogEvery {
    every: std::time::Duration,
    state: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

impl LogEvery {
    pub const fn new(every: std::time::Duration) -> LogEvery {
        LogEvery {
            every,
            state: std::sync::Mutex::new((None, 0)),
        }
    }

    /// Counts one occurrence; Some(occurrences since the last line, this one
    /// included) when it is time to say it again.
    pub fn due(&self) -> Option<u64> {
        self.due_at(std::time::Instant::now())
    }

    fn due_at(&self, now: std::time::Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, since) = &mut *state;
        *since += 1;
        match last {
            Some(t) if now.saturating_duration_since(*t) < self.every => None,
            _ => {
                *last = Some(now);
                Some(std::mem::take(since))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Moved from `api/listener.rs`, whose own throttle this replaced.)
    #[test]
    fn a_recurring_problem_is_said_once_a_minute_with_its_count() {
        let t = LogEvery::new(std::time::Duration::from_secs(60));
        let start = std::time::Instant::now();
        assert_eq!(t.due_at(start), Some(1));
        assert_eq!(t.due_at(start), None);
        assert_eq!(t.due_at(start + std::time::Duration::from_secs(59)), None);
        assert_eq!(
            t.due_at(start + std::time::Duration::from_secs(60)),
            Some(3)
        );
    }

    #[test]
    fn a_flood_is_said_once_per_period_with_its_count() {
        let log = LogEvery::new(std::time::Duration::from_secs(3600));
        assert_eq!(log.due(), Some(1));
        for _ in 0..999 {
            assert_eq!(log.due(), None);
        }
        let now = LogEvery::new(std::time::Duration::ZERO);
        assert_eq!(now.due(), Some(1));
        assert_eq!(now.due(), Some(1));
    }
}
