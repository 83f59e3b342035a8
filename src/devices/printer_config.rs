//! A `[[devices]]` table with `kind = "printer"`, checked into a
//! [`PrinterConfig`]: the model's profile, the code page, an optional logo
//! and cash drawer, the till it stands at, and how bytes reach it.
//!
//! Must never: accept a reader's key on a printer (`context` and the
//! framing keys mean nothing to a printer; a `context` on one is a table
//! copied from a scanner that the operator wants to hear about), accept a
//! code page the profile lacks, or touch the device or the file system
//! (the logo is read when the service starts).

use std::path::PathBuf;

use super::config::{Fault, SerialKeys};
use super::{RawDevice, Transport};
use crate::printing::{CodePage, Profile};

/// The raw TCP port of network receipt printers ("JetDirect").
pub const DEFAULT_PRINTER_PORT: u16 = 9100;

/// How a job's bytes reach the printer (and its status answers come back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterTransport {
    /// Raw TCP (port 9100 unless the address names one).
    Tcp { address: String },
    /// A serial port; the settings as for scanners.
    Serial(Transport),
    /// The USB printer class through libusb: bulk OUT for the job, bulk IN
    /// for status. The kernel's `usblp` is detached only when asked.
    UsbPrinter {
        vid: u16,
        pid: u16,
        serial: Option<String>,
        detach_kernel_driver: bool,
    },
    /// The kernel's `usblp` device node, e.g. `/dev/usb/lp0`.
    Usblp { path: PathBuf },
    /// The demo's printer: every job's bytes appended to a file; always
    /// online, status never readable.
    Simulated { path: PathBuf },
}

impl PrinterTransport {
    pub fn name(&self) -> &'static str {
        match self {
            PrinterTransport::Tcp { .. } => "tcp",
            PrinterTransport::Serial(_) => "serial",
            PrinterTransport::UsbPrinter { .. } => "usb_printer",
            PrinterTransport::Usblp { .. } => "usblp",
            PrinterTransport::Simulated { .. } => "simulated",
        }
    }
}

/// One printer, resolved from its `[[devices]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterConfig {
    pub id: String,
    /// The till it stands at: a `pos` token of that register may open its
    /// drawer.
    pub register: Option<String>,
    pub profile: &'static Profile,
    pub code_page: CodePage,
    /// A PNG printed at the top of templates, dithered to the paper width.
    pub logo: Option<PathBuf>,
    /// A cash drawer hangs on the printer's drawer port.
    pub drawer: bool,
    pub transport: PrinterTransport,
}

