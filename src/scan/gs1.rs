//! GS1 element strings: the Application Identifier (AI) table, FNC1/GS-separated and
//! human-readable `(01)…` bracket forms, check digits, GS1 dates with the sliding century
//! window, and measures with implied decimals. Pure: it must never panic, never read the
//! clock (the current year is a parameter), never do I/O, and never echo data values in
//! error reasons (only AI numbers and lengths).
//!
//! Not covered, on purpose: GS1 "invalid pair" / "requisite AI" rules (e.g. (10) without
//! (01)), the mod-1021 check pair of (8013), and AIs outside the table below (they make the
//! string invalid, since the length of an unknown AI's data cannot be known).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{gtin, ScanError};

/// ASCII Group Separator, which scanners transmit for FNC1 used as a field separator.
pub const GS: char = '\u{1d}';

/// Character set of an AI's data (after its fixed numeric part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// Digits only.
    Numeric,
    /// GS1 AI encodable character set 82.
    Cset82,
}

/// Extra meaning that needs checking or converting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    Plain,
    /// YYMMDD, DD may be 00 (= last day of the month).
    Date,
    /// YYMMDDHH followed by optional MM and SS (7003: YYMMDDHHMM, 8008: YYMMDDHH[MM[SS]]).
    DateTime,
    /// Six digits with as many implied decimals as the AI's last digit.
    Measure,
}

/// One row of the AI table.
#[derive(Debug, Clone, Copy)]
struct AiDef {
    /// Number of digits of the AI itself (2–4).
    ai_len: usize,
    /// Leading data characters that must be digits.
    num_prefix: usize,
    /// Minimum and maximum data length (equal for fixed-length AIs).
    min: usize,
    max: usize,
    /// Character set after `num_prefix`.
    tail: Charset,
    /// In the GS1 table of predefined lengths (AI prefixes 00–02, 11–17, 20, 31–36, 41):
    /// no FNC1 is needed after the data.
    predefined: bool,
    /// Mod-10 check digit over the first `check_len` characters (0 = none).
    check_len: usize,
    meaning: Meaning,
}

impl AiDef {
    const fn fixed(ai_len: usize, n: usize) -> Self {
        AiDef {
            ai_len,
            num_prefix: n,
            min: n,
            max: n,
            tail: Charset::Numeric,
            predefined: false,
            check_len: 0,
            meaning: Meaning::Plain,
        }
    }
    const fn var_x(ai_len: usize, max: usize) -> Self {
        AiDef {
            ai_len,
            num_prefix: 0,
            min: 1,
            max,
            tail: Charset::Cset82,
            predefined: false,
            check_len: 0,
            meaning: Meaning::Plain,
        }
    }
    const fn var_n(ai_len: usize, max: usize) -> Self {
        AiDef {
            tail: Charset::Numeric,
            ..AiDef::var_x(ai_len, max)
        }
    }
    /// `num_prefix` digits followed by `min - num_prefix ..= max - num_prefix` characters.
    const fn mixed(
        ai_len: usize,
        num_prefix: usize,
        min: usize,
        max: usize,
        tail: Charset,
    ) -> Self {
        AiDef {
            ai_len,
            num_prefix,
            min,
            max,
            tail,
            predefined: false,
            check_len: 0,
            meaning: Meaning::Plain,
        }
    }
    const fn predefined(self) -> Self {
        AiDef {
            predefined: true,
            ..self
        }
    }
    const fn check(self, check_len: usize) -> Self {
        AiDef { check_len, ..self }
    }
    const fn meaning(self, meaning: Meaning) -> Self {
        AiDef { meaning, ..self }
    }
    fn is_fixed(&self) -> bool {
        self.min == self.max
    }
}

