use std::collections::HashMap;
use std::path::Path;

use super::*;
use peerbench_stats::{FunnelFlag, SpcRule, TrendLabel, Variation};

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
            ..PracticeInfo::default()
        },
    )
}

fn row(code: &str, period: &str, n: Option<f64>, d: Option<f64>) -> IndicatorRow {
    IndicatorRow {
        practice_code: code.into(),
        period: period.into(),
        numerator: n,
        denominator: d,
        strata: Vec::new(),
    }
}

fn group(name: &str, kind: PeerGroupKind, min: usize, min_funnel: usize) -> PeerGroup {
    PeerGroup {
        name: name.into(),
        kind,
        min_practices: min,
        min_practices_for_funnel: min_funnel,
    }
}

/// `ind`'s rows compared within one peer group, with the default options.
fn compare_in(
    group: PeerGroup,
    ind: &Indicator,
    rows: &[IndicatorRow],
    practices: &HashMap<String, PracticeInfo>,
) -> Vec<ResultRow> {
    let groups = [group.resolve(practices)];
    compare_indicator(ind, rows, practices, &groups, &CompareOptions::default())
}

/// An indicator's SQL can return a NaN count (zero divided by zero in
/// floating point). The row is not compared, says why, and its count is
/// held as missing: a result row never holds a NaN, which is what lets it
/// keep its optional numbers in 8 bytes (`Opt64`).
#[test]
fn a_nan_count_is_missing_and_not_compared() {
    let practices: HashMap<_, _> = [practice("A00001", "U1"), practice("A00002", "U1")].into();
    let rows = vec![
        row("A00001", "2026-09", Some(f64::NAN), Some(1000.0)),
        row("A00002", "2026-09", Some(100.0), Some(1000.0)),
    ];
    let out = compare_in(
        group("federation", PeerGroupKind::Federation, 1, 3),
        &indicator("proportion", "high_is_good"),
        &rows,
        &practices,
    );
    let nan = &out[0];
    assert_eq!(&*nan.practice_code, "A00001");
    assert_eq!((nan.numerator.get(), nan.value.get()), (None, None));
    assert_eq!(nan.comparison, Comparison::NotCompared);
    assert_eq!(
        nan.not_compared_reason.as_deref(),
        Some("value is not a finite number: numerator")
    );
    // Its peer's benchmark is its own: the NaN does not reach the pool.
    assert_eq!(out[1].benchmark.get(), Some(10.0));
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
        row("A00001", "2026-09", Some(100.0), Some(1000.0)),
        row("A00002", "2026-09", Some(300.0), Some(1000.0)),
        row("A00003", "2026-09", Some(200.0), Some(1000.0)),
        row("A00004", "2026-09", None, Some(1000.0)),
    ];
    let out = compare_in(
        group("federation", PeerGroupKind::Federation, 3, 3),
        &indicator("proportion", "high_is_good"),
        &rows,
        &practices,
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
    assert_eq!(by_code["A00004"].funnel_flag, None);
    assert_eq!(by_code["A00002"].percentile_rank, Some(100.0));
    assert_eq!(by_code["A00003"].peer_median, Some(20.0));
    // Heavily overdispersed: phi far above 1, so the adjusted funnel is wide
    // and nobody is an outlier, while the unadjusted one flags both extremes.
    let phi = by_code["A00001"].od_phi.unwrap();
    assert!(phi > 10.0, "phi {phi}");
    assert_eq!(by_code["A00001"].funnel_flag, Some(FunnelFlag::Within));
    assert_eq!(
        by_code["A00001"].funnel_flag_unadjusted,
        Some(FunnelFlag::Low998)
    );
    assert_eq!(
        by_code["A00002"].funnel_flag_unadjusted,
        Some(FunnelFlag::High998)
    );
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
        row("A00001", "2026-09", Some(10.0), Some(40.0)),
        row("A00002", "2026-09", Some(30.0), Some(100.0)),
        row("A00003", "2026-09", Some(30.0), Some(100.0)),
    ];
    let out = compare_in(
        group("pcn", PeerGroupKind::Pcn, 2, 10),
        &indicator("rate", "no_judgement"),
        &rows,
        &practices,
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
    assert!(
        by_code["A00002"]
            .not_compared_reason
            .as_deref()
            .unwrap()
            .contains("overdispersion")
    );
    assert_eq!(&*by_code["A00003"].peer_group_key, "U2");
    assert_eq!(by_code["A00003"].comparison, Comparison::NotCompared);
    assert_eq!(by_code["A00003"].funnel_flag, None);
}

