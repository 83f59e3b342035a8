//! The argon2id work of the counter (staff PINs, customers' short codes,
//! new reservation codes) on a fixed number of dedicated threads, each
//! owning one preallocated block of argon2 memory that it reuses forever.
//!
//! Why: argon2id needs 19 MiB per check. Run on whatever blocking-pool
//! thread was free, every check allocated and freed 19 MiB, glibc kept the
//! freed blocks in per-thread arenas, and a busy store's logins grew the
//! service past the unit's `MemoryMax` (issue 10). Here the memory for
//! hashing is exactly `threads × MAX_M_KIB` KiB, taken on first use and
//! never freed, whatever the rate of checks; more checks only wait longer
//! in a bounded queue.
//!
//! Must never: allocate argon2 memory per check, compute a hash with
//! parameters above the bounds (a hostile or broken `code_hash` with
//! `t=3000` would stall every PIN log-in of the store behind it), or keep
//! a clear secret beyond the job that checks it.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

/// Largest memory cost checked, in KiB: what central issues today
/// (argon2id's recommended 19 MiB) and what PINs are hashed with.
pub const MAX_M_KIB: u32 = 19_456;
/// Largest number of passes checked.
pub const MAX_T: u32 = 4;
/// Largest parallelism (lanes) checked.
pub const MAX_P: u32 = 4;
/// Hashing threads: one per core of a store box.
pub const THREADS: usize = 2;
/// Checks waiting for a thread before callers wait to enqueue.
const QUEUE: usize = 256;

/// Why a stored hash cannot be checked on this box.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("not an argon2id PHC string")]
    NotArgon2id,
    #[error("malformed argon2id PHC string: {0}")]
    Malformed(String),
    #[error(
        "argon2id parameters {0} exceed what the box checks (m ≤ {MAX_M_KIB} KiB, t ≤ {MAX_T}, p ≤ {MAX_P})"
    )]
    TooCostly(String),
}

/// A PHC string parsed and bounded: what a hashing thread computes.
#[derive(Debug, Clone)]
pub struct Checkable {
    params: Params,
    version: Version,
    salt: Vec<u8>,
    expected: Output,
}

/// Parses `phc` and checks that it is argon2id within the bounds; cheap,
/// so callers (and the downlink, to warn once) can do it on any thread.
pub fn checkable(phc: &str) -> Result<Checkable, Unusable> {
    let hash = PasswordHash::new(phc).map_err(|e| Unusable::Malformed(e.to_string()))?;
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return Err(Unusable::NotArgon2id);
    }
    let params = Params::try_from(&hash).map_err(|e| Unusable::Malformed(e.to_string()))?;
    if params.m_cost() > MAX_M_KIB || params.t_cost() > MAX_T || params.p_cost() > MAX_P {
        return Err(Unusable::TooCostly(format!(
            "m={},t={},p={}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        )));
    }
    let version = match hash.version {
        None => Version::default(),
        Some(v) => Version::try_from(v).map_err(|e| Unusable::Malformed(e.to_string()))?,
    };
    let salt = hash
        .salt
        .ok_or_else(|| Unusable::Malformed("no salt".into()))?;
    let mut buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut buf)
        .map_err(|e| Unusable::Malformed(e.to_string()))?
        .to_vec();
    let expected = hash
        .hash
        .ok_or_else(|| Unusable::Malformed("no hash".into()))?;
    Ok(Checkable {
        params,
        version,
        salt,
        expected,
    })
}

/// The answer to a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    NoMatch,
    /// The stored hash cannot be checked here (see [`Unusable`]).
    Unusable(Unusable),
}

/// Why a hash could not be computed or checked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HashError {
    /// The hashing threads are gone (the service is stopping).
    #[error("the hashing threads have stopped")]
    Stopped,
    /// This job failed (no randomness, argon2 refused, or the computation
    /// panicked — the thread survives that and takes the next job).
    #[error("hashing failed: {0}")]
    Failed(String),
}

enum Work {
    Verify(Checkable, String),
    Hash(String, [u8; 16]),
    /// A job that panics, to show the thread survives it.
    #[cfg(test)]
    Panic,
}

enum Answer {
    Matched(bool),
    Hashed(Result<String, String>),
    /// The computation panicked; the thread caught it.
    Panicked,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Answer>,
}

/// A handle on the hashing threads; cheap to clone. The threads end when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Hasher {
    tx: mpsc::Sender<Job>,
}

impl Hasher {
    /// Starts `threads` hashing threads; their memory is taken on first use.
    pub fn start(threads: usize) -> std::io::Result<Hasher> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .stack_size(256 * 1024)
                .spawn(move || run_thread(&rx))?;
        }
        Ok(Hasher { tx })
    }

    /// Whether `secret` matches the PHC string `phc`.
    pub async fn verify(&self, phc: &str, secret: &str) -> Result<Verdict, HashError> {
        let checkable = match checkable(phc) {
            Ok(c) => c,
            Err(why) => return Ok(Verdict::Unusable(why)),
        };
        match self
            .submit(Work::Verify(checkable, secret.to_owned()))
            .await?
        {
            Answer::Matched(true) => Ok(Verdict::Match),
            Answer::Matched(false) => Ok(Verdict::NoMatch),
            Answer::Panicked => Err(HashError::Failed("the check panicked".into())),
            Answer::Hashed(_) => Err(HashError::Failed("the thread answered another job".into())),
        }
    }

    /// An argon2id PHC string of `secret` (a code or a PIN), salted at
    /// random, with the default parameters (m=19456 KiB, t=2, p=1).
    pub async fn hash(&self, secret: &str) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|e| HashError::Failed(format!("no randomness available: {e}")))?;
        match self.submit(Work::Hash(secret.to_owned(), salt)).await? {
            Answer::Hashed(h) => h.map_err(HashError::Failed),
            Answer::Panicked => Err(HashError::Failed("hashing panicked".into())),
            Answer::Matched(_) => Err(HashError::Failed("the thread answered another job".into())),
        }
    }

    async fn submit(&self, work: Work) -> Result<Answer, HashError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { work, reply })
            .await
            .map_err(|_| HashError::Stopped)?;
        answer.await.map_err(|_| HashError::Stopped)
    }
}

