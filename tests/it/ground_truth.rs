//! Does the benchmarking find what was planted, and only that? A larger
//! synthetic federation with known outliers, shifts and trends goes through
//! the whole pipeline; the funnel and SPC flags are scored against
//! ground_truth.csv.
//!
//! The funnel is tested against theory, not against its own earlier output:
//! each planted outlier has an expected z on the overdispersion-adjusted
//! scale (the planted effect at its denominator, the peer benchmark and
//! τ²), so the one-sided power of the 95% and 99.8% limits is
//! Φ(|z| − z_crit); recall in each |z| bin must not fall below the 0.1%
//! quantile of Binomial(n, mean power). Unplanted pairs are flagged no more
//! often than the generator's own model predicts (its deliberate age-mix and
//! deprivation effects and each practice's random effect, from
//! `peerbench_synth::deliberate_effects`, against the limits the funnel
//! drew), within the 99.9% binomial quantile, per indicator and overall.
//! The "typical" pairs (deliberate effect under one adjusted standard
//! deviation) are flagged no more often than nominal (5% and 0.2%), within
//! the same binomial tolerance: this holds with the default consistent φ,
//! not with FunnelPlotR's winsorised one, which understates τ²
//! (docs/methods.md, "How well it detects"). The tables are
//! printed for the record (`cargo test --test it ground_truth -- --nocapture`).
//!
//! SPC: every planted shift and trend must signal after it starts, in its
//! direction on the charted scale (seasonally adjusted for `seasonal = true`
//! indicators). Unplanted series' signals after the 12-point baseline are
//! printed per indicator, seasonal and not, as charted and as they would be
//! on the unadjusted values, and must not exceed the rate at which in-control
//! series signal under the same rules (simulated here, about 31%; see
//! docs/methods.md, "Seasonal run charts", for why it is not lower). What a
//! board reads this month — special cause at the latest point — must show on
//! at most 10% of unplanted series.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{generated_federation, peerbench, read_csv, repo, stderr, stdout};

const PRACTICES: usize = 150;
const SEED: u64 = 11;

