//! Simulated scanner for demos and tests on a laptop: scans come from a file
//! of lines, from a FIFO, or from a unix socket at the configured path.
//!
//! - A regular file is replayed once, one scan per line, then the device stays
//!   online and idle. Empty lines and lines starting with `#` are skipped;
//!   `#pause <ms>` sets the pause before each following scan (default 1000).
//! - A FIFO is read line by line as something writes to it
//!   (`echo 4006381333931 > var/scanner.fifo`); writers may come and go.
//! - A unix socket is connected to, and read line by line until it closes.
//!
//! In every line `\t`, `\r`, `\n`, `\\` and `\xHH` are escapes, so GS is
//! `\x1d`. A line is one delimited frame: the framing's prefix, suffix and
//! max_len apply, the suffix is not needed.
//!
//! Must never: write to the path, or create it (a missing path is Offline).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::framing::{FrameCodec, FrameItem};
use super::link::{Chunk, Link};
use super::{DeviceError, Framing};

/// Pause before each replayed scan unless `#pause` says otherwise.
pub const DEFAULT_PAUSE: Duration = Duration::from_millis(1000);
/// Replay files larger than this are refused (a demo file is a few KB).
const MAX_REPLAY_FILE: u64 = 16 * 1024 * 1024;

/// Decode the escapes of one line. Unknown escapes are kept as written.
pub fn unescape(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b != b'\\' || i + 1 >= line.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |s: &[u8]| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        };
        match line[i + 1] {
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b'\\' => out.push(b'\\'),
            b'x' => match line.get(i + 2..i + 4).and_then(hex) {
                Some(v) => {
                    out.push(v);
                    i += 4;
                    continue;
                }
                None => out.extend_from_slice(b"\\x"),
            },
            other => out.extend_from_slice(&[b'\\', other]),
        }
        i += 2;
    }
    out
}

/// One replayed scan and the pause before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayLine {
    pub pause: Duration,
    pub frame: Vec<u8>,
}

/// Parse a replay file: scans with their pauses (see the module doc).
pub fn parse_replay(text: &[u8]) -> Vec<ReplayLine> {
    let mut pause = DEFAULT_PAUSE;
    let mut out = Vec::new();
    for raw in text.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix(b"#") {
            let directive = std::str::from_utf8(comment).unwrap_or("").trim();
            if let Some(ms) = directive.strip_prefix("pause") {
                match ms.trim().parse::<u64>() {
                    Ok(ms) => pause = Duration::from_millis(ms),
                    Err(_) => tracing::warn!("simulated device: `#pause` needs milliseconds"),
                }
            }
            continue;
        }
        out.push(ReplayLine {
            pause,
            frame: unescape(line),
        });
    }
    out
}

/// An open simulated device.
pub enum SimulatedLink {
    Replay {
        lines: Vec<ReplayLine>,
        next: usize,
        next_at: Instant,
    },
    Lines(LineReader<Box<dyn AsyncRead + Unpin + Send>>),
}

/// Reads escaped lines from a byte stream; over-long lines are bad frames.
pub struct LineReader<R> {
    inner: R,
    codec: FrameCodec,
    buf: BytesMut,
    eof: bool,
}

impl<R: AsyncRead + Unpin + Send> LineReader<R> {
    pub fn new(inner: R, max_len: usize) -> Self {
        let framing = Framing {
            prefix: Vec::new(),
            suffix: b"\n".to_vec(),
            // Room for every byte to be written as a 4-byte `\xHH` escape.
            max_len: max_len.saturating_mul(4),
            idle_timeout: None,
        };
        LineReader {
            inner,
            codec: FrameCodec::new(&framing),
            buf: BytesMut::with_capacity(4096),
            eof: false,
        }
    }

    fn take(&mut self) -> Option<Chunk> {
        let item = if self.eof {
            self.codec.decode_eof(&mut self.buf)
        } else {
            self.codec.decode(&mut self.buf)
        };
        match item {
            Ok(Some(FrameItem::Frame(line))) => Some(Chunk::Frame(unescape(&line))),
            Ok(Some(FrameItem::Bad(e))) => Some(Chunk::Bad(e.to_string())),
            Ok(None) | Err(_) => None,
        }
    }
}

