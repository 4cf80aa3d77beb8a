//! `peerbench`: benchmark general practices against their peers.
//!
//! A thin shell over the library crates: parse arguments, set up logging,
//! call the pipeline, turn errors into one clear message and an exit code.

mod metrics;
mod observe;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use peerbench_pipeline::{Outcome, Pipeline};
use peerbench_synth::{Month, Preset, SynthOptions};

#[derive(Parser)]
#[command(
    name = "peerbench",
    version,
    about = "Benchmark general practices against their peers: load extracts into a Delta Lake warehouse, compute SQL indicators with DataFusion, publish reports."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// How log lines on stderr are written: text for people, or json (one
    /// object per line, with the run id and stage) for log shippers.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: observe::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline: ingest, indicators, comparison, reports.
    Run(RunArgs),
    /// The latest runs recorded in the warehouse's `runs` table: when, how
    /// each ended, rows loaded and set aside, indicators that failed.
    Runs {
        pipeline: PathBuf,
        /// Use this warehouse (a folder, or s3://bucket/prefix) instead of the pipeline's `warehouse`.
        #[arg(long)]
        warehouse: Option<String>,
        /// How many runs to list, newest first.
        #[arg(long, default_value_t = 10)]
        last: usize,
    },
    /// Load the pipeline's extracts into its warehouse and print a summary.
    Ingest {
        pipeline: PathBuf,
        /// Use this warehouse (a folder, or s3://bucket/prefix) instead of the pipeline's `warehouse`.
        #[arg(long)]
        warehouse: Option<String>,
        /// Write the load's metrics to this file (Prometheus text format, for
        /// node_exporter's textfile collector), whether it succeeds or fails.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// If another run holds the warehouse, wait up to this long for it
        /// (e.g. 10m) instead of exiting 75 at once.
        #[arg(long, value_parser = peerbench_pipeline::parse_duration)]
        wait_for_lock: Option<Duration>,
        /// Stop the load, exit 1, if it has not finished after this long,
        /// e.g. 2h (default: the pipeline's [limits] run_timeout, or 6h).
        #[arg(long, value_parser = peerbench_pipeline::parse_duration)]
        run_timeout: Option<Duration>,
    },
    /// Run read-only SQL against the pipeline's warehouse and print a table.
    Query {
        pipeline: PathBuf,
        /// Use this warehouse (a folder, or s3://bucket/prefix) instead of the pipeline's `warehouse`.
        #[arg(long)]
        warehouse: Option<String>,
        /// The SQL, e.g. "SELECT count(*) FROM appointments".
        sql: String,
        #[command(flatten)]
        memory: MemoryArgs,
    },
    /// The analysts' indicator catalogue: list, check, scaffold.
    Indicators {
        #[command(subcommand)]
        command: IndicatorCommand,
    },
    /// Generate a synthetic federation or nation with planted ground truth.
    Synth {
        /// federation (about 34 practices, 24 months) or national (about 6,300 practices).
        #[arg(long, default_value = "federation")]
        preset: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Override the preset's number of practices.
        #[arg(long)]
        practices: Option<usize>,
        /// Override the preset's number of months.
        #[arg(long)]
        months: Option<usize>,
        /// The latest month, as YYYY-MM.
        #[arg(long)]
        last_month: Option<String>,
        /// Override the number of planted outliers, shifts and trends.
        #[arg(long)]
        outliers: Option<usize>,
        #[arg(long)]
        shifts: Option<usize>,
        #[arg(long)]
        trends: Option<usize>,
    },
}

