//! GS1 Digital Link URIs (`https://<any host>/[extra path/]01/<gtin>/10/<lot>?17=<date>`):
//! path AIs (primary key, then qualifiers) and query AIs, percent-decoded and then checked
//! like any element string. Pure: it must never panic, never resolve or fetch the URI (the
//! host is ignored), never do I/O, and never echo values in error reasons.
//!
//! Decisions worth knowing:
//! - Only `http`/`https` URIs are considered; a URI with no primary-key AI in its path is
//!   "not a Digital Link" (`Ok(None)`), not an error.
//! - The primary key is the first path segment that is a primary-key AI (numeric, or a
//!   Digital Link 1.0 short name such as `gtin`); everything after it must be AI/value pairs.
//! - A GTIN in the path may be 8, 12, 13 or 14 digits and is padded to 14.
//! - In the query, numeric AI keys are taken; other keys (`linkType`, …) are ignored. `+` is
//!   kept literally (it is a valid GS1 character; a space never is).

use super::gs1::{self, Gs1Data};
use super::ScanError;

/// Primary-key AIs allowed to start the AI part of a Digital Link path.
const PRIMARY_KEYS: &[&str] = &[
    "00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8013", "8017",
    "8018",
];

/// Digital Link 1.0 convenience names for AIs in the path.
fn short_name(segment: &str) -> Option<&'static str> {
    Some(match segment {
        "gtin" => "01",
        "sscc" => "00",
        "gln" => "414",
        "party" => "417",
        "grai" => "8003",
        "giai" => "8004",
        "gsrn" => "8018",
        "gsrnp" => "8017",
        "gdti" => "253",
        "gcn" => "255",
        "ginc" => "401",
        "gsin" => "402",
        "itip" => "8006",
        "gmn" => "8013",
        "cpv" => "22",
        "lot" => "10",
        "ser" => "21",
        "glnx" => "254",
        _ => return None,
    })
}

/// The AI a path segment stands for, if any.
fn path_ai(segment: &str) -> Option<&str> {
    if segment.bytes().all(|b| b.is_ascii_digit()) && gs1::is_known_ai(segment) {
        Some(segment)
    } else {
        short_name(segment)
    }
}

fn is_primary_key(segment: &str) -> bool {
    path_ai(segment).is_some_and(|ai| PRIMARY_KEYS.contains(&ai))
}

/// True when `s` starts with `http://` or `https://` (any letter case).
pub fn looks_like_uri(s: &str) -> bool {
    let head = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    head.starts_with("http://") || head.starts_with("https://")
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode `%XX` escapes; the result must be UTF-8.
pub fn percent_decode(s: &str) -> Result<String, ScanError> {
    let bad = || ScanError::new("the Digital Link has a malformed percent-escape");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes
                .get(i + 1)
                .copied()
                .and_then(hex_value)
                .ok_or_else(bad)?;
            let lo = bytes
                .get(i + 2)
                .copied()
                .and_then(hex_value)
                .ok_or_else(bad)?;
            out.push(hi * 16 + lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ScanError::new("the Digital Link decodes to invalid UTF-8"))
}

/// Split a Digital Link into `(AI, value)` pairs: path AIs first, then query AIs.
/// `Ok(None)` when `uri` is not an http(s) URI with a primary-key AI in its path.
pub fn split_digital_link(uri: &str) -> Result<Option<Vec<(String, String)>>, ScanError> {
    if !looks_like_uri(uri) {
        return Ok(None);
    }
    let after_scheme = match uri.find("://") {
        Some(i) => uri.get(i + 3..).unwrap_or(""),
        None => return Ok(None),
    };
    let without_fragment = after_scheme.split('#').next().unwrap_or("");
    let (authority_path, query) = match without_fragment.split_once('?') {
        Some((ap, q)) => (ap, q),
        None => (without_fragment, ""),
    };
    let Some((authority, path)) = authority_path.split_once('/') else {
        return Ok(None);
    };
    if authority.is_empty() {
        return Ok(None);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(start) = segments.iter().position(|s| is_primary_key(s)) else {
        return Ok(None);
    };
    let ai_segments = segments.get(start..).unwrap_or(&[]);
    let mut pairs = Vec::new();
    for pair in ai_segments.chunks(2) {
        let (key, value) = match pair {
            [key, value] => (*key, *value),
            _ => {
                return Err(ScanError::new(
                    "the Digital Link path ends with an AI that has no value",
                ))
            }
        };
        let ai = path_ai(key).ok_or_else(|| {
            ScanError::new("the Digital Link path has a segment that is not a GS1 AI")
        })?;
        let mut value = percent_decode(value)?;
        if ai == "01" && matches!(value.len(), 8 | 12 | 13) {
            value = format!("{value:0>14}");
        }
        pairs.push((ai.to_string(), value));
    }
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(key)?;
        let numeric = (2..=4).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_digit());
        if !numeric {
            continue; // linkType, context, … are not AIs
        }
        if !gs1::is_known_ai(&key) {
            return Err(ScanError::new(format!(
                "AI ({key}) in the Digital Link query is unknown or not supported"
            )));
        }
        pairs.push((key, percent_decode(value)?));
    }
    Ok(Some(pairs))
}

