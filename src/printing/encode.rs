//! Document + profile + code page → ESC/POS bytes. Pure: no I/O, no
//! runtime. Lays text out itself (wrapping by display width, columns),
//! because the printer's own wrapping cuts words and knows no columns.
//! Must never emit a line longer than the profile's columns, let text
//! become a command, or send a command the profile lacks.

use super::codepage::CodePage;
use super::document::{Align, Block, CodeSet, Document, Symbology};
use super::profile::Profile;
use crate::scan::gtin;

pub const ESC: u8 = 0x1B;
pub const GS: u8 = 0x1D;
pub const LF: u8 = 0x0A;

/// What a model 2 symbol at error level M holds in byte mode (version 40).
pub const QR_MAX_BYTES: usize = 2331;
/// `GS k` with function B carries at most 255 bytes, code set prefix included.
const CODE128_MAX_BYTES: usize = 255;
/// Barcode height in dots (10 mm at 203 dpi).
const BARCODE_HEIGHT: u8 = 80;
/// Rows per `GS v 0` band: small enough for any model's buffer.
const RASTER_BAND_ROWS: usize = 255;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("printer profile {profile} has no code page {page}")]
    PageUnsupported {
        profile: &'static str,
        page: &'static str,
    },
    #[error("printer profile {0} prints no QR codes")]
    QrUnsupported(&'static str),
    #[error("QR payload is {0} bytes; a QR code at error level M holds at most {QR_MAX_BYTES}")]
    QrTooLong(usize),
    #[error("QR payload is empty")]
    QrEmpty,
    #[error("QR module size {0} is outside 1-16")]
    QrSize(u8),
    #[error("EAN-13 data must be 12 digits, or 13 with the right check digit")]
    Ean13,
    #[error("CODE128 data cannot be written in code set {0:?} (character {1})")]
    Code128Char(CodeSet, usize),
    #[error("CODE128 data must be 1 to {CODE128_MAX_BYTES} bytes")]
    Code128Length,
    #[error("barcode needs {needed} dots at the narrowest bars; the paper has {dots}")]
    BarcodeTooWide { needed: usize, dots: u16 },
    #[error("image is {width} dots wide; the paper has {dots}")]
    ImageTooWide { width: u16, dots: u16 },
    #[error("image data of {len} bytes is not whole rows of {row} bytes for width {width}")]
    ImageData { len: usize, row: usize, width: u16 },
}

/// The character style the printer is in; commands are sent only when it
/// changes, so the bytes stay short and the golden files readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    align: Align,
    bold: bool,
    underline: bool,
    double_width: bool,
    double_height: bool,
}

struct Out<'a> {
    buf: Vec<u8>,
    style: Style,
    profile: &'a Profile,
    page: CodePage,
}

/// Render `doc` for `profile` with text in `page`.
pub fn encode(doc: &Document, profile: &Profile, page: CodePage) -> Result<Vec<u8>, EncodeError> {
    let number = profile
        .page_number(page)
        .ok_or(EncodeError::PageUnsupported {
            profile: profile.name,
            page: page.name(),
        })?;
    let mut out = Out {
        buf: vec![ESC, b'@', ESC, b't', number],
        style: Style::default(),
        profile,
        page,
    };
    for block in &doc.blocks {
        out.block(block)?;
    }
    Ok(out.buf)
}

