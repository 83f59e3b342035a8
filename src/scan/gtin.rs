//! GTIN-8/12/13/14 and UPC-E: GS1 mod-10 check digits, normalisation to 14 digits and
//! prefix flags (ISBN, ISSN, restricted circulation). Pure string arithmetic: it must never
//! panic, index past the input, read the clock or do I/O.

use serde::Serialize;

use super::ScanError;

/// Which GS1 key length the number was presented in (before normalisation to 14 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GtinKind {
    /// EAN-8.
    Gtin8,
    /// UPC-E (8 digits, number system 0/1), expanded to UPC-A.
    UpcE,
    /// UPC-A.
    Gtin12,
    /// EAN-13 (also UPC-A sent with its leading 0).
    Gtin13,
    /// GTIN-14 (ITF-14, or AI (01) in a GS1 element string).
    Gtin14,
}

/// A validated GTIN and what its prefix says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GtinInfo {
    /// Always 14 digits, left-padded with zeros, check digit included.
    pub gtin: String,
    pub kind: GtinKind,
    #[serde(flatten)]
    pub flags: PrefixFlags,
}

/// What the GS1 prefix of a GTIN tells a till: a book, a periodical, or a number that is
/// only unique inside a region/company (variable-measure and in-store labels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PrefixFlags {
    /// Bookland EAN-13, prefix 978 or 979.
    #[serde(skip_serializing_if = "is_false")]
    pub isbn: bool,
    /// Periodical EAN-13, prefix 977.
    #[serde(skip_serializing_if = "is_false")]
    pub issn: bool,
    /// Restricted circulation number: GTIN-13 prefixes 02, 04 and 20–29 (variable measure,
    /// in-store labels, company-internal), and GTIN-8 prefixes 0 and 2 (RCN-8). Such a
    /// number is not globally unique, so it must not be looked up as a world-wide product.
    #[serde(skip_serializing_if = "is_false")]
    pub restricted_circulation: bool,
}

// serde's skip_serializing_if needs a function taking a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// GS1 mod-10 check digit of `body` (every digit except the check digit): weights 3, 1, 3, …
/// counted from the right. `None` when `body` is empty or not all ASCII digits.
/// Works for any length, so it also serves SSCC (17-digit body), GLN, GSIN and GSRN.
pub fn check_digit(body: &str) -> Option<u8> {
    if !all_digits(body) {
        return None;
    }
    // Reduce modulo 10 at every step so arbitrarily long input cannot overflow.
    let mut sum: u32 = 0;
    for (i, b) in body.bytes().rev().enumerate() {
        let d = u32::from(b.wrapping_sub(b'0'));
        let weighted = if i % 2 == 0 { d * 3 } else { d };
        sum = (sum + weighted) % 10;
    }
    // sum < 10, so the result is a single digit and always fits.
    u8::try_from((10 - sum) % 10).ok()
}

/// True when `s` is at least two ASCII digits and its last digit is the GS1 mod-10 check
/// digit of the rest.
pub fn has_valid_check_digit(s: &str) -> bool {
    if s.len() < 2 || !all_digits(s) {
        return false;
    }
    let (body, last) = s.split_at(s.len() - 1);
    let given = last.bytes().next().map(|b| b.wrapping_sub(b'0'));
    check_digit(body).is_some() && check_digit(body) == given
}

/// True when `s` is a GTIN-14 as events.md writes it: 14 ASCII digits, the
/// last one the GS1 check digit of the others (`04006381333931`).
pub fn is_gtin14(s: &str) -> bool {
    s.len() == 14 && has_valid_check_digit(s)
}

/// Parse a GTIN-8, -12, -13 or -14 (digits only, check digit included) and normalise it to
/// 14 digits. An 8-digit input is read as EAN-8 here; use [`parse_upce`] for UPC-E.
pub fn parse_gtin(s: &str) -> Result<GtinInfo, ScanError> {
    let kind = match s.len() {
        8 => GtinKind::Gtin8,
        12 => GtinKind::Gtin12,
        13 => GtinKind::Gtin13,
        14 => GtinKind::Gtin14,
        n => {
            return Err(ScanError::new(format!(
                "a GTIN has 8, 12, 13 or 14 digits, not {n}"
            )))
        }
    };
    if !all_digits(s) {
        return Err(ScanError::new("a GTIN may only contain digits"));
    }
    if !has_valid_check_digit(s) {
        return Err(ScanError::new(format!(
            "the {}-digit GTIN has a wrong check digit",
            s.len()
        )));
    }
    let gtin = format!("{s:0>14}");
    let flags = prefix_flags(&gtin);
    Ok(GtinInfo { gtin, kind, flags })
}

/// Expand an 8-digit UPC-E (number system 0 or 1, six data digits, check digit) to the
/// 12-digit UPC-A it stands for, following the standard zero-suppression rules keyed on the
/// sixth data digit. The check digit is verified on the expanded number.
pub fn expand_upce(s: &str) -> Result<String, ScanError> {
    let b: [u8; 8] = <[u8; 8]>::try_from(s.as_bytes())
        .map_err(|_| ScanError::new("a UPC-E code has 8 digits"))?;
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(ScanError::new("a UPC-E code may only contain digits"));
    }
    let [ns, d1, d2, d3, d4, d5, d6, check] = b;
    if ns != b'0' && ns != b'1' {
        return Err(ScanError::new(
            "a UPC-E code starts with number system 0 or 1",
        ));
    }
    // The sixth data digit says where the suppressed zeros go (manufacturer vs item part).
    let middle: [u8; 10] = match d6 {
        b'0'..=b'2' => [d1, d2, d6, b'0', b'0', b'0', b'0', d3, d4, d5],
        b'3' => [d1, d2, d3, b'0', b'0', b'0', b'0', b'0', d4, d5],
        b'4' => [d1, d2, d3, d4, b'0', b'0', b'0', b'0', b'0', d5],
        _ => [d1, d2, d3, d4, d5, b'0', b'0', b'0', b'0', d6],
    };
    let mut upca = String::with_capacity(12);
    upca.push(char::from(ns));
    upca.extend(middle.iter().map(|&c| char::from(c)));
    if check_digit(&upca) != Some(check.wrapping_sub(b'0')) {
        return Err(ScanError::new("the UPC-E code has a wrong check digit"));
    }
    upca.push(char::from(check));
    Ok(upca)
}

