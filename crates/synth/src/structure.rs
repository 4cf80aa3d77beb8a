//! The generator's deliberate, structural differences between practices:
//! age mix and deprivation move a practice's expected rate or odds on
//! purpose, as they do in real data, because most indicators are crude
//! (not standardised). A funnel that flags such a practice has found a real
//! difference, not a false positive; the ground-truth test uses these to
//! tell the two apart. The writers use the same weights, so the two cannot
//! drift apart.

use crate::catalogue::PrescribingGroup;
use crate::model::build_practices;
use crate::{QOF_INDICATORS, SURVEY_QUESTIONS, SynthOptions};

/// Standard deviations of each practice's own random effect (log scale for
/// rates, log odds for proportions): the overdispersion a funnel must allow
/// for beyond the deliberate effects.
pub const SD_APPOINTMENTS: f64 = 0.12;
pub const SD_DNA: f64 = 0.22;
/// By prescribing group: antibiotics, broad-spectrum antibiotics, opioids,
/// hypnotics, other.
pub const SD_PRESCRIBING: [f64; 5] = [0.14, 0.2, 0.16, 0.2, 0.08];
pub const SD_CONSULTATIONS_75: f64 = 0.12;
pub const SD_MEDICATION_REVIEW: f64 = 0.3;

/// Appointments per patient rise by this much on the log scale per unit of
/// deprivation z-score.
pub const APPOINTMENT_DEPRIVATION: f64 = 0.04;
/// The DNA rate's log odds rise by this much per unit of deprivation z-score …
pub const DNA_DEPRIVATION: f64 = 0.22;
/// … and by this much per unit of the practice's young-adult (15–34) share
/// relative to England's, less one.
pub const DNA_YOUNG_ADULTS: f64 = 0.3;

/// Relative appointments by five-year age band: lowest in young adults,
/// rising steeply with age.
pub fn appointment_age_weight(band: usize) -> f64 {
    0.55 + (band as f64 * 5.0 / 55.0).powi(2)
}

/// The young-adult bands (15–34) that miss more appointments.
pub fn young_adult_weight(band: usize) -> f64 {
    if (3..7).contains(&band) { 1.0 } else { 0.0 }
}

/// One practice's deliberate departure on one plantable indicator.
#[derive(Debug, Clone)]
pub struct DeliberateEffect {
    pub practice_code: String,
    pub indicator: &'static str,
    /// Natural log of the rate ratio (rates) or odds ratio (proportions)
    /// that the practice's age mix and deprivation give it against a
    /// practice with England's age mix and a typical deprivation score
    /// (IMD 21). Zero for indicators the generator gives no such effect.
    pub log_effect: f64,
    /// Standard deviation of the practice's own random effect on the same
    /// scale (approximate where two groups' effects mix: all antibiotics,
    /// and the broad-spectrum share, whose log odds carry the difference of
    /// the broad-spectrum and other antibiotics' effects).
    pub random_sd: f64,
}

/// The deliberate age-mix and deprivation effects of every practice on every
/// plantable indicator (`PLANTABLE_INDICATORS`), for the practices the
/// options generate. Effects do not change with the month.
pub fn deliberate_effects(options: &SynthOptions) -> Vec<DeliberateEffect> {
    let practices = build_practices(
        options.seed,
        options.practices,
        options.icbs,
        options.first_month(),
        options.last_month,
        QOF_INDICATORS.len(),
        SURVEY_QUESTIONS.len(),
    );
    let prescribing = |p: &crate::model::Practice, g: PrescribingGroup| {
        p.age_factor(|b| g.age_weight(b)).ln() + g.deprivation_effect() * p.deprivation_z()
    };
    // Broad-spectrum antibiotics' share of all antibiotic items, by base rate.
    let rate = |g: PrescribingGroup| {
        crate::CHEMICALS
            .iter()
            .filter(|c| c.group == g)
            .map(|c| c.base_rate)
            .sum::<f64>()
    };
    let broad = rate(PrescribingGroup::BroadSpectrumAntibiotic);
    let w = broad / (broad + rate(PrescribingGroup::Antibiotic));
    let [abx, bsa, opioid, hypnotic, _] = SD_PRESCRIBING;
    let random_sd: [f64; 8] = [
        SD_APPOINTMENTS,
        SD_DNA,
        ((1.0 - w).powi(2) * abx * abx + w * w * bsa * bsa).sqrt(),
        abx.hypot(bsa),
        opioid,
        hypnotic,
        SD_CONSULTATIONS_75,
        SD_MEDICATION_REVIEW,
    ];
    let mut out = Vec::new();
    for p in &practices {
        let effects: [(&'static str, f64); 8] = [
            (
                "appointments_per_1000",
                p.age_factor(appointment_age_weight).ln()
                    + APPOINTMENT_DEPRIVATION * p.deprivation_z(),
            ),
            (
                "dna_rate",
                DNA_DEPRIVATION * p.deprivation_z()
                    + DNA_YOUNG_ADULTS * (p.age_factor(young_adult_weight) - 1.0),
            ),
            (
                "antibiotic_items_per_1000",
                prescribing(p, PrescribingGroup::Antibiotic),
            ),
            // Broad-spectrum and other antibiotics share their age weights
            // and deprivation effect, so the share carries neither.
            ("broad_spectrum_antibiotic_pct", 0.0),
            (
                "opioid_items_per_1000",
                prescribing(p, PrescribingGroup::Opioid),
            ),
            (
                "hypnotic_items_per_1000",
                prescribing(p, PrescribingGroup::Hypnotic),
            ),
            // Drawn among the over-75s and the over-65s themselves.
            ("consultations_75_per_1000", 0.0),
            ("medication_review_pct", 0.0),
        ];
        debug_assert!(
            effects
                .iter()
                .zip(crate::PLANTABLE_INDICATORS)
                .all(|(e, (id, _))| e.0 == *id)
        );
        for ((indicator, log_effect), random_sd) in effects.into_iter().zip(random_sd) {
            out.push(DeliberateEffect {
                practice_code: p.code.clone(),
                indicator,
                log_effect,
                random_sd,
            });
        }
    }
    out
}
