//! Compares every practice with its peer groups, indicator by indicator and
//! period by period: value, 95% and 99.8% intervals, the pooled peer
//! benchmark, peer median and percent rank, and the comparison word.
//!
//! Pure computation on indicator rows; the statistics come from
//! `peerbench-stats`. Every result records the peer group it used.

use std::collections::{BTreeMap, HashMap};

use peerbench_indicators::{Indicator, IndicatorRow, ValueType};
use peerbench_stats::{
    Comparison, Interval, byar_rate, compare_with_benchmark, percent_rank, quantile_type7,
    wilson_proportion,
};

/// What a practice is, for grouping.
#[derive(Debug, Clone, PartialEq)]
pub struct PracticeInfo {
    pub code: String,
    pub name: String,
    pub pcn_code: String,
    pub pcn_name: String,
    pub federation: String,
    pub icb_code: String,
    pub list_size: Option<f64>,
}

/// How practices are grouped for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerGroupKind {
    /// Every practice loaded.
    All,
    Federation,
    Pcn,
    Icb,
}

impl PeerGroupKind {
    pub fn parse(s: &str) -> Option<PeerGroupKind> {
        match s {
            "all" => Some(PeerGroupKind::All),
            "federation" => Some(PeerGroupKind::Federation),
            "pcn" => Some(PeerGroupKind::Pcn),
            "icb" => Some(PeerGroupKind::Icb),
            _ => None,
        }
    }

