//! Runs the stages in order from a pipeline file: ingest the extracts into
//! the warehouse, compute the SQL indicators, compare practices with their
//! peers, publish the reports. The CLI is a thin shell over this crate.

mod config;
pub mod manifest;
mod reuse;
#[cfg(test)]
mod tests;
mod views_once;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, Float64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use peerbench_compare::{
    CompareOptions, PeerGroup, PeerGroupKind, PracticeInfo, ResultRow, compare_indicator,
    what_changed,
};
use peerbench_indicators::{
    CatalogueError, IndicatorRow, InvalidId, SelectError, UnknownDomain, load_catalogue,
    register_view_texts, sandbox,
};
use peerbench_ingest::{IngestSummary, Source};
use peerbench_report::{Jump, NotComputed, Provenance, Published, ReportInput, SourceQuality};
use peerbench_warehouse::{Holder, LockError, RunLock, Warehouse, WarehouseError};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use views_once::ViewsOnce;

pub use config::ConfigError;
pub use manifest::{Definitions, Manifest, Outcome, RUNS_TABLE};
pub use peerbench_indicators::{
    Engine, Indicator, Limits, fixture_path, format_duration, format_size, parse_duration,
    parse_size,
};
pub use peerbench_ingest::IngestSummary as IngestReport;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line asks for something that cannot be done.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// `--as-of` names no run that can be made again.
    #[error(transparent)]
    AsOf(#[from] AsOfError),
    #[error(transparent)]
    Ingest(#[from] peerbench_ingest::IngestError),
    #[error(transparent)]
    Warehouse(#[from] peerbench_warehouse::WarehouseError),
    #[error(transparent)]
    Indicator(#[from] peerbench_indicators::IndicatorError),
    /// An indicator file, or the catalogue as a whole, is wrong.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(
        "{} indicator(s) failed, so nothing was published (the previous report is untouched):\n{}{}",
        failed.len(),
        if *every { "  every indicator failed, so there is nothing to publish:\n" } else { "" },
        failed.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n")
    )]
    IndicatorsFailed {
        /// Each failed indicator's error.
        failed: Vec<String>,
        /// Every indicator failed (rather than the pipeline saying that
        /// one failure publishes nothing).
        every: bool,
    },
    #[error(transparent)]
    Report(#[from] peerbench_report::ReportError),
    /// `peerbench query`'s SQL was refused or failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the warehouse at {0} has no tables yet: run `peerbench ingest` or `peerbench run` with this pipeline first"
    )]
    EmptyWarehouse(String),
    #[error("the practice register table {table:?}: {source}")]
    Register {
        table: String,
        #[source]
        source: TableError,
    },
    #[error("descriptors for similar practices ({table}): {source}")]
    Descriptors {
        table: String,
        #[source]
        source: TableError,
    },
    /// A table the pipeline keeps for itself (the runs table) cannot be read.
    #[error("the {table} table: {source}")]
    Table {
        table: String,
        #[source]
        source: TableError,
    },
    #[error(
        "another run took over the warehouse lock at {0} while this one was running (its heartbeat had stalled); nothing was published"
    )]
    LockLost(String),
}

/// What the command line asks for and cannot have (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(
        "--select publishes a subset of the indicators, so it never publishes into the board's folder {output}: give --out another folder (or leave it out to publish into {output}-select)"
    )]
    SelectIntoBoard { output: PathBuf },
    #[error(transparent)]
    UnknownDomain(#[from] UnknownDomain),
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    #[error("an indicator {id:?} already exists")]
    IndicatorExists { id: String },
}

/// `--as-of` names no run that can be made again (unknown, or one that
/// published nothing), or is given with what it cannot take (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AsOfError {
    #[error("--as-of makes a past run's whole publication again: it does not take --select")]
    WithSelect,
    #[error(
        "--as-of publishes a past run, so it never publishes into the board's folder {output}: give --out another folder (or leave it out to publish into {output}-as-of-{run})"
    )]
    IntoBoard { output: PathBuf, run: String },
    #[error(
        "--as-of {run:?} is not a run id (they look like 20261129T020000Z-4242): {}",
        runs_listing(pipeline)
    )]
    NotARunId { run: String, pipeline: PathBuf },
    #[error("no run {run} in the warehouse at {warehouse}: it has no runs recorded yet")]
    NoRunsYet { run: String, warehouse: String },
    #[error(
        "no run {run} in the warehouse at {warehouse}: {}",
        runs_listing(pipeline)
    )]
    NoSuchRun {
        run: String,
        warehouse: String,
        pipeline: PathBuf,
    },
    #[error(transparent)]
    Record(#[from] manifest::ManifestError),
    #[error(
        "run {run} published nothing ({}), so there is nothing of it to make again: {}",
        outcome.as_str(),
        runs_listing(pipeline)
    )]
    PublishedNothing {
        run: String,
        outcome: Outcome,
        pipeline: PathBuf,
    },
    #[error(
        "run {run} recorded only hashes of its SQL (an earlier release made it), and {} changed since: restore the files as they were then (e.g. with git checkout) and run again",
        changed_since(changed)
    )]
    Changed { run: String, changed: Vec<String> },
}

/// Where to find the run ids `--as-of` takes.
fn runs_listing(pipeline: &Path) -> String {
    format!(
        "`peerbench runs {}` lists the runs recorded",
        pipeline.display()
    )
}

/// "a, b and c have", "a has", "a, b, c and 2 more have".
fn changed_since(changed: &[String]) -> String {
    if changed.len() > 3 {
        format!(
            "{}, {}, {} and {} more have",
            changed[0],
            changed[1],
            changed[2],
            changed.len() - 3
        )
    } else {
        format!(
            "{} {}",
            changed.join(", "),
            if changed.len() == 1 { "has" } else { "have" }
        )
    }
}

/// `peerbench query`'s SQL refused, or failing as it runs.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("queries are read-only: only SELECT is allowed ({0})")]
    ReadOnly(#[source] DataFusionError),
    #[error("{}", peerbench_indicators::RECURSION_REFUSED.replace(" in indicators", ""))]
    Recursive,
    #[error(
        "the query needed more memory than memory_limit ({limit}) allows, even spilling to disk ({detail}): raise memory_limit under [limits] in the pipeline file, or use --memory-limit"
    )]
    OutOfMemory { limit: String, detail: String },
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
}

/// Why a table the run reads cannot be read as it needs.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("no column {name:?}; available: {available}")]
    NoColumn { name: String, available: String },
    #[error("{0} is not text")]
    NotText(String),
    #[error("{0} is not numeric")]
    NotNumeric(String),
    #[error("{name}: {source}")]
    Cast {
        name: String,
        #[source]
        source: ArrowError,
    },
}

impl PipelineError {
    /// The pipeline file or the command line is wrong (as opposed to the
    /// data or the run): exit 2.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            PipelineError::Config(_) | PipelineError::Usage(_) | PipelineError::AsOf(_)
        )
    }

    /// Another run holds the warehouse: this one did nothing and may simply
    /// be tried again later.
    pub fn is_lock_held(&self) -> bool {
        matches!(
            self,
            PipelineError::Warehouse(WarehouseError::Lock(
                LockError::Held { .. } | LockError::HeldUnreadable { .. }
            ))
        )
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// A loaded pipeline file, with every path resolved against its folder.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub file: PathBuf,
    pub base_dir: PathBuf,
    /// A local folder, or `s3://bucket/prefix`.
    pub warehouse: String,
    pub output: PathBuf,
    /// Folders whose every file some source must read.
    pub landing: peerbench_ingest::Landing,
    pub indicators_dir: PathBuf,
    pub views_dir: Option<PathBuf>,
    pub register: String,
    /// The table or view with numeric descriptors for similar-practice groups.
    pub descriptors: String,
    pub spc: peerbench_stats::SpcOptions,
    /// How funnels estimate φ (`[statistics] phi`).
    pub phi: peerbench_stats::PhiEstimator,
    /// What each kind of published output may show.
    pub disclosure: peerbench_report::DisclosurePolicy,
    /// Which comparison leads each indicator's verdict on the pages
    /// (`[reports] verdict`).
    pub verdict: peerbench_report::VerdictLead,
    pub primary_peer_group: String,
    /// Time and memory limits on the indicators' SQL (`[limits]`).
    pub limits: Limits,
    /// How long the whole run may take before it is stopped (`[limits]
    /// run_timeout`, `run --run-timeout`): a nightly run that hangs must
    /// fail, loudly, rather than hold the warehouse until someone looks.
    pub run_timeout: std::time::Duration,
    /// Where the indicators' SQL runs (`engine`, `--engine`): here, or on
    /// a Ballista cluster.
    pub engine: peerbench_indicators::Engine,
    pub sources: Vec<Source>,
    pub peer_groups: Vec<PeerGroup>,
    /// How long an object-store run lock may go without a heartbeat before
    /// another host may take it over.
    pub lock_stale_after: std::time::Duration,
    /// How long `run` and `ingest` wait for another run's lock before
    /// giving up (exit 75); zero by default: a clash of schedules is
    /// reported at once.
    pub lock_wait: std::time::Duration,
    /// How many earlier publications stay in `<output>.earlier/`.
    pub keep: usize,
    /// What `run` does when an indicator fails.
    pub on_indicator_error: OnIndicatorError,
}

/// What a whole run did.
#[derive(Debug)]
pub struct RunSummary {
    pub ingest: IngestSummary,
    /// Indicators computed and published.
    pub indicators: usize,
    /// None when there was nothing new to publish.
    pub published: Option<Published>,
    /// The id the pages show (of the table versions and SQL they came from).
    pub run_id: String,
    pub quarantine_csv: PathBuf,
    pub outcome: Outcome,
    /// Indicators that failed and were left out of the publication.
    pub not_computed: Vec<NotComputed>,
    /// With `Outcome::NothingNew`: the run whose publication stands.
    pub nothing_new_since: Option<Manifest>,
    /// The run's record: `run_id` is this invocation's id (the `run_id` of
    /// every log line), `stage_seconds` the wall time of each stage.
    pub manifest: Manifest,
    /// Per indicator computed, the practices outside its 99.8% funnel
    /// limits in its latest period (primary peer group), as on the board;
    /// `manifest.counts.outliers` is their sum.
    pub outliers: BTreeMap<String, usize>,
}

/// How a run is asked to go.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Publish here instead of the pipeline's `output`.
    pub out: Option<PathBuf>,
    /// Run even when nothing changed since the last publication.
    pub force: bool,
    /// Compute and publish only these indicators (ids, `tag:`, `domain:`),
    /// into a folder of their own: never the board's publication.
    pub select: Vec<String>,
    /// Compute every indicator, reusing no earlier output even where the
    /// tables it reads are unchanged.
    pub full: bool,
    /// Make an earlier run's publication again, from the table versions
    /// and the SQL its record holds, into a folder of its own.
    pub as_of: Option<String>,
}

/// A source's latest month as the pages report it.
struct SourceCompleteness {
    /// YYYY-MM: the newest month at least half of its practices have sent.
    month: String,
    /// The register's practices, open then, with no rows in it.
    missing: Vec<String>,
    /// Later months, with how many practices have sent each so far.
    not_yet_shown: Vec<(String, usize)>,
}

/// What the pages show about the data beside the numbers.
struct DataChecks {
    /// Per source: its latest month and the practices missing from it.
    completeness: HashMap<String, SourceCompleteness>,
    /// Per source: the practices whose latest period jumped.
    jumps: HashMap<String, Vec<Jump>>,
}

