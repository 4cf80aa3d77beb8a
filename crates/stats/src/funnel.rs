//! Funnel plots (methods reference §4): control limits around the pooled
//! peer value, exact, and adjusted for overdispersion by Spiegelhalter's
//! additive random-effects method (2005), as FunnelPlotR computes it.

use crate::gamma::chi_square_quantile;
use crate::{Result, StatsError, check_count, quantile_type7, z_for_level};

/// Which transform and limits an indicator's funnel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunnelKind {
    /// O out of n: arcsine square-root scale.
    Proportion,
    /// O events over a denominator (rates and ratios): log scale against the
    /// expected count E = p̄·n.
    Ratio,
}

/// One unit on the funnel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FunnelUnit {
    pub numerator: f64,
    pub denominator: f64,
}

/// The overdispersion estimate for a set of units, to be reported with the funnel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overdispersion {
    /// Target as a proportion or rate per unit of denominator (p̄ = ΣO/Σn).
    pub target: f64,
    /// The dispersion ratio φ of the winsorised z-scores.
    pub phi: f64,
    /// The between-unit variance τ² on the transformed scale (0 when φ is small).
    pub tau2: f64,
    pub units: usize,
}

/// Where a unit falls against the funnel's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunnelFlag {
    High998,
    High95,
    Within,
    Low95,
    Low998,
}

impl FunnelFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            FunnelFlag::High998 => "high_998",
            FunnelFlag::High95 => "high_95",
            FunnelFlag::Within => "within",
            FunnelFlag::Low95 => "low_95",
            FunnelFlag::Low998 => "low_998",
        }
    }

    /// Outside the 99.8% limits: the "unwarranted variation" boards list first.
    pub fn is_outlier(self) -> bool {
        matches!(self, FunnelFlag::High998 | FunnelFlag::Low998)
    }
}

/// The pooled target ΣO/Σn of the units (as a proportion or per-unit rate).
pub fn pooled_target(units: &[FunnelUnit]) -> Result<f64> {
    let (mut o, mut n) = (0.0, 0.0);
    for u in units {
        check_count("numerator", u.numerator)?;
        check_count("denominator", u.denominator)?;
        o += u.numerator;
        n += u.denominator;
    }
    if n == 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    Ok(o / n)
}

/// z-score and standard error of one unit on the transformed scale.
fn transformed(u: FunnelUnit, target: f64, kind: FunnelKind) -> Option<(f64, f64)> {
    if u.denominator <= 0.0 {
        return None;
    }
    match kind {
        FunnelKind::Proportion => {
            let p = (u.numerator / u.denominator).clamp(0.0, 1.0);
            let s = 1.0 / (2.0 * u.denominator.sqrt());
            Some(((p.sqrt().asin() - target.sqrt().asin()) / s, s))
        }
        FunnelKind::Ratio => {
            let expected = target * u.denominator;
            if expected <= 0.0 {
                return None;
            }
            // log(0) is undefined: a zero count is taken as 0.5 for its
            // z-score only (winsorising then bounds its influence).
            let o = if u.numerator > 0.0 { u.numerator } else { 0.5 };
            let s = 1.0 / expected.sqrt();
            Some(((o / expected).ln() / s, s))
        }
    }
}

/// Spiegelhalter's overdispersion estimate (methods reference §4.2, steps 1–5):
/// z-scores winsorised at their 10th and 90th percentiles (type 7),
/// φ = mean of squared winsorised z, and τ² by the DerSimonian–Laird form.
pub fn overdispersion(units: &[FunnelUnit], kind: FunnelKind) -> Result<Overdispersion> {
    let target = pooled_target(units)?;
    if kind == FunnelKind::Proportion && units.iter().any(|u| u.numerator > u.denominator) {
        return Err(StatsError::NumeratorAboveDenominator {
            numerator: units.iter().map(|u| u.numerator).fold(0.0, f64::max),
            denominator: units.iter().map(|u| u.denominator).fold(0.0, f64::max),
        });
    }
    let zs: Vec<(f64, f64)> = units
        .iter()
        .filter_map(|u| transformed(*u, target, kind))
        .collect();
    let k = zs.len();
    if k == 0 {
        return Err(StatsError::Empty);
    }
    let raw: Vec<f64> = zs.iter().map(|(z, _)| *z).collect();
    let lo = quantile_type7(&raw, 0.1)?;
    let hi = quantile_type7(&raw, 0.9)?;
    let phi = raw.iter().map(|z| z.clamp(lo, hi).powi(2)).sum::<f64>() / k as f64;
    let kf = k as f64;
    let tau2 = if kf * phi > kf - 1.0 {
        let w: Vec<f64> = zs.iter().map(|(_, s)| 1.0 / (s * s)).collect();
        let sw: f64 = w.iter().sum();
        let sw2: f64 = w.iter().map(|x| x * x).sum();
        ((kf * phi - (kf - 1.0)) / (sw - sw2 / sw)).max(0.0)
    } else {
        0.0
    };
    Ok(Overdispersion {
        target,
        phi,
        tau2,
        units: k,
    })
}

