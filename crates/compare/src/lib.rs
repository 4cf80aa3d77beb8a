//! Compares every practice with its peer groups, indicator by indicator and
//! period by period: value and 95% / 99.8% intervals, the pooled peer
//! benchmark, peer median and percent rank, the comparison word, the
//! practice's place on the peer funnel (adjusted for overdispersion), its own
//! SPC chart and its recent trend.
//!
//! Pure computation on indicator rows; the statistics come from
//! `peerbench-stats`. Every result records the peer group it used.

mod changes;
mod neighbours;
mod opt64;
mod reporting;

use std::collections::{BTreeMap, HashMap};

/// The comparison's own lookups, by practice code, key, period or reason:
/// millions a run nationally, so foldhash rather than SipHash (the
/// practices passed in keep the standard map of the crate's API).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use peerbench_catalogue::{Indicator, IndicatorRow, Sex, ValueType, dsr_arrays};
use peerbench_stats::{
    Comparison, FunnelFlag, FunnelKind, FunnelUnit, Interval, MonthlyRate, Overdispersion,
    PhiEstimator, SeasonalIndex, SpcOptions, SpcRule, TrendLabel, Variation, byar_rate,
    compare_with_benchmark, dsr, flag, funnel_limits, overdispersion, percent_rank_sorted,
    quantile_type7, recent_trend, seasonal_index, trend_label, unadjusted_flag, wilson_proportion,
    xmr,
};

pub use changes::{Change, ChangeKind, Reading, what_changed};
pub use neighbours::{DescriptorWeight, nearest_neighbours};
pub use opt64::Opt64;
pub use reporting::{ReportingPeriods, enough_sent, reporting_periods};

/// What a practice is, for grouping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PracticeInfo {
    pub code: String,
    pub name: String,
    pub pcn_code: String,
    pub pcn_name: String,
    pub federation: String,
    pub icb_code: String,
    /// Registered patients, as the practice page's header shows them.
    pub list_size: Option<f64>,
    /// The warehouse table the list size was read from: the registered
    /// patients extract where there is one, else the practice register.
    pub list_size_source: String,
    /// The month of that extract (YYYY-MM); None when the source gives no
    /// month (a register's list size is undated).
    pub list_size_month: Option<String>,
    /// Numeric descriptors for similar-practice groups (list size, % 65+, …).
    pub descriptors: BTreeMap<String, f64>,
}

/// How practices are grouped for comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerGroupKind {
    /// Every practice loaded.
    All,
    Federation,
    Pcn,
    Icb,
    /// Each practice with its k most similar practices on the weighted,
    /// standardised descriptors (methods reference §8).
    Similar {
        k: usize,
        weights: Vec<DescriptorWeight>,
    },
}

impl PeerGroupKind {
    pub fn parse_structural(s: &str) -> Option<PeerGroupKind> {
        match s {
            "all" => Some(PeerGroupKind::All),
            "federation" => Some(PeerGroupKind::Federation),
            "pcn" => Some(PeerGroupKind::Pcn),
            "icb" => Some(PeerGroupKind::Icb),
            _ => None,
        }
    }
}

/// A named peer-group definition from the pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerGroup {
    pub name: String,
    pub kind: PeerGroupKind,
    /// Fewer practices than this with data, and nobody in the group is compared.
    pub min_practices: usize,
    /// Fewer than this, and overdispersion (so the funnel) is not estimated.
    pub min_practices_for_funnel: usize,
}

/// Which practices each practice is compared with, under one group. Members
/// are stored once per key: an "all" group of 6,300 practices must not hold
/// 6,300 copies of its member list.
#[derive(Debug, Clone)]
struct Membership {
    key_of: FastMap<String, String>,
    members: FastMap<String, Vec<String>>,
}

/// A peer group with its members worked out, once per run: similar-practice
/// groups cost a nearest-neighbour search over every practice.
#[derive(Debug, Clone)]
pub struct ResolvedPeerGroup {
    pub group: PeerGroup,
    membership: Membership,
}

impl PeerGroup {
    /// Works out who is in the group for each practice.
    pub fn resolve(&self, practices: &HashMap<String, PracticeInfo>) -> ResolvedPeerGroup {
        ResolvedPeerGroup {
            group: self.clone(),
            membership: self.membership(practices),
        }
    }

