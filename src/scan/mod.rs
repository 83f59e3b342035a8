//! Scanner and card-reader frames → meaning: one raw frame becomes a loyalty card, a
//! product (GTIN / GS1 element string / Digital Link), a pickup pass, "unknown" or
//! "invalid". Pure functions: this module must never do I/O, read the clock (the current
//! year comes in [`DecodeConfig`]), spawn threads, panic or loop without bound on any input
//! (it is fuzzed), and must never put a clear card/loyalty number, the token key or a
//! pickup pass credential into anything serialisable or printable.
//!
//! Entry point: [`decode`]. The submodules are public for callers that need one piece
//! (e.g. [`customer_token`] for a number typed by staff).
//!
//! # Classification order
//!
//! A frame is checked (≤ 4096 bytes, UTF-8, no control characters other than GS/CR/LF,
//! CR/LF/spaces trimmed at both ends), an AIM `]Xm` prefix is split off, then the first
//! rule that applies decides:
//!
//! 1. `SEP1.` → pickup pass (malformed → invalid).
//! 2. `%` or `;` start sentinel → magstripe card → loyalty, method `magstripe`.
//! 3. Card-reader source → NFC UID (hex) → loyalty, method `nfc`.
//!    A card read is always a loyalty identification (that is what the reader is for);
//!    `program` names the first configured program the number matches, if any.
//! 4. `http(s)://` → GS1 Digital Link → product (a URL that is not a Digital Link → unknown).
//!    GS1 AIM (`]C1 ]e0 ]d2 ]d5 ]Q3 ]Q4`), a GS character or the `(01)…` bracket form
//!    → GS1 element string → product (malformed → invalid).
//! 5. A configured loyalty program matches the normalised frame → loyalty, method
//!    `barcode`. This runs before the GTIN rule because loyalty cards are often in-store
//!    EAN-13s (prefix 2x) that are also valid GTINs.
//! 6. EAN/UPC, ITF or no AIM, digits of a GTIN length → product (`]E`/`]I` with a bad
//!    check digit → invalid; without AIM → unknown). Bare numbers in other symbologies
//!    (Code 39, plain Code 128, plain QR) are not GTINs: GS1 keys travel only in GS1
//!    symbologies.
//! 7. No AIM and the text parses as a GS1 element string without separators
//!    (`0109501101530003…`) → product — except a bare card number (13–19 digits,
//!    Luhn-valid, see [`pan`]) whose first AI would be 410–417: that is `unknown`.
//! 8. Otherwise → unknown. A bare card number is `unknown` with `raw_masked` (all but
//!    the last 4 digits masked); its clear digits are in nothing this module returns.

pub mod aim;
pub mod digital_link;
pub mod gs1;
pub mod gtin;
pub mod loyalty;
pub mod magstripe;
pub mod pan;
pub mod pass;

use std::fmt;

use serde::Serialize;

pub use aim::Symbology;
pub use gs1::Gs1Data;
pub use gtin::{GtinKind, PrefixFlags};
pub use loyalty::{
    customer_token, mask, match_program, normalise_number, parse_key_file, Check, ClearNumber,
    LoyaltyProgram, Method, TokenKey,
};
pub use pass::PickupPass;

/// Frames longer than this are rejected unread (scanners send a few hundred bytes at most).
pub const MAX_FRAME_BYTES: usize = 4096;

/// Why something could not be decoded: a short human sentence that never contains the
/// clear card number, the key or the pickup pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    reason: String,
}

impl ScanError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        ScanError {
            reason: reason.into(),
        }
    }

    /// The human-readable reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ScanError {}

/// What kind of device sent the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Barcode scanner (1D/2D), keyboard wedge or serial.
    Scanner,
    /// Magstripe and/or NFC card reader.
    CardReader,
}

/// Everything [`decode`] needs besides the frame.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Loyalty programs, in priority order.
    pub programs: Vec<LoyaltyProgram>,
    /// Current calendar year, for the GS1 two-digit-year window (e.g. 2025).
    pub current_year: i32,
    pub source: Source,
    /// When set, loyalty results carry `customer_token`; otherwise the caller tokenises
    /// [`LoyaltyCard::number`] itself.
    pub token_key: Option<TokenKey>,
}

impl DecodeConfig {
    /// Config for a barcode scanner, no programs, no key.
    pub fn scanner(current_year: i32) -> Self {
        DecodeConfig {
            programs: Vec::new(),
            current_year,
            source: Source::Scanner,
            token_key: None,
        }
    }

