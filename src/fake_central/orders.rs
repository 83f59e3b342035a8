//! The downlink: the pickup order change feed (an append-only list read
//! with an opaque cursor) and the Ed25519 keys that sign pickup passes,
//! plus making passes (`SEP1.<payload>.<signature>`, events.md).
//!
//! Must never hand out a cursor that skips or repeats a change, and never
//! serve the secret half of the key.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;
use serde_json::{json, Value};

use super::problem::Problem;
use super::{faults, lock, Shared, PICKUP_KEY_ID};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

#[derive(Deserialize)]
pub(crate) struct FeedQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

pub(crate) async fn list_orders(
    State(shared): State<Shared>,
    Path(store_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Response {
    // Held until the answer is made: the request counts against capacity.
    let _admitted = match shared.admit(&store_id, &headers).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return Problem::bad_request(e.body_text()).into_response(),
    };
    let page = {
        let feed = lock(&shared.inner.feed);
        read_page(&feed, query.cursor.as_deref(), query.limit.as_deref())
    };
    match page {
        Ok(page) => {
            faults::drop_answer(&shared.inner).unwrap_or_else(|| Json(page).into_response())
        }
        Err(problem) => problem.into_response(),
    }
}

/// One page of the feed: `{"orders", "next_cursor", "has_more"}`. At the
/// end, `next_cursor` encodes the current end, so polling with it again
/// returns only changes made since.
fn read_page(feed: &[Value], cursor: Option<&str>, limit: Option<&str>) -> Result<Value, Problem> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::bad_request(format!("`limit` must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let start = match cursor {
        None | Some("") => 0,
        Some(text) => decode_cursor(text)
            .filter(|&i| i <= feed.len())
            .ok_or_else(|| {
                Problem::bad_request(
                    "unknown `cursor`; use a `next_cursor` this feed gave, or none to start over",
                )
            })?,
    };
    let end = start.saturating_add(limit).min(feed.len());
    Ok(json!({
        "orders": &feed[start..end],
        "next_cursor": encode_cursor(end),
        "has_more": end < feed.len(),
    }))
}

fn encode_cursor(index: usize) -> String {
    format!("c{index}")
}

fn decode_cursor(text: &str) -> Option<usize> {
    let digits = text.strip_prefix('c')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) async fn pickup_keys(
    State(shared): State<Shared>,
    Path(store_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    // Held until the answer is made: the request counts against capacity.
    let _admitted = match shared.admit(&store_id, &headers).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    faults::drop_answer(&shared.inner)
        .unwrap_or_else(|| Json(public_keys(&shared.inner.key)).into_response())
}

pub(crate) fn public_keys(key: &SigningKey) -> Value {
    json!({"keys": [{
        "kid": PICKUP_KEY_ID,
        "alg": "Ed25519",
        "public_key": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
    }]})
}

/// `SEP1.` + base64url(compact claims) + `.` + base64url(signature over
/// the ASCII of `SEP1.<payload>`), all without padding.
pub(crate) fn sign_pass(key: &SigningKey, order_id: &str, store_id: &str, exp_unix: i64) -> String {
    // Written by hand to keep the claims in the order events.md shows
    // (json! would sort them); `Value`'s Display escapes the strings.
    let claims = format!(
        r#"{{"oid":{},"sid":{},"kid":{},"exp":{exp_unix}}}"#,
        Value::from(order_id),
        Value::from(store_id),
        Value::from(PICKUP_KEY_ID),
    );
    let signed_part = format!("SEP1.{}", URL_SAFE_NO_PAD.encode(claims));
    let signature = key.sign(signed_part.as_bytes());
    format!(
        "{signed_part}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    fn feed(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"order_id": format!("O-{i}"), "version": 1}))
            .collect()
    }

    fn ids(page: &Value) -> Vec<&str> {
        page["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn pages_follow_the_cursor_to_the_end() {
        let f = feed(5);
        let p1 = read_page(&f, None, Some("2")).unwrap();
        assert_eq!(ids(&p1), ["O-0", "O-1"]);
        assert_eq!(p1["has_more"], true);
        let p2 = read_page(&f, p1["next_cursor"].as_str(), Some("2")).unwrap();
        assert_eq!(ids(&p2), ["O-2", "O-3"]);
        let p3 = read_page(&f, p2["next_cursor"].as_str(), Some("2")).unwrap();
        assert_eq!(ids(&p3), ["O-4"]);
        assert_eq!(p3["has_more"], false);
        let p4 = read_page(&f, p3["next_cursor"].as_str(), None).unwrap();
        assert!(ids(&p4).is_empty());
        assert_eq!(p4["next_cursor"], p3["next_cursor"]);
    }

    #[test]
    fn bad_limits_and_cursors_are_refused() {
        let f = feed(3);
        for limit in ["0", "501", "-1", "ten", ""] {
            assert!(read_page(&f, None, Some(limit)).is_err(), "{limit}");
        }
        assert!(read_page(&f, None, Some("500")).is_ok());
        for cursor in ["c4", "x1", "c", "c-1", "c+1", "1"] {
            assert!(read_page(&f, Some(cursor), None).is_err(), "{cursor}");
        }
        assert!(read_page(&f, Some("c3"), None).is_ok());
    }

    #[test]
    fn a_signed_pass_verifies_with_the_published_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let pass = sign_pass(&key, "O-1", "s1", 1_800_000_000);
        let (signed_part, signature) = pass.rsplit_once('.').unwrap();
        let payload = signed_part.strip_prefix("SEP1.").unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({"oid": "O-1", "sid": "s1", "kid": PICKUP_KEY_ID, "exp": 1_800_000_000})
        );
        assert!(URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap()
            .starts_with(b"{\"oid\":\"O-1\",\"sid\""));
        let published = public_keys(&key);
        let bytes = URL_SAFE_NO_PAD
            .decode(published["keys"][0]["public_key"].as_str().unwrap())
            .unwrap();
        let verifying = VerifyingKey::from_bytes(&bytes.try_into().unwrap()).unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let signature = Signature::from_bytes(&signature.try_into().unwrap());
        verifying
            .verify(signed_part.as_bytes(), &signature)
            .unwrap();
    }
}
