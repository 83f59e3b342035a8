//! The downlink: pulls central's pickup order feed with a persisted cursor
//! and caches the pickup-pass keys. Each page and the cursor after it are
//! stored in ONE transaction, so a crash between pages loses and repeats
//! nothing. Versions only go up.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::client::Answer;
use super::SyncContext;
use crate::pickup::central;
use crate::pickup::document::CentralOrder;
use crate::store::meta::{self, Key as MetaKey};
use crate::store::sync as store_sync;
use crate::store::ReadConn;

/// Orders per page asked of central (the contract allows up to 500).
const PAGE_LIMIT: u32 = 100;

#[derive(Deserialize)]
struct Page {
    orders: Vec<Value>,
    next_cursor: String,
    has_more: bool,
}

/// Checks one order document against the contract's PickupOrder schema
/// and parses it (the one place central's document enters).
pub fn check_order(doc: &Value) -> Result<CentralOrder, String> {
    let order = CentralOrder::from_central(doc)?;
    // Stored all the same: the pass and the ID check still work; only the
    // short code answers `code_unavailable`. Said once, when it arrives.
    if let Err(why) = crate::pickup::hasher::checkable(&order.verification.code_hash) {
        tracing::warn!(order_id = %order.order_id, reason = "code_unavailable", why = %why, "order stored, but its short code cannot be checked on this box; verify by pass or ID");
    }
    Ok(order)
}

/// Polls every `poll_interval`, at once after "sync now" or when the uplink
/// recovers, until cancelled.
pub(super) async fn run(ctx: SyncContext, cancel: CancellationToken) {
    loop {
        if let Err(e) = poll_once(&ctx).await {
            tracing::warn!(error = %e, "order feed not read; retrying at the next poll");
            ctx.link.failed(&ctx, &format!("downlink: {e}")).await;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(poll_wait(ctx.settings.poll_interval)) => {}
            _ = ctx.now_downlink.notified() => {}
        }
    }
}

/// The poll interval, jittered to 0.75–1.25× unless jitter is off (bench).
fn poll_wait(interval: std::time::Duration) -> std::time::Duration {
    match super::uplink::jitter() {
        Some(random) => super::batch::jittered_interval(interval, random),
        None => interval,
    }
}

fn ok_json<T: serde::de::DeserializeOwned>(answer: Answer, what: &str) -> Result<T, String> {
    if answer.status != 200 {
        return Err(format!("{what}: central answered {}", answer.status));
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("{what}: malformed answer: {e}"))
}

/// One full poll: keys, then pages until `has_more` is false.
pub(super) async fn poll_once(ctx: &SyncContext) -> Result<(), String> {
    refresh_keys(ctx).await?;
    let mut pages = 0;
    loop {
        let cursor = {
            let conn = ctx.readers.get().map_err(|e| e.to_string())?;
            meta::get(&conn, MetaKey::DownlinkCursor).map_err(|e| e.to_string())?
        };
        let answer = ctx
            .client
            .orders_page(cursor.as_deref(), PAGE_LIMIT)
            .await
            .map_err(|e| format!("order feed: {e}"))?;
        let page: Page = ok_json(answer, "order feed")?;
        let mut orders = Vec::with_capacity(page.orders.len());
        for doc in &page.orders {
            match check_order(doc) {
                Ok(o) => orders.push(o),
                Err(problem) => {
                    // Kept out of the database, never silently: the log says
                    // which order and why, for central to fix and resend.
                    let id = doc.get("order_id").and_then(Value::as_str).unwrap_or("?");
                    tracing::error!(order_id = id, problem = %problem, "ALARM: central sent an order document that breaks the contract; skipped");
                }
            }
        }
        let next = page.next_cursor.clone();
        let grace = ctx.no_show_grace.as_secs() as i64;
        // ONE writer op: the page's orders, their events and the cursor
        // after them commit together, so a crash repeats or loses nothing.
        let stored = ctx
            .writer
            .run(orders.len() as u64 * 2048, move |w| {
                let now = time::OffsetDateTime::now_utc();
                let outcome = central::central_page(w, &orders, now, grace)?;
                meta::set(
                    w,
                    &[
                        (MetaKey::DownlinkCursor, Some(next)),
                        (
                            MetaKey::DownlinkCursorAt,
                            Some(crate::events::format_time(now)),
                        ),
                    ],
                )?;
                Ok(outcome)
            })
            .await
            .map_err(|e| format!("cannot store the order page: {e}"))?;
        if stored.new + stored.updated > 0 {
            ctx.orders_changed.notify_one();
            tracing::info!(
                new = stored.new,
                updated = stored.updated,
                ignored_older = stored.ignored_older,
                "pickup orders received"
            );
        }
        pages += 1;
        if !page.has_more || pages > 10_000 {
            break;
        }
    }
    ctx.link.succeeded(ctx).await;
    Ok(())
}

