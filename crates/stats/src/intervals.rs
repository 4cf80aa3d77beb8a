//! Confidence intervals, PHE/OHID Fingertips conventions (methods reference §2).

use crate::distributions::poisson_lambda_for_cdf;
use crate::{Result, StatsError, check_count, z_for_level};

/// A two-sided confidence interval, in the same units as the value it brackets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

impl Interval {
    /// Multiplies both limits, e.g. to turn a proportion into a percentage.
    pub fn scaled(self, factor: f64) -> Interval {
        Interval {
            lower: self.lower * factor,
            upper: self.upper * factor,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }
}

/// Wilson score interval for a proportion O/n (methods reference §2.1),
/// returned as a proportion in [0, 1]. Sensible at O = 0 and O = n.
pub fn wilson_proportion(numerator: f64, denominator: f64, level: f64) -> Result<Interval> {
    check_count("numerator", numerator)?;
    check_count("denominator", denominator)?;
    if denominator == 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    if numerator > denominator {
        return Err(StatsError::NumeratorAboveDenominator {
            numerator,
            denominator,
        });
    }
    let z = z_for_level(level)?;
    let (o, n, z2) = (numerator, denominator, z * z);
    let root = z * (z2 + 4.0 * o * (1.0 - o / n)).sqrt();
    let denom = 2.0 * (n + z2);
    Ok(Interval {
        lower: ((2.0 * o + z2 - root) / denom).max(0.0),
        upper: ((2.0 * o + z2 + root) / denom).min(1.0),
    })
}

/// Limits for an observed count O (methods reference §2.2): Byar's
/// approximation for O ≥ 10, exact Poisson (via the chi-square identity) below.
pub fn byar_count_limits(observed: f64, level: f64) -> Result<Interval> {
    check_count("observed count", observed)?;
    let z = z_for_level(level)?;
    let alpha = 1.0 - level;
    if observed < 10.0 {
        // Counts are integers; a fractional count below 10 (e.g. a weighted
        // count) is rounded down for the exact method, as Fingertips does.
        let k = observed.floor() as u64;
        let lower = if k == 0 {
            0.0
        } else {
            // χ²(α/2; 2O)/2 is the λ where P(X ≤ O − 1; λ) = 1 − α/2.
            poisson_lambda_for_cdf(k - 1, 1.0 - alpha / 2.0)
        };
        // χ²(1 − α/2; 2O + 2)/2 is the λ where P(X ≤ O; λ) = α/2.
        let upper = poisson_lambda_for_cdf(k, alpha / 2.0);
        return Ok(Interval { lower, upper });
    }
    let o = observed;
    let lower = o * (1.0 - 1.0 / (9.0 * o) - z / (3.0 * o.sqrt())).powi(3);
    let o1 = o + 1.0;
    let upper = o1 * (1.0 - 1.0 / (9.0 * o1) + z / (3.0 * o1.sqrt())).powi(3);
    Ok(Interval { lower, upper })
}

/// Limits for a crude rate O/n × multiplier, from the count limits of O.
pub fn byar_rate(observed: f64, denominator: f64, multiplier: f64, level: f64) -> Result<Interval> {
    check_count("denominator", denominator)?;
    if denominator == 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    if !multiplier.is_finite() || multiplier <= 0.0 {
        return Err(StatsError::NotFinite { what: "multiplier" });
    }
    let count = byar_count_limits(observed, level)?;
    Ok(count.scaled(multiplier / denominator))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    // Reference: statsmodels.stats.proportion.proportion_confint(o, n,
    // alpha=0.05, method="wilson") — same formula, no continuity correction.
    #[test]
    fn wilson_matches_statsmodels() {
        let cases = [
            (81.0, 263.0, 0.95, 0.2552885198782742, 0.36620957698280004),
            (0.0, 50.0, 0.95, 0.0, 0.07134759913335874),
            (50.0, 50.0, 0.95, 0.9286524008666412, 1.0),
            (1.0, 1.0, 0.95, 0.2065493143772374, 1.0),
            (
                4500.0,
                9000.0,
                0.998,
                0.4837216795329507,
                0.5162783204670494,
            ),
        ];
        for (o, n, level, lo, hi) in cases {
            let ci = wilson_proportion(o, n, level).unwrap();
            assert!(
                close(ci.lower, lo, 1e-12),
                "{o}/{n}: lower {} vs {lo}",
                ci.lower
            );
            assert!(
                close(ci.upper, hi, 1e-12),
                "{o}/{n}: upper {} vs {hi}",
                ci.upper
            );
        }
    }

    // Newcombe (1998), "Two-sided confidence intervals for the single
    // proportion", Statistics in Medicine 17:857–872, example 81/263: the
    // score (Wilson) interval 0.2553 to 0.3662, published to 4 places.
    #[test]
    fn wilson_matches_newcombe_published_example() {
        let ci = wilson_proportion(81.0, 263.0, 0.95).unwrap();
        assert_eq!(
            ((ci.lower * 1e4).round(), (ci.upper * 1e4).round()),
            (2553.0, 3662.0)
        );
    }

    #[test]
    fn wilson_rejects_bad_input() {
        assert_eq!(
            wilson_proportion(5.0, 0.0, 0.95),
            Err(StatsError::ZeroDenominator)
        );
        assert!(matches!(
            wilson_proportion(6.0, 5.0, 0.95),
            Err(StatsError::NumeratorAboveDenominator { .. })
        ));
        assert!(matches!(
            wilson_proportion(-1.0, 5.0, 0.95),
            Err(StatsError::NegativeCount { .. })
        ));
        assert!(wilson_proportion(1.0, 5.0, 1.5).is_err());
    }

    // Exact limits: scipy.stats.chi2.ppf(0.025, 2*O)/2 and
    // scipy.stats.chi2.ppf(0.975, 2*O+2)/2.
    #[test]
    fn exact_poisson_below_ten_matches_scipy() {
        let cases = [
            (0.0, 0.0, 3.6888794541139354),
            (1.0, 0.025317807984289876, 5.571643390938898),
            (5.0, 1.6234863901184207, 11.66833207932267),
            (9.0, 4.115373097378334, 17.084803451419166),
        ];
        for (o, lo, hi) in cases {
            let ci = byar_count_limits(o, 0.95).unwrap();
            assert!(
                close(ci.lower, lo, 1e-9),
                "O={o}: lower {} vs {lo}",
                ci.lower
            );
            assert!(
                close(ci.upper, hi, 1e-9),
                "O={o}: upper {} vs {hi}",
                ci.upper
            );
        }
    }

    // Byar's formula, evaluated independently in Python with the exact z.
    #[test]
    fn byar_at_and_above_ten() {
        let cases = [
            (10.0, 4.787449913967563, 18.391458605756473),
            (100.0, 81.36210549052788, 121.6279375792065),
            (12345.0, 12128.180767458693, 12564.722341331742),
        ];
        for (o, lo, hi) in cases {
            let ci = byar_count_limits(o, 0.95).unwrap();
            assert!(
                close(ci.lower, lo, 1e-10),
                "O={o}: lower {} vs {lo}",
                ci.lower
            );
            assert!(
                close(ci.upper, hi, 1e-10),
                "O={o}: upper {} vs {hi}",
                ci.upper
            );
        }
    }

    #[test]
    fn rate_scales_count_limits() {
        let count = byar_count_limits(100.0, 0.95).unwrap();
        let rate = byar_rate(100.0, 2000.0, 1000.0, 0.95).unwrap();
        assert!(close(rate.lower, count.lower / 2.0, 1e-12));
        assert!(close(rate.upper, count.upper / 2.0, 1e-12));
        assert_eq!(
            byar_rate(1.0, 0.0, 1000.0, 0.95),
            Err(StatsError::ZeroDenominator)
        );
    }
}
