//! The warehouse on an S3-compatible object store: a real S3 server (moto's,
//! from PyPI, which scripts/test installs with the oracles) listening on
//! loopback, and the real binary loading, querying and publishing through it
//! with credentials from the environment, as a deployment would.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{repo, stderr, stdout};

pub(crate) const BUCKET: &str = "peerbench-test";

/// A moto S3 server on a free loopback port, stopped when dropped.
pub(crate) struct S3Server {
    child: Child,
    pub(crate) endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("PEERBENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl S3Server {
    pub(crate) fn start(log: &Path) -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto's S3 server with {}: {e} (scripts/test installs it)",
                    python()
                )
            });
        let mut server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "moto's S3 server exited ({status}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto's S3 server did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The bucket is provisioned by whoever runs the store, not by peerbench.
        server.boto(&format!(
            "s3.create_bucket(Bucket={BUCKET:?}, \
             CreateBucketConfiguration={{'LocationConstraint': 'eu-west-2'}})"
        ));
        server
    }

    /// Runs a line of Python with `s3`, a boto3 client for this server, and
    /// returns what it prints: the test's independent view of the bucket.
    fn boto(&self, code: &str) -> String {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url={:?}, aws_access_key_id='testing', \
             aws_secret_access_key='testing', region_name='eu-west-2')\n{code}\n",
            self.endpoint
        );
        let o = Command::new(python())
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(o.status.success(), "boto3: {}", stderr(&o));
        stdout(&o)
    }

    /// The real binary, with the S3 settings a deployment puts in its environment.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_peerbench"));
        c.args(args)
            .current_dir(repo())
            .env("RUST_LOG", "warn")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-2")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true");
        c
    }

    pub(crate) fn peerbench(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run peerbench")
    }
}

/// A run's stdout, once it has succeeded; otherwise what it said, as the failure.
pub(crate) fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// The same SQL over the demo's local warehouse, for comparison.
fn query_local_demo(sql: &str) -> String {
    let local = crate::demo::demo();
    ok(
        &crate::peerbench(&[
            "query",
            "pipelines/demo.toml",
            "--warehouse",
            local.warehouse.to_str().unwrap(),
            sql,
        ]),
        "query on disk",
    )
}

#[test]
fn the_warehouse_on_s3_loads_queries_and_publishes_like_a_local_one() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let warehouse = format!("s3://{BUCKET}/federation/warehouse");

    let first = ok(
        &s3.peerbench(&["ingest", "pipelines/demo.toml", "--warehouse", &warehouse]),
        "ingest to S3",
    );
    assert!(first.contains("version 0"), "{first}");
    assert!(!first.contains("unchanged"), "{first}");

    // The objects are really in the bucket: a Delta log and Parquet files per table.
    let listing = s3.boto(&format!(
        "for page in s3.get_paginator('list_objects_v2').paginate(Bucket={BUCKET:?}):\n    \
         [print(o['Key']) for o in page.get('Contents', [])]"
    ));
    for table in ["practices", "appointments", "quarantine", "load_ledger"] {
        let prefix = format!("federation/warehouse/{table}/");
        assert!(
            listing
                .lines()
                .any(|k| k == format!("{prefix}_delta_log/00000000000000000000.json")),
            "no Delta log for {table} in the bucket:\n{listing}"
        );
        // (The demo's quarantine is empty, so it has a log but no Parquet.)
        assert!(
            table == "quarantine"
                || listing
                    .lines()
                    .any(|k| k.starts_with(&prefix) && k.ends_with(".parquet")),
            "no Parquet for {table} in the bucket"
        );
    }
    assert!(
        !repo().join("s3:").exists(),
        "an s3:// location must never become a local folder"
    );

    // Loading the same files again changes nothing.
    let again = ok(
        &s3.peerbench(&["ingest", "pipelines/demo.toml", "--warehouse", &warehouse]),
        "second ingest to S3",
    );
    assert!(!again.contains("version"), "{again}");

    // The same rows as the local demo warehouse, read through DataFusion from S3.
    let local = crate::demo::demo();
    let sql = "SELECT (SELECT count(*) FROM appointments) AS a, (SELECT sum(patients) FROM registered_patients) AS p, (SELECT count(*) FROM quarantine) AS q";
    let from_s3 = ok(
        &s3.peerbench(&[
            "query",
            "pipelines/demo.toml",
            "--warehouse",
            &warehouse,
            sql,
        ]),
        "query on S3",
    );
    assert_eq!(from_s3, query_local_demo(sql));

    // A whole run from the S3 warehouse publishes the same results.
    let out = dir.path().join("out");
    ok(
        &s3.peerbench(&[
            "run",
            "pipelines/demo.toml",
            "--warehouse",
            &warehouse,
            "--out",
            out.to_str().unwrap(),
        ]),
        "run on S3",
    );
    let results = |root: &Path| crate::read_text(&root.join("data/indicator_results.csv.gz"));
    let (s3_results, local_results) = (results(&out), results(&local.out));
    let differing: Vec<(&str, &str)> = s3_results
        .lines()
        .zip(local_results.lines())
        .filter(|(a, b)| a != b)
        .take(3)
        .collect();
    assert!(
        differing.is_empty() && s3_results.lines().count() == local_results.lines().count(),
        "indicator results from the S3 warehouse differ from the local one: {differing:#?}"
    );
}

