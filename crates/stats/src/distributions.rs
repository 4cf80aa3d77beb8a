//! The few distribution functions the intervals need, written out so the
//! crate stays dependency-free and every constant is inspectable.

use crate::{Result, StatsError};

/// Φ⁻¹(p), the standard normal quantile.
///
/// Wichura's algorithm AS 241 (PPND16, Applied Statistics 37(3), 1988),
/// accurate to about 1e-16 — the methods reference asks for z computed
/// exactly rather than typed in, because 1.96 already shifts published limits.
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
        let num = ((((((2509.080_928_730_122_7 * r + 33430.575_583_588_128) * r
            + 67265.770_927_008_7)
            * r
            + 45921.953_931_549_87)
            * r
            + 13731.693_765_509_461)
            * r
            + 1971.590_950_306_551_3)
            * r
            + 133.141_667_891_784_38)
            * r
            + 3.387_132_872_796_366_5;
        let den = ((((((5226.495_278_852_545 * r + 28729.085_735_721_943) * r
            + 39307.895_800_092_71)
            * r
            + 21213.794_301_586_597)
            * r
            + 5394.196_021_424_751)
            * r
            + 687.187_007_492_057_9)
            * r
            + 42.313_330_701_600_911)
            * r
            + 1.0;
        return Ok(q * num / den);
    }
    let mut r = if q < 0.0 { p } else { 1.0 - p };
    r = (-r.ln()).sqrt();
    let val = if r <= 5.0 {
        r -= 1.6;
        let num = ((((((7.745_450_142_783_414e-4 * r + 0.022_723_844_989_269_184) * r
            + 0.241_780_725_177_450_6)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_546)
            * r
            + 1.423_437_110_749_683_5;
        let den = ((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_345e-4) * r
            + 0.015_198_666_563_616_457)
            * r
            + 0.148_103_976_427_480_08)
            * r
            + 0.689_767_334_985_1)
            * r
            + 1.676_384_830_183_803_8)
            * r
            + 2.053_191_626_637_758_8)
            * r
            + 1.0;
        num / den
    } else {
        r -= 5.0;
        let num = ((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r
            + 0.001_242_660_947_388_078_4)
            * r
            + 0.026_532_189_526_576_124)
            * r
            + 0.296_560_571_828_504_9)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103;
        let den = ((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r
            + 1.846_318_317_510_054_8e-5)
            * r
            + 7.868_691_311_456_133e-4)
            * r
            + 0.014_875_361_290_850_615)
            * r
            + 0.136_929_880_922_735_8)
            * r
            + 0.599_832_206_555_888)
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
            (0.84134474606854293, 1.0),
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
