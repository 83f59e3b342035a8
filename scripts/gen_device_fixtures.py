#!/usr/bin/env python3
"""Generate the recorded device streams under tests/fixtures/ (evdev/, hid/).

evdev: for each scan string, the `struct input_event` records a keyboard-wedge
scanner set to that layout produces (EV_MSC scan code, EV_KEY press/release,
EV_SYN report), 24 bytes each (x86-64/aarch64: timeval 16 bytes, u16 type,
u16 code, i32 value, little endian). Characters are mapped to key codes and
modifiers by reading xkb's own symbol files (/usr/share/X11/xkb/symbols/us
and de, with their includes) -- deliberately NOT the Rust keymap tables, so
the tests check those tables against xkb. Needs Debian's `xkb-data`.

hid: HID POS "scanned data" input reports (64 bytes: id 2, length, 3 AIM
bytes, 56 data bytes, further symbology, reserved, flags bit 0 = continued),
as src/devices/hid_pos.rs documents them.

The .expected files beside the .bin files are written by hand, not by this
script: one item per line, escaped like simulated-device lines (\\x1d = GS,
\\\\ = backslash); a line starting with `!` is a bad frame.

Usage: scripts/gen_device_fixtures.py [tests/fixtures]
"""

import os
import re
import struct
import sys

XKB = "/usr/share/X11/xkb"

EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
SYN_REPORT, MSC_SCAN = 0, 4
KEY_LEFTCTRL, KEY_LEFTSHIFT, KEY_LEFTALT, KEY_RIGHTALT = 29, 42, 56, 100
KEY_ENTER, KEY_SPACE = 28, 57
KEY_KP = {0: 82, 1: 79, 2: 80, 3: 81, 4: 75, 5: 76, 6: 77, 7: 71, 8: 72, 9: 73}

# xkb keysym names -> character, for the keysyms that type ASCII or the few
# non-ASCII characters the fixtures use.
KEYSYMS = {
    "space": " ", "exclam": "!", "quotedbl": '"', "numbersign": "#", "dollar": "$",
    "percent": "%", "ampersand": "&", "apostrophe": "'", "parenleft": "(",
    "parenright": ")", "asterisk": "*", "plus": "+", "comma": ",", "minus": "-",
    "period": ".", "slash": "/", "colon": ":", "semicolon": ";", "less": "<",
    "equal": "=", "greater": ">", "question": "?", "at": "@", "bracketleft": "[",
    "backslash": "\\", "bracketright": "]", "asciicircum": "^", "underscore": "_",
    "grave": "`", "braceleft": "{", "bar": "|", "braceright": "}", "asciitilde": "~",
    "udiaeresis": "ü", "Udiaeresis": "Ü", "odiaeresis": "ö", "Odiaeresis": "Ö",
    "adiaeresis": "ä", "Adiaeresis": "Ä", "ssharp": "ß", "section": "§",
    "degree": "°", "EuroSign": "€",
}
# Dead keys -> the character they give when followed by space.
DEAD = {"dead_circumflex": "^", "dead_grave": "`", "dead_acute": "´", "dead_tilde": "~"}


def keysym_char(name):
    if name in KEYSYMS:
        return ("char", KEYSYMS[name])
    if name in DEAD:
        return ("dead", DEAD[name])
    if len(name) == 1:
        return ("char", name)
    m = re.fullmatch(r"U([0-9A-Fa-f]{4,6})", name)
    if m:
        return ("char", chr(int(m.group(1), 16)))
    return None


