//! What the real binary prints, whole, as snapshots (insta): a line added,
//! changed or lost fails here, where a `contains()` would let it pass.
//! Review a deliberate change with `cargo insta review` (or accept the
//! `.snap.new` file beside the snapshot) and commit the snapshot with it.

use crate::{peerbench, stderr, stdout};

/// The output with the machine's own paths replaced by stable names.
pub fn stable(text: &str, dir: &std::path::Path) -> String {
    text.replace(dir.to_str().unwrap(), "[TMP]")
        .replace(crate::repo().to_str().unwrap(), "[REPO]")
}

/// As [`stable`], with what differs from run to run (the invocation's id,
/// seconds, pages per second) replaced too.
fn timeless(text: &str, dir: &std::path::Path) -> String {
    let text = stable(text, dir);
    let run_id = regex::Regex::new(r"\d{8}T\d{6}Z-\d+").unwrap();
    let seconds = regex::Regex::new(r"\d+\.\ds\b").unwrap();
    let rate = regex::Regex::new(r"\(\d+ pages/s\)").unwrap();
    let text = run_id.replace_all(&text, "[RUN]");
    let text = seconds.replace_all(&text, "[S]s");
    rate.replace_all(&text, "([N] pages/s)").into_owned()
}

#[test]
fn ingest_of_the_broken_extracts() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let o = peerbench(&[
        "ingest",
        "tests/pipelines/broken.toml",
        "--warehouse",
        w.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("ingest_broken", stable(&stdout(&o), dir.path()));
}

#[test]
fn dry_run_of_the_demo_on_an_empty_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let o = peerbench(&[
        "run",
        "pipelines/demo.toml",
        "--dry-run",
        "--warehouse",
        w.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("dry_run_demo", stable(&stdout(&o), dir.path()));
}

#[test]
fn run_help() {
    let o = peerbench(&["run", "--help"]);
    assert!(o.status.success(), "{}", stderr(&o));
    insta::assert_snapshot!("run_help", stdout(&o));
}

#[test]
fn run_summary_of_the_demo() {
    let demo = crate::demo::demo();
    let dir = demo.out.parent().unwrap();
    insta::assert_snapshot!("run_demo", timeless(&demo.first_stdout, dir));
}
