//! Charts as accessible, deterministic SVG: a title and a description on
//! each, line styles as well as colours, and numbers beside them in the page.
//!
//! Each chart is [`Markup`]: its elements with text in them (the `svg`
//! itself, its title and description, axis labels) are written with maud's
//! `html!` and escaped like any page text. Its shapes (`rect`, `line`,
//! `circle`, `polyline`, `path`) are written by [`shape`], the report's one
//! raw-HTML escape hatch: SVG shapes must close themselves (`<rect/>`),
//! which `html!` does not write, and they hold only numbers and constants
//! this module chooses, never text from the data.

use std::fmt::Write as _;

use maud::{Markup, PreEscaped, html};
use peerbench_catalogue::{Indicator, ValueType};
use peerbench_compare::ResultRow;
use peerbench_stats::{
    Comparison, FunnelKind, Overdispersion, Polarity, Variation, funnel_limits as limits_at,
};

use crate::wording;

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

/// An SVG shape from numbers and constants only: the escape hatch (see the
/// module's documentation). Never pass it text from the data.
fn shape(svg: std::fmt::Arguments<'_>) -> Markup {
    PreEscaped(svg.to_string())
}

/// A coordinate, to one decimal place.
fn d1(x: f64) -> String {
    Tenths(x).to_string()
}

/// A number to one decimal place exactly as `{:.1}` writes it, without the
/// standard library's search for exact digits where the answer is plain:
/// chart coordinates are tens of millions of numbers nationally, and that
/// search (Grisu, then Dragon where Grisu cannot decide) was a tenth of
/// publishing's CPU. Ten times the number is rounded to a whole number
/// unless it is within 1e-5 of a half, where the product's rounding
/// (at most 1e-6 below 2^33) could decide it and `{:.1}` does.
pub(crate) struct Tenths(pub f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        let tens = (x * 10.0).abs();
        if x.is_finite() && tens < 8_589_934_592.0 {
            let whole = tens.floor();
            let fraction = tens - whole;
            if (fraction - 0.5).abs() > 1e-5 {
                let n = if fraction > 0.5 { whole + 1.0 } else { whole } as u64;
                let sign = if x.is_sign_negative() { "-" } else { "" };
                return write!(f, "{sign}{}.{}", n / 10, n % 10);
            }
        }
        write!(f, "{x:.1}")
    }
}

/// The chart's `svg` element, with its accessible title and description;
/// `kind` prefixes their ids (unique on the page with the indicator's id).
fn svg(kind: &str, ind: &Indicator, title: &str, desc: &str, content: Markup) -> Markup {
    let id = |part: &str| format!("{kind}-{}-{part}", ind.id);
    html! {
        svg class="chart" role="img" width=(W) height=(H) viewBox={ "0 0 " (W) " " (H) }
            aria-labelledby={ (id("t")) " " (id("d")) } {
            title id=(id("t")) { (ind.title) ": " (title) }
            desc id=(id("d")) { (desc) }
            (content)
        }
    }
}

fn axes(scale: &Scale, x_label: &str, y_label: &str, x_ticks: &[(f64, String)]) -> Markup {
    let middle = TOP + (H - TOP - BOTTOM) / 2.0;
    html! {
        (shape(format_args!(
            "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" stroke=\"#768692\"/>",
            W - LEFT - RIGHT,
            H - TOP - BOTTOM
        )))
        @for (v, label) in nice_ticks(scale.y0, scale.y1) {
            @let y = scale.y(v);
            (shape(format_args!(
                "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e8edee\"/>",
                W - RIGHT
            )))
            text x=(d1(LEFT - 4.0)) y=(d1(y + 4.0)) font-size="11" text-anchor="end" fill="#212b32" { (label) }
        }
        @for (v, label) in x_ticks {
            @let x = scale.x(*v);
            // Labels at the edges are anchored inwards so they are not clipped.
            @let anchor = if x > W - RIGHT - 24.0 {
                "end"
            } else if x < LEFT + 24.0 {
                "start"
            } else {
                "middle"
            };
            text x=(d1(x)) y=(d1(H - BOTTOM + 14.0)) font-size="11" text-anchor=(anchor) fill="#212b32" { (label) }
        }
        text x=(d1(LEFT + (W - LEFT - RIGHT) / 2.0)) y=(d1(H - 8.0)) font-size="11" text-anchor="middle" fill="#4c6272" { (x_label) }
        text x="12" y=(d1(middle)) font-size="11" text-anchor="middle" fill="#4c6272"
            transform={ "rotate(-90 12 " (d1(middle)) ")" } { (y_label) }
    }
}

fn polyline(points: &[(f64, f64)], style: &str) -> Markup {
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{},{}", Tenths(*x), Tenths(*y)))
        .collect();
    shape(format_args!(
        "<polyline fill=\"none\" {style} points=\"{}\"/>",
        pts.join(" ")
    ))
}

