//! Keyboard layouts for keyboard-wedge scanners: Linux key code + shift level
//! → character, for the layouts a scanner can be set to (`us`, `de`).
//!
//! The tables are written by hand from xkb's `symbols/us` (basic) and
//! `symbols/de` (basic, with `latin(type4)` and `level3(ralt_switch)`); the
//! fixture generator in `scripts/gen_device_fixtures.py` reads the xkb files
//! themselves, so the recorded-stream tests check these tables against xkb.
//!
//! Must never: guess. A key a layout does not define is [`Sym::None`], which
//! the wedge decoder turns into U+FFFD so that the frame is visibly broken.

use std::fmt;
use std::str::FromStr;

/// A keyboard layout the scanner is configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// English (US), QWERTY. Right Alt is plain Alt.
    Us,
    /// German, QWERTZ: y/z swapped, symbols on other keys, Right Alt is AltGr
    /// (level 3), `^`, `´`, `` ` `` are dead keys.
    De,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Us => "us",
            Layout::De => "de",
        }
    }

    /// Whether Right Alt selects level 3 (AltGr) rather than acting as Alt.
    pub fn has_altgr(self) -> bool {
        matches!(self, Layout::De)
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Layout {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "us" => Ok(Layout::Us),
            "de" => Ok(Layout::De),
            _ => Err(()),
        }
    }
}

/// What a key produces at one shift level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    Char(char),
    /// A dead key; the char is what it produces followed by space.
    Dead(char),
    None,
}

/// Linux key codes (`linux/input-event-codes.h`) the decoder handles by name.
pub mod code {
    pub const KEY_TAB: u16 = 15;
    pub const KEY_BACKSPACE: u16 = 14;
    pub const KEY_ENTER: u16 = 28;
    pub const KEY_LEFTCTRL: u16 = 29;
    pub const KEY_LEFTSHIFT: u16 = 42;
    pub const KEY_RIGHTSHIFT: u16 = 54;
    pub const KEY_LEFTALT: u16 = 56;
    pub const KEY_SPACE: u16 = 57;
    pub const KEY_CAPSLOCK: u16 = 58;
    pub const KEY_NUMLOCK: u16 = 69;
    pub const KEY_SCROLLLOCK: u16 = 70;
    pub const KEY_KP7: u16 = 71;
    pub const KEY_KP8: u16 = 72;
    pub const KEY_KP9: u16 = 73;
    pub const KEY_KPMINUS: u16 = 74;
    pub const KEY_KP4: u16 = 75;
    pub const KEY_KP5: u16 = 76;
    pub const KEY_KP6: u16 = 77;
    pub const KEY_KPPLUS: u16 = 78;
    pub const KEY_KP1: u16 = 79;
    pub const KEY_KP2: u16 = 80;
    pub const KEY_KP3: u16 = 81;
    pub const KEY_KP0: u16 = 82;
    pub const KEY_KPDOT: u16 = 83;
    pub const KEY_KPENTER: u16 = 96;
    pub const KEY_RIGHTCTRL: u16 = 97;
    pub const KEY_KPSLASH: u16 = 98;
    pub const KEY_RIGHTALT: u16 = 100;
    pub const KEY_KPASTERISK: u16 = 55;
    pub const KEY_LEFTMETA: u16 = 125;
    pub const KEY_RIGHTMETA: u16 = 126;
}

/// The digit of a keypad digit key.
pub fn keypad_digit(code: u16) -> Option<u8> {
    use code::*;
    Some(match code {
        KEY_KP0 => 0,
        KEY_KP1 => 1,
        KEY_KP2 => 2,
        KEY_KP3 => 3,
        KEY_KP4 => 4,
        KEY_KP5 => 5,
        KEY_KP6 => 6,
        KEY_KP7 => 7,
        KEY_KP8 => 8,
        KEY_KP9 => 9,
        _ => return None,
    })
}

/// The character of a non-digit keypad key (NumLock assumed on: scanners that
/// type on the keypad expect it).
fn keypad_other(layout: Layout, code: u16) -> Option<char> {
    use code::*;
    Some(match code {
        KEY_KPMINUS => '-',
        KEY_KPPLUS => '+',
        KEY_KPASTERISK => '*',
        KEY_KPSLASH => '/',
        // de includes kpdl(comma): the keypad separator is a comma.
        KEY_KPDOT if layout == Layout::De => ',',
        KEY_KPDOT => '.',
        _ => return None,
    })
}

