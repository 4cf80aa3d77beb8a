//! Disclosure control for published outputs (methods reference §9, with the
//! threat model in docs/reports.md). All statistics are computed on exact
//! counts; a policy only changes what an output shows.
//!
//! Under `standard`, a count of 1 to 7 is shown as `*`, and so is everything
//! from which it could be worked back: the row's value, both intervals, its
//! funnel limits, position and flags, its percentile rank, its own trend and
//! SPC point, the centre line and limits of its own SPC chart (they average
//! its value), the percentile ranks of its peers that period (they bracket
//! it), a peer median that is its value, and (on charts) its point. Other
//! counts are rounded to the nearest 5; that is presentation, not
//! protection: a shown value and interval pin the exact count anyway. Group
//! statistics (benchmark, φ, τ²) are not withheld; docs/reports.md's threat
//! model says what that leaves open.

use std::collections::{HashMap, HashSet};

use peerbench_compare::{PeerGroup, PeerGroupKind, ResultRow};
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

impl DisclosurePolicy {
    /// What a practice page may show of other practices: never more than
    /// the board shows, nor more than the page shows of its own practice.
    pub fn peers_on_practice_pages(&self) -> Disclosure {
        self.board.stricter(self.practice_pages)
    }
}

fn is_small(x: Option<f64>) -> bool {
    x.is_some_and(|v| (1.0..=7.0).contains(&v))
}

/// Whether the row holds a count of 1 to 7 (numerator or denominator).
pub(crate) fn has_small_count(r: &ResultRow) -> bool {
    is_small(r.numerator) || is_small(r.denominator)
}

/// What rests on a count of 1 to 7 beyond the rows that hold one, found once
/// per publication from every result row: the statistics that average or
/// order a hidden value with others.
#[derive(Debug, Default)]
pub struct SmallCounts<'a> {
    /// (indicator, practice) whose own series has a valued row with a small
    /// count: the SPC centre line is the mean of the series' first points,
    /// so with one of them hidden the mean and the others give it back.
    series: HashSet<(&'a str, &'a str)>,
    /// (indicator, peer group, key, period) with a valued row with a small
    /// count: the percentile ranks of the others say how many hidden values
    /// lie between each pair of shown ones, which can pin a hidden value.
    ranks: HashSet<(&'a str, &'a str, &'a str, &'a str)>,
    /// Those whose peer median is the value of a row with a small count (or
    /// the average of it and a neighbour).
    medians: HashSet<(&'a str, &'a str, &'a str, &'a str)>,
    /// Peer groups whose members the rows do not show (similar practices:
    /// each practice has its own group): (indicator, period) with any valued
    /// row with a small count, whose ranks and medians are all withheld.
    periods: HashSet<(&'a str, &'a str)>,
    /// Groups whose rows sharing a key are the whole group (federation,
    /// PCN, ICB, all); any other group is treated as opaque.
    structural: HashSet<&'a str>,
}

impl<'a> SmallCounts<'a> {
    pub fn new(results: &'a [ResultRow], groups: &'a [PeerGroup]) -> SmallCounts<'a> {
        let mut out = SmallCounts {
            structural: groups
                .iter()
                .filter(|g| !matches!(g.kind, PeerGroupKind::Similar { .. }))
                .map(|g| g.name.as_str())
                .collect(),
            ..SmallCounts::default()
        };
        // Group-periods holding a hidden value, with the hidden values.
        let mut hidden: HashMap<(&str, &str, &str, &str), Vec<f64>> = HashMap::new();
        for r in results {
            let Some(v) = r.value.filter(|_| has_small_count(r)) else {
                continue;
            };
            out.series
                .insert((r.indicator_id.as_str(), r.practice_code.as_str()));
            out.periods
                .insert((r.indicator_id.as_str(), r.period.as_str()));
            hidden.entry(group_key(r)).or_default().push(v);
        }
        if hidden.is_empty() {
            return out;
        }
        out.ranks = hidden.keys().copied().collect();
        // The values of those group-periods, for their medians (type 7).
        let mut values: HashMap<(&str, &str, &str, &str), Vec<f64>> = HashMap::new();
        for r in results {
            if let Some(v) = r.value
                && hidden.contains_key(&group_key(r))
            {
                values.entry(group_key(r)).or_default().push(v);
            }
        }
        for (key, mut vs) in values {
            vs.sort_by(f64::total_cmp);
            let h = (vs.len() - 1) as f64 * 0.5;
            let used = [vs[h.floor() as usize], vs[h.ceil() as usize]];
            if used.iter().any(|u| hidden[&key].contains(u)) {
                out.medians.insert(key);
            }
        }
        out
    }

    fn median_rests_on_small_count(&self, r: &ResultRow) -> bool {
        if self.structural.contains(r.peer_group.as_str()) {
            self.medians.contains(&group_key(r))
        } else {
            self.periods
                .contains(&(r.indicator_id.as_str(), r.period.as_str()))
        }
    }

    fn rank_rests_on_small_count(&self, r: &ResultRow) -> bool {
        if self.structural.contains(r.peer_group.as_str()) {
            self.ranks.contains(&group_key(r))
        } else {
            self.periods
                .contains(&(r.indicator_id.as_str(), r.period.as_str()))
        }
    }
}