#[test]
fn spc_trend_and_what_changed_follow_the_series() {
    let practices: HashMap<_, _> = (1..=12)
        .map(|i| practice(&format!("A{i:05}"), "U1"))
        .collect();
    let mut rows = Vec::new();
    for m in 1..=24 {
        for i in 1..=12 {
            // Practice 1 jumps in the last month; the rest are steady.
            let o = if i == 1 && m == 24 {
                400.0
            } else {
                100.0 + (i as f64) + (m % 3) as f64
            };
            let period = format!("{}-{:02}", 2025 + (m - 1) / 12, (m - 1) % 12 + 1);
            rows.push(row(&format!("A{i:05}"), &period, Some(o), Some(1000.0)));
        }
    }
    let out = compare_in(
        group("all", PeerGroupKind::All, 5, 10),
        &indicator("proportion", "low_is_good"),
        &rows,
        &practices,
    );
    let last = out
        .iter()
        .find(|r| &*r.practice_code == "A00001" && &*r.period == "2026-12")
        .unwrap();
    assert_eq!(last.spc_signal, Some(SpcRule::OutsideLimits));
    assert_eq!(last.spc_variation, Some(Variation::Concern));
    assert_eq!(last.spc_trial, Some(false));
    assert_eq!(last.funnel_flag, Some(FunnelFlag::High998));
    let steady = out
        .iter()
        .find(|r| &*r.practice_code == "A00005" && &*r.period == "2026-12")
        .unwrap();
    assert_eq!(steady.trend, TrendLabel::NoSignificantChange);
    assert_eq!(steady.funnel_flag, Some(FunnelFlag::Within));
    let changes = what_changed(&out, "all");
    assert!(
        changes.iter().any(|c| c.practice_code == "A00001"
            && c.kind == ChangeKind::NewOutlier
            && c.now == Reading::Funnel(FunnelFlag::High998)),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.practice_code == "A00001" && c.kind == ChangeKind::NewSpecialCause)
    );
    assert!(
        changes.iter().all(|c| c.practice_code == "A00001"),
        "{changes:?}"
    );
}

#[test]
fn nearest_neighbours_on_weighted_descriptors() {
    let mut practices: HashMap<String, PracticeInfo> = HashMap::new();
    for (code, list, imd) in [
        ("A00001", 5000.0, 10.0),
        ("A00002", 5100.0, 11.0),
        ("A00003", 20000.0, 40.0),
        ("A00004", 19000.0, 38.0),
        ("A00005", 5050.0, 39.0),
    ] {
        let (c, mut p) = practice(code, "U1");
        p.descriptors = [
            ("list_size".to_string(), list),
            ("imd_score".to_string(), imd),
        ]
        .into();
        practices.insert(c, p);
    }
    let w = |name: &str, weight: f64| DescriptorWeight {
        name: name.into(),
        weight,
    };
    let both = nearest_neighbours(&practices, &[w("list_size", 1.0), w("imd_score", 1.0)], 1);
    assert_eq!(both["A00001"], vec!["A00002".to_string()]);
    assert_eq!(both["A00003"], vec!["A00004".to_string()]);
    // Weighting deprivation only makes A00005 (deprived, small) a neighbour of the large deprived practices.
    let imd_only = nearest_neighbours(&practices, &[w("list_size", 0.0), w("imd_score", 1.0)], 2);
    assert!(
        imd_only["A00005"].contains(&"A00003".to_string())
            && imd_only["A00005"].contains(&"A00004".to_string())
    );
    assert!(!both.values().any(|v| v.is_empty()));
}

fn banded(code: &str, strata: &[(usize, f64, f64)]) -> IndicatorRow {
    let strata: Vec<peerbench_catalogue::Stratum> = strata
        .iter()
        .map(|&(band, o, n)| peerbench_catalogue::Stratum {
            band,
            sex: Sex::Persons,
            numerator: Some(o),
            denominator: Some(n),
        })
        .collect();
    IndicatorRow {
        practice_code: code.into(),
        period: "2026-09".into(),
        numerator: Some(strata.iter().filter_map(|s| s.numerator).sum()),
        denominator: Some(strata.iter().filter_map(|s| s.denominator).sum()),
        strata,
    }
}

