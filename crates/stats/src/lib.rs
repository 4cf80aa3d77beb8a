//! Benchmarking statistics for GP practice indicators, as the public-health
//! community computes them (see the shared methods reference): confidence
//! intervals (Wilson, Byar / exact Poisson), comparison of a practice with a
//! peer benchmark, type-7 quantiles and percent ranks, funnel limits with
//! Spiegelhalter's overdispersion adjustment, XmR SPC with the Making Data
//! Count rules, and the Fingertips recent-trend test.
//!
//! This crate is pure: functions of numbers, no I/O, no DataFusion, no async.
//! Invalid input returns a [`StatsError`], never a NaN that could reach a
//! report.

mod comparison;
mod distributions;
mod funnel;
mod gamma;
mod intervals;
mod quantiles;
mod season;
mod spc;
mod standardised;
mod trend;

pub use comparison::{Comparison, Polarity, compare_with_benchmark};
pub use distributions::{normal_quantile, poisson_cdf, z_for_level};
pub use funnel::{
    FunnelFlag, FunnelKind, FunnelUnit, Overdispersion, PhiEstimator, SMALL_EXPECTED_COUNT,
    adjusted_limits, exact_count_limits, exact_limits, expected_count, flag, funnel_limits,
    overdispersion, pooled_target, unadjusted_flag, unadjusted_limits,
    winsorised_normal_mean_square,
};
pub use gamma::{chi_square_quantile, gamma_p, ln_gamma};
pub use intervals::{Interval, byar_count_limits, byar_rate, wilson_proportion};
pub use quantiles::{percent_rank, percent_rank_sorted, quantile_type7};
pub use season::{MonthlyRate, SEASON_MIN_YEARS, SeasonalIndex, seasonal_index};
pub use spc::{SpcChart, SpcOptions, SpcPoint, SpcRule, Variation, xmr};
pub use standardised::{DSR_MIN_EVENTS, ESP_2013, Standardised, dsr, isr};
pub use trend::{RecentTrend, TrendLabel, recent_trend, trend_label};

/// What can be wrong with the numbers handed to a statistic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("negative count: {what} is {value}")]
    NegativeCount { what: &'static str, value: f64 },
    #[error("numerator {numerator} is above denominator {denominator}")]
    NumeratorAboveDenominator { numerator: f64, denominator: f64 },
    #[error("denominator is zero")]
    ZeroDenominator,
    #[error("confidence level {0} is outside (0.5, 0.99999)")]
    BadConfidenceLevel(f64),
    #[error("value is not a finite number: {what}")]
    NotFinite { what: &'static str },
    #[error("probability {0} is outside [0, 1]")]
    BadProbability(f64),
    #[error("no values to summarise")]
    Empty,
    #[error("only {observed} events: at least {minimum} are needed for a stable value")]
    TooFewEvents { observed: f64, minimum: f64 },
    #[error(
        "{months} months cannot give a seasonal index: every calendar month is needed at least {needed} times, the rarest is there {fewest}"
    )]
    SeasonTooShort {
        months: usize,
        fewest: usize,
        needed: usize,
    },
}

pub type Result<T, E = StatsError> = std::result::Result<T, E>;

pub(crate) fn check_count(what: &'static str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(StatsError::NotFinite { what });
    }
    if value < 0.0 {
        return Err(StatsError::NegativeCount { what, value });
    }
    Ok(())
}
