//! What a nightly run tells the machines watching it: JSON log lines that
//! carry the run id and stage, a Prometheus metrics file that survives a
//! failed run, and progress bars only for a person at a terminal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use crate::{copy_sample, peerbench, pipeline, read_csv, repo, stderr, stdout};

/// `peerbench` with extra environment (the shared helper sets RUST_LOG,
/// which would override -v).
fn peerbench_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peerbench"));
    c.args(args).current_dir(repo()).env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run peerbench")
}

/// One series of a metrics file: its name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// A strict reading of the Prometheus text exposition format (0.0.4): only
/// `# HELP` and `# TYPE` comments; each family's TYPE before its samples and
/// its samples together; metric and label names as the format allows; label
/// values with only the three escapes; a value Go's ParseFloat accepts; no
/// series twice; a final line feed. Panics, naming the line, otherwise.
fn parse_prometheus(text: &str) -> BTreeMap<Series, f64> {
    fn metric_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }
    fn label_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
            && !s.starts_with("__")
    }
    fn value(s: &str) -> Option<f64> {
        match s {
            "NaN" => Some(f64::NAN),
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => s.parse().ok(),
            _ => None,
        }
    }
    assert!(text.ends_with('\n'), "the file must end with a line feed");
    let mut out = BTreeMap::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let (kind, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("{at}: comment without a metric name"));
            assert!(metric_name(name), "{at}: bad metric name");
            match kind {
                Some("HELP") => {
                    assert!(helped.insert(name.to_string()), "{at}: second HELP");
                    let help = rest.unwrap_or_default();
                    let mut chars = help.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            assert!(
                                matches!(chars.next(), Some('\\' | 'n')),
                                "{at}: bad escape in HELP"
                            );
                        }
                    }
                }
                Some("TYPE") => {
                    let t = rest.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{at}: unknown type"
                    );
                    assert!(
                        typed.insert(name.to_string(), t.to_string()).is_none(),
                        "{at}: second TYPE"
                    );
                    assert!(
                        !out.keys().any(|(m, _): &Series| m == name),
                        "{at}: TYPE after the family's samples"
                    );
                }
                _ => panic!("{at}: only HELP and TYPE comments are expected"),
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("{at}: no value"));
        let name = &line[..name_end];
        assert!(metric_name(name), "{at}: bad metric name");
        assert!(typed.contains_key(name), "{at}: sample before its TYPE");
        if current.as_deref() != Some(name) {
            if let Some(previous) = current.replace(name.to_string()) {
                finished.insert(previous);
            }
            assert!(
                !finished.contains(name),
                "{at}: the family's samples are not together"
            );
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let mut end = None;
            loop {
                let start = match chars.peek() {
                    Some((_, '}')) => {
                        end = Some(chars.next().unwrap().0);
                        break;
                    }
                    Some((i, _)) => *i,
                    None => break,
                };
                let eq = inner[start..]
                    .find('=')
                    .unwrap_or_else(|| panic!("{at}: label without '='"))
                    + start;
                let label = &inner[start..eq];
                assert!(label_name(label), "{at}: bad label name {label:?}");
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                assert_eq!(
                    chars.next().map(|c| c.1),
                    Some('"'),
                    "{at}: label value unquoted"
                );
                let mut v = String::new();
                loop {
                    match chars.next().map(|c| c.1) {
                        Some('\\') => match chars.next().map(|c| c.1) {
                            Some('\\') => v.push('\\'),
                            Some('"') => v.push('"'),
                            Some('n') => v.push('\n'),
                            e => panic!("{at}: bad escape {e:?}"),
                        },
                        Some('"') => break,
                        Some('\n') | None => panic!("{at}: unterminated label value"),
                        Some(c) => v.push(c),
                    }
                }
                assert!(
                    !labels.iter().any(|(l, _): &(String, String)| l == label),
                    "{at}: label {label} twice"
                );
                labels.push((label.to_string(), v));
                match chars.peek().map(|c| c.1) {
                    Some(',') => {
                        chars.next();
                    }
                    Some('}') => {}
                    other => panic!("{at}: expected ',' or '}}', found {other:?}"),
                }
            }
            let end = end.unwrap_or_else(|| panic!("{at}: labels not closed"));
            rest = &inner[end + 1..];
        }
        let fields: Vec<&str> = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("{at}: expected one space before the value"))
            .split(' ')
            .collect();
        assert!(
            (1..=2).contains(&fields.len()),
            "{at}: expected a value and at most a timestamp"
        );
        let v = value(fields[0]).unwrap_or_else(|| panic!("{at}: bad value"));
        if let Some(ts) = fields.get(1) {
            assert!(ts.parse::<i64>().is_ok(), "{at}: bad timestamp");
        }
        labels.sort();
        assert!(
            out.insert((name.to_string(), labels), v).is_none(),
            "{at}: the same series twice"
        );
    }
    out
}

