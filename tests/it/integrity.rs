//! The load's books balance whatever arrives: every row read is loaded or
//! set aside with its line, on every line-ending convention and through
//! stray quotes; every period is checked; the quarantine survives failed
//! and killed runs; overlapping loads never stack; links out of a landing
//! folder are not followed.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{peerbench, stderr, stdout};

const HEADER: &str = "Organisation Code,Period End,Search Code,Search Name,Numerator,Denominator";

/// A pipeline with the sample register and one clinical-search source
/// reading `searches/*.csv` under `dir`, landing folder `searches`.
fn searches_pipeline(dir: &Path) -> String {
    let p = dir.join("p.toml");
    std::fs::create_dir_all(dir.join("searches")).unwrap();
    std::fs::write(
        &p,
        format!(
            "[pipeline]\nname = \"Integrity\"\nwarehouse = \"w\"\noutput = \"o\"\n\
             indicators = \"{r}/sql/indicators\"\nregister = \"practices\"\nlanding = [\"searches\"]\n\n\
             [[source]]\ntable = \"practices\"\nshape = \"practice_register\"\n\
             files = \"{r}/data-samples/federation/practices.csv\"\ncheck_register = false\n\n\
             [[source]]\ntable = \"clinical_searches\"\nshape = \"clinical_search\"\n\
             files = \"searches/*.csv\"\nmax_rejected_pct = 100\nwarn_rejected_pct = 100\n",
            r = crate::repo().display()
        ),
    )
    .unwrap();
    p.to_string_lossy().into_owned()
}

/// `n` good rows for practice A81001, one search code each.
fn rows(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "A81001,30/09/2026,S{i:04},Search {i},{},{}",
                i % 50,
                100 + i % 50
            )
        })
        .collect()
}