/// `peerbench run`'s arguments.
#[derive(clap::Args)]
struct RunArgs {
    /// The pipeline file, e.g. pipelines/demo.toml.
    pipeline: PathBuf,
    /// Where to publish the reports (default: the pipeline's `output`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use this warehouse (a folder, or s3://bucket/prefix) instead of the pipeline's `warehouse`.
    #[arg(long)]
    warehouse: Option<String>,
    /// Stop an indicator that has not finished after this long, e.g. 10m or 90s
    /// (default: the pipeline's [limits] indicator_timeout, or 10m).
    #[arg(long, value_parser = peerbench_pipeline::parse_duration)]
    indicator_timeout: Option<Duration>,
    /// Stop the whole run, exit 1, if it has not finished after this long,
    /// e.g. 2h (default: the pipeline's [limits] run_timeout, or 6h).
    #[arg(long, value_parser = peerbench_pipeline::parse_duration)]
    run_timeout: Option<Duration>,
    #[command(flatten)]
    memory: MemoryArgs,
    /// Write the run's metrics to this file (Prometheus text format, for
    /// node_exporter's textfile collector), whatever its outcome (not
    /// with --dry-run, which changes nothing).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Run and publish even when nothing changed since the last
    /// successful publication (otherwise that exits 99 at once).
    #[arg(long)]
    force: bool,
    /// Print what the run would do (sources to load and why, indicators
    /// to compute, where it would publish) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// If another run holds the warehouse, wait up to this long for it
    /// (e.g. 10m) instead of exiting 75 at once.
    #[arg(long, value_parser = peerbench_pipeline::parse_duration)]
    wait_for_lock: Option<Duration>,
    /// Compute and publish only these indicators (id, tag:<tag> or
    /// domain:<domain>; repeatable), into --out or <output>-select,
    /// never the board's publication: for trying a change.
    #[arg(long)]
    select: Vec<String>,
    /// Compute every indicator now, reusing no earlier output (by
    /// default an indicator none of whose tables changed since it was
    /// last computed is read back, with the same results).
    #[arg(long)]
    full: bool,
    /// Make an earlier run's publication again (`peerbench runs` lists
    /// run ids), from the table versions and the SQL its record holds,
    /// into --out or <output>-as-of-<run>; loads nothing.
    #[arg(long, value_name = "RUN")]
    as_of: Option<String>,
    /// Where the indicator SQL runs: local (DataFusion in this process)
    /// or ballista://host:port (an Apache DataFusion Ballista scheduler;
    /// needs a build with --features ballista; docs/scale.md). Default:
    /// the pipeline's `engine`, or local.
    #[arg(long, value_parser = peerbench_pipeline::Engine::parse)]
    engine: Option<peerbench_pipeline::Engine>,
}

/// The memory the SQL may use; both override the pipeline's [limits].
#[derive(clap::Args)]
struct MemoryArgs {
    /// Memory the queries' sorts, aggregates and joins may hold, e.g. 4GB or
    /// 512MB (default: the pipeline's [limits] memory_limit, or 4GB, at most
    /// half the machine's memory).
    #[arg(long, value_parser = peerbench_pipeline::parse_size)]
    memory_limit: Option<u64>,
    /// Folder for the files sorts and aggregates spill to beyond that
    /// (default: the pipeline's [limits] spill_dir, or the system's temporary folder).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
}

impl MemoryArgs {
    fn apply(self, p: &mut Pipeline) {
        if let Some(m) = self.memory_limit {
            p.limits.memory_limit = m;
        }
        if let Some(d) = self.spill_dir {
            p.limits.spill_dir = Some(d);
        }
    }
}

