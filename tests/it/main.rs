//! The end-to-end tests as one binary, so the suite compiles and links once.
//! Each module is one area (the real binary, its SQLite file, the fake
//! central, ptys, a browser); `common` is the harness they share.
//!
//! Everything here runs in one process, tests in parallel: a test never
//! sets an environment variable or the current directory of this process
//! (children get theirs through `Command::env`/`current_dir`), and
//! process-wide settings are only ever raised or installed idempotently
//! (the open-files limit in `api`, the rustls provider in `common::http`).

mod common;

mod api;
mod architecture;
mod cards;
mod cli;
mod devices;
mod disk_full;
mod durability;
mod fake_central;
mod fleet;
mod io_errors;
mod kpi;
mod kpi_api;
mod kpi_ingest;
mod package;
mod pairing;
mod pickup;
mod pickup_model;
mod print_jobs;
mod printers;
mod printing;
mod quota_and_startup;
mod restore;
mod scanners;
mod schemathesis;
mod slow_clients;
mod soak;
mod sync;
mod systemd;
mod tls;
mod ui_browser;
mod upgrades;
