//! Clear payment card numbers (PANs) in text: the one detector that the API's
//! screening of free text, the scanner decoder and error messages all use.
//!
//! A card number is a Luhn-valid run of 13–19 ASCII digits (ISO/IEC 7812), also
//! written in groups with a single space or dash between them
//! (`5500 0000 0000 0004`, `4111-1111-1111-1111`). Digit groups joined that way
//! form a *run*; a card number is any stretch of whole consecutive groups of a
//! run with 13–19 digits in all, so a number followed by an expiry or a CVV
//! (`4111 1111 1111 1111 123`) is still found. An unbroken stretch of more than
//! 19 digits is no card number (it is some other long number, not a PAN with
//! digits glued on).
//!
//! Pure, like all of `scan/`: no I/O, no panics, linear time in the input; it
//! never returns or prints the number it found, only where it is.

use std::borrow::Cow;
use std::ops::Range;

use super::loyalty::luhn_valid;

/// Fewest digits of a card number.
pub const MIN_DIGITS: usize = 13;
/// Most digits of a card number.
pub const MAX_DIGITS: usize = 19;

/// What [`redact`] puts where a card number was.
pub const REDACTED: &str = "[card number removed]";

fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// Calls `on_run` with the digit groups (byte ranges) of every run in `text`,
/// in order; stops early when it returns `Some`.
fn for_each_run<T>(text: &[u8], mut on_run: impl FnMut(&[Range<usize>]) -> Option<T>) -> Option<T> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if !text[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
        }
        groups.push(start..i);
        let continues = i + 1 < text.len() && is_separator(text[i]) && text[i + 1].is_ascii_digit();
        if continues {
            i += 1;
        } else {
            if let Some(found) = on_run(&groups) {
                return Some(found);
            }
            groups.clear();
        }
    }
    None
}

/// The first card number among the groups of one run, as a byte range of the text
/// from its first to its last digit.
fn card_number_in_run(text: &[u8], groups: &[Range<usize>]) -> Option<Range<usize>> {
    let mut digits = String::with_capacity(MAX_DIGITS);
    for (i, first) in groups.iter().enumerate() {
        digits.clear();
        for last in &groups[i..] {
            if digits.len() + last.len() > MAX_DIGITS {
                break;
            }
            // The bytes are ASCII digits, so each is one char.
            digits.extend(text[last.clone()].iter().map(|&b| char::from(b)));
            if digits.len() >= MIN_DIGITS && luhn_valid(&digits) {
                return Some(first.start..last.end);
            }
        }
    }
    None
}

/// Where the first card number in `text` is (a byte range from its first to its
/// last digit), if there is one.
pub fn find(text: &str) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    for_each_run(bytes, |groups| card_number_in_run(bytes, groups))
}

/// True when `text` holds a card number anywhere.
pub fn contains_card_number(text: &str) -> bool {
    find(text).is_some()
}

/// `text` with every card number replaced by [`REDACTED`]; borrowed when there is none.
pub fn redact(text: &str) -> Cow<'_, str> {
    let Some(first) = find(text) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = Some(first);
    while let Some(range) = found {
        out.push_str(&rest[..range.start]);
        out.push_str(REDACTED);
        rest = &rest[range.end..];
        found = find(rest);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// True when `s` is nothing but a card number: 13–19 digits, Luhn-valid, no
/// separators (what a scanner sends for a card's barcode or a typed number).
pub fn is_bare_card_number(s: &str) -> bool {
    (MIN_DIGITS..=MAX_DIGITS).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && luhn_valid(s)
}

/// `s` with every character but the last 4 replaced by `*`, same length:
/// `4111000000000511` → `************0511`.
pub fn mask_keep_last4(s: &str) -> String {
    let count = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < count { '*' } else { c })
        .collect()
}

