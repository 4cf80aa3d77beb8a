//! One verdict per indicator (issue 15): the practice page, the board's heat
//! map and summary, and "Areas to look at" lead with one comparison, chosen
//! by the pipeline (`[reports] verdict`), and give the other as a
//! descriptive second line, saying which to act on when they seem to
//! disagree.
//!
//! - `funnel` (the default): the practice's place on the peer funnel, which
//!   allows for the normal variation between practices (Spiegelhalter's
//!   overdispersion adjustment). Better or worse means outside the 99.8%
//!   limits: what a board should act on. Age-standardised rates have no
//!   funnel, and a funnel is not shown where disclosure control withholds
//!   it or the group is too small to estimate the variation: those lead with
//!   the interval comparison, labelled as such.
//! - `interval`: the Fingertips comparison of the practice's 95% interval
//!   with the peer benchmark. With large lists and real differences between
//!   practices it marks many practices better or worse.
//!
//! Everything here reads a row through the page's disclosure [`View`]: a
//! verdict never shows what the view hides (a hidden value is not
//! compared; a withheld funnel is neither shown nor used to rank).

use peerbench_catalogue::{Indicator, ValueType};
use peerbench_compare::ResultRow;
use peerbench_stats::{Comparison, FunnelFlag, Polarity};

use crate::disclosure::{View, Withheld};
use crate::wording::{self, IntervalLevel};

/// Which comparison leads a report's verdicts (`[reports] verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerdictLead {
    /// The overdispersion-adjusted funnel position.
    #[default]
    Funnel,
    /// The 95% interval against the peer benchmark (Fingertips).
    Interval,
}

impl VerdictLead {
    pub fn parse(s: &str) -> Option<VerdictLead> {
        match s {
            "funnel" => Some(VerdictLead::Funnel),
            "interval" => Some(VerdictLead::Interval),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VerdictLead::Funnel => "funnel",
            VerdictLead::Interval => "interval",
        }
    }
}

/// What a verdict was judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Basis {
    Funnel,
    Interval,
}

/// One indicator's verdict for one practice, as a page shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// The category its tag says and colours (Better, Similar, Worse,
    /// Higher, Lower, Not compared).
    pub tag: Comparison,
    /// What it was judged on: the report's lead, or the interval where the
    /// funnel leads but the indicator or period has none.
    pub basis: Basis,
    /// The verdict in plain words.
    pub lead: String,
    /// The other comparison, descriptive, with which to act on where the
    /// two seem to disagree; None when there is nothing to add.
    pub second: Option<String>,
    /// How far from the peer value, in standard deviations on the verdict's
    /// own scale (the funnel's z-score, or the value's distance from the
    /// benchmark in its 95% interval's standard errors), for ranking: most
    /// outside the limits first. None where the view shows no such thing.
    pub distance: Option<f64>,
}

/// z for 95%, as the intervals use it.
const Z95: f64 = 1.959_963_984_540_054;