fn sample(m: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.iter()
        .find(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, v)| *v)
}

fn family<'a>(
    m: &'a BTreeMap<Series, f64>,
    name: &'a str,
) -> Vec<(&'a Vec<(String, String)>, f64)> {
    m.iter()
        .filter(|((n, _), _)| n == name)
        .map(|((_, l), v)| (l, *v))
        .collect()
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn the_parser_refuses_what_prometheus_refuses() {
    let good = "# HELP a_b x\n# TYPE a_b gauge\na_b{x=\"1\\\"2\"} 1.5\na_b 2\n";
    assert_eq!(parse_prometheus(good).len(), 2);
    for bad in [
        "a_b 1\n",                                                 // no TYPE
        "# TYPE a_b gauge\na_b 1",                                 // no final line feed
        "# TYPE a_b gauge\na_b{x=\"1\"} one\n",                    // not a number
        "# TYPE a_b gauge\na_b{x=\"\\t\"} 1\n",                    // bad escape
        "# TYPE a_b gauge\na_b 1\na_b 2\n",                        // the same series twice
        "# TYPE a-b gauge\na-b 1\n",                               // bad name
        "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"\"} 1\n", // split family
        "# TYPE a gauge\na{x=1} 1\n",                              // unquoted
    ] {
        let caught = std::panic::catch_unwind(|| parse_prometheus(bad));
        assert!(caught.is_err(), "accepted {bad:?}");
    }
}

/// Per indicator, the practices outside the 99.8% limits in its latest
/// period, counted from the published results table (exact downloads).
fn outliers_in_results(results: &Path) -> BTreeMap<String, usize> {
    let (header, rows) = read_csv(results);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (ind, period, flag) = (col("indicator_id"), col("period"), col("funnel_flag"));
    let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &rows {
        let e = latest.entry(&r[ind]).or_insert(&r[period]);
        if r[period].as_str() > *e {
            *e = &r[period];
        }
    }
    let mut out: BTreeMap<String, usize> = latest.keys().map(|i| (i.to_string(), 0)).collect();
    for r in &rows {
        if latest[r[ind].as_str()] == r[period] && (r[flag] == "high_998" || r[flag] == "low_998") {
            *out.get_mut(&r[ind]).unwrap() += 1;
        }
    }
    out
}

/// N from the summary's "Computed N indicators".
fn computed_indicators(stdout: &str) -> usize {
    stdout
        .split("Computed ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of indicators in:\n{stdout}"))
}