#[derive(Subcommand)]
enum IndicatorCommand {
    /// List the indicators with their domain, type and polarity.
    List {
        pipeline: PathBuf,
        /// Select by id, tag:<tag> or domain:<domain> (repeatable).
        #[arg(long)]
        select: Vec<String>,
    },
    /// Check metadata and plan each query against the warehouse schema,
    /// without running it. Exits 1 if any indicator has a problem.
    Check {
        pipeline: PathBuf,
        #[arg(long)]
        select: Vec<String>,
        /// Use this warehouse (a folder, or s3://bucket/prefix) instead of the pipeline's `warehouse`.
        #[arg(long)]
        warehouse: Option<String>,
    },
    /// Run each indicator on the fixture rows in its <id>.test.toml and compare
    /// with the expected numerators and denominators. Exits 1 on any failure
    /// or missing fixture.
    Test {
        pipeline: PathBuf,
        #[arg(long)]
        select: Vec<String>,
    },
    /// Write the indicator catalogue page (indicators.html); `run` also
    /// publishes it beside the reports.
    Docs {
        pipeline: PathBuf,
        /// Folder to write into (default: the pipeline's output folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a new indicator file with every metadata field to fill in.
    New {
        pipeline: PathBuf,
        /// The indicator id (lower-case, underscores), also the file name.
        id: String,
        /// demand, patient_experience, demographics, prescribing or clinical.
        #[arg(long)]
        domain: String,
    },
}

fn main() -> ExitCode {
    // Output piped into `head` (or a closed pager) ends the program quietly,
    // as other command-line tools do, rather than as a panic.
    #[cfg(unix)]
    // SAFETY: restoring the default action for SIGPIPE before any thread
    // starts; no handler of ours is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    observe::init(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            observe::error_line(
                &format!("cannot start the async runtime: {e}"),
                EXIT_RUN_FAILED,
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Exits 3 and 99 have said what happened already.
            if !failure.message.is_empty() {
                observe::error_line(&failure.message, failure.code);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Exit codes, documented in docs/operations.md: 0 success; 1 the run failed
/// (bad or missing input, an indicator error, a write error) and nothing new
/// was published; 2 the command line or the pipeline file is wrong; 3
/// published with failed indicators; 75 another run holds the lock; 99
/// nothing new to do.
const EXIT_RUN_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
/// Another run holds the warehouse lock: this one did nothing. 75 is
/// sysexits' EX_TEMPFAIL ("try again later"), which schedulers and mail
/// agents read as transient.
const EXIT_LOCKED: u8 = 75;
/// Published, but some indicators failed and are named on the board page
/// as not computed (`on_indicator_error = "publish_rest"`): alert someone.
const EXIT_PUBLISHED_WITH_FAILURES: u8 = 3;
/// Nothing changed since the last successful publication, which stands.
/// 99 is what Airflow's BashOperator reads as "skipped"; systemd units list
/// it in SuccessExitStatus (docs/operations.md).
const EXIT_NOTHING_NEW: u8 = 99;

struct Failure {
    code: u8,
    message: String,
}

fn usage(message: String) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message,
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            code: EXIT_RUN_FAILED,
            message,
        }
    }
}

