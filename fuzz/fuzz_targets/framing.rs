//! The device framing codec (`src/devices/framing.rs`) on arbitrary byte streams.
//!
//! Input: 4 header bytes, then the stream.
//! - byte 0: suffix, one of `SUFFIXES` (low bits);
//! - byte 1: prefix, one of `PREFIXES` (low bits); bit 7 set = an idle pause after every read;
//! - byte 2: `max_len` (0-255; the codec raises 0 to 1);
//! - byte 3: seed for the read sizes (1-17 bytes) the stream is cut into.
//!
//! Checked: `decode` never errs; frames are non-empty, at most `max_len` long and hold no
//! suffix; errors are well-formed; what stays buffered is bounded; end of stream leaves
//! nothing behind; `delimited` respects `max_len`; and without idle pauses, cutting the
//! stream into reads changes nothing (with an over-long frame, nothing but the length the
//! error reports).
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::devices::framing::{FrameCodec, FrameError, FrameItem};
use store_edge_fuzz::devices::Framing;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;

const SUFFIXES: [&[u8]; 7] = [b"", b"\r", b"\n", b"\r\n", b"\x03\r\n", b"aa", b"aba"];
const PREFIXES: [&[u8]; 3] = [b"", b"\x02", b"]C1"];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn check_item(f: &Framing, item: &FrameItem, at_eof: bool) {
    let max = f.max_len.max(1);
    match item {
        FrameItem::Frame(frame) => {
            assert!(!frame.is_empty(), "empty frame");
            assert!(frame.len() <= max, "frame of {} > {max}", frame.len());
            assert!(!contains(frame, &f.suffix), "frame holds the suffix");
        }
        FrameItem::Bad(FrameError::TooLong { len, max: m }) => {
            assert_eq!(*m, max);
            assert!(*len > max, "TooLong with len {len} <= {max}");
        }
        FrameItem::Bad(FrameError::Incomplete { len }) => {
            assert!(
                at_eof && *len > 0 && !f.suffix.is_empty(),
                "Incomplete {len}"
            );
        }
        FrameItem::Bad(FrameError::Transport(_)) => panic!("the codec made a Transport error"),
    }
}

/// Feed `stream` in reads of the given sizes (then end of stream); all items in order.
fn run(f: &Framing, stream: &[u8], sizes: &[usize], idle: bool) -> Vec<FrameItem> {
    let mut codec = FrameCodec::new(f);
    let bound = f.max_len.max(1) + f.prefix.len() + f.suffix.len();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = stream;
    for &n in sizes {
        let (read, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        // The same read as a transport-delimited frame (HID report, simulated line).
        if let Some(item) = codec.delimited(read.to_vec()) {
            let max = f.max_len.max(1);
            match &item {
                FrameItem::Frame(fr) => assert!(!fr.is_empty() && fr.len() <= max),
                FrameItem::Bad(FrameError::TooLong { len, max: m }) => {
                    assert!(*m == max && *len > max)
                }
                other => panic!("delimited gave {other:?}"),
            }
        }
        buf.extend_from_slice(read);
        while let Some(item) = codec.decode(&mut buf).expect("decode never errs") {
            check_item(f, &item, false);
            out.push(item);
        }
        assert!(buf.len() <= bound, "{} bytes buffered > {bound}", buf.len());
        if idle {
            if let Some(item) = codec.idle(&mut buf) {
                check_item(f, &item, false);
                out.push(item);
            }
            assert!(buf.is_empty(), "idle left bytes behind");
        }
        if rest.is_empty() {
            break;
        }
    }
    let mut guard = 0;
    while let Some(item) = codec.decode_eof(&mut buf).expect("decode_eof never errs") {
        check_item(f, &item, true);
        out.push(item);
        guard += 1;
        assert!(guard <= stream.len() + 1, "decode_eof does not end");
    }
    assert!(buf.is_empty(), "end of stream left {} bytes", buf.len());
    out
}

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, stream @ ..] = data else {
        return;
    };
    let f = Framing {
        prefix: PREFIXES[usize::from(*b & 0x7f) % PREFIXES.len()].to_vec(),
        suffix: SUFFIXES[usize::from(*a) % SUFFIXES.len()].to_vec(),
        max_len: usize::from(*c),
        idle_timeout: None,
    };
    let idle = b & 0x80 != 0;

    // Read sizes 1..=17 from a xorshift generator, enough to cover the stream.
    let mut x = (u32::from(*d) << 8 | 0x5b) | 1;
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < stream.len() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = 1 + (x % 17) as usize;
        sizes.push(n);
        total += n;
    }

    let chunked = run(&f, stream, &sizes, idle);
    if !idle {
        let whole = run(&f, stream, &[stream.len()], false);
        let too_long = |items: &[FrameItem]| {
            items
                .iter()
                .any(|i| matches!(i, FrameItem::Bad(FrameError::TooLong { .. })))
        };
        if !too_long(&whole) {
            assert_eq!(whole, chunked, "read boundaries changed the frames");
        } else {
            // With an over-long frame the error's "at least N" depends on
            // the reads, but the good frames must not (a split suffix once
            // swallowed the next frame; see the regression test in framing.rs).
            let good = |items: &[FrameItem]| -> Vec<FrameItem> {
                items
                    .iter()
                    .filter(|i| matches!(i, FrameItem::Frame(_)))
                    .cloned()
                    .collect()
            };
            assert_eq!(
                good(&whole),
                good(&chunked),
                "read boundaries changed the good frames"
            );
        }
    }
});
