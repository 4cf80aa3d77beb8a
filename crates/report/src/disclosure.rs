//! Disclosure control for published outputs (methods reference §9, with the
//! threat model in docs/reports.md). All statistics are computed on exact
//! counts; a policy only changes what an output shows.
//!
//! Under `standard`, a count of 1 to 7 is shown as `*`, and so is everything
//! from which it could be worked back: the row's value, both intervals, its
//! funnel limits, position and flags, its percentile rank, its own trend and
//! SPC point, the centre line and limits of its own SPC chart (they average
//! its value), the percentile ranks and median of its peer groups that
//! period (they bracket it), and (on charts) its point. Other counts are
//! rounded to the nearest 5; that is presentation, not protection: a shown
//! value and interval pin the exact count anyway.
//!
//! Group statistics are computed from every member's exact counts, hidden
//! ones included, so they are protected too ([`Suppression`]):
//!
//! - a peer group's pooled total (its benchmark) less its shown members
//!   (whose exact counts their values give back) is the total of its hidden
//!   members. Secondary suppression hides further members until, in every
//!   peer group, no hidden count of 1 to 7 is pinned by the totals, even to
//!   one of the other hidden practices, who knows its own counts; where no
//!   member can be hidden to that end, the group's figures for that period
//!   are withheld instead;
//! - φ, τ², the funnel limits and positions are not sums: they weigh each
//!   member's counts separately, and with the totals they pin the hidden
//!   members one by one; the median and percentile ranks order the members
//!   and so bracket hidden values. They are withheld for a peer group and
//!   period with a hidden member;
//! - groups whose members the rows do not show (similar practices) overlap
//!   each other, so no pattern of suppression keeps their totals from being
//!   differenced: their figures are withheld in a period with a hidden value.

use crate::{Map as HashMap, Set as HashSet};
use std::borrow::Cow;

use peerbench_catalogue::{Indicator, ValueType};
use peerbench_compare::{Opt64, PeerGroup, PeerGroupKind, ResultRow};
use peerbench_stats::{Comparison, FunnelFlag, TrendLabel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Disclosure {
    /// Exact counts: for the practice's own report and internal analysis.
    Exact,
    /// Small counts suppressed and others rounded to 5: for boards and wider.
    #[default]
    Standard,
}

/// The policy for each kind of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisclosurePolicy {
    pub board: Disclosure,
    pub practice_pages: Disclosure,
    pub downloads: Disclosure,
}

impl Default for DisclosurePolicy {
    fn default() -> Self {
        DisclosurePolicy {
            board: Disclosure::Standard,
            practice_pages: Disclosure::Exact,
            downloads: Disclosure::Standard,
        }
    }
}

impl DisclosurePolicy {
    /// What a practice page may show of other practices: never more than
    /// the board shows, nor more than the page shows of its own practice.
    pub fn peers_on_practice_pages(&self) -> Disclosure {
        self.board.stricter(self.practice_pages)
    }
}

fn is_small(x: Option<f64>) -> bool {
    x.is_some_and(|v| (1.0..=7.0).contains(&v))
}

/// Whether the row holds a count of 1 to 7 (numerator or denominator).
pub(crate) fn has_small_count(r: &ResultRow) -> bool {
    is_small(r.numerator.get()) || is_small(r.denominator.get())
}

/// Why `standard` hides a row's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// The row holds a count of 1 to 7.
    SmallCount,
    /// Secondary suppression: the row's counts are not small, but with them
    /// shown its peer groups' totals would give back a hidden count of 1 to 7.
    Secondary,
}

impl Hidden {
    /// In place of the row's funnel position, run-chart reading, …
    pub fn words(self) -> &'static str {
        match self {
            Hidden::SmallCount => NOT_SHOWN,
            Hidden::Secondary => NOT_SHOWN_ELSEWHERE,
        }
    }

    /// The row's `not_compared_reason` in downloads.
    pub fn reason(self) -> &'static str {
        match self {
            Hidden::SmallCount => "disclosure control: a count of 1 to 7",
            Hidden::Secondary => {
                "disclosure control: hidden to protect a count of 1 to 7 elsewhere"
            }
        }
    }
}

/// Said instead of what a count of 1 to 7 in the row would give away.
pub(crate) const NOT_SHOWN: &str = "Not shown (a count of 1 to 7)";
/// Said instead of what would give away a small count in another row.
pub(crate) const NOT_SHOWN_ELSEWHERE: &str = "Not shown, to protect a small count elsewhere";

/// What `standard` withholds of a peer group's figures in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Withheld {
    /// What weighs or orders the members one by one: φ, τ² and the
    /// overdispersion-adjusted funnel (its limits and every member's
    /// position), which with the pooled totals would pin hidden members one
    /// by one; the peer median and percentile ranks, which bracket hidden
    /// values.
    Members,
    /// Everything worked out from the group's pooled total as well: the
    /// benchmark, the comparisons with it and the unadjusted funnel
    /// positions.
    Pooled,
}

const FUNNEL_REASON: &str =
    "funnel: not shown, to protect a count of 1 to 7 in the peer group (disclosure control)";
const POOLED_REASON: &str = "peer group figures not shown, to protect a count of 1 to 7 in the peer group (disclosure control)";

/// How many of the other hidden members a hidden count of 1 to 7 must be
/// able to trade with (a move of one between them that every published
/// figure allows). One would stop an outsider; two stop one of the hidden
/// practices too, who knows its own counts and can take them off the total.
const PARTNERS: usize = 2;

/// What `standard` hides, decided once per publication from every result
/// row, so that every output (pages, CSVs, the workbook) agrees.
#[derive(Debug, Default)]
pub struct Suppression<'a> {
    /// (indicator, period, practice) hidden by secondary suppression.
    secondary: HashSet<(&'a str, &'a str, &'a str)>,
    /// (indicator, peer group, key, period) of structural groups whose
    /// figures are (partly) withheld.
    withheld: HashMap<(&'a str, &'a str, &'a str, &'a str), Withheld>,
    /// (indicator, period) with a hidden value: every figure of a group whose
    /// members the rows do not show (similar practices) is withheld.
    opaque: HashSet<(&'a str, &'a str)>,
    /// Groups whose rows sharing a key are the whole group (federation,
    /// PCN, ICB, all); any other group is treated as opaque.
    structural: HashSet<&'a str>,
    /// (indicator, practice) whose own series has a hidden value: the SPC
    /// centre line is the mean of the series' first points, so with one of
    /// them hidden the mean and the others give it back.
    series: HashSet<(&'a str, &'a str)>,
    /// Indicators with a group's pooled figures withheld in some period. A
    /// seasonally adjusted chart gives away the federation's seasonal
    /// factors (value ÷ `spc_value`, or the centre line over the values),
    /// and the factors are fitted to every month's pooled rate of all
    /// practices: with the other months' benchmarks published they can
    /// give a withheld month's back.
    pooled_withheld: HashSet<&'a str>,
    /// What it came to, for the log and the tests.
    pub(crate) summary: SuppressionSummary,
}