// Worked by hand: reference rates are band 0: 40/3000, band 1: 50/600, so
// A expects 1000·40/3000 + 500·50/600 = 55 and B 2000·40/3000 + 100·50/600
// = 35; the ratios are 50/55 and 40/35, × 100.
#[test]
fn isr_uses_the_federation_rates_by_band() {
    let practices: HashMap<_, _> = [practice("A00001", "U1"), practice("A00002", "U1")].into();
    let rows = vec![
        banded("A00001", &[(0, 10.0, 1000.0), (1, 40.0, 500.0)]),
        banded("A00002", &[(0, 30.0, 2000.0), (1, 10.0, 100.0)]),
    ];
    let mut ind = indicator("isr", "low_is_good");
    ind.min_denominator = 1.0;
    let federation = group("federation", PeerGroupKind::Federation, 2, 10);
    let out = compare_in(federation, &ind, &rows, &practices);
    let by_code: HashMap<_, _> = out.iter().map(|r| (r.practice_code.as_str(), r)).collect();
    let a = by_code["A00001"];
    assert!((a.denominator.unwrap() - 55.0).abs() < 1e-9, "{a:?}");
    assert!((a.value.unwrap() - 5000.0 / 55.0).abs() < 1e-9);
    let b = by_code["A00002"];
    assert!((b.value.unwrap() - 4000.0 / 35.0).abs() < 1e-9);
    // Pooled over the group, observed equals expected: the benchmark is 100.
    assert!((a.benchmark.unwrap() - 100.0).abs() < 1e-9);
}

#[test]
fn dsr_is_compared_by_interval_with_the_pooled_dsr() {
    let practices: HashMap<_, _> = [
        practice("A00001", "U1"),
        practice("A00002", "U1"),
        practice("A00003", "U1"),
    ]
    .into();
    let rows = vec![
        banded("A00001", &[(0, 20.0, 2000.0), (15, 60.0, 600.0)]),
        banded("A00002", &[(0, 30.0, 2500.0), (15, 20.0, 800.0)]),
        banded("A00003", &[(0, 4.0, 300.0), (15, 2.0, 100.0)]),
    ];
    let ind = indicator("dsr", "low_is_good");
    assert_eq!(ind.multiplier, 100_000.0);
    let federation = group("federation", PeerGroupKind::Federation, 2, 2);
    let out = compare_in(federation, &ind, &rows, &practices);
    let by_code: HashMap<_, _> = out.iter().map(|r| (r.practice_code.as_str(), r)).collect();
    let w = peerbench_stats::ESP_2013;
    let total: f64 = w.iter().sum();
    let a = by_code["A00001"];
    let expected = (w[0] * 20.0 / 2000.0 + w[15] * 60.0 / 600.0) / total * 1e5;
    assert!((a.value.unwrap() - expected).abs() < 1e-9, "{a:?}");
    let pooled = (w[0] * 50.0 / 4500.0 + w[15] * 80.0 / 1400.0) / total * 1e5;
    assert!((a.benchmark.unwrap() - pooled).abs() < 1e-9);
    assert_eq!(a.funnel_flag, None);
    assert!(
        a.not_compared_reason
            .as_deref()
            .unwrap()
            .contains("standardised")
    );
    assert_eq!(a.trend, TrendLabel::CannotBeCalculated);
    // Six events: too few for a DSR, so no value, not a noisy one.
    let c = by_code["A00003"];
    assert_eq!(
        (c.value.get(), c.comparison),
        (None, Comparison::NotCompared)
    );
    assert!(
        c.not_compared_reason.as_deref().unwrap().contains("10"),
        "{c:?}"
    );
}

