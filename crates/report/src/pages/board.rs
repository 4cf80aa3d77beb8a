//! The board pack (`index.html`): a summary by indicator, a practices ×
//! indicators heat map, the outliers beyond the 99.8% limits, what changed
//! since last period, the data-quality summary and completeness by practice.

use std::collections::BTreeMap;

use maud::{Markup, html};
use peerbench_catalogue::{Domain, Indicator};
use peerbench_compare::{PracticeInfo, ReportingPeriods, ResultRow};
use peerbench_stats::Comparison;

use super::{LISTED, Site, comparison_tag, fmt, head, practice_link, shortened};
use crate::disclosure::View;
use crate::verdict::{Basis, VerdictLead};
use crate::{SourceQuality, wording};

impl<'a> Site<'a> {
    pub fn board_page(&self) -> String {
        let title = &self.input.title;
        // Grouped by domain, as on the practice pages, then by title.
        let mut inds: Vec<&Indicator> = self.indicators().collect();
        let rank = |d: Domain| Domain::ALL.iter().position(|x| *x == d).unwrap_or(0);
        inds.sort_by(|a, b| (rank(a.domain), &a.title).cmp(&(rank(b.domain), &b.title)));
        let body = html! {
            h1 { (title) ": where each practice stands" } "\n"
            (self.not_computed())
            p {
                (self.input.practices.len()) " practices, " (inds.len())
                " indicators, compared with peer group “" (self.input.primary_peer_group)
                "”. Each cell gives the latest period's verdict in words; open a practice for its full report."
            } "\n"
            p class="meta" { (wording::verdict_lead(self.input.verdict)) } "\n"
            h2 { "Summary by indicator" } "\n"
            p class="meta" {
                "How many practices have each verdict in the latest period. Each row adds up to the "
                (self.input.practices.len())
                " practices: “No data” counts those with no result for that period (see completeness by practice below)."
            } "\n"
            (self.summary(&inds))
            (self.not_yet_shown(&inds))
            h2 { "Practices × indicators" } "\n"
            p class="meta" {
                "The latest period's verdict, in words, one table per domain (the counts above add them up). “(interval)” marks a verdict judged on the 95% interval where the report leads with the funnel but the indicator or period has none: age-standardised rates, a funnel withheld to protect a small count, or a peer group too small to estimate the variation between practices. Open an indicator for its ranked practices and federation trend, or a practice for its full report."
            } "\n"
            @let listed = self.heat_map_practices(&inds);
            @if listed.len() < self.input.practices.len() {
                (shortened(listed.len(), self.input.practices.len(),
                    "the practices with most indicators on the worse side of peers in the latest period, most first",
                    html! { "the board pack's “Heat map” sheet (" a href="data/board-pack.xlsx" { "board-pack.xlsx" } ") and each practice's own report" }))
            }
            @for domain in Domain::ALL { (self.heat_map(domain, &inds, &listed)) }
            h2 { "Outside the 99.8% limits" } "\n"
            p {
                "Practices beyond the 99.8% funnel limits in the latest period, after allowing for the normal variation between practices: candidates for unwarranted variation, to be understood before they are judged. Most outside the limits first, by the funnel's z-score on its adjusted scale (how many standard deviations from the peer value, allowing for the normal variation between practices; the 99.8% limits are at ±3.09)."
            } "\n"
            (self.outliers(&inds))
            h2 { "Since last period" } "\n"
            (self.since_last_period(&inds))
            p { "Download: " a href="data/changes.csv" { "changes.csv" } } "\n"
            h2 { "Data quality" } "\n"
            (self.data_quality())
            (self.completeness(&inds))
            p { "What each indicator means: " a href="indicators.html" { "the indicator catalogue" } "." } "\n"
            p {
                "Download the board pack as an Excel workbook (one sheet per view): "
                a href="data/board-pack.xlsx" { "board-pack.xlsx" } ". Every number: "
                a href="data/indicator_results.csv.gz" { "indicator_results.csv.gz" } " (compressed CSV) · "
                a href="data/indicator_results.parquet" { "indicator_results.parquet" } " (for analysts' tools)"
            } "\n"
            (self.how_made(""))
        };
        self.page_naming_run(&format!("{title} — board report"), "", body)
    }

