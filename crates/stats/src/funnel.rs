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

/// How φ is estimated from the units' winsorised z-scores.
///
/// Winsorising at the 10th and 90th percentiles keeps outliers from
/// inflating φ, but it also shrinks the ordinary spread: for normally
/// distributed z the mean of the winsorised squares is only about 0.68 of
/// the mean square, so FunnelPlotR's φ, and with it τ², come out low and the
/// limits too narrow. Practices with nothing unusual then sit beyond the
/// limits more often than the limits' level says (docs/methods.md, "How well
/// it detects").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhiEstimator {
    /// The mean of the squared winsorised z-scores divided by its
    /// expectation for standard normal z ([`winsorised_normal_mean_square`], about 0.679),
    /// a consistency correction: for units that differ only by chance and a
    /// normal random effect, φ then estimates the dispersion itself.
    #[default]
    Consistent,
    /// The mean of the squared winsorised z-scores as it is: Spiegelhalter
    /// (2005), FunnelPlotR and PHE's tools.
    Winsorised,
}

impl PhiEstimator {
    pub fn as_str(self) -> &'static str {
        match self {
            PhiEstimator::Consistent => "consistent",
            PhiEstimator::Winsorised => "winsorised",
        }
    }
}

/// E[W²] for W a standard normal variable winsorised at its 10th and 90th
/// percentiles ±a, a = Φ⁻¹(0.9): ∫₋ₐᵃ z²φ(z)dz + 2·0.1·a²
/// = (0.8 − 2aφ(a)) + 0.2a² ≈ 0.6786.
pub fn winsorised_normal_mean_square() -> f64 {
    let a = crate::normal_quantile(0.9).expect("0.9 is a probability");
    let density = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.8 - 2.0 * a * density + 0.2 * a * a
}

