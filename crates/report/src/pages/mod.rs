//! The report's HTML pages: one layout ([`layout`]) and one module per kind
//! of page (the board pack, an indicator's board page, a practice's report,
//! the indicator catalogue), over a [`Site`] that indexes the results once.
//!
//! Pages are written with maud's `html!` macro. It was chosen over askama
//! because the pages are mostly logic (disclosure decisions, rankings,
//! groupings) around small pieces of markup: with maud that logic stays in
//! ordinary, type-checked Rust beside the markup it produces, charts and
//! table cells are values of one type ([`Markup`]) that compose without
//! template files or a view-model layer, and it has no runtime dependencies
//! and no default features. Like askama it escapes by construction: every
//! `(value)` spliced into a page is escaped, so text from extracts or
//! indicator files can never become markup. Raw output needs a visible
//! `PreEscaped`, used in two places only, both for what the crate itself
//! wrote and never for data: the charts' SVG shapes (`charts::shape`, from
//! numbers and constants) and the layout's stylesheet constant. (maud
//! escapes `&`, `<`, `>` and `"`; an apostrophe needs no escaping in text or
//! in the double-quoted attributes maud writes, so it is left as is: pages
//! written before maud said `&#39;` where they now say `'`.)

mod board;
mod catalogue;
mod indicator;
mod layout;
/// A funnel adjustment as "How this was made" states it: one group's φ and
/// τ², or, over several groups, their median and range.
struct Adjustment {
    phi: String,
    tau2: String,
}

impl Adjustment {
    fn over(phi: &[f64], tau2: &[f64]) -> Adjustment {
        let describe = |values: &[f64], digits: usize| match values {
            [one] => format!("{one:.digits$}"),
            _ => {
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                let n = sorted.len();
                let median = peerbench_stats::quantile_type7(&sorted, 0.5).unwrap_or(f64::NAN);
                format!(
                    "median {median:.digits$} over {n} groups ({:.digits$} to {:.digits$})",
                    sorted[0],
                    sorted[n - 1]
                )
            }
        };
        Adjustment {
            phi: describe(phi, 2),
            tau2: describe(tau2, 5),
        }
    }
}

#[cfg(test)]
mod page_tests;
mod practice;

use std::collections::BTreeMap;

use crate::Map as HashMap;

use maud::{Markup, html};
use peerbench_catalogue::Indicator;
use peerbench_compare::{ReportingPeriods, ResultRow, reporting_periods};
use peerbench_stats::PhiEstimator;

use crate::ReportInput;
use crate::disclosure::{Suppression, View};
use crate::verdict::{Verdict, verdict};
use crate::wording;

pub use catalogue::catalogue_page;

/// The most practices (or rows about practices) a page lists. A federation
/// (20 to 100-odd practices) is always listed whole; a national publication
/// (6,300 practices) lists first what a board acts on and says where every
/// row is, so that a page stays small enough to open on an NHS laptop (a
/// national board page listing every practice was 17 MB).
pub(crate) const LISTED: usize = 250;

/// The sentence under a list shortened to [`LISTED`] rows: which rows are
/// shown and where every row is.
fn shortened(shown: usize, total: usize, which: &str, everything: Markup) -> Markup {
    html! {
        p class="meta" {
            "Showing " (shown) " of " (total) ": " (which) ". Every one is in " (everything) "."
        } "\n"
    }
}

/// Rounds for display: 1 decimal place for percentages and rates.
pub(crate) fn fmt(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "–".into(),
    }
}

/// A table's header row of column headings.
fn head(columns: &[&str]) -> Markup {
    html! {
        thead { tr { @for c in columns { th scope="col" { (c) } } } }
    }
}

/// Period, counts, value with its 95% interval and the peer benchmark: the
/// cells every table of a practice's figures starts with. A value the
/// policy hides goes without its interval, which would give the count back.
fn figure_cells(view: &View, r: &ResultRow) -> Markup {
    let value = if view.hides_value(r) {
        "*".to_string()
    } else if r.value.get().is_none() {
        // No value, so no interval: one dash, not "– (–––)".
        fmt(None)
    } else {
        format!(
            "{} ({}–{})",
            fmt(r.value.get()),
            fmt(r.lower_95.get()),
            fmt(r.upper_95.get())
        )
    };
    html! {
        td class="nowrap" { (r.period) }
        td class="num" { (view.count(r.numerator.get())) " / " (view.count(r.denominator.get())) }
        td class="num" { (value) }
        td class="num" { (fmt(view.benchmark(r))) }
    }
}