/// Find the AI at the start of `s`: returns the AI digits (a prefix of `s`) and its row.
/// `None` when `s` does not start with an AI of the table.
fn lookup(s: &str) -> Option<(&str, AiDef)> {
    use Charset::{Cset82, Numeric};
    let b = s.as_bytes();
    let dig = |i: usize| -> Option<u8> {
        b.get(i)
            .copied()
            .filter(u8::is_ascii_digit)
            .map(|c| c - b'0')
    };
    let p2 = dig(0)? * 10 + dig(1)?;
    let def = match p2 {
        0 => AiDef::fixed(2, 18).predefined().check(18),
        1 | 2 => AiDef::fixed(2, 14).predefined().check(14),
        10 | 21 | 22 => AiDef::var_x(2, 20),
        11 | 12 | 13 | 15 | 16 | 17 => AiDef::fixed(2, 6).predefined().meaning(Meaning::Date),
        20 => AiDef::fixed(2, 2).predefined(),
        30 | 37 => AiDef::var_n(2, 8),
        90 => AiDef::var_x(2, 30),
        91..=99 => AiDef::var_x(2, 90),
        23 => match dig(2)? {
            5 => AiDef::var_x(3, 28),
            _ => return None,
        },
        24 => match dig(2)? {
            0 | 1 => AiDef::var_x(3, 30),
            2 => AiDef::var_n(3, 6),
            3 => AiDef::var_x(3, 20),
            _ => return None,
        },
        25 => match dig(2)? {
            0 | 1 => AiDef::var_x(3, 30),
            3 => AiDef::mixed(3, 13, 13, 30, Cset82).check(13),
            4 => AiDef::var_x(3, 20),
            5 => AiDef::mixed(3, 13, 13, 25, Numeric).check(13),
            _ => return None,
        },
        31..=36 => {
            let third = dig(2)?;
            let decimals = dig(3)?;
            // Defined trade/logistic measures: 310–316, 320–329, 330–337, 340–349,
            // 350–357, 360–369, each with 0–5 implied decimals.
            let defined = match p2 {
                31 => third <= 6,
                33 | 35 => third <= 7,
                _ => true,
            };
            if !defined || decimals > 5 {
                return None;
            }
            AiDef::fixed(4, 6).predefined().meaning(Meaning::Measure)
        }
        39 => {
            let third = dig(2)?;
            dig(3)?;
            match third {
                // 390n amount, 392n price: N..15; 391n/393n: ISO 4217 code + N..15.
                0 | 2 => AiDef::var_n(4, 15),
                1 | 3 => AiDef::mixed(4, 3, 4, 18, Numeric),
                _ => return None,
            }
        }
        40 => match dig(2)? {
            0 | 1 | 3 => AiDef::var_x(3, 30),
            2 => AiDef::fixed(3, 17).check(17),
            _ => return None,
        },
        41 => match dig(2)? {
            0..=7 => AiDef::fixed(3, 13).predefined().check(13),
            _ => return None,
        },
        42 => match dig(2)? {
            0 => AiDef::var_x(3, 20),
            1 => AiDef::mixed(3, 3, 4, 12, Cset82),
            2 => AiDef::fixed(3, 3),
            _ => return None,
        },
        70 => match (dig(2)?, dig(3)?) {
            (0, 1) => AiDef::fixed(4, 13),
            (0, 2) => AiDef::var_x(4, 30),
            (0, 3) => AiDef::fixed(4, 10).meaning(Meaning::DateTime),
            (0, 6) => AiDef::fixed(4, 6).meaning(Meaning::Date),
            _ => return None,
        },
        80 => match (dig(2)?, dig(3)?) {
            (0, 1) => AiDef::fixed(4, 14),
            (0, 2) => AiDef::var_x(4, 20),
            (0, 3) => AiDef::mixed(4, 14, 14, 30, Cset82).check(14),
            (0, 4) => AiDef::var_x(4, 30),
            (0, 5) => AiDef::fixed(4, 6),
            (0, 6) => AiDef::fixed(4, 18).check(14),
            (0, 7) => AiDef::var_x(4, 34),
            (0, 8) => AiDef::mixed(4, 8, 8, 12, Numeric).meaning(Meaning::DateTime),
            (1, 2) => AiDef::var_x(4, 20),
            (1, 3) => AiDef::var_x(4, 25),
            (1, 7) | (1, 8) => AiDef::fixed(4, 18).check(18),
            (1, 9) => AiDef::var_n(4, 10),
            (2, 0) => AiDef::var_x(4, 25),
            _ => return None,
        },
        82 => match (dig(2)?, dig(3)?) {
            (0, 0) => AiDef::var_x(4, 70),
            _ => return None,
        },
        _ => return None,
    };
    Some((s.get(..def.ai_len)?, def))
}