/// Control limits at denominator `n`, in the same units as the target
/// (proportion, or rate per unit of denominator). With τ² = 0 these are the
/// unadjusted limits on the transformed scale.
pub fn adjusted_limits(
    od: &Overdispersion,
    n: f64,
    kind: FunnelKind,
    level: f64,
) -> Result<(f64, f64)> {
    if !(n > 0.0 && n.is_finite()) {
        return Err(StatsError::ZeroDenominator);
    }
    let z = z_for_level(level)?;
    match kind {
        FunnelKind::Proportion => {
            let centre = od.target.sqrt().asin();
            let spread = z * (1.0 / (4.0 * n) + od.tau2).sqrt();
            let back = |x: f64| x.clamp(0.0, std::f64::consts::FRAC_PI_2).sin().powi(2);
            Ok((back(centre - spread), back(centre + spread)))
        }
        FunnelKind::Ratio => {
            let expected = od.target * n;
            if expected <= 0.0 {
                return Err(StatsError::ZeroDenominator);
            }
            let spread = z * (1.0 / expected + od.tau2).sqrt();
            Ok((od.target * (-spread).exp(), od.target * spread.exp()))
        }
    }
}

/// Exact limits without overdispersion (methods reference §4.1), in the
/// target's units: for proportions the values whose Wilson interval just
/// touches p̄ (p̄ ± z√(p̄(1−p̄)/n)); for rates the exact Poisson limits of the
/// expected count E = p̄·n, divided by n.
pub fn exact_limits(target: f64, n: f64, kind: FunnelKind, level: f64) -> Result<(f64, f64)> {
    if !(n > 0.0 && n.is_finite()) {
        return Err(StatsError::ZeroDenominator);
    }
    let z = z_for_level(level)?;
    match kind {
        FunnelKind::Proportion => {
            let half = z * (target * (1.0 - target) / n).sqrt();
            Ok(((target - half).max(0.0), (target + half).min(1.0)))
        }
        FunnelKind::Ratio => {
            let expected = target * n;
            let alpha = 1.0 - level;
            let lower = if expected > 0.0 {
                chi_square_quantile(alpha / 2.0, 2.0 * expected)? / 2.0
            } else {
                0.0
            };
            let upper = chi_square_quantile(1.0 - alpha / 2.0, 2.0 * expected + 2.0)? / 2.0;
            Ok((lower / n, upper / n))
        }
    }
}

