//! One `[[devices]]` table: [`RawDevice`] as written (serde,
//! `deny_unknown_fields`), and [`resolve`], which checks it into a
//! [`DeviceConfig`] or names the key at fault and what is allowed.
//!
//! Must never: touch the device or the file system (resolving is pure, so a
//! config with an unplugged device still loads), or accept a key that does
//! not apply to the chosen transport (a `baud` on a TCP scanner is a typo
//! the operator wants to hear about).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::printer_config::PrinterConfig;
use super::{
    DataBits, DeviceConfig, DeviceKind, FlowControl, Framing, Layout, Parity, StopBits, Transport,
    DEFAULT_MAX_LEN,
};

/// The keys of one `[[devices]]` table, exactly as written. Numbers are read
/// as `i64` so that out-of-range values get our message, not serde's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub id: String,
    pub kind: String,
    pub transport: String,
    pub register: Option<String>,
    /// Readers only (required there).
    pub context: Option<String>,
    pub path: Option<String>,
    pub baud: Option<i64>,
    pub parity: Option<String>,
    pub data_bits: Option<i64>,
    pub stop_bits: Option<i64>,
    pub flow_control: Option<String>,
    pub layout: Option<String>,
    pub address: Option<String>,
    pub usb_vid: Option<i64>,
    pub usb_pid: Option<i64>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub max_len: Option<i64>,
    pub idle_timeout_ms: Option<i64>,
    /// USB printers: which of several identical ones.
    pub usb_serial: Option<String>,
    /// USB printers: take the device from the kernel's `usblp`.
    pub detach_kernel_driver: Option<bool>,
    /// Printers: the model's profile (`printing::Profile`).
    pub profile: Option<String>,
    /// Printers: the code page; the profile's default when left out.
    pub code_page: Option<String>,
    /// Printers: a PNG printed at the top of templates.
    pub logo: Option<String>,
    /// Printers: a cash drawer hangs on its drawer port.
    pub drawer: Option<bool>,
}

/// Longest accepted `max_len`; nothing a scanner sends comes close.
pub const MAX_MAX_LEN: i64 = 65_536;
/// Longest accepted `idle_timeout_ms`.
pub const MAX_IDLE_TIMEOUT_MS: i64 = 60_000;

pub const CONTEXTS: [&str; 4] = ["price_check", "basket", "pickup", "inventory"];

pub(super) type Fault = (&'static str, String);

fn fault(key: &'static str, msg: impl Into<String>) -> Fault {
    (key, msg.into())
}

pub(super) fn one_of<T: Copy>(
    key: &'static str,
    value: &str,
    table: &[(&str, T)],
) -> Result<T, Fault> {
    table
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let allowed: Vec<String> = table.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            fault(
                key,
                format!(
                    "\"{value}\" is not allowed; use one of {}",
                    allowed.join(", ")
                ),
            )
        })
}

pub(super) fn in_range(key: &'static str, value: i64, lo: i64, hi: i64) -> Result<i64, Fault> {
    if (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(fault(
            key,
            format!("{value} is out of range; allowed {lo}..={hi}"),
        ))
    }
}

fn required<T>(key: &'static str, value: Option<T>, transport: &str) -> Result<T, Fault> {
    value.ok_or_else(|| fault(key, format!("is required for transport = \"{transport}\"")))
}

pub(super) fn non_empty_path(key: &'static str, value: String) -> Result<PathBuf, Fault> {
    if value.trim().is_empty() {
        return Err(fault(key, "must not be empty"));
    }
    Ok(PathBuf::from(value))
}

/// A checked `[[devices]]` table: a reader (scanner, card reader) or a
/// printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Reader(DeviceConfig),
    Printer(PrinterConfig),
}

/// The serial keys as written, shared by readers and printers.
#[derive(Debug, Clone, Default)]
pub(super) struct SerialKeys {
    baud: Option<i64>,
    parity: Option<String>,
    data_bits: Option<i64>,
    stop_bits: Option<i64>,
    flow_control: Option<String>,
}

