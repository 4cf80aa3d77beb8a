//! Dates and periods as extracts write them: the built-in date formats, a
//! period written as text (a financial year, a quarter, a month, a year),
//! and whether a period is one an extract can report.

use chrono::{Datelike, NaiveDate};

use crate::shape::DateFormat;

/// The earliest period an extract can be about: before this, a date is a
/// typing or parsing error (GP clinical systems post-date it).
const EARLIEST_PERIOD: (i32, u32, u32) = (1990, 1, 1);

pub(crate) fn parse_date(s: &str, format: DateFormat) -> Option<NaiveDate> {
    let s = s.trim();
    match format {
        DateFormat::YearMonth => {
            if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            NaiveDate::from_ymd_opt(s[..4].parse().ok()?, s[4..].parse().ok()?, 1)
        }
        DateFormat::DayMonYear => NaiveDate::parse_from_str(&s.to_ascii_uppercase(), "%d%b%Y").ok(),
        DateFormat::DayMonthYearSlashed => NaiveDate::parse_from_str(s, "%d/%m/%Y").ok(),
        DateFormat::Iso => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        DateFormat::Quarter => parse_quarter(s),
        DateFormat::FinancialYear => parse_financial_year(s),
    }
}

/// A calendar quarter as its first day: "2026Q3" or, written the other way
/// round, "Q3 2026" (spaces and hyphens ignored).
fn parse_quarter(s: &str) -> Option<NaiveDate> {
    let compact: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    let (year, quarter) = match compact.split_once('Q')? {
        ("", rest) if rest.len() == 5 => (&rest[1..], &rest[..1]),
        (year, quarter) => (year, quarter),
    };
    let (year, quarter): (i32, u32) = (year.parse().ok()?, quarter.parse().ok()?);
    if year < 1000 || !(1..=4).contains(&quarter) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, 3 * quarter - 2, 1)
}

/// An NHS financial year as 1 April of its first year: "2025-26",
/// "2025/26" or "2025-2026".
fn parse_financial_year(s: &str) -> Option<NaiveDate> {
    let (first, second) = s.split_once(['-', '/'])?;
    let first: i32 = first.trim().parse().ok()?;
    let second = second.trim();
    let follows = match second.len() {
        2 => second.parse::<i32>().ok()? == (first + 1) % 100,
        4 => second.parse::<i32>().ok()? == first + 1,
        _ => false,
    };
    if first < 1000 || !follows {
        return None;
    }
    NaiveDate::from_ymd_opt(first, 4, 1)
}

/// Whether a row's period is one an extract can report: not before
/// [`EARLIEST_PERIOD`] and not after the end of the current month.
pub(crate) fn period_in_range(d: NaiveDate, today: NaiveDate) -> Result<(), String> {
    let (y, m, day) = EARLIEST_PERIOD;
    let earliest = NaiveDate::from_ymd_opt(y, m, day).expect("valid date");
    let next_month = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
    }
    .expect("valid date");
    if d < earliest {
        Err(format!(
            "{d} is before {earliest}: a typing or export error"
        ))
    } else if d >= next_month {
        Err(format!(
            "{d} is in the future (today is {today}): an extract cannot report a period that has not begun"
        ))
    } else {
        Ok(())
    }
}

/// A period written as text: a financial year, a quarter, a month or a
/// date in any of the built-in formats, or a calendar year.
pub(crate) fn period_from_text(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::from_ymd_opt(s.parse().ok()?, 1, 1);
    }
    [
        DateFormat::FinancialYear,
        DateFormat::Quarter,
        DateFormat::YearMonth,
        DateFormat::Iso,
        DateFormat::DayMonYear,
        DateFormat::DayMonthYearSlashed,
    ]
    .into_iter()
    .find_map(|f| parse_date(s, f))
}

pub(crate) fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid epoch")).num_days() as i32
}

/// The date `days_since_epoch` days after 1970-01-01.
pub(crate) fn from_days_since_epoch(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(days))
}
