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
        DateFormat::DayMonYear => day_mon_year(s)
            .unwrap_or_else(|| NaiveDate::parse_from_str(&s.to_ascii_uppercase(), "%d%b%Y").ok()),
        DateFormat::DayMonthYearSlashed => fixed_width(s, b'/', [6..10, 3..5, 0..2])
            .unwrap_or_else(|| NaiveDate::parse_from_str(s, "%d/%m/%Y").ok()),
        DateFormat::Iso => fixed_width(s, b'-', [0..4, 5..7, 8..10])
            .unwrap_or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()),
        DateFormat::Quarter => parse_quarter(s),
        DateFormat::FinancialYear => parse_financial_year(s),
    }
}

// Dates as nearly every row writes them (`2026-09-30`, `30/09/2026`,
// `01SEP2026`) are read directly; chrono's parser, which reads its format
// string again for every field, reads the rest. Some(answer) when the field
// has the common form, None to ask chrono. A test holds the two to the
// same answers.

/// A date of ten characters with `separator` at 2 and 5 or at 4 and 7, and
/// digits for year, month and day at these places.
fn fixed_width(
    s: &str,
    separator: u8,
    [year, month, day]: [std::ops::Range<usize>; 3],
) -> Option<Option<NaiveDate>> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return None;
    }
    let separators = if year.start == 0 { [4, 7] } else { [2, 5] };
    if (0..10).any(|i| (b[i] == separator) != separators.contains(&i)) {
        return None;
    }
    let (y, m, d) = (digits(&b[year])?, digits(&b[month])?, digits(&b[day])?);
    Some(NaiveDate::from_ymd_opt(y as i32, m, d))
}

/// `DDMONYYYY`, the month's abbreviation in any case.
fn day_mon_year(s: &str) -> Option<Option<NaiveDate>> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV",
        b"DEC",
    ];
    let b = s.as_bytes();
    if b.len() != 9 {
        return None;
    }
    let mon = [b[2], b[3], b[4]].map(|c| c.to_ascii_uppercase());
    let month = MONTHS.iter().position(|m| **m == mon)? as u32 + 1;
    let (d, y) = (digits(&b[0..2])?, digits(&b[5..9])?);
    Some(NaiveDate::from_ymd_opt(y as i32, month, d))
}

/// ASCII digits as a number; None if any byte is not a digit.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
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
    // 1970-01-01 is day 719,163 of the common era (a test checks it), which
    // spares building the epoch and a duration for every date loaded.
    d.num_days_from_ce() - 719_163
}

/// The date `days_since_epoch` days after 1970-01-01.
pub(crate) fn from_days_since_epoch(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What chrono alone makes of a field, as `parse_date` did before its
    /// direct reading of the common forms.
    fn by_chrono(s: &str, format: DateFormat) -> Option<NaiveDate> {
        let s = s.trim();
        match format {
            DateFormat::DayMonYear => {
                NaiveDate::parse_from_str(&s.to_ascii_uppercase(), "%d%b%Y").ok()
            }
            DateFormat::DayMonthYearSlashed => NaiveDate::parse_from_str(s, "%d/%m/%Y").ok(),
            DateFormat::Iso => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn days_since_epoch_counts_from_1970() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for d in [
            epoch,
            NaiveDate::from_ymd_opt(1969, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(),
        ] {
            assert_eq!(days_since_epoch(d) as i64, (d - epoch).num_days());
            assert_eq!(from_days_since_epoch(days_since_epoch(d)), d);
        }
    }

    const FORMATS: [DateFormat; 3] = [
        DateFormat::Iso,
        DateFormat::DayMonthYearSlashed,
        DateFormat::DayMonYear,
    ];

    #[test]
    fn every_day_of_the_common_forms_reads_as_chrono_reads_it() {
        let months = [
            "JAN", "feb", "Mar", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
            "XYZ",
        ];
        for year in [0, 1, 1899, 1990, 2024, 2026, 2100, 9999] {
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let mon = months[(month as usize).clamp(1, 13) - 1];
                    for field in [
                        format!("{year:04}-{month:02}-{day:02}"),
                        format!("{day:02}/{month:02}/{year:04}"),
                        format!("{day:02}{mon}{year:04}"),
                        format!("{day}/{month}/{year}"),
                        format!("{year}-{month}-{day}"),
                    ] {
                        for format in FORMATS {
                            assert_eq!(
                                parse_date(&field, format),
                                by_chrono(&field, format),
                                "{field:?} as {format:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]
        /// Near misses of the common forms: signs, spaces, other
        /// separators, letters and digits in every place.
        #[test]
        fn any_field_reads_as_chrono_reads_it(field in "[0-9/+ -]{0,11}|[0-9 ]{1,3}[A-Za-z]{3,9}[0-9+ ]{1,5}") {
            for format in FORMATS {
                prop_assert_eq!(parse_date(&field, format), by_chrono(&field, format), "{:?} as {:?}", field, format);
            }
        }
    }
}
