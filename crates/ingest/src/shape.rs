//! Source shapes: the columns an extract carries, under the names the real
//! publications use (and the names they used in earlier releases).

use serde::Deserialize;

use ColumnKind::{Date, PracticeCode, Text};

/// How a field is read, checked and stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ColumnKind {
    /// An ODS practice code: one letter and five digits.
    PracticeCode,
    Text,
    /// A non-negative whole number. When `suppressible`, markers such as `*`
    /// and `<5` are kept as censored (null, with `<name>_suppressed` true).
    Count {
        #[serde(default)]
        suppressible: bool,
    },
    /// A decimal number (costs, quantities, percentages).
    Decimal {
        #[serde(default)]
        suppressible: bool,
    },
    /// A date, stored as a DATE; `format` is one of `YYYYMM` (first of the
    /// month), `DDMONYYYY`, `dd/mm/yyyy`, `ISO`, `YYYYQn` (first day of the
    /// quarter) or `financial_year` (1 April of its first year).
    Date {
        format: DateFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DateFormat {
    #[serde(rename = "YYYYMM")]
    YearMonth,
    #[serde(rename = "DDMONYYYY")]
    DayMonYear,
    #[serde(rename = "dd/mm/yyyy")]
    DayMonthYearSlashed,
    #[serde(rename = "ISO")]
    Iso,
    /// A quarter, stored as its first day: `2026Q3`, `2026-Q3`, `2026 Q3`
    /// or `Q3 2026` (calendar quarters).
    #[serde(rename = "YYYYQn")]
    Quarter,
    /// An NHS financial year, stored as 1 April of its first year:
    /// `2025-26`, `2025/26` or `2025-2026`.
    #[serde(rename = "financial_year")]
    FinancialYear,
}

impl DateFormat {
    pub fn describe(self) -> &'static str {
        match self {
            DateFormat::YearMonth => "a month as YYYYMM (e.g. 202609)",
            DateFormat::DayMonYear => "a date as DDMONYYYY (e.g. 01SEP2026)",
            DateFormat::DayMonthYearSlashed => "a date as dd/mm/yyyy (e.g. 30/09/2026)",
            DateFormat::Iso => "an ISO date (e.g. 2026-09-30)",
            DateFormat::Quarter => "a quarter as YYYYQn (e.g. 2026Q3)",
            DateFormat::FinancialYear => "a financial year (e.g. 2025-26)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ColumnSpec {
    /// The column's name in the warehouse (snake_case).
    pub name: String,
    /// Header names that mean this column, matched ignoring case, spaces and
    /// underscores. The warehouse name always matches too.
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(flatten)]
    pub kind: ColumnKind,
    #[serde(default = "yes")]
    pub required: bool,
    /// Part of the row's key: two rows of one file with the same key are
    /// duplicates. When a shape marks no key, every practice, text and date
    /// column is the key.
    #[serde(default)]
    pub key: bool,
    /// The column saying which period a row is for: a later file with rows
    /// for a practice and period replaces the earlier file's rows for them.
    /// When a shape marks none, its one date column (if it has exactly one).
    #[serde(default)]
    pub period: bool,
}

fn yes() -> bool {
    true
}

/// The full definition of a source: its columns and which cross-field checks apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub columns: Vec<ColumnSpec>,
    /// (numerator, denominator) pairs where numerator ≤ denominator must hold.
    pub at_most: Vec<(String, String)>,
}

impl Shape {
    /// The positions of the columns that identify a row.
    pub fn key_columns(&self) -> Vec<usize> {
        let marked: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.columns[i].key || self.columns[i].period)
            .collect();
        if !marked.is_empty() {
            return marked;
        }
        (0..self.columns.len())
            .filter(|&i| {
                matches!(
                    self.columns[i].kind,
                    ColumnKind::PracticeCode | ColumnKind::Text | ColumnKind::Date { .. }
                )
            })
            .collect()
    }

    /// The column naming a row's period, if the source has one.
    pub fn period_column(&self) -> Option<&str> {
        if let Some(c) = self.columns.iter().find(|c| c.period) {
            return Some(c.name.as_str());
        }
        let mut dates = self
            .columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Date { .. }));
        match (dates.next(), dates.next()) {
            (Some(only), None) => Some(only.name.as_str()),
            _ => None,
        }
    }

    pub fn practice_column(&self) -> Option<&str> {
        self.columns
            .iter()
            .find(|c| c.kind == ColumnKind::PracticeCode)
            .map(|c| c.name.as_str())
    }
}

