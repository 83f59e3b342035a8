//! Who is working at a paired staff tablet: after a PIN log-in
//! (`POST /api/v1/staff/login`) the tablet's token holds a staff session
//! here, and every pickup action from that tablet is recorded as that staff
//! member's. A session ends with a log-out, after `pickup.staff_session_idle_s`
//! without an action, when the tablet's token is revoked, or with the
//! process (kept in memory only, on purpose: a restart asks for PINs again).
//!
//! Memory is bounded: one entry per tablet token (a new log-in replaces the
//! old one), expired and revoked entries are swept every second by the
//! pickup timer, and a hard cap evicts the longest idle entry.
//!
//! Must never: keep a PIN, or let one token's session serve another token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

/// More tablets than any store has; reached only by a bug or an attack
/// with many valid paired tokens, and then the longest idle session goes.
const MAX_SESSIONS: usize = 4096;

/// The staff member logged in on a tablet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffOnTablet {
    pub id: String,
    pub name: String,
}

#[derive(Debug)]
struct Session {
    staff: StaffOnTablet,
    last_action: Instant,
}

/// The staff sessions of all paired tablets, keyed by the SHA-256 of the
/// tablet's token (`Principal::token_hash`).
#[derive(Debug)]
pub struct StaffSessions {
    idle: Duration,
    map: Mutex<HashMap<[u8; 32], Session>>,
    /// `store_edge_staff_sessions`: sessions held now.
    gauge: Gauge,
}

impl StaffSessions {
    pub fn new(idle: Duration, gauge: Gauge) -> StaffSessions {
        StaffSessions {
            idle,
            map: Mutex::new(HashMap::new()),
            gauge,
        }
    }

    /// How long a session lasts without an action.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<[u8; 32], Session>) -> T) -> T {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut map);
        self.gauge.set(map.len() as i64);
        out
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_action) >= self.idle
    }

    /// Logs `staff` in on the tablet with this token (replacing whoever was).
    pub fn start(&self, token: [u8; 32], staff: StaffOnTablet, now: Instant) {
        self.with(|map| {
            map.retain(|_, s| !self.expired(s, now));
            if map.len() >= MAX_SESSIONS && !map.contains_key(&token) {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_action)
                    .map(|(k, _)| *k)
                {
                    map.remove(&oldest);
                }
            }
            map.insert(
                token,
                Session {
                    staff,
                    last_action: now,
                },
            );
        })
    }

    /// Ends the tablet's session; true when there was one.
    pub fn end(&self, token: &[u8; 32]) -> bool {
        self.with(|map| map.remove(token).is_some())
    }

    /// The staff member acting on this tablet now, if the session is alive;
    /// the action keeps it alive. An expired session is dropped.
    pub fn act(&self, token: &[u8; 32], now: Instant) -> Option<StaffOnTablet> {
        self.with(|map| {
            let s = map.get_mut(token)?;
            if self.expired(s, now) {
                map.remove(token);
                return None;
            }
            s.last_action = now;
            Some(s.staff.clone())
        })
    }

    /// Who is logged in (for `GET /api/v1/session`), without counting as
    /// an action: a tablet that only shows the board still times out.
    pub fn current(&self, token: &[u8; 32], now: Instant) -> Option<StaffOnTablet> {
        self.with(|map| {
            map.get(token)
                .filter(|s| !self.expired(s, now))
                .map(|s| s.staff.clone())
        })
    }

    /// Drops expired sessions; returns how many went.
    pub fn sweep(&self, now: Instant) -> usize {
        self.with(|map| {
            let before = map.len();
            map.retain(|_, s| !self.expired(s, now));
            before - map.len()
        })
    }

    /// The tokens holding a session (to re-check them against revocation).
    pub fn tokens(&self) -> Vec<[u8; 32]> {
        self.with(|map| map.keys().copied().collect())
    }

    pub fn len(&self) -> usize {
        self.with(|map| map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anna() -> StaffOnTablet {
        StaffOnTablet {
            id: "anna".into(),
            name: "Anna K.".into(),
        }
    }

    fn sessions(idle_s: u64) -> StaffSessions {
        StaffSessions::new(Duration::from_secs(idle_s), Gauge::default())
    }

    #[test]
    fn an_action_keeps_the_session_alive_and_idleness_ends_it() {
        let s = sessions(10);
        let t0 = Instant::now();
        let tablet = [1u8; 32];
        assert_eq!(s.act(&tablet, t0), None, "nobody logged in yet");
        s.start(tablet, anna(), t0);
        let at = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(s.act(&tablet, at(9)), Some(anna()));
        // Looking does not count as acting.
        assert_eq!(s.current(&tablet, at(18)), Some(anna()));
        assert_eq!(
            s.act(&tablet, at(18)),
            Some(anna()),
            "9 s after the last action"
        );
        assert_eq!(s.current(&tablet, at(28)), None, "10 s idle");
        assert_eq!(s.act(&tablet, at(28)), None);
        assert!(s.is_empty(), "an expired session is dropped when met");
    }

    #[test]
    fn sessions_belong_to_one_token_and_end_on_logout() {
        let s = sessions(900);
        let now = Instant::now();
        let (counter, back) = ([1u8; 32], [2u8; 32]);
        s.start(counter, anna(), now);
        assert_eq!(s.act(&back, now), None, "another tablet's token");
        let ben = StaffOnTablet {
            id: "ben".into(),
            name: "Ben".into(),
        };
        s.start(counter, ben.clone(), now);
        assert_eq!(s.len(), 1, "one entry per tablet token");
        assert_eq!(s.act(&counter, now), Some(ben));
        assert!(s.end(&counter));
        assert!(!s.end(&counter));
        assert_eq!(s.act(&counter, now), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let s = sessions(60);
        let t0 = Instant::now();
        for i in 0..100u8 {
            s.start([i; 32], anna(), t0);
        }
        assert_eq!(s.sweep(t0 + Duration::from_secs(59)), 0);
        assert_eq!(s.sweep(t0 + Duration::from_secs(60)), 100);
        assert!(s.is_empty());
        // A log-in sweeps too, and the cap holds whatever the number of tokens.
        for i in 0..(MAX_SESSIONS + 10) {
            let mut token = [0u8; 32];
            token[..8].copy_from_slice(&(i as u64).to_le_bytes());
            s.start(token, anna(), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        let mut newest = [0u8; 32];
        newest[..8].copy_from_slice(&((MAX_SESSIONS + 9) as u64).to_le_bytes());
        assert!(s.current(&newest, t0).is_some());
        assert!(s.current(&[0u8; 32], t0).is_none(), "the longest idle went");
    }
}
