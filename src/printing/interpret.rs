//! ESC/POS bytes → commands → what the paper shows (text lines, QR
//! payloads, barcodes, images, cuts): the virtual printer behind the golden
//! tests, so a test reads what the bytes do rather than what the document
//! meant. Must never panic on any input: truncated commands are an error,
//! unknown bytes a value.

use super::codepage::CodePage;
use super::encode::{ESC, GS, LF};
use super::profile::Profile;

/// One ESC/POS command as the printer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Init,
    CodePage(u8),
    Align(u8),
    Bold(bool),
    Underline(bool),
    /// `GS !`: width and height multipliers (1–8).
    Size {
        width: u8,
        height: u8,
    },
    /// Printable bytes up to the next command.
    Text(Vec<u8>),
    LineFeed,
    Feed(u8),
    /// `GS ( k` for QR (cn 49): function and its parameters.
    Qr {
        function: u8,
        data: Vec<u8>,
    },
    BarcodeHeight(u8),
    BarcodeModule(u8),
    HriPosition(u8),
    HriFont(u8),
    Barcode {
        system: u8,
        data: Vec<u8>,
    },
    Raster {
        row_bytes: u16,
        rows: u16,
        data: Vec<u8>,
    },
    Cut {
        full: bool,
    },
    Drawer {
        pin: u8,
        on: u8,
        off: u8,
    },
    /// A byte this interpreter does not know.
    Unknown(u8),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpretError {
    #[error("the bytes end inside a command at offset {0}")]
    Truncated(usize),
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InterpretError> {
        let start = self.at;
        let end = start
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(InterpretError::Truncated(start))?;
        self.at = end;
        Ok(&self.bytes[start..end])
    }

    fn byte(&mut self) -> Result<u8, InterpretError> {
        Ok(self.take(1)?[0])
    }
}

/// Split `bytes` into commands.
pub fn parse(bytes: &[u8]) -> Result<Vec<Command>, InterpretError> {
    let mut c = Cursor { bytes, at: 0 };
    let mut out = Vec::new();
    while c.at < bytes.len() {
        let b = c.byte()?;
        let cmd = match b {
            LF => Command::LineFeed,
            ESC => match c.byte()? {
                b'@' => Command::Init,
                b't' => Command::CodePage(c.byte()?),
                b'a' => Command::Align(c.byte()?),
                b'E' => Command::Bold(c.byte()? & 1 == 1),
                b'-' => Command::Underline(c.byte()? & 3 != 0),
                b'd' => Command::Feed(c.byte()?),
                b'p' => {
                    let p = c.take(3)?;
                    Command::Drawer {
                        pin: p[0],
                        on: p[1],
                        off: p[2],
                    }
                }
                other => Command::Unknown(other),
            },
            GS => match c.byte()? {
                b'!' => {
                    let n = c.byte()?;
                    Command::Size {
                        width: (n >> 4) + 1,
                        height: (n & 0x0F) + 1,
                    }
                }
                b'(' => {
                    if c.byte()? != b'k' {
                        Command::Unknown(b'(')
                    } else {
                        let len = c.take(2)?;
                        let n = usize::from(u16::from_le_bytes([len[0], len[1]]));
                        let body = c.take(n)?;
                        match body {
                            [49, function, data @ ..] => Command::Qr {
                                function: *function,
                                data: data.to_vec(),
                            },
                            _ => Command::Unknown(b'k'),
                        }
                    }
                }
                b'h' => Command::BarcodeHeight(c.byte()?),
                b'w' => Command::BarcodeModule(c.byte()?),
                b'H' => Command::HriPosition(c.byte()?),
                b'f' => Command::HriFont(c.byte()?),
                b'k' => {
                    let system = c.byte()?;
                    if system < 65 {
                        // Function A: NUL-terminated.
                        let rest = &bytes[c.at..];
                        let end = rest
                            .iter()
                            .position(|b| *b == 0)
                            .ok_or(InterpretError::Truncated(c.at))?;
                        let data = c.take(end)?.to_vec();
                        c.take(1)?;
                        Command::Barcode { system, data }
                    } else {
                        let n = usize::from(c.byte()?);
                        Command::Barcode {
                            system,
                            data: c.take(n)?.to_vec(),
                        }
                    }
                }
                b'v' => {
                    let head = c.take(6)?;
                    let row_bytes = u16::from_le_bytes([head[2], head[3]]);
                    let rows = u16::from_le_bytes([head[4], head[5]]);
                    let data = c.take(usize::from(row_bytes) * usize::from(rows))?.to_vec();
                    Command::Raster {
                        row_bytes,
                        rows,
                        data,
                    }
                }
                b'V' => {
                    let m = c.byte()?;
                    if m >= 65 {
                        c.byte()?;
                    }
                    Command::Cut {
                        full: m == 0 || m == 48 || m == 65,
                    }
                }
                other => Command::Unknown(other),
            },
            0x20..=0xFF if b != 0x7F => {
                let start = c.at - 1;
                let len = bytes[start..]
                    .iter()
                    .position(|b| *b < 0x20 || *b == 0x7F)
                    .unwrap_or(bytes.len() - start);
                c.at = start + len;
                Command::Text(bytes[start..start + len].to_vec())
            }
            other => Command::Unknown(other),
        };
        out.push(cmd);
    }
    Ok(out)
}