#[test]
fn a_zero_with_a_small_expected_count_is_not_flagged_low() {
    // A rare event: ten practices of 1,000 with 20 events between them, one
    // of 10,000 with 20 and one of 10,000 with none. Target 40 / 22,000.
    let counts = [2.0, 3.0, 1.0, 2.0, 2.0, 3.0, 1.0, 2.0, 0.0, 4.0, 20.0, 0.0];
    let practices: HashMap<_, _> = (0..12)
        .map(|i| practice(&format!("A{i:05}"), "U1"))
        .collect();
    let rows: Vec<IndicatorRow> = counts
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let d = if i < 10 { 1000.0 } else { 10000.0 };
            row(&format!("A{i:05}"), "2026-09", Some(*o), Some(d))
        })
        .collect();
    let out = compare_in(
        group("federation", PeerGroupKind::Federation, 3, 10),
        &indicator("rate", "low_is_good"),
        &rows,
        &practices,
    );
    let by_code: HashMap<_, _> = out.iter().map(|r| (r.practice_code.as_str(), r)).collect();
    // A00008: 0 of 1,000, E = 1000 × 40/22000 = 1.82; P(X = 0) = e^−1.82 =
    // 0.16, so a zero is unremarkable: within the funnel, adjusted or not,
    // and the benchmark (1.82 per 1,000) lies inside its exact interval
    // (0 to χ²(0.999; 2)/2 = 6.91 per 1,000). The log-scale limit alone put
    // it below the 99.8% limit.
    let small = by_code["A00008"];
    assert_eq!(small.value, Some(0.0));
    assert_eq!(small.funnel_lower_95, Some(0.0));
    assert_eq!(small.funnel_lower_998, Some(0.0));
    assert_eq!(small.funnel_flag, Some(FunnelFlag::Within));
    assert_eq!(small.funnel_flag_unadjusted, Some(FunnelFlag::Within));
    assert_eq!(
        (small.comparison, small.comparison_998),
        (Comparison::Similar, Comparison::Similar)
    );
    // A00011: 0 of 10,000, E = 18.2 and P(X = 0) = 1.3e-8: low on every
    // count, and its interval (0 to 0.69 per 1,000) lies below the benchmark.
    let large = by_code["A00011"];
    assert_eq!(large.funnel_flag, Some(FunnelFlag::Low998));
    assert_eq!(large.funnel_flag_unadjusted, Some(FunnelFlag::Low998));
    assert_eq!(large.comparison_998, Comparison::Better);
}

/// The funnel z-score is the position on the adjusted scale: beyond ±3.09
/// exactly when the practice is outside the 99.8% limits, beyond ±1.96 when
/// outside the 95% (large expected counts, so the limits are not widened),
/// for proportions and for ratios.
#[test]
fn funnel_z_agrees_with_the_adjusted_limits() {
    let practices: HashMap<_, _> = (0..20)
        .map(|i| practice(&format!("A{i:05}"), "U1"))
        .collect();
    // Practices spread around 20%, two far out either side.
    let rows: Vec<IndicatorRow> = (0..20)
        .map(|i| {
            let d = 2000.0 + 150.0 * i as f64;
            let p = match i {
                3 => 0.05,
                11 => 0.42,
                _ => 0.17 + 0.003 * i as f64,
            };
            row(
                &format!("A{i:05}"),
                "2026-09",
                Some((p * d).round()),
                Some(d),
            )
        })
        .collect();
    for value_type in ["proportion", "rate"] {
        let out = compare_in(
            group("federation", PeerGroupKind::Federation, 3, 10),
            &indicator(value_type, "high_is_good"),
            &rows,
            &practices,
        );
        let mut flagged = 0;
        for r in &out {
            let z = r.funnel_z.expect("every practice is on the funnel");
            let expected = if z > 3.090232 {
                FunnelFlag::High998
            } else if z > 1.959964 {
                FunnelFlag::High95
            } else if z < -3.090232 {
                FunnelFlag::Low998
            } else if z < -1.959964 {
                FunnelFlag::Low95
            } else {
                FunnelFlag::Within
            };
            assert_eq!(
                r.funnel_flag,
                Some(expected),
                "{value_type} {} z {z}",
                r.practice_code
            );
            flagged += usize::from(expected.is_outlier());
        }
        assert!(
            flagged >= 2,
            "{value_type}: the two far practices are outliers"
        );
        let z = |code: &str| {
            out.iter()
                .find(|r| &*r.practice_code == code)
                .unwrap()
                .funnel_z
                .unwrap()
        };
        assert!(z("A00003") < -3.1 && z("A00011") > 3.1);
    }
}