/// Look up an AI given as its exact digits (bracket form, Digital Link).
fn lookup_exact(ai: &str) -> Option<AiDef> {
    lookup(ai).and_then(|(found, def)| (found.len() == ai.len()).then_some(def))
}

/// True when `ai` (exact digits, e.g. `"3102"`) is an AI this module knows.
pub fn is_known_ai(ai: &str) -> bool {
    lookup_exact(ai).is_some()
}

/// The GS1 fields a till cares about, plus every AI found.
///
/// Field names follow `store.product.scanned` in events.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Gs1Data {
    /// (01), 14 digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gtin: Option<String>,
    /// (10) batch/lot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// (17) expiry, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// (15) best before, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_before: Option<String>,
    /// (11) production date, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_date: Option<String>,
    /// (21) serial number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// (310x) net weight in kg as a decimal string with x decimals (`"12.34"`). A string,
    /// not a float, so the declared precision survives and no rounding creeps in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_weight_kg: Option<String>,
    /// (00) SSCC, 18 digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    /// (30) variable count, else (37) count of trade items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Every AI found with its raw value (dates as YYMMDD, measures without decimal point).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ais: BTreeMap<String, String>,
}

fn err(reason: String) -> ScanError {
    ScanError::new(reason)
}

/// GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
fn is_cset82(c: u8) -> bool {
    matches!(c,
        b'!' | b'"' | b'%' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'-' | b'.'
        | b'/' | b'0'..=b'9' | b':' | b';' | b'<' | b'=' | b'>' | b'?' | b'A'..=b'Z' | b'_'
        | b'a'..=b'z')
}