pub(crate) fn col(name: &str, aliases: &[&str], kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name: name.to_string(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        kind,
        required: true,
        key: false,
        period: false,
    }
}

pub(crate) fn optional(mut c: ColumnSpec) -> ColumnSpec {
    c.required = false;
    c
}

/// Marks a column as part of the row's key.
fn key(mut c: ColumnSpec) -> ColumnSpec {
    c.key = true;
    c
}

/// Marks the column naming the row's period (part of the key too).
pub(crate) fn period(mut c: ColumnSpec) -> ColumnSpec {
    c.key = true;
    c.period = true;
    c
}

const COUNT: ColumnKind = ColumnKind::Count {
    suppressible: false,
};
const CENSORED_COUNT: ColumnKind = ColumnKind::Count { suppressible: true };
const DECIMAL: ColumnKind = ColumnKind::Decimal {
    suppressible: false,
};

/// The built-in shapes for the common NHS sources, by name.
pub fn builtin(name: &str) -> Option<Shape> {
    Some(match name {
        "practice_register" => practice_register(),
        "registered_patients" => registered_patients(),
        "appointments" => appointments(),
        "prescribing" => prescribing(),
        "qof" => qof(),
        "patient_survey" => patient_survey(),
        "clinical_search" => clinical_search(),
        "emergency_admissions" => emergency_admissions(),
        _ => return None,
    })
}

/// The practice code column, under the names extracts give it.
fn practice() -> ColumnSpec {
    key(col(
        "practice_code",
        &[
            "PRACTICE_CODE",
            "ORG_CODE",
            "GP_CODE",
            "CODE",
            "Organisation Code",
            "Practice Code",
        ],
        PracticeCode,
    ))
}

fn practice_register() -> Shape {
    Shape {
        columns: vec![
            practice(),
            col("practice_name", &["PRACTICE_NAME", "NAME"], Text),
            col("pcn_code", &["PCN_CODE"], Text),
            col("pcn_name", &["PCN_NAME"], Text),
            col("federation", &["FEDERATION"], Text),
            col("icb_code", &["ICB_CODE"], Text),
            col("icb_name", &["ICB_NAME"], Text),
            optional(col("supplier", &["SUPPLIER"], Text)),
            optional(col(
                "open_date",
                &["OPEN_DATE"],
                Date {
                    format: DateFormat::Iso,
                },
            )),
            optional(col(
                "close_date",
                &["CLOSE_DATE"],
                Date {
                    format: DateFormat::Iso,
                },
            )),
            col("list_size", &["LIST_SIZE"], COUNT),
            col("imd_score", &["IMD_SCORE"], DECIMAL),
            col("imd_decile", &["IMD_DECILE"], COUNT),
            col("rurality", &["RURALITY"], Text),
        ],
        at_most: vec![],
    }
}

fn registered_patients() -> Shape {
    Shape {
        columns: vec![
            period(col(
                "extract_date",
                &["EXTRACT_DATE"],
                Date {
                    format: DateFormat::DayMonYear,
                },
            )),
            practice(),
            key(col("sex", &["SEX"], Text)),
            key(col("age_band", &["AGE_GROUP_5", "AGE_BAND", "AGE"], Text)),
            col("patients", &["NUMBER_OF_PATIENTS"], COUNT),
        ],
        at_most: vec![],
    }
}

fn appointments() -> Shape {
    Shape {
        columns: vec![
            period(col(
                "month",
                &["APPOINTMENT_MONTH_START_DATE", "APPOINTMENT_MONTH"],
                Date {
                    format: DateFormat::DayMonYear,
                },
            )),
            practice(),
            optional(col("pcn_code", &["PCN_CODE"], Text)),
            key(col("hcp_type", &["HCP_TYPE"], Text)),
            key(col("appt_mode", &["APPT_MODE"], Text)),
            key(col("appt_status", &["APPT_STATUS"], Text)),
            col("appointments", &["COUNT_OF_APPOINTMENTS"], COUNT),
        ],
        at_most: vec![],
    }
}

