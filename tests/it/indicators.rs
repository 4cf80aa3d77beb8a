//! The analyst's workflow: list, check and scaffold indicators.

use crate::demo::demo;
use crate::{peerbench, repo, stderr, stdout};

/// A pipeline like the demo's but with its own copy of the indicators, so a
/// test can break or add one without touching the repository.
fn sandbox_pipeline(dir: &std::path::Path) -> std::path::PathBuf {
    let sql = dir.join("sql");
    copy_dir(&repo().join("sql"), &sql);
    let demo = std::fs::read_to_string(repo().join("pipelines/demo.toml")).unwrap();
    let r = repo();
    let text = demo
        .replace(
            "\"../sql/indicators\"",
            &format!("{:?}", sql.join("indicators")),
        )
        .replace("\"../sql/views\"", &format!("{:?}", sql.join("views")))
        .replace(
            "\"../data-samples/",
            &format!("\"{}/data-samples/", r.display()),
        );
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn every_library_indicator_passes_check() {
    let w = demo().warehouse.to_str().unwrap();
    let o = peerbench(&[
        "indicators",
        "check",
        "pipelines/demo.toml",
        "--warehouse",
        w,
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(" 0 with problems"), "{}", stdout(&o));
    let o = peerbench(&[
        "indicators",
        "list",
        "pipelines/demo.toml",
        "--select",
        "domain:prescribing",
        "--select",
        "tag:QOF",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("17 indicators"), "{}", stdout(&o));
}

#[test]
fn every_library_indicator_passes_its_fixtures_and_a_wrong_expectation_fails() {
    let o = peerbench(&["indicators", "test", "pipelines/demo.toml"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(": 0 failed, 0 without fixtures"),
        "{}",
        stdout(&o)
    );

    let dir = tempfile::tempdir().unwrap();
    let p = sandbox_pipeline(dir.path());
    let fixture = dir.path().join("sql/indicators/demand/dna_rate.test.toml");
    let text = std::fs::read_to_string(&fixture).unwrap();
    std::fs::write(&fixture, text.replacen("numerator = 5", "numerator = 6", 1)).unwrap();
    let o = peerbench(&[
        "indicators",
        "test",
        p.to_str().unwrap(),
        "--select",
        "dna_rate",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("FAIL  dna_rate")
            && stdout(&o).contains("A81001 2026-09: expected 6/100, got 5/100"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_typo_is_located_with_close_matches() {
    let dir = tempfile::tempdir().unwrap();
    let p = sandbox_pipeline(dir.path());
    let file = dir.path().join("sql/indicators/demand/dna_rate.sql");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("WHEN appt_status = 'DNA'", "WHEN appt_statu = 'DNA'"),
    )
    .unwrap();
    let w = demo().warehouse.to_str().unwrap();
    let o = peerbench(&[
        "indicators",
        "check",
        p.to_str().unwrap(),
        "--warehouse",
        w,
        "--select",
        "dna_rate",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let line = text
        .lines()
        .position(|l| l.contains("WHEN appt_status = 'DNA'"))
        .unwrap()
        + 1;
    let column = text
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("appt_status")
        .unwrap()
        + 1;
    assert!(
        out.contains(&format!("dna_rate.sql:{line}:{column}: unknown column \"appt_statu\" — did you mean appt_status?")),
        "{out}"
    );
    // The whole of what the analyst reads, so a changed word is a reviewed
    // snapshot diff.
    insta::assert_snapshot!(
        "check_typo",
        crate::transcripts::stable(&format!("{out}---\n{}", stderr(&o)), dir.path())
    );
}

#[test]
fn a_new_indicator_is_scaffolded_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let p = sandbox_pipeline(dir.path());
    let o = peerbench(&[
        "indicators",
        "new",
        p.to_str().unwrap(),
        "gp_dna_share",
        "--domain",
        "demand",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = dir.path().join("sql/indicators/demand/gp_dna_share.sql");
    let text = std::fs::read_to_string(&file).unwrap();
    for field in [
        "id",
        "title",
        "numerator",
        "denominator",
        "domain",
        "value_type",
        "multiplier",
        "polarity",
        "definition",
        "why_it_matters",
        "source",
        "caveats",
        "owner",
        "reviewed",
        "next_review",
        "tags",
        "draft",
        "min_denominator",
    ] {
        assert!(
            text.contains(&format!("\n{field} = ")),
            "scaffold lacks {field}"
        );
    }
    let w = demo().warehouse.to_str().unwrap();
    let o = peerbench(&[
        "indicators",
        "check",
        p.to_str().unwrap(),
        "--warehouse",
        w,
        "--select",
        "gp_dna_share",
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let o = peerbench(&[
        "indicators",
        "test",
        p.to_str().unwrap(),
        "--select",
        "gp_dna_share",
    ]);
    assert!(
        o.status.success(),
        "the scaffold's fixture passes: {}\n{}",
        stdout(&o),
        stderr(&o)
    );
    // A second scaffold with the same id is refused.
    let o = peerbench(&[
        "indicators",
        "new",
        p.to_str().unwrap(),
        "gp_dna_share",
        "--domain",
        "demand",
    ]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&o).contains("an indicator \"gp_dna_share\" already exists"),
        "{}",
        stderr(&o)
    );
}
