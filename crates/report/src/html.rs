//! HTML pages. Plain strings, escaped at every insertion of user-supplied text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use peerbench_catalogue::{Domain, Indicator, ValueType};
use peerbench_compare::PeerGroupKind;
use peerbench_compare::ResultRow;
use peerbench_stats::{Comparison, FunnelFlag, Polarity, quantile_type7};

use crate::disclosure::{Suppression, View};

use crate::ReportInput;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Rounds for display: 1 decimal place for percentages and rates.
fn fmt(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "–".into(),
    }
}

/// Plain words for a practice's place on the peer funnel.
pub(crate) fn funnel_words(r: &ResultRow) -> &'static str {
    match r.funnel_flag {
        Some(FunnelFlag::High998) => "Above the 99.8% limit",
        Some(FunnelFlag::High95) => "Above the 95% limit",
        Some(FunnelFlag::Within) => "Within the limits",
        Some(FunnelFlag::Low95) => "Below the 95% limit",
        Some(FunnelFlag::Low998) => "Below the 99.8% limit",
        None => "Not assessed",
    }
}

/// Plain words for a funnel position or SPC signal as the changes record
/// them (`high_998`, `two_of_three`, …).
pub(crate) fn change_words(s: &str) -> &str {
    match s {
        "high_998" => "above the 99.8% limit",
        "high_95" => "above the 95% limit",
        "within" => "within the limits",
        "low_95" => "below the 95% limit",
        "low_998" => "below the 99.8% limit",
        "outside_limits" => "a point outside the process limits",
        "trend" => "a run of rising or falling points",
        "two_of_three" => "two of three points near a limit",
        "shift" => "a run of points on one side of the average",
        "common_cause" => "common-cause variation only",
        other => other,
    }
}

/// Plain words for the latest point of the practice's own SPC chart.
pub(crate) fn spc_words(r: &ResultRow) -> String {
    let rule = match r.spc_signal {
        Some("outside_limits") => "a point outside the process limits",
        Some("trend") => "a run of rising or falling points",
        Some("two_of_three") => "two of three points near a limit",
        Some("shift") => "a run of points on one side of the average",
        _ => "",
    };
    match r.spc_variation {
        None => "Too few months to chart".to_string(),
        Some("common_cause") => "Common-cause variation only".to_string(),
        Some("improvement") => format!("Improvement: {rule}"),
        Some("concern") => format!("Concern: {rule}"),
        Some(_) => format!("Special cause: {rule}"),
    }
}

/// Period, counts, value with its 95% interval and the peer benchmark: the
/// cells every table of a practice's figures starts with. A value the
/// policy hides goes without its interval, which would give the count back.
fn figure_cells(view: &View, r: &ResultRow) -> String {
    let value = if view.hides_value(r) {
        "*".to_string()
    } else {
        format!("{} ({}–{})", fmt(r.value), fmt(r.lower_95), fmt(r.upper_95))
    };
    format!(
        "<td class=\"nowrap\">{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{value}</td><td class=\"num\">{}</td>",
        esc(&r.period),
        view.count(r.numerator),
        view.count(r.denominator),
        fmt(view.benchmark(r))
    )
}

/// The funnel position and the run-chart reading, in words; what the policy
/// hides says why.
fn signal_cells(view: &View, r: &ResultRow) -> String {
    if let Some(h) = view.hidden(r) {
        return format!("<td>{0}</td><td>{0}</td>", h.words());
    }
    format!(
        "<td>{}</td><td>{}</td>",
        view.funnel_not_shown(r).unwrap_or_else(|| funnel_words(r)),
        esc(&spc_words(r))
    )
}

/// Word and CSS class for a comparison. The word is always printed.
pub(crate) fn comparison_label(c: Comparison) -> (&'static str, &'static str) {
    match c {
        Comparison::Better => ("Better", "better"),
        Comparison::Similar => ("Similar", "similar"),
        Comparison::Worse => ("Worse", "worse"),
        Comparison::Higher => ("Higher", "higher"),
        Comparison::Lower => ("Lower", "lower"),
        Comparison::NotCompared => ("Not compared", "none"),
    }
}

