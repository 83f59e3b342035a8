//! Clear payment card numbers (PANs) in text: the one detector that the API's
//! screening of free text, the scanner decoder and error messages all use.
//!
//! A card number is a Luhn-valid run of 13–19 ASCII digits (ISO/IEC 7812), also
//! written in groups with one or two separator characters between them: space,
//! dash, dot, slash or underscore, in any mix (`5500 0000 0000 0004`,
//! `4111-1111-1111-1111`, `4111.1111.1111.1111`, `4111/1111/1111/1111`,
//! `4111_1111_1111_1111`, `4111  1111  1111  1111`, `4111 - 1111`). Digit groups
//! joined that way form a *run*; a card number is any stretch of whole
//! consecutive groups of a run with 13–19 digits in all, so a number followed by
//! an expiry or a CVV (`4111 1111 1111 1111 123`) is still found. An unbroken
//! stretch of more than 19 digits is no card number (it is some other long
//! number, not a PAN with digits glued on), three or more separator
//! characters in a row end a run, and the digits of a UUID
//! (`0190f3c2-7b1a-7cc3-9d2e-3f1a2b3c4d5e`, no letter or digit touching it)
//! are never part of one.
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

/// Most separator characters between two digit groups of one run.
pub const MAX_SEPARATOR_LEN: usize = 2;

/// A character that may stand between the digit groups of a card number.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'/' | b'_')
}

/// Where the next digit group of the run starts, when the group that ended at
/// `end` is followed by 1 to [`MAX_SEPARATOR_LEN`] separators and a digit.
fn next_group_start(text: &[u8], end: usize) -> Option<usize> {
    let seps = text[end..]
        .iter()
        .take(MAX_SEPARATOR_LEN + 1)
        .take_while(|&&b| is_separator(b))
        .count();
    let next = end + seps;
    let joined =
        (1..=MAX_SEPARATOR_LEN).contains(&seps) && text.get(next).is_some_and(u8::is_ascii_digit);
    joined.then_some(next)
}

/// Length of a UUID in its text form, `8-4-4-4-12` hex digits.
const UUID_LEN: usize = 36;

/// Where the UUID that starts at `start` ends, if one does: 36 characters in
/// the `8-4-4-4-12` hex shape that no letter or digit touches on either side.
/// Its digits are never read as a card number: when its hex groups happen to
/// be all digits (about 1 UUID in 300), they would otherwise join into a
/// Luhn-valid run now and then, and ids and keys of tills are UUIDs.
fn uuid_end(text: &[u8], start: usize) -> Option<usize> {
    let end = start + UUID_LEN;
    let touched = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if touched(start.checked_sub(1).and_then(|i| text.get(i))) || touched(text.get(end)) {
        return None;
    }
    let shaped = text.get(start..end)?.iter().enumerate().all(|(i, b)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            *b == b'-'
        } else {
            b.is_ascii_hexdigit()
        }
    });
    shaped.then_some(end)
}

/// Calls `on_run` with the digit groups (byte ranges) of every run in `text`,
/// in order; stops early when it returns `Some`. UUIDs are skipped.
fn for_each_run<T>(text: &[u8], mut on_run: impl FnMut(&[Range<usize>]) -> Option<T>) -> Option<T> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if let Some(end) = uuid_end(text, i) {
            i = end;
            continue;
        }
        if !text[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && text[i].is_ascii_digit() {
            i += 1;
        }
        groups.push(start..i);
        let next = next_group_start(text, i).filter(|&next| uuid_end(text, next).is_none());
        if let Some(next) = next {
            i = next;
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

/// Length of the longest run of ASCII digits in `s` when everything but ASCII
/// letters and digits is left out: `1234-5678_9012` is a run of 12, `12a34`
/// two runs of 2. What a token must not hide a number in.
pub fn longest_digit_run_between_letters(s: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
        } else if b.is_ascii_alphabetic() {
            run = 0;
        }
    }
    longest
}

