//! Pickup pass recognition (`SEP1.<payload>.<signature>`, events.md): split, decode the
//! base64url payload and signature, read the compact JSON claims. It must never verify the
//! signature (the pickup module does that with ed25519-dalek and the store's key list),
//! never judge expiry (that needs the clock), never panic or do I/O, and never let the
//! pass itself (a bearer credential for collecting an order) reach serde, Debug output or
//! error reasons.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::ScanError;

/// Prefix of every pickup pass.
pub const PASS_PREFIX: &str = "SEP1.";

/// Longest accepted `oid`/`sid`/`kid`; real ids are far shorter.
const MAX_ID_LEN: usize = 128;

/// A recognised, **unverified** pickup pass.
///
/// Serialising it gives only the claims; `signed_part` and `signature` are skipped and its
/// `Debug` elides them, because together they let anyone collect the order.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PickupPass {
    /// `oid` claim.
    pub order_id: String,
    /// `sid` claim: the store the pass is for (the caller compares it with its own).
    pub store_id: String,
    /// `kid` claim: which pickup key signed it.
    pub key_id: String,
    /// `exp` claim, unix seconds.
    pub expires_at_unix: i64,
    /// `SEP1.<payload>`: the exact bytes the Ed25519 signature covers.
    #[serde(skip)]
    pub signed_part: String,
    /// The 64-byte Ed25519 signature, decoded.
    #[serde(skip)]
    pub signature: [u8; 64],
}

impl fmt::Debug for PickupPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PickupPass")
            .field("order_id", &self.order_id)
            .field("store_id", &self.store_id)
            .field("key_id", &self.key_id)
            .field("expires_at_unix", &self.expires_at_unix)
            .field(
                "signed_part",
                &format_args!("<{} bytes>", self.signed_part.len()),
            )
            .field("signature", &format_args!("<64 bytes>"))
            .finish()
    }
}

/// The payload claims. Unknown extra claims are tolerated so a newer central can add some.
#[derive(Deserialize)]
struct Claims {
    oid: String,
    sid: String,
    kid: String,
    exp: i64,
}

/// True when the frame claims to be a pickup pass (so errors become "invalid pass").
pub fn looks_like_pass(s: &str) -> bool {
    s.starts_with(PASS_PREFIX)
}

fn check_id(value: &str, claim: &str) -> Result<(), ScanError> {
    if value.is_empty() || value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
        return Err(ScanError::new(format!(
            "the pickup pass claim '{claim}' is empty, too long or has control characters"
        )));
    }
    Ok(())
}

