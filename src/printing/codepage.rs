//! Text → printer bytes in a real code page (PC858, PC437, WPC1252), with
//! transliteration of what a page lacks. Must never drop a character
//! silently (what has no stand-in becomes `?`) and never let text produce a
//! control byte: whatever a document says, its text cannot become a command.

use oem_cp::code_table::{
    DECODING_TABLE_CP437, DECODING_TABLE_CP858, ENCODING_TABLE_CP437, ENCODING_TABLE_CP858,
};
use serde::Deserialize;

/// The code pages a profile can select with `ESC t n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodePage {
    /// PC858: PC850 (Western European) with € at 0xD5. Prints German right.
    Pc858,
    /// PC437: the printer's power-on page; umlauts and ß, no €.
    Pc437,
    /// Windows-1252: Latin-1 plus € and typographic quotes in 0x80–0x9F.
    Wpc1252,
}

/// What is printed for a character that neither the page nor the
/// transliteration table knows.
pub const UNKNOWN: u8 = b'?';

impl CodePage {
    pub fn name(self) -> &'static str {
        match self {
            CodePage::Pc858 => "pc858",
            CodePage::Pc437 => "pc437",
            CodePage::Wpc1252 => "wpc1252",
        }
    }

    /// The byte of `c` in this page, for printable characters only: control
    /// characters (C0, DEL, C1) have none, so text can never carry a command.
    pub fn byte_of(self, c: char) -> Option<u8> {
        if c.is_control() {
            return None;
        }
        if c.is_ascii() {
            return u8::try_from(c).ok();
        }
        match self {
            CodePage::Pc858 => ENCODING_TABLE_CP858.get(&c).copied(),
            CodePage::Pc437 => ENCODING_TABLE_CP437.get(&c).copied(),
            CodePage::Wpc1252 => wpc1252_byte(c),
        }
        .filter(|b| *b >= 0x80)
    }

    /// The character a printer shows for byte `b` in this page (`None` for
    /// control bytes and the holes of WPC1252).
    pub fn char_of(self, b: u8) -> Option<char> {
        if b < 0x20 || b == 0x7F {
            return None;
        }
        if b < 0x80 {
            return Some(char::from(b));
        }
        let high = usize::from(b - 0x80);
        match self {
            CodePage::Pc858 => DECODING_TABLE_CP858.get(high).copied(),
            CodePage::Pc437 => DECODING_TABLE_CP437.get(high).copied(),
            CodePage::Wpc1252 => wpc1252_char(b),
        }
    }

    /// `text` as printable bytes of this page: every character becomes its
    /// byte, its transliteration (each of whose characters again needs a
    /// byte) or `?`. Line feeds and tabs are the caller's business (the
    /// encoder splits lines first); here they are a space like any other
    /// whitespace control, and other control characters are `?`.
    pub fn encode(self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        for c in text.chars() {
            self.encode_char(c, &mut out);
        }
        out
    }

    fn encode_char(self, c: char, out: &mut Vec<u8>) {
        if let Some(b) = self.byte_of(c) {
            out.push(b);
        } else if c.is_whitespace() {
            out.push(b' ');
        } else if let Some(stand_in) = transliteration(c) {
            for s in stand_in.chars() {
                out.push(self.byte_of(s).unwrap_or(UNKNOWN));
            }
        } else {
            out.push(UNKNOWN);
        }
    }

    /// Bytes back to text (what the printer shows), for the interpreter and
    /// the tests; a byte with no character reads as U+FFFD.
    pub fn decode(self, bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| self.char_of(*b).unwrap_or('\u{FFFD}'))
            .collect()
    }
}

/// Windows-1252 differs from Latin-1 only in 0x80–0x9F: these 32 entries
/// (five of them holes), as the Unicode mapping file `CP1252.TXT` has them.
/// No small crate carries 1252 without all of `encoding_rs`.
const WPC1252_HIGH: [Option<char>; 32] = [
    Some('\u{20AC}'),
    None,
    Some('\u{201A}'),
    Some('\u{0192}'),
    Some('\u{201E}'),
    Some('\u{2026}'),
    Some('\u{2020}'),
    Some('\u{2021}'),
    Some('\u{02C6}'),
    Some('\u{2030}'),
    Some('\u{0160}'),
    Some('\u{2039}'),
    Some('\u{0152}'),
    None,
    Some('\u{017D}'),
    None,
    None,
    Some('\u{2018}'),
    Some('\u{2019}'),
    Some('\u{201C}'),
    Some('\u{201D}'),
    Some('\u{2022}'),
    Some('\u{2013}'),
    Some('\u{2014}'),
    Some('\u{02DC}'),
    Some('\u{2122}'),
    Some('\u{0161}'),
    Some('\u{203A}'),
    Some('\u{0153}'),
    None,
    Some('\u{017E}'),
    Some('\u{0178}'),
];

fn wpc1252_char(b: u8) -> Option<char> {
    match b {
        0x80..=0x9F => WPC1252_HIGH.get(usize::from(b - 0x80)).copied().flatten(),
        // 0xA0–0xFF are Latin-1, which is Unicode's first 256 code points.
        _ => Some(char::from(b)),
    }
}

fn wpc1252_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    WPC1252_HIGH
        .iter()
        .position(|e| *e == Some(c))
        .and_then(|i| u8::try_from(0x80 + i).ok())
}

