//! The nightly run as a scheduler meets it: exit codes, the run record,
//! nothing new to do, a broken indicator that does not cost the board its
//! pack, and drafts that the nightly run leaves alone.

use std::path::{Path, PathBuf};

use crate::{peerbench, stderr, stdout};

/// A copy of the sample federation with its own copy of the indicator
/// library (to break), and a pipeline file for it.
fn federation(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
    let data = crate::copy_sample(dir);
    let indicators = dir.join("indicators");
    copy_tree(&crate::repo().join("sql/indicators"), &indicators);
    let text = crate::pipeline(&data)
        .replace(
            &format!(
                "indicators = \"{}/sql/indicators\"",
                crate::repo().display()
            ),
            &format!("indicators = \"{}\"", indicators.display()),
        )
        .replacen("[pipeline]\n", &format!("[pipeline]\n{extra}"), 1);
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    (p, indicators)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The path the summary names after `label`, which must exist.
fn named(summary: &str, label: &str) -> PathBuf {
    let line = summary
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{summary}"));
    let path = PathBuf::from(line.split(" (run").next().unwrap().trim());
    assert!(
        path.is_file(),
        "{label} names {}, which does not exist",
        path.display()
    );
    path
}

fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_unchanged_rerun_has_nothing_new_and_the_runs_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = federation(dir.path(), "");
    let p = p.to_str().unwrap();
    let o = peerbench(&["run", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    named(&summary, "Quarantined rows: ");
    let record = manifest(&named(&summary, "Run record: "));
    assert_eq!(record["schema_version"], 1);
    assert_eq!(record["outcome"], "success");
    assert_eq!(
        record["counts"]["rows_loaded"],
        record["counts"]["rows_read"]
    );
    assert!(record["inputs"].as_array().unwrap().len() > 100);
    assert!(
        record["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "computed")
    );
    let published = std::fs::read(dir.path().join("o/index.html")).unwrap();

    // Nothing changed: exit 99, nothing published, said in one line.
    let o = peerbench(&["run", p]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Nothing new: the extracts, indicators and settings are those of run ")
    );
    assert_eq!(
        std::fs::read(dir.path().join("o/index.html")).unwrap(),
        published
    );

    // A dry run says so too, and changes nothing.
    let o = peerbench(&["run", p, "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = stdout(&o);
    assert!(plan.contains("\nNothing new since run "), "{plan}");
    assert_eq!(
        plan.matches("  skip  unchanged since the last load")
            .count(),
        8,
        "{plan}"
    );
    // One practice resubmits: the dry run names the file and the source.
    let data = dir.path().join("data");
    let f = data.join("appointments/gpad-practice-level-2026-09.csv");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replacen(",1\n", ",2\n", 1)).unwrap();
    let plan = stdout(&peerbench(&["run", p, "--dry-run"]));
    assert!(
        plan.contains("appointments")
            && plan.contains("load  1 file(s) new or changed: ")
            && plan.contains("gpad-practice-level-2026-09.csv")
            && !plan.contains("Nothing new"),
        "{plan}"
    );
    std::fs::write(&f, text).unwrap();

    // --force runs anyway.
    let o = peerbench(&["run", p, "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Trying one indicator publishes it into a folder of its own and leaves
    // the board's publication as it was.
    let board = std::fs::read(dir.path().join("o/index.html")).unwrap();
    let o = peerbench(&["run", p, "--select", "dna_rate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let trial = dir.path().join("o-select");
    let pages: Vec<String> = std::fs::read_dir(trial.join("board"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    assert_eq!(pages, ["dna_rate.html"]);
    assert_eq!(
        std::fs::read(dir.path().join("o/index.html")).unwrap(),
        board
    );
    let o = peerbench(&[
        "run",
        p,
        "--select",
        "dna_rate",
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&o).contains("never publishes into the board's folder"),
        "{}",
        stderr(&o)
    );
    let o = peerbench(&["run", p, "--select", "no_such_indicator"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let o = peerbench(&["runs", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = stdout(&o);
    let outcomes: Vec<&str> = listing
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["success", "success", "nothing_new", "success"],
        "{listing}"
    );
}

#[test]
fn a_failing_indicator_leaves_the_rest_published_and_a_broken_draft_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let (p, indicators) = federation(dir.path(), "");
    let p = p.to_str().unwrap();
    // An analyst's new indicator, as `indicators new` writes it (a draft),
    // with a misspelt table name.
    let o = peerbench(&[
        "indicators",
        "new",
        p,
        "new_draft_rate",
        "--domain",
        "demand",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let draft = indicators.join("demand/new_draft_rate.sql");
    let text = std::fs::read_to_string(&draft).unwrap();
    assert!(text.contains("draft = true"), "{text}");
    let sql_start = text.find("*/").unwrap() + 2;
    std::fs::write(
        &draft,
        format!(
            "{}\nSELECT practice_code, month AS period, count(*) AS numerator, count(*) AS denominator FROM apointments GROUP BY 1, 2\n",
            &text[..sql_start]
        ),
    )
    .unwrap();
    let o = peerbench(&["run", p]);
    assert!(
        o.status.success(),
        "a broken draft must not stop the run: {}",
        stderr(&o)
    );
    let record = manifest(&dir.path().join("o/run.json"));
    let statuses: Vec<(&str, &str)> = record["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .filter(|(_, s)| *s != "computed")
        .collect();
    assert_eq!(statuses, [("new_draft_rate", "draft_not_run")]);

    // A published indicator breaks: the others are published, the board
    // names it, the run exits 3.
    let broken = indicators.join("demand/appointments_per_1000.sql");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        text.replace("FROM appointments", "FROM apointments"),
    )
    .unwrap();
    let o = peerbench(&["run", p]);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("\nWarning: published without 1 indicator(s) that failed")
            && stderr(&o).contains("appointments_per_1000"),
        "{}",
        stderr(&o)
    );
    let board = std::fs::read_to_string(dir.path().join("o/index.html")).unwrap();
    assert!(
        board.contains("<h2>Not computed tonight</h2>"),
        "board page"
    );
    assert!(
        !dir.path()
            .join("o/board/appointments_per_1000.html")
            .exists()
    );
    assert!(dir.path().join("o/board/dna_rate.html").exists());
    let results = std::fs::read_to_string(dir.path().join("o/data/indicator_results.csv")).unwrap();
    assert!(
        !results.contains("appointments_per_1000,"),
        "its earlier results must not be passed off as tonight's"
    );
    let record = manifest(&dir.path().join("o/run.json"));
    assert_eq!(record["outcome"], "published_with_failures");

    // With on_indicator_error = "fail", nothing is published.
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        std::fs::read_to_string(p)
            .unwrap()
            .replacen(
                "[pipeline]\n",
                "[pipeline]\non_indicator_error = \"fail\"\n",
                1,
            )
            .replace("output = \"o\"", "output = \"strict-out\""),
    )
    .unwrap();
    let o = peerbench(&["run", strict.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!dir.path().join("strict-out").exists());
}
