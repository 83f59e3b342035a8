//! ISO/IEC 7813 magnetic-stripe tracks as a keyboard-wedge reader sends them: track 1
//! `%B<PAN>^<NAME>^<YYMM><service><discretionary>?` and track 2
//! `;<PAN>=<YYMM><service><discretionary>?`, each optionally followed by an LRC character,
//! possibly both in one frame with CR/LF between. It must never panic, never do I/O, never
//! keep the cardholder name, and never put the PAN in Debug/Display output or in error
//! reasons: the PAN only lives in a [`ClearNumber`].
//!
//! Decisions worth knowing:
//! - Track 1 must use format code `B`; other formats are rejected.
//! - Track 2 without `=` (only a number between the sentinels) is accepted, because many
//!   private-label loyalty cards are encoded that way; ISO 7813 itself requires `=`.
//! - The LRC is skipped, not verified: keyboard-wedge readers have already checked it
//!   against the raw bits, which the ASCII frame no longer carries.
//! - A second `;…?` block is taken to be track 3 and ignored.
//! - When both tracks are present, their PANs must agree.

use super::loyalty::ClearNumber;
use super::ScanError;

/// ISO/IEC 7813 maximum track lengths, sentinels included.
const TRACK1_MAX: usize = 79;
const TRACK2_MAX: usize = 40;
/// ISO/IEC 7812 maximum PAN length.
const PAN_MAX: usize = 19;

/// What a swipe yielded. `Debug` is safe to print: the PAN prints masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardTracks {
    /// Primary account number (for a loyalty card: the loyalty number). Tokenise it; never
    /// log or store it in clear.
    pub pan: ClearNumber,
    /// Expiry `YYMM` as encoded (not checked against a calendar: loyalty cards put anything
    /// there), when the track had one.
    pub expiry_yymm: Option<String>,
    /// Three-digit service code, when the track had one.
    pub service_code: Option<String>,
    pub has_track1: bool,
    pub has_track2: bool,
}

/// True when the frame starts with a track 1 (`%`) or track 2 (`;`) start sentinel.
pub fn looks_like_magstripe(s: &str) -> bool {
    s.starts_with('%') || s.starts_with(';')
}

struct Track {
    pan: String,
    expiry: Option<String>,
    service: Option<String>,
}

fn err(reason: &str) -> ScanError {
    ScanError::new(reason)
}

fn check_pan(pan: &str) -> Result<(), ScanError> {
    if pan.is_empty() {
        return Err(err("the card number on the stripe is empty"));
    }
    if !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("the card number on the stripe contains a non-digit"));
    }
    if pan.len() > PAN_MAX {
        return Err(err(
            "the card number on the stripe is longer than 19 digits",
        ));
    }
    Ok(())
}

/// `<YYMM><service><discretionary>` after the last field separator.
fn expiry_and_service(data: &str, track: &str) -> Result<(String, String), ScanError> {
    let head = data
        .get(..7)
        .filter(|h| h.bytes().all(|b| b.is_ascii_digit()));
    match head {
        Some(h) => Ok((
            h.get(..4).unwrap_or("").to_string(),
            h.get(4..).unwrap_or("").to_string(),
        )),
        None => Err(ScanError::new(format!(
            "{track} must have a 4-digit expiry and a 3-digit service code after the separator"
        ))),
    }
}

/// Track 1 data between `%` and `?`.
fn parse_track1(body: &str) -> Result<Track, ScanError> {
    // Track 1 carries the 6-bit ISO alphabet: ASCII space to '_' (no lower case).
    if !body
        .bytes()
        .all(|b| (b' '..=b'_').contains(&b) && b != b'%' && b != b'?')
    {
        return Err(err(
            "track 1 contains a character outside its character set",
        ));
    }
    let Some(rest) = body.strip_prefix('B') else {
        return Err(err("track 1 format code is not 'B'"));
    };
    let mut fields = rest.splitn(3, '^');
    let pan = fields.next().unwrap_or("");
    let (Some(name), Some(data)) = (fields.next(), fields.next()) else {
        return Err(err("track 1 needs two '^' field separators"));
    };
    check_pan(pan)?;
    if !(2..=26).contains(&name.len()) {
        return Err(err("track 1 name field must have 2 to 26 characters"));
    }
    let (expiry, service) = expiry_and_service(data, "track 1")?;
    Ok(Track {
        pan: pan.to_string(),
        expiry: Some(expiry),
        service: Some(service),
    })
}