impl<R: AsyncRead + Unpin + Send> Link for LineReader<R> {
    async fn next(&mut self) -> Result<Option<Chunk>, DeviceError> {
        loop {
            if let Some(chunk) = self.take() {
                return Ok(Some(chunk));
            }
            if self.eof {
                return Ok(None);
            }
            // `read_buf` is cancel-safe; decoding happens without awaiting.
            match self.inner.read_buf(&mut self.buf).await {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Err(DeviceError::from_io("reading simulated device", &e)),
            }
        }
    }
}

impl Link for SimulatedLink {
    async fn next(&mut self) -> Result<Option<Chunk>, DeviceError> {
        match self {
            SimulatedLink::Replay {
                lines,
                next,
                next_at,
            } => {
                let Some(line) = lines.get(*next) else {
                    // Replayed once; stay online and quiet.
                    return std::future::pending().await;
                };
                // Cancel-safe: the position advances only after the pause.
                tokio::time::sleep_until(*next_at).await;
                let frame = line.frame.clone();
                *next += 1;
                if let Some(following) = lines.get(*next) {
                    *next_at = Instant::now() + following.pause;
                }
                Ok(Some(Chunk::Frame(frame)))
            }
            SimulatedLink::Lines(reader) => reader.next().await,
        }
    }
}

/// Open the simulated device at `path` (file, FIFO or unix socket).
pub async fn open(path: &Path, max_len: usize) -> Result<SimulatedLink, DeviceError> {
    use std::os::unix::fs::FileTypeExt;
    let what = format!("simulated device {}", path.display());
    let meta = match tokio::fs::metadata(path).await {
        Ok(m) => m,
        Err(e) => return Err(DeviceError::from_io(&what, &e)),
    };
    let kind = meta.file_type();
    if kind.is_fifo() {
        // Opened read-write so that the FIFO never reports end of stream when
        // the last writer goes; the next `echo` just goes on.
        let rx = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(path)
            .map_err(|e| DeviceError::from_io(&what, &e))?;
        return Ok(SimulatedLink::Lines(LineReader::new(Box::new(rx), max_len)));
    }
    if kind.is_socket() {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| DeviceError::from_io(&what, &e))?;
        return Ok(SimulatedLink::Lines(LineReader::new(
            Box::new(stream),
            max_len,
        )));
    }
    if meta.len() > MAX_REPLAY_FILE {
        return Err(DeviceError::Failed(format!(
            "{what} is larger than {MAX_REPLAY_FILE} bytes"
        )));
    }
    let text = tokio::fs::read(path)
        .await
        .map_err(|e| DeviceError::from_io(&what, &e))?;
    let lines = parse_replay(&text);
    let first_pause = lines.first().map_or(Duration::ZERO, |l| l.pause);
    Ok(SimulatedLink::Replay {
        lines,
        next: 0,
        next_at: Instant::now() + first_pause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape(br"]C1010\x1d10AB"), b"]C1010\x1d10AB");
        assert_eq!(unescape(br"a\tb\\c\rd\ne"), b"a\tb\\c\rd\ne");
        // Unknown or cut escapes stay as written.
        assert_eq!(unescape(br"\q\x4\"), br"\q\x4\");
        assert_eq!(unescape(br"\xZZ"), br"\xZZ");
    }

    #[test]
    fn replay_file_with_comments_and_pauses() {
        let lines = parse_replay(b"# demo\r\n4006381333931\r\n\n#pause 250\n]C1\\x1d01\n");
        assert_eq!(
            lines,
            vec![
                ReplayLine {
                    pause: DEFAULT_PAUSE,
                    frame: b"4006381333931".to_vec()
                },
                ReplayLine {
                    pause: Duration::from_millis(250),
                    frame: b"]C1\x1d01".to_vec()
                },
            ]
        );
    }

    #[tokio::test]
    async fn line_reader_splits_unescapes_and_bounds_lines() {
        let input: &[u8] = b"abc\r\n\\x1d01\n";
        let mut r = LineReader::new(input, 8);
        assert_eq!(
            r.next().await.expect("ok"),
            Some(Chunk::Frame(b"abc".to_vec()))
        );
        assert_eq!(
            r.next().await.expect("ok"),
            Some(Chunk::Frame(b"\x1d01".to_vec()))
        );
        assert_eq!(r.next().await.expect("ok"), None);
        let long = [b'1'; 100];
        let mut r = LineReader::new(&long[..], 8);
        assert!(matches!(r.next().await.expect("ok"), Some(Chunk::Bad(_))));
        assert_eq!(r.next().await.expect("ok"), None);
    }
}