/// `points` (in pixels) without the points a straight line through their
/// neighbours already draws to within a twentieth of a pixel (Ramer–Douglas–
/// Peucker), which is finer than the tenth of a pixel coordinates are written
/// to. The funnel's limit curves flatten out to the right: a national page
/// drew 34 funnels of four 60-point curves, mostly straight.
fn simplified(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    const TOLERANCE: f64 = 0.05;
    fn keep(points: &[(f64, f64)], kept: &mut Vec<bool>, from: usize, to: usize) {
        if to <= from + 1 {
            return;
        }
        let ((x0, y0), (x1, y1)) = (points[from], points[to]);
        let length = (x1 - x0).hypot(y1 - y0).max(1e-12);
        let (mut far, mut at) = (0.0, from);
        for (i, (x, y)) in points.iter().enumerate().take(to).skip(from + 1) {
            let d = ((y1 - y0) * x - (x1 - x0) * y + x1 * y0 - y1 * x0).abs() / length;
            if d > far {
                (far, at) = (d, i);
            }
        }
        if far > TOLERANCE {
            kept[at] = true;
            keep(points, kept, from, at);
            keep(points, kept, at, to);
        }
    }
    if points.len() < 3 {
        return points.to_vec();
    }
    let mut kept = vec![false; points.len()];
    let last = points.len() - 1;
    (kept[0], kept[last]) = (true, true);
    keep(points, &mut kept, 0, last);
    points
        .iter()
        .zip(kept)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

/// A horizontal line across the plot at `y`.
fn across(y: f64, style: &str) -> Markup {
    shape(format_args!(
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" {style}/>",
        W - RIGHT
    ))
}

/// What a spine chart draws: the practice's value and interval, the peer
/// distribution (minimum, quartiles, maximum, and the ends of its box-plot
/// whiskers, which set the scale), the benchmark and the comparison that
/// colours the practice's mark.
pub struct Spine {
    pub value: f64,
    pub lower_95: Option<f64>,
    pub upper_95: Option<f64>,
    /// The peers' minimum, lower quartile, upper quartile and maximum.
    pub peers: [f64; 4],
    /// The peers' most extreme values inside Tukey's fences (see
    /// [`spine_whiskers`]): the scale reaches the further of them.
    pub whiskers: [f64; 2],
    pub benchmark: Option<f64>,
    pub comparison: Comparison,
}

/// The ends of a box plot's whiskers (Tukey): the lowest and highest of
/// `values` within 1.5 interquartile ranges of the quartiles `q1` and `q3`.
/// One extreme practice moves neither, however far out it is.
pub fn spine_whiskers(values: &[f64], q1: f64, q3: f64) -> [f64; 2] {
    let fence = 1.5 * (q3 - q1);
    let (lo_fence, hi_fence) = (q1 - fence, q3 + fence);
    let inside = || {
        values
            .iter()
            .copied()
            .filter(move |v| v.is_finite() && (lo_fence..=hi_fence).contains(v))
    };
    let lo = inside().fold(f64::INFINITY, f64::min);
    let hi = inside().fold(f64::NEG_INFINITY, f64::max);
    if lo <= hi { [lo, hi] } else { [q1, q3] }
}

/// Width of a spine chart, and the margin either side of its scale (room
/// for the practice's mark and an arrow at the edge).
const SPINE_W: f64 = 220.0;
const SPINE_PAD: f64 = 14.0;

/// Where a value falls beyond a spine chart's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beyond {
    Left,
    Right,
}

/// A spine chart's scale: symmetric about `centre` (the benchmark, or the
/// middle of the whiskers when there is none), running `half` either side
/// of it; values beyond are clipped to the edge.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SpineScale {
    centre: f64,
    half: f64,
    flip: bool,
}

impl SpineScale {
    fn new(s: &Spine, polarity: Polarity) -> Self {
        let [lw, uw] = s.whiskers;
        let centre = s.benchmark.unwrap_or((lw + uw) / 2.0);
        let from = |x: f64| (x - centre).abs();
        let mut half = from(lw).max(from(uw));
        if !(half.is_finite() && half > 0.0) {
            // Every peer the same as the centre: reach the practice or the
            // peers' extremes instead, or any width at all.
            let [min, _, _, max] = s.peers;
            half = from(min).max(from(max)).max(from(s.value));
        }
        if !(half.is_finite() && half > 0.0) {
            half = 1.0;
        }
        SpineScale {
            centre,
            half,
            flip: polarity == Polarity::LowIsGood,
        }
    }

    fn lo(&self) -> f64 {
        self.centre - self.half
    }

    /// The x of `val` on the chart, clipped to the scale, and the side it
    /// is beyond if it was clipped.
    fn x(&self, val: f64) -> (f64, Option<Beyond>) {
        let t = (val - self.lo()) / (2.0 * self.half);
        let (t, beyond) = if t < 0.0 {
            (0.0, Some(Beyond::Left))
        } else if t > 1.0 {
            (1.0, Some(Beyond::Right))
        } else {
            (t, None)
        };
        let (t, beyond) = if self.flip {
            let other = beyond.map(|b| match b {
                Beyond::Left => Beyond::Right,
                Beyond::Right => Beyond::Left,
            });
            (1.0 - t, other)
        } else {
            (t, beyond)
        };
        (SPINE_PAD + t * (SPINE_W - 2.0 * SPINE_PAD), beyond)
    }
}

