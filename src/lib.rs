//! store-edge: the store's edge service. See ARCHITECTURE.md for the map;
//! `main.rs` only parses arguments and maps errors to exit codes.

// `println!` panics when stdout is a closed pipe; commands write through
// `telemetry::out` (`outln!`), which returns the error instead.
#![warn(clippy::print_stdout)]

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod devices;
pub mod events;
pub mod fake_central;
pub mod kpi;
pub mod live;
pub mod pickup;
pub mod printers;
pub mod printing;
pub mod scan;
pub mod secrets;
pub mod service;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod touchpoints;