impl SerialKeys {
    /// The first serial key written, for "applies only to serial".
    pub(super) fn first_present(&self) -> Option<&'static str> {
        [
            ("baud", self.baud.is_some()),
            ("parity", self.parity.is_some()),
            ("data_bits", self.data_bits.is_some()),
            ("stop_bits", self.stop_bits.is_some()),
            ("flow_control", self.flow_control.is_some()),
        ]
        .into_iter()
        .find(|(_, present)| *present)
        .map(|(key, _)| key)
    }
}

/// Check one raw device table of any kind. The error names the key and
/// what is allowed.
pub fn resolve_any(mut raw: RawDevice) -> Result<Resolved, Fault> {
    check_id(&raw.id)?;
    if let Some(r) = &raw.register {
        if r.trim().is_empty() {
            return Err(fault(
                "register",
                "must not be empty (leave it out instead)",
            ));
        }
    }
    if raw.kind != "printer" {
        return resolve(raw).map(Resolved::Reader);
    }
    let serial = SerialKeys {
        baud: raw.baud.take(),
        parity: raw.parity.take(),
        data_bits: raw.data_bits.take(),
        stop_bits: raw.stop_bits.take(),
        flow_control: raw.flow_control.take(),
    };
    super::printer_config::resolve_printer(raw, serial).map(Resolved::Printer)
}

fn check_id(id: &str) -> Result<(), Fault> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(fault(
            "id",
            format!("\"{id}\" is not allowed; use 1 to 64 of A-Z a-z 0-9 - _ ."),
        ));
    }
    Ok(())
}

/// A serial transport from its path and keys (readers and printers).
pub(super) fn serial_transport(path: String, keys: SerialKeys) -> Result<Transport, Fault> {
    let SerialKeys {
        baud,
        parity,
        data_bits,
        stop_bits,
        flow_control,
    } = keys;
    Ok(Transport::Serial {
        path: non_empty_path("path", path)?,
        baud: in_range("baud", baud.unwrap_or(9600), 50, 4_000_000)? as u32,
        parity: one_of(
            "parity",
            parity.as_deref().unwrap_or("none"),
            &[
                ("none", Parity::None),
                ("odd", Parity::Odd),
                ("even", Parity::Even),
            ],
        )?,
        data_bits: match data_bits.unwrap_or(8) {
            5 => DataBits::Five,
            6 => DataBits::Six,
            7 => DataBits::Seven,
            8 => DataBits::Eight,
            n => {
                return Err(fault(
                    "data_bits",
                    format!("{n} is not allowed; use 5, 6, 7 or 8"),
                ))
            }
        },
        stop_bits: match stop_bits.unwrap_or(1) {
            1 => StopBits::One,
            2 => StopBits::Two,
            n => {
                return Err(fault(
                    "stop_bits",
                    format!("{n} is not allowed; use 1 or 2"),
                ))
            }
        },
        flow_control: one_of(
            "flow_control",
            flow_control.as_deref().unwrap_or("none"),
            &[
                ("none", FlowControl::None),
                ("software", FlowControl::Software),
                ("hardware", FlowControl::Hardware),
            ],
        )?,
    })
}

