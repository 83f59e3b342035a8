//! The virtual printer's picture: ESC/POS bytes → what the paper would
//! show, at the profile's dots (384 or 576 wide), as a 1-bit PNG. Built on
//! the interpreter's parser, so a preview shows what the bytes do, not what
//! a template meant. Font A cells are 12 × 24 dots like the printers';
//! glyphs come from `font8x8` (public domain 8 × 8, drawn 1.5 × 2), € is
//! our own (the crate has none). QR codes are drawn from their payload with
//! `qrcode`; EAN-13 and CODE128 as their real bars (other symbologies,
//! which the encoder never sends, as stand-in bars of their bytes). Must
//! never panic on any bytes.

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
            73 => match code128(data) {
                Some(m) => m,
                None => return,
            },
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

/// CODE128's symbols as bar and space widths in modules (bar first):
/// values 0-102, the starts A, B and C (103-105) and the stop (106, with
/// its final bar). Written out by hand from the standard (ISO/IEC 15417's
/// table): 107 entries are less than a dependency.
const CODE128_WIDTHS: [&[u8]; 107] = [
    b"212222", b"222122", b"222221", b"121223", b"121322", b"131222", b"122213", b"122312",
    b"132212", b"221213", b"221312", b"231212", b"112232", b"122132", b"122231", b"113222",
    b"123122", b"123221", b"223211", b"221132", b"221231", b"213212", b"223112", b"312131",
    b"311222", b"321122", b"321221", b"312212", b"322112", b"322211", b"212123", b"212321",
    b"232121", b"111323", b"131123", b"131321", b"112313", b"132113", b"132311", b"211313",
    b"231113", b"231311", b"112133", b"112331", b"132131", b"113123", b"113321", b"133121",
    b"313121", b"211331", b"231131", b"213113", b"213311", b"213131", b"311123", b"311321",
    b"331121", b"312113", b"312311", b"332111", b"314111", b"221411", b"431111", b"111224",
    b"111422", b"121124", b"121421", b"141122", b"141221", b"112214", b"112412", b"122114",
    b"122411", b"142112", b"142211", b"241211", b"221114", b"413111", b"241112", b"134111",
    b"111242", b"121142", b"121241", b"114212", b"124112", b"124211", b"411212", b"421112",
    b"421211", b"212141", b"214121", b"412121", b"111143", b"111341", b"131141", b"114113",
    b"114311", b"411113", b"411311", b"113141", b"114131", b"311141", b"411131", b"211412",
    b"211214", b"211232", b"2331112",
];
const CODE128_STOP: u8 = 106;

/// CODE128 as `GS k 73` sends it — `{A`, `{B` or `{C` first; `{A`/`{B`/
/// `{C` later switch the code set, `{S` shifts one character, `{1`–`{4`
/// are FNC1–4, `{{` is a `{`; code set C is one byte (0–99) per digit
/// pair — as the symbol's values: start, data, check (the start's value
/// plus each value times its position, modulo 103), stop. `None` for data
/// a printer would refuse, which it prints nothing for.
fn code128_values(data: &[u8]) -> Option<(Vec<u8>, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Set {
        A,
        B,
        C,
    }
    let value = |set: Set, b: u8| match set {
        Set::A if b < 0x20 => Some(b + 64),
        Set::A if b < 0x60 => Some(b - 0x20),
        Set::B if (0x20..0x80).contains(&b) => Some(b - 0x20),
        _ => None,
    };
    let (mut set, start) = match data.get(..2)? {
        b"{A" => (Set::A, 103),
        b"{B" => (Set::B, 104),
        b"{C" => (Set::C, 105),
        _ => return None,
    };
    let (mut values, mut text) = (vec![start], String::new());
    let mut rest = &data[2..];
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'{' {
            if set == Set::C {
                values.push((b < 100).then_some(b)?);
                text.push_str(&format!("{b:02}"));
            } else {
                values.push(value(set, b)?);
                text.push(char::from(b));
            }
            continue;
        }
        let (&code, tail) = rest.split_first()?;
        rest = tail;
        let to = |target: Set| match target {
            Set::A => 101,
            Set::B => 100,
            Set::C => 99,
        };
        match (code, set) {
            (b'A', s) if s != Set::A => (values.push(to(Set::A)), set = Set::A).1,
            (b'B', s) if s != Set::B => (values.push(to(Set::B)), set = Set::B).1,
            (b'C', s) if s != Set::C => (values.push(to(Set::C)), set = Set::C).1,
            (b'1', _) => values.push(102),
            (b'2', Set::A | Set::B) => values.push(97),
            (b'3', Set::A | Set::B) => values.push(96),
            (b'4', Set::A) => values.push(101),
            (b'4', Set::B) => values.push(100),
            (b'S', Set::A | Set::B) => {
                let (&c, tail) = rest.split_first()?;
                rest = tail;
                let other = if set == Set::A { Set::B } else { Set::A };
                values.push(98);
                values.push(value(other, c)?);
                text.push(char::from(c));
            }
            (b'{', Set::B) => {
                values.push(value(Set::B, b'{')?);
                text.push('{');
            }
            _ => return None,
        }
    }
    if values.len() < 2 {
        return None;
    }
    let check = values
        .iter()
        .enumerate()
        .map(|(i, v)| i.max(1) * usize::from(*v))
        .sum::<usize>()
        % 103;
    values.push(u8::try_from(check).ok()?);
    values.push(CODE128_STOP);
    Some((values, text))
}

