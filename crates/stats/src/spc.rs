//! Statistical process control: XmR charts with the NHS "Making Data Count"
//! special-cause rules (methods reference §6).

use crate::{Polarity, Result, StatsError};

/// The special-cause rules, in priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpcRule {
    /// A point outside the process limits.
    OutsideLimits,
    /// A run of points all increasing or all decreasing.
    Trend,
    /// Two out of three consecutive points beyond 2σ on one side, all three
    /// on that side of the mean.
    TwoOfThree,
    /// A run of points on one side of the mean.
    Shift,
}

impl SpcRule {
    pub fn as_str(self) -> &'static str {
        match self {
            SpcRule::OutsideLimits => "outside_limits",
            SpcRule::Trend => "trend",
            SpcRule::TwoOfThree => "two_of_three",
            SpcRule::Shift => "shift",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variation {
    Improvement,
    Concern,
    /// Special cause on an indicator with no better direction.
    Neutral,
    CommonCause,
}

impl Variation {
    pub fn as_str(self) -> &'static str {
        match self {
            Variation::Improvement => "improvement",
            Variation::Concern => "concern",
            Variation::Neutral => "neutral",
            Variation::CommonCause => "common_cause",
        }
    }
}

/// The defaults are NHSRplotthedots' (`ptd_spc`, `ptd_spc_standard`,
/// `ptd_calculate_point_type`; docs/methods.md names each rule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpcOptions {
    /// Points used for the centre line and limits (None: all points;
    /// NHSRplotthedots' `fix_after_n_points`).
    pub baseline: Option<usize>,
    /// Whether points beyond the process limits count towards two-of-three.
    /// NHSRplotthedots (`close_to_limits` in `ptd_spc_standard`): no, only
    /// points between 2σ and 3σ; the Making Data Count single-chart tool since
    /// November 2023: yes.
    pub two_of_three_includes_beyond_limits: bool,
    /// Leave out moving ranges of 3.267·MR̄ or more and recompute MR̄
    /// (NHSRplotthedots' `screen_outliers`, on by default there).
    pub screen_moving_ranges: bool,
    /// Points in a trend or shift run.
    pub run_length: usize,
}