/// The overdispersion estimate for a set of units, to be reported with the funnel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overdispersion {
    /// Target as a proportion or rate per unit of denominator (p̄ = ΣO/Σn).
    pub target: f64,
    /// The dispersion ratio φ of the winsorised z-scores (corrected for the
    /// winsorising when estimated with [`PhiEstimator::Consistent`]).
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
/// φ = mean of squared winsorised z (divided by its expectation under
/// normality for [`PhiEstimator::Consistent`]), and τ² by the
/// DerSimonian–Laird form.
pub fn overdispersion(
    units: &[FunnelUnit],
    kind: FunnelKind,
    estimator: PhiEstimator,
) -> Result<Overdispersion> {
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
    let winsorised = raw.iter().map(|z| z.clamp(lo, hi).powi(2)).sum::<f64>() / k as f64;
    let phi = match estimator {
        PhiEstimator::Winsorised => winsorised,
        PhiEstimator::Consistent => winsorised / winsorised_normal_mean_square(),
    };
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

/// Below this expected count a funnel's limits are not taken from a normal
/// approximation alone (methods reference §4, small counts): 10, the count
/// below which PHEindicatormethods' ratio significance test
/// (`funnel_ratio_significance`) and peerbench's own intervals switch from
/// Byar's approximation to exact Poisson limits.
pub const SMALL_EXPECTED_COUNT: f64 = 10.0;

/// The count a unit of denominator `n` is expected to have at the target:
/// E = p̄·n for rates and ratios; for proportions the smaller of the expected
/// events n·p̄ and non-events n·(1 − p̄), whichever tail is near its bound.
pub fn expected_count(target: f64, n: f64, kind: FunnelKind) -> f64 {
    match kind {
        FunnelKind::Ratio => target * n,
        FunnelKind::Proportion => (target * n).min((1.0 - target) * n),
    }
}

/// The smallest count k with P(X ≤ k) ≥ q, scanning the probability mass
/// function up from zero (`pmf0` is P(X = 0), `next(k)` turns P(X = k) into
/// P(X = k + 1)); at most `max` (the binomial's n).
fn discrete_quantile(q: f64, pmf0: f64, next: impl Fn(f64) -> f64, max: f64) -> f64 {
    let (mut k, mut pmf, mut cdf) = (0.0, pmf0, pmf0);
    while cdf < q && k < max {
        pmf *= next(k);
        k += 1.0;
        cdf += pmf;
    }
    k
}

/// Exact limits on the count itself (methods reference §4, small counts):
/// `(lo, hi)` with a count O low at `level` when O < lo, i.e. P(X ≤ O) <
/// (1 − level)/2, and high when O > hi, i.e. P(X ≥ O) < (1 − level)/2, for
/// X ~ Poisson(p̄·n) (rates and ratios) or Binomial(n, p̄) (proportions).
/// `lo` and `hi` are the distribution's (1 − level)/2 and (1 + level)/2
/// quantiles, as R's `qpois`/`qbinom` and scipy's `ppf` define them. So an
/// observed zero is low only when P(X = 0) is itself below the tail.
///
/// Summed from zero, so meant for small expected counts (see
/// [`SMALL_EXPECTED_COUNT`]); a Poisson mean above 700 is refused.
pub fn exact_count_limits(target: f64, n: f64, kind: FunnelKind, level: f64) -> Result<(f64, f64)> {
    if !(n > 0.0 && n.is_finite()) {
        return Err(StatsError::ZeroDenominator);
    }
    if !(target.is_finite() && target >= 0.0) {
        return Err(StatsError::NotFinite {
            what: "funnel target",
        });
    }
    z_for_level(level)?; // validates the level
    let tail = (1.0 - level) / 2.0;
    match kind {
        FunnelKind::Ratio => {
            let mean = target * n;
            if mean > 700.0 {
                return Err(StatsError::NotFinite {
                    what: "exact Poisson limits of a large expected count",
                });
            }
            let pmf0 = (-mean).exp();
            let next = |k: f64| mean / (k + 1.0);
            Ok((
                discrete_quantile(tail, pmf0, next, f64::INFINITY),
                discrete_quantile(1.0 - tail, pmf0, next, f64::INFINITY),
            ))
        }
        FunnelKind::Proportion => {
            if target > 1.0 {
                return Err(StatsError::BadProbability(target));
            }
            // Scan from the near end: events when p̄ ≤ ½, else non-events
            // (a count of events O is low exactly when n − O non-events is high).
            let quantiles = |p: f64| {
                let pmf0 = (n * (-p).ln_1p()).exp();
                let next = move |k: f64| (n - k) / (k + 1.0) * p / (1.0 - p);
                (
                    discrete_quantile(tail, pmf0, next, n),
                    discrete_quantile(1.0 - tail, pmf0, next, n),
                )
            };
            if target <= 0.5 {
                Ok(quantiles(target))
            } else {
                let (lo, hi) = quantiles(1.0 - target);
                Ok((n - hi, n - lo))
            }
        }
    }
}

/// The funnel's control limits at denominator `n` in the target's units:
/// the overdispersion-adjusted limits ([`adjusted_limits`]) and, where the
/// expected count is below [`SMALL_EXPECTED_COUNT`], widened to the exact
/// limits on the count ([`exact_count_limits`]) wherever those are wider, so
/// that a count the exact distribution finds unremarkable (a zero with a
/// small expected count) is never flagged, while the allowance for
/// between-practice variation is kept.
pub fn funnel_limits(
    od: &Overdispersion,
    n: f64,
    kind: FunnelKind,
    level: f64,
) -> Result<(f64, f64)> {
    let (lo, hi) = adjusted_limits(od, n, kind, level)?;
    if expected_count(od.target, n, kind) >= SMALL_EXPECTED_COUNT {
        return Ok((lo, hi));
    }
    let (count_lo, count_hi) = exact_count_limits(od.target, n, kind, level)?;
    Ok((lo.min(count_lo / n), hi.max(count_hi / n)))
}

/// Limits without the overdispersion adjustment, in the target's units:
/// [`exact_limits`], or where the expected count is below
/// [`SMALL_EXPECTED_COUNT`] the exact limits on the count
/// ([`exact_count_limits`]) — the continuous chi-square limits put a rare
/// event's lower limit above zero however small the expected count.
pub fn unadjusted_limits(target: f64, n: f64, kind: FunnelKind, level: f64) -> Result<(f64, f64)> {
    if expected_count(target, n, kind) >= SMALL_EXPECTED_COUNT {
        return exact_limits(target, n, kind, level);
    }
    let (count_lo, count_hi) = exact_count_limits(target, n, kind, level)?;
    Ok((count_lo / n, count_hi / n))
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

/// The flag [`flag`] gives `value` against the unadjusted limits at 95%
/// and 99.8% ([`unadjusted_limits`], each multiplied by `scale`, the
/// indicator's multiplier), found without solving for the limits where the
/// answer is clear. For rates with an expected count E of 10 or more those
/// limits are chi-square quantiles, four a row and each a handful of
/// incomplete-gamma evaluations: the comparison stage's largest cost. A
/// value is above the upper limit exactly when P(E + 1, x) > 1 − α/2 at its
/// count x (the chi-square identity the limit comes from), and below the
/// lower when P(E, x) < α/2: one evaluation each. Where that probability is
/// within `MARGIN` of the tail (far wider than the evaluations' own
/// rounding, so the two ways cannot disagree outside it) the limit is
/// solved for as before: the flag is always the one the limits give.
pub fn unadjusted_flag(
    value: f64,
    target: f64,
    n: f64,
    kind: FunnelKind,
    scale: f64,
) -> Result<FunnelFlag> {
    const MARGIN: f64 = 1e-7;
    let limits =
        |level| unadjusted_limits(target, n, kind, level).map(|(lo, hi)| (lo * scale, hi * scale));
    let expected = expected_count(target, n, kind);
    // The chi-square branch of `exact_limits`, up to an expected count of
    // a million: P(a, x) is computed from exp(a·ln x − x − ln Γ(a)), whose
    // terms near 1.4e7 at a = 10^6 carry a rounding of about 1e-9 in P,
    // well inside `MARGIN`. Larger counts (none nationally: a practice's
    // monthly prescription items are tens of thousands) take the limits.
    let chi_square = kind == FunnelKind::Ratio
        && (SMALL_EXPECTED_COUNT..=1e6).contains(&expected)
        && n > 0.0
        && n.is_finite()
        && value.is_finite()
        && scale > 0.0
        && scale.is_finite();
    if !chi_square {
        return Ok(flag(value, limits(0.95)?, limits(0.998)?));
    }
    // The value as a count: the limits are chi-square quantiles / 2 / n.
    let x = value / scale * n;
    let above = |level: f64| -> Result<bool> {
        let alpha = 1.0 - level;
        let beyond = crate::gamma::gamma_p(expected + 1.0, x) - (1.0 - alpha / 2.0);
        Ok(if beyond.abs() > MARGIN {
            beyond > 0.0
        } else {
            value > limits(level)?.1
        })
    };
    let below = |level: f64| -> Result<bool> {
        let alpha = 1.0 - level;
        let beyond = crate::gamma::gamma_p(expected, x) - alpha / 2.0;
        Ok(if beyond.abs() > MARGIN {
            beyond < 0.0
        } else {
            value < limits(level)?.0
        })
    };
    // The limits nest (lower 99.8% < lower 95% < upper 95% < upper
    // 99.8%), so this asks `flag`'s questions in an order that needs two
    // or three of them.
    Ok(if above(0.95)? {
        if above(0.998)? {
            FunnelFlag::High998
        } else {
            FunnelFlag::High95
        }
    } else if below(0.95)? {
        if below(0.998)? {
            FunnelFlag::Low998
        } else {
            FunnelFlag::Low95
        }
    } else {
        FunnelFlag::Within
    })
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
        let od = overdispersion(
            &units(&DATA),
            FunnelKind::Proportion,
            PhiEstimator::Winsorised,
        )
        .unwrap();
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
        let od =
            overdispersion(&units(&DATA), FunnelKind::Ratio, PhiEstimator::Winsorised).unwrap();
        assert!((od.phi - PHI_R).abs() < 1e-12, "phi {}", od.phi);
        assert!((od.tau2 - TAU2_R).abs() < 1e-15, "tau2 {}", od.tau2);
        let (lo, hi) = adjusted_limits(&od, 1000.0, FunnelKind::Ratio, 0.95).unwrap();
        assert!(
            (lo - LIM_R.0).abs() < 1e-12 && (hi - LIM_R.1).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    // scipy: a = norm.ppf(0.9); 0.8 - 2*a*norm.pdf(a) + 0.2*a*a; and the
    // same numpy computation as above with φ divided by it.
    const WINSORISED_NORMAL: f64 = 0.6786545589528744;
    const PHI_P_CONSISTENT: f64 = 12.549330759451937;
    const TAU2_P_CONSISTENT: f64 = 0.0026446050442923523;
    const LIM_P_CONSISTENT: (f64, f64) = (0.04084892236853331, 0.2608432891875748);

    #[test]
    fn consistent_phi_corrects_for_the_winsorising() {
        assert!((winsorised_normal_mean_square() - WINSORISED_NORMAL).abs() < 1e-15);
        let od = overdispersion(
            &units(&DATA),
            FunnelKind::Proportion,
            PhiEstimator::Consistent,
        )
        .unwrap();
        assert!((od.phi - PHI_P_CONSISTENT).abs() < 1e-12, "phi {}", od.phi);
        assert!(
            (od.tau2 - TAU2_P_CONSISTENT).abs() < 1e-15,
            "tau2 {}",
            od.tau2
        );
        let (lo, hi) = adjusted_limits(&od, 1000.0, FunnelKind::Proportion, 0.998).unwrap();
        assert!(
            (lo - LIM_P_CONSISTENT.0).abs() < 1e-12 && (hi - LIM_P_CONSISTENT.1).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn no_overdispersion_when_units_agree() {
        // Every unit exactly on target: φ = 0, τ² = 0, adjusted = unadjusted.
        let od = overdispersion(
            &units(&[(10.0, 100.0), (20.0, 200.0), (30.0, 300.0)]),
            FunnelKind::Proportion,
            PhiEstimator::default(),
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
    fn a_zero_is_low_only_when_a_zero_is_improbable() {
        // Hand-worked: a zero is low at 99.8% when P(X = 0) = e^−E < 0.001,
        // i.e. E > ln 1000 = 6.908, and at 95% when e^−E < 0.025, E > ln 40 = 3.689.
        let zero_low = |e: f64, level: f64| {
            exact_count_limits(e, 1.0, FunnelKind::Ratio, level)
                .unwrap()
                .0
                > 0.0
        };
        for (e, low_95, low_998) in [
            (0.1, false, false),
            (2.9, false, false),
            (3.6, false, false),
            (3.7, true, false),
            (6.9, true, false),
            (6.92, true, true),
        ] {
            assert_eq!(zero_low(e, 0.95), low_95, "E = {e} at 95%");
            assert_eq!(zero_low(e, 0.998), low_998, "E = {e} at 99.8%");
        }
        // Binomial, hand-worked: n = 100, p̄ = 0.02: P(0) = 0.98^100 = 0.133;
        // n = 400: 0.98^400 = e^(400 ln 0.98) = 3.1e-4 < 0.001.
        let lo = |n: f64, level| {
            exact_count_limits(0.02, n, FunnelKind::Proportion, level)
                .unwrap()
                .0
        };
        assert_eq!((lo(100.0, 0.95), lo(100.0, 0.998)), (0.0, 0.0));
        assert!(lo(400.0, 0.998) > 0.0);
    }

    // scipy.stats.poisson.ppf and binom.ppf at (1 ∓ level)/2.
    #[test]
    fn exact_count_limits_match_scipy() {
        let poisson = [
            (0.1, (0.0, 1.0), (0.0, 2.0)),
            (1.0, (0.0, 3.0), (0.0, 5.0)),
            (2.9, (0.0, 7.0), (0.0, 9.0)),
            (4.0, (1.0, 8.0), (0.0, 11.0)),
            (7.0, (2.0, 13.0), (1.0, 16.0)),
            (9.9, (4.0, 16.0), (2.0, 21.0)),
        ];
        for (mean, l95, l998) in poisson {
            // As a rate of 0.01 per head over mean × 100 heads.
            let n = mean * 100.0;
            assert_eq!(
                exact_count_limits(0.01, n, FunnelKind::Ratio, 0.95).unwrap(),
                l95,
                "{mean}"
            );
            assert_eq!(
                exact_count_limits(0.01, n, FunnelKind::Ratio, 0.998).unwrap(),
                l998,
                "{mean}"
            );
        }
        let binomial = [
            (100.0, 0.02, (0.0, 5.0), (0.0, 7.0)),
            (400.0, 0.02, (3.0, 14.0), (1.0, 18.0)),
            (50.0, 0.97, (46.0, 50.0), (44.0, 50.0)),
            (30.0, 0.5, (10.0, 20.0), (7.0, 23.0)),
        ];
        for (n, p, l95, l998) in binomial {
            let k = FunnelKind::Proportion;
            assert_eq!(exact_count_limits(p, n, k, 0.95).unwrap(), l95, "{n} {p}");
            assert_eq!(exact_count_limits(p, n, k, 0.998).unwrap(), l998, "{n} {p}");
        }
    }

    #[test]
    fn small_count_flags_agree_with_the_exact_interval() {
        // For counts below 10 the practice's interval is the exact Poisson one
        // (χ²(α/2; 2O)/2, χ²(1 − α/2; 2O + 2)/2), and PHEindicatormethods'
        // funnel_ratio_significance flags a unit when the target's count E lies
        // outside it. The exact count limits give the same verdict.
        for level in [0.95, 0.998] {
            let a = 1.0 - level;
            for e10 in 1..100 {
                let e = e10 as f64 / 10.0;
                let (lo, hi) = exact_count_limits(e, 1.0, FunnelKind::Ratio, level).unwrap();
                for o in 0..10u32 {
                    let o = o as f64;
                    let upper = chi_square_quantile(1.0 - a / 2.0, 2.0 * o + 2.0).unwrap() / 2.0;
                    let lower = if o == 0.0 {
                        0.0
                    } else {
                        chi_square_quantile(a / 2.0, 2.0 * o).unwrap() / 2.0
                    };
                    assert_eq!(o < lo, e > upper, "low: O = {o}, E = {e}, {level}");
                    assert_eq!(o > hi, e < lower, "high: O = {o}, E = {e}, {level}");
                }
            }
        }
    }

    #[test]
    fn funnel_limits_widen_only_for_small_expected_counts() {
        // ISR-like: target 1 (O/E), τ² = 0.05.
        let od = Overdispersion {
            target: 1.0,
            phi: 2.0,
            tau2: 0.05,
            units: 30,
        };
        // E = 2: the log-scale lower limit is above zero, so a zero would be
        // "low"; exact: P(X = 0) = e^−2 = 0.135, not low, so the limit is 0.
        let (adj_lo, adj_hi) = adjusted_limits(&od, 2.0, FunnelKind::Ratio, 0.998).unwrap();
        assert!(adj_lo > 0.0);
        let (lo, hi) = funnel_limits(&od, 2.0, FunnelKind::Ratio, 0.998).unwrap();
        assert_eq!(lo, 0.0);
        // The upper side keeps the (wider) adjusted limit: qpois(0.999, 2) = 8
        // counts, 4 per unit of E, below exp(3.09·√(1/2 + 0.05)) = 9.9.
        assert_eq!(hi, adj_hi.max(4.0));
        assert!(hi > 9.0);
        assert_eq!(
            flag(
                0.0,
                funnel_limits(&od, 2.0, FunnelKind::Ratio, 0.95).unwrap(),
                (lo, hi)
            ),
            FunnelFlag::Within
        );
        // At E = 10 and above, the adjusted limits stand as they are.
        assert_eq!(
            funnel_limits(&od, 10.0, FunnelKind::Ratio, 0.998).unwrap(),
            adjusted_limits(&od, 10.0, FunnelKind::Ratio, 0.998).unwrap()
        );
        // Unadjusted: the continuous chi-square limit at E = 2 is above zero;
        // the exact one on the count is zero.
        assert!(exact_limits(1.0, 2.0, FunnelKind::Ratio, 0.998).unwrap().0 > 0.0);
        assert_eq!(
            unadjusted_limits(1.0, 2.0, FunnelKind::Ratio, 0.998).unwrap(),
            (0.0, 4.0)
        );
        assert_eq!(
            unadjusted_limits(1.0, 12.0, FunnelKind::Ratio, 0.998).unwrap(),
            exact_limits(1.0, 12.0, FunnelKind::Ratio, 0.998).unwrap()
        );
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
            overdispersion(&[], FunnelKind::Ratio, PhiEstimator::default()),
            Err(StatsError::ZeroDenominator)
        ));
    }

    #[test]
    fn unadjusted_flag_is_the_flag_the_limits_give() {
        // Values spread around each expected count, and values a few
        // units in the last place either side of each limit (where the
        // limits must be solved for).
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut checked = 0;
        for _ in 0..4000 {
            let n = (10f64).powf(1.0 + 5.0 * uniform()).round();
            let target = (10f64).powf(-4.0 + 4.0 * uniform());
            let scale = [1.0, 100.0, 1000.0, 100_000.0][(uniform() * 4.0) as usize];
            for kind in [FunnelKind::Ratio, FunnelKind::Proportion] {
                let target = if kind == FunnelKind::Proportion {
                    target.min(0.9)
                } else {
                    target
                };
                let limits = |level| {
                    unadjusted_limits(target, n, kind, level)
                        .map(|(lo, hi)| (lo * scale, hi * scale))
                };
                let (Ok(l95), Ok(l998)) = (limits(0.95), limits(0.998)) else {
                    assert!(unadjusted_flag(1.0, target, n, kind, scale).is_err());
                    continue;
                };
                let e = target * n;
                let spread = 4.0 * e.sqrt().max(1.0);
                let mut values: Vec<f64> = (0..20)
                    .map(|_| ((e + spread * (2.0 * uniform() - 1.0)).max(0.0)).round() / n * scale)
                    .collect();
                for limit in [l95.0, l95.1, l998.0, l998.1] {
                    let mut v = limit;
                    for _ in 0..3 {
                        v = f64::from_bits(v.to_bits().saturating_sub(1));
                    }
                    for _ in 0..7 {
                        values.push(v);
                        v = f64::from_bits(v.to_bits() + 1);
                    }
                }
                for v in values {
                    assert_eq!(
                        unadjusted_flag(v, target, n, kind, scale).unwrap(),
                        flag(v, l95, l998),
                        "value {v}, target {target}, n {n}, scale {scale}, {kind:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 300_000, "{checked}");
    }
}
