//! Analyst SQL cannot hang the night: an indicator that runs past its time
//! limit or outgrows the memory limit is stopped, named with the limit, and
//! nothing is published; a recursive query is refused before it runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{peerbench, repo, stderr, stdout};

/// A pipeline loading only the sample register, with its own indicators
/// folder holding one quick indicator, and `limits` as its [limits] section.
/// A failing indicator fails the run (`on_indicator_error = "fail"`), so
/// these tests see that nothing is published; under the default
/// (`publish_rest`) the same failure leaves that indicator out of the
/// publication (tests/it/operations.rs).
fn pipeline(dir: &Path, limits: &str) -> PathBuf {
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[pipeline]\nname = \"Limits\"\nwarehouse = \"w\"\noutput = \"o\"\nindicators = \"ind\"\nregister = \"practices\"\non_indicator_error = \"fail\"\n\n\
             [[source]]\ntable = \"practices\"\nshape = \"practice_register\"\nfiles = \"{}/data-samples/federation/practices.csv\"\ncheck_register = false\n\n\
             [limits]\n{limits}\n",
            repo().display()
        ),
    )
    .unwrap();
    add_indicator(
        dir,
        "quick",
        "SELECT practice_code, DATE '2026-09-01' AS period, 5 AS numerator, 100 AS denominator FROM practices",
    );
    p
}

fn add_indicator(dir: &Path, id: &str, sql: &str) -> PathBuf {
    let folder = dir.join("ind");
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join(format!("{id}.sql"));
    std::fs::write(
        &file,
        format!(
            "/*\nid = \"{id}\"\ntitle = \"{id}\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"x\"\n*/\n{sql}\n"
        ),
    )
    .unwrap();
    file
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `peerbench run` on `p` with `extra` arguments: its outcome and how long it took.
fn run(p: &Path, extra: &[&str]) -> (std::process::Output, Duration) {
    let mut args = vec!["run", p.to_str().unwrap()];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let o = peerbench(&args);
    (o, started.elapsed())
}

/// The failure line naming `file`, after the run's "nothing was published".
fn failure_line(o: &std::process::Output, file: &str) -> String {
    let err = stderr(o);
    assert!(
        err.contains("\nError: 1 indicator(s) failed, so nothing was published"),
        "{err}"
    );
    err.lines()
        .find(|l| l.starts_with("  - ") && l.contains(file))
        .unwrap_or_else(|| panic!("no line names {file}:\n{err}"))
        .to_string()
}

/// A cross join of a million rows with a million (10¹² rows) never ends;
/// it is stopped at the pipeline's time limit, or the flag's, and the
/// report of the earlier good run stays as it was.
#[test]
fn an_endless_cross_join_is_stopped_at_its_time_limit_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "indicator_timeout = \"2s\"");
    let (o, _) = run(&p, &[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let published = snapshot(&dir.path().join("o"));
    let listing = names(dir.path());

    add_indicator(
        dir.path(),
        "endless",
        "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period,\n       max(a.value + b.value) AS numerator, 1 AS denominator\nFROM generate_series(1, 1000000) a CROSS JOIN generate_series(1, 1000000) b",
    );
    let (o, took) = run(&p, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let line = failure_line(&o, "endless.sql");
    assert!(
        line.contains(
            "ind/endless.sql: did not finish within 2s (indicator_timeout), so it was stopped"
        ),
        "{line}"
    );
    // Stopped, not left running: the process ends soon after the limit
    // (a task that never yields would also hold up the runtime's shutdown).
    assert!(took < Duration::from_secs(20), "the run took {took:?}");
    assert_eq!(snapshot(&dir.path().join("o")), published);
    assert_eq!(
        names(dir.path()),
        listing,
        "a staging folder was left behind"
    );

    // The flag overrides the pipeline file.
    let (o, _) = run(&p, &["--indicator-timeout", "1500ms"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        failure_line(&o, "endless.sql")
            .contains("did not finish within 1500ms (indicator_timeout)")
    );
    assert_eq!(snapshot(&dir.path().join("o")), published);
}

/// An indicator whose unspillable part (a cross join's side, held whole)
/// outgrows memory_limit fails naming the limit; nothing is published, and
/// the spill folder is left empty.
#[test]
fn an_indicator_outgrowing_the_memory_limit_fails_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "memory_limit = \"16MB\"\nspill_dir = \"spill\"");
    let (o, _) = run(&p, &[]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let published = snapshot(&dir.path().join("o"));

    add_indicator(
        dir.path(),
        "hog",
        "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period,\n       max(a.value + b.value) AS numerator, 1 AS denominator\nFROM generate_series(1, 3000000) a CROSS JOIN generate_series(1, 3000000) b",
    );
    let (o, took) = run(&p, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let line = failure_line(&o, "hog.sql");
    assert!(
        line.contains("ind/hog.sql: needed more memory than memory_limit (16MB) allows")
            && line.contains("CrossJoinExec"),
        "{line}"
    );
    assert!(took < Duration::from_secs(20), "the run took {took:?}");
    assert_eq!(snapshot(&dir.path().join("o")), published);
    let spill = dir.path().join("spill");
    assert!(
        spill.is_dir() && names(&spill).is_empty(),
        "{:?}",
        names(&spill)
    );

    // With more memory (from the command line) the join's side is held and
    // the join runs until the time limit (one second, from the flag).
    let (o, _) = run(&p, &["--memory-limit", "1GB", "--indicator-timeout", "1s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(failure_line(&o, "hog.sql").contains("did not finish within 1s"));

    // A bad size in the pipeline file is a usage error, located.
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"16MB\"", "\"16 megs\""),
    )
    .unwrap();
    let (o, _) = run(&p, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("p.toml:16:16: \"16 megs\" is not a size"),
        "{}",
        stderr(&o)
    );
}

/// WITH RECURSIVE is refused where it is written, by `indicators check`
/// before anything runs and by `run`, which publishes nothing.
#[test]
fn a_recursive_query_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "");
    let file = add_indicator(
        dir.path(),
        "counting",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)\nSELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, max(i) AS numerator, 1 AS denominator FROM n",
    );
    let (o, took) = run(&p, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let line = failure_line(&o, "counting.sql");
    let at = format!("{}:12:6: ", file.display());
    assert!(
        line.contains(&format!(
            "{at}recursive queries are not allowed in indicators: WITH RECURSIVE can loop without end"
        )),
        "{line}"
    );
    assert!(took < Duration::from_secs(20), "the run took {took:?}");
    assert!(!dir.path().join("o").exists(), "a report was published");

    let o = peerbench(&["indicators", "check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(&format!("error {at}recursive queries are not allowed"))
            && stdout(&o).contains("ok    quick"),
        "{}",
        stdout(&o)
    );

    let o = peerbench(&[
        "query",
        p.to_str().unwrap(),
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("recursive queries are not allowed: WITH RECURSIVE"),
        "{}",
        stderr(&o)
    );
}