/// Check one raw reader table (scanner, card reader). The error names the
/// key and what is allowed.
pub fn resolve(raw: RawDevice) -> Result<DeviceConfig, Fault> {
    let RawDevice {
        id,
        kind,
        transport,
        register,
        context,
        path,
        baud,
        parity,
        data_bits,
        stop_bits,
        flow_control,
        layout,
        address,
        usb_vid,
        usb_pid,
        prefix,
        suffix,
        max_len,
        idle_timeout_ms,
        usb_serial,
        detach_kernel_driver,
        profile,
        code_page,
        logo,
        drawer,
    } = raw;

    check_id(&id)?;
    if id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(fault(
            "id",
            format!("\"{id}\" is not allowed; use 1 to 64 of A-Z a-z 0-9 - _ ."),
        ));
    }
    let kind = match kind.as_str() {
        "scanner" => DeviceKind::Scanner,
        "card_reader" => DeviceKind::CardReader,
        other => {
            return Err(fault(
                "kind",
                format!(
                "\"{other}\" is not allowed; use one of \"scanner\", \"card_reader\", \"printer\""
            ),
            ))
        }
    };
    for (key, present) in [
        ("usb_serial", usb_serial.is_some()),
        ("detach_kernel_driver", detach_kernel_driver.is_some()),
        ("profile", profile.is_some()),
        ("code_page", code_page.is_some()),
        ("logo", logo.is_some()),
        ("drawer", drawer.is_some()),
    ] {
        if present {
            return Err(fault(key, "applies only to kind = \"printer\""));
        }
    }
    let context = context.ok_or_else(|| {
        fault(
            "context",
            format!(
                "is required for kind = \"{}\"; use one of \"{}\"",
                kind.as_str(),
                CONTEXTS.join("\", \"")
            ),
        )
    })?;
    if !CONTEXTS.contains(&context.as_str()) {
        return Err(fault(
            "context",
            format!(
                "\"{context}\" is not allowed; use one of \"{}\"",
                CONTEXTS.join("\", \"")
            ),
        ));
    }
    if let Some(r) = &register {
        if r.trim().is_empty() {
            return Err(fault(
                "register",
                "must not be empty (leave it out instead)",
            ));
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Serial,
        Evdev,
        HidPos,
        Tcp,
        Simulated,
    }
    let t = one_of(
        "transport",
        &transport,
        &[
            ("serial", T::Serial),
            ("evdev", T::Evdev),
            ("hid_pos", T::HidPos),
            ("tcp", T::Tcp),
            ("simulated", T::Simulated),
        ],
    )?;

    // Keys that belong to other transports are mistakes, not noise.
    let only = |key: &'static str, present: bool, allowed: &[T], names: &str| {
        if present && !allowed.contains(&t) {
            Err(fault(key, format!("applies only to transport = {names}")))
        } else {
            Ok(())
        }
    };
    only(
        "path",
        path.is_some(),
        &[T::Serial, T::Evdev, T::Simulated],
        "\"serial\", \"evdev\" or \"simulated\"",
    )?;
    let serial = SerialKeys {
        baud,
        parity,
        data_bits,
        stop_bits,
        flow_control,
    };
    if let Some(key) = serial.first_present() {
        only(key, true, &[T::Serial], "\"serial\"")?;
    }
    only("layout", layout.is_some(), &[T::Evdev], "\"evdev\"")?;
    only("address", address.is_some(), &[T::Tcp], "\"tcp\"")?;
    only("usb_vid", usb_vid.is_some(), &[T::HidPos], "\"hid_pos\"")?;
    only("usb_pid", usb_pid.is_some(), &[T::HidPos], "\"hid_pos\"")?;

    let transport = match t {
        T::Serial => serial_transport(required("path", path, &transport)?, serial)?,
        T::Evdev => Transport::Evdev {
            path: non_empty_path("path", required("path", path, &transport)?)?,
            layout: one_of(
                "layout",
                layout.as_deref().unwrap_or("us"),
                &[("us", Layout::Us), ("de", Layout::De)],
            )?,
        },
        T::HidPos => Transport::HidPos {
            vid: in_range(
                "usb_vid",
                required("usb_vid", usb_vid, &transport)?,
                0,
                0xFFFF,
            )? as u16,
            pid: in_range(
                "usb_pid",
                required("usb_pid", usb_pid, &transport)?,
                0,
                0xFFFF,
            )? as u16,
        },
        T::Tcp => {
            let address = required("address", address, &transport)?;
            let port_ok = address.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0)
            });
            if !port_ok {
                return Err(fault(
                    "address",
                    format!("\"{address}\" is not allowed; use host:port, e.g. \"10.0.0.5:51236\""),
                ));
            }
            Transport::Tcp { address }
        }
        T::Simulated => Transport::Simulated {
            path: non_empty_path("path", required("path", path, &transport)?)?,
        },
    };

    // HID POS reports and simulated lines are delimited by the transport; for
    // byte streams the default suffix is CR, what scanners send by default
    // (and what Enter types on a keyboard wedge).
    let delimited = matches!(t, T::HidPos | T::Simulated);
    let default_suffix = if delimited { "" } else { "\r" };
    let idle_ms = in_range(
        "idle_timeout_ms",
        idle_timeout_ms.unwrap_or(0),
        0,
        MAX_IDLE_TIMEOUT_MS,
    )?;
    let framing = Framing {
        prefix: prefix.unwrap_or_default().into_bytes(),
        suffix: suffix
            .unwrap_or_else(|| default_suffix.to_owned())
            .into_bytes(),
        max_len: in_range(
            "max_len",
            max_len.unwrap_or(DEFAULT_MAX_LEN as i64),
            1,
            MAX_MAX_LEN,
        )? as usize,
        idle_timeout: (idle_ms > 0).then(|| Duration::from_millis(idle_ms as u64)),
    };
    if !delimited && framing.suffix.is_empty() && framing.idle_timeout.is_none() {
        return Err(fault(
            "suffix",
            "is empty and idle_timeout_ms is 0, so a frame could never end; set a suffix (e.g. \"\\r\") or idle_timeout_ms > 0",
        ));
    }

    Ok(DeviceConfig {
        id,
        kind,
        transport,
        register,
        context,
        framing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables in these tests may be written on one line, pairs separated by
    /// spaces (no value here contains a space); TOML wants newlines.
    fn parse(toml_text: &str) -> Result<DeviceConfig, Fault> {
        let text = if toml_text.contains('\n') {
            toml_text.to_owned()
        } else {
            toml_text.split_whitespace().collect::<Vec<_>>().join("\n")
        };
        let raw: RawDevice = toml::from_str(&text).expect("valid TOML for RawDevice");
        resolve(raw)
    }

    const SERIAL: &str = r#"
        id = "till-1-scanner"
        kind = "scanner"
        transport = "serial"
        register = "till-1"
        context = "basket"
        path = "/dev/serial/by-id/usb-Honeywell-if00"
        baud = 9600
        parity = "none"
        data_bits = 8
        stop_bits = 1
        flow_control = "none"
        prefix = ""
        suffix = "\r"
        max_len = 4096
        idle_timeout_ms = 0
    "#;

    #[test]
    fn the_documented_example_resolves() {
        let d = parse(SERIAL).expect("resolves");
        assert_eq!(d.kind, DeviceKind::Scanner);
        assert_eq!(d.register.as_deref(), Some("till-1"));
        assert_eq!(
            d.transport,
            Transport::Serial {
                path: "/dev/serial/by-id/usb-Honeywell-if00".into(),
                baud: 9600,
                parity: Parity::None,
                data_bits: DataBits::Eight,
                stop_bits: StopBits::One,
                flow_control: FlowControl::None,
            }
        );
        assert_eq!(d.framing, Framing::default());
    }

    #[test]
    fn every_transport_resolves_with_its_keys() {
        let evdev = parse(
            r#"id="w" kind="scanner" transport="evdev" context="price_check" path="/dev/input/by-id/x" layout="de" idle_timeout_ms=50 suffix="""#,
        )
        .expect("evdev");
        assert_eq!(
            evdev.transport,
            Transport::Evdev {
                path: "/dev/input/by-id/x".into(),
                layout: Layout::De
            }
        );
        assert_eq!(evdev.framing.idle_timeout, Some(Duration::from_millis(50)));
        let hid = parse(r#"id="h" kind="card_reader" transport="hid_pos" context="pickup" usb_vid=0x0c2e usb_pid=0x0b61"#)
            .expect("hid");
        assert_eq!(
            hid.transport,
            Transport::HidPos {
                vid: 0x0c2e,
                pid: 0x0b61
            }
        );
        assert!(hid.framing.suffix.is_empty());
        let tcp = parse(
            r#"id="t" kind="scanner" transport="tcp" context="inventory" address="10.0.0.5:51236""#,
        )
        .expect("tcp");
        assert_eq!(
            tcp.transport,
            Transport::Tcp {
                address: "10.0.0.5:51236".into()
            }
        );
        let sim = parse(r#"id="s" kind="scanner" transport="simulated" context="basket" path="var/demo-scans.txt""#)
            .expect("simulated");
        assert_eq!(
            sim.transport,
            Transport::Simulated {
                path: "var/demo-scans.txt".into()
            }
        );
    }

    fn fails(toml_text: &str, key: &str, needle: &str) {
        match parse(toml_text) {
            Ok(d) => panic!("expected an error on `{key}`, got {d:?}"),
            Err((k, msg)) => {
                assert_eq!(k, key, "{msg}");
                assert!(msg.contains(needle), "`{msg}` should contain `{needle}`");
            }
        }
    }

    #[test]
    fn errors_name_the_key_and_what_is_allowed() {
        let base = r#"id="d" kind="scanner" context="basket" "#;
        fails(
            &format!(r#"{base} transport="usb""#),
            "transport",
            "\"serial\", \"evdev\", \"hid_pos\", \"tcp\", \"simulated\"",
        );
        fails(
            r#"id="d" kind="fax" transport="tcp" context="basket" address="a:1""#,
            "kind",
            "\"scanner\", \"card_reader\", \"printer\"",
        );
        fails(
            r#"id="d" kind="scanner" transport="tcp" context="till" address="a:1""#,
            "context",
            "price_check",
        );
        fails(
            r#"id="bad/id" kind="scanner" transport="tcp" context="basket" address="a:1""#,
            "id",
            "A-Z",
        );
        fails(&format!(r#"{base} transport="serial""#), "path", "required");
        fails(
            &format!(r#"{base} transport="serial" path="/dev/x" parity="mark""#),
            "parity",
            "\"none\", \"odd\", \"even\"",
        );
        fails(
            &format!(r#"{base} transport="serial" path="/dev/x" data_bits=9"#),
            "data_bits",
            "5, 6, 7 or 8",
        );
        fails(
            &format!(r#"{base} transport="serial" path="/dev/x" stop_bits=3"#),
            "stop_bits",
            "1 or 2",
        );
        fails(
            &format!(r#"{base} transport="serial" path="/dev/x" flow_control="rts""#),
            "flow_control",
            "\"hardware\"",
        );
        fails(
            &format!(r#"{base} transport="serial" path="/dev/x" baud=0"#),
            "baud",
            "out of range",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a:1" baud=9600"#),
            "baud",
            "only to transport = \"serial\"",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="nohost""#),
            "address",
            "host:port",
        );
        fails(
            &format!(r#"{base} transport="evdev" path="/dev/x" layout="fr""#),
            "layout",
            "\"us\", \"de\"",
        );
        fails(
            &format!(r#"{base} transport="hid_pos" usb_vid=0x10000 usb_pid=1"#),
            "usb_vid",
            "0..=65535",
        );
        fails(
            &format!(r#"{base} transport="hid_pos" usb_vid=1"#),
            "usb_pid",
            "required",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a:1" max_len=0"#),
            "max_len",
            "1..=65536",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a:1" suffix="""#),
            "suffix",
            "never end",
        );
        fails(
            &format!(r#"{base} transport="tcp" address="a:1" idle_timeout_ms=-1"#),
            "idle_timeout_ms",
            "out of range",
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<RawDevice>(
            "id=\"d\"\nkind=\"scanner\"\ntransport=\"tcp\"\ncontext=\"basket\"\naddress=\"a:1\"\nbauds=1",
        )
        .expect_err("unknown key");
        assert!(err.to_string().contains("bauds"), "{err}");
    }
}