fn prescribing() -> Shape {
    Shape {
        columns: vec![
            period(col(
                "month",
                &["YEAR_MONTH"],
                Date {
                    format: DateFormat::YearMonth,
                },
            )),
            practice(),
            key(col(
                "bnf_code",
                &["BNF_CODE", "BNF_PRESENTATION_CODE"],
                Text,
            )),
            col(
                "bnf_description",
                &["BNF_DESCRIPTION", "BNF_PRESENTATION_NAME"],
                Text,
            ),
            col(
                "chemical_code",
                &["BNF_CHEMICAL_SUBSTANCE", "BNF_CHEMICAL_SUBSTANCE_CODE"],
                Text,
            ),
            col(
                "chemical",
                &[
                    "CHEMICAL_SUBSTANCE_BNF_DESCR",
                    "BNF_CHEMICAL_SUBSTANCE_NAME",
                ],
                Text,
            ),
            col("items", &["ITEMS", "TOTAL_ITEMS"], COUNT),
            optional(col("quantity", &["QUANTITY"], DECIMAL)),
            optional(col("total_quantity", &["TOTAL_QUANTITY"], DECIMAL)),
            col("nic", &["NIC", "NET_INGREDIENT_COST"], DECIMAL),
            col("actual_cost", &["ACTUAL_COST"], DECIMAL),
        ],
        at_most: vec![],
    }
}

fn qof() -> Shape {
    Shape {
        columns: vec![
            period(col(
                "reporting_year",
                &["REPORTING_YEAR", "ACHIEVEMENT_YEAR"],
                Text,
            )),
            practice(),
            key(col("indicator_code", &["INDICATOR_CODE"], Text)),
            key(col("measure", &["MEASURE"], Text)),
            col("value", &["VALUE"], CENSORED_COUNT),
        ],
        at_most: vec![],
    }
}

fn patient_survey() -> Shape {
    Shape {
        columns: vec![
            period(col("survey_year", &["SURVEY_YEAR"], COUNT)),
            practice(),
            key(col("question_id", &["QUESTION_ID"], Text)),
            optional(col("question_text", &["QUESTION_TEXT"], Text)),
            col("responses", &["RESPONSES", "BASE"], COUNT),
            col("positive", &["POSITIVE"], CENSORED_COUNT),
            optional(col(
                "pct_positive",
                &["PCT_POSITIVE"],
                ColumnKind::Decimal { suppressible: true },
            )),
        ],
        at_most: vec![("positive".into(), "responses".into())],
    }
}

fn clinical_search() -> Shape {
    Shape {
        columns: vec![
            practice(),
            period(col(
                "period_end",
                &["Period End", "Month Ending", "PERIOD_END"],
                Date {
                    format: DateFormat::DayMonthYearSlashed,
                },
            )),
            key(col(
                "search_code",
                &["Search Code", "Indicator", "SEARCH_CODE"],
                Text,
            )),
            optional(col("search_name", &["Search Name", "Description"], Text)),
            col("numerator", &["Numerator", "Count"], CENSORED_COUNT),
            col("denominator", &["Denominator", "Population"], COUNT),
        ],
        at_most: vec![("numerator".into(), "denominator".into())],
    }
}

fn emergency_admissions() -> Shape {
    Shape {
        columns: vec![
            period(col(
                "month",
                &["ADMISSION_MONTH", "YEAR_MONTH"],
                Date {
                    format: DateFormat::YearMonth,
                },
            )),
            key(col(
                "practice_code",
                &[
                    "REGISTERED_PRACTICE_CODE",
                    "GP_PRACTICE_CODE",
                    "PRACTICE_CODE",
                ],
                PracticeCode,
            )),
            key(col("sex", &["SEX", "GENDER"], Text)),
            key(col("age_band", &["AGE_BAND", "AGE_GROUP_5"], Text)),
            col(
                "admissions",
                &["EMERGENCY_ADMISSIONS", "ADMISSIONS"],
                CENSORED_COUNT,
            ),
        ],
        at_most: vec![],
    }
}

pub const BUILTIN_SHAPES: &[&str] = &[
    "practice_register",
    "registered_patients",
    "appointments",
    "prescribing",
    "qof",
    "patient_survey",
    "clinical_search",
    "emergency_admissions",
];

/// Normalises a header or alias for matching: case, spaces and underscores ignored.
pub fn header_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}
