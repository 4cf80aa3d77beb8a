//! Charts as accessible, deterministic SVG: a title and a description on
//! each, line styles as well as colours, and numbers beside them in the page.

use std::fmt::Write as _;

use peerbench_catalogue::{Indicator, ValueType};
use peerbench_compare::ResultRow;
use peerbench_stats::{FunnelKind, Overdispersion, adjusted_limits};

use crate::html::esc;

const W: f64 = 520.0;
const H: f64 = 280.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 44.0;
/// More points than this and a funnel or caterpillar shows a deterministic
/// sample of peers (every k-th): a practice page carries one funnel per
/// indicator, and at national scale 400 points each made pages of a megabyte.
const MAX_POINTS: usize = 150;

fn num(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Said in a chart's description when it draws every `step`-th practice.
fn sampled_note(step: usize) -> String {
    if step > 1 {
        format!(" (every {step}th drawn)")
    } else {
        String::new()
    }
}

/// Round tick values (steps of 1, 2, 2.5 or 5 × a power of ten) inside
/// [lo, hi], about five of them, with labels to the step's precision.
fn nice_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let range = hi - lo;
    if !(range.is_finite() && range > 0.0) {
        return vec![(lo, num(lo))];
    }
    let raw = range / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = (-(step.log10().floor()) as i32 + i32::from((step / mag - 2.5).abs() < 1e-9))
        .max(0) as usize;
    let mut out = Vec::new();
    let mut v = (lo / step).ceil() * step;
    while v <= hi + step * 1e-9 {
        // -0.0 prints as "-0"; ticks never need a sign there.
        let t = if v.abs() < step * 1e-9 { 0.0 } else { v };
        out.push((t, format!("{t:.decimals$}")));
        v += step;
    }
    out
}

struct Scale {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Scale {
    /// A scale from `x0` to `x1` across, and over the values up the side
    /// padded by 8% either way; never below zero when `floor_at_zero`
    /// (proportions cannot be negative).
    fn over(x0: f64, x1: f64, values: &[f64], floor_at_zero: bool) -> Scale {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        let pad = ((hi - lo) * 0.08).max(1e-9);
        Scale {
            x0,
            x1,
            y0: (lo - pad).max(if floor_at_zero { 0.0 } else { f64::MIN }),
            y1: hi + pad,
        }
    }

