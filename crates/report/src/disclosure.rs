//! Disclosure control for published outputs (methods reference §9). All
//! statistics are computed on exact counts; a policy only changes what an
//! output shows: counts 1–7 as `*`, other counts rounded to the nearest 5,
//! and a value built from a count of 1–7 shown as `*` and not compared.
//! Confidence intervals are not suppressed.

use peerbench_compare::ResultRow;
use peerbench_stats::Comparison;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Disclosure {
    /// Exact counts: for the practice's own report and internal analysis.
    Exact,
    /// Small counts suppressed and others rounded to 5: for boards and wider.
    #[default]
    Standard,
}

/// The policy for each kind of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisclosurePolicy {
    pub board: Disclosure,
    pub practice_pages: Disclosure,
    pub downloads: Disclosure,
}

impl Default for DisclosurePolicy {
    fn default() -> Self {
        DisclosurePolicy {
            board: Disclosure::Standard,
            practice_pages: Disclosure::Exact,
            downloads: Disclosure::Standard,
        }
    }
}

fn small(x: Option<f64>) -> bool {
    x.is_some_and(|v| (1.0..=7.0).contains(&v))
}

impl Disclosure {
    pub fn parse(s: &str) -> Option<Disclosure> {
        match s {
            "exact" => Some(Disclosure::Exact),
            "standard" => Some(Disclosure::Standard),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Disclosure::Exact => "exact counts shown (no disclosure control)",
            Disclosure::Standard => {
                "disclosure control applied: counts of 1 to 7 shown as *, other counts rounded to the nearest 5, values from counts of 1 to 7 shown as * and not compared"
            }
        }
    }

    /// A count as this output may show it.
    pub fn count(self, x: Option<f64>) -> String {
        match (self, x) {
            (_, None) => "suppressed".into(),
            (Disclosure::Exact, Some(v)) => format!("{v:.0}"),
            (Disclosure::Standard, Some(v)) if small(Some(v)) => "*".into(),
            (Disclosure::Standard, Some(v)) => format!("{:.0}", (v / 5.0).round() * 5.0),
        }
    }

    /// The comparison this output may show: none for a value it hides.
    pub fn comparison(self, r: &ResultRow) -> Comparison {
        if self.hides_value(r) {
            Comparison::NotCompared
        } else {
            r.comparison
        }
    }

    /// Whether this output must hide the row's value (and not compare it).
    pub fn hides_value(self, r: &ResultRow) -> bool {
        self == Disclosure::Standard && (small(r.numerator) || small(r.denominator))
    }

    /// The row as a download under this policy: counts rounded or removed,
    /// values from small counts removed and not compared, with the reason.
    pub fn apply(self, r: &ResultRow) -> ResultRow {
        if self == Disclosure::Exact {
            return r.clone();
        }
        let mut out = r.clone();
        let round = |x: Option<f64>| {
            x.filter(|v| !small(Some(*v)))
                .map(|v| (v / 5.0).round() * 5.0)
        };
        out.numerator = round(r.numerator);
        out.denominator = round(r.denominator);
        if self.hides_value(r) {
            out.value = None;
            out.comparison = Comparison::NotCompared;
            out.comparison_998 = Comparison::NotCompared;
            out.funnel_flag = None;
            out.funnel_flag_unadjusted = None;
            out.percentile_rank = None;
            out.spc_signal = None;
            out.spc_variation = None;
            out.not_compared_reason = Some("disclosure control: a count of 1 to 7".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_methods_section_9() {
        let s = Disclosure::Standard;
        assert_eq!(s.count(Some(0.0)), "0");
        assert_eq!(s.count(Some(1.0)), "*");
        assert_eq!(s.count(Some(7.0)), "*");
        assert_eq!(s.count(Some(8.0)), "10");
        assert_eq!(s.count(Some(12.0)), "10");
        assert_eq!(s.count(Some(13.0)), "15");
        assert_eq!(s.count(None), "suppressed");
        assert_eq!(Disclosure::Exact.count(Some(3.0)), "3");
    }
}