/// What the indicators stage made: the comparisons of the indicators
/// computed, and those that failed.
struct Compared {
    results: Vec<ResultRow>,
    not_computed: Vec<NotComputed>,
    /// The engine failed (a cluster unreachable, or failing a query):
    /// the run stops there and publishes nothing.
    engine_failed: Option<peerbench_indicators::IndicatorError>,
    /// The comparisons' own time, added up (each overlaps the next
    /// indicator's SQL).
    took: std::time::Duration,
    /// The time the run waited for comparisons to finish: the compare
    /// stage's share of the run, the part the SQL did not hide.
    waited: std::time::Duration,
}

/// An indicator's comparison under way: its result rows and how long it took.
type Comparing = tokio::task::JoinHandle<(Vec<ResultRow>, std::time::Duration)>;

impl Compared {
    /// Adds a finished comparison's rows, waiting for it if need be; a
    /// comparison that panicked panics here, as it did on this thread.
    async fn add(&mut self, comparing: Comparing) {
        let waiting = std::time::Instant::now();
        let (results, took) = comparing
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        self.waited += waiting.elapsed();
        self.results.extend(results);
        self.took += took;
        // Freed memory handed back between indicators once there is much
        // of it, and before publishing: nationally over two years the peak
        // was 3.87 GB at the end of the comparisons without it and 3.73 GB
        // with it.
        peerbench_report::release_freed_memory_over(FREED_TO_HAND_BACK);
    }
}

/// Freed memory the heaps may hold between indicators before it is handed
/// back to the system.
const FREED_TO_HAND_BACK: usize = 256 << 20;

/// The publication's id: a hash of the table versions read and of every
/// indicator's SQL (drafts too), its first six bytes in hex.
fn report_id(versions: &[(String, u64)], catalogue: &[Indicator]) -> String {
    let mut hasher = Sha256::new();
    for (t, v) in versions {
        hasher.update(format!("{t}@{v};"));
    }
    for ind in catalogue {
        hasher.update(ind.sql.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the indicators stage starts from.
struct Tonight {
    ctx: SessionContext,
    /// Where the indicators' SQL runs: `ctx` itself with the local engine;
    /// with a cluster engine, a session over the same table versions whose
    /// queries the cluster runs.
    sql: SessionContext,
    /// The tables read and their versions (not the runs table).
    versions: Vec<(String, u64)>,
    catalogue: Vec<Indicator>,
    /// The shared views' SQL, as hashed into each indicator's record.
    views: String,
    ingest: IngestSummary,
    output: PathBuf,
    started: std::time::Instant,
    /// The indicators stage's span, entered for each indicator.
    span: tracing::Span,
    /// Whether computed outputs are kept for later runs to reuse (not by
    /// `--as-of`, whose table versions are past ones).
    keep_outputs: bool,
}

/// What a run does when an indicator fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnIndicatorError {
    /// Publish nothing: the previous publication stands.
    Fail,
    /// Publish the others, and name the failed ones on the board page.
    PublishRest,
}

/// Whether two output paths name the same folder (as given, or resolved
/// when both exist).
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// A new invocation's id: the UTC time it started and the process id,
/// e.g. `20261129T180409Z-41234`. It names the run in every log line (the
/// `run` span's `run_id`), as the holder of the warehouse lock, and in the
/// run's manifest.
pub fn invocation_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    )
}

/// The root span of a `run` or `ingest`: every log line of it carries the
/// run's id.
fn run_span(run_id: &str, command: &'static str) -> tracing::Span {
    tracing::info_span!("run", run_id, command)
}

/// A run's time limit unless the pipeline sets one: far beyond a national
/// run's minutes (or a Ballista cluster's hours), short of the next night.
pub const DEFAULT_RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The span of one stage: `ingest`, `indicators`, `compare` or `publish`.
fn stage_span(stage: &str) -> tracing::Span {
    tracing::info_span!("stage", stage)
}

/// Logs a stage's time as it finishes (in its stage span, so a JSON line
/// carries the stage).
fn stage_finished(stage: &str, seconds: f64) {
    stage_span(stage).in_scope(|| tracing::info!(stage, seconds, "stage finished"));
}

/// Adds `took` to a stage's time in the manifest (the one record of stage
/// times: the metrics file and the logs read it from there).
fn add_stage_time(manifest: &mut Manifest, stage: &str, took: std::time::Duration) {
    *manifest
        .stage_seconds
        .entry(stage.to_string())
        .or_insert(0.0) += took.as_secs_f64();
}