#[derive(Deserialize)]
struct Keys {
    keys: Vec<Key>,
}

#[derive(Deserialize)]
struct Key {
    kid: String,
    alg: String,
    public_key: String,
}

async fn refresh_keys(ctx: &SyncContext) -> Result<(), String> {
    use base64::Engine;
    let answer = ctx
        .client
        .pickup_keys()
        .await
        .map_err(|e| format!("pickup keys: {e}"))?;
    let keys: Keys = ok_json(answer, "pickup keys")?;
    let mut parsed = Vec::new();
    for k in keys.keys {
        if k.alg != "Ed25519" {
            continue;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k.public_key.trim_end_matches('='))
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
        match bytes {
            Some(b) => parsed.push((k.kid, b)),
            None => {
                tracing::warn!(kid = %k.kid, "pickup key is not a 32-byte base64url Ed25519 key; ignored")
            }
        }
    }
    if parsed.is_empty() {
        // Keep the cached keys: passes stay verifiable offline.
        return Err("central listed no usable pickup keys; keeping the cached ones".into());
    }
    ctx.writer
        .run(0, move |w| store_sync::replace_keys(w, &parsed))
        .await
        .map_err(|e| format!("cannot store pickup keys: {e}"))?;
    Ok(())
}

/// How long ago the cursor was last stored.
pub fn cursor_age(conn: &ReadConn) -> Option<Duration> {
    let at = meta::get(conn, MetaKey::DownlinkCursorAt).ok().flatten()?;
    let at = crate::events::parse_time(&at).ok()?;
    let age = time::OffsetDateTime::now_utc() - at;
    Some(Duration::from_secs(age.whole_seconds().max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({
            "order_id": "W-1001", "version": 1, "status": "open", "channel": "chat",
            "created_at": "2026-11-25T10:00:00Z", "pickup_by": "2026-11-28T18:00:00+01:00",
            "customer": {"display_name": "Julia M."},
            "items": [{"line_id": "1", "sku": "SOFA-GRN", "name": "Green velvet sofa", "quantity": 1}],
            "verification": {"code_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"}
        })
    }

    #[test]
    fn a_contract_order_is_accepted() {
        let o = check_order(&order()).unwrap();
        assert_eq!(
            (o.order_id.as_str(), o.version, o.items.len()),
            ("W-1001", 1, 1)
        );
    }

    #[test]
    fn broken_orders_say_why() {
        let cases: [(&str, Value, &str); 5] = [
            ("/version", json!(0), "version"),
            ("/status", json!("picked"), "status"),
            ("/items", json!([]), "items"),
            ("/pickup_by", json!("friday"), "pickup_by"),
            ("/verification/code_hash", json!("123456"), "argon2id"),
        ];
        for (pointer, value, want) in cases {
            let mut doc = order();
            *doc.pointer_mut(pointer).unwrap() = value;
            let err = check_order(&doc).unwrap_err();
            assert!(err.contains(want), "{pointer}: {err}");
        }
    }
}