/// The verdict of a row (its indicator's latest, usually) as `view` may show it.
pub(crate) fn verdict(view: &View, ind: &Indicator, r: &ResultRow, lead: VerdictLead) -> Verdict {
    if let Some(h) = view.hidden(r) {
        return Verdict {
            tag: Comparison::NotCompared,
            basis: Basis::Interval,
            lead: h.words().to_string(),
            second: None,
            distance: None,
        };
    }
    let interval = view.comparison(r);
    // Why it was not compared: the row's own reason (no value, too small a
    // denominator or group) first, else the page's disclosure control
    // withholding the peer benchmark.
    let not_compared_why = || {
        r.not_compared_reason
            .as_deref()
            .and_then(wording::not_compared_why)
            .or_else(|| {
                (view.withheld(r) == Some(Withheld::Pooled)).then_some(wording::BENCHMARK_WITHHELD)
            })
    };
    if interval == Comparison::NotCompared
        && view.comparison_998(r) == Comparison::NotCompared
        && view.funnel_flag(r).is_none()
        && let Some(why) = not_compared_why()
    {
        return Verdict {
            tag: Comparison::NotCompared,
            basis: Basis::Interval,
            lead: upper_first(why),
            second: None,
            distance: None,
        };
    }
    let flag = view.funnel_flag(r);
    let words_95 = interval_words(interval, r, IntervalLevel::P95);
    let funnel_words = flag.map(funnel_words);
    match (lead, flag) {
        (VerdictLead::Funnel, Some(f)) => {
            let tag = funnel_category(f, ind.polarity);
            let second = (interval != Comparison::NotCompared).then(|| {
                if agree(tag, interval) {
                    words_95.clone()
                } else {
                    format!(
                        "{words_95}, but by no more than normal variation between practices explains: act on the funnel."
                    )
                }
            });
            Verdict {
                tag,
                basis: Basis::Funnel,
                lead: funnel_words.unwrap_or_default(),
                second,
                distance: view.funnel_z(r).map(f64::abs),
            }
        }
        (VerdictLead::Funnel, None) => {
            let why = if ind.value_type == ValueType::Dsr {
                "no funnel for an age-standardised rate".to_string()
            } else if let Some(not_shown) = view.funnel_not_shown(r) {
                format!("the funnel is {}", lower_first(not_shown))
            } else {
                "no funnel for this peer group and period".to_string()
            };
            // Judged on the 99.8% interval, the funnel's level: a 95%
            // interval here would flag what the page says only describes
            // (one indicator in twenty by chance alone), under a heading of
            // what boards act on.
            let judged = view.comparison_998(r);
            let judged_words = interval_words(judged, r, IntervalLevel::P998);
            // The 99.8% interval is the wider: where the two differ, the
            // 95% lies beyond the benchmark and the 99.8% includes it.
            let second = match (judged, interval) {
                (_, Comparison::NotCompared) => None,
                (j, i) if j == i => None,
                (Comparison::NotCompared, _) => Some(words_95),
                _ => Some(format!(
                    "{words_95}, but not by enough to flag: its 99.8% interval includes the benchmark."
                )),
            };
            Verdict {
                tag: judged,
                basis: Basis::Interval,
                lead: if judged == Comparison::NotCompared {
                    judged_words
                } else {
                    format!("{judged_words} (judged on its interval: {why})")
                },
                second,
                distance: interval_distance(view, r),
            }
        }
        (VerdictLead::Interval, _) => {
            let second = funnel_words.map(|w| {
                let on = format!("On the peer funnel: {}", lower_first(&w));
                if agree(interval, flag.map_or(interval, |f| funnel_category(f, ind.polarity))) {
                    on
                } else {
                    format!(
                        "{on}. The funnel allows for normal variation between practices; outside its 99.8% limits is what boards act on."
                    )
                }
            });
            Verdict {
                tag: interval,
                basis: Basis::Interval,
                lead: words_95,
                second,
                distance: interval_distance(view, r),
            }
        }
    }
}

/// Whether two categories say the same thing (both beyond, on the same side,
/// or both not).
fn agree(a: Comparison, b: Comparison) -> bool {
    a == b || a == Comparison::NotCompared || b == Comparison::NotCompared
}

/// A funnel position as a verdict's category: beyond the 99.8% limits is
/// better or worse (higher or lower without a polarity); anything inside
/// them is similar.
pub(crate) fn funnel_category(f: FunnelFlag, p: Polarity) -> Comparison {
    match (f, p) {
        (FunnelFlag::High998, Polarity::HighIsGood) | (FunnelFlag::Low998, Polarity::LowIsGood) => {
            Comparison::Better
        }
        (FunnelFlag::High998, Polarity::LowIsGood) | (FunnelFlag::Low998, Polarity::HighIsGood) => {
            Comparison::Worse
        }
        (FunnelFlag::High998, Polarity::NoJudgement) => Comparison::Higher,
        (FunnelFlag::Low998, Polarity::NoJudgement) => Comparison::Lower,
        _ => Comparison::Similar,
    }
}

