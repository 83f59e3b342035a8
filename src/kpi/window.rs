//! Windows of whole local days `[from, to)` and the calendar arithmetic
//! around them (jiff, zone data bundled). A local day is a calendar date in
//! `store.timezone`: on the days the clocks change it has 23 or 25 hours,
//! and nothing here assumes 24.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{KpiError, Window};

/// The longest window a report covers (a year and a bit).
pub const MAX_DAYS: i64 = 400;

/// How far back retention looks for a returning customer.
pub const RETENTION_LOOKBACK_DAYS: i64 = 90;

fn bad(what: impl Into<String>) -> KpiError {
    KpiError::Window(what.into())
}

/// A strict `YYYY-MM-DD` (nothing before or after, a real calendar date).
pub fn parse_date(name: &str, text: &str) -> Result<Date, KpiError> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(bad(format!(
            "`{name}` must be a date as YYYY-MM-DD, e.g. 2026-03-29 (got `{}`)",
            text.chars().take(40).collect::<String>()
        )));
    }
    text.parse::<Date>()
        .map_err(|e| bad(format!("`{name}` is not a calendar date ({text}): {e}")))
}

/// The day after `d`.
pub fn next_day(d: Date) -> Result<Date, KpiError> {
    d.tomorrow()
        .map_err(|e| bad(format!("no day after {d}: {e}")))
}

/// `d` moved by `days` calendar days (negative: back).
pub fn add_days(d: Date, days: i64) -> Result<Date, KpiError> {
    d.checked_add(jiff::Span::new().days(days))
        .map_err(|e| bad(format!("{d} moved by {days} days: {e}")))
}

/// Calendar days from `a` to `b` (`b` later: positive).
pub fn days_between(a: Date, b: Date) -> i64 {
    let epoch = |d: Date| -> i64 {
        // Days since 0000-03-01 by the usual civil-from-days inverse.
        let (y, m, day) = (
            i64::from(d.year()),
            i64::from(d.month()),
            i64::from(d.day()),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe
    };
    epoch(b) - epoch(a)
}

/// The local date of `now` in `tz`.
pub fn local_today(tz: &TimeZone, now: Timestamp) -> Date {
    now.to_zoned_datetime(tz.clone()).date()
}

/// When the local day `d` begins in `tz`, in unix milliseconds (the first
/// instant of the date: where midnight is skipped, the instant the clocks
/// jump to).
pub fn day_start_ms(tz: &TimeZone, d: Date) -> Result<i64, KpiError> {
    d.to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| bad(format!("{d} in the store's time zone: {e}")))
}

impl Window {
    /// See [`Window::parse`] in `mod.rs` (the entry point keeps its place
    /// there); this is its body.
    pub(super) fn parse_impl(
        from: Option<&str>,
        to: Option<&str>,
        today: Date,
    ) -> Result<Window, KpiError> {
        let (from, to) = match (from, to) {
            (None, None) => (today, next_day(today)?),
            (Some(f), Some(t)) => (parse_date("from", f)?, parse_date("to", t)?),
            (Some(_), None) | (None, Some(_)) => {
                return Err(bad(
                    "give both `from` and `to` (YYYY-MM-DD, `to` exclusive), or neither for today so far",
                ))
            }
        };
        if to <= from {
            return Err(bad(format!(
                "`to` ({to}) must be after `from` ({from}): the window is [from, to), `to` exclusive"
            )));
        }
        let days = days_between(from, to);
        if days > MAX_DAYS {
            return Err(bad(format!(
                "the window {from} to {to} has {days} days; at most {MAX_DAYS}"
            )));
        }
        Ok(Window { from, to })
    }

    /// Number of local days.
    pub fn len_days(&self) -> i64 {
        days_between(self.from, self.to)
    }

    /// Every local day of the window, in order.
    pub fn days(&self) -> Vec<Date> {
        let mut out = Vec::with_capacity(self.len_days().max(0) as usize);
        let mut d = self.from;
        while d < self.to {
            out.push(d);
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        out
    }

    /// The 90 days before the window, `[from − 90, from)`, for retention.
    pub fn lookback(&self) -> Result<Window, KpiError> {
        Ok(Window {
            from: add_days(self.from, -RETENTION_LOOKBACK_DAYS)?,
            to: self.from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn parse(f: Option<&str>, t: Option<&str>) -> Result<Window, String> {
        Window::parse(f, t, date(2026, 3, 29)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_window_is_whole_days_with_to_exclusive() {
        assert_eq!(
            parse(None, None).unwrap(),
            Window {
                from: date(2026, 3, 29),
                to: date(2026, 3, 30)
            },
            "both absent: today so far"
        );
        let w = parse(Some("2026-02-27"), Some("2026-03-02")).unwrap();
        assert_eq!(
            w.days(),
            [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
        );
        assert_eq!(w.len_days(), 3);
        assert_eq!(
            w.lookback().unwrap(),
            Window {
                from: date(2025, 11, 29),
                to: date(2026, 2, 27)
            }
        );
        assert_eq!(w.lookback().unwrap().len_days(), 90);
        let year = parse(Some("2024-01-01"), Some("2025-02-04")).unwrap();
        assert_eq!(year.len_days(), 400);
        assert_eq!(year.days().len(), 400);
    }

    #[test]
    fn bad_windows_are_refused_with_a_reason() {
        for (f, t, says) in [
            (Some("2026-03-01"), None, "give both"),
            (None, Some("2026-03-01"), "give both"),
            (Some("2026-3-1"), Some("2026-03-02"), "YYYY-MM-DD"),
            (Some("2026-03-01T00:00"), Some("2026-03-02"), "YYYY-MM-DD"),
            (
                Some("2026-02-30"),
                Some("2026-03-02"),
                "not a calendar date",
            ),
            (Some("2026-03-02"), Some("2026-03-02"), "must be after"),
            (Some("2026-03-03"), Some("2026-03-02"), "must be after"),
            (Some("2024-01-01"), Some("2025-02-05"), "at most 400"),
        ] {
            let e = parse(f, t).unwrap_err();
            assert!(e.contains(says), "{f:?} {t:?}: {e}");
        }
    }

    #[test]
    fn dst_days_in_berlin_have_23_and_25_hours() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let hours = |d: Date| {
            (day_start_ms(&tz, next_day(d).unwrap()).unwrap() - day_start_ms(&tz, d).unwrap())
                / 3_600_000
        };
        assert_eq!(hours(date(2026, 3, 29)), 23);
        assert_eq!(hours(date(2026, 10, 25)), 25);
        assert_eq!(hours(date(2026, 6, 1)), 24);
        // 23:30 UTC on the 28th of March is already the 29th in Berlin.
        let t: Timestamp = "2026-03-28T23:30:00Z".parse().unwrap();
        assert_eq!(local_today(&tz, t), date(2026, 3, 29));
    }

    #[test]
    fn days_between_counts_calendar_days() {
        assert_eq!(days_between(date(2024, 2, 28), date(2024, 3, 1)), 2);
        assert_eq!(days_between(date(2023, 2, 28), date(2023, 3, 1)), 1);
        assert_eq!(days_between(date(2025, 12, 31), date(2026, 1, 1)), 1);
        assert_eq!(days_between(date(2026, 1, 1), date(2025, 1, 1)), -365);
    }
}
