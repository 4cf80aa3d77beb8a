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

    // A warehouse that first sees both files in one load also takes the
    // resubmission, by its name: it follows the original's.
    let fresh = dir.path().join("fresh");
    let fresh = fresh.to_str().unwrap();
    let o = peerbench(&["ingest", p, "--warehouse", fresh]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("gpad-practice-level-2026-09-A81003-resubmitted.csv replaces"),
        "{}",
        stdout(&o)
    );
    let o = peerbench(&["query", p, "--warehouse", fresh, sql]);
    assert_eq!(stdout(&o), after);
}

/// A practice whose list shrinks by a fifth in a month, and one whose
/// appointments extract arrives a third complete, are named on the board page
/// and on their own pages before anyone reads their comparisons.
#[test]
fn sudden_changes_since_the_previous_period_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let edit = |file: &str, f: &dyn Fn(&str) -> Option<String>| {
        let path = data.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let mut out = vec![lines.next().unwrap().to_string()];
        out.extend(lines.filter_map(f));
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
    };
    // A81004's list falls by a fifth (every band × 0.8).
    edit(
        "registered_patients/gp-reg-pat-prac-quin-age-2026-09.csv",
        &|l| {
            if !l.contains(",A81004,") {
                return Some(l.to_string());
            }
            let (head, n) = l.rsplit_once(',').unwrap();
            Some(format!("{head},{}", n.parse::<i64>().unwrap() * 4 / 5))
        },
    );
    // A81006's appointments arrive a third complete.
    let kept = std::cell::Cell::new(0);
    edit("appointments/gpad-practice-level-2026-09.csv", &|l| {
        if !l.contains(",A81006,") {
            return Some(l.to_string());
        }
        kept.set(kept.get() + 1);
        (kept.get() % 3 == 0).then(|| l.to_string())
    });
    // And a file arrives that no source reads; the generator's answer key
    // beside the extracts is declared as not an extract.
    std::fs::write(data.join("appointments/gpad-notes.txt"), "see the portal\n").unwrap();
    let p = dir.path().join("p.toml");
    let pipeline = crate::pipeline(&data).replacen(
        "[pipeline]\n",
        &format!(
            "[pipeline]\nlanding = [{:?}]\nlanding_ignore = [\"ground_truth.csv\"]\n",
            data.display().to_string()
        ),
        1,
    );
    std::fs::write(&p, pipeline).unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Not read: ")
            && out.contains("appointments/gpad-notes.txt")
            && !out.contains("ground_truth.csv"),
        "{out}"
    );

    let board = std::fs::read_to_string(dir.path().join("o/index.html")).unwrap();
    let at = board
        .find("<h3>Sudden changes since the previous period</h3>")
        .expect("a sudden-changes section on the board page");
    let section = &board[at..at + board[at..].find("</table>").unwrap()];
    let rows: Vec<&str> = section.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "exactly the two planted changes:\n{section}");
    // Each band is floored after × 0.8, so the list falls by just over a fifth.
    assert!(
        rows[0].contains("A81004")
            && rows[0].contains("<td>registered_patients</td><td>registered patients ")
            && (rows[0].contains("(−20.0%)") || rows[0].contains("(−20.1%)"))
            && rows[0].contains("2026-08 to 2026-09"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("A81006") && rows[1].contains("appointments") && rows[1].contains("rows "),
        "{}",
        rows[1]
    );
    assert!(
        board.contains("<strong>Files no source reads</strong>")
            && board.contains("gpad-notes.txt</code>"),
        "the board page does not list the unread file"
    );
    let page = std::fs::read_to_string(dir.path().join("o/practices/A81004.html")).unwrap();
    assert!(
        page.contains("<dt>Sudden changes</dt>") && page.contains("registered patients"),
        "the practice page does not say its list changed"
    );
    let calm = std::fs::read_to_string(dir.path().join("o/practices/A81003.html")).unwrap();
    assert!(!calm.contains("<dt>Sudden changes</dt>"));
}

