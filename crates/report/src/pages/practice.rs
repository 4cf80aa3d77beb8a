//! A practice's report (`practices/<CODE>.html`): its facts, a summary in
//! words and where it stands on each indicator (with spine charts); and, a
//! page per domain (`practices/<CODE>/<domain>.html`), each indicator in
//! detail (funnel or caterpillar, run chart, the numbers).
//!
//! The detail has its own pages so that the report a practice team opens
//! first is small: with every indicator's charts on it, a practice's page
//! was 486 KB at national scale (over 90% charts and their tables), slow on
//! an NHS laptop, where the report alone is under 100 KB.

use std::borrow::Cow;

use maud::{Markup, html};
use peerbench_catalogue::{Domain, Indicator, ValueType};
use peerbench_compare::ResultRow;
use peerbench_stats::{Comparison, quantile_type7};

use super::{Site, figure_cells, head, run_chart_cell, signal_cells, verdict_cell};
use crate::charts;
use crate::verdict::{self, Basis, VerdictLead};
use crate::wording;

impl Site<'_> {
    pub fn practice_page(&self, code: &str) -> String {
        let p = &self.input.practices[code];
        let body = html! {
            h1 { (p.name) " " span class="meta" { "(" (p.code) ")" } } "\n"
            (self.facts(code))
            p class="meta" {
                "Download this practice's numbers, every indicator and period: "
                a href={ (code) ".csv" } { (code) ".csv" }
            } "\n"
            (self.in_brief(code))
            (self.sent_early(code))
            h2 { "Where you stand" } "\n"
            p class="meta" {
                "Latest period for each indicator. The chart shows the peer range (light), the middle half of peers (dark), the peer benchmark (vertical line) and this practice (circle, coloured by its verdict, with its 95% interval). Worse is always to the left. The benchmark is always in the middle, and the scale runs equally far either side of it, to the ends of the peers' usual spread (box-plot whiskers); a value beyond is drawn at the edge with an arrowhead pointing out."
            } "\n"
            @for domain in Domain::ALL { (self.where_you_stand(domain, code)) }
            (self.how_made("../"))
        };
        self.page(&format!("{} — practice report", p.name), "../", body)
    }

    /// The domains a practice's report has a detail page for: those with a
    /// published indicator.
    pub fn detail_domains(&self) -> Vec<Domain> {
        Domain::ALL
            .into_iter()
            .filter(|d| self.indicators().any(|i| i.domain == *d))
            .collect()
    }

    /// The ids of a domain's published indicators, in page order.
    pub fn indicators_in(&self, domain: Domain) -> Vec<&str> {
        self.indicators()
            .filter(|i| i.domain == domain)
            .map(|i| i.id.as_str())
            .collect()
    }

    /// One domain's indicators in detail for a practice
    /// (`practices/<CODE>/<domain>.html`).
    pub fn practice_domain_page(&self, code: &str, domain: Domain) -> String {
        let p = &self.input.practices[code];
        let body = html! {
            h1 { (domain.title()) ": " (p.name) " " span class="meta" { "(" (p.code) ")" } } "\n"
            p {
                a href={ "../" (code) ".html" } { "Back to the practice's report" }
                " (where it stands on every indicator, in brief)."
            } "\n"
            h2 { "Each indicator in detail" } "\n"
            p class="meta" {
                "Funnel plots: every practice in the peer group by its denominator; solid line the peer value, dashed the 95% limits, dotted the 99.8% limits, allowing for the normal variation between practices. Run charts: this practice month by month; solid line its average, dashed its process limits; a blue square marks special-cause improvement, a yellow triangle special-cause concern, a purple dot a special cause on a context indicator."
            } "\n"
            @for ind in self.indicators().filter(|i| i.domain == domain) { (self.in_detail(ind, code)) "\n" }
            (self.how_made("../../"))
        };
        self.page(
            &format!("{} — {} — practice report", p.name, domain.title()),
            "../../",
            body,
        )
    }

    /// Who the practice is, what it is compared with, and how complete its
    /// data are.
    fn facts(&self, code: &str) -> Markup {
        let p = &self.input.practices[code];
        let q = self.quarantined(code);
        // Indicators with no row, or no usable value, for this practice in
        // their latest period: its comparison is incomplete, and says so.
        let missing: Vec<&str> = self
            .indicators()
            .filter(|i| self.lacks_latest(&i.id, code))
            .map(|i| i.title.as_str())
            .collect();
        let total = self.indicators().count();
        let jumps: Vec<String> = self
            .input
            .provenance
            .sources
            .iter()
            .flat_map(|s| {
                s.jumps
                    .iter()
                    .filter(|j| j.practice_code == code)
                    .map(move |j| format!("{} ({})", j.describe(), s.table))
            })
            .collect();
        html! {
            dl class="facts" {
                "\n"
                dt { "PCN" } dd { (p.pcn_name) " (" (p.pcn_code) ")" } "\n"
                dt { "Federation" } dd { (p.federation) } "\n"
                @if let Some(l) = p.list_size {
                    dt { "Registered patients" }
                    dd {
                        (format!("{l:.0}")) " "
                        span class="meta" {
                            @match &p.list_size_month {
                                Some(month) => { "(" (month) ", from table " (p.list_size_source) ")" }
                                None => { "(from table " (p.list_size_source) ", which gives no month)" }
                            }
                        }
                    } "\n"
                }
                dt { "Compared with" } dd { "peer group “" (self.input.primary_peer_group) "”" } "\n"
                dt { "Data completeness" }
                dd {
                    @if missing.is_empty() {
                        "data for all " (total) " indicators in their latest period"
                    } @else {
                        strong { "incomplete" } ": data for " (total - missing.len()) " of " (total)
                        " indicators in their latest period; missing or suppressed: "
                    }
                    (missing.join("; ")) ". "
                    @if q == 0 {
                        "All rows received for this practice passed their checks."
                    } @else {
                        (q) " rows from this practice failed their checks and were set aside — see the board page's data quality section."
                    }
                } "\n"
                @if !jumps.is_empty() {
                    dt { "Sudden changes" }
                    dd {
                        strong { "check the extract" } ": " (jumps.join("; "))
                        ". A change this large is more often an extract problem than a real one."
                    } "\n"
                }
            } "\n"
        }
    }

    /// The plain-language summary: stronger than peers, areas to look at,
    /// from the leading verdict, each ranked most outside the limits first.
    /// Results of this practice in a period most practices have not sent
    /// yet: said, so that a team that sent its month early does not wonder
    /// where it went (the report leads with the period at least half have
    /// sent; see `reporting_periods`).
    fn sent_early(&self, code: &str) -> Markup {
        let mut early: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for ind in self.indicators() {
            let latest = self.latest_period_of(&ind.id);
            for r in self
                .series
                .get(&(ind.id.as_str(), code))
                .into_iter()
                .flatten()
                .filter(|r| &*r.period > latest)
            {
                early.entry(&r.period).or_default().push(ind.title.as_str());
            }
        }
        html! {
            @for (period, titles) in &early {
                p class="meta" {
                    "Sent early: this practice's " (period) " for " (titles.join("; "))
                    ". Fewer than half of practices have sent " (period)
                    " so far, so this report compares the period before it; "
                    (period) " is compared once at least half have sent it, and is on the run charts and in the download now."
                } "\n"
            }
        }
    }

    fn in_brief(&self, code: &str) -> Markup {
        let view = self.page_view();
        let mut better = Vec::new();
        let mut worse = Vec::new();
        for ind in self.indicators() {
            if let Some(r) = self.latest.get(&(ind.id.as_str(), code)) {
                let v = self.verdict(&view, ind, r);
                let item = (v.basis, ind.title.as_str(), v.distance);
                match v.tag {
                    Comparison::Better => better.push(item),
                    Comparison::Worse => worse.push(item),
                    _ => {}
                }
            }
        }
        verdict::rank(&mut better);
        verdict::rank(&mut worse);
        let (side_better, side_worse, none_better, none_worse) = match self.input.verdict {
            VerdictLead::Funnel => (
                "outside the 99.8% funnel limits on the better side, most outside first",
                "outside the 99.8% funnel limits on the worse side, most outside first",
                "No indicator is outside the 99.8% funnel limits on the better side in the latest period.",
                "No indicator is outside the 99.8% funnel limits on the worse side in the latest period.",
            ),
            VerdictLead::Interval => (
                "95% interval entirely on the better side of the peer benchmark, furthest first",
                "95% interval entirely on the worse side of the peer benchmark, furthest first",
                "No indicator's 95% interval lies entirely on the better side of the peer benchmark in the latest period.",
                "No indicator's 95% interval lies entirely on the worse side of the peer benchmark in the latest period.",
            ),
        };
        let list = |items: &[(Basis, &str, Option<f64>)]| -> Markup {
            html! {
                @for (i, (basis, title, _)) in items.iter().enumerate() {
                    @if i > 0 { "; " }
                    (title)
                    @if *basis == Basis::Interval && self.input.verdict == VerdictLead::Funnel {
                        " (on its 99.8% interval: no funnel)"
                    }
                }
            }
        };
        html! {
            h2 { "In brief" } "\n"
            ul {
                "\n"
                @if better.is_empty() {
                    li { (none_better) }
                } @else {
                    li { strong { "Stronger than peers" } " (" (side_better) "): " (list(&better)) "." }
                } "\n"
                @if worse.is_empty() {
                    li { (none_worse) }
                } @else {
                    li { strong { "Areas to look at" } " (" (side_worse) "): " (list(&worse)) "." }
                } "\n"
            } "\n"
            p class="meta" { (wording::verdict_lead(self.input.verdict)) } "\n"
        }
    }

    /// One domain's table of the latest period, a spine chart per indicator.
    fn where_you_stand(&self, domain: Domain, code: &str) -> Markup {
        let inds: Vec<&Indicator> = self.indicators().filter(|i| i.domain == domain).collect();
        if inds.is_empty() {
            return html! {};
        }
        let view = self.page_view();
        let columns = [
            "Indicator",
            "Period",
            "Numerator / denominator",
            "Practice value (95% interval)",
            "Peer benchmark",
            "Against peers (the verdict, then the other comparison)",
            "Own run chart, latest month",
            "Spine chart",
        ];
        html! {
            h3 { (domain.title()) } "\n"
            table {
                (head(&columns))
                tbody {
                    "\n"
                    @for ind in inds {
                        tr {
                            th scope="row" {
                                a href={ (code) "/" (domain.as_str()) ".html#" (ind.id) } { (ind.title) } br; span class="meta" { (ind.units) }
                            }
                            @match self.latest.get(&(ind.id.as_str(), code)) {
                                Some(r) => {
                                    (figure_cells(&view, r))
                                    (verdict_cell(&self.verdict(&view, ind, r)))
                                    (run_chart_cell(&view, r))
                                    td { (self.spine(ind, r)) }
                                }
                                None => {
                                    td colspan="7" class="meta" {
                                        "No data for this practice in the latest period ("
                                        (self.latest_period_of(&ind.id)) ")."
                                    }
                                }
                            }
                        } "\n"
                    }
                }
            } "\n"
            p class="meta" {
                a href={ (code) "/" (domain.as_str()) ".html" } { (domain.title()) " in detail" }
                ": each indicator's funnel plot, run chart and the numbers behind them."
            } "\n"
        }
    }

    /// The spine chart of a practice's latest value among its peers'.
    fn spine(&self, ind: &Indicator, r: &ResultRow) -> Markup {
        let view = self.page_view();
        if view.hides_value(r) {
            return html! {};
        }
        let Some(values) = self
            .peer_values
            .get(&(ind.id.as_str(), r.peer_group_key.as_str()))
        else {
            return html! {};
        };
        let (Some(value), Ok(min), Ok(q1), Ok(q3), Ok(max)) = (
            r.value.get(),
            quantile_type7(values, 0.0),
            quantile_type7(values, 0.25),
            quantile_type7(values, 0.75),
            quantile_type7(values, 1.0),
        ) else {
            return html! {};
        };
        charts::spine(
            ind,
            &charts::Spine {
                value,
                lower_95: r.lower_95.get(),
                upper_95: r.upper_95.get(),
                peers: [min, q1, q3, max],
                whiskers: charts::spine_whiskers(values, q1, q3),
                benchmark: view.benchmark(r),
                comparison: self.verdict(&view, ind, r).tag,
            },
        )
    }

    /// One indicator in detail: the practice among its peers (funnel, or
    /// caterpillar for a DSR), its run chart, the numbers behind them and
    /// the indicator's definition.
    fn in_detail(&self, ind: &Indicator, code: &str) -> Markup {
        let view = self.page_view();
        let series = self.series.get(&(ind.id.as_str(), code));
        html! {
            section id=(ind.id) {
                h3 { (ind.title) } "\n"
                @if let Some(r) = self.latest.get(&(ind.id.as_str(), code)) {
                    (self.among_peers(ind, r, code))
                }
                @if let Some(series) = series {
                    // Its centre line and limits average every point, so a
                    // chart with a point the policy hides is not drawn.
                    @if !series.first().is_some_and(|r| view.hides_spc_lines(r)) {
                        (charts::run_chart(ind, series))
                    }
                    table {
                        caption { "The numbers behind the charts (latest 12 periods)" }
                        (head(&["Period", "Numerator / denominator", "Value (95% interval)", "Peer benchmark", "Funnel", "Run chart"]))
                        tbody {
                            "\n"
                            @for r in series.iter().rev().take(12).rev() {
                                tr { (figure_cells(&view, r)) (signal_cells(&view, r)) } "\n"
                            }
                        }
                    } "\n"
                }
                // The definition is the same on every practice's page: it is
                // written once, in the catalogue (on a national publication
                // it was 17 KB of each of 6,300 pages).
                dl class="facts" {
                    dt { "Caveats" }
                    dd { (if ind.caveats.is_empty() { "None recorded." } else { &ind.caveats }) }
                    dt { "Better is" } dd { (wording::better_is(ind.polarity)) }
                    dt { "Definition" }
                    dd {
                        "Numerator, denominator, definition and source: "
                        a href={ "../../indicators.html#" (ind.id) } { "in the indicator catalogue" }
                    }
                }
            }
        }
    }

    /// The practice among its peer group in the latest period: a funnel
    /// plot, or for a DSR (whose precision is not one denominator's) its
    /// peers ranked with their intervals.
    fn among_peers(&self, ind: &Indicator, r: &ResultRow, code: &str) -> Markup {
        let view = self.page_view();
        let peers_view = self.peers_view();
        // Peers only as far as the board shows them (a point or an interval
        // gives its counts back); this practice as its page's policy allows.
        let own_shown = !view.hides_value(r);
        // Each with what its group's figures may show (comparison,
        // benchmark, funnel).
        let peers: Vec<Cow<ResultRow>> = self
            .peer_rows
            .get(&(ind.id.as_str(), r.peer_group_key.as_str()))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied()
            .filter_map(|p| {
                if &*p.practice_code == code {
                    own_shown.then(|| view.group_figures(p))
                } else {
                    (!peers_view.hides_value(p)).then(|| peers_view.group_figures(p))
                }
            })
            .collect();
        let peers: Vec<&ResultRow> = peers.iter().map(|p| p.as_ref()).collect();
        if ind.value_type == ValueType::Dsr {
            charts::caterpillar(ind, &peers, own_shown.then_some(code))
        } else if own_shown {
            charts::funnel(
                ind,
                &view.group_figures(r),
                &peers,
                view.withheld(r).is_some(),
            )
        } else {
            html! {}
        }
    }
}