    fn membership(&self, practices: &HashMap<String, PracticeInfo>) -> Membership {
        let mut key_of = FastMap::default();
        let mut members: FastMap<String, Vec<String>> = FastMap::default();
        if let PeerGroupKind::Similar { k, weights } = &self.kind {
            for (code, near) in nearest_neighbours(practices, weights, *k) {
                let mut group = vec![code.clone()];
                group.extend(near);
                key_of.insert(code.clone(), code.clone());
                members.insert(code, group);
            }
            return Membership { key_of, members };
        }
        for p in practices.values() {
            let key = match &self.kind {
                PeerGroupKind::All => "all".to_string(),
                PeerGroupKind::Federation => p.federation.clone(),
                PeerGroupKind::Pcn => p.pcn_code.clone(),
                PeerGroupKind::Icb => p.icb_code.clone(),
                PeerGroupKind::Similar { .. } => unreachable!("handled above"),
            };
            members.entry(key.clone()).or_default().push(p.code.clone());
            key_of.insert(p.code.clone(), key);
        }
        members.values_mut().for_each(|m| m.sort());
        Membership { key_of, members }
    }
}

/// Options that apply to every comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    pub spc: SpcOptions,
    /// How each funnel's φ is estimated (docs/methods.md, "Funnels").
    pub phi: PhiEstimator,
}

impl Default for CompareOptions {
    /// SPC limits are fixed on the first 12 points, as Making Data Count
    /// advises once there are enough: computed over every point, one new
    /// spike would lift the mean and make the months before it look like a
    /// shift in retrospect. Shorter series use all their points (trial limits).
    fn default() -> Self {
        CompareOptions {
            spc: SpcOptions {
                baseline: Some(12),
                ..SpcOptions::default()
            },
            phi: PhiEstimator::default(),
        }
    }
}

/// A name a result row shares with many others (its indicator, practice,
/// period, peer group and key, the reason it is not compared): one copy
/// per distinct name, and a thin pointer to it in each row (8 bytes, where
/// `Arc<str>` is 16). The run holds every row until publishing, 10.7
/// million nationally over two years. Compared and ordered by its text.
pub type Name = arcstr::ArcStr;

/// One row of the results table: indicator × practice × period × peer group.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub indicator_id: Name,
    pub practice_code: Name,
    pub period: Name,
    pub peer_group: Name,
    /// The group's key: the PCN code, the federation, or (for similar
    /// practices) the practice's own code.
    pub peer_group_key: Name,
    /// How many practices the group has (u32 keeps the row's small fields
    /// in one word).
    pub peer_group_size: u32,
    pub numerator: Opt64,
    pub denominator: Opt64,
    pub value: Opt64,
    pub lower_95: Opt64,
    pub upper_95: Opt64,
    pub lower_998: Opt64,
    pub upper_998: Opt64,
    pub benchmark: Opt64,
    pub peer_median: Opt64,
    pub percentile_rank: Opt64,
    pub comparison: Comparison,
    pub comparison_998: Comparison,
    pub funnel_lower_95: Opt64,
    pub funnel_upper_95: Opt64,
    pub funnel_lower_998: Opt64,
    pub funnel_upper_998: Opt64,
    /// Against the overdispersion-adjusted limits; None is `not_compared`.
    pub funnel_flag: Option<FunnelFlag>,
    /// Against exact limits without the adjustment, for comparison.
    pub funnel_flag_unadjusted: Option<FunnelFlag>,
    /// How far the practice sits from the peer value on the funnel's
    /// overdispersion-adjusted scale, in standard deviations: the
    /// transformed value less the transformed target, over √(s² + τ²)
    /// (methods reference §4.2). ±1.96 is at the 95% limits and ±3.09 at
    /// the 99.8% limits wherever those are not widened for a small expected
    /// count. Ranks "how far outside the limits"; None with no funnel.
    pub funnel_z: Opt64,
    pub od_phi: Opt64,
    pub od_tau2: Opt64,
    /// The special-cause rule the point breaks; None for common cause or
    /// no chart.
    pub spc_signal: Option<SpcRule>,
    /// None when the practice's series is too short to chart.
    pub spc_variation: Option<Variation>,
    /// The value the XmR chart was drawn on: `value` itself, or for a
    /// seasonal indicator `value` ÷ the month's seasonal factor. The centre
    /// and limits are on this scale.
    pub spc_value: Opt64,
    /// Whether `spc_value` is seasonally adjusted; false for a seasonal
    /// indicator whose season could not be estimated (fewer than two of
    /// some calendar month), so its chart is of the raw values.
    pub spc_seasonally_adjusted: Option<bool>,
    pub spc_centre: Opt64,
    pub spc_lower: Opt64,
    pub spc_upper: Opt64,
    pub spc_trial: Option<bool>,
    pub trend: TrendLabel,
    pub not_compared_reason: Option<Name>,
}