/// Unchanged files are not read again, unless what their outcome depends on
/// changed: the source's definition, or the register they are checked
/// against. Then exactly the affected sources reload.
#[test]
fn a_changed_definition_or_register_reloads_unchanged_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let ingest = || {
        let o = peerbench(&["ingest", p]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let commit = |summary: &str, table: &str| -> String {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no {table} in {summary}"));
        line.split("  ").last().unwrap().trim().to_string()
    };
    ingest();
    assert_eq!(ingest().matches("unchanged").count(), 8);

    // An analyst tightens the appointments threshold: only it reloads.
    let text = std::fs::read_to_string(p).unwrap().replace(
        "shape = \"appointments\"\n",
        "shape = \"appointments\"\nmax_rejected_pct = 4\n",
    );
    std::fs::write(p, text).unwrap();
    let summary = ingest();
    assert_eq!(commit(&summary, "appointments"), "version 1", "{summary}");
    assert_eq!(summary.matches("unchanged").count(), 7, "{summary}");

    // A practice leaves the register: every source checked against it reloads
    // and sets that practice's rows aside.
    let register = data.join("practices.csv");
    let kept: Vec<String> = std::fs::read_to_string(&register)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("A81003,"))
        .map(str::to_string)
        .collect();
    std::fs::write(&register, kept.join("\n") + "\n").unwrap();
    let o = peerbench(&["ingest", p]);
    let summary = stdout(&o);
    assert!(
        !o.status.success() || summary.contains("unknown_practice"),
        "{summary}"
    );
    let o = peerbench(&[
        "query",
        p,
        "SELECT count(*) AS n FROM appointments WHERE practice_code = 'A81003'",
    ]);
    assert!(stdout(&o).contains("| 0 |"), "{}", stdout(&o));
}

/// A publication with more practices than a person reads in one table (a
/// national one has 6,300): the board's lists keep to what a board acts on
/// first and say where every row is, so its pages stay small enough to open.
/// Run at 600 practices in 40 peer groups (federations), 7 months (the national preset's
/// annual QOF falls in them): past the 250-row limit on every list without
/// the time of a national run.
#[test]
fn a_large_publication_lists_what_a_board_acts_on_and_says_where_the_rest_is() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = peerbench(&[
        "synth",
        "--preset",
        "national",
        "--practices",
        "600",
        "--months",
        "7",
        "--seed",
        "5",
        "--outliers",
        "30",
        "--shifts",
        "0",
        "--trends",
        "0",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = crate::pipeline(&data).replace(
        "[[peer_group]]\nname = \"all\"\nkind = \"all\"\n",
        "[[peer_group]]\nname = \"federation\"\nkind = \"federation\"\nmin_practices = 5\n",
    );
    let p = dir.path().join("p.toml");
    std::fs::write(&p, text).unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("o");
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    let rows = |page: &str, marker: &str| -> usize {
        // Body rows of the first table from `marker` on the page.
        let from = page.find(marker).unwrap_or_else(|| panic!("no {marker:?}"));
        let body = &page[from..];
        let body = &body[body.find("<tbody>").unwrap()..];
        body[..body.find("</tbody>").unwrap()]
            .matches("<tr>")
            .count()
    };

    let index = read("index.html");
    let practices = std::fs::read_dir(out.join("practices"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "html")
        })
        .count();
    assert_eq!(practices, 600);
    // Each domain's heat map lists 250 practices, and says which and where the rest are.
    assert!(
        index.contains("Showing 250 of 600: the practices with most indicators on the worse side of peers in the latest period, most first. Every one is in the board pack's “Heat map” sheet"),
        "{}",
        &index[..3000.min(index.len())]
    );
    assert_eq!(rows(&index, "<caption>Demand and access</caption>"), 250);
    assert!(
        index.len() < 1_500_000,
        "index.html is {} bytes",
        index.len()
    );

    // An indicator page: a row per peer group in place of a chart each, and
    // the practices outside rather than all 600.
    let page = read("board/dna_rate.html");
    assert!(
        page.contains("600 practices in 40 peer groups: too many to draw one ranked chart each"),
        "{page}"
    );
    assert_eq!(rows(&page, "<th scope=\"col\">Peer group</th>"), 40);
    // On every indicator's page, each group's verdict counts add up to its
    // practices, whether its verdicts have a direction or not.
    let mut indicator_pages = 0;
    for entry in std::fs::read_dir(out.join("board")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "html") {
            continue;
        }
        let page = std::fs::read_to_string(&path).unwrap();
        let from = page.find("<th scope=\"col\">Peer group</th>").unwrap();
        let body = &page[from..];
        let body = &body[..body.find("</tbody>").unwrap()];
        for row in body.split("<tr><th scope=\"row\">").skip(1) {
            let cells: Vec<usize> = row
                .split("<td class=\"num\">")
                .skip(1)
                .map(|c| c[..c.find('<').unwrap()].parse().unwrap_or(0))
                .collect();
            // Practices, benchmark (not a count), then the verdicts.
            let verdicts: usize = cells[2..].iter().sum();
            assert_eq!(cells[0], verdicts, "{}: {row}", path.display());
        }
        indicator_pages += 1;
    }
    assert!(indicator_pages > 30, "{indicator_pages} indicator pages");
    assert!(
        !page.contains("practices ranked, with 95% intervals"),
        "no caterpillars"
    );
    let listed = rows(
        &page,
        "<th scope=\"col\">Against peers (the verdict, then the other comparison)</th>",
    );
    assert!(listed > 0 && listed <= 250, "{listed} practices listed");
    assert!(
        page.contains("practices in the latest period. Listed: the "),
        "{page}"
    );
    assert!(
        page.len() < 500_000,
        "board/dna_rate.html is {} bytes",
        page.len()
    );
    // Every practice is still in the indicator's download.
    let (_, csv) = crate::read_csv(&out.join("board/dna_rate.csv"));
    let codes: std::collections::BTreeSet<&str> = csv.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(codes.len(), 600);
}

