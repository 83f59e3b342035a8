//! The virtual printer's picture: ESC/POS bytes → what the paper would
//! show, at the profile's dots (384 or 576 wide), as a 1-bit PNG. Built on
//! the interpreter's parser, so a preview shows what the bytes do, not what
//! a template meant. Font A cells are 12 × 24 dots like the printers';
//! glyphs come from `font8x8` (public domain 8 × 8, drawn 1.5 × 2), € is
//! our own (the crate has none). QR codes are drawn from their payload with
//! `qrcode`; EAN-13 as its real bars; CODE128 as bars of the right width
//! but not its real pattern (a stand-in: the preview is for reading, the
//! bytes are what the golden tests check). Must never panic on any bytes.

use font8x8::legacy::{BASIC_LEGACY, BLOCK_LEGACY, BOX_LEGACY, LATIN_LEGACY};

use super::codepage::CodePage;
use super::interpret::{parse, Command, InterpretError};
use super::profile::Profile;

const CELL_W: usize = 12;
const CELL_H: usize = 24;
/// Dots between text lines (the printers' default line spacing is 30).
const LINE_GAP: usize = 6;
const MARGIN: usize = 16;
/// The longest paper the picture shows: 2.5 m at 8 dots per mm (a long
/// receipt is well under 1 m). Below it the printer has run off the roll:
/// nothing more is drawn, so a few kilobytes of feeds (`ESC d 255` is 3
/// bytes and 7,650 dots) cannot make the picture take gigabytes.
pub const MAX_HEIGHT: usize = 20_000;

/// € in the 8 × 8 layout of `font8x8`: one byte per row, bit 0 leftmost.
const EURO: [u8; 8] = [0x38, 0x44, 0x1F, 0x04, 0x1F, 0x44, 0x38, 0x00];
/// What a character without a glyph shows: a hollow box.
const MISSING: [u8; 8] = [0x7E, 0x42, 0x42, 0x42, 0x42, 0x42, 0x7E, 0x00];

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error(transparent)]
    Bytes(#[from] InterpretError),
    #[error("cannot write the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// A 1-bit picture of the paper, `width` dots wide; `true` is black.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    dots: Vec<bool>,
}

impl Picture {
    fn new(width: usize) -> Picture {
        Picture {
            width,
            height: 0,
            dots: Vec::new(),
        }
    }

    fn set(&mut self, x: usize, y: usize) {
        if x >= self.width || y >= MAX_HEIGHT {
            return;
        }
        if y >= self.height {
            self.height = y + 1;
            self.dots.resize(self.width * self.height, false);
        }
        self.dots[y * self.width + x] = true;
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy);
            }
        }
    }

    pub fn is_black(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.height && self.dots[y * self.width + x]
    }

    /// The picture as a grayscale 1-bit PNG (white paper, black dots).
    pub fn to_png(&self) -> Result<Vec<u8>, PictureError> {
        let height = self.height.max(1);
        let row = self.width.div_ceil(8);
        let mut data = vec![0xFFu8; row * height];
        for y in 0..self.height {
            for x in 0..self.width {
                if self.is_black(x, y) {
                    data[y * row + x / 8] &= !(0x80 >> (x % 8));
                }
            }
        }
        let mut out = Vec::new();
        let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut enc = png::Encoder::new(&mut out, size(self.width), size(height));
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut w = enc.write_header()?;
        w.write_image_data(&data)?;
        w.finish()?;
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
struct Style {
    bold: bool,
    underline: bool,
    width: usize,
    height: usize,
}

/// The glyph `font8x8` has for `c` (Basic Latin, Latin-1, box drawing,
/// blocks), or ours.
fn glyph(c: char) -> [u8; 8] {
    let n = u32::from(c) as usize;
    match c {
        '€' => EURO,
        '\u{20}'..='\u{7E}' => BASIC_LEGACY[n],
        '\u{A0}'..='\u{FF}' => LATIN_LEGACY[n - 0xA0],
        '\u{2500}'..='\u{257F}' => BOX_LEGACY[n - 0x2500],
        '\u{2580}'..='\u{259F}' => BLOCK_LEGACY[n - 0x2580],
        _ => MISSING,
    }
}

struct Printer<'a> {
    pic: Picture,
    profile: &'a Profile,
    page: CodePage,
    align: u8,
    style: Style,
    y: usize,
    line: Vec<(char, Style)>,
    qr_size: usize,
    qr_data: Vec<u8>,
    bar_height: usize,
    bar_module: usize,
    hri: u8,
}