def load_section(fname, section=None, seen=None):
    """Key name -> list of keysym names per level, following includes."""
    seen = seen or set()
    if (fname, section) in seen:
        return {}
    seen.add((fname, section))
    path = os.path.join(XKB, "symbols", fname)
    text = re.sub(r"//[^\n]*", "", open(path, encoding="utf-8").read())
    blocks = re.finditer(
        r'((?:\w+\s+)*)xkb_symbols\s+"([^"]+)"\s*\{(.*?)\n\};', text, re.S)
    body = None
    for b in blocks:
        if (section is None and "default" in b.group(1).split()) or b.group(2) == section:
            body = b.group(3)
            break
    if body is None:
        raise SystemExit(f"no section {section!r} in {path}")
    keys = {}
    for stmt in re.finditer(r'include\s+"([^"]+)"|key\s*<(\w+)>\s*\{(.*?)\}\s*;', body, re.S):
        if stmt.group(1):
            inc = stmt.group(1)
            m = re.fullmatch(r"(\w+)(?:\((\w+)\))?", inc)
            if m and os.path.exists(os.path.join(XKB, "symbols", m.group(1))):
                keys.update(load_section(m.group(1), m.group(2), seen))
            continue
        groups = [g for g in re.findall(r"\[\s*([^\[\]]*?)\s*\]", stmt.group(3)) if g != "Group1"]
        if not groups:
            continue
        syms = [s.strip() for s in groups[-1].split(",")]
        keys[stmt.group(2)] = syms
    return keys


def evdev_codes():
    codes = {}
    for line in open(os.path.join(XKB, "keycodes", "evdev"), encoding="utf-8"):
        m = re.match(r"\s*<(\w+)>\s*=\s*(\d+)\s*;", line)
        if m:
            codes[m.group(1)] = int(m.group(2)) - 8
    return codes


class Layout:
    def __init__(self, name):
        self.name = name
        self.keys = load_section(name, "basic")
        self.codes = evdev_codes()

    def find(self, ch):
        """(code, level, dead) for the lowest level that types ch."""
        if ch == " ":
            # <SPCE> comes from the pc symbols, not the layout's own section.
            return KEY_SPACE, 0, False
        for want in ("char", "dead"):
            for level in range(4):
                for key, syms in sorted(self.keys.items()):
                    if level < len(syms) and key in self.codes:
                        got = keysym_char(syms[level])
                        if got == (want, ch):
                            return self.codes[key], level, want == "dead"
        raise SystemExit(f"{self.name}: no key types {ch!r}")


