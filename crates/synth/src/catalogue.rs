//! What the synthetic federation prescribes, measures and asks: BNF chemicals,
//! QOF-style indicators, survey questions and clinical-system searches, each
//! with the base rates and age profiles the generator draws from.

/// Five-year age bands as NHS Digital publishes them (`0_4` … `90_94`, `95+`).
pub const AGE_BANDS: [&str; 20] = [
    "0_4", "5_9", "10_14", "15_19", "20_24", "25_29", "30_34", "35_39", "40_44", "45_49", "50_54",
    "55_59", "60_64", "65_69", "70_74", "75_79", "80_84", "85_89", "90_94", "95+",
];

/// Share of England's registered population in each band (approximate, sums to 1).
pub const ENGLAND_AGE_SHARE: [f64; 20] = [
    0.0530, 0.0580, 0.0600, 0.0570, 0.0600, 0.0680, 0.0720, 0.0700, 0.0660, 0.0640, 0.0670, 0.0660,
    0.0580, 0.0500, 0.0470, 0.0380, 0.0250, 0.0140, 0.0055, 0.0015,
];

/// Emergency hospital admissions per 1,000 registered patients a year by
/// band — a J-shape, high for the under-5s and rising steeply after 60
/// (rounded, of the order Hospital Episode Statistics show for England).
pub const EMERGENCY_ADMISSIONS_PER_1000: [f64; 20] = [
    150.0, 40.0, 40.0, 60.0, 65.0, 65.0, 65.0, 65.0, 70.0, 80.0, 90.0, 105.0, 125.0, 150.0, 185.0,
    240.0, 320.0, 420.0, 520.0, 600.0,
];

/// Index of the first band at 65+ and at 75+.
pub const BAND_65: usize = 13;
pub const BAND_75: usize = 15;

/// A BNF chemical the generator prescribes. Codes sit in the real BNF
/// chapters and sections (so `LIKE '0501%'` finds antibiotics) but are
/// synthetic at presentation level.
pub struct Chemical {
    pub code: &'static str,
    pub name: &'static str,
    pub presentation: &'static str,
    /// Items per 1,000 patients per month at England's age mix.
    pub base_rate: f64,
    pub group: PrescribingGroup,
    /// Units per item (tablets, capsules, patches) and NIC per unit in pounds.
    pub quantity_per_item: f64,
    pub unit_cost: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrescribingGroup {
    Antibiotic,
    BroadSpectrumAntibiotic,
    Opioid,
    Hypnotic,
    Other,
}

impl PrescribingGroup {
    /// Relative prescribing by age band: antibiotics peak in children and the
    /// very old, opioids and hypnotics rise with age, repeat medicines steeply so.
    pub fn age_weight(self, band: usize) -> f64 {
        let age = band as f64 * 5.0 + 2.5;
        match self {
            PrescribingGroup::Antibiotic | PrescribingGroup::BroadSpectrumAntibiotic => {
                if age < 10.0 {
                    1.6
                } else if age < 60.0 {
                    0.8
                } else {
                    1.0 + (age - 60.0) / 25.0
                }
            }
            PrescribingGroup::Opioid => 0.1 + (age / 50.0).powf(2.0),
            PrescribingGroup::Hypnotic => 0.05 + (age / 55.0).powf(2.5),
            PrescribingGroup::Other => 0.05 + (age / 45.0).powf(3.0),
        }
    }

