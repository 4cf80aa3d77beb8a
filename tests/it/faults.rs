//! Fault injection: a load killed at any moment leaves the warehouse at a
//! consistent version, and the next run converges on exactly the rows of one
//! clean load — nothing lost, nothing counted twice.

use std::time::Duration;

use crate::{peerbench, stderr, stdout};

const TABLES: [&str; 8] = [
    "practices",
    "registered_patients",
    "appointments",
    "prescribing",
    "qof",
    "patient_survey",
    "clinical_searches",
    "quarantine",
];

fn counts(pipeline: &str, warehouse: &str) -> Vec<String> {
    TABLES
        .iter()
        .map(|t| {
            let o = peerbench(&[
                "query",
                pipeline,
                "--warehouse",
                warehouse,
                &format!("SELECT count(*) AS n FROM {t}"),
            ]);
            assert!(o.status.success(), "{t}: {}", stderr(&o));
            format!("{t}: {}", stdout(&o).lines().nth(3).unwrap_or_default())
        })
        .collect()
}

#[test]
fn a_killed_load_converges_on_one_clean_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_, p) = crate::generated_federation(dir.path(), &["--seed", "3", "--practices", "150"]);
    let p = p.to_str().unwrap();

    let clean = dir.path().join("clean");
    let o = peerbench(&["ingest", p, "--warehouse", clean.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = counts(p, clean.to_str().unwrap());

    // Kill at several moments during the first load, then let a run finish.
    for (i, delay_ms) in [150u64, 600, 1200, 2500].into_iter().enumerate() {
        let w = dir.path().join(format!("killed-{i}"));
        crate::kill_after(
            &["ingest", p, "--warehouse", w.to_str().unwrap()],
            Duration::from_millis(delay_ms),
        );
        let o = peerbench(&["ingest", p, "--warehouse", w.to_str().unwrap()]);
        assert!(
            o.status.success(),
            "rerun after a kill at {delay_ms} ms failed: {}",
            stderr(&o)
        );
        assert_eq!(
            counts(p, w.to_str().unwrap()),
            expected,
            "after a kill at {delay_ms} ms"
        );
        // And a further run commits nothing: the ledger agrees with the files.
        let o = peerbench(&["ingest", p, "--warehouse", w.to_str().unwrap()]);
        assert_eq!(stdout(&o).matches("unchanged").count(), 8, "{}", stdout(&o));
    }
}

/// `peerbench ingest` on its own is held to the run's time limit: stopped
/// mid-load it says so, exits 1 with its metrics, and the next load
/// converges on the rows of one clean load.
#[test]
fn a_load_past_its_time_limit_is_stopped_and_the_next_converges() {
    let dir = tempfile::tempdir().unwrap();
    let (_, p) = crate::generated_federation(dir.path(), &["--seed", "4", "--practices", "150"]);
    let p = p.to_str().unwrap();
    let clean = dir.path().join("clean");
    let o = peerbench(&["ingest", p, "--warehouse", clean.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let w = dir.path().join("stopped");
    let w = w.to_str().unwrap();
    let metrics = dir.path().join("ingest.prom");
    let stopped = peerbench(&[
        "ingest",
        p,
        "--warehouse",
        w,
        "--run-timeout",
        "200ms",
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    crate::assert_stopped_at_the_limit(&stopped, "load", "200ms", &metrics);
    let o = peerbench(&["ingest", p, "--warehouse", w]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(counts(p, w), counts(p, clean.to_str().unwrap()));
}