/// Counts of what secondary suppression did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SuppressionSummary {
    /// Valued rows (indicator × practice × period) hidden for a count of 1 to 7.
    pub small: usize,
    /// Valued rows hidden to protect them.
    pub secondary: usize,
    /// Structural peer group periods whose figures are withheld altogether.
    pub groups_withheld: usize,
    /// Of the rows hidden and groups withheld, those needed only because
    /// the exact counts sat at an edge of what the shown counts allow (the
    /// rest follow from what is published alone).
    pub at_an_edge: usize,
}

fn group_key(r: &ResultRow) -> (&str, &str, &str, &str) {
    (
        r.indicator_id.as_str(),
        r.peer_group.as_str(),
        r.peer_group_key.as_str(),
        r.period.as_str(),
    )
}

impl<'a> Suppression<'a> {
    /// Decides what `standard` hides: the rows with a count of 1 to 7, the
    /// rows secondary suppression adds, and the group figures withheld.
    /// `groups` are the peer-group definitions (a group not among them is
    /// treated as opaque); `indicators` give the minimum denominator and
    /// value type that bound what a hidden count could be; the primary group
    /// is the last whose figures are withheld.
    pub fn new(
        results: &'a [ResultRow],
        groups: &'a [PeerGroup],
        indicators: &[Indicator],
        primary: &str,
    ) -> Suppression<'a> {
        let mut out = Suppression {
            structural: groups
                .iter()
                .filter(|g| !matches!(g.kind, PeerGroupKind::Similar { .. }))
                .map(|g| g.name.as_str())
                .collect(),
            ..Suppression::default()
        };
        // Indicator-periods with a hidden value: only there is anything to do.
        for r in results
            .iter()
            .filter(|r| r.value.is_some() && has_small_count(r))
        {
            out.opaque
                .insert((r.indicator_id.as_str(), r.period.as_str()));
        }
        if out.opaque.is_empty() {
            return out;
        }
        let mut rows: HashMap<(&str, &str), Vec<&ResultRow>> = HashMap::default();
        for r in results.iter().filter(|r| r.value.is_some()) {
            let k = (r.indicator_id.as_str(), r.period.as_str());
            if out.opaque.contains(&k) {
                rows.entry(k).or_default().push(r);
            }
        }
        let mut keys: Vec<(&str, &str)> = rows.keys().copied().collect();
        keys.sort();
        // Each indicator-period is protected on its own (seconds of work
        // nationally, before any page can be written): a few at a time on
        // every core, then recorded in order, so that only those few
        // periods' workings are held at once.
        let at_once = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
        for keys in keys.chunks(at_once) {
            let protected: Vec<std::sync::Mutex<Option<Period>>> =
                keys.iter().map(|_| std::sync::Mutex::new(None)).collect();
            let structural = &out.structural;
            let protecting = crate::in_parallel(keys.len(), |i| {
                let k = keys[i];
                let rules = Rules::of(indicators.iter().find(|ind| ind.id == k.0));
                let mut p = Period::new(&rows[&k], structural, primary, rules);
                p.protect();
                *protected[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                Ok(())
            });
            assert!(protecting.is_ok(), "protecting a period cannot fail");
            for (&k, p) in keys.iter().zip(protected) {
                // Every job ran (a panic in one is passed on), so every
                // period is here; were one not, stopping beats publishing it
                // unprotected.
                let p = p.into_inner().unwrap_or_else(|e| e.into_inner());
                out.record(k, &p.expect("every period is protected"));
            }
        }
        if out.summary.secondary + out.summary.groups_withheld > 0 {
            tracing::info!(
                small = out.summary.small,
                secondary = out.summary.secondary,
                groups_withheld = out.summary.groups_withheld,
                at_an_edge = out.summary.at_an_edge,
                "disclosure control: rows hidden to protect counts of 1 to 7"
            );
        }
        out
    }

    /// Takes what one indicator-period's protection decided.
    fn record(&mut self, (ind, period): (&'a str, &'a str), p: &Period<'a>) {
        for u in &p.units {
            match u.hidden {
                Some(Hidden::SmallCount) => self.summary.small += 1,
                Some(Hidden::Secondary) => {
                    self.summary.secondary += 1;
                    self.secondary.insert((ind, period, u.code));
                }
                None => {}
            }
            if u.hidden.is_some() {
                self.series.insert((ind, u.code));
            }
        }
        self.summary.at_an_edge += p.at_an_edge;
        for pool in &p.pools {
            let key = (ind, pool.name, pool.key, period);
            if pool.withheld {
                self.summary.groups_withheld += 1;
                self.withheld.insert(key, Withheld::Pooled);
                self.pooled_withheld.insert(ind);
            } else if pool.members.iter().any(|&u| p.units[u].hidden.is_some()) {
                self.withheld.insert(key, Withheld::Members);
            }
        }
    }

    /// Why `standard` hides the row's value, if it does.
    pub fn hidden(&self, r: &ResultRow) -> Option<Hidden> {
        if has_small_count(r) {
            Some(Hidden::SmallCount)
        } else if !self.secondary.is_empty()
            && self.secondary.contains(&(
                r.indicator_id.as_str(),
                r.period.as_str(),
                r.practice_code.as_str(),
            ))
        {
            Some(Hidden::Secondary)
        } else {
            None
        }
    }

    /// What `standard` withholds of the figures of the row's peer group.
    pub fn withheld(&self, r: &ResultRow) -> Option<Withheld> {
        if self.structural.contains(r.peer_group.as_str()) {
            self.withheld.get(&group_key(r)).copied()
        } else if self
            .opaque
            .contains(&(r.indicator_id.as_str(), r.period.as_str()))
        {
            Some(Withheld::Pooled)
        } else {
            None
        }
    }

    /// Withholds the figures of the row's (structural) group, for tests of
    /// what pages make of it.
    #[cfg(test)]
    pub(crate) fn withhold_for_test(&mut self, r: &'a ResultRow, w: Withheld) {
        self.structural.insert(r.peer_group.as_str());
        self.withheld.insert(group_key(r), w);
    }

    /// Whether the practice's own series for the row's indicator holds a
    /// hidden value (so its SPC centre line and limits give it back).
    fn series_holds_hidden(&self, r: &ResultRow) -> bool {
        self.series
            .contains(&(r.indicator_id.as_str(), r.practice_code.as_str()))
    }

    /// Whether the row's seasonally adjusted chart would give away the
    /// seasonal factors of an indicator with withheld pooled figures.
    fn season_gives_away_withheld(&self, r: &ResultRow) -> bool {
        r.spc_seasonally_adjusted == Some(true)
            && self.pooled_withheld.contains(r.indicator_id.as_str())
    }
}

/// What bounds a hidden count, beyond how it is shown.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// A row is valued (so pooled) only with at least this denominator.
    min_denominator: f64,
    /// A numerator is at most its denominator.
    proportion: bool,
}

