//! The words and tags a reader sees for each category the statistics
//! produce: a comparison, a funnel position, a run-chart reading, a change
//! since last period, a polarity. The results table keeps the categories'
//! documented tokens (`high_998`, `two_of_three`, …, each enum's `as_str`);
//! pages and the workbook say them in plain words, from here only.

use peerbench_compare::{ChangeKind, PeerGroupKind, Reading};
use peerbench_stats::{Comparison, FunnelFlag, Polarity, SpcRule, Variation};

use crate::verdict::VerdictLead;

/// A comparison as a page shows it: the word, always printed, and the CSS
/// class that colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub word: &'static str,
    pub class: &'static str,
}

pub(crate) fn comparison_tag(c: Comparison) -> Tag {
    let (word, class) = match c {
        Comparison::Better => ("Better", "better"),
        Comparison::Similar => ("Similar", "similar"),
        Comparison::Worse => ("Worse", "worse"),
        Comparison::Higher => ("Higher", "higher"),
        Comparison::Lower => ("Lower", "lower"),
        Comparison::NotCompared => ("Not compared", "none"),
    };
    Tag { word, class }
}

/// A practice's place on the peer funnel, as a table cell says it.
pub(crate) fn funnel_position(flag: Option<FunnelFlag>) -> &'static str {
    match flag {
        Some(FunnelFlag::High998) => "Above the 99.8% limit",
        Some(FunnelFlag::High95) => "Above the 95% limit",
        Some(FunnelFlag::Within) => "Within the limits",
        Some(FunnelFlag::Low95) => "Below the 95% limit",
        Some(FunnelFlag::Low998) => "Below the 99.8% limit",
        None => "Not assessed",
    }
}

/// A funnel position as the lead of a practice's verdict: what it means,
/// then where it is.
pub(crate) fn funnel_verdict(flag: FunnelFlag) -> &'static str {
    match flag {
        FunnelFlag::High998 => {
            "Higher than normal variation between practices explains (above the 99.8% limit)"
        }
        FunnelFlag::High95 => {
            "Within the range expected from normal variation between practices (above the 95% limit, inside the 99.8%)"
        }
        FunnelFlag::Within => "Within the range expected from normal variation between practices",
        FunnelFlag::Low95 => {
            "Within the range expected from normal variation between practices (below the 95% limit, inside the 99.8%)"
        }
        FunnelFlag::Low998 => {
            "Lower than normal variation between practices explains (below the 99.8% limit)"
        }
    }
}

/// The comparison of a practice's interval (95% or 99.8%) with the peer
/// benchmark, in words: which side of the benchmark the interval lies
/// (`above`: the value is above the benchmark).
pub(crate) fn interval_verdict(c: Comparison, above: bool, level: IntervalLevel) -> String {
    let level = level.as_str();
    match (c, above) {
        (Comparison::NotCompared, _) => "Not compared".into(),
        (Comparison::Similar, _) => format!("Its {level} interval includes the peer benchmark"),
        (_, true) => format!("Its {level} interval is entirely above the peer benchmark"),
        (_, false) => format!("Its {level} interval is entirely below the peer benchmark"),
    }
}

/// Why a result is not compared on a page whose disclosure control
/// withholds its peer group's pooled figures (the benchmark among them).
pub(crate) const BENCHMARK_WITHHELD: &str =
    "the peer benchmark is not shown, to protect a small count elsewhere";

/// Why a result was not compared, in words a page may show: from the
/// row's `not_compared_reason` but without its figures (a denominator
/// there is exact, where the page may round or hide counts). None where the
/// reason is only about the funnel, or is not one of these.
pub(crate) fn not_compared_why(reason: &str) -> Option<&'static str> {
    reason
        .split("; ")
        .filter(|part| !part.starts_with("funnel:"))
        .find_map(|part| {
            if part.starts_with("suppressed or missing input") {
                Some("a count was suppressed at source or is missing")
            } else if part.starts_with("denominator ") && part.contains(" below the minimum of ") {
                Some("its denominator is below the indicator's minimum for a comparison")
            } else if part.starts_with("only ")
                && part.contains(" practices with data in peer group ")
            {
                Some("too few practices in its peer group have data to compare with")
            } else {
                None
            }
        })
}

/// Which of a practice's intervals a sentence is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntervalLevel {
    /// The 95% interval: describes, and leads when the report leads with it.
    P95,
    /// The 99.8% interval: judges where the funnel leads but there is none,
    /// so that such a verdict is held to the funnel's bar, not the 95%'s.
    P998,
}