struct Valued {
    value: f64,
    ci95: Interval,
    ci998: Interval,
}

/// The funnel an indicator is drawn on. None for directly standardised
/// rates: their precision is not a function of one denominator, so they are
/// compared by their intervals (and shown on a caterpillar plot) instead.
fn funnel_kind(ind: &Indicator) -> Option<FunnelKind> {
    match ind.value_type {
        ValueType::Proportion => Some(FunnelKind::Proportion),
        ValueType::Rate | ValueType::Ratio | ValueType::Isr => Some(FunnelKind::Ratio),
        ValueType::Dsr => None,
    }
}

fn evaluate(
    ind: &Indicator,
    row: &IndicatorRow,
    numerator: f64,
    denominator: f64,
) -> Result<Valued, peerbench_stats::StatsError> {
    let m = ind.multiplier;
    match ind.value_type {
        ValueType::Dsr => {
            let (o, n, w) = dsr_arrays(&row.strata).ok_or(peerbench_stats::StatsError::Empty)?;
            let d95 = dsr(&o, &n, &w, m, 0.95)?;
            let d998 = dsr(&o, &n, &w, m, 0.998)?;
            Ok(Valued {
                value: d95.value,
                ci95: Interval {
                    lower: d95.lower,
                    upper: d95.upper,
                },
                ci998: Interval {
                    lower: d998.lower,
                    upper: d998.upper,
                },
            })
        }
        ValueType::Proportion => Ok(Valued {
            value: numerator / denominator * m,
            ci95: wilson_proportion(numerator, denominator, 0.95)?.scaled(m),
            ci998: wilson_proportion(numerator, denominator, 0.998)?.scaled(m),
        }),
        ValueType::Rate | ValueType::Ratio | ValueType::Isr => Ok(Valued {
            value: numerator / denominator * m,
            ci95: byar_rate(numerator, denominator, m, 0.95)?,
            ci998: byar_rate(numerator, denominator, m, 0.998)?,
        }),
    }
}

struct Eval<'a> {
    row: &'a IndicatorRow,
    valued: Option<Valued>,
    reason: Option<String>,
}

/// What a group's practices share in one period.
struct GroupStats {
    size: usize,
    benchmark: Option<f64>,
    median: Option<f64>,
    values: Vec<f64>,
    od: Option<Overdispersion>,
    funnel_reason: Option<String>,
}

/// One point of a practice's own XmR chart.
struct SpcAtPoint {
    /// The charted value (seasonally adjusted or not).
    value: f64,
    seasonally_adjusted: bool,
    signal: Option<SpcRule>,
    variation: Variation,
    centre: f64,
    lower: f64,
    upper: f64,
    trial: bool,
}

/// Per-practice SPC and trend over its own series, keyed by period.
struct OwnSeries {
    spc: FastMap<String, SpcAtPoint>,
    trend: FastMap<String, TrendLabel>,
}

/// "YYYY-MM" as months since January of year 0; None for any other period.
fn month_index(period: &str) -> Option<i64> {
    let (year, month) = period.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let (year, month): (i64, i64) = (year.parse().ok()?, month.parse().ok()?);
    (1..=12).contains(&month).then_some(year * 12 + month - 1)
}

/// The federation's seasonal index for a seasonal indicator: fitted to every
/// practice's valued numerators over their denominators, pooled month by
/// month (all practices in the run, whatever their peer group: a practice's
/// own chart does not depend on its peers). None when the indicator is not
/// seasonal, its periods are not months, or the season cannot be estimated
/// (fewer than two of some calendar month): its charts are then of the raw
/// values and say so.
fn federation_season(ind: &Indicator, evals: &[Eval]) -> Option<SeasonalIndex> {
    if !ind.seasonal {
        return None;
    }
    let mut pooled: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for e in evals.iter().filter(|e| e.valued.is_some()) {
        let (Some(o), Some(n)) = (e.row.numerator, e.row.denominator) else {
            continue;
        };
        let t = month_index(&e.row.period)?;
        let sum = pooled.entry(t).or_default();
        sum.0 += o;
        sum.1 += n;
    }
    let series: Vec<MonthlyRate> = pooled
        .into_iter()
        .filter(|(_, (_, n))| *n > 0.0)
        .map(|(month_index, (o, n))| MonthlyRate {
            month_index,
            rate: o / n,
        })
        .collect();
    seasonal_index(&series).ok()
}