/// Check a table whose `kind` is `printer`. `id` and `register` are
/// checked by the caller, as for every device.
pub(super) fn resolve_printer(raw: RawDevice, serial: SerialKeys) -> Result<PrinterConfig, Fault> {
    let RawDevice {
        id,
        register,
        transport,
        context,
        path,
        layout,
        address,
        usb_vid,
        usb_pid,
        usb_serial,
        detach_kernel_driver,
        prefix,
        suffix,
        max_len,
        idle_timeout_ms,
        profile,
        code_page,
        logo,
        drawer,
        ..
    } = raw;
    for (key, present) in [
        ("context", context.is_some()),
        ("layout", layout.is_some()),
        ("prefix", prefix.is_some()),
        ("suffix", suffix.is_some()),
        ("max_len", max_len.is_some()),
        ("idle_timeout_ms", idle_timeout_ms.is_some()),
    ] {
        if present {
            return Err(fault(
                key,
                "applies only to scanners and card readers, not to kind = \"printer\"",
            ));
        }
    }
    let profile_name = profile.ok_or_else(|| {
        fault(
            "profile",
            format!(
                "is required for kind = \"printer\"; use one of \"{}\"",
                Profile::names().join("\", \"")
            ),
        )
    })?;
    let profile = Profile::by_name(&profile_name).ok_or_else(|| {
        fault(
            "profile",
            format!(
                "\"{profile_name}\" is not allowed; use one of \"{}\"",
                Profile::names().join("\", \"")
            ),
        )
    })?;
    let code_page = match code_page {
        None => profile.default_page,
        Some(name) => {
            let pages: Vec<&str> = profile.code_pages.iter().map(|(p, _)| p.name()).collect();
            profile
                .code_pages
                .iter()
                .map(|(p, _)| *p)
                .find(|p| p.name() == name)
                .ok_or_else(|| {
                    fault(
                        "code_page",
                        format!(
                            "\"{name}\" is not allowed for profile \"{}\"; use one of \"{}\"",
                            profile.name,
                            pages.join("\", \"")
                        ),
                    )
                })?
        }
    };
    let logo = match logo {
        None => None,
        Some(l) if l.trim().is_empty() => {
            return Err(fault("logo", "must not be empty (leave it out instead)"))
        }
        Some(l) if !l.to_ascii_lowercase().ends_with(".png") => {
            return Err(fault(
                "logo",
                format!("\"{l}\" is not allowed; name a .png file"),
            ))
        }
        Some(l) => Some(PathBuf::from(l)),
    };

    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Tcp,
        Serial,
        UsbPrinter,
        Usblp,
        Simulated,
    }
    let t = super::config::one_of(
        "transport",
        &transport,
        &[
            ("tcp", T::Tcp),
            ("serial", T::Serial),
            ("usb_printer", T::UsbPrinter),
            ("usblp", T::Usblp),
            ("simulated", T::Simulated),
        ],
    )?;
    let only = |key: &'static str, present: bool, allowed: &[T], names: &str| {
        if present && !allowed.contains(&t) {
            Err(fault(
                key,
                format!("applies only to printers with transport = {names}"),
            ))
        } else {
            Ok(())
        }
    };
    only(
        "path",
        path.is_some(),
        &[T::Serial, T::Usblp, T::Simulated],
        "\"serial\", \"usblp\" or \"simulated\"",
    )?;
    only("address", address.is_some(), &[T::Tcp], "\"tcp\"")?;
    for (key, present) in [
        ("usb_vid", usb_vid.is_some()),
        ("usb_pid", usb_pid.is_some()),
        ("usb_serial", usb_serial.is_some()),
        ("detach_kernel_driver", detach_kernel_driver.is_some()),
    ] {
        only(key, present, &[T::UsbPrinter], "\"usb_printer\"")?;
    }
    if t != T::Serial {
        if let Some(key) = serial.first_present() {
            return Err(fault(
                key,
                "applies only to printers with transport = \"serial\"",
            ));
        }
    }
    let required =
        |key: &'static str| fault(key, format!("is required for transport = \"{transport}\""));
    let transport = match t {
        T::Tcp => {
            let address = address.ok_or_else(|| required("address"))?;
            PrinterTransport::Tcp {
                address: printer_address(&address)?,
            }
        }
        T::Serial => PrinterTransport::Serial(super::config::serial_transport(
            path.ok_or_else(|| required("path"))?,
            serial,
        )?),
        T::UsbPrinter => PrinterTransport::UsbPrinter {
            vid: super::config::in_range(
                "usb_vid",
                usb_vid.ok_or_else(|| required("usb_vid"))?,
                0,
                0xFFFF,
            )? as u16,
            pid: super::config::in_range(
                "usb_pid",
                usb_pid.ok_or_else(|| required("usb_pid"))?,
                0,
                0xFFFF,
            )? as u16,
            serial: match usb_serial {
                Some(s) if s.trim().is_empty() => {
                    return Err(fault(
                        "usb_serial",
                        "must not be empty (leave it out instead)",
                    ))
                }
                s => s,
            },
            detach_kernel_driver: detach_kernel_driver.unwrap_or(false),
        },
        T::Usblp => PrinterTransport::Usblp {
            path: super::config::non_empty_path("path", path.ok_or_else(|| required("path"))?)?,
        },
        T::Simulated => PrinterTransport::Simulated {
            path: super::config::non_empty_path("path", path.ok_or_else(|| required("path"))?)?,
        },
    };
    Ok(PrinterConfig {
        id,
        register,
        profile,
        code_page,
        logo,
        drawer: drawer.unwrap_or(false),
        transport,
    })
}

fn fault(key: &'static str, msg: impl Into<String>) -> Fault {
    (key, msg.into())
}

