//! The running click-and-collect workflow: verification at the counter
//! (argon2 and Ed25519 run off the writer and off the async threads), staff
//! PIN checks, reservations, the no-show timer and the live `order` / `pass`
//! events for the tablets.
//!
//! Secret checks are serialised per order (codes) and per staff member
//! (PINs): a check and the counting of its failure happen together, so
//! parallel guessing cannot get past `code_max_failures`, while checks for
//! other orders and other staff go on in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::actions::{self, Command};
use super::arrival::{self, Verified};
use super::hasher::{HashError, Hasher, Verdict};
use super::order::{self, in_tx, Order, PickupError};
use super::printouts::{self, Printouts};
use super::reservation::{self, NewReservation};
use super::staff;
use super::staff_session::StaffSessions;
use super::verify;
use super::verify::Refusal;
use crate::config::PickupConfig;
use crate::live::{Live, ScannedPass, Topic};
use crate::scan::pass::{parse_pass, PickupPass};
use crate::store::{ReadConn, ReadPool, StoreError, Writer};
use crate::telemetry::LogEvery;

/// Bytes of an action's row change and event, for the storage quota.
const ACTION_BYTES: u64 = 2048;

/// One async lock per key (an order id, a staff id); entries go away when
/// nobody holds or waits for them.
#[derive(Default)]
struct KeyedLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

struct KeyGuard<'a> {
    locks: &'a KeyedLocks,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_owned()).or_default().clone()
        };
        // The guard exists before the wait, so a caller given up while
        // waiting still cleans the entry up.
        let mut held = KeyGuard {
            locks: self,
            key: key.to_owned(),
            lock,
            guard: None,
        };
        held.guard = Some(held.lock.clone().lock_owned().await);
        held
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.guard = None;
        let mut map = self.locks.0.lock().unwrap_or_else(|e| e.into_inner());
        // Two references left (the map's and ours): nobody holds or waits.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::ptr_eq(l, &self.lock) && Arc::strong_count(l) <= 2)
        {
            map.remove(&self.key);
        }
    }
}

/// The outcome of `POST /api/v1/pickups/verify`.
#[derive(Debug)]
pub enum Verification {
    Ok {
        order: Box<Order>,
        verified_by: &'static str,
    },
    Refused {
        reason: Refusal,
        order_id: Option<String>,
    },
    Locked {
        until: i64,
    },
}