impl Out<'_> {
    fn block(&mut self, block: &Block) -> Result<(), EncodeError> {
        match block {
            Block::Text {
                text,
                align,
                bold,
                underline,
                double_width,
                double_height,
            } => {
                self.set(Style {
                    align: *align,
                    bold: *bold,
                    underline: *underline,
                    double_width: *double_width,
                    double_height: *double_height,
                });
                let width = self.width();
                for paragraph in text.split('\n') {
                    let bytes = self
                        .page
                        .encode(paragraph.strip_suffix('\r').unwrap_or(paragraph));
                    for line in wrap(&bytes, width) {
                        self.line(&line);
                    }
                }
            }
            Block::Columns { left, right, bold } => {
                self.set(Style {
                    bold: *bold,
                    ..Style::default()
                });
                let (l, r) = (self.page.encode(left), self.page.encode(right));
                for line in columns(&l, &r, self.width()) {
                    self.line(&line);
                }
            }
            Block::Separator { char } => {
                self.set(Style::default());
                let mut one = self.page.encode(&char.to_string());
                if one.len() != 1 {
                    one = vec![b'-'];
                }
                let line = one.repeat(self.width());
                self.line(&line);
            }
            Block::Qr { payload, size } => self.qr(payload.as_bytes(), *size)?,
            Block::Barcode { symbology, data } => self.barcode(*symbology, data)?,
            Block::Image { width, data } => self.image(*width, data)?,
            Block::Feed { lines } => self.buf.extend([ESC, b'd', *lines]),
            Block::Cut { full } => {
                if self.profile.cutter {
                    // Function B: feed to the cutter, then cut.
                    self.buf.extend([GS, b'V', if *full { 65 } else { 66 }, 0]);
                } else {
                    // No cutter: feed the last line past the tear bar.
                    self.buf.extend([ESC, b'd', 4]);
                }
            }
            Block::DrawerKick {} => {
                let d = self.profile.drawer;
                self.buf.extend([ESC, b'p', d.pin, d.on, d.off]);
            }
        }
        Ok(())
    }

    /// Columns of the current character width.
    fn width(&self) -> usize {
        let cols = usize::from(self.profile.columns);
        if self.style.double_width {
            cols / 2
        } else {
            cols
        }
    }

    fn line(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.buf.push(LF);
    }

    fn set(&mut self, want: Style) {
        let was = self.style;
        if want.align != was.align {
            let n = match want.align {
                Align::Left => 0,
                Align::Center => 1,
                Align::Right => 2,
            };
            self.buf.extend([ESC, b'a', n]);
        }
        if want.bold != was.bold {
            self.buf.extend([ESC, b'E', u8::from(want.bold)]);
        }
        if want.underline != was.underline {
            self.buf.extend([ESC, b'-', u8::from(want.underline)]);
        }
        if (want.double_width, want.double_height) != (was.double_width, was.double_height) {
            let n = (u8::from(want.double_width) << 4) | u8::from(want.double_height);
            self.buf.extend([GS, b'!', n]);
        }
        self.style = want;
    }

    fn centered(&mut self) {
        self.set(Style {
            align: Align::Center,
            ..Style::default()
        });
    }

    fn qr(&mut self, payload: &[u8], size: u8) -> Result<(), EncodeError> {
        if !self.profile.qr {
            return Err(EncodeError::QrUnsupported(self.profile.name));
        }
        if payload.is_empty() {
            return Err(EncodeError::QrEmpty);
        }
        if payload.len() > QR_MAX_BYTES {
            return Err(EncodeError::QrTooLong(payload.len()));
        }
        if !(1..=16).contains(&size) {
            return Err(EncodeError::QrSize(size));
        }
        self.centered();
        // GS ( k, cn = 49 (QR): fn 65 model 2, fn 67 size, fn 69 level M,
        // fn 80 store the data, fn 81 print it.
        self.buf.extend([GS, b'(', b'k', 4, 0, 49, 65, 50, 0]);
        self.buf.extend([GS, b'(', b'k', 3, 0, 49, 67, size]);
        self.buf.extend([GS, b'(', b'k', 3, 0, 49, 69, 49]);
        let [lo, hi] = u16::try_from(payload.len() + 3)
            .map_err(|_| EncodeError::QrTooLong(payload.len()))?
            .to_le_bytes();
        self.buf.extend([GS, b'(', b'k', lo, hi, 49, 80, 48]);
        self.buf.extend_from_slice(payload);
        self.buf.extend([GS, b'(', b'k', 3, 0, 49, 81, 48]);
        self.buf.push(LF);
        Ok(())
    }

    fn barcode(&mut self, symbology: Symbology, data: &str) -> Result<(), EncodeError> {
        let (m, body, modules) = match symbology {
            Symbology::Ean13 {} => {
                let body = ean13_body(data).ok_or(EncodeError::Ean13)?;
                (67, body.into_bytes(), 95)
            }
            Symbology::Code128 { code_set } => {
                let (bytes, symbols) = code128(data, code_set)?;
                // start + symbols + check character, 11 modules each; stop 13.
                (73, bytes, 11 * (symbols + 2) + 13)
            }
        };
        let dots = usize::from(self.profile.dots);
        // The widest bars that fit, from 3 dots down to 2 (the least every
        // model accepts).
        let module = (2..=3u8)
            .rev()
            .find(|w| modules * usize::from(*w) <= dots)
            .ok_or(EncodeError::BarcodeTooWide {
                needed: modules * 2,
                dots: self.profile.dots,
            })?;
        let n = u8::try_from(body.len()).map_err(|_| EncodeError::Code128Length)?;
        self.centered();
        self.buf
            .extend([GS, b'h', BARCODE_HEIGHT, GS, b'w', module]);
        // Human-readable text below, in font A.
        self.buf.extend([GS, b'H', 2, GS, b'f', 0]);
        self.buf.extend([GS, b'k', m, n]);
        self.buf.extend_from_slice(&body);
        Ok(())
    }

    fn image(&mut self, width: u16, data: &[u8]) -> Result<(), EncodeError> {
        if width == 0 || width > self.profile.dots {
            return Err(EncodeError::ImageTooWide {
                width,
                dots: self.profile.dots,
            });
        }
        let row = usize::from(width).div_ceil(8);
        if data.len() % row != 0 {
            return Err(EncodeError::ImageData {
                len: data.len(),
                row,
                width,
            });
        }
        self.centered();
        let [xl, xh] = u16::try_from(row).unwrap_or(u16::MAX).to_le_bytes();
        for band in data.chunks(row * RASTER_BAND_ROWS) {
            let rows = band.len() / row;
            let [yl, yh] = u16::try_from(rows).unwrap_or(u16::MAX).to_le_bytes();
            self.buf.extend([GS, b'v', b'0', 0, xl, xh, yl, yh]);
            self.buf.extend_from_slice(band);
        }
        Ok(())
    }
}