/// Print `bytes` on a virtual `profile` printer and return the paper.
pub fn render(bytes: &[u8], profile: &Profile) -> Result<Picture, InterpretError> {
    let mut p = Printer {
        pic: Picture::new(usize::from(profile.dots)),
        profile,
        page: CodePage::Pc437,
        align: 0,
        style: Style {
            bold: false,
            underline: false,
            width: 1,
            height: 1,
        },
        y: MARGIN,
        line: Vec::new(),
        qr_size: 3,
        qr_data: Vec::new(),
        bar_height: 162,
        bar_module: 3,
        hri: 0,
    };
    for cmd in parse(bytes)? {
        p.command(cmd);
    }
    p.pic.height = p.pic.height.max(p.y + MARGIN).min(MAX_HEIGHT);
    p.pic.dots.resize(p.pic.width * p.pic.height, false);
    Ok(p.pic)
}

impl Printer<'_> {
    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Init => {
                self.page = CodePage::Pc437;
                self.align = 0;
                self.style = Style {
                    bold: false,
                    underline: false,
                    width: 1,
                    height: 1,
                };
            }
            Command::CodePage(n) => {
                self.page = self.profile.page_of_number(n).unwrap_or(CodePage::Pc437)
            }
            Command::Align(n) => self.align = n % 48,
            Command::Bold(on) => self.style.bold = on,
            Command::Underline(on) => self.style.underline = on,
            Command::Size { width, height } => {
                self.style.width = usize::from(width);
                self.style.height = usize::from(height);
            }
            Command::Text(t) => {
                for b in t {
                    let c = self.page.char_of(b).unwrap_or('\u{FFFD}');
                    self.line.push((c, self.style));
                }
            }
            Command::LineFeed => self.print_line(),
            Command::Feed(n) => {
                if !self.line.is_empty() {
                    self.print_line();
                }
                self.y += usize::from(n) * (CELL_H + LINE_GAP);
            }
            Command::Qr { function: 67, data } => {
                self.qr_size = usize::from(data.first().copied().unwrap_or(3).clamp(1, 16))
            }
            Command::Qr { function: 80, data } => {
                self.qr_data = data.get(1..).unwrap_or_default().to_vec()
            }
            Command::Qr { function: 81, .. } => self.qr(),
            Command::BarcodeHeight(h) => self.bar_height = usize::from(h.max(1)),
            Command::BarcodeModule(w) => self.bar_module = usize::from(w.clamp(1, 6)),
            Command::HriPosition(n) => self.hri = n % 48,
            Command::Barcode { system, data } => self.barcode(system, &data),
            Command::Raster {
                row_bytes,
                rows,
                data,
            } => self.raster(usize::from(row_bytes), usize::from(rows), &data),
            Command::Cut { full } => self.cut(full),
            _ => {}
        }
    }

    /// Where a thing `width` dots wide starts under the current alignment.
    fn x_of(&self, width: usize) -> usize {
        let room = self.pic.width.saturating_sub(width);
        match self.align {
            1 => room / 2,
            2 => room,
            _ => 0,
        }
    }

    fn print_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let width: usize = line.iter().map(|(_, s)| CELL_W * s.width).sum();
        let height = line
            .iter()
            .map(|(_, s)| s.height)
            .max()
            .unwrap_or(self.style.height)
            * CELL_H;
        let mut x = self.x_of(width);
        for (c, s) in line {
            let top = self.y + height - CELL_H * s.height;
            self.glyph(c, s, x, top);
            x += CELL_W * s.width;
        }
        self.y += height + LINE_GAP;
    }

    /// One character in a 12 × 24 cell (times its size): the 8 × 8 glyph
    /// drawn 1.5 wide and 2 high, 4 dots down; bold doubles each stroke.
    fn glyph(&mut self, c: char, s: Style, x: usize, y: usize) {
        let g = glyph(c);
        let on = |col: usize, row: usize| col < 8 && g[row] >> col & 1 == 1;
        for cy in 0..CELL_H {
            for cx in 0..CELL_W {
                let black = if (4..20).contains(&cy) {
                    let (row, col) = ((cy - 4) / 2, cx * 8 / CELL_W);
                    on(col, row) || (s.bold && col > 0 && on((cx - 1) * 8 / CELL_W, row))
                } else {
                    s.underline && (21..23).contains(&cy)
                };
                if black {
                    self.pic
                        .fill(x + cx * s.width, y + cy * s.height, s.width, s.height);
                }
            }
        }
    }

    fn qr(&mut self) {
        let data = std::mem::take(&mut self.qr_data);
        // A payload no QR code holds prints nothing, as on the printer.
        let Ok(code) = qrcode::QrCode::with_error_correction_level(&data, qrcode::EcLevel::M)
        else {
            return;
        };
        let n = code.width();
        let size = self.qr_size;
        let x0 = self.x_of(n * size);
        for (i, c) in code.to_colors().into_iter().enumerate() {
            if c == qrcode::Color::Dark {
                self.pic
                    .fill(x0 + (i % n) * size, self.y + (i / n) * size, size, size);
            }
        }
        self.y += n * size;
    }

    fn barcode(&mut self, system: u8, data: &[u8]) {
        let (modules, text) = match system {
            67 | 2 => match ean13(data) {
                Some(m) => m,
                None => return,
            },
            73 => code128_stand_in(data),
            _ => (
                stand_in_bars(data),
                String::from_utf8_lossy(data).into_owned(),
            ),
        };
        let w = self.bar_module;
        let x0 = self.x_of(modules.len() * w);
        for (i, black) in modules.iter().enumerate() {
            if *black {
                self.pic.fill(x0 + i * w, self.y, w, self.bar_height);
            }
        }
        self.y += self.bar_height;
        if self.hri == 2 || self.hri == 3 {
            let saved = std::mem::replace(
                &mut self.style,
                Style {
                    bold: false,
                    underline: false,
                    width: 1,
                    height: 1,
                },
            );
            self.y += 4;
            self.line = text.chars().map(|c| (c, self.style)).collect();
            self.print_line();
            self.style = saved;
        }
    }

    fn raster(&mut self, row_bytes: usize, rows: usize, data: &[u8]) {
        let x0 = self.x_of(row_bytes * 8);
        for r in 0..rows {
            for bx in 0..row_bytes {
                let byte = data.get(r * row_bytes + bx).copied().unwrap_or(0);
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        self.pic.set(x0 + bx * 8 + bit, self.y + r);
                    }
                }
            }
        }
        self.y += rows;
    }

    /// Feed to the cutter, then a dashed line across the paper (long dashes
    /// for a full cut, short ones for a partial cut).
    fn cut(&mut self, full: bool) {
        if !self.line.is_empty() {
            self.print_line();
        }
        self.y += 3 * (CELL_H + LINE_GAP);
        let (dash, gap) = if full { (16, 8) } else { (6, 6) };
        let mut x = 0;
        while x < self.pic.width {
            self.pic.fill(x, self.y, dash.min(self.pic.width - x), 2);
            x += dash + gap;
        }
        self.y += 2 + MARGIN;
    }
}

