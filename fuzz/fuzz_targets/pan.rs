//! The card-number detector (`scan::pan`) on arbitrary UTF-8 (invalid UTF-8 is replaced
//! by U+FFFD): what it finds is a Luhn-valid 13–19-digit number from its first to its last
//! digit, grouped only with the separators it knows; redacting leaves no card number; the
//! digit counters behind `raw_masked` and `customer_token` never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::scan::loyalty::luhn_valid;
use store_edge_fuzz::scan::pan;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;

    match pan::find(s) {
        Some(range) => {
            let found = s
                .get(range.clone())
                .expect("found range on char boundaries");
            let b = found.as_bytes();
            assert!(
                b.first().is_some_and(u8::is_ascii_digit)
                    && b.last().is_some_and(u8::is_ascii_digit),
                "found {range:?} does not start and end with a digit"
            );
            assert!(
                found
                    .bytes()
                    .all(|c| c.is_ascii_digit() || b" -./_".contains(&c)),
                "found {range:?} holds more than digits and separators"
            );
            let digits: String = found.chars().filter(char::is_ascii_digit).collect();
            assert!(
                (pan::MIN_DIGITS..=pan::MAX_DIGITS).contains(&digits.len()) && luhn_valid(&digits),
                "found {range:?} is no card number"
            );
            assert!(pan::contains_card_number(s));
        }
        None => assert!(!pan::contains_card_number(s)),
    }

    let redacted = pan::redact(s);
    assert!(
        !pan::contains_card_number(&redacted),
        "redaction left a card number"
    );

    let between = pan::longest_digit_run_between_letters(s);
    assert!(between >= pan::longest_digit_run(s));
    assert!(pan::digit_count(s) >= between);
});