/// A seasonal rate: twelve practices over `months` months from January
/// 2025, each at its own level times a ±20% winter-peaked season, with a
/// small fixed wobble so the moving ranges are not zero. `step` multiplies
/// practice A00001 from that month (0-based) on.
fn seasonal_rows(months: usize, step: Option<(usize, f64)>) -> Vec<IndicatorRow> {
    let mut rows = Vec::new();
    for m in 0..months {
        let season = 1.0 + 0.2 * (2.0 * std::f64::consts::PI * (m % 12) as f64 / 12.0).cos();
        for i in 1..=12 {
            let wobble = [0.0, 3.0, -2.0, 1.0, -3.0, 2.0, -1.0][(m * 3 + i) % 7];
            let planted = match step {
                Some((from, size)) if i == 1 && m >= from => size,
                _ => 1.0,
            };
            let o = ((100.0 + i as f64) * season * planted + wobble).round();
            let period = format!("{}-{:02}", 2025 + m / 12, m % 12 + 1);
            rows.push(row(&format!("A{i:05}"), &period, Some(o), Some(1000.0)));
        }
    }
    rows
}

fn seasonal_indicator() -> Indicator {
    let plain = indicator("rate", "no_judgement");
    let text = plain.sql.replace("source = ", "seasonal = true\nsource = ");
    Indicator::parse(Path::new("x.sql"), &text).unwrap()
}

fn signals_after_baseline(out: &[ResultRow], code: &str) -> Vec<Option<SpcRule>> {
    out.iter()
        .filter(|r| &*r.practice_code == code)
        .skip(12)
        .map(|r| r.spc_signal)
        .collect()
}

#[test]
fn seasonal_run_charts_do_not_signal_on_the_season() {
    let practices: HashMap<_, _> = (1..=12)
        .map(|i| practice(&format!("A{i:05}"), "U1"))
        .collect();
    let run = |ind: &Indicator, rows: &[IndicatorRow]| {
        compare_in(
            group("all", PeerGroupKind::All, 5, 10),
            ind,
            rows,
            &practices,
        )
    };
    let rows = seasonal_rows(24, None);
    // Charted as published, the season is special cause: the baseline year
    // runs January to December, and the next winter is outside its limits.
    let raw = run(&indicator("rate", "no_judgement"), &rows);
    assert!(
        signals_after_baseline(&raw, "A00001")
            .iter()
            .any(Option::is_some)
    );
    assert!(raw.iter().all(|r| r.spc_seasonally_adjusted == Some(false)));
    assert!(raw.iter().all(|r| r.spc_value == r.value));
    // Adjusted by the federation's seasonal index, nothing signals anywhere.
    let adjusted = run(&seasonal_indicator(), &rows);
    assert!(
        adjusted.iter().all(|r| r.spc_signal.is_none()),
        "{:?}",
        adjusted
            .iter()
            .filter(|r| r.spc_signal.is_some())
            .map(|r| (&r.practice_code, &r.period, r.spc_signal))
            .collect::<Vec<_>>()
    );
    // Hand-worked: A00001 in January 2025 is 101 × 1.2 + 3 (its wobble) =
    // 124.2 → 124 per 1,000; its charted value is that over January's factor, which is the
    // season's 1.2 over the year's geometric mean of the season (the wobble
    // and rounding move the fitted factor by well under 1%).
    let jan = &adjusted[0];
    assert_eq!(
        (jan.period.as_str(), jan.value.get()),
        ("2025-01", Some(124.0))
    );
    let geo: f64 = (0..12)
        .map(|m| (1.0 + 0.2 * (2.0 * std::f64::consts::PI * m as f64 / 12.0).cos()).ln())
        .sum::<f64>()
        / 12.0;
    let factor = 124.0 / jan.spc_value.unwrap();
    assert!(
        (factor / (1.2 / geo.exp()) - 1.0).abs() < 0.01,
        "January factor {factor}"
    );
    assert_eq!(jan.spc_seasonally_adjusted, Some(true));

    // The same series with a step of ×1.04 in A00001 from month 17 (about
    // +4 per 1,000, inside the limits of about ±8 the wobble gives): a
    // shift upwards after the step, nowhere before.
    let stepped = run(&seasonal_indicator(), &seasonal_rows(24, Some((16, 1.04))));
    let a1: Vec<&ResultRow> = stepped
        .iter()
        .filter(|r| &*r.practice_code == "A00001")
        .collect();
    assert!(a1[..16].iter().all(|r| r.spc_signal.is_none()));
    // Every point after the step is special cause: a shift of eight, two of
    // them marked two-of-three, which ranks higher.
    assert!(
        a1[16..].iter().all(|r| r.spc_signal.is_some())
            && a1[16..]
                .iter()
                .any(|r| r.spc_signal == Some(SpcRule::Shift)),
        "{:?}",
        a1.iter().map(|r| r.spc_signal).collect::<Vec<_>>()
    );
    assert!(
        a1[16..]
            .iter()
            .all(|r| r.spc_value.unwrap() > r.spc_centre.unwrap())
    );
}