/// Why a staff PIN was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("unknown staff_id `{0}`")]
    UnknownStaff(String),
    #[error("wrong PIN")]
    Wrong,
    #[error("too many wrong PINs: the account is locked")]
    Locked { until: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct Pickups {
    pub writer: Writer,
    pub readers: ReadPool,
    pub store_id: Arc<str>,
    pub settings: Arc<PickupConfig>,
    secrets: Arc<KeyedLocks>,
    /// The argon2 threads with their fixed memory: bounds memory under a
    /// flood of checks for many orders (the unit's MemoryMax is 256 MiB).
    hasher: Hasher,
    live: Live,
    metrics: Arc<crate::telemetry::Metrics>,
    /// Rung by the downlink when it stored new or changed orders.
    orders_changed: Arc<tokio::sync::Notify>,
    /// Who is logged in on each paired staff tablet (in memory only).
    pub staff_sessions: Arc<StaffSessions>,
    /// The WARN about refused codes and passes, once a minute with a count
    /// (each refusal is an INFO line; the metric
    /// `store_edge_pickup_verifications_total` counts each).
    refusals_log: Arc<LogEvery>,
    /// Where slips and confirmations print, and what to ring after a job
    /// was queued (the service's printer wake: `pickup/` does not import
    /// `printers/`).
    printouts: Arc<Printouts>,
    print_queued: Arc<dyn Fn() + Send + Sync>,
}

/// The hashing threads stopping means the service is stopping (503, like
/// the writer); a failed job is this request's internal error.
fn hash_failed(e: HashError) -> StoreError {
    match e {
        HashError::Stopped => StoreError::WriterStopped,
        e @ HashError::Failed(_) => StoreError::internal("a hashing thread", e),
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::internal("a pickup worker task failed", e))
}

impl Pickups {
    pub fn new(
        writer: Writer,
        readers: ReadPool,
        store_id: &str,
        settings: PickupConfig,
        live: Live,
        metrics: Arc<crate::telemetry::Metrics>,
        orders_changed: Arc<tokio::sync::Notify>,
    ) -> std::io::Result<Pickups> {
        let (settings_slip, settings_confirmation) = (
            settings.slip_printer.clone(),
            settings.confirmation_printer.clone(),
        );
        let staff_sessions = Arc::new(StaffSessions::new(
            settings.staff_session_idle,
            metrics.staff_sessions.clone(),
        ));
        Ok(Pickups {
            writer,
            readers,
            store_id: store_id.into(),
            settings: Arc::new(settings),
            secrets: Arc::new(KeyedLocks::default()),
            hasher: Hasher::start(super::hasher::THREADS)?,
            live,
            metrics,
            orders_changed,
            staff_sessions,
            refusals_log: Arc::new(LogEvery::new(Duration::from_secs(60))),
            printouts: Arc::new(Printouts {
                slip_printer: settings_slip,
                confirmation_printer: settings_confirmation,
                language: Default::default(),
            }),
            print_queued: Arc::new(|| {}),
        })
    }

    /// Slips and confirmations print in `language`; `print_queued` is
    /// rung after an action queued one (the printers' wake).
    pub fn with_printing(
        mut self,
        language: crate::printing::Language,
        print_queued: Arc<dyn Fn() + Send + Sync>,
    ) -> Pickups {
        let mut printouts = (*self.printouts).clone();
        printouts.language = language;
        self.printouts = Arc::new(printouts);
        self.print_queued = print_queued;
        self
    }

    /// "Print slip again": the order's slip once more on `[pickup]
    /// slip_printer`. The job's id.
    pub async fn slip_again(&self, order_id: &str) -> Result<i64, PickupError> {
        let id = order_id.to_owned();
        let printouts = self.printouts.clone();
        let job = self
            .writer
            .run(ACTION_BYTES, move |ctx| {
                in_tx(printouts::slip_again(
                    ctx,
                    &id,
                    &printouts,
                    now().unix_timestamp(),
                ))
            })
            .await??;
        (self.print_queued)();
        Ok(job)
    }

    /// Every refused code or pass is one INFO line with its reason (issue 6:
    /// every refusal is logged) and the order only when it exists — never
    /// the caller's text or the code; a WARN a minute at most says how many
    /// were refused, so guessing shows without a WARN per request.
    fn log_refusal(&self, reason: &'static str, by: &'static str, order_id: Option<&str>) {
        match order_id {
            Some(order_id) => tracing::info!(reason, verified_by = by, order_id, "pickup refused"),
            None => tracing::info!(reason, verified_by = by, "pickup refused"),
        }
        if let Some(refused) = self.refusals_log.due() {
            tracing::warn!(
                refused,
                latest_reason = reason,
                "pickup codes or passes refused since the last such line (at most one a minute)"
            );
        }
    }

    fn count_verification(&self, outcome: &str) {
        self.metrics
            .pickup_verifications
            .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
            .inc();
    }

    /// Tells every live screen that an order changed.
    pub fn changed(&self, order: &Order) {
        self.live.publish(
            None,
            Topic::Order,
            &json!({"order_id": order.order_id, "state": order.state.as_str(), "revision": order.revision}),
        );
    }

    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadConn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.readers.run(f).await
    }

    /// Checks `secret` against `phc` on the hashing threads.
    async fn secret_check(&self, phc: &str, secret: &str) -> Result<Verdict, StoreError> {
        self.hasher.verify(phc, secret).await.map_err(hash_failed)
    }

    /// Checks a staff member's PIN (counting failures; the fifth locks).
    pub async fn check_pin(&self, staff_id: &str, pin: &str) -> Result<String, PinError> {
        let _guard = self.secrets.lock(&format!("staff:{staff_id}")).await;
        let id = staff_id.to_owned();
        let record = self
            .read(move |c| crate::store::staff::pin_record(c, &id))
            .await?
            .ok_or_else(|| PinError::UnknownStaff(staff_id.to_owned()))?;
        let t = now().unix_timestamp();
        if let Some(until) = record.locked_until.filter(|u| *u > t) {
            return Err(PinError::Locked { until });
        }
        // A PIN hash the box cannot check (never made by `staff add`)
        // matches nothing.
        let right = self.secret_check(&record.pin_hash, pin).await? == Verdict::Match;
        let id = staff_id.to_owned();
        let locked = self
            .writer
            .run(0, move |ctx| staff::record_pin(ctx, &id, right, t))
            .await?;
        match (right, locked) {
            (true, _) => Ok(record.name),
            (false, Some(until)) => Err(PinError::Locked { until }),
            (false, None) => Err(PinError::Wrong),
        }
    }

    /// Carries out a staff action (or the timer's no-show) in one writer op.
    pub async fn act(
        &self,
        order_id: &str,
        cmd: Command,
        if_match: Option<i64>,
    ) -> Result<Order, PickupError> {
        let id = order_id.to_owned();
        let action = cmd.action_name();
        let printouts = self.printouts.clone();
        let prints = matches!(
            (
                &cmd,
                &printouts.slip_printer,
                &printouts.confirmation_printer
            ),
            (Command::Ready { .. }, Some(_), _) | (Command::Handover { .. }, _, Some(_))
        );
        let order = self
            .writer
            .run(ACTION_BYTES, move |ctx| {
                in_tx(actions::act(ctx, &id, &cmd, if_match, now(), &printouts))
            })
            .await??;
        if prints {
            (self.print_queued)();
        }
        self.metrics
            .pickup_actions
            .get_or_create(&vec![("action".to_owned(), action.to_owned())])
            .inc();
        self.changed(&order);
        Ok(order)
    }

    fn counted(&self, v: Verification) -> Verification {
        let outcome = match &v {
            Verification::Ok { verified_by, .. } => verified_by,
            Verification::Refused { reason, .. } => reason.as_str(),
            Verification::Locked { .. } => "locked",
        };
        self.count_verification(outcome);
        v
    }

    /// Verifies a pickup pass and records the arrival (once).
    pub async fn verify_pass(&self, text: &str) -> Result<Verification, StoreError> {
        let pass = parse_pass(text.trim()).map_err(|_| Refusal::BadSignature);
        Ok(self.counted(self.check_pass(pass).await?))
    }

    /// A pass a scanner's decoder has already parsed.
    pub async fn verify_scanned_pass(&self, pass: PickupPass) -> Result<Verification, StoreError> {
        Ok(self.counted(self.check_pass(Ok(pass)).await?))
    }

    async fn check_pass(
        &self,
        pass: Result<PickupPass, Refusal>,
    ) -> Result<Verification, StoreError> {
        let keys = self.read(crate::store::sync::pickup_keys).await?;
        let store_id = self.store_id.clone();
        let checked = blocking(move || {
            pass.and_then(|p| {
                verify::check_parsed_pass(&p, &keys, &store_id, now().unix_timestamp())
            })
        })
        .await?;
        let order_id = match checked {
            Ok(id) => id,
            Err(reason) => {
                self.log_refusal(reason.as_str(), "pass", None);
                return Ok(Verification::Refused {
                    reason,
                    order_id: None,
                });
            }
        };
        self.record_verified(order_id, "pass").await
    }

    /// Verifies a short code against the order's argon2id hash, with the
    /// lockout counted in the database.
    pub async fn verify_code(
        &self,
        order_id: &str,
        code: &str,
    ) -> Result<Verification, StoreError> {
        Ok(self.counted(self.check_code(order_id, code).await?))
    }

    async fn check_code(&self, order_id: &str, code: &str) -> Result<Verification, StoreError> {
        let _guard = self.secrets.lock(&format!("order:{order_id}")).await;
        let id = order_id.to_owned();
        let Some(order) = self.read(move |c| order::get(c, &id)).await? else {
            // The order id is the caller's text: not logged.
            self.log_refusal("unknown_order", "code", None);
            return Ok(Verification::Refused {
                reason: Refusal::UnknownOrder,
                order_id: Some(order_id.to_owned()),
            });
        };
        // A finished order says so, whatever the code (and counts nothing).
        if let Some(reason) = Refusal::for_state(order.state) {
            self.log_refusal(reason.as_str(), "code", Some(order_id));
            return Ok(Verification::Refused {
                reason,
                order_id: Some(order_id.to_owned()),
            });
        }
        let t = now().unix_timestamp();
        if let Some(until) = order.code_locked_until.filter(|u| *u > t) {
            self.log_refusal("locked", "code", Some(order_id));
            return Ok(Verification::Locked { until });
        }
        let hash = order.code_hash();
        match self.secret_check(hash, code.trim()).await? {
            Verdict::Match => return self.record_verified(order_id.to_owned(), "code").await,
            Verdict::NoMatch => {}
            // The downlink said why when it stored the order; the pass and
            // the ID check still work for it.
            // The downlink warned once, with why, when it stored the order.
            Verdict::Unusable(_) => {
                self.log_refusal("code_unavailable", "code", Some(order_id));
                return Ok(Verification::Refused {
                    reason: Refusal::CodeUnavailable,
                    order_id: Some(order_id.to_owned()),
                });
            }
        }
        let id = order_id.to_owned();
        let max = self.settings.code_max_failures as i64;
        let lock_s = self.settings.code_lock.as_secs() as i64;
        self.writer
            .run(0, move |ctx| {
                arrival::wrong_code(ctx, &id, max, lock_s, now())
            })
            .await?;
        self.log_refusal("wrong_code", "code", Some(order_id));
        Ok(Verification::Refused {
            reason: Refusal::WrongCode,
            order_id: Some(order_id.to_owned()),
        })
    }

    async fn record_verified(
        &self,
        order_id: String,
        method: &'static str,
    ) -> Result<Verification, StoreError> {
        let id = order_id.clone();
        let result = self
            .writer
            .run(ACTION_BYTES, move |ctx| {
                arrival::verified(ctx, &id, method, now())
            })
            .await?;
        Ok(match result {
            Verified::Ok(order) => {
                self.changed(&order);
                Verification::Ok {
                    order,
                    verified_by: method,
                }
            }
            Verified::Refused(reason) => {
                self.log_refusal(reason.as_str(), method, Some(&order_id));
                Verification::Refused {
                    reason,
                    order_id: Some(order_id),
                }
            }
        })
    }

    /// Creates a reservation made in the store; returns it and the clear
    /// code (shown once, only its hash is kept).
    pub async fn reserve(&self, r: NewReservation) -> Result<(Order, String), PickupError> {
        let code = crate::secrets::random_digits(6)
            .map_err(|e| StoreError::internal("a reservation code", e))?;
        let hash = self.hasher.hash(&code).await.map_err(hash_failed)?;
        let store_id = self.store_id.clone();
        let order = self
            .writer
            .run(ACTION_BYTES + r.items.len() as u64 * 256, move |ctx| {
                in_tx(reservation::create_reservation(
                    ctx,
                    &store_id,
                    &r,
                    &hash,
                    now(),
                ))
            })
            .await??;
        self.changed(&order);
        Ok((order, code))
    }

    /// Marks every open order past its deadline (plus grace) as a no-show.
    pub async fn catch_no_shows(&self) -> Result<usize, StoreError> {
        let grace = self.settings.no_show_grace.as_secs() as i64;
        let t = now().unix_timestamp();
        let due = self
            .read(move |c| order::no_show_candidates(c, t, grace))
            .await?;
        let mut n = 0;
        for id in due {
            match self.act(&id, Command::NoShow, None).await {
                Ok(_) => {
                    tracing::info!(order_id = %id, "nobody came before the deadline: no-show");
                    n += 1;
                }
                // Someone acted on it meanwhile: nothing to do.
                Err(PickupError::Illegal { .. }) => {}
                Err(PickupError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(order_id = %id, error = %e, "no-show not recorded"),
            }
        }
        Ok(n)
    }

    /// Ends idle staff sessions, and those whose tablet token was revoked
    /// (a primary-key read per logged-in tablet, no cache), so a session
    /// never outlives its token in memory.
    pub async fn sweep_staff_sessions(&self) -> Result<(), StoreError> {
        let sessions = self.staff_sessions.clone();
        let idle = sessions.sweep(std::time::Instant::now());
        if idle > 0 {
            tracing::info!(sessions = idle, "staff session ended after idle time");
        }
        let tokens = sessions.tokens();
        if tokens.is_empty() {
            return Ok(());
        }
        let revoked = self
            .read(move |c| {
                let mut gone = Vec::new();
                for t in tokens {
                    if !crate::store::tokens::is_valid(c, &t)? {
                        gone.push(t);
                    }
                }
                Ok(gone)
            })
            .await?;
        for t in revoked {
            if sessions.end(&t) {
                tracing::info!("staff session ended: the tablet's token was revoked");
            }
        }
        Ok(())
    }

    /// The no-show timer (at start-up, then every second); also tells live
    /// screens when the downlink stored orders (actions here tell them
    /// themselves, see [`Pickups::changed`]). Each tick also sweeps the
    /// staff sessions.
    pub async fn run_timer(self, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.orders_changed.notified() => {
                    self.live.publish(None, Topic::Order, &json!({"order_id": Value::Null}));
                    continue;
                }
                _ = tick.tick() => {}
            }
            if let Err(e) = self.sweep_staff_sessions().await {
                tracing::debug!(error = %e, "staff sessions not swept this second");
            }
            // Said once per distinct failure (e.g. at the storage quota),
            // not every second.
            match self.catch_no_shows().await {
                Ok(_) if last_error.take().is_some() => {
                    tracing::info!("no-show check works again")
                }
                Ok(_) => {}
                Err(e) => {
                    let text = e.to_string();
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(error = %text, "no-show check failed; retrying every second");
                        last_error = Some(text);
                    }
                }
            }
        }
    }

    /// Verifies passes read by scanners; the result goes to the tablets of
    /// the scanner's register as a `pass` event.
    pub async fn run_pass_scans(
        self,
        mut rx: mpsc::Receiver<ScannedPass>,
        cancel: CancellationToken,
    ) {
        loop {
            let scanned = tokio::select! {
                _ = cancel.cancelled() => return,
                s = rx.recv() => match s { Some(s) => s, None => return },
            };
            let shown = match self.verify_scanned_pass(scanned.pass).await {
                Ok(Verification::Ok { order, verified_by }) => json!({
                    "ok": true, "order_id": order.order_id, "verified_by": verified_by, "order": order.view(),
                }),
                Ok(Verification::Refused { reason, order_id }) => json!({
                    "ok": false, "reason": reason.as_str(), "order_id": order_id,
                }),
                Ok(Verification::Locked { until }) => {
                    json!({"ok": false, "reason": "locked", "locked_until": until})
                }
                Err(e) => {
                    tracing::error!(error = %e, "pickup pass not checked");
                    json!({"ok": false, "reason": "unavailable", "detail": e.to_string()})
                }
            };
            let mut shown = shown;
            shown["device_id"] = json!(scanned.device_id);
            shown["register_id"] = json!(scanned.register);
            self.live.publish(scanned.register, Topic::Pass, &shown);
        }
    }
}
