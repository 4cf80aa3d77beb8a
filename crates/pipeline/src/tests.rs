//! Unit tests of the pipeline crate's own logic: where a run publishes,
//! what it refuses before touching the warehouse, and how its errors map
//! to the CLI's exit codes.

use super::*;

/// A pipeline in a temporary folder publishing to `<dir>/out/t`, with one
/// indicator, `dna_rate` (tagged `access`, domain demand).
fn pipeline() -> (tempfile::TempDir, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("sql/demand");
    std::fs::create_dir_all(&sql).unwrap();
    std::fs::write(
        sql.join("dna_rate.sql"),
        "/*\nid = \"dna_rate\"\ntitle = \"DNA\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"GPAD\"\ntags = [\"access\"]\n*/\nSELECT 1\n",
    )
    .unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "[pipeline]\nname = \"t\"\nwarehouse = \"w\"\noutput = \"out/t\"\nindicators = \"sql\"\nregister = \"practices\"\n\n[[source]]\ntable = \"practices\"\nshape = \"practice_register\"\nfiles = \"practices.csv\"\n",
    )
    .unwrap();
    let p = Pipeline::load(&path).unwrap();
    (dir, p)
}

fn options(select: &[&str], as_of: Option<&str>, out: Option<PathBuf>) -> RunOptions {
    RunOptions {
        out,
        select: select.iter().map(|s| s.to_string()).collect(),
        as_of: as_of.map(str::to_string),
        ..RunOptions::default()
    }
}

#[test]
fn output_for_keeps_trials_and_reproductions_out_of_the_boards_folder() {
    let (dir, p) = pipeline();
    let out = |name: &str| dir.path().join("out").join(name);
    assert_eq!(p.output_for(&options(&[], None, None)), out("t"));
    assert_eq!(
        p.output_for(&options(&["dna_rate"], None, None)),
        out("t-select")
    );
    assert_eq!(
        p.output_for(&options(&[], Some("20261129T020000Z-42"), None)),
        out("t-as-of-20261129T020000Z-42")
    );
    let elsewhere = dir.path().join("elsewhere");
    for o in [
        options(&[], None, Some(elsewhere.clone())),
        options(&["dna_rate"], None, Some(elsewhere.clone())),
        options(&[], Some("r"), Some(elsewhere.clone())),
    ] {
        assert_eq!(p.output_for(&o), elsewhere);
    }
}

