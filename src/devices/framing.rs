//! The driver's framing: bytes from a transport → frames, by prefix, suffix,
//! max_len and (driven from outside, see [`FrameCodec::idle`]) an idle pause.
//!
//! Must never: panic or grow without bound on any input, or put frame bytes
//! into an error (they may be clear loyalty numbers). Over-long input becomes
//! a [`FrameItem::Bad`] value and the codec resynchronises at the next suffix.
//!
//! "Incomplete" is `Ok(None)` from [`Decoder::decode`] (wait for more bytes);
//! "invalid" is `Ok(Some(FrameItem::Bad(..)))`. The `Err` case is reserved for
//! I/O errors of the surrounding `FramedRead` and never produced here.

use std::io;

use tokio_util::bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

use super::Framing;

/// One result of framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameItem {
    /// A complete frame, prefix and suffix removed.
    Frame(Vec<u8>),
    /// Input that is not a usable frame.
    Bad(FrameError),
}

/// Why input is not a usable frame. Carries lengths only, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// More than `max` bytes without a suffix, or a frame longer than `max`.
    /// The rest of it, up to the next suffix, is discarded.
    #[error("frame longer than {max} bytes (at least {len}); discarded up to the next suffix")]
    TooLong { len: usize, max: usize },
    /// The stream ended in the middle of a frame (no suffix seen).
    #[error("stream ended inside a frame ({len} bytes without suffix)")]
    Incomplete { len: usize },
    /// A transport-level problem with one frame (e.g. a malformed HID report).
    #[error("{0}")]
    Transport(String),
}

/// Decoder for one device's framing. See [`Framing`] for the rules.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    max_len: usize,
    /// Inside an over-long frame: drop bytes until the next suffix.
    discarding: bool,
    /// The last frame ended with a suffix ending in `\r`: a `\n` first thing
    /// in the buffer belongs to it (CRLF split across reads).
    swallow_lf: bool,
    /// Bytes of the buffer already searched for the suffix (keeps decoding linear).
    searched: usize,
}

impl FrameCodec {
    pub fn new(framing: &Framing) -> Self {
        FrameCodec {
            prefix: framing.prefix.clone(),
            suffix: framing.suffix.clone(),
            max_len: framing.max_len.max(1),
            discarding: false,
            swallow_lf: false,
            searched: 0,
        }
    }

    /// The longest run of bytes without suffix that can still become a frame.
    fn max_pending(&self) -> usize {
        self.max_len + self.prefix.len() + self.suffix.len()
    }

    /// Strip the prefix and check the length of a delimited frame.
    /// `None` for an empty frame (a bare suffix, e.g. a blank line): scanners
    /// never send one, and there is nothing to report.
    pub fn finish(&self, mut frame: Vec<u8>) -> Option<FrameItem> {
        if !self.prefix.is_empty() && frame.starts_with(&self.prefix) {
            frame.drain(..self.prefix.len());
        }
        if frame.is_empty() {
            return None;
        }
        if frame.len() > self.max_len {
            return Some(FrameItem::Bad(FrameError::TooLong {
                len: frame.len(),
                max: self.max_len,
            }));
        }
        Some(FrameItem::Frame(frame))
    }

    /// A frame that the transport already delimited (HID POS report, simulated
    /// line): the prefix and a trailing suffix are stripped, max_len applies.
    pub fn delimited(&self, mut frame: Vec<u8>) -> Option<FrameItem> {
        if let Some(cut) = self.suffix_at_end(&frame) {
            frame.truncate(cut);
        }
        self.finish(frame)
    }

    fn suffix_at_end(&self, frame: &[u8]) -> Option<usize> {
        if self.suffix.is_empty() {
            return None;
        }
        if frame.ends_with(&self.suffix) {
            let mut cut = frame.len() - self.suffix.len();
            if self.suffix.ends_with(b"\n") && cut > 0 && frame[cut - 1] == b'\r' {
                cut -= 1;
            }
            return Some(cut);
        }
        if self.suffix.ends_with(b"\r") && frame.ends_with(b"\n") {
            let body = &frame[..frame.len() - 1];
            if body.ends_with(&self.suffix) {
                return Some(body.len() - self.suffix.len());
            }
        }
        None
    }

    /// The line has been idle for the configured timeout: what is buffered is
    /// a frame (or, after an over-long one, the end of the discarded tail).
    pub fn idle(&mut self, buf: &mut BytesMut) -> Option<FrameItem> {
        self.searched = 0;
        self.swallow_lf = false;
        let bytes = buf.split().to_vec();
        if std::mem::take(&mut self.discarding) {
            return None;
        }
        self.finish(bytes)
    }
}