/// How many ASCII digits `s` holds in all, wherever they are.
pub fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
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

    /// Every way to join digit groups that a person types.
    const SEPARATORS: &[&str] = &[
        " ", "-", ".", "/", "_", "  ", "--", "..", "//", "__", " -", "- ", ". ", " /", "_-",
    ];

    fn grouped_by_4(pan: &str, sep: &str) -> String {
        let groups: Vec<String> = pan
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        groups.join(sep)
    }

    #[test]
    fn finds_test_card_numbers_in_every_spelling() {
        for pan in PANS {
            assert!(luhn_valid(pan), "{pan}");
            assert!(contains_card_number(pan), "{pan}");
            for sep in SEPARATORS {
                let grouped = grouped_by_4(pan, sep);
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
            "4111 1111 1111 1111 0190f3c2-7b1a-7cc3-9d2e-3f1a2b3c4d5e",
            "0190f3c2-7b1a-7cc3-9d2e-3f1a2b3c4d5e 4111 1111 1111 1111",
        ] {
            assert!(contains_card_number(text), "{text:?}");
        }
    }

    /// Review finding 2: separators other than one space or dash hid a number.
    #[test]
    fn card_numbers_grouped_with_dots_slashes_underscores_or_double_spaces_are_found() {
        for text in [
            "4111.1111.1111.1111",
            "4111/1111/1111/1111",
            "4111_1111_1111_1111",
            "4111  1111  1111  1111",
            "Karte 5500.0000.0000.0004 gültig 12/27",
            "4012_8888_8888_1881",
            "6011 /0000- 0000__0004",
        ] {
            assert!(contains_card_number(text), "{text:?}");
            assert!(!contains_card_number(&redact(text)), "{text:?}");
        }
    }

    #[test]
    fn leaves_other_numbers_alone() {
        for text in [
            "",
            "hello",
            "4111111111111112",          // Luhn fails
            "411111111111",              // 12 digits
            "41111111111111111111",      // 20 digits, unbroken
            "4111   1111   1111   1111", // three separators end a run
            "4111 - 1111 - 1111 - 1111",
            "4111:1111:1111:1111", // not a separator
            "order S-42-1001, phone 0171 2345678",
            "2026-11-26T10:00:00Z",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "０４１１１１１１１１１１１１１１１", // full-width digits are not ASCII digits
        ] {
            assert!(!contains_card_number(text), "{text:?}");
        }
    }

    /// Review finding 3: what tills, tablets and kiosks post every day is no
    /// card number.
    #[test]
    fn normal_store_data_is_no_card_number() {
        for text in [
            // Phone numbers.
            "+49 30 1234 5678",
            "+49 171 2345678",
            "+49 (0)171 2345 6789",
            "0171 2345678",
            "030/1234567",
            "0049 30 12345678",
            "+44 20 7946 0958",
            "+1 212-555-0123",
            "+33 1 42 68 53 00",
            "Rückruf bitte unter 0171-2345678 ab 17.30",
            // Dates and times.
            "2026-11-26T10:00:00Z",
            "2026-11-26T10:00:00.123456+01:00",
            "2026-11-26 10:00:00",
            "26.11.2026 10:00",
            "2026/11/26 10:00",
            "abgeholt am 26.11.2026 um 10.15 Uhr",
            // UUIDs (v4 and v7), also all-digit ones whose groups would join into a
            // Luhn-valid 16-digit run.
            "0190f3c2-7b1a-7cc3-9d2e-3f1a2b3c4d5e",
            "550e8400-e29b-41d4-a716-446655440000",
            "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "12345678-9012-4345-a678-123456789012",
            "41111111-1111-1111-8111-111111111111",
            "urn:uuid:41111111-1111-1111-8111-111111111111",
            "{41111111-1111-1111-8111-111111111111}",
            // Order, line and shelf ids, prices, versions, addresses.
            "S-42-1001",
            "W-2026-000123",
            "Regal 12/3/04, Fach 7",
            "2 x 12.99 EUR",
            "192.168.100.200",
            "v1.2.3",
        ] {
            assert!(!contains_card_number(text), "{text:?}");
        }
        // An all-digit UUID's first three groups are a Luhn-valid number.
        assert!(contains_card_number("41111111-1111-1111"));
    }

    #[test]
    fn redaction_and_masks() {
        assert_eq!(
            redact("a 4111 1111 1111 1111 b 5500-0000-0000-0004 c 4111.1111.1111.1111"),
            format!("a {REDACTED} b {REDACTED} c {REDACTED}")
        );
        assert!(matches!(redact("nothing here 12345"), Cow::Borrowed(_)));
        assert_eq!(mask_keep_last4("4111000000000511"), "************0511");
        assert_eq!(mask_keep_last4("123"), "123");
        assert!(is_bare_card_number("4111000000000511"));
        assert!(!is_bare_card_number("4111 1111 1111 1111"));
        assert!(!is_bare_card_number("4111000000000512"));
        assert_eq!(longest_digit_run("ab1234567890123cd12"), 13);
        assert_eq!(longest_digit_run(""), 0);
        assert_eq!(longest_digit_run_between_letters("AB1234-5678_9012cd"), 12);
        assert_eq!(longest_digit_run_between_letters("12a34"), 2);
        assert_eq!(longest_digit_run_between_letters("1.2/3 4__5"), 5);
        assert_eq!(longest_digit_run_between_letters(""), 0);
        assert_eq!(digit_count("****-****-****-0511"), 4);
        assert_eq!(digit_count("4111.1111.**** 0511"), 12);
        assert_eq!(digit_count("abc"), 0);
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

    /// One to two separator characters, in any mix.
    fn separator() -> impl Strategy<Value = String> {
        "[ ./_-]{1,2}"
    }

    /// `pan` cut into groups of 1–6 digits joined by the given separators.
    fn grouped(pan: &str, cuts: &[(usize, String)]) -> String {
        let mut out = String::new();
        let mut rest = pan;
        for (len, sep) in cuts {
            if rest.len() <= *len {
                break;
            }
            out.push_str(&rest[..*len]);
            out.push_str(sep);
            rest = &rest[*len..];
        }
        out.push_str(rest);
        out
    }

    /// A random UUID in its text form, hex digits in either case.
    fn uuid() -> impl Strategy<Value = String> {
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_card_number_is_found_however_grouped_and_wrapped(
            pan in pan(),
            cuts in proptest::collection::vec((1usize..7, separator()), 0..8),
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
        fn uuids_are_never_card_numbers(
            uuid in uuid(),
            upper in any::<bool>(),
            before in "[a-zA-Z .,:{(]{0,4}",
            after in "[a-zA-Z .,:})]{0,4}",
        ) {
            let uuid = if upper { uuid.to_uppercase() } else { uuid };
            let sep = |s: &str, at_start: bool| {
                let touching = if at_start { s.chars().last() } else { s.chars().next() };
                if touching.is_some_and(|c| c.is_ascii_alphanumeric()) { " " } else { "" }
            };
            let text = format!("{before}{}{uuid}{}{after}", sep(&before, true), sep(&after, false));
            prop_assert!(!contains_card_number(&text), "{:?}", text);
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
            let _ = longest_digit_run_between_letters(&text);
            if let Some(r) = find(&text) {
                prop_assert!(text.get(r).is_some());
            }
        }

        #[test]
        fn digit_soup_redacts_to_no_card_number(text in "[0-9a-f ./_-]{0,120}") {
            let redacted = redact(&text);
            prop_assert!(!contains_card_number(&redacted), "{:?}", redacted);
        }

        #[test]
        fn masks_show_only_the_last_4(s in "[0-9]{0,30}") {
            let m = mask_keep_last4(&s);
            prop_assert_eq!(m.len(), s.len());
            prop_assert!(digit_count(&m) <= 4);
            prop_assert!(s.ends_with(m.trim_start_matches('*')));
        }
    }
}
