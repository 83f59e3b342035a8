//! The GS1 parsers on arbitrary UTF-8 (invalid UTF-8 is replaced by U+FFFD): FNC1 element
//! string, bracket form `(01)...` and Digital Link, for several current years (the two-digit
//! year window must not overflow even for absurd ones). Every successful parse must be
//! self-consistent and survive a round trip through all three forms; errors must not echo
//! data. Also the date expansion and the GTIN helpers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::invariants::{
    check_expanded_date, check_gs1_data, check_gs1_round_trip, check_reason,
};
use store_edge_fuzz::scan::{digital_link, gs1, gtin, Gs1Data, ScanError};

const YEARS: [i32; 4] = [2025, 2050, i32::MIN, i32::MAX];

fn check(result: Result<Gs1Data, ScanError>, year: i32) {
    match result {
        Ok(data) => {
            check_gs1_data(&data, year);
            check_gs1_round_trip(&data, year);
        }
        Err(e) => check_reason(e.reason()),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;

    for year in YEARS {
        check(gs1::parse_element_string(s, year), year);
        check(gs1::parse_bracketed(s, year), year);
        match digital_link::parse_digital_link(s, year) {
            Ok(Some(data)) => {
                assert!(digital_link::looks_like_uri(s));
                check_gs1_data(&data, year);
                check_gs1_round_trip(&data, year);
            }
            Ok(None) => {}
            Err(e) => {
                assert!(digital_link::looks_like_uri(s));
                check_reason(e.reason());
            }
        }
        if let Some(expanded) = gs1::expand_date(s, year) {
            check_expanded_date(s, &expanded, year);
        }
    }
    // The bracket parser accepts nothing that does not start like the bracket form.
    if !s.is_empty() && !s.starts_with('(') {
        assert!(gs1::parse_bracketed(s, YEARS[0]).is_err());
    }
    if let Ok(decoded) = digital_link::percent_decode(s) {
        assert!(decoded.len() <= s.len());
    }

    // GTIN helpers.
    if let Ok(info) = gtin::parse_gtin(s) {
        assert!(info.gtin.len() == 14 && gtin::has_valid_check_digit(&info.gtin));
        assert!(info.gtin.ends_with(s));
    }
    if let Ok(info) = gtin::parse_upce(s) {
        assert!(info.gtin.len() == 14 && gtin::has_valid_check_digit(&info.gtin));
    }
    if let Some(d) = gtin::check_digit(s) {
        assert!(d <= 9);
        assert!(gtin::has_valid_check_digit(&format!("{s}{d}")));
    }
});
