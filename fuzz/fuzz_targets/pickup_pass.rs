//! `scan::pass::parse_pass` on arbitrary UTF-8 (invalid UTF-8 is replaced by U+FFFD), and,
//! so that the fuzzer reaches the claims parser without having to invent base64, on
//! `SEP1.<base64url(input)>.<valid 64-byte signature>`. A recognised pass has claims in
//! range (checked against an independent JSON parse in the second form) and never shows its
//! signed part in JSON or Debug output; errors echo no data.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use store_edge_fuzz::invariants::{check_pass, check_reason};
use store_edge_fuzz::scan::pass;

fn check(input: &str) -> Option<pass::PickupPass> {
    match pass::parse_pass(input) {
        Ok(p) => {
            assert!(pass::looks_like_pass(input));
            check_pass(&p, input);
            Some(p)
        }
        Err(e) => {
            check_reason(e.reason());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    if !text.starts_with(pass::PASS_PREFIX) {
        assert!(pass::parse_pass(&text).is_err());
    }

    let signature = URL_SAFE_NO_PAD.encode([0x5a_u8; 64]);
    let framed = format!("SEP1.{}.{signature}", URL_SAFE_NO_PAD.encode(data));
    if let Some(p) = check(&framed) {
        assert_eq!(p.signature, [0x5a_u8; 64]);
        // The claims must agree with an independent parse of the payload. serde's derive
        // is laxer than "a JSON object" in two ways, accepted here (see the fuzzing
        // report): invalid UTF-8 inside a claim it ignores is not checked (then the
        // payload is not JSON text and there is nothing to compare), and the claims may
        // come as an array `[oid, sid, kid, exp]`.
        let claims = match serde_json::from_slice::<Value>(data) {
            Ok(Value::Array(a)) => {
                assert_eq!(a.len(), 4, "claims array");
                ["oid", "sid", "kid", "exp"]
                    .into_iter()
                    .zip(a)
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            }
            Ok(Value::Object(o)) => o,
            Ok(other) => panic!("claims from {other}"),
            Err(_) => return,
        };
        assert_eq!(claims["oid"].as_str(), Some(p.order_id.as_str()));
        assert_eq!(claims["sid"].as_str(), Some(p.store_id.as_str()));
        assert_eq!(claims["kid"].as_str(), Some(p.key_id.as_str()));
        assert_eq!(claims["exp"].as_i64(), Some(p.expires_at_unix));
    }
});