    fn x(&self, v: f64) -> f64 {
        LEFT + (v - self.x0) / (self.x1 - self.x0).max(1e-12) * (W - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        let t = ((v - self.y0) / (self.y1 - self.y0).max(1e-12)).clamp(-0.02, 1.02);
        H - BOTTOM - t * (H - TOP - BOTTOM)
    }
}

fn axes(s: &mut String, scale: &Scale, x_label: &str, y_label: &str, x_ticks: &[(f64, String)]) {
    let _ = write!(
        s,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" stroke=\"#768692\"/>",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    for (v, label) in nice_ticks(scale.y0, scale.y1) {
        let y = scale.y(v);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e8edee\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#212b32\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            label
        );
    }
    for (v, label) in x_ticks {
        let x = scale.x(*v);
        // Labels at the edges are anchored inwards so they are not clipped.
        let anchor = if x > W - RIGHT - 24.0 {
            "end"
        } else if x < LEFT + 24.0 {
            "start"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"{anchor}\" fill=\"#212b32\">{}</text>",
            H - BOTTOM + 14.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#4c6272\">{}</text><text x=\"12\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#4c6272\" transform=\"rotate(-90 12 {:.1})\">{}</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 8.0,
        esc(x_label),
        TOP + (H - TOP - BOTTOM) / 2.0,
        TOP + (H - TOP - BOTTOM) / 2.0,
        esc(y_label)
    );
}

fn polyline(points: &[(f64, f64)], style: &str) -> String {
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    format!(
        "<polyline fill=\"none\" {style} points=\"{}\"/>",
        pts.join(" ")
    )
}

/// A funnel plot of every peer in the practice's group (latest period), the
/// target and the overdispersion-adjusted 95% and 99.8% limits, with this
/// practice highlighted and labelled. With `withheld`, disclosure control
/// has taken the limits (and the target, or the practice's position) out of
/// `practice`, and the description says so.
pub fn funnel(
    ind: &Indicator,
    practice: &ResultRow,
    peers: &[&ResultRow],
    withheld: bool,
) -> String {
    let valued: Vec<&&ResultRow> = peers
        .iter()
        .filter(|r| r.value.is_some() && r.denominator.is_some())
        .collect();
    let (Some(value), Some(n)) = (practice.value, practice.denominator) else {
        return String::new();
    };
    if valued.len() < 3 {
        return String::new();
    }
    // A deterministic sample keeps national-scale pages small.
    let step = valued.len().div_ceil(MAX_POINTS).max(1);
    let shown: Vec<&&&ResultRow> = valued.iter().step_by(step).collect();
    let kind = match ind.value_type {
        ValueType::Proportion => FunnelKind::Proportion,
        _ => FunnelKind::Ratio,
    };
    let m = ind.multiplier;
    let od = match (practice.benchmark, practice.od_phi, practice.od_tau2) {
        (Some(b), Some(phi), Some(tau2)) => Some(Overdispersion {
            target: b / m,
            phi,
            tau2,
            units: valued.len(),
        }),
        _ => None,
    };
    let n_max = valued
        .iter()
        .filter_map(|r| r.denominator)
        .fold(0.0, f64::max)
        * 1.05;
    let n_min = valued
        .iter()
        .filter_map(|r| r.denominator)
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let mut ys: Vec<f64> = valued.iter().filter_map(|r| r.value).collect();
    let mut curves: Vec<Vec<(f64, f64, f64)>> = Vec::new(); // per level: (n, lo, hi)
    if let Some(od) = &od {
        for level in [0.95, 0.998] {
            let curve: Vec<(f64, f64, f64)> = (0..=60)
                .map(|i| n_min * 0.8 + (n_max - n_min * 0.8) * i as f64 / 60.0)
                .filter_map(|x| {
                    adjusted_limits(od, x, kind, level)
                        .ok()
                        .map(|(lo, hi)| (x, lo * m, hi * m))
                })
                .collect();
            if let Some(first) = curve.first() {
                ys.push(first.1);
                ys.push(first.2);
            }
            curves.push(curve);
        }
    }
    let scale = Scale::over(0.0, n_max, &ys, kind == FunnelKind::Proportion);
    let flag = practice.funnel_flag.map_or("not assessed", |f| f.as_str());
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" role=\"img\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" aria-labelledby=\"fn-{id}-t fn-{id}-d\"><title id=\"fn-{id}-t\">{title}: funnel plot</title><desc id=\"fn-{id}-d\">{count} practices in peer group {group} by denominator{sampled}. This practice: {v} with denominator {n:.0}, {flag}. Target {target}; 95% limits dashed, 99.8% limits dotted{od}.</desc>",
        id = esc(&ind.id),
        title = esc(&ind.title),
        count = valued.len(),
        sampled = sampled_note(step),
        group = esc(&practice.peer_group),
        v = num(value),
        target = practice.benchmark.map_or("–".into(), num),
        od = od.map_or(
            String::from(if withheld {
                " (not shown, to protect a small count in the peer group)"
            } else {
                " (not shown: too few practices to allow for overdispersion)"
            }),
            |o| format!(
                ", adjusted for overdispersion (φ {:.2}, τ² {:.5})",
                o.phi, o.tau2
            )
        ),
    );
    let ticks = nice_ticks(0.0, n_max);
    axes(
        &mut s,
        &scale,
        &format!(
            "Denominator: {}",
            ind.denominator.chars().take(60).collect::<String>()
        ),
        &ind.units,
        &ticks,
    );
    for (curve, dash) in curves
        .iter()
        .zip(["stroke-dasharray=\"6 3\"", "stroke-dasharray=\"2 2\""])
    {
        let lower: Vec<(f64, f64)> = curve
            .iter()
            .map(|(x, l, _)| (scale.x(*x), scale.y(*l)))
            .collect();
        let upper: Vec<(f64, f64)> = curve
            .iter()
            .map(|(x, _, u)| (scale.x(*x), scale.y(*u)))
            .collect();
        let style = format!("stroke=\"#425563\" stroke-width=\"1.2\" {dash}");
        s.push_str(&polyline(&lower, &style));
        s.push_str(&polyline(&upper, &style));
    }
    if let Some(b) = practice.benchmark {
        let y = scale.y(b);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#212b32\" stroke-width=\"1.5\"/>",
            W - RIGHT
        );
    }
    for r in &shown {
        if r.practice_code == practice.practice_code {
            continue;
        }
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#aeb7bd\" stroke=\"#768692\" stroke-width=\"0.5\"/>",
            scale.x(r.denominator.unwrap_or(0.0)),
            scale.y(r.value.unwrap_or(0.0))
        );
    }
    let (px, py) = (scale.x(n), scale.y(value));
    let fill = match practice.funnel_flag {
        Some(f) if f.is_outlier() => "#ffb81c",
        _ => "#005eb8",
    };
    let anchor = if px > W / 2.0 { "end" } else { "start" };
    let dx = if px > W / 2.0 { -9.0 } else { 9.0 };
    let _ = write!(
        s,
        "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"6\" fill=\"{fill}\" stroke=\"#212b32\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" font-weight=\"bold\" text-anchor=\"{anchor}\" fill=\"#212b32\">This practice</text></svg>",
        px + dx,
        py - 8.0
    );
    s
}

