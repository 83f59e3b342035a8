//! Keyboard-wedge scanners over evdev: the device under `/dev/input/by-id/` is
//! opened and grabbed exclusively (EVIOCGRAB, so scans do not type into the
//! console), and its raw `struct input_event` records are turned back into
//! the characters the scanner typed, using the configured [`Layout`].
//!
//! One read/decode path: [`WedgeReader`] reads 24-byte records from any
//! `AsyncRead` — the grabbed device in production, a recorded fixture file in
//! tests. Only [`open`] (open + grab) is specific to real hardware.
//!
//! Must never: type into or otherwise write to the device, or log what was
//! typed (scans may be clear loyalty numbers).
//!
//! Decoding rules, decided here and relied on by the fixtures:
//! - A character is produced on key press (value 1). Auto-repeat (value 2) is
//!   ignored for characters: a scanner never holds a key on purpose, so a
//!   repeat only means the release came late (busy host, USB latency); a real
//!   double letter always arrives as two presses. Modifiers stay held through
//!   their repeats.
//! - Shift selects level 2; on `de` Right Alt is AltGr (level 3, with Shift
//!   level 4); on `us` Right Alt is plain Alt. CapsLock is ignored (scanners
//!   send explicit Shift).
//! - Ctrl + a key whose character is `@`..`_` or a letter gives the control
//!   character (Ctrl+] = GS, 0x1D). On `de`, `]` is AltGr+9, so a scanner set
//!   to German sends GS as Ctrl+AltGr+9; scanners that send control
//!   characters by US key position (Ctrl + the key right of P, `+` on `de`)
//!   are accepted too: when the layout's character has no control form, the
//!   key's US character is tried.
//! - Alt held + keypad digits + Alt released gives the character with that
//!   decimal code (Alt 0 2 9 → GS). Other keys pressed with Alt give nothing.
//! - Enter and keypad Enter give `\r`, Tab `\t`. Dead keys (`^`, `´`, `` ` ``
//!   on `de`) followed by space give the accent itself; followed by another
//!   character they give the accent then that character (composing accented
//!   letters is not needed for barcodes).
//! - A key the layout does not know, and a SYN_DROPPED (the kernel lost
//!   events), give U+FFFD, so that the frame is visibly broken rather than
//!   silently missing a character.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::keymap::{code::*, keypad_digit, lookup, Layout, Sym};
use super::link::{Chunk, Link};
use super::DeviceError;

/// Size of `struct input_event` on 64-bit Linux (x86-64, aarch64): a 16-byte
/// `timeval`, `u16 type`, `u16 code`, `i32 value`, native endian.
pub const EVENT_SIZE: usize = 24;

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<libc::input_event>() == EVENT_SIZE);

pub const EV_SYN: u16 = 0x00;
pub const EV_KEY: u16 = 0x01;
pub const SYN_DROPPED: u16 = 3;

/// One input event, without its timestamp (framing uses arrival time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputEvent {
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

impl InputEvent {
    /// Parse one native-endian `struct input_event` record.
    pub fn from_record(rec: &[u8; EVENT_SIZE]) -> InputEvent {
        InputEvent {
            kind: u16::from_ne_bytes([rec[16], rec[17]]),
            code: u16::from_ne_bytes([rec[18], rec[19]]),
            value: i32::from_ne_bytes([rec[20], rec[21], rec[22], rec[23]]),
        }
    }
}

/// The wedge's keyboard state machine: events in, typed characters out.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    layout: Layout,
    shift: [bool; 2],
    ctrl: [bool; 2],
    alt: bool,
    altgr: bool,
    /// Digits typed on the keypad while Alt is held.
    alt_code: Option<u32>,
    dead: Option<char>,
}

impl KeyDecoder {
    pub fn new(layout: Layout) -> Self {
        KeyDecoder {
            layout,
            shift: [false; 2],
            ctrl: [false; 2],
            alt: false,
            altgr: false,
            alt_code: None,
            dead: None,
        }
    }

    fn reset(&mut self) {
        *self = KeyDecoder::new(self.layout);
    }

    fn level(&self) -> usize {
        let shift = self.shift[0] || self.shift[1];
        usize::from(shift) + if self.altgr { 2 } else { 0 }
    }

