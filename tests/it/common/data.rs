//! Test data and what is searched for in files: marker events, secret
//! files, numbers in bytes, a small PRNG.

use std::io::Write as _;
use std::path::Path;

/// A unique marker event: a completed transaction whose id is `marker`.
pub fn marker_event(marker: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "store.transaction.completed",
        "data": {"transaction_id": marker, "register_id": "till-1", "total_minor": 1299, "currency": "EUR", "item_count": 2}
    })
}

/// Writes a secret file (a token or key) the way IT must: mode 0600. The
/// service refuses secret files that others may read.
pub fn write_secret(path: &Path, contents: &str) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("create secret file");
    f.write_all(contents.as_bytes()).expect("write secret file");
    // `mode` applies only when the file is created.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

/// Tiny deterministic PRNG (xorshift) so tests need no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(42)
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A CloudEvent's `sequence` as a number.
pub fn sequence(e: &serde_json::Value) -> u64 {
    e["sequence"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("sequence")
}

/// Whether `number` occurs in `haystack` as a number of its own (not inside
/// a longer run of digits such as a port, a pid or the fraction of a
/// timestamp), the way a logged or stored PIN or code would appear.
pub fn contains_number(haystack: &[u8], number: &str) -> bool {
    let n = number.as_bytes();
    haystack.windows(n.len()).enumerate().any(|(i, w)| {
        w == n
            && (i == 0 || !haystack[i - 1].is_ascii_digit())
            && haystack
                .get(i + n.len())
                .is_none_or(|b| !b.is_ascii_digit())
    })
}

/// Whether `needle` occurs anywhere in `haystack` (a clear number searched
/// for in a database file, its WAL or a log).
pub fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