fn own_series(
    ind: &Indicator,
    evals: &[&Eval],
    season: Option<&SeasonalIndex>,
    options: &CompareOptions,
) -> OwnSeries {
    let mut spc = FastMap::default();
    let mut trend = FastMap::default();
    // Time order; periods sort as text (YYYY-MM, YYYY-YY, YYYY).
    let mut points: Vec<&&Eval> = evals.iter().collect();
    points.sort_by(|a, b| a.row.period.cmp(&b.row.period));
    // With a season, each month is divided by its calendar month's factor;
    // `federation_season` only gives one when every period is a month.
    let adjust = |period: &str, value: f64| match season.zip(month_index(period)) {
        Some((s, t)) => value / s.factor(t),
        None => value,
    };
    let valued: Vec<(&str, f64)> = points
        .iter()
        .filter_map(|e| {
            e.valued
                .as_ref()
                .map(|v| (e.row.period.as_str(), adjust(&e.row.period, v.value)))
        })
        .collect();
    // SPC needs a real series: annual indicators with a couple of points get none.
    if valued.len() >= 6 {
        let values: Vec<f64> = valued.iter().map(|(_, v)| *v).collect();
        if let Ok(chart) = xmr(&values, ind.polarity, &options.spc) {
            for ((period, value), point) in valued.iter().zip(&chart.points) {
                spc.insert(
                    period.to_string(),
                    SpcAtPoint {
                        value: *value,
                        seasonally_adjusted: season.is_some(),
                        signal: point.signal,
                        variation: point.variation,
                        centre: chart.centre,
                        lower: chart.lower,
                        upper: chart.upper,
                        trial: chart.trial,
                    },
                );
            }
        }
    }
    // The recent-trend test works on counts and denominators, which a DSR's
    // weighting does not reduce to.
    let Some(kind) = funnel_kind(ind) else {
        return OwnSeries { spc, trend };
    };
    // Each period's trend is over the series up to it: one series, sliced.
    let series: Vec<(f64, f64)> = points
        .iter()
        .map(|p| {
            (
                p.row.numerator.unwrap_or(f64::NAN),
                p.row.denominator.unwrap_or(f64::NAN),
            )
        })
        .collect();
    for (i, e) in points.iter().enumerate() {
        trend.insert(
            e.row.period.clone(),
            trend_label(recent_trend(&series[..=i], kind), ind.polarity),
        );
    }
    OwnSeries { spc, trend }
}

