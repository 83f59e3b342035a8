//! A receipt printer's real-time status, as `DLE EOT n` answers it (the
//! ESC/POS reference, "DLE EOT n: Transmit real-time status"): one byte per
//! query, n = 1 printer, 2 offline cause, 3 error cause, 4 roll paper
//! sensor. Pure: the transports send the queries and hand the bytes here.
//!
//! Every answer byte has fixed bits — bit 0 = 0, bit 1 = 1, bit 4 = 1,
//! bit 7 = 0 — so a byte that breaks them is not a status (an echo, a
//! printer in another mode, line noise) and is refused, never guessed at.
//!
//! Must never: take a byte with wrong fixed bits for a status, or call a
//! printer whose status was not read "ok".

/// `DLE EOT n` for one query.
pub fn query(n: Query) -> [u8; 3] {
    [0x10, 0x04, n as u8]
}

/// The four status queries every ESC/POS printer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Query {
    Printer = 1,
    OfflineCause = 2,
    ErrorCause = 3,
    RollPaper = 4,
}

/// A byte that is not a status answer (its fixed bits are wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {0:#04x} is not a DLE EOT status (fixed bits 0, 1, 4, 7 must read 0, 1, 1, 0)")]
pub struct NotAStatus(pub u8);

const FIXED_MASK: u8 = 0b1001_0011;
const FIXED_VALUE: u8 = 0b0001_0010;

fn checked(byte: u8) -> Result<u8, NotAStatus> {
    if byte & FIXED_MASK == FIXED_VALUE {
        Ok(byte)
    } else {
        Err(NotAStatus(byte))
    }
}

fn bit(byte: u8, n: u8) -> bool {
    byte & (1 << n) != 0
}

/// n = 1: printer status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrinterByte {
    /// Bit 2: the drawer kick-out connector's pin 3 reads high (on most
    /// drawers: open; the wiring decides).
    pub drawer_pin3_high: bool,
    /// Bit 3.
    pub offline: bool,
    /// Bit 5: waiting for online recovery.
    pub waiting_for_recovery: bool,
    /// Bit 6: the paper feed button is pressed.
    pub feed_button: bool,
}

impl PrinterByte {
    pub fn parse(byte: u8) -> Result<PrinterByte, NotAStatus> {
        let b = checked(byte)?;
        Ok(PrinterByte {
            drawer_pin3_high: bit(b, 2),
            offline: bit(b, 3),
            waiting_for_recovery: bit(b, 5),
            feed_button: bit(b, 6),
        })
    }
}

/// n = 2: why the printer is offline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfflineByte {
    /// Bit 2.
    pub cover_open: bool,
    /// Bit 3: paper is being fed by the feed button.
    pub feeding_by_button: bool,
    /// Bit 5: printing stopped at the paper end.
    pub paper_end_stop: bool,
    /// Bit 6: an error occurred (n = 3 says which).
    pub error: bool,
}

impl OfflineByte {
    pub fn parse(byte: u8) -> Result<OfflineByte, NotAStatus> {
        let b = checked(byte)?;
        Ok(OfflineByte {
            cover_open: bit(b, 2),
            feeding_by_button: bit(b, 3),
            paper_end_stop: bit(b, 5),
            error: bit(b, 6),
        })
    }
}

/// n = 3: which error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorByte {
    /// Bit 2: a recoverable (mechanical) error, on the models that have it.
    pub recoverable: bool,
    /// Bit 3.
    pub autocutter: bool,
    /// Bit 5.
    pub unrecoverable: bool,
    /// Bit 6: clears by itself (e.g. the head cooled down).
    pub auto_recoverable: bool,
}

impl ErrorByte {
    pub fn parse(byte: u8) -> Result<ErrorByte, NotAStatus> {
        let b = checked(byte)?;
        Ok(ErrorByte {
            recoverable: bit(b, 2),
            autocutter: bit(b, 3),
            unrecoverable: bit(b, 5),
            auto_recoverable: bit(b, 6),
        })
    }
}

