//! The synthetic population: practices with their list sizes, age mix,
//! deprivation and random effects, and the planted special causes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};

use crate::catalogue::{AGE_BANDS, BAND_65, BAND_75, ENGLAND_AGE_SHARE};
use crate::month::Month;
use crate::structure::{
    SD_APPOINTMENTS, SD_CONSULTATIONS_75, SD_DNA, SD_MEDICATION_REVIEW, SD_PRESCRIBING,
};

/// An independent random stream for one practice and one purpose, so adding a
/// source or a practice never changes the numbers drawn for the others.
pub fn stream(seed: u64, practice: u64, tag: u64) -> ChaCha8Rng {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(practice.wrapping_add(1));
    x ^= tag.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(x ^ (x >> 31))
}

/// What kind of community a practice serves; it shapes the age mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Community {
    Typical,
    Student,
    Retirement,
    YoungFamilies,
    InnerCity,
}

/// Each practice's own departure from the average, on the log (rates) or
/// logit (proportions) scale — the overdispersion a funnel plot must allow for.
#[derive(Debug, Clone)]
pub struct PracticeEffects {
    pub appointments: f64,
    pub dna: f64,
    pub face_to_face: f64,
    pub gp_share: f64,
    pub prescribing: [f64; 5],
    pub qof: Vec<f64>,
    pub survey: Vec<f64>,
    pub cons75: f64,
    pub smr: f64,
    pub dementia: f64,
}

#[derive(Debug, Clone)]
pub struct Practice {
    pub index: usize,
    pub code: String,
    pub name: String,
    pub pcn_code: String,
    pub pcn_name: String,
    pub federation: String,
    pub icb_code: String,
    pub icb_name: String,
    pub supplier: &'static str,
    pub list_size_start: f64,
    pub monthly_growth: f64,
    pub age_share: [f64; 20],
    pub male_share: [f64; 20],
    pub imd_score: f64,
    pub imd_decile: u8,
    pub rural: bool,
    /// First and last month with data (opening and closing practices).
    pub opened: Option<Month>,
    pub closed: Option<Month>,
    pub effects: PracticeEffects,
}

impl Practice {
    pub fn is_open(&self, m: Month) -> bool {
        self.opened.is_none_or(|o| m >= o) && self.closed.is_none_or(|c| m <= c)
    }

    /// Registered patients in the month (grows or shrinks slowly).
    pub fn list_size(&self, months_since_start: usize) -> f64 {
        self.list_size_start * (1.0 + self.monthly_growth).powi(months_since_start as i32)
    }

    /// Patients by sex and age band, integers that sum to about the list size.
    pub fn population(&self, months_since_start: usize) -> [[u64; 20]; 2] {
        let list = self.list_size(months_since_start);
        let mut out = [[0u64; 20]; 2];
        for (b, (share, male_share)) in self.age_share.iter().zip(&self.male_share).enumerate() {
            let band = list * share;
            let male = (band * male_share).round();
            out[0][b] = male as u64;
            out[1][b] = (band.round() - male).max(0.0) as u64;
        }
        out
    }

    /// Ratio of the practice's age-weighted need to England's, for an age profile.
    pub fn age_factor(&self, weight: impl Fn(usize) -> f64) -> f64 {
        let local: f64 = (0..20).map(|b| self.age_share[b] * weight(b)).sum();
        let england: f64 = (0..20).map(|b| ENGLAND_AGE_SHARE[b] * weight(b)).sum();
        local / england
    }

    /// Deprivation as a z-score around England's typical practice (IMD ≈ 21 ± 12).
    pub fn deprivation_z(&self) -> f64 {
        (self.imd_score - 21.0) / 12.0
    }
}

pub fn population_at_least(pop: &[[u64; 20]; 2], first_band: usize) -> u64 {
    (first_band..20).map(|b| pop[0][b] + pop[1][b]).sum()
}

pub fn over_65(pop: &[[u64; 20]; 2]) -> u64 {
    population_at_least(pop, BAND_65)
}

pub fn over_75(pop: &[[u64; 20]; 2]) -> u64 {
    population_at_least(pop, BAND_75)
}

