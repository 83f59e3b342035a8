//! USB printer class (interface class 7) through libusb: the printer is
//! found by vendor and product id (and its serial number when configured),
//! its printer interface claimed, bulk OUT takes a job's bytes and bulk IN
//! answers status. The kernel's `usblp` is detached only when the config
//! says `detach_kernel_driver = true` (otherwise a claimed `usblp` is an
//! error the operator sees, not something we take away silently). Every
//! libusb call is blocking, so each runs on tokio's blocking threads with
//! a timeout of its own.
//!
//! Compile-tested only: the build machines have no USB printer.
//!
//! Must never: detach a kernel driver it was not told to, or wait on the
//! device without a timeout.

use std::sync::Arc;
use std::time::Duration;

use super::printer_link::StatusError;
use super::DeviceError;

/// The USB printer class.
const PRINTER_CLASS: u8 = 7;

/// A claimed printer interface.
pub struct UsbPrinterLink {
    handle: Arc<rusb::DeviceHandle<rusb::GlobalContext>>,
    interface: u8,
    out_ep: u8,
    in_ep: Option<u8>,
}

impl Drop for UsbPrinterLink {
    fn drop(&mut self) {
        // Gives the interface back (libusb reattaches a driver it detached
        // when the handle closes).
        let _ = self.handle.release_interface(self.interface);
    }
}

fn usb_error(what: &str, e: rusb::Error) -> DeviceError {
    let msg = format!("{what}: {e}");
    match e {
        rusb::Error::NoDevice | rusb::Error::NotFound => DeviceError::NotPresent(msg),
        rusb::Error::Pipe | rusb::Error::Io => DeviceError::Disconnected(msg),
        _ => DeviceError::Failed(msg),
    }
}

/// Finds and claims the printer.
pub async fn open(
    vid: u16,
    pid: u16,
    serial: Option<String>,
    detach_kernel_driver: bool,
) -> Result<UsbPrinterLink, DeviceError> {
    tokio::task::spawn_blocking(move || open_blocking(vid, pid, serial, detach_kernel_driver))
        .await
        .map_err(|e| DeviceError::Failed(format!("the USB open task failed: {e}")))?
}

fn open_blocking(
    vid: u16,
    pid: u16,
    serial: Option<String>,
    detach_kernel_driver: bool,
) -> Result<UsbPrinterLink, DeviceError> {
    let name = format!("USB printer {vid:04x}:{pid:04x}");
    let devices = rusb::devices().map_err(|e| usb_error("listing USB devices", e))?;
    for device in devices.iter() {
        let Ok(desc) = device.device_descriptor() else {
            continue;
        };
        if desc.vendor_id() != vid || desc.product_id() != pid {
            continue;
        }
        let handle = device
            .open()
            .map_err(|e| usb_error(&format!("opening {name}"), e))?;
        if let Some(want) = &serial {
            let has = handle
                .read_serial_number_string_ascii(&desc)
                .unwrap_or_default();
            if has != *want {
                continue;
            }
        }
        let config = device
            .active_config_descriptor()
            .map_err(|e| usb_error(&format!("reading {name}'s configuration"), e))?;
        let found = config.interfaces().find_map(|interface| {
            interface
                .descriptors()
                .find(|alt| alt.class_code() == PRINTER_CLASS)
                .and_then(|alt| {
                    let bulk = |dir| {
                        alt.endpoint_descriptors()
                            .find(|ep| {
                                ep.transfer_type() == rusb::TransferType::Bulk
                                    && ep.direction() == dir
                            })
                            .map(|ep| ep.address())
                    };
                    Some((
                        alt.interface_number(),
                        alt.setting_number(),
                        bulk(rusb::Direction::Out)?,
                        bulk(rusb::Direction::In),
                    ))
                })
        });
        let Some((interface, setting, out_ep, in_ep)) = found else {
            return Err(DeviceError::Failed(format!(
                "{name} has no printer-class interface with a bulk OUT endpoint"
            )));
        };
        let driver_active = handle.kernel_driver_active(interface).unwrap_or(false);
        if driver_active {
            if !detach_kernel_driver {
                return Err(DeviceError::Failed(format!(
                    "{name} is held by the kernel's usblp: use transport = \"usblp\" with its /dev/usb/lp* path, or set detach_kernel_driver = true"
                )));
            }
            handle
                .detach_kernel_driver(interface)
                .map_err(|e| usb_error(&format!("detaching usblp from {name}"), e))?;
        }
        handle
            .claim_interface(interface)
            .map_err(|e| usb_error(&format!("claiming {name}'s printer interface"), e))?;
        if setting != 0 {
            handle
                .set_alternate_setting(interface, setting)
                .map_err(|e| usb_error(&format!("selecting {name}'s printer setting"), e))?;
        }
        return Ok(UsbPrinterLink {
            handle: Arc::new(handle),
            interface,
            out_ep,
            in_ep,
        });
    }
    Err(DeviceError::NotPresent(format!(
        "{name}{} is not connected (or not accessible)",
        serial
            .map(|s| format!(" with serial {s}"))
            .unwrap_or_default()
    )))
}

impl UsbPrinterLink {
    /// Writes `chunk` whole on bulk OUT within `timeout`.
    pub async fn write(&self, chunk: Vec<u8>, timeout: Duration) -> Result<(), String> {
        let handle = self.handle.clone();
        let ep = self.out_ep;
        tokio::task::spawn_blocking(move || {
            let mut at = 0;
            while at < chunk.len() {
                match handle.write_bulk(ep, &chunk[at..], timeout) {
                    Ok(0) => return Err("the printer took nothing".to_owned()),
                    Ok(n) => at += n,
                    Err(rusb::Error::Timeout) => {
                        return Err(format!(
                            "the printer took nothing for {} s",
                            timeout.as_secs()
                        ))
                    }
                    Err(e) => return Err(format!("the USB transfer failed: {e}")),
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("the USB write task failed: {e}"))?
    }

    /// One status byte from bulk IN within `timeout`.
    pub async fn read_byte(&self, timeout: Duration) -> Result<u8, StatusError> {
        let Some(ep) = self.in_ep else {
            return Err(StatusError::NotReadable(
                "the printer has no bulk IN endpoint".into(),
            ));
        };
        let handle = self.handle.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 64];
            handle
                .read_bulk(ep, &mut buf, timeout)
                .map(|n| buf[..n].to_vec())
        })
        .await
        .map_err(|e| StatusError::NotReadable(format!("the USB read task failed: {e}")))?;
        match read {
            // The last byte is the newest answer.
            Ok(bytes) => bytes
                .last()
                .copied()
                .ok_or_else(|| StatusError::NotReadable("an empty answer".into())),
            Err(rusb::Error::Timeout) => Err(StatusError::NotReadable(format!(
                "no answer to DLE EOT within {} ms",
                timeout.as_millis()
            ))),
            Err(e) => Err(StatusError::Link(usb_error("reading status", e))),
        }
    }
}
