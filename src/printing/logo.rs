//! A logo for the top of a print: PNG bytes → a 1-bit raster `Block`
//! the encoder prints with `GS v 0`. Any colour type and bit depth the
//! `png` crate decodes; transparency is composited on white paper; the
//! picture is shrunk (never enlarged, aspect kept) to at most the paper's
//! width in dots and `MAX_HEIGHT` dots, turned grey and dithered with
//! Floyd–Steinberg. Pure: bytes in, a block out (the caller reads the
//! file). Must never let a hostile file allocate more than its bounds: the
//! file size, the header's dimensions and the decoder's memory are all
//! checked before any pixel is decoded.

use std::io::Cursor;

use super::document::Block;
use super::profile::Profile;

/// The largest logo file read (a logo is a few kilobytes).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// The largest source picture, in pixels each way (a 2048 × 2048 RGBA
/// picture is 16 MiB decoded).
pub const MAX_SOURCE_PIXELS: u32 = 2048;
/// What the `png` decoder may allocate besides our output buffer.
const DECODER_LIMIT_BYTES: usize = 32 * 1024 * 1024;
/// The tallest printed logo in dots (32 mm at 203 dpi): a logo heads a
/// receipt, it must not be most of it.
pub const MAX_HEIGHT: u32 = 256;

#[derive(Debug, thiserror::Error)]
pub enum LogoError {
    #[error("the logo file is {len} bytes; at most {MAX_FILE_BYTES} are read")]
    FileTooLarge { len: usize },
    #[error("the logo is not a PNG file we can read: {0}")]
    NotPng(#[from] png::DecodingError),
    #[error(
        "the logo is {width} x {height} pixels; at most {MAX_SOURCE_PIXELS} x {MAX_SOURCE_PIXELS} are read"
    )]
    TooLarge { width: u32, height: u32 },
    #[error("the logo is not a PNG file we can read: {0}")]
    BadPalette(&'static str),
}

/// `png` bytes as a raster block for `profile`'s paper.
pub fn logo(png: &[u8], profile: &Profile) -> Result<Block, LogoError> {
    if png.len() > MAX_FILE_BYTES {
        return Err(LogoError::FileTooLarge { len: png.len() });
    }
    let grey = decode_grey(png)?;
    let (width, height) = fit(grey.width, grey.height, u32::from(profile.dots));
    let scaled = shrink(&grey, width, height);
    Ok(raster(&dither(scaled, width), width))
}

/// A picture as grey levels, 0.0 black to 255.0 white, row by row.
struct Grey {
    width: u32,
    height: u32,
    levels: Vec<f32>,
}

fn decode_grey(png: &[u8]) -> Result<Grey, LogoError> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(png),
        png::Limits {
            bytes: DECODER_LIMIT_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    // Only the header is read here: the dimensions are checked before a
    // buffer for the pixels exists.
    let mut reader = decoder.read_info()?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width > MAX_SOURCE_PIXELS || height > MAX_SOURCE_PIXELS {
        return Err(LogoError::TooLarge { width, height });
    }
    check_palette(reader.info())?;
    let size = reader
        .output_buffer_size()
        .ok_or(LogoError::TooLarge { width, height })?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf)?;
    let channels = frame.color_type.samples();
    let (colour, alpha) = match frame.color_type {
        png::ColorType::Grayscale => (1, false),
        png::ColorType::GrayscaleAlpha => (1, true),
        png::ColorType::Rgb | png::ColorType::Indexed => (3, false),
        png::ColorType::Rgba => (3, true),
    };
    let mut levels = Vec::with_capacity(width as usize * height as usize);
    for row in buf[..frame.buffer_size()].chunks(frame.line_size) {
        for px in row.chunks_exact(channels).take(width as usize) {
            let f = |i: usize| f32::from(px[i]);
            let grey = if colour == 3 {
                0.299 * f(0) + 0.587 * f(1) + 0.114 * f(2)
            } else {
                f(0)
            };
            // Composite on white paper: transparent is white.
            let a = if alpha { f(colour) / 255.0 } else { 1.0 };
            levels.push(grey * a + 255.0 * (1.0 - a));
        }
    }
    Ok(Grey {
        width,
        height,
        levels,
    })
}