/// An arrowhead just outside the scale's edge on `side`, pointing out.
fn spine_arrow(side: Beyond, y0: f64, y1: f64, style: &str) -> Markup {
    let (edge, out) = match side {
        Beyond::Left => (SPINE_PAD, -1.0),
        Beyond::Right => (SPINE_W - SPINE_PAD, 1.0),
    };
    let (base, tip) = (edge + out * 7.0, edge + out * 12.0);
    shape(format_args!(
        "<polyline fill=\"none\" {style} points=\"{base:.1},{y0:.1} {tip:.1},{:.1} {base:.1},{y1:.1}\"/>",
        (y0 + y1) / 2.0
    ))
}

fn side_word(b: Beyond) -> &'static str {
    match b {
        Beyond::Left => "left",
        Beyond::Right => "right",
    }
}

/// A spine chart: peer range (min–max), interquartile box, benchmark line
/// and the practice's value with its 95% interval. Oriented so that the
/// worse end is always on the left.
///
/// The scale is centred on the benchmark and symmetric about it, as
/// Fingertips draws its spine charts, but runs only as far as the further
/// whisker end (so one extreme practice cannot squash the others): values
/// beyond are drawn at the edge with an arrow pointing out, and the
/// description gives their real values and says they are beyond the scale.
pub fn spine(ind: &Indicator, s: &Spine) -> Markup {
    let [min, q1, q3, max] = s.peers;
    let v = s.value;
    let scale = SpineScale::new(s, ind.polarity);
    let x = |val: f64| scale.x(val).0;
    let (a, b) = (x(min).min(x(max)), x(min).max(x(max)));
    let (c, d) = (x(q1).min(x(q3)), x(q1).max(x(q3)));
    let (vx, v_beyond) = scale.x(v);
    let peers_beyond: Vec<Beyond> = [scale.x(min).1, scale.x(max).1]
        .into_iter()
        .flatten()
        .filter(|b| Some(*b) != v_beyond)
        .collect();
    let f = |x: f64| crate::pages::fmt(Some(x));
    let practice_beyond = match v_beyond {
        Some(side) => format!(
            "; the practice's value, {}, is beyond the scale, drawn at its {} edge with an arrow",
            f(v),
            side_word(side)
        ),
        None => String::new(),
    };
    let peers_note = if scale.x(min).1.is_some() || scale.x(max).1.is_some() {
        "; peers' values beyond the scale are drawn at its edge with an arrow"
    } else {
        ""
    };
    let centred = if s.benchmark.is_some() {
        "the benchmark"
    } else {
        "the middle of the peers' values"
    };
    let desc = format!(
        "Practice {} against peer range {} to {}, middle half {} to {}, benchmark {}; {}. \
         Scale centred on {}, running {} either side of it{}{}. {}",
        f(v),
        f(min),
        f(max),
        f(q1),
        f(q3),
        crate::pages::fmt(s.benchmark),
        wording::comparison_tag(s.comparison).word,
        centred,
        f(scale.half),
        practice_beyond,
        peers_note,
        wording::spine_left(ind.polarity)
    );
    let fill = match s.comparison {
        Comparison::Better => "#005eb8",
        Comparison::Worse => "#ffb81c",
        Comparison::Higher | Comparison::Lower => "#330072",
        _ => "#ffffff",
    };
    let id = |part: &str| format!("sp-{}-{part}", ind.id);
    let w = SPINE_W;
    html! {
        svg class="spine" role="img" width=(w) height="22" viewBox={ "0 0 " (w) " 22" }
            aria-labelledby={ (id("t")) " " (id("d")) } {
            title id=(id("t")) { (ind.title) ": spine chart" }
            desc id=(id("d")) { (desc) }
            (shape(format_args!(
                "<rect x=\"{a:.1}\" y=\"7\" width=\"{:.1}\" height=\"8\" fill=\"#d8dde0\"/>",
                (b - a).max(1.0)
            )))
            (shape(format_args!(
                "<rect x=\"{c:.1}\" y=\"7\" width=\"{:.1}\" height=\"8\" fill=\"#768692\"/>",
                (d - c).max(1.0)
            )))
            @for side in &peers_beyond {
                (spine_arrow(*side, 7.0, 15.0, "stroke=\"#768692\" stroke-width=\"2\""))
            }
            @if let Some(bm) = s.benchmark {
                (shape(format_args!(
                    "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"2\" y2=\"20\" stroke=\"#212b32\" stroke-width=\"2\"/>",
                    x(bm)
                )))
            }
            @if let (Some(l), Some(u)) = (s.lower_95, s.upper_95) {
                (shape(format_args!(
                    "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"11\" y2=\"11\" stroke=\"#212b32\" stroke-width=\"1.5\"/>",
                    x(l),
                    x(u)
                )))
            }
            @if let Some(side) = v_beyond {
                (spine_arrow(side, 4.0, 18.0, "stroke=\"#212b32\" stroke-width=\"2\""))
            }
            (shape(format_args!(
                "<circle cx=\"{vx:.1}\" cy=\"11\" r=\"5\" fill=\"{fill}\" stroke=\"#212b32\" stroke-width=\"1.5\"/>"
            )))
        }
    }
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
) -> Markup {
    let valued: Vec<&&ResultRow> = peers
        .iter()
        .filter(|r| r.value.is_some() && r.denominator.is_some())
        .collect();
    let (Some(value), Some(n)) = (practice.value.get(), practice.denominator.get()) else {
        return html! {};
    };
    if valued.len() < 3 {
        return html! {};
    }
    // A deterministic sample keeps national-scale pages small.
    let step = valued.len().div_ceil(MAX_POINTS).max(1);
    let shown: Vec<&&&ResultRow> = valued.iter().step_by(step).collect();
    let kind = match ind.value_type {
        ValueType::Proportion => FunnelKind::Proportion,
        _ => FunnelKind::Ratio,
    };
    let m = ind.multiplier;
    let od = match (
        practice.benchmark.get(),
        practice.od_phi.get(),
        practice.od_tau2.get(),
    ) {
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
        .filter_map(|r| r.denominator.get())
        .fold(0.0, f64::max)
        * 1.05;
    let n_min = valued
        .iter()
        .filter_map(|r| r.denominator.get())
        .fold(f64::INFINITY, f64::min)
        .max(1.0);
    let mut ys: Vec<f64> = valued.iter().filter_map(|r| r.value.get()).collect();
    let curves = od.as_ref().map_or_else(Vec::new, |od| {
        funnel_limits(od, kind, m, (n_min * 0.8, n_max))
    });
    // The limits are widest at the smallest denominator drawn.
    for first in curves.iter().filter_map(|c| c.first()) {
        ys.push(first.1);
        ys.push(first.2);
    }
    let scale = Scale::over(0.0, n_max, &ys, kind == FunnelKind::Proportion);
    let flag = practice.funnel_flag.map_or("not assessed", |f| f.as_str());
    let desc = format!(
        "{count} practices in peer group {group} by denominator{sampled}. This practice: {v} with denominator {n:.0}, {flag}. Target {target}; 95% limits dashed, 99.8% limits dotted{od}.",
        count = valued.len(),
        sampled = sampled_note(step),
        group = practice.peer_group,
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
    let x_label = format!(
        "Denominator: {}",
        ind.denominator.chars().take(60).collect::<String>()
    );
    let (px, py) = (scale.x(n), scale.y(value));
    let fill = match practice.funnel_flag {
        Some(f) if f.is_outlier() => "#ffb81c",
        _ => "#005eb8",
    };
    let anchor = if px > W / 2.0 { "end" } else { "start" };
    let dx = if px > W / 2.0 { -9.0 } else { 9.0 };
    // One group carries the peers' shared style, so each dot is only its
    // position: a third of the bytes.
    let peers: String = shown
        .iter()
        .filter(|r| r.practice_code != practice.practice_code)
        .map(|r| {
            format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"3\"/>",
                Tenths(scale.x(r.denominator.unwrap_or(0.0))),
                Tenths(scale.y(r.value.unwrap_or(0.0)))
            )
        })
        .collect();
    let content = html! {
        (axes(&scale, &x_label, &ind.units, &nice_ticks(0.0, n_max)))
        @for (curve, dash) in curves.iter().zip(["stroke-dasharray=\"6 3\"", "stroke-dasharray=\"2 2\""]) {
            @let style = format!("stroke=\"#425563\" stroke-width=\"1.2\" {dash}");
            @let lower: Vec<(f64, f64)> = curve.iter().map(|(x, l, _)| (scale.x(*x), scale.y(*l))).collect();
            @let upper: Vec<(f64, f64)> = curve.iter().map(|(x, _, u)| (scale.x(*x), scale.y(*u))).collect();
            (polyline(&simplified(&lower), &style))
            (polyline(&simplified(&upper), &style))
        }
        @if let Some(b) = practice.benchmark.get() {
            (across(scale.y(b), "stroke=\"#212b32\" stroke-width=\"1.5\""))
        }
        (shape(format_args!(
            "<g fill=\"#aeb7bd\" stroke=\"#768692\" stroke-width=\"0.5\">{peers}</g>"
        )))
        (shape(format_args!(
            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"6\" fill=\"{fill}\" stroke=\"#212b32\" stroke-width=\"2\"/>"
        )))
        text x=(d1(px + dx)) y=(d1(py - 8.0)) font-size="12" font-weight="bold" text-anchor=(anchor) fill="#212b32" { "This practice" }
    };
    svg("fn", ind, "funnel plot", &desc, content)
}

/// The 95% and then the 99.8% limits across denominators `from` to `to`
/// (exact on the count where the expected count is small, as the flags), as
/// (denominator, lower, upper) in the indicator's units.
fn funnel_limits(
    od: &Overdispersion,
    kind: FunnelKind,
    multiplier: f64,
    (from, to): (f64, f64),
) -> Vec<Vec<(f64, f64, f64)>> {
    [0.95, 0.998]
        .iter()
        .map(|level| {
            (0..=60)
                .map(|i| from + (to - from) * i as f64 / 60.0)
                .filter_map(|x| {
                    limits_at(od, x, kind, *level)
                        .ok()
                        .map(|(lo, hi)| (x, lo * multiplier, hi * multiplier))
                })
                .collect()
        })
        .collect()
}

/// The practice's own XmR run chart: the charted values (seasonally adjusted
/// for a seasonal indicator, and labelled so), centre line, process limits,
/// and each special-cause point marked by shape and colour.
pub fn run_chart(ind: &Indicator, series: &[&ResultRow]) -> Markup {
    let points: Vec<(usize, &ResultRow, f64)> = series
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.spc_value.map(|v| (i, *r, v)))
        .collect();
    let Some((_, last, last_charted)) = points.last().copied() else {
        return html! {};
    };
    let (Some(centre), Some(lower), Some(upper)) = (
        last.spc_centre.get(),
        last.spc_lower.get(),
        last.spc_upper.get(),
    ) else {
        return html! {};
    };
    let adjusted = last.spc_seasonally_adjusted == Some(true);
    let mut ys: Vec<f64> = points.iter().map(|p| p.2).collect();
    ys.extend([centre, lower, upper]);
    let scale = Scale::over(0.0, (series.len().max(2) - 1) as f64, &ys, false);
    let signals = points.iter().filter(|p| p.1.spc_signal.is_some()).count();
    let desc = format!(
        "{n} points from {first} to {lastp}{scale_note}. Mean {c}, process limits {l} to {u}{trial}. {signals} special-cause points; latest point: {latest}.",
        n = points.len(),
        first = series[0].period,
        lastp = last.period,
        scale_note = if adjusted {
            ", seasonally adjusted"
        } else {
            ""
        },
        c = num(centre),
        l = num(lower),
        u = num(upper),
        trial = if last.spc_trial == Some(true) {
            " (trial limits: fewer than 12 points)"
        } else {
            ""
        },
        latest = wording::variation_plain(last.spc_variation),
    );
    let ticks = period_ticks(series.iter().map(|r| r.period.as_str()));
    let line: Vec<(f64, f64)> = points
        .iter()
        .map(|(i, _, v)| (scale.x(*i as f64), scale.y(*v)))
        .collect();
    let common: String = points
        .iter()
        .filter(|p| !special(p.1.spc_variation))
        .map(|(i, _, v)| {
            format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"3\"/>",
                Tenths(scale.x(*i as f64)),
                Tenths(scale.y(*v))
            )
        })
        .collect();
    let content = html! {
        (axes(&scale, "Month", &ind.units, &ticks))
        @for (v, dash) in [(upper, "stroke-dasharray=\"6 3\""), (lower, "stroke-dasharray=\"6 3\""), (centre, "")] {
            (across(scale.y(v), &format!("stroke=\"#425563\" stroke-width=\"1.2\" {dash}")))
        }
        (polyline(&line, "stroke=\"#768692\" stroke-width=\"1.5\""))
        // Common-cause points share one group's style (each is then only
        // its position); special causes are drawn over them.
        (shape(format_args!("<g fill=\"#ffffff\" stroke=\"#425563\">{common}</g>")))
        @for (i, r, v) in points.iter().filter(|p| special(p.1.spc_variation)) {
            (run_point(scale.x(*i as f64), scale.y(*v), r.spc_variation))
        }
    };
    let title = if adjusted {
        "run chart with process limits, seasonally adjusted"
    } else {
        "run chart with process limits"
    };
    html! {
        @if let Some(note) = wording::season_note(ind.seasonal, adjusted, &last.value.map_or("–".into(), num), &num(last_charted)) {
            p class="meta" { (note) }
        }
        (svg("rc", ind, title, &desc, content))
    }
}

