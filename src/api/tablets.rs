//! Tablets and staff: pairing a tablet with a one-time code (it gets a token
//! and the HttpOnly session cookie), who the session is, the staff list and
//! the PIN log-in and log-out of the staff tablet: on a paired tablet a
//! log-in starts the server-side staff session its actions are recorded
//! under (`pickup/staff_session.rs`).
//!
//! Wrong pairing codes are counted per source address ([`PairingGuard`]):
//! after ten within ten minutes that address gets 429 until its window
//! ends, so guessing 8 digits inside a code's 10 minutes is hopeless, and
//! nobody on the network can void IT's open codes by guessing (they are
//! never voided). Refusals are logged as one summary a minute at most.
//! Must never log or echo a code.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::{ExtensionRejection, JsonRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::client::ClientAddr;
use super::{auth::Caller, ApiError, AppState};
use crate::pickup::staff_session::StaffOnTablet;
use crate::store::tokens::Role;
use crate::store::{pairing, staff};

/// Wrong pairing codes one source may send within [`PAIRING_WINDOW`]; the
/// next attempt gets 429 until the window (counted from its first wrong
/// code) ends. A code lives 10 minutes, so that is the window that matters.
const PAIRING_MAX_FAILURES: u32 = 10;
const PAIRING_WINDOW: Duration = Duration::from_secs(600);
/// Sources remembered at once. Expired windows are dropped when the table
/// is full; if it is still full, every further source shares one window
/// ([`Source::Overflow`]), so a flood from many addresses neither grows the
/// table nor gets more guesses than the table holds.
const PAIRING_MAX_SOURCES: usize = 4096;
/// At most one WARN line about refused pairing attempts per this period.
const PAIRING_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Who a pairing attempt is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address, or an IPv6 /64 (see [`ClientAddr`]: a host picks
    /// any address in its /64 at will, so counting single IPv6 addresses
    /// would count nothing).
    Ip(ClientAddr),
    /// No peer address known (a router used without connect info).
    Unknown,
    /// The shared window of sources that found the table full.
    Overflow,
}

impl Source {
    pub fn of(peer: Option<IpAddr>) -> Source {
        match peer {
            None => Source::Unknown,
            Some(ip) => Source::Ip(ClientAddr::of(ip)),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Ip(client) => write!(f, "{client}"),
            Source::Unknown => f.write_str("unknown"),
            Source::Overflow => f.write_str("(source table full)"),
        }
    }
}

/// One source's window: wrong codes since `since`.
#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    since: Instant,
}

impl Window {
    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) < PAIRING_WINDOW
    }
}

/// What was refused since the last WARN line.
#[derive(Debug, Default)]
struct Pending {
    wrong_codes: u64,
    refused: u64,
    last_source: Option<Source>,
}

#[derive(Debug, Default)]
struct GuardState {
    windows: HashMap<Source, Window>,
    pending: Pending,
    last_report: Option<Instant>,
    flush_scheduled: bool,
}

/// The summary WARN line: what was refused since the last one.
#[derive(Debug, PartialEq, Eq)]
pub struct PairingReport {
    pub wrong_codes: u64,
    pub refused: u64,
    pub blocked_sources: usize,
    pub last_source: Source,
}

impl PairingReport {
    fn log(&self) {
        tracing::warn!(
            wrong_codes = self.wrong_codes,
            refused_429 = self.refused,
            blocked_sources = self.blocked_sources,
            last_source = %self.last_source,
            "tablet pairing refused: wrong, used or expired codes (open codes stay valid; \
             a source that sends {PAIRING_MAX_FAILURES} wrong codes within {} minutes gets 429)",
            PAIRING_WINDOW.as_secs() / 60
        );
    }
}

/// What the caller must do about logging after a refusal.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// Log this now.
    Now(PairingReport),
    /// Log [`PairingGuard::flush`] at this instant (once; nothing else is scheduled).
    At(Instant),
    /// A flush is already scheduled.
    Later,
}

/// Counts wrong pairing codes per source, in memory (a restart forgets
/// them; a code outlives no restart of the window that matters).
#[derive(Debug, Default)]
pub struct PairingGuard {
    state: Mutex<GuardState>,
}

impl GuardState {
    /// The key `source` is counted under: itself when known or when there
    /// is room (after dropping expired windows), else the shared overflow.
    fn key(&mut self, source: Source, now: Instant) -> Source {
        if self.windows.contains_key(&source) || self.windows.len() < PAIRING_MAX_SOURCES {
            return source;
        }
        self.windows
            .retain(|k, w| *k == Source::Overflow || w.live(now));
        if self.windows.len() < PAIRING_MAX_SOURCES {
            source
        } else {
            Source::Overflow
        }
    }

