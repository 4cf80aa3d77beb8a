//! The indicator catalogue as plain data: an indicator's metadata (parsed
//! from the `/* … */` TOML block at the top of its `.sql` file), its value
//! type and domain, the rows its query returns (with the age-band strata of
//! standardised indicators), and `--select`'s selectors.
//!
//! What this crate is not: it runs no SQL and links no DataFusion or Arrow,
//! so the crates that only read indicators' metadata and output (`compare`,
//! `report`) build and test without the query engine. Running indicators is
//! `peerbench-indicators`' job, which re-exports everything here.

mod select;
mod strata;

use std::path::{Path, PathBuf};

use peerbench_stats::Polarity;
use serde::Deserialize;

pub use select::{SelectError, UnknownDomain, close_matches, did_you_mean, select};
pub use strata::{ESP_BANDS, Sex, Stratum, dsr_arrays, esp_band};

/// What is wrong with an indicator file or the catalogue as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: the file must start with a /* … */ comment holding the indicator's metadata (TOML)"
    )]
    NoMetadata { path: PathBuf },
    #[error("{path}:{line}: metadata: {message}")]
    BadMetadata {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the indicator id {id:?} must match the file name ({stem:?}.sql)")]
    IdMismatch {
        path: PathBuf,
        id: String,
        stem: String,
    },
    #[error("two indicators share the id {id:?}: {first} and {second}")]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
}

pub type Result<T, E = CatalogueError> = std::result::Result<T, E>;

/// How an indicator's value is built from its numerator and denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// O/n × 100, Wilson interval.
    Proportion,
    /// O/n × multiplier, Byar / exact Poisson interval.
    Rate,
    /// O/n where n is not a head count (items per STAR-PU, cost per patient).
    Ratio,
    /// Directly standardised rate (Dobson): Σ wᵢOᵢ/nᵢ ÷ Σwᵢ × multiplier with
    /// the 2013 European Standard Population as weights. The SQL returns one
    /// row per age band (and optionally sex).
    Dsr,
    /// Indirectly standardised ratio O/E × 100, E from the rates by age band
    /// (and sex) of every practice loaded in the same period: 100 is what the
    /// practice would see at the federation's rates.
    Isr,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Proportion => "proportion",
            ValueType::Rate => "rate",
            ValueType::Ratio => "ratio",
            ValueType::Dsr => "dsr",
            ValueType::Isr => "isr",
        }
    }

    /// Standardised value types need the SQL's output by age band (and sex).
    pub fn is_standardised(self) -> bool {
        matches!(self, ValueType::Dsr | ValueType::Isr)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Demand,
    PatientExperience,
    Demographics,
    Prescribing,
    Clinical,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Demand => "demand",
            Domain::PatientExperience => "patient_experience",
            Domain::Demographics => "demographics",
            Domain::Prescribing => "prescribing",
            Domain::Clinical => "clinical",
        }
    }

    pub fn parse(s: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// As [`Domain::parse`], with an error listing the domains.
    pub fn named(s: &str) -> Result<Domain, UnknownDomain> {
        Domain::parse(s).ok_or_else(|| UnknownDomain {
            name: s.to_string(),
        })
    }

    pub fn title(self) -> &'static str {
        match self {
            Domain::Demand => "Demand and access",
            Domain::PatientExperience => "Patient experience",
            Domain::Demographics => "Demographics (context)",
            Domain::Prescribing => "Prescribing",
            Domain::Clinical => "Clinical care",
        }
    }
    pub const ALL: [Domain; 5] = [
        Domain::Clinical,
        Domain::Prescribing,
        Domain::Demand,
        Domain::PatientExperience,
        Domain::Demographics,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PolarityName {
    HighIsGood,
    LowIsGood,
    NoJudgement,
}

/// The metadata block at the top of an indicator file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    id: String,
    title: String,
    numerator: String,
    denominator: String,
    domain: Domain,
    value_type: ValueType,
    multiplier: Option<f64>,
    polarity: PolarityName,
    definition: String,
    #[serde(default)]
    why_it_matters: String,
    source: String,
    #[serde(default)]
    caveats: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    reviewed: Option<String>,
    #[serde(default)]
    next_review: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    min_denominator: Option<f64>,
    #[serde(default)]
    seasonal: bool,
    /// Short unit label for reports, e.g. "%" or "per 1,000 patients".
    #[serde(default)]
    units: Option<String>,
}

