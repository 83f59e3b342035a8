//! `scan::magstripe::parse_tracks` on arbitrary UTF-8 (invalid UTF-8 is replaced by
//! U+FFFD). A parsed card has a 1-19 digit PAN that occurs in the input, 4-digit expiry and
//! 3-digit service code when present, and its Debug output shows at most the last 4 PAN
//! digits; errors echo no data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::invariants::{check_reason, longest_digit_run};
use store_edge_fuzz::scan::magstripe;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;
    let sentinel = magstripe::looks_like_magstripe(s);
    match magstripe::parse_tracks(s) {
        Ok(card) => {
            let pan = card.pan.expose();
            let digits = |v: &str, n: usize| v.len() == n && v.bytes().all(|b| b.is_ascii_digit());
            assert!(
                (1..=19).contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit()),
                "PAN of {} characters",
                pan.len()
            );
            assert!(s.contains(pan), "PAN not from the input");
            assert!(card.has_track1 || card.has_track2);
            assert_eq!(card.expiry_yymm.is_some(), card.service_code.is_some());
            if let Some(e) = &card.expiry_yymm {
                assert!(digits(e, 4), "expiry {e:?}");
            }
            if let Some(c) = &card.service_code {
                assert!(digits(c, 3), "service code {c:?}");
            }
            // Only a frame that starts with a sentinel (after CR/LF/space) is a card.
            assert!(s
                .trim_start_matches(['\r', '\n', ' '])
                .starts_with(['%', ';']));
            let debug = format!("{card:?}");
            assert!(
                longest_digit_run(debug.as_bytes()) <= 4,
                "Debug shows digits: {debug}"
            );
            if pan.len() > 4 {
                assert!(!debug.contains(pan), "Debug shows the PAN");
            }
        }
        Err(e) => {
            check_reason(e.reason());
            assert_eq!(e.to_string(), e.reason());
        }
    }
    if !sentinel && !s.starts_with(['\r', '\n', ' ']) {
        assert!(magstripe::parse_tracks(s).is_err());
    }
});