/// Extracts arrive practice by practice: one practice's October appointments
/// arriving before the others' leaves the publication leading with
/// September (where every practice stands), says October is not yet shown
/// and how many have sent it, keeps the early rows in the download, and
/// still checks September against August for a partial extract.
/// (It used to make October "the latest period": 33 practices' pages said
/// "no data" for appointments they had sent, and the board compared one
/// practice with nobody.)
#[test]
fn a_month_one_practice_sends_early_waits_until_half_have_sent_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let september =
        std::fs::read_to_string(data.join("appointments/gpad-practice-level-2026-09.csv")).unwrap();
    let mut lines = september.lines();
    let mut october = format!("{}\n", lines.next().unwrap());
    for line in lines.filter(|l| l.contains(",A81005,")) {
        october.push_str(&line.replace("01SEP2026", "01OCT2026"));
        october.push('\n');
    }
    std::fs::write(
        data.join("appointments/gpad-practice-level-2026-10.csv"),
        october,
    )
    .unwrap();
    // And A81010's September is a partial extract: a third of its rows.
    let mut kept = 0;
    let partial: String = september
        .lines()
        .filter(|l| {
            if !l.contains(",A81010,") {
                return true;
            }
            kept += 1;
            kept % 3 == 0
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        data.join("appointments/gpad-practice-level-2026-09.csv"),
        partial,
    )
    .unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("o");

    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        index.contains("<tr><th scope=\"row\"><a href=\"board/face_to_face_pct.html\">Appointments held face to face</a> <span class=\"meta\">%</span></th><td class=\"nowrap\">2026-09</td>"),
        "the summary leads with September"
    );
    assert!(
        index.contains("<li>Appointments held face to face: 2026-10 (1 of 34 practices)</li>"),
        "{index}"
    );
    // The data quality table: appointments' latest month is September, with
    // October's one practice noted, and no other source is "behind".
    assert!(
        index.contains("<td class=\"nowrap\">2026-09<br><span class=\"meta\">2026-10: 1 practice so far, not yet shown</span></td><td>none</td>"),
        "{index}"
    );
    assert!(!index.contains("(behind: other sources reach"), "{index}");
    // September's partial extract is still flagged against August, though
    // one practice has sent October.
    assert!(
        index.contains("<td>appointments</td><td>rows 18 → 6 (−66.7%), 2026-08 to 2026-09</td>"),
        "{index}"
    );
    let other = std::fs::read_to_string(out.join("practices/A81000.html")).unwrap();
    assert!(!other.contains("No data for this practice in the latest period (2026-10)"));
    assert!(!other.contains("Sent early"));
    let early = std::fs::read_to_string(out.join("practices/A81005.html")).unwrap();
    assert!(
        early.contains("Sent early: this practice's 2026-10 for ")
            && early.contains("Appointments held face to face"),
        "{early}"
    );
    // Nothing is lost: the early practice's October is in the download, and
    // "since last period" is September against August.
    let results = std::process::Command::new("gzip")
        .args([
            "-dc",
            out.join("data/indicator_results.csv.gz").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&results.stdout).contains("face_to_face_pct,A81005,2026-10,"));
    let (_, changes) = crate::read_csv(&out.join("data/changes.csv"));
    assert!(
        changes.iter().all(|c| !c.contains(&"2026-10".to_string())),
        "{changes:?}"
    );
}