/// Compares one indicator's rows for every peer group.
pub fn compare_indicator(
    ind: &Indicator,
    rows: &[IndicatorRow],
    practices: &HashMap<String, PracticeInfo>,
    groups: &[ResolvedPeerGroup],
    options: &CompareOptions,
) -> Vec<ResultRow> {
    let expected;
    let rows = if ind.value_type == ValueType::Isr {
        expected = expected_counts(rows, practices);
        &expected[..]
    } else {
        rows
    };
    // Evaluate every practice-period once; the peer groups share it.
    let evals = evaluate_rows(ind, rows, practices);
    // Practices (in code order) and periods (in time order) as dense
    // indices: a group's members are found for each period in a grid rather
    // than by hashing two strings per member (a national similar-practices
    // group looks up 1.6 million member-periods an indicator).
    let mut by_practice: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut periods: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in evals.iter().enumerate() {
        by_practice
            .entry(e.row.practice_code.as_str())
            .or_default()
            .push(i);
        periods.insert(e.row.period.as_str(), 0);
    }
    for (i, slot) in periods.values_mut().enumerate() {
        *slot = i;
    }
    let codes: FastMap<&str, usize> = by_practice
        .keys()
        .enumerate()
        .map(|(i, c)| (*c, i))
        .collect();
    let period_of: Vec<usize> = evals
        .iter()
        .map(|e| periods[e.row.period.as_str()])
        .collect();
    let width = periods.len();
    // The eval of each practice and period (the last, were there two).
    let mut grid: Vec<Option<&Eval>> = vec![None; by_practice.len() * width];
    for (i, e) in evals.iter().enumerate() {
        grid[codes[e.row.practice_code.as_str()] * width + period_of[i]] = Some(e);
    }
    let season = federation_season(ind, &evals);
    let own: Vec<OwnSeries> = by_practice
        .values()
        .map(|es| {
            let es: Vec<&Eval> = es.iter().map(|&i| &evals[i]).collect();
            own_series(ind, &es, season.as_ref(), options)
        })
        .collect();
    let kind = funnel_kind(ind);
    // Each row's names are shared, not copied: a national indicator has
    // 100,000 rows a group, and the run holds every indicator's.
    let indicator_id = Name::from(ind.id.as_str());
    let mut names: FastMap<&str, Name> = FastMap::default();
    let mut name = |s| names.entry(s).or_insert_with(|| Name::from(s)).clone();
    let mut reasons = Reasons::default();

    // Each group's keys, the key of each practice and each key's members
    // as practice indices (members without rows left out, as they have no
    // eval in any period).
    let keyed: Vec<Keyed> = groups
        .iter()
        .map(|resolved| {
            let membership = &resolved.membership;
            let mut index: FastMap<&str, usize> = FastMap::default();
            let mut keyed = Keyed::default();
            for code in by_practice.keys() {
                let key = membership.key_of.get(*code).map(|key| {
                    *index.entry(key.as_str()).or_insert_with(|| {
                        keyed.keys.push(name(key.as_str()));
                        keyed.members.push(
                            membership.members[key]
                                .iter()
                                .filter_map(|c| codes.get(c.as_str()).copied())
                                .collect(),
                        );
                        keyed.keys.len() - 1
                    })
                });
                keyed.key_of.push(key);
            }
            keyed
        })
        .collect();
    // Each group's statistics per key and period, shared by every practice
    // with that key (borrowed: a national indicator has 400,000 rows a
    // group); made for the keys and periods that have a row.
    let stats: Vec<Vec<Option<GroupStats>>> = groups
        .iter()
        .zip(&keyed)
        .map(|(resolved, keyed)| {
            let mut cache: Vec<Option<GroupStats>> = Vec::new();
            cache.resize_with(keyed.keys.len() * width, || None);
            for (i, e) in evals.iter().enumerate() {
                let Some(key) = keyed.key_of[codes[e.row.practice_code.as_str()]] else {
                    continue;
                };
                let period = period_of[i];
                cache[key * width + period].get_or_insert_with(|| {
                    let peers: Vec<&Eval> = keyed.members[key]
                        .iter()
                        .filter_map(|&m| grid[m * width + period])
                        .filter(|p| p.valued.is_some())
                        .collect();
                    group_stats(ind, &resolved.group, kind, options.phi, &peers)
                });
            }
            cache
        })
        .collect();
    // Rows are made in the results table's order (practice, period, peer
    // group name) rather than sorted after: practices come in code order,
    // each one's periods are sorted (stably; an indicator has one row per
    // practice and period), and the groups are taken in name order.
    let mut in_name_order: Vec<usize> = (0..groups.len()).collect();
    in_name_order.sort_by(|&a, &b| groups[a].group.name.cmp(&groups[b].group.name));
    let peer_groups: Vec<Name> = groups
        .iter()
        .map(|g| Name::from(g.group.name.as_str()))
        .collect();
    let period_names: Vec<Name> = periods.keys().map(|p| name(p)).collect();

    let mut out = Vec::with_capacity(evals.len() * groups.len());
    for (practice, (&code, practice_evals)) in by_practice.iter().enumerate() {
        let own_series = &own[practice];
        let practice_code = name(code);
        let mut in_time_order = practice_evals.clone();
        in_time_order.sort_by_key(|&i| period_of[i]);
        for i in in_time_order {
            let (e, p) = (&evals[i], period_of[i]);
            let period = e.row.period.as_str();
            let spc = own_series.spc.get(period);
            let trend = own_series
                .trend
                .get(period)
                .copied()
                .unwrap_or(TrendLabel::CannotBeCalculated);
            for &g in &in_name_order {
                let group = &groups[g].group;
                let Some(key) = keyed[g].key_of[practice] else {
                    continue;
                };
                let stats = stats[g][key * width + p]
                    .as_ref()
                    .expect("made for every key and period with a row");
                let mut row = ResultRow {
                    indicator_id: indicator_id.clone(),
                    practice_code: practice_code.clone(),
                    period: period_names[p].clone(),
                    peer_group: peer_groups[g].clone(),
                    peer_group_key: keyed[g].keys[key].clone(),
                    peer_group_size: u32::try_from(stats.size)
                        .expect("a peer group has fewer than 4 billion practices"),
                    numerator: e.row.numerator.into(),
                    denominator: e.row.denominator.into(),
                    value: Opt64::NONE,
                    lower_95: Opt64::NONE,
                    upper_95: Opt64::NONE,
                    lower_998: Opt64::NONE,
                    upper_998: Opt64::NONE,
                    benchmark: stats.benchmark.into(),
                    peer_median: stats.median.into(),
                    percentile_rank: Opt64::NONE,
                    comparison: Comparison::NotCompared,
                    comparison_998: Comparison::NotCompared,
                    funnel_lower_95: Opt64::NONE,
                    funnel_upper_95: Opt64::NONE,
                    funnel_lower_998: Opt64::NONE,
                    funnel_upper_998: Opt64::NONE,
                    funnel_flag: None,
                    funnel_flag_unadjusted: None,
                    funnel_z: Opt64::NONE,
                    od_phi: stats.od.map(|o| o.phi).into(),
                    od_tau2: stats.od.map(|o| o.tau2).into(),
                    spc_signal: spc.and_then(|s| s.signal),
                    spc_variation: spc.map(|s| s.variation),
                    spc_value: spc.map(|s| s.value).into(),
                    spc_seasonally_adjusted: spc.map(|s| s.seasonally_adjusted),
                    spc_centre: spc.map(|s| s.centre).into(),
                    spc_lower: spc.map(|s| s.lower).into(),
                    spc_upper: spc.map(|s| s.upper).into(),
                    spc_trial: spc.map(|s| s.trial),
                    trend,
                    not_compared_reason: e.reason.as_deref().map(|r| reasons.shared(r)),
                };
                let Some(v) = &e.valued else {
                    out.push(row);
                    continue;
                };
                compare_valued(&mut row, v, ind, group, stats, &mut reasons);
                out.push(row);
            }
        }
    }
    out
}