#[test]
fn funnels_and_spc_find_the_planted_effects() {
    let dir = tempfile::tempdir().unwrap();
    let practices = PRACTICES.to_string();
    let seed = SEED.to_string();
    let (data, p) = generated_federation(
        dir.path(),
        &[
            "--seed",
            &seed,
            "--practices",
            &practices,
            "--outliers",
            "40",
            "--shifts",
            "20",
            "--trends",
            "12",
        ],
    );
    // Detection is measured on the exact results: disclosure control would
    // blank the small counts' values, and whole series' SPC centres, in the
    // published table.
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("\n[disclosure]\ndownloads = \"exact\"\n");
    std::fs::write(&p, text).unwrap();
    let out = dir.path().join("out");
    let o = peerbench(&["run", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));

    let (h, truth) = read_csv(&data.join("ground_truth.csv"));
    let t = |r: &Vec<String>, n: &str| r[h.iter().position(|x| x == n).unwrap()].clone();
    let plants: Vec<(String, String, String, f64, String)> = truth
        .iter()
        .map(|r| {
            (
                t(r, "kind"),
                t(r, "practice_code"),
                t(r, "indicator_id"),
                t(r, "size").parse().unwrap(),
                t(r, "start_period"),
            )
        })
        .collect();
    let planted: HashSet<(String, String)> =
        plants.iter().map(|p| (p.1.clone(), p.2.clone())).collect();
    let indicators: HashSet<String> = plants.iter().map(|p| p.2.clone()).collect();

    let (hr, rows) = read_csv(&out.join("data/indicator_results.csv.gz"));
    let c: HashMap<&str, usize> = hr
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    // (practice, indicator) → rows in period order.
    let mut series: BTreeMap<(String, String), Vec<&Vec<String>>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| indicators.contains(&r[c["indicator_id"]]))
    {
        series
            .entry((r[c["practice_code"]].clone(), r[c["indicator_id"]].clone()))
            .or_default()
            .push(r);
    }
    let latest = |s: &Vec<&Vec<String>>| {
        s.iter()
            .max_by_key(|r| r[c["period"]].clone())
            .map(|r| (*r).clone())
            .unwrap()
    };
    let outlier = |f: &str| f == "high_998" || f == "low_998";

    // Funnels, latest month (one row per plant: a practice's months share its
    // own random effect, so they are not independent trials).
    let meta = indicator_meta(&indicators);
    let row_of = |code: &str, ind: &str| latest(&series[&(code.to_string(), ind.to_string())]);
    let num = |r: &Vec<String>, col: &str| r[c[col]].parse::<f64>().unwrap();
    let mut plants_scored: Vec<Scored> = Vec::new();
    for (_, code, ind, size, _) in plants.iter().filter(|p| p.0 == "outlier") {
        let r = row_of(code, ind);
        let (n, benchmark, tau2) = (
            num(&r, "denominator"),
            num(&r, "benchmark"),
            num(&r, "od_tau2"),
        );
        let z = expected_z(&meta[ind.as_str()], n, benchmark, tau2, size.ln());
        let flag = r[c["funnel_flag"]].clone();
        let side = if *size > 1.0 { "high" } else { "low" };
        plants_scored.push(Scored {
            indicator: ind.clone(),
            z,
            tau: tau2.sqrt(),
            hit_95: flag.starts_with(side),
            hit_998: flag == format!("{side}_998"),
        });
    }
    let total = plants_scored.len();
    let found = plants_scored.iter().filter(|s| s.hit_998).count();
    let found_95 = plants_scored.iter().filter(|s| s.hit_95).count();
    let sensitivity = found as f64 / total as f64;
    let sensitivity_95 = found_95 as f64 / total as f64;
    let failures = print_calibration(&plants_scored);

    // Unplanted pairs: flags beyond the adjusted limits are false unless the
    // generator's deliberate age-mix and deprivation effects put the practice
    // there (crude rates are meant to show those).
    let mut options =
        peerbench_synth::SynthOptions::preset(peerbench_synth::Preset::Federation, SEED);
    options.practices = PRACTICES;
    let deliberate: HashMap<(String, String), (f64, f64)> =
        peerbench_synth::deliberate_effects(&options)
            .into_iter()
            .map(|e| {
                (
                    (e.practice_code, e.indicator.to_string()),
                    (e.log_effect, e.random_sd),
                )
            })
            .collect();
    let clean: Vec<Vec<String>> = series
        .iter()
        .filter(|(k, _)| !planted.contains(*k))
        .map(|(_, s)| latest(s))
        .filter(|r| !r[c["value"]].is_empty())
        .collect();
    let fpr = |col: &str| {
        clean.iter().filter(|r| outlier(&r[c[col]])).count() as f64 / clean.len() as f64
    };
    let (fpr_adjusted, fpr_unadjusted) = (fpr("funnel_flag"), fpr("funnel_flag_unadjusted"));
    let mut by_indicator: BTreeMap<String, Vec<Unplanted>> = BTreeMap::new();
    let mut every_month = (0usize, 0usize, 0usize);
    let mut slopes: Vec<(String, f64)> = Vec::new();
    let mut indicator_names: Vec<&String> = indicators.iter().collect();
    indicator_names.sort();
    for ind in indicator_names {
        // The peer group's centre of the deliberate effects, weighted as the
        // pooled benchmark weights practices (by denominator).
        let members: Vec<(f64, f64)> = series
            .iter()
            .filter(|(k, _)| &k.1 == ind)
            .map(|(k, s)| (latest(s), deliberate[&(k.0.clone(), ind.clone())].0))
            .filter(|(r, _)| !r[c["value"]].is_empty())
            .map(|(r, e)| (num(&r, "denominator"), e))
            .collect();
        let m = &meta[ind.as_str()];
        let weight: f64 = members.iter().map(|x| x.0).sum();
        let centre = if m.proportion {
            members.iter().map(|(n, e)| n * e).sum::<f64>() / weight
        } else {
            (members.iter().map(|(n, e)| n * e.exp()).sum::<f64>() / weight).ln()
        };
        for r in clean.iter().filter(|r| &r[c["indicator_id"]] == ind) {
            let (effect, random_sd) = deliberate[&(r[c["practice_code"]].clone(), ind.clone())];
            let effect = effect - centre;
            let (n, benchmark, tau2) = (
                num(r, "denominator"),
                num(r, "benchmark"),
                num(r, "od_tau2"),
            );
            let probability =
                |z_crit: f64| flag_probability(m, n, benchmark, tau2, effect, random_sd, z_crit);
            by_indicator
                .entry(ind.clone())
                .or_default()
                .push(Unplanted {
                    z: expected_z(m, n, benchmark, tau2, effect),
                    flag: r[c["funnel_flag"]].clone(),
                    p95: probability(Z_95),
                    p998: probability(Z_998),
                });
        }
        // Every month, for the record only: a practice's months share its
        // random effect, so they are not independent trials.
        let mut pairs: Vec<(f64, f64)> = Vec::new();
        for (k, s) in series
            .iter()
            .filter(|(k, _)| &k.1 == ind && !planted.contains(*k))
        {
            let effect = deliberate[&(k.0.clone(), ind.clone())].0 - centre;
            // The practice's observed departure, averaged over its months, on
            // the scale its deliberate effect is stated on.
            let departures: Vec<f64> = s
                .iter()
                .filter(|r| !r[c["value"]].is_empty() && num(r, "numerator") > 0.0)
                .map(|r| {
                    let (o, n, p) = (
                        num(r, "numerator"),
                        num(r, "denominator"),
                        num(r, "benchmark") / m.multiplier,
                    );
                    if m.proportion {
                        let q = o / n;
                        (q / (1.0 - q)).ln() - (p / (1.0 - p)).ln()
                    } else {
                        (o / (p * n)).ln()
                    }
                })
                .collect();
            if !departures.is_empty() {
                pairs.push((
                    effect,
                    departures.iter().sum::<f64>() / departures.len() as f64,
                ));
            }
            for r in s.iter().filter(|r| !r[c["value"]].is_empty()) {
                let z = expected_z(
                    m,
                    num(r, "denominator"),
                    num(r, "benchmark"),
                    num(r, "od_tau2"),
                    effect,
                );
                if z.abs() < 1.0 {
                    let f = r[c["funnel_flag"]].as_str();
                    every_month.0 += 1;
                    every_month.1 += usize::from(f != "within" && f != "not_compared");
                    every_month.2 += usize::from(f.ends_with("_998"));
                }
            }
        }
        // The deliberate effects the generator reports are the ones in its
        // data: practices' observed departures rise one for one with them.
        let mean =
            |f: &dyn Fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / pairs.len() as f64;
        let (mx, my) = (mean(&|p| p.0), mean(&|p| p.1));
        let sxx = mean(&|p| (p.0 - mx).powi(2));
        if sxx.sqrt() > 0.05 {
            let slope = mean(&|p| (p.0 - mx) * (p.1 - my)) / sxx;
            eprintln!(
                "  {ind}: deliberate effects SD {:.3}, observed departure per unit of effect {slope:.2}",
                sxx.sqrt()
            );
            slopes.push((ind.clone(), slope));
        }
    }
    let false_flag_failures = print_false_flags(&by_indicator);
    eprintln!(
        "  every month (not independent): typical pairs beyond 95% {:.1}%, beyond 99.8% {:.2}% of {}",
        100.0 * every_month.1 as f64 / every_month.0 as f64,
        100.0 * every_month.2 as f64 / every_month.0 as f64,
        every_month.0
    );

    // SPC: planted shifts and trends signal after they start, in their
    // direction on the charted scale (seasonally adjusted for seasonal
    // indicators: `spc_value`, which the centre and limits are on).
    let (mut spc_found, mut spc_total) = (0, 0);
    let mut spc_missed = Vec::new();
    for (kind, code, ind, size, start) in plants.iter().filter(|p| p.0 != "outlier") {
        spc_total += 1;
        let hit = series[&(code.clone(), ind.clone())].iter().any(|r| {
            r[c["period"]] >= *start
                && !r[c["spc_signal"]].is_empty()
                && (num(r, "spc_value") > num(r, "spc_centre")) == (*size > 1.0)
        });
        if hit {
            spc_found += 1;
        } else {
            spc_missed.push(format!("{kind} {size} in {code} {ind} from {start}"));
        }
    }
    let spc_sensitivity = spc_found as f64 / spc_total as f64;
    let spc = unplanted_spc(&series, &planted, &c, &meta);
    let spc_fpr = spc.charted as f64 / spc.series as f64;
    eprintln!(
        "ground truth ({PRACTICES} practices, {} indicators): funnel sensitivity {:.0}% at 99.8% ({found}/{total}), {:.0}% at 95% ({found_95}/{total}); \
         false-positive rate {:.1}% adjusted vs {:.1}% unadjusted ({} clean pairs); \
         SPC sensitivity to shifts and trends {:.0}% ({spc_found}/{spc_total}); \
         unplanted series with any SPC signal after the baseline {:.0}%, at the latest point {:.1}%",
        indicators.len(),
        sensitivity * 100.0,
        sensitivity_95 * 100.0,
        fpr_adjusted * 100.0,
        fpr_unadjusted * 100.0,
        clean.len(),
        spc_sensitivity * 100.0,
        spc_fpr * 100.0,
        100.0 * spc.latest as f64 / spc.series as f64
    );
    // Recall in each expected-z bin is what the normal theory of the adjusted
    // limits predicts, within a binomial tolerance.
    assert!(failures.is_empty(), "recall below theory: {failures:?}");
    assert!(
        slopes.iter().all(|(_, b)| (0.75..=1.25).contains(b)),
        "deliberate effects do not match the data: {slopes:?}"
    );
    assert!(
        false_flag_failures.is_empty(),
        "false flags above nominal: {false_flag_failures:?}"
    );
    // With overdispersion allowed for, about 0.2% of in-control pairs sit
    // outside 99.8% limits by chance; allow for the plants inflating nothing.
    assert!(
        fpr_adjusted <= 0.02,
        "adjusted false-positive rate {fpr_adjusted:.3}"
    );
    // Without the adjustment, binomial/Poisson limits at list-size
    // denominators flag a large share of ordinary practices.
    assert!(
        fpr_unadjusted >= 0.15 && fpr_unadjusted >= 5.0 * fpr_adjusted.max(0.01),
        "unadjusted {fpr_unadjusted:.3}"
    );
    // Shifts of 1.6× (2.2× odds) held for 8 months, and trends compounding
    // 6% a month for a year, are far past the XmR limits: every one is found.
    assert!(
        spc_missed.is_empty(),
        "SPC missed planted shifts or trends: {spc_missed:?}"
    );
    // Unplanted series signal no more often than in-control series do under
    // the same rules and 12-point baseline, indicator by indicator and in
    // all (the chance rate is ~29%, not ~0: see `unplanted_spc`).
    assert!(
        spc.failures.is_empty(),
        "unplanted series signal more often than in-control ones: {:?}",
        spc.failures
    );
}