/// A stand-in for a character a page may lack: typography to ASCII, the
/// euro sign to `EUR`, Latin letters of Central and Northern Europe to their
/// base letter. Only consulted when the page has no byte for `c`, so ä stays
/// ä wherever the page has it.
pub fn transliteration(c: char) -> Option<&'static str> {
    Some(match c {
        '„' | '“' | '”' | '‟' | '«' | '»' | '″' => "\"",
        '‚' | '‘' | '’' | '‛' | '‹' | '›' | '′' | '´' | '`' => "'",
        '–' | '—' | '‒' | '―' | '‐' | '‑' | '−' | '\u{AD}' => "-",
        '…' => "...",
        '€' => "EUR",
        '•' | '·' | '∙' => "*",
        '×' => "x",
        '÷' => "/",
        '™' => "TM",
        '©' => "(c)",
        '®' => "(R)",
        '°' => "o",
        '½' => "1/2",
        '¼' => "1/4",
        '¾' => "3/4",
        '²' => "2",
        '³' => "3",
        'ß' => "ss",
        'ẞ' => "SS",
        'ä' => "ae",
        'ö' => "oe",
        'ü' => "ue",
        'Ä' => "Ae",
        'Ö' => "Oe",
        'Ü' => "Ue",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        'ø' => "o",
        'Ø' => "O",
        'å' => "a",
        'Å' => "A",
        'à' | 'á' | 'â' | 'ã' | 'ą' | 'ă' | 'ā' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ą' | 'Ă' | 'Ā' => "A",
        'ç' | 'ć' | 'č' => "c",
        'Ç' | 'Ć' | 'Č' => "C",
        'ď' | 'đ' | 'ð' => "d",
        'Ď' | 'Đ' | 'Ð' => "D",
        'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' | 'ē' => "e",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ę' | 'Ě' | 'Ē' => "E",
        'ğ' => "g",
        'Ğ' => "G",
        'ì' | 'í' | 'î' | 'ï' | 'ı' | 'ī' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'İ' | 'Ī' => "I",
        'ł' | 'ľ' | 'ĺ' => "l",
        'Ł' | 'Ľ' | 'Ĺ' => "L",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ő' | 'ō' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ő' | 'Ō' => "O",
        'ř' | 'ŕ' => "r",
        'Ř' | 'Ŕ' => "R",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'Ś' | 'Š' | 'Ş' | 'Ș' => "S",
        'ť' | 'ţ' | 'ț' => "t",
        'Ť' | 'Ţ' | 'Ț' => "T",
        'ù' | 'ú' | 'û' | 'ů' | 'ű' | 'ū' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ů' | 'Ű' | 'Ū' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CodePage; 3] = [CodePage::Pc858, CodePage::Pc437, CodePage::Wpc1252];

    #[test]
    fn german_prints_right_on_pc858() {
        // PC858's bytes, as the Unicode mapping of CP858 (and Python's
        // `cp858` codec) give them.
        let bytes = CodePage::Pc858.encode("äöüÄÖÜß€");
        assert_eq!(bytes, [0x84, 0x94, 0x81, 0x8E, 0x99, 0x9A, 0xE1, 0xD5]);
        assert_eq!(CodePage::Pc858.decode(&bytes), "äöüÄÖÜß€");
    }

    #[test]
    fn pc437_keeps_umlauts_and_writes_the_euro_as_eur() {
        let bytes = CodePage::Pc437.encode("Süß 5 €");
        assert_eq!(bytes, b"S\x81\xE1 5 EUR");
    }

    #[test]
    fn wpc1252_has_the_euro_and_typographic_quotes() {
        assert_eq!(
            CodePage::Wpc1252.encode("„Grüße“ 5 €"),
            b"\x84Gr\xFC\xDFe\x93 5 \x80"
        );
        assert_eq!(CodePage::Wpc1252.char_of(0x81), None);
        for b in 0x20..=0xFFu8 {
            if let Some(c) = CodePage::Wpc1252.char_of(b) {
                assert_eq!(CodePage::Wpc1252.byte_of(c), Some(b), "{b:#x}");
            }
        }
    }

    #[test]
    fn typography_a_page_lacks_is_transliterated_not_dropped() {
        let bytes = CodePage::Pc858.encode("„Abholung“ – bald…");
        assert_eq!(bytes, b"\"Abholung\" - bald...");
        // PC437 has ó but not Ł or ź.
        assert_eq!(CodePage::Pc437.encode("Łódź"), b"L\xA2dz");
    }

    #[test]
    fn unknown_characters_become_a_question_mark_each() {
        assert_eq!(CodePage::Pc858.encode("a漢字b🙂"), b"a??b?");
    }

    #[test]
    fn text_can_never_carry_a_control_byte() {
        for page in ALL {
            let bytes = page.encode("\u{1b}@\u{1d}V\u{0}x\u{7f}\u{9b}\t\r");
            assert!(bytes.iter().all(|b| *b >= 0x20 && *b != 0x7F), "{bytes:?}");
            assert_eq!(bytes.len(), 10, "one byte per character: nothing dropped");
        }
    }

    #[test]
    fn every_byte_a_page_decodes_encodes_back_to_itself() {
        for page in ALL {
            for b in 0x20..=0xFFu8 {
                if let Some(c) = page.char_of(b) {
                    assert_eq!(page.byte_of(c), Some(b), "{} {b:#x} {c}", page.name());
                }
            }
        }
    }
}