    /// Indicators that failed tonight, said first rather than shown with
    /// earlier results.
    fn not_computed(&self) -> Markup {
        let failed = &self.input.not_computed;
        html! {
            @if !failed.is_empty() {
                section class="not-computed" role="alert" {
                    h2 { "Not computed tonight" } "\n"
                    p {
                        "These indicators could not be computed in this run. They are left out of this pack; their earlier results are in earlier packs, not shown here as tonight's."
                    } "\n"
                    ul {
                        "\n"
                        @for n in failed {
                            li { strong { (n.title) } " (" (n.id) "): " (n.reason) } "\n"
                        }
                    }
                } "\n"
            }
        }
    }

    /// Per indicator: the latest period, the federation value and how many
    /// practices compare how.
    fn summary(&self, inds: &[&Indicator]) -> Markup {
        let board = self.board_view();
        let columns = [
            "Indicator",
            "Latest period",
            "Federation value",
            "Better",
            "Similar",
            "Worse",
            "Higher / lower",
            "Not compared",
            "No data",
        ];
        let practices = self.input.practices.len();
        html! {
            table {
                (head(&columns))
                tbody {
                    "\n"
                    @for ind in inds {
                        @let (counts, bench) = self.comparisons(&board, ind);
                        @let c = |k| counts.get(&k).copied().unwrap_or(0);
                        @let with_data: usize = counts.values().sum();
                        tr {
                            th scope="row" {
                                a href={ "board/" (ind.id) ".html" } { (ind.title) } " "
                                span class="meta" { (ind.units) }
                            }
                            td class="nowrap" { (self.latest_period_of(&ind.id)) }
                            td class="num" { (fmt(bench)) }
                            td class="num" { (c(Comparison::Better)) }
                            td class="num" { (c(Comparison::Similar)) }
                            td class="num" { (c(Comparison::Worse)) }
                            td class="num" { (c(Comparison::Higher) + c(Comparison::Lower)) }
                            td class="num" { (c(Comparison::NotCompared)) }
                            td class="num" { (practices.saturating_sub(with_data)) }
                        } "\n"
                    }
                }
            } "\n"
        }
    }

    /// Later periods that fewer than half of an indicator's practices have
    /// sent so far: said, so that nobody wonders why the pack is a month
    /// behind the first practices' extracts.
    fn not_yet_shown(&self, inds: &[&Indicator]) -> Markup {
        let waiting: Vec<(&Indicator, &ReportingPeriods)> = inds
            .iter()
            .filter_map(|ind| Some((*ind, self.reporting.get(ind.id.as_str())?)))
            .filter(|(_, p)| !p.not_yet_shown.is_empty())
            .collect();
        html! {
            @if !waiting.is_empty() {
                p class="meta" {
                    "Not yet shown: a later period that fewer than half of an indicator's practices have sent so far (the rest usually arrive over the next nights). Until then this pack leads with the latest period at least half have sent; the later results are in the downloads and on each practice's run chart."
                } "\n"
                ul {
                    "\n"
                    @for (ind, p) in &waiting {
                        li {
                            (ind.title) ": "
                            @for (i, (period, n)) in p.not_yet_shown.iter().enumerate() {
                                @if i > 0 { "; " }
                                (period) " (" (n) " of " (p.practices) " practices)"
                            }
                        } "\n"
                    }
                } "\n"
            }
        }
    }

    /// How many practices have each verdict on an indicator in its latest
    /// period, and its benchmark, as the board may show them.
    fn comparisons(
        &self,
        board: &View,
        ind: &Indicator,
    ) -> (BTreeMap<Comparison, usize>, Option<f64>) {
        let mut counts: BTreeMap<Comparison, usize> = BTreeMap::new();
        let mut bench = None;
        for code in self.input.practices.keys() {
            if let Some(r) = self.latest.get(&(ind.id.as_str(), code.as_str())) {
                *counts.entry(self.verdict(board, ind, r).tag).or_default() += 1;
                bench = bench.or(board.benchmark(r));
            }
        }
        (counts, bench)
    }