/// EAN-13's modules (95) and its 13 digits, from 12 digits or 13.
fn ean13(data: &[u8]) -> Option<(Vec<bool>, String)> {
    const L: [u8; 10] = [0x0D, 0x19, 0x13, 0x3D, 0x23, 0x31, 0x2F, 0x3B, 0x37, 0x0B];
    const PARITY: [u8; 10] = [0x00, 0x0B, 0x0D, 0x0E, 0x13, 0x19, 0x1C, 0x15, 0x16, 0x1A];
    if !(12..=13).contains(&data.len()) || !data.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut d: Vec<u8> = data[..12].iter().map(|b| b - b'0').collect();
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, v)| u32::from(*v) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    d.push(((10 - sum % 10) % 10) as u8);
    let bits = |v: u8, n: usize| (0..n).rev().map(move |i| v >> i & 1 == 1);
    let mut m: Vec<bool> = vec![true, false, true];
    for (i, v) in d[1..7].iter().enumerate() {
        let l = L[usize::from(*v)];
        // G is R reversed; R is L inverted.
        let g = (0..7).fold(0u8, |acc, k| acc << 1 | ((!l >> k) & 1));
        let even = PARITY[usize::from(d[0])] >> (5 - i) & 1 == 1;
        m.extend(bits(if even { g } else { l }, 7));
    }
    m.extend([false, true, false, true, false]);
    for v in &d[7..] {
        m.extend(bits(!L[usize::from(*v)] & 0x7F, 7));
    }
    m.extend([true, false, true]);
    let text = d.iter().map(|v| char::from(b'0' + v)).collect();
    Some((m, text))
}