    fn report(&mut self, now: Instant) -> Report {
        let due = self
            .last_report
            .is_none_or(|t| now.saturating_duration_since(t) >= PAIRING_REPORT_EVERY);
        if due {
            return match self.take(now) {
                Some(r) => Report::Now(r),
                None => Report::Later,
            };
        }
        if self.flush_scheduled {
            return Report::Later;
        }
        self.flush_scheduled = true;
        Report::At(self.last_report.map_or(now, |t| t + PAIRING_REPORT_EVERY))
    }

    fn take(&mut self, now: Instant) -> Option<PairingReport> {
        let pending = std::mem::take(&mut self.pending);
        let last_source = pending.last_source?;
        self.last_report = Some(now);
        let blocked_sources = self
            .windows
            .values()
            .filter(|w| w.failures >= PAIRING_MAX_FAILURES && w.live(now))
            .count();
        Some(PairingReport {
            wrong_codes: pending.wrong_codes,
            refused: pending.refused,
            blocked_sources,
            last_source,
        })
    }
}

impl PairingGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before a code is checked: Err(retry after) when `source` has used
    /// up its wrong codes, else the attempt is counted as wrong already
    /// (so parallel guesses cannot all pass before the first is counted)
    /// and [`PairingGuard::paired`] takes it back.
    pub fn admit(&self, source: Source, now: Instant) -> Result<(), (Duration, Report)> {
        let mut s = self.lock();
        let key = s.key(source, now);
        let window = s.windows.entry(key).or_insert(Window {
            failures: 0,
            since: now,
        });
        if !window.live(now) {
            *window = Window {
                failures: 0,
                since: now,
            };
        }
        if window.failures >= PAIRING_MAX_FAILURES {
            let retry_after = (window.since + PAIRING_WINDOW).saturating_duration_since(now);
            s.pending.refused += 1;
            s.pending.last_source = Some(key);
            let report = s.report(now);
            return Err((retry_after, report));
        }
        window.failures += 1;
        Ok(())
    }

    /// The code was right: the attempt counted by `admit` is taken back.
    pub fn paired(&self, source: Source, now: Instant) {
        let mut s = self.lock();
        let key = s.key(source, now);
        if let Some(w) = s.windows.get_mut(&key) {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    /// The code was wrong (already counted by `admit`): note it for the log.
    pub fn wrong(&self, source: Source, now: Instant) -> Report {
        let mut s = self.lock();
        let key = s.key(source, now);
        s.pending.wrong_codes += 1;
        s.pending.last_source = Some(key);
        s.report(now)
    }

    /// The scheduled summary: what was refused since the last line, if anything.
    pub fn flush(&self, now: Instant) -> Option<PairingReport> {
        let mut s = self.lock();
        s.flush_scheduled = false;
        s.take(now)
    }

    /// Sources remembered (for tests: the table stays bounded).
    pub fn sources(&self) -> usize {
        self.lock().windows.len()
    }

    /// Logs now, or schedules the one summary line of this minute.
    fn handle(self: &Arc<Self>, report: Report) {
        match report {
            Report::Now(r) => r.log(),
            Report::Later => {}
            Report::At(at) => {
                let guard = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(at.into()).await;
                    if let Some(r) = guard.flush(Instant::now()) {
                        r.log();
                    }
                });
            }
        }
    }
}

/// 429 with `Retry-After` (whole seconds, rounded up).
fn too_many_attempts(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-pairing-attempts",
        format!(
            "too many wrong pairing codes from this address; try again in {secs} s \
             (codes printed by `store-edge tablet pair` stay valid)"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairBody {
    /// The 8-digit code printed by `store-edge tablet pair`.
    #[schema(pattern = "^\\s*[0-9]{8}\\s*$")]
    pub code: String,
    /// A name for the tablet, e.g. "counter tablet".
    #[schema(pattern = "\\S")]
    pub name: String,
}

/// Pair a tablet: `{token, role}` and the `store_edge_session` cookie.
#[utoipa::path(post, path = "/api/v1/tablets/pair", request_body = PairBody, responses(
    (status = 200, description = "`{token, role, name, register}` and `Set-Cookie: store_edge_session=…; HttpOnly; SameSite=Strict` (and `Secure` over https)"),
    (status = 422, description = "Unknown, used or expired code", body = super::error::Problem),
    (status = 429, description = "Ten wrong codes from this address within 10 minutes; `Retry-After` says when the window ends", body = super::error::Problem)))]