    fn key(self, p: &PracticeInfo) -> &str {
        match self {
            PeerGroupKind::All => "all",
            PeerGroupKind::Federation => &p.federation,
            PeerGroupKind::Pcn => &p.pcn_code,
            PeerGroupKind::Icb => &p.icb_code,
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
}

/// One row of the results table: indicator × practice × period × peer group.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub indicator_id: String,
    pub practice_code: String,
    pub period: String,
    pub peer_group: String,
    /// The members' shared key: the PCN code, federation name, ….
    pub peer_group_key: String,
    pub peer_group_size: usize,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub lower_95: Option<f64>,
    pub upper_95: Option<f64>,
    pub lower_998: Option<f64>,
    pub upper_998: Option<f64>,
    pub benchmark: Option<f64>,
    pub peer_median: Option<f64>,
    pub percentile_rank: Option<f64>,
    pub comparison: Comparison,
    pub comparison_998: Comparison,
    pub not_compared_reason: Option<String>,
}

struct Valued {
    value: f64,
    ci95: Interval,
    ci998: Interval,
}

fn evaluate(
    ind: &Indicator,
    numerator: f64,
    denominator: f64,
) -> Result<Valued, peerbench_stats::StatsError> {
    let m = ind.multiplier;
    match ind.value_type {
        ValueType::Proportion => Ok(Valued {
            value: numerator / denominator * m,
            ci95: wilson_proportion(numerator, denominator, 0.95)?.scaled(m),
            ci998: wilson_proportion(numerator, denominator, 0.998)?.scaled(m),
        }),
        ValueType::Rate | ValueType::Ratio => Ok(Valued {
            value: numerator / denominator * m,
            ci95: byar_rate(numerator, denominator, m, 0.95)?,
            ci998: byar_rate(numerator, denominator, m, 0.998)?,
        }),
    }
}

/// Compares one indicator's rows for every peer group.
pub fn compare_indicator(
    ind: &Indicator,
    rows: &[IndicatorRow],
    practices: &HashMap<String, PracticeInfo>,
    groups: &[PeerGroup],
) -> Vec<ResultRow> {
    // Evaluate every practice-period once; the peer groups share it.
    struct Eval<'a> {
        row: &'a IndicatorRow,
        valued: Option<Valued>,
        reason: Option<String>,
    }
    let evals: Vec<Eval> = rows
        .iter()
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
                (Some(n), Some(d)) => match evaluate(ind, n, d) {
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
        .collect();

    let mut out = Vec::with_capacity(evals.len() * groups.len());
    for group in groups {
        // Members by (group key, period).
        let mut members: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (i, e) in evals.iter().enumerate() {
            let info = &practices[&e.row.practice_code];
            members
                .entry((group.kind.key(info), e.row.period.as_str()))
                .or_default()
                .push(i);
        }
        for ((key, _period), idx) in &members {
            let valued: Vec<&Eval> = idx
                .iter()
                .map(|i| &evals[*i])
                .filter(|e| e.valued.is_some())
                .collect();
            let values: Vec<f64> = valued
                .iter()
                .filter_map(|e| e.valued.as_ref().map(|v| v.value))
                .collect();
            let (sum_o, sum_n) = valued.iter().fold((0.0, 0.0), |(o, n), e| {
                (
                    o + e.row.numerator.unwrap_or(0.0),
                    n + e.row.denominator.unwrap_or(0.0),
                )
            });
            let enough = valued.len() >= group.min_practices;
            let benchmark = (sum_n > 0.0).then(|| sum_o / sum_n * ind.multiplier);
            let median = quantile_type7(&values, 0.5).ok();
            for i in idx {
                let e = &evals[*i];
                let mut row = ResultRow {
                    indicator_id: ind.id.clone(),
                    practice_code: e.row.practice_code.clone(),
                    period: e.row.period.clone(),
                    peer_group: group.name.clone(),
                    peer_group_key: key.to_string(),
                    peer_group_size: valued.len(),
                    numerator: e.row.numerator,
                    denominator: e.row.denominator,
                    value: None,
                    lower_95: None,
                    upper_95: None,
                    lower_998: None,
                    upper_998: None,
                    benchmark,
                    peer_median: median,
                    percentile_rank: None,
                    comparison: Comparison::NotCompared,
                    comparison_998: Comparison::NotCompared,
                    not_compared_reason: e.reason.clone(),
                };
                if let Some(v) = &e.valued {
                    row.value = Some(v.value);
                    row.lower_95 = Some(v.ci95.lower);
                    row.upper_95 = Some(v.ci95.upper);
                    row.lower_998 = Some(v.ci998.lower);
                    row.upper_998 = Some(v.ci998.upper);
                    row.percentile_rank = percent_rank(&values, v.value).ok();
                    match benchmark {
                        Some(b) if enough => {
                            row.comparison = compare_with_benchmark(v.ci95, b, ind.polarity);
                            row.comparison_998 = compare_with_benchmark(v.ci998, b, ind.polarity);
                        }
                        _ => {
                            row.not_compared_reason = Some(format!(
                                "only {} practices with data in peer group {} (at least {} needed)",
                                valued.len(),
                                group.name,
                                group.min_practices
                            ));
                        }
                    }
                }
                out.push(row);
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.indicator_id, &a.practice_code, &a.period, &a.peer_group).cmp(&(
            &b.indicator_id,
            &b.practice_code,
            &b.period,
            &b.peer_group,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn indicator(value_type: &str, polarity: &str) -> Indicator {
        let text = format!(
            "/*\nid = \"x\"\ntitle = \"X\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"{value_type}\"\npolarity = \"{polarity}\"\ndefinition = \"x\"\nsource = \"s\"\nmin_denominator = 50\n*/\nSELECT 1"
        );
        Indicator::parse(Path::new("x.sql"), &text).unwrap()
    }

    fn practice(code: &str, pcn: &str) -> (String, PracticeInfo) {
        (
            code.to_string(),
            PracticeInfo {
                code: code.into(),
                name: code.into(),
                pcn_code: pcn.into(),
                pcn_name: pcn.into(),
                federation: "F".into(),
                icb_code: "QAA".into(),
                list_size: None,
            },
        )
    }

    fn row(code: &str, n: Option<f64>, d: Option<f64>) -> IndicatorRow {
        IndicatorRow {
            practice_code: code.into(),
            period: "2026-09".into(),
            numerator: n,
            denominator: d,
        }
    }

    #[test]
    fn pooled_benchmark_and_comparisons() {
        let practices: HashMap<_, _> = [
            practice("A00001", "U1"),
            practice("A00002", "U1"),
            practice("A00003", "U2"),
            practice("A00004", "U2"),
        ]
        .into();
        let rows = vec![
            row("A00001", Some(100.0), Some(1000.0)),
            row("A00002", Some(300.0), Some(1000.0)),
            row("A00003", Some(200.0), Some(1000.0)),
            row("A00004", None, Some(1000.0)),
        ];
        let groups = vec![PeerGroup {
            name: "federation".into(),
            kind: PeerGroupKind::Federation,
            min_practices: 3,
        }];
        let out = compare_indicator(
            &indicator("proportion", "high_is_good"),
            &rows,
            &practices,
            &groups,
        );
        assert_eq!(out.len(), 4);
        // Pooled over practices with data: 600 / 3000 = 20%.
        assert!(
            out.iter()
                .all(|r| (r.benchmark.unwrap() - 20.0).abs() < 1e-12)
        );
        let by_code: HashMap<_, _> = out.iter().map(|r| (r.practice_code.as_str(), r)).collect();
        assert_eq!(by_code["A00001"].comparison, Comparison::Worse);
        assert_eq!(by_code["A00002"].comparison, Comparison::Better);
        assert_eq!(by_code["A00003"].comparison, Comparison::Similar);
        // Suppressed input is not compared, and is never a zero.
        assert_eq!(by_code["A00004"].comparison, Comparison::NotCompared);
        assert_eq!(by_code["A00004"].value, None);
        assert_eq!(by_code["A00002"].percentile_rank, Some(100.0));
        assert_eq!(by_code["A00003"].peer_median, Some(20.0));
    }

    #[test]
    fn small_groups_and_small_denominators_are_not_compared() {
        let practices: HashMap<_, _> = [
            practice("A00001", "U1"),
            practice("A00002", "U1"),
            practice("A00003", "U2"),
        ]
        .into();
        let rows = vec![
            row("A00001", Some(10.0), Some(40.0)),
            row("A00002", Some(30.0), Some(100.0)),
            row("A00003", Some(30.0), Some(100.0)),
        ];
        let groups = vec![PeerGroup {
            name: "pcn".into(),
            kind: PeerGroupKind::Pcn,
            min_practices: 2,
        }];
        let out = compare_indicator(
            &indicator("rate", "no_judgement"),
            &rows,
            &practices,
            &groups,
        );
        let by_code: HashMap<_, _> = out.iter().map(|r| (r.practice_code.as_str(), r)).collect();
        assert!(
            by_code["A00001"]
                .not_compared_reason
                .as_deref()
                .unwrap()
                .contains("below the minimum")
        );
        assert!(
            by_code["A00002"]
                .not_compared_reason
                .as_deref()
                .unwrap()
                .contains("only 1 practices")
        );
        assert_eq!(by_code["A00003"].peer_group_key, "U2");
        assert_eq!(by_code["A00003"].comparison, Comparison::NotCompared);
    }
}
