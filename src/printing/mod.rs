//! Receipt printing, the pure part: a document model (`document.rs`),
//! printer profiles (`profile.rs`), code pages with transliteration
//! (`codepage.rs`), the ESC/POS encoder (`encode.rs`), the interpreter
//! that reads the bytes back (`interpret.rs`), its picture as a PNG
//! (`picture.rs`), a logo from a PNG as a dithered raster (`logo.rs`) and
//! the templates (`templates/`). No I/O, no tokio,
//! no SQL: bytes in, bytes out, like `scan/`. The print queue's state
//! rules (`queue.rs`) are pure too; its jobs are stored by
//! `store::print_jobs`, which applies the steps `queue.rs` gives it.

pub mod codepage;
pub mod document;
pub mod encode;
pub mod interpret;
pub mod job;
pub mod logo;
pub mod picture;
pub mod profile;
pub mod queue;
pub mod templates;

pub use codepage::CodePage;
pub use document::{Align, Block, CodeSet, Document, Symbology};
pub use encode::{encode, EncodeError};
pub use profile::Profile;
pub use templates::{Language, Template, TemplateError};

#[cfg(test)]
mod golden;
