//! The indicator SQL on an Apache DataFusion Ballista cluster of real
//! processes on loopback: a scheduler and two executors (the
//! `peerbench-scheduler` and `peerbench-executor` binaries, Ballista's stock
//! ones built in this workspace), the warehouse on the loopback S3 server,
//! and the demo pipeline run through them, compared with the local engine
//! row for row. Only with `--features ballista` (scripts/test builds it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::object_store::{BUCKET, S3Server, ok};
use crate::{repo, stderr, stdout};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The S3 settings a deployment gives every process of the cluster (none
/// for a warehouse in a folder they all see).
fn with_s3(mut c: Command, s3: Option<&S3Server>) -> Command {
    let Some(s3) = s3 else {
        return c;
    };
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-2")
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ALLOW_HTTP", "true");
    c
}

struct Executor {
    child: Child,
    work_dir: PathBuf,
    log: PathBuf,
}

/// A scheduler and its executors, each a process of its own, stopped
/// (SIGKILL) when dropped.
struct Cluster {
    scheduler: Child,
    scheduler_log: PathBuf,
    port: u16,
    executors: Vec<Executor>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for e in &mut self.executors {
            let _ = e.child.kill();
            let _ = e.child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

/// Waits until `ready` or panics with the logs after `secs`.
fn wait_for(what: &str, secs: u64, logs: &[&Path], mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        if started.elapsed() > Duration::from_secs(secs) {
            let text: Vec<String> = logs
                .iter()
                .map(|l| {
                    format!(
                        "--- {}\n{}",
                        l.display(),
                        std::fs::read_to_string(l).unwrap_or_default()
                    )
                })
                .collect();
            panic!("{what} not within {secs}s\n{}", text.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP GET on loopback; the status code, or None if nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace().nth(1)?.parse().ok()
}

impl Cluster {
    fn start(dir: &Path, s3: Option<&S3Server>, executors: usize) -> Cluster {
        let port = free_port();
        let scheduler_log = dir.join("scheduler.log");
        let mut c = with_s3(Command::new(env!("CARGO_BIN_EXE_peerbench-scheduler")), s3);
        c.args([
            "--bind-host",
            "127.0.0.1",
            "--external-host",
            "127.0.0.1",
            "--bind-port",
            &port.to_string(),
            // A killed executor is noticed within seconds, not minutes.
            "--executor-timeout-seconds",
            "6",
            "--expire-dead-executor-interval-seconds",
            "2",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&scheduler_log).unwrap())
        .stderr(Stdio::null());
        let scheduler = c.spawn().expect("start peerbench-scheduler");
        let mut cluster = Cluster {
            scheduler,
            scheduler_log,
            port,
            executors: Vec::new(),
        };
        let log = cluster.scheduler_log.clone();
        wait_for("the scheduler listening", 60, &[&log], || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        for i in 0..executors {
            cluster.add_executor(dir, s3, i);
        }
        cluster
    }

    fn add_executor(&mut self, dir: &Path, s3: Option<&S3Server>, i: usize) {
        let work_dir = dir.join(format!("executor-{i}"));
        std::fs::create_dir_all(&work_dir).unwrap();
        let log = dir.join(format!("executor-{i}.log"));
        let health = free_port();
        let mut c = with_s3(Command::new(env!("CARGO_BIN_EXE_peerbench-executor")), s3);
        c.args([
            "--scheduler-host",
            "127.0.0.1",
            "--scheduler-port",
            &self.port.to_string(),
            "--bind-host",
            "127.0.0.1",
            "--external-host",
            "127.0.0.1",
            "--bind-port",
            &free_port().to_string(),
            "--bind-grpc-port",
            &free_port().to_string(),
            "--bind-health-port",
            &health.to_string(),
            "--work-dir",
            work_dir.to_str().unwrap(),
            "--vcores",
            "1",
            "--executor-heartbeat-interval-seconds",
            "2",
            "--scheduler-connect-timeout-seconds",
            "30",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
        let child = c.spawn().expect("start peerbench-executor");
        self.executors.push(Executor {
            child,
            work_dir,
            log: log.clone(),
        });
        let scheduler_log = self.scheduler_log.clone();
        wait_for(
            &format!("executor {i} registered"),
            60,
            &[&log, &scheduler_log],
            || http_status(health, "/readyz") == Some(200),
        );
    }

    fn engine(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.port)
    }

    /// Job folders the executors made (one per job stage they ran), per executor.
    fn jobs_run(&self) -> Vec<usize> {
        self.executors
            .iter()
            .map(|e| {
                std::fs::read_dir(&e.work_dir)
                    .map(|d| d.flatten().count())
                    .unwrap_or(0)
            })
            .collect()
    }

    fn logs(&self) -> String {
        let mut text = format!(
            "--- scheduler\n{}",
            std::fs::read_to_string(&self.scheduler_log).unwrap_or_default()
        );
        for e in &self.executors {
            text.push_str(&format!(
                "\n--- {}\n{}",
                e.log.display(),
                std::fs::read_to_string(&e.log).unwrap_or_default()
            ));
        }
        text
    }
}

/// `data/indicator_results.csv.gz` of a publication: header and rows.
fn results(out: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    crate::read_csv(&out.join("data/indicator_results.csv.gz"))
}

/// Whether two publications hold the same indicator results: the same rows
/// in the same order, numerators and denominators identical, every other
/// number within 1e-12 (relative), everything else identical.
fn same_results(a: &Path, b: &Path) -> Result<usize, String> {
    let ((ha, ra), (hb, rb)) = (results(a), results(b));
    if ha != hb {
        return Err(format!("headers differ: {ha:?} / {hb:?}"));
    }
    if ra.len() != rb.len() {
        return Err(format!("{} rows against {}", ra.len(), rb.len()));
    }
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        for (c, (p, q)) in x.iter().zip(y).enumerate() {
            let exact = matches!(ha[c].as_str(), "numerator" | "denominator");
            let close = match (p.parse::<f64>(), q.parse::<f64>()) {
                (Ok(u), Ok(v)) => (u - v).abs() <= 1e-12 * u.abs().max(v.abs()).max(1.0),
                _ => false,
            };
            if p != q && (exact || !close) {
                return Err(format!("row {} column {}: {p:?} / {q:?}", i + 1, ha[c]));
            }
        }
    }
    Ok(ra.len())
}

/// A pipeline run on the S3 warehouse into `out`; with `engine`, and
/// computing every indicator (no output kept by an earlier run is reused).
fn run(s3: &S3Server, warehouse: &str, out: &Path, engine: Option<&str>) -> Command {
    let mut args = vec![
        "run",
        "pipelines/demo.toml",
        "--warehouse",
        warehouse,
        "--out",
        out.to_str().unwrap(),
        "--force",
        "--full",
    ];
    if let Some(e) = engine {
        args.extend(["--engine", e]);
    }
    s3.command(&args)
}

/// A run's last word on stderr (log lines may precede it).
fn last_line(err: &str) -> &str {
    err.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn the_demo_on_a_ballista_cluster_gives_the_local_results_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let warehouse = format!("s3://{BUCKET}/ballista/warehouse");
    let local = dir.path().join("local");
    ok(
        &run(&s3, &warehouse, &local, None).output().unwrap(),
        "the local run",
    );
    let cluster = Cluster::start(dir.path(), Some(&s3), 2);
    let on_cluster = dir.path().join("cluster");
    let o = run(&s3, &warehouse, &on_cluster, Some(&cluster.engine()))
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the run on the cluster failed:\n{}\n{}\n{}",
        stdout(&o),
        stderr(&o),
        cluster.logs()
    );
    assert!(
        stderr(&o).contains("indicator SQL runs on the cluster"),
        "{}",
        stderr(&o)
    );
    // The executors did the work: each job leaves a folder in the work dir
    // of the executor that ran it.
    let jobs = cluster.jobs_run();
    let indicators = std::fs::read_to_string(on_cluster.join("run.json"))
        .unwrap()
        .matches("\"status\": \"computed\"")
        .count();
    eprintln!("jobs per executor: {jobs:?}; indicators computed: {indicators}");
    assert!(indicators > 20, "{indicators} indicators computed");
    assert!(
        jobs.iter().sum::<usize>() >= indicators && jobs.iter().all(|&j| j > 0),
        "executors ran {jobs:?} jobs for {indicators} indicators"
    );
    let rows = same_results(&local, &on_cluster).unwrap_or_else(|e| {
        panic!("the cluster's indicator results differ from the local engine's: {e}")
    });
    assert!(rows > 1000, "{rows} result rows");
}

#[test]
fn an_unreachable_scheduler_is_named_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let warehouse = dir.path().join("warehouse");
    let engine = format!("ballista://127.0.0.1:{}", free_port());
    let o = crate::peerbench(&[
        "run",
        "pipelines/demo.toml",
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--engine",
        &engine,
    ]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{}", stdout(&o));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!(
            "engine {engine}: cannot reach the Ballista scheduler"
        )),
        "{err}"
    );
    assert!(!out.exists(), "something was published");
    assert!(!warehouse.exists(), "something was loaded");
    // The same from the pipeline file.
    let pipeline = dir.path().join("p.toml");
    let text = std::fs::read_to_string(repo().join("pipelines/demo.toml"))
        .unwrap()
        .replace("../", &format!("{}/", repo().display()))
        .replacen(
            "[pipeline]\n",
            &format!("[pipeline]\nengine = \"{engine}\"\n"),
            1,
        );
    std::fs::write(&pipeline, text).unwrap();
    let o = crate::peerbench(&[
        "run",
        pipeline.to_str().unwrap(),
        "--warehouse",
        warehouse.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("engine {engine}: ")),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "something was published");
}

/// One of two executors killed (SIGKILL) while the indicators run: the run
/// either ends with the local engine's results (Ballista reran the lost
/// work on the other) or fails naming the engine, publishing nothing.
#[test]
fn an_executor_killed_mid_run_is_retried_or_fails_publishing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let warehouse = format!("s3://{BUCKET}/ballista-kill/warehouse");
    let local = dir.path().join("local");
    ok(
        &run(&s3, &warehouse, &local, None).output().unwrap(),
        "the local run",
    );
    let mut cluster = Cluster::start(dir.path(), Some(&s3), 2);
    let on_cluster = dir.path().join("cluster");
    let mut child = run(&s3, &warehouse, &on_cluster, Some(&cluster.engine()))
        // Ballista 55 can lose track of a job whose executor died (the
        // scheduler logs "Can't find active stage to update stage
        // outputs" and the job never ends): the indicator's time limit is
        // then what ends the run, and here it is a minute, not ten.
        .args(["--indicator-timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the second executor has run some of the work, it dies.
    let victim = cluster.executors.pop().unwrap();
    let started = Instant::now();
    while std::fs::read_dir(&victim.work_dir)
        .map(|d| d.count())
        .unwrap_or(0)
        < 3
    {
        assert!(
            started.elapsed() < Duration::from_secs(300) && child.try_wait().unwrap().is_none(),
            "the run ended, or the second executor ran nothing in 300 s:\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut victim = victim;
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let killed = Instant::now();
    let o = child.wait_with_output().unwrap();
    // What the scheduler did about it (for docs/scale.md's account).
    let log = std::fs::read_to_string(&cluster.scheduler_log).unwrap_or_default();
    for line in log.lines().filter(|l| {
        let l = l.to_ascii_lowercase();
        [
            "lost", "dead", "fail", "retry", "rerun", "reset", "resubmit", "expired",
        ]
        .iter()
        .any(|w| l.contains(w))
    }) {
        eprintln!("scheduler: {}", line.get(..300).unwrap_or(line));
    }
    eprintln!(
        "the run ended {:.1}s after the executor was killed",
        killed.elapsed().as_secs_f64()
    );
    if o.status.success() {
        let rows = same_results(&local, &on_cluster)
            .unwrap_or_else(|e| panic!("after the executor was killed, the results differ: {e}"));
        eprintln!("the executor's work was rerun: {rows} rows as locally");
    } else {
        // The run's last word (log lines of the indicator may precede it).
        let err = stderr(&o);
        let last = last_line(&err);
        assert!(
            last.contains(&format!("engine {}: ", cluster.engine())),
            "{err}\n{}",
            cluster.logs()
        );
        assert!(
            !on_cluster.join("index.html").exists(),
            "a failed run published"
        );
        eprintln!("the run failed as it should: {last}");
    }
}

/// A query the cluster fails (integer division by zero, found only when
/// the rows are read) ends the run naming the engine, publishing nothing,
/// even though the pipeline publishes the rest when one indicator fails
/// locally. The warehouse here is a folder every process sees, read as
/// `file://` URLs.
#[test]
fn a_query_the_cluster_fails_ends_the_run_naming_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let indicators = dir.path().join("indicators");
    std::fs::create_dir_all(&indicators).unwrap();
    std::fs::copy(
        repo().join("sql/indicators/demand/dna_rate.sql"),
        indicators.join("dna_rate.sql"),
    )
    .unwrap();
    std::fs::write(
        indicators.join("broken.sql"),
        "/*\nid = \"broken\"\ntitle = \"Broken\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"x\"\n*/\n\
         SELECT practice_code, month AS period, SUM(appointments / (appointments - appointments)) AS numerator, SUM(appointments) AS denominator\n\
         FROM appointments GROUP BY practice_code, month\n",
    )
    .unwrap();
    let pipeline = dir.path().join("p.toml");
    let text = std::fs::read_to_string(repo().join("pipelines/demo.toml"))
        .unwrap()
        .replace("../", &format!("{}/", repo().display()))
        .replace(
            &format!("indicators = \"{}/sql/indicators\"", repo().display()),
            &format!("indicators = {:?}", indicators.display().to_string()),
        );
    std::fs::write(&pipeline, text).unwrap();
    let warehouse = dir.path().join("warehouse");
    let run = |out: &Path, engine: &str, more: &[&str]| {
        let mut args = vec![
            "run",
            pipeline.to_str().unwrap(),
            "--warehouse",
            warehouse.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--engine",
            engine,
        ];
        args.extend(more);
        crate::peerbench(&args)
    };
    // Locally: the broken indicator is left out, the other published (exit 3).
    let local = dir.path().join("local");
    let o = run(&local, "local", &[]);
    assert_eq!(o.status.code(), Some(3), "{}\n{}", stdout(&o), stderr(&o));
    assert!(local.join("index.html").exists());
    let cluster = Cluster::start(dir.path(), None, 2);
    let out = dir.path().join("cluster");
    let o = run(&out, &cluster.engine(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    let last = last_line(&err);
    assert!(
        last.contains(&format!("engine {}: ", cluster.engine()))
            && last.contains("broken.sql: the cluster failed the query")
            && last.contains("DivideByZero"),
        "{err}\n{}",
        cluster.logs()
    );
    assert!(!out.exists(), "a failed run published");

    // A query past its time limit on the cluster ends the run too: locally
    // the indicator would be left out, but a cluster job cannot be
    // cancelled, and one Ballista lost track of never ends.
    let out = dir.path().join("timed-out");
    let o = run(&out, &cluster.engine(), &["--indicator-timeout", "1ms"]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    let last = last_line(&err);
    assert!(
        last.contains(&format!("engine {}: ", cluster.engine()))
            && last.contains("the cluster did not finish the query within 1ms (indicator_timeout)"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "a run that timed out on the cluster published"
    );
}
