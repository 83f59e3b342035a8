//! AIM symbology identifiers (`]Xm`, ISO/IEC 15424): strip the one a scanner prefixed to a
//! frame, or infer one from the content when the scanner sent none. Pure: it must never
//! panic on any input, never allocate more than a few bytes, never do I/O.
//!
//! # Inference rule (no `]Xm` prefix sent)
//!
//! Applied to the frame content, first match wins:
//!
//! 1. `SEP1.` pickup pass or an `http://`/`https://` URL (Digital Link) → `]Q1` (QR Code,
//!    model 2; such data is only ever printed as QR).
//! 2. Contains GS (FNC1) or is in GS1 bracket form `(01)…` → `]C1` (GS1-128).
//! 3. All digits:
//!    - 13, or 12 (UPC-A without its leading 0), with a valid check digit → `]E0`;
//!    - 8 with a valid EAN-8 check digit → `]E4`; otherwise 8 digits that are a valid UPC-E
//!      → `]E0` (an ambiguous 8-digit code is read as EAN-8, as most scanners do);
//!    - 14 with a valid check digit → `]I1` (ITF-14, the usual carrier of a bare GTIN-14);
//!    - anything that splits into a GS1 element string (e.g. `0109501101530003…`) → `]C1`;
//!    - other digits → `]C0` (Code 128).
//! 4. Other text that splits into a GS1 element string → `]C1`; any other text → `]Q1`.
//!
//! The inferred identifier is a best guess, marked `inferred` so consumers can tell it from
//! one the scanner actually sent.

use serde::Serialize;

use super::{gs1, gtin};

/// An AIM symbology identifier such as `]E0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Symbology {
    /// Symbology code character (`E` EAN/UPC, `C` Code 128, `Q` QR, `d` Data Matrix, …).
    pub code: char,
    /// Modifier character (options such as FNC1 in first position).
    pub modifier: char,
    /// True when this module guessed it from the content instead of receiving it.
    pub inferred: bool,
}

impl Symbology {
    /// A symbology identifier from its two characters.
    pub const fn new(code: char, modifier: char, inferred: bool) -> Self {
        Symbology {
            code,
            modifier,
            inferred,
        }
    }

    /// The identifier as transmitted, e.g. `]E0`.
    pub fn id(&self) -> String {
        format!("]{}{}", self.code, self.modifier)
    }

    /// True for the identifiers whose data is a GS1 element string (FNC1 in first
    /// position): `]C1` GS1-128, `]e0` GS1 DataBar, `]d2`/`]d5` GS1 DataMatrix (with/without
    /// ECI), `]Q3`/`]Q4` GS1 QR Code (with/without ECI).
    pub fn carries_gs1_element_string(&self) -> bool {
        matches!(
            (self.code, self.modifier),
            ('C', '1') | ('e', '0') | ('d', '2') | ('d', '5') | ('Q', '3') | ('Q', '4')
        )
    }

    /// True for the EAN/UPC family (`]E0`–`]E4`).
    pub fn is_ean_upc(&self) -> bool {
        self.code == 'E'
    }
}

/// Split a leading `]Xm` identifier off `text`. `X` must be an ASCII letter and `m` an
/// ASCII letter or digit; otherwise the text is returned unchanged (a `]` can be data).
pub fn split_aim(text: &str) -> (Option<Symbology>, &str) {
    let b = text.as_bytes();
    match (b.first(), b.get(1), b.get(2)) {
        (Some(b']'), Some(&c), Some(&m))
            if c.is_ascii_alphabetic() && m.is_ascii_alphanumeric() =>
        {
            // The first three bytes are ASCII, so byte 3 is a char boundary.
            let rest = text.get(3..).unwrap_or("");
            (
                Some(Symbology::new(char::from(c), char::from(m), false)),
                rest,
            )
        }
        _ => (None, text),
    }
}