fn query(p: &str, sql: &str) -> String {
    let o = peerbench(&["query", p, sql]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// A query's rows as cells (the printed table without its borders).
fn cells(p: &str, sql: &str) -> Vec<Vec<String>> {
    query(p, sql)
        .lines()
        .skip(3)
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The single value of a one-row, one-column query.
fn scalar(p: &str, sql: &str) -> String {
    cells(p, sql)
        .first()
        .and_then(|r| r.first().cloned())
        .unwrap_or_default()
}

fn ingest(p: &str) -> String {
    let o = peerbench(&["ingest", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_file_with_cr_only_line_endings_loads_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = searches_pipeline(dir.path());
    let text = std::iter::once(HEADER.to_string())
        .chain(rows(6))
        .collect::<Vec<_>>()
        .join("\r");
    std::fs::write(dir.path().join("searches/old-mac.csv"), text).unwrap();
    let summary = ingest(&p);
    assert_eq!(
        scalar(&p, "SELECT count(*) FROM clinical_searches"),
        "6",
        "{summary}"
    );
    assert_eq!(
        scalar(&p, "SELECT max(source_line) FROM clinical_searches"),
        "7"
    );
}

#[test]
fn an_unbalanced_quote_sets_aside_its_own_row_and_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let p = searches_pipeline(dir.path());
    let mut lines = vec![HEADER.to_string()];
    lines.extend(rows(1000));
    // Row 900 (line 901) opens a quote it never closes.
    lines[900] = "A81001,30/09/2026,S0899,\"Search 899,5,105".to_string();
    std::fs::write(
        dir.path().join("searches/stray-quote.csv"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let summary = ingest(&p);
    assert_eq!(
        scalar(&p, "SELECT count(*) FROM clinical_searches"),
        "999",
        "{summary}"
    );
    assert_eq!(
        cells(
            &p,
            "SELECT line, check_name FROM quarantine WHERE source = 'clinical_searches'"
        ),
        [["901", "unbalanced_quote"]]
    );
    // The ledger balances: 1000 read = 999 loaded + 1 set aside.
    assert_eq!(
        cells(
            &p,
            "SELECT rows_read, rows_loaded, rows_quarantined FROM load_ledger WHERE source = 'clinical_searches'"
        ),
        [["1000", "999", "1"]]
    );
}

#[test]
fn qof_and_survey_periods_out_of_range_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let qof = data.join("qof/qof-achievement-2025-26.csv");
    let mut text = std::fs::read_to_string(&qof).unwrap();
    text.push_str("2099-00,A81001,HYP008,REGISTER,10\n1066-67,A81001,HYP008,REGISTER,10\nlast year,A81001,HYP008,REGISTER,10\n");
    std::fs::write(&qof, text).unwrap();
    let survey = std::fs::read_dir(data.join("survey"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut text = std::fs::read_to_string(&survey).unwrap();
    let first_row = text.lines().nth(1).unwrap().to_string();
    let (_, rest) = first_row.split_once(',').unwrap();
    text.push_str(&format!("2199,{rest}\n"));
    std::fs::write(&survey, text).unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let summary = ingest(p);
    let q = query(
        p,
        "SELECT source, check_name, reason FROM quarantine WHERE source IN ('qof', 'patient_survey') ORDER BY source, line",
    );
    for expected in [
        "| patient_survey | period_out_of_range | column survey_year: 2199: 2199-01-01 is in the future",
        "| qof            | period_out_of_range | column reporting_year: 2099-00: 2099-04-01 is in the future",
        "| qof            | period_out_of_range | column reporting_year: 1066-67: 1066-04-01 is before 1990-01-01",
        "| qof            | bad_date            | column reporting_year: \"last year\" is not a period",
    ] {
        assert!(
            q.contains(expected),
            "expected {expected:?} in\n{q}\n{summary}"
        );
    }
    assert_eq!(
        scalar(
            p,
            "SELECT count(*) FROM qof WHERE reporting_year IN ('2099-00', '1066-67', 'last year')"
        ),
        "0"
    );
}

/// Every row of the quarantine table, sorted, as text.
fn quarantine(p: &str) -> String {
    query(
        p,
        "SELECT source, file, line, check_name, reason FROM quarantine ORDER BY source, file, line, check_name",
    )
}

#[test]
fn the_quarantine_survives_a_refused_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    // One row set aside in a source that loads before the refused one.
    let appointments = data.join("appointments/gpad-practice-level-2026-09.csv");
    let mut text = std::fs::read_to_string(&appointments).unwrap();
    let row = text.lines().nth(1).unwrap().replace(",A8", ",a8");
    text.push_str(&format!("{row}\n"));
    std::fs::write(&appointments, &text).unwrap();
    let clean = dir.path().join("clean.toml");
    std::fs::write(&clean, crate::pipeline(&data).replace("\"w\"", "\"clean\"")).unwrap();
    let clean = clean.to_str().unwrap();
    ingest(clean);
    let expected = quarantine(clean);
    assert!(
        expected.contains("practice codes are upper case: a8"),
        "{expected}"
    );

    // The same files, but the survey source is refused (every row bad, and
    // sources are loaded in order: appointments commit first).
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let survey_dir = data.join("survey");
    let saved = dir.path().join("survey-saved");
    std::fs::rename(&survey_dir, &saved).unwrap();
    std::fs::create_dir_all(&survey_dir).unwrap();
    std::fs::write(
        survey_dir.join("bad.csv"),
        "SURVEY_YEAR,PRACTICE_CODE,QUESTION_ID,RESPONSES,POSITIVE\n2026,A81001,Q1,x,y\n",
    )
    .unwrap();
    let o = peerbench(&["ingest", p]);
    assert!(!o.status.success(), "the survey should be refused");
    assert!(stderr(&o).contains("patient_survey"), "{}", stderr(&o));

    // The corrected files arrive: the next run ends with one clean run's quarantine.
    std::fs::remove_dir_all(&survey_dir).unwrap();
    std::fs::rename(&saved, &survey_dir).unwrap();
    ingest(p);
    assert_eq!(quarantine(p), expected);
    // And again, with nothing changed.
    ingest(p);
    assert_eq!(quarantine(p), expected);
}

#[test]
fn the_quarantine_survives_a_killed_run() {
    let dir = tempfile::tempdir().unwrap();
    let (data, p) = crate::generated_federation(dir.path(), &["--seed", "5", "--practices", "60"]);
    // Set-aside rows in several sources.
    for (folder, from, to) in [("appointments", ",A8", ",a8"), ("qof", ",A8", ",a8")] {
        for f in std::fs::read_dir(data.join(folder))
            .unwrap()
            .flatten()
            .take(1)
        {
            let text = std::fs::read_to_string(f.path()).unwrap();
            let row = text.lines().nth(1).unwrap().replacen(from, to, 1);
            std::fs::write(f.path(), format!("{text}{row}\n")).unwrap();
        }
    }
    let p = p.to_str().unwrap();
    let clean = dir.path().join("clean");
    let o = peerbench(&["ingest", p, "--warehouse", clean.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = query_at(p, &clean);
    assert!(
        expected.matches("practice_code_format").count() >= 2,
        "{expected}"
    );

    for delay_ms in [200u64, 700, 1500, 3000] {
        let w = dir.path().join(format!("killed-{delay_ms}"));
        crate::kill_after(
            &["ingest", p, "--warehouse", w.to_str().unwrap()],
            std::time::Duration::from_millis(delay_ms),
        );
        let o = peerbench(&["ingest", p, "--warehouse", w.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(query_at(p, &w), expected, "after a kill at {delay_ms} ms");
    }
}

fn query_at(p: &str, warehouse: &Path) -> String {
    let o = peerbench(&[
        "query",
        p,
        "--warehouse",
        warehouse.to_str().unwrap(),
        "SELECT source, file, line, check_name, reason FROM quarantine ORDER BY source, file, line, check_name",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// Two whole runs started together on a fresh warehouse and the same
/// output folder: exactly one runs (and publishes), the other exits at once
/// with the lock's exit code naming the holder, and the tables hold one
/// load's rows. (That two loads' commits cannot stack even without the lock
/// is tested in the warehouse crate: `two_replacements_at_once_never_stack`.)
#[test]
fn runs_started_together_one_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let clean = dir.path().join("clean");
    let o = peerbench(&["ingest", p, "--warehouse", clean.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let count = |w: &Path, table: &str| {
        let o = peerbench(&[
            "query",
            p,
            "--warehouse",
            w.to_str().unwrap(),
            &format!("SELECT count(*) AS n FROM {table}"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let tables = [
        "practices",
        "appointments",
        "prescribing",
        "qof",
        "quarantine",
    ];
    let expected: Vec<String> = tables.iter().map(|t| count(&clean, t)).collect();

    for attempt in 0..3 {
        let w = dir.path().join(format!("together-{attempt}"));
        let out = dir.path().join(format!("out-{attempt}"));
        let start = || {
            Command::new(env!("CARGO_BIN_EXE_peerbench"))
                .args(["run", p, "--warehouse", w.to_str().unwrap()])
                .args(["--out", out.to_str().unwrap()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(), start());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let codes = [a.status.code(), b.status.code()];
        assert!(
            codes == [Some(0), Some(75)] || codes == [Some(75), Some(0)],
            "attempt {attempt}: exit codes {codes:?}\n{}\n{}",
            stderr(&a),
            stderr(&b)
        );
        let refused = if a.status.success() { &b } else { &a };
        let message = stderr(refused);
        assert!(
            message.starts_with("Error: another peerbench run holds the warehouse lock at ")
                && message.contains("(peerbench run, pid ")
                && message.lines().count() == 1,
            "{message}"
        );
        assert!(out.join("index.html").is_file() && out.join("data/quarantine.csv").is_file());
        let got: Vec<String> = tables.iter().map(|t| count(&w, t)).collect();
        assert_eq!(
            got, expected,
            "attempt {attempt}: the tables must hold one load's rows"
        );
    }
}

#[test]
fn links_leading_out_of_the_landing_folder_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let p = searches_pipeline(dir.path());
    let searches = dir.path().join("searches");
    std::fs::write(
        searches.join("good.csv"),
        std::iter::once(HEADER.to_string())
            .chain(rows(3))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    // A secret outside the folder, shaped like an extract so that reading
    // it would load it.
    let secret = dir.path().join("secret.csv");
    std::fs::write(
        &secret,
        format!("{HEADER}\nA81001,30/09/2026,SECRET,x,1,2\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, searches.join("linked.csv")).unwrap();
    std::os::unix::fs::symlink("/etc", searches.join("etc")).unwrap();
    // A link to a file inside the folder is fine.
    std::os::unix::fs::symlink(searches.join("good.csv"), searches.join("alias.txt")).unwrap();

    let summary = ingest(&p);
    assert_eq!(
        scalar(
            &p,
            "SELECT count(*) FROM clinical_searches WHERE search_code = 'SECRET'"
        ),
        "0"
    );
    assert_eq!(
        scalar(&p, "SELECT count(*) FROM clinical_searches"),
        "3",
        "{summary}"
    );
    let q = query(&p, "SELECT file, check_name FROM quarantine ORDER BY file");
    assert!(
        q.contains("searches/linked.csv") && q.contains("outside_folder"),
        "{q}"
    );
    assert!(q.contains("searches/etc ") && !q.contains("passwd"), "{q}");
    assert!(!q.contains("alias.txt"), "{q}");
}

/// A run killed (SIGKILL) at any moment, publishing included, leaves the
/// last good publication complete at the output path, and the next run,
/// whether it publishes or has nothing new, leaves nothing of the killed
/// one behind.
#[test]
fn a_run_killed_while_publishing_leaves_the_last_publication_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let out = dir.path().join("o");
    // --force: the data do not change between these runs, and each must
    // publish all the same.
    let run = || peerbench(&["run", p, "--out", out.to_str().unwrap(), "--force"]);
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    // The second run is the one to time: its load finds nothing new.
    let started = std::time::Instant::now();
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    let took = started.elapsed();
    let good = crate::publication_files(&out);
    assert!(good.contains_key("index.html") && good.contains_key("data/quarantine.csv"));

    for percent in [35u32, 60, 75, 85, 92, 97] {
        crate::kill_after(
            &["run", p, "--out", out.to_str().unwrap(), "--force"],
            took * percent / 100,
        );
        // Whatever moment it died, the output path holds one whole
        // publication: byte for byte the last good one (the data did not change).
        assert!(
            crate::publication_files(&out) == good,
            "killed at {percent}%: the publication is not whole"
        );
    }
    // A run with nothing new to publish clears what killed runs left
    // beside the output (here also the copy of a run whose pid has ended),
    // rather than leaving it for the next publication.
    let ended = std::process::Command::new("true").spawn().unwrap();
    let ended_pid = ended.id();
    ended.wait_with_output().unwrap();
    let dead = dir.path().join(format!(".o.staging-{ended_pid}"));
    std::fs::create_dir_all(dead.join("data")).unwrap();
    std::fs::write(dead.join("index.html"), "half-built").unwrap();
    let o = peerbench(&["run", p, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    assert!(!dead.exists(), "a killed run's staging folder was left");
    assert!(crate::publication_files(&out) == good);
    let o = run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(crate::publication_files(&out) == good);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".staging-") || n.contains(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The earlier publication is kept beside it (keep = 1 by default).
    let earlier: Vec<_> = std::fs::read_dir(dir.path().join("o.earlier"))
        .unwrap()
        .collect();
    assert_eq!(earlier.len(), 1);
}