/// Parse an 8-digit UPC-E into a [`GtinInfo`] (kind `UpcE`, GTIN = the UPC-A padded to 14).
pub fn parse_upce(s: &str) -> Result<GtinInfo, ScanError> {
    let upca = expand_upce(s)?;
    let gtin = format!("{upca:0>14}");
    let flags = prefix_flags(&gtin);
    Ok(GtinInfo {
        gtin,
        kind: GtinKind::UpcE,
        flags,
    })
}

/// Prefix flags of a 14-digit GTIN. Inputs of another shape get no flags.
pub fn prefix_flags(gtin14: &str) -> PrefixFlags {
    let mut f = PrefixFlags::default();
    if gtin14.len() != 14 || !all_digits(gtin14) {
        return f;
    }
    // Six leading zeros: a GTIN-8 in a 14-digit field (GTIN-12/13 never start that way).
    if let Some(gtin8) = gtin14.strip_prefix("000000") {
        f.restricted_circulation = gtin8.starts_with('0') || gtin8.starts_with('2');
        return f;
    }
    // Indicator digit 0: a GTIN-12/13, whose GS1 prefix says what it is.
    if let Some(gtin13) = gtin14.strip_prefix('0') {
        f.isbn = gtin13.starts_with("978") || gtin13.starts_with("979");
        f.issn = gtin13.starts_with("977");
        f.restricted_circulation =
            gtin13.starts_with("02") || gtin13.starts_with("04") || gtin13.starts_with('2');
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<(&str, GtinKind), &str>) {
        let got = if input.len() == 8 && expected.map(|e| e.1) == Ok(GtinKind::UpcE) {
            parse_upce(input)
        } else {
            parse_gtin(input)
        };
        match (got, expected) {
            (Ok(info), Ok((gtin, kind))) => {
                assert_eq!(info.gtin, gtin, "{input}");
                assert_eq!(info.kind, kind, "{input}");
            }
            (Err(e), Err(part)) => assert!(e.reason().contains(part), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn gtin_vectors() {
        check("09501101530003", Ok(("09501101530003", GtinKind::Gtin14)));
        check("9501101530003", Ok(("09501101530003", GtinKind::Gtin13)));
        check("012345000065", Ok(("00012345000065", GtinKind::Gtin12)));
        check("12345670", Ok(("00000012345670", GtinKind::Gtin8)));
        check("9783161484100", Ok(("09783161484100", GtinKind::Gtin13)));
        check("9501101530004", Err("wrong check digit"));
        check("95011015300", Err("8, 12, 13 or 14"));
        check("95011015300a3", Err("only contain digits"));
        check("", Err("8, 12, 13 or 14"));
    }

    #[test]
    fn upce_vectors() {
        assert_eq!(expand_upce("04252614").as_deref(), Ok("042100005264"));
        assert_eq!(expand_upce("01234565").as_deref(), Ok("012345000065"));
        // d6 = 3 and 4 rules
        let e3 = expand_upce("0123453").map(|_| ());
        assert!(e3.is_err(), "7 digits is not UPC-E");
        check("04252614", Ok(("00042100005264", GtinKind::UpcE)));
        let upce_err = |s: &str| expand_upce(s).unwrap_err().reason().to_string();
        assert!(upce_err("04252615").contains("wrong check digit"));
        assert!(upce_err("24252614").contains("number system 0 or 1"));
        assert!(upce_err("0425261").contains("8 digits"));
        assert!(upce_err("0425261x").contains("only contain digits"));
        // One vector per zero-suppression rule (sixth data digit 0/1, 3, 4, 5–9).
        for (upce, upca) in [
            ("01234505", "012000003455"),
            ("01234514", "012100003454"),
            ("01234531", "012300000451"),
            ("01234543", "012340000053"),
            ("01234558", "012345000058"),
            ("01234596", "012345000096"),
        ] {
            assert_eq!(expand_upce(upce).as_deref(), Ok(upca), "{upce}");
        }
    }

    #[test]
    fn check_digit_vectors() {
        assert_eq!(check_digit("0950110153000"), Some(3));
        assert_eq!(check_digit("10614141234567890"), Some(8)); // SSCC body
        assert_eq!(check_digit("061414100001"), Some(2)); // GLN
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("12a"), None);
        assert!(has_valid_check_digit("106141412345678908"));
        assert!(!has_valid_check_digit("1"));
    }

    #[test]
    fn prefix_flag_vectors() {
        let f = |s: &str| parse_gtin(s).unwrap().flags;
        assert!(f("9783161484100").isbn);
        assert!(f("9771234567003").issn);
        assert!(!f("9771234567003").isbn);
        assert!(f("2012345678903").restricted_circulation);
        assert!(f("0412345678903").restricted_circulation);
        assert!(f("212345678909").restricted_circulation); // UPC-A number system 2
        assert!(!f("9501101530003").restricted_circulation);
        assert!(f("20123451").restricted_circulation); // RCN-8
        assert!(!f("12345670").restricted_circulation);
        assert!(!f("19501101530000").restricted_circulation); // GTIN-14, indicator 1
    }
}
