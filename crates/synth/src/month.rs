//! Calendar months, the grain of most extracts.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1..=12
    pub month: u32,
}

const MON: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let (y, m) = s.split_once('-')?;
        Month::new(y.parse().ok()?, m.parse().ok()?)
    }

    pub fn plus(self, months: usize) -> Month {
        let idx = self.year as i64 * 12 + (self.month as i64 - 1) + months as i64;
        Month {
            year: idx.div_euclid(12) as i32,
            month: idx.rem_euclid(12) as u32 + 1,
        }
    }

    pub fn minus(self, months: usize) -> Month {
        let idx = self.year as i64 * 12 + (self.month as i64 - 1) - months as i64;
        Month {
            year: idx.div_euclid(12) as i32,
            month: idx.rem_euclid(12) as u32 + 1,
        }
    }

    pub fn months_until(self, later: Month) -> usize {
        let a = self.year as i64 * 12 + self.month as i64;
        let b = later.year as i64 * 12 + later.month as i64;
        (b - a).max(0) as usize
    }

    pub fn days(self) -> u32 {
        match self.month {
            2 if (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// `202609`, as the English Prescribing Dataset writes months.
    pub fn yyyymm(self) -> String {
        format!("{}{:02}", self.year, self.month)
    }

    /// `01SEP2026`, as NHS Digital writes extract and month-start dates.
    pub fn ddmonyyyy_first(self) -> String {
        format!("01{}{}", MON[self.month as usize - 1], self.year)
    }

    /// `30/09/2026`, the last day of the month as clinical systems write it.
    pub fn dmy_last(self) -> String {
        format!("{:02}/{:02}/{}", self.days(), self.month, self.year)
    }

    /// The financial year (April–March) the month falls in, as `2025-26`.
    pub fn financial_year(self) -> String {
        let start = if self.month >= 4 {
            self.year
        } else {
            self.year - 1
        };
        format!("{}-{:02}", start, (start + 1) % 100)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_and_formats() {
        let m = Month::parse("2026-09").unwrap();
        assert_eq!(m.plus(4).to_string(), "2027-01");
        assert_eq!(m.minus(9).to_string(), "2025-12");
        assert_eq!(Month::parse("2024-10").unwrap().months_until(m), 23);
        assert_eq!(m.yyyymm(), "202609");
        assert_eq!(m.ddmonyyyy_first(), "01SEP2026");
        assert_eq!(m.dmy_last(), "30/09/2026");
        assert_eq!(Month::parse("2024-02").unwrap().dmy_last(), "29/02/2024");
        assert_eq!(m.financial_year(), "2026-27");
        assert_eq!(Month::parse("2026-03").unwrap().financial_year(), "2025-26");
        assert!(Month::parse("2026-13").is_none());
    }
}