/// Recognise a pickup pass and decode its parts. Does not verify the signature.
pub fn parse_pass(s: &str) -> Result<PickupPass, ScanError> {
    let rest = s
        .strip_prefix(PASS_PREFIX)
        .ok_or_else(|| ScanError::new("a pickup pass starts with 'SEP1.'"))?;
    let (payload_b64, signature_b64) = rest
        .split_once('.')
        .ok_or_else(|| ScanError::new("the pickup pass has no signature part"))?;
    if signature_b64.contains('.') {
        return Err(ScanError::new("the pickup pass has more than three parts"));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| ScanError::new("the pickup pass payload is not base64url without padding"))?;
    // A JSON object in valid UTF-8: serde alone would also take an array in
    // field order, and skips unknown strings without checking their UTF-8.
    let payload = std::str::from_utf8(&payload)
        .ok()
        .filter(|p| p.trim_start().starts_with('{'))
        .ok_or_else(|| {
            ScanError::new("the pickup pass payload is not JSON (a UTF-8 JSON object is required)")
        })?;
    let claims: Claims = serde_json::from_str(payload).map_err(|_| {
        ScanError::new("the pickup pass payload is not JSON with oid, sid, kid and exp")
    })?;
    check_id(&claims.oid, "oid")?;
    check_id(&claims.sid, "sid")?;
    check_id(&claims.kid, "kid")?;
    if claims.exp < 0 {
        return Err(ScanError::new("the pickup pass expiry is negative"));
    }
    let signature_bytes = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| {
        ScanError::new("the pickup pass signature is not base64url without padding")
    })?;
    let signature: [u8; 64] = signature_bytes
        .as_slice()
        .try_into()
        .map_err(|_| ScanError::new("the pickup pass signature is not 64 bytes"))?;
    // The signed part is the input up to (not including) the second dot.
    let signed_part = format!("{PASS_PREFIX}{payload_b64}");
    Ok(PickupPass {
        order_id: claims.oid,
        store_id: claims.sid,
        key_id: claims.kid,
        expires_at_unix: claims.exp,
        signed_part,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with python3: payload {"oid":"O-1001","sid":"S-042","kid":"k1","exp":1767225600},
    /// signature = bytes 0..64 (not a real signature; this module does not verify).
    const PASS: &str = "SEP1.eyJvaWQiOiJPLTEwMDEiLCJzaWQiOiJTLTA0MiIsImtpZCI6ImsxIiwiZXhwIjoxNzY3MjI1NjAwfQ.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw";

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn sig() -> String {
        URL_SAFE_NO_PAD.encode([7u8; 64])
    }

    fn check(input: &str, expected: Result<(&str, &str, &str, i64), &str>) {
        match (parse_pass(input), expected) {
            (Ok(p), Ok((oid, sid, kid, exp))) => {
                assert_eq!(
                    (
                        p.order_id.as_str(),
                        p.store_id.as_str(),
                        p.key_id.as_str(),
                        p.expires_at_unix
                    ),
                    (oid, sid, kid, exp)
                );
                assert!(input.starts_with(&p.signed_part));
                assert_eq!(input.len(), p.signed_part.len() + 1 + 86);
            }
            (Err(e), Err(part)) => assert!(e.reason().contains(part), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    /// Found by the `pickup_pass` fuzz target: serde took a JSON array in
    /// claim order, and invalid UTF-8 inside an unknown claim.
    #[test]
    fn payload_must_be_a_json_object_in_utf8() {
        let array = format!("SEP1.{}.{}", b64(r#"["O","S","k",1]"#), sig());
        check(&array, Err("not JSON"));
        let mut bad = br#"{"oid":"O","sid":"S","kid":"k","exp":1,"x":""#.to_vec();
        bad.extend_from_slice(b"\xfc\"}");
        let bad_utf8 = format!("SEP1.{}.{}", URL_SAFE_NO_PAD.encode(&bad), sig());
        check(&bad_utf8, Err("not JSON"));
        let fine = format!(
            "SEP1.{}.{}",
            b64(r#" {"oid":"O","sid":"S","kid":"k","exp":1}"#),
            sig()
        );
        check(&fine, Ok(("O", "S", "k", 1)));
    }

    #[test]
    fn pass_vectors() {
        check(PASS, Ok(("O-1001", "S-042", "k1", 1_767_225_600)));
        let p = parse_pass(PASS).unwrap();
        let mut expected_sig = [0u8; 64];
        for (i, b) in expected_sig.iter_mut().enumerate() {
            *b = i as u8;
        }
        assert_eq!(p.signature, expected_sig);
        assert_eq!(
            p.signed_part,
            "SEP1.eyJvaWQiOiJPLTEwMDEiLCJzaWQiOiJTLTA0MiIsImtpZCI6ImsxIiwiZXhwIjoxNzY3MjI1NjAwfQ"
        );
        // Extra claims are tolerated.
        let extra = b64(r#"{"oid":"O-1","sid":"S-1","kid":"k","exp":1,"v":2}"#);
        check(
            &format!("SEP1.{extra}.{}", sig()),
            Ok(("O-1", "S-1", "k", 1)),
        );
    }

    #[test]
    fn pass_rejections() {
        let good = b64(r#"{"oid":"O-1","sid":"S-1","kid":"k","exp":1}"#);
        check("SEP1.", Err("no signature part"));
        check(&format!("SEP1.{good}"), Err("no signature part"));
        check(
            &format!("SEP1.{good}.{}.x", sig()),
            Err("more than three parts"),
        );
        check(
            &format!("SEP1.{good}=.{}", sig()),
            Err("payload is not base64url"),
        );
        check(
            &format!("SEP1.{good}.{}=", sig()),
            Err("signature is not base64url"),
        );
        check(&format!("SEP1.{good}.AAAA"), Err("not 64 bytes"));
        check(
            &format!("SEP1.{}.{}", b64("not json"), sig()),
            Err("not JSON"),
        );
        check(
            &format!("SEP1.{}.{}", b64(r#"{"oid":"O"}"#), sig()),
            Err("not JSON"),
        );
        check(
            &format!(
                "SEP1.{}.{}",
                b64(r#"{"oid":"O","sid":"S","kid":"k","exp":"1"}"#),
                sig()
            ),
            Err("not JSON"),
        );
        check(
            &format!(
                "SEP1.{}.{}",
                b64(r#"{"oid":"","sid":"S","kid":"k","exp":1}"#),
                sig()
            ),
            Err("'oid'"),
        );
        check(
            &format!(
                "SEP1.{}.{}",
                b64(r#"{"oid":"O\u0000","sid":"S","kid":"k","exp":1}"#),
                sig()
            ),
            Err("'oid'"),
        );
        check(
            &format!(
                "SEP1.{}.{}",
                b64(r#"{"oid":"O","sid":"S","kid":"k","exp":-5}"#),
                sig()
            ),
            Err("negative"),
        );
        check("SEP2.x.y", Err("starts with 'SEP1.'"));
    }

    #[test]
    fn debug_and_json_hide_the_credential() {
        let p = parse_pass(PASS).unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("eyJ"), "{debug}");
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            !json.contains("eyJ") && !json.contains("signature"),
            "{json}"
        );
        assert!(json.contains("\"order_id\":\"O-1001\""), "{json}");
    }
}