/// n = 4: the roll paper sensors. The reference sets both bits of a pair
/// together (2 and 3: near end; 5 and 6: end); either bit counts, so a
/// printer that sets only one is not taken for "paper adequate".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaperByte {
    pub near_end: bool,
    pub end: bool,
}

impl PaperByte {
    pub fn parse(byte: u8) -> Result<PaperByte, NotAStatus> {
        let b = checked(byte)?;
        Ok(PaperByte {
            near_end: bit(b, 2) || bit(b, 3),
            end: bit(b, 5) || bit(b, 6),
        })
    }
}

/// Paper as `GET /api/v1/devices` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    Ok,
    NearEnd,
    Out,
    Unknown,
}

impl Paper {
    pub fn as_str(self) -> &'static str {
        match self {
            Paper::Ok => "ok",
            Paper::NearEnd => "near_end",
            Paper::Out => "out",
            Paper::Unknown => "unknown",
        }
    }
}

/// What the answers to n = 1, 2, 4 (and 3 when 2 reports an error) say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub printer: PrinterByte,
    pub offline: OfflineByte,
    pub error: Option<ErrorByte>,
    pub paper: PaperByte,
}

/// The one condition that decides whether a job may be sent, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// An error (n = 3 says which).
    Error,
    CoverOpen,
    PaperOut,
    /// Offline for another reason (feeding by button, recovering).
    Offline,
    /// Printing, paper near its end.
    PaperLow,
    Online,
}

impl Condition {
    /// `store.device.status`'s `state` (events.md).
    pub fn event_state(self) -> &'static str {
        match self {
            Condition::Error => "error",
            Condition::CoverOpen => "cover_open",
            Condition::PaperOut => "paper_out",
            Condition::Offline => "offline",
            Condition::PaperLow => "paper_low",
            Condition::Online => "online",
        }
    }

    /// Jobs may be sent.
    pub fn prints(self) -> bool {
        matches!(self, Condition::Online | Condition::PaperLow)
    }
}

impl Status {
    pub fn condition(&self) -> Condition {
        if self.offline.error || self.error.is_some_and(|e| e.unrecoverable || e.autocutter) {
            Condition::Error
        } else if self.offline.cover_open {
            Condition::CoverOpen
        } else if self.paper.end || self.offline.paper_end_stop {
            Condition::PaperOut
        } else if self.printer.offline {
            Condition::Offline
        } else if self.paper.near_end {
            Condition::PaperLow
        } else {
            Condition::Online
        }
    }

