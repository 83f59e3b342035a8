//! `printing::logo` on arbitrary bytes (seeded with real PNGs): a file from anywhere must
//! give a raster that fits the paper and `logo::MAX_HEIGHT`, with whole rows, or an
//! error; never a panic, and never more memory than its bounds allow (libFuzzer's RSS
//! limit fails the run otherwise).
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::printing::document::Block;
use store_edge_fuzz::printing::logo::{logo, MAX_HEIGHT};
use store_edge_fuzz::printing::profile::Profile;

fuzz_target!(|data: &[u8]| {
    for name in ["generic_58", "epson_tm_t20"] {
        let Some(profile) = Profile::by_name(name) else {
            panic!("profile {name} is gone");
        };
        if let Ok(block) = logo(data, profile) {
            let Block::Image { width, data } = block else {
                panic!("a logo that is not an image: {block:?}");
            };
            assert!(width >= 1 && width <= profile.dots, "{width} dots wide");
            let row = usize::from(width).div_ceil(8);
            assert_eq!(data.len() % row, 0);
            let rows = data.len() / row;
            assert!(rows >= 1 && rows <= MAX_HEIGHT as usize, "{rows} rows");
        }
    }
});