#[test]
fn indicators_are_selected_by_id_tag_and_domain() {
    let (_dir, p) = pipeline();
    let ids = |selectors: &[&str]| -> Vec<String> {
        let selectors: Vec<String> = selectors.iter().map(|s| s.to_string()).collect();
        p.indicators(&selectors)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(ids(&[]), ["dna_rate"]);
    assert_eq!(ids(&["dna_rate"]), ["dna_rate"]);
    assert_eq!(ids(&["tag:access"]), ["dna_rate"]);
    assert_eq!(ids(&["domain:demand", "dna_rate"]), ["dna_rate"]);
}

#[tokio::test]
async fn usage_errors_are_refused_before_the_warehouse_is_opened() {
    let (dir, p) = pipeline();
    let board = Some(p.output.clone());
    let refused = |e: PipelineError| {
        assert!(e.is_configuration(), "{e:?} is a usage error");
        assert!(!e.is_lock_held());
        e.to_string()
            .replace(&format!("{}/", dir.path().display()), "")
    };
    let cases = [
        (
            options(&["dna_rate"], None, board.clone()),
            "--select publishes a subset of the indicators, so it never publishes into the board's folder out/t: give --out another folder (or leave it out to publish into out/t-select)",
        ),
        (
            options(&["dna_rat"], None, None),
            "--select \"dna_rat\" matches no indicator — did you mean dna_rate?",
        ),
        (
            options(&["domain:access"], None, None),
            "unknown domain \"access\" (domains: clinical, prescribing, demand, patient_experience, demographics)",
        ),
        (
            options(&["dna_rate"], Some("r"), None),
            "--as-of makes a past run's whole publication again: it does not take --select",
        ),
        (
            options(&[], Some("r1"), board),
            "--as-of publishes a past run, so it never publishes into the board's folder out/t: give --out another folder (or leave it out to publish into out/t-as-of-r1)",
        ),
    ];
    for (options, expected) in cases {
        let e = p.run_with(&options).await.unwrap_err();
        assert_eq!(refused(e), expected);
    }
    assert!(
        !dir.path().join("w").exists(),
        "no warehouse was created or opened"
    );
}

#[test]
fn indicators_new_refuses_what_the_command_line_gets_wrong() {
    let (dir, p) = pipeline();
    let refused = |e: PipelineError| {
        assert!(e.is_configuration(), "{e:?} is a usage error");
        e.to_string()
    };
    assert_eq!(
        refused(p.new_indicator("gp_share", "access").unwrap_err()),
        "unknown domain \"access\" (domains: clinical, prescribing, demand, patient_experience, demographics)"
    );
    assert_eq!(
        refused(p.new_indicator("GP share", "demand").unwrap_err()),
        "indicator id \"GP share\": use lower-case letters, digits and underscores, starting with a letter"
    );
    assert_eq!(
        refused(p.new_indicator("dna_rate", "demand").unwrap_err()),
        "an indicator \"dna_rate\" already exists"
    );
    let made = p.new_indicator("gp_share", "demand").unwrap();
    assert_eq!(made, dir.path().join("sql/demand/gp_share.sql"));
    assert_eq!(
        p.indicators(&[]).unwrap().len(),
        2,
        "the scaffold parses as an indicator"
    );
}

#[test]
fn errors_map_to_the_exit_codes_families() {
    let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
    let usage = [
        PipelineError::Config(ConfigError::Invalid {
            path: "p.toml".into(),
            message: "m".into(),
        }),
        UsageError::IndicatorExists { id: "x".into() }.into(),
        UsageError::SelectIntoBoard {
            output: "out".into(),
        }
        .into(),
        AsOfError::WithSelect.into(),
        AsOfError::NotARunId {
            run: "?".into(),
            pipeline: "p.toml".into(),
        }
        .into(),
    ];
    for e in &usage {
        assert!(e.is_configuration() && !e.is_lock_held(), "{e:?}");
    }
    let failed = [
        PipelineError::Read {
            path: "p.toml".into(),
            source: io(),
        },
        PipelineError::Write {
            path: "out/x".into(),
            source: io(),
        },
        PipelineError::IndicatorsFailed {
            failed: vec!["d".into()],
            every: false,
        },
        QueryError::Recursive.into(),
        PipelineError::EmptyWarehouse("w".into()),
        PipelineError::LockLost("w".into()),
        WarehouseError::Lock(LockError::Corrupt {
            location: "w".into(),
            reason: "r".into(),
        })
        .into(),
    ];
    for e in &failed {
        assert!(!e.is_configuration() && !e.is_lock_held(), "{e:?}");
    }
    let held = [
        WarehouseError::Lock(LockError::Held {
            location: "w".into(),
            holder: Box::new(Holder::new("r", "run")),
            stale_after: None,
        }),
        WarehouseError::Lock(LockError::HeldUnreadable {
            location: "w".into(),
            reason: "r".into(),
        }),
    ];
    for e in held {
        let e = PipelineError::from(e);
        assert!(e.is_lock_held() && !e.is_configuration(), "{e:?}");
    }
}

#[test]
fn messages_name_the_file_and_the_runs() {
    let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    assert_eq!(
        PipelineError::Write {
            path: "out/t/indicators.html".into(),
            source: io,
        }
        .to_string(),
        "cannot write out/t/indicators.html: permission denied"
    );
    assert_eq!(
        PipelineError::from(AsOfError::PublishedNothing {
            run: "r1".into(),
            outcome: Outcome::NothingNew,
            pipeline: "p.toml".into(),
        })
        .to_string(),
        "run r1 published nothing (nothing_new), so there is nothing of it to make again: `peerbench runs p.toml` lists the runs recorded"
    );
    let changed = |n: usize| AsOfError::Changed {
        run: "r1".into(),
        changed: (1..=n).map(|i| format!("f{i}")).collect(),
    };
    let tail =
        "changed since: restore the files as they were then (e.g. with git checkout) and run again";
    assert_eq!(
        changed(1).to_string(),
        format!(
            "run r1 recorded only hashes of its SQL (an earlier release made it), and f1 has {tail}"
        )
    );
    assert_eq!(
        changed(5).to_string(),
        format!(
            "run r1 recorded only hashes of its SQL (an earlier release made it), and f1, f2, f3 and 2 more have {tail}"
        )
    );
    assert_eq!(
        PipelineError::Register {
            table: "practices".into(),
            source: TableError::NotText("column 2".into()),
        }
        .to_string(),
        "the practice register table \"practices\": column 2 is not text"
    );
}

#[test]
fn failed_indicators_are_listed_one_a_line() {
    let failed = |every| PipelineError::IndicatorsFailed {
        failed: vec!["a.sql: x".into(), "b.sql: y".into()],
        every,
    };
    assert_eq!(
        failed(false).to_string(),
        "2 indicator(s) failed, so nothing was published (the previous report is untouched):\n  - a.sql: x\n  - b.sql: y"
    );
    assert_eq!(
        failed(true).to_string(),
        "2 indicator(s) failed, so nothing was published (the previous report is untouched):\n  every indicator failed, so there is nothing to publish:\n  - a.sql: x\n  - b.sql: y"
    );
}

#[test]
fn the_report_id_hashes_versions_and_every_indicators_sql() {
    let (_dir, p) = pipeline();
    let catalogue = p.indicators(&[]).unwrap();
    let versions = vec![("appointments".to_string(), 3)];
    let id = report_id(&versions, &catalogue);
    assert_eq!(id.len(), 12);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(report_id(&versions, &catalogue), id, "stable");
    assert_ne!(
        report_id(&[("appointments".to_string(), 4)], &catalogue),
        id
    );
    assert_ne!(report_id(&versions, &[]), id);
}

#[test]
fn a_query_two_indicators_share_is_held_until_the_last_has_read_it() {
    let header = |id: &str| {
        format!(
            "/*\nid = \"{id}\"\ntitle = \"t\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"s\"\n*/\n"
        )
    };
    let strata = "SELECT practice_code, month AS period FROM strata";
    let ind = |id: &str, sql: &str| {
        Indicator::parse(
            Path::new(&format!("{id}.sql")),
            &format!("{}{sql}", header(id)),
        )
        .unwrap()
    };
    let (dsr, isr, other) = (
        ind("dsr", strata),
        ind("isr", strata),
        ind("other", "SELECT 1"),
    );
    let output = Arc::new(peerbench_indicators::Computed {
        schema: Arc::new(arrow::datatypes::Schema::empty()),
        batches: Vec::new(),
    });
    // A third reader of the same query reads its rows as a standardised
    // indicator would: different rows, so not the first's.
    let standardised = Indicator::parse(
        Path::new("dsr_too.sql"),
        &format!("{}{strata}", header("dsr_too"))
            .replace("value_type = \"proportion\"", "value_type = \"dsr\""),
    )
    .unwrap();
    let rows: Rows = Arc::new(vec![IndicatorRow {
        practice_code: "A81001".into(),
        period: "2026-09".into(),
        numerator: Some(1.0),
        denominator: Some(2.0),
        strata: Vec::new(),
    }]);
    let kept = Arc::new(vec![1u8, 2, 3]);
    let mut same = SameQuery::of([&dsr, &other, &isr, &standardised].into_iter());
    assert!(same.take(&dsr).is_none(), "the first runs the query");
    same.hold(&dsr, &output);
    same.hold_read(&dsr, &rows, Some(&kept));
    assert!(same.take(&other).is_none(), "a query of its own");
    same.hold(&other, &output);
    let shared = same
        .take(&isr)
        .expect("the second reads the first's output");
    assert!(Arc::ptr_eq(&shared.computed, &output));
    let read = shared.rows_for(&isr).expect("and the rows it read");
    assert!(Arc::ptr_eq(&read, &rows));
    assert!(Arc::ptr_eq(shared.kept.as_ref().unwrap(), &kept));
    let shared = same.take(&standardised).expect("the output is shared");
    assert!(
        shared.rows_for(&standardised).is_none(),
        "a standardised indicator reads its own rows"
    );
    assert!(same.waiting.is_empty(), "let go after the last reader");

    // The first fails: nothing is held, and the second runs the query
    // itself without holding its output for no one.
    let mut same = SameQuery::of([&dsr, &isr].into_iter());
    assert!(same.take(&dsr).is_none());
    assert!(same.take(&isr).is_none());
    same.hold(&isr, &output);
    assert!(same.waiting.is_empty());
}

#[test]
fn a_path_is_hashed_as_the_file_system_names_it_existing_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap();
    std::fs::create_dir(real.join("pipelines")).unwrap();
    let spelled = format!("{}/pipelines/../out/demo", dir.path().display());
    // Not there yet, then there: the same name both times, so the run
    // after a first publication can still find nothing new.
    let before = real_path(&spelled);
    std::fs::create_dir_all(real.join("out/demo")).unwrap();
    assert_eq!(before, real_path(&spelled));
    assert_eq!(before, real.join("out/demo").display().to_string());
    assert_eq!(real_path("s3://bucket/warehouse"), "s3://bucket/warehouse");
}

#[test]
fn a_set_aside_row_is_counted_for_its_practice_however_its_line_was_quoted() {
    let is_practice = |code: &str| code == "A81000";
    for raw in [
        "01SEP2026,A81000,Abbey Surgery,TPP",
        "01SEP2026,\"A81000,Abbey Surgery,TPP",
        "01SEP2026, \"A81000\" ,Abbey Surgery",
    ] {
        assert_eq!(practice_of(raw, is_practice), Some("A81000"), "{raw}");
    }
    assert_eq!(practice_of("01SEP2026,\"\",Y99999", is_practice), None);
}
