//! Loyalty numbers: normalisation (events.md), matching against configured programs,
//! `customer_token` (HMAC-SHA256, base64url without padding), masking, and the token key
//! file. It must never panic, never do I/O, and never let a clear number or the key reach
//! Debug, Display or serde output: clear numbers live only in [`ClearNumber`], the key only
//! in [`TokenKey`], and both print redacted.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{gtin, ScanError};

/// Longest number (after normalisation) that a program may match; longer input is not a
/// loyalty card and is not worth hashing.
pub const MAX_NUMBER_LEN: usize = 64;

/// Check-digit rule of a loyalty program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// ISO/IEC 7812 Luhn (payment-card style numbers).
    Luhn,
    /// GS1 mod-10 (cards printed as EAN-13, usually with an in-store 2x prefix).
    Gtin,
    /// No check digit.
    #[default]
    None,
}

/// One loyalty program from the configuration.
///
/// A number matches when it has the `prefix` (if set), exactly `length` characters (if
/// set), matches `regex` as a whole (if set) and passes `check`. A program must set at
/// least a prefix, a length or a regex, so a half-written config cannot swallow every
/// scan as a loyalty card. Unknown fields are rejected when the config is deserialised,
/// so a misspelt rule is never silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyProgram {
    /// Program name, reported as `program` in `store.loyalty.identified`.
    pub name: String,
    /// Required start of the normalised number (itself normalised before comparing).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Required length of the normalised number, in characters.
    #[serde(default)]
    pub length: Option<usize>,
    #[serde(default)]
    pub check: Check,
    /// A regular expression the whole normalised number must match (compiled once,
    /// when the config is read; a bad pattern is a config error).
    #[serde(default)]
    pub regex: Option<Pattern>,
}

/// A compiled regular expression that must match the whole number. It serialises as
/// the pattern text; two patterns are equal when their text is.
#[derive(Clone)]
pub struct Pattern {
    text: String,
    anchored: regex::Regex,
}

impl Pattern {
    pub fn new(text: &str) -> Result<Pattern, regex::Error> {
        // Bounded size: a config pattern, not a place for a denial of service.
        let anchored = regex::RegexBuilder::new(&format!("^(?:{text})$"))
            .size_limit(1 << 20)
            .build()?;
        Ok(Pattern {
            text: text.to_owned(),
            anchored,
        })
    }

    pub fn is_full_match(&self, number: &str) -> bool {
        self.anchored.is_match(number)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Pattern::new(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid regex {text:?}: {e}")))
    }
}

/// How the customer presented the card (`method` in `store.loyalty.identified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Barcode,
    Magstripe,
    Nfc,
}

/// A clear card/loyalty number (already normalised). Its `Debug` shows only the masked
/// form; it has no `Display` and no `Serialize`, so it cannot end up in logs or JSON by
/// accident. Read it with [`ClearNumber::expose`] only to tokenise it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClearNumber(String);

impl ClearNumber {
    /// Wrap an already normalised number.
    pub fn new(normalised: String) -> Self {
        ClearNumber(normalised)
    }
    /// The clear number. Use it for [`customer_token`] and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `****` + last 4 characters, see [`mask`].
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for ClearNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClearNumber({})", self.masked())
    }
}

/// The 32-byte HMAC key for `customer_token`. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn new(key: [u8; 32]) -> Self {
        TokenKey(key)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// events.md normalisation of a card number: spaces and dashes removed, letters
/// upper-cased.
pub fn normalise_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| *c != ' ' && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Normalise an NFC UID as sent by a reader (`04:a2:24:b2`, `04 A2 24 B2`, `04a224b2`) to
/// upper-case hex without separators. Readers that print the UID in decimal produce digits,
/// which are hex digits too and are kept as sent. 4–64 hex characters.
pub fn normalise_uid(raw: &str) -> Result<String, ScanError> {
    let uid: String = raw
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !uid.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ScanError::new(
            "the card reader sent neither a magstripe track nor a hex NFC UID",
        ));
    }
    if !(4..=MAX_NUMBER_LEN).contains(&uid.len()) {
        return Err(ScanError::new("an NFC UID must have 4 to 64 hex digits"));
    }
    Ok(uid)
}