/// Where a long stage has got to, for the CLI's progress bars: `bar` names
/// the bar, the message says what is being done. Off (and free) unless the
/// CLI draws bars; never in the logs.
fn progress(bar: &str, done: usize, total: usize, what: &str) {
    tracing::trace!(
        target: "peerbench_progress",
        bar,
        done = done as u64,
        total = total as u64,
        "{what}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The load's part of the manifest: every file, its counts, the checks.
fn record_ingest(manifest: &mut Manifest, ingest: &IngestSummary) {
    for s in &ingest.sources {
        for f in &s.files {
            manifest.inputs.push(manifest::InputFile {
                source: s.table.clone(),
                file: f.file.clone(),
                sha256: f.sha256.clone(),
                rows_read: f.rows_read,
                rows_loaded: f.rows_loaded,
                rows_quarantined: f.rows_quarantined,
                rows_superseded: f.rows_superseded,
                error: f.error.clone(),
            });
        }
        manifest.warnings.extend(s.warning.clone());
    }
    manifest.counts.rows_read = manifest.inputs.iter().map(|f| f.rows_read).sum();
    manifest.counts.rows_loaded = manifest.inputs.iter().map(|f| f.rows_loaded).sum();
    manifest.counts.rows_quarantined = ingest.quarantined.len();
    for q in &ingest.quarantined {
        *manifest
            .quarantine_by_check
            .entry(q.check.as_str().to_string())
            .or_insert(0) += 1;
    }
}

impl Pipeline {
    pub fn load(path: &Path) -> Result<Pipeline> {
        Ok(config::load(path)?)
    }

    fn open_warehouse(&self) -> Result<Warehouse> {
        Ok(Warehouse::open(&self.warehouse)?)
    }

    /// Takes the warehouse's run lock for `command`: one `run` or `ingest`
    /// at a time per warehouse. Says so when it takes over a lock that an
    /// earlier run (killed, or on a machine that stopped) left behind.
    async fn lock(&self, warehouse: &Warehouse, command: &str, id: &str) -> Result<RunLock> {
        // With `lock_wait`, a run that finds the lock held waits (checking
        // every second) rather than exiting at once.
        let deadline = std::time::Instant::now() + self.lock_wait;
        let (lock, taken_over) = loop {
            match warehouse
                .lock(Holder::new(id, command), self.lock_stale_after)
                .await
            {
                Err(WarehouseError::Lock(LockError::Held { .. }))
                    if std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                other => break other?,
            }
        };
        if let Some(t) = taken_over {
            tracing::warn!(
                lock = lock.location(),
                "took over the warehouse lock: {}",
                t.why
            );
        }
        Ok(lock)
    }

    /// Loads the extracts into the warehouse, holding its run lock.
    pub async fn ingest(&self) -> Result<IngestSummary> {
        let run_id = invocation_id();
        async {
            tracing::info!(pipeline = %self.file.display(), "ingest started");
            let warehouse = self.open_warehouse()?;
            let lock = self.lock(&warehouse, "ingest", &run_id).await?;
            let started = std::time::Instant::now();
            let summary = self
                .ingest_locked(&warehouse)
                .instrument(stage_span("ingest"))
                .await;
            lock.release().await;
            if summary.is_ok() {
                stage_finished("ingest", started.elapsed().as_secs_f64());
            }
            summary
        }
        .instrument(run_span(&run_id, "ingest"))
        .await
    }

    async fn ingest_locked(&self, warehouse: &Warehouse) -> Result<IngestSummary> {
        Ok(peerbench_ingest::ingest(
            warehouse,
            &self.sources,
            &self.base_dir,
            Some(&self.register),
            &self.landing,
        )
        .await?)
    }

    /// A session within the pipeline's limits (memory, spilling, no
    /// recursion) with every warehouse table, at its latest version, and
    /// every shared view registered. Returns the session, the table versions
    /// read and the views defined.
    async fn session(
        &self,
        warehouse: &Warehouse,
    ) -> Result<(SessionContext, Vec<(String, u64)>, Vec<String>)> {
        self.session_with(warehouse, &self.definitions()?).await
    }

    /// As [`Self::session`], with the views of these definitions.
    async fn session_with(
        &self,
        warehouse: &Warehouse,
        definitions: &Definitions,
    ) -> Result<(SessionContext, Vec<(String, u64)>, Vec<String>)> {
        let ctx = self.limits.session()?;
        let mut versions = Vec::new();
        for table in warehouse.tables().await? {
            let version = warehouse.register(&ctx, &table, None).await?;
            versions.push((table, version));
        }
        if versions.is_empty() {
            return Err(PipelineError::EmptyWarehouse(warehouse.location()));
        }
        let views = register_view_texts(&ctx, self.view_files(definitions)).await?;
        Ok((ctx, versions, views))
    }

    /// A session within the pipeline's limits over the tables at the given
    /// versions (a past run's), with the views as recorded.
    async fn session_at(
        &self,
        warehouse: &Warehouse,
        pins: &BTreeMap<String, u64>,
        definitions: &Definitions,
    ) -> Result<(SessionContext, Vec<(String, u64)>)> {
        let ctx = self.limits.session()?;
        let mut versions = Vec::new();
        for (table, version) in pins {
            let read = warehouse.register(&ctx, table, Some(*version)).await?;
            versions.push((table.clone(), read));
        }
        register_view_texts(&ctx, self.view_files(definitions)).await?;
        Ok((ctx, versions))
    }

    /// Where the indicators' SQL runs: `local` itself with the local
    /// engine; with a cluster, a session over exactly the table versions
    /// `local` read (each registered as the Parquet files of that
    /// snapshot, which the executors read) and the same views.
    async fn engine_session(
        &self,
        warehouse: &Warehouse,
        local: &SessionContext,
        versions: &[(String, u64)],
        definitions: &Definitions,
    ) -> Result<SessionContext> {
        if self.engine.is_local() {
            return Ok(local.clone());
        }
        let ctx = self.engine.session(&self.limits).await?;
        for (table, version) in versions {
            warehouse
                .register_files(&ctx, table, Some(*version))
                .await?;
        }
        register_view_texts(&ctx, self.view_files(definitions)).await?;
        tracing::info!(
            engine = %self.engine,
            tables = versions.len(),
            "indicator SQL runs on the cluster"
        );
        Ok(ctx)
    }

    /// The pipeline file, every indicator and every shared view as they
    /// are now, read once: a run is made from exactly these texts (and
    /// records them).
    fn definitions(&self) -> Result<Definitions> {
        let under = |dir: &Path| -> Result<BTreeMap<String, String>> {
            Ok(peerbench_indicators::read_sql_files(dir)?
                .into_iter()
                .map(|(path, text)| {
                    let name = path.strip_prefix(dir).unwrap_or(&path);
                    (name.to_string_lossy().into_owned(), text)
                })
                .collect())
        };
        Ok(Definitions {
            pipeline: std::fs::read_to_string(&self.file).map_err(|source| {
                PipelineError::Read {
                    path: self.file.clone(),
                    source,
                }
            })?,
            indicators: under(&self.indicators_dir)?,
            views: match &self.views_dir {
                Some(dir) if dir.is_dir() => under(dir)?,
                _ => BTreeMap::new(),
            },
        })
    }

    /// The catalogue of recorded indicators, narrowed by selectors.
    fn catalogue_of(
        &self,
        definitions: &Definitions,
        selectors: &[String],
    ) -> Result<Vec<Indicator>> {
        let catalogue = peerbench_indicators::parse_catalogue(
            definitions
                .indicators
                .iter()
                .map(|(name, text)| (self.indicators_dir.join(name), text.clone()))
                .collect(),
        )?;
        let picked =
            peerbench_indicators::select(&catalogue, selectors).map_err(UsageError::from)?;
        Ok(picked.into_iter().cloned().collect())
    }

    /// The recorded views as (path, text), in path order.
    fn view_files(&self, definitions: &Definitions) -> Vec<(PathBuf, String)> {
        let dir = self.views_dir.clone().unwrap_or_default();
        definitions
            .views
            .iter()
            .map(|(name, text)| (dir.join(name), text.clone()))
            .collect()
    }

    /// The recorded views' SQL as one text, in name order (part of every
    /// indicator's hash). Named by file name, not path: the same views
    /// reached as `pipelines/../sql/views` from one folder and
    /// `/srv/pb/sql/views` from another are the same views, and what
    /// depends on them (kept outputs, nothing-new) must not change.
    fn views_text_of(&self, definitions: &Definitions) -> String {
        definitions
            .views
            .iter()
            .map(|(name, text)| format!("{name}\n{text}\n"))
            .collect()
    }

    /// The views' text as records made before 2026-11-30 hashed it, with
    /// the path the views folder was reached by.
    fn views_text_by_path(&self, definitions: &Definitions) -> String {
        self.view_files(definitions)
            .iter()
            .map(|(path, text)| format!("{}\n{text}\n", path.display()))
            .collect()
    }

    /// The indicator catalogue, narrowed by `--select` style selectors.
    pub fn indicators(&self, selectors: &[String]) -> Result<Vec<Indicator>> {
        let catalogue = load_catalogue(&self.indicators_dir)?;
        let picked =
            peerbench_indicators::select(&catalogue, selectors).map_err(UsageError::from)?;
        Ok(picked.into_iter().cloned().collect())
    }

    /// Checks indicators without running them: metadata, and SQL planned
    /// against the warehouse's tables and the shared views.
    pub async fn check_indicators(
        &self,
        selectors: &[String],
    ) -> Result<Vec<(Indicator, Vec<peerbench_indicators::Problem>)>> {
        let picked = self.indicators(selectors)?;
        let warehouse = self.open_warehouse()?;
        let (ctx, versions, views) = self.session(&warehouse).await?;
        let mut known: Vec<String> = versions.into_iter().map(|(t, _)| t).chain(views).collect();
        known.sort();
        let mut out = Vec::new();
        for ind in picked {
            let problems = peerbench_indicators::check_indicator(&ctx, &ind, &known).await;
            out.push((ind, problems));
        }
        Ok(out)
    }

    /// Runs each indicator's fixture cases (`<id>.test.toml`) in memory: the
    /// warehouse tables are the pipeline's sources' shapes, filled with the
    /// fixture rows; the shared views and the indicator's SQL run for real.
    /// None for an indicator without fixtures.
    #[allow(clippy::type_complexity)]
    pub async fn test_indicators(
        &self,
        selectors: &[String],
    ) -> Result<Vec<(Indicator, Option<Vec<peerbench_indicators::CaseOutcome>>)>> {
        let schemas: BTreeMap<String, arrow::datatypes::SchemaRef> = self
            .sources
            .iter()
            .map(|s| (s.table.clone(), peerbench_ingest::schema_for(&s.shape)))
            .collect();
        let mut out = Vec::new();
        for ind in self.indicators(selectors)? {
            let outcome = peerbench_indicators::run_fixtures(
                &ind,
                &schemas,
                self.views_dir.as_deref(),
                &self.limits,
            )
            .await?;
            out.push((ind, outcome));
        }
        Ok(out)
    }

    /// Writes the indicator catalogue page to `out/indicators.html`.
    pub fn indicator_docs(&self, out: &Path) -> Result<PathBuf> {
        let catalogue = load_catalogue(&self.indicators_dir)?;
        let path = out.join("indicators.html");
        std::fs::create_dir_all(out)
            .and_then(|()| {
                std::fs::write(
                    &path,
                    peerbench_report::catalogue_page(&self.name, &catalogue),
                )
            })
            .map_err(|source| PipelineError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    /// Writes a new indicator file with every metadata field.
    pub fn new_indicator(&self, id: &str, domain: &str) -> Result<PathBuf> {
        let d = peerbench_indicators::Domain::named(domain).map_err(UsageError::from)?;
        let text = peerbench_indicators::scaffold(id, d).map_err(UsageError::from)?;
        if load_catalogue(&self.indicators_dir)?
            .iter()
            .any(|i| i.id == id)
        {
            return Err(UsageError::IndicatorExists { id: id.to_string() }.into());
        }
        let dir = self.indicators_dir.join(d.as_str());
        let path = dir.join(format!("{id}.sql"));
        // A fixture that matches the scaffold's example query, so `indicators
        // test` passes from the start and shows the format to adapt.
        let fixture = format!(
            "# Fixture rows for the tables {id} reads, and what it must return.\n\
             [[case]]\nname = \"DNAs over all appointments\"\n\n\
             [[case.table]]\nname = \"appointments\"\n\
             columns = [\"month\", \"practice_code\", \"hcp_type\", \"appt_mode\", \"appt_status\", \"appointments\"]\n\
             rows = [\n  [\"2026-09-01\", \"A81001\", \"GP\", \"Face-to-Face\", \"DNA\", 5],\n  \
             [\"2026-09-01\", \"A81001\", \"GP\", \"Face-to-Face\", \"Attended\", 95],\n]\n\n\
             [[case.expect]]\npractice_code = \"A81001\"\nperiod = \"2026-09\"\nnumerator = 5\ndenominator = 100\n"
        );
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, text))
            .and_then(|()| std::fs::write(dir.join(format!("{id}.test.toml")), fixture))
            .map_err(|source| PipelineError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    /// Runs read-only SQL against the warehouse (tables and shared views).
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let warehouse = self.open_warehouse()?;
        let (ctx, _, _) = self.session(&warehouse).await?;
        let df = ctx.sql_with_options(sql, sandbox()).await.map_err(|e| {
            let message = e.to_string();
            if message.contains("not supported") {
                QueryError::ReadOnly(e)
            } else if peerbench_indicators::is_recursion_refused(&message) {
                QueryError::Recursive
            } else {
                QueryError::DataFusion(e)
            }
        })?;
        Ok(df.collect().await.map_err(|e| {
            let root = e.find_root();
            if matches!(root, DataFusionError::ResourcesExhausted(_)) {
                QueryError::OutOfMemory {
                    limit: format_size(self.limits.memory_limit),
                    detail: root
                        .strip_backtrace()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("Resources exhausted: ")
                        .to_string(),
                }
            } else {
                QueryError::DataFusion(e)
            }
        })?)
    }

    async fn practices(&self, ctx: &SessionContext) -> Result<BTreeMap<String, PracticeInfo>> {
        let err = |source: TableError| PipelineError::Register {
            table: self.register.clone(),
            source,
        };
        let sql = format!(
            "SELECT practice_code, practice_name, pcn_code, pcn_name, federation, icb_code, \
             CAST(list_size AS DOUBLE) AS list_size FROM {} ORDER BY practice_code",
            self.register
        );
        let batches = query(ctx, &sql).await.map_err(err)?;
        let mut out = BTreeMap::new();
        for b in batches {
            let text: Vec<StringArray> = (0..6)
                .map(|i| {
                    cast(b.column(i), &DataType::Utf8)
                        .ok()
                        .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
                        .ok_or_else(|| err(TableError::NotText(format!("column {i}"))))
                })
                .collect::<Result<_>>()?;
            let list = b.column(6).as_any().downcast_ref::<Float64Array>().cloned();
            for r in 0..b.num_rows() {
                let t = |c: usize| {
                    if text[c].is_valid(r) {
                        text[c].value(r).to_string()
                    } else {
                        String::new()
                    }
                };
                out.insert(
                    t(0),
                    PracticeInfo {
                        code: t(0),
                        name: t(1),
                        pcn_code: t(2),
                        pcn_name: t(3),
                        federation: t(4),
                        icb_code: t(5),
                        list_size: list.as_ref().filter(|a| a.is_valid(r)).map(|a| a.value(r)),
                        list_size_source: self.register.clone(),
                        list_size_month: None,
                        descriptors: BTreeMap::new(),
                    },
                );
            }
        }
        Ok(out)
    }

    /// Each practice's registered patients from its latest month in the
    /// registered-patients extract (the first source counting `patients` by
    /// practice and period), with the table and month, so the practice
    /// page's header says where its list size comes from. A practice with
    /// no rows there keeps the register's (undated) list size. A failed
    /// query leaves every practice on the register's, with a warning.
    async fn add_registered_lists(
        &self,
        ctx: &SessionContext,
        practices: &mut BTreeMap<String, PracticeInfo>,
    ) {
        let Some(source) = self.sources.iter().find(|s| {
            s.table != self.register
                && s.shape.practice_column().is_some()
                && s.shape.period_column().is_some()
                && s.shape.columns.iter().any(|c| {
                    c.name == "patients"
                        && matches!(c.kind, peerbench_ingest::ColumnKind::Count { .. })
                })
        }) else {
            return;
        };
        match latest_lists(ctx, source).await {
            Ok(lists) => {
                for (code, month, patients) in lists {
                    if let Some(p) = practices.get_mut(&code) {
                        p.list_size = Some(patients);
                        p.list_size_source = source.table.clone();
                        p.list_size_month = Some(month);
                    }
                }
            }
            Err(e) => tracing::warn!(
                table = source.table,
                "registered lists not read, the register's list sizes are shown: {e}"
            ),
        }
    }

    /// Numeric descriptors per practice, for similar-practice peer groups.
    async fn add_descriptors(
        &self,
        ctx: &SessionContext,
        practices: &mut BTreeMap<String, PracticeInfo>,
    ) -> Result<()> {
        let wanted: Vec<&str> = self
            .peer_groups
            .iter()
            .filter_map(|g| match &g.kind {
                PeerGroupKind::Similar { weights, .. } => {
                    Some(weights.iter().map(|w| w.name.as_str()))
                }
                _ => None,
            })
            .flatten()
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let err = |source: TableError| PipelineError::Descriptors {
            table: self.descriptors.clone(),
            source,
        };
        let batches = query(ctx, &format!("SELECT * FROM {}", self.descriptors))
            .await
            .map_err(err)?;
        for b in &batches {
            let schema = b.schema();
            for name in &wanted {
                if schema.index_of(name).is_err() {
                    let have: Vec<&str> = schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .filter(|n| *n != "practice_code")
                        .collect();
                    return Err(err(TableError::NoColumn {
                        name: name.to_string(),
                        available: have.join(", "),
                    }));
                }
            }
            let index = schema
                .index_of("practice_code")
                .map_err(|e| err(e.into()))?;
            let codes = cast(b.column(index), &DataType::Utf8).map_err(|e| err(e.into()))?;
            let codes = codes
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| err(TableError::NotText("practice_code".into())))?;
            for name in &wanted {
                let index = schema.index_of(name).map_err(|e| err(e.into()))?;
                let col = cast(b.column(index), &DataType::Float64).map_err(|source| {
                    err(TableError::Cast {
                        name: name.to_string(),
                        source,
                    })
                })?;
                let col = col
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| err(TableError::NotNumeric(name.to_string())))?;
                for i in 0..b.num_rows() {
                    if let Some(p) = practices.get_mut(codes.value(i))
                        && col.is_valid(i)
                    {
                        p.descriptors.insert(name.to_string(), col.value(i));
                    }
                }
            }
        }
        Ok(())
    }

    /// Per source: its latest month and the register's practices, open then,
    /// with no rows in it — so a practice whose extract did not arrive is
    /// flagged rather than silently compared on less. The latest month is
    /// the newest that at least half of the source's practices have sent,
    /// as for the indicators (`reporting_periods`): one practice's early
    /// extract does not make every other practice "missing" and every other
    /// source "behind"; later months are listed with how many have sent
    /// them. Sources without a date column (annual QOF, survey years) or
    /// without a practice column have none.
    async fn latest_completeness(
        &self,
        ctx: &SessionContext,
    ) -> HashMap<String, SourceCompleteness> {
        let mut out = HashMap::new();
        for source in self.sources.iter().filter(|s| s.table != self.register) {
            let shape = &source.shape;
            let (Some(practice), Some(date)) = (
                shape.practice_column(),
                shape.columns.iter().find_map(|c| {
                    matches!(c.kind, peerbench_ingest::ColumnKind::Date { .. })
                        .then_some(c.name.as_str())
                }),
            ) else {
                continue;
            };
            let t = &source.table;
            // Each month (YYYY-MM) with how many practices sent it, oldest first.
            let Ok(months) = self
                .strings(
                    ctx,
                    &format!(
                        "SELECT concat(substr(CAST(date_trunc('month', {date}) AS VARCHAR), 1, 7), ' ', CAST(count(DISTINCT {practice}) AS VARCHAR)) FROM {t} WHERE {date} IS NOT NULL GROUP BY date_trunc('month', {date}) ORDER BY date_trunc('month', {date})"
                    ),
                )
                .await
            else {
                continue;
            };
            let Ok(all) = self
                .strings(
                    ctx,
                    &format!(
                        "SELECT CAST(count(DISTINCT {practice}) AS VARCHAR) FROM {t} WHERE {date} IS NOT NULL"
                    ),
                )
                .await
            else {
                continue;
            };
            let all: usize = all.first().and_then(|n| n.parse().ok()).unwrap_or(0);
            let months: Vec<(String, usize)> = months
                .iter()
                .filter_map(|m| {
                    let (month, n) = m.split_once(' ')?;
                    Some((month.to_string(), n.parse().ok()?))
                })
                .collect();
            // The newest month enough practices have sent; failing any, the newest.
            let Some(at) = months
                .iter()
                .rposition(|(_, n)| peerbench_compare::enough_sent(*n, all))
                .or(months.len().checked_sub(1))
            else {
                continue;
            };
            let month = months[at].0.clone();
            // The source's last day up to the end of that month.
            let latest = format!(
                "(SELECT max({date}) FROM {t} WHERE {date} < DATE '{month}-01' + INTERVAL '1 month')"
            );
            let sent = format!(
                "SELECT DISTINCT {practice} FROM {t} WHERE {date} >= date_trunc('month', {latest}) AND {date} <= {latest}"
            );
            // A practice is expected if the register has it open that month.
            let open = format!(
                "(open_date IS NULL OR open_date <= {latest}) AND (close_date IS NULL OR close_date >= date_trunc('month', {latest}))"
            );
            let queries = [
                format!(
                    "SELECT practice_code FROM {r} WHERE {open} EXCEPT {sent} ORDER BY 1",
                    r = self.register
                ),
                // A register without open and close dates: every practice.
                format!(
                    "SELECT practice_code FROM {r} EXCEPT {sent} ORDER BY 1",
                    r = self.register
                ),
            ];
            for q in &queries {
                if let Ok(missing) = self.strings(ctx, q).await {
                    out.insert(
                        t.clone(),
                        SourceCompleteness {
                            month: month.clone(),
                            missing,
                            not_yet_shown: months[at + 1..].to_vec(),
                        },
                    );
                    break;
                }
            }
        }
        out
    }

    /// Practices whose latest period differs sharply from their previous one,
    /// per source: the number of rows halving or doubling (from at least
    /// five), or — for a source counting registered patients — the list
    /// changing by a tenth or more (from at least 100). List sizes move by a
    /// percent or two a month; a larger move is usually a partial extract, a
    /// list cleaned or a merger, and the reader should know before comparing.
    async fn period_jumps(&self, ctx: &SessionContext) -> HashMap<String, Vec<Jump>> {
        let mut out = HashMap::new();
        for source in &self.sources {
            match source_jumps(ctx, source).await {
                Ok(Some(jumps)) => {
                    out.insert(source.table.clone(), jumps);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(table = source.table, "period-on-period check failed: {e}")
                }
            }
        }
        out
    }

    /// The first column of a query's rows as text.
    async fn strings(&self, ctx: &SessionContext, sql: &str) -> Result<Vec<String>, TableError> {
        let mut out = Vec::new();
        for b in query(ctx, sql).await? {
            out.extend(text_column(&b, 0)?.into_iter().flatten());
        }
        Ok(out)
    }

    /// The whole run (ingest, indicators, comparisons, publication),
    /// holding the warehouse's run lock throughout.
    pub async fn run(&self, out_override: Option<&Path>) -> Result<RunSummary> {
        self.run_with(&RunOptions {
            out: out_override.map(Path::to_path_buf),
            ..RunOptions::default()
        })
        .await
    }

    /// A run as the options say, recorded in the warehouse's `runs` table
    /// (and, when it publishes, in the publication's `run.json`) whatever
    /// its outcome.
    pub async fn run_with(&self, options: &RunOptions) -> Result<RunSummary> {
        if !options.select.is_empty() && same_folder(&self.output_for(options), &self.output) {
            return Err(UsageError::SelectIntoBoard {
                output: self.output.clone(),
            }
            .into());
        }
        if let Some(past) = &options.as_of {
            if !options.select.is_empty() {
                return Err(AsOfError::WithSelect.into());
            }
            if same_folder(&self.output_for(options), &self.output) {
                return Err(AsOfError::IntoBoard {
                    output: self.output.clone(),
                    run: past.clone(),
                }
                .into());
            }
            let run_id = invocation_id();
            let span = run_span(&run_id, "run");
            return self.reproduce(options, past, run_id).instrument(span).await;
        }
        // An unknown selector, or an engine that cannot be used, is said
        // before anything is loaded.
        self.indicators(&options.select)?;
        self.engine.check().await?;
        let run_id = invocation_id();
        let span = run_span(&run_id, "run");
        self.run_in_span(options, run_id).instrument(span).await
    }

    /// `run --as-of`: an earlier run's publication made again from the
    /// table versions (Delta time travel) and the pipeline, indicator and
    /// view texts its record holds, into a folder of its own. Loads
    /// nothing and takes no lock: it reads old versions only, and writes
    /// only its own folder and a row of the runs table.
    async fn reproduce(
        &self,
        options: &RunOptions,
        as_of: &str,
        run_id: String,
    ) -> Result<RunSummary> {
        tracing::info!(pipeline = %self.file.display(), as_of, "reproducing a past run");
        let warehouse = self.open_warehouse()?;
        let past = self.past_run(&warehouse, as_of).await?;
        let definitions = match &past.definitions {
            Some(d) => d.clone(),
            None => self.definitions_matching(&past)?,
        };
        let mut then = Pipeline {
            warehouse: self.warehouse.clone(),
            ..config::parse(&self.file, &definitions.pipeline)?
        };
        // Settings given on the command line stand, and the engine is
        // where to compute, not what: tonight's.
        then.limits = self.limits.clone();
        then.engine = self.engine.clone();
        then.engine.check().await?;
        let mut manifest = then.manifest_skeleton(&run_id, options)?;
        manifest.command = format!("run --as-of {as_of}");
        manifest.output = Some(self.output_for(options).display().to_string());
        manifest.pipeline.sha256 = hex(&Sha256::digest(definitions.pipeline.as_bytes()));
        if past.peerbench_version != manifest.peerbench_version {
            let warning = format!(
                "run {as_of} was made by peerbench {}, this is {}: where the statistics changed between the two, figures may differ",
                past.peerbench_version, manifest.peerbench_version
            );
            tracing::warn!("{warning}");
            manifest.warnings.push(warning);
        }
        // Into the folder checked above (today's pipeline file's output).
        let options = RunOptions {
            out: Some(self.output_for(options)),
            ..options.clone()
        };
        let summary = then
            .reproduce_with(&warehouse, &past, definitions, &options, &mut manifest)
            .await;
        self.record_run(&warehouse, &mut manifest, &summary).await;
        summary.map(|mut s| {
            s.manifest = manifest;
            s
        })
    }

    async fn reproduce_with(
        &self,
        warehouse: &Warehouse,
        past: &Manifest,
        definitions: Definitions,
        options: &RunOptions,
        manifest: &mut Manifest,
    ) -> Result<RunSummary> {
        let stage_started = std::time::Instant::now();
        let indicators_span = stage_span("indicators");
        let (ctx, versions) = self
            .session_at(warehouse, &past.table_versions, &definitions)
            .instrument(indicators_span.clone())
            .await?;
        manifest.table_versions = versions.iter().cloned().collect();
        // The indicators that run computed (or tried to), as they were.
        let catalogue: Vec<Indicator> = self
            .catalogue_of(&definitions, &[])?
            .into_iter()
            .filter(|i| {
                past.indicators
                    .iter()
                    .any(|p| p.id == i.id && p.status != "draft_not_run")
            })
            .collect();
        let views = self.views_text_of(&definitions);
        manifest.content_id = self.content_id(manifest, &catalogue, &views);
        let ingest =
            peerbench_ingest::outcome_at(warehouse, &self.sources, &past.table_versions).await?;
        record_ingest(manifest, &ingest);
        let sql = self
            .engine_session(warehouse, &ctx, &versions, &definitions)
            .instrument(indicators_span.clone())
            .await?;
        manifest.definitions = Some(definitions);
        self.compute_and_publish(
            warehouse,
            None,
            Tonight {
                ctx,
                sql,
                versions,
                catalogue,
                views,
                ingest,
                output: self.output_for(options),
                started: stage_started,
                span: indicators_span,
                keep_outputs: false,
            },
            options,
            manifest,
        )
        .await
    }

    /// A past run's record from the runs table.
    async fn past_run(&self, warehouse: &Warehouse, id: &str) -> Result<Manifest> {
        let run = id.to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(AsOfError::NotARunId {
                run,
                pipeline: self.file.clone(),
            }
            .into());
        }
        if warehouse.version(RUNS_TABLE).await?.is_none() {
            return Err(AsOfError::NoRunsYet {
                run,
                warehouse: warehouse.location(),
            }
            .into());
        }
        let ctx = SessionContext::new();
        warehouse.register(&ctx, RUNS_TABLE, None).await?;
        let sql = format!("SELECT manifest FROM {RUNS_TABLE} WHERE run_id = '{id}'");
        let text = query(&ctx, &sql)
            .await
            .and_then(|batches| batches.first().map(|b| text_column(b, 0)).transpose())
            .map_err(runs_table)?
            .and_then(|t| t.into_iter().flatten().next());
        let Some(text) = text else {
            return Err(AsOfError::NoSuchRun {
                run,
                warehouse: warehouse.location(),
                pipeline: self.file.clone(),
            }
            .into());
        };
        let past = Manifest::parse(&format!("of run {id}"), &text).map_err(AsOfError::from)?;
        match past.outcome {
            Outcome::Success | Outcome::PublishedWithFailures => Ok(past),
            outcome => Err(AsOfError::PublishedNothing {
                run,
                outcome,
                pipeline: self.file.clone(),
            }
            .into()),
        }
    }

    /// For a record written before runs kept their SQL: today's files, if
    /// they are still exactly those the run hashed.
    fn definitions_matching(&self, past: &Manifest) -> Result<Definitions> {
        let now = self.definitions()?;
        let views = self.views_text_of(&now);
        let by_path = self.views_text_by_path(&now);
        let catalogue = self.catalogue_of(&now, &[])?;
        let mut changed: Vec<String> = Vec::new();
        if hex(&Sha256::digest(now.pipeline.as_bytes())) != past.pipeline.sha256 {
            changed.push(self.file.display().to_string());
        }
        for was in &past.indicators {
            let same = catalogue.iter().any(|i| {
                i.id == was.id
                    && [&views, &by_path]
                        .iter()
                        .any(|v| hex(&Sha256::digest(format!("{}{v}", i.sql))) == was.sql_sha256)
            });
            if !same {
                changed.push(format!("indicator {} (or a shared view)", was.id));
            }
        }
        if changed.is_empty() {
            return Ok(now);
        }
        Err(AsOfError::Changed {
            run: past.run_id.clone(),
            changed,
        }
        .into())
    }

    async fn run_in_span(&self, options: &RunOptions, run_id: String) -> Result<RunSummary> {
        tracing::info!(pipeline = %self.file.display(), "run started");
        let mut manifest = self.manifest_skeleton(&run_id, options)?;
        let warehouse = self.open_warehouse()?;
        let lock = self.lock(&warehouse, "run", &run_id).await?;
        let summary = self
            .run_locked(&warehouse, &lock, options, &mut manifest)
            .await;
        self.record_run(&warehouse, &mut manifest, &summary).await;
        lock.release().await;
        summary.map(|mut s| {
            s.manifest = manifest;
            s
        })
    }

    /// Completes a run's record with how it ended and appends it to the
    /// runs table (a failure to do so is logged: the run's own outcome
    /// stands).
    async fn record_run(
        &self,
        warehouse: &Warehouse,
        manifest: &mut Manifest,
        summary: &Result<RunSummary>,
    ) {
        manifest.ended = manifest::now();
        manifest.peak_memory_bytes = manifest::peak_memory_bytes();
        match summary {
            Ok(s) => manifest.outcome = s.outcome,
            Err(e) => {
                manifest.outcome = Outcome::Failed;
                manifest.error = Some(e.to_string());
            }
        }
        let metadata =
            HashMap::from([("peerbench.operation".to_string(), serde_json::json!("run"))]);
        if let Err(e) = warehouse
            .append(
                RUNS_TABLE,
                manifest::runs_schema(),
                vec![manifest::runs_row(manifest)],
                metadata,
            )
            .await
        {
            tracing::error!("could not record the run in the {RUNS_TABLE} table: {e}");
        }
    }

    /// The latest `last` runs recorded in the warehouse, newest first, one
    /// line each.
    pub async fn runs(&self, last: usize) -> Result<Vec<String>> {
        let warehouse = self.open_warehouse()?;
        if warehouse.version(RUNS_TABLE).await?.is_none() {
            return Ok(vec![format!(
                "No runs recorded in the warehouse at {} yet.",
                warehouse.location()
            )]);
        }
        let ctx = SessionContext::new();
        warehouse.register(&ctx, RUNS_TABLE, None).await?;
        let sql = format!(
            "SELECT run_id, started, outcome, manifest FROM {RUNS_TABLE} ORDER BY started DESC LIMIT {last}"
        );
        let mut lines = vec![format!(
            "{:<26} {:<24} {:<24} {:>8} {:>10} {:>9}  {}",
            "run",
            "started",
            "outcome",
            "seconds",
            "rows",
            "set aside",
            "failed indicators / error"
        )];
        for b in query(&ctx, &sql).await.map_err(runs_table)? {
            let (ids, started, outcomes, manifests) = (
                text_column(&b, 0).map_err(runs_table)?,
                text_column(&b, 1).map_err(runs_table)?,
                text_column(&b, 2).map_err(runs_table)?,
                text_column(&b, 3).map_err(runs_table)?,
            );
            for r in 0..b.num_rows() {
                let id = ids[r].clone().unwrap_or_default();
                let text = manifests[r].clone().unwrap_or_default();
                let line = match Manifest::parse(&format!("of run {id}"), &text) {
                    Ok(m) => {
                        let failed: Vec<&str> = m
                            .indicators
                            .iter()
                            .filter(|i| i.status == "failed")
                            .map(|i| i.id.as_str())
                            .collect();
                        let note = if !failed.is_empty() {
                            failed.join(", ")
                        } else {
                            m.error.clone().unwrap_or_default()
                        };
                        format!(
                            "{:<26} {:<24} {:<24} {:>8.1} {:>10} {:>9}  {}",
                            m.run_id,
                            m.started,
                            m.outcome.as_str(),
                            m.duration_seconds().unwrap_or(0.0),
                            m.counts.rows_loaded,
                            m.counts.rows_quarantined,
                            note
                        )
                    }
                    Err(e) => format!(
                        "{:<26} {:<24} {:<24}  {e}",
                        id,
                        started[r].clone().unwrap_or_default(),
                        outcomes[r].clone().unwrap_or_default()
                    ),
                };
                lines.push(line);
            }
        }
        Ok(lines)
    }

    /// What `run` would do, in lines for a person: which sources it would
    /// load and why, which indicators it would compute, where it would
    /// publish, or that there is nothing new. Loads, computes, publishes
    /// and locks nothing.
    pub async fn dry_run(&self, options: &RunOptions) -> Result<Vec<String>> {
        let warehouse = self.open_warehouse()?;
        let mut lines = vec![format!(
            "Dry run of {}: nothing is loaded, computed or published.",
            self.file.display()
        )];
        let plans = peerbench_ingest::plan(
            &warehouse,
            &self.sources,
            &self.base_dir,
            Some(&self.register),
        )
        .await?;
        lines.push(format!("Sources (warehouse {}):", warehouse.location()));
        for p in &plans {
            lines.push(format!(
                "  {:<22} {:>4} file(s)  {}  {}",
                p.table,
                p.files,
                if p.load { "load" } else { "skip" },
                p.why
            ));
        }
        // The indicators and views as a run would read them, read once.
        let definitions = self.definitions()?;
        let catalogue = self.catalogue_of(&definitions, &options.select)?;
        let (drafts, computed): (Vec<&Indicator>, Vec<&Indicator>) =
            catalogue.iter().partition(|i| i.draft);
        lines.push(format!(
            "Indicators: {} to compute ({}){}",
            computed.len(),
            computed
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if drafts.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} draft(s) not run ({})",
                    drafts.len(),
                    drafts
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
        if !options.full
            && let Some(line) = self
                .reusable(&warehouse, &definitions, &plans, &computed)
                .await
        {
            lines.push(line);
        }
        let output = self.output_for(options);
        lines.push(format!(
            "Would publish to {} (keeping {} earlier publication(s) in {}.earlier), on a failing indicator: {}.",
            output.display(),
            self.keep,
            output.display(),
            match self.on_indicator_error {
                OnIndicatorError::PublishRest => "publish the rest (exit 3)",
                OnIndicatorError::Fail => "publish nothing (exit 1)",
            }
        ));
        if !options.force
            && !plans.iter().any(|p| p.load)
            && warehouse.version(RUNS_TABLE).await?.is_some()
        {
            let mut manifest = self.manifest_skeleton("dry-run", options)?;
            let (ctx, versions, _) = self.session_with(&warehouse, &definitions).await?;
            manifest.table_versions = versions
                .into_iter()
                .filter(|(t, _)| t != RUNS_TABLE)
                .collect();
            let id = self.content_id(&manifest, &catalogue, &self.views_text_of(&definitions));
            if let Some(last) = self.unchanged_since(&ctx, &id, &output).await {
                lines.push(format!(
                    "Nothing new since run {}: the run would exit 99 without computing or publishing (--force publishes anyway).",
                    last.run_id
                ));
            }
        }
        Ok(lines)
    }

    /// For a dry run: the indicators whose output a run would reuse (none
    /// of the tables they read is to be loaded, and their output for the
    /// tables as they are is kept), as a line; None when there are none or
    /// the warehouse has no tables yet.
    async fn reusable(
        &self,
        warehouse: &Warehouse,
        definitions: &Definitions,
        plans: &[peerbench_ingest::SourcePlan],
        computed: &[&Indicator],
    ) -> Option<String> {
        let (ctx, versions, _) = self.session_with(warehouse, definitions).await.ok()?;
        let versions: BTreeMap<String, u64> = versions.into_iter().collect();
        let views = self.views_text_of(definitions);
        let mut reused = Vec::new();
        for ind in computed {
            let Ok(read) = peerbench_indicators::tables_read(&ctx, ind).await else {
                continue;
            };
            let loading = plans.iter().any(|p| p.load && read.contains(&p.table));
            if let (false, Some(key)) = (loading, reuse::key(ind, &views, &versions, &read))
                && reuse::is_kept(warehouse, &ind.id, &key).await
            {
                reused.push(ind.id.as_str());
            }
        }
        (!reused.is_empty()).then(|| {
            format!(
                "  of which {} would be reused, no table they read having changed ({}); --full computes them all",
                reused.len(),
                reused.join(", ")
            )
        })
    }

    /// What a manifest knows before the run starts.
    fn manifest_skeleton(&self, run_id: &str, options: &RunOptions) -> Result<Manifest> {
        let pipeline_bytes = std::fs::read(&self.file).map_err(|source| PipelineError::Read {
            path: self.file.clone(),
            source,
        })?;
        let started = manifest::now();
        Ok(Manifest {
            schema_version: manifest::MANIFEST_SCHEMA,
            run_id: run_id.to_string(),
            content_id: String::new(),
            report_id: String::new(),
            command: "run".into(),
            started: started.clone(),
            ended: started,
            outcome: Outcome::Failed,
            error: None,
            peerbench_version: env!("CARGO_PKG_VERSION").to_string(),
            pipeline: manifest::PipelineFile {
                path: self.file.display().to_string(),
                sha256: hex(&Sha256::digest(&pipeline_bytes)),
            },
            warehouse: self.warehouse.clone(),
            output: Some(self.output_for(options).display().to_string()),
            inputs: Vec::new(),
            table_versions: BTreeMap::new(),
            indicators: Vec::new(),
            counts: manifest::Counts::default(),
            quarantine_by_check: BTreeMap::new(),
            warnings: Vec::new(),
            stage_seconds: BTreeMap::new(),
            compare_work_seconds: None,
            peak_memory_bytes: None,
            definitions: None,
        })
    }

    /// Where a run publishes: `--out`, else the pipeline's `output`; a
    /// `--select` run without `--out` publishes beside it in
    /// `<output>-select`, so a trial never replaces the board's pack.
    fn output_for(&self, options: &RunOptions) -> PathBuf {
        let beside = |suffix: &str| {
            let mut name = self.output.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            self.output.with_file_name(name)
        };
        match (&options.out, &options.as_of, options.select.is_empty()) {
            (Some(out), _, _) => out.clone(),
            (None, Some(run), _) => beside(&format!("-as-of-{run}")),
            (None, None, true) => self.output.clone(),
            (None, None, false) => beside("-select"),
        }
    }

    /// What a publication is made from, as one hash: the release, the
    /// pipeline file, where it reads and publishes, the table versions, and
    /// every indicator's and shared view's SQL.
    ///
    /// Paths are hashed as real paths: the same pipeline named as
    /// `pipelines/x.toml` from one folder and `/srv/pb/pipelines/x.toml`
    /// from another is the same content, and an unchanged night exits 99
    /// whichever way the scheduler spells it.
    fn content_id(&self, manifest: &Manifest, catalogue: &[Indicator], views: &str) -> String {
        let real = real_path;
        let mut h = Sha256::new();
        h.update(format!(
            "peerbench {}\npipeline {}\nwarehouse {}\noutput {:?}\n",
            manifest.peerbench_version,
            manifest.pipeline.sha256,
            real(&manifest.warehouse),
            manifest.output.as_deref().map(real)
        ));
        for (t, v) in &manifest.table_versions {
            h.update(format!("{t}@{v};"));
        }
        for ind in catalogue {
            h.update(format!(
                "{}\n{}\n",
                real(&ind.path.display().to_string()),
                ind.sql
            ));
        }
        h.update(views);
        hex(&h.finalize())
    }

    /// The last successful publication made from exactly this content, if
    /// the output folder still holds it.
    async fn unchanged_since(
        &self,
        ctx: &SessionContext,
        content_id: &str,
        output: &Path,
    ) -> Option<Manifest> {
        if !ctx.table_exist(RUNS_TABLE).ok()? {
            return None;
        }
        let sql = format!(
            "SELECT manifest FROM {RUNS_TABLE} WHERE outcome = 'success' AND content_id = '{content_id}' ORDER BY started DESC LIMIT 1"
        );
        let batches = query(ctx, &sql).await.ok()?;
        let text = batches
            .first()
            .and_then(|b| text_column(b, 0).ok())?
            .into_iter()
            .next()??;
        let last = Manifest::parse(RUNS_TABLE, &text).ok()?;
        let published = std::fs::read_to_string(output.join("run.json")).ok()?;
        let published = Manifest::parse("run.json", &published).ok()?;
        (last.content_id == content_id && published.content_id == content_id).then_some(last)
    }

    /// An indicator's rows: its output kept by an earlier run when every
    /// table its SQL reads is at the same version (and its SQL, the views
    /// and this release are the same), else computed now and kept. True
    /// when reused.
    #[allow(clippy::too_many_arguments)]
    async fn compute_or_reuse(
        &self,
        warehouse: &Warehouse,
        ctx: &SessionContext,
        (i, ind): (usize, &Indicator),
        read: Option<&BTreeSet<String>>,
        views: &str,
        versions: &BTreeMap<String, u64>,
        outputs: &mut Outputs,
        views_once: &mut ViewsOnce,
    ) -> (
        std::result::Result<Rows, peerbench_indicators::IndicatorError>,
        bool,
        Option<f64>,
    ) {
        // An indicator that cannot be planned has no key; computing it
        // gives the error its usual words.
        let key = read.and_then(|read| reuse::key(ind, views, versions, read));
        let Outputs {
            reuse_kept,
            keep,
            same_query,
        } = outputs;
        let shared = same_query.take(ind);
        let shared_rows = shared.as_ref().and_then(|s| s.rows_for(ind));
        if let (Some(key), true) = (&key, *reuse_kept) {
            // The rows an earlier indicator read from the same query's output
            // are this one's too; its own kept output need only be there.
            if let Some(rows) = &shared_rows
                && reuse::is_kept(warehouse, &ind.id, key).await
            {
                return (Ok(Arc::clone(rows)), true, None);
            }
            if let Some(kept) = reuse::load(warehouse, &ind.id, key).await {
                let kept = Arc::new(kept);
                same_query.hold(ind, &kept);
                let rows = peerbench_indicators::rows_of(ind, &kept.batches).map(Arc::new);
                if let Ok(rows) = &rows {
                    same_query.hold_read(ind, rows, None);
                }
                return (rows, true, None);
            }
        }
        let t = std::time::Instant::now();
        let (computed, shared_kept) = match shared {
            Some(shared) => (shared.computed, shared.kept),
            None => {
                views_once
                    .before(ctx, i, self.limits.indicator_timeout)
                    .await;
                match peerbench_indicators::compute(ctx, ind, self.limits.indicator_timeout).await {
                    Ok(c) => (Arc::new(c), None),
                    Err(e) => return (Err(e), false, None),
                }
            }
        };
        same_query.hold(ind, &computed);
        let sql = t.elapsed().as_secs_f64();
        let rows = match shared_rows {
            Some(rows) => Ok(rows),
            None => peerbench_indicators::rows_of(ind, &computed.batches).map(Arc::new),
        };
        let read = t.elapsed().as_secs_f64() - sql;
        if let Ok(rows) = &rows {
            let kept = match (&key, *keep) {
                (Some(_), true) => {
                    shared_kept.or_else(|| reuse::encode(&ind.id, &computed).map(Arc::new))
                }
                _ => None,
            };
            same_query.hold_read(ind, rows, kept.as_ref());
            if let (Some(key), Some(kept)) = (&key, kept) {
                let bytes = Arc::try_unwrap(kept).unwrap_or_else(|held| held.to_vec());
                reuse::store(warehouse, &ind.id, key, bytes).await;
            }
        }
        tracing::debug!(
            indicator = ind.id,
            "SQL {sql:.2}s, rows {read:.2}s, kept {:.2}s",
            t.elapsed().as_secs_f64() - sql - read
        );
        (rows, false, Some(sql))
    }

    async fn run_locked(
        &self,
        warehouse: &Warehouse,
        lock: &RunLock,
        options: &RunOptions,
        manifest: &mut Manifest,
    ) -> Result<RunSummary> {
        let output = self.output_for(options);
        let stage_started = std::time::Instant::now();
        let ingest = self
            .ingest_locked(warehouse)
            .instrument(stage_span("ingest"))
            .await;
        add_stage_time(manifest, "ingest", stage_started.elapsed());
        let ingest = ingest?;
        record_ingest(manifest, &ingest);
        stage_finished("ingest", manifest.stage_seconds["ingest"]);
        // The indicators stage: the session, the register and each
        // indicator's SQL. Each indicator is compared as soon as it is
        // computed (the compare stage), so only one indicator's rows are
        // held at a time; the time goes to the stage doing the work.
        let indicators_span = stage_span("indicators");
        let stage_started = std::time::Instant::now();
        // Everything the run is made from is read once, here.
        let definitions = self.definitions()?;
        let (ctx, versions, _) = self
            .session_with(warehouse, &definitions)
            .instrument(indicators_span.clone())
            .await?;
        // The runs table changes every run: it is not something a
        // publication is made from (nor listed on its pages).
        let versions: Vec<(String, u64)> = versions
            .into_iter()
            .filter(|(t, _)| t != RUNS_TABLE)
            .collect();
        manifest.table_versions = versions.iter().cloned().collect();
        let catalogue = self.catalogue_of(&definitions, &options.select)?;
        if !options.select.is_empty() {
            manifest.command = format!("run --select {}", options.select.join(" --select "));
        }
        let views = self.views_text_of(&definitions);
        manifest.content_id = self.content_id(manifest, &catalogue, &views);
        let loaded_anything = ingest.sources.iter().any(|s| s.committed_version.is_some());
        // A run killed while publishing left its half-built copy beside the
        // output: cleared now, under the lock, not at the next publication,
        // which may be days away when nothing new arrives.
        peerbench_report::recover_publication(&output)?;
        if !options.force
            && !loaded_anything
            && let Some(last) = self
                .unchanged_since(&ctx, &manifest.content_id, &output)
                .instrument(indicators_span.clone())
                .await
        {
            indicators_span.in_scope(|| {
                tracing::info!(
                    last_run = last.run_id,
                    "nothing new since the last publication"
                )
            });
            add_stage_time(manifest, "indicators", stage_started.elapsed());
            return Ok(RunSummary {
                ingest,
                indicators: 0,
                published: None,
                run_id: last.report_id.clone(),
                quarantine_csv: output.join("data").join("quarantine.csv"),
                outcome: Outcome::NothingNew,
                not_computed: Vec::new(),
                nothing_new_since: Some(last),
                manifest: manifest.clone(),
                outliers: BTreeMap::new(),
            });
        }
        let sql = self
            .engine_session(warehouse, &ctx, &versions, &definitions)
            .instrument(indicators_span.clone())
            .await?;
        manifest.definitions = Some(definitions);
        self.compute_and_publish(
            warehouse,
            Some(lock),
            Tonight {
                ctx,
                sql,
                versions,
                catalogue,
                views,
                ingest,
                output,
                started: stage_started,
                span: indicators_span,
                keep_outputs: true,
            },
            options,
            manifest,
        )
        .await
    }

    /// The indicators, comparisons and publication of a run, from a session
    /// over the table versions it reads (tonight's, or a past run's).
    async fn compute_and_publish(
        &self,
        warehouse: &Warehouse,
        lock: Option<&RunLock>,
        tonight: Tonight,
        options: &RunOptions,
        manifest: &mut Manifest,
    ) -> Result<RunSummary> {
        let mut practices = self
            .practices(&tonight.ctx)
            .instrument(tonight.span.clone())
            .await?;
        self.add_registered_lists(&tonight.ctx, &mut practices)
            .instrument(tonight.span.clone())
            .await;
        self.add_descriptors(&tonight.ctx, &mut practices)
            .instrument(tonight.span.clone())
            .await?;
        let compared = self
            .compute_indicators(warehouse, &tonight, !options.full, &practices, manifest)
            .await;
        // One record of the stages' times, adding up to the run's:
        // comparisons overlap the indicators' SQL, and the time the run
        // waited for them goes to the compare stage.
        add_stage_time(
            manifest,
            "indicators",
            tonight.started.elapsed().saturating_sub(compared.waited),
        );
        add_stage_time(manifest, "compare", compared.waited);
        manifest.compare_work_seconds = Some(compared.took.as_secs_f64());
        tonight.span.in_scope(|| {
            tracing::info!(
                seconds = compared.took.as_secs_f64(),
                waited = compared.waited.as_secs_f64(),
                "comparisons took {:.1}s, {:.1}s of it beyond the indicators' SQL",
                compared.took.as_secs_f64(),
                compared.waited.as_secs_f64()
            )
        });
        if let Some(e) = compared.engine_failed {
            return Err(e.into());
        }
        self.refuse_failures(&tonight.catalogue, &compared.not_computed)?;
        stage_finished("indicators", manifest.stage_seconds["indicators"]);
        self.publish(lock, tonight, practices, compared, manifest)
            .await
    }

    /// Computes (or reuses) each indicator of the catalogue, recording it in
    /// the manifest, and compares each practice with its peers as soon as
    /// the indicator's rows are there, so only one indicator's rows are held
    /// at a time.
    async fn compute_indicators(
        &self,
        warehouse: &Warehouse,
        tonight: &Tonight,
        reuse_kept: bool,
        practices: &BTreeMap<String, PracticeInfo>,
        manifest: &mut Manifest,
    ) -> Compared {
        let Tonight {
            sql: ctx,
            catalogue,
            views,
            span: indicators_span,
            keep_outputs,
            ..
        } = tonight;
        let practice_map: Arc<HashMap<String, PracticeInfo>> = Arc::new(
            practices
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let compare_options = CompareOptions {
            spc: self.spc,
            phi: self.phi,
        };
        let groups: Arc<Vec<_>> = Arc::new(
            self.peer_groups
                .iter()
                .map(|g| g.resolve(&practice_map))
                .collect(),
        );
        let mut compared = Compared {
            results: Vec::new(),
            not_computed: Vec::new(),
            engine_failed: None,
            took: std::time::Duration::ZERO,
            waited: std::time::Duration::ZERO,
        };
        let compare_span = stage_span("compare");
        // An indicator's comparison runs on a thread of its own while the
        // next indicators' SQL runs, as many comparisons at a time as there
        // are cores, and results are added in the catalogue's order. The
        // two had taken turns, and a comparison (one thread) left a core
        // idle; an indicator's SQL read back from an earlier run takes no
        // time, so comparisons are then all the stage does.
        let mut comparing: std::collections::VecDeque<Comparing> = Default::default();
        let side_by_side = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut outputs = Outputs {
            reuse_kept,
            keep: *keep_outputs,
            same_query: SameQuery::of(catalogue.iter().filter(|ind| !ind.draft)),
        };
        // What each query reads (the tables that key its kept output), found
        // through the views as defined, before any view's rows stand in for
        // it. None for a query that cannot be planned.
        let mut read = HashMap::new();
        for (i, ind) in catalogue.iter().enumerate().filter(|(_, ind)| !ind.draft) {
            if let Ok(tables) = peerbench_indicators::tables_read(ctx, ind).await {
                read.insert(i, tables);
            }
        }
        let mut views_once = if self.engine.is_local() {
            ViewsOnce::of(ctx, catalogue).await
        } else {
            ViewsOnce::none()
        };
        for (i, ind) in catalogue.iter().enumerate() {
            progress("computing indicators", i, catalogue.len(), &ind.id);
            let sql_sha256 = hex(&Sha256::digest(format!("{}{views}", ind.sql)));
            let mut record = |status: &str,
                              rows: usize,
                              (seconds, sql_seconds): (f64, Option<f64>),
                              error: Option<String>| {
                manifest.indicators.push(manifest::IndicatorRun {
                    id: ind.id.clone(),
                    sql_sha256: sql_sha256.clone(),
                    status: status.to_string(),
                    rows,
                    seconds,
                    sql_seconds,
                    error,
                });
            };
            // A draft is checked and tested by `indicators check`/`test`;
            // the nightly run neither computes nor publishes it, so a
            // half-written indicator cannot cost the board its pack.
            if ind.draft {
                indicators_span.in_scope(|| tracing::info!(indicator = ind.id, "draft: not run"));
                record("draft_not_run", 0, (0.0, None), None);
                continue;
            }
            let started = std::time::Instant::now();
            let (computed, reused, sql) = self
                .compute_or_reuse(
                    warehouse,
                    ctx,
                    (i, ind),
                    read.get(&i),
                    views,
                    &manifest.table_versions,
                    &mut outputs,
                    &mut views_once,
                )
                .instrument(indicators_span.clone())
                .await;
            views_once.after(ctx, i);
            match computed {
                Ok(rows) => {
                    let status = if reused { "reused" } else { "computed" };
                    // "computed" as before reuse came, so log readers keep
                    // finding it; "reused" otherwise.
                    indicators_span.in_scope(|| {
                        tracing::info!(indicator = ind.id, rows = rows.len(), "{status}")
                    });
                    record(
                        status,
                        rows.len(),
                        (started.elapsed().as_secs_f64(), sql),
                        None,
                    );
                    manifest.counts.indicator_rows += rows.len();
                    if comparing.len() >= side_by_side
                        && let Some(first) = comparing.pop_front()
                    {
                        compared.add(first).await;
                    }
                    let (ind, practice_map, groups, span) = (
                        ind.clone(),
                        Arc::clone(&practice_map),
                        Arc::clone(&groups),
                        compare_span.clone(),
                    );
                    comparing.push_back(tokio::task::spawn_blocking(move || {
                        let started = std::time::Instant::now();
                        let results = span.in_scope(|| {
                            compare_indicator(&ind, &rows, &practice_map, &groups, &compare_options)
                        });
                        drop(rows);
                        (results, started.elapsed())
                    }));
                }
                Err(e) => {
                    indicators_span.in_scope(|| tracing::error!(indicator = ind.id, "{e}"));
                    record(
                        "failed",
                        0,
                        (started.elapsed().as_secs_f64(), None),
                        Some(e.to_string()),
                    );
                    if matches!(e, peerbench_indicators::IndicatorError::Engine { .. }) {
                        compared.engine_failed = Some(e);
                        break;
                    }
                    compared.not_computed.push(NotComputed {
                        id: ind.id.clone(),
                        title: ind.title.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        views_once.put_all_back(ctx);
        while let Some(first) = comparing.pop_front() {
            compared.add(first).await;
        }
        progress("computing indicators", catalogue.len(), catalogue.len(), "");
        compared
    }

    /// Nothing is published when an indicator failed and the pipeline says
    /// so, or when every indicator failed.
    fn refuse_failures(&self, catalogue: &[Indicator], failed: &[NotComputed]) -> Result<()> {
        let every = failed.len() == catalogue.iter().filter(|i| !i.draft).count();
        if !failed.is_empty() && (self.on_indicator_error == OnIndicatorError::Fail || every) {
            return Err(PipelineError::IndicatorsFailed {
                failed: failed.iter().map(|f| f.reason.clone()).collect(),
                every: self.on_indicator_error != OnIndicatorError::Fail,
            });
        }
        Ok(())
    }

    /// The checks on the data the pages show beside the numbers: each
    /// source's latest month and the practices missing from it, and the
    /// practices whose latest period jumped.
    async fn data_checks(&self, ctx: &SessionContext) -> DataChecks {
        DataChecks {
            completeness: self.latest_completeness(ctx).await,
            jumps: self.period_jumps(ctx).await,
        }
    }

    /// Where the publication's numbers come from and how good the data
    /// was: the run, the table versions, and per source its files, the
    /// rows set aside, its latest month's missing practices and sudden
    /// changes.
    fn provenance(
        &self,
        run_id: String,
        versions: Vec<(String, u64)>,
        ingest: &IngestSummary,
        practices: &BTreeMap<String, PracticeInfo>,
        checks: DataChecks,
    ) -> Provenance {
        let DataChecks {
            completeness,
            mut jumps,
        } = checks;
        let mut quarantined_by_practice = BTreeMap::new();
        for q in &ingest.quarantined {
            if let Some(code) = practice_of(&q.raw, |code| practices.contains_key(code)) {
                *quarantined_by_practice.entry(code.to_string()).or_insert(0) += 1;
            }
        }
        Provenance {
            run_id,
            peerbench_version: env!("CARGO_PKG_VERSION").to_string(),
            pipeline_name: self
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            table_versions: versions,
            sources: ingest
                .sources
                .iter()
                .map(|s| SourceQuality {
                    table: s.table.clone(),
                    files: s.files.len(),
                    rows_loaded: s.rows_loaded(),
                    rows_quarantined: s.rows_quarantined(),
                    by_check: s
                        .quarantine_by_check
                        .iter()
                        .map(|(k, v)| (k.to_string(), *v))
                        .collect(),
                    latest_month: completeness.get(&s.table).map(|c| c.month.clone()),
                    missing_latest: completeness
                        .get(&s.table)
                        .map(|c| c.missing.clone())
                        .unwrap_or_default(),
                    later_months: completeness
                        .get(&s.table)
                        .map(|c| c.not_yet_shown.clone())
                        .unwrap_or_default(),
                    rows_replaced: s.rows_superseded(),
                    warning: s.warning.clone(),
                    jumps: jumps.remove(&s.table).unwrap_or_default(),
                })
                .collect(),
            quarantined_by_practice,
            unclaimed_files: ingest.unclaimed.clone(),
        }
    }

    /// The compare stage's checks on the data (completeness, sudden
    /// changes, outliers) and the publication of the pages.
    async fn publish(
        &self,
        lock: Option<&RunLock>,
        tonight: Tonight,
        practices: BTreeMap<String, PracticeInfo>,
        compared: Compared,
        manifest: &mut Manifest,
    ) -> Result<RunSummary> {
        let Tonight {
            ctx,
            versions,
            catalogue,
            ingest,
            output,
            ..
        } = tonight;
        let Compared {
            results,
            not_computed,
            ..
        } = compared;
        let stage_started = std::time::Instant::now();
        let run_id = report_id(&versions, &catalogue);
        let checks = self
            .data_checks(&ctx)
            .instrument(stage_span("compare"))
            .await;
        // Failed indicators have no count (not a count of 0).
        let mut outliers = outliers(&catalogue, &results, &self.primary_peer_group);
        outliers.retain(|id, _| !not_computed.iter().any(|n| n.id == *id));
        add_stage_time(manifest, "compare", stage_started.elapsed());
        stage_finished("compare", manifest.stage_seconds["compare"]);
        peerbench_report::release_freed_memory();
        let stage_started = std::time::Instant::now();
        let publish_span = stage_span("publish");
        let _publishing = publish_span.enter();
        let provenance = self.provenance(run_id.clone(), versions, &ingest, &practices, checks);
        let outcome = if not_computed.is_empty() {
            Outcome::Success
        } else {
            Outcome::PublishedWithFailures
        };
        manifest.report_id = run_id.clone();
        manifest.outcome = outcome;
        manifest.counts.result_rows = results.len();
        manifest.counts.outliers = outliers.values().sum();
        // Failed indicators are left out of the pages, and said so.
        let published_catalogue: Vec<Indicator> = catalogue
            .iter()
            .filter(|i| !not_computed.iter().any(|n| n.id == i.id))
            .cloned()
            .collect();
        // run.json is written into the publication once its pages are:
        // its end time is then, before the swap, and it has no publish
        // stage time (the runs table has both).
        let published_manifest = manifest.clone();
        let run_record = move |pages: usize, reused: peerbench_report::Reused| {
            let mut record = published_manifest.clone();
            record.counts.pages = pages;
            record.counts.files_linked = reused.linked;
            record.counts.files_not_made = reused.not_made;
            record.ended = manifest::now();
            record.peak_memory_bytes = manifest::peak_memory_bytes();
            record.to_json().into_bytes()
        };
        let input = ReportInput {
            title: self.name.clone(),
            indicators: &published_catalogue,
            practices: &practices,
            results: &results,
            primary_peer_group: self.primary_peer_group.clone(),
            provenance,
            changes: what_changed(&results, &self.primary_peer_group),
            peer_groups: self.peer_groups.clone(),
            disclosure: self.disclosure,
            verdict: self.verdict,
            phi: self.phi,
            keep_earlier: self.keep,
            not_computed: not_computed.clone(),
            extra_files: vec![(
                PathBuf::from("data/quarantine.csv"),
                quarantine_csv(&ingest)?,
            )],
            run_record: Some(&run_record),
        };
        // An object-store lock whose heartbeat stalled may have been taken
        // over: then another run owns the warehouse, and this one must not
        // publish what it computed.
        if let Some(lock) = lock.filter(|l| l.lost()) {
            return Err(PipelineError::LockLost(lock.location().to_string()));
        }
        let published = peerbench_report::publish(&input, &output);
        add_stage_time(manifest, "publish", stage_started.elapsed());
        let published = published?;
        manifest.counts.pages = published.pages;
        manifest.counts.files_linked = published.reused.linked;
        manifest.counts.files_not_made = published.reused.not_made;
        stage_finished("publish", manifest.stage_seconds["publish"]);
        tracing::info!(
            report = %published.index.display(),
            report_run_id = run_id,
            pages = published.pages,
            "published"
        );
        let quarantine_csv = output.join("data").join("quarantine.csv");
        Ok(RunSummary {
            ingest,
            indicators: published_catalogue.iter().filter(|i| !i.draft).count(),
            published: Some(published),
            run_id,
            quarantine_csv,
            outcome,
            not_computed,
            nothing_new_since: None,
            manifest: manifest.clone(),
            outliers,
        })
    }
}

/// The practice a set-aside row is from: the first of its fields that is a
/// practice's code, spaces and quotes trimmed. A row set aside for a stray
/// quote keeps its line's text as it was, quote and all, and its practice's
/// page must still count it.
fn practice_of(raw: &str, is_practice: impl Fn(&str) -> bool) -> Option<&str> {
    raw.split(',')
        .map(|f| f.trim().trim_matches('"').trim())
        .find(|f| is_practice(f))
}

/// Per indicator, the practices outside its 99.8% funnel limits (after the
/// overdispersion allowance) in its latest period, against the primary peer
/// group: the rows the board lists as outliers, before disclosure control.
/// Every indicator computed is named, with 0 where none is outside.
fn outliers(
    catalogue: &[Indicator],
    results: &[ResultRow],
    primary_peer_group: &str,
) -> BTreeMap<String, usize> {
    let primary = || {
        results
            .iter()
            .filter(|r| &*r.peer_group == primary_peer_group)
    };
    let mut latest: HashMap<&str, &str> = HashMap::new();
    for r in primary() {
        let e = latest.entry(&r.indicator_id).or_insert(&r.period);
        if r.period.as_str() > *e {
            *e = &r.period;
        }
    }
    let mut out: BTreeMap<String, usize> = catalogue
        .iter()
        .filter(|i| !i.draft)
        .map(|i| (i.id.clone(), 0))
        .collect();
    for r in primary() {
        if latest.get(r.indicator_id.as_str()) == Some(&r.period.as_str())
            && r.funnel_flag.is_some_and(|f| f.is_outlier())
        {
            *out.entry(r.indicator_id.to_string()).or_default() += 1;
        }
    }
    out
}

/// The run's quarantined rows as CSV, for the people who can fix them. The
/// report's CSV writer quotes as needed and neutralises text a spreadsheet
/// would run (the raw lines come from outside); the header is always there.
fn quarantine_csv(ingest: &IngestSummary) -> Result<Vec<u8>> {
    peerbench_report::csv_bytes(
        &["source", "file", "line", "check", "reason", "raw"],
        ingest.quarantined.iter().map(|r| {
            use peerbench_report::Cell;
            vec![
                Cell::Text(&r.source),
                Cell::Text(&r.file),
                Cell::Whole(r.line as u64),
                Cell::Text(r.check.as_str()),
                Cell::Text(&r.reason),
                Cell::Text(&r.raw),
            ]
        }),
    )
    .map_err(|source| {
        peerbench_report::ReportError::Csv {
            what: "quarantine.csv".into(),
            source,
        }
        .into()
    })
}

/// A query's rows.
async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, TableError> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// An error reading the runs table.
fn runs_table(source: TableError) -> PipelineError {
    PipelineError::Table {
        table: RUNS_TABLE.to_string(),
        source,
    }
}

/// One column of a batch as text, whatever its type (nulls as None).
fn text_column(b: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, TableError> {
    let col = cast(b.column(i), &DataType::Utf8)?;
    let col = col
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| TableError::NotText(format!("column {i}")))?;
    Ok((0..col.len())
        .map(|r| col.is_valid(r).then(|| col.value(r).to_string()))
        .collect())
}

/// Each practice's registered patients in its own latest period of a
/// source counting `patients`: (practice code, YYYY-MM, patients).
async fn latest_lists(
    ctx: &SessionContext,
    source: &Source,
) -> Result<Vec<(String, String, f64)>, TableError> {
    let shape = &source.shape;
    let (Some(practice), Some(period)) = (shape.practice_column(), shape.period_column()) else {
        return Ok(Vec::new());
    };
    let t = &source.table;
    let sql = format!(
        "WITH per AS (SELECT {practice} AS practice_code, {period} AS period, sum(patients) AS patients FROM {t} GROUP BY 1, 2), \
         latest AS (SELECT practice_code, max(period) AS period FROM per GROUP BY 1) \
         SELECT per.practice_code, CAST(per.period AS VARCHAR), CAST(per.patients AS DOUBLE) \
         FROM per JOIN latest ON per.practice_code = latest.practice_code AND per.period = latest.period ORDER BY 1"
    );
    let mut out = Vec::new();
    for b in query(ctx, &sql).await? {
        let (codes, periods, patients) = (
            text_column(&b, 0)?,
            text_column(&b, 1)?,
            text_column(&b, 2)?,
        );
        for ((code, period), n) in codes.into_iter().zip(periods).zip(patients) {
            if let (Some(code), Some(period), Some(n)) =
                (code, period, n.and_then(|n| n.parse::<f64>().ok()))
            {
                // Periods are dates for a monthly extract: show YYYY-MM.
                let month = if period.len() == 10 && period.as_bytes()[4] == b'-' {
                    period[..7].to_string()
                } else {
                    period
                };
                out.push((code, month, n));
            }
        }
    }
    Ok(out)
}

/// One source's sudden changes since the previous period (see
/// `Pipeline::period_jumps`); None when the source has no period. The
/// latest period is the newest at least half of the source's practices
/// have sent, as everywhere else (`peerbench_compare::enough_sent`): with one practice's next month in early,
/// the newest would have left every other practice unchecked.
async fn source_jumps(
    ctx: &SessionContext,
    source: &Source,
) -> Result<Option<Vec<Jump>>, TableError> {
    let shape = &source.shape;
    let (Some(practice), Some(period)) = (shape.practice_column(), shape.period_column()) else {
        return Ok(None);
    };
    let patients = shape.columns.iter().any(|c| {
        c.name == "patients" && matches!(c.kind, peerbench_ingest::ColumnKind::Count { .. })
    });
    let t = &source.table;
    let list = if patients {
        "CAST(sum(patients) AS BIGINT)"
    } else {
        "CAST(NULL AS BIGINT)"
    };
    let sql = format!(
        "WITH per AS (SELECT {practice} AS practice_code, {period} AS period, count(*) AS n, {list} AS patients FROM {t} GROUP BY 1, 2), \
         periods AS (SELECT period, count(*) AS practices FROM per GROUP BY period), \
         everyone AS (SELECT count(DISTINCT practice_code) AS n FROM per), \
         reported AS (SELECT coalesce(max(CASE WHEN 2 * practices >= (SELECT n FROM everyone) THEN period END), max(period)) AS period FROM periods), \
         before AS (SELECT max(period) AS period FROM periods WHERE period < (SELECT period FROM reported)), \
         latest AS (SELECT * FROM per WHERE period = (SELECT period FROM reported)), \
         previous AS (SELECT * FROM per WHERE period = (SELECT period FROM before)) \
         SELECT l.practice_code, CAST(p.period AS VARCHAR), CAST(l.period AS VARCHAR), p.n, l.n, p.patients, l.patients \
         FROM latest l JOIN previous p ON l.practice_code = p.practice_code ORDER BY 1"
    );
    // Periods are months (dates) for most sources: show YYYY-MM.
    let short = |s: &Option<String>| {
        let s = s.as_deref().unwrap_or_default();
        if s.len() == 10 && s.as_bytes()[4] == b'-' {
            s[..7].to_string()
        } else {
            s.to_string()
        }
    };
    let mut jumps = Vec::new();
    for b in query(ctx, &sql).await? {
        let (codes, prev_period, latest_period) = (
            text_column(&b, 0)?,
            text_column(&b, 1)?,
            text_column(&b, 2)?,
        );
        let number = |i: usize| -> Result<Vec<Option<i64>>, TableError> {
            Ok(text_column(&b, i)?
                .into_iter()
                .map(|s| s.and_then(|s| s.parse().ok()))
                .collect())
        };
        let (prev_n, latest_n, prev_p, latest_p) = (number(3)?, number(4)?, number(5)?, number(6)?);
        for r in 0..codes.len() {
            let jump = |measure: &str, previous: i64, latest: i64| Jump {
                practice_code: codes[r].clone().unwrap_or_default(),
                measure: measure.to_string(),
                previous_period: short(&prev_period[r]),
                latest_period: short(&latest_period[r]),
                previous,
                latest,
            };
            if let (Some(p), Some(l)) = (prev_p[r], latest_p[r])
                && p >= 100
                && (l - p).abs() * 10 >= p
            {
                jumps.push(jump("registered patients", p, l));
            }
            if let (Some(p), Some(l)) = (prev_n[r], latest_n[r])
                && p >= 5
                && (l * 2 <= p || l >= 2 * p)
            {
                jumps.push(jump("rows", p, l));
            }
        }
    }
    Ok(Some(jumps))
}

/// Where tonight's indicator outputs come from and whether they are kept.
struct Outputs {
    /// An output kept by an earlier run is read back when its key matches.
    reuse_kept: bool,
    /// Each computed output is kept for later runs.
    keep: bool,
    same_query: SameQuery,
}

/// Indicators whose queries are the same text (the standardised DSR and
/// ISR both read the admissions strata, 5.7 million rows nationally at 24
/// months): the query runs once, for the first of them, and its output is
/// held until the last has read it, then let go.
struct SameQuery {
    /// Query text → indicators still to read it, and what the first made
    /// of its output.
    waiting: HashMap<String, (usize, Option<SharedOutput>)>,
}

/// A query's output as the first indicator to run it made it, for the
/// others that run the same text.
#[derive(Clone)]
struct SharedOutput {
    computed: Arc<peerbench_indicators::Computed>,
    /// Its rows, read for a standardised indicator or for another (the
    /// only thing about the indicator reading them depends on), once read:
    /// nationally over two years reading the admissions strata again for
    /// the ISR took a second.
    rows: Option<(bool, Rows)>,
    /// The output as kept for later runs, once encoded.
    kept: Option<Arc<Vec<u8>>>,
}

/// An indicator's rows, shared by its comparison and any indicator that
/// runs the same query.
type Rows = Arc<Vec<IndicatorRow>>;

impl SameQuery {
    fn of<'a>(indicators: impl Iterator<Item = &'a Indicator>) -> SameQuery {
        let mut waiting: HashMap<String, (usize, Option<_>)> = HashMap::new();
        for ind in indicators {
            waiting.entry(ind.query().to_string()).or_default().0 += 1;
        }
        // A query only one indicator runs is never held.
        waiting.retain(|_, (n, _)| *n > 1);
        SameQuery { waiting }
    }

    /// The output of `ind`'s query if an earlier indicator ran it tonight.
    /// Called once for each indicator as it starts: after the last of them
    /// the output is let go.
    fn take(&mut self, ind: &Indicator) -> Option<SharedOutput> {
        let (left, held) = self.waiting.get_mut(ind.query())?;
        *left -= 1;
        let shared = held.clone();
        if *left == 0 {
            self.waiting.remove(ind.query());
        }
        if shared.is_some() {
            tracing::debug!(
                indicator = ind.id,
                "the same query as an earlier indicator's: its output is shared"
            );
        }
        shared
    }

    /// Holds `ind`'s query output for the indicators still to read it.
    fn hold(&mut self, ind: &Indicator, computed: &Arc<peerbench_indicators::Computed>) {
        // Gone when no indicator still to start runs the query.
        if let Some((_, held)) = self.waiting.get_mut(ind.query())
            && held.is_none()
        {
            *held = Some(SharedOutput {
                computed: Arc::clone(computed),
                rows: None,
                kept: None,
            });
        }
    }

    /// Holds the rows `ind` read from its query's output, and the output as
    /// kept, for the indicators still to read it.
    fn hold_read(&mut self, ind: &Indicator, rows: &Rows, kept: Option<&Arc<Vec<u8>>>) {
        if let Some((_, Some(held))) = self.waiting.get_mut(ind.query()) {
            held.rows
                .get_or_insert_with(|| (ind.value_type.is_standardised(), Arc::clone(rows)));
            if let Some(kept) = kept {
                held.kept.get_or_insert_with(|| Arc::clone(kept));
            }
        }
    }
}

impl SharedOutput {
    /// The rows an earlier indicator read from this output, if `ind` would
    /// read the same ones.
    fn rows_for(&self, ind: &Indicator) -> Option<Rows> {
        self.rows
            .as_ref()
            .filter(|(standardised, _)| *standardised == ind.value_type.is_standardised())
            .map(|(_, rows)| Arc::clone(rows))
    }
}

/// A local path as the file system names it (absolute, links and `..`
/// resolved), whether or not it exists yet: the longest part of it that
/// exists is resolved and the rest appended. A URL is left as it is.
fn real_path(p: &str) -> String {
    if peerbench_warehouse::is_url(p) {
        return p.to_string();
    }
    let path = Path::new(p);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(dir) => dir.join(path),
            Err(_) => return p.to_string(),
        }
    };
    let parts: Vec<std::path::Component> = absolute.components().collect();
    for exists in (1..=parts.len()).rev() {
        let Ok(mut real) = parts[..exists].iter().collect::<PathBuf>().canonicalize() else {
            continue;
        };
        for part in &parts[exists..] {
            match part {
                std::path::Component::ParentDir => {
                    real.pop();
                }
                std::path::Component::CurDir => {}
                other => real.push(other),
            }
        }
        return real.display().to_string();
    }
    p.to_string()
}