    pub fn paper(&self) -> Paper {
        if self.paper.end || self.offline.paper_end_stop {
            Paper::Out
        } else if self.paper.near_end {
            Paper::NearEnd
        } else {
            Paper::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed bits alone: every answer with no flag set.
    const IDLE: u8 = 0x12;

    #[test]
    fn a_byte_with_any_fixed_bit_wrong_is_no_status() {
        for bad in [
            IDLE | 0x01,
            IDLE | 0x80,
            IDLE & !0x02,
            IDLE & !0x10,
            0x00,
            0xFF,
        ] {
            assert_eq!(PrinterByte::parse(bad), Err(NotAStatus(bad)), "{bad:#04x}");
            assert_eq!(OfflineByte::parse(bad), Err(NotAStatus(bad)));
            assert_eq!(ErrorByte::parse(bad), Err(NotAStatus(bad)));
            assert_eq!(PaperByte::parse(bad), Err(NotAStatus(bad)));
        }
        // Every byte: accepted exactly when the fixed bits are right.
        for b in 0..=255u8 {
            let fixed = b & 0x01 == 0 && b & 0x02 != 0 && b & 0x10 != 0 && b & 0x80 == 0;
            assert_eq!(PrinterByte::parse(b).is_ok(), fixed, "{b:#04x}");
        }
    }

    #[test]
    fn printer_status_reads_each_bit() {
        assert_eq!(PrinterByte::parse(IDLE), Ok(PrinterByte::default()));
        let one = |bit: u8| PrinterByte::parse(IDLE | 1 << bit).unwrap();
        assert!(one(2).drawer_pin3_high);
        assert!(one(3).offline);
        assert!(one(5).waiting_for_recovery);
        assert!(one(6).feed_button);
        assert_eq!(
            PrinterByte::parse(0x1A).unwrap(),
            PrinterByte {
                offline: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn offline_cause_reads_each_bit() {
        assert_eq!(OfflineByte::parse(IDLE), Ok(OfflineByte::default()));
        let one = |bit: u8| OfflineByte::parse(IDLE | 1 << bit).unwrap();
        assert!(one(2).cover_open);
        assert!(one(3).feeding_by_button);
        assert!(one(5).paper_end_stop);
        assert!(one(6).error);
    }

    #[test]
    fn error_cause_reads_each_bit() {
        assert_eq!(ErrorByte::parse(IDLE), Ok(ErrorByte::default()));
        let one = |bit: u8| ErrorByte::parse(IDLE | 1 << bit).unwrap();
        assert!(one(2).recoverable);
        assert!(one(3).autocutter);
        assert!(one(5).unrecoverable);
        assert!(one(6).auto_recoverable);
    }

    #[test]
    fn roll_paper_reads_near_end_and_end_from_either_bit_of_each_pair() {
        assert_eq!(PaperByte::parse(IDLE), Ok(PaperByte::default()));
        for near in [0x04, 0x08, 0x0C] {
            let p = PaperByte::parse(IDLE | near).unwrap();
            assert!(p.near_end && !p.end, "{near:#04x}");
        }
        for end in [0x20, 0x40, 0x60] {
            let p = PaperByte::parse(IDLE | end).unwrap();
            assert!(p.end && !p.near_end, "{end:#04x}");
        }
        // An empty roll as printers send it: both pairs set.
        assert_eq!(
            PaperByte::parse(0x7E),
            Ok(PaperByte {
                near_end: true,
                end: true
            })
        );
    }

    fn status(printer: u8, offline: u8, error: Option<u8>, paper: u8) -> Status {
        Status {
            printer: PrinterByte::parse(printer).unwrap(),
            offline: OfflineByte::parse(offline).unwrap(),
            error: error.map(|e| ErrorByte::parse(e).unwrap()),
            paper: PaperByte::parse(paper).unwrap(),
        }
    }

    #[test]
    fn the_condition_names_the_worst_cause_and_only_online_and_paper_low_print() {
        let check = |s: Status, c: Condition, paper: Paper| {
            assert_eq!(s.condition(), c);
            assert_eq!(s.paper(), paper);
            assert_eq!(
                c.prints(),
                matches!(c, Condition::Online | Condition::PaperLow)
            );
        };
        check(status(IDLE, IDLE, None, IDLE), Condition::Online, Paper::Ok);
        check(
            status(IDLE, IDLE, None, 0x1E),
            Condition::PaperLow,
            Paper::NearEnd,
        );
        check(
            status(0x1A, 0x32, None, 0x7E),
            Condition::PaperOut,
            Paper::Out,
        );
        check(
            status(0x1A, 0x16, None, IDLE),
            Condition::CoverOpen,
            Paper::Ok,
        );
        check(
            status(0x1A, 0x52, Some(0x1A), IDLE),
            Condition::Error,
            Paper::Ok,
        );
        check(
            status(0x1A, IDLE, None, IDLE),
            Condition::Offline,
            Paper::Ok,
        );
        assert_eq!(Condition::PaperOut.event_state(), "paper_out");
        assert_eq!(query(Query::RollPaper), [0x10, 0x04, 0x04]);
    }
}
