//! What one night's SQL may cost: a time limit per indicator, and a memory
//! limit (with spilling to disk) for the session the indicators run in.
//!
//! The session refuses recursive queries (`WITH RECURSIVE`): an indicator is
//! an aggregate per practice and period, which never needs recursion, and a
//! recursive CTE whose stop condition is wrong never ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, PeakRecordingPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::IndicatorError;

/// The default time limit per indicator: the slowest national-scale
/// indicator took 131 s in a dev build on a busy 2-core machine (a release
/// build is several times faster).
pub const DEFAULT_INDICATOR_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The default memory limit of the queries' pool, unless the machine has
/// less than twice as much: 4 GB. At national scale the two standardised
/// admission indicators need about 1 GB of it without spilling (2 GB makes
/// them spill, costing 1.7 times the CPU); every other indicator under 250 MB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

/// [`DEFAULT_MEMORY_LIMIT`], or half the memory of the machine (or of the
/// container it runs in) if that is less, in whole MB.
pub fn default_memory_limit() -> u64 {
    let half = machine_memory().map_or(u64::MAX, |m| ((m / 2) >> 20) << 20);
    DEFAULT_MEMORY_LIMIT.min(half).max(64 << 20)
}

/// The memory this process may use: the machine's (Linux `MemTotal`), or
/// its cgroup's limit (v2 or v1) when that is less. None elsewhere.
fn machine_memory() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let total = read("/proc/meminfo").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|kb| kb << 10)
    });
    // "max" (v2) does not parse; v1's "no limit" is a huge number.
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .into_iter()
    .find_map(|p| read(p).and_then(|t| t.trim().parse::<u64>().ok()));
    [total, cgroup].into_iter().flatten().min()
}

/// Limits on the SQL the pipeline runs for indicators (and `query`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Each indicator query (planning, running, collecting) must finish
    /// within this; otherwise it is stopped and the indicator fails.
    pub indicator_timeout: Duration,
    /// Bytes DataFusion's operators may hold at once (sorts, aggregates,
    /// joins); sorts and aggregates spill to disk beyond their share.
    pub memory_limit: u64,
    /// Where spill files go (a folder is created inside it per run and
    /// removed afterwards); None: the system's temporary folder.
    pub spill_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            indicator_timeout: DEFAULT_INDICATOR_TIMEOUT,
            memory_limit: default_memory_limit(),
            spill_dir: None,
        }
    }
}

impl Limits {
    /// A DataFusion session bounded by these limits: a fair-spill memory pool
    /// of `memory_limit` bytes, spill files in `spill_dir`, and recursive
    /// queries refused.
    ///
    /// The pool is a [`FairSpillPool`]: an indicator query has several
    /// operators that can spill (aggregates, sorts, windows — in each of the
    /// partitions), and this pool gives each an equal share of what the
    /// unspillable ones (hash-join build sides) leave, so each spills when
    /// it reaches its share. A greedy pool lets the first one take the whole
    /// pool, and a later one in the same query then fails instead of
    /// spilling. The pool records its peak, which each indicator's log
    /// line reports (`-v`).
    pub fn session(&self) -> Result<SessionContext, IndicatorError> {
        let pool = usize::try_from(self.memory_limit).unwrap_or(usize::MAX);
        let disk = match &self.spill_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| IndicatorError::SpillDir {
                    path: dir.clone(),
                    source,
                })?;
                DiskManagerMode::Directories(vec![dir.clone()])
            }
            None => DiskManagerMode::OsTmpDirectory,
        };
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(PeakRecordingPool::new(Arc::new(
                FairSpillPool::new(pool),
            ))))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(disk))
            .build_arc()
            .map_err(|source| IndicatorError::Runtime {
                spill_dir: self.spill_dir.clone(),
                source,
            })?;
        let mut config = SessionConfig::new();
        config.options_mut().execution.enable_recursive_ctes = false;
        Ok(SessionContext::new_with_config_rt(config, runtime))
    }
}

