//! USB HID POS barcode scanners (HID usage page 0x8C) read with rusb: the
//! scanner's input reports are parsed by the pure [`parse_report`] and joined
//! by [`ReportAssembler`]; the rusb code only finds the interface and reads
//! reports on a thread of its own.
//!
//! Must never: send anything to the scanner (no output or feature reports),
//! log report contents, or block a tokio worker thread (libusb calls are
//! blocking and live on their own thread).
//!
//! # The report, as assumed here
//!
//! The HID Point of Sale Usage Tables (1.02, usage page 0x8C) leave the byte
//! layout to the report descriptor; the "Scanned Data Report" that HID POS
//! scanners actually send (documented in the same form by Honeywell, Zebra
//! and Access-IS manuals) is a 64-byte input report:
//!
//! | byte  | content |
//! |-------|---------|
//! | 0     | report id, 0x02 |
//! | 1     | length of the data in this report (≤ 56) |
//! | 2..5  | AIM symbology identifier (`]`, code, modifier), or zeros |
//! | 5..61 | decoded data, zero-padded |
//! | 61    | further (vendor) symbology identifier — ignored |
//! | 62    | reserved |
//! | 63    | bit 0: decoded data continued in the next report |
//!
//! A barcode longer than 56 bytes spans several reports; only the first
//! carries the symbology. Reports of other ids (status, trigger) are skipped.
//! The assembled frame is the AIM identifier (when present) followed by the
//! data, i.e. what a serial scanner with "AIM ID on" would send.
//! Reports shorter than 64 bytes are accepted with the same header and the
//! same 3-byte trailer (data area = bytes 5..len-3).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::link::{Chunk, Link};
use super::DeviceError;

/// Report id of the scanned data report.
pub const SCANNED_DATA_REPORT_ID: u8 = 0x02;
/// Bytes before the data: report id, length, 3 symbology bytes.
const HEADER: usize = 5;
/// Bytes after the data area: further symbology, reserved, flags.
const TRAILER: usize = 3;
/// The barcode scanner usage page.
pub const USAGE_PAGE_BARCODE_SCANNER: u16 = 0x8C;

/// One parsed scanned-data report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// `]Xm` when the scanner sent an AIM identifier.
    pub aim: Option<[u8; 3]>,
    pub data: Vec<u8>,
    /// More data for the same barcode follows in the next report.
    pub continued: bool,
}

/// Why a report is not a usable scanned-data report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Another report of the scanner (status, trigger): not an error.
    #[error("report id {0} is not a scanned data report")]
    OtherReport(u8),
    #[error("report of {0} bytes is too short for a scanned data report")]
    TooShort(usize),
    #[error("report says {len} data bytes, but has room for {room}")]
    BadLength { len: usize, room: usize },
}

/// Parse one input report (report id first, as read from the interrupt endpoint).
pub fn parse_report(report: &[u8]) -> Result<ScanReport, ReportError> {
    let Some(&id) = report.first() else {
        return Err(ReportError::TooShort(0));
    };
    if id != SCANNED_DATA_REPORT_ID {
        return Err(ReportError::OtherReport(id));
    }
    if report.len() < HEADER + TRAILER {
        return Err(ReportError::TooShort(report.len()));
    }
    let room = report.len() - HEADER - TRAILER;
    let len = usize::from(report[1]);
    if len > room {
        return Err(ReportError::BadLength { len, room });
    }
    let aim = match [report[2], report[3], report[4]] {
        [b']', code, modifier] => Some([b']', code, modifier]),
        // Zeros, or a vendor code the AIM standard does not define: no identifier.
        _ => None,
    };
    Ok(ScanReport {
        aim,
        data: report[HEADER..HEADER + len].to_vec(),
        continued: report[report.len() - 1] & 0x01 != 0,
    })
}

/// What feeding one report to the assembler gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// A complete barcode: AIM identifier (if any) + data.
    Frame(Vec<u8>),
    /// A broken report or an over-long barcode (reason only, never the data).
    Bad(String),
    /// Nothing yet (continued data, or a report that is not scanned data).
    Pending,
}

/// Joins continued reports into one barcode, bounded by `max_len`.
#[derive(Debug, Clone)]
pub struct ReportAssembler {
    max_len: usize,
    pending: Vec<u8>,
    /// The barcode being assembled already overflowed: drop until its last report.
    overflowed: bool,
}

impl ReportAssembler {
    pub fn new(max_len: usize) -> Self {
        ReportAssembler {
            max_len,
            pending: Vec::new(),
            overflowed: false,
        }
    }