/// The funnel position and the run-chart reading, in words; what the policy
/// hides says why.
fn signal_cells(view: &View, r: &ResultRow) -> Markup {
    if let Some(h) = view.hidden(r) {
        return html! { td { (h.words()) } td { (h.words()) } };
    }
    html! {
        td { (view.funnel_not_shown(r).unwrap_or_else(|| wording::funnel_position(r.funnel_flag))) }
        td { (wording::run_chart_reading(r.spc_signal, r.spc_variation)) }
    }
}

/// The own run chart's latest reading, or why the policy hides it.
fn run_chart_cell(view: &View, r: &ResultRow) -> Markup {
    html! {
        td {
            @if let Some(h) = view.hidden(r) {
                (h.words())
            } @else {
                (wording::run_chart_reading(r.spc_signal, r.spc_variation))
            }
        }
    }
}

/// An indicator's verdict: its tag and plain words, then the other
/// comparison on a second line. A verdict judged on the interval where the
/// report leads with the funnel says so in its words.
fn verdict_cell(v: &Verdict) -> Markup {
    html! {
        td class="verdict" {
            (comparison_tag(v.tag))
            // "Not compared" says it all; a second "Not compared" would not.
            @if v.lead != wording::comparison_tag(v.tag).word { " " (v.lead) }
            @if let Some(second) = &v.second {
                br; span class="meta" { (second) }
            }
        }
    }
}

/// A comparison's word in its coloured tag.
fn comparison_tag(c: peerbench_stats::Comparison) -> Markup {
    let tag = wording::comparison_tag(c);
    html! { span class={ "tag " (tag.class) } { (tag.word) } }
}

/// A practice's name linked to its page, then its code.
fn practice_link(root: &str, code: &str, name: &str) -> Markup {
    html! {
        a href={ (root) "practices/" (code) ".html" } { (name) } " " span class="meta" { (code) }
    }
}

pub struct Site<'a> {
    pub(crate) input: &'a ReportInput<'a>,
    /// (indicator, practice) → its result in the latest period, primary peer group.
    pub(crate) latest: HashMap<(&'a str, &'a str), &'a ResultRow>,
    pub(crate) latest_period: HashMap<&'a str, &'a str>,
    /// Indicator → peer values in the latest period (primary peer group, by
    /// key), as far as practice pages may show peers.
    peer_values: HashMap<(&'a str, &'a str), Vec<f64>>,
    /// (indicator, group key) → the group's rows in the latest period, for funnels.
    peer_rows: HashMap<(&'a str, &'a str), Vec<&'a ResultRow>>,
    /// (indicator, practice) → its rows in period order, for run charts.
    series: HashMap<(&'a str, &'a str), Vec<&'a ResultRow>>,
    /// Indicator → every row of the primary peer group, for the board's
    /// indicator pages (caterpillar plots and federation trends).
    by_indicator: HashMap<&'a str, Vec<&'a ResultRow>>,
    /// What `standard` hides, for the disclosure policies.
    pub(crate) sup: Suppression<'a>,
    /// Each indicator's reporting periods (the board says which later ones
    /// are not yet shown).
    reporting: BTreeMap<&'a str, ReportingPeriods<'a>>,
}

