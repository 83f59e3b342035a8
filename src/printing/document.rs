//! The document model of a print job: what to print, independent of the
//! printer. Deserialized from the API's JSON (unknown fields refused);
//! rendered for a profile by `encode.rs`. Must never hold printer bytes:
//! text is Unicode, images are 1-bit rows, payloads are verbatim.

use base64::Engine;
use serde::{Deserialize, Deserializer};

/// A print job's content, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub blocks: Vec<Block>,
}

/// One block of a document. JSON: `{"kind": "text", "text": "…", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    /// Text, wrapped at the profile's width; `\n` starts a new line.
    Text {
        text: String,
        #[serde(default)]
        align: Align,
        #[serde(default)]
        bold: bool,
        #[serde(default)]
        underline: bool,
        #[serde(default)]
        double_width: bool,
        #[serde(default)]
        double_height: bool,
    },
    /// A left and a right text on one line, the right one flush right
    /// (an item and its price); the left one wraps if both do not fit.
    Columns {
        left: String,
        right: String,
        #[serde(default)]
        bold: bool,
    },
    /// A full-width line of one character (`-` unless told).
    Separator {
        #[serde(default = "dash")]
        char: char,
    },
    /// A QR code (model 2, error level M), centred; `size` is the module
    /// size in dots (1–16).
    Qr {
        payload: String,
        #[serde(default = "qr_size")]
        size: u8,
    },
    /// A barcode, centred, with its human-readable text below.
    Barcode { symbology: Symbology, data: String },
    /// A 1-bit raster image (a logo), centred: `width` dots, rows of
    /// `(width + 7) / 8` bytes, most significant bit left, 1 = black,
    /// base64 in JSON.
    Image {
        width: u16,
        #[serde(deserialize_with = "base64_bytes")]
        data: Vec<u8>,
    },
    /// Feed `lines` empty lines.
    Feed { lines: u8 },
    /// Feed to the cutter and cut (partial cut unless `full`).
    Cut {
        #[serde(default)]
        full: bool,
    },
    /// Pulse the cash drawer.
    DrawerKick {},
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Symbology {
    /// CODE128; without a code set, C for an even run of digits, else B.
    Code128 {
        #[serde(default)]
        code_set: Option<CodeSet>,
    },
    /// EAN-13: 12 digits (the check digit is added) or 13 with a right one.
    /// (`{}`: a unit variant would let unknown fields through.)
    Ean13 {},
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CodeSet {
    A,
    B,
    C,
}

fn dash() -> char {
    '-'
}

fn qr_size() -> u8 {
    6
}

fn base64_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(serde::de::Error::custom)
}

impl Block {
    /// A plain left-aligned text block.
    pub fn text(text: impl Into<String>) -> Block {
        Block::Text {
            text: text.into(),
            align: Align::Left,
            bold: false,
            underline: false,
            double_width: false,
            double_height: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_reads_from_json() {
        let doc: Document = serde_json::from_str(
            r#"{"blocks": [
                {"kind": "text", "text": "Abholschein", "align": "center", "bold": true},
                {"kind": "columns", "left": "Käse", "right": "3,50 €"},
                {"kind": "separator"},
                {"kind": "qr", "payload": "ORD-1"},
                {"kind": "barcode", "symbology": {"type": "code128", "code_set": "B"}, "data": "A-1"},
                {"kind": "barcode", "symbology": {"type": "ean13"}, "data": "400638133393"},
                {"kind": "image", "width": 8, "data": "gAE="},
                {"kind": "feed", "lines": 2},
                {"kind": "cut"},
                {"kind": "drawer_kick"}
            ]}"#,
        )
        .expect("valid document");
        assert_eq!(doc.blocks.len(), 10);
        assert_eq!(doc.blocks[2], Block::Separator { char: '-' });
        assert_eq!(
            doc.blocks[3],
            Block::Qr {
                payload: "ORD-1".into(),
                size: 6
            }
        );
        assert_eq!(
            doc.blocks[6],
            Block::Image {
                width: 8,
                data: vec![0x80, 0x01]
            }
        );
        assert_eq!(doc.blocks[8], Block::Cut { full: false });
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        for bad in [
            r#"{"blocks": [{"kind": "text", "text": "x", "colour": "red"}]}"#,
            r#"{"blocks": [{"kind": "blink"}]}"#,
            r#"{"blocks": [], "extra": 1}"#,
            r#"{"blocks": [{"kind": "barcode", "symbology": {"type": "ean13", "x": 1}, "data": "1"}]}"#,
            r#"{"blocks": [{"kind": "image", "width": 8, "data": "not base64!"}]}"#,
            r#"{"blocks": [{"kind": "drawer_kick", "pin": 5}]}"#,
        ] {
            assert!(serde_json::from_str::<Document>(bad).is_err(), "{bad}");
        }
    }
}