    pub fn push(&mut self, report: &[u8]) -> Assembled {
        let parsed = match parse_report(report) {
            Ok(r) => r,
            Err(ReportError::OtherReport(id)) => {
                tracing::debug!(report_id = id, "HID POS report skipped");
                return Assembled::Pending;
            }
            Err(e) => {
                // A broken report also breaks the barcode it belonged to.
                self.pending.clear();
                self.overflowed = false;
                return Assembled::Bad(e.to_string());
            }
        };
        if self.pending.is_empty() && !self.overflowed {
            if let Some(aim) = parsed.aim {
                self.pending.extend_from_slice(&aim);
            }
        }
        if !self.overflowed {
            self.pending.extend_from_slice(&parsed.data);
        }
        let mut result = Assembled::Pending;
        if self.pending.len() > self.max_len && !self.overflowed {
            result = Assembled::Bad(format!(
                "barcode longer than {} bytes (at least {})",
                self.max_len,
                self.pending.len()
            ));
            self.overflowed = true;
            self.pending.clear();
        }
        if !parsed.continued {
            if !std::mem::take(&mut self.overflowed) && !self.pending.is_empty() {
                result = Assembled::Frame(std::mem::take(&mut self.pending));
            }
            self.pending.clear();
        }
        result
    }
}

/// Whether a HID report descriptor declares usage page 0x8C anywhere.
pub fn declares_barcode_scanner_page(descriptor: &[u8]) -> bool {
    let mut i = 0;
    while i < descriptor.len() {
        let prefix = descriptor[i];
        if prefix == 0xFE {
            // Long item: size in the next byte, tag after it.
            let size = descriptor.get(i + 1).copied().map_or(0, usize::from);
            i += 3 + size;
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            s => usize::from(s),
        };
        let Some(data) = descriptor.get(i + 1..i + 1 + size) else {
            return false;
        };
        // Global item, tag 0: Usage Page.
        if prefix & 0xFC == 0x04 {
            let mut page = 0u32;
            for (n, b) in data.iter().enumerate() {
                page |= u32::from(*b) << (8 * n);
            }
            if page == u32::from(USAGE_PAGE_BARCODE_SCANNER) {
                return true;
            }
        }
        i += 1 + size;
    }
    false
}

/// An open HID POS scanner: reports arrive from the reader thread.
pub struct HidPosLink {
    reports: mpsc::Receiver<Result<Vec<u8>, DeviceError>>,
    assembler: ReportAssembler,
    stop: Arc<AtomicBool>,
}