/// The practice's own XmR run chart: values, centre line, process limits,
/// and each special-cause point marked by shape and colour.
pub fn run_chart(ind: &Indicator, series: &[&ResultRow]) -> String {
    let points: Vec<(usize, &ResultRow, f64)> = series
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.value.map(|v| (i, *r, v)))
        .collect();
    let Some(last) = points.last().map(|p| p.1) else {
        return String::new();
    };
    let (Some(centre), Some(lower), Some(upper)) =
        (last.spc_centre, last.spc_lower, last.spc_upper)
    else {
        return String::new();
    };
    let mut ys: Vec<f64> = points.iter().map(|p| p.2).collect();
    ys.extend([centre, lower, upper]);
    let scale = Scale::over(0.0, (series.len().max(2) - 1) as f64, &ys, false);
    let signals = points.iter().filter(|p| p.1.spc_signal.is_some()).count();
    let latest = last
        .spc_variation
        .unwrap_or("common_cause")
        .replace('_', " ");
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" role=\"img\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" aria-labelledby=\"rc-{id}-t rc-{id}-d\"><title id=\"rc-{id}-t\">{title}: run chart with process limits</title><desc id=\"rc-{id}-d\">{n} points from {first} to {lastp}. Mean {c}, process limits {l} to {u}{trial}. {signals} special-cause points; latest point: {latest}.</desc>",
        id = esc(&ind.id),
        title = esc(&ind.title),
        n = points.len(),
        first = esc(&series[0].period),
        lastp = esc(&last.period),
        c = num(centre),
        l = num(lower),
        u = num(upper),
        trial = if last.spc_trial == Some(true) {
            " (trial limits: fewer than 12 points)"
        } else {
            ""
        },
    );
    let ticks = period_ticks(series.iter().map(|r| r.period.as_str()));
    axes(&mut s, &scale, "Month", &ind.units, &ticks);
    for (v, dash) in [
        (upper, "stroke-dasharray=\"6 3\""),
        (lower, "stroke-dasharray=\"6 3\""),
        (centre, ""),
    ] {
        let y = scale.y(v);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#425563\" stroke-width=\"1.2\" {dash}/>",
            W - RIGHT
        );
    }
    let line: Vec<(f64, f64)> = points
        .iter()
        .map(|(i, _, v)| (scale.x(*i as f64), scale.y(*v)))
        .collect();
    s.push_str(&polyline(&line, "stroke=\"#768692\" stroke-width=\"1.5\""));
    for (i, r, v) in &points {
        let (x, y) = (scale.x(*i as f64), scale.y(*v));
        match r.spc_variation {
            Some("improvement") => {
                let _ = write!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"#005eb8\" stroke=\"#212b32\"/>",
                    x - 4.5,
                    y - 4.5
                );
            }
            Some("concern") => {
                let _ = write!(
                    s,
                    "<path d=\"M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"#ffb81c\" stroke=\"#212b32\"/>",
                    y - 6.0,
                    x + 5.5,
                    y + 4.0,
                    x - 5.5,
                    y + 4.0
                );
            }
            Some("neutral") => {
                let _ = write!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"#330072\" stroke=\"#212b32\"/>"
                );
            }
            _ => {
                let _ = write!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#ffffff\" stroke=\"#425563\"/>"
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// A caterpillar plot: every practice in a peer group in the latest period,
/// ranked by value, each with its 95% interval, against the peer benchmark.
/// Works for every value type, including directly standardised rates, which
/// have no funnel. `highlight` marks one practice (on its own page).
pub fn caterpillar(ind: &Indicator, rows: &[&ResultRow], highlight: Option<&str>) -> String {
    // (row, value, lower 95%, upper 95%)
    type Ranked<'r> = (&'r ResultRow, f64, f64, f64);
    let mut valued: Vec<Ranked> = rows
        .iter()
        .filter_map(|r| match (r.value, r.lower_95, r.upper_95) {
            (Some(v), Some(l), Some(u)) => Some((*r, v, l, u)),
            _ => None,
        })
        .collect();
    if valued.len() < 3 {
        return String::new();
    }
    valued.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then(a.0.practice_code.cmp(&b.0.practice_code))
    });
    // A deterministic sample keeps national-scale pages small; the
    // highlighted practice is always kept.
    let step = valued.len().div_ceil(MAX_POINTS).max(1);
    let shown: Vec<(usize, &Ranked)> = valued
        .iter()
        .enumerate()
        .filter(|(i, r)| i % step == 0 || Some(r.0.practice_code.as_str()) == highlight)
        .collect();
    let benchmark = valued[0].0.benchmark;
    let mut ys: Vec<f64> = valued.iter().flat_map(|r| [r.2, r.3]).collect();
    ys.extend(benchmark);
    let scale = Scale::over(
        -0.5,
        valued.len() as f64 - 0.5,
        &ys,
        ind.value_type == ValueType::Proportion,
    );
    let count =
        |c: peerbench_stats::Comparison| valued.iter().filter(|r| r.0.comparison == c).count();
    use peerbench_stats::Comparison::{Better, Higher, Lower, Worse};
    let first = valued[0].0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" role=\"img\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" aria-labelledby=\"cp-{id}-t cp-{id}-d\"><title id=\"cp-{id}-t\">{title}: practices ranked, with 95% intervals</title><desc id=\"cp-{id}-d\">{n} practices in peer group {group}{sampled}, {period}, ranked from lowest to highest value, each with its 95% confidence interval; peer benchmark {b} (solid line). {better} better or higher than the benchmark, {worse} worse or lower{this}.</desc>",
        id = esc(&ind.id),
        title = esc(&ind.title),
        n = valued.len(),
        sampled = sampled_note(step),
        group = esc(&first.peer_group),
        period = esc(&first.period),
        b = benchmark.map_or("–".into(), num),
        better = count(Better) + count(Higher),
        worse = count(Worse) + count(Lower),
        this = highlight
            .and_then(|h| valued
                .iter()
                .position(|r| r.0.practice_code == h)
                .map(|i| (h, i)))
            .map_or(String::new(), |(h, i)| format!(
                "; this practice ({}) is ranked {} of {}",
                esc(h),
                i + 1,
                valued.len()
            )),
    );
    let every = valued.len().div_ceil(5).max(1);
    let ticks: Vec<(f64, String)> = (0..valued.len())
        .filter(|i| i % every == 0)
        .map(|i| (i as f64, format!("{}", i + 1)))
        .collect();
    axes(
        &mut s,
        &scale,
        "Practices, ranked by value",
        &ind.units,
        &ticks,
    );
    if let Some(b) = benchmark {
        let y = scale.y(b);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#212b32\" stroke-width=\"1.5\"/>",
            W - RIGHT
        );
    }
    let mut mark = None;
    for (i, (r, v, l, u)) in &shown {
        let x = scale.x(*i as f64);
        let (yv, yl, yu) = (scale.y(*v), scale.y(*l), scale.y(*u));
        let this = Some(r.practice_code.as_str()) == highlight;
        let stroke = if this { "#212b32" } else { "#768692" };
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{yl:.1}\" y2=\"{yu:.1}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>",
            if this { 2.5 } else { 1.0 }
        );
        // Shape as well as colour: square better/higher, triangle worse/lower.
        let marker = match r.comparison {
            Better | Higher => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"#005eb8\"/>",
                x - 3.0,
                yv - 3.0
            ),
            Worse | Lower => format!(
                "<path d=\"M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"#ffb81c\" stroke=\"#212b32\" stroke-width=\"0.5\"/>",
                yv - 4.0,
                x + 3.5,
                yv + 3.0,
                x - 3.5,
                yv + 3.0
            ),
            _ => format!(
                "<circle cx=\"{x:.1}\" cy=\"{yv:.1}\" r=\"2.5\" fill=\"#aeb7bd\" stroke=\"#425563\" stroke-width=\"0.5\"/>"
            ),
        };
        s.push_str(&marker);
        if this {
            mark = Some((x, yv, yu));
        }
    }
    if let Some((x, yv, yu)) = mark {
        let anchor = if x > W / 2.0 { "end" } else { "start" };
        let dx = if x > W / 2.0 { -8.0 } else { 8.0 };
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{yv:.1}\" r=\"6\" fill=\"none\" stroke=\"#212b32\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" font-weight=\"bold\" text-anchor=\"{anchor}\" fill=\"#212b32\">This practice</text>",
            x + dx,
            (yu - 6.0).max(TOP + 12.0)
        );
    }
    s.push_str("</svg>");
    s
}