/// A peer group's keys for one indicator: each practice's key (by practice
/// index) and each key's name and members (as practice indices).
#[derive(Default)]
struct Keyed {
    key_of: Vec<Option<usize>>,
    keys: Vec<Name>,
    members: Vec<Vec<usize>>,
}

/// One shared copy of each distinct reason a row is not compared: a
/// national indicator gives a million rows one of a hundred reasons.
#[derive(Default)]
struct Reasons(FastMap<String, Name>);

impl Reasons {
    fn shared(&mut self, reason: &str) -> Name {
        if let Some(r) = self.0.get(reason) {
            return r.clone();
        }
        let r = Name::from(reason);
        self.0.insert(reason.to_string(), r.clone());
        r
    }
}

/// Each practice-period's value and intervals, or why it has none.
fn evaluate_rows<'r>(
    ind: &Indicator,
    rows: &'r [IndicatorRow],
    practices: &HashMap<String, PracticeInfo>,
) -> Vec<Eval<'r>> {
    rows.iter()
        .filter(|r| practices.contains_key(&r.practice_code))
        .map(|row| {
            let (valued, reason) = match (row.numerator, row.denominator) {
                (None, _) | (_, None) => (None, Some("suppressed or missing input".to_string())),
                (Some(_), Some(d)) if d < ind.min_denominator => (
                    None,
                    Some(format!(
                        "denominator {d} below the minimum of {}",
                        ind.min_denominator
                    )),
                ),
                (Some(n), Some(d)) => match evaluate(ind, row, n, d) {
                    Ok(v) => (Some(v), None),
                    Err(e) => (None, Some(e.to_string())),
                },
            };
            Eval {
                row,
                valued,
                reason,
            }
        })
        .collect()
}

