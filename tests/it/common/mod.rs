//! Test harness: a real `store-edge` binary on a real SQLite file in a
//! temporary directory, on a free 127.0.0.1 port. Processes are killed by
//! pid when the harness is dropped, so no test leaves a server behind.
//!
//! Split by what it plays: `service` (the binary under test and its CLI),
//! `central` (the fake central as its own process), `http`, `pty` (socat
//! scanners), `process` (exits, memory, the release build) and `data`.

use std::time::Duration;

mod central;
mod data;
mod http;
mod process;
mod pty;
mod service;

pub use central::*;
pub use data::*;
pub use http::*;
pub use process::*;
pub use pty::*;
pub use service::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_store-edge");
pub const STORE_ID: &str = "test-store-01";
/// Generous deadline for anything a test waits for; never a timing assertion.
pub const DEADLINE: Duration = Duration::from_secs(60);