impl<'a> Site<'a> {
    pub fn new(input: &'a ReportInput<'a>) -> Site<'a> {
        let primary = input.primary_peer_group.as_str();
        let t = std::time::Instant::now();
        let sup = Suppression::new(input.results, &input.peer_groups, input.indicators, primary);
        tracing::debug!(
            "disclosure control worked out in {:.2}s",
            t.elapsed().as_secs_f64()
        );
        let peers_policy = input.disclosure.peers_on_practice_pages();
        let peers_view = View {
            own: peers_policy,
            peers: peers_policy,
            sup: &sup,
        };
        // The period each indicator leads with: the newest that at least
        // half of its practices have sent, not the first practice's new month.
        let reporting = reporting_periods(input.results, primary);
        let latest_period: HashMap<&str, &str> =
            reporting.iter().map(|(ind, p)| (*ind, p.latest)).collect();
        let mut latest = HashMap::default();
        let mut peer_values: HashMap<(&str, &str), Vec<f64>> = HashMap::default();
        let mut peer_rows: HashMap<(&str, &str), Vec<&ResultRow>> = HashMap::default();
        let mut series: HashMap<(&str, &str), Vec<&ResultRow>> = HashMap::default();
        let mut by_indicator: HashMap<&str, Vec<&ResultRow>> = HashMap::default();
        for r in input.results.iter().filter(|r| &*r.peer_group == primary) {
            by_indicator
                .entry(r.indicator_id.as_str())
                .or_default()
                .push(r);
            series
                .entry((r.indicator_id.as_str(), r.practice_code.as_str()))
                .or_default()
                .push(r);
            if latest_period.get(r.indicator_id.as_str()) == Some(&r.period.as_str()) {
                peer_rows
                    .entry((r.indicator_id.as_str(), r.peer_group_key.as_str()))
                    .or_default()
                    .push(r);
                latest.insert((r.indicator_id.as_str(), r.practice_code.as_str()), r);
                if let Some(v) = r.value.filter(|_| !peers_view.hides_value(r)) {
                    peer_values
                        .entry((r.indicator_id.as_str(), r.peer_group_key.as_str()))
                        .or_default()
                        .push(v);
                }
            }
        }
        series
            .values_mut()
            .for_each(|s| s.sort_by(|a, b| a.period.cmp(&b.period)));
        Site {
            input,
            latest,
            latest_period,
            peer_values,
            peer_rows,
            series,
            by_indicator,
            sup,
            reporting,
        }
    }

    /// What the board shows of a row.
    pub(crate) fn board_view(&self) -> View<'_> {
        View {
            own: self.input.disclosure.board,
            peers: self.input.disclosure.board,
            sup: &self.sup,
        }
    }

    /// What a practice page shows of its own practice's rows.
    pub(crate) fn page_view(&self) -> View<'_> {
        View {
            own: self.input.disclosure.practice_pages,
            peers: self.input.disclosure.peers_on_practice_pages(),
            sup: &self.sup,
        }
    }

    /// What a practice page shows of other practices' rows.
    pub(crate) fn peers_view(&self) -> View<'_> {
        let peers = self.input.disclosure.peers_on_practice_pages();
        View {
            own: peers,
            peers,
            sup: &self.sup,
        }
    }

    /// An indicator's verdict for a row, as `view` may show it, led by the
    /// comparison the pipeline chose.
    pub(crate) fn verdict(&self, view: &View, ind: &Indicator, r: &ResultRow) -> Verdict {
        verdict(view, ind, r, self.input.verdict)
    }

    /// Whether a practice has no row, or no usable numerator and
    /// denominator, for an indicator in its latest period.
    fn lacks_latest(&self, indicator: &str, code: &str) -> bool {
        self.latest
            .get(&(indicator, code))
            .is_none_or(|r| r.numerator.is_none() || r.denominator.is_none())
    }

    /// An indicator's latest period, or "–" when it has no rows.
    fn latest_period_of(&self, indicator: &str) -> &'a str {
        self.latest_period.get(indicator).copied().unwrap_or("–")
    }

    /// A practice's name, or nothing for a code not in the register.
    fn practice_name(&self, code: &str) -> &'a str {
        self.input
            .practices
            .get(code)
            .map_or("", |p| p.name.as_str())
    }

    /// Rows from this practice set aside at ingest.
    fn quarantined(&self, code: &str) -> usize {
        self.input
            .provenance
            .quarantined_by_practice
            .get(code)
            .copied()
            .unwrap_or(0)
    }

    fn indicators(&self) -> impl Iterator<Item = &'a Indicator> + '_ {
        self.input.indicators.iter().filter(|i| !i.draft)
    }

    /// The published indicators, for the board's per-indicator pages.
    pub fn published_indicators(&self) -> Vec<&'a Indicator> {
        self.indicators().collect()
    }

    /// Every row of an indicator in the primary peer group, for its download.
    pub fn indicator_rows(&self, id: &str) -> &[&'a ResultRow] {
        self.by_indicator.get(id).map_or(&[], Vec::as_slice)
    }

    /// What changed since last period, as far as the board may show it: a
    /// change in a row whose value the board hides would give away its
    /// funnel position, and so would a change of funnel position where the
    /// board withholds its group's funnel, so they are left out (here, in
    /// changes.csv and the workbook).
    pub(crate) fn changes(&self) -> Vec<&'a peerbench_compare::Change> {
        let board = self.board_view();
        let hidden = |c: &peerbench_compare::Change, period: &str| {
            let outlier = c.kind != peerbench_compare::ChangeKind::NewSpecialCause;
            self.series
                .get(&(c.indicator_id.as_str(), c.practice_code.as_str()))
                .and_then(|s| s.iter().find(|r| &*r.period == period))
                .is_some_and(|r| {
                    board.hides_value(r) || (outlier && board.funnel_not_shown(r).is_some())
                })
        };
        self.input
            .changes
            .iter()
            .filter(|c| !hidden(c, &c.period) && !hidden(c, &c.previous_period))
            .collect()
    }

    /// A page in the site's layout. Its footer does not name the run: a
    /// page whose numbers did not change is then the same bytes as the
    /// night before, and is linked from the last publication rather than
    /// written again (see `files`). The board page and `how.html`, which
    /// change with every run, name it.
    fn page(&self, title: &str, root: &str, body: Markup) -> String {
        self.page_with_footer(title, root, body, false)
    }

    /// A page in the site's layout whose footer names the run.
    fn page_naming_run(&self, title: &str, root: &str, body: Markup) -> String {
        self.page_with_footer(title, root, body, true)
    }

    fn page_with_footer(&self, title: &str, root: &str, body: Markup, run: bool) -> String {
        let p = &self.input.provenance;
        let footer = html! {
            footer {
                "Made by peerbench " (p.peerbench_version)
                @if run { " · run " (p.run_id) }
                " · pipeline " (p.pipeline_name)
                ". Synthetic or real, every number here traces back to the results table."
            }
        };
        layout::page(title, root, &self.input.title, body, Some(footer)).into_string()
    }

    /// The end of every page: what the page may show, and a link to "How
    /// this was made" (`how.html`). The methods, the funnel adjustments,
    /// the peer groups and the tables read are the same on every page and
    /// were 11 KB of each of a national publication's 38,000 pages; they are
    /// said once, on their own page.
    fn how_made(&self, root: &str) -> Markup {
        let disclosure = &self.input.disclosure;
        html! {
            h2 id="how" { "How this was made" } "\n"
            p class="meta" {
                "Board page: " (disclosure.board.describe()) ". Practice pages: "
                (disclosure.practice_pages.describe()) ". Downloads: "
                (disclosure.downloads.describe()) ". The methods, each funnel's allowance for the normal variation between practices (φ, τ²), the peer groups and the warehouse tables read: "
                a href={ (root) "how.html" } { "how this was made" } "."
            } "\n"
        }
    }

    /// `how.html`: how the publication was made, in full.
    pub fn how_page(&self) -> String {
        let body = html! {
            h1 { (self.input.title) ": how this was made" } "\n"
            p { a href="index.html" { "Back to the board report" } "." } "\n"
            (self.how_made_in_full())
        };
        self.page_naming_run(
            &format!("{} — how this was made", self.input.title),
            "",
            body,
        )
    }

    fn how_made_in_full(&self) -> Markup {
        let p = &self.input.provenance;
        // Linked from every page: what the strictest of them may show.
        let view = self.peers_view();
        // Each funnel's adjustment is its peer group's: one per indicator
        // when the primary group is one (a federation), one per group key
        // otherwise (PCNs, federations nationally), shown then as the
        // median and range over the groups, never as one group's chosen
        // at random.
        let adjustments: Vec<(&Indicator, &str, Adjustment)> = self
            .indicators()
            .filter_map(|ind| {
                let mut by_key: BTreeMap<&str, (&str, f64, f64)> = BTreeMap::new();
                for ((i, _), r) in &self.latest {
                    if *i == ind.id
                        && let (Some(phi), Some(tau2), None) =
                            (r.od_phi.get(), r.od_tau2.get(), view.withheld(r))
                    {
                        by_key.insert(&r.peer_group_key, (&r.period, phi, tau2));
                    }
                }
                let period = by_key.values().next()?.0;
                let phi: Vec<f64> = by_key.values().map(|a| a.1).collect();
                let tau2: Vec<f64> = by_key.values().map(|a| a.2).collect();
                Some((ind, period, Adjustment::over(&phi, &tau2)))
            })
            .collect();
        let disclosure = &self.input.disclosure;
        html! {
            h2 id="methods" { "Methods" } "\n"
            p {
                "Each indicator is a SQL query over the federation's warehouse (Delta Lake tables). "
                "Practices are compared with their peer group " strong { (self.input.primary_peer_group) }
                ": the benchmark is the pooled peer value (total numerator over total denominator). "
                "Proportions use Wilson score intervals; rates use Byar's method (exact Poisson below 10 events). On its interval, a practice is "
                em { "better" } " or " em { "worse" } " when the benchmark lies outside its 95% interval, otherwise "
                em { "similar" } "; context indicators say " em { "higher" } " or " em { "lower" }
                ". Values below an indicator's minimum denominator, or from suppressed counts, are not compared."
            } "\n"
            p {
                "Funnel limits allow for the normal variation between practices (Spiegelhalter's additive overdispersion adjustment: z-scores winsorised at the 10th and 90th percentiles give the dispersion ratio φ"
                @match self.input.phi {
                    PhiEstimator::Consistent => ", divided by 0.679 because winsorising keeps only that share of a normal spread — without it the limits would be narrower than their level says",
                    PhiEstimator::Winsorised => " (as FunnelPlotR computes it, without the correction for the winsorising that peerbench makes by default: these limits are somewhat narrower than their level says)",
                }
                "; τ² is the between-practice variance added to each practice's own). Outside the 99.8% limits is what boards call possible unwarranted variation. Run charts are XmR charts with limits from each practice's first 12 months and the four NHS Making Data Count rules."
            } "\n"
            p {
                strong { "Verdicts." } " " (wording::verdict_lead(self.input.verdict))
                " Lists of indicators or practices are ranked by how far outside the limits each sits (the funnel's z-score on its adjusted scale; for a verdict on the interval, the distance from the benchmark in standard errors), most outside first. Set by "
                code { "[reports] verdict = \"" (self.input.verdict.as_str()) "\"" } " in the pipeline file."
            } "\n"
            table {
                caption { "Funnel adjustment per indicator, latest period" }
                (head(&["Indicator", "Period", "φ", "τ²"]))
                tbody {
                    "\n"
                    @for (ind, period, adjustment) in &adjustments {
                        tr {
                            td { (ind.title) } td { (period) }
                            td class="num" { (adjustment.phi) }
                            td class="num" { (adjustment.tau2) }
                        } "\n"
                    }
                }
            } "\n"
            table {
                caption { "Peer groups" } (head(&["Name", "Who is in it"]))
                tbody {
                    "\n"
                    @for g in &self.input.peer_groups {
                        tr { td { (g.name) } td { (peer_group_members(&g.kind)) } } "\n"
                    }
                }
            } "\n"
            table {
                caption { "Warehouse tables read" } (head(&["Table", "Delta version"]))
                tbody {
                    "\n"
                    @for (t, v) in &p.table_versions {
                        tr { td { (t) } td class="num" { (v) } } "\n"
                    }
                }
            } "\n"
            p class="meta" {
                "peerbench " (p.peerbench_version) " · run id " (p.run_id) ". Board page: "
                (disclosure.board.describe()) ". Practice pages: " (disclosure.practice_pages.describe())
                ". Downloads: " (disclosure.downloads.describe()) "."
            } "\n"
            p class="meta" {
                "This publication's files with their SHA-256 (all but the run record, run.json, and the list itself), to check a copy against (sha256sum --check): "
                a href={ (crate::SUMS) } { "SHA256SUMS" } "."
            } "\n"
        }
    }
}