/// After one practice resubmits, the rerun links the pages whose inputs did
/// not change from the publication before and makes the rest: what it
/// publishes is, byte for byte, what a whole publication of the same
/// warehouse is, and the publication before it is left as it was.
#[test]
fn a_rerun_after_a_resubmission_publishes_what_a_whole_publication_would() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let p = p.to_str().unwrap();
    let o = peerbench(&["run", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("o");
    let first = crate::publication_files(&out);
    // The list of files checks with GNU sha256sum.
    let check = std::process::Command::new("sha256sum")
        .args(["--check", "--strict", "--quiet", "data/SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // A81003 sends its September appointments again, one count changed.
    let original =
        std::fs::read_to_string(data.join("appointments/gpad-practice-level-2026-09.csv")).unwrap();
    let mut lines = original.lines();
    let mut resubmitted = vec![lines.next().unwrap().to_string()];
    for (i, row) in lines.filter(|l| l.contains(",A81003,")).enumerate() {
        let (head, count) = row.rsplit_once(',').unwrap();
        let count = count.parse::<i64>().unwrap() + if i == 0 { 40 } else { 0 };
        resubmitted.push(format!("{head},{count}"));
    }
    std::fs::write(
        data.join("appointments/gpad-practice-level-2026-09-A81003-resubmitted.csv"),
        resubmitted.join("\n") + "\n",
    )
    .unwrap();
    let o = peerbench(&["run", p]);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = stdout(&o);
    let not_made: usize = said
        .split(" of them not even made again")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pages reused: {said}"));
    // The sample's other four domains and the indicators that do not read
    // appointments, for each of its 34 practices.
    assert!(not_made > 100, "{said}");
    // The run record counts them too.
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["counts"]["files_not_made"], not_made);
    assert!(record["counts"]["files_linked"].as_u64().unwrap() >= not_made as u64);
    let rerun = crate::publication_files(&out);
    assert_ne!(rerun, first);
    // The publication before it, kept, shares the files that did not
    // change and still has its own bytes.
    let earlier: Vec<_> = std::fs::read_dir(dir.path().join("o.earlier"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(earlier.len(), 1);
    assert!(crate::publication_files(&earlier[0].path()) == first);

    // The same warehouse published whole, with no publication to link from.
    std::fs::rename(&out, dir.path().join("rerun")).unwrap();
    std::fs::remove_dir_all(dir.path().join("o.earlier")).unwrap();
    let o = peerbench(&["run", p, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("linked"), "{}", stdout(&o));
    let whole = crate::publication_files(&out);
    let differs: Vec<&String> = whole
        .keys()
        .chain(rerun.keys())
        .filter(|name| whole.get(*name) != rerun.get(*name))
        .collect();
    assert!(differs.is_empty(), "the rerun's files differ: {differs:?}");
}
