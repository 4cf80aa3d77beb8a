//! Seeded generator of synthetic GP practices and their extracts.
//!
//! No real NHS extract may be committed, yet the demo, tests and benchmarks
//! need data that behaves like the real thing — age mix and deprivation that
//! drive the rates, practice-level overdispersion, seasonality, the messy file
//! shapes clinical systems export — and tests need data whose right answer is
//! known. This crate writes both: the extracts, and `ground_truth.csv` listing
//! the special causes it planted.
//!
//! Deterministic: the same options give byte-identical files. Streaming: rows
//! are written as they are drawn, so the national preset runs in bounded memory.

mod catalogue;
mod model;
mod month;
mod plant;
mod structure;
mod write;

pub use catalogue::{AGE_BANDS, CHEMICALS, CLINICAL_SEARCHES, QOF_INDICATORS, SURVEY_QUESTIONS};
pub use month::Month;
pub use plant::{PLANTABLE_INDICATORS, Plant, PlantKind};
pub use structure::{DeliberateEffect, deliberate_effects};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

pub type Result<T, E = SynthError> = std::result::Result<T, E>;

/// Sizes that mean something to users: one federation, or all of England.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// About 34 practices, 24 months, one presentation per chemical: small
    /// enough to commit and to read by eye.
    Federation,
    /// About 6,300 practices in 42 ICBs, prescribing at presentation level.
    National,
}

impl Preset {
    pub fn parse(s: &str) -> Option<Preset> {
        match s {
            "federation" => Some(Preset::Federation),
            "national" => Some(Preset::National),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub preset: Preset,
    pub seed: u64,
    pub practices: usize,
    pub months: usize,
    /// The latest month in the series.
    pub last_month: Month,
    pub outliers: usize,
    pub shifts: usize,
    pub trends: usize,
    /// Strength / form variants per chemical (1 keeps files small).
    pub presentations_per_chemical: usize,
    pub icbs: usize,
}

impl SynthOptions {
    pub fn preset(preset: Preset, seed: u64) -> SynthOptions {
        let last_month = Month {
            year: 2026,
            month: 9,
        };
        match preset {
            Preset::Federation => SynthOptions {
                preset,
                seed,
                practices: 34,
                months: 24,
                last_month,
                outliers: 6,
                shifts: 3,
                trends: 2,
                presentations_per_chemical: 1,
                icbs: 1,
            },
            Preset::National => SynthOptions {
                preset,
                seed,
                practices: 6_300,
                months: 24,
                last_month,
                outliers: 300,
                shifts: 120,
                trends: 80,
                presentations_per_chemical: 8,
                icbs: 42,
            },
        }
    }

    pub fn first_month(&self) -> Month {
        self.last_month.minus(self.months - 1)
    }

    fn validate(&self) -> Result<()> {
        if self.practices == 0 {
            return Err(SynthError::InvalidOption(
                "at least one practice is needed".into(),
            ));
        }
        if self.practices > 19_000 * 9 {
            return Err(SynthError::InvalidOption(
                "too many practices for ODS-style codes".into(),
            ));
        }
        if self.months == 0 || self.months > 240 {
            return Err(SynthError::InvalidOption(
                "months must be between 1 and 240".into(),
            ));
        }
        let pairs = self.practices * PLANTABLE_INDICATORS.len();
        if self.outliers + self.shifts + self.trends > pairs / 2 {
            return Err(SynthError::InvalidOption(format!(
                "{} planted effects is too many for {} practices",
                self.outliers + self.shifts + self.trends,
                self.practices
            )));
        }
        let variants = catalogue::PRESENTATION_VARIANTS.len();
        if self.presentations_per_chemical == 0 || self.presentations_per_chemical > variants {
            return Err(SynthError::InvalidOption(format!(
                "presentations per chemical must be between 1 and {variants}"
            )));
        }
        Ok(())
    }
}

/// What a generation wrote.
#[derive(Debug, Clone, Default)]
pub struct SynthSummary {
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub practices: usize,
    pub plants: usize,
}

/// Generates the federation or nation into `out_dir` (created if missing).
pub fn generate(options: &SynthOptions, out_dir: &Path) -> Result<SynthSummary> {
    options.validate()?;
    let first = options.first_month();
    let practices = model::build_practices(
        options.seed,
        options.practices,
        options.icbs,
        first,
        options.last_month,
        QOF_INDICATORS.len(),
        SURVEY_QUESTIONS.len(),
    );
    let plants = plant::choose_plants(options, &practices);
    let mut writer = write::Writer::new(out_dir, options, &practices, &plants)?;
    writer.write_all()?;
    Ok(writer.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn national_small() -> SynthOptions {
        let mut o = SynthOptions::preset(Preset::National, 3);
        o.practices = 60;
        o.months = 3;
        o.outliers = 4;
        o.shifts = 2;
        o.trends = 2;
        o
    }

    #[test]
    fn every_preset_generates() {
        for preset in [Preset::Federation, Preset::National] {
            let o = SynthOptions::preset(preset, 1);
            assert!(o.validate().is_ok(), "{preset:?} defaults are valid");
        }
        let dir = std::env::temp_dir().join(format!("peerbench-synth-{}", std::process::id()));
        let summary = generate(&national_small(), &dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(summary.practices, 60);
        assert_eq!(summary.plants, 8);
        assert!(
            summary.rows > 60 * 3 * 40,
            "presentation-level prescribing: {} rows",
            summary.rows
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let mut o = national_small();
        o.presentations_per_chemical = 99;
        assert!(matches!(o.validate(), Err(SynthError::InvalidOption(_))));
        let mut o = national_small();
        o.months = 0;
        assert!(o.validate().is_err());
        let mut o = national_small();
        o.outliers = 10_000;
        assert!(o.validate().is_err());
    }
}