/// A funnel position as the lead of a verdict.
fn funnel_words(f: FunnelFlag) -> String {
    wording::funnel_verdict(f).to_string()
}

/// An interval comparison in words: which side of the benchmark the
/// practice's interval at `level` lies.
fn interval_words(c: Comparison, r: &ResultRow, level: IntervalLevel) -> String {
    let above = match (r.value.get(), r.benchmark.get()) {
        (Some(v), Some(b)) => v > b,
        _ => false,
    };
    wording::interval_verdict(c, above, level)
}

/// How far the value lies from the benchmark in standard errors of its 95%
/// interval (the half-width on the benchmark's side over 1.96): beyond 1.96
/// exactly when the interval excludes the benchmark.
fn interval_distance(view: &View, r: &ResultRow) -> Option<f64> {
    if view.comparison(r) == Comparison::NotCompared {
        return None;
    }
    let (v, b, lo, hi) = (
        r.value.get()?,
        view.benchmark(r)?,
        r.lower_95.get()?,
        r.upper_95.get()?,
    );
    let half = if v >= b { v - lo } else { hi - v };
    (half > 0.0).then(|| (v - b).abs() / (half / Z95))
}

fn upper_first(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    out
}

fn lower_first(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_lowercase();
    }
    out
}

/// Verdicts of one kind (say, every Worse) ranked most outside the limits
/// first; those without a distance last, then by name.
pub(crate) fn rank<T>(items: &mut [(T, &str, Option<f64>)]) {
    items.sort_by(|a, b| {
        let d = |x: Option<f64>| x.map_or(f64::NEG_INFINITY, |d| d);
        d(b.2).total_cmp(&d(a.2)).then_with(|| a.1.cmp(b.1))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::{Disclosure, Suppression};
    use peerbench_compare::Opt64;
    use peerbench_stats::TrendLabel;

    fn row(flag: Option<FunnelFlag>, z: Option<f64>, c: Comparison) -> ResultRow {
        ResultRow {
            indicator_id: "x".into(),
            practice_code: "A81000".into(),
            period: "2026-09".into(),
            peer_group: "federation".into(),
            peer_group_key: "F".into(),
            peer_group_size: 30,
            numerator: Opt64::some(300.0),
            denominator: Opt64::some(1000.0),
            value: Opt64::some(30.0),
            lower_95: Opt64::some(27.2),
            upper_95: Opt64::some(32.9),
            lower_998: Opt64::NONE,
            upper_998: Opt64::NONE,
            benchmark: Opt64::some(25.0),
            peer_median: Opt64::NONE,
            percentile_rank: Opt64::NONE,
            comparison: c,
            comparison_998: c,
            funnel_lower_95: Opt64::NONE,
            funnel_upper_95: Opt64::NONE,
            funnel_lower_998: Opt64::NONE,
            funnel_upper_998: Opt64::NONE,
            funnel_flag: flag,
            funnel_flag_unadjusted: None,
            funnel_z: z.into(),
            od_phi: Opt64::some(4.0),
            od_tau2: Opt64::some(0.01),
            spc_signal: None,
            spc_variation: None,
            spc_value: Opt64::NONE,
            spc_seasonally_adjusted: None,
            spc_centre: Opt64::NONE,
            spc_lower: Opt64::NONE,
            spc_upper: Opt64::NONE,
            spc_trial: None,
            trend: TrendLabel::CannotBeCalculated,
            not_compared_reason: None,
        }
    }

    fn indicator(value_type: &str, polarity: &str) -> Indicator {
        let text = format!(
            "/*\nid = \"x\"\ntitle = \"X\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"{value_type}\"\npolarity = \"{polarity}\"\ndefinition = \"x\"\nsource = \"s\"\n*/\nSELECT 1"
        );
        Indicator::parse(std::path::Path::new("x.sql"), &text).unwrap()
    }

    #[test]
    fn the_funnel_leads_and_the_interval_follows_saying_which_to_act_on() {
        let sup = Suppression::default();
        let view = View {
            own: Disclosure::Exact,
            peers: Disclosure::Exact,
            sup: &sup,
        };
        let ind = indicator("proportion", "low_is_good");
        // Worse on its interval, within the funnel's limits: Similar leads.
        let r = row(Some(FunnelFlag::High95), Some(2.4), Comparison::Worse);
        let v = verdict(&view, &ind, &r, VerdictLead::Funnel);
        assert_eq!(v.tag, Comparison::Similar);
        assert_eq!(v.basis, Basis::Funnel);
        assert_eq!(
            v.lead,
            "Within the range expected from normal variation between practices (above the 95% limit, inside the 99.8%)"
        );
        assert_eq!(
            v.second.as_deref(),
            Some(
                "Its 95% interval is entirely above the peer benchmark, but by no more than normal variation between practices explains: act on the funnel."
            )
        );
        assert_eq!(v.distance, Some(2.4));
        // The same row with the interval leading.
        let v = verdict(&view, &ind, &r, VerdictLead::Interval);
        assert_eq!(v.tag, Comparison::Worse);
        assert_eq!(
            v.lead,
            "Its 95% interval is entirely above the peer benchmark"
        );
        assert!(v.second.unwrap().starts_with(
            "On the peer funnel: within the range expected from normal variation between practices (above the 95% limit, inside the 99.8%). The funnel allows"
        ));
        // (30 − 25) / ((30 − 27.2) / 1.96) = 3.5
        assert!((v.distance.unwrap() - 3.49993).abs() < 1e-4);
        // Beyond the 99.8% limit: Worse for a low-is-good indicator, Higher
        // for context; the interval agrees, so it is said plainly.
        let r = row(Some(FunnelFlag::High998), Some(-4.0), Comparison::Worse);
        let v = verdict(&view, &ind, &r, VerdictLead::Funnel);
        assert_eq!(v.tag, Comparison::Worse);
        assert_eq!(
            v.lead,
            "Higher than normal variation between practices explains (above the 99.8% limit)"
        );
        assert_eq!(
            v.second.as_deref(),
            Some("Its 95% interval is entirely above the peer benchmark")
        );
        assert_eq!(v.distance, Some(4.0));
        let context = indicator("proportion", "no_judgement");
        assert_eq!(
            verdict(&view, &context, &r, VerdictLead::Funnel).tag,
            Comparison::Higher
        );
        // An age-standardised rate has no funnel: its interval leads, and says so.
        let dsr = indicator("dsr", "low_is_good");
        let v = verdict(
            &view,
            &dsr,
            &row(None, None, Comparison::Worse),
            VerdictLead::Funnel,
        );
        assert_eq!(v.tag, Comparison::Worse);
        assert_eq!(v.basis, Basis::Interval);
        assert_eq!(
            v.lead,
            "Its 99.8% interval is entirely above the peer benchmark (judged on its interval: no funnel for an age-standardised rate)"
        );
        assert_eq!(v.second, None);
        // Held to the funnel's bar: beyond the benchmark at 95% but not at
        // 99.8% is Similar, and the 95% is said as a description.
        let r = ResultRow {
            comparison_998: Comparison::Similar,
            ..row(None, None, Comparison::Worse)
        };
        let v = verdict(&view, &dsr, &r, VerdictLead::Funnel);
        assert_eq!(v.tag, Comparison::Similar);
        assert_eq!(
            v.lead,
            "Its 99.8% interval includes the peer benchmark (judged on its interval: no funnel for an age-standardised rate)"
        );
        assert_eq!(
            v.second.as_deref(),
            Some(
                "Its 95% interval is entirely above the peer benchmark, but not by enough to flag: its 99.8% interval includes the benchmark."
            )
        );
        // With the interval leading, the 95% interval judges, as Fingertips.
        assert_eq!(
            verdict(&view, &dsr, &r, VerdictLead::Interval).tag,
            Comparison::Worse
        );
    }

    #[test]
    fn a_withheld_funnel_is_neither_shown_nor_ranked() {
        let r = row(Some(FunnelFlag::High998), Some(5.0), Comparison::Worse);
        let mut sup = Suppression::default();
        sup.withhold_for_test(&r, crate::disclosure::Withheld::Members);
        let board = View {
            own: Disclosure::Standard,
            peers: Disclosure::Standard,
            sup: &sup,
        };
        let v = verdict(
            &board,
            &indicator("proportion", "low_is_good"),
            &r,
            VerdictLead::Funnel,
        );
        assert_eq!(v.basis, Basis::Interval);
        assert_eq!(v.tag, Comparison::Worse);
        assert!(v.lead.ends_with(
            "(judged on its interval: the funnel is not shown, to protect a small count elsewhere)"
        ));
        assert!(v.lead.starts_with("Its 99.8% interval"), "{}", v.lead);
        assert!(!v.lead.contains("99.8% limit"));
        assert_ne!(v.distance, Some(5.0));
    }

    #[test]
    fn not_compared_says_why_without_its_figures() {
        let sup = Suppression::default();
        let view = View {
            own: Disclosure::Standard,
            peers: Disclosure::Standard,
            sup: &sup,
        };
        let ind = indicator("proportion", "low_is_good");
        let r = ResultRow {
            not_compared_reason: Some("denominator 13 below the minimum of 20".into()),
            value: Opt64::NONE,
            ..row(None, None, Comparison::NotCompared)
        };
        for lead in [VerdictLead::Funnel, VerdictLead::Interval] {
            let v = verdict(&view, &ind, &r, lead);
            assert_eq!(v.tag, Comparison::NotCompared);
            assert_eq!(
                v.lead,
                "Its denominator is below the indicator's minimum for a comparison"
            );
        }
        let r = ResultRow {
            not_compared_reason: Some(
                "only 2 practices with data in peer group pcn (at least 3 needed); funnel: only 2 practices with data in peer group pcn (at least 10 needed to estimate overdispersion)".into(),
            ),
            ..r
        };
        assert_eq!(
            verdict(&view, &ind, &r, VerdictLead::Funnel).lead,
            "Too few practices in its peer group have data to compare with"
        );
        // A reason about the funnel alone is not why the interval was not
        // compared: the words stay as they were.
        let r = ResultRow {
            not_compared_reason: Some("funnel: not drawn for a directly standardised rate".into()),
            ..r
        };
        assert_eq!(
            verdict(&view, &ind, &r, VerdictLead::Interval).lead,
            "Not compared"
        );
    }

    #[test]
    fn a_withheld_benchmark_says_so() {
        let r = row(Some(FunnelFlag::Within), Some(0.2), Comparison::Similar);
        let mut sup = Suppression::default();
        sup.withhold_for_test(&r, crate::disclosure::Withheld::Pooled);
        let board = View {
            own: Disclosure::Standard,
            peers: Disclosure::Standard,
            sup: &sup,
        };
        let ind = indicator("proportion", "low_is_good");
        for lead in [VerdictLead::Funnel, VerdictLead::Interval] {
            let v = verdict(&board, &ind, &r, lead);
            assert_eq!(v.tag, Comparison::NotCompared);
            assert_eq!(
                v.lead,
                "The peer benchmark is not shown, to protect a small count elsewhere"
            );
        }
    }

    #[test]
    fn ranked_most_outside_first() {
        let mut items = vec![
            ((), "b", Some(3.2)),
            ((), "a", None),
            ((), "c", Some(7.5)),
            ((), "d", Some(3.2)),
        ];
        rank(&mut items);
        let order: Vec<&str> = items.iter().map(|i| i.1).collect();
        assert_eq!(order, ["c", "b", "d", "a"]);
    }
}
