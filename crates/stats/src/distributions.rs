//! The few distribution functions the intervals need, written out so the
//! crate stays dependency-free and every constant is inspectable.

use crate::{Result, StatsError};

/// Φ⁻¹(p), the standard normal quantile.
///
/// Wichura's algorithm AS 241 (PPND16, Applied Statistics 37(3), 1988),
/// accurate to about 1e-16 — the methods reference asks for z computed
/// exactly rather than typed in, because 1.96 already shifts published limits.
// Constants exactly as published in AS 241, so they can be checked against the paper.
#[allow(
    clippy::inconsistent_digit_grouping,
    clippy::excessive_precision,
    clippy::unreadable_literal
)]
pub fn normal_quantile(p: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return Err(StatsError::BadProbability(p));
    }
    if p == 0.0 {
        return Ok(f64::NEG_INFINITY);
    }
    if p == 1.0 {
        return Ok(f64::INFINITY);
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = ((((((2509.0809287301227 * r + 33430.575583588128) * r + 67265.7709270087)
            * r
            + 45921.95393154987)
            * r
            + 13731.693765509461)
            * r
            + 1971.5909503065513)
            * r
            + 133.14166789178438)
            * r
            + 3.3871328727963665;
        let den = ((((((5226.495278852545 * r + 28729.085735721943) * r + 39307.89580009271)
            * r
            + 21213.794301586597)
            * r
            + 5394.196021424751)
            * r
            + 687.1870074920579)
            * r
            + 42.313330701600911)
            * r
            + 1.0;
        return Ok(q * num / den);
    }
    let mut r = if q < 0.0 { p } else { 1.0 - p };
    r = (-r.ln()).sqrt();
    let val = if r <= 5.0 {
        r -= 1.6;
        let num = ((((((7.745450142783414e-4 * r + 0.022723844989269184) * r
            + 0.2417807251774506)
            * r
            + 1.2704582524523684)
            * r
            + 3.6478483247632045)
            * r
            + 5.769497221460691)
            * r
            + 4.630337846156546)
            * r
            + 1.4234371107496835;
        let den = ((((((1.0507500716444169e-9 * r + 5.475938084995345e-4) * r
            + 0.015198666563616457)
            * r
            + 0.14810397642748008)
            * r
            + 0.6897673349851)
            * r
            + 1.6763848301838038)
            * r
            + 2.0531916266377588)
            * r
            + 1.0;
        num / den
    } else {
        r -= 5.0;
        let num = ((((((2.0103343992922881e-7 * r + 2.7115555687434876e-5) * r
            + 0.0012426609473880784)
            * r
            + 0.026532189526576124)
            * r
            + 0.2965605718285049)
            * r
            + 1.7848265399172913)
            * r
            + 5.463784911164114)
            * r
            + 6.657904643501103;
        let den = ((((((2.0442631033899397e-15 * r + 1.421511758316446e-7) * r
            + 1.8463183175100548e-5)
            * r
            + 7.868691311456133e-4)
            * r
            + 0.014875361290850615)
            * r
            + 0.1369298809227358)
            * r
            + 0.599832206555888)
            * r
            + 1.0;
        num / den
    };
    Ok(if q < 0.0 { -val } else { val })
}

/// The two-sided z for a confidence level: Φ⁻¹(1 − α/2), e.g. 0.95 → 1.959964.
pub fn z_for_level(level: f64) -> Result<f64> {
    if !(level > 0.5 && level < 0.99999) {
        return Err(StatsError::BadConfidenceLevel(level));
    }
    normal_quantile(1.0 - (1.0 - level) / 2.0)
}

/// P(X ≤ k) for X ~ Poisson(λ), summed in log space so large λ does not
/// underflow before the terms become significant.
pub fn poisson_cdf(k: u64, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    let mut log_term = -lambda; // log P(X = 0)
    let mut sum = log_term.exp();
    for j in 1..=k {
        log_term += lambda.ln() - (j as f64).ln();
        sum += log_term.exp();
    }
    sum.min(1.0)
}

/// The λ at which P(X ≤ k; λ) equals `target` (strictly decreasing in λ).
///
/// For integer k this is exactly χ²(1 − target; 2k + 2)/2, the identity the
/// exact Poisson limits in the methods reference (§2.2) are written with.
pub(crate) fn poisson_lambda_for_cdf(k: u64, target: f64) -> f64 {
    // Bracket: the answer lies below k + 1 + 40·√(k+1) + 60 for any target
    // this crate uses (≥ 1e-6), and above 0.
    let mut lo = 0.0_f64;
    let mut hi = (k as f64 + 1.0) + 40.0 * (k as f64 + 1.0).sqrt() + 60.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if poisson_cdf(k, mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-14 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from scipy.stats.norm.ppf (scipy 1.x).
    #[test]
    fn normal_quantile_matches_scipy() {
        let cases = [
            (0.975, 1.959963984540054),
            (0.999, 3.090232306167813),
            (0.5, 0.0),
            (0.1, -1.2815515655446004),
            (1e-10, -6.361340902404056),
            (0.841_344_746_068_542_9, 1.0),
        ];
        for (p, want) in cases {
            let got = normal_quantile(p).unwrap();
            assert!((got - want).abs() < 1e-12, "p={p}: got {got}, want {want}");
        }
    }

    #[test]
    fn z_for_levels() {
        assert!((z_for_level(0.95).unwrap() - 1.959963984540054).abs() < 1e-12);
        assert!((z_for_level(0.998).unwrap() - 3.090232306167813).abs() < 1e-12);
        assert!(z_for_level(1.0).is_err());
        assert!(z_for_level(0.3).is_err());
        assert!(z_for_level(f64::NAN).is_err());
    }

    // scipy.stats.chi2.ppf(0.975, 2*k+2)/2 for k = 0, 3, 9.
    #[test]
    fn poisson_inversion_matches_chi_square_quantiles() {
        let cases = [
            (0u64, 0.025, 3.6888794541139354),
            (3, 0.025, 8.767273069742323),
            (9, 0.025, 17.084803451419166),
        ];
        for (k, target, want) in cases {
            let got = poisson_lambda_for_cdf(k, target);
            assert!((got - want).abs() < 1e-9, "k={k}: got {got}, want {want}");
        }
    }
}