impl Decoder for FrameCodec {
    type Item = FrameItem;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<FrameItem>, io::Error> {
        loop {
            if self.swallow_lf && !buf.is_empty() {
                if buf[0] == b'\n' {
                    buf.advance(1);
                }
                self.swallow_lf = false;
            }
            if buf.is_empty() {
                return Ok(None);
            }
            if self.suffix.is_empty() {
                // Only an idle pause ends a frame; bound what we hold meanwhile.
                if buf.len() > self.max_pending() {
                    let len = buf.len();
                    buf.clear();
                    if std::mem::replace(&mut self.discarding, true) {
                        continue;
                    }
                    return Ok(Some(FrameItem::Bad(FrameError::TooLong {
                        len,
                        max: self.max_len,
                    })));
                }
                return Ok(None);
            }

            // Resume where the last search stopped, minus a suffix that may
            // straddle the old end of the buffer.
            let start = self
                .searched
                .min(buf.len())
                .saturating_sub(self.suffix.len() - 1);
            let found = buf[start..]
                .windows(self.suffix.len())
                .position(|w| w == self.suffix.as_slice())
                .map(|i| start + i);
            let Some(at) = found else {
                self.searched = buf.len();
                if buf.len() > self.max_pending() {
                    let len = buf.len();
                    // Keep what may be the start of a suffix that the next
                    // read completes; dropping it would swallow the next frame.
                    let keep = (self.suffix.len() - 1).min(len);
                    buf.advance(len - keep);
                    self.searched = 0;
                    if std::mem::replace(&mut self.discarding, true) {
                        // Still inside the same over-long frame: reported once.
                        return Ok(None);
                    }
                    return Ok(Some(FrameItem::Bad(FrameError::TooLong {
                        len,
                        max: self.max_len,
                    })));
                }
                return Ok(None);
            };

            self.searched = 0;
            let mut end = at;
            if self.suffix.ends_with(b"\n") && end > 0 && buf[end - 1] == b'\r' {
                end -= 1;
            }
            let frame = buf[..end].to_vec();
            buf.advance(at + self.suffix.len());
            self.swallow_lf = self.suffix.ends_with(b"\r");
            if std::mem::take(&mut self.discarding) {
                // The tail of an over-long frame ends here; already reported.
                continue;
            }
            match self.finish(frame) {
                Some(item) => return Ok(Some(item)),
                None => continue,
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<FrameItem>, io::Error> {
        if let Some(item) = self.decode(buf)? {
            return Ok(Some(item));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let bytes = buf.split().to_vec();
        self.searched = 0;
        if std::mem::take(&mut self.discarding) {
            return Ok(None);
        }
        if self.suffix.is_empty() {
            // Without a suffix, the end of the stream ends the frame like a pause.
            return Ok(self.finish(bytes));
        }
        let len = bytes.len();
        Ok(Some(FrameItem::Bad(FrameError::Incomplete { len })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn framing(prefix: &str, suffix: &str, max_len: usize) -> Framing {
        Framing {
            prefix: prefix.as_bytes().to_vec(),
            suffix: suffix.as_bytes().to_vec(),
            max_len,
            idle_timeout: None,
        }
    }

    /// Feed `chunks` one after another (as separate reads), then end of stream;
    /// render every item as `frame` or `!error`.
    fn run(f: &Framing, chunks: &[&[u8]]) -> Vec<String> {
        let mut codec = FrameCodec::new(f);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let render = |item: FrameItem| match item {
            FrameItem::Frame(b) => String::from_utf8_lossy(&b).into_owned(),
            FrameItem::Bad(e) => format!("!{e}"),
        };
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(item) = codec.decode(&mut buf).expect("never errs") {
                out.push(render(item));
            }
        }
        while let Some(item) = codec.decode_eof(&mut buf).expect("never errs") {
            out.push(render(item));
        }
        out
    }

    fn check(f: &Framing, chunks: &[&[u8]], expect: &[&str]) {
        assert_eq!(run(f, chunks), expect, "chunks: {chunks:?}");
    }

    #[test]
    fn cr_suffix_splits_frames_and_accepts_crlf() {
        let f = framing("", "\r", 64);
        check(&f, &[b"123\r456\r\n789\r"], &["123", "456", "789"]);
        // CRLF split between reads: the LF is not the start of the next frame.
        check(&f, &[b"123\r", b"\n456\r"], &["123", "456"]);
        check(
            &f,
            &[b"12", b"3", b"\r", b"\n", b"4", b"56\r\n"],
            &["123", "456"],
        );
    }

    #[test]
    fn lf_suffix_also_takes_a_cr_before_it() {
        let f = framing("", "\n", 64);
        check(&f, &[b"abc\r\ndef\n"], &["abc", "def"]);
    }

    #[test]
    fn multi_byte_suffix_split_across_reads() {
        let f = framing("", "\x03\r\n", 64);
        check(&f, &[b"abc\x03", b"\r", b"\ndef\x03\r\n"], &["abc", "def"]);
    }

    #[test]
    fn prefix_is_stripped_when_present_and_kept_optional() {
        let f = framing("\x02", "\r", 64);
        check(&f, &[b"\x02abc\rdef\r"], &["abc", "def"]);
        // Prefix only: nothing to deliver.
        check(&f, &[b"\x02\r"], &[] as &[&str]);
    }

    #[test]
    fn blank_lines_are_skipped() {
        let f = framing("", "\r", 64);
        check(&f, &[b"\r\r\nabc\r"], &["abc"]);
    }

    #[test]
    fn over_long_frame_is_one_error_then_resyncs_at_next_suffix() {
        let f = framing("", "\r", 4);
        let long = [b'9'; 50];
        check(
            &f,
            &[&long[..20], &long[20..], b"tail\rok\r"],
            &[
                "!frame longer than 4 bytes (at least 20); discarded up to the next suffix",
                "ok",
            ],
        );
        // Complete but too long in one read.
        check(
            &f,
            &[b"123456\rok\r"],
            &[
                "!frame longer than 4 bytes (at least 6); discarded up to the next suffix",
                "ok",
            ],
        );
        // Exactly max_len is fine.
        check(&f, &[b"1234\r"], &["1234"]);
    }

    /// Found by the `framing` fuzz target: an over-long frame whose
    /// two-byte suffix was split across reads swallowed the next frame.
    #[test]
    fn over_long_frame_with_a_suffix_split_across_reads_keeps_the_next_frame() {
        let f = framing("", "\r\n", 4);
        check(
            &f,
            &[b"1234567\r", b"\nok\r\n"],
            &[
                "!frame longer than 4 bytes (at least 8); discarded up to the next suffix",
                "ok",
            ],
        );
    }

    #[test]
    fn unterminated_tail_at_end_of_stream_is_incomplete() {
        let f = framing("", "\r", 64);
        check(
            &f,
            &[b"abc\rde"],
            &[
                "abc",
                "!stream ended inside a frame (2 bytes without suffix)",
            ],
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded() {
        // A cheap deterministic generator: no rand dependency for a unit test.
        let mut x: u32 = 0x1234_5678;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for suffix in ["\r", "\r\n", "", "\x1d"] {
            let f = Framing {
                prefix: b"]".to_vec(),
                suffix: suffix.as_bytes().to_vec(),
                max_len: 16,
                idle_timeout: Some(Duration::from_millis(5)),
            };
            let mut codec = FrameCodec::new(&f);
            let mut buf = BytesMut::new();
            for _ in 0..2000 {
                let n = (next() % 40) as usize;
                for _ in 0..n {
                    // Bias towards CR/LF so suffixes occur.
                    let b = match next() % 8 {
                        0 => b'\r',
                        1 => b'\n',
                        _ => (next() & 0xff) as u8,
                    };
                    buf.extend_from_slice(&[b]);
                }
                while let Some(item) = codec.decode(&mut buf).expect("never errs") {
                    if let FrameItem::Frame(fr) = item {
                        assert!(!fr.is_empty() && fr.len() <= 16);
                    }
                }
                assert!(buf.len() <= 16 + 1 + 2 + 40, "buffer stays bounded");
                if next() % 10 == 0 {
                    let _ = codec.idle(&mut buf);
                }
            }
        }
    }

    #[test]
    fn idle_ends_a_frame_without_suffix() {
        let f = framing("", "", 64);
        let mut codec = FrameCodec::new(&f);
        let mut buf = BytesMut::from(&b"4006381333931"[..]);
        assert_eq!(
            codec.decode(&mut buf).expect("never errs"),
            None,
            "incomplete"
        );
        assert_eq!(
            codec.idle(&mut buf),
            Some(FrameItem::Frame(b"4006381333931".to_vec()))
        );
        assert_eq!(codec.idle(&mut buf), None, "nothing buffered");
    }

    #[test]
    fn idle_after_over_long_input_only_ends_the_discard() {
        let f = framing("", "", 4);
        let mut codec = FrameCodec::new(&f);
        let mut buf = BytesMut::from(&b"123456789"[..]);
        assert!(matches!(
            codec.decode(&mut buf).expect("never errs"),
            Some(FrameItem::Bad(FrameError::TooLong { .. }))
        ));
        buf.extend_from_slice(b"12");
        assert_eq!(codec.decode(&mut buf).expect("never errs"), None);
        assert_eq!(codec.idle(&mut buf), None, "tail of the discarded frame");
        buf.extend_from_slice(b"ok");
        assert_eq!(codec.idle(&mut buf), Some(FrameItem::Frame(b"ok".to_vec())));
    }

    #[test]
    fn delimited_frames_strip_prefix_and_suffix_and_check_length() {
        let codec = FrameCodec::new(&framing("P", "\r", 5));
        assert_eq!(
            codec.delimited(b"Pabc\r\n".to_vec()),
            Some(FrameItem::Frame(b"abc".to_vec()))
        );
        assert_eq!(
            codec.delimited(b"abc".to_vec()),
            Some(FrameItem::Frame(b"abc".to_vec()))
        );
        assert!(matches!(
            codec.delimited(b"abcdef".to_vec()),
            Some(FrameItem::Bad(FrameError::TooLong { len: 6, max: 5 }))
        ));
        assert_eq!(codec.delimited(Vec::new()), None);
    }
}