/// CODE128 as `GS k 73` sends it (`{A`/`{B`/`{C` first): bars as wide as
/// the real symbol (11 modules a symbol, start, check, stop of 13) and the
/// human-readable text.
fn code128_stand_in(data: &[u8]) -> (Vec<bool>, String) {
    let (set_c, body) = match data {
        [b'{', b'C', rest @ ..] => (true, rest),
        [b'{', _, rest @ ..] => (false, rest),
        _ => (false, data),
    };
    let text: String = if set_c {
        body.iter().map(|b| format!("{b:02}")).collect()
    } else {
        String::from_utf8_lossy(body).replace("{{", "{")
    };
    // The data and a check byte: 11 modules each after the start's 11.
    let check = body.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    let mut m = stand_in_bars(&[body, &[check]].concat());
    m.extend([
        true, true, false, false, false, true, true, true, false, true, false, true, true,
    ]);
    (m, text)
}

/// Bars from the bytes (6 modules each), so different data looks different.
fn stand_in_bars(data: &[u8]) -> Vec<bool> {
    let mut m = vec![
        true, true, false, true, false, false, true, false, false, false, false,
    ];
    for b in data {
        m.extend([true, b & 1 == 1, false, b & 2 == 2, true, false]);
        m.extend([b & 4 == 4, true, false, b & 8 == 8, false]);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printing::document::{Block, Document, Symbology};
    use crate::printing::encode::encode;
    use proptest::prelude::*;

    fn profile(name: &str) -> &'static Profile {
        Profile::by_name(name).expect("profile")
    }

    fn picture(blocks: Vec<Block>, p: &Profile) -> Picture {
        let bytes = encode(&Document { blocks }, p, CodePage::Pc858).expect("encodes");
        render(&bytes, p).expect("renders")
    }

    #[test]
    fn the_picture_is_as_wide_as_the_paper_and_a_png() {
        for (name, dots) in [("generic_58", 384), ("epson_tm_t20", 576)] {
            let pic = picture(vec![Block::text("Grüße 12,50 €")], profile(name));
            assert_eq!(pic.width, dots);
            let png = pic.to_png().expect("png");
            assert_eq!(&png[1..4], b"PNG");
            let (w, h) = (&png[16..20], &png[20..24]);
            assert_eq!(u32::from_be_bytes([w[0], w[1], w[2], w[3]]), dots as u32);
            assert_eq!(
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
                pic.height as u32
            );
        }
    }

    #[test]
    fn double_size_text_is_twice_as_wide_and_high() {
        let p = profile("generic_58");
        let extent = |pic: &Picture| {
            let black: Vec<(usize, usize)> = (0..pic.height)
                .flat_map(|y| (0..pic.width).map(move |x| (x, y)))
                .filter(|(x, y)| pic.is_black(*x, *y))
                .collect();
            let xs = black.iter().map(|b| b.0);
            let ys = black.iter().map(|b| b.1);
            (
                xs.clone().max().unwrap_or(0) - xs.min().unwrap_or(0) + 1,
                ys.clone().max().unwrap_or(0) - ys.min().unwrap_or(0) + 1,
            )
        };
        let small = extent(&picture(vec![Block::text("H")], p));
        let big = extent(&picture(
            vec![Block::Text {
                text: "H".into(),
                align: Default::default(),
                bold: false,
                underline: false,
                double_width: true,
                double_height: true,
            }],
            p,
        ));
        assert_eq!((big.0, big.1), (small.0 * 2, small.1 * 2));
    }

    #[test]
    fn the_qr_code_is_drawn_from_its_payload_and_a_different_payload_differs() {
        let p = profile("epson_tm_t20");
        let qr = |s: &str| {
            picture(
                vec![Block::Qr {
                    payload: s.into(),
                    size: 4,
                }],
                p,
            )
        };
        let (a, b) = (qr("S-0042-17"), qr("S-0042-18"));
        assert_ne!(a, b);
        // Version 1 (21 modules of 4 dots), centred: the finder pattern's
        // corner is black.
        let x0 = (576 - 21 * 4) / 2;
        assert!(a.is_black(x0, MARGIN) && a.is_black(x0 + 27, MARGIN + 27));
        assert!(!a.is_black(x0 - 1, MARGIN));
    }

    #[test]
    fn ean13_bars_are_the_real_symbol() {
        let (m, text) = ean13(b"400638133393").expect("valid");
        assert_eq!(text, "4006381333931");
        assert_eq!(m.len(), 95);
        // The first digit 4 → parity LGLLGG; the second digit 0 in L: 0001101.
        let second: Vec<u8> = m[3..10].iter().map(|b| u8::from(*b)).collect();
        assert_eq!(second, [0, 0, 0, 1, 1, 0, 1]);
        // The last digit 1 in R: 1100110, then the end guard.
        let last: Vec<u8> = m[85..95].iter().map(|b| u8::from(*b)).collect();
        assert_eq!(last, [1, 1, 0, 0, 1, 1, 0, 1, 0, 1]);
        let p = profile("generic_58");
        let pic = picture(
            vec![Block::Barcode {
                symbology: Symbology::Ean13 {},
                data: "4006381333931".into(),
            }],
            p,
        );
        assert!(pic.height > 80);
    }

    #[test]
    fn the_cut_is_a_dashed_line() {
        let p = profile("epson_tm_t20");
        let pic = picture(vec![Block::Cut { full: false }], p);
        let row = (0..pic.height)
            .find(|y| pic.is_black(0, *y))
            .expect("a dash");
        let black = (0..pic.width).filter(|x| pic.is_black(*x, row)).count();
        assert!(black > pic.width / 3 && black < pic.width, "{black}");
    }

    #[test]
    fn a_flood_of_feeds_ends_at_the_end_of_the_roll_not_in_gigabytes() {
        let p = profile("epson_tm_t20");
        // 5,000 bytes of `ESC d 255` then text: 12.7 million dots of paper.
        let mut bytes = [0x1B, b'd', 255].repeat(1_666);
        bytes.extend(b"lost\n");
        let pic = render(&bytes, p).expect("renders");
        assert_eq!((pic.width, pic.height), (576, MAX_HEIGHT));
        assert!((0..MAX_HEIGHT).all(|y| !pic.is_black(0, y)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn the_picture_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(pic) = render(&bytes, profile("generic_58")) {
                prop_assert_eq!(pic.width, 384);
            }
        }
    }
}