/// Whether a run chart's point is marked as a special cause.
fn special(variation: Option<Variation>) -> bool {
    matches!(
        variation,
        Some(Variation::Improvement | Variation::Concern | Variation::Neutral)
    )
}

/// A run chart's special-cause point: a square for improvement, a triangle
/// for concern, a filled dot for a special cause on a context indicator.
fn run_point(x: f64, y: f64, variation: Option<Variation>) -> Markup {
    match variation {
        Some(Variation::Improvement) => shape(format_args!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"#005eb8\" stroke=\"#212b32\"/>",
            x - 4.5,
            y - 4.5
        )),
        Some(Variation::Concern) => shape(format_args!(
            "<path d=\"M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"#ffb81c\" stroke=\"#212b32\"/>",
            y - 6.0,
            x + 5.5,
            y + 4.0,
            x - 5.5,
            y + 4.0
        )),
        _ => shape(format_args!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4.5\" fill=\"#330072\" stroke=\"#212b32\"/>"
        )),
    }
}

/// A caterpillar plot: every practice in a peer group in the latest period,
/// ranked by value, each with its 95% interval, against the peer benchmark.
/// Works for every value type, including directly standardised rates, which
/// have no funnel. `highlight` marks one practice (on its own page).
pub fn caterpillar(ind: &Indicator, rows: &[&ResultRow], highlight: Option<&str>) -> Markup {
    // (row, value, lower 95%, upper 95%)
    type Ranked<'r> = (&'r ResultRow, f64, f64, f64);
    let mut valued: Vec<Ranked> = rows
        .iter()
        .filter_map(
            |r| match (r.value.get(), r.lower_95.get(), r.upper_95.get()) {
                (Some(v), Some(l), Some(u)) => Some((*r, v, l, u)),
                _ => None,
            },
        )
        .collect();
    if valued.len() < 3 {
        return html! {};
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
    let count = |c: Comparison| valued.iter().filter(|r| r.0.comparison == c).count();
    use Comparison::{Better, Higher, Lower, Worse};
    let first = valued[0].0;
    let desc = format!(
        "{n} practices in peer group {group}{sampled}, {period}, ranked from lowest to highest value, each with its 95% confidence interval; peer benchmark {b} (solid line). {better} better or higher than the benchmark, {worse} worse or lower{this}.",
        n = valued.len(),
        sampled = sampled_note(step),
        group = first.peer_group,
        period = first.period,
        b = benchmark.map_or("–".into(), num),
        better = count(Better) + count(Higher),
        worse = count(Worse) + count(Lower),
        this = highlight
            .and_then(|h| valued
                .iter()
                .position(|r| *r.0.practice_code == *h)
                .map(|i| (h, i)))
            .map_or(String::new(), |(h, i)| format!(
                "; this practice ({h}) is ranked {} of {}",
                i + 1,
                valued.len()
            )),
    );
    let every = valued.len().div_ceil(5).max(1);
    let ticks: Vec<(f64, String)> = (0..valued.len())
        .filter(|i| i % every == 0)
        .map(|i| (i as f64, format!("{}", i + 1)))
        .collect();
    let mark = shown
        .iter()
        .find(|(_, r)| Some(r.0.practice_code.as_str()) == highlight)
        .map(|(i, r)| (scale.x(*i as f64), scale.y(r.1), scale.y(r.3)));
    let content = html! {
        (axes(&scale, "Practices, ranked by value", &ind.units, &ticks))
        @if let Some(b) = benchmark.get() {
            (across(scale.y(b), "stroke=\"#212b32\" stroke-width=\"1.5\""))
        }
        @for (i, (r, v, l, u)) in &shown {
            @let x = scale.x(*i as f64);
            @let this = Some(r.practice_code.as_str()) == highlight;
            (shape(format_args!(
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"{}\"/>",
                scale.y(*l),
                scale.y(*u),
                if this { "#212b32" } else { "#768692" },
                if this { 2.5 } else { 1.0 }
            )))
            (ranked_mark(x, scale.y(*v), r.comparison))
        }
        @if let Some((x, yv, yu)) = mark {
            (shape(format_args!(
                "<circle cx=\"{x:.1}\" cy=\"{yv:.1}\" r=\"6\" fill=\"none\" stroke=\"#212b32\" stroke-width=\"2\"/>"
            )))
            text x=(d1(x + if x > W / 2.0 { -8.0 } else { 8.0 })) y=(d1((yu - 6.0).max(TOP + 12.0)))
                font-size="12" font-weight="bold" text-anchor=(if x > W / 2.0 { "end" } else { "start" })
                fill="#212b32" { "This practice" }
        }
    };
    svg(
        "cp",
        ind,
        "practices ranked, with 95% intervals",
        &desc,
        content,
    )
}

