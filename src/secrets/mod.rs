//! Random codes and hashing helpers, shared by `store/` (API tokens and
//! tablet pairing codes) and `pickup/` (reservation codes), and the one
//! argon2id hash the commands make (`store-edge staff add`).
//!
//! A leaf: it imports nothing of the crate, so anything may use it.
//! Must never: log, keep or print what it makes; draw a code from anything
//! but the operating system's randomness.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// Why a code or hash could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("no randomness available: {0}")]
    NoRandomness(getrandom::Error),
    #[error("cannot hash the secret: {0}")]
    Hash(String),
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretsError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(SecretsError::NoRandomness)?;
    Ok(bytes)
}

/// A random code of `digits` decimal digits, every digit equally likely.
pub fn random_digits(digits: usize) -> Result<String, SecretsError> {
    let mut out = String::with_capacity(digits);
    while out.len() < digits {
        let [b] = random_bytes::<1>()?;
        // Rejection sampling keeps every digit equally likely.
        if b < 250 {
            out.push(char::from(b'0' + b % 10));
        }
    }
    Ok(out)
}

/// The SHA-256 of `bytes`: enough for 256-bit random tokens and for codes
/// that are single use and short-lived (no stretching needed).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An argon2id PHC string of `secret` (a code or a PIN), salted at random,
/// with the argon2 crate's default cost (what `pickup/hasher.rs` checks).
pub fn hash_secret(secret: &str) -> Result<String, SecretsError> {
    let salt = random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecretsError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretsError::Hash(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn every_digit_comes_up() {
        let codes = random_digits(2000).unwrap();
        for d in b'0'..=b'9' {
            assert!(codes.bytes().any(|b| b == d), "{}", char::from(d));
        }
        assert_eq!(
            sha256(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256 of \"abc\""
        );
    }
}
