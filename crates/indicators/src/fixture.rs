//! Unit tests for indicators, like dbt's: fixture rows for the tables an
//! indicator reads, declared in `<id>.test.toml` beside its SQL, and the
//! numerators and denominators it must return. Each case runs the real shared
//! views and the real query in a fresh in-memory DataFusion session.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::{
    Indicator, IndicatorError, IndicatorRow, Limits, Sex, esp_band, register_views, run_indicator,
};

/// What is wrong with one case of a fixture file.
#[derive(Debug, thiserror::Error)]
pub enum FixtureProblem {
    #[error("no warehouse table {table:?} (tables: {tables})")]
    NoTable { table: String, tables: String },
    #[error("table {table}: no column {column:?} (columns: {columns})")]
    NoColumn {
        table: String,
        column: String,
        columns: String,
    },
    #[error("table {table}: row {row} has {values} values for {columns} columns")]
    RowLength {
        table: String,
        row: usize,
        values: usize,
        columns: usize,
    },
    #[error("table {table}: column {column}: {value} is not a {data_type}")]
    NotA {
        table: String,
        column: String,
        value: toml::Value,
        data_type: DataType,
    },
    #[error("table {table}: column {column} has unsupported type {data_type}")]
    UnsupportedType {
        table: String,
        column: String,
        data_type: DataType,
    },
    #[error("table {table}: {source}")]
    Arrow {
        table: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("table {table}: {source}")]
    Register {
        table: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default, rename = "table")]
    tables: Vec<TableRows>,
    #[serde(default)]
    expect: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableRows {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<toml::Value>>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Expected {
    practice_code: String,
    period: String,
    /// For standardised indicators: the expectation is for this age band
    /// (and sex) rather than the practice-period's totals.
    age_band: Option<String>,
    sex: Option<String>,
    /// Absent means the indicator must return a missing (suppressed) value.
    numerator: Option<f64>,
    denominator: Option<f64>,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOutcome {
    pub name: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

/// A number as a person writes it; a missing value says so.
fn shown(x: Option<f64>) -> String {
    x.map_or("missing".to_string(), |v| format!("{v}"))
}

/// Equal up to floating-point rounding (weights such as 0.6 × 200 are not
/// exact in binary); missing only equals missing.
fn same(got: Option<f64>, expected: Option<f64>) -> bool {
    match (got, expected) {
        (Some(g), Some(e)) => (g - e).abs() <= 1e-9 * e.abs().max(1.0),
        (None, None) => true,
        _ => false,
    }
}

/// Where an indicator's fixtures live: `<id>.test.toml` beside its SQL.
pub fn fixture_path(ind: &Indicator) -> PathBuf {
    ind.path.with_file_name(format!("{}.test.toml", ind.id))
}

fn days(date: &str) -> Option<i32> {
    let d = chrono_like(date)?;
    Some(d)
}

/// Days since 1970-01-01 for `YYYY-MM-DD` (proleptic Gregorian).
fn chrono_like(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (
        s[..4].parse().ok()?,
        s[5..7].parse().ok()?,
        s[8..].parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as i32)
}

fn build_batch(schema: &SchemaRef, t: &TableRows) -> Result<RecordBatch, FixtureProblem> {
    for c in &t.columns {
        if schema.field_with_name(c).is_err() {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(FixtureProblem::NoColumn {
                table: t.name.clone(),
                column: c.clone(),
                columns: names.join(", "),
            });
        }
    }
    for (i, r) in t.rows.iter().enumerate() {
        if r.len() != t.columns.len() {
            return Err(FixtureProblem::RowLength {
                table: t.name.clone(),
                row: i + 1,
                values: r.len(),
                columns: t.columns.len(),
            });
        }
    }
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let pos = t.columns.iter().position(|c| c == field.name());
        let value = |row: &Vec<toml::Value>| pos.map(|p| row[p].clone());
        let bad = |v: &toml::Value| FixtureProblem::NotA {
            table: t.name.clone(),
            column: field.name().clone(),
            value: v.clone(),
            data_type: field.data_type().clone(),
        };
        let array: ArrayRef = match field.data_type() {
            DataType::Utf8 => {
                let mut b = StringBuilder::new();
                for row in &t.rows {
                    match value(row) {
                        Some(toml::Value::String(s)) => b.append_value(s),
                        Some(v) => return Err(bad(&v)),
                        None if field.name() == "source_file" => b.append_value("fixture"),
                        None if !field.is_nullable() => b.append_value(""),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::new();
                for row in &t.rows {
                    match value(row) {
                        Some(toml::Value::Integer(i)) => b.append_value(i),
                        Some(toml::Value::String(s)) if s == "suppressed" => b.append_null(),
                        Some(v) => return Err(bad(&v)),
                        None if !field.is_nullable() => b.append_value(0),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::new();
                for row in &t.rows {
                    match value(row) {
                        Some(toml::Value::Float(f)) => b.append_value(f),
                        Some(toml::Value::Integer(i)) => b.append_value(i as f64),
                        Some(toml::Value::String(s)) if s == "suppressed" => b.append_null(),
                        Some(v) => return Err(bad(&v)),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let mut b = Date32Builder::new();
                for row in &t.rows {
                    match value(row) {
                        Some(toml::Value::String(s)) => b.append_value(
                            days(&s).ok_or_else(|| bad(&toml::Value::String(s.clone())))?,
                        ),
                        Some(v) => return Err(bad(&v)),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                // A `<col>_suppressed` flag follows its column: true when the
                // fixture wrote "suppressed" there.
                let base = field.name().strip_suffix("_suppressed");
                let base_pos = base.and_then(|b| t.columns.iter().position(|c| c == b));
                let mut b = BooleanBuilder::new();
                for row in &t.rows {
                    let flag = match (value(row), base_pos) {
                        (Some(toml::Value::Boolean(v)), _) => v,
                        (Some(v), _) => return Err(bad(&v)),
                        (None, Some(p)) => {
                            matches!(&row[p], toml::Value::String(s) if s == "suppressed")
                        }
                        (None, None) => false,
                    };
                    b.append_value(flag);
                }
                Arc::new(b.finish())
            }
            other => {
                return Err(FixtureProblem::UnsupportedType {
                    table: t.name.clone(),
                    column: field.name().clone(),
                    data_type: other.clone(),
                });
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|source| FixtureProblem::Arrow {
        table: t.name.clone(),
        source,
    })
}

/// Runs every case in the indicator's fixture file. `schemas` are the
/// warehouse tables' schemas (from the pipeline's sources); tables a case does
/// not fill are registered empty so the shared views still resolve.
pub async fn run_fixtures(
    ind: &Indicator,
    schemas: &BTreeMap<String, SchemaRef>,
    views_dir: Option<&Path>,
    limits: &Limits,
) -> Result<Option<Vec<CaseOutcome>>, IndicatorError> {
    let path = fixture_path(ind);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let file: FixtureFile = toml::from_str(&text).map_err(|e| IndicatorError::FixtureSyntax {
        path: path.clone(),
        message: e.message().to_string(),
    })?;
    let mut outcomes = Vec::new();
    for case in file.cases {
        let ctx = limits.session()?;
        fill_tables(&ctx, schemas, &case).map_err(|problem| IndicatorError::Fixture {
            path: path.clone(),
            case: case.name.clone(),
            problem: Box::new(problem),
        })?;
        if let Some(dir) = views_dir {
            register_views(&ctx, dir).await?;
        }
        let failures = match run_indicator(&ctx, ind, limits.indicator_timeout).await {
            Err(e) => vec![e.to_string()],
            Ok(rows) => case_failures(&case, &rows),
        };
        outcomes.push(CaseOutcome {
            name: case.name,
            failures,
        });
    }
    Ok(Some(outcomes))
}

/// Registers every warehouse table in `ctx`: with the case's rows where it
/// gives them, empty where not.
fn fill_tables(
    ctx: &SessionContext,
    schemas: &BTreeMap<String, SchemaRef>,
    case: &Case,
) -> Result<(), FixtureProblem> {
    let mut given: HashMap<&str, &TableRows> = HashMap::new();
    for t in &case.tables {
        if !schemas.contains_key(&t.name) {
            return Err(FixtureProblem::NoTable {
                table: t.name.clone(),
                tables: schemas.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        given.insert(t.name.as_str(), t);
    }
    for (name, schema) in schemas {
        let batch = match given.get(name.as_str()) {
            Some(t) => build_batch(schema, t)?,
            None => RecordBatch::new_empty(schema.clone()),
        };
        let register = |source| FixtureProblem::Register {
            table: name.clone(),
            source,
        };
        let table = MemTable::try_new(schema.clone(), vec![vec![batch]]).map_err(register)?;
        ctx.register_table(name.as_str(), Arc::new(table))
            .map_err(register)?;
    }
    Ok(())
}

/// How the indicator's rows differ from what the case expects: one line per
/// difference, none when they agree.
fn case_failures(case: &Case, rows: &[IndicatorRow]) -> Vec<String> {
    let got: BTreeMap<(String, String), &IndicatorRow> = rows
        .iter()
        .map(|r| ((r.practice_code.clone(), r.period.clone()), r))
        .collect();
    let mut failures = Vec::new();
    for e in &case.expect {
        let Some(r) = got.get(&(e.practice_code.clone(), e.period.clone())) else {
            failures.push(format!(
                "expected a row for {} {}, got none",
                e.practice_code, e.period
            ));
            continue;
        };
        let (what, got_n, got_d) = match &e.age_band {
            None => (String::new(), r.numerator, r.denominator),
            Some(label) => match stratum_of(e, label, r) {
                Ok(found) => found,
                Err(failure) => {
                    failures.push(failure);
                    continue;
                }
            },
        };
        if !same(got_n, e.numerator) || !same(got_d, e.denominator) {
            failures.push(format!(
                "{} {}{what}: expected {}/{}, got {}/{}",
                e.practice_code,
                e.period,
                shown(e.numerator),
                shown(e.denominator),
                shown(got_n),
                shown(got_d)
            ));
        }
    }
    for (code, period) in got.keys() {
        if !case
            .expect
            .iter()
            .any(|e| &e.practice_code == code && &e.period == period)
        {
            failures.push(format!("unexpected row for {code} {period}"));
        }
    }
    failures
}

/// For an expectation about one age band (and sex): how it is named in
/// messages, and the row's numerator and denominator in that stratum.
fn stratum_of(
    e: &Expected,
    label: &str,
    r: &IndicatorRow,
) -> Result<(String, Option<f64>, Option<f64>), String> {
    let band = esp_band(label)?;
    let sex = match e.sex.as_deref().map(Sex::parse) {
        None => Sex::Persons,
        Some(Some(s)) => s,
        Some(None) => return Err(format!("sex {:?} is not male or female", e.sex)),
    };
    let what = format!(
        " age band {label}{}",
        e.sex.as_deref().map_or(String::new(), |s| format!(" {s}"))
    );
    match r.strata.iter().find(|s| s.band == band && s.sex == sex) {
        Some(s) => Ok((what, s.numerator, s.denominator)),
        None => Err(format!(
            "expected a row for {} {}{what}, got none",
            e.practice_code, e.period
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::chrono_like;

    #[test]
    fn dates_to_days() {
        assert_eq!(chrono_like("1970-01-01"), Some(0));
        assert_eq!(chrono_like("2026-09-01"), Some(20697));
        assert_eq!(chrono_like("2024-02-29"), Some(19782));
        assert_eq!(chrono_like("2026-13-01"), None);
    }
}