// Colour-blind-safe pairs from the NHS identity palette (blue for better,
// warm yellow for worse) with text labels, contrast ≥ 4.5:1 for the text.
const CSS: &str = r#"
:root{--blue:#005eb8;--dark:#212b32;--grey:#4c6272;--pale:#e8edee;--warm:#ffb81c;--purple:#330072;}
*{box-sizing:border-box}
body{font-family:Arial,Helvetica,sans-serif;color:var(--dark);margin:0;line-height:1.45;background:#fff}
header.site{background:var(--blue);color:#fff;padding:12px 24px}
header.site a{color:#fff}
main{padding:16px 24px;max-width:1200px}
h1{font-size:1.7rem;margin:.3em 0}
h2{font-size:1.3rem;margin-top:1.6em;border-bottom:2px solid var(--pale);padding-bottom:4px}
h3{font-size:1.1rem}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.92rem}
caption{text-align:left;font-weight:bold;padding:4px 0}
th,td{border:1px solid #d8dde0;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:var(--pale)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.tag{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:bold;white-space:nowrap;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.better{background:var(--blue);color:#fff}
.worse{background:var(--warm);color:var(--dark)}
.similar{background:var(--pale);color:var(--dark)}
.higher{background:var(--purple);color:#fff}
.lower{background:#fff;color:var(--purple);border:2px solid var(--purple)}
.none{background:#fff;color:var(--grey);border:1px dashed var(--grey)}
.meta{color:var(--grey);font-size:.9rem}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dl.facts dt{font-weight:bold}
dl.facts dd{margin:0}
.scroll{overflow-x:auto;max-width:100%}
.scroll:focus{outline:3px solid var(--warm)}
.heat td{text-align:center;font-size:.8rem;padding:2px 4px}
.heat .tag{padding:1px 4px}
.heat th[scope=row]{position:sticky;left:0;z-index:1;background:#fff;min-width:13em;font-weight:normal}
.heat th.ind{writing-mode:vertical-rl;transform:rotate(180deg);font-size:.8rem;max-height:16em;font-weight:normal}
.figures{display:flex;flex-wrap:wrap;gap:8px 24px;break-inside:avoid}
svg.spine{vertical-align:middle}
svg.chart{display:block;max-width:100%;height:auto;margin:8px 0;break-inside:avoid}
footer{border-top:2px solid var(--pale);margin-top:32px;padding:12px 24px;font-size:.85rem;color:var(--grey)}
@media print{header.site{background:none;color:var(--dark);border-bottom:2px solid var(--dark)}
 header.site a,a{color:var(--dark);text-decoration:none}
 main{max-width:none;padding:0}
 tr,svg,dl{break-inside:avoid}
 h2,h3,caption{break-after:avoid}
 section{break-before:auto}
 .scroll{overflow:visible}
 .heat th[scope=row]{position:static}
 .tag{border:1px solid var(--dark)}
 table{font-size:8.5pt}
 tbody th[scope=row]{min-width:11em}
 @page{size:A4;margin:12mm}}
"#;

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
    /// "How this was made" is the same on every page: built once (it scans
    /// every latest result, which at national scale is 200,000 rows).
    how_made_html: std::sync::OnceLock<String>,
}

impl<'a> Site<'a> {
    pub fn new(input: &'a ReportInput<'a>) -> Site<'a> {
        let primary = input.primary_peer_group.as_str();
        let sup = Suppression::new(input.results, &input.peer_groups, input.indicators, primary);
        let peers_policy = input.disclosure.peers_on_practice_pages();
        let peers_view = View {
            own: peers_policy,
            peers: peers_policy,
            sup: &sup,
        };
        let mut latest_period: HashMap<&str, &str> = HashMap::new();
        for r in input.results.iter().filter(|r| r.peer_group == primary) {
            let e = latest_period
                .entry(r.indicator_id.as_str())
                .or_insert(r.period.as_str());
            if r.period.as_str() > *e {
                *e = r.period.as_str();
            }
        }
        let mut latest = HashMap::new();
        let mut peer_values: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
        let mut peer_rows: HashMap<(&str, &str), Vec<&ResultRow>> = HashMap::new();
        let mut series: HashMap<(&str, &str), Vec<&ResultRow>> = HashMap::new();
        let mut by_indicator: HashMap<&str, Vec<&ResultRow>> = HashMap::new();
        for r in input.results.iter().filter(|r| r.peer_group == primary) {
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
            how_made_html: std::sync::OnceLock::new(),
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

    /// Whether a practice has no row, or no usable numerator and
    /// denominator, for an indicator in its latest period.
    fn lacks_latest(&self, indicator: &str, code: &str) -> bool {
        self.latest
            .get(&(indicator, code))
            .is_none_or(|r| r.numerator.is_none() || r.denominator.is_none())
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

    fn page(&self, title: &str, root: &str, body: &str) -> String {
        let mut s = String::with_capacity(body.len() + 4096);
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header class=\"site\"><a href=\"{root}index.html\">{}</a> · peerbench</header>\n<main>\n{body}\n</main>\n{}\n</body>\n</html>\n",
            esc(title),
            esc(&self.input.title),
            self.footer()
        );
        s
    }

    fn footer(&self) -> String {
        let p = &self.input.provenance;
        format!(
            "<footer>Made by peerbench {} · run {} · pipeline {}. Synthetic or real, every number here traces back to the results table.</footer>",
            esc(&p.peerbench_version),
            esc(&p.run_id),
            esc(&p.pipeline_name)
        )
    }

    fn how_made(&self) -> &str {
        self.how_made_html.get_or_init(|| self.build_how_made())
    }

    fn build_how_made(&self) -> String {
        let p = &self.input.provenance;
        let mut s = String::from("<h2 id=\"how\">How this was made</h2>\n");
        s.push_str("<p>Each indicator is a SQL query over the federation's warehouse (Delta Lake tables). ");
        let _ = write!(
            s,
            "Practices are compared with their peer group <strong>{}</strong>: the benchmark is the pooled peer value (total numerator over total denominator). ",
            esc(&self.input.primary_peer_group)
        );
        s.push_str("Proportions use Wilson score intervals; rates use Byar's method (exact Poisson below 10 events). A practice is <em>better</em> or <em>worse</em> when the benchmark lies outside its 95% interval, otherwise <em>similar</em>; context indicators say <em>higher</em> or <em>lower</em>. Values below an indicator's minimum denominator, or from suppressed counts, are not compared.</p>\n");
        s.push_str("<p>Funnel limits allow for the normal variation between practices (Spiegelhalter's additive overdispersion adjustment: z-scores winsorised at the 10th and 90th percentiles give the dispersion ratio φ; τ² is the between-practice variance added to each practice's own). Outside the 99.8% limits is what boards call possible unwarranted variation. Run charts are XmR charts with limits from each practice's first 12 months and the four NHS Making Data Count rules.</p>\n");
        s.push_str("<table><caption>Funnel adjustment per indicator, latest period</caption><thead><tr><th scope=\"col\">Indicator</th><th scope=\"col\">Period</th><th scope=\"col\">φ</th><th scope=\"col\">τ²</th></tr></thead><tbody>\n");
        // On every page: what the strictest of them may show.
        let view = self.peers_view();
        for ind in self.indicators() {
            let od = self
                .latest
                .iter()
                .find(|((i, _), r)| {
                    *i == ind.id && r.od_phi.is_some() && view.withheld(r).is_none()
                })
                .map(|(_, r)| *r);
            if let Some(r) = od {
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.5}</td></tr>",
                    esc(&ind.title),
                    esc(&r.period),
                    r.od_phi.unwrap_or_default(),
                    r.od_tau2.unwrap_or_default()
                );
            }
        }
        s.push_str("</tbody></table>\n<table><caption>Peer groups</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Who is in it</th></tr></thead><tbody>\n");
        for g in &self.input.peer_groups {
            let who = match &g.kind {
                PeerGroupKind::All => "every practice loaded".to_string(),
                PeerGroupKind::Federation => "practices in the same federation".to_string(),
                PeerGroupKind::Pcn => "practices in the same primary care network".to_string(),
                PeerGroupKind::Icb => "practices in the same integrated care board".to_string(),
                PeerGroupKind::Similar { k, weights } => format!(
                    "the practice and the {k} practices most like it on standardised descriptors, weighted {}",
                    weights
                        .iter()
                        .map(|w| format!("{} × {}", esc(&w.name), w.weight))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let _ = writeln!(s, "<tr><td>{}</td><td>{who}</td></tr>", esc(&g.name));
        }
        s.push_str("</tbody></table>\n");
        s.push_str("<table><caption>Warehouse tables read</caption><thead><tr><th scope=\"col\">Table</th><th scope=\"col\">Delta version</th></tr></thead><tbody>\n");
        for (t, v) in &p.table_versions {
            let _ = writeln!(s, "<tr><td>{}</td><td class=\"num\">{v}</td></tr>", esc(t));
        }
        s.push_str("</tbody></table>\n");
        let _ = writeln!(
            s,
            "<p class=\"meta\">peerbench {} · run id {}. Board page: {}. Practice pages: {}. Downloads: {}.</p>",
            esc(&p.peerbench_version),
            esc(&p.run_id),
            self.input.disclosure.board.describe(),
            self.input.disclosure.practice_pages.describe(),
            self.input.disclosure.downloads.describe()
        );
        s
    }

    /// A spine chart: peer range (min–max), interquartile box, benchmark line
    /// and the practice's value with its 95% interval. Oriented so that the
    /// worse end is always on the left.
    fn spine(&self, ind: &Indicator, r: &ResultRow) -> String {
        let view = self.page_view();
        if view.hides_value(r) {
            return String::new();
        }
        let Some(values) = self
            .peer_values
            .get(&(ind.id.as_str(), r.peer_group_key.as_str()))
        else {
            return String::new();
        };
        let (Some(v), Ok(min), Ok(q1), Ok(q3), Ok(max)) = (
            r.value,
            quantile_type7(values, 0.0),
            quantile_type7(values, 0.25),
            quantile_type7(values, 0.75),
            quantile_type7(values, 1.0),
        ) else {
            return String::new();
        };
        let lo = min.min(r.lower_95.unwrap_or(v));
        let hi = max.max(r.upper_95.unwrap_or(v));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let flip = ind.polarity == Polarity::LowIsGood;
        let (w, pad) = (220.0, 6.0);
        let x = |val: f64| {
            let t = (val - lo) / span;
            let t = if flip { 1.0 - t } else { t };
            pad + t * (w - 2.0 * pad)
        };
        let (a, b) = (x(min).min(x(max)), x(min).max(x(max)));
        let (c, d) = (x(q1).min(x(q3)), x(q1).max(x(q3)));
        let (label, class) = comparison_label(view.comparison(r));
        let benchmark = view.benchmark(r);
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"spine\" role=\"img\" width=\"{w}\" height=\"22\" viewBox=\"0 0 {w} 22\" aria-labelledby=\"sp-{id}-t sp-{id}-d\"><title id=\"sp-{id}-t\">{title}: spine chart</title><desc id=\"sp-{id}-d\">Practice {v} against peer range {min} to {max}, middle half {q1} to {q3}, benchmark {bm}; {label}. {side}</desc>",
            id = esc(&ind.id),
            title = esc(&ind.title),
            v = fmt(Some(v)),
            min = fmt(Some(min)),
            max = fmt(Some(max)),
            q1 = fmt(Some(q1)),
            q3 = fmt(Some(q3)),
            bm = fmt(benchmark),
            side = match ind.polarity {
                Polarity::NoJudgement => "Lower values on the left.",
                _ => "Worse values on the left.",
            }
        );
        let _ = write!(
            s,
            "<rect x=\"{a:.1}\" y=\"7\" width=\"{:.1}\" height=\"8\" fill=\"#d8dde0\"/>",
            (b - a).max(1.0)
        );
        let _ = write!(
            s,
            "<rect x=\"{c:.1}\" y=\"7\" width=\"{:.1}\" height=\"8\" fill=\"#768692\"/>",
            (d - c).max(1.0)
        );
        if let Some(bm) = benchmark {
            let _ = write!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"2\" y2=\"20\" stroke=\"#212b32\" stroke-width=\"2\"/>",
                x(bm)
            );
        }
        if let (Some(l), Some(u)) = (r.lower_95, r.upper_95) {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"11\" y2=\"11\" stroke=\"#212b32\" stroke-width=\"1.5\"/>",
                x(l),
                x(u)
            );
        }
        let fill = match class {
            "better" => "#005eb8",
            "worse" => "#ffb81c",
            "higher" | "lower" => "#330072",
            _ => "#ffffff",
        };
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"11\" r=\"5\" fill=\"{fill}\" stroke=\"#212b32\" stroke-width=\"1.5\"/></svg>",
            x(v)
        );
        s
    }

    pub fn practice_page(&self, code: &str) -> String {
        let p = &self.input.practices[code];
        let view = self.page_view();
        let peers_view = self.peers_view();
        let mut b = String::new();
        let _ = writeln!(
            b,
            "<h1>{} <span class=\"meta\">({})</span></h1>",
            esc(&p.name),
            esc(&p.code)
        );
        b.push_str("<dl class=\"facts\">\n");
        let _ = writeln!(
            b,
            "<dt>PCN</dt><dd>{} ({})</dd>",
            esc(&p.pcn_name),
            esc(&p.pcn_code)
        );
        let _ = writeln!(b, "<dt>Federation</dt><dd>{}</dd>", esc(&p.federation));
        if let Some(l) = p.list_size {
            let _ = writeln!(b, "<dt>Registered patients</dt><dd>{l:.0}</dd>");
        }
        let _ = writeln!(
            b,
            "<dt>Compared with</dt><dd>peer group “{}”</dd>",
            esc(&self.input.primary_peer_group)
        );
        let q = self.quarantined(code);
        // Indicators with no row, or no usable value, for this practice in
        // their latest period: its comparison is incomplete, and says so.
        let missing: Vec<&str> = self
            .indicators()
            .filter(|i| self.lacks_latest(&i.id, code))
            .map(|i| i.title.as_str())
            .collect();
        let total = self.indicators().count();
        let _ = writeln!(
            b,
            "<dt>Data completeness</dt><dd>{}{}. {}</dd>",
            if missing.is_empty() {
                format!("data for all {total} indicators in their latest period")
            } else {
                format!(
                    "<strong>incomplete</strong>: data for {} of {total} indicators in their latest period; missing or suppressed: ",
                    total - missing.len()
                )
            },
            missing
                .iter()
                .map(|t| esc(t))
                .collect::<Vec<_>>()
                .join("; "),
            if q == 0 {
                "All rows received for this practice passed their checks.".to_string()
            } else {
                format!(
                    "{q} rows from this practice failed their checks and were set aside — see the board page's data quality section."
                )
            }
        );
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
        if !jumps.is_empty() {
            let _ = writeln!(
                b,
                "<dt>Sudden changes</dt><dd><strong>check the extract</strong>: {}. A change this large is more often an extract problem than a real one.</dd>",
                esc(&jumps.join("; "))
            );
        }
        b.push_str("</dl>\n");
        let _ = writeln!(
            b,
            "<p class=\"meta\">Download this practice's numbers, every indicator and period: <a href=\"{0}.csv\">{0}.csv</a></p>",
            esc(code)
        );

        // Plain-language summary.
        let mut better = Vec::new();
        let mut worse = Vec::new();
        for ind in self.indicators() {
            if let Some(r) = self.latest.get(&(ind.id.as_str(), code)) {
                match view.comparison(r) {
                    Comparison::Better => better.push(ind.title.as_str()),
                    Comparison::Worse => worse.push(ind.title.as_str()),
                    _ => {}
                }
            }
        }
        b.push_str("<h2>In brief</h2>\n<ul>\n");
        let list = |v: &[&str]| v.iter().map(|t| esc(t)).collect::<Vec<_>>().join("; ");
        if better.is_empty() {
            b.push_str(
                "<li>No indicator is significantly better than peers in the latest period.</li>\n",
            );
        } else {
            let _ = writeln!(
                b,
                "<li><strong>Stronger than peers:</strong> {}.</li>",
                list(&better)
            );
        }
        if worse.is_empty() {
            b.push_str(
                "<li>No indicator is significantly worse than peers in the latest period.</li>\n",
            );
        } else {
            let _ = writeln!(
                b,
                "<li><strong>Areas to look at:</strong> {}.</li>",
                list(&worse)
            );
        }
        b.push_str("</ul>\n");

        b.push_str("<h2>Where you stand</h2>\n<p class=\"meta\">Latest period for each indicator. The chart shows the peer range (light), the middle half of peers (dark), the peer benchmark (vertical line) and this practice (circle, with its 95% interval). Worse is always to the left.</p>\n");
        for domain in Domain::ALL {
            let inds: Vec<&Indicator> = self.indicators().filter(|i| i.domain == domain).collect();
            if inds.is_empty() {
                continue;
            }
            let _ = writeln!(b, "<h3>{}</h3>", domain.title());
            b.push_str("<table><thead><tr><th scope=\"col\">Indicator</th><th scope=\"col\">Period</th><th scope=\"col\">Numerator / denominator</th><th scope=\"col\">Practice value (95% interval)</th><th scope=\"col\">Peer benchmark</th><th scope=\"col\">Compared with peers</th><th scope=\"col\">Peer funnel (allowing for normal variation)</th><th scope=\"col\">Own run chart, latest month</th><th scope=\"col\">Spine chart</th></tr></thead><tbody>\n");
            for ind in inds {
                let _ = write!(
                    b,
                    "<tr><th scope=\"row\"><a href=\"#{}\">{}</a><br><span class=\"meta\">{}</span></th>",
                    esc(&ind.id),
                    esc(&ind.title),
                    esc(&ind.units)
                );
                match self.latest.get(&(ind.id.as_str(), code)) {
                    Some(r) => {
                        let (label, class) = comparison_label(view.comparison(r));
                        let _ = writeln!(
                            b,
                            "{}<td><span class=\"tag {class}\">{label}</span></td>{}<td>{}</td></tr>",
                            figure_cells(&view, r),
                            signal_cells(&view, r),
                            self.spine(ind, r)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            b,
                            "<td colspan=\"8\" class=\"meta\">No data for this practice in the latest period ({}).</td></tr>",
                            esc(self
                                .latest_period
                                .get(ind.id.as_str())
                                .copied()
                                .unwrap_or("–"))
                        );
                    }
                }
            }
            b.push_str("</tbody></table>\n");
        }

        b.push_str("<h2>Each indicator in detail</h2>\n<p class=\"meta\">Funnel plots: every practice in the peer group by its denominator; solid line the peer value, dashed the 95% limits, dotted the 99.8% limits, allowing for the normal variation between practices. Run charts: this practice month by month; solid line its average, dashed its process limits; a blue square marks special-cause improvement, a yellow triangle special-cause concern, a purple dot a special cause on a context indicator.</p>\n");
        for ind in self.indicators() {
            let _ = writeln!(
                b,
                "<section id=\"{}\"><h3>{}</h3>",
                esc(&ind.id),
                esc(&ind.title)
            );
            if let Some(r) = self.latest.get(&(ind.id.as_str(), code)) {
                // Peers only as far as the board shows them (a point or an
                // interval gives its counts back); this practice as its page's
                // policy allows.
                let own_shown = !view.hides_value(r);
                // Each with what its group's figures may show (comparison,
                // benchmark, funnel).
                let peers: Vec<std::borrow::Cow<ResultRow>> = self
                    .peer_rows
                    .get(&(ind.id.as_str(), r.peer_group_key.as_str()))
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .copied()
                    .filter_map(|p| {
                        if p.practice_code == code {
                            own_shown.then(|| view.group_figures(p))
                        } else {
                            (!peers_view.hides_value(p)).then(|| peers_view.group_figures(p))
                        }
                    })
                    .collect();
                let peers: Vec<&ResultRow> = peers.iter().map(|p| p.as_ref()).collect();
                // A DSR has no funnel (its precision is not one denominator's):
                // its peers are ranked with their intervals instead.
                if ind.value_type == ValueType::Dsr {
                    let highlight = own_shown.then_some(code);
                    b.push_str(&crate::charts::caterpillar(ind, &peers, highlight));
                } else if own_shown {
                    b.push_str(&crate::charts::funnel(
                        ind,
                        &view.group_figures(r),
                        &peers,
                        view.withheld(r).is_some(),
                    ));
                }
            }
            if let Some(series) = self.series.get(&(ind.id.as_str(), code)) {
                // Its centre line and limits average every point, so a chart
                // with a point the policy hides is not drawn.
                if !series.first().is_some_and(|r| view.hides_spc_lines(r)) {
                    b.push_str(&crate::charts::run_chart(ind, series));
                }
                b.push_str("<table><caption>The numbers behind the charts (latest 12 periods)</caption><thead><tr><th scope=\"col\">Period</th><th scope=\"col\">Numerator / denominator</th><th scope=\"col\">Value (95% interval)</th><th scope=\"col\">Peer benchmark</th><th scope=\"col\">Funnel</th><th scope=\"col\">Run chart</th></tr></thead><tbody>\n");
                for r in series.iter().rev().take(12).rev() {
                    let _ = writeln!(
                        b,
                        "<tr>{}{}</tr>",
                        figure_cells(&view, r),
                        signal_cells(&view, r)
                    );
                }
                b.push_str("</tbody></table>\n");
            }
            let _ = writeln!(
                b,
                "<dl class=\"facts\"><dt>Numerator</dt><dd>{}</dd><dt>Denominator</dt><dd>{}</dd><dt>Definition</dt><dd>{}</dd><dt>Source</dt><dd>{}</dd><dt>Caveats</dt><dd>{}</dd><dt>Better is</dt><dd>{}</dd></dl></section>",
                esc(&ind.numerator),
                esc(&ind.denominator),
                esc(&ind.definition),
                esc(&ind.source),
                esc(if ind.caveats.is_empty() {
                    "None recorded."
                } else {
                    &ind.caveats
                }),
                match ind.polarity {
                    Polarity::HighIsGood => "higher",
                    Polarity::LowIsGood => "lower",
                    Polarity::NoJudgement => "neither (context only)",
                }
            );
        }
        b.push_str(self.how_made());
        self.page(&format!("{} — practice report", p.name), "../", &b)
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
                .and_then(|s| s.iter().find(|r| r.period == period))
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

    /// The board's page for one indicator: practices ranked with their
    /// intervals (caterpillar), the federation's trend, and the table of
    /// numbers behind both, downloadable as CSV.
    pub fn indicator_page(&self, ind: &Indicator) -> String {
        let board = self.board_view();
        let rows = self.indicator_rows(&ind.id);
        let latest = self
            .latest_period
            .get(ind.id.as_str())
            .copied()
            .unwrap_or("–");
        let mut b = String::new();
        let _ = writeln!(
            b,
            "<h1>{}</h1>\n<p>{} · latest period {} · compared with peer group “{}”. <a href=\"../indicators.html#{}\">Definition and caveats</a>.</p>",
            esc(&ind.title),
            esc(&ind.units),
            esc(latest),
            esc(&self.input.primary_peer_group),
            esc(&ind.id)
        );
        let _ = writeln!(b, "<p>{}</p>", esc(&ind.definition));

        // Latest period, by group key (one key for a federation-wide group).
        let mut keys: BTreeMap<&str, Vec<&ResultRow>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.period == latest) {
            keys.entry(r.peer_group_key.as_str()).or_default().push(r);
        }
        b.push_str("<h2>Practices ranked, latest period</h2>\n<p class=\"meta\">Each practice's value with its 95% interval, lowest to highest, against the peer benchmark (solid line). A blue square is better (or higher) than the benchmark, a yellow triangle worse (or lower), a grey dot similar. Overlapping intervals mean the difference may be chance.</p>\n");
        for group_rows in keys.values() {
            // The board shows only what its disclosure policy allows.
            let shown: Vec<std::borrow::Cow<ResultRow>> = group_rows
                .iter()
                .copied()
                .filter(|r| !board.hides_value(r))
                .map(|r| board.group_figures(r))
                .collect();
            let shown: Vec<&ResultRow> = shown.iter().map(|r| r.as_ref()).collect();
            b.push_str(&crate::charts::caterpillar(ind, &shown, None));
        }

        // Federation trend: the pooled peer value and the spread of practices.
        let mut by_period: BTreeMap<&str, (Option<f64>, Vec<f64>)> = BTreeMap::new();
        for r in rows.iter().filter(|r| !board.hides_value(r)) {
            let e = by_period.entry(r.period.as_str()).or_default();
            e.0 = e.0.or(board.benchmark(r));
            e.1.extend(r.value);
        }
        let trend: Vec<crate::charts::TrendPoint> = by_period
            .iter_mut()
            .map(|(period, (bench, values))| {
                values.sort_by(f64::total_cmp);
                crate::charts::TrendPoint {
                    period: period.to_string(),
                    benchmark: *bench,
                    q1: quantile_type7(values, 0.25).ok(),
                    median: quantile_type7(values, 0.5).ok(),
                    q3: quantile_type7(values, 0.75).ok(),
                    practices: values.len(),
                }
            })
            .collect();
        if keys.len() <= 1 {
            b.push_str("<h2>Federation trend</h2>\n<p class=\"meta\">The pooled peer value each period (solid line) and the middle half of practices (shaded band, with the median dashed).</p>\n");
            b.push_str(&crate::charts::trend_chart(ind, &trend));
            b.push_str("<table><caption>The numbers behind the trend</caption><thead><tr><th scope=\"col\">Period</th><th scope=\"col\">Practices</th><th scope=\"col\">Peer value</th><th scope=\"col\">Lower quartile</th><th scope=\"col\">Median</th><th scope=\"col\">Upper quartile</th></tr></thead><tbody>\n");
            for t in trend.iter().rev().take(12).rev() {
                let _ = writeln!(
                    b,
                    "<tr><td class=\"nowrap\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(&t.period),
                    t.practices,
                    fmt(t.benchmark),
                    fmt(t.q1),
                    fmt(t.median),
                    fmt(t.q3)
                );
            }
            b.push_str("</tbody></table>\n");
        }

        b.push_str("<h2>Every practice, latest period</h2>\n");
        let mut ranked: Vec<&ResultRow> = rows
            .iter()
            .copied()
            .filter(|r| r.period == latest)
            .collect();
        // Lowest to highest; values the board may not show go last.
        ranked.sort_by(|a, b| {
            let v = |r: &ResultRow| if board.hides_value(r) { None } else { r.value };
            match (v(a), v(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.practice_code.cmp(&b.practice_code))
        });
        b.push_str("<table><thead><tr><th scope=\"col\">Practice</th><th scope=\"col\">Period</th><th scope=\"col\">Numerator / denominator</th><th scope=\"col\">Value (95% interval)</th><th scope=\"col\">Peer benchmark</th><th scope=\"col\">Compared with peers</th><th scope=\"col\">Peer funnel</th><th scope=\"col\">Own run chart</th></tr></thead><tbody>\n");
        for r in ranked {
            let name = self
                .input
                .practices
                .get(&r.practice_code)
                .map_or("", |p| p.name.as_str());
            let (label, class) = comparison_label(board.comparison(r));
            let _ = writeln!(
                b,
                "<tr><th scope=\"row\"><a href=\"../practices/{code}.html\">{}</a> <span class=\"meta\">{code}</span></th>{}<td><span class=\"tag {class}\">{label}</span></td>{}</tr>",
                esc(name),
                figure_cells(&board, r),
                signal_cells(&board, r),
                code = esc(&r.practice_code)
            );
        }
        b.push_str("</tbody></table>\n");
        let _ = writeln!(
            b,
            "<p>Download these numbers, every period: <a href=\"{}.csv\">{}.csv</a></p>",
            esc(&ind.id),
            esc(&ind.id)
        );
        b.push_str(self.how_made());
        self.page(&format!("{} — {}", ind.title, self.input.title), "../", &b)
    }

    pub fn board_page(&self) -> String {
        let board = self.board_view();
        let mut b = String::new();
        let _ = writeln!(
            b,
            "<h1>{}: where each practice stands</h1>",
            esc(&self.input.title)
        );
        if !self.input.not_computed.is_empty() {
            b.push_str("<section class=\"not-computed\" role=\"alert\"><h2>Not computed tonight</h2>\n<p>These indicators could not be computed in this run. They are left out of this pack; their earlier results are in earlier packs, not shown here as tonight's.</p>\n<ul>\n");
            for n in &self.input.not_computed {
                let _ = writeln!(
                    b,
                    "<li><strong>{}</strong> ({}): {}</li>",
                    esc(&n.title),
                    esc(&n.id),
                    esc(&n.reason)
                );
            }
            b.push_str("</ul></section>\n");
        }
        // Grouped by domain, as on the practice pages, then by title.
        let mut inds: Vec<&Indicator> = self.indicators().collect();
        let rank = |d: Domain| Domain::ALL.iter().position(|x| *x == d).unwrap_or(0);
        inds.sort_by(|a, b| (rank(a.domain), &a.title).cmp(&(rank(b.domain), &b.title)));
        let _ = writeln!(
            b,
            "<p>{} practices, {} indicators, compared with peer group “{}”. Each cell gives the latest period's comparison in words; open a practice for its full report.</p>",
            self.input.practices.len(),
            inds.len(),
            esc(&self.input.primary_peer_group)
        );

        b.push_str("<h2>Summary by indicator</h2>\n<table><thead><tr><th scope=\"col\">Indicator</th><th scope=\"col\">Latest period</th><th scope=\"col\">Federation value</th><th scope=\"col\">Better</th><th scope=\"col\">Similar</th><th scope=\"col\">Worse</th><th scope=\"col\">Higher / lower</th><th scope=\"col\">Not compared</th></tr></thead><tbody>\n");
        for ind in &inds {
            let mut counts: BTreeMap<Comparison, usize> = BTreeMap::new();
            let mut bench = None;
            for code in self.input.practices.keys() {
                if let Some(r) = self.latest.get(&(ind.id.as_str(), code.as_str())) {
                    *counts.entry(board.comparison(r)).or_default() += 1;
                    bench = bench.or(board.benchmark(r));
                }
            }
            let c = |k| counts.get(&k).copied().unwrap_or(0);
            let _ = writeln!(
                b,
                "<tr><th scope=\"row\"><a href=\"board/{}.html\">{}</a> <span class=\"meta\">{}</span></th><td class=\"nowrap\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&ind.id),
                esc(&ind.title),
                esc(&ind.units),
                esc(self
                    .latest_period
                    .get(ind.id.as_str())
                    .copied()
                    .unwrap_or("–")),
                fmt(bench),
                c(Comparison::Better),
                c(Comparison::Similar),
                c(Comparison::Worse),
                c(Comparison::Higher) + c(Comparison::Lower),
                c(Comparison::NotCompared)
            );
        }
        b.push_str("</tbody></table>\n");

        b.push_str("<h2>Practices × indicators</h2>\n<p class=\"meta\">The latest period's comparison with peers, in words, one table per domain. Open an indicator for its ranked practices and federation trend, or a practice for its full report.</p>\n");
        for domain in Domain::ALL {
            let in_domain: Vec<&&Indicator> = inds.iter().filter(|i| i.domain == domain).collect();
            if in_domain.is_empty() {
                continue;
            }
            let _ = write!(
                b,
                "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{0}: practices by indicators\"><table class=\"heat\"><caption>{0}</caption><thead><tr><th scope=\"col\">Practice</th>",
                domain.title()
            );
            for ind in &in_domain {
                let _ = write!(
                    b,
                    "<th scope=\"col\" class=\"ind\"><a href=\"board/{}.html\">{}</a></th>",
                    esc(&ind.id),
                    esc(&ind.title)
                );
            }
            b.push_str("</tr></thead><tbody>\n");
            for (code, p) in self.input.practices {
                let _ = write!(
                    b,
                    "<tr><th scope=\"row\"><a href=\"practices/{}.html\">{}</a> <span class=\"meta\">{}</span></th>",
                    esc(code),
                    esc(&p.name),
                    esc(code)
                );
                for ind in &in_domain {
                    match self.latest.get(&(ind.id.as_str(), code.as_str())) {
                        Some(r) => {
                            let (label, class) = comparison_label(board.comparison(r));
                            let _ =
                                write!(b, "<td><span class=\"tag {class}\">{label}</span></td>");
                        }
                        None => b.push_str("<td class=\"meta\">no data</td>"),
                    }
                }
                b.push_str("</tr>\n");
            }
            b.push_str("</tbody></table></div>\n");
        }

        b.push_str("<h2>Outside the 99.8% limits</h2>\n<p>Practices beyond the 99.8% funnel limits in the latest period, after allowing for the normal variation between practices: candidates for unwarranted variation, to be understood before they are judged.</p>\n");
        let mut outliers: Vec<&ResultRow> = self
            .latest
            .values()
            .copied()
            .filter(|r| {
                r.funnel_flag.is_some_and(|f| f.is_outlier()) && board.funnel_not_shown(r).is_none()
            })
            .collect();
        outliers.sort_by(|a, b| {
            (&a.indicator_id, &a.practice_code).cmp(&(&b.indicator_id, &b.practice_code))
        });
        if outliers.is_empty() {
            b.push_str("<p>None.</p>\n");
        } else {
            b.push_str("<table><thead><tr><th scope=\"col\">Indicator</th><th scope=\"col\">Practice</th><th scope=\"col\">Period</th><th scope=\"col\">Value</th><th scope=\"col\">99.8% limits</th><th scope=\"col\">Position</th><th scope=\"col\">Allowance for normal variation (φ / τ²)</th></tr></thead><tbody>\n");
            for r in outliers {
                let title = inds
                    .iter()
                    .find(|i| i.id == r.indicator_id)
                    .map_or(r.indicator_id.as_str(), |i| i.title.as_str());
                let name = self
                    .input
                    .practices
                    .get(&r.practice_code)
                    .map_or("", |p| p.name.as_str());
                let _ = writeln!(
                    b,
                    "<tr><td>{}</td><td><a href=\"practices/{code}.html\">{}</a> {code}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}–{}</td><td>{}</td><td class=\"num\">{:.2} / {:.5}</td></tr>",
                    esc(title),
                    esc(name),
                    esc(&r.period),
                    fmt(r.value),
                    fmt(r.funnel_lower_998),
                    fmt(r.funnel_upper_998),
                    funnel_words(r),
                    r.od_phi.unwrap_or_default(),
                    r.od_tau2.unwrap_or_default(),
                    code = esc(&r.practice_code)
                );
            }
            b.push_str("</tbody></table>\n");
        }
        b.push_str("<h2>Since last period</h2>\n");
        let changes = self.changes();
        if changes.is_empty() {
            b.push_str("<p>No new or resolved outliers, and no new special-cause signals.</p>\n");
        } else {
            b.push_str("<table><thead><tr><th scope=\"col\">What changed</th><th scope=\"col\">Indicator</th><th scope=\"col\">Practice</th><th scope=\"col\">Now</th><th scope=\"col\">Before</th></tr></thead><tbody>\n");
            for c in changes {
                let what = match c.kind {
                    peerbench_compare::ChangeKind::NewOutlier => "New outlier",
                    peerbench_compare::ChangeKind::ResolvedOutlier => "No longer an outlier",
                    peerbench_compare::ChangeKind::NewSpecialCause => "New special-cause signal",
                };
                let title = inds
                    .iter()
                    .find(|i| i.id == c.indicator_id)
                    .map_or(c.indicator_id.as_str(), |i| i.title.as_str());
                let _ = writeln!(
                    b,
                    "<tr><td>{what}</td><td>{}</td><td><a href=\"practices/{code}.html\">{}</a> <span class=\"meta\">{code}</span></td><td>{} ({})</td><td>{} ({})</td></tr>",
                    esc(title),
                    esc(self
                        .input
                        .practices
                        .get(&c.practice_code)
                        .map_or("", |p| p.name.as_str())),
                    esc(change_words(&c.now)),
                    esc(&c.period),
                    esc(change_words(&c.before)),
                    esc(&c.previous_period),
                    code = esc(&c.practice_code)
                );
            }
            b.push_str("</tbody></table>\n");
        }
        b.push_str("<p>Download: <a href=\"data/changes.csv\">changes.csv</a></p>\n");
        b.push_str("<h2>Data quality</h2>\n<table><thead><tr><th scope=\"col\">Source table</th><th scope=\"col\">Files</th><th scope=\"col\">Rows loaded</th><th scope=\"col\">Rows set aside</th><th scope=\"col\">Why</th><th scope=\"col\">Latest month</th><th scope=\"col\">Practices missing from the latest month</th></tr></thead><tbody>\n");
        // A source behind the newest one is stale: its latest month is older.
        let newest = self
            .input
            .provenance
            .sources
            .iter()
            .filter_map(|s| s.latest_month.as_deref())
            .max();
        for s in &self.input.provenance.sources {
            let mut why = s
                .by_check
                .iter()
                .map(|(c, n)| format!("{} × {n}", esc(c)))
                .collect::<Vec<_>>()
                .join(", ");
            if s.warning.is_some() {
                why.push_str(" <strong>(more than the source's warning level)</strong>");
            }
            let latest = match (&s.latest_month, newest) {
                (Some(m), Some(n)) if m.as_str() < n => {
                    format!(
                        "{} <strong>(behind: other sources reach {})</strong>",
                        esc(m),
                        esc(n)
                    )
                }
                (Some(m), _) => esc(m),
                (None, _) => "–".into(),
            };
            let missing = if s.latest_month.is_none() {
                "–".to_string()
            } else if s.missing_latest.is_empty() {
                "none".to_string()
            } else {
                let names: Vec<String> = s
                    .missing_latest
                    .iter()
                    .map(|c| {
                        let name = self.input.practices.get(c).map_or("", |p| p.name.as_str());
                        format!("{} <span class=\"meta\">{}</span>", esc(name), esc(c))
                    })
                    .collect();
                format!("<strong>{}</strong>: {}", names.len(), names.join("; "))
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"nowrap\">{latest}</td><td>{missing}</td></tr>",
                esc(&s.table),
                s.files,
                s.rows_loaded,
                s.rows_quarantined,
                if why.is_empty() { "–".into() } else { why }
            );
        }
        b.push_str("</tbody></table>\n<p class=\"meta\">Rows set aside are kept with their file, line and reason in the warehouse table <code>quarantine</code>.</p>\n");
        if !self.input.provenance.unclaimed_files.is_empty() {
            let _ = writeln!(
                b,
                "<p><strong>Files no source reads</strong>: {}. They arrived in a landing folder but the pipeline declares no source for them, so nothing in them is in these reports.</p>",
                self.input
                    .provenance
                    .unclaimed_files
                    .iter()
                    .map(|f| format!("<code>{}</code>", esc(f)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let replaced: Vec<String> = self
            .input
            .provenance
            .sources
            .iter()
            .filter(|s| s.rows_replaced > 0)
            .map(|s| format!("{} rows of {}", s.rows_replaced, esc(&s.table)))
            .collect();
        if !replaced.is_empty() {
            let _ = writeln!(
                b,
                "<p>Resubmissions: a later file replaced a practice's earlier rows for a period ({}). Only the later rows are counted; the load summary names the files.</p>",
                replaced.join("; ")
            );
        }
        let jumps: Vec<(&str, &crate::Jump)> = self
            .input
            .provenance
            .sources
            .iter()
            .flat_map(|s| s.jumps.iter().map(move |j| (s.table.as_str(), j)))
            .collect();
        if !jumps.is_empty() {
            b.push_str("<h3>Sudden changes since the previous period</h3>\n<p>These practices' latest data differ sharply from the period before: the number of rows halved or doubled, or the registered list changed by a tenth or more. That is more often a partial or mis-made extract, a list cleaned or a merger than a real change, so check the extract before reading these practices' comparisons.</p>\n<table><thead><tr><th scope=\"col\">Practice</th><th scope=\"col\">Source table</th><th scope=\"col\">What changed</th></tr></thead><tbody>\n");
            for (table, j) in jumps {
                let name = self
                    .input
                    .practices
                    .get(&j.practice_code)
                    .map_or("", |p| p.name.as_str());
                let _ = writeln!(
                    b,
                    "<tr><td><a href=\"practices/{code}.html\">{}</a> <span class=\"meta\">{code}</span></td><td>{}</td><td>{}</td></tr>",
                    esc(name),
                    esc(table),
                    esc(&j.describe()),
                    code = esc(&j.practice_code)
                );
            }
            b.push_str("</tbody></table>\n");
        }

        // Completeness by practice: a practice with gaps is flagged here, not
        // silently compared on fewer indicators.
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
        let _ = writeln!(
            b,
            "<h3>Completeness by practice</h3>\n<p>{} of {} practices have data for all {total} indicators in their latest period and no rows set aside.</p>",
            self.input.practices.len() - incomplete.len(),
            self.input.practices.len()
        );
        if !incomplete.is_empty() {
            b.push_str("<table><thead><tr><th scope=\"col\">Practice</th><th scope=\"col\">Indicators with data, latest period</th><th scope=\"col\">Rows set aside</th></tr></thead><tbody>\n");
            for (code, p, missing, q) in incomplete {
                let _ = writeln!(
                    b,
                    "<tr><th scope=\"row\"><a href=\"practices/{code}.html\">{}</a> <span class=\"meta\">{code}</span></th><td class=\"num\">{} of {total}</td><td class=\"num\">{q}</td></tr>",
                    esc(&p.name),
                    total - missing,
                    code = esc(code)
                );
            }
            b.push_str("</tbody></table>\n");
        }
        b.push_str("<p>What each indicator means: <a href=\"indicators.html\">the indicator catalogue</a>.</p>\n");
        b.push_str("<p>Download the board pack as an Excel workbook (one sheet per view): <a href=\"data/board-pack.xlsx\">board-pack.xlsx</a>. Every number: <a href=\"data/indicator_results.csv\">indicator_results.csv</a> · <a href=\"data/indicator_results.parquet\">indicator_results.parquet</a></p>\n");
        b.push_str(self.how_made());
        self.page(&format!("{} — board report", self.input.title), "", &b)
    }
}

/// The indicator catalogue: every indicator's metadata, written from the SQL
/// files' headers, grouped by domain. Drafts are listed and marked.
pub fn catalogue_page(title: &str, indicators: &[Indicator]) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>Indicator catalogue</h1>\n<p>{} indicators. Each is one SQL file with its metadata; this page is written from them.</p>",
        indicators.len()
    );
    b.push_str("<table><thead><tr><th scope=\"col\">Indicator</th><th scope=\"col\">Domain</th><th scope=\"col\">Type</th><th scope=\"col\">Better is</th><th scope=\"col\">Minimum denominator</th></tr></thead><tbody>\n");
    for ind in indicators {
        let _ = writeln!(
            b,
            "<tr><td><a href=\"#{id}\">{}</a>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&ind.title),
            if ind.draft {
                " <span class=\"meta\">(draft)</span>"
            } else {
                ""
            },
            ind.domain.title(),
            ind.value_type.as_str(),
            esc(&ind.units),
            match ind.polarity {
                Polarity::HighIsGood => "higher",
                Polarity::LowIsGood => "lower",
                Polarity::NoJudgement => "neither (context)",
            },
            ind.min_denominator,
            id = esc(&ind.id)
        );
    }
    b.push_str("</tbody></table>\n");
    for domain in Domain::ALL {
        let inds: Vec<&Indicator> = indicators.iter().filter(|i| i.domain == domain).collect();
        if inds.is_empty() {
            continue;
        }
        let _ = writeln!(b, "<h2>{}</h2>", domain.title());
        for ind in inds {
            let row = |k: &str, v: &str| {
                if v.trim().is_empty() {
                    String::new()
                } else {
                    format!("<dt>{k}</dt><dd>{}</dd>", esc(v))
                }
            };
            let _ = writeln!(
                b,
                "<section id=\"{}\"><h3>{}</h3><dl class=\"facts\">{}{}{}{}{}{}{}{}{}{}{}</dl></section>",
                esc(&ind.id),
                esc(&ind.title),
                row("Id", &ind.id),
                row("Numerator", &ind.numerator),
                row("Denominator", &ind.denominator),
                row("Definition", &ind.definition),
                row("Why it matters", &ind.why_it_matters),
                row("Source", &ind.source),
                row("Caveats", &ind.caveats),
                row("Owner", &ind.owner),
                row("Reviewed", ind.reviewed.as_deref().unwrap_or("")),
                row("Next review", ind.next_review.as_deref().unwrap_or("")),
                row("Tags", &ind.tags.join(", "))
            );
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Indicator catalogue — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header class=\"site\"><a href=\"index.html\">{}</a> · peerbench</header>\n<main>\n{b}\n</main>\n</body>\n</html>\n",
        esc(title),
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
            numerator: Some(7.0),
            denominator: Some(102.0),
            value: Some(6.862745098),
            lower_95: Some(3.3667),
            upper_95: Some(13.4876),
            lower_998: None,
            upper_998: None,
            benchmark: Some(10.512),
            peer_median: None,
            percentile_rank: None,
            comparison: Comparison::Similar,
            comparison_998: Comparison::Similar,
            funnel_lower_95: None,
            funnel_upper_95: None,
            funnel_lower_998: None,
            funnel_upper_998: None,
            funnel_flag: Some(FunnelFlag::Within),
            funnel_flag_unadjusted: None,
            od_phi: None,
            od_tau2: None,
            spc_signal: None,
            spc_variation: Some("common_cause"),
            spc_centre: None,
            spc_lower: None,
            spc_upper: None,
            spc_trial: None,
            trend: "no_significant_change",
            not_compared_reason: None,
        };
        let sup = Suppression::default();
        let s = View {
            own: crate::Disclosure::Standard,
            peers: crate::Disclosure::Standard,
            sup: &sup,
        };
        assert_eq!(
            figure_cells(&s, &r),
            "<td class=\"nowrap\">2026-09</td><td class=\"num\">* / 100</td><td class=\"num\">*</td><td class=\"num\">10.5</td>"
        );
        assert_eq!(
            signal_cells(&s, &r),
            "<td>Not shown (a count of 1 to 7)</td><td>Not shown (a count of 1 to 7)</td>"
        );
        r.numerator = Some(8.0);
        assert_eq!(
            figure_cells(&s, &r),
            "<td class=\"nowrap\">2026-09</td><td class=\"num\">10 / 100</td><td class=\"num\">6.9 (3.4–13.5)</td><td class=\"num\">10.5</td>"
        );
        assert_eq!(
            signal_cells(&s, &r),
            "<td>Within the limits</td><td>Common-cause variation only</td>"
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