/// An indicator: its metadata and its SQL.
#[derive(Debug, Clone)]
pub struct Indicator {
    pub id: String,
    pub title: String,
    pub numerator: String,
    pub denominator: String,
    pub domain: Domain,
    pub value_type: ValueType,
    pub multiplier: f64,
    pub polarity: Polarity,
    pub definition: String,
    pub why_it_matters: String,
    pub source: String,
    pub caveats: String,
    pub owner: String,
    pub reviewed: Option<String>,
    pub next_review: Option<String>,
    pub tags: Vec<String>,
    pub draft: bool,
    pub min_denominator: f64,
    /// A monthly series with a strong seasonal pattern shared by practices
    /// (appointments, antibiotics): its run chart is drawn on the seasonally
    /// adjusted series (docs/methods.md, "Seasonal run charts").
    pub seasonal: bool,
    pub units: String,
    pub path: PathBuf,
    pub sql: String,
}

/// Splits the leading `/* … */` block from the SQL; returns (metadata, line of its first character).
fn metadata_block(text: &str) -> Option<(&str, usize)> {
    let start = text.find("/*")?;
    if !text[..start].trim().is_empty() {
        return None;
    }
    let end = text[start..].find("*/")? + start;
    let body = &text[start + 2..end];
    let line = text[..start + 2].matches('\n').count() + 1;
    Some((body, line))
}

impl Indicator {
    /// The SQL after its metadata block: what the engine runs. Indicators
    /// whose queries are the same text (a DSR and an ISR over the same
    /// strata) have the same output within a run.
    pub fn query(&self) -> &str {
        metadata_block(&self.sql)
            .and_then(|_| self.sql.find("*/"))
            .map_or(self.sql.as_str(), |end| &self.sql[end + 2..])
            .trim()
    }