/// Where `value` (same units as the limits) falls against 95% and 99.8% limits.
pub fn flag(value: f64, limits_95: (f64, f64), limits_998: (f64, f64)) -> FunnelFlag {
    if value > limits_998.1 {
        FunnelFlag::High998
    } else if value < limits_998.0 {
        FunnelFlag::Low998
    } else if value > limits_95.1 {
        FunnelFlag::High95
    } else if value < limits_95.0 {
        FunnelFlag::Low95
    } else {
        FunnelFlag::Within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(pairs: &[(f64, f64)]) -> Vec<FunnelUnit> {
        pairs
            .iter()
            .map(|&(numerator, denominator)| FunnelUnit {
                numerator,
                denominator,
            })
            .collect()
    }

    // Reference values from an independent Python implementation of the
    // methods reference §4.2 (numpy type-7 quantiles), see tests/oracle.
    const DATA: [(f64, f64); 12] = [
        (120.0, 1000.0),
        (95.0, 1100.0),
        (210.0, 1500.0),
        (60.0, 700.0),
        (300.0, 2000.0),
        (45.0, 500.0),
        (150.0, 1200.0),
        (80.0, 900.0),
        (400.0, 2500.0),
        (30.0, 400.0),
        (170.0, 1300.0),
        (260.0, 1600.0),
    ];

    const PHI_P: f64 = 8.516660531709595;
    const TAU2_P: f64 = 0.0017278055956716834;
    const LIM_P: (f64, f64) = (0.05301834126404426, 0.23593758903605094);
    const PHI_R: f64 = 8.493488878164676;
    const TAU2_R: f64 = 0.0527527165069403;
    const LIM_R: (f64, f64) = (0.08068142743638124, 0.211443439454963);
    const EXACT_R: (f64, f64) = (0.04324671814191485, 0.277380101028726);

    #[test]
    fn proportion_overdispersion_matches_reference() {
        let od = overdispersion(&units(&DATA), FunnelKind::Proportion).unwrap();
        assert!((od.target - 1920.0 / 14700.0).abs() < 1e-15);
        assert!((od.phi - PHI_P).abs() < 1e-12, "phi {}", od.phi);
        assert!((od.tau2 - TAU2_P).abs() < 1e-15, "tau2 {}", od.tau2);
        let (lo, hi) = adjusted_limits(&od, 1000.0, FunnelKind::Proportion, 0.998).unwrap();
        assert!(
            (lo - LIM_P.0).abs() < 1e-12 && (hi - LIM_P.1).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn ratio_overdispersion_matches_reference() {
        let od = overdispersion(&units(&DATA), FunnelKind::Ratio).unwrap();
        assert!((od.phi - PHI_R).abs() < 1e-12, "phi {}", od.phi);
        assert!((od.tau2 - TAU2_R).abs() < 1e-15, "tau2 {}", od.tau2);
        let (lo, hi) = adjusted_limits(&od, 1000.0, FunnelKind::Ratio, 0.95).unwrap();
        assert!(
            (lo - LIM_R.0).abs() < 1e-12 && (hi - LIM_R.1).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn no_overdispersion_when_units_agree() {
        // Every unit exactly on target: φ = 0, τ² = 0, adjusted = unadjusted.
        let od = overdispersion(
            &units(&[(10.0, 100.0), (20.0, 200.0), (30.0, 300.0)]),
            FunnelKind::Proportion,
        )
        .unwrap();
        assert_eq!((od.phi, od.tau2), (0.0, 0.0));
    }

    // scipy.stats.chi2.ppf(0.001, 2*12.5)/2/100, chi2.ppf(0.999, 2*12.5+2)/2/100
    #[test]
    fn exact_poisson_funnel_limits() {
        let (lo, hi) = exact_limits(0.125, 100.0, FunnelKind::Ratio, 0.998).unwrap();
        assert!(
            (lo - EXACT_R.0).abs() < 1e-10 && (hi - EXACT_R.1).abs() < 1e-10,
            "{lo} {hi}"
        );
        let (lo, hi) = exact_limits(0.2, 400.0, FunnelKind::Proportion, 0.95).unwrap();
        let half = 1.959963984540054 * (0.2f64 * 0.8 / 400.0).sqrt();
        assert!((lo - (0.2 - half)).abs() < 1e-15 && (hi - (0.2 + half)).abs() < 1e-15);
    }

    #[test]
    fn flags() {
        let (l95, l998) = ((0.1, 0.2), (0.05, 0.25));
        assert_eq!(flag(0.3, l95, l998), FunnelFlag::High998);
        assert_eq!(flag(0.22, l95, l998), FunnelFlag::High95);
        assert_eq!(flag(0.15, l95, l998), FunnelFlag::Within);
        assert_eq!(flag(0.07, l95, l998), FunnelFlag::Low95);
        assert_eq!(flag(0.01, l95, l998), FunnelFlag::Low998);
        assert!(matches!(
            overdispersion(&[], FunnelKind::Ratio),
            Err(StatsError::ZeroDenominator)
        ));
    }
}
