//! Harness library for the fuzz targets in `fuzz_targets/`.
//!
//! The code under test is compiled from the main crate's own source files, included by
//! path, so this crate needs only their few dependencies instead of all of `store-edge`:
//! - [`scan`] is `src/scan/` as it is (it refers to nothing outside itself);
//! - [`devices::framing`] is `src/devices/framing.rs`, with a copy of the one item it
//!   takes from its parent module (`Framing`) in `src/devices/mod.rs` here;
//! - [`printing`] is the pure part of `src/printing/` (encoder, interpreter, picture),
//!   file by file, in `src/printing/mod.rs` here (the encoder's `crate::scan::gtin`
//!   resolves to [`scan`] above).
//!
//! [`invariants`] holds the fixed configuration and the checks shared by the targets.

#[path = "../../src/scan/mod.rs"]
pub mod scan;

pub mod devices;

pub mod printing;

pub mod invariants;
