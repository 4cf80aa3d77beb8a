//! The Fingertips recent-trend test (methods reference §7): over the last
//! five points, a chi-square test for linear trend with 1 degree of freedom,
//! significant at p < 0.002, and only when the slope keeps its sign after
//! dropping each point in turn.

use crate::Polarity;
use crate::funnel::FunnelKind;
use crate::gamma::chi_square_quantile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecentTrend {
    Increasing,
    Decreasing,
    NoSignificantChange,
    CannotBeCalculated,
}

const POINTS: usize = 5;

/// Score statistic and its variance for a linear trend over the points at
/// the time positions `times` (1..5 for the full window; a point dropped keeps
/// the others at their real positions): Cochran–Armitage for proportions,
/// the Poisson score test for rates.
fn score(points: &[(f64, f64)], times: &[f64], kind: FunnelKind) -> Option<(f64, f64)> {
    let total_o: f64 = points.iter().map(|p| p.0).sum();
    let total_n: f64 = points.iter().map(|p| p.1).sum();
    if total_n <= 0.0 {
        return None;
    }
    let pooled = total_o / total_n;
    let stat: f64 = points
        .iter()
        .zip(times)
        .map(|((o, n), t)| t * (o - n * pooled))
        .sum();
    let snt: f64 = points.iter().zip(times).map(|((_, n), t)| n * t).sum();
    let snt2: f64 = points.iter().zip(times).map(|((_, n), t)| n * t * t).sum();
    let spread = snt2 - snt * snt / total_n;
    let var = match kind {
        FunnelKind::Proportion => pooled * (1.0 - pooled) * spread,
        FunnelKind::Ratio => pooled * spread,
    };
    (var > 0.0).then_some((stat, var))
}

/// The recent trend of a series of (numerator, denominator) points in time
/// order; only the last five are used.
pub fn recent_trend(series: &[(f64, f64)], kind: FunnelKind) -> RecentTrend {
    if series.len() < POINTS {
        return RecentTrend::CannotBeCalculated;
    }
    let last = &series[series.len() - POINTS..];
    if last
        .iter()
        .any(|(o, n)| !(o.is_finite() && n.is_finite() && *o >= 0.0 && *n > 0.0))
    {
        return RecentTrend::CannotBeCalculated;
    }
    let times: Vec<f64> = (1..=POINTS).map(|t| t as f64).collect();
    let Some((stat, var)) = score(last, &times, kind) else {
        return RecentTrend::CannotBeCalculated;
    };
    // χ²(0.998, 1) = 9.5495…: computed once, not per practice-period.
    static CRITICAL: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let critical = *CRITICAL.get_or_init(|| chi_square_quantile(0.998, 1.0).unwrap_or(9.549_535));
    if stat * stat / var <= critical {
        return RecentTrend::NoSignificantChange;
    }
    let robust = (0..POINTS).all(|drop| {
        // The remaining points keep their real time positions (1, 2, 4, 5
        // when the third is dropped): renumbering them 1..4 would test a
        // different slope.
        let (rest, rest_times): (Vec<(f64, f64)>, Vec<f64>) = last
            .iter()
            .zip(&times)
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, (p, t))| (*p, *t))
            .unzip();
        // A zero slope does not keep the sign (and 0.0.signum() is 1.0 in Rust).
        score(&rest, &rest_times, kind)
            .is_some_and(|(s, _)| s != 0.0 && s.signum() == stat.signum())
    });
    match (robust, stat > 0.0) {
        (false, _) => RecentTrend::NoSignificantChange,
        (true, true) => RecentTrend::Increasing,
        (true, false) => RecentTrend::Decreasing,
    }
}

/// A recent trend as a report states it: the direction and, where the
/// indicator has a better direction, whether it is getting better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrendLabel {
    CannotBeCalculated,
    NoSignificantChange,
    IncreasingGettingBetter,
    IncreasingGettingWorse,
    /// Increasing, on an indicator with no better direction.
    Increasing,
    DecreasingGettingBetter,
    DecreasingGettingWorse,
    /// Decreasing, on an indicator with no better direction.
    Decreasing,
}

impl TrendLabel {
    /// The label in the results table (`trend` column).
    pub fn as_str(self) -> &'static str {
        match self {
            TrendLabel::CannotBeCalculated => "cannot_be_calculated",
            TrendLabel::NoSignificantChange => "no_significant_change",
            TrendLabel::IncreasingGettingBetter => "increasing_getting_better",
            TrendLabel::IncreasingGettingWorse => "increasing_getting_worse",
            TrendLabel::Increasing => "increasing",
            TrendLabel::DecreasingGettingBetter => "decreasing_getting_better",
            TrendLabel::DecreasingGettingWorse => "decreasing_getting_worse",
            TrendLabel::Decreasing => "decreasing",
        }
    }
}