const PLACES: &[&str] = &[
    "Abbey",
    "Ashley Down",
    "Avonmouth",
    "Barton Hill",
    "Bedminster",
    "Bishopston",
    "Brislington",
    "Café Quarter",
    "Clifton",
    "Cotham",
    "Downend",
    "Easton",
    "Filton",
    "Fishponds",
    "Frenchay",
    "Hanham",
    "Hartcliffe",
    "Henleaze",
    "Horfield",
    "Kingswood",
    "Knowle",
    "Lawrence Hill",
    "Lockleaze",
    "Montpelier",
    "Redland",
    "St Pauls",
    "Southmead",
    "Stapleton",
    "Stockwood",
    "Totterdown",
    "Westbury",
    "Whitchurch",
    "Windmill Hill",
    "Zoë Lane",
    "Brontë Road",
    "Sainte-Hélène",
    "Harbourside",
    "Portishead",
    "Yate",
    "Thornbury",
    "Keynsham",
    "Nailsea",
    "Clevedon",
    "Chipping Sodbury",
    "Almondsbury",
    "Pill",
    "Winterbourne",
    "Frampton Cotterell",
];
const SUFFIXES: &[&str] = &[
    "Surgery",
    "Medical Centre",
    "Health Centre",
    "Medical Practice",
    "Family Practice",
    "Group Practice",
    "Partnership",
];
const REGIONS: &[&str] = &[
    "Severn Vale",
    "Mendip",
    "Cotswold",
    "Wessex",
    "Tamar",
    "Exe Valley",
    "Chiltern",
    "Fenland",
    "Peak",
    "Pennine",
    "Tyne",
    "Wear",
    "Humber",
    "Trent",
    "Medway",
    "Solent",
    "Weald",
    "Broads",
    "Dales",
    "Moors",
    "Mersey",
    "Irwell",
    "Ribble",
    "Eden",
    "Lune",
    "Derwent",
    "Ouse",
    "Nene",
    "Wye",
    "Usk",
    "Test",
    "Itchen",
    "Stour",
    "Arun",
    "Thames",
    "Lea",
    "Colne",
    "Cam",
    "Avon",
    "Kennet",
    "Dart",
    "Fal",
];
const ICB_LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTVWXYZ";

/// Builds `count` practices grouped into PCNs (about 6 practices each),
/// federations (about 40 practices) and ICBs (`icbs`).
///
/// One loop on purpose: each practice's draws come from one random stream in
/// a fixed order, and the committed sample is those exact bytes; the pure
/// parts (age profile, sex shares, openings) are already functions of their
/// own.
pub fn build_practices(
    seed: u64,
    count: usize,
    icbs: usize,
    first: Month,
    last: Month,
    qof_count: usize,
    survey_count: usize,
) -> Vec<Practice> {
    let mut rng = stream(seed, u64::MAX, 1);
    let list_dist = LogNormal::new((8_500f64).ln(), 0.55).expect("valid log-normal");
    let imd_dist = LogNormal::new((18.0f64).ln(), 0.55).expect("valid log-normal");
    let unit = Normal::new(0.0, 1.0).expect("valid normal");
    let months = first.months_until(last) + 1;

    let mut practices = Vec::with_capacity(count);
    let per_icb = count.div_ceil(icbs.max(1));
    let mut pcn_counter = 0usize;
    let mut pcn_left = 0usize;
    let mut pcn_code = String::new();
    let mut pcn_name = String::new();
    for index in 0..count {
        let icb = index / per_icb;
        let region = REGIONS[icb % REGIONS.len()];
        let within_icb = index % per_icb;
        let federation = if count <= 100 {
            format!("{region} GP Federation")
        } else {
            format!("{region} Federation {}", within_icb / 40 + 1)
        };
        if pcn_left == 0 || within_icb == 0 {
            pcn_counter += 1;
            pcn_left = rng.random_range(4..=7);
            pcn_code = format!("U{:05}", 10_000 + pcn_counter * 7 % 90_000);
            pcn_name = format!(
                "{} PCN",
                PLACES[(pcn_counter * 5 + icb) % PLACES.len()].replace("Café", "Central")
            );
        }
        pcn_left -= 1;

        // About one practice in 60 is a special (Y-coded) practice.
        let letter = if index % 60 == 17 {
            'Y'
        } else {
            ICB_LETTERS[icb % ICB_LETTERS.len()] as char
        };
        let code = format!(
            "{letter}{:05}",
            81_000 + index % 19_000 + (index / 19_000) * 7
        );
        let place = PLACES[index % PLACES.len()];
        let suffix = SUFFIXES[(index / PLACES.len() + index) % SUFFIXES.len()];
        let name = if index < PLACES.len() {
            format!("{place} {suffix}")
        } else {
            format!("{place} {suffix} {}", index / PLACES.len() + 1)
        };

        let community = match rng.random_range(0..100) {
            0..=69 => Community::Typical,
            70..=73 => Community::Student,
            74..=83 => Community::Retirement,
            84..=93 => Community::YoungFamilies,
            _ => Community::InnerCity,
        };
        let mut list: f64 = list_dist.sample(&mut rng);
        if community == Community::Student {
            list *= 2.0; // university practices are large
        }
        let list = list.clamp(1_000.0, 60_000.0);
        let tilt = unit.sample(&mut rng) * 0.15;
        let age_share = age_profile(community, tilt);
        let male_share = male_shares();

        let imd_score = imd_dist.sample(&mut rng).clamp(2.0, 80.0);
        let imd_decile = imd_decile(imd_score);
        let rural = rng.random_bool(if imd_score < 12.0 { 0.35 } else { 0.08 });
        let monthly_growth = unit.sample(&mut rng) * 0.002 + 0.0008;

        let mut sd = |s: f64| unit.sample(&mut rng) * s;
        let effects = PracticeEffects {
            appointments: sd(SD_APPOINTMENTS),
            dna: sd(SD_DNA),
            face_to_face: sd(0.35),
            gp_share: sd(0.3),
            prescribing: SD_PRESCRIBING.map(&mut sd),
            qof: (0..qof_count).map(|_| sd(0.22)).collect(),
            survey: (0..survey_count).map(|_| sd(0.25)).collect(),
            cons75: sd(SD_CONSULTATIONS_75),
            smr: sd(SD_MEDICATION_REVIEW),
            dementia: sd(0.1),
        };
        practices.push(Practice {
            index,
            code,
            name,
            pcn_code: pcn_code.clone(),
            pcn_name: pcn_name.clone(),
            federation,
            icb_code: format!(
                "Q{}{}",
                (b'A' + (icb / 26) as u8) as char,
                (b'A' + (icb % 26) as u8) as char
            ),
            icb_name: format!("NHS {region} Integrated Care Board"),
            supplier: if rng.random_bool(0.6) { "EMIS" } else { "TPP" },
            list_size_start: list,
            monthly_growth,
            age_share,
            male_share,
            imd_score,
            imd_decile,
            rural,
            opened: None,
            closed: None,
            effects,
        });
    }
    open_and_close_some(&mut practices, first, months);
    practices
}