fn two_digits(s: &str, at: usize) -> Option<i64> {
    let b = s.as_bytes();
    let hi = b.get(at).copied().filter(u8::is_ascii_digit)?;
    let lo = b.get(at + 1).copied().filter(u8::is_ascii_digit)?;
    Some(i64::from(hi - b'0') * 10 + i64::from(lo - b'0'))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The four-digit year of a two-digit GS1 year, by the sliding window of the GS1 General
/// Specifications (7.12): with D = YY − (current year mod 100), D in 51…99 means the
/// previous century, D in −99…−50 the next one, otherwise the current century.
pub fn full_year(yy: u8, current_year: i32) -> i64 {
    let current = i64::from(current_year);
    let current_yy = current.rem_euclid(100);
    let century = current - current_yy;
    // i64 arithmetic on an i32 year and a u8: cannot overflow.
    let yy = i64::from(yy);
    let diff = yy - current_yy;
    if diff >= 51 {
        century - 100 + yy
    } else if diff <= -50 {
        century + 100 + yy
    } else {
        century + yy
    }
}

/// Convert a GS1 `YYMMDD` date to `YYYY-MM-DD`. DD = 00 means the last day of the month.
/// `None` for a malformed or impossible date (month 13, 31 April, 29 Feb in a common year).
pub fn expand_date(yymmdd: &str, current_year: i32) -> Option<String> {
    if yymmdd.len() != 6 {
        return None;
    }
    let yy = u8::try_from(two_digits(yymmdd, 0)?).ok()?;
    let year = full_year(yy, current_year);
    let month = two_digits(yymmdd, 2)?;
    let day = two_digits(yymmdd, 4)?;
    if !(1..=12).contains(&month) || !(0..=9999).contains(&year) {
        return None;
    }
    let last = days_in_month(year, month);
    let day = match day {
        0 => last,
        d if d <= last => d,
        _ => return None,
    };
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// YYMMDDHH[MM[SS]]: a real date (no DD = 00) and a real time of day.
fn valid_date_time(s: &str, current_year: i32) -> bool {
    let Some(date) = s.get(..6) else {
        return false;
    };
    if two_digits(date, 4) == Some(0) || expand_date(date, current_year).is_none() {
        return false;
    }
    let hour_ok = two_digits(s, 6).is_some_and(|h| h <= 23);
    let rest_ok = match s.len() {
        8 => true,
        10 => two_digits(s, 8).is_some_and(|m| m <= 59),
        12 => {
            two_digits(s, 8).is_some_and(|m| m <= 59) && two_digits(s, 10).is_some_and(|x| x <= 59)
        }
        _ => false,
    };
    hour_ok && rest_ok
}

/// `digits` with `decimals` implied decimals as a decimal string: ("001234", 2) → "12.34".
fn decimal(digits: &str, decimals: usize) -> String {
    let split = digits.len().saturating_sub(decimals);
    let int = digits.get(..split).unwrap_or("").trim_start_matches('0');
    let frac = digits.get(split..).unwrap_or("");
    let int = if int.is_empty() { "0" } else { int };
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Check one AI's value against its table row. Reasons name the AI, never the value.
fn validate(ai: &str, def: &AiDef, value: &str, current_year: i32) -> Result<(), ScanError> {
    if !value.is_ascii() {
        return Err(err(format!(
            "AI ({ai}) contains a character outside the GS1 character set"
        )));
    }
    let len = value.len();
    if len < def.min || len > def.max {
        return Err(err(if def.is_fixed() && len > def.max {
            format!(
                "AI ({ai}) must have {} characters, found {len} (missing separator?)",
                def.max
            )
        } else if def.is_fixed() {
            format!("AI ({ai}) must have {} characters, found {len}", def.max)
        } else if len > def.max {
            format!(
                "AI ({ai}) must have at most {} characters, found {len} (missing separator?)",
                def.max
            )
        } else {
            format!(
                "AI ({ai}) must have at least {} characters, found {len}",
                def.min
            )
        }));
    }
    let head = value.get(..def.num_prefix).unwrap_or("");
    let tail = value.get(def.num_prefix..).unwrap_or("");
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!(
            "AI ({ai}) must start with {} digits",
            def.num_prefix
        )));
    }
    let tail_ok = match def.tail {
        Charset::Numeric => tail.bytes().all(|b| b.is_ascii_digit()),
        Charset::Cset82 => tail.bytes().all(is_cset82),
    };
    if !tail_ok {
        return Err(err(match def.tail {
            Charset::Numeric => format!("AI ({ai}) must be numeric"),
            Charset::Cset82 => {
                format!("AI ({ai}) contains a character outside the GS1 character set")
            }
        }));
    }
    if def.check_len > 0 {
        let keyed = value.get(..def.check_len).unwrap_or("");
        if !gtin::has_valid_check_digit(keyed) {
            return Err(err(format!("AI ({ai}) has a wrong check digit")));
        }
    }
    match def.meaning {
        Meaning::Plain | Meaning::Measure => {}
        Meaning::Date => {
            if expand_date(value, current_year).is_none() {
                return Err(err(format!("AI ({ai}) is not a valid YYMMDD date")));
            }
        }
        Meaning::DateTime => {
            if !valid_date_time(value, current_year) {
                return Err(err(format!("AI ({ai}) is not a valid date and time")));
            }
        }
    }
    Ok(())
}

