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
    // The published record counts the pages it was published with.
    let html = |dir: &Path| -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    0
                } else {
                    usize::from(e.path().extension().is_some_and(|x| x == "html"))
                }
            })
            .sum()
    };
    let out = dir.path().join("o");
    let practice_folders: usize = std::fs::read_dir(out.join("practices"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| html(&e.path()))
        .sum();
    assert_eq!(
        record["counts"]["pages"],
        html(&out) + html(&out.join("board")) + html(&out.join("practices")) + practice_folders
    );
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
    // Nor from another working directory: the ledger knows each file by
    // its path from the pipeline's folder, not by how this run names it.
    // Nor with the pipeline spelled another way: what is hashed is where
    // the paths lead, not how they are written.
    let by_name = dir.path().join("data/../p.toml");
    let by_name = by_name.to_str().unwrap();
    for (folder, p) in [
        (dir.path(), p),
        (&dir.path().join("data"), p),
        (Path::new("/"), p),
        (dir.path(), "p.toml"),
        (&dir.path().join("data"), "../p.toml"),
        (dir.path(), by_name),
    ] {
        let o = crate::peerbench_in(folder, &["run", p]);
        assert_eq!(
            o.status.code(),
            Some(99),
            "from {}: {}",
            folder.display(),
            stderr(&o)
        );
    }

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
        [
            "success",
            "success",
            "nothing_new",
            "nothing_new",
            "nothing_new",
            "nothing_new",
            "nothing_new",
            "nothing_new",
            "nothing_new",
            "success"
        ],
        "{listing}"
    );
}

