//! What changed since last time: for the latest period, the practice ×
//! indicator pairs that became outliers, stopped being outliers, or started
//! a special-cause signal — the board pack's "since last time" list.

use std::collections::{BTreeMap, BTreeSet};

use peerbench_stats::{FunnelFlag, SpcRule};

use crate::ResultRow;

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

/// Changes between each indicator's latest two periods, in `peer_group`.
pub fn what_changed(results: &[ResultRow], peer_group: &str) -> Vec<Change> {
    let mut periods: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut rows: BTreeMap<(&str, &str, &str), &ResultRow> = BTreeMap::new();
    for r in results.iter().filter(|r| *r.peer_group == *peer_group) {
        periods
            .entry(&r.indicator_id)
            .or_default()
            .insert(&r.period);
        rows.insert((&r.indicator_id, &r.practice_code, &r.period), r);
    }
    let mut out = Vec::new();
    for (ind, ps) in &periods {
        let mut it = ps.iter().rev();
        let (Some(latest), Some(previous)) = (it.next(), it.next()) else {
            continue;
        };
        let practices: BTreeSet<&str> = rows
            .keys()
            .filter(|(i, _, p)| i == ind && p == latest)
            .map(|(_, c, _)| *c)
            .collect();
        for code in practices {
            let (Some(now), Some(before)) = (
                rows.get(&(ind, code, latest)),
                rows.get(&(ind, code, previous)),
            ) else {
                continue;
            };
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
    }
    out.sort_by(|a, b| {
        (a.kind, &a.indicator_id, &a.practice_code).cmp(&(
            b.kind,
            &b.indicator_id,
            &b.practice_code,
        ))
    });
    out
}