/// The symbol of `code` at `level` (0 plain, 1 shift, 2 AltGr, 3 AltGr+Shift).
pub fn lookup(layout: Layout, code: u16, level: usize) -> Sym {
    if let Some(d) = keypad_digit(code) {
        return Sym::Char(char::from(b'0' + d));
    }
    if let Some(c) = keypad_other(layout, code) {
        return Sym::Char(c);
    }
    let table: &[(u16, [Sym; 4])] = match layout {
        Layout::Us => US,
        Layout::De => DE,
    };
    match table.iter().find(|(c, _)| *c == code) {
        Some((_, syms)) => syms.get(level).copied().unwrap_or(Sym::None),
        None => Sym::None,
    }
}

use Sym::{Char as C, Dead as D, None as N};

/// `key(code, "ab")`-style rows are not const-friendly; the tables spell out
/// each key. Codes: 2..=13 number row, 16..=27 top row, 30..=40 home row,
/// 41 grave/TLDE, 43 backslash/BKSL, 44..=53 bottom row, 57 space, 86 LSGT.
const US: &[(u16, [Sym; 4])] = &[
    (41, [C('`'), C('~'), N, N]),
    (2, [C('1'), C('!'), N, N]),
    (3, [C('2'), C('@'), N, N]),
    (4, [C('3'), C('#'), N, N]),
    (5, [C('4'), C('$'), N, N]),
    (6, [C('5'), C('%'), N, N]),
    (7, [C('6'), C('^'), N, N]),
    (8, [C('7'), C('&'), N, N]),
    (9, [C('8'), C('*'), N, N]),
    (10, [C('9'), C('('), N, N]),
    (11, [C('0'), C(')'), N, N]),
    (12, [C('-'), C('_'), N, N]),
    (13, [C('='), C('+'), N, N]),
    (16, [C('q'), C('Q'), N, N]),
    (17, [C('w'), C('W'), N, N]),
    (18, [C('e'), C('E'), N, N]),
    (19, [C('r'), C('R'), N, N]),
    (20, [C('t'), C('T'), N, N]),
    (21, [C('y'), C('Y'), N, N]),
    (22, [C('u'), C('U'), N, N]),
    (23, [C('i'), C('I'), N, N]),
    (24, [C('o'), C('O'), N, N]),
    (25, [C('p'), C('P'), N, N]),
    (26, [C('['), C('{'), N, N]),
    (27, [C(']'), C('}'), N, N]),
    (30, [C('a'), C('A'), N, N]),
    (31, [C('s'), C('S'), N, N]),
    (32, [C('d'), C('D'), N, N]),
    (33, [C('f'), C('F'), N, N]),
    (34, [C('g'), C('G'), N, N]),
    (35, [C('h'), C('H'), N, N]),
    (36, [C('j'), C('J'), N, N]),
    (37, [C('k'), C('K'), N, N]),
    (38, [C('l'), C('L'), N, N]),
    (39, [C(';'), C(':'), N, N]),
    (40, [C('\''), C('"'), N, N]),
    (43, [C('\\'), C('|'), N, N]),
    (44, [C('z'), C('Z'), N, N]),
    (45, [C('x'), C('X'), N, N]),
    (46, [C('c'), C('C'), N, N]),
    (47, [C('v'), C('V'), N, N]),
    (48, [C('b'), C('B'), N, N]),
    (49, [C('n'), C('N'), N, N]),
    (50, [C('m'), C('M'), N, N]),
    (51, [C(','), C('<'), N, N]),
    (52, [C('.'), C('>'), N, N]),
    (53, [C('/'), C('?'), N, N]),
    (57, [C(' '), C(' '), N, N]),
    (86, [C('<'), C('>'), N, N]),
];