/// An unchanged source's set-aside rows come from the quarantine log of
/// the load that set them aside; a run started from another folder names
/// their files as it sees them, in the file column and the reason alike.
#[test]
fn the_quarantine_names_files_as_this_run_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = federation(dir.path(), "");
    let p = p.to_str().unwrap();
    let bad = dir
        .path()
        .join("data/appointments/gpad-practice-level-2026-09.csv");
    let mut text = std::fs::read_to_string(&bad).unwrap();
    text.push_str("01SEP2026,A81000,Abbey Surgery,TPP,U10007,GP,Face-to-Face,Attended,-4\n");
    std::fs::write(&bad, text).unwrap();
    // Loaded from the repository: the file is named by its whole path.
    let o = crate::peerbench(&["run", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let quarantine = dir.path().join("o/data/quarantine.csv");
    let whole = bad.canonicalize().unwrap().display().to_string();
    let rows = std::fs::read_to_string(&quarantine).unwrap();
    assert!(rows.contains(&format!("appointments,{whole},")), "{rows}");
    // From the pipeline's folder: nothing is read again, and the file is
    // named as seen from there.
    let o = crate::peerbench_in(dir.path(), &["run", p, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    let appointments = summary
        .lines()
        .find(|l| l.starts_with("appointments "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(appointments.ends_with("unchanged"), "{summary}");
    let rows = std::fs::read_to_string(&quarantine).unwrap();
    let shown = "data/appointments/gpad-practice-level-2026-09.csv";
    assert!(
        rows.contains(&format!("appointments,{shown},")) && !rows.contains(&whole),
        "{rows}"
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
    let results = crate::read_text(&dir.path().join("o/data/indicator_results.csv.gz"));
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

/// Every file under `dir` (but the run record, whose ids and times are the
/// run's own), by path relative to it.
fn publication(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    crate::publication_files(dir)
        .into_iter()
        .map(|(name, bytes)| (PathBuf::from(name), bytes))
        .collect()
}

/// The names of the files that differ between two publications.
fn differing(
    a: &std::collections::BTreeMap<PathBuf, Vec<u8>>,
    b: &std::collections::BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<PathBuf> {
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn statuses(record: &serde_json::Value) -> Vec<(String, String)> {
    record["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_changed_source_recomputes_only_what_reads_it_and_a_past_run_can_be_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let (p, indicators) = federation(dir.path(), "");
    let p = p.to_str().unwrap();
    let o = peerbench(&["run", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = manifest(&named(&stdout(&o), "Run record: "));
    let first_id = first["run_id"].as_str().unwrap().to_string();
    let first_pages = publication(&dir.path().join("o"));

    // An analyst edits an indicator after the first run, and one survey
    // result is corrected.
    let dna = indicators.join("demand/dna_rate.sql");
    let sql = std::fs::read_to_string(&dna).unwrap();
    std::fs::write(
        &dna,
        sql.replace(
            "IN ('Attended', 'DNA')",
            "IN ('Attended', 'DNA', 'Unknown')",
        ),
    )
    .unwrap();
    let survey = dir
        .path()
        .join("data/survey/gpps-practice-results-2026.csv");
    let text = std::fs::read_to_string(&survey).unwrap();
    assert!(text.contains(",188,132,70.2\n"));
    std::fs::write(
        &survey,
        text.replacen(",188,132,70.2\n", ",188,150,79.8\n", 1),
    )
    .unwrap();

    let o = peerbench(&["run", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let second = manifest(&named(&stdout(&o), "Run record: "));
    // Recomputed: exactly the indicators whose SQL reads the survey (the
    // table itself or the shared view over it; read independently here
    // from the SQL text) and the edited one; every other is reused.
    let mut recomputed = Vec::new();
    for (id, status) in statuses(&second) {
        let file = std::fs::read_dir(&indicators)
            .unwrap()
            .flatten()
            .map(|d| d.path().join(format!("{id}.sql")))
            .find(|f| f.is_file())
            .unwrap();
        let sql = std::fs::read_to_string(file).unwrap();
        let reads_survey = sql.contains("patient_survey") || sql.contains("survey_results");
        let expected = if reads_survey || id == "dna_rate" {
            "computed"
        } else {
            "reused"
        };
        assert_eq!(status, expected, "{id}");
        if status == "computed" {
            recomputed.push(id);
        }
    }
    assert_eq!(recomputed.len(), 4, "{recomputed:?}");
    assert!(
        stdout(&o).contains(" (30 reused: no table they read had changed)"),
        "{}",
        stdout(&o)
    );
    let second_pages = publication(&dir.path().join("o"));
    assert!(
        differing(&first_pages, &second_pages)
            .contains(&PathBuf::from("data/indicator_results.csv.gz")),
        "the correction changes the results"
    );

    // A full run over the same tables publishes the same files, byte for
    // byte.
    let full = dir.path().join("full");
    let o = peerbench(&[
        "run",
        p,
        "--force",
        "--full",
        "--out",
        full.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let record = manifest(&full.join("run.json"));
    assert!(statuses(&record).iter().all(|(_, s)| s == "computed"));
    assert_eq!(
        differing(&second_pages, &publication(&full)),
        Vec::<PathBuf>::new()
    );

    // The first run made again, after the later load and the edit: from
    // its table versions and the SQL it recorded, the same publication.
    let o = peerbench(&["run", p, "--as-of", &first_id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = dir.path().join(format!("o-as-of-{first_id}"));
    let record = manifest(&named(&stdout(&o), "Run record: "));
    assert_eq!(record["command"], format!("run --as-of {first_id}"));
    assert_eq!(record["table_versions"], first["table_versions"]);
    assert_eq!(
        differing(&first_pages, &publication(&again)),
        Vec::<PathBuf>::new()
    );
    // ... never into the board's folder, and not for a run that is not there.
    let o = peerbench(&[
        "run",
        p,
        "--as-of",
        &first_id,
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = peerbench(&["run", p, "--as-of", "20200101T000000Z-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "Error: no run 20200101T000000Z-1 in the warehouse at {}: `peerbench runs {p}` lists the runs recorded",
            dir.path().join("w").canonicalize().unwrap().display()
        )
    );

    // The survey files the first run read are vacuumed away: it cannot be
    // made again, and says which table and version are gone.
    let log = dir.path().join("w/patient_survey/_delta_log");
    let mut commits: Vec<PathBuf> = std::fs::read_dir(&log)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    let latest = std::fs::read_to_string(commits.last().unwrap()).unwrap();
    let mut removed = 0;
    for line in latest.lines() {
        let action: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(path) = action["remove"]["path"].as_str() {
            std::fs::remove_file(dir.path().join("w/patient_survey").join(path)).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0);
    let out = dir.path().join("gone");
    let o = peerbench(&[
        "run",
        p,
        "--as-of",
        &first_id,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let message = stderr(&o);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.starts_with(&format!(
            "Error: table \"patient_survey\" version {} can no longer be read: its data file ",
            first["table_versions"]["patient_survey"]
        )),
        "{message}"
    );
    assert!(!out.exists());
}

#[test]
fn a_run_past_its_time_limit_is_stopped_and_the_last_publication_stands() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = federation(dir.path(), "");
    let p = p.to_str().unwrap();
    let first = peerbench(&["run", p]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = dir.path().join("o");
    let before = publication(&out);
    // Every indicator computed again with 300 ms to do it in: the limit
    // passes mid-run, wherever the run then is.
    let metrics = dir.path().join("run.prom");
    let stopped = peerbench(&[
        "run",
        p,
        "--force",
        "--full",
        "--run-timeout",
        "300ms",
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    crate::assert_stopped_at_the_limit(&stopped, "run", "300ms", &metrics);
    assert!(differing(&before, &publication(&out)).is_empty());
    // The lock went with the process: the next run is not kept waiting.
    let next = peerbench(&["run", p, "--force"]);
    assert!(next.status.success(), "{}", stderr(&next));
    // Nor is anything of the stopped run's left beside the publication.
    let beside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".o."))
        .collect();
    assert_eq!(beside, Vec::<String>::new());
}