    /// Config for a card reader, no programs, no key.
    pub fn card_reader(current_year: i32) -> Self {
        DecodeConfig {
            source: Source::CardReader,
            ..DecodeConfig::scanner(current_year)
        }
    }

    pub fn with_programs(mut self, programs: Vec<LoyaltyProgram>) -> Self {
        self.programs = programs;
        self
    }

    pub fn with_token_key(mut self, key: [u8; 32]) -> Self {
        self.token_key = Some(TokenKey::new(key));
        self
    }
}

/// A loyalty identification. Serialises to `number_masked`, `program`, `method` and
/// `customer_token` only; the clear number is kept out of serde and prints masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoyaltyCard {
    /// `****` + last 4 characters.
    pub number_masked: String,
    /// Name of the matching configured program, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    pub method: Method,
    /// HMAC token, present when [`DecodeConfig::token_key`] is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_token: Option<String>,
    /// The normalised clear number, only for tokenising (never serialised).
    #[serde(skip)]
    pub number: ClearNumber,
}

/// A product scan, ready for `store.product.scanned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// AIM identifier as sent or inferred, e.g. `]E0`.
    pub symbology: String,
    /// True when [`Product::symbology`] was inferred (see [`aim`]).
    #[serde(skip_serializing_if = "is_false")]
    pub symbology_inferred: bool,
    /// How the GTIN was presented (absent for e.g. an SSCC-only label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtin_kind: Option<GtinKind>,
    /// EAN-13 add-on (2 or 5 digits, `]E3`), e.g. a periodical's issue number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addon: Option<String>,
    #[serde(flatten)]
    pub flags: PrefixFlags,
    /// `gtin`, `batch`, `expiry`, … and `ais`.
    #[serde(flatten)]
    pub data: Gs1Data,
}

// serde's skip_serializing_if needs a function taking a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// The meaning of one frame. Serialises with a `kind` tag:
/// `loyalty` | `product` | `pickup_pass` | `unknown` | `invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decoded {
    Loyalty(LoyaltyCard),
    Product(Product),
    /// Recognised but **not verified**: the caller checks signature, store, expiry, order.
    PickupPass(PickupPass),
    /// Well-formed but not something this module knows.
    Unknown {
        reason: String,
        /// For a frame that is a bare card number: the frame with all but its last 4
        /// digits masked (`************0511`). The clear frame is never kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        raw_masked: Option<String>,
    },
    /// Broken: bad bytes, bad check digit, malformed structure.
    Invalid {
        reason: String,
    },
}

fn invalid(e: ScanError) -> Decoded {
    Decoded::Invalid { reason: e.reason }
}

fn unknown(reason: &str) -> Decoded {
    Decoded::Unknown {
        reason: reason.to_string(),
        raw_masked: None,
    }
}

/// A bare card number (see [`pan`]) that no loyalty program claimed: shown only masked.
fn card_number(body: &str) -> Decoded {
    Decoded::Unknown {
        reason: "a payment card number, not a product or loyalty card".to_string(),
        raw_masked: Some(pan::mask_keep_last4(body)),
    }
}