    /// How strongly deprivation raises prescribing (per unit of IMD z-score).
    pub fn deprivation_effect(self) -> f64 {
        match self {
            PrescribingGroup::Opioid => 0.18,
            PrescribingGroup::Hypnotic => 0.10,
            PrescribingGroup::Antibiotic | PrescribingGroup::BroadSpectrumAntibiotic => 0.08,
            PrescribingGroup::Other => 0.06,
        }
    }
}

pub const CHEMICALS: &[Chemical] = &[
    Chemical {
        code: "0501013B0",
        name: "Amoxicillin",
        presentation: "Amoxicillin 500mg capsules",
        base_rate: 9.0,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 15.0,
        unit_cost: 0.06,
    },
    Chemical {
        code: "0501012G0",
        name: "Phenoxymethylpenicillin",
        presentation: "Phenoxymethylpenicillin 250mg tablets",
        base_rate: 3.0,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 28.0,
        unit_cost: 0.05,
    },
    Chemical {
        code: "0501012H0",
        name: "Flucloxacillin",
        presentation: "Flucloxacillin 500mg capsules",
        base_rate: 3.2,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 28.0,
        unit_cost: 0.09,
    },
    Chemical {
        code: "0501030I0",
        name: "Doxycycline",
        presentation: "Doxycycline 100mg capsules",
        base_rate: 4.0,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 8.0,
        unit_cost: 0.12,
    },
    Chemical {
        code: "0501050B0",
        name: "Clarithromycin",
        presentation: "Clarithromycin 500mg tablets",
        base_rate: 2.2,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 14.0,
        unit_cost: 0.15,
    },
    Chemical {
        code: "0501080W0",
        name: "Trimethoprim",
        presentation: "Trimethoprim 200mg tablets",
        base_rate: 2.0,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 6.0,
        unit_cost: 0.08,
    },
    Chemical {
        code: "0501130R0",
        name: "Nitrofurantoin",
        presentation: "Nitrofurantoin 100mg modified-release capsules",
        base_rate: 3.0,
        group: PrescribingGroup::Antibiotic,
        quantity_per_item: 6.0,
        unit_cost: 0.45,
    },
    Chemical {
        code: "0501013K0",
        name: "Co-amoxiclav",
        presentation: "Co-amoxiclav 500mg/125mg tablets",
        base_rate: 1.6,
        group: PrescribingGroup::BroadSpectrumAntibiotic,
        quantity_per_item: 21.0,
        unit_cost: 0.14,
    },
    Chemical {
        code: "0501021L0",
        name: "Cefalexin",
        presentation: "Cefalexin 500mg capsules",
        base_rate: 0.9,
        group: PrescribingGroup::BroadSpectrumAntibiotic,
        quantity_per_item: 21.0,
        unit_cost: 0.11,
    },
    Chemical {
        code: "0501120L0",
        name: "Ciprofloxacin",
        presentation: "Ciprofloxacin 500mg tablets",
        base_rate: 0.5,
        group: PrescribingGroup::BroadSpectrumAntibiotic,
        quantity_per_item: 10.0,
        unit_cost: 0.10,
    },
    Chemical {
        code: "0407020C0",
        name: "Codeine phosphate",
        presentation: "Codeine 30mg tablets",
        base_rate: 7.0,
        group: PrescribingGroup::Opioid,
        quantity_per_item: 56.0,
        unit_cost: 0.03,
    },
    Chemical {
        code: "0407020T0",
        name: "Tramadol hydrochloride",
        presentation: "Tramadol 50mg capsules",
        base_rate: 5.0,
        group: PrescribingGroup::Opioid,
        quantity_per_item: 60.0,
        unit_cost: 0.04,
    },
    Chemical {
        code: "0407020Q0",
        name: "Morphine sulfate",
        presentation: "Morphine 10mg/5ml oral solution",
        base_rate: 2.5,
        group: PrescribingGroup::Opioid,
        quantity_per_item: 100.0,
        unit_cost: 0.02,
    },
    Chemical {
        code: "0407020P0",
        name: "Oxycodone hydrochloride",
        presentation: "Oxycodone 5mg capsules",
        base_rate: 1.2,
        group: PrescribingGroup::Opioid,
        quantity_per_item: 56.0,
        unit_cost: 0.10,
    },
    Chemical {
        code: "0407020A0",
        name: "Fentanyl",
        presentation: "Fentanyl 25micrograms/hour patches",
        base_rate: 0.6,
        group: PrescribingGroup::Opioid,
        quantity_per_item: 5.0,
        unit_cost: 2.40,
    },
    Chemical {
        code: "0401010Z0",
        name: "Zopiclone",
        presentation: "Zopiclone 7.5mg tablets",
        base_rate: 3.5,
        group: PrescribingGroup::Hypnotic,
        quantity_per_item: 28.0,
        unit_cost: 0.04,
    },
    Chemical {
        code: "0401010Y0",
        name: "Zolpidem tartrate",
        presentation: "Zolpidem 10mg tablets",
        base_rate: 0.6,
        group: PrescribingGroup::Hypnotic,
        quantity_per_item: 28.0,
        unit_cost: 0.05,
    },
    Chemical {
        code: "0401010T0",
        name: "Temazepam",
        presentation: "Temazepam 10mg tablets",
        base_rate: 1.1,
        group: PrescribingGroup::Hypnotic,
        quantity_per_item: 28.0,
        unit_cost: 0.07,
    },
    Chemical {
        code: "0212000B0",
        name: "Atorvastatin",
        presentation: "Atorvastatin 20mg tablets",
        base_rate: 38.0,
        group: PrescribingGroup::Other,
        quantity_per_item: 28.0,
        unit_cost: 0.03,
    },
    Chemical {
        code: "0601022B0",
        name: "Metformin hydrochloride",
        presentation: "Metformin 500mg tablets",
        base_rate: 22.0,
        group: PrescribingGroup::Other,
        quantity_per_item: 56.0,
        unit_cost: 0.02,
    },
    Chemical {
        code: "0206020A0",
        name: "Amlodipine",
        presentation: "Amlodipine 5mg tablets",
        base_rate: 30.0,
        group: PrescribingGroup::Other,
        quantity_per_item: 28.0,
        unit_cost: 0.02,
    },
    Chemical {
        code: "0103050P0",
        name: "Omeprazole",
        presentation: "Omeprazole 20mg gastro-resistant capsules",
        base_rate: 32.0,
        group: PrescribingGroup::Other,
        quantity_per_item: 28.0,
        unit_cost: 0.03,
    },
    Chemical {
        code: "0301011R0",
        name: "Salbutamol",
        presentation: "Salbutamol 100micrograms/dose inhaler",
        base_rate: 14.0,
        group: PrescribingGroup::Other,
        quantity_per_item: 1.0,
        unit_cost: 1.50,
    },
    Chemical {
        code: "0403030Q0",
        name: "Sertraline hydrochloride",
        presentation: "Sertraline 50mg tablets",
        base_rate: 16.0,
        group: PrescribingGroup::Other,
        quantity_per_item: 28.0,
        unit_cost: 0.03,
    },
];

/// Strength / form variants used at national scale so prescribing reaches
/// BNF-presentation granularity (tens of millions of rows).
pub const PRESENTATION_VARIANTS: &[(&str, &str, f64)] = &[
    ("AAAAAA", "", 1.0),
    ("AAABAB", " (alternative strength)", 0.45),
    ("AAACAC", " (oral suspension)", 0.25),
    ("AAADAD", " (dispersible)", 0.12),
    ("BBAAAA", " (branded)", 0.08),
    ("AAAEAE", " (sugar-free)", 0.05),
    ("AAAFAF", " (modified-release)", 0.04),
    ("AAAGAG", " (unit dose)", 0.02),
];

/// A QOF-style indicator: a register (prevalence by age) and an achievement.
pub struct QofIndicator {
    pub code: &'static str,
    pub description: &'static str,
    /// Register prevalence at England's age mix, and how it rises with age.
    pub prevalence: f64,
    pub age_power: f64,
    /// Achievement (numerator / denominator) at an average practice.
    pub achievement: f64,
    pub exception_rate: f64,
}

pub const QOF_INDICATORS: &[QofIndicator] = &[
    QofIndicator {
        code: "HYP008",
        description: "Patients aged 79 or under with hypertension whose last blood pressure was 140/90 mmHg or less",
        prevalence: 0.14,
        age_power: 2.0,
        achievement: 0.72,
        exception_rate: 0.05,
    },
    QofIndicator {
        code: "DM020",
        description: "Patients with diabetes, without moderate or severe frailty, whose last IFCC-HbA1c was 58 mmol/mol or less",
        prevalence: 0.075,
        age_power: 1.6,
        achievement: 0.63,
        exception_rate: 0.07,
    },
    QofIndicator {
        code: "CHOL003",
        description: "Patients with CVD whose most recent LDL-cholesterol is 2.0 mmol/l or less",
        prevalence: 0.05,
        age_power: 2.6,
        achievement: 0.45,
        exception_rate: 0.06,
    },
    QofIndicator {
        code: "AST007",
        description: "Patients with asthma who have had an asthma review in the preceding 12 months",
        prevalence: 0.065,
        age_power: 0.2,
        achievement: 0.66,
        exception_rate: 0.04,
    },
    QofIndicator {
        code: "SMOK002",
        description: "Patients with specified conditions whose notes record smoking status in the preceding 12 months",
        prevalence: 0.22,
        age_power: 1.5,
        achievement: 0.91,
        exception_rate: 0.01,
    },
];

/// A GP Patient Survey question: share answering positively at an average practice.
pub struct SurveyQuestion {
    pub id: &'static str,
    pub text: &'static str,
    pub positive: f64,
}

pub const SURVEY_QUESTIONS: &[SurveyQuestion] = &[
    SurveyQuestion {
        id: "Q90",
        text: "Overall, how would you describe your experience of your GP practice? (good)",
        positive: 0.73,
    },
    SurveyQuestion {
        id: "Q1",
        text: "Generally, how easy is it to get through to someone at your GP practice on the phone? (easy)",
        positive: 0.50,
    },
    SurveyQuestion {
        id: "Q16",
        text: "Were you satisfied with the appointment (or appointments) you were offered? (yes)",
        positive: 0.72,
    },
];

/// Searches every practice runs on its clinical system and exports.
pub struct ClinicalSearch {
    pub code: &'static str,
    pub name: &'static str,
}

pub const CLINICAL_SEARCHES: &[ClinicalSearch] = &[
    ClinicalSearch {
        code: "CONS75",
        name: "Patients aged 75 and over with a consultation in the month / registered patients aged 75 and over",
    },
    ClinicalSearch {
        code: "SMR",
        name: "Patients on 10 or more repeat medicines, with a structured medication review in the last 12 months",
    },
    ClinicalSearch {
        code: "DEM_NEW",
        name: "New dementia diagnoses in the month / registered patients aged 65 and over",
    },
];