    /// Feed one event; characters typed are appended to `out` as UTF-8.
    pub fn feed(&mut self, ev: InputEvent, out: &mut Vec<u8>) {
        match ev.kind {
            EV_SYN if ev.code == SYN_DROPPED => {
                // Key state is unknown after a drop; the scan in progress is broken.
                self.reset();
                push(out, char::REPLACEMENT_CHARACTER);
            }
            EV_KEY => self.key(ev.code, ev.value, out),
            // EV_SYN reports, EV_MSC scan codes, EV_LED, EV_REP: nothing typed.
            _ => {}
        }
    }

    fn key(&mut self, code: u16, value: i32, out: &mut Vec<u8>) {
        let down = match value {
            0 => false,
            1 => true,
            // Auto-repeat: see the module doc.
            _ => return,
        };
        match code {
            KEY_LEFTSHIFT => return self.shift[0] = down,
            KEY_RIGHTSHIFT => return self.shift[1] = down,
            KEY_LEFTCTRL => return self.ctrl[0] = down,
            KEY_RIGHTCTRL => return self.ctrl[1] = down,
            KEY_RIGHTALT if self.layout.has_altgr() => return self.altgr = down,
            KEY_LEFTALT | KEY_RIGHTALT => {
                self.alt = down;
                if let (false, Some(n)) = (down, self.alt_code.take()) {
                    // Alt released after keypad digits: the character with that
                    // code (Windows-style, 0–255; larger codes wrap like there).
                    push(out, char::from((n % 256) as u8));
                }
                return;
            }
            KEY_CAPSLOCK | KEY_NUMLOCK | KEY_SCROLLLOCK | KEY_LEFTMETA | KEY_RIGHTMETA => return,
            _ => {}
        }
        if !down {
            return;
        }
        if self.alt {
            if let Some(d) = keypad_digit(code) {
                let n = self.alt_code.unwrap_or(0);
                self.alt_code = Some((n * 10 + u32::from(d)) % 1000);
            }
            return;
        }
        let ctrl = self.ctrl[0] || self.ctrl[1];
        let level = self.level();
        let c = match code {
            KEY_ENTER | KEY_KPENTER => Some('\r'),
            KEY_TAB => Some('\t'),
            KEY_BACKSPACE => Some('\u{8}'),
            _ => None,
        };
        if let Some(c) = c {
            self.flush_dead(out);
            return push(out, c);
        }
        let sym = lookup(self.layout, code, level);
        if ctrl {
            self.flush_dead(out);
            let as_char = |s: Sym| match s {
                Sym::Char(c) | Sym::Dead(c) => control_of(c),
                Sym::None => None,
            };
            let control = as_char(sym).or_else(|| as_char(lookup(Layout::Us, code, level & 1)));
            // Ctrl with a key that has no control form types nothing.
            if let Some(c) = control {
                push(out, c);
            }
            return;
        }
        match sym {
            Sym::Char(c) => match self.dead.take() {
                Some(accent) if c == ' ' => push(out, accent),
                Some(accent) => {
                    push(out, accent);
                    push(out, c);
                }
                None => push(out, c),
            },
            Sym::Dead(accent) => match self.dead.take() {
                Some(prev) if prev == accent => push(out, accent),
                Some(prev) => {
                    push(out, prev);
                    self.dead = Some(accent);
                }
                None => self.dead = Some(accent),
            },
            Sym::None => {
                self.flush_dead(out);
                push(out, char::REPLACEMENT_CHARACTER);
            }
        }
    }

    fn flush_dead(&mut self, out: &mut Vec<u8>) {
        if let Some(accent) = self.dead.take() {
            push(out, accent);
        }
    }
}

/// The control character Ctrl+`c` types, if any (Ctrl+] → GS).
fn control_of(c: char) -> Option<char> {
    match c {
        '@'..='_' => Some(char::from(c as u8 & 0x1f)),
        'a'..='z' => Some(char::from(c as u8 & 0x1f)),
        _ => None,
    }
}

fn push(out: &mut Vec<u8>, c: char) {
    let mut b = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}

/// Reads `input_event` records from `R` and yields what was typed.
pub struct WedgeReader<R> {
    inner: R,
    decoder: KeyDecoder,
    buf: Box<[u8; EVENT_SIZE * 64]>,
    /// Bytes of a partial record kept at the start of `buf`.
    filled: usize,
    out: Vec<u8>,
}

impl<R: AsyncRead + Unpin + Send> WedgeReader<R> {
    pub fn new(inner: R, layout: Layout) -> Self {
        WedgeReader {
            inner,
            decoder: KeyDecoder::new(layout),
            buf: Box::new([0; EVENT_SIZE * 64]),
            filled: 0,
            out: Vec::new(),
        }
    }