/// Unplanted series with an SPC signal after the baseline.
struct UnplantedSpc {
    series: usize,
    /// With a signal on the chart as published (seasonally adjusted where
    /// the indicator is seasonal).
    charted: usize,
    /// With a signal on the latest point: what the chart's variation icon,
    /// the "Own run chart, latest month" column and the board's "new special
    /// cause" list show.
    latest: usize,
    /// Indicators (and all together) above the 99.9% binomial quantile of
    /// the in-control rate, and the latest month above 10% overall.
    failures: Vec<String>,
}

/// Counts unplanted series with any special cause after their 12-point
/// baseline, per indicator: as charted, and as they would be charted on the
/// values as published (the XmR over `value`, as before seasonal
/// adjustment), and prints both beside the rate at which **in-control**
/// series signal — independent normal points with a constant mean, through
/// the same rules and baseline. That rate is not small: twelve points
/// after a baseline estimated from twelve give four rules many chances
/// (about 29% of 24-point series; 12.5% even with the true mean and σ),
/// so it is the floor any charting of these series can reach, and the
/// assertion is that no indicator signals more often than it within the
/// 99.9% binomial quantile.
fn unplanted_spc(
    series: &BTreeMap<(String, String), Vec<&Vec<String>>>,
    planted: &HashSet<(String, String)>,
    c: &HashMap<&str, usize>,
    meta: &HashMap<String, Meta>,
) -> UnplantedSpc {
    use peerbench_stats::{Polarity, xmr};
    let options = peerbench_compare::CompareOptions::default().spc;
    let baseline = options.baseline.unwrap_or(0);
    let (in_control, in_control_latest) = in_control_rate(&options, 24, 20_000);
    let after_baseline =
        |signals: &mut dyn Iterator<Item = bool>| signals.skip(baseline).any(|s| s);
    // indicator → (series, signalled as charted, signalled on raw values,
    // signalled at the latest point as charted)
    let mut by_indicator: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    for ((_, ind), s) in series.iter().filter(|(k, _)| !planted.contains(*k)) {
        let e = by_indicator.entry(ind.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(after_baseline(
            &mut s.iter().map(|r| !r[c["spc_signal"]].is_empty()),
        ));
        e.3 += usize::from(s.last().is_some_and(|r| !r[c["spc_signal"]].is_empty()));
        let values: Vec<f64> = s
            .iter()
            .filter_map(|r| r[c["value"]].parse::<f64>().ok())
            .collect();
        if values.len() >= 6
            && let Ok(chart) = xmr(&values, Polarity::NoJudgement, &options)
        {
            e.2 += usize::from(after_baseline(
                &mut chart.points.iter().map(|p| p.signal.is_some()),
            ));
        }
    }
    let pct = |k: usize, n: usize| 100.0 * k as f64 / n.max(1) as f64;
    let mut failures = Vec::new();
    let mut check = |label: &str, n: usize, k: usize| {
        let ceiling = binomial_quantile(n, in_control, 0.999);
        if k > ceiling {
            failures.push(format!(
                "{label}: {k}/{n} (in control {:.1}%, ceiling {ceiling})",
                100.0 * in_control
            ));
        }
    };
    eprintln!(
        "unplanted series with any SPC signal after the {baseline}-point baseline (in-control series of 24 points: {:.1}%), and at the latest point (in control: {:.1}%):",
        100.0 * in_control,
        100.0 * in_control_latest
    );
    eprintln!(
        "  {:<30} {:>8} {:>5} {:>10} {:>11} {:>8}",
        "indicator", "", "n", "charted", "unadjusted", "latest"
    );
    let mut totals = [(0, 0, 0, 0); 2];
    for seasonal in [true, false] {
        for (ind, (n, charted, raw, latest)) in by_indicator
            .iter()
            .filter(|(ind, _)| meta[**ind].seasonal == seasonal)
        {
            eprintln!(
                "  {ind:<30} {:>8} {n:>5} {:>9.1}% {:>10.1}% {:>7.1}%",
                if seasonal { "seasonal" } else { "" },
                pct(*charted, *n),
                pct(*raw, *n),
                pct(*latest, *n)
            );
            check(ind, *n, *charted);
            let t = &mut totals[usize::from(!seasonal)];
            *t = (t.0 + n, t.1 + charted, t.2 + raw, t.3 + latest);
        }
    }
    for (label, (n, charted, raw, latest)) in ["seasonal", "not seasonal"].iter().zip(totals) {
        eprintln!(
            "  {label:<39} {n:>5} {:>9.1}% {:>10.1}% {:>7.1}%",
            pct(charted, n),
            pct(raw, n),
            pct(latest, n)
        );
    }
    let (n, charted, latest) = (
        totals[0].0 + totals[1].0,
        totals[0].1 + totals[1].1,
        totals[0].3 + totals[1].3,
    );
    check("all unplanted series", n, charted);
    // What a board reads this month: special cause at the latest point, on
    // at most one unplanted series in ten (and no more than in control).
    if pct(latest, n) > 10.0 || latest > binomial_quantile(n, in_control_latest, 0.999) {
        failures.push(format!(
            "latest month: {latest}/{n} unplanted series show special cause (in control {:.1}%)",
            100.0 * in_control_latest
        ));
    }
    UnplantedSpc {
        series: n,
        charted,
        latest,
        failures,
    }
}

/// The shares of in-control series of `length` points — independent
/// standard normal points — with any special cause after the baseline, and
/// with one at the latest point, under `options`, from `draws` simulated
/// series (fixed seed).
fn in_control_rate(
    options: &peerbench_stats::SpcOptions,
    length: usize,
    draws: usize,
) -> (f64, f64) {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
    let baseline = options.baseline.unwrap_or(0);
    let (mut any, mut latest) = (0, 0);
    for _ in 0..draws {
        let v: Vec<f64> = (0..length)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        if let Ok(chart) = peerbench_stats::xmr(&v, peerbench_stats::Polarity::NoJudgement, options)
        {
            any += usize::from(chart.points[baseline..].iter().any(|p| p.signal.is_some()));
            latest += usize::from(chart.points.last().is_some_and(|p| p.signal.is_some()));
        }
    }
    (any as f64 / draws as f64, latest as f64 / draws as f64)
}

/// What the ground-truth test needs of an indicator's definition.
struct Meta {
    proportion: bool,
    multiplier: f64,
    /// Charted on the seasonally adjusted series (`seasonal = true`).
    seasonal: bool,
}

/// Value type and multiplier of each indicator, from its SQL header.
fn indicator_meta(ids: &HashSet<String>) -> HashMap<String, Meta> {
    let mut out = HashMap::new();
    for domain in std::fs::read_dir(repo().join("sql/indicators"))
        .unwrap()
        .flatten()
    {
        for file in std::fs::read_dir(domain.path()).unwrap().flatten() {
            let path = file.path();
            let id = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.extension().is_none_or(|e| e != "sql") || !ids.contains(&id) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name} = ")))
                    .map(|v| v.trim_matches('"').to_string())
            };
            let proportion = field("value_type").as_deref() == Some("proportion");
            let multiplier = field("multiplier").map_or(100.0, |m| m.parse().unwrap());
            let seasonal = field("seasonal").as_deref() == Some("true");
            out.insert(
                id,
                Meta {
                    proportion,
                    multiplier,
                    seasonal,
                },
            );
        }
    }
    assert_eq!(out.len(), ids.len(), "every planted indicator has SQL");
    out
}

