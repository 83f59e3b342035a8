//! The arithmetic of KPI.md, pure: nearest-rank percentiles, NPS, rates and
//! rounding half away from zero. No I/O, no clock, no floats where a whole
//! number is asked for (a rounding must not depend on binary fractions).

use super::report::{NpsScore, Percentiles};

/// `num / den` rounded half away from zero (`den` > 0).
pub fn div_round(num: i64, den: i64) -> i64 {
    debug_assert!(den > 0);
    let (n, d) = (i128::from(num).abs(), i128::from(den));
    let q = ((2 * n + d) / (2 * d)) as i64;
    if num < 0 {
        -q
    } else {
        q
    }
}

/// `num / den` as a fraction, `None` when nothing was counted below.
pub fn rate(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The nearest-rank `percent`-th percentile of `sorted` (ascending): the
/// ⌈percent·n/100⌉-th smallest value; `None` when there is none.
pub fn nearest_rank(sorted: &[i64], percent: u32) -> Option<i64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (u64::from(percent) * n).div_ceil(100).max(1);
    sorted.get((rank - 1) as usize).copied()
}

/// Median and 90th percentile of `values` (any order).
pub fn percentiles(mut values: Vec<i64>) -> Percentiles {
    values.sort_unstable();
    Percentiles {
        count: values.len() as u64,
        p50: nearest_rank(&values, 50),
        p90: nearest_rank(&values, 90),
    }
}

/// Fewer answers than this: no score ("not enough answers").
pub const NPS_MIN_ANSWERS: u64 = 10;

/// Answers counted by score (index 0..=10).
pub type ScoreCounts = [u64; 11];

/// Promoters 9–10, passives 7–8, detractors 0–6; the score is
/// round(100·(P − D)/N) half away from zero, from 10 answers on.
pub fn nps(counts: &ScoreCounts) -> NpsScore {
    let detractors: u64 = counts[..7].iter().sum();
    let passives: u64 = counts[7..9].iter().sum();
    let promoters: u64 = counts[9..].iter().sum();
    let answers = detractors + passives + promoters;
    let enough = answers >= NPS_MIN_ANSWERS;
    NpsScore {
        answers,
        promoters,
        passives,
        detractors,
        score: enough
            .then(|| div_round(100 * (promoters as i64 - detractors as i64), answers as i64)),
        enough_answers: enough,
    }
}

/// Whole seconds from `start_ms` to `end_ms` (integer division), never
/// negative (a clock set back between two steps counts as no time).
pub fn seconds_between(start_ms: i64, end_ms: i64) -> i64 {
    ((end_ms - start_ms) / 1000).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_takes_halves_away_from_zero() {
        for (num, den, want) in [
            (5, 2, 3),
            (-5, 2, -3),
            (7, 2, 4),
            (3, 2, 2),
            (1, 3, 0),
            (2, 3, 1),
            (-1, 3, 0),
            (-2, 3, -1),
            (10, 5, 2),
            (0, 7, 0),
            (1999, 2, 1000),
            (i64::MAX, 1, i64::MAX),
        ] {
            assert_eq!(div_round(num, den), want, "{num}/{den}");
        }
    }

    #[test]
    fn a_rate_without_a_denominator_is_none() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
        assert_eq!(rate(0, 3), Some(0.0));
    }

    #[test]
    fn nearest_rank_takes_the_ceiling_rank() {
        assert_eq!(nearest_rank(&[], 50), None);
        // n = 1: every percentile is the one value.
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        let ten: Vec<i64> = (1..=10).map(|v| v * 10).collect();
        // q·n whole: 0.5·10 = 5 → the 5th, 0.9·10 = 9 → the 9th.
        assert_eq!(nearest_rank(&ten, 50), Some(50));
        assert_eq!(nearest_rank(&ten, 90), Some(90));
        // 0.5·3 = 1.5 → 2nd; 0.9·3 = 2.7 → 3rd; 0.9·11 = 9.9 → 10th.
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3], 90), Some(3));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(nearest_rank(&eleven, 90), Some(10));
        assert_eq!(nearest_rank(&[4, 9], 50), Some(4));
        let p = percentiles(vec![30, 10, 20]);
        assert_eq!((p.count, p.p50, p.p90), (3, Some(20), Some(30)));
        let none = percentiles(vec![]);
        assert_eq!((none.count, none.p50, none.p90), (0, None, None));
    }

    fn counts(scores: &[usize]) -> ScoreCounts {
        let mut c = [0; 11];
        for &s in scores {
            c[s] += 1;
        }
        c
    }

    #[test]
    fn nps_needs_ten_answers_and_rounds_halves_away_from_zero() {
        let nine = nps(&counts(&[10; 9]));
        assert_eq!(
            (nine.answers, nine.score, nine.enough_answers),
            (9, None, false)
        );
        // Exactly 10: 5 promoters, 2 passives, 3 detractors → 20.
        let ten = nps(&counts(&[9, 10, 9, 10, 9, 7, 8, 0, 6, 3]));
        assert_eq!(
            (ten.promoters, ten.passives, ten.detractors, ten.score),
            (5, 2, 3, Some(20))
        );
        assert!(ten.enough_answers);
        // 100·(1 − 0)/8 is 12.5 but 8 < 10; with 16 answers: 100·(3−1)/16 = 12.5 → 13.
        let half = nps(&counts(&[9, 9, 10, 0, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8]));
        assert_eq!(half.score, Some(13));
        let neg = nps(&counts(&[9, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8]));
        assert_eq!(neg.score, Some(-13));
        let all_detractors = nps(&counts(&[0; 12]));
        assert_eq!(all_detractors.score, Some(-100));
    }

    #[test]
    fn seconds_between_truncates_and_never_goes_negative() {
        assert_eq!(seconds_between(1_000, 2_999), 1);
        assert_eq!(seconds_between(5_000, 1_000), 0);
        assert_eq!(seconds_between(0, 0), 0);
    }
}