/// ISO/IEC 7812 Luhn check over all digits (the last one being the check digit).
pub fn luhn_valid(s: &str) -> bool {
    if s.len() < 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut sum: u32 = 0;
    for (i, b) in s.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum = (sum + d) % 10;
    }
    sum == 0
}

fn program_matches(number: &str, program: &LoyaltyProgram) -> bool {
    if program.prefix.is_none() && program.length.is_none() && program.regex.is_none() {
        return false;
    }
    if let Some(pattern) = &program.regex {
        if !pattern.is_full_match(number) {
            return false;
        }
    }
    if let Some(prefix) = &program.prefix {
        if !number.starts_with(normalise_number(prefix).as_str()) {
            return false;
        }
    }
    if let Some(length) = program.length {
        if number.chars().count() != length {
            return false;
        }
    }
    match program.check {
        Check::Luhn => luhn_valid(number),
        Check::Gtin => gtin::has_valid_check_digit(number),
        Check::None => true,
    }
}

/// The first program (in configuration order) that `number` matches. The number is
/// normalised first; only ASCII letters and digits, up to 64 of them, can match.
pub fn match_program<'a>(
    number: &str,
    programs: &'a [LoyaltyProgram],
) -> Option<&'a LoyaltyProgram> {
    let number = normalise_number(number);
    if number.is_empty()
        || number.len() > MAX_NUMBER_LEN
        || !number.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    programs.iter().find(|p| program_matches(&number, p))
}