pub async fn pair(
    State(state): State<AppState>,
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    https: Option<axum::Extension<super::listener::Https>>,
    b: Result<Json<PairBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = super::pickups::secret_body(b, "{\"code\", \"name\"}")?;
    let code = b.code.trim().to_owned();
    let name = b.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::unprocessable("give the tablet a name"));
    }
    // Kept in the token list and shown to IT: free text like any other.
    ApiError::screen_card_numbers(&[("name", &name)])?;
    if code.len() != 8 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::unprocessable("a pairing code is 8 digits"));
    }
    let source = Source::of(peer.ok().map(|ConnectInfo(addr)| addr.ip()));
    let guard = state.pairing.clone();
    if let Err((retry_after, report)) = guard.admit(source, Instant::now()) {
        guard.handle(report);
        return Ok(too_many_attempts(retry_after));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let probe = code.clone();
    let open = state
        .pickups
        .read(move |c| pairing::is_open(c, &probe, now))
        .await?;
    let paired = if open {
        state
            .writer
            .run(0, move |ctx| pairing::redeem(ctx, &code, &name, now))
            .await?
    } else {
        None
    };
    let Some(paired) = paired else {
        guard.handle(guard.wrong(source, Instant::now()));
        return Err(ApiError::unprocessable(
            "unknown, used or expired pairing code; print a new one with `store-edge tablet pair`",
        ));
    };
    guard.paired(source, Instant::now());
    tracing::info!(tablet = %paired.name, role = paired.role.as_str(), "tablet paired");
    // Over TLS the browser must never send it in clear (the redirect
    // port would see it otherwise).
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000{}",
        super::auth::SESSION_COOKIE,
        paired.token,
        if https.is_some() { "; Secure" } else { "" }
    );
    let mut response = Json(json!({
        "token": paired.token, "role": paired.role.as_str(),
        "name": paired.name, "register": paired.register,
    }))
    .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Who this token or session is, and who is logged in on it (a paired
/// staff tablet's staff session; asking does not count as an action).
#[utoipa::path(get, path = "/api/v1/session", responses((status = 200, description = "`{name, role, register, staff: {id, name} | null}`"), (status = 401, description = "No session", body = super::error::Problem)), security(("bearer" = [])))]
pub async fn session(State(state): State<AppState>, caller: Caller) -> Response {
    let staff = caller
        .0
        .paired
        .then(|| {
            state
                .pickups
                .staff_sessions
                .current(&caller.0.token_hash, Instant::now())
        })
        .flatten()
        .map(|s| json!({"id": s.id, "name": s.name}));
    Json(json!({
        "name": caller.0.name, "role": caller.0.role.as_str(),
        "register": caller.0.register, "staff": staff,
    }))
    .into_response()
}

/// Staff who may log in on the staff tablet.
#[utoipa::path(get, path = "/api/v1/staff", responses((status = 200, description = "`{staff: [{id, name}]}`")), security(("bearer" = [])))]
pub async fn list_staff(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "list staff")?;
    let list = state.pickups.read(staff::list).await?;
    let list: Vec<_> = list
        .into_iter()
        .map(|s| json!({"id": s.id, "name": s.name}))
        .collect();
    Ok(Json(json!({"staff": list})).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub staff_id: String,
    pub pin: String,
}

/// Check a staff PIN (wrong PINs count toward the lock). On a paired
/// tablet this logs the staff member in: the tablet's actions are theirs
/// until log-out, `pickup.staff_session_idle_s` without an action,
/// revocation of the tablet's token or a restart.
#[utoipa::path(post, path = "/api/v1/staff/login", request_body = LoginBody, responses(
    (status = 200, description = "`{staff_id, name, session_idle_s}` (`session_idle_s` null for callers that are not paired tablets)"),
    (status = 403, description = "Wrong PIN (`reason: wrong_pin`)", body = super::error::Problem),
    (status = 423, description = "Locked (`locked_until`)", body = super::error::Problem)),
    security(("bearer" = [])))]
pub async fn login(
    State(state): State<AppState>,
    caller: Caller,
    b: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "log staff in")?;
    let b = super::pickups::secret_body(b, "{\"staff_id\", \"pin\"}")?;
    let name = state.pickups.check_pin(&b.staff_id, &b.pin).await?;
    let sessions = &state.pickups.staff_sessions;
    let idle = caller.0.paired.then(|| {
        sessions.start(
            caller.0.token_hash,
            StaffOnTablet {
                id: b.staff_id.clone(),
                name: name.clone(),
            },
            Instant::now(),
        );
        tracing::info!(tablet = %caller.0.name, staff_id = %b.staff_id, "staff logged in on a tablet");
        sessions.idle().as_secs()
    });
    Ok((
        StatusCode::OK,
        Json(json!({"staff_id": b.staff_id, "name": name, "session_idle_s": idle})),
    )
        .into_response())
}