#[test]
fn an_unreachable_bucket_is_named_and_nothing_is_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let o = s3.peerbench(&[
        "ingest",
        "pipelines/demo.toml",
        "--warehouse",
        "s3://no-such-bucket/warehouse",
    ]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(err.contains("no-such-bucket"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let o = s3.peerbench(&[
        "ingest",
        "pipelines/demo.toml",
        "--warehouse",
        "gs://elsewhere/warehouse",
    ]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("\"gs\" scheme is not supported"), "{err}");
}

/// A load killed part-way leaves the S3 warehouse at a consistent version (a
/// Delta commit is one conditional put), and the next run converges on
/// exactly the rows of one clean load.
#[test]
fn a_load_killed_on_s3_converges_on_one_clean_load() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let counts = |warehouse: &str| -> String {
        ok(
            &s3.peerbench(&[
                "query",
                "pipelines/demo.toml",
                "--warehouse",
                warehouse,
                "SELECT (SELECT count(*) FROM practices) AS p, (SELECT count(*) FROM registered_patients) AS r, \
                 (SELECT count(*) FROM appointments) AS a, (SELECT count(*) FROM prescribing) AS rx, \
                 (SELECT count(*) FROM clinical_searches) AS s, (SELECT count(*) FROM emergency_admissions) AS e",
            ]),
            "counting rows",
        )
    };
    let clean = format!("s3://{BUCKET}/clean");
    ok(
        &s3.peerbench(&["ingest", "pipelines/demo.toml", "--warehouse", &clean]),
        "clean load",
    );
    let expected = counts(&clean);
    for (i, delay_ms) in [300u64, 900, 1800].into_iter().enumerate() {
        let warehouse = format!("s3://{BUCKET}/killed-{i}");
        let mut child = s3
            .command(&["ingest", "pipelines/demo.toml", "--warehouse", &warehouse])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        ok(
            &s3.peerbench(&["ingest", "pipelines/demo.toml", "--warehouse", &warehouse]),
            &format!("rerun after a kill at {delay_ms} ms"),
        );
        assert_eq!(
            counts(&warehouse),
            expected,
            "after a kill at {delay_ms} ms"
        );
        let again = ok(
            &s3.peerbench(&["ingest", "pipelines/demo.toml", "--warehouse", &warehouse]),
            "a further run",
        );
        assert_eq!(again.matches("unchanged").count(), 8, "{again}");
    }
}

/// Extracts that arrive in a bucket (`files = "s3://…/*.csv"`) are listed,
/// fetched and loaded like local ones, named by their URL in the ledger.
#[test]
fn extracts_arriving_in_a_bucket_load_like_local_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let local = repo().join("data-samples/federation/appointments");
    s3.boto(&format!(
        "import os\nfor f in sorted(os.listdir({dir:?})):\n    \
         s3.upload_file(os.path.join({dir:?}, f), {BUCKET:?}, 'incoming/appointments/' + f)\n\
         s3.put_object(Bucket={BUCKET:?}, Key='incoming/appointments/readme.txt', Body=b'not an extract')",
        dir = local.display().to_string()
    ));
    let r = repo().display().to_string();
    let pipeline: String = std::fs::read_to_string(repo().join("pipelines/demo.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("landing"))
        .map(|l| {
            if l.starts_with("files = \"../data-samples/federation/appointments/") {
                format!("files = \"s3://{BUCKET}/incoming/appointments/*.csv\"")
            } else {
                l.replace("\"../", &format!("\"{r}/"))
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let p = dir.path().join("p.toml");
    std::fs::write(&p, pipeline).unwrap();
    let p = p.to_str().unwrap();
    let w = dir.path().join("w");
    let w = w.to_str().unwrap();

    let first = ok(
        &s3.peerbench(&["ingest", p, "--warehouse", w]),
        "ingest from S3",
    );
    assert!(
        first.lines().any(|l| l
            .split_whitespace()
            .take(3)
            .eq(["appointments", "24", "14490"])),
        "{first}"
    );
    let sql = "SELECT count(*) AS n, sum(appointments) AS total FROM appointments";
    let from_bucket = ok(&s3.peerbench(&["query", p, "--warehouse", w, sql]), "query");
    assert_eq!(from_bucket, query_local_demo(sql));
    let ledger = ok(
        &s3.peerbench(&[
            "query",
            p,
            "--warehouse",
            w,
            "SELECT min(file) AS f FROM load_ledger WHERE source = 'appointments'",
        ]),
        "ledger",
    );
    assert!(
        ledger.contains(&format!(
            "s3://{BUCKET}/incoming/appointments/gpad-practice-level-2024-10.csv"
        )),
        "{ledger}"
    );
    let again = ok(
        &s3.peerbench(&["ingest", p, "--warehouse", w]),
        "second ingest",
    );
    assert_eq!(again.matches("unchanged").count(), 8, "{again}");

    // A pattern that matches nothing fails loudly, naming it.
    let missing = std::fs::read_to_string(dir.path().join("p.toml"))
        .unwrap()
        .replace("incoming/appointments/*.csv", "incoming/nothing/*.csv");
    std::fs::write(dir.path().join("q.toml"), missing).unwrap();
    let o = s3.peerbench(&[
        "ingest",
        dir.path().join("q.toml").to_str().unwrap(),
        "--warehouse",
        w,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "no files match \"s3://{BUCKET}/incoming/nothing/*.csv\""
        )),
        "{}",
        stderr(&o)
    );
}

/// The run lock in a bucket: held by a live run (here: this test process,
/// on this host) it stops a second run with the lock's exit code; left by
/// a process that has gone, or by another host that stopped sending
/// heartbeats, it is taken over; a lock that cannot be read is named.
#[test]
fn the_run_lock_in_a_bucket_is_held_taken_over_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("moto.log"));
    let warehouse = format!("s3://{BUCKET}/locked/warehouse");
    let key = "locked/warehouse/_peerbench.lock";
    let put_lock = |body: &str| {
        s3.boto(&format!(
            "s3.put_object(Bucket={BUCKET:?}, Key={key:?}, Body={body:?}.encode())"
        ));
    };
    let ingest = || s3.peerbench(&["ingest", "pipelines/demo.toml", "--warehouse", &warehouse]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let me = std::process::id();
    let my_start: String = {
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(19).unwrap().to_string()
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let lock = |host: &str, pid: u32, start: &str, beat: &str| {
        format!(
            r#"{{"run_id":"held-by-test","host":"{host}","pid":{pid},"process_start":{start},"started":"2026-01-01T00:00:00Z","heartbeat":"{beat}","command":"run"}}"#
        )
    };

    // A live holder on this host: refused, naming it, with exit code 75.
    put_lock(&lock(&host, me, &my_start, &now));
    let o = ingest();
    assert_eq!(o.status.code(), Some(75), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("run held-by-test (peerbench run, pid ")
            && stderr(&o).contains("lock_stale_after"),
        "{}",
        stderr(&o)
    );
    // A live holder on another host with a fresh heartbeat: refused too.
    put_lock(&lock("another-host", 1, "1", &now));
    assert_eq!(ingest().status.code(), Some(75));

    // A holder on this host that has gone: taken over, and the load runs.
    put_lock(&lock(&host, u32::MAX - 1, "1", &now));
    let o = ingest();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("took over the warehouse lock"),
        "{}",
        stderr(&o)
    );
    // Released at the end of the run.
    let listing = s3.boto(&format!(
        "print([o['Key'] for o in s3.list_objects_v2(Bucket={BUCKET:?}, Prefix={key:?}).get('Contents', [])])"
    ));
    assert_eq!(listing.trim(), "[]", "the lock must be released");

    // Another host, no heartbeat for over the limit (10 minutes): taken over.
    put_lock(&lock("another-host", 1, "1", "2026-01-01T00:00:00Z"));
    let o = ingest();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("sent no heartbeat for more than 600 s"),
        "{}",
        stderr(&o)
    );

    // A hand-edited lock that cannot be read: named, exit non-zero.
    put_lock("not json");
    let o = ingest();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("_peerbench.lock cannot be read")
            && stderr(&o).contains("delete it and run again"),
        "{}",
        stderr(&o)
    );
}