/// events.md `customer_token`: base64url without padding of HMAC-SHA256(key, normalised
/// number as bytes). Always 43 characters.
pub fn customer_token(key: &[u8; 32], normalised: &str) -> String {
    // HMAC pads a key shorter than the block size with zeros, so a 32-byte key padded to the
    // 64-byte block gives the same MAC; using the fixed-size constructor avoids the
    // (never-taken) error path of `new_from_slice`.
    let mut block = [0u8; 64];
    for (dst, src) in block.iter_mut().zip(key.iter()) {
        *dst = *src;
    }
    let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into());
    mac.update(normalised.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// events.md `number_masked`: `****` followed by the last 4 characters. A number of 4
/// characters or fewer is masked entirely (`****`), since showing its "last 4" would show
/// all of it.
pub fn mask(normalised: &str) -> String {
    let count = normalised.chars().count();
    if count <= 4 {
        return "****".to_string();
    }
    let tail: String = normalised.chars().skip(count - 4).collect();
    format!("****{tail}")
}

/// Parse the token key file: 64 hex characters, whitespace anywhere ignored.
pub fn parse_key_file(text: &str) -> Result<[u8; 32], ScanError> {
    let hex: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if hex.len() != 64 {
        return Err(ScanError::new(format!(
            "the key file must hold 64 hex characters, found {}",
            hex.len()
        )));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(hex.chunks(2)) {
        let nibble = |c: Option<&u8>| -> Option<u8> {
            let c = *c?;
            char::from(c)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let (Some(hi), Some(lo)) = (nibble(pair.first()), nibble(pair.get(1))) else {
            return Err(ScanError::new(
                "the key file contains a character that is not hex",
            ));
        };
        *byte = hi * 16 + lo;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> [u8; 32] {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        k
    }

    #[test]
    fn hmac_known_vectors() {
        // Computed with python3: base64.urlsafe_b64encode(hmac.new(bytes(range(32)),
        // b"4111111111111111", hashlib.sha256).digest()).rstrip(b"=")
        assert_eq!(
            customer_token(&key(), "4111111111111111"),
            "BiIkEgE4KkWRL7IoKLP321FTzyBycipz3tImI-p5q8k"
        );
        assert_eq!(
            customer_token(&key(), "LOY12345678"),
            "1V5nR76dqZIEBypQ3UItKnP0JiZaNLdwtThim1gBT74"
        );
        assert_eq!(
            customer_token(&key(), "04A224B2C35E80"),
            "Gdy9zia5-j1TWYUjqZnPQxZbTXOcTVTb2lAX9m_HMSc"
        );
        // All-zero key, empty message.
        assert_eq!(
            customer_token(&[0u8; 32], ""),
            "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0"
        );
    }

    #[test]
    fn key_file() {
        let text = "0001020304050607 08090a0b0c0d0e0f\n101112131415161718191A1B1C1D1E1F\n";
        assert_eq!(parse_key_file(text), Ok(key()));
        assert!(parse_key_file("00")
            .unwrap_err()
            .reason()
            .contains("64 hex"));
        let bad = format!("{}zz", "0".repeat(62));
        assert!(parse_key_file(&bad)
            .unwrap_err()
            .reason()
            .contains("not hex"));
        let unicode = format!("{}é", "0".repeat(62)); // 2 bytes: length is right, content not
        assert!(parse_key_file(&unicode).is_err());
        assert!(parse_key_file("").is_err());
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalise_number("loy 1234-5678"), "LOY12345678");
        assert_eq!(
            normalise_number(" 4111 1111 1111 1111 "),
            "4111111111111111"
        );
        assert_eq!(
            normalise_uid("04:a2:24:b2:c3:5e:80").as_deref(),
            Ok("04A224B2C35E80")
        );
        assert_eq!(normalise_uid("04 A2 24 B2").as_deref(), Ok("04A224B2"));
        assert!(normalise_uid("04:G2").is_err());
        assert!(normalise_uid("04").is_err());
    }

    #[test]
    fn masking() {
        assert_eq!(mask("4111111111111111"), "****1111");
        assert_eq!(mask("LOY12345678"), "****5678");
        assert_eq!(mask("12345"), "****2345");
        assert_eq!(mask("1234"), "****");
        assert_eq!(mask(""), "****");
        let n = ClearNumber::new("4111111111111234".into());
        assert_eq!(format!("{n:?}"), "ClearNumber(****1234)");
        assert_eq!(
            format!("{:?}", TokenKey::new(key())),
            "TokenKey(<redacted>)"
        );
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid("7"));
        assert!(!luhn_valid("4111a"));
    }

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
                name: "card".into(),
                prefix: Some("6".into()),
                length: Some(16),
                check: Check::Luhn,
                regex: None,
            },
            LoyaltyProgram {
                name: "catch-all".into(),
                prefix: None,
                length: None,
                check: Check::None,
                regex: None,
            },
        ]
    }

    #[test]
    fn program_matching() {
        let p = programs();
        let name = |n: &str| match_program(n, &p).map(|p| p.name.as_str());
        assert_eq!(name("2400000000006"), Some("instore"));
        assert_eq!(name("2400000000007"), None); // wrong GTIN check digit
        assert_eq!(name("240000000006"), None); // wrong length
        assert_eq!(name("loy-1234"), Some("club"));
        assert_eq!(name("6011 0000 0000 0004"), Some("card"));
        assert_eq!(name("6011000000000005"), None); // Luhn fails
        assert_eq!(name("9501101530003"), None); // catch-all without prefix/length never matches
        assert_eq!(name("LOY\u{e9}"), None);
        assert_eq!(name(""), None);
        let config = r#"{"name":"x","prefix":"24","length":13,"check":"gtin"}"#;
        let parsed: LoyaltyProgram = serde_json::from_str(config).unwrap();
        assert_eq!(parsed.check, Check::Gtin);
        let misspelt = r#"{"name":"x","regexp":"^24"}"#;
        assert!(serde_json::from_str::<LoyaltyProgram>(misspelt).is_err());
    }

    #[test]
    fn regex_rule_must_match_the_whole_number() {
        let programs = vec![LoyaltyProgram {
            name: "app".into(),
            prefix: None,
            length: None,
            check: Check::None,
            regex: Some(Pattern::new("AP[0-9]{6}").expect("pattern")),
        }];
        assert_eq!(
            match_program("ap-123456", &programs).map(|p| p.name.as_str()),
            Some("app")
        );
        assert!(
            match_program("AP1234567", &programs).is_none(),
            "anchored at both ends"
        );
        assert!(match_program("XAP123456", &programs).is_none());
        assert!(Pattern::new("(").is_err());
        let parsed: LoyaltyProgram =
            serde_json::from_str(r#"{"name":"x","regex":"[0-9]+"}"#).expect("parse");
        assert_eq!(parsed.regex, Some(Pattern::new("[0-9]+").expect("pattern")));
        let bad =
            serde_json::from_str::<LoyaltyProgram>(r#"{"name":"x","regex":"(("}"#).unwrap_err();
        assert!(bad.to_string().contains("invalid regex"));
    }
}