impl IntervalLevel {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IntervalLevel::P95 => "95%",
            IntervalLevel::P998 => "99.8%",
        }
    }
}

/// Which comparison leads this report's verdicts, and what it means: one
/// sentence on every page that shows verdicts.
pub(crate) fn verdict_lead(lead: VerdictLead) -> &'static str {
    match lead {
        VerdictLead::Funnel => {
            "Each indicator's verdict leads with the peer funnel, which allows for the normal variation between practices: Better or Worse (Higher or Lower for context indicators) means outside the funnel's 99.8% limits, and is what to act on. The second line says whether the practice's 95% interval includes the peer benchmark; with large lists it often does not, from differences that normal variation explains, so it describes and does not flag. An indicator without a funnel (an age-standardised rate, a peer group too small for one, or a funnel withheld to protect a small count) is judged on its 99.8% interval instead, entirely on one side of the peer benchmark or not, and says so."
        }
        VerdictLead::Interval => {
            "Each indicator's verdict leads with the practice's 95% interval, as Fingertips does: Better or Worse (Higher or Lower for context indicators) means the interval lies entirely on one side of the peer benchmark. With large lists this marks many practices, some for differences that normal variation between practices explains; the second line gives the peer funnel position, which allows for that variation: outside its 99.8% limits is what boards act on."
        }
    }
}

/// The special-cause rule a point breaks, in words.
pub(crate) fn spc_rule(rule: SpcRule) -> &'static str {
    match rule {
        SpcRule::OutsideLimits => "a point outside the process limits",
        SpcRule::Trend => "a run of rising or falling points",
        SpcRule::TwoOfThree => "two of three points near a limit",
        SpcRule::Shift => "a run of points on one side of the average",
    }
}

/// The latest point of a practice's own run chart, as a table cell says it.
pub(crate) fn run_chart_reading(signal: Option<SpcRule>, variation: Option<Variation>) -> String {
    let rule = signal.map_or("", spc_rule);
    match variation {
        None => "Too few months to chart".to_string(),
        Some(Variation::CommonCause) => "Common-cause variation only".to_string(),
        Some(Variation::Improvement) => format!("Improvement: {rule}"),
        Some(Variation::Concern) => format!("Concern: {rule}"),
        Some(Variation::Neutral) => format!("Special cause: {rule}"),
    }
}

/// What a seasonal indicator's run chart is drawn on, shown above it; None
/// for an indicator that is not seasonal. `published` and `charted` are the
/// latest month's value as published and as charted, formatted.
pub(crate) fn season_note(
    seasonal: bool,
    adjusted: bool,
    published: &str,
    charted: &str,
) -> Option<String> {
    if !seasonal {
        return None;
    }
    Some(if adjusted {
        format!(
            "Seasonally adjusted: each month is divided by the federation's seasonal factor for its calendar month, so the usual winter rise and summer dip are not read as special cause; the centre line and limits are on this adjusted scale (latest month: {published} as published, {charted} adjusted)."
        )
    } else {
        "Not seasonally adjusted: the season needs every calendar month at least twice (two years of monthly data), so this chart is of the values as published and the usual winter rise and summer dip can show as special cause.".to_string()
    })
}

/// A run chart's latest variation in a chart description ("common cause").
pub(crate) fn variation_plain(variation: Option<Variation>) -> &'static str {
    match variation.unwrap_or(Variation::CommonCause) {
        Variation::Improvement => "improvement",
        Variation::Concern => "concern",
        Variation::Neutral => "neutral",
        Variation::CommonCause => "common cause",
    }
}

/// What kind of change since last period.
pub(crate) fn change_kind(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::NewOutlier => "New outlier",
        ChangeKind::ResolvedOutlier => "No longer an outlier",
        ChangeKind::NewSpecialCause => "New special-cause signal",
    }
}

/// A funnel position or run-chart signal as a change records it, mid-sentence.
pub(crate) fn reading(r: Reading) -> &'static str {
    match r {
        Reading::Funnel(FunnelFlag::High998) => "above the 99.8% limit",
        Reading::Funnel(FunnelFlag::High95) => "above the 95% limit",
        Reading::Funnel(FunnelFlag::Within) => "within the limits",
        Reading::Funnel(FunnelFlag::Low95) => "below the 95% limit",
        Reading::Funnel(FunnelFlag::Low998) => "below the 99.8% limit",
        Reading::Signal(rule) => spc_rule(rule),
        Reading::CommonCause => "common-cause variation only",
    }
}

