//! Which period of an indicator the reports lead with. Extracts arrive
//! practice by practice, night by night: the first practice to send a new
//! month must not turn that month into "the latest period" of every other
//! practice, whose pages would then say "no data" for data they sent, and
//! whose board would compare one practice with nobody. A period is shown as
//! the latest once at least half of the indicator's practices have a result
//! in it; a later one with fewer is "not yet shown", and the board says so.

use std::collections::{BTreeMap, HashSet};

use crate::{FastMap, ResultRow};

/// An indicator's periods as the reports use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingPeriods<'a> {
    /// The period the reports lead with.
    pub latest: &'a str,
    /// The period before it, if any (for "since last period").
    pub previous: Option<&'a str>,
    /// Later periods not yet shown, each with how many practices have sent
    /// it so far.
    pub not_yet_shown: Vec<(&'a str, usize)>,
    /// How many practices have a result for the indicator in any period.
    pub practices: usize,
}

/// Whether a period `sent` of `all` practices have sent is one the reports
/// lead with: at least half of them. The one place the rule is written (the
/// data-quality checks' SQL in the pipeline says the same, `2 * n >= all`).
pub fn enough_sent(sent: usize, all: usize) -> bool {
    2 * sent >= all
}

/// Each indicator's reporting periods in `peer_group` (each practice has
/// one row per period in a peer group).
pub fn reporting_periods<'a>(
    results: &'a [ResultRow],
    peer_group: &str,
) -> BTreeMap<&'a str, ReportingPeriods<'a>> {
    // Per indicator: how many practices per period, and the practices.
    let mut per_period: FastMap<&str, BTreeMap<&str, usize>> = FastMap::default();
    let mut practices: FastMap<&str, HashSet<&str, foldhash::fast::RandomState>> =
        FastMap::default();
    for r in results.iter().filter(|r| *r.peer_group == *peer_group) {
        *per_period
            .entry(&r.indicator_id)
            .or_default()
            .entry(&r.period)
            .or_default() += 1;
        practices
            .entry(&r.indicator_id)
            .or_default()
            .insert(&r.practice_code);
    }
    per_period
        .into_iter()
        .filter_map(|(ind, periods)| {
            let all = practices.get(ind).map_or(0, HashSet::len);
            // The newest period with enough practices; failing any (every
            // period thin), the newest, as before this rule.
            let latest = periods
                .iter()
                .rev()
                .find(|(_, n)| enough_sent(**n, all))
                .or_else(|| periods.iter().next_back())
                .map(|(p, _)| *p)?;
            let previous = periods.range(..latest).next_back().map(|(p, _)| *p);
            let not_yet_shown = periods
                .range(latest..)
                .skip(1)
                .map(|(p, n)| (*p, *n))
                .collect();
            Some((
                ind,
                ReportingPeriods {
                    latest,
                    previous,
                    not_yet_shown,
                    practices: all,
                },
            ))
        })
        .collect()
}