/// Validate `(AI, value)` pairs and collect them into [`Gs1Data`]. The same AI may appear
/// twice only with the same value.
pub fn assemble(pairs: Vec<(String, String)>, current_year: i32) -> Result<Gs1Data, ScanError> {
    if pairs.is_empty() {
        return Err(err("no GS1 element found".to_string()));
    }
    let mut data = Gs1Data::default();
    for (ai, value) in pairs {
        let def = lookup_exact(&ai).ok_or_else(|| {
            // Only echo the AI when it is a plausible AI (2–4 digits); never data.
            if (2..=4).contains(&ai.len()) && ai.bytes().all(|b| b.is_ascii_digit()) {
                err(format!("AI ({ai}) is unknown or not supported"))
            } else {
                err("a GS1 element has a malformed AI".to_string())
            }
        })?;
        validate(&ai, &def, &value, current_year)?;
        if let Some(previous) = data.ais.get(&ai) {
            if previous != &value {
                return Err(err(format!(
                    "AI ({ai}) appears twice with different values"
                )));
            }
        }
        data.ais.insert(ai, value);
    }
    let get = |ai: &str| data.ais.get(ai).cloned();
    // Values were validated above, so the conversions below cannot fail; `and_then` keeps
    // this panic-free even if that ever changed.
    let date = |ai: &str| get(ai).and_then(|v| expand_date(&v, current_year));
    let gtin = get("01");
    let batch = get("10");
    let serial = get("21");
    let sscc = get("00");
    let expiry = date("17");
    let best_before = date("15");
    let production_date = date("11");
    let count = get("30")
        .or_else(|| get("37"))
        .and_then(|v| v.parse::<u32>().ok());
    let net_weight_kg = data
        .ais
        .iter()
        .find(|(ai, _)| ai.len() == 4 && ai.starts_with("310"))
        .map(|(ai, v)| {
            let decimals = ai
                .as_bytes()
                .get(3)
                .map_or(0, |d| usize::from(d.wrapping_sub(b'0')));
            decimal(v, decimals)
        });
    data.gtin = gtin;
    data.batch = batch;
    data.serial = serial;
    data.sscc = sscc;
    data.expiry = expiry;
    data.best_before = best_before;
    data.production_date = production_date;
    data.count = count;
    data.net_weight_kg = net_weight_kg;
    Ok(data)
}

/// Split an FNC1 element string (GS as separator) into `(AI, value)` pairs without judging
/// the values. A leading `]C1`, `]d2`, `]Q3` or `]e0` and leading GS characters are
/// skipped. AIs of predefined length (00–02, 11–17, 20, 31–36, 41x) end after their length
/// and need no GS (one is tolerated). Every other AI ends at GS or at the end of the data,
/// as the GS1 General Specifications require, even when its length is fixed (e.g. 422,
/// 7003): a missing GS there is reported rather than guessed around.
pub fn split_element_string(input: &str) -> Result<Vec<(String, String)>, ScanError> {
    let mut rest = input;
    for aim in ["]C1", "]d2", "]Q3", "]e0"] {
        if let Some(r) = rest.strip_prefix(aim) {
            rest = r;
            break;
        }
    }
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(GS);
        if rest.is_empty() {
            break;
        }
        let position = input.len() - rest.len();
        let (ai, def) =
            lookup(rest).ok_or_else(|| err(format!("no known GS1 AI at character {position}")))?;
        let data = rest.get(ai.len()..).unwrap_or("");
        let field_end = data.find(GS).unwrap_or(data.len());
        let value_len = if def.predefined {
            if field_end < def.max {
                return Err(err(format!(
                    "AI ({ai}) is truncated: expected {} characters, found {field_end}",
                    def.max
                )));
            }
            def.max
        } else {
            // Length (including a fixed one) is checked in `validate`, which reports a
            // missing separator as "too long".
            field_end
        };
        let value = data.get(..value_len).ok_or_else(|| {
            err(format!(
                "AI ({ai}) contains a character outside the GS1 character set"
            ))
        })?;
        if value.is_empty() {
            return Err(err(format!("AI ({ai}) has no data")));
        }
        out.push((ai.to_string(), value.to_string()));
        rest = data.get(value_len..).unwrap_or("");
    }
    if out.is_empty() {
        return Err(err("no GS1 element found".to_string()));
    }
    Ok(out)
}