/// "Better is …" beside an indicator's definition on a practice page.
pub(crate) fn better_is(p: Polarity) -> &'static str {
    match p {
        Polarity::HighIsGood => "higher",
        Polarity::LowIsGood => "lower",
        Polarity::NoJudgement => "neither (context only)",
    }
}

/// "Better is" in the catalogue's table, where the column is narrow.
pub(crate) fn better_is_short(p: Polarity) -> &'static str {
    match p {
        Polarity::NoJudgement => "neither (context)",
        _ => better_is(p),
    }
}

/// Which end of a spine chart is on the left, for its description.
pub(crate) fn spine_left(p: Polarity) -> &'static str {
    match p {
        Polarity::NoJudgement => "Lower values on the left.",
        _ => "Worse values on the left.",
    }
}

/// Who is in a structural peer group; None for similar-practice groups,
/// whose description names their weights.
pub(crate) fn peer_group_members(kind: &PeerGroupKind) -> Option<&'static str> {
    match kind {
        PeerGroupKind::All => Some("every practice loaded"),
        PeerGroupKind::Federation => Some("practices in the same federation"),
        PeerGroupKind::Pcn => Some("practices in the same primary care network"),
        PeerGroupKind::Icb => Some("practices in the same integrated care board"),
        PeerGroupKind::Similar { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_comparison_has_a_word_and_a_distinct_class() {
        let all = [
            Comparison::Better,
            Comparison::Similar,
            Comparison::Worse,
            Comparison::Higher,
            Comparison::Lower,
            Comparison::NotCompared,
        ];
        let tags: Vec<Tag> = all.iter().map(|c| comparison_tag(*c)).collect();
        insta::assert_debug_snapshot!(tags);
        let mut classes: Vec<&str> = tags.iter().map(|t| t.class).collect();
        classes.sort_unstable();
        classes.dedup();
        assert_eq!(classes.len(), all.len());
    }

    #[test]
    fn run_chart_readings_name_the_rule() {
        let cases = [
            (None, None),
            (None, Some(Variation::CommonCause)),
            (Some(SpcRule::OutsideLimits), Some(Variation::Improvement)),
            (Some(SpcRule::Trend), Some(Variation::Concern)),
            (Some(SpcRule::TwoOfThree), Some(Variation::Neutral)),
            (Some(SpcRule::Shift), Some(Variation::Concern)),
        ];
        let words: Vec<String> = cases
            .iter()
            .map(|(s, v)| run_chart_reading(*s, *v))
            .collect();
        assert_eq!(
            words,
            [
                "Too few months to chart",
                "Common-cause variation only",
                "Improvement: a point outside the process limits",
                "Concern: a run of rising or falling points",
                "Special cause: two of three points near a limit",
                "Concern: a run of points on one side of the average",
            ]
        );
        assert_eq!(variation_plain(None), "common cause");
        assert_eq!(variation_plain(Some(Variation::Neutral)), "neutral");
    }

    #[test]
    fn funnel_positions_and_changes_agree() {
        let flags = [
            FunnelFlag::High998,
            FunnelFlag::High95,
            FunnelFlag::Within,
            FunnelFlag::Low95,
            FunnelFlag::Low998,
        ];
        for f in flags {
            // The change says mid-sentence what the cell says at its start.
            let cell = funnel_position(Some(f));
            let mut lower = cell.to_string();
            lower[..1].make_ascii_lowercase();
            assert_eq!(reading(Reading::Funnel(f)), lower);
        }
        assert_eq!(funnel_position(None), "Not assessed");
        assert_eq!(
            reading(Reading::Signal(SpcRule::Shift)),
            "a run of points on one side of the average"
        );
        assert_eq!(reading(Reading::CommonCause), "common-cause variation only");
        assert_eq!(
            change_kind(ChangeKind::ResolvedOutlier),
            "No longer an outlier"
        );
    }

    #[test]
    fn polarity_words() {
        assert_eq!(better_is(Polarity::HighIsGood), "higher");
        assert_eq!(better_is(Polarity::NoJudgement), "neither (context only)");
        assert_eq!(better_is_short(Polarity::LowIsGood), "lower");
        assert_eq!(better_is_short(Polarity::NoJudgement), "neither (context)");
        assert_eq!(spine_left(Polarity::LowIsGood), "Worse values on the left.");
        assert_eq!(
            spine_left(Polarity::NoJudgement),
            "Lower values on the left."
        );
        assert_eq!(
            peer_group_members(&PeerGroupKind::Pcn),
            Some("practices in the same primary care network")
        );
    }
}