impl Rules {
    fn of(ind: Option<&Indicator>) -> Rules {
        Rules {
            min_denominator: ind.map_or(0.0, |i| i.min_denominator),
            proportion: ind.is_some_and(|i| i.value_type == ValueType::Proportion),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    Numerator,
    Denominator,
}

/// A practice with a value in the indicator-period: a member of the pooled
/// totals of each of its peer groups.
#[derive(Debug)]
struct Unit<'a> {
    code: &'a str,
    n: f64,
    d: f64,
    /// Indices into `Period::pools`, ascending.
    pools: Vec<usize>,
    hidden: Option<Hidden>,
}

impl Unit<'_> {
    fn count(&self, c: Count) -> f64 {
        match c {
            Count::Numerator => self.n,
            Count::Denominator => self.d,
        }
    }
}

/// One structural peer group (name and key) in the indicator-period.
#[derive(Debug)]
struct Pool<'a> {
    name: &'a str,
    key: &'a str,
    primary: bool,
    members: Vec<usize>,
    /// Its figures are withheld: its totals are published nowhere.
    withheld: bool,
}

/// One indicator and period: the valued practices, the structural groups
/// pooling them, and secondary suppression over them.
///
/// The attacker is given the most the outputs could say: the exact counts
/// of every shown member, each group's hidden numerator and denominator
/// totals (its benchmark less the shown members) and each hidden count as it
/// is shown (`*` is 1 to 7, a rounded count is itself ± 2). Nothing else
/// published about the group depends on a hidden count (its funnel, median
/// and ranks are withheld). A hidden count is protected when it can be moved
/// by one, with another hidden member of the very same published groups
/// moved back, and everything published stays as it is; it must be so with
/// [`PARTNERS`] different members. Secondary rows are chosen by what is
/// published of them (the numerator as rounded), so that the choice says
/// nothing more.
struct Period<'a> {
    units: Vec<Unit<'a>>,
    pools: Vec<Pool<'a>>,
    rules: Rules,
    at_an_edge: usize,
    /// Each unit's published groups, and the units sharing each such set:
    /// made again whenever a group is withheld.
    signatures: Vec<Vec<usize>>,
    classes: HashMap<Vec<usize>, Vec<usize>>,
}

impl<'a> Period<'a> {
    fn new(
        rows: &[&'a ResultRow],
        structural: &HashSet<&'a str>,
        primary: &str,
        rules: Rules,
    ) -> Period<'a> {
        let mut first: HashMap<&str, &ResultRow> = HashMap::default();
        for r in rows {
            first.entry(r.practice_code.as_str()).or_insert(r);
        }
        let mut firsts: Vec<&ResultRow> = first.into_values().collect();
        firsts.sort_by(|a, b| a.practice_code.cmp(&b.practice_code));
        let index: HashMap<&str, usize> = firsts
            .iter()
            .enumerate()
            .map(|(i, r)| (r.practice_code.as_str(), i))
            .collect();
        let mut units: Vec<Unit> = firsts
            .iter()
            .map(|r| Unit {
                code: r.practice_code.as_str(),
                n: r.numerator.unwrap_or(0.0),
                d: r.denominator.unwrap_or(0.0),
                pools: Vec::new(),
                hidden: has_small_count(r).then_some(Hidden::SmallCount),
            })
            .collect();
        let mut pool_index: HashMap<(&str, &str), usize> = HashMap::default();
        let mut pools: Vec<Pool> = Vec::new();
        let mut sorted_rows: Vec<&&ResultRow> = rows
            .iter()
            .filter(|r| structural.contains(r.peer_group.as_str()))
            .collect();
        sorted_rows.sort_by(|a, b| {
            (&a.peer_group, &a.peer_group_key, &a.practice_code).cmp(&(
                &b.peer_group,
                &b.peer_group_key,
                &b.practice_code,
            ))
        });
        for r in sorted_rows {
            let g = *pool_index
                .entry((r.peer_group.as_str(), r.peer_group_key.as_str()))
                .or_insert_with(|| {
                    pools.push(Pool {
                        name: r.peer_group.as_str(),
                        key: r.peer_group_key.as_str(),
                        primary: &*r.peer_group == primary,
                        members: Vec::new(),
                        withheld: false,
                    });
                    pools.len() - 1
                });
            // Rows come sorted, so a practice listed twice in a group is
            // listed twice in a row.
            let u = index[r.practice_code.as_str()];
            if pools[g].members.last() != Some(&u) {
                pools[g].members.push(u);
                units[u].pools.push(g);
            }
        }
        for u in &mut units {
            u.pools.sort_unstable();
        }
        let mut p = Period {
            units,
            pools,
            rules,
            at_an_edge: 0,
            signatures: Vec::new(),
            classes: HashMap::default(),
        };
        p.sort_into_classes();
        p
    }

    fn sort_into_classes(&mut self) {
        self.signatures = self
            .units
            .iter()
            .map(|u| {
                u.pools
                    .iter()
                    .copied()
                    .filter(|&g| !self.pools[g].withheld)
                    .collect()
            })
            .collect();
        self.classes.clear();
        for (u, sig) in self.signatures.iter().enumerate() {
            self.classes.entry(sig.clone()).or_default().push(u);
        }
    }

    /// The published groups holding the unit: what its counts are summed into.
    fn signature(&self, u: usize) -> &[usize] {
        &self.signatures[u]
    }

    /// The other units in exactly the same published groups.
    fn class(&self, u: usize) -> Vec<usize> {
        if self.signatures[u].is_empty() {
            return Vec::new();
        }
        self.classes[&self.signatures[u]]
            .iter()
            .copied()
            .filter(|&w| w != u)
            .collect()
    }

    /// Whether the count could take another value in a move of one: zero is
    /// shown as it is.
    fn movable(&self, u: usize, c: Count) -> bool {
        self.units[u].count(c) != 0.0
    }

    fn small_counts(&self, u: usize) -> Vec<Count> {
        [Count::Numerator, Count::Denominator]
            .into_iter()
            .filter(|&c| is_small(Some(self.units[u].count(c))))
            .collect()
    }

