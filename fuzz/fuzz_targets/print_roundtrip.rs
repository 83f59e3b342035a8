//! Document → ESC/POS bytes → the virtual printer → the same text. A document is built
//! from the fuzz bytes (text with umlauts, €, typography, controls, CR/LF and arbitrary
//! characters; columns; separators; QR; barcodes; images; feeds; cuts; drawer kicks) and
//! encoded for a random profile and one of its code pages. "The same text" means exactly:
//! - the printed lines are, in order, each text paragraph (split at `\n`, a trailing `\r`
//!   dropped) transliterated and wrapped as the encoder defines (`encode::wrap` at the
//!   profile's columns, halved for double width), each column pair as `encode::columns`
//!   lays it out, each separator as a full line, and an empty line after each QR code;
//! - transliteration, written out here independently of `codepage.rs`: a character the
//!   page has prints as itself, other whitespace as a space, a character with a stand-in
//!   as the stand-in (each of its characters, or `?`), anything else as `?`, so nothing
//!   is dropped and no text becomes a command;
//! - wrapping only moves spaces: a paragraph's non-space characters come out unchanged,
//!   in order, and no line is wider than the paper;
//! - the QR payloads are the documents', byte for byte; barcodes, raster bands, cuts (on
//!   a profile with a cutter) and drawer kicks are counted one for one.
//!
//! Only QR codes, barcodes and images can make `encode` fail (bad payloads); a document
//! without them always encodes.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::printing::codepage::{transliteration, CodePage, UNKNOWN};
use store_edge_fuzz::printing::document::{Align, Block, CodeSet, Document, Symbology};
use store_edge_fuzz::printing::encode::{columns, encode, wrap};
use store_edge_fuzz::printing::interpret::interpret;
use store_edge_fuzz::printing::profile::{Profile, PROFILES};

/// Characters worth more than their share of random picks.
const PALETTE: &[char] = &[
    'a', 'Z', '0', ' ', ' ', ' ', 'ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü', 'ß', '€', '„', '“', '–', '…', 'é',
    'ł', '½', '\n', '\r', '\t', '{', '\u{1B}', '\u{1D}', '\u{7F}', '\u{85}', '\u{A0}', '─', '😀',
    '\u{AD}',
];

fn text(u: &mut Unstructured) -> Result<String> {
    let n = u.int_in_range(0..=90)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push(if u.ratio(3, 4)? {
            *u.choose(PALETTE)?
        } else {
            u.arbitrary()?
        });
    }
    Ok(s)
}

fn block(u: &mut Unstructured) -> Result<Block> {
    Ok(match u.int_in_range(0..=9)? {
        0..=2 => Block::Text {
            text: text(u)?,
            align: *u.choose(&[Align::Left, Align::Center, Align::Right])?,
            bold: u.arbitrary()?,
            underline: u.arbitrary()?,
            double_width: u.arbitrary()?,
            double_height: u.arbitrary()?,
        },
        3 => Block::Columns {
            left: text(u)?,
            right: text(u)?,
            bold: u.arbitrary()?,
        },
        4 => Block::Separator {
            char: if u.arbitrary()? {
                *u.choose(PALETTE)?
            } else {
                u.arbitrary()?
            },
        },
        5 => Block::Qr {
            payload: text(u)?,
            size: u.int_in_range(0..=17)?,
        },
        6 => Block::Barcode {
            symbology: match u.int_in_range(0..=4u8)? {
                0 => Symbology::Ean13 {},
                n => Symbology::Code128 {
                    code_set: [None, Some(CodeSet::A), Some(CodeSet::B), Some(CodeSet::C)]
                        [usize::from(n - 1)],
                },
            },
            data: if u.arbitrary()? {
                (0..u.int_in_range(0..=30)?)
                    .map(|_| u.int_in_range(b'0'..=b'9').map(char::from))
                    .collect::<Result<String>>()?
            } else {
                text(u)?
            },
        },
        7 => {
            let width = u.int_in_range(0..=600)?;
            let len = usize::from(width).div_ceil(8) * u.int_in_range(0..=300)?;
            let data = if u.ratio(1, 8)? {
                vec![0x55; len + 1]
            } else {
                vec![0xA5; len]
            };
            Block::Image { width, data }
        }
        8 => Block::Feed {
            lines: u.arbitrary()?,
        },
        _ => {
            if u.arbitrary()? {
                Block::Cut {
                    full: u.arbitrary()?,
                }
            } else {
                Block::DrawerKick {}
            }
        }
    })
}

