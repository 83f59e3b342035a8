//! What `GET /api/v1/devices` shows of each printer: the state its worker
//! last saw, the paper, the last error. Written by the workers, read by the
//! API.
//!
//! Must never: hold a job's contents (only states and error texts).

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::devices::PrinterConfig;

/// One printer, as the devices list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterView {
    pub id: String,
    /// Always `printer`.
    pub kind: &'static str,
    pub transport: &'static str,
    pub register: Option<String>,
    /// online, paper_low, paper_out, cover_open, offline, error, or
    /// unknown (connected, but it does not answer `DLE EOT`).
    pub state: &'static str,
    /// ok, near_end, out, unknown.
    pub paper: &'static str,
    pub last_error: Option<String>,
}

impl PrinterView {
    pub fn new(printer: &PrinterConfig) -> PrinterView {
        PrinterView {
            id: printer.id.clone(),
            kind: "printer",
            transport: printer.transport.name(),
            register: printer.register.clone(),
            state: "offline",
            paper: "unknown",
            last_error: None,
        }
    }
}

/// The printers' views, shared by the workers and the API.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<Vec<PrinterView>>>);

impl Registry {
    pub fn add(&self, view: PrinterView) {
        if let Ok(mut views) = self.0.lock() {
            views.retain(|v| v.id != view.id);
            views.push(view);
        }
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut PrinterView)) {
        if let Ok(mut views) = self.0.lock() {
            if let Some(v) = views.iter_mut().find(|v| v.id == id) {
                f(v);
            }
        }
    }

    /// Every printer, in config order.
    pub fn list(&self) -> Vec<PrinterView> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}
