//! Comparing a practice with a peer benchmark (methods reference §3).

use crate::Interval;

/// Which direction is better for an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polarity {
    HighIsGood,
    LowIsGood,
    /// Context measures (list age mix, deprivation): higher/lower, never better/worse.
    NoJudgement,
}

impl Polarity {
    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::HighIsGood => "high_is_good",
            Polarity::LowIsGood => "low_is_good",
            Polarity::NoJudgement => "no_judgement",
        }
    }

    pub fn parse(s: &str) -> Option<Polarity> {
        match s {
            "high_is_good" => Some(Polarity::HighIsGood),
            "low_is_good" => Some(Polarity::LowIsGood),
            "no_judgement" => Some(Polarity::NoJudgement),
            _ => None,
        }
    }
}

/// The word a report prints next to the colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Comparison {
    Better,
    Similar,
    Worse,
    Higher,
    Lower,
    NotCompared,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Better => "better",
            Comparison::Similar => "similar",
            Comparison::Worse => "worse",
            Comparison::Higher => "higher",
            Comparison::Lower => "lower",
            Comparison::NotCompared => "not_compared",
        }
    }
}

/// `similar` when the benchmark lies inside the practice's interval; otherwise
/// higher/lower, turned into better/worse by the indicator's polarity.
pub fn compare_with_benchmark(
    interval: Interval,
    benchmark: f64,
    polarity: Polarity,
) -> Comparison {
    if !benchmark.is_finite() || !interval.lower.is_finite() || !interval.upper.is_finite() {
        return Comparison::NotCompared;
    }
    let higher = if interval.contains(benchmark) {
        return Comparison::Similar;
    } else {
        interval.lower > benchmark
    };
    match (polarity, higher) {
        (Polarity::HighIsGood, true) | (Polarity::LowIsGood, false) => Comparison::Better,
        (Polarity::HighIsGood, false) | (Polarity::LowIsGood, true) => Comparison::Worse,
        (Polarity::NoJudgement, true) => Comparison::Higher,
        (Polarity::NoJudgement, false) => Comparison::Lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CI: Interval = Interval {
        lower: 10.0,
        upper: 20.0,
    };

    #[test]
    fn benchmark_inside_interval_is_similar() {
        for p in [
            Polarity::HighIsGood,
            Polarity::LowIsGood,
            Polarity::NoJudgement,
        ] {
            assert_eq!(compare_with_benchmark(CI, 15.0, p), Comparison::Similar);
            // Limits are inclusive: a benchmark on the limit is not significant.
            assert_eq!(compare_with_benchmark(CI, 10.0, p), Comparison::Similar);
            assert_eq!(compare_with_benchmark(CI, 20.0, p), Comparison::Similar);
        }
    }

    #[test]
    fn polarity_turns_direction_into_judgement() {
        // Practice above the benchmark.
        assert_eq!(
            compare_with_benchmark(CI, 5.0, Polarity::HighIsGood),
            Comparison::Better
        );
        assert_eq!(
            compare_with_benchmark(CI, 5.0, Polarity::LowIsGood),
            Comparison::Worse
        );
        assert_eq!(
            compare_with_benchmark(CI, 5.0, Polarity::NoJudgement),
            Comparison::Higher
        );
        // Practice below the benchmark.
        assert_eq!(
            compare_with_benchmark(CI, 25.0, Polarity::HighIsGood),
            Comparison::Worse
        );
        assert_eq!(
            compare_with_benchmark(CI, 25.0, Polarity::LowIsGood),
            Comparison::Better
        );
        assert_eq!(
            compare_with_benchmark(CI, 25.0, Polarity::NoJudgement),
            Comparison::Lower
        );
    }

    #[test]
    fn missing_benchmark_is_not_compared() {
        assert_eq!(
            compare_with_benchmark(CI, f64::NAN, Polarity::HighIsGood),
            Comparison::NotCompared
        );
    }
}
