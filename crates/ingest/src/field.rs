//! The field parser: one field's text, read and checked against its
//! column's definition. Pure: no I/O, no Arrow, no state between fields, so
//! every check can be tested on a single value.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use chrono::NaiveDate;

use crate::Check;
use crate::period::{
    days_since_epoch, from_days_since_epoch, parse_date, period_from_text, period_in_range,
};
use crate::shape::{ColumnKind, ColumnSpec, DateFormat};

/// Markers clinical systems and publications use for suppressed small numbers.
pub(crate) const SUPPRESSION_MARKERS: &[&str] = &["*", "<5", "c", "..", "<3", "<10"];

/// A field's value once read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    /// A count, or none (empty, or suppressed when the flag is set).
    Int(Option<i64>, bool),
    /// A decimal, or none (empty, or suppressed when the flag is set).
    Float(Option<f64>, bool),
    /// Days since 1970-01-01.
    Date(Option<i32>),
}

impl Value {
    /// As a person reads it in a message: dates as ISO, suppressed as `*`.
    pub(crate) fn display(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(Some(v), _) => v.to_string(),
            Value::Float(Some(v), _) => v.to_string(),
            Value::Int(None, true) | Value::Float(None, true) => "*".into(),
            Value::Int(None, false) | Value::Float(None, false) | Value::Date(None) => "".into(),
            Value::Date(Some(d)) => from_days_since_epoch(*d).to_string(),
        }
    }

    pub(crate) fn hash_into(&self, h: &mut impl Hasher) {
        match self {
            Value::Text(s) => (0u8, s).hash(h),
            Value::Int(v, sup) => (1u8, v, sup).hash(h),
            Value::Float(v, sup) => (2u8, v.map(f64::to_bits), sup).hash(h),
            Value::Date(v) => (3u8, v).hash(h),
        }
    }

    /// The value as a number, for the checks between columns.
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Value::Int(Some(v), _) => Some(*v as f64),
            Value::Float(Some(v), _) => Some(*v),
            _ => None,
        }
    }
}

/// What a field's checks need besides the field: the practice register
/// (when rows are checked against it) and today's date (periods cannot be
/// in the future).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldContext<'a> {
    pub known_practices: Option<&'a HashSet<String>>,
    pub today: NaiveDate,
}

/// Whether a value is an ODS practice code: an upper-case letter and five digits.
pub fn is_practice_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// Reads one field (surrounding spaces ignored) as its column says, or
/// names the check it fails and why, in the words the quarantine shows.
pub(crate) fn parse_field(
    column: &ColumnSpec,
    field: &str,
    context: &FieldContext,
) -> Result<Value, (Check, String)> {
    let field = field.trim();
    let value = match &column.kind {
        ColumnKind::PracticeCode => practice_code(column, field, context.known_practices)?,
        ColumnKind::Text => {
            if field.is_empty() && column.required {
                return Err((
                    Check::RequiredMissing,
                    format!("column {} is empty", column.name),
                ));
            }
            Value::Text(field.to_string())
        }
        ColumnKind::Count { suppressible } => count(column, field, *suppressible)?,
        ColumnKind::Decimal { suppressible } => decimal(column, field, *suppressible)?,
        ColumnKind::Date { format } => date(column, field, *format, context.today)?,
    };
    // A period kept as text or a year (QOF's `2025-26`, the survey's 2026)
    // goes through the same checks as a date.
    if column.period && !matches!(column.kind, ColumnKind::Date { .. }) {
        check_period_value(&value, context.today)
            .map_err(|(check, why)| (check, format!("column {}: {why}", column.name)))?;
    }
    Ok(value)
}

fn practice_code(
    column: &ColumnSpec,
    field: &str,
    known_practices: Option<&HashSet<String>>,
) -> Result<Value, (Check, String)> {
    if !is_practice_code(field) {
        let reason = if is_practice_code(&field.to_ascii_uppercase()) {
            format!(
                "column {}: practice codes are upper case: {field} (expected {})",
                column.name,
                field.to_ascii_uppercase()
            )
        } else {
            format!(
                "column {}: {field:?} is not a practice code (expected a letter and five digits, e.g. A81001)",
                column.name
            )
        };
        return Err((Check::PracticeCodeFormat, reason));
    }
    if let Some(known) = known_practices
        && !known.contains(field)
    {
        return Err((
            Check::UnknownPractice,
            format!(
                "column {}: practice {field} is not in the practice register",
                column.name
            ),
        ));
    }
    Ok(Value::Text(field.to_string()))
}

fn count(column: &ColumnSpec, field: &str, suppressible: bool) -> Result<Value, (Check, String)> {
    if suppressible && SUPPRESSION_MARKERS.contains(&field) {
        return Ok(Value::Int(None, true));
    }
    if field.is_empty() && !column.required {
        return Ok(Value::Int(None, false));
    }
    match field.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(Value::Int(Some(v), false)),
        Ok(v) => Err((
            Check::NegativeCount,
            format!("column {}: count {v} is negative", column.name),
        )),
        Err(e) => {
            let reason = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    format!(
                        "column {}: {field} is too large for a count (at most {})",
                        column.name,
                        i64::MAX
                    )
                }
                _ => format!(
                    "column {}: {field:?} is not a whole number{}",
                    column.name,
                    if suppressible {
                        " or a suppression marker (*, <5)"
                    } else {
                        ""
                    }
                ),
            };
            Err((Check::NotACount, reason))
        }
    }
}

fn decimal(column: &ColumnSpec, field: &str, suppressible: bool) -> Result<Value, (Check, String)> {
    if suppressible && SUPPRESSION_MARKERS.contains(&field) {
        return Ok(Value::Float(None, true));
    }
    if field.is_empty() && !column.required {
        return Ok(Value::Float(None, false));
    }
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Value::Float(Some(v), false)),
        _ => Err((
            Check::NotANumber,
            format!("column {}: {field:?} is not a number", column.name),
        )),
    }
}

fn date(
    column: &ColumnSpec,
    field: &str,
    format: DateFormat,
    today: NaiveDate,
) -> Result<Value, (Check, String)> {
    if field.is_empty() && !column.required {
        return Ok(Value::Date(None));
    }
    match parse_date(field, format) {
        Some(d)
            if column.period
                && let Err(why) = period_in_range(d, today) =>
        {
            Err((
                Check::PeriodOutOfRange,
                format!("column {}: {why}", column.name),
            ))
        }
        Some(d) => Ok(Value::Date(Some(days_since_epoch(d)))),
        None => Err((
            Check::BadDate,
            format!(
                "column {}: {field:?} is not {}",
                column.name,
                format.describe()
            ),
        )),
    }
}

/// The period checks for a period column that is not stored as a date.
fn check_period_value(value: &Value, today: NaiveDate) -> Result<(), (Check, String)> {
    let (period, shown) = match value {
        Value::Text(s) => (period_from_text(s), s.clone()),
        Value::Int(Some(year), _) => (
            i32::try_from(*year)
                .ok()
                .filter(|y| (1000..=9999).contains(y))
                .and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1)),
            year.to_string(),
        ),
        // Empty or suppressed: the column's own checks have spoken.
        _ => return Ok(()),
    };
    match period {
        None => Err((
            Check::BadDate,
            format!(
                "{shown:?} is not a period (expected a financial year such as 2025-26, a year such as 2026, a quarter such as 2026Q3 or a month such as 202609)"
            ),
        )),
        Some(d) => period_in_range(d, today)
            .map_err(|why| (Check::PeriodOutOfRange, format!("{shown}: {why}"))),
    }
}