/// What a peer group's members in one period share: size, pooled
/// benchmark, median, sorted values, and the overdispersion of its funnel
/// (or why there is none).
fn group_stats(
    ind: &Indicator,
    group: &PeerGroup,
    kind: Option<FunnelKind>,
    phi: PhiEstimator,
    peers: &[&Eval],
) -> GroupStats {
    let m = ind.multiplier;
    // Sorted once, so each member's percent rank is a binary search.
    let mut values: Vec<f64> = peers
        .iter()
        .filter_map(|p| p.valued.as_ref().map(|v| v.value))
        .collect();
    values.sort_by(f64::total_cmp);
    let units: Vec<FunnelUnit> = peers
        .iter()
        .map(|p| FunnelUnit {
            numerator: p.row.numerator.unwrap_or(0.0),
            denominator: p.row.denominator.unwrap_or(0.0),
        })
        .collect();
    let (sum_o, sum_n) = units
        .iter()
        .fold((0.0, 0.0), |(o, n), u| (o + u.numerator, n + u.denominator));
    let (od, funnel_reason) = match kind {
        None => (None, Some("funnel: not drawn for a directly standardised rate; its interval is compared with the peer benchmark".to_string())),
        Some(_) if peers.len() < group.min_practices_for_funnel => (None, Some(format!(
            "funnel: only {} practices with data in peer group {} (at least {} needed to estimate overdispersion)",
            peers.len(), group.name, group.min_practices_for_funnel
        ))),
        Some(kind) => match overdispersion(&units, kind, phi) {
            Ok(od) => (Some(od), None),
            Err(e) => (None, Some(format!("funnel: {e}"))),
        },
    };
    let benchmark = if ind.value_type == ValueType::Dsr {
        pooled_dsr(peers, m)
    } else {
        (sum_n > 0.0).then(|| sum_o / sum_n * m)
    };
    GroupStats {
        size: peers.len(),
        benchmark,
        median: quantile_type7(&values, 0.5).ok(),
        values,
        od,
        funnel_reason,
    }
}

/// A valued row's value and intervals, its percent rank and comparison
/// in its peer group, and its place on the group's funnel.
fn compare_valued(
    row: &mut ResultRow,
    v: &Valued,
    ind: &Indicator,
    group: &PeerGroup,
    stats: &GroupStats,
    reasons: &mut Reasons,
) {
    row.value = Opt64::some(v.value);
    row.lower_95 = Opt64::some(v.ci95.lower);
    row.upper_95 = Opt64::some(v.ci95.upper);
    row.lower_998 = Opt64::some(v.ci998.lower);
    row.upper_998 = Opt64::some(v.ci998.upper);
    row.percentile_rank = percent_rank_sorted(&stats.values, v.value).ok().into();
    match stats.benchmark {
        Some(b) if stats.size >= group.min_practices => {
            row.comparison = compare_with_benchmark(v.ci95, b, ind.polarity);
            row.comparison_998 = compare_with_benchmark(v.ci998, b, ind.polarity);
        }
        _ => {
            row.not_compared_reason = Some(reasons.shared(&format!(
                "only {} practices with data in peer group {} (at least {} needed)",
                stats.size, group.name, group.min_practices
            )));
        }
    }
    place_on_funnel(
        row,
        v.value,
        stats,
        funnel_kind(ind),
        ind.multiplier,
        reasons,
    );
}

/// A valued row's funnel limits at its denominator and its position
/// against them (adjusted and exact), or why it has none. Where the
/// expected count is small the limits are the exact ones on the count
/// (methods reference §4, small counts), so a zero is flagged only when a
/// zero is itself improbable.
fn place_on_funnel(
    row: &mut ResultRow,
    value: f64,
    stats: &GroupStats,
    kind: Option<FunnelKind>,
    m: f64,
    reasons: &mut Reasons,
) {
    let n = row.denominator.unwrap_or(0.0);
    if let (Some(od), Some(kind)) = (&stats.od, kind) {
        let limits = |level| funnel_limits(od, n, kind, level).map(|(lo, hi)| (lo * m, hi * m));
        if let (Ok(l95), Ok(l998)) = (limits(0.95), limits(0.998)) {
            row.funnel_lower_95 = Opt64::some(l95.0);
            row.funnel_upper_95 = Opt64::some(l95.1);
            row.funnel_lower_998 = Opt64::some(l998.0);
            row.funnel_upper_998 = Opt64::some(l998.1);
            row.funnel_flag = Some(flag(value, l95, l998));
            row.funnel_z = funnel_z(od, row.numerator.unwrap_or(0.0), n, kind).into();
        }
        row.funnel_flag_unadjusted = unadjusted_flag(value, od.target, n, kind, m).ok();
    } else if let Some(reason) = &stats.funnel_reason {
        row.not_compared_reason = Some(match row.not_compared_reason.take() {
            Some(r) => reasons.shared(&format!("{r}; {reason}")),
            None => reasons.shared(reason),
        });
    }
}