impl Default for SpcOptions {
    fn default() -> Self {
        SpcOptions {
            baseline: None,
            two_of_three_includes_beyond_limits: false,
            screen_moving_ranges: true,
            run_length: 7,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpcPoint {
    pub signal: Option<SpcRule>,
    /// Direction of the special cause: true when upwards.
    pub upwards: Option<bool>,
    pub variation: Variation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpcChart {
    pub centre: f64,
    pub lower: f64,
    pub upper: f64,
    pub lower_2sigma: f64,
    pub upper_2sigma: f64,
    /// Fewer than 12 points: the limits are trial limits and must say so.
    pub trial: bool,
    pub points: Vec<SpcPoint>,
}

/// An XmR chart over a practice's own series, in time order.
///
/// One function on purpose: the limits, then each rule in NHSRplotthedots'
/// order over the same points, read top to bottom as the reference's
/// `ptd_spc_standard` and `ptd_calculate_point_type` read.
pub fn xmr(values: &[f64], polarity: Polarity, options: &SpcOptions) -> Result<SpcChart> {
    if values.len() < 2 {
        return Err(StatsError::Empty);
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite { what: "SPC value" });
    }
    let base = &values[..options
        .baseline
        .unwrap_or(values.len())
        .clamp(2, values.len())];
    let centre = base.iter().sum::<f64>() / base.len() as f64;
    let ranges: Vec<f64> = base.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let mut mr = ranges.iter().sum::<f64>() / ranges.len() as f64;
    if options.screen_moving_ranges {
        // As NHSRplotthedots: a range is kept when strictly below 3.267·MR̄
        // (the upper range limit), and MR̄ is recomputed once.
        let kept: Vec<f64> = ranges.iter().copied().filter(|r| *r < 3.267 * mr).collect();
        if !kept.is_empty() {
            mr = kept.iter().sum::<f64>() / kept.len() as f64;
        }
    }
    let (upper, lower) = (centre + 2.66 * mr, centre - 2.66 * mr);
    let (upper_2sigma, lower_2sigma) = (
        centre + 2.0 / 3.0 * 2.66 * mr,
        centre - 2.0 / 3.0 * 2.66 * mr,
    );

    let n = values.len();
    let mut marks: Vec<Option<(SpcRule, bool)>> = vec![None; n];
    let mut mark = |i: usize, rule: SpcRule, up: bool| {
        if marks[i].is_none_or(|(r, _)| rule < r) {
            marks[i] = Some((rule, up));
        }
    };
    // Rule 1: outside the process limits.
    for (i, v) in values.iter().enumerate() {
        if *v > upper {
            mark(i, SpcRule::OutsideLimits, true);
        } else if *v < lower {
            mark(i, SpcRule::OutsideLimits, false);
        }
    }
    // Rule 2: a run of `run_length` points all increasing or all decreasing.
    let run = options.run_length.max(2);
    for up in [true, false] {
        let mut start = 0;
        for i in 1..=n {
            let continues = i < n
                && if up {
                    values[i] > values[i - 1]
                } else {
                    values[i] < values[i - 1]
                };
            if !continues {
                if i - start >= run {
                    (start..i).for_each(|j| mark(j, SpcRule::Trend, up));
                }
                start = i;
            }
        }
    }
    // Rule 3: two of three consecutive points beyond 2σ on one side, with all
    // three points of the window on that side of the mean (a point on the
    // mean is on neither side), as NHSRplotthedots' `ptd_two_in_three`. Only
    // the points beyond 2σ are marked (`ptd_part_of_two_in_three`).
    let same_side = |v: f64, up: bool| if up { v > centre } else { v < centre };
    let beyond = |v: f64, up: bool| {
        let past_2s = if up {
            v > upper_2sigma
        } else {
            v < lower_2sigma
        };
        let past_3s = if up { v > upper } else { v < lower };
        past_2s && (options.two_of_three_includes_beyond_limits || !past_3s)
    };
    for w in 0..n.saturating_sub(2) {
        for up in [true, false] {
            if !(w..w + 3).all(|i| same_side(values[i], up)) {
                continue;
            }
            let hits: Vec<usize> = (w..w + 3).filter(|&i| beyond(values[i], up)).collect();
            if hits.len() >= 2 {
                hits.into_iter()
                    .for_each(|i| mark(i, SpcRule::TwoOfThree, up));
            }
        }
    }
    // Rule 4: a run of `run_length` points on one side of the mean; a point on
    // the mean breaks the run.
    for up in [true, false] {
        let mut start = 0;
        for i in 0..=n {
            // Past the end counts as off side, closing the last run.
            let on_side = values
                .get(i)
                .is_some_and(|v| if up { *v > centre } else { *v < centre });
            if !on_side {
                if i - start >= run {
                    (start..i).for_each(|j| mark(j, SpcRule::Shift, up));
                }
                start = i + 1;
            }
        }
    }
    let points = marks
        .into_iter()
        .map(|m| match m {
            None => SpcPoint {
                signal: None,
                upwards: None,
                variation: Variation::CommonCause,
            },
            Some((rule, up)) => SpcPoint {
                signal: Some(rule),
                upwards: Some(up),
                variation: match (polarity, up) {
                    (Polarity::NoJudgement, _) => Variation::Neutral,
                    (Polarity::HighIsGood, true) | (Polarity::LowIsGood, false) => {
                        Variation::Improvement
                    }
                    _ => Variation::Concern,
                },
            },
        })
        .collect();
    Ok(SpcChart {
        centre,
        lower,
        upper,
        lower_2sigma,
        upper_2sigma,
        trial: n < 12,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(values: &[f64], opts: &SpcOptions) -> Vec<Option<&'static str>> {
        xmr(values, Polarity::HighIsGood, opts)
            .unwrap()
            .points
            .iter()
            .map(|p| p.signal.map(SpcRule::as_str))
            .collect()
    }

    #[test]
    fn limits_follow_the_xmr_constants() {
        let v = [10.0, 12.0, 11.0, 13.0, 12.0, 11.0];
        let c = xmr(&v, Polarity::HighIsGood, &SpcOptions::default()).unwrap();
        let mr = (2.0 + 1.0 + 2.0 + 1.0 + 1.0) / 5.0;
        assert!((c.centre - 69.0 / 6.0).abs() < 1e-12);
        assert!((c.upper - (69.0 / 6.0 + 2.66 * mr)).abs() < 1e-12);
        assert!((c.lower_2sigma - (69.0 / 6.0 - 2.0 / 3.0 * 2.66 * mr)).abs() < 1e-12);
        assert!(c.trial, "fewer than 12 points are trial limits");
        assert!(
            c.points
                .iter()
                .all(|p| p.variation == Variation::CommonCause)
        );
    }

    #[test]
    fn each_rule_fires_and_priority_holds() {
        // Limits from the first 12 (quiet) points, as when a baseline is fixed;
        // with all points the spike itself would drag the mean up and make
        // the quiet points a run below it.
        let opts = SpcOptions {
            baseline: Some(12),
            ..SpcOptions::default()
        };
        // A single spike beyond the limits.
        let mut v = vec![
            10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 30.0, 10.0,
        ];
        let s = signals(&v, &opts);
        assert_eq!(s[12], Some("outside_limits"));
        assert_eq!(s.iter().filter(|x| x.is_some()).count(), 1);
        // Seven rising points: a trend (and not a shift, which ranks lower).
        v = vec![
            10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7, 10.8, 10.1,
        ];
        let s = signals(&v, &opts);
        assert!(s[6..13].iter().all(|x| *x == Some("trend")), "{s:?}");
        // Seven points above the mean: a shift.
        v = vec![
            9.0, 8.5, 9.2, 8.8, 9.1, 8.9, 9.0, 10.1, 10.3, 10.0, 10.2, 10.1, 10.4, 10.2, 9.0, 8.8,
        ];
        let s = signals(&v, &opts);
        assert!(s[7..14].iter().all(|x| x.is_some()), "{s:?}");
        assert!(s[7..14].contains(&Some("shift")), "{s:?}");
    }

    /// Centre 10 and MR̄ 1 from 20 alternating points (9.5, 10.5, …): process
    /// limits 10 ± 2.66 = 7.34 and 12.66, 2σ band at 10 ± 1.7733….
    fn quiet_baseline() -> (Vec<f64>, SpcOptions) {
        let v: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 9.5 } else { 10.5 })
            .collect();
        let opts = SpcOptions {
            baseline: Some(20),
            ..SpcOptions::default()
        };
        (v, opts)
    }

    #[test]
    fn two_of_three_counts_beyond_3_sigma_only_as_an_option() {
        // 12.0 is between 2σ (11.77) and 3σ (12.66); 13.5 is beyond 3σ; the
        // window 10.5, 12.0, 13.5 is all above the mean.
        let (mut v, baseline) = quiet_baseline();
        v.extend([12.0, 13.5, 10.0]);
        let default = signals(&v, &baseline);
        assert_eq!(
            default[20], None,
            "NHSRplotthedots counts only points between 2σ and 3σ (close_to_limits)"
        );
        assert_eq!(default[21], Some("outside_limits"));
        let mdc_2023 = signals(
            &v,
            &SpcOptions {
                two_of_three_includes_beyond_limits: true,
                ..baseline
            },
        );
        assert_eq!(
            mdc_2023[20],
            Some("two_of_three"),
            "the November 2023 Making Data Count tool counts the point beyond 3σ too"
        );
        assert_eq!(mdc_2023[21], Some("outside_limits"));
    }

    #[test]
    fn two_of_three_needs_all_three_points_on_one_side() {
        // Hand-worked, as NHSRplotthedots' test of ptd_two_in_three(c(1, 0, 1),
        // c(1, -1, 1)): 12.0 and 12.2 are beyond 2σ (11.77) and inside 3σ
        // (12.66), but 9.0 between them is below the mean, so no window of
        // three is all above it: common cause. The looser rule (two beyond 2σ,
        // wherever the third is) flagged 12.0 and 12.2.
        let (mut v, opts) = quiet_baseline();
        v.extend([12.0, 9.0, 12.2, 9.5]);
        assert_eq!(signals(&v, &opts)[20..], [None, None, None, None]);
        // The same two points with the middle one above the mean (10.5): the
        // window 12.0, 10.5, 12.2 qualifies and only the two beyond 2σ are marked.
        let (mut v, opts) = quiet_baseline();
        v.extend([12.0, 10.5, 12.2, 9.5]);
        assert_eq!(
            signals(&v, &opts)[20..],
            [Some("two_of_three"), None, Some("two_of_three"), None]
        );
        // A point exactly on the mean is on neither side: 10.0 breaks the window.
        let (mut v, opts) = quiet_baseline();
        v.extend([12.0, 10.0, 12.2, 9.5]);
        assert_eq!(signals(&v, &opts)[20..], [None, None, None, None]);
        // Below the mean, mirrored.
        let (mut v, opts) = quiet_baseline();
        v.extend([8.0, 9.9, 7.9, 10.5]);
        let c = xmr(&v, Polarity::HighIsGood, &opts).unwrap();
        assert_eq!(c.points[20].signal, Some(SpcRule::TwoOfThree));
        assert_eq!(c.points[20].variation, Variation::Concern);
        assert_eq!(c.points[21].signal, None);
        assert_eq!(c.points[22].signal, Some(SpcRule::TwoOfThree));
    }

    #[test]
    fn moving_range_screening_matches_nhsrplotthedots() {
        // NHSRplotthedots' own snapshot (tests/testthat/_snaps/ptd_spc_standard.md):
        // set.seed(123); y <- rnorm(20), then y[15] <- 10.
        let mut y = vec![
            -0.56047565,
            -0.23017749,
            1.55870831,
            0.07050839,
            0.12928774,
            1.71506499,
            0.46091621,
            -1.26506123,
            -0.68685285,
            -0.44566197,
            1.22408180,
            0.35981383,
            0.40077145,
            0.11068272,
            -0.55584113,
            1.78691314,
            0.49785048,
            -1.96661716,
            0.70135590,
            -0.47279141,
        ];
        let screened = SpcOptions::default();
        let plain = SpcOptions {
            screen_moving_ranges: false,
            ..screened
        };
        let c = xmr(&y, Polarity::HighIsGood, &screened).unwrap();
        assert!((c.centre - 0.1416238).abs() < 1e-7);
        assert!((c.lower - -3.01138).abs() < 1e-5 && (c.upper - 3.294627).abs() < 1e-6);
        y[14] = 10.0;
        let c = xmr(&y, Polarity::HighIsGood, &screened).unwrap();
        assert!((c.centre - 0.6694159).abs() < 1e-7);
        assert!((c.lower - -2.383666).abs() < 1e-6 && (c.upper - 3.722497).abs() < 1e-6);
        let c = xmr(&y, Polarity::HighIsGood, &plain).unwrap();
        assert!((c.lower - -4.596625).abs() < 1e-6 && (c.upper - 5.935457).abs() < 1e-6);
        // Hand-worked: ten ranges of 1 and one of 10, MR̄ = 20/11; 10 is above
        // 3.267 × 20/11 = 5.94, so it is left out and MR̄ = 1.
        let v = [
            10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 20.0,
        ];
        let c = xmr(&v, Polarity::HighIsGood, &screened).unwrap();
        assert!((c.centre - 11.25).abs() < 1e-12);
        assert!((c.upper - (11.25 + 2.66)).abs() < 1e-12);
        let c = xmr(&v, Polarity::HighIsGood, &plain).unwrap();
        assert!((c.upper - (11.25 + 2.66 * 20.0 / 11.0)).abs() < 1e-12);
    }

    #[test]
    fn trend_and_shift_follow_nhsrplotthedots() {
        let (base, opts) = quiet_baseline();
        // Six rising points are not a trend; seven are (ptd_seven_point_trend).
        // A tie breaks a run: sign(diff) is 0. (The baseline ends at 10.5.)
        let mut v = base.clone();
        v.extend([9.3, 9.6, 9.9, 10.2, 10.4, 10.6, 9.5]);
        assert!(signals(&v, &opts)[20..].iter().all(|s| s.is_none()));
        let mut v = base.clone();
        v.extend([9.3, 9.6, 9.9, 10.2, 10.4, 10.6, 10.8]);
        assert!(signals(&v, &opts)[20..].iter().all(|s| *s == Some("trend")));
        let mut v = base.clone();
        v.extend([9.3, 9.6, 9.9, 9.9, 10.2, 10.4, 10.6, 10.8]);
        assert!(signals(&v, &opts)[20..].iter().all(|s| s.is_none()));
        // Seven points above the mean are a shift, six are not; a point on the
        // mean (10.0) breaks the run (ptd_seven_point_one_side_mean).
        let mut v = base.clone();
        v.extend([9.5, 10.2, 10.4, 10.1, 10.3, 10.2, 10.4, 9.0]);
        assert!(signals(&v, &opts)[20..].iter().all(|s| s.is_none()));
        let mut v = base.clone();
        v.extend([9.5, 10.2, 10.4, 10.1, 10.3, 10.2, 10.4, 10.1]);
        assert!(signals(&v, &opts)[21..].iter().all(|s| *s == Some("shift")));
        let mut v = base;
        v.extend([9.5, 10.2, 10.4, 10.1, 10.0, 10.3, 10.2, 10.4, 10.1]);
        assert!(signals(&v, &opts)[20..].iter().all(|s| s.is_none()));
    }

    #[test]
    fn variation_follows_polarity() {
        let mut v = vec![
            10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0,
        ];
        v.push(30.0);
        let opts = SpcOptions {
            baseline: Some(12),
            ..SpcOptions::default()
        };
        for (polarity, expected) in [
            (Polarity::HighIsGood, Variation::Improvement),
            (Polarity::LowIsGood, Variation::Concern),
            (Polarity::NoJudgement, Variation::Neutral),
        ] {
            let c = xmr(&v, polarity, &opts).unwrap();
            assert_eq!(c.points[12].variation, expected);
            assert!(!c.trial);
        }
        assert!(xmr(&[1.0], Polarity::HighIsGood, &SpcOptions::default()).is_err());
        assert!(
            xmr(
                &[1.0, f64::NAN],
                Polarity::HighIsGood,
                &SpcOptions::default()
            )
            .is_err()
        );
    }
}