/// Parse an FNC1 element string (see [`split_element_string`]) into [`Gs1Data`].
pub fn parse_element_string(input: &str, current_year: i32) -> Result<Gs1Data, ScanError> {
    assemble(split_element_string(input)?, current_year)
}

/// True when `s` starts like the bracket form: `(` 2–4 digits `)`.
pub fn looks_bracketed(s: &str) -> bool {
    let Some(r) = s.strip_prefix('(') else {
        return false;
    };
    let n = r.bytes().take_while(u8::is_ascii_digit).count();
    (2..=4).contains(&n) && r.as_bytes().get(n) == Some(&b')')
}

/// Split the human-readable form `(01)09501101530003(17)251231(10)ABC` into pairs. A value
/// runs to the next `(`, so values containing `(` cannot be written in this form (GS1
/// forbids ambiguity here too; use the FNC1 form for them).
pub fn split_bracketed(input: &str) -> Result<Vec<(String, String)>, ScanError> {
    let mut rest = input;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let r = rest
            .strip_prefix('(')
            .ok_or_else(|| err("bracketed GS1 data must start each element with '('".into()))?;
        let close = r
            .find(')')
            .ok_or_else(|| err("bracketed GS1 data has an unclosed '('".into()))?;
        let ai = r.get(..close).unwrap_or("");
        if !(2..=4).contains(&ai.len()) || !ai.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("bracketed GS1 data has a malformed AI".into()));
        }
        let after = r.get(close + 1..).unwrap_or("");
        let end = after.find('(').unwrap_or(after.len());
        let value = after.get(..end).unwrap_or("");
        if value.is_empty() {
            return Err(err(format!("AI ({ai}) has no data")));
        }
        out.push((ai.to_string(), value.to_string()));
        rest = after.get(end..).unwrap_or("");
    }
    if out.is_empty() {
        return Err(err("no GS1 element found".into()));
    }
    Ok(out)
}