#[test]
fn json_logs_carry_run_and_stage_and_the_metrics_file_outlives_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_sample(dir.path());
    let p = dir.path().join("p.toml");
    // Exact downloads, so the results table has every funnel flag to check
    // the outlier counts against.
    std::fs::write(
        &p,
        pipeline(&data) + "\n[disclosure]\ndownloads = \"exact\"\n",
    )
    .unwrap();
    let p = p.to_str().unwrap();
    let textfiles = dir.path().join("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    let metrics = textfiles.join("peerbench.prom");
    let m = metrics.to_str().unwrap();

    // 1. Text logs, as cron mails them: no progress bar, no colour codes
    //    (stderr is a pipe here, not a terminal), and no span context.
    let o = peerbench_env(&["-v", "run", p, "--metrics", m], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\r'),
        "escape codes or carriage returns on stderr without a terminal:\n{err:?}"
    );
    assert!(err.contains(" INFO loaded table=\"appointments\""), "{err}");
    // Every indicator's line is there: none swallowed by the logging set-up
    // (as per-layer filters did, tokio-rs/tracing#2519).
    let indicators = computed_indicators(&stdout(&o));
    assert_eq!(
        err.matches(" INFO computed indicator=").count(),
        indicators,
        "{err}"
    );
    for line in err.lines() {
        assert!(
            line.starts_with("20") && line.as_bytes().get(10) == Some(&b'T'),
            "a text log line should start with its timestamp: {line:?}"
        );
        assert!(!line.contains("run{") && !line.contains("stage{"), "{line}");
    }
    let first = parse_prometheus(&std::fs::read_to_string(&metrics).unwrap());
    let at = |m: &BTreeMap<Series, f64>, name: &str| sample(m, name, &[]).unwrap();
    assert_eq!(at(&first, "peerbench_last_run_exit_code"), 0.0);
    let success = at(&first, "peerbench_last_success_timestamp_seconds");
    assert_eq!(success, at(&first, "peerbench_last_run_timestamp_seconds"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        success <= now && success > now - 600.0,
        "{success} vs {now}"
    );
    for (_, labels) in first.keys() {
        assert_eq!(label(labels, "pipeline"), "p");
        assert_eq!(label(labels, "command"), "run");
    }
    let stages: Vec<&str> = family(&first, "peerbench_stage_duration_seconds")
        .into_iter()
        .map(|(l, v)| {
            assert!(v > 0.0);
            label(l, "stage")
        })
        .collect();
    assert_eq!(stages, ["compare", "indicators", "ingest", "publish"]);
    // Rows loaded per source, as the summary prints them.
    let out = stdout(&o);
    for (labels, v) in family(&first, "peerbench_rows_loaded") {
        let source = label(labels, "source");
        let printed = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(source))
            .unwrap_or_else(|| panic!("{source} not in the summary:\n{out}"));
        assert_eq!(
            printed.split_whitespace().nth(2),
            Some(v.to_string().as_str()),
            "{printed}"
        );
    }
    assert_eq!(family(&first, "peerbench_rows_loaded").len(), 8);
    assert_eq!(
        sample(
            &first,
            "peerbench_rows_quarantined",
            &[("source", "appointments")]
        ),
        Some(0.0)
    );
    // Outliers per indicator, as the results table has them.
    let outliers: BTreeMap<String, usize> = family(&first, "peerbench_outliers")
        .into_iter()
        .map(|(l, v)| (label(l, "indicator").to_string(), v as usize))
        .collect();
    assert_eq!(
        outliers,
        outliers_in_results(&dir.path().join("o/data/indicator_results.csv.gz"))
    );
    assert!(outliers.values().sum::<usize>() > 0, "{outliers:?}");

    // 2. JSON logs: every line one object with the run id; every line
    //    inside a stage names it. (--force: nothing changed since run 1.)
    let o = peerbench_env(
        &[
            "--log-format",
            "json",
            "-v",
            "run",
            p,
            "--metrics",
            m,
            "--force",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(lines.len() > 40, "{}", stderr(&o));
    let run_id = lines[0]["run_id"].as_str().unwrap().to_string();
    let (stamp, pid) = run_id.split_once('-').unwrap();
    assert!(
        stamp.len() == 16 && stamp.ends_with('Z') && pid.parse::<u32>().is_ok(),
        "{run_id}"
    );
    let mut seen = BTreeSet::new();
    for l in &lines {
        assert!(l.is_object(), "{l}");
        for key in ["timestamp", "level", "message", "target"] {
            assert!(l[key].is_string(), "no {key}: {l}");
        }
        assert_eq!(l["run_id"], run_id.as_str(), "{l}");
        assert_eq!(l["command"], "run", "{l}");
        let message = l["message"].as_str().unwrap();
        if message == "run started" {
            assert!(l.get("stage").is_none(), "{l}");
            continue;
        }
        // At -v, everything after the start happens inside a stage.
        let stage = l["stage"]
            .as_str()
            .unwrap_or_else(|| panic!("no stage: {l}"));
        seen.insert(stage.to_string());
        let expected = match message {
            "unchanged since the last load; nothing read or committed" | "loaded" => "ingest",
            "computed" | "reused" => "indicators",
            "published" => "publish",
            _ => stage,
        };
        assert_eq!(stage, expected, "{l}");
        if message == "computed" || message == "reused" {
            assert!(l["indicator"].is_string() && l["rows"].is_u64(), "{l}");
        }
        if message == "unchanged since the last load; nothing read or committed" {
            assert!(l["table"].is_string(), "{l}");
        }
    }
    assert_eq!(
        seen,
        ["compare", "indicators", "ingest", "publish"]
            .map(String::from)
            .into()
    );
    let count = |message: &str| lines.iter().filter(|l| l["message"] == message).count();
    // Nothing changed since the first run, so --force publishes again
    // from every indicator's kept output.
    assert_eq!(count("reused"), indicators);
    assert_eq!(count("computed"), 0);
    assert_eq!(
        count("unchanged since the last load; nothing read or committed"),
        8
    );
    let finished: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["message"] == "stage finished")
        .map(|l| {
            assert!(l["seconds"].as_f64().is_some_and(|s| s > 0.0), "{l}");
            l["stage"].as_str().unwrap()
        })
        .collect();
    assert_eq!(finished.len(), 4, "{finished:?}");
    let second = parse_prometheus(&std::fs::read_to_string(&metrics).unwrap());
    let success = at(&second, "peerbench_last_success_timestamp_seconds");
    assert!(success >= at(&first, "peerbench_last_success_timestamp_seconds"));

    // 2b. Nothing new (exit 99): the run's time and exit code move, the
    //     last success does not, and nothing of a run that did not compute
    //     is reported.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = peerbench_env(&["--log-format", "json", "run", p, "--metrics", m], &[]);
    assert_eq!(o.status.code(), Some(99), "{}", stderr(&o));
    let nothing_new = parse_prometheus(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(at(&nothing_new, "peerbench_last_run_exit_code"), 99.0);
    assert_eq!(
        at(&nothing_new, "peerbench_last_success_timestamp_seconds"),
        success
    );
    assert!(at(&nothing_new, "peerbench_last_run_timestamp_seconds") > success);
    assert!(family(&nothing_new, "peerbench_stage_duration_seconds").is_empty());

    // 3. A failed run: the closing error is a JSON line too, with the exit
    //    code and the run id; the metrics say it failed and keep the last
    //    success's time.
    std::fs::remove_dir_all(data.join("qof")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = peerbench_env(&["--log-format", "json", "run", p, "--metrics", m], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(last["exit_code"], 1, "{last}");
    assert!(last["message"].as_str().unwrap().contains("qof"), "{last}");
    let failed_id = last["run_id"].as_str().unwrap();
    assert_ne!(failed_id, run_id);
    assert!(
        lines.iter().all(|l| l["run_id"] == failed_id),
        "{}",
        stderr(&o)
    );
    let third = parse_prometheus(&std::fs::read_to_string(&metrics).unwrap());
    assert_eq!(at(&third, "peerbench_last_run_exit_code"), 1.0);
    assert_eq!(
        at(&third, "peerbench_last_success_timestamp_seconds"),
        success
    );
    assert!(at(&third, "peerbench_last_run_timestamp_seconds") > success);
    assert!(family(&third, "peerbench_rows_loaded").is_empty());
    // Nothing but the file itself is left in the collector's folder.
    let names: Vec<_> = std::fs::read_dir(&textfiles)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["peerbench.prom"]);
}

/// Runs `peerbench args` under `script`, on a pseudo-terminal 120 columns
/// wide; None where `script` (util-linux) is missing.
fn on_a_terminal(args: &[&str]) -> Option<(bool, String)> {
    let bin = env!("CARGO_BIN_EXE_peerbench");
    let command = format!(
        "stty cols 120 rows 40; exec {bin} {}",
        args.iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let o = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .env("TERM", "xterm")
        .output()
        .ok()?;
    Some((
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    ))
}

#[test]
fn progress_bars_only_for_a_person_at_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w");
    let w = w.to_str().unwrap();
    let args = ["ingest", "pipelines/demo.toml", "--warehouse", w];

    // Not a terminal: no bar, nothing but the summary.
    let o = peerbench(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "stderr should be empty without a terminal");

    // A terminal, and a fresh warehouse for a load that reads every file.
    let w2 = dir.path().join("w2");
    let Some((ok, screen)) = on_a_terminal(&[
        "ingest",
        "pipelines/demo.toml",
        "--warehouse",
        w2.to_str().unwrap(),
    ]) else {
        eprintln!("skipped the terminal half: no `script` (util-linux) here");
        return;
    };
    assert!(ok, "{screen}");
    assert!(
        screen.contains("loading appointments") && screen.contains("/24") && screen.contains("[="),
        "no progress bar on a terminal:\n{screen:?}"
    );
    // The bars are cleared before the summary.
    let summary = screen.rsplit("\u{1b}[2K").next().unwrap();
    assert!(summary.starts_with("table "), "{summary:?}");

    // JSON logs on a terminal: still no bars, every line an object.
    let w3 = dir.path().join("w3");
    let (ok, screen) = on_a_terminal(&[
        "--log-format",
        "json",
        "-v",
        "ingest",
        "pipelines/demo.toml",
        "--warehouse",
        w3.to_str().unwrap(),
    ])
    .unwrap();
    assert!(ok, "{screen}");
    assert!(!screen.contains("loading appointments"), "{screen:?}");
    let json: Vec<&str> = screen.lines().filter(|l| l.starts_with('{')).collect();
    assert!(json.len() >= 8, "{screen:?}");
    for l in json {
        let v: serde_json::Value = serde_json::from_str(l.trim_end_matches('\r')).unwrap();
        assert_eq!(v["command"], "ingest", "{v}");
        assert!(v["run_id"].is_string(), "{v}");
    }
}