/// A unit's z-score on the funnel's overdispersion-adjusted scale (methods
/// reference §4.2, steps 1, 2 and 6): proportions `asin(√(O/n))` against
/// `asin(√p̄)` with `s² = 1/(4n)`; rates and ratios `log(O/E)` against 0
/// with `s² = 1/E`, `E = p̄·n`; each over `√(s² + τ²)`, so that the adjusted
/// limits at level z are exactly ±z. A count of zero is taken as 0.5, as
/// the overdispersion estimate takes it (`log 0` is undefined).
fn funnel_z(od: &Overdispersion, o: f64, n: f64, kind: FunnelKind) -> Option<f64> {
    if !(n > 0.0 && n.is_finite() && o.is_finite()) {
        return None;
    }
    let z = match kind {
        FunnelKind::Proportion => {
            let p = (o / n).clamp(0.0, 1.0);
            (p.sqrt().asin() - od.target.sqrt().asin()) / (1.0 / (4.0 * n) + od.tau2).sqrt()
        }
        FunnelKind::Ratio => {
            let expected = od.target * n;
            if expected <= 0.0 {
                return None;
            }
            let o = if o > 0.0 { o } else { 0.5 };
            (o / expected).ln() / (1.0 / expected + od.tau2).sqrt()
        }
    };
    z.is_finite().then_some(z)
}

/// The peer benchmark of a DSR: the DSR of the group's strata pooled.
fn pooled_dsr(peers: &[&Eval], multiplier: f64) -> Option<f64> {
    let mut pooled: Option<(Vec<f64>, Vec<f64>, Vec<f64>)> = None;
    for p in peers {
        let (o, n, w) = dsr_arrays(&p.row.strata)?;
        match &mut pooled {
            None => pooled = Some((o, n, w)),
            Some((po, pn, pw)) => {
                // Practices must agree on persons vs male/female strata.
                if pw.len() != w.len() {
                    return None;
                }
                po.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
                pn.iter_mut().zip(&n).for_each(|(a, b)| *a += b);
            }
        }
    }
    let (o, n, w) = pooled?;
    dsr(&o, &n, &w, multiplier, 0.95).ok().map(|d| d.value)
}

/// Turns an ISR's strata into observed and expected counts: E applies the
/// rates by age band (and sex) of every practice loaded in the same period to
/// the practice's own population, so the ratio O/E × 100 is 100 for a
/// practice that matches the federation once its age mix is allowed for.
/// Suppressed strata leave the practice's O missing and stay out of the rates.
fn expected_counts(
    rows: &[IndicatorRow],
    practices: &HashMap<String, PracticeInfo>,
) -> Vec<IndicatorRow> {
    let mut reference: FastMap<(&str, Sex, usize), (f64, f64)> = FastMap::default();
    for r in rows
        .iter()
        .filter(|r| practices.contains_key(&r.practice_code) && r.numerator.is_some())
    {
        for s in &r.strata {
            if let (Some(o), Some(n)) = (s.numerator, s.denominator) {
                let e = reference
                    .entry((r.period.as_str(), s.sex, s.band))
                    .or_default();
                e.0 += o;
                e.1 += n;
            }
        }
    }
    rows.iter()
        .map(|r| {
            let expected = r
                .strata
                .iter()
                .map(|s| {
                    let rate = reference
                        .get(&(r.period.as_str(), s.sex, s.band))
                        .filter(|(_, n)| *n > 0.0)
                        .map_or(0.0, |(o, n)| o / n);
                    s.denominator.map(|n| n * rate)
                })
                .try_fold(0.0, |acc, e| e.map(|e| acc + e));
            IndicatorRow {
                practice_code: r.practice_code.clone(),
                period: r.period.clone(),
                numerator: r.numerator,
                denominator: expected,
                strata: Vec::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
