//! Quantiles and percent ranks (methods reference §5): R type 7, the rule
//! Excel's PERCENTILE.INC and numpy's default use, for spine charts and deciles.

use crate::{Result, StatsError};

/// The p-quantile of `values` by linear interpolation between order
/// statistics (R type 7). `values` need not be sorted; NaNs are refused.
pub fn quantile_type7(values: &[f64], p: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&p) {
        return Err(StatsError::BadProbability(p));
    }
    if values.is_empty() {
        return Err(StatsError::Empty);
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite {
            what: "quantile input",
        });
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Ok(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Percent rank of `value` among `values`: (rank − 1)/(k − 1) × 100 with the
/// rank ascending and ties sharing the lowest rank, as SQL's PERCENT_RANK.
/// A single value has rank 0.
pub fn percent_rank(values: &[f64], value: f64) -> Result<f64> {
    if values.is_empty() {
        return Err(StatsError::Empty);
    }
    if !value.is_finite() || values.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite {
            what: "percent rank input",
        });
    }
    if values.len() == 1 {
        return Ok(0.0);
    }
    let below = values.iter().filter(|v| **v < value).count();
    Ok(below as f64 / (values.len() - 1) as f64 * 100.0)
}

/// [`percent_rank`] over values already sorted ascending: a binary search,
/// for groups as large as every practice in England.
pub fn percent_rank_sorted(sorted: &[f64], value: f64) -> Result<f64> {
    if sorted.is_empty() {
        return Err(StatsError::Empty);
    }
    if !value.is_finite() {
        return Err(StatsError::NotFinite {
            what: "percent rank input",
        });
    }
    if sorted.len() == 1 {
        return Ok(0.0);
    }
    let below = sorted.partition_point(|v| *v < value);
    Ok(below as f64 / (sorted.len() - 1) as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // numpy.quantile(x, q) (default method "linear" = R type 7).
    #[test]
    fn type7_matches_numpy() {
        let x = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(quantile_type7(&x, 0.0).unwrap(), 15.0);
        assert_eq!(quantile_type7(&x, 0.25).unwrap(), 20.0);
        assert_eq!(quantile_type7(&x, 0.4).unwrap(), 29.0);
        assert_eq!(quantile_type7(&x, 0.5).unwrap(), 35.0);
        assert_eq!(quantile_type7(&x, 1.0).unwrap(), 50.0);
        let y = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert!((quantile_type7(&y, 0.1).unwrap() - 1.0).abs() < 1e-12);
        assert!((quantile_type7(&y, 0.9).unwrap() - 6.9).abs() < 1e-12);
        assert!(quantile_type7(&[], 0.5).is_err());
        assert!(quantile_type7(&[1.0, f64::NAN], 0.5).is_err());
    }

    // DuckDB / PostgreSQL: SELECT percent_rank() OVER (ORDER BY v).
    #[test]
    fn percent_rank_matches_sql() {
        let x = [10.0, 20.0, 20.0, 40.0, 50.0];
        assert_eq!(percent_rank(&x, 10.0).unwrap(), 0.0);
        assert_eq!(percent_rank(&x, 20.0).unwrap(), 25.0);
        assert_eq!(percent_rank(&x, 40.0).unwrap(), 75.0);
        assert_eq!(percent_rank(&x, 50.0).unwrap(), 100.0);
        assert_eq!(percent_rank(&[7.0], 7.0).unwrap(), 0.0);
        for v in x {
            assert_eq!(
                percent_rank_sorted(&x, v).unwrap(),
                percent_rank(&x, v).unwrap()
            );
        }
    }
}