    /// The practices the heat map lists: all of them, in code order, up to
    /// [`LISTED`]; beyond, those with most indicators judged worse than
    /// peers first (then by code), where a board would look first.
    fn heat_map_practices(&self, inds: &[&Indicator]) -> Vec<(&'a String, &'a PracticeInfo)> {
        let all = &self.input.practices;
        if all.len() <= LISTED {
            return all.iter().collect();
        }
        let board = self.board_view();
        let worse = |code: &str| {
            inds.iter()
                .filter_map(|ind| self.latest.get(&(ind.id.as_str(), code)).map(|r| (ind, r)))
                .filter(|(ind, r)| self.verdict(&board, ind, r).tag == Comparison::Worse)
                .count()
        };
        let mut ranked: Vec<(usize, (&String, &PracticeInfo))> =
            all.iter().map(|p| (worse(p.0), p)).collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.0.cmp(b.1.0)));
        ranked.into_iter().take(LISTED).map(|(_, p)| p).collect()
    }

    /// One domain's practices × indicators table of comparison words.
    fn heat_map(
        &self,
        domain: Domain,
        inds: &[&Indicator],
        practices: &[(&String, &PracticeInfo)],
    ) -> Markup {
        let in_domain: Vec<&Indicator> = inds
            .iter()
            .copied()
            .filter(|i| i.domain == domain)
            .collect();
        if in_domain.is_empty() {
            return html! {};
        }
        let board = self.board_view();
        html! {
            div class="scroll" tabindex="0" role="region"
                aria-label={ (domain.title()) ": practices by indicators" } {
                table class="heat" {
                    caption { (domain.title()) }
                    thead {
                        tr {
                            th scope="col" { "Practice" }
                            @for ind in &in_domain {
                                th scope="col" class="ind" {
                                    a href={ "board/" (ind.id) ".html" } { (ind.title) }
                                }
                            }
                        }
                    }
                    tbody {
                        "\n"
                        @for (code, p) in practices {
                            tr {
                                th scope="row" { (practice_link("", code, &p.name)) }
                                @for ind in &in_domain {
                                    @match self.latest.get(&(ind.id.as_str(), code.as_str())) {
                                        Some(r) => {
                                            @let v = self.verdict(&board, ind, r);
                                            td {
                                                (comparison_tag(v.tag))
                                                @if v.basis == Basis::Interval && self.input.verdict == VerdictLead::Funnel && v.tag != Comparison::NotCompared {
                                                    " " span class="meta" { "(interval)" }
                                                }
                                            }
                                        }
                                        None => td class="meta" { "no data" },
                                    }
                                }
                            } "\n"
                        }
                    }
                }
            } "\n"
        }
    }

    /// Practices beyond the 99.8% funnel limits in the latest period.
    fn outliers(&self, inds: &[&Indicator]) -> Markup {
        let board = self.board_view();
        let mut outliers: Vec<&ResultRow> = self
            .latest
            .values()
            .copied()
            .filter(|r| {
                r.funnel_flag.is_some_and(|f| f.is_outlier()) && board.funnel_not_shown(r).is_none()
            })
            .collect();
        // Most outside the limits first; ties by indicator and practice.
        let distance = |r: &ResultRow| board.funnel_z(r).map_or(0.0, f64::abs);
        outliers.sort_by(|a, b| {
            distance(b).total_cmp(&distance(a)).then_with(|| {
                (&a.indicator_id, &a.practice_code).cmp(&(&b.indicator_id, &b.practice_code))
            })
        });
        if outliers.is_empty() {
            return html! { p { "None." } "\n" };
        }
        let total = outliers.len();
        outliers.truncate(LISTED);
        let columns = [
            "Indicator",
            "Practice",
            "Period",
            "Value",
            "99.8% limits",
            "Position",
            "How far out (z; the 99.8% limits are at ±3.09)",
            "Allowance for normal variation (φ / τ²)",
        ];
        html! {
            table {
                (head(&columns))
                tbody {
                    "\n"
                    @for r in &outliers {
                        @let code = &r.practice_code;
                        tr {
                            td { (title_of(inds, &r.indicator_id)) }
                            td {
                                a href={ "practices/" (code) ".html" } { (self.practice_name(code)) }
                                " " (code)
                            }
                            td { (r.period) }
                            td class="num" { (fmt(r.value.get())) }
                            td class="num" { (fmt(r.funnel_lower_998.get())) "–" (fmt(r.funnel_upper_998.get())) }
                            td { (wording::funnel_position(r.funnel_flag)) }
                            td class="num" {
                                (board.funnel_z(r).map_or_else(|| "–".to_string(), |z| format!("{z:+.1}").replace('-', "−")))
                            }
                            td class="num" {
                                (format!("{:.2} / {:.5}", r.od_phi.unwrap_or_default(), r.od_tau2.unwrap_or_default()))
                            }
                        } "\n"
                    }
                }
            } "\n"
            @if outliers.len() < total {
                (shortened(outliers.len(), total, "the most outside the limits",
                    html! { "the board pack's “Outliers” sheet (" a href="data/board-pack.xlsx" { "board-pack.xlsx" } ")" }))
            }
        }
    }

    /// New and resolved outliers and new special causes since last period.
    fn since_last_period(&self, inds: &[&Indicator]) -> Markup {
        let changes = self.changes();
        if changes.is_empty() {
            return html! {
                p { "No new or resolved outliers, and no new special-cause signals." } "\n"
            };
        }
        let total = changes.len();
        html! {
            table {
                (head(&["What changed", "Indicator", "Practice", "Now", "Before"]))
                tbody {
                    "\n"
                    @for c in changes.iter().take(LISTED) {
                        tr {
                            td { (wording::change_kind(c.kind)) }
                            td { (title_of(inds, &c.indicator_id)) }
                            td { (practice_link("", &c.practice_code, self.practice_name(&c.practice_code))) }
                            td { (wording::reading(c.now)) " (" (c.period) ")" }
                            td { (wording::reading(c.before)) " (" (c.previous_period) ")" }
                        } "\n"
                    }
                }
            } "\n"
            @if total > LISTED {
                (shortened(LISTED, total, "in the order of the download", html! { "changes.csv (below)" }))
            }
        }
    }

    /// Rows loaded and set aside per source, how current each source is,
    /// and what else the load noticed.
    fn data_quality(&self) -> Markup {
        let sources = &self.input.provenance.sources;
        // A source behind the newest one is stale: its latest month is older.
        let newest = sources
            .iter()
            .filter_map(|s| s.latest_month.as_deref())
            .max();
        let columns = [
            "Source table",
            "Files",
            "Rows loaded",
            "Rows set aside",
            "Why",
            "Latest month",
            "Practices missing from the latest month",
        ];
        html! {
            table {
                (head(&columns))
                tbody {
                    "\n"
                    @for s in sources {
                        tr {
                            td { (s.table) }
                            td class="num" { (s.files) }
                            td class="num" { (s.rows_loaded) }
                            td class="num" { (s.rows_quarantined) }
                            td { (why_set_aside(s)) }
                            td class="nowrap" { (latest_month(s, newest)) }
                            td { (self.missing_latest(s)) }
                        } "\n"
                    }
                }
            } "\n"
            p class="meta" {
                "Rows set aside are kept with their file, line and reason in the warehouse table "
                code { "quarantine" } "."
            } "\n"
            (self.load_notes())
        }
    }

    /// Register practices with no rows in a source's latest month.
    fn missing_latest(&self, s: &SourceQuality) -> Markup {
        html! {
            @if s.latest_month.is_none() {
                "–"
            } @else if s.missing_latest.is_empty() {
                "none"
            } @else {
                strong { (s.missing_latest.len()) } ": "
                @for (i, c) in s.missing_latest.iter().enumerate() {
                    @if i > 0 { "; " }
                    (self.practice_name(c)) " " span class="meta" { (c) }
                }
            }
        }
    }

    /// Files nobody reads, resubmissions and sudden changes.
    fn load_notes(&self) -> Markup {
        let p = &self.input.provenance;
        let replaced: Vec<String> = p
            .sources
            .iter()
            .filter(|s| s.rows_replaced > 0)
            .map(|s| format!("{} rows of {}", s.rows_replaced, s.table))
            .collect();
        let jumps: Vec<(&str, &crate::Jump)> = p
            .sources
            .iter()
            .flat_map(|s| s.jumps.iter().map(move |j| (s.table.as_str(), j)))
            .collect();
        html! {
            @if !p.unclaimed_files.is_empty() {
                p {
                    strong { "Files no source reads" } ": "
                    @for (i, f) in p.unclaimed_files.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (f) }
                    }
                    ". They arrived in a landing folder but the pipeline declares no source for them, so nothing in them is in these reports."
                } "\n"
            }
            @if !replaced.is_empty() {
                p {
                    "Resubmissions: a later file replaced a practice's earlier rows for a period ("
                    (replaced.join("; "))
                    "). Only the later rows are counted; the load summary names the files."
                } "\n"
            }
            @if !jumps.is_empty() {
                h3 { "Sudden changes since the previous period" } "\n"
                p {
                    "These practices' latest data differ sharply from the period before: the number of rows halved or doubled, or the registered list changed by a tenth or more. That is more often a partial or mis-made extract, a list cleaned or a merger than a real change, so check the extract before reading these practices' comparisons."
                } "\n"
                table {
                    (head(&["Practice", "Source table", "What changed"]))
                    tbody {
                        "\n"
                        @for (table, j) in jumps {
                            tr {
                                td { (practice_link("", &j.practice_code, self.practice_name(&j.practice_code))) }
                                td { (table) }
                                td { (j.describe()) }
                            } "\n"
                        }
                    }
                } "\n"
            }
        }
    }

    /// Completeness by practice: a practice with gaps is flagged here, not
    /// silently compared on fewer indicators.
    fn completeness(&self, inds: &[&Indicator]) -> Markup {
        let total = inds.len();
        let mut incomplete = Vec::new();
        for (code, p) in self.input.practices {
            let missing = inds
                .iter()
                .filter(|i| self.lacks_latest(&i.id, code))
                .count();
            let q = self.quarantined(code);
            if missing > 0 || q > 0 {
                incomplete.push((code, p, missing, q));
            }
        }
        let practices = self.input.practices.len();
        let columns = [
            "Practice",
            "Indicators with data, latest period",
            "Rows set aside",
        ];
        html! {
            h3 { "Completeness by practice" } "\n"
            p {
                (practices - incomplete.len()) " of " (practices) " practices have data for all "
                (total) " indicators in their latest period and no rows set aside."
            } "\n"
            @if !incomplete.is_empty() {
                table {
                    (head(&columns))
                    tbody {
                        "\n"
                        @for (code, p, missing, q) in incomplete.iter().take(LISTED) {
                            tr {
                                th scope="row" { (practice_link("", code, &p.name)) }
                                td class="num" { (total - missing) " of " (total) }
                                td class="num" { (q) }
                            } "\n"
                        }
                    }
                } "\n"
                @if incomplete.len() > LISTED {
                    (shortened(LISTED, incomplete.len(), "in practice-code order",
                        html! { "each practice's own report (its “Data completeness” line)" }))
                }
            }
        }
    }
}

/// An indicator's title, or its id when it is not published.
fn title_of<'i>(inds: &[&'i Indicator], id: &'i str) -> &'i str {
    inds.iter()
        .find(|i| i.id == id)
        .map_or(id, |i| i.title.as_str())
}

/// Why a source's rows were set aside: each check with its count.
fn why_set_aside(s: &SourceQuality) -> Markup {
    let why = s
        .by_check
        .iter()
        .map(|(c, n)| format!("{c} × {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        @if why.is_empty() && s.warning.is_none() {
            "–"
        } @else {
            (why)
            @if s.warning.is_some() { " " strong { "(more than the source's warning level)" } }
        }
    }
}

/// A source's latest month, marked when other sources reach further.
fn latest_month(s: &SourceQuality, newest: Option<&str>) -> Markup {
    html! {
        @match (&s.latest_month, newest) {
            (Some(m), Some(n)) if m.as_str() < n => {
                (m) " " strong { "(behind: other sources reach " (n) ")" }
            }
            (Some(m), _) => (m),
            (None, _) => "–",
        }
        @for (month, n) in &s.later_months {
            br;
            span class="meta" {
                (month) ": " (n) " practice" @if *n != 1 { "s" } " so far, not yet shown"
            }
        }
    }
}
