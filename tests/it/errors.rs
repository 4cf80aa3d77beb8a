//! Bad input gets a clear error naming the file and line, never a crash.

use crate::{peerbench, stderr, stdout};

#[test]
fn broken_extracts_are_quarantined_with_file_line_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().to_str().unwrap();
    let o = peerbench(&["ingest", "tests/pipelines/broken.toml", "--warehouse", w]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let f = "data-samples/broken/mixed-bad-rows-windows-1252.csv";
    for (line, check) in [
        (8, "negative_count"),
        (9, "numerator_above_denominator"),
        (10, "unknown_practice"),
        (11, "bad_date"),
        (12, "practice_code_format"),
        (13, "not_a_count"),
        (14, "field_count"),
    ] {
        assert!(
            text.contains(&format!("{f}:{line}: [{check}]")),
            "expected {f}:{line} [{check}] in:\n{text}"
        );
    }
    assert!(text.contains("data-samples/broken/empty.csv:0: [unreadable_file] data-samples/broken/empty.csv: the file is empty"), "{text}");
    assert!(
        text.contains("binary-garbage.csv:0: [unreadable_file]")
            && text.contains("not a text file"),
        "{text}"
    );
    assert!(
        text.contains("truncated.csv.gz:0: [unreadable_file]")
            && text.contains("not a valid gzip file"),
        "{text}"
    );
    assert!(
        text.contains("wrong-delimiter.csv:0: [unreadable_file]")
            && text.contains("no header line found"),
        "{text}"
    );

    // Patient-level data is refused whole, naming the column, never a value.
    assert!(
        text.contains("patient-level.csv:0: [patient_identifiers]")
            && text.contains("column \"NHS Number\" (column 5) holds NHS numbers")
            && !text.contains("0018"),
        "{text}"
    );

    // An Excel workbook with a .csv name is named as such.
    assert!(
        text.contains("saved-as-excel.csv:0: [unreadable_file]")
            && text.contains("this is an Excel workbook"),
        "{text}"
    );

    // Most of these rows fail, which the pipeline allows (max_rejected_pct =
    // 100) but flags: above the default warning level of 1%.
    assert!(
        text.contains("Warning: clinical_searches: 16 of 21 rows (76.2%) were set aside, above the warning level of 1% (warn_rejected_pct)"),
        "{text}"
    );

    // A file for a source the pipeline does not declare is reported, not ignored.
    assert!(
        text.contains("Not read: data-samples/broken/unclaimed/ae-attendances-2026-09.csv")
            && text.contains("ae-attendances-2026-09.csv:0: [unclaimed_file]"),
        "{text}"
    );

    // Duplicate keys: the exact copy (line 3) counted once; the two rows
    // that disagree (lines 4 and 5) both set aside, each naming the other.
    let d = "data-samples/broken/duplicate-rows.csv";
    assert!(
        text.contains(&format!("{d}:3: [duplicate_key] duplicate of line 2"))
            && text.contains(&format!("{d}:4: [duplicate_key] line 5 has the same key"))
            && text.contains(&format!("{d}:5: [duplicate_key] same key as line 4")),
        "{text}"
    );

    // The good rows loaded (one of them suppressed, kept as censored, not
    // zero): two from the Windows-1252 file, the asthma row once, and both
    // rows of the file whose lines are in different encodings.
    let query = |sql: &str| {
        let o = peerbench(&[
            "query",
            "tests/pipelines/broken.toml",
            "--warehouse",
            w,
            sql,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let table = query(
        "SELECT count(*) AS n, sum(CASE WHEN numerator_suppressed THEN 1 ELSE 0 END) AS censored, sum(numerator) AS total FROM clinical_searches",
    );
    assert!(table.contains("| 5 | 1        | 81    |"), "{table}");
    let names = query(
        "SELECT search_name FROM clinical_searches WHERE practice_code = 'A81004' ORDER BY search_code",
    );
    assert!(
        names.contains("Café Quarter reviews (Windows-1252)")
            && names.contains("Zoë Lane reviews (UTF-8)"),
        "{names}"
    );

    // And the quarantine is in the warehouse, queryable.
    let o = peerbench(&[
        "query",
        "tests/pipelines/broken.toml",
        "--warehouse",
        w,
        "SELECT count(*) AS n FROM quarantine",
    ]);
    assert!(stdout(&o).contains("| 17 |"), "{}", stdout(&o));

    // The books balance for files refused whole too: each is one entry in
    // the quarantine, so one row read and one set aside.
    let unbalanced = query(
        "SELECT count(*) AS n FROM load_ledger WHERE rows_read <> rows_loaded + rows_quarantined + rows_superseded",
    );
    assert!(unbalanced.contains("| 0 |"), "{unbalanced}");
    let refused = query(
        "SELECT count(*) AS n FROM load_ledger WHERE file LIKE '%truncated.csv.gz' AND rows_read = 1 AND rows_quarantined = 1",
    );
    assert!(refused.contains("| 1 |"), "{refused}");
}

#[test]
fn a_bad_pipeline_file_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[pipeline]\nname = \"x\"\nwarehouse = 3\n").unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a wrong pipeline file exits 2");
    let err = stderr(&o);
    assert!(
        err.starts_with("Error: ") && err.contains("bad.toml:3:"),
        "{err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one clear line, not a dump:\n{err}"
    );

    let o = peerbench(&["run", "pipelines/no-such-pipeline.toml"]);
    assert_eq!(o.status.code(), Some(2), "a missing pipeline file exits 2");
    assert!(
        stderr(&o).contains("cannot read pipeline file pipelines/no-such-pipeline.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_input_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    let repo = crate::repo();
    std::fs::write(
        &p,
        format!(
            "[pipeline]\nname = \"x\"\nwarehouse = \"w\"\noutput = \"o\"\nindicators = \"{0}/sql/indicators\"\nregister = \"practices\"\n\n[[source]]\ntable = \"practices\"\nshape = \"practice_register\"\nfiles = \"{0}/data-samples/nowhere/*.csv\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "a failed run exits 1");
    let err = stderr(&o);
    assert!(
        err.contains("no files match") && err.contains("data-samples/nowhere"),
        "{err}"
    );
    assert!(
        !dir.path().join("o/index.html").exists(),
        "nothing may be published after a failed load"
    );
}

#[test]
fn query_is_read_only() {
    let o = peerbench(&[
        "query",
        "pipelines/demo.toml",
        "--warehouse",
        crate::demo::demo().warehouse.to_str().unwrap(),
        "DROP TABLE appointments",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
}

/// A practice name (from the register, so from outside) carrying markup is
/// shown as text everywhere, never run as markup.
#[test]
fn a_hostile_practice_name_cannot_inject_markup() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let register = data.join("practices.csv");
    let text = std::fs::read_to_string(&register).unwrap();
    let hostile = "\"<script>alert('x')</script><img src=x onerror=alert(1)> & Sons\"";
    let text = text.replacen("Abbey Surgery", hostile, 1);
    assert!(text.contains("<script>"));
    std::fs::write(&register, text).unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("o");
    for page in [
        "index.html",
        "practices/A81000.html",
        "practices/A81000/demand.html",
        "board/dna_rate.html",
    ] {
        let html = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{page} carries the markup"
        );
        // An apostrophe needs no escaping in text (maud leaves it as is).
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; Sons"),
            "{page} does not show the name as text"
        );
    }
}

/// A practice whose latest extract did not arrive, and a source a month
/// behind the others, are named on the board page rather than silently
/// compared on less.
#[test]
fn missing_practices_and_stale_sources_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    // A81005's appointments for the latest month never arrived.
    let latest = data.join("appointments/gpad-practice-level-2026-09.csv");
    let text = std::fs::read_to_string(&latest).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains(",A81005,")).collect();
    assert!(kept.len() < text.lines().count());
    std::fs::write(&latest, kept.join("\n") + "\n").unwrap();
    // The prescribing extract for the latest month is late.
    std::fs::remove_file(data.join("prescribing/epd-202609.csv")).unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, crate::pipeline(&data)).unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let board = std::fs::read_to_string(dir.path().join("o/index.html")).unwrap();
    let row = |table: &str| {
        let at = board.find(&format!("<tr><td>{table}</td>")).unwrap();
        board[at..at + board[at..].find("</tr>").unwrap()].to_string()
    };
    let appointments = row("appointments");
    assert!(
        appointments.contains("2026-09")
            && appointments.contains("<strong>1</strong>")
            && appointments.contains("A81005"),
        "{appointments}"
    );
    let prescribing = row("prescribing");
    assert!(
        prescribing.contains("2026-08")
            && prescribing.contains("behind: other sources reach 2026-09"),
        "{prescribing}"
    );
    assert!(row("registered_patients").contains("none"));
}

/// A line of megabytes (a broken export) stops that file with its line
/// named; the source's other files still load, and memory stays bounded.
#[test]
fn an_overlong_line_is_named_and_the_other_files_load() {
    let dir = tempfile::tempdir().unwrap();
    let searches = dir.path().join("searches");
    std::fs::create_dir_all(&searches).unwrap();
    let header = "Practice Code,Period End,Search Code,Search Name,Numerator,Denominator\n";
    std::fs::write(
        searches.join("good.csv"),
        format!("{header}A81001,31/08/2026,SMR,Reviews,10,100\n"),
    )
    .unwrap();
    let mut broken =
        format!("{header}A81002,31/08/2026,SMR,Reviews,10,100\nA81002,31/08/2026,AST,");
    broken.push_str(&"x".repeat(3 << 20));
    broken.push_str(",1,2\n");
    std::fs::write(searches.join("broken.csv"), broken).unwrap();
    let r = crate::repo();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[pipeline]\nname = \"Long line\"\nwarehouse = \"w\"\noutput = \"o\"\nindicators = \"{r}/sql/indicators\"\nregister = \"practices\"\n\n\
             [[source]]\ntable = \"practices\"\nshape = \"practice_register\"\nfiles = \"{r}/data-samples/federation/practices.csv\"\ncheck_register = false\n\n\
             [[source]]\ntable = \"clinical_searches\"\nshape = \"clinical_search\"\nfiles = \"searches/*.csv\"\nmax_rejected_pct = 100\n",
            r = r.display()
        ),
    )
    .unwrap();
    let o = peerbench(&["ingest", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("broken.csv:0: [line_too_long]")
            && text.contains("broken.csv:3: a line longer than 1048576 bytes"),
        "{text}"
    );
    let o = peerbench(&[
        "query",
        p.to_str().unwrap(),
        "SELECT practice_code FROM clinical_searches",
    ]);
    let rows = stdout(&o);
    assert!(
        rows.contains("A81001") && !rows.contains("A81002"),
        "{rows}"
    );
}

