//! Draws the numbers and writes each extract in the shape its source uses.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Normal, Poisson};

use crate::catalogue::{
    AGE_BANDS, CHEMICALS, CLINICAL_SEARCHES, EMERGENCY_ADMISSIONS_PER_1000, PRESENTATION_VARIANTS,
    PrescribingGroup, QOF_INDICATORS, SURVEY_QUESTIONS,
};
use crate::model::{BANDS, Practice, over_65, over_75, stream};
use crate::month::Month;
use crate::plant::Plant;
use crate::structure::{
    APPOINTMENT_DEPRIVATION, DNA_DEPRIVATION, DNA_YOUNG_ADULTS, appointment_age_weight,
    young_adult_weight,
};
use crate::{Result, SynthError, SynthOptions, SynthSummary};

// Stream tags: one independent random stream per practice and source.
const TAG_APPOINTMENTS: u64 = 10;
const TAG_PRESCRIBING: u64 = 11;
const TAG_SEARCHES: u64 = 12;
const TAG_QOF: u64 = 13;
const TAG_SURVEY: u64 = 14;
const TAG_ADMISSIONS: u64 = 15;

/// One output file, counting what goes into it.
struct OutFile {
    path: PathBuf,
    inner: BufWriter<File>,
    rows: u64,
    bytes: u64,
}

impl OutFile {
    fn create(path: PathBuf) -> Result<OutFile> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| SynthError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let file = File::create(&path).map_err(|source| SynthError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(OutFile {
            path,
            inner: BufWriter::with_capacity(1 << 20, file),
            rows: 0,
            bytes: 0,
        })
    }

    fn header(&mut self, line: &str) -> Result<()> {
        self.raw(line.as_bytes())?;
        self.raw(b"\n")
    }

