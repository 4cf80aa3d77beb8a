//! A calendar-month seasonal index, so that XmR charts of strongly seasonal
//! monthly series (appointments, antibiotics) do not signal on the season
//! itself (methods reference §6, last paragraph; docs/methods.md, "Seasonal
//! run charts").
//!
//! The index is fitted to a pooled series (every practice's numerators over
//! every practice's denominators, month by month) by least squares on the log
//! scale with a level, a linear trend and one effect per calendar month:
//!
//! log rate(t) = a + b·t + s(month of t), with s summing to zero over the year.
//!
//! The trend is fitted so that a steady rise or fall is not taken for season,
//! and it is **not** removed from anyone's chart: only exp(s) is divided out.

use crate::{Result, StatsError};

/// Each calendar month must be seen at least this often: with one year, a
/// month's effect cannot be told apart from the trend or from that one
/// month's noise.
pub const SEASON_MIN_YEARS: usize = 2;

/// One month of the pooled series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthlyRate {
    /// Months since any fixed origin (e.g. year × 12 + month − 1); only the
    /// differences are used, so gaps are allowed.
    pub month_index: i64,
    /// The pooled rate in that month (any units: the index is relative).
    pub rate: f64,
}

impl MonthlyRate {
    /// The calendar month, 0 for January to 11 for December, when
    /// `month_index` counts from a January.
    pub fn calendar_month(self) -> usize {
        self.month_index.rem_euclid(12) as usize
    }
}

/// Multiplicative seasonal factors by calendar month (January first), with a
/// geometric mean of 1: a month's value divided by its factor is its
/// seasonally adjusted value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeasonalIndex {
    pub factors: [f64; 12],
}

impl SeasonalIndex {
    /// The factor of the calendar month of `month_index` (counted from a January).
    pub fn factor(&self, month_index: i64) -> f64 {
        self.factors[month_index.rem_euclid(12) as usize]
    }
}

/// Fits the seasonal index to a pooled monthly series. Months with a rate of
/// zero or less, or not finite, are an error (the fit is on the log scale);
/// so is a series that does not hold every calendar month at least
/// [`SEASON_MIN_YEARS`] times.
pub fn seasonal_index(series: &[MonthlyRate]) -> Result<SeasonalIndex> {
    let mut seen = [0usize; 12];
    for p in series {
        if !(p.rate.is_finite() && p.rate > 0.0) {
            return Err(StatsError::NotFinite {
                what: "pooled rate for a seasonal index (must be positive)",
            });
        }
        seen[p.calendar_month()] += 1;
    }
    let fewest = seen.iter().copied().min().unwrap_or(0);
    if fewest < SEASON_MIN_YEARS {
        return Err(StatsError::SeasonTooShort {
            months: series.len(),
            fewest,
            needed: SEASON_MIN_YEARS,
        });
    }
    // Columns: level, trend (centred, so the normal equations stay well
    // conditioned), and effect-coded months: month k < 11 is +1 in its own
    // column, December is −1 in all eleven, so the twelve effects sum to zero.
    const K: usize = 13;
    let mean_t = series.iter().map(|p| p.month_index as f64).sum::<f64>() / series.len() as f64;
    let row = |p: &MonthlyRate| {
        let mut x = [0.0; K];
        x[0] = 1.0;
        x[1] = p.month_index as f64 - mean_t;
        match p.calendar_month() {
            11 => x[2..].iter_mut().for_each(|v| *v = -1.0),
            m => x[2 + m] = 1.0,
        }
        x
    };
    let mut xtx = [[0.0; K]; K];
    let mut xty = [0.0; K];
    for p in series {
        let x = row(p);
        let y = p.rate.ln();
        for i in 0..K {
            xty[i] += x[i] * y;
            for j in 0..K {
                xtx[i][j] += x[i] * x[j];
            }
        }
    }
    let beta = solve(xtx, xty).ok_or(StatsError::SeasonTooShort {
        months: series.len(),
        fewest,
        needed: SEASON_MIN_YEARS,
    })?;
    let mut effects = [0.0; 12];
    effects[..11].copy_from_slice(&beta[2..]);
    effects[11] = -beta[2..].iter().sum::<f64>();
    Ok(SeasonalIndex {
        factors: effects.map(f64::exp),
    })
}

/// Solves a small symmetric system by Gaussian elimination with partial
/// pivoting; None when it is singular.
fn solve<const K: usize>(mut a: [[f64; K]; K], mut b: [f64; K]) -> Option<[f64; K]> {
    for col in 0..K {
        let pivot = (col..K).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let pivot_row = &above[col];
        for (r, row) in below.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            row[col..]
                .iter_mut()
                .zip(&pivot_row[col..])
                .for_each(|(x, p)| *x -= f * p);
            b[col + 1 + r] -= f * b[col];
        }
    }
    let mut x = [0.0; K];
    for r in (0..K).rev() {
        let s: f64 = (r + 1..K).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known season: ±10% as a cosine, with a December dip of 5%, around
    /// a level rising 1% a month.
    fn truth(m: usize) -> f64 {
        let angle = 2.0 * std::f64::consts::PI * m as f64 / 12.0;
        (0.1 * angle.cos()).exp() * if m == 11 { 0.95 } else { 1.0 }
    }

    fn series(months: std::ops::Range<i64>) -> Vec<MonthlyRate> {
        months
            .map(|t| MonthlyRate {
                month_index: t,
                rate: 50.0 * 1.01f64.powi(t as i32) * truth(t.rem_euclid(12) as usize),
            })
            .collect()
    }

    #[test]
    fn recovers_a_known_season_apart_from_the_trend() {
        // 24 months from October (index 9): each calendar month twice.
        let idx = seasonal_index(&series(9..33)).unwrap();
        let geo = (0..12).map(|m| truth(m).ln()).sum::<f64>() / 12.0;
        for m in 0..12 {
            let expected = (truth(m).ln() - geo).exp();
            assert!(
                (idx.factors[m] - expected).abs() < 1e-9,
                "month {m}: {} vs {expected}",
                idx.factors[m]
            );
        }
        let log_sum: f64 = idx.factors.iter().map(|f| f.ln()).sum();
        assert!(log_sum.abs() < 1e-12, "geometric mean 1");
        assert_eq!(idx.factor(9 + 12), idx.factors[9]);
        assert_eq!(idx.factor(-1), idx.factors[11]);
    }

    #[test]
    fn needs_every_calendar_month_twice() {
        assert_eq!(
            seasonal_index(&series(9..32)),
            Err(StatsError::SeasonTooShort {
                months: 23,
                fewest: 1,
                needed: 2
            })
        );
        // A gap is allowed as long as every month is seen twice.
        let mut gappy = series(0..30);
        gappy.remove(14);
        assert!(seasonal_index(&gappy).is_ok());
        let mut zero = series(0..24);
        zero[3].rate = 0.0;
        assert!(matches!(
            seasonal_index(&zero),
            Err(StatsError::NotFinite { .. })
        ));
    }
}
