//! The demo pipeline, run once and inspected as a user would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::{peerbench, read_csv, repo, stderr, stdout};

pub struct DemoRun {
    _dir: tempfile::TempDir,
    pub out: PathBuf,
    pub warehouse: PathBuf,
    pub first_stdout: String,
}

/// Runs `peerbench run pipelines/demo.toml` into a temporary folder, once.
pub fn demo() -> &'static DemoRun {
    static RUN: OnceLock<DemoRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let warehouse = dir.path().join("warehouse");
        let o = peerbench(&[
            "run",
            "pipelines/demo.toml",
            "--out",
            out.to_str().unwrap(),
            "--warehouse",
            warehouse.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "demo run failed:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        DemoRun {
            _dir: dir,
            out,
            warehouse,
            first_stdout: stdout(&o),
        }
    })
}

fn sample_practices() -> Vec<String> {
    let (_, rows) = read_csv(&repo().join("data-samples/federation/practices.csv"));
    rows.into_iter().map(|r| r[0].clone()).collect()
}

fn results() -> (HashMap<String, usize>, Vec<Vec<String>>) {
    let (header, rows) = read_csv(&demo().out.join("data/indicator_results.csv.gz"));
    (
        header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect(),
        rows,
    )
}

#[test]
fn board_page_and_a_page_per_practice() {
    let run = demo();
    let index = std::fs::read_to_string(run.out.join("index.html")).unwrap();
    for code in sample_practices() {
        let page = run.out.join("practices").join(format!("{code}.html"));
        assert!(page.is_file(), "no page for {code}");
        assert!(
            index.contains(&format!("href=\"practices/{code}.html\"")),
            "board page does not link {code}"
        );
    }
    // Self-contained: nothing fetched from the network.
    for page in [
        index,
        std::fs::read_to_string(run.out.join("practices/A81003.html")).unwrap(),
        std::fs::read_to_string(run.out.join("practices/A81003/clinical.html")).unwrap(),
    ] {
        assert!(
            !page.contains("http://") && !page.contains("https://") && !page.contains("<script"),
            "page fetches or runs something"
        );
        assert!(page.contains("How this was made"));
    }
    assert!(run.first_stdout.contains("Board report:"));
    // The indicator catalogue is published beside the reports, with every indicator.
    let catalogue = std::fs::read_to_string(run.out.join("indicators.html")).unwrap();
    assert!(
        std::fs::read_to_string(run.out.join("index.html"))
            .unwrap()
            .contains("href=\"indicators.html\"")
    );
    for id in ["dna_rate", "qof_hyp008_pct", "survey_overall_good_pct"] {
        assert!(
            catalogue.contains(&format!("id=\"{id}\"")),
            "catalogue lacks {id}"
        );
    }
}

