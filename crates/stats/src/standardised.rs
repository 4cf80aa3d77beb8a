//! Directly and indirectly standardised rates (methods reference §2.3, §2.4).

use crate::{Result, StatsError, byar_count_limits, check_count};

/// The 2013 European Standard Population, 19 five-year bands 0–4 … 90+.
pub const ESP_2013: [f64; 19] = [
    5000.0, 5500.0, 5500.0, 5500.0, 6000.0, 6000.0, 6500.0, 7000.0, 7000.0, 7000.0, 7000.0, 6500.0,
    6000.0, 5500.0, 5000.0, 4000.0, 2500.0, 1500.0, 1000.0,
];

/// Below this many events a DSR is too unstable to publish.
pub const DSR_MIN_EVENTS: f64 = 10.0;

/// A standardised value with its confidence limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standardised {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
    pub observed: f64,
}

/// Dobson's method: the directly standardised rate per `multiplier`, with
/// limits from the Byar / exact limits of the total count.
pub fn dsr(
    events: &[f64],
    population: &[f64],
    weights: &[f64],
    multiplier: f64,
    level: f64,
) -> Result<Standardised> {
    if events.len() != population.len() || events.len() != weights.len() || events.is_empty() {
        return Err(StatsError::Empty);
    }
    let mut weighted = 0.0;
    let mut var = 0.0;
    let total_w: f64 = weights.iter().sum();
    for ((o, n), w) in events.iter().zip(population).zip(weights) {
        check_count("events", *o)?;
        check_count("population", *n)?;
        check_count("standard population weight", *w)?;
        if *n == 0.0 {
            if *o > 0.0 {
                return Err(StatsError::ZeroDenominator);
            }
            continue;
        }
        weighted += w * o / n;
        var += o * (w / n).powi(2);
    }
    if total_w <= 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    let observed: f64 = events.iter().sum();
    if observed < DSR_MIN_EVENTS {
        return Err(StatsError::TooFewEvents {
            observed,
            minimum: DSR_MIN_EVENTS,
        });
    }
    let value = weighted / total_w * multiplier;
    let var = var / (total_w * total_w);
    let limits = byar_count_limits(observed, level)?;
    let scale = (var / observed).sqrt() * multiplier;
    Ok(Standardised {
        value,
        lower: value + scale * (limits.lower - observed),
        upper: value + scale * (limits.upper - observed),
        observed,
    })
}

/// The indirectly standardised ratio O/E × 100, E from reference rates by
/// band applied to the local population; limits are the count's limits / E.
pub fn isr(
    observed: f64,
    population: &[f64],
    reference_rates: &[f64],
    level: f64,
) -> Result<Standardised> {
    if population.len() != reference_rates.len() || population.is_empty() {
        return Err(StatsError::Empty);
    }
    check_count("observed", observed)?;
    let mut expected = 0.0;
    for (n, r) in population.iter().zip(reference_rates) {
        check_count("population", *n)?;
        check_count("reference rate", *r)?;
        expected += n * r;
    }
    if expected <= 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    let limits = byar_count_limits(observed, level)?;
    Ok(Standardised {
        value: observed / expected * 100.0,
        lower: limits.lower / expected * 100.0,
        upper: limits.upper / expected * 100.0,
        observed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: [f64; 19] = [
        1.0, 0.0, 0.0, 2.0, 3.0, 4.0, 5.0, 7.0, 9.0, 12.0, 15.0, 20.0, 26.0, 31.0, 38.0, 42.0,
        40.0, 30.0, 22.0,
    ];
    const POP: [f64; 19] = [
        5200.0, 5600.0, 5400.0, 5000.0, 6100.0, 6800.0, 7000.0, 6900.0, 6500.0, 6400.0, 6600.0,
        6200.0, 5500.0, 4900.0, 4400.0, 3300.0, 2200.0, 1300.0, 700.0,
    ];

    #[test]
    fn standard_population_totals_100000() {
        assert_eq!(ESP_2013.iter().sum::<f64>(), 100_000.0);
    }

    // Reference: the methods reference §2.3 evaluated independently in
    // Python, with scipy.stats.chi2 and norm for the count limits; per 100,000.
    #[test]
    fn dobson_dsr_matches_reference() {
        let d = dsr(&EVENTS, &POP, &ESP_2013, 100_000.0, 0.95).unwrap();
        assert!((d.value - DSR.0).abs() < 1e-9 * DSR.0, "{}", d.value);
        assert!((d.lower - DSR.1).abs() < 1e-9 * DSR.1, "{}", d.lower);
        assert!((d.upper - DSR.2).abs() < 1e-9 * DSR.2, "{}", d.upper);
        let few = [0.0; 19];
        assert!(matches!(
            dsr(&few, &POP, &ESP_2013, 1e5, 0.95),
            Err(StatsError::TooFewEvents { .. })
        ));
        assert!(dsr(&EVENTS[..3], &POP, &ESP_2013, 1e5, 0.95).is_err());
    }

    #[test]
    fn isr_matches_reference() {
        let rates: Vec<f64> = (0..19)
            .map(|i| 0.0001 * (1.0 + i as f64).powf(1.8))
            .collect();
        let r = isr(250.0, &POP, &rates, 0.95).unwrap();
        assert!((r.value - ISR.0).abs() < 1e-9 * ISR.0, "{}", r.value);
        assert!(
            (r.lower - ISR.1).abs() < 1e-9 * ISR.1 && (r.upper - ISR.2).abs() < 1e-9 * ISR.2,
            "{r:?}"
        );
    }

    const DSR: (f64, f64, f64) = (349.82918217387135, 311.6354692268264, 391.397199408285);
    const ISR: (f64, f64, f64) = (44.39050899492884, 39.057767815140124, 50.248017543522074);
}