impl Drop for HidPosLink {
    fn drop(&mut self) {
        // The reader thread notices within one read timeout and releases the device.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl HidPosLink {
    /// A link fed from any source of reports (tests, or another report reader).
    pub fn from_reports(
        reports: mpsc::Receiver<Result<Vec<u8>, DeviceError>>,
        max_len: usize,
    ) -> Self {
        HidPosLink {
            reports,
            assembler: ReportAssembler::new(max_len),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Link for HidPosLink {
    async fn next(&mut self) -> Result<Option<Chunk>, DeviceError> {
        loop {
            // `recv` is cancel-safe; assembly happens without awaiting.
            let report = match self.reports.recv().await {
                Some(Ok(r)) => r,
                Some(Err(e)) => return Err(e),
                None => return Ok(None),
            };
            match self.assembler.push(&report) {
                Assembled::Frame(f) => return Ok(Some(Chunk::Frame(f))),
                Assembled::Bad(reason) => return Ok(Some(Chunk::Bad(reason))),
                Assembled::Pending => continue,
            }
        }
    }
}

const READ_TIMEOUT: Duration = Duration::from_millis(250);

fn usb_error(what: &str, e: rusb::Error) -> DeviceError {
    let msg = format!("{what}: {e}");
    match e {
        rusb::Error::NoDevice | rusb::Error::NotFound => DeviceError::Disconnected(msg),
        _ => DeviceError::Failed(msg),
    }
}

/// Open the scanner `vid:pid`, claim its HID interface whose report
/// descriptor declares usage page 0x8C, and start the reader thread.
/// Untested here (no USB devices on the build machines); the report path
/// after it is the tested [`ReportAssembler`].
pub fn open(vid: u16, pid: u16, max_len: usize) -> Result<HidPosLink, DeviceError> {
    let name = format!("USB device {vid:04x}:{pid:04x}");
    let handle = rusb::open_device_with_vid_pid(vid, pid).ok_or_else(|| {
        DeviceError::NotPresent(format!("{name} is not connected (or not accessible)"))
    })?;
    // Take the interface from usbhid; libusb gives it back when we release it.
    // Not supported on every platform, where claiming then fails clearly.
    let _ = handle.set_auto_detach_kernel_driver(true);
    let config = handle
        .device()
        .active_config_descriptor()
        .map_err(|e| usb_error(&name, e))?;
    let mut found = None;
    for interface in config.interfaces() {
        for alt in interface.descriptors() {
            if alt.class_code() != 0x03 {
                continue;
            }
            let Some(endpoint) = alt.endpoint_descriptors().find(|ep| {
                ep.direction() == rusb::Direction::In
                    && ep.transfer_type() == rusb::TransferType::Interrupt
            }) else {
                continue;
            };
            let number = alt.interface_number();
            if let Err(e) = handle.claim_interface(number) {
                tracing::debug!(interface = number, error = %e, "HID interface not claimable");
                continue;
            }
            let mut descriptor = [0u8; 1024];
            // GET_DESCRIPTOR (standard, to interface), type 0x22 = HID report descriptor.
            let n = handle
                .read_control(
                    0x81,
                    0x06,
                    0x2200,
                    u16::from(number),
                    &mut descriptor,
                    Duration::from_secs(1),
                )
                .unwrap_or(0);
            if declares_barcode_scanner_page(&descriptor[..n]) {
                found = Some((number, endpoint.address(), endpoint.max_packet_size()));
                break;
            }
            let _ = handle.release_interface(number);
        }
        if found.is_some() {
            break;
        }
    }
    let (interface, endpoint, packet) = found.ok_or_else(|| {
        DeviceError::Failed(format!(
            "{name} has no HID interface with usage page 0x8C (set the scanner to HID POS mode)"
        ))
    })?;

    let (tx, rx) = mpsc::channel(32);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    std::thread::Builder::new()
        .name(format!("hid-pos-{vid:04x}:{pid:04x}"))
        .spawn(move || {
            let mut buf = vec![0u8; usize::from(packet.max(64))];
            while !thread_stop.load(Ordering::Relaxed) {
                match handle.read_interrupt(endpoint, &mut buf, READ_TIMEOUT) {
                    Ok(n) => {
                        if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(rusb::Error::Timeout) => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(usb_error("reading HID POS report", e)));
                        break;
                    }
                }
            }
            let _ = handle.release_interface(interface);
        })
        .map_err(|e| DeviceError::Failed(format!("starting the HID POS reader thread: {e}")))?;
    Ok(HidPosLink {
        reports: rx,
        assembler: ReportAssembler::new(max_len),
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(aim: &[u8; 3], data: &[u8], continued: bool) -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[0] = 2;
        r[1] = data.len() as u8;
        r[2..5].copy_from_slice(aim);
        r[5..5 + data.len()].copy_from_slice(data);
        r[63] = u8::from(continued);
        r
    }

    #[test]
    fn single_report_with_aim() {
        let r = report(b"]E0", b"4006381333931", false);
        let parsed = parse_report(&r).expect("valid");
        assert_eq!(parsed.aim, Some(*b"]E0"));
        assert_eq!(parsed.data, b"4006381333931");
        assert!(!parsed.continued);
        let mut a = ReportAssembler::new(4096);
        assert_eq!(a.push(&r), Assembled::Frame(b"]E04006381333931".to_vec()));
    }

    #[test]
    fn broken_reports_are_values() {
        assert_eq!(parse_report(&[]), Err(ReportError::TooShort(0)));
        assert_eq!(parse_report(&[2, 1, 0]), Err(ReportError::TooShort(3)));
        let mut r = report(b"\0\0\0", b"", false);
        r[1] = 57;
        assert_eq!(
            parse_report(&r),
            Err(ReportError::BadLength { len: 57, room: 56 })
        );
        assert_eq!(parse_report(&[4, 0, 0]), Err(ReportError::OtherReport(4)));
        let mut a = ReportAssembler::new(4096);
        assert!(matches!(a.push(&r), Assembled::Bad(_)));
        assert_eq!(a.push(&[4, 1, 2, 3]), Assembled::Pending);
    }

    #[test]
    fn continued_barcode_over_max_len_is_one_error() {
        let mut a = ReportAssembler::new(60);
        let chunk = [b'A'; 56];
        assert_eq!(a.push(&report(b"]Q1", &chunk, true)), Assembled::Pending);
        assert!(matches!(
            a.push(&report(b"\0\0\0", &chunk, true)),
            Assembled::Bad(_)
        ));
        assert_eq!(
            a.push(&report(b"\0\0\0", &chunk, false)),
            Assembled::Pending
        );
        assert_eq!(
            a.push(&report(b"]E0", b"123", false)),
            Assembled::Frame(b"]E0123".to_vec())
        );
    }

    #[test]
    fn report_descriptor_usage_page_is_found() {
        // Usage Page (0x8C) as 1-byte and as 2-byte item.
        assert!(declares_barcode_scanner_page(&[
            0x05, 0x8C, 0x09, 0x02, 0xA1, 0x01
        ]));
        assert!(declares_barcode_scanner_page(&[
            0x06, 0x8C, 0x00, 0xA1, 0x01
        ]));
        // Keyboard (Generic Desktop 0x01, usage 6) is not a POS scanner.
        assert!(!declares_barcode_scanner_page(&[
            0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0xC0
        ]));
        // Truncated item: no panic.
        assert!(!declares_barcode_scanner_page(&[0x06, 0x8C]));
        assert!(!declares_barcode_scanner_page(&[0xFE, 0xFF]));
    }
}