/// Parse the bracket form into [`Gs1Data`].
pub fn parse_bracketed(input: &str, current_year: i32) -> Result<Gs1Data, ScanError> {
    assemble(split_bracketed(input)?, current_year)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR: i32 = 2025;

    /// `expected`: Ok(list of (field, value)) checked against the JSON form, or Err(part of
    /// the reason).
    fn check(input: &str, expected: Result<&[(&str, &str)], &str>) {
        let got = if input.starts_with('(') {
            parse_bracketed(input, YEAR)
        } else {
            parse_element_string(input, YEAR)
        };
        match (got, expected) {
            (Ok(data), Ok(fields)) => {
                let json = serde_json::to_value(&data).unwrap();
                for (k, v) in fields {
                    let actual = match k.strip_prefix("ai:") {
                        Some(ai) => json["ais"][ai].clone(),
                        None => json[*k].clone(),
                    };
                    let actual = match actual {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    assert_eq!(actual, *v, "{input:?} field {k}");
                }
            }
            (Err(e), Err(part)) => assert!(e.reason().contains(part), "{input:?}: {e}"),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn gs1_general_specification_vectors() {
        check("(01)09501101530003", Ok(&[("gtin", "09501101530003")]));
        check(
            "(01)09501101530003(17)251231(10)ABC",
            Ok(&[
                ("gtin", "09501101530003"),
                ("expiry", "2025-12-31"),
                ("batch", "ABC"),
            ]),
        );
        // FNC1 form: 01 and 17 are predefined-length, so no GS is needed after them.
        check(
            "]C101095011015300031725123110ABC",
            Ok(&[
                ("gtin", "09501101530003"),
                ("expiry", "2025-12-31"),
                ("batch", "ABC"),
            ]),
        );
        check(
            "01095011015300031725123110ABC\u{1d}21XYZ-1",
            Ok(&[("batch", "ABC"), ("serial", "XYZ-1"), ("ai:21", "XYZ-1")]),
        );
        // Leading GS (FNC1 in first position as sent by some scanners) and a superfluous GS.
        check("\u{1d}0109501101530003\u{1d}10ABC", Ok(&[("batch", "ABC")]));
        check(
            "00106141412345678908",
            Ok(&[("sscc", "106141412345678908")]),
        );
        check(
            "(00)106141412345678908(02)09501101530003(37)25",
            Ok(&[
                ("sscc", "106141412345678908"),
                ("count", "25"),
                ("ai:02", "09501101530003"),
            ]),
        );
        check(
            "(01)95012345678903(3103)000123",
            Ok(&[("net_weight_kg", "0.123"), ("ai:3103", "000123")]),
        );
        check(
            "]C1010950110153000331020012341112345",
            Err("AI (11) is truncated"),
        );
        check(
            "0109501101530003310200123411250101",
            Ok(&[
                ("net_weight_kg", "12.34"),
                ("production_date", "2025-01-01"),
            ]),
        );
        check(
            "01095011015300033100000500",
            Ok(&[("net_weight_kg", "500")]),
        );
        check(
            "(01)09501101530003(15)260200",
            Ok(&[("best_before", "2026-02-28")]),
        );
        check(
            "(01)09501101530003(17)240200",
            Ok(&[("expiry", "2024-02-29")]),
        );
        check("(01)09501101530003(30)12", Ok(&[("count", "12")]));
        check(
            "(414)0614141000012(254)A1\u{1d}",
            Err("AI (254) contains a character outside"), // GS is not data in bracket form
        );
        check("(414)0614141000012", Ok(&[("ai:414", "0614141000012")]));
        check(
            "(8003)00614141000012ABC(8004)X-1(8200)https://example.com/x",
            Ok(&[("ai:8003", "00614141000012ABC"), ("ai:8004", "X-1")]),
        );
        check(
            "(7003)2512312359(8008)25123123(422)276(421)276D-10115",
            Ok(&[("ai:7003", "2512312359"), ("ai:422", "276")]),
        );
        check(
            "(402)06141411234567890",
            Ok(&[("ai:402", "06141411234567890")]),
        );
        check("(3922)1299(3932)9781299", Ok(&[("ai:3932", "9781299")]));
        check(
            "(240)ABC(241)DEF(250)1(251)2(253)0614141000012X(255)0614141000012",
            Ok(&[]),
        );
        check(
            "(90)INTERN(91)A(99)Z(20)01(22)CPV(400)PO1(401)C1(403)R1(16)250101(12)250101(13)250101",
            Ok(&[]),
        );
        check("(410)0614141000012(411)0614141000012(412)0614141000012(413)0614141000012(415)0614141000012(416)0614141000012(417)0614141000012", Ok(&[]));
        check(
            "(8020)REF1(8017)106141412345678908(8018)106141412345678908(7006)250101(3205)000001",
            Ok(&[("ai:3205", "000001"), ("ai:7006", "250101")]),
        );
        check("(8020)REF1(320 5)000001", Err("malformed AI"));
    }

    #[test]
    fn gs1_invalid_vectors() {
        check("(01)09501101530004", Err("AI (01) has a wrong check digit"));
        check("010950110153", Err("AI (01) is truncated"));
        check("(01)0950110153000", Err("AI (01) must have 14 characters"));
        check("(17)251301", Err("AI (17) is not a valid YYMMDD date"));
        check("(17)250231", Err("AI (17) is not a valid YYMMDD date"));
        check("(17)250229", Err("AI (17)"));
        check("(11)2501", Err("AI (11) must have 6"));
        check(
            "(10)ABCDEFGHIJKLMNOPQRSTU",
            Err("AI (10) must have at most 20"),
        );
        check("10ABC DEF", Err("AI (10) contains a character outside"));
        check("(10)ABCé", Err("AI (10) contains a character outside"));
        check("(3106)001234", Err("AI (3106) is unknown"));
        check("(99)", Err("AI (99) has no data"));
        check("(23)X", Err("AI (23) is unknown"));
        check(
            "(01)09501101530003(01)09501101530010",
            Err("AI (01) appears twice"),
        );
        check(
            "(01)09501101530003(01)09501101530003",
            Ok(&[("gtin", "09501101530003")]),
        );
        check("(01)09501101530003)", Err("AI (01) must have 14"));
        check("01ABCDEFGHIJKLMN", Err("AI (01) must start with 14 digits"));
        check("(30)1A", Err("AI (30) must be numeric"));
        check("(0109501101530003", Err("unclosed"));
        check("()1", Err("malformed AI"));
        check("(01)", Err("AI (01) has no data"));
        check("()", Err("malformed AI"));
        check("ABC", Err("no known GS1 AI at character 0"));
        check("0109501101530003XY", Err("no known GS1 AI at character 16"));
        check("\u{1d}\u{1d}", Err("no GS1 element"));
        check(
            "(7003)2512319960",
            Err("AI (7003) is not a valid date and time"),
        );
        check("(8008)251231", Err("AI (8008) must have at least 8"));
        check(
            "(8008)251231230",
            Err("AI (8008) is not a valid date and time"),
        );
        check(
            "(00)106141412345678900",
            Err("AI (00) has a wrong check digit"),
        );
        // 422 has a fixed length but is not in the predefined table: GS required after it.
        check(
            "4222761725123",
            Err("AI (422) must have 3 characters, found 10 (missing separator?)"),
        );
        check(
            "422276\u{1d}17251231",
            Ok(&[("ai:422", "276"), ("expiry", "2025-12-31")]),
        );
        check("17251231422276", Ok(&[("ai:422", "276")]));
    }

    #[test]
    fn century_window() {
        // GS1 General Specifications 7.12 with current year 2025.
        assert_eq!(expand_date("991231", 2025).as_deref(), Some("1999-12-31"));
        assert_eq!(expand_date("761231", 2025).as_deref(), Some("1976-12-31"));
        assert_eq!(expand_date("751231", 2025).as_deref(), Some("2075-12-31"));
        assert_eq!(expand_date("000101", 2025).as_deref(), Some("2000-01-01"));
        assert_eq!(expand_date("050101", 2060).as_deref(), Some("2105-01-01"));
        assert_eq!(expand_date("990101", 2001).as_deref(), Some("1999-01-01"));
        assert_eq!(expand_date("000200", 2025).as_deref(), Some("2000-02-29"));
        assert_eq!(expand_date("250400", 2025).as_deref(), Some("2025-04-30"));
        assert_eq!(expand_date("251200", 2025).as_deref(), Some("2025-12-31"));
        assert_eq!(expand_date("250001", 2025), None);
        assert_eq!(expand_date("250432", 2025), None);
        assert_eq!(expand_date("25010", 2025), None);
        assert_eq!(expand_date("2501+1", 2025), None);
        // Absurd years never panic; out-of-range results are rejected.
        assert_eq!(expand_date("250101", i32::MAX), None);
        assert_eq!(expand_date("250101", i32::MIN), None);
        assert_eq!(full_year(25, 1999), 2025);
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("001234", 2), "12.34");
        assert_eq!(decimal("001234", 0), "1234");
        assert_eq!(decimal("001234", 5), "0.01234");
        assert_eq!(decimal("000000", 3), "0.000");
        assert_eq!(decimal("123456", 1), "12345.6");
    }
}