impl From<peerbench_pipeline::PipelineError> for Failure {
    fn from(e: peerbench_pipeline::PipelineError) -> Failure {
        let code = if e.is_configuration() {
            EXIT_USAGE
        } else if e.is_lock_held() {
            EXIT_LOCKED
        } else {
            EXIT_RUN_FAILED
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

/// One arm per subcommand (the long ones call functions of their own).
async fn execute(command: Command) -> Result<(), Failure> {
    match command {
        Command::Run(args) => run(args).await,
        Command::Runs {
            pipeline,
            warehouse,
            last,
        } => {
            let p = load(&pipeline, warehouse)?;
            for line in p.runs(last).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Ingest {
            pipeline,
            warehouse,
            metrics,
            wait_for_lock,
            run_timeout,
        } => {
            let started = Instant::now();
            let mut deadline = None;
            let outcome = async {
                let mut p = load(&pipeline, warehouse)?;
                p.lock_wait = wait_for_lock.unwrap_or_default();
                // A scheduled load on its own is held to the run's limit,
                // for the same reason (a hang must not hold the lock).
                let limit = run_timeout.unwrap_or(p.run_timeout);
                deadline = Some(Deadline::arm(limit, {
                    let (metrics, pipeline) = (metrics.clone(), pipeline.clone());
                    move || {
                        let message = past_the_limit("load", limit);
                        if let Some(path) = &metrics {
                            let m = metrics::Metrics::new(
                                "ingest",
                                &pipeline,
                                EXIT_RUN_FAILED,
                                started.elapsed(),
                            );
                            write_metrics(&m, path);
                        }
                        stop(&message)
                    }
                }));
                Ok::<_, Failure>(p.ingest().await?)
            }
            .await;
            drop(deadline);
            observe::finish_progress();
            if let Some(path) = &metrics {
                let code = outcome.as_ref().err().map_or(0, |f| f.code);
                let took = started.elapsed();
                let mut m = metrics::Metrics::new("ingest", &pipeline, code, took);
                if let Ok(s) = &outcome {
                    m.ingest(s);
                    // The whole command is its one stage.
                    m.stages = vec![("ingest".to_string(), took.as_secs_f64())];
                }
                write_metrics(&m, path);
            }
            let summary = outcome?;
            print_ingest(&summary);
            for q in summary.quarantined.iter().take(20) {
                println!(
                    "  {}:{}: [{}] {}",
                    q.file,
                    q.line,
                    q.check.as_str(),
                    q.reason
                );
            }
            if summary.quarantined.len() > 20 {
                println!(
                    "  … and {} more (SELECT * FROM quarantine)",
                    summary.quarantined.len() - 20
                );
            }
            Ok(())
        }
        Command::Query {
            pipeline,
            sql,
            warehouse,
            memory,
        } => {
            let mut p = load(&pipeline, warehouse)?;
            memory.apply(&mut p);
            let batches = p.query(&sql).await?;
            let table =
                arrow::util::pretty::pretty_format_batches(&batches).map_err(|e| e.to_string())?;
            println!("{table}");
            Ok(())
        }
        Command::Indicators { command } => indicators(command).await,
        Command::Synth {
            preset,
            seed,
            out,
            practices,
            months,
            last_month,
            outliers,
            shifts,
            trends,
        } => {
            let preset = Preset::parse(&preset).ok_or_else(|| {
                usage(format!(
                    "unknown preset {preset:?}: use federation or national"
                ))
            })?;
            let mut options = SynthOptions::preset(preset, seed);
            if let Some(n) = practices {
                options.practices = n;
            }
            if let Some(m) = months {
                options.months = m;
            }
            if let Some(m) = last_month {
                options.last_month = Month::parse(&m)
                    .ok_or_else(|| usage(format!("--last-month {m:?} is not YYYY-MM")))?;
            }
            options.outliers = outliers.unwrap_or(options.outliers);
            options.shifts = shifts.unwrap_or(options.shifts);
            options.trends = trends.unwrap_or(options.trends);
            let started = Instant::now();
            let summary = peerbench_synth::generate(&options, &out).map_err(|e| e.to_string())?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "Wrote {} files, {} rows, {:.1} MB for {} practices with {} planted effects into {} in {:.1}s ({:.0} rows/s, {:.1} MB/s).",
                summary.files,
                summary.rows,
                summary.bytes as f64 / 1e6,
                summary.practices,
                summary.plants,
                out.display(),
                secs,
                summary.rows as f64 / secs.max(1e-9),
                summary.bytes as f64 / 1e6 / secs.max(1e-9)
            );
            Ok(())
        }
    }
}

/// `peerbench run`: the run (or dry run, or `--as-of`), its metrics
/// file, and the summary on stdout.
async fn run(args: RunArgs) -> Result<(), Failure> {
    let RunArgs {
        pipeline,
        out,
        warehouse,
        indicator_timeout,
        run_timeout,
        memory,
        metrics,
        force,
        dry_run,
        wait_for_lock,
        select,
        full,
        as_of,
        engine,
    } = args;
    let started = Instant::now();
    let options = peerbench_pipeline::RunOptions {
        out,
        force,
        select,
        full,
        as_of,
    };
    // A pipeline file that cannot be loaded is in the metrics too
    // (exit 2); a dry run changes nothing, the metrics file included.
    let outcome = match load(&pipeline, warehouse) {
        Ok(mut p) => {
            p.lock_wait = wait_for_lock.unwrap_or_default();
            if let Some(e) = engine {
                p.engine = e;
            }
            if let Some(t) = indicator_timeout {
                p.limits.indicator_timeout = t;
            }
            memory.apply(&mut p);
            if dry_run {
                for line in p.dry_run(&options).await? {
                    println!("{line}");
                }
                return Ok(());
            }
            let limit = run_timeout.unwrap_or(p.run_timeout);
            let _deadline = Deadline::arm(limit, {
                let (metrics, pipeline) = (metrics.clone(), pipeline.clone());
                move || {
                    let message = past_the_limit("run", limit);
                    if let Some(path) = &metrics {
                        let stopped = Err(Failure::from(message.clone()));
                        write_run_metrics(path, &pipeline, &stopped, started.elapsed());
                    }
                    stop(&message)
                }
            });
            p.run_with(&options).await.map_err(Failure::from)
        }
        Err(f) => Err(f),
    };
    observe::finish_progress();
    if let Some(path) = &metrics {
        write_run_metrics(path, &pipeline, &outcome, started.elapsed());
    }
    print_run(&outcome?, options.as_of.as_deref(), started)
}

/// What a run (or load) stopped at its time limit says.
fn past_the_limit(what: &str, limit: Duration) -> String {
    format!(
        "the {what} did not finish within {} (run_timeout under [limits], or --run-timeout) and was stopped; the last publication stands, and the next run takes over its lock. Run with -v to see the stage it was in",
        peerbench_pipeline::format_duration(limit)
    )
}

/// Ends the process as a failed run, from the deadline's thread.
fn stop(message: &str) -> ! {
    observe::error_line(message, EXIT_RUN_FAILED);
    std::process::exit(i32::from(EXIT_RUN_FAILED));
}

/// A run's time limit: when it passes, `expired` runs on a thread of its
/// own and ends the process. A hang anywhere (a query, a thread waiting on
/// another, a stalled store) must end a nightly run with an error and its
/// metrics, not hold the warehouse until someone looks; the async runtime
/// cannot stop a thread that never yields, so this does not rely on it.
/// Ending at any moment is safe: a publication is swapped in whole, loads
/// commit atomically, and the lock goes with the process (docs/operations.md).
/// Dropping it disarms it.
struct Deadline {
    _armed: std::sync::mpsc::Sender<()>,
}

impl Deadline {
    fn arm(limit: Duration, expired: impl FnOnce() + Send + 'static) -> Deadline {
        let (armed, finished) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            // The sender is dropped when the run finishes: Disconnected.
            if finished.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                expired();
            }
        });
        Deadline { _armed: armed }
    }
}