/// The z a departure of `log_effect` (log rate ratio for rates, log odds
/// ratio for proportions) produces on the funnel's overdispersion-adjusted
/// scale at this denominator, benchmark and τ² (methods reference §4.2):
/// log(O/E) over √(1/E + τ²) for rates, the arcsine-square-root difference
/// over √(1/(4n) + τ²) for proportions. A rate-ratio plant on a proportion
/// (broad-spectrum antibiotics) multiplies the numerator's items while the
/// other items stay, which multiplies the odds by the same ratio.
fn expected_z(m: &Meta, n: f64, benchmark: f64, tau2: f64, log_effect: f64) -> f64 {
    let p = benchmark / m.multiplier;
    if m.proportion {
        let odds = p / (1.0 - p) * log_effect.exp();
        let p1 = odds / (1.0 + odds);
        (p1.sqrt().asin() - p.sqrt().asin()) / (1.0 / (4.0 * n) + tau2).sqrt()
    } else {
        log_effect / (1.0 / (p * n) + tau2).sqrt()
    }
}

/// Standard normal distribution function (erfc by Numerical Recipes'
/// Chebyshev fit, fractional error below 1.2e-7).
fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Two-sided 95% and 99.8% normal quantiles.
const Z_95: f64 = 1.959_963_984_540_054;
const Z_998: f64 = 3.090_232_306_167_813;