/// Guess the symbology of content that arrived without an AIM identifier (see the module
/// documentation for the rule). `content` is the frame without any `]Xm` prefix.
pub fn infer(content: &str) -> Symbology {
    let inferred = |code, modifier| Symbology::new(code, modifier, true);
    let lower_start = content.get(..8).unwrap_or(content).to_ascii_lowercase();
    if content.starts_with("SEP1.")
        || lower_start.starts_with("http://")
        || lower_start.starts_with("https://")
    {
        return inferred('Q', '1');
    }
    if content.contains(gs1::GS) || gs1::looks_bracketed(content) {
        return inferred('C', '1');
    }
    let digits = !content.is_empty() && content.bytes().all(|b| b.is_ascii_digit());
    if digits {
        let valid = gtin::has_valid_check_digit(content);
        match content.len() {
            12 | 13 if valid => return inferred('E', '0'),
            8 if valid => return inferred('E', '4'),
            8 if gtin::expand_upce(content).is_ok() => return inferred('E', '0'),
            14 if valid => return inferred('I', '1'),
            _ => {}
        }
    }
    if gs1::split_element_string(content).is_ok() {
        return inferred('C', '1');
    }
    if digits {
        inferred('C', '0')
    } else {
        inferred('Q', '1')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: (Option<&str>, &str)) {
        let (aim, rest) = split_aim(input);
        assert_eq!(aim.map(|a| a.id()).as_deref(), expected.0, "{input}");
        assert_eq!(rest, expected.1, "{input}");
    }

    #[test]
    fn split_vectors() {
        check("]E09501101530003", (Some("]E0"), "9501101530003"));
        check("]E412345670", (Some("]E4"), "12345670"));
        check("]C10109501101530003", (Some("]C1"), "0109501101530003"));
        check(
            "]Q3010950110153000317251231",
            (Some("]Q3"), "010950110153000317251231"),
        );
        check("]d201095011015300031", (Some("]d2"), "01095011015300031"));
        check("]e00109501101530003", (Some("]e0"), "0109501101530003"));
        check("]A0ABC-123", (Some("]A0"), "ABC-123"));
        check("]I110614141000415", (Some("]I1"), "10614141000415"));
        check("]E0", (Some("]E0"), ""));
        check("]E", (None, "]E"));
        check("]]0x", (None, "]]0x"));
        check("]1A", (None, "]1A"));
        check("]Eé", (None, "]Eé"));
        check("9501101530003", (None, "9501101530003"));
        check("", (None, ""));
    }

    #[test]
    fn gs1_identifiers() {
        for id in ["]C1", "]e0", "]d2", "]Q3"] {
            let (aim, _) = split_aim(id);
            assert!(aim.unwrap().carries_gs1_element_string(), "{id}");
        }
        for id in ["]C0", "]Q1", "]E0", "]d1", "]A0"] {
            let (aim, _) = split_aim(id);
            assert!(!aim.unwrap().carries_gs1_element_string(), "{id}");
        }
    }

    #[test]
    fn inference_vectors() {
        let inf = |s: &str| infer(s).id();
        assert_eq!(inf("9501101530003"), "]E0");
        assert_eq!(inf("012345000065"), "]E0");
        assert_eq!(inf("12345670"), "]E4");
        assert_eq!(inf("04252614"), "]E0"); // UPC-E
        assert_eq!(inf("10614141000415"), "]I1");
        assert_eq!(inf("0109501101530003\u{1d}10ABC"), "]C1");
        assert_eq!(inf("(01)09501101530003"), "]C1");
        assert_eq!(inf("01095011015300031725123110ABC"), "]C1");
        assert_eq!(inf("https://id.gs1.org/01/09501101530003"), "]Q1");
        assert_eq!(inf("SEP1.abc.def"), "]Q1");
        assert_eq!(inf("12345"), "]C0");
        assert_eq!(inf("hello world"), "]Q1");
        assert!(infer("12345").inferred);
    }
}