/// Register values and extract lines that a spreadsheet would run as
/// formulas (`=HYPERLINK(…)`, `+cmd|…`, `@SUM(…)`, `-2+3`) reach text
/// columns of every CSV and the workbook as practice names, peer-group keys
/// (federation, PCN codes) and quarantined lines. Opened with openpyxl and
/// csv (tests/oracle/check_spreadsheet_safety.py), no cell may run.
#[test]
fn hostile_register_values_cannot_run_as_spreadsheet_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::copy_sample(dir.path());
    let hostile = [
        "=HYPERLINK(\"http://x\")",
        "+cmd|' /C calc'!A0",
        "@SUM(1)",
        "-2+3",
    ];
    let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let register = data.join("practices.csv");
    let mut text = std::fs::read_to_string(&register).unwrap();
    for (from, to) in [
        ("Severn Vale GP Federation", hostile[0]),
        ("U10007", hostile[1]),
        ("U10014", hostile[2]),
        ("U10021", hostile[3]),
        ("Abbey Surgery", hostile[0]),
        ("Ashley Down Medical Centre", hostile[1]),
        ("Avonmouth Health Centre", hostile[2]),
        ("Barton Hill Medical Practice", hostile[3]),
    ] {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, &quoted(to));
    }
    std::fs::write(&register, text).unwrap();
    // A line that is set aside (its date is a formula) lands in quarantine.csv.
    let appointments = data.join("appointments/gpad-practice-level-2026-09.csv");
    let mut text = std::fs::read_to_string(&appointments).unwrap();
    text.push_str("@SUM(1),A81000,Abbey Surgery,TPP,U10007,GP,Face-to-Face,Attended,5\n");
    std::fs::write(&appointments, text).unwrap();
    let p = dir.path().join("p.toml");
    let pipeline = crate::pipeline(&data)
        + "\n[[peer_group]]\nname = \"federation\"\nkind = \"federation\"\n\n[[peer_group]]\nname = \"pcn\"\nkind = \"pcn\"\nmin_practices = 3\n";
    std::fs::write(&p, pipeline).unwrap();
    let o = peerbench(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("o");
    let quarantine = std::fs::read_to_string(out.join("data/quarantine.csv")).unwrap();
    assert!(
        quarantine.starts_with("source,file,line,check,reason,raw\n")
            && quarantine.contains("\"'@SUM(1),A81000,"),
        "{quarantine}"
    );

    let python = std::env::var("PEERBENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut check = std::process::Command::new(&python);
    check
        .arg(crate::repo().join("tests/oracle/check_spreadsheet_safety.py"))
        .arg(&out);
    for h in hostile {
        check.args(["--csv", h, "--workbook", h]);
    }
    let o = check
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (scripts/test sets up the oracles)"));
    assert!(
        o.status.success() && stdout(&o).contains("spreadsheet safety checks passed"),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
}

/// Without `--features ballista` a cluster engine is refused before
/// anything is loaded, saying how to build the client in.
#[cfg(not(feature = "ballista"))]
#[test]
fn a_cluster_engine_without_the_feature_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let (out, warehouse) = (dir.path().join("out"), dir.path().join("w"));
    let o = peerbench(&[
        "run",
        "pipelines/demo.toml",
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--engine",
        "ballista://127.0.0.1:50050",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("engine ballista://127.0.0.1:50050: this peerbench was built without the Ballista client: build it with `--features ballista`"),
        "{err}"
    );
    assert!(!out.exists() && !warehouse.exists());
}