/// A ranked practice's mark, by shape as well as colour: a square better
/// or higher, a triangle worse or lower, a dot otherwise.
fn ranked_mark(x: f64, y: f64, comparison: Comparison) -> Markup {
    match comparison {
        Comparison::Better | Comparison::Higher => shape(format_args!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"#005eb8\"/>",
            x - 3.0,
            y - 3.0
        )),
        Comparison::Worse | Comparison::Lower => shape(format_args!(
            "<path d=\"M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\" fill=\"#ffb81c\" stroke=\"#212b32\" stroke-width=\"0.5\"/>",
            y - 4.0,
            x + 3.5,
            y + 3.0,
            x - 3.5,
            y + 3.0
        )),
        _ => shape(format_args!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"#aeb7bd\" stroke=\"#425563\" stroke-width=\"0.5\"/>"
        )),
    }
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
pub fn trend_chart(ind: &Indicator, points: &[TrendPoint]) -> Markup {
    let usable: Vec<(usize, &TrendPoint, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.benchmark.map(|b| (i, p, b)))
        .collect();
    if usable.len() < 2 {
        return html! {};
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
    let desc = format!(
        "Pooled peer value from {p0} ({v0}) to {p1} ({v1}); shaded band the middle half of practices, dashed line their median.",
        p0 = first.1.period,
        v0 = num(first.2),
        p1 = last.1.period,
        v1 = num(last.2),
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
    let mut d = String::new();
    for (k, (x, _, y3)) in band.iter().enumerate() {
        let (x, y3) = (Tenths(*x), Tenths(*y3));
        let _ = write!(d, "{}{x} {y3} ", if k == 0 { "M" } else { "L" });
    }
    for (x, y1, _) in band.iter().rev() {
        let (x, y1) = (Tenths(*x), Tenths(*y1));
        let _ = write!(d, "L{x} {y1} ");
    }
    let median: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.median.map(|m| (scale.x(i as f64), scale.y(m))))
        .collect();
    let line: Vec<(f64, f64)> = usable
        .iter()
        .map(|(i, _, b)| (scale.x(*i as f64), scale.y(*b)))
        .collect();
    let ticks = period_ticks(points.iter().map(|p| p.period.as_str()));
    let content = html! {
        (axes(&scale, "Period", &ind.units, &ticks))
        @if band.len() >= 2 {
            (shape(format_args!(
                "<path d=\"{d}Z\" fill=\"#c8d2d8\" stroke=\"#768692\" stroke-width=\"0.8\"/>"
            )))
        }
        (polyline(&median, "stroke=\"#425563\" stroke-width=\"1.2\" stroke-dasharray=\"5 3\""))
        (polyline(&line, "stroke=\"#005eb8\" stroke-width=\"2.5\""))
        @for (x, y) in &line {
            (shape(format_args!("<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"#005eb8\"/>", Tenths(*x), Tenths(*y))))
        }
    };
    svg("tr", ind, "federation trend", &desc, content)
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
        // Drop a tick whose label would touch the last one's. The last is
        // anchored at its end (see `axes`), so it reaches a whole label's
        // width to the left, and the one before half a width to the right:
        // a 7-character label at 11px is about 43px wide, and with 24
        // months "2026-06" ran into "2026-09".
        const CLEAR: f64 = 70.0;
        let step = (W - LEFT - RIGHT) / last.max(1) as f64;
        let before = ticks.last().map_or(0, |t| t.0 as usize);
        if (last - before) as f64 * step < CLEAR {
            ticks.pop();
        }
        ticks.push((last as f64, all[last].to_string()));
    }
    ticks
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use peerbench_stats::quantile_type7;

    use super::{
        Beyond, Comparison, Indicator, Polarity, Spine, SpineScale, Tenths, nice_ticks, spine,
        spine_whiskers,
    };

    #[test]
    fn tenths_are_written_as_the_standard_library_writes_them() {
        let mut values = vec![
            0.0,
            -0.0,
            0.05,
            -0.05,
            0.25,
            0.35,
            -0.25,
            0.04,
            -0.04,
            0.95,
            9.95,
            99.95,
            1e-300,
            -1e-300,
            858_993_459.15,
            1e12 + 0.05,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        // Every exact and near half at one decimal place, and the numbers
        // either side of each by a few units in the last place.
        for k in -20_000..20_000 {
            let half = (k as f64 + 0.5) / 10.0;
            let mut v = f64::from_bits(half.to_bits().saturating_sub(3));
            for _ in 0..7 {
                values.push(v);
                v = f64::from_bits(v.to_bits() + 1);
            }
            values.push(k as f64 / 20.0);
        }
        // Pseudo-random numbers over many scales, as coordinates and values.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let unit = (seed >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi((seed % 24) as i32 - 8);
            values.push((unit - 0.3) * scale);
        }
        for v in values {
            assert_eq!(Tenths(v).to_string(), format!("{v:.1}"), "{v:e}");
        }
    }

    /// Ten ordinary peers 40, 42, …, 58 around a benchmark of 50, and one
    /// extreme practice at 1000 (the value given).
    fn extreme_spine(value: f64) -> Spine {
        let mut values: Vec<f64> = (0..10).map(|i| 40.0 + 2.0 * f64::from(i)).collect();
        values.push(1000.0);
        let q = |p| quantile_type7(&values, p).expect("quantile");
        let (q1, q3) = (q(0.25), q(0.75));
        Spine {
            value,
            lower_95: None,
            upper_95: None,
            peers: [q(0.0), q1, q3, q(1.0)],
            whiskers: spine_whiskers(&values, q1, q3),
            benchmark: Some(50.0),
            comparison: Comparison::Similar,
        }
    }

    #[test]
    fn one_extreme_practice_does_not_squash_the_others() {
        let s = extreme_spine(1000.0);
        // Quartiles 45 and 55 (type 7); Tukey's fences 30 and 70, so the
        // whiskers end at 40 and 58 and 1000 is outside them.
        assert_eq!(s.peers, [40.0, 45.0, 55.0, 1000.0]);
        assert_eq!(s.whiskers, [40.0, 58.0]);
        let scale = SpineScale::new(&s, Polarity::HighIsGood);
        // Centred on the benchmark, reaching the further whisker (40).
        assert_eq!((scale.centre, scale.half), (50.0, 10.0));
        assert_eq!((scale.lo(), scale.centre + scale.half), (40.0, 60.0));
        // The scale's 192 px run from x = 14 (40) to x = 206 (60).
        assert_eq!(scale.x(40.0), (14.0, None));
        assert_eq!(scale.x(45.0), (62.0, None));
        assert_eq!(scale.x(50.0), (110.0, None));
        assert_eq!(scale.x(55.0), (158.0, None));
        assert_eq!(scale.x(60.0), (206.0, None));
        // The middle half of the peers spans half the chart (96 px); on a
        // minimum-to-maximum scale it would have had 192 × 10 / 960 = 2 px.
        assert_eq!(scale.x(55.0).0 - scale.x(45.0).0, 96.0);
        // The extreme is clipped to the edge, and says so.
        assert_eq!(scale.x(1000.0), (206.0, Some(Beyond::Right)));
        assert_eq!(scale.x(-5.0), (14.0, Some(Beyond::Left)));
        // Low is good: the worse end (high) is on the left.
        let flipped = SpineScale::new(&s, Polarity::LowIsGood);
        assert_eq!(flipped.x(45.0), (158.0, None));
        assert_eq!(flipped.x(1000.0), (14.0, Some(Beyond::Left)));
    }

    #[test]
    fn whiskers_ignore_one_extreme_in_a_small_group() {
        let values = [10.0, 11.0, 12.0, 13.0, 500.0];
        let q = |p| quantile_type7(&values, p).expect("quantile");
        assert_eq!((q(0.25), q(0.75)), (11.0, 13.0));
        assert_eq!(spine_whiskers(&values, 11.0, 13.0), [10.0, 13.0]);
    }

    #[test]
    fn flat_peers_still_give_a_scale() {
        let s = Spine {
            value: 7.0,
            lower_95: None,
            upper_95: None,
            peers: [5.0; 4],
            whiskers: [5.0, 5.0],
            benchmark: Some(5.0),
            comparison: Comparison::Similar,
        };
        let scale = SpineScale::new(&s, Polarity::HighIsGood);
        assert_eq!((scale.centre, scale.half), (5.0, 2.0));
        assert_eq!(scale.x(7.0), (206.0, None));
    }

    fn indicator(polarity: &str) -> Indicator {
        let text = format!(
            "/*\nid = \"x\"\ntitle = \"X\"\ndomain = \"clinical\"\nvalue_type = \"rate\"\nmultiplier = 1000\npolarity = \"{polarity}\"\nnumerator = \"n\"\ndenominator = \"d\"\ndefinition = \"d\"\nsource = \"s\"\nmin_denominator = 30\n*/\nSELECT 1"
        );
        Indicator::parse(Path::new("x.sql"), &text).expect("fixture indicator")
    }

    #[test]
    fn the_extreme_practice_is_drawn_at_the_edge_and_described() {
        let svg = spine(&indicator("high_is_good"), &extreme_spine(1000.0)).into_string();
        assert!(
            svg.contains(
                "Practice 1000 against peer range 40.0 to 1000, middle half 45.0 to 55.0, \
                 benchmark 50.0; Similar. Scale centred on the benchmark, running 10.0 either \
                 side of it; the practice's value, 1000, is beyond the scale, drawn at its right \
                 edge with an arrow; peers' values beyond the scale are drawn at its edge with an \
                 arrow."
            ),
            "{svg}"
        );
        assert!(
            svg.contains("Scale centred on the benchmark, running 10.0 either side of it"),
            "{svg}"
        );
        // Its mark is at the right edge, with an arrow pointing out.
        assert!(svg.contains("<circle cx=\"206.0\""), "{svg}");
        assert!(
            svg.contains("points=\"213.0,4.0 218.0,11.0 213.0,18.0\""),
            "{svg}"
        );
        // An ordinary practice: in place, no arrow for it, and a grey one
        // for the peer beyond the scale.
        let svg = spine(&indicator("low_is_good"), &extreme_spine(45.0)).into_string();
        assert!(svg.contains("Practice 45.0 against"), "{svg}");
        assert!(svg.contains("<circle cx=\"158.0\""), "{svg}");
        assert!(
            svg.contains("peers' values beyond the scale are drawn at its edge"),
            "{svg}"
        );
        assert!(
            svg.contains("points=\"7.0,7.0 2.0,11.0 7.0,15.0\""),
            "{svg}"
        );
    }

    /// The last month's label never runs into the one before it: with the
    /// last anchored at its end, their ticks are at least 70px apart.
    #[test]
    fn period_labels_keep_clear_of_the_last() {
        for n in 2..=60 {
            let periods: Vec<String> = (0..n)
                .map(|i| format!("{}-{:02}", 2020 + i / 12, i % 12 + 1))
                .collect();
            let ticks = super::period_ticks(periods.iter().map(String::as_str));
            let step = (super::W - super::LEFT - super::RIGHT) / (n - 1) as f64;
            assert_eq!(ticks.last().unwrap().1, periods[n - 1], "{n} periods");
            assert_eq!(ticks[0].1, periods[0], "{n} periods");
            if let [.., a, b] = &ticks[..] {
                assert!((b.0 - a.0) * step >= 70.0, "{n} periods: {ticks:?}");
            }
        }
    }

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