    /// The next characters typed; `Ok(None)` at end of stream. Cancel-safe:
    /// decoded characters and partial records live in `self` across awaits.
    pub async fn next_bytes(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if !self.out.is_empty() {
                return Ok(Some(std::mem::take(&mut self.out)));
            }
            let n = self.inner.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                if self.filled > 0 {
                    tracing::warn!(bytes = self.filled, "evdev stream ended inside a record");
                }
                return Ok(None);
            }
            self.filled += n;
            let whole = self.filled - self.filled % EVENT_SIZE;
            for rec in self.buf[..whole].chunks_exact(EVENT_SIZE) {
                if let Ok(rec) = <&[u8; EVENT_SIZE]>::try_from(rec) {
                    self.decoder
                        .feed(InputEvent::from_record(rec), &mut self.out);
                }
            }
            self.buf.copy_within(whole..self.filled, 0);
            self.filled -= whole;
        }
    }
}

impl<R: AsyncRead + Unpin + Send> Link for WedgeReader<R> {
    async fn next(&mut self) -> Result<Option<Chunk>, DeviceError> {
        match self.next_bytes().await {
            Ok(Some(bytes)) => Ok(Some(Chunk::Bytes(bytes))),
            Ok(None) => Ok(None),
            Err(e) => Err(DeviceError::from_io("reading evdev device", &e)),
        }
    }
}

/// The grabbed device's file, read without blocking a thread.
pub struct EvdevFile {
    fd: AsyncFd<File>,
    /// Holds the grab (and the device's file description) open.
    _device: ::evdev::raw_stream::RawDevice,
}

