//! The virtual printer on arbitrary bytes: `interpret` and the picture (`picture::render`)
//! on both paper widths. Neither may panic; the picture is as wide as the paper and never
//! taller than `picture::MAX_HEIGHT` (so a few kilobytes of feeds cannot make it allocate
//! gigabytes); a parse error is the same for both (they share the parser). Hangs and memory
//! beyond libFuzzer's limits fail the run (scripts/fuzz.sh: -timeout=10, -rss_limit_mb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_edge_fuzz::printing::interpret::{interpret, parse};
use store_edge_fuzz::printing::picture::{render, MAX_HEIGHT};
use store_edge_fuzz::printing::profile::Profile;

fuzz_target!(|data: &[u8]| {
    for name in ["generic_58", "epson_tm_t20"] {
        let Some(profile) = Profile::by_name(name) else {
            panic!("profile {name} is gone");
        };
        let parsed = parse(data);
        let printed = interpret(data, profile);
        let picture = render(data, profile);
        assert_eq!(parsed.as_ref().err(), printed.as_ref().err());
        assert_eq!(parsed.as_ref().err(), picture.as_ref().err());
        if let Ok(out) = &printed {
            // Text never holds a control byte: every line decodes from printable bytes.
            for line in &out.lines {
                assert!(!line.text.chars().any(|c| c.is_control()), "{line:?}");
            }
        }
        if let Ok(pic) = picture {
            assert_eq!(pic.width, usize::from(profile.dots));
            assert!(pic.height <= MAX_HEIGHT, "{} dots high", pic.height);
        }
    }
});
