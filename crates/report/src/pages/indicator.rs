//! An indicator's board page (`board/<id>.html`): practices ranked with
//! their intervals (caterpillar), the federation's trend, and the table of
//! numbers behind both, downloadable as CSV.

use std::borrow::Cow;
use std::collections::BTreeMap;

use maud::{Markup, html};
use peerbench_catalogue::Indicator;
use peerbench_compare::ResultRow;
use peerbench_stats::{Comparison, quantile_type7};

use super::{LISTED, Site, figure_cells, fmt, head, practice_link, run_chart_cell, verdict_cell};
use crate::charts::{self, TrendPoint};
use crate::{verdict, wording};

impl Site<'_> {
    pub fn indicator_page(&self, ind: &Indicator) -> String {
        let board = self.board_view();
        let rows = self.indicator_rows(&ind.id);
        let latest = self.latest_period_of(&ind.id);
        // Latest period, by group key (one key for a federation-wide group).
        let mut keys: BTreeMap<&str, Vec<&ResultRow>> = BTreeMap::new();
        for r in rows.iter().filter(|r| &*r.period == latest) {
            keys.entry(r.peer_group_key.as_str()).or_default().push(r);
        }
        let body = html! {
            h1 { (ind.title) } "\n"
            p {
                (ind.units) " · latest period " (latest) " · compared with peer group “"
                (self.input.primary_peer_group) "”. "
                a href={ "../indicators.html#" (ind.id) } { "Definition and caveats" } "."
            } "\n"
            p { (ind.definition) } "\n"
            @let in_latest: usize = keys.values().map(Vec::len).sum();
            @if keys.len() > 1 && in_latest > LISTED {
                h2 { "Peer groups, latest period" } "\n"
                (self.by_peer_group(ind, &keys, in_latest))
            } @else {
                h2 { "Practices ranked, latest period" } "\n"
                p class="meta" {
                    "Each practice's value with its 95% interval, lowest to highest, against the peer benchmark (solid line). A blue square is better (or higher) than the benchmark, a yellow triangle worse (or lower), a grey dot similar. Overlapping intervals mean the difference may be chance."
                } "\n"
                @for group_rows in keys.values() {
                    // The board shows only what its disclosure policy allows.
                    @let shown: Vec<Cow<ResultRow>> = group_rows
                        .iter()
                        .copied()
                        .filter(|r| !board.hides_value(r))
                        .map(|r| board.group_figures(r))
                        .collect();
                    @let shown: Vec<&ResultRow> = shown.iter().map(|r| r.as_ref()).collect();
                    (charts::caterpillar(ind, &shown, None))
                }
            }
            @if keys.len() <= 1 { (self.federation_trend(ind, rows)) }
            h2 {
                @if in_latest > LISTED { "Practices outside, latest period" }
                @else { "Every practice, latest period" }
            } "\n"
            p class="meta" { (wording::verdict_lead(self.input.verdict)) } "\n"
            (self.every_practice(ind, rows, latest))
            p {
                "Download these numbers, every period: "
                a href={ (ind.id) ".csv" } { (ind.id) ".csv" }
            } "\n"
            (self.how_made("../"))
        };
        self.page(
            &format!("{} — {}", ind.title, self.input.title),
            "../",
            body,
        )
    }

    /// The pooled peer value each period and the spread of practices, as a
    /// chart and a table.
    fn federation_trend(&self, ind: &Indicator, rows: &[&ResultRow]) -> Markup {
        let board = self.board_view();
        let mut by_period: BTreeMap<&str, (Option<f64>, Vec<f64>)> = BTreeMap::new();
        for r in rows.iter().filter(|r| !board.hides_value(r)) {
            let e = by_period.entry(r.period.as_str()).or_default();
            e.0 = e.0.or(board.benchmark(r));
            e.1.extend(r.value);
        }
        let trend: Vec<TrendPoint> = by_period
            .iter_mut()
            .map(|(period, (bench, values))| {
                values.sort_by(f64::total_cmp);
                TrendPoint {
                    period: period.to_string(),
                    benchmark: *bench,
                    q1: quantile_type7(values, 0.25).ok(),
                    median: quantile_type7(values, 0.5).ok(),
                    q3: quantile_type7(values, 0.75).ok(),
                    practices: values.len(),
                }
            })
            .collect();
        let columns = [
            "Period",
            "Practices",
            "Peer value",
            "Lower quartile",
            "Median",
            "Upper quartile",
        ];
        html! {
            h2 { "Federation trend" } "\n"
            p class="meta" {
                "The pooled peer value each period (solid line) and the middle half of practices (shaded band, with the median dashed)."
            } "\n"
            (charts::trend_chart(ind, &trend))
            table {
                caption { "The numbers behind the trend" }
                (head(&columns))
                tbody {
                    "\n"
                    @for t in trend.iter().rev().take(12).rev() {
                        tr {
                            td class="nowrap" { (t.period) }
                            td class="num" { (t.practices) }
                            td class="num" { (fmt(t.benchmark)) }
                            td class="num" { (fmt(t.q1)) }
                            td class="num" { (fmt(t.median)) }
                            td class="num" { (fmt(t.q3)) }
                        } "\n"
                    }
                }
            } "\n"
        }
    }

    /// In place of a ranked chart per group where there are too many to
    /// read (a national publication has 168): each group's practices, peer
    /// value and how many practices are on each side of it.
    fn by_peer_group(
        &self,
        ind: &Indicator,
        keys: &BTreeMap<&str, Vec<&ResultRow>>,
        in_latest: usize,
    ) -> Markup {
        let board = self.board_view();
        let columns = [
            "Peer group",
            "Practices",
            "Peer benchmark",
            "Better",
            "Similar",
            "Worse",
            "Higher / lower",
            "Not compared",
        ];
        html! {
            p class="meta" {
                (in_latest) " practices in " (keys.len())
                " peer groups: too many to draw one ranked chart each, so each group is a row, with how many of its practices the verdict puts on each side of its benchmark. Each practice's report shows it among its own group."
            } "\n"
            table {
                (head(&columns))
                tbody {
                    "\n"
                    @for (key, rows) in keys {
                        @let count = |c: Comparison| rows.iter().filter(|r| self.verdict(&board, ind, r).tag == c).count();
                        tr {
                            th scope="row" { (key) }
                            td class="num" { (rows.len()) }
                            td class="num" { (fmt(rows.first().and_then(|r| board.benchmark(r)))) }
                            td class="num" { (count(Comparison::Better)) }
                            td class="num" { (count(Comparison::Similar)) }
                            td class="num" { (count(Comparison::Worse)) }
                            td class="num" { (count(Comparison::Higher) + count(Comparison::Lower)) }
                            td class="num" { (count(Comparison::NotCompared)) }
                        } "\n"
                    }
                }
            } "\n"
        }
    }

    /// Every practice in the latest period, lowest value first; values the
    /// board may not show go last. Beyond [`LISTED`] practices, those the
    /// verdict puts outside, most outside first.
    fn every_practice(&self, ind: &Indicator, rows: &[&ResultRow], latest: &str) -> Markup {
        let board = self.board_view();
        let mut ranked: Vec<&ResultRow> = rows
            .iter()
            .copied()
            .filter(|r| &*r.period == latest)
            .collect();
        let total = ranked.len();
        if total > LISTED {
            return self.most_outside(ind, ranked, total);
        }
        ranked.sort_by(|a, b| {
            let v = |r: &ResultRow| {
                if board.hides_value(r) {
                    None
                } else {
                    r.value.get()
                }
            };
            match (v(a), v(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.practice_code.cmp(&b.practice_code))
        });
        self.practice_table(ind, ranked.into_iter())
    }

    /// The table of practices' latest figures and verdicts, in the order given.
    fn practice_table<'r>(
        &self,
        ind: &Indicator,
        rows: impl Iterator<Item = &'r ResultRow>,
    ) -> Markup {
        let board = self.board_view();
        let columns = [
            "Practice",
            "Period",
            "Numerator / denominator",
            "Value (95% interval)",
            "Peer benchmark",
            "Against peers (the verdict, then the other comparison)",
            "Own run chart",
        ];
        html! {
            table {
                (head(&columns))
                tbody {
                    "\n"
                    @for r in rows {
                        tr {
                            th scope="row" {
                                (practice_link("../", &r.practice_code, self.practice_name(&r.practice_code)))
                            }
                            (figure_cells(&board, r))
                            (verdict_cell(&self.verdict(&board, ind, r)))
                            (run_chart_cell(&board, r))
                        } "\n"
                    }
                }
            } "\n"
        }
    }

    /// The practices the leading verdict puts outside (better or worse),
    /// most outside first, up to [`LISTED`]; the rest are in the CSV.
    fn most_outside(&self, ind: &Indicator, rows: Vec<&ResultRow>, total: usize) -> Markup {
        let board = self.board_view();
        let mut outside: Vec<(&ResultRow, &str, Option<f64>)> = rows
            .into_iter()
            .filter_map(|r| {
                let v = self.verdict(&board, ind, r);
                matches!(v.tag, Comparison::Better | Comparison::Worse).then_some((
                    r,
                    r.practice_code.as_str(),
                    v.distance,
                ))
            })
            .collect();
        verdict::rank(&mut outside);
        let shown = outside.len().min(LISTED);
        html! {
            p class="meta" {
                (total) " practices in the latest period. Listed: "
                @if shown < outside.len() { "the " (shown) " most outside of the " }
                @else { "the " }
                (outside.len()) " the verdict puts better or worse than peers, most outside first. Every practice's numbers are in "
                a href={ (ind.id) ".csv" } { (ind.id) ".csv" } " and on its own report."
            } "\n"
            (self.practice_table(ind, outside.iter().take(LISTED).map(|(r, _, _)| *r)))
        }
    }
}