/// One period of a federation trend.
pub struct TrendPoint {
    pub period: String,
    pub benchmark: Option<f64>,
    pub q1: Option<f64>,
    pub median: Option<f64>,
    pub q3: Option<f64>,
    pub practices: usize,
}

/// The federation's trend: the pooled peer value each period, with the
/// middle half of practices as a band and their median dashed.
pub fn trend_chart(ind: &Indicator, points: &[TrendPoint]) -> String {
    let usable: Vec<(usize, &TrendPoint, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.benchmark.map(|b| (i, p, b)))
        .collect();
    if usable.len() < 2 {
        return String::new();
    }
    let ys: Vec<f64> = usable
        .iter()
        .flat_map(|(_, p, b)| [Some(*b), p.q1, p.q3].into_iter().flatten())
        .collect();
    let scale = Scale::over(
        0.0,
        (points.len().max(2) - 1) as f64,
        &ys,
        ind.value_type == ValueType::Proportion,
    );
    let (first, last) = (usable[0], usable[usable.len() - 1]);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" role=\"img\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" aria-labelledby=\"tr-{id}-t tr-{id}-d\"><title id=\"tr-{id}-t\">{title}: federation trend</title><desc id=\"tr-{id}-d\">Pooled peer value from {p0} ({v0}) to {p1} ({v1}); shaded band the middle half of practices, dashed line their median.</desc>",
        id = esc(&ind.id),
        title = esc(&ind.title),
        p0 = esc(&first.1.period),
        v0 = num(first.2),
        p1 = esc(&last.1.period),
        v1 = num(last.2),
    );
    axes(
        &mut s,
        &scale,
        "Period",
        &ind.units,
        &period_ticks(points.iter().map(|p| p.period.as_str())),
    );
    // The interquartile band as one closed path: q3 left to right, q1 back.
    let band: Vec<(f64, f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match (p.q1, p.q3) {
            (Some(a), Some(b)) => Some((scale.x(i as f64), scale.y(a), scale.y(b))),
            _ => None,
        })
        .collect();
    if band.len() >= 2 {
        let mut d = String::new();
        for (k, (x, _, y3)) in band.iter().enumerate() {
            let _ = write!(d, "{}{x:.1} {y3:.1} ", if k == 0 { "M" } else { "L" });
        }
        for (x, y1, _) in band.iter().rev() {
            let _ = write!(d, "L{x:.1} {y1:.1} ");
        }
        let _ = write!(
            s,
            "<path d=\"{}Z\" fill=\"#c8d2d8\" stroke=\"#768692\" stroke-width=\"0.8\"/>",
            d
        );
    }
    let median: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.median.map(|m| (scale.x(i as f64), scale.y(m))))
        .collect();
    s.push_str(&polyline(
        &median,
        "stroke=\"#425563\" stroke-width=\"1.2\" stroke-dasharray=\"5 3\"",
    ));
    let line: Vec<(f64, f64)> = usable
        .iter()
        .map(|(i, _, b)| (scale.x(*i as f64), scale.y(*b)))
        .collect();
    s.push_str(&polyline(&line, "stroke=\"#005eb8\" stroke-width=\"2.5\""));
    for (x, y) in &line {
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"#005eb8\"/>"
        );
    }
    s.push_str("</svg>");
    s
}

