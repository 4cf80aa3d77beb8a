//! What changed since last time: for the latest period, the practice ×
//! indicator pairs that became outliers, stopped being outliers, or started
//! a special-cause signal — the board pack's "since last time" list.

use peerbench_stats::{FunnelFlag, SpcRule};

use crate::{FastMap, ResultRow, reporting_periods};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Now outside the 99.8% adjusted funnel limits; inside last period.
    NewOutlier,
    /// Inside the 99.8% limits now; outside last period.
    ResolvedOutlier,
    /// A special-cause signal now; none last period.
    NewSpecialCause,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::NewOutlier => "new_outlier",
            ChangeKind::ResolvedOutlier => "resolved_outlier",
            ChangeKind::NewSpecialCause => "new_special_cause",
        }
    }
}

/// What a change records of a practice in one period: its place on the
/// peer funnel, or its own run chart's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Funnel(FunnelFlag),
    /// A special-cause signal, by the rule it breaks.
    Signal(SpcRule),
    /// A charted point with no special cause.
    CommonCause,
}

impl Reading {
    /// In the results table's words (`high_998`, `shift`, `common_cause`),
    /// as `changes.csv` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reading::Funnel(f) => f.as_str(),
            Reading::Signal(rule) => rule.as_str(),
            Reading::CommonCause => "common_cause",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub indicator_id: String,
    pub practice_code: String,
    pub period: String,
    pub previous_period: String,
    pub kind: ChangeKind,
    /// What it is now and was before.
    pub now: Reading,
    pub before: Reading,
}

/// Changes between each indicator's latest two periods as the reports show
/// them ([`reporting_periods`]), in `peer_group`.
///
/// Two passes over the rows: each indicator's periods, then each practice's
/// rows in its indicator's latest two. (Finding each indicator's practices
/// by scanning every row's key once an indicator took 3.7 s of one core
/// nationally over two years, before a page could be written.)
pub fn what_changed(results: &[ResultRow], peer_group: &str) -> Vec<Change> {
    let in_group = || results.iter().filter(|r| *r.peer_group == *peer_group);
    // Each indicator's latest period as the reports show it, and the one
    // before it.
    let latest_two: FastMap<&str, (&str, &str)> = reporting_periods(results, peer_group)
        .into_iter()
        .filter_map(|(ind, p)| Some((ind, (p.latest, p.previous?))))
        .collect();
    // (indicator, practice) → its row now and its row before. A repeated
    // row replaces the one before it, as a map keyed by all three would.
    type NowAndBefore<'r> = (Option<&'r ResultRow>, Option<&'r ResultRow>);
    let mut pairs: FastMap<(&str, &str), NowAndBefore> = FastMap::default();
    for r in in_group() {
        let Some(&(latest, previous)) = latest_two.get(&*r.indicator_id) else {
            continue;
        };
        let pair = if *r.period == *latest {
            &mut pairs
                .entry((&r.indicator_id, &r.practice_code))
                .or_default()
                .0
        } else if *r.period == *previous {
            &mut pairs
                .entry((&r.indicator_id, &r.practice_code))
                .or_default()
                .1
        } else {
            continue;
        };
        *pair = Some(r);
    }
    let mut out = Vec::new();
    for (&(ind, code), &pair) in &pairs {
        let (Some(now), Some(before)) = pair else {
            continue;
        };
        let (latest, previous) = latest_two[ind];
        let mut push = |kind: ChangeKind, now: Reading, before: Reading| {
            out.push(Change {
                indicator_id: ind.to_string(),
                practice_code: code.to_string(),
                period: latest.to_string(),
                previous_period: previous.to_string(),
                kind,
                now,
                before,
            })
        };
        if let (Some(fn_), Some(fb)) = (now.funnel_flag, before.funnel_flag) {
            if fn_.is_outlier() && !fb.is_outlier() {
                push(
                    ChangeKind::NewOutlier,
                    Reading::Funnel(fn_),
                    Reading::Funnel(fb),
                );
            } else if !fn_.is_outlier() && fb.is_outlier() {
                push(
                    ChangeKind::ResolvedOutlier,
                    Reading::Funnel(fn_),
                    Reading::Funnel(fb),
                );
            }
        }
        if let (Some(signal), None) = (now.spc_signal, before.spc_signal)
            && before.spc_variation.is_some()
        {
            push(
                ChangeKind::NewSpecialCause,
                Reading::Signal(signal),
                Reading::CommonCause,
            );
        }
    }
    // A practice has at most one change of each kind per indicator, so this
    // order is total: the map's order above does not show.
    out.sort_by(|a, b| {
        (a.kind, &a.indicator_id, &a.practice_code).cmp(&(
            b.kind,
            &b.indicator_id,
            &b.practice_code,
        ))
    });
    out
}