/// The metrics file of a run, whatever its outcome.
fn write_run_metrics(
    path: &Path,
    pipeline: &Path,
    outcome: &Result<peerbench_pipeline::RunSummary, Failure>,
    took: Duration,
) {
    let code = match outcome {
        Err(f) => f.code,
        Ok(s) => match s.outcome {
            Outcome::Success => 0,
            Outcome::PublishedWithFailures => EXIT_PUBLISHED_WITH_FAILURES,
            Outcome::NothingNew => EXIT_NOTHING_NEW,
            Outcome::Failed => EXIT_RUN_FAILED,
        },
    };
    let mut m = metrics::Metrics::new("run", pipeline, code, took);
    if let Ok(s) = outcome {
        m.ingest(&s.ingest);
        m.stages = s
            .manifest
            .stage_seconds
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        m.outliers = s.outliers.clone();
    }
    write_metrics(&m, path);
}

/// A run's summary on stdout, and its exit code: 99 when there was
/// nothing new, 3 when it published without failed indicators.
fn print_run(
    summary: &peerbench_pipeline::RunSummary,
    as_of: Option<&str>,
    started: Instant,
) -> Result<(), Failure> {
    if let Some(past) = as_of {
        println!(
            "Run {past} made again from its table versions and recorded SQL; nothing was loaded. The loads in effect then:"
        );
    }
    print_ingest(&summary.ingest);
    let Some(published) = &summary.published else {
        let since = summary.nothing_new_since.as_ref();
        println!(
            "Nothing new: the extracts, indicators and settings are those of run {} ({}), whose publication stands. --force runs anyway.",
            since.map_or("?", |m| m.run_id.as_str()),
            since.map_or("?", |m| m.ended.as_str())
        );
        return Err(Failure {
            code: EXIT_NOTHING_NEW,
            message: String::new(),
        });
    };
    let reused = summary
        .manifest
        .indicators
        .iter()
        .filter(|i| i.status == "reused")
        .count();
    println!(
        "Computed {} indicators{}: {} result rows, {} practice pages (run {}, {:.1}s).",
        summary.indicators,
        if reused > 0 {
            format!(" ({reused} reused: no table they read had changed)")
        } else {
            String::new()
        },
        published.result_rows,
        published.practice_pages,
        summary.run_id,
        started.elapsed().as_secs_f64()
    );
    println!(
        "Published {} pages, their CSVs and the Excel workbook in {:.1}s ({:.0} pages/s){}.",
        published.pages,
        published.seconds,
        published.pages as f64 / published.seconds.max(1e-9),
        match published.reused {
            r if r.linked == 0 => String::new(),
            r => format!(
                "; {} of {} files were the same as last time, linked rather than written again \
                 ({} of them not even made again, as nothing in them had changed)",
                r.linked,
                r.linked + r.written,
                r.not_made
            ),
        }
    );
    println!("Board report: {}", published.index.display());
    println!("Quarantined rows: {}", summary.quarantine_csv.display());
    println!(
        "Run record: {} (run {})",
        published.index.with_file_name("run.json").display(),
        summary.manifest.run_id
    );
    if !summary.not_computed.is_empty() {
        let names: Vec<String> = summary
            .not_computed
            .iter()
            .map(|n| format!("  - {}: {}", n.id, n.reason))
            .collect();
        observe::warning_line(
            &format!(
                "published without {} indicator(s) that failed (named on the board page as not computed tonight):\n{}",
                summary.not_computed.len(),
                names.join("\n")
            ),
            EXIT_PUBLISHED_WITH_FAILURES,
        );
        return Err(Failure {
            code: EXIT_PUBLISHED_WITH_FAILURES,
            message: String::new(),
        });
    }
    Ok(())
}

