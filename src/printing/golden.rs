//! Golden files: the documents of `tests/fixtures/print/*.json` encoded for
//! 58 and 80 mm profiles in PC858 and PC437 must give exactly the bytes of
//! the committed `.hex` files (one line per printed line). A change of the
//! encoder shows as a diff there; regenerate deliberately with
//! `UPDATE_GOLDEN=1 cargo test --lib printing::golden` and read the diff.

use super::codepage::CodePage;
use super::document::Document;
use super::encode::{encode, LF};
use super::interpret::interpret;
use super::profile::Profile;
use std::path::{Path, PathBuf};

const CASES: &[(&str, &str, CodePage)] = &[
    ("slip", "generic_58", CodePage::Pc858),
    ("slip", "generic_58", CodePage::Pc437),
    ("slip", "epson_tm_t20", CodePage::Pc858),
    ("slip", "epson_tm_t20", CodePage::Pc437),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/print")
}

/// Hex, two digits a byte, a line break after every LF byte.
fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in bytes.iter().enumerate() {
        out.push_str(&format!("{b:02x}"));
        let last = i + 1 == bytes.len();
        out.push(if *b == LF || last { '\n' } else { ' ' });
    }
    out
}

fn from_hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte in golden file"))
        .collect()
}

fn render(name: &str, profile: &str, page: CodePage) -> Vec<u8> {
    let json = std::fs::read_to_string(dir().join(format!("{name}.json"))).expect("fixture");
    let doc: Document = serde_json::from_str(&json).expect("fixture is a document");
    let profile = Profile::by_name(profile).expect("profile");
    encode(&doc, profile, page).expect("fixture encodes")
}

#[test]
fn documents_encode_to_the_golden_bytes_per_profile_and_code_page() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, profile, page) in CASES {
        let bytes = render(name, profile, *page);
        let path = dir().join(format!("{name}.{profile}.{}.hex", page.name()));
        if update {
            std::fs::write(&path, to_hex(&bytes)).expect("write golden file");
            continue;
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(
            to_hex(&bytes),
            to_hex(&from_hex(&golden)),
            "{}",
            path.display()
        );
    }
}

#[test]
fn the_golden_bytes_print_umlauts_and_euro_on_pc858_and_eur_on_pc437() {
    let lines = |profile: &str, page| {
        let bytes = render("slip", profile, page);
        let profile = Profile::by_name(profile).expect("profile");
        let out = interpret(&bytes, profile).expect("parses");
        assert_eq!(out.qr_payloads, [b"S-0042-17".to_vec()]);
        assert_eq!(out.barcodes.len(), 2);
        // Without a cutter the cut is a feed to the tear bar.
        let cuts = usize::from(profile.cutter);
        assert_eq!((out.images, out.cuts, out.drawer_kicks), (1, cuts, 1));
        out.text().join("\n")
    };
    let t20 = lines("epson_tm_t20", CodePage::Pc858);
    assert!(t20.contains("für Jürgen Müßig"), "{t20}");
    let total = format!("Summe{}19,98 €", " ".repeat(48 - 5 - 7));
    assert!(t20.contains(&total), "{t20}");
    assert!(t20.contains("\"Köln\" - weiß"), "{t20}");
    assert!(t20.contains("Öffnungszeiten... Mo-Sa"), "{t20}");
    let g58 = lines("generic_58", CodePage::Pc437);
    let total = format!("Summe{}19,98 EUR", " ".repeat(32 - 5 - 9));
    assert!(g58.contains(&total), "{g58}");
    assert!(g58.contains("Müßig"), "{g58}");
}
