//! Loads over time: a practice's resubmission for a period replaces its
//! earlier rows in one commit, named in the summary, and re-running changes
//! nothing.

use crate::{peerbench, stderr, stdout};

fn query(p: &str, sql: &str) -> String {
    let o = peerbench(&["query", p, sql]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_resubmission_replaces_the_practices_period_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let o = peerbench(&["ingest", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sql = "SELECT count(*) AS n, sum(appointments) AS total FROM appointments WHERE practice_code = 'A81003' AND month = DATE '2026-09-01'";
    let before = query(p, sql);
    let others = "SELECT count(*) AS n, sum(appointments) AS total FROM appointments WHERE NOT (practice_code = 'A81003' AND month = DATE '2026-09-01')";
    let others_before = query(p, others);
    let version_before = query(p, "SELECT count(*) AS n FROM load_ledger");

    // The practice sends its September file again, corrected: every count
    // doubled, and one row fewer (a category it had wrongly split).
    let original =
        std::fs::read_to_string(data.join("appointments/gpad-practice-level-2026-09.csv")).unwrap();
    let mut lines = original.lines();
    let mut resubmitted = vec![lines.next().unwrap().to_string()];
    let rows: Vec<&str> = lines.filter(|l| l.contains(",A81003,")).collect();
    assert!(rows.len() > 2);
    let mut expected_total = 0i64;
    for row in &rows[1..] {
        let (head, count) = row.rsplit_once(',').unwrap();
        let doubled = count.parse::<i64>().unwrap() * 2;
        expected_total += doubled;
        resubmitted.push(format!("{head},{doubled}"));
    }
    let resubmission = data.join("appointments/gpad-practice-level-2026-09-A81003-resubmitted.csv");
    std::fs::write(&resubmission, resubmitted.join("\n") + "\n").unwrap();

    let o = peerbench(&["ingest", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = stdout(&o);
    assert!(
        summary.contains("appointments: ")
            && summary.contains("gpad-practice-level-2026-09-A81003-resubmitted.csv replaces"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("replaces {} rows of", rows.len()))
            && summary.contains("gpad-practice-level-2026-09.csv for A81003 2026-09-01"),
        "{summary}"
    );
    let after = query(p, sql);
    assert_ne!(after, before);
    assert!(
        after.contains(&format!("| {} | {expected_total} ", rows.len() - 1)),
        "expected {} rows totalling {expected_total}:\n{after}",
        rows.len() - 1
    );
    // Nothing else moved, and nothing was counted twice.
    assert_eq!(query(p, others), others_before);
    // The ledger says how many rows each file lost to the resubmission.
    let ledger = query(
        p,
        "SELECT file, rows_superseded FROM load_ledger WHERE source = 'appointments' AND rows_superseded > 0",
    );
    assert!(
        ledger.contains("gpad-practice-level-2026-09.csv")
            && ledger.contains(&format!("| {} ", rows.len())),
        "{ledger}"
    );
    assert_ne!(
        query(p, "SELECT count(*) AS n FROM load_ledger"),
        version_before
    );

    // Running again changes nothing; the resubmission still wins.
    let o = peerbench(&["ingest", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("unchanged").count(), 8, "{}", stdout(&o));
    assert_eq!(query(p, sql), after);
}