/// A practice's share of patients in each five-year age band: England's,
/// bent towards its kind of community and tilted older or younger.
fn age_profile(community: Community, tilt: f64) -> [f64; 20] {
    let mut age_share = [0f64; 20];
    for (b, share) in age_share.iter_mut().enumerate() {
        let age = b as f64 * 5.0 + 2.5;
        let shape = match community {
            Community::Typical => 0.0,
            Community::Student => {
                if (15.0..25.0).contains(&age) {
                    1.6
                } else if age < 15.0 {
                    -0.8
                } else {
                    -0.3
                }
            }
            Community::Retirement => (age - 45.0) / 45.0 * 0.8,
            Community::YoungFamilies => {
                if age < 15.0 || (25.0..45.0).contains(&age) {
                    0.35
                } else if age > 60.0 {
                    -0.4
                } else {
                    0.0
                }
            }
            Community::InnerCity => {
                if (20.0..45.0).contains(&age) {
                    0.45
                } else if age > 60.0 {
                    -0.5
                } else {
                    -0.1
                }
            }
        };
        *share = ENGLAND_AGE_SHARE[b] * (shape + tilt * (age - 45.0) / 45.0).exp();
    }
    let total: f64 = age_share.iter().sum();
    age_share.iter_mut().for_each(|s| *s /= total);
    age_share
}

/// The share of each age band that is male.
fn male_shares() -> [f64; 20] {
    let mut male_share = [0f64; 20];
    for (b, m) in male_share.iter_mut().enumerate() {
        // Slightly more boys at birth, more women in old age.
        *m = if b < 13 {
            0.51
        } else {
            0.51 - (b as f64 - 12.0) * 0.025
        };
    }
    male_share
}

/// A few practices open or close part-way through the series (about 1 in
/// 30 of each, at least one of each when the series is long enough).
fn open_and_close_some(practices: &mut [Practice], first: Month, months: usize) {
    let count = practices.len();
    if months >= 12 {
        let changes = (count / 30).max(1);
        for k in 0..changes {
            let opening = (7 + k * 31) % count;
            let closing = (count - 5 - (k * 37) % count.saturating_sub(5).max(1)) % count;
            if opening != closing {
                practices[opening].opened = Some(first.plus(months / 4));
                practices[opening].list_size_start = 1_800.0;
                practices[opening].monthly_growth = 0.04;
                practices[closing].closed = Some(first.plus(months * 3 / 4));
            }
        }
    }
}

/// IMD 2019 LSOA score cut points for deciles (1 = most deprived).
fn imd_decile(score: f64) -> u8 {
    const CUTS: [f64; 9] = [34.2, 27.0, 22.0, 17.8, 14.5, 11.6, 9.2, 7.1, 5.1];
    CUTS.iter()
        .position(|c| score >= *c)
        .map_or(10, |p| p as u8 + 1)
}

/// Number of age bands, for writers that iterate them.
pub const BANDS: usize = AGE_BANDS.len();