    /// Adds secondary suppression (and, where no member can serve, withholds
    /// group figures) until every hidden count of 1 to 7 is protected.
    fn protect(&mut self) {
        loop {
            let mut changed = false;
            for i in 0..self.units.len() {
                if self.units[i].hidden.is_none() {
                    continue;
                }
                for c in self.small_counts(i) {
                    while self.partners(i, c) < PARTNERS {
                        self.act(i, c);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// The hidden members of the same published groups that the count can
    /// trade with; `PARTNERS` when it is in no published total.
    fn partners(&self, i: usize, c: Count) -> usize {
        if self.signature(i).is_empty() {
            return PARTNERS;
        }
        self.class(i)
            .into_iter()
            .filter(|&j| self.units[j].hidden.is_some())
            .filter(|&j| self.moves(i, j, c, 1.0) || self.moves(i, j, c, -1.0))
            .count()
    }

    /// One step towards protecting the count: hide another member of its
    /// published groups (the one with the smallest numerator as published,
    /// rounded to 5, ties by code: chosen by its exact numerator, it would
    /// tell that this is below its shown neighbours'), or, with none left,
    /// withhold one group's figures.
    fn act(&mut self, i: usize, c: Count) {
        let class = self.class(i);
        let hidden_movable = class
            .iter()
            .filter(|&&w| self.units[w].hidden.is_some() && self.movable(w, c))
            .count();
        // With enough hidden members that could move, it takes the exact
        // counts to see that they cannot: the total sits at an edge.
        if hidden_movable >= PARTNERS {
            self.at_an_edge += 1;
        }
        let candidates: Vec<usize> = class
            .into_iter()
            .filter(|&w| self.units[w].hidden.is_none() && self.movable(w, c))
            .collect();
        let shown = |n: f64| (n / 5.0).round() * 5.0;
        if let Some(s) = candidates.into_iter().min_by(|&a, &b| {
            let (a, b) = (&self.units[a], &self.units[b]);
            shown(a.n).total_cmp(&shown(b.n)).then(a.code.cmp(b.code))
        }) {
            self.units[s].hidden = Some(Hidden::Secondary);
            return;
        }
        // No member left to hide: withhold a group's figures. Either one of
        // its own (its sum then joins the group above), or a group beside
        // it whose members then share its published groups; never the
        // primary group while another will do, smaller groups first.
        let sig = self.signature(i).to_vec();
        // Kind of each option: 0, a group beside it with a hidden member that
        // would then share its published groups; 1, one with a shown member
        // that could be hidden; 2, one of its own.
        let mut options: HashMap<usize, u8> = sig.iter().map(|&g| (g, 2)).collect();
        let smallest = *sig
            .iter()
            .min_by_key(|&&g| self.pools[g].members.len())
            .expect("a count in no published group is protected");
        for &w in &self.pools[smallest].members {
            if w == i || !self.movable(w, c) {
                continue;
            }
            let mut extra = self.signature(w).to_vec();
            extra.retain(|g| !sig.contains(g));
            if let [g] = extra[..]
                && self.signature(w).len() == sig.len() + 1
            {
                let kind = if self.units[w].hidden.is_some() { 0 } else { 1 };
                let e = options.entry(g).or_insert(kind);
                *e = (*e).min(kind);
            }
        }
        let g = options
            .into_iter()
            .map(|(g, kind)| {
                let p = &self.pools[g];
                ((p.primary, kind, p.members.len(), p.name, p.key), g)
            })
            .min()
            .map(|(_, g)| g)
            .expect("a hidden count in a published group has that group to withhold");
        self.pools[g].withheld = true;
        self.sort_into_classes();
    }

    /// Whether moving count `c` of `i` by `delta` and of `j` by `-delta`
    /// leaves everything published as it is.
    fn moves(&self, i: usize, j: usize, c: Count, delta: f64) -> bool {
        let (xi, xj) = (self.units[i].count(c), self.units[j].count(c));
        let (yi, yj) = (xi + delta, xj - delta);
        let std = Disclosure::Standard;
        if std.count(Some(xi)) != std.count(Some(yi)) || std.count(Some(xj)) != std.count(Some(yj))
        {
            return false;
        }
        self.valid(i, c, yi) && self.valid(j, c, yj)
    }

    /// Whether a row with this count would still be valued as it is.
    fn valid(&self, u: usize, c: Count, y: f64) -> bool {
        let unit = &self.units[u];
        match c {
            Count::Numerator => y >= 0.0 && !(self.rules.proportion && y > unit.d),
            Count::Denominator => {
                y > 0.0 && y >= self.rules.min_denominator && !(self.rules.proportion && y < unit.n)
            }
        }
    }
}

impl Disclosure {
    pub fn parse(s: &str) -> Option<Disclosure> {
        match s {
            "exact" => Some(Disclosure::Exact),
            "standard" => Some(Disclosure::Standard),
            _ => None,
        }
    }

    /// The stricter of two policies.
    pub fn stricter(self, other: Disclosure) -> Disclosure {
        if self == Disclosure::Standard || other == Disclosure::Standard {
            Disclosure::Standard
        } else {
            Disclosure::Exact
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Disclosure::Exact => "exact counts shown (no disclosure control)",
            Disclosure::Standard => {
                "disclosure control applied: counts of 1 to 7 shown as *, other counts rounded to the nearest 5, values from counts of 1 to 7 shown as * and not compared, with their intervals and everything else that would give the count back; further values hidden, and some peer group figures withheld, where peer group totals would give such a count back"
            }
        }
    }

    /// A count as this output may show it.
    pub fn count(self, x: Option<f64>) -> String {
        match (self, x) {
            (_, None) => "suppressed".into(),
            (Disclosure::Exact, Some(v)) => format!("{v:.0}"),
            (Disclosure::Standard, Some(v)) if is_small(Some(v)) => "*".into(),
            (Disclosure::Standard, Some(v)) => format!("{:.0}", (v / 5.0).round() * 5.0),
        }
    }

    /// The row as a download under this policy (see [`Disclosure::apply_with_peers`]).
    pub fn apply(self, r: &ResultRow, sup: &Suppression) -> ResultRow {
        self.apply_with_peers(self, r, sup)
    }

    /// The row as a CSV under this policy for the row's own counts and
    /// `peers` for what rests on other practices' counts (a practice page
    /// shows its own counts under its policy, its peers and its groups'
    /// figures as the board does): counts rounded or removed; what the row's
    /// hidden counts would give away removed and not compared, with the
    /// reason; group figures withheld as [`Suppression`] decided.
    pub fn apply_with_peers(
        self,
        peers: Disclosure,
        r: &ResultRow,
        sup: &Suppression,
    ) -> ResultRow {
        let mut out = r.clone();
        if peers == Disclosure::Standard
            && let Some(w) = sup.withheld(r)
        {
            withhold(&mut out, w);
        }
        if peers == Disclosure::Standard && sup.season_gives_away_withheld(r) {
            hide_spc_lines(&mut out);
            out.spc_value = Opt64::NONE;
        }
        if self == Disclosure::Exact {
            return out;
        }
        let round = |x: Option<f64>| {
            x.filter(|v| !is_small(Some(*v)))
                .map(|v| (v / 5.0).round() * 5.0)
        };
        out.numerator = round(r.numerator.get()).into();
        out.denominator = round(r.denominator.get()).into();
        if sup.series_holds_hidden(r) {
            hide_spc_lines(&mut out);
        }
        if let Some(why) = sup.hidden(r) {
            out.value = Opt64::NONE;
            out.lower_95 = Opt64::NONE;
            out.upper_95 = Opt64::NONE;
            out.lower_998 = Opt64::NONE;
            out.upper_998 = Opt64::NONE;
            out.percentile_rank = Opt64::NONE;
            out.comparison = Comparison::NotCompared;
            out.comparison_998 = Comparison::NotCompared;
            // The limits at the row's denominator give the denominator back.
            out.funnel_lower_95 = Opt64::NONE;
            out.funnel_upper_95 = Opt64::NONE;
            out.funnel_lower_998 = Opt64::NONE;
            out.funnel_upper_998 = Opt64::NONE;
            out.funnel_flag = None;
            out.funnel_flag_unadjusted = None;
            out.funnel_z = Opt64::NONE;
            out.spc_signal = None;
            out.spc_variation = None;
            // The charted value is the value over a published seasonal factor.
            out.spc_value = Opt64::NONE;
            out.trend = TrendLabel::CannotBeCalculated;
            out.not_compared_reason = Some(why.reason().into());
        }
        out
    }
}

/// Removes a row's SPC centre line and limits (and whether they are trial
/// limits), which average the first points of its series.
fn hide_spc_lines(out: &mut ResultRow) {
    out.spc_centre = Opt64::NONE;
    out.spc_lower = Opt64::NONE;
    out.spc_upper = Opt64::NONE;
    out.spc_trial = None;
}

/// Removes from a row what `standard` withholds of its group's figures.
fn withhold(out: &mut ResultRow, w: Withheld) {
    let mut gone = out.od_phi.is_some() || out.funnel_flag.is_some();
    out.peer_median = Opt64::NONE;
    out.percentile_rank = Opt64::NONE;
    out.od_phi = Opt64::NONE;
    out.od_tau2 = Opt64::NONE;
    out.funnel_lower_95 = Opt64::NONE;
    out.funnel_upper_95 = Opt64::NONE;
    out.funnel_lower_998 = Opt64::NONE;
    out.funnel_upper_998 = Opt64::NONE;
    out.funnel_flag = None;
    out.funnel_z = Opt64::NONE;
    let mut reason = FUNNEL_REASON;
    if w == Withheld::Pooled {
        gone |= out.benchmark.is_some();
        out.benchmark = Opt64::NONE;
        out.comparison = Comparison::NotCompared;
        out.comparison_998 = Comparison::NotCompared;
        out.funnel_flag_unadjusted = None;
        reason = POOLED_REASON;
    }
    if gone {
        out.not_compared_reason = Some(match out.not_compared_reason.take() {
            Some(r) => format!("{r}; {reason}").into(),
            None => reason.into(),
        });
    }
}

/// What one output shows of rows: `own` for a row's own counts and what is
/// worked out from them, `peers` for what rests on other practices' counts
/// (its groups' figures, ranks and medians). The board shows both under its
/// policy; a practice page its own practice under its policy and the rest as
/// the board would.
#[derive(Clone, Copy)]
pub(crate) struct View<'s> {
    pub own: Disclosure,
    pub peers: Disclosure,
    pub sup: &'s Suppression<'s>,
}

impl View<'_> {
    /// Why the row's value is hidden here, if it is.
    pub fn hidden(&self, r: &ResultRow) -> Option<Hidden> {
        if self.own == Disclosure::Standard {
            self.sup.hidden(r)
        } else {
            None
        }
    }

    pub fn hides_value(&self, r: &ResultRow) -> bool {
        self.hidden(r).is_some()
    }

    /// What is withheld here of the figures of the row's group.
    pub fn withheld(&self, r: &ResultRow) -> Option<Withheld> {
        if self.peers == Disclosure::Standard {
            self.sup.withheld(r)
        } else {
            None
        }
    }

    /// The comparison shown: none for a hidden value or a withheld benchmark.
    pub fn comparison(&self, r: &ResultRow) -> Comparison {
        if self.hides_value(r) || self.withheld(r) == Some(Withheld::Pooled) {
            Comparison::NotCompared
        } else {
            r.comparison
        }
    }

    /// The 99.8% interval's comparison, as `comparison` reads the 95%'s.
    pub fn comparison_998(&self, r: &ResultRow) -> Comparison {
        if self.hides_value(r) || self.withheld(r) == Some(Withheld::Pooled) {
            Comparison::NotCompared
        } else {
            r.comparison_998
        }
    }

    pub fn benchmark(&self, r: &ResultRow) -> Option<f64> {
        if self.withheld(r) == Some(Withheld::Pooled) {
            None
        } else {
            r.benchmark.get()
        }
    }

    /// Said instead of the row's funnel position, when it is not shown for
    /// disclosure control; its run-chart reading goes with a hidden value.
    pub fn funnel_not_shown(&self, r: &ResultRow) -> Option<&'static str> {
        match (self.hidden(r), self.withheld(r)) {
            (Some(h), _) => Some(h.words()),
            (None, Some(_)) if r.funnel_flag.is_some() => Some(NOT_SHOWN_ELSEWHERE),
            _ => None,
        }
    }

    /// The funnel position shown: none where [`View::funnel_not_shown`]
    /// says why, or with no funnel.
    pub fn funnel_flag(&self, r: &ResultRow) -> Option<FunnelFlag> {
        if self.hides_value(r) || self.withheld(r).is_some() {
            None
        } else {
            r.funnel_flag
        }
    }

    /// The funnel z-score, shown (and used to rank) exactly where the
    /// funnel position is.
    pub fn funnel_z(&self, r: &ResultRow) -> Option<f64> {
        self.funnel_flag(r).and(r.funnel_z.get())
    }

    /// Whether the centre line and limits of the practice's own SPC chart
    /// are withheld: a value hidden here is in the series they average.
    pub fn hides_spc_lines(&self, r: &ResultRow) -> bool {
        (self.own == Disclosure::Standard && self.sup.series_holds_hidden(r))
            || (self.peers == Disclosure::Standard && self.sup.season_gives_away_withheld(r))
    }

    pub fn count(&self, x: Option<f64>) -> String {
        self.own.count(x)
    }

    /// The row with its group's withheld figures taken out (and not
    /// compared when its value is hidden), for charts that read them.
    pub fn group_figures<'r>(&self, r: &'r ResultRow) -> Cow<'r, ResultRow> {
        let w = self.withheld(r);
        if w.is_none() && !self.hides_value(r) {
            return Cow::Borrowed(r);
        }
        let mut out = r.clone();
        if let Some(w) = w {
            withhold(&mut out, w);
        }
        out.comparison = self.comparison(r);
        Cow::Owned(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use peerbench_stats::{FunnelFlag, SpcRule, Variation};

    #[test]
    fn counts_follow_methods_section_9() {
        let s = Disclosure::Standard;
        assert_eq!(s.count(Some(0.0)), "0");
        assert_eq!(s.count(Some(1.0)), "*");
        assert_eq!(s.count(Some(7.0)), "*");
        assert_eq!(s.count(Some(8.0)), "10");
        assert_eq!(s.count(Some(12.0)), "10");
        assert_eq!(s.count(Some(13.0)), "15");
        assert_eq!(s.count(None), "suppressed");
        assert_eq!(Disclosure::Exact.count(Some(3.0)), "3");
    }

    fn group(name: &str, kind: PeerGroupKind) -> PeerGroup {
        PeerGroup {
            name: name.into(),
            kind,
            min_practices: 5,
            min_practices_for_funnel: 10,
        }
    }

    fn federation() -> Vec<PeerGroup> {
        vec![group("federation", PeerGroupKind::Federation)]
    }

    fn federation_and_pcns() -> Vec<PeerGroup> {
        vec![
            group("federation", PeerGroupKind::Federation),
            group("pcn", PeerGroupKind::Pcn),
        ]
    }

    /// A row of the federation group with every statistic present.
    pub(crate) fn row(code: &str, period: &str, n: f64, d: f64) -> ResultRow {
        ResultRow {
            indicator_id: "x_pct".into(),
            practice_code: code.into(),
            period: period.into(),
            peer_group: "federation".into(),
            peer_group_key: "F".into(),
            peer_group_size: 5,
            numerator: Opt64::some(n),
            denominator: Opt64::some(d),
            value: Opt64::some(n / d * 100.0),
            lower_95: Opt64::some(1.0),
            upper_95: Opt64::some(2.0),
            lower_998: Opt64::some(0.5),
            upper_998: Opt64::some(3.0),
            benchmark: Opt64::some(10.0),
            peer_median: Opt64::some(9.0),
            percentile_rank: Opt64::some(50.0),
            comparison: Comparison::Worse,
            comparison_998: Comparison::Similar,
            funnel_lower_95: Opt64::some(5.0),
            funnel_upper_95: Opt64::some(15.0),
            funnel_lower_998: Opt64::some(3.0),
            funnel_upper_998: Opt64::some(17.0),
            funnel_flag: Some(FunnelFlag::Low95),
            funnel_flag_unadjusted: Some(FunnelFlag::Low998),
            funnel_z: Opt64::some(-4.2),
            od_phi: Opt64::some(1.5),
            od_tau2: Opt64::some(0.001),
            spc_signal: Some(SpcRule::Shift),
            spc_variation: Some(Variation::Concern),
            spc_value: Opt64::some(10.0),
            spc_seasonally_adjusted: Some(false),
            spc_centre: Opt64::some(4.0),
            spc_lower: Opt64::some(1.0),
            spc_upper: Opt64::some(7.0),
            spc_trial: Some(false),
            trend: TrendLabel::DecreasingGettingWorse,
            not_compared_reason: None,
        }
    }

    /// The same practice's row in its PCN.
    /// Each practice (code, numerator of 400, PCN) in September 2026, as
    /// compared within its PCN and within the federation.
    fn federation_and_pcn_rows(practices: &[(&str, f64, &str)]) -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for &(code, n, pcn) in practices {
            let r = row(code, "2026-09", n, 400.0);
            rows.push(in_pcn(&r, pcn));
            rows.push(r);
        }
        rows
    }

    fn in_pcn(r: &ResultRow, pcn: &str) -> ResultRow {
        ResultRow {
            peer_group: "pcn".into(),
            peer_group_key: pcn.into(),
            ..r.clone()
        }
    }

    /// Practice A with a count of 3 among five practices with larger ones.
    fn six() -> Vec<ResultRow> {
        vec![
            row("A", "2026-09", 3.0, 120.0),
            row("B", "2026-09", 30.0, 300.0),
            row("C", "2026-09", 40.0, 300.0),
            row("D", "2026-09", 50.0, 400.0),
            row("E", "2026-09", 60.0, 500.0),
            row("F", "2026-09", 70.0, 600.0),
        ]
    }

    fn hidden_codes(rows: &[ResultRow], sup: &Suppression) -> Vec<(String, Hidden)> {
        let mut out: Vec<(String, Hidden)> = rows
            .iter()
            .filter_map(|r| sup.hidden(r).map(|h| (r.practice_code.to_string(), h)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup();
        out
    }

    /// Every field of a row with a small count, decided one by one: the
    /// destructuring has no `..`, so a new field of ResultRow fails to
    /// compile here until someone decides whether it gives a count away.
    #[test]
    fn a_small_count_hides_everything_worked_out_from_it() {
        let rows = six();
        let groups = federation();
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        let ResultRow {
            indicator_id,
            practice_code,
            period,
            peer_group,
            peer_group_key,
            peer_group_size,
            numerator,
            denominator,
            value,
            lower_95,
            upper_95,
            lower_998,
            upper_998,
            benchmark,
            peer_median,
            percentile_rank,
            comparison,
            comparison_998,
            funnel_lower_95,
            funnel_upper_95,
            funnel_lower_998,
            funnel_upper_998,
            funnel_flag,
            funnel_flag_unadjusted,
            funnel_z,
            od_phi,
            od_tau2,
            spc_signal,
            spc_variation,
            spc_value,
            spc_seasonally_adjusted,
            spc_centre,
            spc_lower,
            spc_upper,
            spc_trial,
            trend,
            not_compared_reason,
        } = Disclosure::Standard.apply(&rows[0], &sup);
        // The row's key, its group's size and its benchmark (protected by
        // secondary suppression) stay.
        assert_eq!(
            (
                indicator_id,
                practice_code,
                period,
                peer_group,
                peer_group_key
            ),
            (
                "x_pct".into(),
                "A".into(),
                "2026-09".into(),
                "federation".into(),
                "F".into()
            )
        );
        assert_eq!(peer_group_size, 5);
        assert_eq!(benchmark, Some(10.0));
        // Counts: * (empty in a CSV) and rounded to 5.
        assert_eq!((numerator.get(), denominator.get()), (None, Some(120.0)));
        // Everything from the row's own counts, what its peers' ranks and
        // median would say about it, and the group's funnel (φ and τ² weigh
        // each member separately) are gone.
        let gone = [
            value,
            lower_95,
            upper_95,
            lower_998,
            upper_998,
            peer_median,
            percentile_rank,
            funnel_lower_95,
            funnel_upper_95,
            funnel_lower_998,
            funnel_upper_998,
            od_phi,
            od_tau2,
            spc_value,
            spc_centre,
            spc_lower,
            spc_upper,
        ];
        assert!(gone.iter().all(|x| x.is_none()), "{gone:?}");
        assert_eq!(
            (comparison, comparison_998),
            (Comparison::NotCompared, Comparison::NotCompared)
        );
        assert_eq!((funnel_flag, funnel_flag_unadjusted), (None, None));
        // The position on the funnel brackets the value.
        assert_eq!(funnel_z, None);
        assert_eq!((spc_signal, spc_variation, spc_trial), (None, None, None));
        // Whether the chart is adjusted is a property of the indicator's
        // federation-wide season, not of the row's counts.
        assert_eq!(spc_seasonally_adjusted, Some(false));
        assert_eq!(trend, TrendLabel::CannotBeCalculated);
        assert_eq!(
            not_compared_reason.as_deref(),
            Some("disclosure control: a count of 1 to 7")
        );
    }

    /// Two more practices share A's part of the total: the two smallest
    /// numerators. They are shown like A, with their own reason; the rest
    /// keep their own statistics.
    #[test]
    fn secondary_suppression_shares_a_small_count() {
        let rows = six();
        let groups = federation();
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        assert_eq!(
            hidden_codes(&rows, &sup),
            [
                ("A".to_string(), Hidden::SmallCount),
                ("B".to_string(), Hidden::Secondary),
                ("C".to_string(), Hidden::Secondary)
            ]
        );
        let b = Disclosure::Standard.apply(&rows[1], &sup);
        assert_eq!(
            (
                b.numerator.get(),
                b.denominator.get(),
                b.value.get(),
                b.lower_95.get(),
                b.funnel_flag
            ),
            (Some(30.0), Some(300.0), None, None, None)
        );
        assert_eq!(b.comparison, Comparison::NotCompared);
        assert_eq!(
            b.not_compared_reason.as_deref(),
            Some("disclosure control: hidden to protect a count of 1 to 7 elsewhere")
        );
        // A shown row keeps its own statistics and its comparison with the
        // benchmark, but not its rank nor the median (they bracket the
        // hidden values) nor the group's funnel.
        let d = Disclosure::Standard.apply(&rows[3], &sup);
        assert_eq!(
            (
                d.numerator.get(),
                d.value.get(),
                d.lower_95.get(),
                d.benchmark.get(),
                d.comparison
            ),
            (
                Some(50.0),
                Some(12.5),
                Some(1.0),
                Some(10.0),
                Comparison::Worse
            )
        );
        assert_eq!(
            (
                d.peer_median.get(),
                d.percentile_rank.get(),
                d.od_phi.get(),
                d.funnel_upper_95.get(),
                d.funnel_flag
            ),
            (None, None, None, None, None)
        );
        assert_eq!(d.funnel_flag_unadjusted, Some(FunnelFlag::Low998));
        assert_eq!(d.not_compared_reason.as_deref(), Some(FUNNEL_REASON));
        // Exact shows everything.
        for r in &rows {
            assert_eq!(&Disclosure::Exact.apply(r, &sup), r);
        }
        assert_eq!(
            sup.summary,
            SuppressionSummary {
                small: 1,
                secondary: 2,
                groups_withheld: 0,
                at_an_edge: 0
            }
        );
    }

    #[test]
    fn medians_ranks_and_spc_lines_ordering_or_averaging_hidden_values_are_hidden() {
        // A (small) and B, C (hidden to protect it): the median and ranks of
        // the group order them among the others, and go.
        let groups = federation();
        let rows = vec![
            row("A", "2026-09", 3.0, 120.0),
            row("B", "2026-09", 30.0, 300.0),
            row("C", "2026-09", 40.0, 200.0),
            row("D", "2026-09", 50.0, 1000.0),
            row("E", "2026-09", 60.0, 1000.0),
            row("F", "2026-09", 70.0, 200.0),
        ];
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        assert_eq!(hidden_codes(&rows, &sup).len(), 3);
        let s = Disclosure::Standard;
        let d = s.apply(&rows[3], &sup);
        assert_eq!((d.peer_median.get(), d.percentile_rank.get()), (None, None));
        // With the six shown they stay.
        let mut big = rows.clone();
        big[0].numerator = Opt64::some(30.0);
        big[0].value = Opt64::some(25.0);
        let none = Suppression::new(&big, &groups, &[], "federation");
        let d = s.apply(&big[3], &none);
        assert_eq!(
            (d.peer_median.get(), d.percentile_rank.get()),
            (Some(9.0), Some(50.0))
        );
        // A group whose members the rows do not show (similar practices)
        // loses all its figures in a period with a hidden value.
        let opaque = Suppression::new(&rows, &[], &[], "federation");
        let c = s.apply(&rows[2], &opaque);
        assert_eq!(
            (
                c.value.get(),
                c.peer_median.get(),
                c.benchmark.get(),
                c.od_phi.get()
            ),
            (Some(20.0), None, None, None)
        );
        assert_eq!(
            (c.comparison, c.funnel_flag_unadjusted),
            (Comparison::NotCompared, None)
        );
        assert_eq!(c.not_compared_reason.as_deref(), Some(POOLED_REASON));
        // Every point of a hidden row's own series loses its SPC centre and
        // limits (they average the hidden value), a later shown month
        // included: for A (a small count) and B (hidden to protect it).
        let all = [
            rows.clone(),
            vec![
                row("A", "2026-10", 40.0, 400.0),
                row("B", "2026-10", 40.0, 400.0),
            ],
        ]
        .concat();
        let sup = Suppression::new(&all, &groups, &[], "federation");
        for later in &all[6..] {
            let shown = s.apply(later, &sup);
            assert_eq!(
                (
                    shown.value.get(),
                    shown.spc_centre.get(),
                    shown.spc_upper.get()
                ),
                (Some(10.0), None, None)
            );
            assert_eq!(shown.spc_variation, Some(Variation::Concern));
            assert_eq!(Disclosure::Exact.apply(later, &sup).spc_centre, Some(4.0));
        }
    }

    /// Two PCNs of four; in the first, A has a count of 3 and B a numerator
    /// of 0 (which, shown as it is, cannot share a total).
    #[test]
    fn secondary_rows_share_the_total_in_every_group_holding_the_small_count() {
        let mut rows = federation_and_pcn_rows(&[
            ("A", 3.0, "P1"),
            ("B", 0.0, "P1"),
            ("C", 20.0, "P1"),
            ("D", 15.0, "P1"),
            ("E", 9.0, "P2"),
            ("F", 30.0, "P2"),
            ("G", 40.0, "P2"),
            ("H", 50.0, "P2"),
        ]);
        let groups = federation_and_pcns();
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        // Not E (smallest in the federation, but in the other PCN: the two
        // PCN totals would give A back), not B: D, then C.
        assert_eq!(
            hidden_codes(&rows, &sup),
            [
                ("A".to_string(), Hidden::SmallCount),
                ("C".to_string(), Hidden::Secondary),
                ("D".to_string(), Hidden::Secondary)
            ]
        );
        // P1 and the federation keep their benchmarks, without funnels;
        // P2 holds no hidden row and keeps everything.
        let pcn = |code: &str| {
            rows.iter()
                .find(|r| &*r.practice_code == code && &*r.peer_group == "pcn")
                .unwrap()
        };
        let b = Disclosure::Standard.apply(pcn("B"), &sup);
        assert_eq!((b.benchmark.get(), b.od_phi.get()), (Some(10.0), None));
        let f = Disclosure::Standard.apply(pcn("F"), &sup);
        assert_eq!(
            (f.benchmark.get(), f.od_phi.get(), f.percentile_rank.get()),
            (Some(10.0), Some(1.5), Some(50.0))
        );
        // Ties go by practice code.
        rows.iter_mut()
            .filter(|r| &*r.practice_code == "C")
            .for_each(|r| r.numerator = Opt64::some(15.0));
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        assert_eq!(hidden_codes(&rows, &sup).len(), 3);
    }

    /// A practice alone in its PCN: its PCN's figures are its own, so they
    /// are withheld; in the federation it then needs others that share no
    /// published PCN total with anyone shown: a second PCN's figures are
    /// withheld rather than the federation's (the primary group).
    #[test]
    fn a_group_of_one_is_withheld_rather_than_given_away() {
        let rows = federation_and_pcn_rows(&[
            ("A", 3.0, "P1"),
            ("B", 20.0, "P2"),
            ("C", 25.0, "P2"),
            ("D", 30.0, "P2"),
            ("E", 35.0, "P3"),
            ("F", 40.0, "P3"),
            ("G", 45.0, "P3"),
            ("H", 50.0, "P3"),
        ]);
        let groups = federation_and_pcns();
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        assert_eq!(
            hidden_codes(&rows, &sup),
            [
                ("A".to_string(), Hidden::SmallCount),
                ("B".to_string(), Hidden::Secondary),
                ("C".to_string(), Hidden::Secondary)
            ]
        );
        let get = |code: &str, g: &str| {
            Disclosure::Standard.apply(
                rows.iter()
                    .find(|r| &*r.practice_code == code && &*r.peer_group == g)
                    .unwrap(),
                &sup,
            )
        };
        for code in ["A", "D"] {
            let r = get(code, "pcn");
            assert_eq!(
                (r.benchmark.get(), r.comparison),
                (None, Comparison::NotCompared)
            );
        }
        assert_eq!(
            get("D", "pcn").not_compared_reason.as_deref(),
            Some(POOLED_REASON)
        );
        assert_eq!(get("D", "federation").benchmark, Some(10.0));
        assert_eq!(get("E", "pcn").benchmark, Some(10.0));
        assert_eq!(sup.summary.groups_withheld, 2);
        assert_brute_force_finds_nothing(&rows, &sup);
        // A seasonally adjusted chart of this indicator would give the
        // federation's seasonal factors away, and with them, given the other
        // months' benchmarks, a withheld month's pooled rate: its values,
        // centre and limits go, for every practice; an unadjusted chart stays.
        let adjusted: Vec<ResultRow> = rows
            .iter()
            .map(|r| ResultRow {
                spc_seasonally_adjusted: Some(true),
                ..r.clone()
            })
            .collect();
        let sup = Suppression::new(&adjusted, &groups, &[], "federation");
        let e = Disclosure::Standard.apply(&adjusted[adjusted.len() - 1], &sup);
        assert_eq!(&*e.practice_code, "H");
        assert_eq!(
            (e.spc_value.get(), e.spc_centre.get(), e.spc_upper.get()),
            (None, None, None)
        );
        let e = Disclosure::Exact.apply_with_peers(
            Disclosure::Standard,
            &adjusted[adjusted.len() - 1],
            &sup,
        );
        assert_eq!((e.spc_value.get(), e.spc_centre.get()), (None, None));
        let h = get("H", "federation");
        assert_eq!(
            (h.spc_value.get(), h.spc_centre.get()),
            (Some(10.0), Some(4.0))
        );
    }

    /// Three counts of 1 in a group: their total (3) pins each of them,
    /// though three are hidden. Only the exact counts show it; two more
    /// practices are hidden.
    #[test]
    fn a_hidden_total_at_its_lowest_is_shared_further() {
        let mut rows: Vec<ResultRow> = ["A", "B", "C"]
            .iter()
            .map(|c| row(c, "2026-09", 1.0, 400.0))
            .collect();
        for (i, c) in ["D", "E", "F", "G"].iter().enumerate() {
            rows.push(row(c, "2026-09", 20.0 + i as f64, 400.0));
        }
        let groups = federation();
        let sup = Suppression::new(&rows, &groups, &[], "federation");
        assert_eq!(hidden_codes(&rows, &sup).len(), 5);
        assert!(sup.summary.at_an_edge > 0);
        assert_brute_force_finds_nothing(&rows, &sup);
    }

    /// Everything an attacker can say about the hidden numerators from the
    /// published group totals, by trying every value each could take as
    /// shown (1 to 7 for `*`, ± 2 for a rounded count): each count of 1 to
    /// 7 must keep two possible values, also to any one hidden practice
    /// that knows its own numerator.
    fn assert_brute_force_finds_nothing(rows: &[ResultRow], sup: &Suppression) {
        let std = Disclosure::Standard;
        let mut hidden: Vec<(&str, f64)> = Vec::new();
        // Published structural totals: (hidden members, their true total).
        let mut totals: HashMap<(&str, &str), (Vec<usize>, f64)> = HashMap::default();
        for r in rows {
            if sup.hidden(r).is_none() {
                continue;
            }
            let i = match hidden.iter().position(|(c, _)| *c == &*r.practice_code) {
                Some(i) => i,
                None => {
                    hidden.push((r.practice_code.as_str(), r.numerator.get().unwrap()));
                    hidden.len() - 1
                }
            };
            if sup.withheld(r) != Some(Withheld::Pooled) {
                let t = totals
                    .entry((r.peer_group.as_str(), r.peer_group_key.as_str()))
                    .or_default();
                t.0.push(i);
                t.1 += r.numerator.get().unwrap();
            }
        }
        let windows: Vec<Vec<f64>> = hidden
            .iter()
            .map(|(_, n)| {
                (0..200)
                    .map(f64::from)
                    .filter(|v| std.count(Some(*v)) == std.count(Some(*n)))
                    .collect()
            })
            .collect();
        let totals: Vec<(Vec<usize>, f64)> = totals.into_values().collect();
        // Every assignment of the hidden numerators that the totals allow.
        fn search(
            k: usize,
            x: &mut Vec<f64>,
            windows: &[Vec<f64>],
            totals: &[(Vec<usize>, f64)],
            out: &mut Vec<Vec<f64>>,
        ) {
            if k == windows.len() {
                if totals
                    .iter()
                    .all(|(m, t)| m.iter().map(|&i| x[i]).sum::<f64>() == *t)
                {
                    out.push(x.clone());
                }
                return;
            }
            for &v in &windows[k] {
                x.push(v);
                // Prune on totals whose members are all assigned.
                let ok = totals.iter().all(|(m, t)| {
                    !m.iter().all(|&i| i <= k) || m.iter().map(|&i| x[i]).sum::<f64>() == *t
                });
                if ok {
                    search(k + 1, x, windows, totals, out);
                }
                x.pop();
            }
        }
        let mut worlds = Vec::new();
        search(0, &mut Vec::new(), &windows, &totals, &mut worlds);
        for (t, (code, n)) in hidden.iter().enumerate() {
            if !is_small(Some(*n)) {
                continue;
            }
            for insider in (0..hidden.len()).map(Some).chain([None]) {
                if insider == Some(t) {
                    continue;
                }
                let values: HashSet<u64> = worlds
                    .iter()
                    .filter(|w| insider.is_none_or(|i| w[i] == hidden[i].1))
                    .map(|w| w[t].to_bits())
                    .collect();
                assert!(
                    values.len() >= 2,
                    "{code}'s count of {n} is pinned (insider {insider:?}) in {worlds:?}"
                );
            }
        }
    }

    /// Random federations of PCNs with counts of 0 to 60, many small: the
    /// brute-force attacker never pins a hidden count.
    #[test]
    fn no_hidden_count_is_pinned_by_group_totals() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let groups = federation_and_pcns();
        for _ in 0..60 {
            let practices = 4 + next(6) as usize;
            let mut rows = Vec::new();
            let mut smalls = 0;
            for p in 0..practices {
                let n = match next(4) {
                    0 => 1.0 + next(7) as f64,
                    1 => 0.0,
                    _ => 8.0 + next(50) as f64,
                };
                if is_small(Some(n)) {
                    smalls += 1;
                    if smalls > 3 {
                        continue;
                    }
                }
                let r = row(&format!("P{p:02}"), "2026-09", n, 400.0);
                rows.push(in_pcn(&r, &format!("N{}", next(3))));
                rows.push(r);
            }
            let sup = Suppression::new(&rows, &groups, &[], "federation");
            assert_brute_force_finds_nothing(&rows, &sup);
        }
    }
}
