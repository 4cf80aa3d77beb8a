//! The generator: deterministic, the committed sample is exactly what it
//! makes, and the planted ground truth is where `ground_truth.csv` says.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{peerbench, read_csv, repo, stderr};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    crate::files_under(dir)
}

fn generate(dir: &Path, extra: &[&str]) {
    let mut args = vec![
        "synth",
        "--preset",
        "federation",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = peerbench(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn same_seed_same_bytes_and_the_committed_sample_is_reproducible() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(a.path(), &["--seed", "42"]);
    generate(b.path(), &["--seed", "42"]);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), fb.len());
    assert!(fa == fb, "two runs with seed 42 differ");

    // data-samples/federation is exactly `peerbench synth --preset federation --seed 42`,
    // so nobody edits the sample by hand and nobody forgets to regenerate it.
    let committed = files(&repo().join("data-samples/federation"));
    let differing: Vec<_> = fa
        .keys()
        .filter(|k| committed.get(*k) != fa.get(*k))
        .take(5)
        .collect();
    assert!(
        differing.is_empty() && committed.len() == fa.len(),
        "data-samples/federation is stale; regenerate it (see data-samples/README.md). Differs: {differing:?}"
    );

    let c = tempfile::tempdir().unwrap();
    generate(c.path(), &["--seed", "7"]);
    assert!(
        files(c.path()) != fa,
        "a different seed gives different data"
    );
}

/// The planted outliers stand out from their peers in the direction and
/// roughly the size `ground_truth.csv` says, in the raw extracts themselves.
#[test]
fn planted_outliers_are_where_ground_truth_says() {
    let dir = repo().join("data-samples/federation");
    let (h, truth) = read_csv(&dir.join("ground_truth.csv"));
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let outliers: Vec<_> = truth
        .iter()
        .filter(|r| r[col("kind")] == "outlier")
        .collect();
    assert!(outliers.len() >= 4, "the sample plants outliers");

    // DNA rates per practice over all months, from the raw GPAD files.
    let mut dna: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for f in std::fs::read_dir(dir.join("appointments"))
        .unwrap()
        .flatten()
    {
        let (h, rows) = read_csv(&f.path());
        let i = |n: &str| h.iter().position(|x| x == n).unwrap();
        for r in rows {
            let n: f64 = r[i("COUNT_OF_APPOINTMENTS")].parse().unwrap();
            let code = r[i("GP_CODE")].clone();
            let e = dna.entry(code).or_default();
            match r[i("APPT_STATUS")].as_str() {
                "DNA" => {
                    e.0 += n;
                    e.1 += n;
                }
                "Attended" => e.1 += n,
                _ => {}
            }
        }
    }
    let mut checked = 0;
    for o in outliers {
        let code = &o[col("practice_code")];
        let size: f64 = o[col("size")].parse().unwrap();
        let observed_vs_median = match o[col("indicator_id")].as_str() {
            "dna_rate" => {
                let rate = |c: &str| dna[c].0 / dna[c].1;
                let mut all: Vec<f64> = dna.keys().map(|c| rate(c)).collect();
                all.sort_by(f64::total_cmp);
                rate(code) / all[all.len() / 2]
            }
            _ => continue,
        };
        // An odds ratio of 2.5 (or 0.4) on a ~5% rate is well beyond the
        // practice-level spread: the planted practice must sit far out.
        if size > 1.0 {
            assert!(
                observed_vs_median > 1.5,
                "{code}: planted ×{size} but observed ×{observed_vs_median:.2}"
            );
        } else {
            assert!(
                observed_vs_median < 0.67,
                "{code}: planted ×{size} but observed ×{observed_vs_median:.2}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 1, "the seed-42 sample plants a DNA outlier");
}
