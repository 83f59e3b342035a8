//! The test page: what the printer is set to, a ruler of its columns, the
//! German characters, the whole code page as a table, a QR code and both
//! barcodes, and the logo (or that there is none), so one print shows
//! whether profile, page and logo are right.

use serde::Deserialize;

use super::{bold, centered, pair, separator, title, Context};
use crate::printing::document::{Block, Document, Symbology};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestPage {
    /// The printer's id in the config.
    #[serde(default)]
    pub printer_id: Option<String>,
    /// A line of one's own, e.g. who printed it.
    #[serde(default)]
    pub note: Option<String>,
}

impl TestPage {
    pub fn document(&self, ctx: &Context<'_>, logo: Option<&Block>) -> Document {
        let l = ctx.language;
        let cols = ctx.columns();
        let mut blocks: Vec<Block> = logo.into_iter().cloned().collect();
        blocks.extend([title(l.pick("Testseite", "Test page")), separator()]);
        if let Some(id) = &self.printer_id {
            blocks.push(pair(l.pick("Drucker", "Printer"), id));
        }
        blocks.push(pair(l.pick("Profil", "Profile"), ctx.profile.name));
        blocks.push(pair(
            l.pick("Papier", "Paper"),
            format!(
                "{cols} {} / {} dots",
                l.pick("Zeichen", "columns"),
                ctx.profile.dots
            ),
        ));
        blocks.push(pair(l.pick("Zeichensatz", "Code page"), ctx.page.name()));
        let logo_size = match logo {
            Some(Block::Image { width, data }) => {
                let rows = data.len() / usize::from(*width).div_ceil(8).max(1);
                format!("{width} x {rows} dots")
            }
            _ => l.pick("keins", "none").to_owned(),
        };
        blocks.push(pair("Logo", logo_size));
        if let Some(n) = &self.note {
            blocks.push(Block::text(n));
        }
        blocks.push(separator());
        let ruler: String = (1..=cols)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect();
        blocks.push(Block::text(ruler));
        blocks.push(bold("Grüße: äöü ÄÖÜ ß 12,50 €"));
        blocks.push(Block::text("„Anführung“ – Strich … Ende"));
        blocks.push(separator());
        // The page's characters from 0x20 up, 16 to a row: spaced out where
        // the paper has room (3 + 32 columns), packed on 58 mm.
        let spaced = cols >= 35;
        for high in 2u8..16 {
            let mut row = format!("{high:X}x ");
            for low in 0u8..16 {
                let c = ctx.page.char_of(high * 16 + low).unwrap_or(' ');
                row.push(if c.is_control() || c.is_whitespace() {
                    ' '
                } else {
                    c
                });
                if spaced && low < 15 {
                    row.push(' ');
                }
            }
            blocks.push(Block::text(row));
        }
        blocks.push(separator());
        blocks.push(Block::Qr {
            payload: "store-edge test".into(),
            size: 6,
        });
        blocks.push(Block::Barcode {
            symbology: Symbology::Code128 { code_set: None },
            data: "STORE-EDGE".into(),
        });
        blocks.push(Block::Barcode {
            symbology: Symbology::Ean13 {},
            data: "4006381333931".into(),
        });
        blocks.push(centered(
            l.pick("Ende der Testseite", "End of test page"),
            false,
        ));
        blocks.push(Block::Cut { full: false });
        Document { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, printed};
    use super::super::{Language, Template};
    use crate::printing::document::Block;
    use crate::printing::{encode, interpret::interpret};

    #[test]
    fn the_test_page_shows_the_code_page_table_and_the_euro() {
        let text = printed(
            "test",
            r#"{"printer_id": "slip"}"#,
            &ctx("generic_58", Language::De),
        );
        assert!(
            text.contains(&"Grüße: äöü ÄÖÜ ß 12,50 €".to_owned()),
            "{text:?}"
        );
        assert!(text.contains(&"4x @ABCDEFGHIJKLMNO".to_owned()), "{text:?}");
        // PC858 has € at 0xD5.
        assert!(text.iter().any(|l| l.starts_with("Dx ") && l.contains('€')));
        let wide = printed("test", "{}", &ctx("epson_tm_t20", Language::En));
        assert!(
            wide.contains(&"4x @ A B C D E F G H I J K L M N O".to_owned()),
            "{wide:?}"
        );
        assert!(wide
            .iter()
            .any(|l| l.starts_with("Logo") && l.ends_with(" none")));
    }

    #[test]
    fn the_test_page_prints_the_logo_first_and_says_its_size() {
        let c = ctx("generic_58", Language::En);
        let logo = Block::Image {
            width: 16,
            data: vec![0xFF; 2 * 5],
        };
        let doc = Template::Test
            .render_with_logo("{}", &c, Some(&logo))
            .expect("renders");
        assert_eq!(doc.blocks[0], logo);
        let bytes = encode(&doc, c.profile, c.page).expect("encodes");
        let out = interpret(&bytes, c.profile).expect("parses");
        assert_eq!(out.images, 1);
        assert!(out
            .text()
            .iter()
            .any(|l| l.starts_with("Logo") && l.ends_with(" 16 x 5 dots")));
        // Other templates get it at the top too.
        let slip = Template::PickupSlip
            .render_with_logo(
                r#"{"order_id": "A", "customer": "B", "shelf": "C", "lines": []}"#,
                &c,
                Some(&logo),
            )
            .expect("renders");
        assert_eq!(slip.blocks[0], logo);
    }
}
