//! Checking a customer at the counter without a network: the Ed25519
//! pickup pass against the cached keys, and argon2id hashes of short codes
//! and staff PINs. Pure functions; the caller decides what to record.
//!
//! Must never: log or keep a clear code or PIN, or accept a pass whose
//! signature it did not verify.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use super::workflow::Refusal;
use crate::scan::pass::{parse_pass, PickupPass};

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

/// An argon2id PHC string of `secret` (a code or a PIN), salted at random.
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness available: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `secret` matches the PHC string (a malformed hash never matches):
/// the argon2 crate's own verifier, the reference the hashing threads are
/// tested against (the service checks through `pickup::hasher`).
#[cfg(test)]
pub fn secret_matches(phc: &str, secret: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random code of `digits` decimal digits.
pub fn random_digits(digits: usize) -> Result<String, String> {
    let mut out = String::with_capacity(digits);
    while out.len() < digits {
        let mut b = [0u8; 1];
        getrandom::fill(&mut b).map_err(|e| format!("no randomness available: {e}"))?;
        // Rejection sampling keeps every digit equally likely.
        if b[0] < 250 {
            out.push(char::from(b'0' + b[0] % 10));
        }
    }
    Ok(out)
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

    #[test]
    fn secrets_hash_and_match() {
        let h = hash_secret("4711").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("4711"));
        assert!(secret_matches(&h, "4711"));
        assert!(!secret_matches(&h, "4712"));
        assert!(!secret_matches("not a hash", "4711"));
        let code = random_digits(6).unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }
}
