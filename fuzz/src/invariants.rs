//! Fixed configuration and the cheap invariant checks shared by the fuzz targets. Every
//! check is a plain `assert!`: a violated invariant is a crash, like a panic inside the code
//! under test, and libFuzzer saves the input.
//!
//! The "no clear number / no echoed data" checks rest on one fact: nothing this module
//! checks may show a run of more than 4 ASCII digits, except where the value legitimately
//! is data (product fields, pass claims, the HMAC token). Masked numbers show 4 digits at
//! most; error reasons carry AI numbers (2-4 digits) and lengths/positions (at most 4096,
//! since frames are at most 4096 bytes). So a run of 5+ digits there means input leaked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::scan::gs1::{self, Gs1Data};
use crate::scan::{
    customer_token, gtin, mask, pan, Check, DecodeConfig, Decoded, LoyaltyCard, LoyaltyProgram,
    Method, PickupPass, Product,
};

/// Current year given to the decoders (any fixed value works; 2025 as in the unit tests).
pub const YEAR: i32 = 2025;

/// Token key 0, 1, ..., 31 (as in the unit tests).
pub const KEY: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];

/// One program per check rule, as in the unit tests. No program name contains a digit
/// (the digit-run checks rely on that).
pub fn programs() -> Vec<LoyaltyProgram> {
    vec![
        LoyaltyProgram {
            name: "instore".into(),
            prefix: Some("24".into()),
            length: Some(13),
            check: Check::Gtin,
            regex: None,
        },
        LoyaltyProgram {
            name: "club".into(),
            prefix: Some("LOY".into()),
            length: None,
            check: Check::None,
            regex: None,
        },
        LoyaltyProgram {
            name: "test-cards".into(),
            prefix: Some("4111".into()),
            length: Some(16),
            check: Check::Luhn,
            regex: None,
        },
    ]
}

/// Barcode scanner with the programs and the token key.
pub fn scanner() -> DecodeConfig {
    DecodeConfig::scanner(YEAR)
        .with_programs(programs())
        .with_token_key(KEY)
}

/// Card reader with the programs and the token key.
pub fn reader() -> DecodeConfig {
    DecodeConfig::card_reader(YEAR)
        .with_programs(programs())
        .with_token_key(KEY)
}