/// Length of the longest unbroken run of ASCII digits in `s`.
pub fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// Digits of the longest run in `s`, counting digit groups joined by a single
/// space or dash as one run (`1234 5678` is a run of 8).
pub fn longest_grouped_digit_run(s: &str) -> usize {
    let mut longest = 0;
    for_each_run(s.as_bytes(), |groups| {
        longest = longest.max(groups.iter().map(|g| g.len()).sum::<usize>());
        None::<()>
    });
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Luhn-valid test numbers of the card schemes.
    const PANS: &[&str] = &[
        "4111111111111111",
        "5500000000000004",
        "340000000000009",
        "6011000000000004",
        "4222222222222",
        "4111000000000511",
        "6304000000000000018",
    ];

    #[test]
    fn finds_test_card_numbers_in_every_spelling() {
        for pan in PANS {
            assert!(luhn_valid(pan), "{pan}");
            assert!(contains_card_number(pan), "{pan}");
            for sep in [" ", "-"] {
                let grouped: Vec<String> = pan
                    .as_bytes()
                    .chunks(4)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                let grouped = grouped.join(sep);
                assert!(contains_card_number(&grouped), "{grouped:?}");
                let sentence = format!("Karte: {grouped}, bitte belasten");
                let found = find(&sentence).expect("found");
                assert_eq!(Some(found.start), sentence.find(&grouped), "{sentence:?}");
                assert!(grouped.starts_with(&sentence[found]), "{sentence:?}");
            }
        }
        for text in [
            "5500 0000 0000 0004",
            "4111-1111-1111-1111",
            "my card is 4111111111111111!",
            "4111 1111 1111 1111 123",
            "4111111111111111 12/27",
            "2024-4111111111111111",
            "abc4111111111111111xyz",
            "4111111111111111.0",
        ] {
            assert!(contains_card_number(text), "{text:?}");
        }
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for text in [
            "",
            "hello",
            "4111111111111112",       // Luhn fails
            "411111111111",           // 12 digits
            "41111111111111111111",   // 20 digits, unbroken
            "4111  1111  1111  1111", // double spaces split the groups
            "4111_1111_1111_1111",    // not a separator
            "order S-42-1001, phone 0171 2345678",
            "2026-11-26T10:00:00Z",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "０４１１１１１１１１１１１１１１１", // full-width digits are not ASCII digits
        ] {
            assert!(!contains_card_number(text), "{text:?}");
        }
    }

    #[test]
    fn redaction_and_masks() {
        assert_eq!(
            redact("a 4111 1111 1111 1111 b 5500-0000-0000-0004 c"),
            format!("a {REDACTED} b {REDACTED} c")
        );
        assert!(matches!(redact("nothing here 12345"), Cow::Borrowed(_)));
        assert_eq!(mask_keep_last4("4111000000000511"), "************0511");
        assert_eq!(mask_keep_last4("123"), "123");
        assert!(is_bare_card_number("4111000000000511"));
        assert!(!is_bare_card_number("4111 1111 1111 1111"));
        assert!(!is_bare_card_number("4111000000000512"));
        assert_eq!(longest_digit_run("ab1234567890123cd12"), 13);
        assert_eq!(longest_digit_run(""), 0);
        assert_eq!(longest_grouped_digit_run("****-****-****-0511"), 4);
        assert_eq!(longest_grouped_digit_run("4111 1111 1111 1111"), 16);
        assert_eq!(longest_grouped_digit_run("12 x 345"), 3);
    }

    fn digits(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0u8..10, n)
            .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
    }

    /// A Luhn-valid number of 13–19 digits.
    fn pan() -> impl Strategy<Value = String> {
        (12usize..=18).prop_flat_map(digits).prop_map(|body| {
            (0..10u8)
                .map(|d| format!("{body}{}", char::from(b'0' + d)))
                .find(|n| luhn_valid(n))
                .unwrap_or_default()
        })
    }

    /// `pan` cut into groups of 1–6 digits joined by one space or dash each.
    fn grouped(pan: &str, cuts: &[(usize, bool)]) -> String {
        let mut out = String::new();
        let mut rest = pan;
        for &(len, dash) in cuts {
            if rest.len() <= len {
                break;
            }
            out.push_str(&rest[..len]);
            out.push(if dash { '-' } else { ' ' });
            rest = &rest[len..];
        }
        out.push_str(rest);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_card_number_is_found_however_grouped_and_wrapped(
            pan in pan(),
            cuts in proptest::collection::vec((1usize..7, any::<bool>()), 0..8),
            before in "[a-zA-Z .,:]{0,12}",
            after in "[a-zA-Z .,:]{0,12}",
        ) {
            prop_assert_eq!(pan.len() >= MIN_DIGITS && pan.len() <= MAX_DIGITS, true);
            let text = format!("{before}{}{after}", grouped(&pan, &cuts));
            prop_assert!(contains_card_number(&text), "{:?}", text);
            let redacted = redact(&text);
            prop_assert!(!contains_card_number(&redacted), "{:?}", redacted);
            prop_assert!(!redacted.contains(&pan));
        }

        #[test]
        fn a_wrong_check_digit_is_no_card_number(pan in pan()) {
            let last = pan.as_bytes()[pan.len() - 1] - b'0';
            let wrong = format!("{}{}", &pan[..pan.len() - 1], (last + 1) % 10);
            prop_assert!(!is_bare_card_number(&wrong));
            prop_assert!(is_bare_card_number(&pan));
        }

        #[test]
        fn never_panics_and_redaction_leaves_no_card_number(text in "\\PC{0,200}") {
            let redacted = redact(&text);
            prop_assert!(!contains_card_number(&redacted), "{:?}", redacted);
            let _ = longest_grouped_digit_run(&text);
            if let Some(r) = find(&text) {
                prop_assert!(text.get(r).is_some());
            }
        }

        #[test]
        fn digit_soup_redacts_to_no_card_number(text in "[0-9 -]{0,120}") {
            let redacted = redact(&text);
            prop_assert!(!contains_card_number(&redacted), "{:?}", redacted);
        }

        #[test]
        fn masks_show_only_the_last_4(s in "[0-9]{0,30}") {
            let m = mask_keep_last4(&s);
            prop_assert_eq!(m.len(), s.len());
            prop_assert!(longest_digit_run(&m) <= 4);
            prop_assert!(s.ends_with(m.trim_start_matches('*')));
        }
    }
}
