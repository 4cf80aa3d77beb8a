//! Planted special causes: the ground truth the benchmarking must find.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::SynthOptions;
use crate::model::{Practice, stream};
use crate::month::Month;

/// Monthly indicators a cause can be planted in, with the scale the effect
/// acts on (rate ratio for counts, odds ratio for proportions). The ids are
/// those of the SQL indicators under `sql/indicators/`.
pub const PLANTABLE_INDICATORS: &[(&str, Scale)] = &[
    ("appointments_per_1000", Scale::RateRatio),
    ("dna_rate", Scale::OddsRatio),
    ("antibiotic_items_per_1000", Scale::RateRatio),
    ("broad_spectrum_antibiotic_pct", Scale::RateRatio),
    ("opioid_items_per_1000", Scale::RateRatio),
    ("hypnotic_items_per_1000", Scale::RateRatio),
    ("consultations_75_per_1000", Scale::RateRatio),
    ("medication_review_pct", Scale::OddsRatio),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    RateRatio,
    OddsRatio,
}

impl Scale {
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::RateRatio => "rate_ratio",
            Scale::OddsRatio => "odds_ratio",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantKind {
    /// Different from its peers in every month.
    Outlier,
    /// A step change from `start` onwards.
    Shift,
    /// A steady drift from `start` onwards (the size is per month, compounded).
    Trend,
}

impl PlantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlantKind::Outlier => "outlier",
            PlantKind::Shift => "shift",
            PlantKind::Trend => "trend",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plant {
    pub kind: PlantKind,
    pub practice: usize,
    pub indicator: &'static str,
    pub scale: Scale,
    /// Multiplier on the rate or the odds (per month for trends).
    pub size: f64,
    pub start: Month,
}

impl Plant {
    /// The multiplier this plant applies in month `m`.
    pub fn factor(&self, m: Month) -> f64 {
        if m < self.start {
            return 1.0;
        }
        match self.kind {
            PlantKind::Outlier | PlantKind::Shift => self.size,
            PlantKind::Trend => self.size.powi(self.start.months_until(m) as i32 + 1),
        }
    }
}

/// Chooses distinct practice × indicator pairs among practices open for the
/// whole series. Outliers are ×1.8 on a rate or ×2.5 on the odds (or their
/// inverses) in every indicator alike, so how findable one is depends on the
/// indicator's between-practice spread: about 4 adjusted standard deviations
/// for appointments, antibiotics and consultations of over-75s, only 2 to 3
/// for opioids, hypnotics, DNAs, broad-spectrum antibiotics and medication
/// reviews, whose spread the deliberate age-mix and deprivation effects
/// widen (see docs/methods.md, "How well it detects"). The ground-truth test
/// scores recall against the power those expected z-scores give.
pub fn choose_plants(options: &SynthOptions, practices: &[Practice]) -> Vec<Plant> {
    let mut rng = stream(options.seed, u64::MAX, 2);
    let mut pairs: Vec<(usize, usize)> = practices
        .iter()
        .filter(|p| p.opened.is_none() && p.closed.is_none())
        .flat_map(|p| (0..PLANTABLE_INDICATORS.len()).map(move |i| (p.index, i)))
        .collect();
    pairs.shuffle(&mut rng);
    let first = options.first_month();
    let mut plants = Vec::new();
    let mut take = |kind: PlantKind, count: usize, rng: &mut rand_chacha::ChaCha8Rng| {
        for _ in 0..count {
            let Some((practice, i)) = pairs.pop() else {
                return;
            };
            let (indicator, scale) = PLANTABLE_INDICATORS[i];
            let up = rng.random_bool(0.5);
            let (size, start) = match kind {
                PlantKind::Outlier => {
                    let s = match scale {
                        Scale::RateRatio => 1.8,
                        Scale::OddsRatio => 2.5,
                    };
                    (if up { s } else { 1.0 / s }, first)
                }
                PlantKind::Shift => {
                    // Late enough for a baseline, early enough for a run of 7.
                    let offset = options.months * 2 / 3;
                    let s = match scale {
                        Scale::RateRatio => 1.6,
                        Scale::OddsRatio => 2.2,
                    };
                    (
                        if up { s } else { 1.0 / s },
                        first.plus(offset.min(options.months - 1)),
                    )
                }
                PlantKind::Trend => {
                    let offset = options.months / 2;
                    (if up { 1.06 } else { 1.0 / 1.06 }, first.plus(offset))
                }
            };
            plants.push(Plant {
                kind,
                practice,
                indicator,
                scale,
                size,
                start,
            });
        }
    };
    take(PlantKind::Outlier, options.outliers, &mut rng);
    take(PlantKind::Shift, options.shifts, &mut rng);
    take(PlantKind::Trend, options.trends, &mut rng);
    plants.sort_by(|a, b| (a.practice, a.indicator).cmp(&(b.practice, b.indicator)));
    plants
}