/// One printed text line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// Columns it takes in font A (characters × width multiplier).
    pub columns: usize,
    pub bold: bool,
}

/// What came out of the printer, in the order it came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Printout {
    pub lines: Vec<Line>,
    pub qr_payloads: Vec<Vec<u8>>,
    pub barcodes: Vec<(u8, Vec<u8>)>,
    pub images: usize,
    pub cuts: usize,
    pub drawer_kicks: usize,
}

impl Printout {
    pub fn text(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.text.as_str()).collect()
    }
}

/// Run `bytes` through a virtual printer of `profile`: text is decoded in
/// the page `ESC t` selected (PC437 until then, as after power-on).
pub fn interpret(bytes: &[u8], profile: &Profile) -> Result<Printout, InterpretError> {
    let mut out = Printout::default();
    let mut page = CodePage::Pc437;
    let (mut width, mut bold) = (1usize, false);
    let mut pending: Vec<u8> = Vec::new();
    let mut qr_data = Vec::new();
    for cmd in parse(bytes)? {
        match cmd {
            Command::Init => {
                page = CodePage::Pc437;
                (width, bold) = (1, false);
            }
            Command::CodePage(n) => page = profile.page_of_number(n).unwrap_or(CodePage::Pc437),
            Command::Bold(on) => bold = on,
            Command::Size { width: w, .. } => width = usize::from(w),
            Command::Text(t) => pending.extend(t),
            Command::LineFeed => {
                out.lines.push(Line {
                    text: page.decode(&pending),
                    columns: pending.len() * width,
                    bold,
                });
                pending.clear();
            }
            Command::Qr { function: 80, data } => {
                qr_data = data.get(1..).unwrap_or_default().to_vec()
            }
            Command::Qr { function: 81, .. } => out.qr_payloads.push(std::mem::take(&mut qr_data)),
            Command::Barcode { system, data } => out.barcodes.push((system, data)),
            Command::Raster { .. } => out.images += 1,
            Command::Cut { .. } => out.cuts += 1,
            Command::Drawer { .. } => out.drawer_kicks += 1,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printing::document::{Align, Block, Document};
    use crate::printing::encode::encode;
    use proptest::prelude::*;

    fn profile(name: &str) -> &'static Profile {
        Profile::by_name(name).expect("profile")
    }

    #[test]
    fn the_interpreter_finds_umlauts_euro_qr_and_cut_in_the_bytes() {
        let doc = Document {
            blocks: vec![
                Block::text("Grüße aus Köln: 12,50 €"),
                Block::Qr {
                    payload: "ORD-4711".into(),
                    size: 6,
                },
                Block::Cut { full: false },
            ],
        };
        let p = profile("epson_tm_t20");
        let bytes = encode(&doc, p, CodePage::Pc858).expect("encodes");
        let out = interpret(&bytes, p).expect("parses");
        assert_eq!(out.text(), ["Grüße aus Köln: 12,50 €", ""]);
        assert_eq!(out.qr_payloads, [b"ORD-4711".to_vec()]);
        assert_eq!(out.cuts, 1);
    }

    #[test]
    fn truncated_commands_are_an_error_not_a_panic() {
        assert_eq!(
            parse(&[GS, b'(', b'k', 10, 0, 49]),
            Err(InterpretError::Truncated(5))
        );
        assert_eq!(parse(&[ESC]), Err(InterpretError::Truncated(1)));
    }

    fn block() -> impl Strategy<Value = Block> {
        prop_oneof![
            ("\\PC{0,120}", 0..3u8, any::<bool>(), any::<bool>()).prop_map(
                |(text, a, bold, dw)| Block::Text {
                    text,
                    align: [Align::Left, Align::Center, Align::Right][usize::from(a)],
                    bold,
                    underline: false,
                    double_width: dw,
                    double_height: dw,
                }
            ),
            ("\\PC{0,60}", "\\PC{0,30}").prop_map(|(left, right)| Block::Columns {
                left,
                right,
                bold: false
            }),
            Just(Block::Separator { char: '─' }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_encodes_and_no_line_is_wider_than_the_paper(
            blocks in proptest::collection::vec(block(), 0..6),
            wide in any::<bool>(),
            pc858 in any::<bool>(),
        ) {
            let p = profile(if wide { "epson_tm_t20" } else { "generic_58" });
            let page = if pc858 { CodePage::Pc858 } else { CodePage::Pc437 };
            let bytes = encode(&Document { blocks }, p, page).expect("text always encodes");
            let out = interpret(&bytes, p).expect("the encoder's bytes parse");
            for line in &out.lines {
                prop_assert!(line.columns <= usize::from(p.columns), "{:?}", line);
            }
        }

        #[test]
        fn the_interpreter_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = interpret(&bytes, profile("generic_58"));
        }
    }
}