#[test]
fn a_season_needs_two_years_and_says_when_it_has_not() {
    let practices: HashMap<_, _> = (1..=12)
        .map(|i| practice(&format!("A{i:05}"), "U1"))
        .collect();
    let out = compare_in(
        group("all", PeerGroupKind::All, 5, 10),
        &seasonal_indicator(),
        &seasonal_rows(23, None),
        &practices,
    );
    // Charted, as published, and marked not adjusted.
    assert!(out.iter().all(|r| r.spc_seasonally_adjusted == Some(false)));
    assert!(out.iter().all(|r| r.spc_value == r.value));
}

#[test]
fn a_result_row_stays_small() {
    // Every row is held until publishing, 10.7 million nationally over two
    // years: each byte here is 10 MB of the run's peak. The names are thin
    // pointers (a `String` or `Arc<str>` would be 16 bytes each) and an
    // absent one costs nothing more.
    assert_eq!(std::mem::size_of::<Name>(), 8);
    assert_eq!(std::mem::size_of::<Option<Name>>(), 8);
    assert_eq!(std::mem::size_of::<ResultRow>(), 232);
}

/// Extracts arrive practice by practice: a month that fewer than half of an
/// indicator's practices have sent is not yet the latest the reports lead
/// with (nor the "now" of what changed); once half have, it is.
#[test]
fn the_latest_period_is_one_at_least_half_the_practices_have_sent() {
    let practices: HashMap<_, _> = (1..=12)
        .map(|i| practice(&format!("A{i:05}"), "U1"))
        .collect();
    let rows_with = |early: usize| {
        let mut rows = Vec::new();
        for (m, period) in ["2026-07", "2026-08", "2026-09", "2026-10"]
            .into_iter()
            .enumerate()
        {
            for i in 1..=12 {
                // Practice 1 is an outlier in September; October has come
                // from the first `early` practices only.
                if m == 3 && i > early {
                    continue;
                }
                let n = if i == 1 && m == 2 {
                    400.0
                } else {
                    100.0 + i as f64
                };
                rows.push(row(&format!("A{i:05}"), period, Some(n), Some(1000.0)));
            }
        }
        compare_in(
            group("federation", PeerGroupKind::Federation, 3, 5),
            &indicator("proportion", "low_is_good"),
            &rows,
            &practices,
        )
    };

    let out = rows_with(5);
    let periods = reporting_periods(&out, "federation");
    assert_eq!(
        periods["x"],
        ReportingPeriods {
            latest: "2026-09",
            previous: Some("2026-08"),
            not_yet_shown: vec![("2026-10", 5)],
            practices: 12,
        }
    );
    // Since last period: September against August, where practice 1 became
    // an outlier, not October's five practices against September.
    let changes = what_changed(&out, "federation");
    assert!(
        changes
            .iter()
            .any(|c| c.practice_code == "A00001" && c.period == "2026-09"),
        "{changes:?}"
    );
    assert!(changes.iter().all(|c| c.period == "2026-09"), "{changes:?}");

    // Half of them: October leads.
    let out = rows_with(6);
    let periods = reporting_periods(&out, "federation");
    assert_eq!(
        (periods["x"].latest, periods["x"].previous),
        ("2026-10", Some("2026-09"))
    );
    assert!(periods["x"].not_yet_shown.is_empty());
    // Another peer group's rows are not counted.
    assert!(reporting_periods(&out, "pcn").is_empty());
}
