//! What changed since last time: for the latest period, the practice ×
//! indicator pairs that became outliers, stopped being outliers, or started
//! a special-cause signal — the board pack's "since last time" list.

use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub indicator_id: String,
    pub practice_code: String,
    pub period: String,
    pub previous_period: String,
    pub kind: ChangeKind,
    /// What it is now, in the results table's words (e.g. `high_998`, `shift`).
    pub now: String,
    pub before: String,
}

/// Changes between each indicator's latest two periods, in `peer_group`.
pub fn what_changed(results: &[ResultRow], peer_group: &str) -> Vec<Change> {
    let mut periods: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut rows: BTreeMap<(&str, &str, &str), &ResultRow> = BTreeMap::new();
    for r in results.iter().filter(|r| r.peer_group == peer_group) {
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
            let mut push = |kind: ChangeKind, n: &str, b: &str| {
                out.push(Change {
                    indicator_id: ind.to_string(),
                    practice_code: code.to_string(),
                    period: latest.to_string(),
                    previous_period: previous.to_string(),
                    kind,
                    now: n.to_string(),
                    before: b.to_string(),
                })
            };
            if let (Some(fn_), Some(fb)) = (now.funnel_flag, before.funnel_flag) {
                if fn_.is_outlier() && !fb.is_outlier() {
                    push(ChangeKind::NewOutlier, fn_.as_str(), fb.as_str());
                } else if !fn_.is_outlier() && fb.is_outlier() {
                    push(ChangeKind::ResolvedOutlier, fn_.as_str(), fb.as_str());
                }
            }
            if let (Some(signal), None) = (now.spc_signal, before.spc_signal)
                && before.spc_variation.is_some()
            {
                push(ChangeKind::NewSpecialCause, signal, "common_cause");
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
