//! Serial transport (tokio-serial): USB-COM scanners and RS-232 readers.
//! Opens the port with the configured line settings and hands its byte stream
//! to the driver's framing.
//!
//! Must never: write to a scanner's port (scanners are read-only to us;
//! only a printer's link, `printer_link.rs`, writes) or treat an EIO/HUP on
//! read as anything but an unplug (the supervisor reopens).

use std::path::Path;

use tokio_serial::SerialPortBuilderExt;

use super::link::ReadLink;
use super::{DataBits, DeviceError, FlowControl, Parity, StopBits};

pub type SerialLink = ReadLink<tokio_serial::SerialStream>;

/// Line settings, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: DataBits,
    pub stop_bits: StopBits,
    pub flow_control: FlowControl,
}

/// Open `path` with `settings`, exclusively (TIOCEXCL: a second opener is refused).
pub fn open(path: &Path, settings: LineSettings) -> Result<SerialLink, DeviceError> {
    Ok(ReadLink::new(
        open_stream(path, settings)?,
        "reading serial port",
    ))
}

/// The port itself, for a printer's link (which reads and writes).
pub fn open_stream(
    path: &Path,
    settings: LineSettings,
) -> Result<tokio_serial::SerialStream, DeviceError> {
    let what = format!("serial port {}", path.display());
    if !path.exists() {
        return Err(DeviceError::NotPresent(format!("{what} does not exist")));
    }
    let name = path
        .to_str()
        .ok_or_else(|| DeviceError::Failed(format!("{what}: path is not UTF-8")))?;
    let stream = tokio_serial::new(name, settings.baud)
        .parity(match settings.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        })
        .data_bits(match settings.data_bits {
            DataBits::Five => tokio_serial::DataBits::Five,
            DataBits::Six => tokio_serial::DataBits::Six,
            DataBits::Seven => tokio_serial::DataBits::Seven,
            DataBits::Eight => tokio_serial::DataBits::Eight,
        })
        .stop_bits(match settings.stop_bits {
            StopBits::One => tokio_serial::StopBits::One,
            StopBits::Two => tokio_serial::StopBits::Two,
        })
        .flow_control(match settings.flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Software => tokio_serial::FlowControl::Software,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        })
        .open_native_async()
        .map_err(|e| serial_error(&what, e))?;
    Ok(stream)
}

fn serial_error(what: &str, e: tokio_serial::Error) -> DeviceError {
    let msg = format!("{what}: {e}");
    match e.kind() {
        tokio_serial::ErrorKind::NoDevice => DeviceError::NotPresent(msg),
        tokio_serial::ErrorKind::Io(kind) => {
            DeviceError::from_io(what, &std::io::Error::new(kind, e.description))
        }
        _ => DeviceError::Failed(msg),
    }
}