/// Length of the longest run of ASCII digits in `s`.
pub fn longest_digit_run(s: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    for b in s {
        if b.is_ascii_digit() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Every maximal run of at least `min` ASCII digits in `s`.
pub fn digit_runs(s: &[u8], min: usize) -> Vec<&[u8]> {
    s.split(|b| !b.is_ascii_digit())
        .filter(|r| r.len() >= min)
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// An error reason (or "unknown" reason): a short sentence that echoes no data.
pub fn check_reason(reason: &str) {
    assert!(!reason.is_empty(), "empty reason");
    assert!(reason.len() <= 200, "reason too long: {reason:?}");
    assert!(
        longest_digit_run(reason.as_bytes()) <= 4,
        "reason echoes a number from the input: {reason:?}"
    );
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD` that agrees with the `YYMMDD` it was expanded from, in the GS1 window.
pub fn check_expanded_date(yymmdd: &str, expanded: &str, year: i32) {
    let b = expanded.as_bytes();
    assert!(
        b.len() == 10 && b[4] == b'-' && b[7] == b'-',
        "bad date format {expanded:?}"
    );
    let num = |r: std::ops::Range<usize>| -> i64 {
        expanded
            .get(r)
            .filter(|p| is_digits(p))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad date {expanded:?}"))
    };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let src = |r: std::ops::Range<usize>| -> i64 { yymmdd[r].parse().unwrap() };
    assert_eq!(y % 100, src(0..2), "{yymmdd} -> {expanded}");
    assert_eq!(m, src(2..4), "{yymmdd} -> {expanded}");
    let dd = src(4..6);
    assert!(dd == 0 || dd == d, "{yymmdd} -> {expanded}");
    assert!((1..=31).contains(&d), "{yymmdd} -> {expanded}");
    // Sliding window: never more than 49 years back or 50 ahead.
    let year = i64::from(year);
    assert!(
        (year - 49..=year + 50).contains(&y),
        "{yymmdd} -> {expanded} in {year}"
    );
}

/// Everything [`Gs1Data`] promises, given that `data` came from a successful parse.
pub fn check_gs1_data(data: &Gs1Data, year: i32) {
    assert!(!data.ais.is_empty(), "GS1 data without elements: {data:?}");
    for (ai, value) in &data.ais {
        assert!(gs1::is_known_ai(ai), "unknown AI {ai:?} accepted");
        assert!(!value.is_empty(), "AI ({ai}) empty");
        assert!(
            value.is_ascii() && !value.contains(gs1::GS),
            "AI ({ai}) value {value:?}"
        );
    }
    let ai = |k: &str| data.ais.get(k);
    assert_eq!(data.gtin.as_ref(), ai("01"));
    if let Some(g) = &data.gtin {
        assert!(
            g.len() == 14 && gtin::has_valid_check_digit(g),
            "gtin {g:?}"
        );
    }
    assert_eq!(data.sscc.as_ref(), ai("00"));
    if let Some(s) = &data.sscc {
        assert!(
            s.len() == 18 && gtin::has_valid_check_digit(s),
            "sscc {s:?}"
        );
    }
    assert_eq!(data.batch.as_ref(), ai("10"));
    assert_eq!(data.serial.as_ref(), ai("21"));
    for (field, k) in [
        (&data.expiry, "17"),
        (&data.best_before, "15"),
        (&data.production_date, "11"),
    ] {
        assert_eq!(field.is_some(), ai(k).is_some(), "AI ({k}) vs {field:?}");
        if let (Some(expanded), Some(raw)) = (field, ai(k)) {
            check_expanded_date(raw, expanded, year);
        }
    }
    let count = ai("30").or_else(|| ai("37"));
    assert_eq!(
        data.count,
        count.and_then(|c| c.parse::<u32>().ok()),
        "count"
    );
    let weight = data
        .ais
        .iter()
        .find(|(k, _)| k.len() == 4 && k.starts_with("310"));
    assert_eq!(data.net_weight_kg.is_some(), weight.is_some(), "net weight");
    if let (Some(kg), Some((k, raw))) = (&data.net_weight_kg, weight) {
        let decimals = usize::from(k.as_bytes()[3] - b'0');
        let (int, frac) = kg.split_once('.').unwrap_or((kg, ""));
        assert!(is_digits(int), "net weight {kg:?}");
        assert_eq!(frac.len(), decimals, "net weight {kg:?} from ({k}){raw}");
        assert!(frac.is_empty() || is_digits(frac), "net weight {kg:?}");
        let digits: String = kg.chars().filter(|c| *c != '.').collect();
        assert_eq!(
            digits.trim_start_matches('0'),
            raw.trim_start_matches('0'),
            "net weight {kg:?} from ({k}){raw}"
        );
    }
}

/// Primary keys that may start the path of a Digital Link (as in `digital_link.rs`).
const PRIMARY_KEYS: &[&str] = &[
    "00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8013", "8017",
    "8018",
];

/// Write `data` back in each GS1 form and parse it again: the same data must come back.
/// `data` must have passed [`check_gs1_data`].
pub fn check_gs1_round_trip(data: &Gs1Data, year: i32) {
    // FNC1 form with a GS after every element (after a predefined-length one it is
    // tolerated).
    let fnc1: String = data
        .ais
        .iter()
        .map(|(ai, v)| format!("{ai}{v}{}", gs1::GS))
        .collect();
    let again = gs1::parse_element_string(&fnc1, year)
        .unwrap_or_else(|e| panic!("{data:?} as element string {fnc1:?}: {e}"));
    assert_eq!(&again, data, "element string {fnc1:?}");

    // Bracket form, unless a value holds '(' (which that form cannot carry).
    if !data.ais.values().any(|v| v.contains('(')) {
        let bracket: String = data
            .ais
            .iter()
            .map(|(ai, v)| format!("({ai}){v}"))
            .collect();
        let again = gs1::parse_bracketed(&bracket, year)
            .unwrap_or_else(|e| panic!("{data:?} as bracket form {bracket:?}: {e}"));
        assert_eq!(&again, data, "bracket form {bracket:?}");
    }

    // Digital Link: the first primary key in the path, everything else in the query,
    // every value percent-encoded.
    if let Some((pk, pv)) = data
        .ais
        .iter()
        .find(|(ai, _)| PRIMARY_KEYS.contains(&ai.as_str()))
    {
        let enc = |v: &str| v.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let mut uri = format!("https://example.com/{pk}/{}", enc(pv));
        for (i, (ai, v)) in data.ais.iter().filter(|(ai, _)| *ai != pk).enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&format!("{ai}={}", enc(v)));
        }
        let again = crate::scan::digital_link::parse_digital_link(&uri, year)
            .unwrap_or_else(|e| panic!("{data:?} as Digital Link {uri:?}: {e}"))
            .unwrap_or_else(|| panic!("{data:?} as Digital Link {uri:?}: not recognised"));
        assert_eq!(&again, data, "Digital Link {uri:?}");
    }
}

/// A product result.
pub fn check_product(p: &Product, year: i32) {
    let sym = p.symbology.as_bytes();
    assert!(
        sym.len() == 3
            && sym[0] == b']'
            && sym[1].is_ascii_alphabetic()
            && sym[2].is_ascii_alphanumeric(),
        "symbology {:?}",
        p.symbology
    );
    assert_eq!(p.gtin_kind.is_some(), p.data.gtin.is_some(), "{p:?}");
    if let Some(addon) = &p.addon {
        assert_eq!(p.symbology, "]E3", "{p:?}");
        assert!(
            is_digits(addon) && matches!(addon.len(), 2 | 5),
            "addon {addon:?}"
        );
    }
    match &p.data.gtin {
        Some(g) => {
            assert!(
                g.len() == 14 && gtin::has_valid_check_digit(g),
                "gtin {g:?}"
            );
            assert_eq!(p.flags, gtin::prefix_flags(g), "{p:?}");
        }
        None => assert_eq!(p.flags, Default::default(), "{p:?}"),
    }
    if p.data.ais.is_empty() {
        // A linear GTIN (EAN/UPC/ITF): nothing but the GTIN.
        assert!(p.data.gtin.is_some(), "{p:?}");
        assert_eq!(
            p.data,
            Gs1Data {
                gtin: p.data.gtin.clone(),
                ..Gs1Data::default()
            }
        );
    } else {
        check_gs1_data(&p.data, year);
    }
}

/// A loyalty result from a config with [`KEY`] and [`programs`]: the clear number is
/// nowhere in the JSON or Debug output, the token is right and 43 characters long.
/// `input` is the raw frame.
pub fn check_loyalty(card: &LoyaltyCard, decoded: &Decoded, input: &[u8]) {
    let clear = card.number.expose();
    assert!(!clear.is_empty(), "empty loyalty number");
    let token = card
        .customer_token
        .as_deref()
        .expect("a token key is configured, so customer_token is set");
    assert_eq!(token.len(), 43, "customer_token {token:?}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "customer_token {token:?} is not base64url"
    );
    assert_eq!(
        token,
        customer_token(&KEY, clear),
        "token of another number"
    );
    assert_eq!(card.number_masked, mask(clear));
    let shown = card
        .number_masked
        .strip_prefix("****")
        .expect("masked number starts with ****");
    assert!(shown.chars().count() <= 4, "{:?}", card.number_masked);
    match card.method {
        Method::Magstripe => assert!(
            is_digits(clear) && clear.len() <= 19,
            "magstripe number of {} characters",
            clear.len()
        ),
        Method::Nfc => assert!(
            (4..=64).contains(&clear.len())
                && clear
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "NFC UID of {} characters is not upper-case hex",
            clear.len()
        ),
        Method::Barcode => assert!(card.program.is_some(), "barcode loyalty without program"),
    }
    if let Some(name) = &card.program {
        assert!(
            programs().iter().any(|p| &p.name == name),
            "program {name:?}"
        );
    }

    // Serialised and printed forms. The token is data (an HMAC): take it out first.
    let json = serde_json::to_string(decoded).expect("serialises");
    let value: Value = serde_json::from_str(&json).unwrap();
    let Value::Object(map) = &value else {
        panic!("not an object: {json}")
    };
    for k in map.keys() {
        assert!(
            [
                "kind",
                "number_masked",
                "program",
                "method",
                "customer_token"
            ]
            .contains(&k.as_str()),
            "unexpected loyalty field {k} in {json}"
        );
    }
    let json = json.replace(token, "");
    let debug = format!("{decoded:?}").replace(token, "");
    for (what, text) in [("JSON", &json), ("Debug", &debug)] {
        // The input's digit runs longer than 4 never appear ...
        for run in digit_runs(input, 5) {
            assert!(
                !contains(text.as_bytes(), run),
                "{what} shows {} input digits: {text}",
                run.len()
            );
        }
        // ... nor does any 5-digit run at all, nor the clear number.
        assert!(
            longest_digit_run(text.as_bytes()) <= 4,
            "{what} shows 5+ digits: {text}"
        );
        if clear.chars().count() > 4 {
            assert!(!text.contains(clear), "{what} shows the clear number");
        }
    }
}

/// A recognised pickup pass: claims in range, the credential (signed part and signature)
/// nowhere in the JSON or Debug output. `input` is the text `parse_pass` was given.
pub fn check_pass(p: &PickupPass, input: &str) {
    for id in [&p.order_id, &p.store_id, &p.key_id] {
        assert!(
            !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control),
            "claim {id:?}"
        );
    }
    assert!(p.expires_at_unix >= 0, "exp {}", p.expires_at_unix);
    assert!(p.signed_part.starts_with("SEP1."), "signed part");
    // The input is exactly `<signed part>.<signature>` (base64url without padding
    // decodes only canonical text, so encoding the signature gives it back).
    let sig = URL_SAFE_NO_PAD.encode(p.signature);
    assert_eq!(input, format!("{}.{sig}", p.signed_part), "pass parts");

    let json = serde_json::to_string(&Decoded::PickupPass(p.clone())).expect("serialises");
    let value: Value = serde_json::from_str(&json).unwrap();
    let Value::Object(map) = &value else {
        panic!("not an object: {json}")
    };
    for k in map.keys() {
        assert!(
            ["kind", "order_id", "store_id", "key_id", "expires_at_unix"].contains(&k.as_str()),
            "unexpected pass field {k} in {json}"
        );
    }
    // A claim is shorter than the signed part that carries it, so seeing the signed
    // part means the credential leaked. (The signature alone is not checked: a claim
    // may legitimately hold the same 86 characters.)
    let debug = format!("{p:?}");
    assert!(
        !json.contains(&p.signed_part),
        "JSON shows the pass: {json}"
    );
    assert!(
        !debug.contains(&p.signed_part),
        "Debug shows the pass: {debug}"
    );
}

/// The frame as `decode` trims it, if that is a bare card number (13–19 digits, Luhn).
fn bare_card_number(input: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(input).ok()?;
    let text = text.trim_matches(['\r', '\n', ' ']);
    pan::is_bare_card_number(text).then_some(text)
}

/// `raw_masked` of an "unknown" scan: only for a bare card number, and it shows its last
/// 4 digits and nothing else.
pub fn check_raw_masked(masked: &str, input: &[u8]) {
    let pan = bare_card_number(input)
        .unwrap_or_else(|| panic!("raw_masked {masked:?} for a frame that is no card number"));
    assert_eq!(masked, pan::mask_keep_last4(pan), "raw_masked");
    assert!(
        longest_digit_run(masked.as_bytes()) <= 4,
        "raw_masked {masked:?}"
    );
}

/// Any [`crate::scan::decode`] result, for a config with [`KEY`] and [`programs`].
pub fn check_decoded(decoded: &Decoded, input: &[u8], year: i32) {
    match decoded {
        Decoded::Loyalty(card) => check_loyalty(card, decoded, input),
        Decoded::Product(p) => check_product(p, year),
        Decoded::PickupPass(p) => {
            // What `parse_pass` saw is the trimmed frame without its AIM prefix: the
            // signed part and signature sit at its end.
            let text = std::str::from_utf8(input).expect("a pass came from UTF-8");
            let sig = URL_SAFE_NO_PAD.encode(p.signature);
            let whole = format!("{}.{sig}", p.signed_part);
            let start = text.find(&whole).expect("pass text is in the frame");
            check_pass(p, &text[start..start + whole.len()]);
        }
        Decoded::Unknown { reason, raw_masked } => {
            check_reason(reason);
            if let Some(masked) = raw_masked {
                check_raw_masked(masked, input);
            }
        }
        Decoded::Invalid { reason } => check_reason(reason),
    }
    // A bare card number is never read as an element string whose first AI is 410–417.
    if let Decoded::Product(p) = decoded {
        if bare_card_number(input).is_some() {
            assert!(
                !p.data
                    .ais
                    .keys()
                    .any(|ai| matches!(ai.as_bytes(), [b'4', b'1', b'0'..=b'7'])),
                "a bare card number decoded as a GLN element string: {p:?}"
            );
        }
    }
    // Whatever it is, it serialises with its kind tag.
    let json = serde_json::to_value(decoded).expect("serialises");
    assert!(json["kind"].is_string(), "{json}");
}
