//! Scanners and card readers as streams of raw frames: each device is a *driver*
//! (framing: prefix, suffix, max_len, idle timeout) over a *transport* (serial,
//! evdev keyboard wedge, HID POS over USB, TCP, simulated), kept open by a
//! supervisor that reopens it with backoff and publishes its state.
//!
//! Must never: interpret a frame (that is `scan/`), touch SQLite, block on the
//! network to central, log frame contents (they may be clear loyalty numbers),
//! or let one device's failure stop another device.
//!
//! Map of the module:
//! - [`config`]: the `[[devices]]` table as written ([`RawDevice`]) and its
//!   checked form ([`resolve`] → [`DeviceConfig`]).
//! - [`framing`]: the driver's frame decoder (a `tokio_util::codec::Decoder`).
//! - [`link`]: what a transport hands the driver ([`link::Chunk`]) and the pump
//!   that turns chunks into [`DeviceEvent`]s.
//! - [`serial`], [`evdev`] (+ [`keymap`]), [`hid_pos`], [`tcp`], [`simulated`]:
//!   one transport each; the list of transports is the match in
//!   [`supervisor`], not a registry.
//! - [`supervisor`]: open, pump, reopen with backoff; [`spawn_all`] starts one
//!   task per device.
//! - [`printer_config`]: a `[[devices]]` table with `kind = "printer"`
//!   ([`resolve_any`] sends it there) → [`PrinterConfig`].
//! - [`printer_link`]: a printer's link (the write half): send a job's
//!   bytes in chunks, ask `DLE EOT` status; one `match` over the printer
//!   transports (tcp, serial, usblp, [`usb_printer`], simulated).
//! - [`printer_status`]: the `DLE EOT` answers parsed bit by bit (pure).

pub mod config;
pub mod evdev;
pub mod framing;
pub mod hid_pos;
pub mod keymap;
pub mod link;
pub mod printer_config;
pub mod printer_link;
pub mod printer_status;
pub mod serial;
pub mod simulated;
pub mod supervisor;
pub mod tcp;
pub mod usb_printer;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use config::{resolve, resolve_any, RawDevice, Resolved};
pub use framing::{FrameCodec, FrameError, FrameItem};
pub use keymap::Layout;
pub use printer_config::{PrinterConfig, PrinterTransport};
pub use supervisor::spawn_all;

/// What the device is for; decides how `scan/` classifies its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Scanner,
    CardReader,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Scanner => "scanner",
            DeviceKind::CardReader => "card_reader",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataBits {
    Five,
    Six,
    Seven,
    Eight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBits {
    One,
    Two,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowControl {
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// How bytes arrive. Settings are typed here, never parsed out of device names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A serial port (USB-COM scanners, RS-232 readers).
    Serial {
        path: PathBuf,
        baud: u32,
        parity: Parity,
        data_bits: DataBits,
        stop_bits: StopBits,
        flow_control: FlowControl,
    },
    /// A keyboard-wedge scanner under `/dev/input/by-id/`, grabbed exclusively.
    Evdev { path: PathBuf, layout: Layout },
    /// A USB HID POS barcode scanner (usage page 0x8C), found by vendor/product id.
    HidPos { vid: u16, pid: u16 },
    /// A network scanner that sends lines to us over a TCP connection we open.
    Tcp { address: String },
    /// Replays a file of lines, or reads lines from a FIFO or unix socket
    /// (see [`simulated`]).
    Simulated { path: PathBuf },
}

impl Transport {
    /// The path the device appears at, for transports that have one (the
    /// supervisor watches it to reopen quickly on replug).
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Transport::Serial { path, .. }
            | Transport::Evdev { path, .. }
            | Transport::Simulated { path } => Some(path),
            Transport::HidPos { .. } | Transport::Tcp { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transport::Serial { .. } => "serial",
            Transport::Evdev { .. } => "evdev",
            Transport::HidPos { .. } => "hid_pos",
            Transport::Tcp { .. } => "tcp",
            Transport::Simulated { .. } => "simulated",
        }
    }
}

/// The driver's framing of a byte stream into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// Stripped from the start of a frame when present; a frame without it is
    /// still delivered.
    pub prefix: Vec<u8>,
    /// Ends a frame. A suffix ending in `\r` also swallows a following `\n`;
    /// a suffix ending in `\n` also swallows a `\r` before it.
    pub suffix: Vec<u8>,
    /// Longest frame delivered (prefix and suffix not counted).
    pub max_len: usize,
    /// A pause this long ends a frame (scanners configured without suffix).
    pub idle_timeout: Option<Duration>,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            prefix: Vec::new(),
            suffix: b"\r".to_vec(),
            max_len: DEFAULT_MAX_LEN,
            idle_timeout: None,
        }
    }
}

/// Same bound as `scan::MAX_FRAME_BYTES`: longer frames could not be decoded anyway.
pub const DEFAULT_MAX_LEN: usize = 4096;

/// One device, resolved from its `[[devices]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub id: String,
    pub kind: DeviceKind,
    pub transport: Transport,
    pub register: Option<String>,
    /// `price_check` | `basket` | `pickup` | `inventory`.
    pub context: String,
    pub framing: Framing,
}

/// A device's state as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Open and reading.
    Online,
    /// Not there: path missing, unplugged, connection refused or dropped.
    Offline,
    /// There but unusable: permission denied, busy, bad settings. Retried too.
    Error,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Online => "online",
            DeviceState::Offline => "offline",
            DeviceState::Error => "error",
        }
    }
}

/// What the devices layer tells the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// One complete frame, prefix and suffix removed. Raw bytes: `scan/` decides
    /// what they mean.
    Frame {
        device_id: String,
        bytes: Vec<u8>,
        received: Instant,
    },
    /// Input that could not be framed (too long, cut off, broken report). The
    /// reason never contains the frame's bytes.
    BadFrame { device_id: String, reason: String },
    /// The device's state changed.
    State {
        device_id: String,
        state: DeviceState,
        detail: Option<String>,
    },
}

/// Why a device could not be opened or stopped delivering. The variant decides
/// the published [`DeviceState`].
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The device is not there (path missing, USB device absent, connection refused).
    #[error("not present: {0}")]
    NotPresent(String),
    /// It was there and went away (EIO/HUP on unplug, connection dropped, end of stream).
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// It is there but unusable.
    #[error("{0}")]
    Failed(String),
}

impl DeviceError {
    pub fn state(&self) -> DeviceState {
        match self {
            DeviceError::NotPresent(_) | DeviceError::Disconnected(_) => DeviceState::Offline,
            DeviceError::Failed(_) => DeviceState::Error,
        }
    }

    /// Classify an I/O error: errors that mean "the device is gone" are
    /// Offline, everything else is Error.
    pub fn from_io(what: &str, err: &std::io::Error) -> DeviceError {
        use std::io::ErrorKind as K;
        let msg = format!("{what}: {err}");
        match err.kind() {
            K::NotFound => return DeviceError::NotPresent(msg),
            K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable | K::TimedOut => {
                return DeviceError::NotPresent(msg)
            }
            K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::NotConnected => return DeviceError::Disconnected(msg),
            _ => {}
        }
        match err.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) => DeviceError::NotPresent(msg),
            Some(libc::EIO) | Some(libc::ESHUTDOWN) => DeviceError::Disconnected(msg),
            _ => DeviceError::Failed(msg),
        }
    }
}
