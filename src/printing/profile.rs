//! Printer profiles: what a model can do, as one explicit table (paper
//! width in columns and dots, the `ESC t` number of each code page it has,
//! QR and cutter support, the drawer pulse). Must never guess: a profile
//! or code page not in the table is an error, not a default.

use super::codepage::CodePage;

/// The pulse of `ESC p m t1 t2` that opens a cash drawer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawerPulse {
    /// 0: connector pin 2, 1: pin 5.
    pub pin: u8,
    /// On time in units of 2 ms.
    pub on: u8,
    /// Off time in units of 2 ms.
    pub off: u8,
}

/// One printer model (or family) as the encoder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    /// Characters per line in font A (12 × 24 dots).
    pub columns: u16,
    /// Printable width in dots (203 dpi heads: 8 dots per mm).
    pub dots: u16,
    /// The code pages this model has, with their `ESC t n` numbers.
    pub code_pages: &'static [(CodePage, u8)],
    /// The page used when the config names none.
    pub default_page: CodePage,
    /// `GS ( k` QR codes (model 2).
    pub qr: bool,
    /// An autocutter for `GS V`; without one, a cut becomes a feed to tear.
    pub cutter: bool,
    pub drawer: DrawerPulse,
}

/// Epson's numbers (TM-T20, TM-T88, TM-m30 and the Star and Chinese
/// models that emulate them): PC437 = 0, WPC1252 = 16, PC858 = 19.
const EPSON_PAGES: &[(CodePage, u8)] = &[
    (CodePage::Pc437, 0),
    (CodePage::Wpc1252, 16),
    (CodePage::Pc858, 19),
];

/// Epson's standard drawer pulse, pin 2: 50 ms on, 500 ms off.
const EPSON_DRAWER: DrawerPulse = DrawerPulse {
    pin: 0,
    on: 25,
    off: 250,
};

const fn epson_80(name: &'static str) -> Profile {
    Profile {
        name,
        columns: 48,
        dots: 576,
        code_pages: EPSON_PAGES,
        default_page: CodePage::Pc858,
        qr: true,
        cutter: true,
        drawer: EPSON_DRAWER,
    }
}

/// Every profile a config may name.
pub const PROFILES: &[Profile] = &[
    epson_80("epson_tm_t20"),
    epson_80("epson_tm_t88"),
    epson_80("epson_tm_m30"),
    epson_80("generic_80"),
    // Cheap 58 mm printers: 32 columns, 384 dots; most have no cutter, and
    // many only the pages of their first firmware, so PC437 is the safe default.
    Profile {
        name: "generic_58",
        columns: 32,
        dots: 384,
        code_pages: EPSON_PAGES,
        default_page: CodePage::Pc437,
        qr: true,
        cutter: false,
        drawer: EPSON_DRAWER,
    },
];

impl Profile {
    pub fn by_name(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name == name)
    }

    /// The `ESC t` number of `page`, `None` when this model lacks it.
    pub fn page_number(&self, page: CodePage) -> Option<u8> {
        self.code_pages
            .iter()
            .find(|(p, _)| *p == page)
            .map(|(_, n)| *n)
    }

    /// The page that `ESC t n` selects on this model.
    pub fn page_of_number(&self, n: u8) -> Option<CodePage> {
        self.code_pages
            .iter()
            .find(|(_, m)| *m == n)
            .map(|(p, _)| *p)
    }

    /// All profile names, for config errors ("allowed: …").
    pub fn names() -> Vec<&'static str> {
        PROFILES.iter().map(|p| p.name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_widths_match_the_issue() {
        let t20 = Profile::by_name("epson_tm_t20").expect("profile");
        assert_eq!((t20.columns, t20.dots), (48, 576));
        let g58 = Profile::by_name("generic_58").expect("profile");
        assert_eq!((g58.columns, g58.dots), (32, 384));
        assert!(Profile::by_name("epson_tm_t21").is_none());
    }

    #[test]
    fn every_profile_has_its_default_page_and_unique_names() {
        let mut names = Profile::names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROFILES.len());
        for p in PROFILES {
            let n = p.page_number(p.default_page).expect("default page");
            assert_eq!(p.page_of_number(n), Some(p.default_page));
            // 12-dot font A: the columns fill the width exactly.
            assert_eq!(p.columns * 12, p.dots, "{}", p.name);
        }
    }
}