/// Check the raw bytes and return the trimmed text.
fn frame_text(raw: &[u8]) -> Result<&str, ScanError> {
    if raw.len() > MAX_FRAME_BYTES {
        return Err(ScanError::new("the frame is longer than 4096 bytes"));
    }
    if raw.contains(&0) {
        return Err(ScanError::new("the frame contains a NUL byte"));
    }
    let text =
        std::str::from_utf8(raw).map_err(|_| ScanError::new("the frame is not valid UTF-8"))?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\u{1d}' | '\r' | '\n'))
    {
        return Err(ScanError::new(format!(
            "the frame contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    let text = text.trim_matches(['\r', '\n', ' ']);
    if text.is_empty() {
        return Err(ScanError::new("the frame is empty"));
    }
    Ok(text)
}

fn loyalty_result(
    number: String,
    method: Method,
    program: Option<&LoyaltyProgram>,
    cfg: &DecodeConfig,
) -> Decoded {
    Decoded::Loyalty(LoyaltyCard {
        number_masked: mask(&number),
        program: program.map(|p| p.name.clone()),
        method,
        customer_token: cfg
            .token_key
            .as_ref()
            .map(|k| customer_token(k.as_bytes(), &number)),
        number: ClearNumber::new(number),
    })
}

/// A product from GS1 data (element string, bracket form or Digital Link).
fn gs1_product(symbology: Symbology, data: Gs1Data) -> Decoded {
    let flags = data
        .gtin
        .as_deref()
        .map(gtin::prefix_flags)
        .unwrap_or_default();
    Decoded::Product(Product {
        symbology: symbology.id(),
        symbology_inferred: symbology.inferred,
        gtin_kind: data.gtin.as_ref().map(|_| GtinKind::Gtin14),
        addon: None,
        flags,
        data,
    })
}

/// A product from a linear GTIN (EAN/UPC/ITF).
fn gtin_product(symbology: Symbology, info: gtin::GtinInfo, addon: Option<String>) -> Decoded {
    Decoded::Product(Product {
        symbology: symbology.id(),
        symbology_inferred: symbology.inferred,
        gtin_kind: Some(info.kind),
        addon,
        flags: info.flags,
        data: Gs1Data {
            gtin: Some(info.gtin),
            ..Gs1Data::default()
        },
    })
}

/// Steps 4 and 7 of the classification: GS1 data in any of its three forms.
fn gs1_rule(aim: Option<Symbology>, body: &str, cfg: &DecodeConfig) -> Option<Decoded> {
    let year = cfg.current_year;
    let symbology = || aim.unwrap_or_else(|| aim::infer(body));
    if digital_link::looks_like_uri(body) {
        return Some(match digital_link::parse_digital_link(body, year) {
            Ok(Some(data)) => gs1_product(symbology(), data),
            Ok(None) => unknown("a URL that is not a GS1 Digital Link"),
            Err(e) => invalid(e),
        });
    }
    let parsed = if gs1::looks_bracketed(body) {
        gs1::parse_bracketed(body, year)
    } else if aim.is_some_and(|a| a.carries_gs1_element_string()) || body.contains(gs1::GS) {
        gs1::parse_element_string(body, year)
    } else {
        return None;
    };
    Some(match parsed {
        Ok(data) => gs1_product(symbology(), data),
        Err(e) => invalid(e),
    })
}

/// Step 6: a GTIN in a linear symbology. `None` when the rule does not apply.
fn gtin_rule(aim: Option<Symbology>, body: &str) -> Option<Decoded> {
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len = body.len();
    let sym = |code, modifier| Symbology::new(code, modifier, false);
    let result = match aim.map(|a| (a.code, a.modifier)) {
        None => {
            // Only the shapes the inference rule calls EAN/UPC/ITF; a wrong check digit on
            // an unlabelled number is "unknown", since it may be any other number.
            let symbology = aim::infer(body);
            let info = match len {
                8 => gtin::parse_gtin(body).or_else(|_| gtin::parse_upce(body)),
                12..=14 => gtin::parse_gtin(body),
                _ => return None,
            };
            return Some(match info {
                Ok(info) => gtin_product(symbology, info, None),
                Err(_) => unknown("a number of GTIN length whose check digit does not match"),
            });
        }
        Some(('E', '4')) => gtin::parse_gtin(body).map(|i| (sym('E', '4'), i, None)),
        Some(('E', '0')) => match len {
            8 => gtin::parse_upce(body).or_else(|_| gtin::parse_gtin(body)),
            _ => gtin::parse_gtin(body),
        }
        .map(|i| (sym('E', '0'), i, None)),
        Some(('E', '3')) => match (body.get(..13), body.get(13..)) {
            (Some(main), Some(addon)) if matches!(addon.len(), 2 | 5) => {
                gtin::parse_gtin(main).map(|i| (sym('E', '3'), i, Some(addon.to_string())))
            }
            _ => Err(ScanError::new("an EAN-13 with add-on has 15 or 18 digits")),
        },
        Some(('E', _)) => return Some(unknown("an EAN/UPC add-on symbol without its main symbol")),
        Some(('I', m)) => gtin::parse_gtin(body).map(|i| (sym('I', m), i, None)),
        Some(_) => return None,
    };
    Some(match result {
        Ok((symbology, info, addon)) => gtin_product(symbology, info, addon),
        Err(e) => invalid(e),
    })
}

/// Classify one frame from a scanner or card reader. Never panics, whatever the bytes.
pub fn decode(raw: &[u8], cfg: &DecodeConfig) -> Decoded {
    let text = match frame_text(raw) {
        Ok(t) => t,
        Err(e) => return invalid(e),
    };
    let (aim, body) = aim::split_aim(text);
    if body.is_empty() {
        return invalid(ScanError::new(
            "the frame holds only a symbology identifier",
        ));
    }

    // 1. Pickup pass.
    if pass::looks_like_pass(body) {
        return match pass::parse_pass(body) {
            Ok(p) => Decoded::PickupPass(p),
            Err(e) => invalid(e),
        };
    }

    // 2. Magstripe (any source: only card readers produce sentinels in practice).
    if magstripe::looks_like_magstripe(body) {
        return match magstripe::parse_tracks(body) {
            Ok(card) => {
                let number = card.pan.expose().to_string();
                let program = match_program(&number, &cfg.programs);
                loyalty_result(number, Method::Magstripe, program, cfg)
            }
            Err(e) => invalid(e),
        };
    }

    // 3. Anything else from a card reader is an NFC UID.
    if cfg.source == Source::CardReader {
        return match loyalty::normalise_uid(body) {
            Ok(uid) => {
                let program = match_program(&uid, &cfg.programs);
                loyalty_result(uid, Method::Nfc, program, cfg)
            }
            Err(e) => invalid(e),
        };
    }

    // 4. GS1 Digital Link, element string or bracket form.
    if let Some(decoded) = gs1_rule(aim, body, cfg) {
        return decoded;
    }

    // 5. Loyalty program rules win over products.
    if let Some(program) = match_program(body, &cfg.programs) {
        return loyalty_result(normalise_number(body), Method::Barcode, Some(program), cfg);
    }

    // 6. GTIN in EAN/UPC/ITF. (A bare 13/14-digit card number whose GTIN check digit
    //    fails is "unknown" here; it is shown masked like any other bare card number.)
    let bare_card = aim.is_none() && pan::is_bare_card_number(body);
    match gtin_rule(aim, body) {
        Some(Decoded::Unknown { .. }) if bare_card => return card_number(body),
        Some(decoded) => return decoded,
        None => {}
    }

    // 7. Unlabelled element string without separators. A bare card number is never one
    //    whose first AI is 410–417 (a 13-digit GLN after a 3-digit AI has its own check
    //    digit, and about 1 in 10 Luhn-valid numbers starting 410–417 would pass it).
    if bare_card && is_gln_ai_410_to_417(body) {
        return card_number(body);
    }
    if aim.is_none() && body.starts_with(|c: char| c.is_ascii_digit()) {
        if let Ok(data) = gs1::parse_element_string(body, cfg.current_year) {
            return gs1_product(Symbology::new('C', '1', true), data);
        }
    }

    if bare_card {
        return card_number(body);
    }
    unknown("not a pickup pass, card, GS1 code, loyalty number or GTIN")
}

/// True when `body` starts with one of the AIs 410–417 (GLNs: ship to, bill to, …).
fn is_gln_ai_410_to_417(body: &str) -> bool {
    matches!(body.as_bytes(), [b'4', b'1', b'0'..=b'7', ..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const YEAR: i32 = 2025;
    const KEY: [u8; 32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26, 27, 28, 29, 30, 31,
    ];

    fn programs() -> Vec<LoyaltyProgram> {
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

    fn scanner() -> DecodeConfig {
        DecodeConfig::scanner(YEAR)
            .with_programs(programs())
            .with_token_key(KEY)
    }

    fn reader() -> DecodeConfig {
        DecodeConfig::card_reader(YEAR)
            .with_programs(programs())
            .with_token_key(KEY)
    }

    /// Decode `input` and compare the JSON form with `expected` (a subset: every key in
    /// `expected` must be present with that value; `kind` always compared).
    fn check(input: &str, cfg: &DecodeConfig, expected: Value) {
        let got = serde_json::to_value(decode(input.as_bytes(), cfg)).unwrap();
        let Value::Object(want) = &expected else {
            panic!("expected must be an object")
        };
        for (k, v) in want {
            if k == "reason" {
                let reason = got[k].as_str().unwrap_or_default();
                let part = v.as_str().unwrap_or_default();
                assert!(
                    reason.contains(part),
                    "{input:?}: reason {reason:?} lacks {part:?}"
                );
            } else {
                assert_eq!(&got[k], v, "{input:?} field {k}: got {got}");
            }
        }
    }

    #[test]
    fn products() {
        let s = scanner();
        check(
            "]E09501101530003",
            &s,
            json!({"kind": "product", "symbology": "]E0", "gtin": "09501101530003", "gtin_kind": "gtin13"}),
        );
        check(
            "9501101530003\r\n",
            &s,
            json!({"kind": "product", "symbology": "]E0", "symbology_inferred": true}),
        );
        check(
            "04252614",
            &s,
            json!({"kind": "product", "symbology": "]E0", "gtin": "00042100005264", "gtin_kind": "upc_e"}),
        );
        check(
            "]E004252614",
            &s,
            json!({"kind": "product", "gtin": "00042100005264"}),
        );
        check(
            "]E412345670",
            &s,
            json!({"kind": "product", "symbology": "]E4", "gtin": "00000012345670"}),
        );
        check(
            "9783161484100",
            &s,
            json!({"kind": "product", "isbn": true, "gtin": "09783161484100"}),
        );
        check(
            "]E3977123456700312",
            &s,
            json!({"kind": "product", "issn": true, "addon": "12", "symbology": "]E3"}),
        );
        check(
            "2012345678903",
            &s,
            json!({"kind": "product", "restricted_circulation": true}),
        );
        check(
            "]I110614141000415",
            &s,
            json!({"kind": "product", "symbology": "]I1", "gtin": "10614141000415", "gtin_kind": "gtin14"}),
        );
        check(
            // (01)(17) are predefined-length, so (10) follows without a GS.
            "]C101095011015300031725123110ABC",
            &s,
            json!({"kind": "product", "symbology": "]C1", "gtin": "09501101530003", "expiry": "2025-12-31", "batch": "ABC",
                   "ais": {"01": "09501101530003", "17": "251231", "10": "ABC"}}),
        );
        check(
            "]C10109501101530003\u{1d}10ABC\u{1d}21S-1",
            &s,
            json!({"kind": "product", "batch": "ABC", "serial": "S-1"}),
        );
        check(
            "]d2010950110153000317260200\u{1d}10L1",
            &s,
            json!({"kind": "product", "symbology": "]d2", "expiry": "2026-02-28"}),
        );
        check(
            "]Q30109501101530003",
            &s,
            json!({"kind": "product", "symbology": "]Q3"}),
        );
        check(
            "]e00109501101530003",
            &s,
            json!({"kind": "product", "symbology": "]e0", "gtin": "09501101530003"}),
        );
        check(
            "00106141412345678908",
            &s,
            json!({"kind": "product", "sscc": "106141412345678908", "symbology": "]C1"}),
        );
        check(
            "(01)09501101530003(3102)001234",
            &s,
            json!({"kind": "product", "net_weight_kg": "12.34", "symbology": "]C1", "symbology_inferred": true}),
        );
        check(
            "https://id.gs1.org/01/09501101530003/10/ABC?17=251231",
            &s,
            json!({"kind": "product", "symbology": "]Q1", "gtin": "09501101530003", "batch": "ABC", "expiry": "2025-12-31"}),
        );
        check(
            "]Q1https://example.com/01/09520123456788",
            &s,
            json!({"kind": "product", "symbology": "]Q1", "gtin": "09520123456788"}),
        );
        check(
            "01095011015300031725123110ABC",
            &s,
            json!({"kind": "product", "symbology": "]C1", "batch": "ABC"}),
        );
    }

    #[test]
    fn loyalty_cards() {
        let s = scanner();
        // An in-store EAN-13 (valid GTIN, prefix 24) that is a loyalty card: program wins.
        check(
            "]E02400000000006",
            &s,
            json!({"kind": "loyalty", "method": "barcode", "program": "instore",
                   "number_masked": "****0006",
                   "customer_token": customer_token(&KEY, "2400000000006")}),
        );
        check(
            "loy 1234-5678",
            &s,
            json!({"kind": "loyalty", "program": "club", "number_masked": "****5678",
                   "customer_token": "1V5nR76dqZIEBypQ3UItKnP0JiZaNLdwtThim1gBT74"}),
        );
        let r = reader();
        check(
            "%B4111111111111111^TEST/CARD^2512101123456789?;4111111111111111=2512101123456789?\r\n",
            &r,
            json!({"kind": "loyalty", "method": "magstripe", "program": "test-cards",
                   "number_masked": "****1111",
                   "customer_token": "BiIkEgE4KkWRL7IoKLP321FTzyBycipz3tImI-p5q8k"}),
        );
        check(
            ";6012345678901234?",
            &r,
            json!({"kind": "loyalty", "method": "magstripe", "number_masked": "****1234"}),
        );
        check(
            "04:a2:24:b2:c3:5e:80",
            &r,
            json!({"kind": "loyalty", "method": "nfc", "number_masked": "****5E80",
                   "customer_token": "Gdy9zia5-j1TWYUjqZnPQxZbTXOcTVTb2lAX9m_HMSc"}),
        );
        // Without a key no token is produced, and the caller tokenises the clear number.
        let no_key = DecodeConfig::card_reader(YEAR);
        match decode(b"04A224B2C35E80", &no_key) {
            Decoded::Loyalty(card) => {
                assert_eq!(card.customer_token, None);
                assert_eq!(card.number.expose(), "04A224B2C35E80");
                assert_eq!(customer_token(&KEY, card.number.expose()).len(), 43);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clear_numbers_never_leak() {
        for (frame, cfg) in [
            (";4111111111111111=2512101?", reader()),
            ("4111111111111111", scanner()),
            ("LOY987654321", scanner()),
        ] {
            let decoded = decode(frame.as_bytes(), &cfg);
            assert!(
                matches!(decoded, Decoded::Loyalty(_)),
                "{frame}: {decoded:?}"
            );
            let clear = normalise_number(frame.trim_start_matches(';').split('=').next().unwrap());
            let json = serde_json::to_string(&decoded).unwrap();
            let debug = format!("{decoded:?}");
            assert!(!json.contains(&clear), "{json}");
            assert!(!debug.contains(&clear), "{debug}");
            let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&json)
                .unwrap()
                .keys()
                .cloned()
                .collect();
            for k in &keys {
                assert!(
                    [
                        "kind",
                        "number_masked",
                        "program",
                        "method",
                        "customer_token"
                    ]
                    .contains(&k.as_str()),
                    "unexpected loyalty field {k}"
                );
            }
        }
        let cfg_debug = format!("{:?}", scanner());
        assert!(!cfg_debug.contains("0, 1, 2, 3"), "{cfg_debug}");
    }

    #[test]
    fn a_bare_card_number_is_never_read_as_a_gln_element_string() {
        // No programs: nothing claims the number as a loyalty card.
        let s = DecodeConfig::scanner(YEAR);
        for (frame, masked) in [
            ("4111000000000511", "************0511"),
            ("4111000000000511\r\n", "************0511"),
            ("4111111111111111", "************1111"),
            ("4222222222222", "*********2222"),
            ("5500000000000004", "************0004"),
        ] {
            let decoded = decode(frame.as_bytes(), &s);
            let json = serde_json::to_value(&decoded).unwrap();
            assert_eq!(json["kind"], "unknown", "{frame:?}: {json}");
            assert_eq!(json["raw_masked"], masked, "{frame:?}: {json}");
            let clear = frame.trim_end();
            assert!(!json.to_string().contains(clear), "{json}");
            assert!(!format!("{decoded:?}").contains(clear));
        }
        // Other AIs are unchanged, and so is 41x behind a GS1 symbology identifier or
        // with a separator: that is an element string by declaration.
        check(
            "0109501101530003",
            &s,
            json!({"kind": "product", "gtin": "09501101530003"}),
        );
        check(
            "]C14111000000000511",
            &s,
            json!({"kind": "product", "ais": {"411": "1000000000511"}}),
        );
        check(
            "4111000000000511\u{1d}",
            &s,
            json!({"kind": "product", "ais": {"411": "1000000000511"}}),
        );
        // A number that is no card number keeps its old meaning.
        check(
            "4111000000000512",
            &s,
            json!({"kind": "unknown", "raw_masked": null}),
        );
        // A loyalty program that claims the number still wins.
        check(
            "4111111111111111",
            &scanner(),
            json!({"kind": "loyalty", "program": "test-cards"}),
        );
    }

    #[test]
    fn pickup_passes() {
        let pass = "SEP1.eyJvaWQiOiJPLTEwMDEiLCJzaWQiOiJTLTA0MiIsImtpZCI6ImsxIiwiZXhwIjoxNzY3MjI1NjAwfQ.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw";
        let expected = json!({"kind": "pickup_pass", "order_id": "O-1001", "store_id": "S-042",
                              "key_id": "k1", "expires_at_unix": 1_767_225_600});
        check(pass, &scanner(), expected.clone());
        check(&format!("]Q1{pass}\r"), &scanner(), expected);
        check(
            "SEP1.abc",
            &scanner(),
            json!({"kind": "invalid", "reason": "no signature part"}),
        );
    }

    #[test]
    fn unknown_and_invalid() {
        let s = scanner();
        let inv = |input: &[u8], part: &str| {
            let got = serde_json::to_value(decode(input, &s)).unwrap();
            assert_eq!(got["kind"], "invalid", "{input:?}: {got}");
            assert!(
                got["reason"].as_str().unwrap().contains(part),
                "{input:?}: {got}"
            );
        };
        inv(b"", "empty");
        inv(b"\r\n", "empty");
        inv(b"]E0", "only a symbology identifier");
        inv(b"95011\x0015", "NUL");
        inv(b"\xff\xfe", "UTF-8");
        inv(b"9501\t101530003", "U+0009");
        inv("9501\u{85}1".as_bytes(), "U+0085");
        inv(&[b'1'; MAX_FRAME_BYTES + 1], "4096");
        inv(b"]E09501101530004", "wrong check digit");
        inv(b"]E095011015300", "not 11");
        inv(b"]E412345671", "wrong check digit");
        inv(b"]C1(01)09501101530004", "AI (01) has a wrong check digit");
        inv(b"]C1010950110153", "AI (01) is truncated");
        inv(b"0109501101530003\x1d17251301", "AI (17) is not a valid");
        inv(b"https://id.gs1.org/01/09501101530004", "AI (01)");
        inv(b"%B4111111111111111^TEST", "no end sentinel");
        inv(b"]E3977123456700", "15 or 18");
        let r = reader();
        let got = decode(b"hello", &r);
        assert!(matches!(got, Decoded::Invalid { .. }), "{got:?}");

        let unk = |input: &str| {
            let got = decode(input.as_bytes(), &s);
            assert!(matches!(got, Decoded::Unknown { .. }), "{input:?}: {got:?}");
        };
        unk("hello world");
        unk("9501101530004"); // no AIM, wrong check digit: just some number
        unk("12345");
        unk("]A09501101530003"); // a GTIN in Code 39 is not a GS1 key
        unk("]C09501101530003");
        unk("https://example.com/shop");
        unk("]E112");
        unk("]bad");
    }

    #[test]
    fn pathological_frames_decode() {
        // Worst cases for the scanning loops; each must simply return.
        let n = MAX_FRAME_BYTES;
        let frames = [
            "\u{1d}".repeat(n),
            "(".repeat(n),
            "()".repeat(n / 2),
            "(01)".repeat(n / 4),
            "0109501101530003".repeat(n / 16),
            format!("https://x/{}", "01/".repeat((n - 10) / 3)),
            format!("https://x/01/09501101530003?{}", "&".repeat(n - 40)),
            "%".repeat(n),
            ";".repeat(n),
            format!("SEP1.{}", "A".repeat(n - 5)),
            "]".repeat(n),
            "9".repeat(n),
        ];
        for f in &frames {
            assert!(f.len() <= n);
            let _ = decode(f.as_bytes(), &scanner());
            let _ = decode(f.as_bytes(), &reader());
        }
    }

    #[test]
    fn json_shape() {
        let got = serde_json::to_value(decode(b"]E09501101530003", &scanner())).unwrap();
        assert_eq!(
            got,
            json!({"kind": "product", "symbology": "]E0", "gtin_kind": "gtin13",
                   "gtin": "09501101530003"})
        );
        let got = serde_json::to_value(decode(b"hello", &scanner())).unwrap();
        assert_eq!(got["kind"], "unknown");
        assert!(got["reason"].is_string());
    }

    // ---- property tests ----

    fn cset82() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[!\"%&'()*+,./0-9:;<=>?A-Z_a-z-]{1,20}").unwrap()
    }

    fn digits(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, n)
            .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
    }

    fn with_check(body: String) -> String {
        let cd = gtin::check_digit(&body).unwrap();
        format!("{body}{cd}")
    }

    /// A valid YYMMDD (day 00 included).
    fn date() -> impl Strategy<Value = String> {
        (0u32..100, 1u32..13, 0u32..29).prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes, &scanner());
            let _ = decode(&bytes, &reader());
        }

        #[test]
        fn decode_never_panics_on_near_valid_text(
            prefix in prop::sample::select(vec!["", "]C1", "]E0", "]Q3", "(01)", "SEP1.", "%B", ";", "https://x/01/", "0109501101530003"]),
            tail in "[0-9A-Za-z%;=^?()./\u{1d}\r\n-]{0,80}",
        ) {
            let frame = format!("{prefix}{tail}");
            let _ = decode(frame.as_bytes(), &scanner());
            let _ = decode(frame.as_bytes(), &reader());
        }

        #[test]
        fn bare_card_numbers_never_decode_as_41x_and_never_show(
            body in (12usize..=18).prop_flat_map(digits),
            ai in 410u32..=417,
        ) {
            // Make the body start with the AI, then fix the Luhn check digit.
            let body = format!("{ai}{}", &body[3..]);
            let Some(pan) = (0..10u8)
                .map(|d| format!("{body}{}", char::from(b'0' + d)))
                .find(|n| loyalty::luhn_valid(n)) else {
                return Err(TestCaseError::fail("no check digit"));
            };
            let decoded = decode(pan.as_bytes(), &DecodeConfig::scanner(YEAR));
            let json = serde_json::to_string(&decoded).unwrap();
            match &decoded {
                // A 13/14-digit one may be a valid GTIN (a linear product, no AIs).
                Decoded::Product(p) => prop_assert!(p.data.ais.is_empty() && pan.len() <= 14, "{}", json),
                Decoded::Unknown { raw_masked, .. } => {
                    prop_assert_eq!(raw_masked.clone(), Some(pan::mask_keep_last4(&pan)));
                    prop_assert!(!json.contains(&pan[..pan.len() - 4]), "{}", json);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn gtin_check_digit_round_trips(body in digits(13)) {
            let full = with_check(body.clone());
            prop_assert!(gtin::has_valid_check_digit(&full));
            let info = gtin::parse_gtin(&full).unwrap();
            prop_assert_eq!(info.gtin.len(), 14);
            // Any other final digit is rejected.
            let last = full.as_bytes()[13];
            let wrong = format!("{body}{}", char::from(b'0' + (last - b'0' + 1) % 10));
            prop_assert!(!gtin::has_valid_check_digit(&wrong));
        }

        #[test]
        fn customer_token_is_43_base64url(key in any::<[u8; 32]>(), number in "\\PC{0,80}") {
            let t = customer_token(&key, &number);
            prop_assert_eq!(t.len(), 43);
            prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }

        #[test]
        fn mask_reveals_at_most_4_trailing(number in "\\PC{0,40}") {
            let m = mask(&number);
            let shown = m.strip_prefix("****").unwrap();
            prop_assert!(shown.chars().count() <= 4);
            prop_assert!(number.ends_with(shown));
            if number.chars().count() <= 4 {
                prop_assert_eq!(shown, "");
            }
        }

        #[test]
        fn gs1_round_trip(
            gtin_body in digits(13),
            batch in proptest::option::of(cset82()),
            expiry in proptest::option::of(date()),
            serial in proptest::option::of(cset82()),
            weight in proptest::option::of((0u8..6, digits(6))),
            count in proptest::option::of(1u32..99_999_999),
            order in proptest::option::of(cset82()),
        ) {
            let mut elements: Vec<(String, String)> = vec![("01".into(), with_check(gtin_body))];
            if let Some(v) = &batch { elements.push(("10".into(), v.clone())); }
            if let Some(v) = &expiry { elements.push(("17".into(), v.clone())); }
            if let Some(v) = &serial { elements.push(("21".into(), v.clone())); }
            if let Some((d, v)) = &weight { elements.push((format!("310{d}"), v.clone())); }
            if let Some(v) = count { elements.push(("30".into(), v.to_string())); }
            if let Some(v) = &order { elements.push(("400".into(), v.clone())); }

            // FNC1 form: GS after every element that is not of predefined length.
            let mut fnc1 = String::from("]C1");
            for (ai, v) in &elements {
                fnc1.push_str(ai);
                fnc1.push_str(v);
                let predefined = ["01", "17"].contains(&ai.as_str()) || ai.starts_with("310");
                if !predefined { fnc1.push(gs1::GS); }
            }
            // Bracket form (values with '(' cannot be written in it).
            let bracket: String = elements.iter().map(|(ai, v)| format!("({ai}){v}")).collect();
            // Digital Link: 01 in the path, the rest in the query, everything percent-encoded.
            let enc = |v: &str| v.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
            let mut dl = format!("https://example.com/01/{}", elements[0].1);
            for (i, (ai, v)) in elements.iter().skip(1).enumerate() {
                dl.push(if i == 0 { '?' } else { '&' });
                dl.push_str(&format!("{ai}={}", enc(v)));
            }

            let expected: std::collections::BTreeMap<String, String> = elements.iter().cloned().collect();
            let mut forms = vec![gs1::parse_element_string(&fnc1, YEAR), digital_link::parse_digital_link(&dl, YEAR).map(|d| d.unwrap())];
            if !elements.iter().any(|(_, v)| v.contains('(')) {
                forms.push(gs1::parse_bracketed(&bracket, YEAR));
            }
            for parsed in forms {
                let data = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&data.ais, &expected);
                prop_assert_eq!(data.gtin.as_deref(), Some(elements[0].1.as_str()));
                prop_assert_eq!(&data.batch, &batch);
                prop_assert_eq!(&data.serial, &serial);
                prop_assert_eq!(data.count, count);
                prop_assert_eq!(data.expiry.is_some(), expiry.is_some());
                if let Some(e) = &expiry {
                    prop_assert_eq!(data.expiry, gs1::expand_date(e, YEAR));
                }
                if let Some((d, v)) = &weight {
                    let kg = data.net_weight_kg.unwrap();
                    let digits_only: String = kg.chars().filter(|c| *c != '.').collect();
                    prop_assert_eq!(digits_only.parse::<u64>().unwrap(), v.parse::<u64>().unwrap());
                    prop_assert_eq!(kg.split('.').nth(1).map_or(0, str::len), usize::from(*d));
                }
            }
        }
    }
}