fn group_key(r: &ResultRow) -> (&str, &str, &str, &str) {
    (
        r.indicator_id.as_str(),
        r.peer_group.as_str(),
        r.peer_group_key.as_str(),
        r.period.as_str(),
    )
}

impl Disclosure {
    pub fn parse(s: &str) -> Option<Disclosure> {
        match s {
            "exact" => Some(Disclosure::Exact),
            "standard" => Some(Disclosure::Standard),
            _ => None,
        }
    }

    /// The stricter of two policies.
    pub fn stricter(self, other: Disclosure) -> Disclosure {
        if self == Disclosure::Standard || other == Disclosure::Standard {
            Disclosure::Standard
        } else {
            Disclosure::Exact
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Disclosure::Exact => "exact counts shown (no disclosure control)",
            Disclosure::Standard => {
                "disclosure control applied: counts of 1 to 7 shown as *, other counts rounded to the nearest 5, values from counts of 1 to 7 shown as * and not compared, with their intervals and everything else that would give the count back"
            }
        }
    }

    /// A count as this output may show it.
    pub fn count(self, x: Option<f64>) -> String {
        match (self, x) {
            (_, None) => "suppressed".into(),
            (Disclosure::Exact, Some(v)) => format!("{v:.0}"),
            (Disclosure::Standard, Some(v)) if is_small(Some(v)) => "*".into(),
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

    /// Whether this output must hide the row's value and everything worked
    /// out from the row's own counts (and not compare it).
    pub fn hides_value(self, r: &ResultRow) -> bool {
        self == Disclosure::Standard && has_small_count(r)
    }

    /// Whether this output must withhold the centre line and limits of the
    /// practice's own SPC chart for this indicator: a value it hides is in
    /// the series they are computed from. (A row with a small count and no
    /// value is no point of the chart.)
    pub fn hides_spc_lines(self, r: &ResultRow, small: &SmallCounts) -> bool {
        self == Disclosure::Standard
            && small
                .series
                .contains(&(r.indicator_id.as_str(), r.practice_code.as_str()))
    }

    /// The row as a download under this policy (see [`Disclosure::apply_with_peers`]).
    pub fn apply(self, r: &ResultRow, small: &SmallCounts) -> ResultRow {
        self.apply_with_peers(self, r, small)
    }

    /// The row as a CSV under this policy for the row's own counts and
    /// `peers` for what rests on other practices' counts (a practice page
    /// shows its own counts under its policy, its peers as the board does):
    /// counts rounded or removed; what the row's own small counts would give
    /// away removed and not compared, with the reason.
    pub fn apply_with_peers(
        self,
        peers: Disclosure,
        r: &ResultRow,
        small: &SmallCounts,
    ) -> ResultRow {
        let mut out = r.clone();
        if peers == Disclosure::Standard && small.median_rests_on_small_count(r) {
            out.peer_median = None;
        }
        if peers == Disclosure::Standard && small.rank_rests_on_small_count(r) {
            out.percentile_rank = None;
        }
        if self == Disclosure::Exact {
            return out;
        }
        let round = |x: Option<f64>| {
            x.filter(|v| !is_small(Some(*v)))
                .map(|v| (v / 5.0).round() * 5.0)
        };
        out.numerator = round(r.numerator);
        out.denominator = round(r.denominator);
        if self.hides_spc_lines(r, small) {
            out.spc_centre = None;
            out.spc_lower = None;
            out.spc_upper = None;
            out.spc_trial = None;
        }
        if self.hides_value(r) {
            out.value = None;
            out.lower_95 = None;
            out.upper_95 = None;
            out.lower_998 = None;
            out.upper_998 = None;
            out.percentile_rank = None;
            out.comparison = Comparison::NotCompared;
            out.comparison_998 = Comparison::NotCompared;
            // The limits at the row's denominator give the denominator back.
            out.funnel_lower_95 = None;
            out.funnel_upper_95 = None;
            out.funnel_lower_998 = None;
            out.funnel_upper_998 = None;
            out.funnel_flag = None;
            out.funnel_flag_unadjusted = None;
            out.spc_signal = None;
            out.spc_variation = None;
            out.trend = "cannot_be_calculated";
            out.not_compared_reason = Some("disclosure control: a count of 1 to 7".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerbench_stats::FunnelFlag;

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

    fn federation() -> Vec<PeerGroup> {
        vec![PeerGroup {
            name: "federation".into(),
            kind: PeerGroupKind::Federation,
            min_practices: 5,
            min_practices_for_funnel: 10,
        }]
    }

    /// A row of the federation group with every statistic present.
    fn row(code: &str, period: &str, n: f64, d: f64) -> ResultRow {
        ResultRow {
            indicator_id: "x_pct".into(),
            practice_code: code.into(),
            period: period.into(),
            peer_group: "federation".into(),
            peer_group_key: "F".into(),
            peer_group_size: 5,
            numerator: Some(n),
            denominator: Some(d),
            value: Some(n / d * 100.0),
            lower_95: Some(1.0),
            upper_95: Some(2.0),
            lower_998: Some(0.5),
            upper_998: Some(3.0),
            benchmark: Some(10.0),
            peer_median: Some(9.0),
            percentile_rank: Some(50.0),
            comparison: Comparison::Worse,
            comparison_998: Comparison::Similar,
            funnel_lower_95: Some(5.0),
            funnel_upper_95: Some(15.0),
            funnel_lower_998: Some(3.0),
            funnel_upper_998: Some(17.0),
            funnel_flag: Some(FunnelFlag::Low95),
            funnel_flag_unadjusted: Some(FunnelFlag::Low998),
            od_phi: Some(1.5),
            od_tau2: Some(0.001),
            spc_signal: Some("shift"),
            spc_variation: Some("concern"),
            spc_centre: Some(4.0),
            spc_lower: Some(1.0),
            spc_upper: Some(7.0),
            spc_trial: Some(false),
            trend: "decreasing_getting_worse",
            not_compared_reason: None,
        }
    }

    /// Every field of a row with a small count, decided one by one: the
    /// destructuring has no `..`, so a new field of ResultRow fails to
    /// compile here until someone decides whether it gives a count away.
    #[test]
    fn a_small_count_hides_everything_worked_out_from_it() {
        let rows = [
            row("A", "2026-09", 3.0, 120.0),
            row("B", "2026-09", 30.0, 300.0),
        ];
        let groups = federation();
        let small = SmallCounts::new(&rows, &groups);
        let ResultRow {
            indicator_id,
            practice_code,
            period,
            peer_group,
            peer_group_key,
            peer_group_size,
            numerator,
            denominator,
            value,
            lower_95,
            upper_95,
            lower_998,
            upper_998,
            benchmark,
            peer_median,
            percentile_rank,
            comparison,
            comparison_998,
            funnel_lower_95,
            funnel_upper_95,
            funnel_lower_998,
            funnel_upper_998,
            funnel_flag,
            funnel_flag_unadjusted,
            od_phi,
            od_tau2,
            spc_signal,
            spc_variation,
            spc_centre,
            spc_lower,
            spc_upper,
            spc_trial,
            trend,
            not_compared_reason,
        } = Disclosure::Standard.apply(&rows[0], &small);
        // The row's key and its group's statistics (see the threat model:
        // group totals are not protected) stay.
        assert_eq!(
            (
                indicator_id,
                practice_code,
                period,
                peer_group,
                peer_group_key
            ),
            (
                "x_pct".into(),
                "A".into(),
                "2026-09".into(),
                "federation".into(),
                "F".into()
            )
        );
        assert_eq!(peer_group_size, 5);
        assert_eq!(
            (benchmark, od_phi, od_tau2),
            (Some(10.0), Some(1.5), Some(0.001))
        );
        // Counts: * (empty in a CSV) and rounded to 5.
        assert_eq!((numerator, denominator), (None, Some(120.0)));
        // Everything from the row's own counts, and what its peers' ranks and
        // median would say about it, is gone.
        let gone = [
            value,
            lower_95,
            upper_95,
            lower_998,
            upper_998,
            peer_median,
            percentile_rank,
            funnel_lower_95,
            funnel_upper_95,
            funnel_lower_998,
            funnel_upper_998,
            spc_centre,
            spc_lower,
            spc_upper,
        ];
        assert!(gone.iter().all(Option::is_none), "{gone:?}");
        assert_eq!(
            (comparison, comparison_998),
            (Comparison::NotCompared, Comparison::NotCompared)
        );
        assert_eq!((funnel_flag, funnel_flag_unadjusted), (None, None));
        assert_eq!((spc_signal, spc_variation, spc_trial), (None, None, None));
        assert_eq!(trend, "cannot_be_calculated");
        assert_eq!(
            not_compared_reason.as_deref(),
            Some("disclosure control: a count of 1 to 7")
        );

        // The shown row keeps its own statistics, but not its rank (it
        // brackets the hidden value) nor the median of two (it averages it).
        let b = Disclosure::Standard.apply(&rows[1], &small);
        assert_eq!(
            (b.numerator, b.value, b.lower_95),
            (Some(30.0), Some(10.0), Some(1.0))
        );
        assert_eq!((b.percentile_rank, b.peer_median), (None, None));
        // Exact shows everything.
        assert_eq!(Disclosure::Exact.apply(&rows[0], &small), rows[0]);
    }

    #[test]
    fn a_median_or_spc_line_resting_on_a_hidden_value_is_hidden() {
        // Values 2.5 (hidden), 10 and 20: the median is B's 10.
        let groups = federation();
        let mut rows = vec![
            row("A", "2026-09", 3.0, 120.0),
            row("B", "2026-09", 30.0, 300.0),
            row("C", "2026-09", 60.0, 300.0),
        ];
        let small = SmallCounts::new(&rows, &groups);
        let s = Disclosure::Standard;
        assert_eq!(s.apply(&rows[1], &small).peer_median, Some(9.0));
        // With B's value 1 the hidden 2.5 is the median: withheld.
        (rows[1].numerator, rows[1].denominator, rows[1].value) =
            (Some(9.0), Some(900.0), Some(1.0));
        let small = SmallCounts::new(&rows, &groups);
        assert_eq!(s.apply(&rows[1], &small).peer_median, None);
        // A group whose members the rows do not show (similar practices)
        // loses every median of a period with a hidden value.
        let small = SmallCounts::new(&rows, &[]);
        assert_eq!(s.apply(&rows[2], &small).peer_median, None);
        // Every point of A's own series loses its SPC centre and limits
        // (they average the hidden value), a later shown month included.
        let later = row("A", "2026-10", 40.0, 400.0);
        let all = [rows.clone(), vec![later.clone()]].concat();
        let small = SmallCounts::new(&all, &groups);
        let shown = s.apply(&later, &small);
        assert_eq!(
            (shown.value, shown.spc_centre, shown.spc_upper),
            (Some(10.0), None, None)
        );
        assert_eq!(shown.spc_variation, Some("concern"));
        assert_eq!(
            Disclosure::Exact.apply(&later, &small).spc_centre,
            Some(4.0)
        );
    }
}