/// `peerbench indicators …`: one arm per subcommand.
async fn indicators(command: IndicatorCommand) -> Result<(), Failure> {
    match command {
        IndicatorCommand::List { pipeline, select } => {
            let p = load(&pipeline, None)?;
            let picked = p.indicators(&select)?;
            println!(
                "{:<34} {:<19} {:<11} {:<13} title",
                "id", "domain", "type", "polarity"
            );
            for i in &picked {
                println!(
                    "{:<34} {:<19} {:<11} {:<13} {}{}",
                    i.id,
                    i.domain.as_str(),
                    i.value_type.as_str(),
                    i.polarity.as_str(),
                    i.title,
                    if i.draft { " (draft)" } else { "" }
                );
            }
            println!("{} indicators", picked.len());
            Ok(())
        }
        IndicatorCommand::Check {
            pipeline,
            select,
            warehouse,
        } => {
            let p = load(&pipeline, warehouse)?;
            let results = p.check_indicators(&select).await?;
            let mut failed = 0;
            for (ind, problems) in &results {
                if problems.is_empty() {
                    println!("ok    {}", ind.id);
                } else {
                    failed += 1;
                    for problem in problems {
                        println!(
                            "error {}:{}:{}: {}",
                            ind.path.display(),
                            problem.line,
                            problem.column,
                            problem.message
                        );
                    }
                }
            }
            println!("{} checked, {} with problems", results.len(), failed);
            if failed > 0 {
                return Err(format!("{failed} indicator(s) failed their checks").into());
            }
            Ok(())
        }
        IndicatorCommand::Docs { pipeline, out } => {
            let p = load(&pipeline, None)?;
            let path = p.indicator_docs(out.as_deref().unwrap_or(&p.output))?;
            println!("Indicator catalogue: {}", path.display());
            Ok(())
        }
        IndicatorCommand::Test { pipeline, select } => {
            let p = load(&pipeline, None)?;
            let results = p.test_indicators(&select).await?;
            let (mut failed, mut missing, mut cases) = (0, 0, 0);
            for (ind, outcome) in &results {
                match outcome {
                    None => {
                        missing += 1;
                        println!(
                            "none  {}: no fixtures — add {}",
                            ind.id,
                            peerbench_pipeline::fixture_path(ind).display()
                        );
                    }
                    Some(list) => {
                        cases += list.len();
                        let bad: Vec<_> = list.iter().filter(|c| !c.failures.is_empty()).collect();
                        if bad.is_empty() {
                            println!(
                                "ok    {} ({} case{})",
                                ind.id,
                                list.len(),
                                if list.len() == 1 { "" } else { "s" }
                            );
                        } else {
                            failed += 1;
                            for c in bad {
                                for f in &c.failures {
                                    println!("FAIL  {}: case {:?}: {f}", ind.id, c.name);
                                }
                            }
                        }
                    }
                }
            }
            println!(
                "{} indicators, {cases} cases: {failed} failed, {missing} without fixtures",
                results.len()
            );
            if failed + missing > 0 {
                return Err(
                    format!("{} indicator(s) failed or lack fixtures", failed + missing).into(),
                );
            }
            Ok(())
        }
        IndicatorCommand::New {
            pipeline,
            id,
            domain,
        } => {
            let p = load(&pipeline, None)?;
            let path = p.new_indicator(&id, &domain)?;
            println!(
                "Wrote {} — fill in the TODOs, then: peerbench indicators check {}",
                path.display(),
                pipeline.display()
            );
            Ok(())
        }
    }
}