/// CODE128's modules (11 a symbol, 13 the stop) and its human-readable
/// text, from `GS k 73` data.
fn code128(data: &[u8]) -> Option<(Vec<bool>, String)> {
    let (values, text) = code128_values(data)?;
    let mut modules = Vec::with_capacity(values.len() * 11 + 2);
    for v in values {
        for (i, w) in CODE128_WIDTHS[usize::from(v)].iter().enumerate() {
            modules.extend(std::iter::repeat_n(i % 2 == 0, usize::from(w - b'0')));
        }
    }
    Some((modules, text))
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

    /// Bar and space widths in modules, bar first.
    fn widths(modules: &[bool]) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for (i, m) in modules.iter().enumerate() {
            if i > 0 && modules[i - 1] == *m {
                if let Some(last) = out.last_mut() {
                    *last += 1;
                }
            } else {
                out.push(1);
            }
        }
        out
    }

    #[test]
    fn code128_bars_are_the_real_symbol_with_start_check_and_stop() {
        // Code set C "1234": start C (105), 12, 34, check (105 + 12 + 2 * 34)
        // % 103 = 82, stop: the standard's widths for these values.
        let (m, text) = code128(&[b'{', b'C', 12, 34]).expect("valid");
        assert_eq!(text, "1234");
        let want = "211232 112232 131123 121241 2331112";
        let want: Vec<usize> = want
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| usize::from(b - b'0'))
            .collect();
        assert_eq!(widths(&m), want);
        assert_eq!(m.len(), 11 * 4 + 13);
        // Code set B with a literal brace, a switch to C and FNC1.
        let (values, text) = code128_values(b"{BA{{{C\x0c{1").expect("valid");
        // Check: (104 + 33 + 2 * 91 + 3 * 99 + 4 * 12 + 5 * 102) % 103 = 41.
        assert_eq!(values, [104, 33, 91, 99, 12, 102, 41, 106]);
        assert_eq!(text, "A{12");
        // What a printer refuses, we draw nothing for.
        for bad in [&b"AB"[..], b"{C\x64", b"{Ba{", b"{B", b"{Bx{Z", b"{C{S1"] {
            assert_eq!(code128_values(bad), None, "{bad:?}");
        }
        // Every table entry is 11 modules (the stop 13), bars summing even.
        for (i, w) in CODE128_WIDTHS.iter().enumerate() {
            let sum: u32 = w.iter().map(|b| u32::from(b - b'0')).sum();
            let bars: u32 = w.iter().step_by(2).map(|b| u32::from(b - b'0')).sum();
            assert_eq!((sum, bars % 2), (if i == 106 { 13 } else { 11 }, 0), "{i}");
        }
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
