//! Serial devices played through a socat pty pair.

use std::path::Path;

use store_edge::bench::socat::SocatPair;

use super::DEADLINE;

/// A socat pty pair in `dir`: the service opens `dir/scanner`, the test
/// writes to `dir/host`.
pub fn pty_pair(dir: &Path) -> SocatPair {
    SocatPair::start(dir, DEADLINE)
        .unwrap_or_else(|e| panic!("{e} (scripts/test.sh installs socat)"))
}