/// A duration as people write it: `90s`, `10m`, `1h`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration: write a number and a unit, e.g. \"90s\", \"10m\" or \"1h\""
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let millis = match &rest[..unit_len].to_ascii_lowercase()[..] {
            "ms" => 1.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1e3,
            "m" | "min" | "mins" | "minute" | "minutes" => 60e3,
            "h" | "hr" | "hour" | "hours" => 3600e3,
            _ => return Err(bad()),
        };
        let millis = (value * millis).round();
        if !(millis.is_finite() && millis < 1e15) {
            return Err(bad());
        }
        total += Duration::from_millis(millis as u64);
        rest = rest[unit_len..].trim_start();
    }
    if total.is_zero() {
        return Err(format!("{text:?}: a time limit must be more than zero"));
    }
    Ok(total)
}

/// A duration the way [`parse_duration`] reads it: `10m`, `90s`, `1h30m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

const UNITS: [(&str, u64); 5] = [
    ("B", 1),
    ("KB", 1 << 10),
    ("MB", 1 << 20),
    ("GB", 1 << 30),
    ("TB", 1 << 40),
];

/// A size as people write it: `512MB`, `2GB`, `1.5G`, `64MiB`. Units are
/// powers of 1,024 (as DataFusion, Docker and the JVM count them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad =
        || format!("{text:?} is not a size: write a number and a unit, e.g. \"512MB\" or \"2GB\"");
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let value: f64 = s[..split].parse().map_err(|_| bad())?;
    let unit = s[split..].trim().to_ascii_uppercase().replace("IB", "B");
    let unit = if unit.len() == 1 && unit != "B" {
        format!("{unit}B")
    } else {
        unit
    };
    let scale = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, n)| *n)
        .ok_or_else(bad)?;
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?}: a memory limit must be more than zero"));
    }
    Ok(bytes as u64)
}