/// What the printer shows for `c` in `page`, from the rules above.
fn shown(page: CodePage, c: char) -> String {
    if let Some(b) = page.byte_of(c) {
        assert_eq!(
            page.char_of(b),
            Some(c),
            "{page:?} maps {c:?} to {b:#x} and back"
        );
        return c.to_string();
    }
    if c.is_whitespace() {
        return " ".into();
    }
    let unknown = char::from(UNKNOWN).to_string();
    match transliteration(c) {
        Some(stand_in) => stand_in
            .chars()
            .map(|s| page.byte_of(s).map_or(unknown.clone(), |_| s.to_string()))
            .collect(),
        None => unknown,
    }
}

fn ink(s: &str) -> String {
    s.chars().filter(|c| *c != ' ').collect()
}

fn check(doc: &Document, profile: &Profile, page: CodePage) {
    let bytes = match encode(doc, profile, page) {
        Ok(bytes) => bytes,
        Err(e) => {
            let payloads = doc.blocks.iter().any(|b| {
                matches!(
                    b,
                    Block::Qr { .. } | Block::Barcode { .. } | Block::Image { .. }
                )
            });
            assert!(payloads, "a document of text only failed: {e}");
            return;
        }
    };
    let out = interpret(&bytes, profile).expect("the encoder's bytes parse");
    let cols = usize::from(profile.columns);
    let decoded = |lines: Vec<Vec<u8>>| lines.into_iter().map(|l| page.decode(&l));
    let mut want: Vec<String> = Vec::new();
    let (mut qrs, mut barcodes, mut bands, mut cuts, mut kicks) = (vec![], 0, 0, 0, 0);
    for block in &doc.blocks {
        match block {
            Block::Text {
                text, double_width, ..
            } => {
                let width = if *double_width { cols / 2 } else { cols };
                for paragraph in text.split('\n') {
                    let p = paragraph.strip_suffix('\r').unwrap_or(paragraph);
                    let t: String = p.chars().map(|c| shown(page, c)).collect();
                    let bytes = page.encode(p);
                    assert_eq!(page.decode(&bytes), t, "transliteration of {p:?}");
                    let lines: Vec<String> = decoded(wrap(&bytes, width)).collect();
                    assert_eq!(ink(&lines.concat()), ink(&t), "wrapping {p:?}");
                    want.extend(lines);
                }
            }
            Block::Columns { left, right, .. } => {
                want.extend(decoded(columns(
                    &page.encode(left),
                    &page.encode(right),
                    cols,
                )));
            }
            Block::Separator { char } => {
                let one = page.encode(&char.to_string());
                let one = if one.len() == 1 { one } else { vec![b'-'] };
                want.push(page.decode(&one.repeat(cols)));
            }
            Block::Qr { payload, .. } => {
                qrs.push(payload.as_bytes().to_vec());
                want.push(String::new());
            }
            Block::Barcode { .. } => barcodes += 1,
            Block::Image { width, data } => {
                bands += data.len().div_ceil(usize::from(*width).div_ceil(8) * 255)
            }
            Block::Cut { .. } => cuts += usize::from(profile.cutter),
            Block::DrawerKick {} => kicks += 1,
            Block::Feed { .. } => {}
        }
    }
    assert_eq!(out.text(), want);
    for line in &out.lines {
        assert!(line.columns <= cols, "{line:?} on {} columns", cols);
    }
    assert_eq!(out.qr_payloads, qrs);
    assert_eq!(out.barcodes.len(), barcodes);
    assert_eq!(out.images, bands);
    assert_eq!((out.cuts, out.drawer_kicks), (cuts, kicks));
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(profile) = u.choose(PROFILES) else {
        return;
    };
    let Ok((page, _)) = u.choose(profile.code_pages) else {
        return;
    };
    let mut blocks = Vec::new();
    while !u.is_empty() && blocks.len() < 24 {
        match block(&mut u) {
            Ok(b) => blocks.push(b),
            Err(_) => break,
        }
    }
    check(&Document { blocks }, profile, *page);
});