/// The `png` crate (0.18) trusts PLTE and tRNS lengths and panics on a
/// palette that is not whole RGB triples (found by the `print_logo` fuzz
/// target): the PNG spec makes both an error, so they are refused here,
/// before any pixel is expanded.
fn check_palette(info: &png::Info) -> Result<(), LogoError> {
    let Some(palette) = info.palette.as_deref() else {
        return Ok(());
    };
    if palette.len() % 3 != 0 || palette.is_empty() || palette.len() > 256 * 3 {
        return Err(LogoError::BadPalette(
            "its palette (PLTE) is not 1 to 256 whole RGB entries",
        ));
    }
    if info
        .trns
        .as_deref()
        .is_some_and(|t| t.len() > palette.len() / 3)
        && info.color_type == png::ColorType::Indexed
    {
        return Err(LogoError::BadPalette(
            "its transparency (tRNS) has more entries than its palette",
        ));
    }
    Ok(())
}

/// The printed size: at most `dots` wide and `MAX_HEIGHT` high, the
/// aspect kept, never enlarged, at least one dot each way.
fn fit(width: u32, height: u32, dots: u32) -> (u32, u32) {
    let (w, h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    // The scale is the smallest of 1, dots / w and MAX_HEIGHT / h; as a
    // fraction num / den to stay exact.
    let (mut num, mut den) = (1u64, 1u64);
    for (limit, size) in [(u64::from(dots), w), (u64::from(MAX_HEIGHT), h)] {
        if limit * den < num * size {
            (num, den) = (limit, size);
        }
    }
    let scaled = |s: u64| u32::try_from((s * num / den).max(1)).unwrap_or(1);
    (scaled(w).min(dots), scaled(h).min(MAX_HEIGHT))
}

/// Shrink by averaging each target dot's box of source pixels (every
/// source pixel counts, so thin lines fade instead of vanishing).
fn shrink(src: &Grey, width: u32, height: u32) -> Vec<f32> {
    let span = |i: u32, to: u32, from: u32| {
        let start = u64::from(i) * u64::from(from) / u64::from(to);
        let end = (u64::from(i + 1) * u64::from(from)).div_ceil(u64::from(to));
        (start as usize)..(end.max(start + 1) as usize).min(from as usize)
    };
    let mut out = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        let rows = span(y, height, src.height);
        for x in 0..width {
            let cols = span(x, width, src.width);
            let (mut sum, mut n) = (0.0f32, 0u32);
            for sy in rows.clone() {
                let row = sy * src.width as usize;
                for sx in cols.clone() {
                    sum += src.levels.get(row + sx).copied().unwrap_or(255.0);
                    n += 1;
                }
            }
            out.push(if n == 0 { 255.0 } else { sum / n as f32 });
        }
    }
    out
}

/// Floyd–Steinberg: each dot black below mid-grey, its error passed on
/// 7/16 right, 3/16 down-left, 5/16 down, 1/16 down-right.
fn dither(mut levels: Vec<f32>, width: u32) -> Vec<bool> {
    let w = width as usize;
    let mut black = vec![false; levels.len()];
    for i in 0..levels.len() {
        let old = levels[i];
        let new = if old < 128.0 { 0.0 } else { 255.0 };
        black[i] = new == 0.0;
        let err = old - new;
        let (x, last) = (i % w, i + w >= levels.len());
        let mut spread = |j: usize, share: f32| {
            if let Some(l) = levels.get_mut(j) {
                *l += err * share;
            }
        };
        if x + 1 < w {
            spread(i + 1, 7.0 / 16.0);
        }
        if !last {
            if x > 0 {
                spread(i + w - 1, 3.0 / 16.0);
            }
            spread(i + w, 5.0 / 16.0);
            if x + 1 < w {
                spread(i + w + 1, 1.0 / 16.0);
            }
        }
    }
    black
}