#[test]
fn results_have_a_row_per_practice_indicator_period_and_peer_group() {
    let (col, rows) = results();
    for name in [
        "indicator_id",
        "practice_code",
        "period",
        "peer_group",
        "numerator",
        "denominator",
        "value",
        "lower_95",
        "upper_95",
        "benchmark",
        "comparison",
    ] {
        assert!(col.contains_key(name), "results lack column {name}");
    }
    let mut keys = HashSet::new();
    let mut practices_by_indicator: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for r in &rows {
        assert!(
            keys.insert((
                r[col["indicator_id"]].clone(),
                r[col["practice_code"]].clone(),
                r[col["period"]].clone(),
                r[col["peer_group"]].clone()
            )),
            "duplicate result row {r:?}"
        );
        practices_by_indicator
            .entry(r[col["indicator_id"]].clone())
            .or_default()
            .insert(r[col["practice_code"]].clone());
        let c = r[col["comparison"]].as_str();
        assert!(
            [
                "better",
                "similar",
                "worse",
                "higher",
                "lower",
                "not_compared"
            ]
            .contains(&c),
            "bad comparison {c}"
        );
    }
    let indicators: Vec<_> = std::fs::read_dir(repo().join("sql/indicators"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|f| f.path().extension().is_some_and(|x| x == "sql"))
        .collect();
    assert_eq!(
        practices_by_indicator.len(),
        indicators.len(),
        "every indicator has results"
    );
    let all: HashSet<String> = sample_practices().into_iter().collect();
    for (ind, practices) in &practices_by_indicator {
        // Every practice appears (the opening and closing ones for the months they were open).
        assert_eq!(practices, &all, "{ind}: practices missing from the results");
    }
}

/// Numerators and denominators recomputed straight from the sample CSVs,
/// without DataFusion: DNA rate for the latest month and QOF HYP008.
#[test]
fn numerators_and_denominators_agree_with_the_sample_files() {
    let (col, rows) = results();
    let find = |ind: &str, code: &str, period: &str| -> (f64, f64) {
        let r = rows
            .iter()
            .find(|r| {
                r[col["indicator_id"]] == ind
                    && r[col["practice_code"]] == code
                    && r[col["period"]] == period
                    && r[col["peer_group"]] == "federation"
            })
            .unwrap_or_else(|| panic!("no result for {ind} {code} {period}"));
        (
            r[col["numerator"]].parse().unwrap(),
            r[col["denominator"]].parse().unwrap(),
        )
    };

    let (h, appts) = read_csv(
        &repo().join("data-samples/federation/appointments/gpad-practice-level-2026-09.csv"),
    );
    let i = |n: &str| h.iter().position(|x| x == n).unwrap();
    let mut dna: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for r in &appts {
        let count: f64 = r[i("COUNT_OF_APPOINTMENTS")].parse().unwrap();
        let e = dna.entry(r[i("GP_CODE")].clone()).or_default();
        match r[i("APPT_STATUS")].as_str() {
            "DNA" => {
                e.0 += count;
                e.1 += count;
            }
            "Attended" => e.1 += count,
            _ => {}
        }
    }
    assert!(dna.len() >= 30);
    for (code, expected) in &dna {
        assert_eq!(
            find("dna_rate", code, "2026-09"),
            *expected,
            "dna_rate {code}"
        );
    }

    let (h, qof) =
        read_csv(&repo().join("data-samples/federation/qof/qof-achievement-2025-26.csv"));
    let i = |n: &str| h.iter().position(|x| x == n).unwrap();
    let mut hyp: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for r in qof.iter().filter(|r| r[i("INDICATOR_CODE")] == "HYP008") {
        let v: f64 = r[i("VALUE")].parse().unwrap();
        let e = hyp.entry(r[i("PRACTICE_CODE")].clone()).or_default();
        match r[i("MEASURE")].as_str() {
            "NUMERATOR" => e.0 = v,
            "DENOMINATOR" => e.1 = v,
            _ => {}
        }
    }
    for (code, expected) in &hyp {
        assert_eq!(
            find("qof_hyp008_pct", code, "2025-26"),
            *expected,
            "qof_hyp008_pct {code}"
        );
    }
}

#[test]
fn suppressed_inputs_are_not_compared_and_never_zero() {
    let (col, rows) = results();
    let suppressed: Vec<_> = rows
        .iter()
        .filter(|r| {
            r[col["indicator_id"]] == "dementia_diagnoses_per_10000_65"
                && r[col["numerator"]].is_empty()
        })
        .collect();
    assert!(
        !suppressed.is_empty(),
        "the sample has suppressed dementia counts"
    );
    for r in suppressed {
        assert_eq!(r[col["comparison"]], "not_compared");
        assert!(
            r[col["value"]].is_empty(),
            "a suppressed count produced a value: {r:?}"
        );
    }
}

#[test]
fn query_answers_and_loading_twice_changes_nothing() {
    let run = demo();
    let w = run.warehouse.to_str().unwrap();
    let o = peerbench(&[
        "query",
        "pipelines/demo.toml",
        "--warehouse",
        w,
        "SELECT count(*) AS n FROM appointments",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected: usize = std::fs::read_dir(repo().join("data-samples/federation/appointments"))
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap().lines().count() - 1)
        .sum();
    assert!(
        stdout(&o).contains(&format!("| {expected} ")),
        "count(*) should be {expected}:\n{}",
        stdout(&o)
    );

    // The ledger records each file's SHA-256, the same as sha256sum prints.
    let sum = std::process::Command::new("sha256sum")
        .arg(repo().join("data-samples/federation/practices.csv"))
        .output()
        .unwrap();
    let expected_hash = String::from_utf8_lossy(&sum.stdout)[..64].to_string();
    let o = peerbench(&[
        "query",
        "pipelines/demo.toml",
        "--warehouse",
        w,
        "SELECT sha256 FROM load_ledger WHERE file LIKE '%practices.csv'",
    ]);
    assert!(
        stdout(&o).contains(&expected_hash),
        "ledger hash differs from sha256sum {expected_hash}:\n{}",
        stdout(&o)
    );

    // Other tests run on this warehouse at the same time: wait for them.
    let o = peerbench(&[
        "ingest",
        "pipelines/demo.toml",
        "--warehouse",
        w,
        "--wait-for-lock",
        "10m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        !text.contains("version "),
        "a second load of the same files committed something:\n{text}"
    );
    assert_eq!(text.matches("unchanged").count(), 8, "{text}");
}

#[test]
fn earlier_warehouse_versions_can_be_read_back() {
    // Every table is a Delta table: its log holds the commit that loaded it.
    let log = demo()
        .warehouse
        .join("appointments/_delta_log/00000000000000000000.json");
    let commit = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(
        commit.contains("\"add\""),
        "the first commit adds Parquet files"
    );
}

/// The board's Excel workbook, read back by openpyxl and checked against the
/// results table (tests/oracle/check_workbook.py).
#[test]
fn board_workbook_opens_with_the_right_numbers() {
    let run = demo();
    let python = std::env::var("PEERBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = std::process::Command::new(&python)
        .arg(repo().join("tests/oracle/check_workbook.py"))
        .arg(run.out.join("data/board-pack.xlsx"))
        .arg(run.out.join("data/indicator_results.csv.gz"))
        .arg("federation")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (scripts/test sets up the oracles)"));
    assert!(
        o.status.success() && stdout(&o).contains("workbook checks passed"),
        "workbook check failed:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
}

/// Each page's numbers are beside it as CSV: a practice's every row, and an
/// indicator's rows for the board's peer group.
#[test]
fn every_page_links_its_numbers_as_csv() {
    let run = demo();
    let page = std::fs::read_to_string(run.out.join("practices/A81000.html")).unwrap();
    assert!(page.contains("href=\"A81000.csv\""));
    let (header, rows) = read_csv(&run.out.join("practices/A81000.csv"));
    let code = header.iter().position(|h| h == "practice_code").unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r[code] == "A81000"));
    let board = std::fs::read_to_string(run.out.join("board/dna_rate.html")).unwrap();
    assert!(board.contains("href=\"dna_rate.csv\"") && board.contains("<svg"));
    let (header, rows) = read_csv(&run.out.join("board/dna_rate.csv"));
    let ind = header.iter().position(|h| h == "indicator_id").unwrap();
    let group = header.iter().position(|h| h == "peer_group").unwrap();
    assert!(
        rows.iter()
            .all(|r| r[ind] == "dna_rate" && r[group] == "federation")
    );
    let (all_header, all) = read_csv(&run.out.join("data/indicator_results.csv.gz"));
    let (ai, ag) = (
        all_header.iter().position(|h| h == "indicator_id").unwrap(),
        all_header.iter().position(|h| h == "peer_group").unwrap(),
    );
    let expected = all
        .iter()
        .filter(|r| r[ai] == "dna_rate" && r[ag] == "federation")
        .count();
    assert!(expected > 700);
    assert_eq!(
        rows.len(),
        expected,
        "every practice-month of the federation group"
    );
}

/// Independent oracles (DuckDB over the raw CSVs; statsmodels and scipy for
/// the intervals) check the published table. See tests/oracle/check_results.py.
#[test]
fn results_match_independent_implementations() {
    let run = demo();
    let python = std::env::var("PEERBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = std::process::Command::new(&python)
        .arg(repo().join("tests/oracle/check_results.py"))
        .arg(run.out.join("data/indicator_results.csv.gz"))
        .arg(repo().join("data-samples/federation"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (scripts/test sets up the oracles)"));
    assert!(
        o.status.success(),
        "oracle check failed:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("oracle checks passed"),
        "{}",
        stdout(&o)
    );
}

/// Every planted effect in the sample shows in the published results in the
/// direction ground_truth.csv gives: outliers against their peers in every
/// month, shifts and trends against the practice's own months before.
#[test]
fn planted_effects_show_in_the_results() {
    let (col, rows) = results();
    let (h, truth) = read_csv(&repo().join("data-samples/federation/ground_truth.csv"));
    let t = |r: &Vec<String>, n: &str| r[h.iter().position(|x| x == n).unwrap()].clone();
    assert!(
        truth.len() >= 8,
        "the sample plants outliers, shifts and trends"
    );
    for plant in &truth {
        let (kind, code, ind) = (
            t(plant, "kind"),
            t(plant, "practice_code"),
            t(plant, "indicator_id"),
        );
        let size: f64 = t(plant, "size").parse().unwrap();
        let start = t(plant, "start_period");
        // value / benchmark by period, for this practice and indicator.
        let series: Vec<(String, f64)> = rows
            .iter()
            .filter(|r| {
                r[col["indicator_id"]] == ind
                    && r[col["practice_code"]] == code
                    && r[col["peer_group"]] == "federation"
            })
            .filter_map(|r| {
                Some((
                    r[col["period"]].clone(),
                    r[col["value"]].parse::<f64>().ok()?
                        / r[col["benchmark"]].parse::<f64>().ok()?,
                ))
            })
            .collect();
        assert!(series.len() >= 20, "{code} {ind}: too few months");
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (before, after): (Vec<_>, Vec<_>) = series.iter().partition(|(p, _)| *p < start);
        let before: Vec<f64> = before.iter().map(|(_, x)| *x).collect();
        let after: Vec<f64> = after.iter().map(|(_, x)| *x).collect();
        let observed = match kind.as_str() {
            "outlier" => mean(&after),
            _ => mean(&after[after.len().saturating_sub(4)..]) / mean(&before),
        };
        // Effects act on rates or odds; on the value scale they are somewhat
        // smaller, so ask for at least a third of the planted log-effect.
        let expected = if kind == "trend" {
            size.powi(after.len() as i32 - 2)
        } else {
            size
        };
        let lower_bound = expected.ln().abs() / 3.0;
        assert!(
            observed.ln().signum() == expected.ln().signum() && observed.ln().abs() > lower_bound,
            "{kind} {code} {ind}: planted ×{expected:.2}, observed ×{observed:.2}"
        );
    }
}

#[test]
fn practice_pages_carry_accessible_charts_and_are_deterministic() {
    let run = demo();
    // The report links each indicator to its domain's detail page, which
    // carries the charts and the numbers behind them.
    let report = std::fs::read_to_string(run.out.join("practices/A81011.html")).unwrap();
    assert!(report.contains("<a href=\"A81011/demand.html#dna_rate\">"));
    let page = std::fs::read_to_string(run.out.join("practices/A81011/demand.html")).unwrap();
    for id in ["fn-dna_rate-t fn-dna_rate-d", "rc-dna_rate-t rc-dna_rate-d"] {
        assert!(
            page.contains(&format!("aria-labelledby=\"{id}\"")),
            "no chart labelled {id}"
        );
    }
    assert!(page.contains("<section id=\"dna_rate\">"));
    assert!(page.contains("The numbers behind the charts"));
    // Same data, same bytes: a second publication from the same warehouse.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("out");
    let o = peerbench(&[
        "run",
        "pipelines/demo.toml",
        "--out",
        again.to_str().unwrap(),
        "--warehouse",
        run.warehouse.to_str().unwrap(),
        // Other tests use the demo's warehouse at the same time.
        "--wait-for-lock",
        "10m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "index.html",
        "practices/A81011.html",
        "practices/A81011/demand.html",
        "indicators.html",
        "data/indicator_results.csv.gz",
    ] {
        assert!(
            std::fs::read(run.out.join(f)).unwrap() == std::fs::read(again.join(f)).unwrap(),
            "{f} differs between two runs"
        );
    }
}

/// Disclosure control (methods §9) on the downloads when a pipeline asks for it:
/// no count of 1–7 survives, the rest are rounded to 5, and values built from
/// small counts are withheld and not compared. The board page states its policy.
#[test]
fn disclosure_control_applies_where_configured() {
    let run = demo();
    let board = std::fs::read_to_string(run.out.join("index.html")).unwrap();
    assert!(
        board.contains("Board page: disclosure control applied"),
        "the board page must state its policy"
    );

    // The demo's own policies, with downloads under disclosure control.
    let (_dir, out) = publish_demo_with("standard", "exact", "standard");
    let (h, rows) = read_csv(&out.join("data/indicator_results.csv.gz"));
    let c = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (mut withheld, mut secondary) = (0, 0);
    for row in &rows {
        for col in ["numerator", "denominator"] {
            if let Ok(v) = row[c(col)].parse::<f64>() {
                assert!(
                    v == 0.0 || (v >= 8.0 && v % 5.0 == 0.0),
                    "{col} {v} published in {row:?}"
                );
            }
        }
        if row[c("not_compared_reason")].starts_with("disclosure control") {
            withheld += 1;
            assert!(row[c("value")].is_empty() && row[c("comparison")] == "not_compared");
        }
        if row[c("not_compared_reason")].starts_with("disclosure control: hidden to protect") {
            secondary += 1;
        }
    }
    assert!(
        withheld > 0,
        "the sample has small counts (new dementia diagnoses of 5 to 7)"
    );
    assert!(
        secondary > 0,
        "secondary suppression hides rows whose peer group totals would give a small count back"
    );
}

/// Publishes the demo again from its warehouse under the given policies
/// (board, practice pages, downloads), into a temporary folder.
fn publish_demo_with(
    board: &str,
    practice_pages: &str,
    downloads: &str,
) -> (tempfile::TempDir, PathBuf) {
    let run = demo();
    let dir = tempfile::tempdir().unwrap();
    let r = repo();
    let text = std::fs::read_to_string(r.join("pipelines/demo.toml"))
        .unwrap()
        .replace("board = \"standard\"", &format!("board = \"{board}\""))
        .replace(
            "practice_pages = \"exact\"",
            &format!("practice_pages = \"{practice_pages}\""),
        )
        .replace(
            "downloads = \"exact\"",
            &format!("downloads = \"{downloads}\""),
        )
        .replace("\"../", &format!("\"{}/", r.display()));
    let p = dir.path().join("p.toml");
    std::fs::write(&p, text).unwrap();
    let out = dir.path().join("out");
    let o = peerbench(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--warehouse",
        run.warehouse.to_str().unwrap(),
        // Other tests use the demo's warehouse at the same time.
        "--wait-for-lock",
        "10m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (dir, out)
}

/// Runs tests/oracle/recover_hidden.py, the attacker, on a publication;
/// the demo's own results table (exact downloads) is the ground truth.
/// Returns (recovered through the protected channels, hidden counts,
/// recovered per channel, and under "exposed" the group-periods publishing
/// what weighs or orders members over a hidden one) and the script's output.
fn recover_hidden(
    out: &std::path::Path,
    extra: &[&str],
) -> (usize, usize, BTreeMap<String, usize>, String) {
    let python = std::env::var("PEERBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = std::process::Command::new(&python)
        .arg(repo().join("tests/oracle/recover_hidden.py"))
        .arg(out)
        .arg(demo().out.join("data/indicator_results.csv.gz"))
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (scripts/test sets up the oracles)"));
    let text = stdout(&o);
    assert!(o.status.success(), "{text}\n{}", stderr(&o));
    let mut channels = BTreeMap::new();
    let mut totals = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("channel ") {
            let (name, n) = rest.split_once(": ").unwrap();
            channels.insert(
                name.to_string(),
                n.split(' ').next().unwrap().parse().unwrap(),
            );
        }
        if let Some(n) = line.strip_prefix("exposed group statistics: ") {
            channels.insert("exposed".to_string(), n.parse().unwrap());
        }
        if let Some(rest) = line.strip_prefix("recovered ") {
            let words: Vec<&str> = rest.split(' ').collect();
            totals = Some((words[0].parse().unwrap(), words[2].parse().unwrap()));
        }
    }
    let (recovered, hidden) = totals.unwrap_or_else(|| panic!("no totals in:\n{text}"));
    (recovered, hidden, channels, text)
}

/// Disclosure control holds against arithmetic. The attacker script reads
/// every published file (CSVs, workbook, HTML tables, the funnel plots'
/// SVG) and tries to work back each count of 1 to 7: from the counts as
/// shown, the value, the inverted intervals, funnel limits and points, the
/// SPC centre line, ranks, peer medians, spine charts, and by differencing
/// every peer group's total (benchmark) less its shown members, as an
/// outsider and as one of the hidden practices. With exact policies it must
/// succeed, and the differencing must succeed on a publication hiding only
/// the rows with a small count (so the test can fail); under `standard`
/// everywhere it must recover none, and no group may publish what weighs or
/// orders its members (φ, τ², funnel, median, ranks) over a hidden one.
#[test]
fn hidden_counts_cannot_be_worked_back_from_what_is_published() {
    let (_keep, exact) = publish_demo_with("exact", "exact", "exact");
    let (recovered, hidden, channels, text) = recover_hidden(&exact, &[]);
    assert!(hidden > 150, "the demo has small counts:\n{text}");
    assert!(
        recovered * 10 >= hidden * 9,
        "the attack recovers most counts from an exact publication:\n{text}"
    );
    for channel in ["value", "intervals", "funnel_limits", "svg_points"] {
        assert!(
            channels[channel] > 0,
            "the {channel} attack recovers counts from an exact publication:\n{text}"
        );
    }
    // Hiding only the rows with a small count (as before secondary
    // suppression) leaves them to differencing: 88 of the demo's, 102 to
    // one of the hidden practices.
    let (_, _, channels, text) = recover_hidden(&exact, &["--primary-only"]);
    assert!(
        channels["group_totals"] > 50
            && channels["group_totals_insider"] >= channels["group_totals"],
        "differencing recovers counts when only the small ones are hidden:\n{text}"
    );

    let (_keep, standard) = publish_demo_with("standard", "standard", "standard");
    let (recovered, hidden_again, channels, text) = recover_hidden(&standard, &[]);
    assert_eq!(hidden_again, hidden);
    assert_eq!(recovered, 0, "hidden counts recovered:\n{text}");
    assert_eq!(
        channels["exposed"], 0,
        "group statistics over hidden counts:\n{text}"
    );
    eprintln!("standard publication:\n{text}");

    // As the demo ships, with standard downloads: practice pages show a
    // practice its own exact counts (not counted), and its peers only as
    // the board does.
    let (_keep, shipped) = publish_demo_with("standard", "exact", "standard");
    let (recovered, _, channels, text) = recover_hidden(&shipped, &["--allow-own-pages"]);
    assert_eq!(recovered, 0, "peers' hidden counts recovered:\n{text}");
    assert_eq!(
        channels["exposed"], 0,
        "group statistics over hidden counts:\n{text}"
    );
}