/// The smallest k with P(X ≤ k) ≥ q for X ~ Binomial(n, p).
fn binomial_quantile(n: usize, p: f64, q: f64) -> usize {
    let mut pmf = (1.0 - p).powi(n as i32);
    let mut cdf = pmf;
    for k in 0..n {
        if cdf >= q {
            return k;
        }
        pmf *= (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
        cdf += pmf;
    }
    n
}

struct Scored {
    indicator: String,
    z: f64,
    tau: f64,
    hit_95: bool,
    hit_998: bool,
}

/// One-sided power of a limit at `z_crit` against Z ~ N(z, 1): the flags
/// are one-sided, in the planted direction.
fn power(z: f64, z_crit: f64) -> f64 {
    phi(z.abs() - z_crit)
}

/// Prints recall beside theoretical power by expected-z bin (and by
/// indicator), and returns the bins whose successes fall below the 0.1%
/// quantile of Binomial(n, mean power).
fn print_calibration(scored: &[Scored]) -> Vec<String> {
    const EDGES: [f64; 5] = [0.0, 2.0, 3.0, 4.0, f64::INFINITY];
    let mut failures = Vec::new();
    eprintln!("planted funnel outliers, latest month, by expected |z| on the adjusted scale:");
    eprintln!(
        "  {:<10} {:>3} {:>7} | {:>9} {:>6} {:>5} | {:>9} {:>6} {:>5}",
        "|z| bin", "n", "mean z", "found 95%", "power", "floor", "found 99.8", "power", "floor"
    );
    for w in EDGES.windows(2) {
        let bin: Vec<&Scored> = scored
            .iter()
            .filter(|s| s.z.abs() >= w[0] && s.z.abs() < w[1])
            .collect();
        if bin.is_empty() {
            continue;
        }
        let n = bin.len();
        let mean = |f: &dyn Fn(&Scored) -> f64| bin.iter().map(|s| f(s)).sum::<f64>() / n as f64;
        let (p95, p998) = (mean(&|s| power(s.z, Z_95)), mean(&|s| power(s.z, Z_998)));
        let (h95, h998) = (
            bin.iter().filter(|s| s.hit_95).count(),
            bin.iter().filter(|s| s.hit_998).count(),
        );
        let (f95, f998) = (
            binomial_quantile(n, p95, 0.001),
            binomial_quantile(n, p998, 0.001),
        );
        let label = if w[1].is_finite() {
            format!("{}–{}", w[0], w[1])
        } else {
            format!("≥ {}", w[0])
        };
        eprintln!(
            "  {label:<10} {n:>3} {:>7.2} | {:>9} {:>6.2} {f95:>5} | {:>9} {:>6.2} {f998:>5}",
            mean(&|s| s.z.abs()),
            format!("{h95}/{n}"),
            p95,
            format!("{h998}/{n}"),
            p998,
        );
        if h95 < f95 || h998 < f998 {
            failures.push(format!(
                "|z| {label}: {h95}/{n} at 95% (floor {f95}), {h998}/{n} at 99.8% (floor {f998})"
            ));
        }
    }
    let mut names: Vec<&String> = scored.iter().map(|s| &s.indicator).collect();
    names.sort();
    names.dedup();
    eprintln!("  by indicator (τ the funnel's between-practice SD):");
    for name in names {
        let of: Vec<&Scored> = scored.iter().filter(|s| &s.indicator == name).collect();
        let n = of.len() as f64;
        eprintln!(
            "  {name:<30} n {:>2}, τ {:.3}, mean |z| {:.2}: 95% {}/{} (power {:.2}), 99.8% {}/{} (power {:.2})",
            of.len(),
            of.iter().map(|s| s.tau).sum::<f64>() / n,
            of.iter().map(|s| s.z.abs()).sum::<f64>() / n,
            of.iter().filter(|s| s.hit_95).count(),
            of.len(),
            of.iter().map(|s| power(s.z, Z_95)).sum::<f64>() / n,
            of.iter().filter(|s| s.hit_998).count(),
            of.len(),
            of.iter().map(|s| power(s.z, Z_998)).sum::<f64>() / n,
        );
    }
    failures
}

/// An unplanted practice–indicator pair in the latest month.
struct Unplanted {
    /// Expected z of its deliberate age-mix and deprivation effect.
    z: f64,
    flag: String,
    /// Probability of a flag beyond 95% and 99.8% under the generator's model.
    p95: f64,
    p998: f64,
}

/// Probability that a practice with nothing planted falls beyond the
/// adjusted limits at `z_crit`, under the generator's model: on the funnel's
/// scale its departure from the target is normal with mean its deliberate
/// effect and variance its own random effect's plus the sampling variance
/// (Poisson 1/E, or 1/(4n) for arcsine-square-root proportions), while the
/// limits sit at ±z_crit·√(τ² + sampling variance). With τ² equal to the
/// random effect's variance and no deliberate effect this is the nominal
/// rate.
fn flag_probability(
    m: &Meta,
    n: f64,
    benchmark: f64,
    tau2: f64,
    log_effect: f64,
    random_sd: f64,
    z_crit: f64,
) -> f64 {
    let p = benchmark / m.multiplier;
    let (mean, sampling, random) = if m.proportion {
        let odds = p / (1.0 - p) * log_effect.exp();
        let p1 = odds / (1.0 + odds);
        // d asin(√p) / d logit(p) = √(p(1 − p)) / 2.
        let slope = (p1 * (1.0 - p1)).sqrt() / 2.0;
        (
            p1.sqrt().asin() - p.sqrt().asin(),
            1.0 / (4.0 * n),
            random_sd * slope,
        )
    } else {
        // The pooled benchmark carries the random effects' log-normal mean.
        (
            log_effect - random_sd * random_sd / 2.0,
            1.0 / (p * n),
            random_sd,
        )
    };
    let limit = z_crit * (tau2 + sampling).sqrt();
    let spread = (random * random + sampling).sqrt();
    phi((-limit - mean) / spread) + phi((-limit + mean) / spread)
}

/// Prints the false-flag rate of unplanted pairs per indicator: all of them
/// beside the rate the generator's model predicts, and those whose
/// deliberate age-mix and deprivation effect is under one adjusted standard
/// deviation from the peer centre beside nominal. Returns the indicators
/// (and the pooled total) whose flags exceed the model's prediction beyond
/// the 99.9% quantile of Binomial(n, predicted rate).
fn print_false_flags(by_indicator: &BTreeMap<String, Vec<Unplanted>>) -> Vec<String> {
    let mut failures = Vec::new();
    eprintln!(
        "unplanted pairs, latest month, beyond the adjusted limits: all (with the generator model's prediction) and typical (nominal 5% and 0.2%):"
    );
    eprintln!(
        "  {:<30} {:>4} {:>13} {:>13} | {:>4} {:>6} {:>6}",
        "indicator", "all", "95% (model)", "99.8% (model)", "typ.", "95%", "99.8%"
    );
    fn beyond_95(u: &&&Unplanted) -> bool {
        u.flag != "within" && u.flag != "not_compared"
    }
    fn beyond_998(u: &&&Unplanted) -> bool {
        u.flag.ends_with("_998")
    }
    let pct = |k: usize, n: usize| 100.0 * k as f64 / n.max(1) as f64;
    let mut check = |label: &str, rows: &[&Unplanted]| {
        let n = rows.len();
        let (o95, o998) = (
            rows.iter().filter(beyond_95).count(),
            rows.iter().filter(beyond_998).count(),
        );
        let e95 = rows.iter().map(|u| u.p95).sum::<f64>() / n as f64;
        let e998 = rows.iter().map(|u| u.p998).sum::<f64>() / n as f64;
        if o95 > binomial_quantile(n, e95, 0.999) || o998 > binomial_quantile(n, e998, 0.999) {
            failures.push(format!(
                "{label}: {o95}/{n} beyond 95% (model {:.1}%), {o998}/{n} beyond 99.8% (model {:.2}%)",
                100.0 * e95,
                100.0 * e998
            ));
        }
        (n, o95, o998, e95, e998)
    };
    let (mut tn, mut t95, mut t998) = (0, 0, 0);
    let mut all: Vec<&Unplanted> = Vec::new();
    for (ind, rows) in by_indicator {
        let rows: Vec<&Unplanted> = rows.iter().collect();
        let (n, o95, o998, e95, e998) = check(ind, &rows);
        let typical: Vec<&Unplanted> = rows.iter().copied().filter(|u| u.z.abs() < 1.0).collect();
        let (y95, y998) = (
            typical.iter().filter(beyond_95).count(),
            typical.iter().filter(beyond_998).count(),
        );
        eprintln!(
            "  {ind:<30} {n:>4} {:>5.1}% ({:>4.1}) {:>5.1}% ({:>4.2}) | {:>4} {:>5.1}% {:>5.1}%",
            pct(o95, n),
            100.0 * e95,
            pct(o998, n),
            100.0 * e998,
            typical.len(),
            pct(y95, typical.len()),
            pct(y998, typical.len()),
        );
        (tn, t95, t998) = (tn + typical.len(), t95 + y95, t998 + y998);
        all.extend(rows);
    }
    let (n, o95, o998, e95, e998) = check("all unplanted pairs", &all);
    eprintln!(
        "  all: {o95}/{n} beyond 95% ({:.1}%, model {:.1}%), {o998}/{n} beyond 99.8% ({:.2}%, model {:.2}%)",
        pct(o95, n),
        100.0 * e95,
        pct(o998, n),
        100.0 * e998
    );
    eprintln!(
        "  typical: {t95}/{tn} beyond 95% ({:.1}%), {t998}/{tn} beyond 99.8% ({:.2}%)",
        pct(t95, tn),
        pct(t998, tn)
    );
    // Pairs the generator's structure does not explain are flagged no more
    // often than the limits' level: the consistent φ (docs/methods.md).
    if t95 > binomial_quantile(tn, 0.05, 0.999) || t998 > binomial_quantile(tn, 0.002, 0.999) {
        failures.push(format!(
            "typical pairs above nominal: {t95}/{tn} beyond 95%, {t998}/{tn} beyond 99.8%"
        ));
    }
    failures
}