/// Writes the metrics file; a file that cannot be written is a warning,
/// not a failure of the run (whose outcome the scheduler sees in the exit
/// code, and the monitoring in a last-success time that does not move).
fn write_metrics(m: &metrics::Metrics, path: &Path) {
    if let Err(e) = m.write(path) {
        tracing::warn!("{e}");
    }
}

fn load(pipeline: &Path, warehouse: Option<String>) -> Result<Pipeline, Failure> {
    let mut p = Pipeline::load(pipeline)?;
    if let Some(w) = warehouse {
        p.warehouse = w;
    }
    Ok(p)
}

fn print_ingest(summary: &peerbench_pipeline::IngestReport) {
    println!(
        "{:<22} {:>6} {:>10} {:>12} {:>9}  commit",
        "table", "files", "loaded", "quarantined", "replaced"
    );
    for s in &summary.sources {
        println!(
            "{:<22} {:>6} {:>10} {:>12} {:>9}  {}",
            s.table,
            s.files.len(),
            s.rows_loaded(),
            s.rows_quarantined(),
            s.rows_superseded(),
            s.committed_version
                .map_or("unchanged".to_string(), |v| format!("version {v}"))
        );
    }
    for s in &summary.sources {
        if let Some(w) = &s.warning {
            println!("Warning: {w}");
        }
    }
    for file in &summary.unclaimed {
        println!("Not read: {file} (no source in the pipeline reads it)");
    }
    let resubmissions: Vec<_> = summary
        .sources
        .iter()
        .flat_map(|s| s.resubmissions.iter().map(move |r| (&s.table, r)))
        .collect();
    if !resubmissions.is_empty() {
        println!("Resubmissions (a later file replaces a practice's rows for a period):");
        for (table, r) in resubmissions {
            let shown: Vec<&str> = r
                .practice_periods
                .iter()
                .take(5)
                .map(String::as_str)
                .collect();
            let more = r.practice_periods.len().saturating_sub(shown.len());
            println!(
                "  {table}: {} replaces {} rows of {} for {}{}",
                r.later,
                r.rows,
                r.earlier,
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
    }
}