class Recorder:
    def __init__(self):
        self.out = bytearray()
        self.t = 1_700_000_000_000_000  # microseconds

    def ev(self, typ, code, value):
        self.t += 1500
        self.out += struct.pack("<qqHHi", self.t // 1_000_000, self.t % 1_000_000, typ, code, value)

    def key(self, code, value):
        if value != 2:
            self.ev(EV_MSC, MSC_SCAN, 0x70000 + code)
        self.ev(EV_KEY, code, value)
        self.ev(EV_SYN, SYN_REPORT, 0)

    def tap(self, code, repeats=0):
        self.key(code, 1)
        for _ in range(repeats):
            self.key(code, 2)
        self.key(code, 0)


def mods_for(level, layout):
    mods = []
    if level in (1, 3):
        mods.append(KEY_LEFTSHIFT)
    if level in (2, 3):
        if layout.name != "de":
            raise SystemExit("level 3 needs AltGr")
        mods.append(KEY_RIGHTALT)
    return mods


def type_char(rec, layout, ch, repeats=0):
    code, level, dead = layout.find(ch)
    mods = mods_for(level, layout)
    for m in mods:
        rec.key(m, 1)
    rec.tap(code, repeats)
    for m in reversed(mods):
        rec.key(m, 0)
    if dead:
        rec.tap(KEY_SPACE)


def gs(rec, layout, how):
    if how == "ctrl":
        # Ctrl + whatever types `]` in this layout (de: AltGr+9).
        code, level, _ = layout.find("]")
        mods = [KEY_LEFTCTRL] + mods_for(level, layout)
        for m in mods:
            rec.key(m, 1)
        rec.tap(code)
        for m in reversed(mods):
            rec.key(m, 0)
    elif how == "alt":
        rec.key(KEY_LEFTALT, 1)
        for d in (0, 2, 9):
            rec.tap(KEY_KP[d])
        rec.key(KEY_LEFTALT, 0)
    else:
        raise SystemExit(how)


def record(layout, scans):
    """scans: list of scans; a scan is a list of segments:
    str (typed text), ("gs", "ctrl"|"alt"), ("repeat", ch, n): ch with n
    auto-repeat events, ("shift-repeat", text): text typed with Shift held
    and auto-repeating."""
    rec = Recorder()
    for scan in scans:
        for seg in scan:
            if isinstance(seg, str):
                for ch in seg:
                    type_char(rec, layout, ch)
            elif seg[0] == "gs":
                gs(rec, layout, seg[1])
            elif seg[0] == "repeat":
                type_char(rec, layout, seg[1], repeats=seg[2])
            elif seg[0] == "shift-repeat":
                rec.key(KEY_LEFTSHIFT, 1)
                for ch in seg[1]:
                    rec.key(KEY_LEFTSHIFT, 2)
                    code, level, _ = layout.find(ch)
                    assert level == 1, ch
                    rec.tap(code)
                rec.key(KEY_LEFTSHIFT, 0)
        rec.tap(KEY_ENTER)
    return bytes(rec.out)


ASCII = "".join(chr(c) for c in range(0x20, 0x7F))

EVDEV = {
    "us-gs1": ("us", [
        ["]C1010400638133393110ABC123", ("gs", "ctrl"), "17251231"],
        ["]C10104006381333931172512311", "0XYZ", ("gs", "alt"), "21SER42"],
    ]),
    "us-text": ("us", [
        ["Hello, World!"],
        ["400638", ("repeat", "1", 3), "3", "3", "3931"],
        [("shift-repeat", "ABC"), "-x"],
    ]),
    "us-ascii": ("us", [[ASCII]]),
    "de-gs1": ("de", [
        ["]C1010400638133393110ABC123", ("gs", "ctrl"), "17251231"],
        ["]C10104006381333931172512311", "0XYZ", ("gs", "alt"), "21SER42"],
    ]),
    "de-qwertz": ("de", [
        ["Zürich yz-ZY"],
        ["user@example.com"],
        ["{[]}\\~|<>€§"],
        ["a^b`c"],
        ["ABC", ("repeat", "z", 2), "y"],
    ]),
    "de-ascii": ("de", [[ASCII]]),
}


def hid_report(aim, data, continued=False, report_id=2, length=None):
    r = bytearray(64)
    r[0] = report_id
    r[1] = len(data) if length is None else length
    r[2:5] = aim
    r[5:5 + len(data)] = data
    r[63] = 1 if continued else 0
    return bytes(r)


BOARDING = b"M1GATHERGOOD/MICHAEL YABCDEF LHRDURAK 3542 052Y003D23  01234"  # 60 bytes

HID = {
    "ean13": [hid_report(b"]E0", b"4006381333931")],
    "qr-continued": [
        hid_report(b"]Q1", BOARDING[:56], continued=True),
        hid_report(b"\0\0\0", BOARDING[56:]),
    ],
    "gs1-datamatrix": [hid_report(b"]d2", b"010400638133393110ABC123\x1d17251231")],
    "mixed": [
        hid_report(b"\0\0\0", b"", report_id=4),          # status report: skipped
        hid_report(b"]E0", b"123", length=60),            # length > 56: bad
        hid_report(b"\0\0\0", b"SEP1.NOAIM"),             # no AIM identifier
    ],
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    os.makedirs(os.path.join(root, "evdev"), exist_ok=True)
    os.makedirs(os.path.join(root, "hid"), exist_ok=True)
    layouts = {}
    for name, (layout, scans) in EVDEV.items():
        lay = layouts.setdefault(layout, Layout(layout))
        with open(os.path.join(root, "evdev", name + ".bin"), "wb") as f:
            f.write(record(lay, scans))
    for name, reports in HID.items():
        assert all(len(r) == 64 for r in reports)
        with open(os.path.join(root, "hid", name + ".bin"), "wb") as f:
            f.write(b"".join(reports))
    print(f"wrote {len(EVDEV)} evdev and {len(HID)} hid fixtures under {root}")


if __name__ == "__main__":
    main()