    fn row(&mut self, line: &str) -> Result<()> {
        self.rows += 1;
        self.header(line)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes += bytes.len() as u64;
        self.inner
            .write_all(bytes)
            .map_err(|source| SynthError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(mut self, summary: &mut SynthSummary) -> Result<()> {
        self.inner.flush().map_err(|source| SynthError::Io {
            path: self.path.clone(),
            source,
        })?;
        summary.files += 1;
        summary.rows += self.rows;
        summary.bytes += self.bytes;
        Ok(())
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn q(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Multiplies the odds of `p` by `ratio`.
fn scale_odds(p: f64, ratio: f64) -> f64 {
    logistic(logit(p) + ratio.ln())
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    // Means are bounded (a practice-month of a presentation), so the cast is exact.
    Poisson::new(mean).map_or(0, |d| d.sample(rng) as u64)
}

fn binomial(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    Binomial::new(n, p.clamp(0.0, 1.0)).map_or(0, |d| d.sample(rng))
}

/// Winter peak, August dip: appointments vary about ±8% over the year.
fn appointment_season(m: Month) -> f64 {
    let angle = 2.0 * std::f64::consts::PI * (m.month as f64 - 1.0) / 12.0;
    let holiday = match m.month {
        8 => 0.9,
        12 => 0.93,
        _ => 1.0,
    };
    (1.0 + 0.07 * angle.cos()) * holiday
}

/// Respiratory infections drive antibiotic prescribing ±25% over the year.
fn antibiotic_season(m: Month) -> f64 {
    let angle = 2.0 * std::f64::consts::PI * (m.month as f64 - 1.0) / 12.0;
    1.0 + 0.25 * angle.cos()
}

fn group_index(g: PrescribingGroup) -> usize {
    match g {
        PrescribingGroup::Antibiotic => 0,
        PrescribingGroup::BroadSpectrumAntibiotic => 1,
        PrescribingGroup::Opioid => 2,
        PrescribingGroup::Hypnotic => 3,
        PrescribingGroup::Other => 4,
    }
}

pub struct Writer<'a> {
    out: &'a Path,
    options: &'a SynthOptions,
    practices: &'a [Practice],
    plants_by_practice: Vec<Vec<&'a Plant>>,
    plants: &'a [Plant],
    pub summary: SynthSummary,
}

impl<'a> Writer<'a> {
    pub fn new(
        out: &'a Path,
        options: &'a SynthOptions,
        practices: &'a [Practice],
        plants: &'a [Plant],
    ) -> Result<Writer<'a>> {
        fs::create_dir_all(out).map_err(|source| SynthError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        let mut plants_by_practice = vec![Vec::new(); practices.len()];
        for plant in plants {
            plants_by_practice[plant.practice].push(plant);
        }
        Ok(Writer {
            out,
            options,
            practices,
            plants_by_practice,
            plants,
            summary: SynthSummary {
                practices: practices.len(),
                plants: plants.len(),
                ..SynthSummary::default()
            },
        })
    }

    /// The planted multiplier for a practice, indicator and month (1 if none).
    fn plant(&self, practice: usize, indicator: &str, m: Month) -> f64 {
        self.plants_by_practice[practice]
            .iter()
            .filter(|p| p.indicator == indicator)
            .map(|p| p.factor(m))
            .product()
    }

    fn months(&self) -> impl Iterator<Item = (usize, Month)> + use<> {
        let first = self.options.first_month();
        (0..self.options.months).map(move |i| (i, first.plus(i)))
    }

    pub fn write_all(&mut self) -> Result<()> {
        self.write_register()?;
        self.write_registered_patients()?;
        self.write_appointments()?;
        self.write_prescribing()?;
        self.write_qof()?;
        self.write_survey()?;
        self.write_searches()?;
        self.write_admissions()?;
        self.write_ground_truth()?;
        Ok(())
    }

    fn last_open_month(&self, p: &Practice) -> (usize, Month) {
        let last = p.closed.unwrap_or(self.options.last_month);
        (self.options.first_month().months_until(last), last)
    }

    fn write_register(&mut self) -> Result<()> {
        let mut f = OutFile::create(self.out.join("practices.csv"))?;
        f.header(
            "PRACTICE_CODE,PRACTICE_NAME,PCN_CODE,PCN_NAME,FEDERATION,ICB_CODE,ICB_NAME,SUPPLIER,\
             OPEN_DATE,CLOSE_DATE,LIST_SIZE,IMD_SCORE,IMD_DECILE,RURALITY",
        )?;
        for p in self.practices {
            let (idx, _) = self.last_open_month(p);
            let list: u64 = p.population(idx).iter().flatten().sum();
            let open = p
                .opened
                .map_or("1999-04-01".to_string(), |m| format!("{m}-01"));
            let close = p
                .closed
                .map_or(String::new(), |m| format!("{m}-{:02}", m.days()));
            f.row(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{}",
                p.code,
                q(&p.name),
                p.pcn_code,
                q(&p.pcn_name),
                q(&p.federation),
                p.icb_code,
                q(&p.icb_name),
                p.supplier,
                open,
                close,
                list,
                p.imd_score,
                p.imd_decile,
                if p.rural { "Rural" } else { "Urban" },
            ))?;
        }
        f.finish(&mut self.summary)
    }

    fn write_registered_patients(&mut self) -> Result<()> {
        for (i, m) in self.months() {
            let path = self
                .out
                .join("registered_patients")
                .join(format!("gp-reg-pat-prac-quin-age-{m}.csv"));
            let mut f = OutFile::create(path)?;
            f.header("EXTRACT_DATE,ORG_TYPE,ORG_CODE,SEX,AGE_GROUP_5,NUMBER_OF_PATIENTS")?;
            let date = m.ddmonyyyy_first();
            let mut line = String::with_capacity(64);
            for p in self.practices.iter().filter(|p| p.is_open(m)) {
                let pop = p.population(i);
                for (s, sex) in ["MALE", "FEMALE"].iter().enumerate() {
                    for b in 0..BANDS {
                        line.clear();
                        let _ = write!(
                            line,
                            "{date},GP,{},{sex},{},{}",
                            p.code, AGE_BANDS[b], pop[s][b]
                        );
                        f.row(&line)?;
                    }
                }
            }
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    fn write_appointments(&mut self) -> Result<()> {
        let mut rngs: Vec<ChaCha8Rng> = (0..self.practices.len())
            .map(|i| stream(self.options.seed, i as u64, TAG_APPOINTMENTS))
            .collect();
        let hcp = ["GP", "Other Practice staff"];
        let modes = ["Face-to-Face", "Telephone", "Home Visit"];
        let statuses = ["Attended", "DNA", "Unknown"];
        for (i, m) in self.months() {
            let path = self
                .out
                .join("appointments")
                .join(format!("gpad-practice-level-{m}.csv"));
            let mut f = OutFile::create(path)?;
            f.header(
                "APPOINTMENT_MONTH_START_DATE,GP_CODE,GP_NAME,SUPPLIER,PCN_CODE,HCP_TYPE,\
                 APPT_MODE,APPT_STATUS,COUNT_OF_APPOINTMENTS",
            )?;
            let date = m.ddmonyyyy_first();
            let mut line = String::with_capacity(160);
            for p in self.practices.iter().filter(|p| p.is_open(m)) {
                let rng = &mut rngs[p.index];
                let pop = p.population(i);
                let list: u64 = pop.iter().flatten().sum();
                let age = p.age_factor(appointment_age_weight);
                let expected = list as f64
                    * 0.46
                    * age
                    * (APPOINTMENT_DEPRIVATION * p.deprivation_z()).exp()
                    * appointment_season(m)
                    * p.effects.appointments.exp()
                    * self.plant(p.index, "appointments_per_1000", m);
                let total = poisson(rng, expected);
                let young = p.age_factor(young_adult_weight);
                let p_dna = scale_odds(
                    logistic(
                        logit(0.042)
                            + DNA_DEPRIVATION * p.deprivation_z()
                            + DNA_YOUNG_ADULTS * (young - 1.0)
                            + p.effects.dna,
                    ),
                    self.plant(p.index, "dna_rate", m),
                );
                let dna = binomial(rng, total, p_dna);
                let unknown = binomial(rng, total - dna, 0.02);
                let by_status = [total - dna - unknown, dna, unknown];
                let gp_share = logistic(logit(0.45) + p.effects.gp_share);
                let f2f = logistic(logit(0.68) + p.effects.face_to_face);
                for (s, status) in statuses.iter().enumerate() {
                    let n = by_status[s];
                    let gp = binomial(rng, n, gp_share);
                    for (h, hcp_type) in hcp.iter().enumerate() {
                        let nh = if h == 0 { gp } else { n - gp };
                        let face = binomial(rng, nh, f2f);
                        let home = binomial(rng, nh - face, 0.03);
                        let split = [face, nh - face - home, home];
                        for (k, mode) in modes.iter().enumerate() {
                            line.clear();
                            let _ = write!(
                                line,
                                "{date},{},{},{},{},{hcp_type},{mode},{status},{}",
                                p.code,
                                q(&p.name),
                                p.supplier,
                                p.pcn_code,
                                split[k]
                            );
                            f.row(&line)?;
                        }
                    }
                }
            }
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    fn write_prescribing(&mut self) -> Result<()> {
        let mut rngs: Vec<ChaCha8Rng> = (0..self.practices.len())
            .map(|i| stream(self.options.seed, i as u64, TAG_PRESCRIBING))
            .collect();
        let variants = &PRESENTATION_VARIANTS[..self.options.presentations_per_chemical];
        let variant_total: f64 = variants.iter().map(|v| v.2).sum();
        for (i, m) in self.months() {
            let path = self
                .out
                .join("prescribing")
                .join(format!("epd-{}.csv", m.yyyymm()));
            let mut f = OutFile::create(path)?;
            f.header(
                "YEAR_MONTH,PRACTICE_CODE,BNF_CODE,BNF_DESCRIPTION,BNF_CHEMICAL_SUBSTANCE,\
                 CHEMICAL_SUBSTANCE_BNF_DESCR,ITEMS,QUANTITY,TOTAL_QUANTITY,NIC,ACTUAL_COST",
            )?;
            let ym = m.yyyymm();
            let mut line = String::with_capacity(160);
            for p in self.practices.iter().filter(|p| p.is_open(m)) {
                let rng = &mut rngs[p.index];
                let list: u64 = p.population(i).iter().flatten().sum();
                let antibiotic = self.plant(p.index, "antibiotic_items_per_1000", m);
                let group_plant = [
                    antibiotic,
                    antibiotic * self.plant(p.index, "broad_spectrum_antibiotic_pct", m),
                    self.plant(p.index, "opioid_items_per_1000", m),
                    self.plant(p.index, "hypnotic_items_per_1000", m),
                    1.0,
                ];
                for chem in CHEMICALS {
                    let g = group_index(chem.group);
                    let season = match chem.group {
                        PrescribingGroup::Antibiotic
                        | PrescribingGroup::BroadSpectrumAntibiotic => antibiotic_season(m),
                        _ => 1.0,
                    };
                    let rate = chem.base_rate
                        * p.age_factor(|b| chem.group.age_weight(b))
                        * (chem.group.deprivation_effect() * p.deprivation_z()).exp()
                        * season
                        * p.effects.prescribing[g].exp()
                        * group_plant[g];
                    for (suffix, label, share) in variants {
                        let items =
                            poisson(rng, list as f64 / 1000.0 * rate * share / variant_total);
                        if items == 0 {
                            continue; // the EPD has no rows for nothing prescribed
                        }
                        let quantity = chem.quantity_per_item;
                        let total_quantity = items as f64 * quantity;
                        let nic = total_quantity * chem.unit_cost * (1.0 + 0.3 * (1.0 - share));
                        let actual = nic * 0.9235 + items as f64 * 0.04;
                        line.clear();
                        let _ = write!(
                            line,
                            "{ym},{},{}{},{},{},{},{},{},{},{:.2},{:.2}",
                            p.code,
                            chem.code,
                            suffix,
                            q(&format!("{}{}", chem.presentation, label)),
                            chem.code,
                            q(chem.name),
                            items,
                            quantity,
                            total_quantity,
                            nic,
                            actual
                        );
                        f.row(&line)?;
                    }
                }
            }
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    /// Financial years whose March falls inside the series.
    fn financial_year_ends(&self) -> Vec<(usize, Month)> {
        self.months().filter(|(_, m)| m.month == 3).collect()
    }

    fn write_qof(&mut self) -> Result<()> {
        for (i, march) in self.financial_year_ends() {
            let fy = march.financial_year();
            let path = self
                .out
                .join("qof")
                .join(format!("qof-achievement-{fy}.csv"));
            let mut f = OutFile::create(path)?;
            f.header("REPORTING_YEAR,PRACTICE_CODE,INDICATOR_CODE,MEASURE,VALUE")?;
            for p in self.practices.iter().filter(|p| p.is_open(march)) {
                let mut rng = stream(
                    self.options.seed,
                    p.index as u64,
                    TAG_QOF + 100 * march.year as u64,
                );
                let list: u64 = p.population(i).iter().flatten().sum();
                for (k, ind) in QOF_INDICATORS.iter().enumerate() {
                    let age = p.age_factor(|b| (b as f64 * 5.0 / 50.0 + 0.1).powf(ind.age_power));
                    let register = binomial(&mut rng, list, (ind.prevalence * age).min(0.9));
                    let pcas = binomial(&mut rng, register, ind.exception_rate);
                    let denominator = register - pcas;
                    let achieve = logistic(
                        logit(ind.achievement) - 0.1 * p.deprivation_z() + p.effects.qof[k],
                    );
                    let numerator = binomial(&mut rng, denominator, achieve);
                    for (measure, value) in [
                        ("REGISTER", register),
                        ("NUMERATOR", numerator),
                        ("DENOMINATOR", denominator),
                        ("PCAS", pcas),
                    ] {
                        f.row(&format!("{fy},{},{},{measure},{value}", p.code, ind.code))?;
                    }
                }
            }
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    fn write_survey(&mut self) -> Result<()> {
        let julys: Vec<(usize, Month)> = self.months().filter(|(_, m)| m.month == 7).collect();
        for (i, july) in julys {
            let path = self
                .out
                .join("survey")
                .join(format!("gpps-practice-results-{}.csv", july.year));
            let mut f = OutFile::create(path)?;
            f.header("SURVEY_YEAR,PRACTICE_CODE,PRACTICE_NAME,QUESTION_ID,QUESTION_TEXT,RESPONSES,POSITIVE,PCT_POSITIVE")?;
            for p in self.practices.iter().filter(|p| p.is_open(july)) {
                let mut rng = stream(
                    self.options.seed,
                    p.index as u64,
                    TAG_SURVEY + 100 * july.year as u64,
                );
                let list: u64 = p.population(i).iter().flatten().sum();
                // A practice open for under a year was barely sampled.
                let new = p.opened.is_some_and(|o| o.months_until(july) < 12);
                let sent = if new {
                    25
                } else {
                    ((list as f64 * 0.045) as u64).min(650)
                };
                for (k, question) in SURVEY_QUESTIONS.iter().enumerate() {
                    let responses = binomial(&mut rng, sent, 0.31);
                    let positive_p = logistic(
                        logit(question.positive) - 0.12 * p.deprivation_z() + p.effects.survey[k],
                    );
                    let positive = binomial(&mut rng, responses, positive_p);
                    // Results from fewer than 10 responses are suppressed at source.
                    let (pos, pct) = if responses < 10 {
                        ("*".to_string(), "*".to_string())
                    } else {
                        (
                            positive.to_string(),
                            format!("{:.1}", positive as f64 / responses as f64 * 100.0),
                        )
                    };
                    f.row(&format!(
                        "{},{},{},{},{},{responses},{pos},{pct}",
                        july.year,
                        p.code,
                        q(&p.name),
                        question.id,
                        q(question.text)
                    ))?;
                }
            }
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    /// Clinical-system search exports: one file per practice, in the layout
    /// and encoding of its supplier's system.
    fn write_searches(&mut self) -> Result<()> {
        let run_date = self.options.last_month.plus(1);
        for p in self.practices {
            let mut rng = stream(self.options.seed, p.index as u64, TAG_SEARCHES);
            let emis = p.supplier == "EMIS";
            let mut text = String::new();
            if emis {
                text.push('\u{FEFF}');
                text.push_str("EMIS Web - Enterprise Search export\n");
                text.push_str("Search folder: Federation indicators\\Monthly\n");
                let _ = writeln!(text, "Organisation: {} ({})", p.name, p.code);
                let _ = writeln!(
                    text,
                    "Exported on: 03/{:02}/{} 06:14",
                    run_date.month, run_date.year
                );
                text.push('\n');
                text.push_str(
                    "Organisation Code,Period End,Search Code,Search Name,Numerator,Denominator\n",
                );
            } else {
                text.push_str("SystmOne Clinical Reporting\n");
                text.push_str("Report: Federation indicator searches\n");
                let _ = writeln!(text, "Practice: {}", p.name);
                let _ = writeln!(text, "Date run: 03/{:02}/{}", run_date.month, run_date.year);
                text.push('\n');
                text.push_str(
                    "Practice Code,Month Ending,Indicator,Description,Count,Population\n",
                );
            }
            let mut rows = 0u64;
            for (i, m) in self.months() {
                if !p.is_open(m) {
                    continue;
                }
                let pop = p.population(i);
                let (o65, o75) = (over_65(&pop), over_75(&pop));
                // Patients seen, so never more than the patients there are.
                let seen_p = 0.45
                    * appointment_season(m)
                    * p.effects.cons75.exp()
                    * self.plant(p.index, "consultations_75_per_1000", m);
                let cons = binomial(&mut rng, o75, seen_p.min(0.97));
                let smr_den = (o65 as f64 * 0.11).round() as u64;
                let smr_p = scale_odds(
                    logistic(logit(0.42) + p.effects.smr),
                    self.plant(p.index, "medication_review_pct", m),
                );
                let smr = binomial(&mut rng, smr_den, smr_p);
                let dementia = poisson(&mut rng, o65 as f64 * 0.0008 * p.effects.dementia.exp());
                for (search, numerator, denominator) in [
                    (&CLINICAL_SEARCHES[0], cons, o75),
                    (&CLINICAL_SEARCHES[1], smr, smr_den),
                    (&CLINICAL_SEARCHES[2], dementia, o65),
                ] {
                    // Small numbers are suppressed at source: EMIS writes
                    // `<5`, SystmOne `*`. They are censored, not zero.
                    let shown = if (1..5).contains(&numerator) {
                        if emis {
                            "<5".to_string()
                        } else {
                            "*".to_string()
                        }
                    } else {
                        numerator.to_string()
                    };
                    let _ = writeln!(
                        text,
                        "{},{},{},{},{shown},{denominator}",
                        p.code,
                        m.dmy_last(),
                        search.code,
                        q(search.name)
                    );
                    rows += 1;
                }
            }
            let bytes = if emis {
                text.into_bytes()
            } else {
                // SystmOne exports in Windows-1252: accented names are single bytes.
                encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
            };
            let path = self
                .out
                .join("searches")
                .join(format!("{}-searches.csv", p.code));
            let mut f = OutFile::create(path)?;
            f.raw(&bytes)?;
            f.rows = rows;
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    /// Emergency admissions by registered practice, month, sex and age band,
    /// as a federation receives them from secondary-care activity data. The
    /// practice's own effect comes from this source's own random stream, so
    /// adding the source left every other extract unchanged.
    fn write_admissions(&mut self) -> Result<()> {
        let mut rngs: Vec<ChaCha8Rng> = (0..self.practices.len())
            .map(|i| stream(self.options.seed, i as u64, TAG_ADMISSIONS))
            .collect();
        let spread = Normal::new(0.0, 0.12).expect("a valid standard deviation");
        let effects: Vec<f64> = rngs
            .iter_mut()
            .zip(self.practices)
            .map(|(rng, p)| spread.sample(rng) + 0.12 * p.deprivation_z())
            .collect();
        for (i, m) in self.months() {
            let path = self
                .out
                .join("admissions")
                .join(format!("emergency-admissions-{}.csv", m.yyyymm()));
            let mut f = OutFile::create(path)?;
            f.header("REGISTERED_PRACTICE_CODE,ADMISSION_MONTH,SEX,AGE_BAND,EMERGENCY_ADMISSIONS")?;
            let angle = 2.0 * std::f64::consts::PI * (m.month as f64 - 1.0) / 12.0;
            let winter = 1.0 + 0.08 * angle.cos();
            let month = m.yyyymm();
            let mut line = String::with_capacity(64);
            for p in self.practices.iter().filter(|p| p.is_open(m)) {
                let pop = p.population(i);
                let rng = &mut rngs[p.index];
                let effect = effects[p.index].exp() * winter;
                for (s, sex) in ["M", "F"].iter().enumerate() {
                    for b in 0..BANDS {
                        let mean =
                            pop[s][b] as f64 * EMERGENCY_ADMISSIONS_PER_1000[b] / 12_000.0 * effect;
                        line.clear();
                        let _ = write!(
                            line,
                            "{},{month},{sex},{},{}",
                            p.code,
                            AGE_BANDS[b],
                            poisson(rng, mean)
                        );
                        f.row(&line)?;
                    }
                }
            }
            f.finish(&mut self.summary)?;
        }
        Ok(())
    }

    fn write_ground_truth(&mut self) -> Result<()> {
        let mut f = OutFile::create(self.out.join("ground_truth.csv"))?;
        f.header("kind,practice_code,indicator_id,scale,size,start_period,description")?;
        for plant in self.plants {
            let p = &self.practices[plant.practice];
            let what = match plant.kind {
                crate::PlantKind::Outlier => format!(
                    "{} × {:.3} in every month",
                    plant.scale.as_str(),
                    plant.size
                ),
                crate::PlantKind::Shift => format!(
                    "step to {} × {:.3} from {}",
                    plant.scale.as_str(),
                    plant.size,
                    plant.start
                ),
                crate::PlantKind::Trend => format!(
                    "{} × {:.3} per month, compounding, from {}",
                    plant.scale.as_str(),
                    plant.size,
                    plant.start
                ),
            };
            f.row(&format!(
                "{},{},{},{},{:.6},{},{}",
                plant.kind.as_str(),
                p.code,
                plant.indicator,
                plant.scale.as_str(),
                plant.size,
                plant.start,
                q(&what)
            ))?;
        }
        f.finish(&mut self.summary)
    }
}
