//! `scan::decode` on arbitrary bytes, as a barcode scanner and as a card reader (both with
//! the loyalty programs and the token key), with the invariants of `invariants.rs`:
//! loyalty results never show the clear number (no input digit run longer than 4 in the
//! JSON or Debug output), carry the right 43-character `customer_token`, products carry
//! valid GTINs and consistent GS1 fields, reasons echo no data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::invariants::{check_decoded, reader, scanner, YEAR};
use store_edge_fuzz::scan::{decode, Decoded, Method};

fuzz_target!(|data: &[u8]| {
    let scanned = decode(data, &scanner());
    check_decoded(&scanned, data, YEAR);

    let read = decode(data, &reader());
    check_decoded(&read, data, YEAR);

    // A card reader only ever yields a card, a pass or "invalid".
    assert!(
        matches!(
            read,
            Decoded::Loyalty(_) | Decoded::PickupPass(_) | Decoded::Invalid { .. }
        ),
        "card reader gave {read:?}"
    );
    // Passes and magstripe tracks are recognised the same way from either source.
    let source_independent = matches!(scanned, Decoded::PickupPass(_))
        || matches!(&scanned, Decoded::Loyalty(c) if c.method == Method::Magstripe);
    if source_independent {
        assert_eq!(scanned, read, "scanner and card reader disagree");
    }
});