/// End the staff session of this tablet (nothing to end for other callers).
#[utoipa::path(post, path = "/api/v1/staff/logout", responses(
    (status = 204, description = "Logged out (also when nobody was logged in)")),
    security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(&[Role::Staff], "log staff out")?;
    if state.pickups.staff_sessions.end(&caller.0.token_hash) {
        tracing::info!(tablet = %caller.0.name, "staff logged out on a tablet");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Source {
        Source::of(Some(s.parse().unwrap()))
    }

    /// Ten wrong codes, as the handler counts them.
    fn ten_wrong(g: &PairingGuard, src: Source, now: Instant) {
        for _ in 0..PAIRING_MAX_FAILURES {
            g.admit(src, now).expect("admitted");
            let _ = g.wrong(src, now);
        }
    }

    #[test]
    fn ten_wrong_codes_block_only_that_source_until_the_window_ends() {
        let g = PairingGuard::default();
        let t0 = Instant::now();
        let a = ip("10.0.0.7");
        ten_wrong(&g, a, t0);
        let (retry, _) = g.admit(a, t0 + Duration::from_secs(100)).unwrap_err();
        assert_eq!(retry, Duration::from_secs(500));
        assert!(g.admit(ip("10.0.0.8"), t0).is_ok(), "another address");
        assert!(g.admit(a, t0 + PAIRING_WINDOW).is_ok(), "window over");
    }

    #[test]
    fn a_right_code_is_not_counted_and_parallel_guesses_are() {
        let g = PairingGuard::default();
        let t0 = Instant::now();
        let a = ip("10.0.0.7");
        for _ in 0..50 {
            g.admit(a, t0).unwrap();
            g.paired(a, t0);
        }
        // Ten admitted before any answer: the eleventh waits.
        for _ in 0..PAIRING_MAX_FAILURES {
            g.admit(a, t0).unwrap();
        }
        assert!(g.admit(a, t0).is_err());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::2"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:10.0.0.7"), ip("10.0.0.7"));
        assert_eq!(Source::of(None), Source::Unknown);
        assert_eq!(ip("2001:db8:1:2::9").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_flood_from_many_addresses_keeps_the_table_bounded() {
        let g = PairingGuard::default();
        let t0 = Instant::now();
        for i in 0..(3 * PAIRING_MAX_SOURCES as u32) {
            let src = Source::of(Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))));
            if g.admit(src, t0).is_ok() {
                let _ = g.wrong(src, t0);
            }
        }
        assert!(g.sources() <= PAIRING_MAX_SOURCES + 1, "{}", g.sources());
        // The sources that found the table full share one window: used up.
        let late = Source::of(Some("192.168.9.9".parse().unwrap()));
        assert!(g.admit(late, t0).is_err());
        // Expired windows make room again.
        let later = t0 + PAIRING_WINDOW;
        assert!(g.admit(late, later).is_ok());
        assert!(g.sources() <= PAIRING_MAX_SOURCES + 1);
    }

    #[test]
    fn refusals_are_reported_at_most_once_a_minute() {
        let g = PairingGuard::default();
        let t0 = Instant::now();
        let a = ip("10.0.0.7");
        g.admit(a, t0).unwrap();
        let Report::Now(first) = g.wrong(a, t0) else {
            panic!("the first refusal is reported at once");
        };
        assert_eq!(first.wrong_codes, 1);
        let mut scheduled = Vec::new();
        for i in 1..40u64 {
            let now = t0 + Duration::from_millis(i * 10);
            let report = match g.admit(a, now) {
                Ok(()) => g.wrong(a, now),
                Err((_, report)) => report,
            };
            match report {
                Report::Now(r) => panic!("a second line within the minute: {r:?}"),
                Report::At(at) => scheduled.push(at),
                Report::Later => {}
            }
        }
        assert_eq!(scheduled, vec![t0 + PAIRING_REPORT_EVERY], "one flush");
        let summary = g.flush(t0 + PAIRING_REPORT_EVERY).expect("summary");
        assert_eq!(
            summary,
            PairingReport {
                wrong_codes: 9,
                refused: 30,
                blocked_sources: 1,
                last_source: a
            }
        );
        assert_eq!(g.flush(t0 + 2 * PAIRING_REPORT_EVERY), None, "nothing new");
    }
}