/// Who is in a peer group, for "How this was made".
fn peer_group_members(kind: &peerbench_compare::PeerGroupKind) -> String {
    match (kind, wording::peer_group_members(kind)) {
        (_, Some(who)) => who.to_string(),
        (peerbench_compare::PeerGroupKind::Similar { k, weights }, None) => format!(
            "the practice and the {k} practices most like it on standardised descriptors, weighted {}",
            weights
                .iter()
                .map(|w| format!("{} × {}", w.name, w.weight))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (_, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerbench_compare::Opt64;
    use peerbench_stats::{Comparison, FunnelFlag};

    /// A hidden value goes without its interval, funnel position and
    /// run-chart reading; a shown one keeps them.
    #[test]
    fn figures_with_a_small_count_show_no_interval_or_signals() {
        let mut r = ResultRow {
            indicator_id: "x".into(),
            practice_code: "A81000".into(),
            period: "2026-09".into(),
            peer_group: "federation".into(),
            peer_group_key: "F".into(),
            peer_group_size: 30,
            numerator: Opt64::some(7.0),
            denominator: Opt64::some(102.0),
            value: Opt64::some(6.862745098),
            lower_95: Opt64::some(3.3667),
            upper_95: Opt64::some(13.4876),
            lower_998: Opt64::NONE,
            upper_998: Opt64::NONE,
            benchmark: Opt64::some(10.512),
            peer_median: Opt64::NONE,
            percentile_rank: Opt64::NONE,
            comparison: Comparison::Similar,
            comparison_998: Comparison::Similar,
            funnel_lower_95: Opt64::NONE,
            funnel_upper_95: Opt64::NONE,
            funnel_lower_998: Opt64::NONE,
            funnel_upper_998: Opt64::NONE,
            funnel_flag: Some(FunnelFlag::Within),
            funnel_flag_unadjusted: None,
            funnel_z: Opt64::NONE,
            od_phi: Opt64::NONE,
            od_tau2: Opt64::NONE,
            spc_signal: None,
            spc_variation: Some(peerbench_stats::Variation::CommonCause),
            spc_value: Opt64::NONE,
            spc_seasonally_adjusted: None,
            spc_centre: Opt64::NONE,
            spc_lower: Opt64::NONE,
            spc_upper: Opt64::NONE,
            spc_trial: None,
            trend: peerbench_stats::TrendLabel::NoSignificantChange,
            not_compared_reason: None,
        };
        let sup = Suppression::default();
        let s = View {
            own: crate::Disclosure::Standard,
            peers: crate::Disclosure::Standard,
            sup: &sup,
        };
        assert_eq!(
            figure_cells(&s, &r).into_string(),
            "<td class=\"nowrap\">2026-09</td><td class=\"num\">* / 100</td><td class=\"num\">*</td><td class=\"num\">10.5</td>"
        );
        assert_eq!(
            signal_cells(&s, &r).into_string(),
            "<td>Not shown (a count of 1 to 7)</td><td>Not shown (a count of 1 to 7)</td>"
        );
        r.numerator = Opt64::some(8.0);
        assert_eq!(
            figure_cells(&s, &r).into_string(),
            "<td class=\"nowrap\">2026-09</td><td class=\"num\">10 / 100</td><td class=\"num\">6.9 (3.4–13.5)</td><td class=\"num\">10.5</td>"
        );
        assert_eq!(
            signal_cells(&s, &r).into_string(),
            "<td>Within the limits</td><td>Common-cause variation only</td>"
        );
    }
}

#[cfg(test)]
mod adjustment_tests {
    use super::Adjustment;

    #[test]
    fn one_group_is_shown_as_it_is_and_several_as_median_and_range() {
        let one = Adjustment::over(&[8.516660531709595], &[0.0017278055956716834]);
        assert_eq!((one.phi.as_str(), one.tau2.as_str()), ("8.52", "0.00173"));
        // Three PCNs' funnels: not one of them picked, but all three.
        let three = Adjustment::over(&[56.17, 3.1, 12.3], &[0.029, 0.0001, 0.002]);
        assert_eq!(three.phi, "median 12.30 over 3 groups (3.10 to 56.17)");
        assert_eq!(
            three.tau2,
            "median 0.00200 over 3 groups (0.00010 to 0.02900)"
        );
        let two = Adjustment::over(&[2.0, 4.0], &[0.1, 0.3]);
        assert_eq!(two.phi, "median 3.00 over 2 groups (2.00 to 4.00)");
    }
}