/// Parse a GS1 Digital Link URI into [`Gs1Data`]; `Ok(None)` when it is not one.
pub fn parse_digital_link(uri: &str, current_year: i32) -> Result<Option<Gs1Data>, ScanError> {
    match split_digital_link(uri)? {
        Some(pairs) => gs1::assemble(pairs, current_year).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ok(Some(fields)) / Ok(None) (not a Digital Link) / Err(part of the reason).
    fn check(input: &str, expected: Result<Option<&[(&str, &str)]>, &str>) {
        match (parse_digital_link(input, 2025), expected) {
            (Ok(Some(data)), Ok(Some(fields))) => {
                for (ai, v) in fields {
                    assert_eq!(
                        data.ais.get(*ai).map(String::as_str),
                        Some(*v),
                        "{input} ({ai})"
                    );
                }
            }
            (Ok(None), Ok(None)) => {}
            (Err(e), Err(part)) => assert!(e.reason().contains(part), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn digital_link_standard_examples() {
        check(
            "https://id.gs1.org/01/09501101530003/10/ABC?17=251231",
            Ok(Some(&[
                ("01", "09501101530003"),
                ("10", "ABC"),
                ("17", "251231"),
            ])),
        );
        check(
            "https://id.gs1.org/01/09520123456788",
            Ok(Some(&[("01", "09520123456788")])),
        );
        check(
            "https://id.gs1.org/01/09520123456788/22/2A",
            Ok(Some(&[("01", "09520123456788"), ("22", "2A")])),
        );
        check(
            "https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426",
            Ok(Some(&[("10", "ABC1"), ("21", "12345"), ("17", "180426")])),
        );
        check(
            "https://example.com/01/9520123456788",
            Ok(Some(&[("01", "09520123456788")])),
        );
        check(
            "https://brand.example.com/some-extra/pathinfo/01/09520123456788/10/ABC123?17=201225&linkType=gs1:certificationInfo",
            Ok(Some(&[("01", "09520123456788"), ("10", "ABC123"), ("17", "201225")])),
        );
        check(
            "https://id.gs1.org/00/106141412345678908",
            Ok(Some(&[("00", "106141412345678908")])),
        );
        check(
            "https://id.gs1.org/414/0614141000012/254/A1",
            Ok(Some(&[("414", "0614141000012"), ("254", "A1")])),
        );
        check(
            "HTTPS://example.com/gtin/09520123456788/lot/AB%2F12/ser/1%2B2#frag",
            Ok(Some(&[
                ("01", "09520123456788"),
                ("10", "AB/12"),
                ("21", "1+2"),
            ])),
        );
        check(
            "https://example.com/01/09520123456788/?3103=000500",
            Ok(Some(&[("3103", "000500")])),
        );
    }

    #[test]
    fn digital_link_rejections() {
        check("https://example.com/", Ok(None));
        check("https://example.com", Ok(None));
        check("https://example.com/products/123", Ok(None));
        check("ftp://example.com/01/09520123456788", Ok(None));
        check("https:///01/09520123456788", Ok(None));
        check("https://id.gs1.org/01", Err("no value"));
        check("https://id.gs1.org/01/09520123456788/10", Err("no value"));
        check(
            "https://id.gs1.org/01/09520123456788/xx/1",
            Err("not a GS1 AI"),
        );
        check(
            "https://id.gs1.org/01/09520123456789",
            Err("AI (01) has a wrong check digit"),
        );
        check(
            "https://id.gs1.org/01/09520123456788/10/A%2",
            Err("percent-escape"),
        );
        check(
            "https://id.gs1.org/01/09520123456788/10/A%ZZ",
            Err("percent-escape"),
        );
        check("https://id.gs1.org/01/09520123456788/10/%FF", Err("UTF-8"));
        check(
            "https://id.gs1.org/01/09520123456788/10/A%20B",
            Err("AI (10) contains"),
        );
        check(
            "https://id.gs1.org/01/09520123456788?17=251301",
            Err("AI (17) is not a valid"),
        );
        check(
            "https://id.gs1.org/01/09520123456788?7777=1",
            Err("AI (7777)"),
        );
        check(
            "https://id.gs1.org/01/09520123456788/10/A?10=B",
            Err("AI (10) appears twice"),
        );
    }
}
