//! Just enough of `store_edge::devices` for `src/devices/framing.rs` to compile on its own.
//! `framing.rs` uses `super::Framing` and nothing else from its parent; this is that struct,
//! field for field as in the main crate's `src/devices/mod.rs` (if it changes there, the
//! fuzz build fails to compile rather than fuzzing something else).

use std::time::Duration;

/// Mirror of `store_edge::devices::Framing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    pub max_len: usize,
    pub idle_timeout: Option<Duration>,
}

#[path = "../../../src/devices/framing.rs"]
pub mod framing;