fn run_thread(rx: &Mutex<mpsc::Receiver<Job>>) {
    // Taken on the first job, then reused for every job of this thread.
    let mut memory: Option<Box<[Block]>> = None;
    loop {
        let job = {
            let mut rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.blocking_recv()
        };
        let Some(Job { work, reply }) = job else {
            return;
        };
        // A caller that gave up (its request was dropped) needs no answer.
        if reply.is_closed() {
            continue;
        }
        let memory = memory
            .get_or_insert_with(|| vec![Block::default(); MAX_M_KIB as usize].into_boxed_slice());
        // A panic inside argon2 must not take the thread (and with two
        // threads, every PIN log-in of the store) down with it: the job
        // fails, the thread goes on. The memory is plain blocks that the
        // next job overwrites.
        let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match work {
            Work::Verify(c, secret) => Answer::Matched(matches(&c, secret.as_bytes(), memory)),
            Work::Hash(secret, salt) => Answer::Hashed(hash_with(secret.as_bytes(), &salt, memory)),
            #[cfg(test)]
            Work::Panic => panic!("a test's panicking job"),
        }))
        .unwrap_or(Answer::Panicked);
        let _ = reply.send(answer);
    }
}

/// Computes `c`'s hash of `secret` in `memory` and compares it in constant
/// time with the stored one.
fn matches(c: &Checkable, secret: &[u8], memory: &mut [Block]) -> bool {
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..c.expected.len()) else {
        return false;
    };
    let argon = Argon2::new(Algorithm::Argon2id, c.version, c.params.clone());
    if argon
        .hash_password_into_with_memory(secret, &c.salt, out, memory)
        .is_err()
    {
        return false;
    }
    Output::new(out).is_ok_and(|o| o == c.expected)
}

fn hash_with(secret: &[u8], salt: &[u8; 16], memory: &mut [Block]) -> Result<String, String> {
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(secret, salt, &mut out, memory)
        .map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(salt).map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_what_central_issues() {
        let ok = "$argon2id$v=19$m=19456,t=2,p=1$ZGVtby1zYWx0LTAx$bVUT2XT9AwTmAUAepPmKW3steoVHwjM5h5Pz6LdiezI";
        assert!(checkable(ok).is_ok());
        let slow = ok.replace("t=2", "t=3000");
        assert!(matches!(checkable(&slow), Err(Unusable::TooCostly(_))));
        let big = ok.replace("m=19456", "m=19457");
        assert!(matches!(checkable(&big), Err(Unusable::TooCostly(_))));
        let wide = ok.replace("p=1", "p=5");
        assert!(matches!(checkable(&wide), Err(Unusable::TooCostly(_))));
        let edge = ok.replace("t=2", "t=4").replace("p=1", "p=4");
        assert!(checkable(&edge).is_ok());
        let argon2i = ok.replace("argon2id", "argon2i");
        assert_eq!(checkable(&argon2i).err(), Some(Unusable::NotArgon2id));
        assert!(matches!(checkable("123456"), Err(Unusable::Malformed(_))));
    }

    #[tokio::test]
    async fn the_threads_hash_and_check_with_their_own_memory() {
        let hasher = Hasher::start(2).unwrap();
        // The demo orders' hash of "123456", made by the argon2 crate itself.
        let demo = "$argon2id$v=19$m=19456,t=2,p=1$ZGVtby1zYWx0LTAx$bVUT2XT9AwTmAUAepPmKW3steoVHwjM5h5Pz6LdiezI";
        assert_eq!(hasher.verify(demo, "123456").await.unwrap(), Verdict::Match);
        assert_eq!(
            hasher.verify(demo, "123457").await.unwrap(),
            Verdict::NoMatch
        );
        let h = hasher.hash("4711").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("4711"));
        // What the threads make, the argon2 crate's own verifier accepts.
        assert!(crate::secrets::secret_matches(&h, "4711"));
        assert_eq!(hasher.verify(&h, "4711").await.unwrap(), Verdict::Match);
        // Memory left over from an earlier job does not change an answer.
        assert_eq!(hasher.verify(&h, "4712").await.unwrap(), Verdict::NoMatch);
        let costly = demo.replace("t=2", "t=3000");
        assert!(matches!(
            hasher.verify(&costly, "123456").await.unwrap(),
            Verdict::Unusable(Unusable::TooCostly(_))
        ));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_thread_goes_on() {
        let hasher = Hasher::start(1).unwrap();
        // The one thread takes the panicking job, then the next ones.
        let answer = hasher.submit(Work::Panic).await.unwrap();
        assert!(matches!(answer, Answer::Panicked));
        let h = hasher.hash("4711").await.unwrap();
        assert_eq!(hasher.verify(&h, "4711").await.unwrap(), Verdict::Match);
    }

    #[tokio::test]
    async fn more_lanes_and_passes_within_the_bounds_are_checked() {
        use argon2::password_hash::PasswordHasher;
        let params = Params::new(8192, 4, 4, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"246810", &salt)
            .unwrap()
            .to_string();
        let hasher = Hasher::start(1).unwrap();
        assert_eq!(hasher.verify(&phc, "246810").await.unwrap(), Verdict::Match);
        assert_eq!(
            hasher.verify(&phc, "246811").await.unwrap(),
            Verdict::NoMatch
        );
    }
}