/// A size the way [`parse_size`] reads it, in the largest whole unit.
pub fn format_size(bytes: u64) -> String {
    UNITS
        .iter()
        .rev()
        .find(|(_, n)| bytes.is_multiple_of(*n))
        .map_or_else(|| format!("{bytes}B"), |(u, n)| format!("{}{u}", bytes / n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Indicator, IndicatorError, run_indicator};
    use arrow::record_batch::RecordBatch;
    use std::path::Path;
    use std::sync::mpsc;
    use std::time::Instant;

    const META: &str = "/*\nid = \"x\"\ntitle = \"x\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"x\"\n*/\n";

    fn indicator(sql: &str) -> Indicator {
        Indicator::parse(Path::new("x.sql"), &format!("{META}{sql}")).unwrap()
    }

    /// A cross join of a million rows with a million: 10¹² rows, which
    /// DataFusion makes 8,192 at a time from each row of one side, without
    /// reading its inputs (so without its own yield points).
    const ENDLESS: &str = "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, max(a.value + b.value) AS numerator, 1 AS denominator\nFROM generate_series(1, 1000000) a CROSS JOIN generate_series(1, 1000000) b";

    /// Runs `f` on its own thread and fails if it has not finished in `secs`
    /// (a query that ignores its time limit would otherwise hang the test).
    fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("still running after {secs}s"))
    }

    /// CPU seconds used so far by the threads whose name starts with `prefix`
    /// (tokio names its workers), from /proc.
    #[cfg(target_os = "linux")]
    fn cpu_seconds(prefix: &str) -> f64 {
        let mut ticks = 0u64;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            if !stat[open + 1..close].starts_with(prefix) {
                continue;
            }
            let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
            // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
            ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
        ticks as f64 / 100.0
    }

    /// Half a million groups, then a sort of half a million rows: both
    /// spill under a small limit.
    const HEAVY: &str = "SELECT 'P' || CAST(k AS VARCHAR) AS practice_code, DATE '2026-09-01' AS period, sum(CASE WHEN r % 3 = 0 THEN n ELSE 0 END) AS numerator, sum(n) AS denominator\nFROM (SELECT k, n, row_number() OVER (PARTITION BY k ORDER BY v DESC) AS r FROM (SELECT value % 1000 AS k, value AS v, count(*) AS n FROM generate_series(1, 500000) GROUP BY value))\nGROUP BY k";

    /// A session within `limits`, with two partitions whatever the machine
    /// (each sort keeps 10 MB per partition for merging its spill files).
    async fn session(limits: &Limits) -> SessionContext {
        let ctx = limits.session().unwrap();
        ctx.sql("SET datafusion.execution.target_partitions = 2")
            .await
            .unwrap();
        ctx
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sorts_and_aggregates_spill_under_a_small_limit_with_the_same_result() {
        let heavy = indicator(HEAVY);
        let (free, spill) = crate::execute(&session(&Limits::default()).await, &heavy)
            .await
            .unwrap();
        assert_eq!(spill, (0, 0), "nothing spills within the default limit");
        let small = Limits {
            memory_limit: 40 << 20,
            spill_dir: Some(tempfile::tempdir().unwrap().path().join("spill")),
            ..Limits::default()
        };
        let (bounded, (bytes, files)) = crate::execute(&session(&small).await, &heavy)
            .await
            .unwrap();
        assert!(
            bytes > 4 << 20 && files > 1,
            "spilled {bytes} bytes in {files} files"
        );
        let text = |b: &[RecordBatch]| {
            let table = arrow::util::pretty::pretty_format_batches(b)
                .unwrap()
                .to_string();
            let mut lines: Vec<String> = table.lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        assert_eq!(text(&bounded.batches), text(&free.batches));
        assert_eq!(
            bounded
                .batches
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>(),
            1000
        );
    }

    #[tokio::test]
    async fn a_join_that_outgrows_the_limit_fails_naming_it() {
        let limits = Limits {
            memory_limit: 16 << 20,
            ..Limits::default()
        };
        let ctx = session(&limits).await;
        let hog = indicator(
            "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, max(a.value + b.value) AS numerator, 1 AS denominator\nFROM generate_series(1, 3000000) a CROSS JOIN generate_series(1, 3000000) b",
        );
        let err = run_indicator(&ctx, &hog, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(matches!(err, IndicatorError::OutOfMemory { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("x.sql: needed more memory than memory_limit (16MB) allows")
                && text.contains("CrossJoinExec")
                && !text.contains('\n'),
            "{text}"
        );
    }

    #[tokio::test]
    async fn recursion_is_refused_where_it_is_written() {
        let ctx = Limits::default().session().unwrap();
        let endless = indicator(
            "WITH dates AS (SELECT 1 AS n),\n  -- counts up for ever\n  t AS (SELECT 1)\nSELECT * FROM (WITH  RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)\n  SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, max(n) AS numerator, 1 AS denominator FROM c)",
        );
        let err = run_indicator(&ctx, &endless, Duration::from_secs(60))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, format!("x.sql:15:22: {}", crate::RECURSION_REFUSED));
        let problems = crate::check_indicator(&ctx, &endless, &[]).await;
        assert_eq!(
            problems
                .iter()
                .map(|p| (p.line, p.column, p.message.as_str()))
                .collect::<Vec<_>>(),
            vec![(15, 22, crate::RECURSION_REFUSED)]
        );
        // What the message suggests instead works.
        let months = indicator(
            "SELECT 'A81001' AS practice_code, CAST(value AS DATE) AS period, 1 AS numerator, 2 AS denominator\nFROM generate_series(DATE '2025-04-01', DATE '2026-03-01', INTERVAL '1 month')",
        );
        let rows = run_indicator(&ctx, &months, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(rows.len(), 12);
        assert_eq!(
            (rows[0].period.as_str(), rows[11].period.as_str()),
            ("2025-04", "2026-03")
        );
    }

    #[test]
    fn a_cpu_bound_query_is_stopped_at_its_time_limit_on_one_thread() {
        // A current-thread runtime: the timer only fires if the query yields.
        let err = within(60, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let ctx = Limits::default().session().unwrap();
                let started = Instant::now();
                let err = run_indicator(&ctx, &indicator(ENDLESS), Duration::from_millis(1500))
                    .await
                    .unwrap_err();
                (err, started.elapsed())
            })
        });
        assert!(matches!(err.0, IndicatorError::Timeout { .. }), "{}", err.0);
        assert!(err.1 < Duration::from_secs(4), "stopped after {:?}", err.1);
        assert_eq!(
            err.0.to_string().split(", so").next().unwrap(),
            "x.sql: did not finish within 1500ms (indicator_timeout)"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_timed_out_query_stops_burning_cpu() {
        let (err, took, busy, idle) = within(90, || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("pb-limits-cpu")
                .enable_all()
                .build()
                .unwrap();
            let outcome = rt.block_on(async {
                let ctx = Limits::default().session().unwrap();
                let started = Instant::now();
                let before = cpu_seconds("pb-limits-cpu");
                let err = run_indicator(&ctx, &indicator(ENDLESS), Duration::from_secs(2))
                    .await
                    .unwrap_err();
                let took = started.elapsed();
                let busy = cpu_seconds("pb-limits-cpu") - before;
                // Give dropped tasks a moment to notice, then watch the workers.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let before = cpu_seconds("pb-limits-cpu");
                tokio::time::sleep(Duration::from_secs(2)).await;
                (err, took, busy, cpu_seconds("pb-limits-cpu") - before)
            });
            // Dropping the runtime waits for its workers: it would hang on a
            // task that never yields.
            drop(rt);
            outcome
        });
        assert!(matches!(err, IndicatorError::Timeout { .. }), "{err}");
        assert!(took < Duration::from_secs(4), "stopped after {took:?}");
        eprintln!("workers: {busy:.2}s of CPU in the query's {took:?}, {idle:.2}s in the 2s after");
        assert!(busy > 0.5, "the query was not working: {busy:.2}s of CPU");
        assert!(
            idle < 0.1,
            "the workers used {idle:.2}s of CPU after the time limit"
        );
    }

    #[test]
    fn durations_read_and_print_as_written() {
        for (text, secs) in [
            ("90s", 90.0),
            ("10m", 600.0),
            ("1h", 3600.0),
            ("1h30m", 5400.0),
            ("1h 30m", 5400.0),
            ("2 min", 120.0),
            ("500ms", 0.5),
            ("1.5m", 90.0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for text in ["", "10", "ten minutes", "10x", "0s", "m"] {
            assert!(parse_duration(text).is_err(), "{text} was accepted");
        }
        for text in ["90s", "10m", "1h", "1h30m", "500ms", "1h0m5s"] {
            let back = format_duration(parse_duration(text).unwrap());
            assert_eq!(parse_duration(&back), parse_duration(text));
        }
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3605)), "1h5s");
    }

    #[test]
    fn the_default_memory_limit_fits_the_machine() {
        let limit = default_memory_limit();
        assert!(
            ((64 << 20)..=DEFAULT_MEMORY_LIMIT).contains(&limit),
            "{limit}"
        );
        assert!(limit.is_multiple_of(1 << 20));
        if let Some(m) = machine_memory() {
            assert!(limit <= m / 2, "{limit} of {m}");
        }
    }

    #[test]
    fn sizes_read_and_print_as_written() {
        for (text, bytes) in [
            ("2GB", 2u64 << 30),
            ("2G", 2 << 30),
            ("2 GiB", 2 << 30),
            ("512mb", 512 << 20),
            ("1.5GB", 1536 << 20),
            ("64KB", 64 << 10),
            ("100B", 100),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for text in ["", "2048", "2 gigs", "0MB", "GB", "-1GB"] {
            assert!(parse_size(text).is_err(), "{text} was accepted");
        }
        assert_eq!(format_size(2 << 30), "2GB");
        assert_eq!(format_size(1536 << 20), "1536MB");
        assert_eq!(format_size(1000), "1000B");
    }
}