/// Up to seven evenly spaced period labels, always including the last.
fn period_ticks<'p>(periods: impl Iterator<Item = &'p str>) -> Vec<(f64, String)> {
    let all: Vec<&str> = periods.collect();
    let every = all.len().div_ceil(6).max(1);
    let mut ticks: Vec<(f64, String)> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| (i as f64, p.to_string()))
        .collect();
    if let Some(last) = all.len().checked_sub(1)
        && ticks.last().is_some_and(|t| t.0 as usize != last)
    {
        // Drop a tick that would collide with the last label.
        if last - ticks.last().map_or(0, |t| t.0 as usize) < every / 2 + 1 {
            ticks.pop();
        }
        ticks.push((last as f64, all[last].to_string()));
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::nice_ticks;

    #[test]
    fn ticks_are_round_numbers() {
        let labels = |lo, hi| {
            nice_ticks(lo, hi)
                .into_iter()
                .map(|t| t.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(279.8, 1893.0), ["500", "1000", "1500"]);
        assert_eq!(labels(0.0, 38954.0), ["0", "10000", "20000", "30000"]);
        assert_eq!(labels(-1.0, 11.0), ["0.0", "2.5", "5.0", "7.5", "10.0"]);
        assert_eq!(
            labels(0.02, 0.13),
            ["0.025", "0.050", "0.075", "0.100", "0.125"]
        );
    }
}