/// Track 2 data between `;` and `?`.
fn parse_track2(body: &str) -> Result<Track, ScanError> {
    if !body.bytes().all(|b| b.is_ascii_digit() || b == b'=') {
        return Err(err("track 2 may only contain digits and '='"));
    }
    match body.split_once('=') {
        None => {
            check_pan(body)?;
            Ok(Track {
                pan: body.to_string(),
                expiry: None,
                service: None,
            })
        }
        Some((pan, data)) => {
            check_pan(pan)?;
            if data.contains('=') {
                return Err(err("track 2 has more than one '=' separator"));
            }
            let (expiry, service) = expiry_and_service(data, "track 2")?;
            Ok(Track {
                pan: pan.to_string(),
                expiry: Some(expiry),
                service: Some(service),
            })
        }
    }
}

/// Skip an LRC character after an end sentinel: anything that is not the start of the next
/// track or a line break.
fn skip_lrc(rest: &str) -> &str {
    let mut chars = rest.chars();
    match chars.next() {
        Some('%' | ';' | '\r' | '\n') | None => rest,
        Some(_) => chars.as_str(),
    }
}

/// Parse a frame holding track 1 and/or track 2.
pub fn parse_tracks(frame: &str) -> Result<CardTracks, ScanError> {
    let mut track1: Option<Track> = None;
    let mut track2: Option<Track> = None;
    let mut rest = frame;
    loop {
        rest = rest.trim_start_matches(['\r', '\n', ' ']);
        let (sentinel, max, name) = match rest.chars().next() {
            None => break,
            Some('%') => ('%', TRACK1_MAX, "track 1"),
            Some(';') => (';', TRACK2_MAX, "track 2"),
            Some(_) => return Err(err("unexpected data outside the track sentinels")),
        };
        // Sentinels are ASCII, so byte 1 is a char boundary.
        let after_start = rest.get(1..).unwrap_or("");
        let end = after_start
            .find('?')
            .ok_or_else(|| ScanError::new(format!("{name} has no end sentinel '?'")))?;
        if end + 2 > max {
            return Err(ScanError::new(format!(
                "{name} is longer than {max} characters"
            )));
        }
        let body = after_start.get(..end).unwrap_or("");
        match sentinel {
            '%' if track1.is_some() => return Err(err("the frame holds track 1 twice")),
            '%' => track1 = Some(parse_track1(body)?),
            _ if track2.is_some() => {} // track 3 also starts with ';': not used
            _ => track2 = Some(parse_track2(body)?),
        }
        rest = skip_lrc(after_start.get(end + 1..).unwrap_or(""));
    }
    let (pan, expiry, service) = match (&track1, &track2) {
        (Some(t1), Some(t2)) => {
            if t1.pan != t2.pan {
                return Err(err("track 1 and track 2 carry different card numbers"));
            }
            (
                t2.pan.clone(),
                t2.expiry.clone().or_else(|| t1.expiry.clone()),
                t2.service.clone().or_else(|| t1.service.clone()),
            )
        }
        (Some(t), None) | (None, Some(t)) => (t.pan.clone(), t.expiry.clone(), t.service.clone()),
        (None, None) => return Err(err("the frame holds no magstripe track")),
    };
    Ok(CardTracks {
        pan: ClearNumber::new(pan),
        expiry_yymm: expiry,
        service_code: service,
        has_track1: track1.is_some(),
        has_track2: track2.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Obviously fake test numbers only (4111111111111111 is the well-known Visa test PAN).
    const T1: &str = "%B4111111111111111^TEST/CARD^2512101123456789000000?";
    const T2: &str = ";4111111111111111=25121011234567890?";

    /// Ok((pan, expiry, track1, track2)) or Err(part of the reason).
    fn check(input: &str, expected: Result<(&str, Option<&str>, bool, bool), &str>) {
        match (parse_tracks(input), expected) {
            (Ok(c), Ok((pan, expiry, t1, t2))) => {
                assert_eq!(c.pan.expose(), pan, "{input:?}");
                assert_eq!(c.expiry_yymm.as_deref(), expiry, "{input:?}");
                assert_eq!((c.has_track1, c.has_track2), (t1, t2), "{input:?}");
            }
            (Err(e), Err(part)) => {
                assert!(e.reason().contains(part), "{input:?}: {e}");
                assert!(!e.reason().contains("4111"), "reason leaks the PAN: {e}");
            }
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn iso7813_vectors() {
        let pan = "4111111111111111";
        check(T1, Ok((pan, Some("2512"), true, false)));
        check(T2, Ok((pan, Some("2512"), false, true)));
        check(&format!("{T1}{T2}"), Ok((pan, Some("2512"), true, true)));
        check(
            &format!("{T1}\r\n{T2}\r\n"),
            Ok((pan, Some("2512"), true, true)),
        );
        // LRC characters after each end sentinel.
        check(&format!("{T1}A{T2}7"), Ok((pan, Some("2512"), true, true)));
        // Track 3 after track 2 is ignored.
        check(
            &format!("{T2};0111111111111111=2222?"),
            Ok((pan, Some("2512"), false, true)),
        );
        // Private-label loyalty card: number only on track 2.
        check(
            ";6012345678901234?",
            Ok(("6012345678901234", None, false, true)),
        );
        check(
            "%B6012345678^LOYAL/MEMBER^9912000?",
            Ok(("6012345678", Some("9912"), true, false)),
        );
    }

    #[test]
    fn iso7813_rejections() {
        check(
            "%B4111111111111111^TEST/CARD^2512101",
            Err("no end sentinel"),
        );
        check(";4111111111111111=2512101", Err("no end sentinel"));
        check("%A4111111111111111^TEST/CARD^2512101?", Err("format code"));
        check("%B4111111111111111TEST/CARD2512101?", Err("two '^'"));
        check("%B4111111111111111^TEST/CARD2512101?", Err("two '^'"));
        check("%B4111A11111111111^TEST/CARD^2512101?", Err("non-digit"));
        check("%B^TEST/CARD^2512101?", Err("empty"));
        check(
            "%B41111111111111111111^TEST/CARD^2512101?",
            Err("longer than 19"),
        );
        check("%B4111111111111111^X^2512101?", Err("name field"));
        check("%B4111111111111111^TEST/CARD^25?", Err("4-digit expiry"));
        check(
            "%b4111111111111111^test/card^2512101?",
            Err("character set"),
        );
        check(
            ";4111111111111111^2512101?",
            Err("only contain digits and '='"),
        );
        check(";4111111111111111=2512101=1?", Err("more than one '='"));
        check(";4111111111111111=25?", Err("4-digit expiry"));
        check(";=2512101?", Err("empty"));
        check(";41111111111111111111=2512101?", Err("longer than 19"));
        check(
            &format!(";{}?", "1".repeat(40)),
            Err("longer than 40 characters"),
        );
        check(
            &format!("%B4111111111111111^TEST/CARD^2512101{}?", "0".repeat(60)),
            Err("longer than 79 characters"),
        );
        check(
            "%B4111111111111111^TEST/CARD^2512101?;4000000000000002=2512101?",
            Err("different card numbers"),
        );
        check(&format!("{T1}{T1}"), Err("track 1 twice"));
        check(&format!("{T2}garbage"), Err("outside the track sentinels"));
        check("", Err("no magstripe track"));
        check("\r\n", Err("no magstripe track"));
    }

    #[test]
    fn debug_never_shows_the_pan() {
        let card = parse_tracks(T2).unwrap();
        let debug = format!("{card:?}");
        assert!(!debug.contains("4111111111111111"), "{debug}");
        assert!(debug.contains("****1111"), "{debug}");
    }
}