impl AsyncRead for EvdevFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|f| f.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Open and grab a real evdev device. Untested here (no `/dev/input` on the
/// build machines); everything after it is the tested [`WedgeReader`] path.
pub fn open(path: &Path, layout: Layout) -> Result<WedgeReader<EvdevFile>, DeviceError> {
    let what = format!("evdev device {}", path.display());
    if !path.exists() {
        return Err(DeviceError::NotPresent(format!("{what} does not exist")));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| DeviceError::from_io(&what, &e))?;
    // The evdev handle and our reader share one open file description, so the
    // grab holds for exactly as long as this link lives.
    let shared = file
        .try_clone()
        .map_err(|e| DeviceError::from_io(&what, &e))?;
    let mut device = ::evdev::raw_stream::RawDevice::from_fd(shared.into())
        .map_err(|e| DeviceError::from_io(&format!("{what} is not an input device"), &e))?;
    device.grab().map_err(|e| {
        DeviceError::Failed(format!(
            "{what}: EVIOCGRAB failed (another program holds it?): {e}"
        ))
    })?;
    // SAFETY: `file` owns a valid, non-blocking descriptor, and nothing closes
    // or replaces it while the `AsyncFd` owns the file.
    let fd = unsafe { AsyncFd::register(file) }
        .map_err(|e| DeviceError::from_io(&what, &io::Error::from(e)))?;
    Ok(WedgeReader::new(
        EvdevFile {
            fd,
            _device: device,
        },
        layout,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRESS: i32 = 1;
    const RELEASE: i32 = 0;
    const REPEAT: i32 = 2;

    fn key(code: u16, value: i32) -> InputEvent {
        InputEvent {
            kind: EV_KEY,
            code,
            value,
        }
    }

    fn typed(layout: Layout, events: &[(u16, i32)]) -> String {
        let mut d = KeyDecoder::new(layout);
        let mut out = Vec::new();
        for &(code, value) in events {
            d.feed(key(code, value), &mut out);
        }
        String::from_utf8(out).expect("decoder emits UTF-8")
    }

    #[test]
    fn repeat_of_a_character_key_is_not_a_second_character() {
        let t = typed(
            Layout::Us,
            &[(30, PRESS), (30, REPEAT), (30, REPEAT), (30, RELEASE)],
        );
        assert_eq!(t, "a");
        let t = typed(
            Layout::Us,
            &[(30, PRESS), (30, RELEASE), (30, PRESS), (30, RELEASE)],
        );
        assert_eq!(t, "aa");
    }

    #[test]
    fn shift_held_through_its_repeats() {
        let t = typed(
            Layout::Us,
            &[
                (KEY_LEFTSHIFT, PRESS),
                (KEY_LEFTSHIFT, REPEAT),
                (30, PRESS),
                (30, RELEASE),
                (KEY_LEFTSHIFT, REPEAT),
                (48, PRESS),
                (48, RELEASE),
                (KEY_LEFTSHIFT, RELEASE),
                (46, PRESS),
            ],
        );
        assert_eq!(t, "ABc");
    }

    #[test]
    fn gs_as_ctrl_bracket_and_as_alt_numpad() {
        let us = typed(
            Layout::Us,
            &[
                (KEY_LEFTCTRL, PRESS),
                (27, PRESS),
                (27, RELEASE),
                (KEY_LEFTCTRL, RELEASE),
            ],
        );
        assert_eq!(us, "\u{1d}");
        let de = typed(
            Layout::De,
            &[
                (KEY_LEFTCTRL, PRESS),
                (KEY_RIGHTALT, PRESS),
                (10, PRESS),
                (10, RELEASE),
                (KEY_RIGHTALT, RELEASE),
                (KEY_LEFTCTRL, RELEASE),
            ],
        );
        assert_eq!(de, "\u{1d}");
        // US key position on a German layout (the `+` key).
        let de_pos = typed(
            Layout::De,
            &[(KEY_LEFTCTRL, PRESS), (27, PRESS), (KEY_LEFTCTRL, RELEASE)],
        );
        assert_eq!(de_pos, "\u{1d}");
        let alt = typed(
            Layout::De,
            &[
                (KEY_LEFTALT, PRESS),
                (KEY_KP0, PRESS),
                (KEY_KP0, RELEASE),
                (KEY_KP2, PRESS),
                (KEY_KP2, RELEASE),
                (KEY_KP9, PRESS),
                (KEY_KP9, RELEASE),
                (KEY_LEFTALT, RELEASE),
            ],
        );
        assert_eq!(alt, "\u{1d}");
        // Alt pressed and released without digits types nothing.
        assert_eq!(
            typed(
                Layout::Us,
                &[(KEY_LEFTALT, PRESS), (30, PRESS), (KEY_LEFTALT, RELEASE)]
            ),
            ""
        );
    }

    #[test]
    fn dead_keys_and_unknown_keys() {
        // de: ^ is a dead key; with space it is the accent itself.
        assert_eq!(typed(Layout::De, &[(41, PRESS), (57, PRESS)]), "^");
        assert_eq!(typed(Layout::De, &[(41, PRESS), (30, PRESS)]), "^a");
        assert_eq!(typed(Layout::De, &[(41, PRESS), (41, PRESS)]), "^");
        // F1 is no character: visibly broken, not dropped.
        assert_eq!(typed(Layout::Us, &[(59, PRESS)]), "\u{fffd}");
    }

    #[test]
    fn syn_dropped_marks_the_scan_broken_and_resets_modifiers() {
        let mut d = KeyDecoder::new(Layout::Us);
        let mut out = Vec::new();
        d.feed(key(KEY_LEFTSHIFT, PRESS), &mut out);
        d.feed(
            InputEvent {
                kind: EV_SYN,
                code: SYN_DROPPED,
                value: 0,
            },
            &mut out,
        );
        d.feed(key(30, PRESS), &mut out);
        assert_eq!(String::from_utf8(out).expect("utf8"), "\u{fffd}a");
    }

    #[test]
    fn record_layout_is_timeval_type_code_value() {
        let mut rec = [0u8; EVENT_SIZE];
        rec[16..18].copy_from_slice(&EV_KEY.to_ne_bytes());
        rec[18..20].copy_from_slice(&30u16.to_ne_bytes());
        rec[20..24].copy_from_slice(&2i32.to_ne_bytes());
        assert_eq!(
            InputEvent::from_record(&rec),
            InputEvent {
                kind: EV_KEY,
                code: 30,
                value: 2
            }
        );
    }

    #[tokio::test]
    async fn records_split_across_reads_are_reassembled() {
        let mut bytes = Vec::new();
        for (code, value) in [(30u16, 1i32), (30, 0), (48, 1), (48, 0)] {
            let mut rec = [0u8; EVENT_SIZE];
            rec[16..18].copy_from_slice(&EV_KEY.to_ne_bytes());
            rec[18..20].copy_from_slice(&code.to_ne_bytes());
            rec[20..24].copy_from_slice(&value.to_ne_bytes());
            bytes.extend_from_slice(&rec);
        }
        let (mut tx, rx) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in bytes.chunks(7) {
                tx.write_all(piece).await.expect("write");
            }
        });
        let mut reader = WedgeReader::new(rx, Layout::Us);
        let mut text = Vec::new();
        while let Some(b) = reader.next_bytes().await.expect("read") {
            text.extend(b);
        }
        writer.await.expect("join");
        assert_eq!(text, b"ab");
    }
}