/// The 12 digits `GS k 67` takes (the printer adds the check digit).
fn ean13_body(data: &str) -> Option<String> {
    if !data.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match data.len() {
        12 => Some(data.to_owned()),
        13 if gtin::has_valid_check_digit(data) => Some(data[..12].to_owned()),
        _ => None,
    }
}

/// CODE128 data as `GS k 73` takes it: `{A`, `{B` or `{C` first, a literal
/// `{` doubled, code set C as one byte (0–99) per digit pair. Returns the
/// bytes and the number of data symbols.
fn code128(data: &str, set: Option<CodeSet>) -> Result<(Vec<u8>, usize), EncodeError> {
    let digits = data.bytes().all(|b| b.is_ascii_digit());
    let set = set.unwrap_or(if digits && !data.is_empty() && data.len() % 2 == 0 {
        CodeSet::C
    } else {
        CodeSet::B
    });
    let mut out = vec![b'{'];
    let symbols = match set {
        CodeSet::C => {
            out.push(b'C');
            if !digits || data.len() % 2 != 0 {
                let at = data
                    .bytes()
                    .position(|b| !b.is_ascii_digit())
                    .unwrap_or(data.len());
                return Err(EncodeError::Code128Char(set, at));
            }
            for pair in data.as_bytes().chunks(2) {
                out.push((pair[0] - b'0') * 10 + (pair.get(1).copied().unwrap_or(b'0') - b'0'));
            }
            data.len() / 2
        }
        CodeSet::A | CodeSet::B => {
            out.push(if set == CodeSet::A { b'A' } else { b'B' });
            let allowed = |b: u8| match set {
                CodeSet::A => (0x20..=0x5F).contains(&b),
                _ => (0x20..=0x7E).contains(&b),
            };
            for (i, b) in data.bytes().enumerate() {
                if !allowed(b) {
                    return Err(EncodeError::Code128Char(set, i));
                }
                out.push(b);
                if b == b'{' {
                    out.push(b'{');
                }
            }
            data.len()
        }
    };
    if symbols == 0 || out.len() > CODE128_MAX_BYTES {
        return Err(EncodeError::Code128Length);
    }
    Ok((out, symbols))
}

/// `text` in lines of at most `width` bytes (one byte is one column in a
/// single-byte page). A line breaks at its last space when there is one;
/// only a word longer than a line is cut. Spaces at a break are dropped,
/// nothing else is.
pub fn wrap(text: &[u8], width: usize) -> Vec<Vec<u8>> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut rest = text;
    loop {
        if rest.len() <= width {
            lines.push(rest.to_vec());
            return lines;
        }
        // A space right after `width` bytes also makes a clean break.
        let window = &rest[..=width];
        let at_space = window.iter().rposition(|b| *b == b' ');
        let (line, next) = match at_space {
            Some(i) if window[..i].iter().any(|b| *b != b' ') => (trim_end(&rest[..i]), &rest[i..]),
            _ => (&rest[..width], &rest[width..]),
        };
        lines.push(line.to_vec());
        rest = trim_start(next);
        if rest.is_empty() {
            return lines;
        }
    }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b.iter().rposition(|c| *c != b' ').map_or(0, |i| i + 1);
    &b[..n]
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().position(|c| *c != b' ').unwrap_or(b.len());
    &b[n..]
}

