//! The pure part of `store_edge::printing` for the print fuzz targets: the document
//! model, profiles, code pages, the encoder, the interpreter and its picture, the logo, each
//! compiled from the main crate's own file. Not the templates (they only build
//! documents) nor `queue.rs` (it speaks to `store::print_jobs`).

#[path = "../../../src/printing/codepage.rs"]
pub mod codepage;
#[path = "../../../src/printing/document.rs"]
pub mod document;
#[path = "../../../src/printing/encode.rs"]
pub mod encode;
#[path = "../../../src/printing/interpret.rs"]
pub mod interpret;
#[path = "../../../src/printing/logo.rs"]
pub mod logo;
#[path = "../../../src/printing/picture.rs"]
pub mod picture;
#[path = "../../../src/printing/profile.rs"]
pub mod profile;