/// Dots as `Block::Image` rows: `(width + 7) / 8` bytes, most significant
/// bit left, 1 = black.
fn raster(black: &[bool], width: u32) -> Block {
    let w = width as usize;
    let row = w.div_ceil(8);
    let mut data = vec![0u8; row * (black.len() / w.max(1))];
    for (i, b) in black.iter().enumerate() {
        if *b {
            let (y, x) = (i / w, i % w);
            data[y * row + x / 8] |= 0x80 >> (x % 8);
        }
    }
    Block::Image {
        width: u16::try_from(width).unwrap_or(u16::MAX),
        data,
    }
}

/// A PNG of `width` × `height` from `pixel(x, y)` → RGBA, for tests and
/// the sample logo.
#[cfg(test)]
pub(crate) fn test_png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().expect("header");
    let mut data = Vec::new();
    for y in 0..height {
        for x in 0..width {
            data.extend(pixel(x, y));
        }
    }
    w.write_image_data(&data).expect("data");
    w.finish().expect("finish");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> &'static Profile {
        Profile::by_name(name).expect("profile")
    }

    fn dots(block: &Block) -> (u16, usize, Vec<Vec<bool>>) {
        let Block::Image { width, data } = block else {
            panic!("not an image: {block:?}");
        };
        let row = usize::from(*width).div_ceil(8);
        let rows: Vec<Vec<bool>> = data
            .chunks(row)
            .map(|r| {
                (0..usize::from(*width))
                    .map(|x| r[x / 8] & (0x80 >> (x % 8)) != 0)
                    .collect()
            })
            .collect();
        (*width, rows.len(), rows)
    }

    #[test]
    fn a_grey_gradient_dithers_to_about_half_black_in_the_middle() {
        let png = test_png(384, 64, |x, _| {
            let g = (x * 255 / 383) as u8;
            [g, g, g, 255]
        });
        let (w, h, rows) = dots(&logo(&png, profile("generic_58")).expect("logo"));
        assert_eq!((w, h), (384, 64));
        let middle: Vec<bool> = rows
            .iter()
            .flat_map(|r| r[176..208].iter().copied())
            .collect();
        let share = middle.iter().filter(|b| **b).count() as f64 / middle.len() as f64;
        assert!((0.4..0.6).contains(&share), "{share}");
        // The dark end is nearly all black, the light end nearly all white.
        let black = |r: std::ops::Range<usize>| {
            rows.iter()
                .flat_map(|row| row[r.clone()].iter().copied())
                .filter(|b| *b)
                .count() as f64
                / (r.len() * rows.len()) as f64
        };
        assert!(black(0..16) > 0.9 && black(368..384) < 0.1);
    }

    #[test]
    fn a_white_or_transparent_picture_prints_no_black_dot() {
        for pixel in [[255, 255, 255, 255], [0, 0, 0, 0], [40, 0, 90, 0]] {
            let png = test_png(50, 20, |_, _| pixel);
            let (_, _, rows) = dots(&logo(&png, profile("generic_58")).expect("logo"));
            assert!(rows.iter().flatten().all(|b| !b), "{pixel:?}");
        }
    }

    #[test]
    fn the_logo_fits_the_paper_and_its_height_keeping_the_aspect() {
        let wide = test_png(1000, 100, |x, _| {
            [0, 0, 0, if x % 2 == 0 { 255 } else { 0 }]
        });
        for (name, w, h) in [("generic_58", 384, 38), ("epson_tm_t20", 576, 57)] {
            let (width, height, _) = dots(&logo(&wide, profile(name)).expect("logo"));
            assert_eq!((width, height), (w, h), "{name}");
        }
        let tall = test_png(100, 1000, |_, _| [0, 0, 0, 255]);
        let (width, height, _) = dots(&logo(&tall, profile("epson_tm_t20")).expect("logo"));
        assert_eq!((width, height), (25, 256));
        // A small logo is not enlarged.
        let small = test_png(20, 10, |_, _| [0, 0, 0, 255]);
        let (width, height, rows) = dots(&logo(&small, profile("epson_tm_t20")).expect("logo"));
        assert_eq!((width, height), (20, 10));
        assert!(rows.iter().flatten().all(|b| *b));
    }

    #[test]
    fn grey_palette_and_sixteen_bit_pictures_decode_too() {
        let encode = |color, depth, data: &[u8], palette: Option<Vec<u8>>| {
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, 2, 1);
            enc.set_color(color);
            enc.set_depth(depth);
            if let Some(p) = palette {
                enc.set_palette(p);
            }
            let mut w = enc.write_header().expect("header");
            w.write_image_data(data).expect("data");
            w.finish().expect("finish");
            out
        };
        use png::{BitDepth, ColorType};
        for png in [
            encode(ColorType::Grayscale, BitDepth::One, &[0b0100_0000], None),
            encode(
                ColorType::Grayscale,
                BitDepth::Sixteen,
                &[0, 0, 255, 255],
                None,
            ),
            encode(
                ColorType::Indexed,
                BitDepth::Eight,
                &[0, 1],
                Some(vec![0, 0, 0, 255, 255, 255]),
            ),
            encode(
                ColorType::Rgb,
                BitDepth::Sixteen,
                &[0; 6].iter().chain(&[255; 6]).copied().collect::<Vec<_>>(),
                None,
            ),
        ] {
            let (_, _, rows) = dots(&logo(&png, profile("generic_58")).expect("logo"));
            assert_eq!(rows, [[true, false]]);
        }
    }

    #[test]
    fn bad_input_is_a_clear_error_before_anything_large_is_allocated() {
        assert!(matches!(
            logo(b"GIF89a not a png", profile("generic_58")),
            Err(LogoError::NotPng(_))
        ));
        let png = test_png(8, 8, |_, _| [0, 0, 0, 255]);
        assert!(matches!(
            logo(&png[..png.len() - 20], profile("generic_58")),
            Err(LogoError::NotPng(_))
        ));
        assert!(matches!(
            logo(&vec![0; MAX_FILE_BYTES + 1], profile("generic_58")),
            Err(LogoError::FileTooLarge { .. })
        ));
        // Only a header claiming 100000 x 100000 RGBA pixels (40 GB).
        let mut header = Vec::new();
        let mut enc = png::Encoder::new(&mut header, 100_000, 100_000);
        enc.set_color(png::ColorType::Rgba);
        let mut w = enc.write_header().expect("header");
        // An IDAT with a few compressed bytes: what a decoder would start
        // to inflate into a 40 GB buffer.
        w.write_chunk(
            png::chunk::IDAT,
            &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        )
        .expect("IDAT");
        drop(w);
        let err = logo(&header, profile("generic_58")).expect_err("too large");
        assert!(
            matches!(
                err,
                LogoError::TooLarge {
                    width: 100_000,
                    height: 100_000
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("100000 x 100000"), "{err}");
    }

    /// The `print_logo` fuzz crash: an indexed 4 x 2 picture whose PLTE is
    /// 38 bytes (12 and 2/3 entries) made the png crate index past a slice.
    #[test]
    fn a_palette_of_broken_triples_is_refused_not_a_panic() {
        let crash = "89504e470d0a1a0a0000000d494844520000000400000002080300000048768d5100000026504c5445000000ffffffe6d9a59fdd0053ff00e5b7304a0000ffffffa5d99fdd0000000274524e5300000274523d5300000e49444154789c63c0000442100100001c0005f9b6cd580000000049454e44ae426082";
        let bytes: Vec<u8> = (0..crash.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&crash[i..i + 2], 16).expect("hex"))
            .collect();
        let err = logo(&bytes, profile("generic_58")).expect_err("refused");
        assert!(err.to_string().contains("PLTE"), "{err}");
    }
}