/// `host:port`, or `host` alone for port 9100.
fn printer_address(address: &str) -> Result<String, Fault> {
    let bad = || {
        fault(
            "address",
            format!("\"{address}\" is not allowed; use host or host:port, e.g. \"10.0.0.7:9100\""),
        )
    };
    if address.trim().is_empty() || address.contains(char::is_whitespace) {
        return Err(bad());
    }
    // A bare IPv6 address has colons of its own; it needs [ ] and a port.
    match address.rsplit_once(':') {
        None => Ok(format!("{address}:{DEFAULT_PRINTER_PORT}")),
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => {
            Ok(address.to_owned())
        }
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{resolve_any, Resolved};
    use super::*;

    fn parse(lines: &str) -> Result<PrinterConfig, Fault> {
        let text = lines.split_whitespace().collect::<Vec<_>>().join("\n");
        let raw: RawDevice = toml::from_str(&text).expect("valid TOML for RawDevice");
        match resolve_any(raw)? {
            Resolved::Printer(p) => Ok(p),
            Resolved::Reader(d) => panic!("a reader: {d:?}"),
        }
    }

    fn fails(lines: &str, key: &str, needle: &str) {
        match parse(lines) {
            Ok(p) => panic!("expected an error on `{key}`, got {p:?}"),
            Err((k, msg)) => {
                assert_eq!(k, key, "{msg}");
                assert!(msg.contains(needle), "`{msg}` should contain `{needle}`");
            }
        }
    }

    #[test]
    fn every_printer_transport_resolves_with_its_keys() {
        let tcp = parse(r#"id="p1" kind="printer" transport="tcp" address="10.0.0.7" profile="epson_tm_t20" register="till-1" drawer=true logo="/etc/store-edge/logo.png""#)
            .expect("tcp");
        assert_eq!(
            tcp.transport,
            PrinterTransport::Tcp {
                address: "10.0.0.7:9100".into()
            }
        );
        assert_eq!(tcp.profile.name, "epson_tm_t20");
        assert_eq!(tcp.code_page, CodePage::Pc858, "the profile's default");
        assert!(tcp.drawer);
        assert_eq!(tcp.register.as_deref(), Some("till-1"));
        assert_eq!(tcp.logo, Some(PathBuf::from("/etc/store-edge/logo.png")));

        let serial = parse(r#"id="p2" kind="printer" transport="serial" path="/dev/ttyUSB0" baud=38400 profile="generic_58" code_page="pc437""#)
            .expect("serial");
        assert!(matches!(
            &serial.transport,
            PrinterTransport::Serial(Transport::Serial { baud: 38400, .. })
        ));
        assert_eq!(serial.code_page, CodePage::Pc437);
        assert!(!serial.drawer);

        let usb = parse(r#"id="p3" kind="printer" transport="usb_printer" usb_vid=0x04b8 usb_pid=0x0e28 usb_serial="X5A1" detach_kernel_driver=true profile="epson_tm_m30""#)
            .expect("usb");
        assert_eq!(
            usb.transport,
            PrinterTransport::UsbPrinter {
                vid: 0x04b8,
                pid: 0x0e28,
                serial: Some("X5A1".into()),
                detach_kernel_driver: true
            }
        );
        let lp = parse(
            r#"id="p4" kind="printer" transport="usblp" path="/dev/usb/lp0" profile="generic_80""#,
        )
        .expect("usblp");
        assert_eq!(
            lp.transport,
            PrinterTransport::Usblp {
                path: "/dev/usb/lp0".into()
            }
        );
    }

    #[test]
    fn printer_errors_name_the_key_and_what_is_allowed() {
        let base = r#"id="p" kind="printer" profile="epson_tm_t88" "#;
        fails(
            &format!(r#"{base} transport="tcp" address="a" context="basket""#),
            "context",
            "not to kind = \"printer\"",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a" suffix="x""#),
            "suffix",
            "not to kind = \"printer\"",
        );
        fails(
            r#"id="p" kind="printer" transport="tcp" address="a""#,
            "profile",
            "required",
        );
        fails(
            r#"id="p" kind="printer" transport="tcp" address="a" profile="tm_t99""#,
            "profile",
            "\"generic_58\"",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a" code_page="pc850""#),
            "code_page",
            "\"pc858\"",
        );
        fails(
            &format!(r#"{base} transport="hid_pos" usb_vid=1 usb_pid=2"#),
            "transport",
            "\"usb_printer\"",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a" baud=9600"#),
            "baud",
            "\"serial\"",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a:0""#),
            "address",
            "host:port",
        );
        fails(
            &format!(r#"{base} transport="usb_printer" usb_vid=1"#),
            "usb_pid",
            "required",
        );
        fails(
            &format!(r#"{base} transport="usblp" address="a""#),
            "address",
            "\"tcp\"",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a" logo="logo.jpg""#),
            "logo",
            ".png",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a" register="""#),
            "register",
            "must not be empty",
        );
    }
}
