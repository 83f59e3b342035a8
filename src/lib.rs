//! store-edge: the store's edge service. See ARCHITECTURE.md for the map;
//! `main.rs` only parses arguments and maps errors to exit codes.

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod devices;
pub mod events;
pub mod fake_central;
pub mod pickup;
pub mod scan;
pub mod service;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod touchpoints;