/// The label a report prints: direction and, where it means something, better or worse.
pub fn trend_label(trend: RecentTrend, polarity: Polarity) -> TrendLabel {
    match (trend, polarity) {
        (RecentTrend::CannotBeCalculated, _) => TrendLabel::CannotBeCalculated,
        (RecentTrend::NoSignificantChange, _) => TrendLabel::NoSignificantChange,
        (RecentTrend::Increasing, Polarity::HighIsGood) => TrendLabel::IncreasingGettingBetter,
        (RecentTrend::Increasing, Polarity::LowIsGood) => TrendLabel::IncreasingGettingWorse,
        (RecentTrend::Increasing, Polarity::NoJudgement) => TrendLabel::Increasing,
        (RecentTrend::Decreasing, Polarity::HighIsGood) => TrendLabel::DecreasingGettingWorse,
        (RecentTrend::Decreasing, Polarity::LowIsGood) => TrendLabel::DecreasingGettingBetter,
        (RecentTrend::Decreasing, Polarity::NoJudgement) => TrendLabel::Decreasing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_value_is_the_published_one() {
        // Fingertips: χ² > 9.5495 (p < 0.002, 1 d.f.)
        assert!((chi_square_quantile(0.998, 1.0).unwrap() - 9.549535).abs() < 1e-5);
    }

    // Chi-square for linear trend recomputed independently in the oracle
    // (tests/oracle/check_results.py); here the decisions on clear cases.
    #[test]
    fn clear_trends_and_no_change() {
        let rising: Vec<(f64, f64)> = [100.0, 130.0, 160.0, 190.0, 220.0]
            .iter()
            .map(|o| (*o, 1000.0))
            .collect();
        assert_eq!(
            recent_trend(&rising, FunnelKind::Proportion),
            RecentTrend::Increasing
        );
        assert_eq!(
            recent_trend(&rising, FunnelKind::Ratio),
            RecentTrend::Increasing
        );
        let falling: Vec<(f64, f64)> = rising.iter().rev().copied().collect();
        assert_eq!(
            recent_trend(&falling, FunnelKind::Proportion),
            RecentTrend::Decreasing
        );
        let flat: Vec<(f64, f64)> = [100.0, 104.0, 98.0, 101.0, 99.0]
            .iter()
            .map(|o| (*o, 1000.0))
            .collect();
        assert_eq!(
            recent_trend(&flat, FunnelKind::Proportion),
            RecentTrend::NoSignificantChange
        );
        assert_eq!(
            recent_trend(&flat[..4], FunnelKind::Proportion),
            RecentTrend::CannotBeCalculated
        );
        let zeros: Vec<(f64, f64)> = (0..5).map(|_| (0.0, 100.0)).collect();
        assert_eq!(
            recent_trend(&zeros, FunnelKind::Proportion),
            RecentTrend::CannotBeCalculated
        );
    }

    #[test]
    fn dropped_point_leaves_the_others_at_their_real_times() {
        // Hand-worked, rates over 1,000 each: 100, 110, 120, 240, 100.
        // O = 670, p̄ = 0.134, T = Σ (t − 3)·O = −200 − 110 + 240 + 200 = 130,
        // Σnt² − (Σnt)²/N = 55,000 − 45,000 = 10,000, var = 1,340,
        // χ² = 130²/1,340 = 12.61 > 9.5495: significant and increasing.
        let o = [100.0, 110.0, 120.0, 240.0, 100.0];
        let series: Vec<(f64, f64)> = o.iter().map(|o| (*o, 1000.0)).collect();
        let (t, var) = score(&series, &[1.0, 2.0, 3.0, 4.0, 5.0], FunnelKind::Ratio).unwrap();
        assert!((t - 130.0).abs() < 1e-9 && (var - 1340.0).abs() < 1e-9);
        // Without the fourth point the others sit at times 1, 2, 3, 5 (mean
        // 2.75): T = −1.75·100 − 0.75·110 + 0.25·120 + 2.25·100 = −2.5, the
        // slope turns, so the trend does not survive dropping a point.
        let rest = [series[0], series[1], series[2], series[4]];
        let (t_real, _) = score(&rest, &[1.0, 2.0, 3.0, 5.0], FunnelKind::Ratio).unwrap();
        assert!((t_real - -2.5).abs() < 1e-9, "{t_real}");
        // Renumbered 1..4 (mean 2.5) it would read −150 − 55 + 60 + 150 = +5,
        // and the series was called "increasing".
        let (t_renumbered, _) = score(&rest, &[1.0, 2.0, 3.0, 4.0], FunnelKind::Ratio).unwrap();
        assert!((t_renumbered - 5.0).abs() < 1e-9, "{t_renumbered}");
        assert_eq!(
            recent_trend(&series, FunnelKind::Ratio),
            RecentTrend::NoSignificantChange
        );
    }

    #[test]
    fn a_single_jump_is_not_a_trend() {
        // Significant overall, but the slope's sign rests on one point.
        let jump: Vec<(f64, f64)> = [100.0, 100.0, 100.0, 100.0, 200.0]
            .iter()
            .map(|o| (*o, 1000.0))
            .collect();
        let t = recent_trend(&jump, FunnelKind::Proportion);
        assert_eq!(t, RecentTrend::NoSignificantChange);
        assert_eq!(
            trend_label(RecentTrend::Increasing, Polarity::LowIsGood).as_str(),
            "increasing_getting_worse"
        );
    }
}
