//! The field parser: one field's text, read and checked against its
//! column's definition. Pure: no I/O, no Arrow, no state between fields, so
//! every check can be tested on a single value.

use crate::PracticeCodes;
use std::hash::{Hash, Hasher};

use chrono::NaiveDate;

use crate::Check;
use crate::period::{
    days_since_epoch, from_days_since_epoch, parse_date, period_from_text, period_in_range,
};
use crate::shape::{ColumnKind, ColumnSpec, DateFormat};

/// Markers clinical systems and publications use for suppressed small numbers.
pub(crate) const SUPPRESSION_MARKERS: &[&str] = &["*", "<5", "c", "..", "<3", "<10"];

/// A field's value once read. Text borrows the row's record: a national
/// load reads tens of millions of fields, and a `String` each (made, then
/// freed once copied into the Arrow column) was a tenth of its CPU.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Text(&'a str),
    /// A count, or none (empty, or suppressed when the flag is set).
    Int(Option<i64>, bool),
    /// A decimal, or none (empty, or suppressed when the flag is set).
    Float(Option<f64>, bool),
    /// Days since 1970-01-01.
    Date(Option<i32>),
}

impl Value<'_> {
    /// As a person reads it in a message: dates as ISO, suppressed as `*`.
    pub(crate) fn display(&self) -> String {
        match self {
            Value::Text(s) => s.to_string(),
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
    pub known_practices: Option<&'a PracticeCodes>,
    pub today: NaiveDate,
}

/// Whether a value is an ODS practice code: an upper-case letter and five digits.
pub fn is_practice_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// Reads one field (surrounding spaces ignored) as its column says, or
/// names the check it fails and why, in the words the quarantine shows.
pub(crate) fn parse_field<'a>(
    column: &ColumnSpec,
    field: &'a str,
    context: &FieldContext,
) -> Result<Value<'a>, (Check, String)> {
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
            Value::Text(field)
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

fn practice_code<'a>(
    column: &ColumnSpec,
    field: &'a str,
    known_practices: Option<&PracticeCodes>,
) -> Result<Value<'a>, (Check, String)> {
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
    Ok(Value::Text(field))
}

fn count(
    column: &ColumnSpec,
    field: &str,
    suppressible: bool,
) -> Result<Value<'static>, (Check, String)> {
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