/// A left and a right text on `width` columns: the right one flush right on
/// the last line of the left one, which wraps to leave it room. A right
/// text wider than half the line gets a line of its own (or more).
pub fn columns(left: &[u8], right: &[u8], width: usize) -> Vec<Vec<u8>> {
    let width = width.max(2);
    if right.len() > width / 2 {
        let mut lines = wrap(left, width);
        for r in wrap(right, width) {
            let mut line = vec![b' '; width - r.len()];
            line.extend(r);
            lines.push(line);
        }
        return lines;
    }
    let mut lines = wrap(left, width - right.len() - 1);
    if let Some(last) = lines.last_mut() {
        last.resize(width - right.len(), b' ');
        last.extend_from_slice(right);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(v: &[Vec<u8>]) -> Vec<String> {
        v.iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    #[test]
    fn wrapping_breaks_at_the_last_space_and_cuts_only_overlong_words() {
        assert_eq!(
            lines(&wrap(b"Abholung bis Freitag", 12)),
            ["Abholung bis", "Freitag"]
        );
        assert_eq!(lines(&wrap(b"Abholung  bis", 9)), ["Abholung", "bis"]);
        assert_eq!(
            lines(&wrap(b"ab Donaudampfschiff", 8)),
            ["ab", "Donaudam", "pfschiff"]
        );
        assert_eq!(lines(&wrap(b"", 8)), [""]);
        assert_eq!(lines(&wrap(b"exactly8 ", 8)), ["exactly8"]);
        assert_eq!(lines(&wrap(b"   indent", 32)), ["   indent"]);
    }

    #[test]
    fn columns_put_the_right_text_flush_right_on_the_last_line() {
        assert_eq!(lines(&columns(b"Milch", b"1,19", 12)), ["Milch   1,19"]);
        assert_eq!(
            lines(&columns(b"Bio Milch extra", b"1,19", 12)),
            ["Bio", "Milch", "extra   1,19"]
        );
        assert_eq!(
            lines(&columns(b"x", b"a very long right", 12)),
            ["x", " a very long", "       right"]
        );
    }

    #[test]
    fn ean13_takes_twelve_digits_or_thirteen_with_the_right_check() {
        assert_eq!(ean13_body("4006381333931").as_deref(), Some("400638133393"));
        assert_eq!(ean13_body("400638133393").as_deref(), Some("400638133393"));
        assert_eq!(ean13_body("4006381333932"), None);
        assert_eq!(ean13_body("40063813339x"), None);
    }

    #[test]
    fn code128_picks_code_set_c_for_digit_pairs_and_escapes_braces() {
        assert_eq!(code128("1234", None), Ok((vec![b'{', b'C', 12, 34], 2)));
        assert_eq!(code128("A{1", None), Ok((b"{BA{{1".to_vec(), 3)));
        assert_eq!(
            code128("abc", Some(CodeSet::A)),
            Err(EncodeError::Code128Char(CodeSet::A, 0))
        );
        assert_eq!(code128("", None), Err(EncodeError::Code128Length));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn wrapped_lines_fit_and_keep_every_printed_character(
            text in "[a-zäöü€ ]{0,120}|\\PC{0,80}",
            width in 1usize..60,
        ) {
            let bytes = CodePage::Pc858.encode(&text);
            let out = wrap(&bytes, width);
            prop_assert!(out.iter().all(|l| l.len() <= width));
            let ink = |b: &[u8]| b.iter().copied().filter(|c| *c != b' ').collect::<Vec<u8>>();
            prop_assert_eq!(ink(&out.concat()), ink(&bytes));
        }

        #[test]
        fn column_lines_are_never_wider_than_the_paper(
            left in "\\PC{0,70}", right in "\\PC{0,40}", width in 2usize..60,
        ) {
            let (l, r) = (CodePage::Pc437.encode(&left), CodePage::Pc437.encode(&right));
            for line in columns(&l, &r, width) {
                prop_assert!(line.len() <= width, "{} > {}", line.len(), width);
            }
        }
    }
}
