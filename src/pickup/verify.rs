//! Checking a customer at the counter without a network: the Ed25519
//! pickup pass against the cached keys (argon2id codes and PINs are checked
//! on `hasher.rs`'s threads). Pure functions; the caller decides what to
//! record.
//!
//! Must never: log or keep a clear code or PIN, or accept a pass whose
//! signature it did not verify.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use serde::Serialize;

use super::State;
use crate::scan::pass::{parse_pass, PickupPass};

/// Why a customer's pass or code was not accepted (the `reason` of a 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    BadSignature,
    UnknownKey,
    Expired,
    OtherStore,
    UnknownOrder,
    WrongCode,
    AlreadyHandedOver,
    Cancelled,
    Refused,
    NoShow,
    /// The order's `code_hash` cannot be checked on this box (not argon2id,
    /// or costlier than central issues); the pass and the ID check still work.
    CodeUnavailable,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadSignature => "bad_signature",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Expired => "expired",
            Refusal::OtherStore => "other_store",
            Refusal::UnknownOrder => "unknown_order",
            Refusal::WrongCode => "wrong_code",
            Refusal::AlreadyHandedOver => "already_handed_over",
            Refusal::Cancelled => "cancelled",
            Refusal::Refused => "refused",
            Refusal::NoShow => "no_show",
            Refusal::CodeUnavailable => "code_unavailable",
        }
    }

    /// Whether a customer may be verified for an order in `state`.
    pub fn for_state(state: State) -> Option<Refusal> {
        match state {
            State::Received | State::Picking | State::Ready => None,
            State::HandedOver | State::PartiallyHandedOver => Some(Refusal::AlreadyHandedOver),
            State::Cancelled => Some(Refusal::Cancelled),
            State::Refused => Some(Refusal::Refused),
            State::NoShow => Some(Refusal::NoShow),
        }
    }
}

/// Clock skew allowed on a pass's expiry (events.md: 5 minutes).
pub const PASS_EXPIRY_SKEW_S: i64 = 300;

/// The order a pass is for, if it is valid for `store_id` at `now_unix`
/// (the order's own state is checked by the caller).
pub fn check_pass(
    text: &str,
    keys: &[(String, [u8; 32])],
    store_id: &str,
    now_unix: i64,
) -> Result<String, Refusal> {
    let pass = parse_pass(text.trim()).map_err(|_| Refusal::BadSignature)?;
    check_parsed_pass(&pass, keys, store_id, now_unix)
}

/// [`check_pass`] for a pass already parsed (e.g. by a scanner's decoder).
pub fn check_parsed_pass(
    pass: &PickupPass,
    keys: &[(String, [u8; 32])],
    store_id: &str,
    now_unix: i64,
) -> Result<String, Refusal> {
    let (_, key) = keys
        .iter()
        .find(|(kid, _)| *kid == pass.key_id)
        .ok_or(Refusal::UnknownKey)?;
    let key = VerifyingKey::from_bytes(key).map_err(|_| Refusal::UnknownKey)?;
    key.verify(
        pass.signed_part.as_bytes(),
        &Signature::from_bytes(&pass.signature),
    )
    .map_err(|_| Refusal::BadSignature)?;
    if pass.store_id != store_id {
        return Err(Refusal::OtherStore);
    }
    if pass.expires_at_unix + PASS_EXPIRY_SKEW_S < now_unix {
        return Err(Refusal::Expired);
    }
    Ok(pass.order_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};

    fn pass(key: &SigningKey, claims: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signed = format!("SEP1.{}", b64.encode(claims));
        let sig = key.sign(signed.as_bytes());
        format!("{signed}.{}", b64.encode(sig.to_bytes()))
    }

    #[test]
    fn a_pass_is_checked_signature_first_then_store_then_expiry() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let keys = vec![("k1".to_owned(), key.verifying_key().to_bytes())];
        let now = 1_800_000_000;
        let good = pass(
            &key,
            &format!(
                r#"{{"oid":"W-1","sid":"berlin-01","kid":"k1","exp":{}}}"#,
                now + 60
            ),
        );
        assert_eq!(check_pass(&good, &keys, "berlin-01", now), Ok("W-1".into()));
        assert_eq!(
            check_pass(&good, &keys, "hamburg-02", now),
            Err(Refusal::OtherStore)
        );
        assert_eq!(
            check_pass(&good, &keys, "berlin-01", now + 60 + 301),
            Err(Refusal::Expired)
        );
        assert_eq!(
            check_pass(&good, &keys, "berlin-01", now + 60 + 299),
            Ok("W-1".into()),
            "five minutes of skew"
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        let forged = pass(
            &other,
            &format!(
                r#"{{"oid":"W-1","sid":"berlin-01","kid":"k1","exp":{}}}"#,
                now + 60
            ),
        );
        assert_eq!(
            check_pass(&forged, &keys, "berlin-01", now),
            Err(Refusal::BadSignature)
        );
        let unknown = pass(
            &key,
            &format!(
                r#"{{"oid":"W-1","sid":"berlin-01","kid":"k9","exp":{}}}"#,
                now + 60
            ),
        );
        assert_eq!(
            check_pass(&unknown, &keys, "berlin-01", now),
            Err(Refusal::UnknownKey)
        );
        assert_eq!(
            check_pass("SEP1.garbage", &keys, "berlin-01", now),
            Err(Refusal::BadSignature)
        );
    }
}