fn decimal(
    column: &ColumnSpec,
    field: &str,
    suppressible: bool,
) -> Result<Value<'static>, (Check, String)> {
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
) -> Result<Value<'static>, (Check, String)> {
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
        Value::Text(s) => (period_from_text(s), s.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::shape::{col, optional, period};

    fn column(name: &str, kind: ColumnKind) -> ColumnSpec {
        col(name, &[], kind)
    }

    const COUNT: ColumnKind = ColumnKind::Count {
        suppressible: false,
    };
    const CENSORED: ColumnKind = ColumnKind::Count { suppressible: true };
    const SLASHED: ColumnKind = ColumnKind::Date {
        format: DateFormat::DayMonthYearSlashed,
    };

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    /// `field` read as `c`, with no practice register.
    fn parse<'a>(c: &ColumnSpec, field: &'a str) -> Result<Value<'a>, (Check, String)> {
        let context = FieldContext {
            known_practices: None,
            today: today(),
        };
        parse_field(c, field, &context)
    }

    fn fails(check: Check, reason: &str) -> Result<Value<'static>, (Check, String)> {
        Err((check, reason.to_string()))
    }

    #[test]
    fn practice_codes_are_a_letter_and_five_digits_in_upper_case() {
        let c = column("practice_code", ColumnKind::PracticeCode);
        assert_eq!(parse(&c, " A81001 "), Ok(Value::Text("A81001")));
        assert_eq!(
            parse(&c, "a81001"),
            fails(
                Check::PracticeCodeFormat,
                "column practice_code: practice codes are upper case: a81001 (expected A81001)"
            )
        );
        assert_eq!(
            parse(&c, "A8100"),
            fails(
                Check::PracticeCodeFormat,
                "column practice_code: \"A8100\" is not a practice code (expected a letter and five digits, e.g. A81001)"
            )
        );
        assert_eq!(
            parse(&c, ""),
            fails(
                Check::PracticeCodeFormat,
                "column practice_code: \"\" is not a practice code (expected a letter and five digits, e.g. A81001)"
            )
        );
    }

    #[test]
    fn a_practice_must_be_in_the_register_when_one_is_given() {
        let c = column("practice_code", ColumnKind::PracticeCode);
        let known: PracticeCodes = ["A81001".to_string()].into_iter().collect();
        let context = FieldContext {
            known_practices: Some(&known),
            today: today(),
        };
        assert_eq!(
            parse_field(&c, "A81001", &context),
            Ok(Value::Text("A81001"))
        );
        assert_eq!(
            parse_field(&c, "B81001", &context),
            fails(
                Check::UnknownPractice,
                "column practice_code: practice B81001 is not in the practice register"
            )
        );
    }

    #[test]
    fn a_required_text_column_must_not_be_empty() {
        let c = column("search_code", ColumnKind::Text);
        assert_eq!(parse(&c, " SMR "), Ok(Value::Text("SMR")));
        assert_eq!(
            parse(&c, "  "),
            fails(Check::RequiredMissing, "column search_code is empty")
        );
        assert_eq!(parse(&optional(c), ""), Ok(Value::Text("")));
    }

    #[test]
    fn counts_are_non_negative_whole_numbers_or_suppression_markers() {
        let (count, censored) = (column("denominator", COUNT), column("numerator", CENSORED));
        assert_eq!(parse(&count, "12"), Ok(Value::Int(Some(12), false)));
        assert_eq!(parse(&count, "0"), Ok(Value::Int(Some(0), false)));
        assert_eq!(
            parse(&count, "-4"),
            fails(
                Check::NegativeCount,
                "column denominator: count -4 is negative"
            )
        );
        assert_eq!(
            parse(&count, "ten"),
            fails(
                Check::NotACount,
                "column denominator: \"ten\" is not a whole number"
            )
        );
        assert_eq!(
            parse(&count, "*"),
            fails(
                Check::NotACount,
                "column denominator: \"*\" is not a whole number"
            )
        );
        assert_eq!(
            parse(&count, "99999999999999999999"),
            fails(
                Check::NotACount,
                "column denominator: 99999999999999999999 is too large for a count (at most 9223372036854775807)"
            )
        );
        assert_eq!(
            parse(&count, ""),
            fails(
                Check::NotACount,
                "column denominator: \"\" is not a whole number"
            )
        );
        assert_eq!(parse(&optional(count), ""), Ok(Value::Int(None, false)));
        for marker in SUPPRESSION_MARKERS {
            assert_eq!(
                parse(&censored, marker),
                Ok(Value::Int(None, true)),
                "{marker}"
            );
        }
        assert_eq!(
            parse(&censored, "ten"),
            fails(
                Check::NotACount,
                "column numerator: \"ten\" is not a whole number or a suppression marker (*, <5)"
            )
        );
    }

    #[test]
    fn decimals_are_finite_numbers() {
        let c = column("nic", ColumnKind::Decimal { suppressible: true });
        assert_eq!(parse(&c, "1.5"), Ok(Value::Float(Some(1.5), false)));
        assert_eq!(parse(&c, "<5"), Ok(Value::Float(None, true)));
        assert_eq!(
            parse(&c, "abc"),
            fails(Check::NotANumber, "column nic: \"abc\" is not a number")
        );
        assert_eq!(
            parse(&c, "NaN"),
            fails(Check::NotANumber, "column nic: \"NaN\" is not a number")
        );
        assert_eq!(parse(&optional(c), ""), Ok(Value::Float(None, false)));
    }

    #[test]
    fn dates_are_in_their_columns_format_and_periods_have_begun() {
        let c = period(column("period_end", SLASHED));
        assert_eq!(parse(&c, "30/09/2026"), Ok(Value::Date(Some(20726))));
        assert_eq!(
            parse(&c, "31/13/2026"),
            fails(
                Check::BadDate,
                "column period_end: \"31/13/2026\" is not a date as dd/mm/yyyy (e.g. 30/09/2026)"
            )
        );
        assert_eq!(
            parse(&c, "30/09/2062"),
            fails(
                Check::PeriodOutOfRange,
                "column period_end: 2062-09-30 is in the future (today is 2026-11-24): an extract cannot report a period that has not begun"
            )
        );
        assert_eq!(
            parse(&c, "30/09/1926"),
            fails(
                Check::PeriodOutOfRange,
                "column period_end: 1926-09-30 is before 1990-01-01: a typing or export error"
            )
        );
        // Only a period column is held to the calendar.
        let opened = optional(column("open_date", SLASHED));
        assert_eq!(parse(&opened, "01/01/1926"), Ok(Value::Date(Some(-16071))));
        assert_eq!(parse(&opened, ""), Ok(Value::Date(None)));
    }

    #[test]
    fn periods_kept_as_text_or_years_are_checked_as_periods() {
        let year = period(column("reporting_year", ColumnKind::Text));
        assert_eq!(parse(&year, "2025-26"), Ok(Value::Text("2025-26")));
        assert_eq!(
            parse(&year, "2025-27"),
            fails(
                Check::BadDate,
                "column reporting_year: \"2025-27\" is not a period (expected a financial year such as 2025-26, a year such as 2026, a quarter such as 2026Q3 or a month such as 202609)"
            )
        );
        assert_eq!(
            parse(&year, "1985-86"),
            fails(
                Check::PeriodOutOfRange,
                "column reporting_year: 1985-86: 1985-04-01 is before 1990-01-01: a typing or export error"
            )
        );
        let survey = period(column("survey_year", COUNT));
        assert_eq!(parse(&survey, "2026"), Ok(Value::Int(Some(2026), false)));
        assert_eq!(
            parse(&survey, "2031"),
            fails(
                Check::PeriodOutOfRange,
                "column survey_year: 2031: 2031-01-01 is in the future (today is 2026-11-24): an extract cannot report a period that has not begun"
            )
        );
        assert_eq!(
            parse(&survey, "12345"),
            fails(
                Check::BadDate,
                "column survey_year: \"12345\" is not a period (expected a financial year such as 2025-26, a year such as 2026, a quarter such as 2026Q3 or a month such as 202609)"
            )
        );
        // The column's own check speaks first.
        assert_eq!(
            parse(&survey, "-2026"),
            fails(
                Check::NegativeCount,
                "column survey_year: count -2026 is negative"
            )
        );
    }

    #[test]
    fn values_are_shown_as_a_person_reads_them() {
        assert_eq!(Value::Date(Some(20726)).display(), "2026-09-30");
        assert_eq!(Value::Int(None, true).display(), "*");
        assert_eq!(Value::Float(None, false).display(), "");
        assert_eq!(Value::Int(Some(7), false).display(), "7");
    }
}