/// German (de basic). Dead keys that have no spacing form in Latin-1/ASCII
/// (below-dot, above-dot, below-macron) are [`Sym::None`].
const DE: &[(u16, [Sym; 4])] = &[
    (41, [D('^'), C('°'), C('′'), C('″')]),
    (2, [C('1'), C('!'), C('¹'), C('¡')]),
    (3, [C('2'), C('"'), C('²'), C('⅛')]),
    (4, [C('3'), C('§'), C('³'), C('£')]),
    (5, [C('4'), C('$'), C('¼'), C('¤')]),
    (6, [C('5'), C('%'), C('½'), C('⅜')]),
    (7, [C('6'), C('&'), C('¬'), C('⅝')]),
    (8, [C('7'), C('/'), C('{'), C('⅞')]),
    (9, [C('8'), C('('), C('['), C('™')]),
    (10, [C('9'), C(')'), C(']'), C('±')]),
    (11, [C('0'), C('='), C('}'), C('°')]),
    (12, [C('ß'), C('?'), C('\\'), C('¿')]),
    (13, [D('´'), D('`'), D('¸'), D('˛')]),
    (16, [C('q'), C('Q'), C('@'), C('Ω')]),
    (17, [C('w'), C('W'), C('ſ'), C('§')]),
    (18, [C('e'), C('E'), C('€'), C('€')]),
    (19, [C('r'), C('R'), C('¶'), C('®')]),
    (20, [C('t'), C('T'), C('ŧ'), C('Ŧ')]),
    (21, [C('z'), C('Z'), C('←'), C('¥')]),
    (22, [C('u'), C('U'), C('↓'), C('↑')]),
    (23, [C('i'), C('I'), C('→'), C('ı')]),
    (24, [C('o'), C('O'), C('ø'), C('Ø')]),
    (25, [C('p'), C('P'), C('þ'), C('Þ')]),
    (26, [C('ü'), C('Ü'), D('¨'), D('˚')]),
    (27, [C('+'), C('*'), C('~'), C('¯')]),
    (30, [C('a'), C('A'), C('æ'), C('Æ')]),
    (31, [C('s'), C('S'), C('ſ'), C('ẞ')]),
    (32, [C('d'), C('D'), C('ð'), C('Ð')]),
    (33, [C('f'), C('F'), C('đ'), C('ª')]),
    (34, [C('g'), C('G'), C('ŋ'), C('Ŋ')]),
    (35, [C('h'), C('H'), C('ħ'), C('Ħ')]),
    (36, [C('j'), C('J'), N, N]),
    (37, [C('k'), C('K'), C('ĸ'), C('&')]),
    (38, [C('l'), C('L'), C('ł'), C('Ł')]),
    (39, [C('ö'), C('Ö'), D('˝'), N]),
    (40, [C('ä'), C('Ä'), D('^'), D('ˇ')]),
    (43, [C('#'), C('\''), C('’'), D('˘')]),
    (44, [C('y'), C('Y'), C('»'), C('›')]),
    (45, [C('x'), C('X'), C('«'), C('‹')]),
    (46, [C('c'), C('C'), C('¢'), C('©')]),
    (47, [C('v'), C('V'), C('„'), C('‚')]),
    (48, [C('b'), C('B'), C('“'), C('‘')]),
    (49, [C('n'), C('N'), C('”'), C('’')]),
    (50, [C('m'), C('M'), C('µ'), C('º')]),
    (51, [C(','), C(';'), C('·'), C('×')]),
    (52, [C('.'), C(':'), C('…'), C('÷')]),
    (53, [C('-'), C('_'), C('–'), C('—')]),
    (57, [C(' '), C(' '), C(' '), C(' ')]),
    (86, [C('<'), C('>'), C('|'), N]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwertz_swaps_y_and_z_and_moves_symbols() {
        assert_eq!(lookup(Layout::Us, 21, 0), Sym::Char('y'));
        assert_eq!(lookup(Layout::De, 21, 0), Sym::Char('z'));
        assert_eq!(lookup(Layout::De, 44, 1), Sym::Char('Y'));
        assert_eq!(lookup(Layout::De, 10, 2), Sym::Char(']'));
        assert_eq!(lookup(Layout::De, 16, 2), Sym::Char('@'));
        assert_eq!(lookup(Layout::De, 41, 0), Sym::Dead('^'));
        assert_eq!(lookup(Layout::Us, 41, 2), Sym::None);
        assert_eq!(lookup(Layout::Us, 999, 0), Sym::None);
        assert_eq!(lookup(Layout::De, code::KEY_KPDOT, 0), Sym::Char(','));
    }

    #[test]
    fn layout_names_round_trip() {
        for l in [Layout::Us, Layout::De] {
            assert_eq!(l.as_str().parse::<Layout>(), Ok(l));
        }
        assert!("fr".parse::<Layout>().is_err());
    }
}