    pub fn parse(path: &Path, text: &str) -> Result<Indicator> {
        let (block, first_line) =
            metadata_block(text).ok_or_else(|| CatalogueError::NoMetadata {
                path: path.to_path_buf(),
            })?;
        let raw: RawMeta = toml::from_str(block).map_err(|e| {
            let line = e
                .span()
                .map(|s| first_line + block[..s.start.min(block.len())].matches('\n').count())
                .unwrap_or(first_line);
            CatalogueError::BadMetadata {
                path: path.to_path_buf(),
                line,
                message: e.message().to_string(),
            }
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Ids become file names and anchors in the published report.
        let id_ok = raw
            .id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && raw
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !id_ok {
            return Err(CatalogueError::BadMetadata {
                path: path.to_path_buf(),
                line: first_line,
                message: format!(
                    "id {:?}: use lower-case letters, digits and underscores, starting with a letter",
                    raw.id
                ),
            });
        }
        if raw.id != stem {
            return Err(CatalogueError::IdMismatch {
                path: path.to_path_buf(),
                id: raw.id,
                stem,
            });
        }
        let multiplier = raw.multiplier.unwrap_or(match raw.value_type {
            ValueType::Proportion | ValueType::Isr => 100.0,
            ValueType::Rate => 1000.0,
            ValueType::Ratio => 1.0,
            ValueType::Dsr => 100_000.0,
        });
        if raw.value_type == ValueType::Isr && multiplier != 100.0 {
            return Err(CatalogueError::BadMetadata {
                path: path.to_path_buf(),
                line: first_line,
                message: format!(
                    "an isr is O/E × 100 (100 = as expected); leave out the multiplier or set it to 100, found {multiplier}"
                ),
            });
        }
        if !(multiplier.is_finite() && multiplier > 0.0) {
            return Err(CatalogueError::BadMetadata {
                path: path.to_path_buf(),
                line: first_line,
                message: format!("multiplier must be a positive number, found {multiplier}"),
            });
        }
        if raw.seasonal && raw.value_type == ValueType::Isr {
            // The expected counts come from the same month's rates by age
            // band, so an ISR's season is already allowed for.
            return Err(CatalogueError::BadMetadata {
                path: path.to_path_buf(),
                line: first_line,
                message: "seasonal = true does nothing for an isr: its expected counts use the same month's rates, which already carry the season".to_string(),
            });
        }
        let units = raw.units.unwrap_or_else(|| match raw.value_type {
            ValueType::Proportion => "%".to_string(),
            ValueType::Dsr => format!("per {} (age-standardised)", format_thousands(multiplier)),
            ValueType::Isr => "ratio (100 = as expected)".to_string(),
            _ => format!("per {}", format_thousands(multiplier)),
        });
        Ok(Indicator {
            id: raw.id,
            title: raw.title,
            numerator: raw.numerator,
            denominator: raw.denominator,
            domain: raw.domain,
            value_type: raw.value_type,
            multiplier,
            polarity: match raw.polarity {
                PolarityName::HighIsGood => Polarity::HighIsGood,
                PolarityName::LowIsGood => Polarity::LowIsGood,
                PolarityName::NoJudgement => Polarity::NoJudgement,
            },
            definition: raw.definition,
            why_it_matters: raw.why_it_matters,
            source: raw.source,
            caveats: raw.caveats,
            owner: raw.owner,
            reviewed: raw.reviewed,
            next_review: raw.next_review,
            tags: raw.tags,
            draft: raw.draft,
            min_denominator: raw.min_denominator.unwrap_or(1.0),
            seasonal: raw.seasonal,
            units,
            path: path.to_path_buf(),
            sql: text.to_string(),
        })
    }
}

fn format_thousands(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn sql_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| CatalogueError::Read {
            path: d.clone(),
            source,
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sql") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every `.sql` file under `dir` (recursively), with its text, in path
/// order.
pub fn read_sql_files(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    sql_files(dir)?
        .into_iter()
        .map(|path| match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(source) => Err(CatalogueError::Read { path, source }),
        })
        .collect()
}

/// Reads every indicator under `dir` (recursively), sorted by id.
pub fn load_catalogue(dir: &Path) -> Result<Vec<Indicator>> {
    parse_catalogue(read_sql_files(dir)?)
}

/// The indicators of these files (path, text), sorted by id; two with one
/// id are an error naming both files.
pub fn parse_catalogue(files: Vec<(PathBuf, String)>) -> Result<Vec<Indicator>> {
    let mut indicators: Vec<Indicator> = Vec::new();
    for (path, text) in files {
        let ind = Indicator::parse(&path, &text)?;
        if let Some(other) = indicators.iter().find(|i| i.id == ind.id) {
            return Err(CatalogueError::DuplicateId {
                id: ind.id,
                first: other.path.clone(),
                second: path,
            });
        }
        indicators.push(ind);
    }
    indicators.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(indicators)
}

/// One practice × period row of an indicator's output. A missing numerator
/// or denominator (suppressed at source) stays missing: never zero.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorRow {
    pub practice_code: String,
    pub period: String,
    /// For standardised indicators, the totals over the strata.
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    /// Age bands (and sexes) of standardised indicators; empty otherwise.
    pub strata: Vec<Stratum>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "/*\nid = \"dna_rate\"\ntitle = \"DNA\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"GPAD\"\n*/\nSELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, 5 AS numerator, 100 AS denominator\n";

    #[test]
    fn the_query_is_the_sql_after_the_metadata_block() {
        let ind = Indicator::parse(Path::new("dna_rate.sql"), GOOD).unwrap();
        assert_eq!(
            ind.query(),
            "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, 5 AS numerator, 100 AS denominator"
        );
        // Another indicator's header over the same query: the same query.
        let other = GOOD
            .replace("\"dna_rate\"", "\"dna_rate_again\"")
            .replace("title = \"DNA\"", "title = \"Again\"");
        let again = Indicator::parse(Path::new("dna_rate_again.sql"), &other).unwrap();
        assert_eq!(again.query(), ind.query());
        // A `*/` inside the query stays in it.
        let odd = format!("{GOOD}/* a note */");
        let odd = Indicator::parse(Path::new("dna_rate.sql"), &odd).unwrap();
        assert!(odd.query().ends_with("/* a note */"), "{}", odd.query());
    }

    #[test]
    fn parses_metadata_and_defaults() {
        let ind = Indicator::parse(Path::new("sql/indicators/demand/dna_rate.sql"), GOOD).unwrap();
        assert_eq!(ind.multiplier, 100.0);
        assert_eq!(ind.units, "%");
        assert_eq!(ind.polarity, Polarity::LowIsGood);
        assert!(!ind.seasonal, "not seasonal unless it says so");
        let seasonal = GOOD.replace("source = ", "seasonal = true\nsource = ");
        let ind = Indicator::parse(Path::new("dna_rate.sql"), &seasonal).unwrap();
        assert!(ind.seasonal);
    }

    #[test]
    fn seasonal_must_be_a_boolean_and_not_on_an_isr() {
        let bad = GOOD.replace("source = ", "seasonal = \"yes\"\nsource = ");
        let err = Indicator::parse(Path::new("dna_rate.sql"), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dna_rate.sql:"), "{err}");
        let isr = GOOD
            .replace("\"proportion\"", "\"isr\"")
            .replace("source = ", "seasonal = true\nsource = ");
        let err = Indicator::parse(Path::new("dna_rate.sql"), &isr)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already carry the season"), "{err}");
    }

    #[test]
    fn metadata_errors_name_file_and_line() {
        let bad = GOOD.replace("polarity = \"low_is_good\"", "polarity = \"low_is_bad\"");
        let err = Indicator::parse(Path::new("dna_rate.sql"), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("dna_rate.sql:8:"), "{err}");
        let err = Indicator::parse(Path::new("other.sql"), GOOD)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must match the file name"), "{err}");
    }
}
