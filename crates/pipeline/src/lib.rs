//! Runs the stages in order from a pipeline file: ingest the extracts into
//! the warehouse, compute the SQL indicators, compare practices with their
//! peers, publish the reports. The CLI is a thin shell over this crate.

mod config;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{Array, Float64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use peerbench_compare::{
    CompareOptions, PeerGroup, PeerGroupKind, PracticeInfo, ResultRow, compare_indicator,
    what_changed,
};
use peerbench_indicators::{load_catalogue, register_views, run_indicator, sandbox};
use peerbench_ingest::{IngestSummary, Source};
use peerbench_report::{Jump, Provenance, Published, ReportInput, SourceQuality};
use peerbench_warehouse::{Holder, LockError, RunLock, Warehouse, WarehouseError};
use sha2::{Digest, Sha256};
use tracing::Instrument;

pub use config::ConfigError;
pub use peerbench_indicators::{
    Indicator, Limits, fixture_path, format_duration, format_size, parse_duration, parse_size,
};
pub use peerbench_ingest::IngestSummary as IngestReport;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ingest(#[from] peerbench_ingest::IngestError),
    #[error(transparent)]
    Warehouse(#[from] peerbench_warehouse::WarehouseError),
    #[error(transparent)]
    Indicator(#[from] peerbench_indicators::IndicatorError),
    #[error(
        "{count} indicator(s) failed, so nothing was published (the previous report is untouched):\n{details}"
    )]
    IndicatorsFailed { count: usize, details: String },
    #[error(transparent)]
    Report(#[from] peerbench_report::ReportError),
    #[error("{0}")]
    Query(String),
    #[error(
        "the warehouse at {0} has no tables yet: run `peerbench ingest` or `peerbench run` with this pipeline first"
    )]
    EmptyWarehouse(String),
    #[error("the practice register table {table:?}: {message}")]
    Register { table: String, message: String },
    #[error(
        "another run took over the warehouse lock at {0} while this one was running (its heartbeat had stalled); nothing was published"
    )]
    LockLost(String),
}

impl PipelineError {
    /// The pipeline file itself is wrong (as opposed to the data or the run).
    pub fn is_configuration(&self) -> bool {
        matches!(self, PipelineError::Config(_))
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
    /// What each kind of published output may show.
    pub disclosure: peerbench_report::DisclosurePolicy,
    pub primary_peer_group: String,
    /// Time and memory limits on the indicators' SQL (`[limits]`).
    pub limits: Limits,
    pub sources: Vec<Source>,
    pub peer_groups: Vec<PeerGroup>,
    /// How long an object-store run lock may go without a heartbeat before
    /// another host may take it over.
    pub lock_stale_after: std::time::Duration,
    /// How many earlier publications stay in `<output>.earlier/`.
    pub keep: usize,
}

/// What a whole run did.
#[derive(Debug)]
pub struct RunSummary {
    pub ingest: IngestSummary,
    pub indicators: usize,
    pub published: Published,
    /// A fingerprint of what the results were computed from (the tables'
    /// versions and the indicators' SQL), shown on the report.
    pub run_id: String,
    /// This invocation's id (`<UTC time>-<pid>`): the `run_id` of every log
    /// line of the run, and the warehouse lock's holder.
    pub invocation_id: String,
    pub quarantine_csv: PathBuf,
    /// Wall time per stage (`ingest`, `indicators`, `compare`, `publish`).
    pub stages: StageTimes,
    /// Per indicator computed, the practices outside its 99.8% funnel
    /// limits in its latest period (primary peer group), as on the board.
    pub outliers: BTreeMap<String, usize>,
}

/// The time a run spent in each stage, in the order the stages began.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageTimes(pub Vec<(&'static str, Duration)>);

impl StageTimes {
    fn add(&mut self, stage: &'static str, took: Duration) {
        match self.0.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, d)) => *d += took,
            None => self.0.push((stage, took)),
        }
    }

    /// Logs a stage's time as it finishes (in its stage span, so a JSON
    /// line carries the stage).
    fn finished(&self, stage: &'static str) {
        if let Some((_, took)) = self.0.iter().find(|(s, _)| *s == stage) {
            stage_span(stage)
                .in_scope(|| tracing::info!(stage, seconds = took.as_secs_f64(), "stage finished"));
        }
    }
}

/// A new invocation's id: the UTC time it started and the process id,
/// e.g. `20261129T180409Z-41234`. It names the run in every log line (the
/// `run` span's `run_id`) and as the holder of the warehouse lock.
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

/// The span of one stage: `ingest`, `indicators`, `compare` or `publish`.
fn stage_span(stage: &str) -> tracing::Span {
    tracing::info_span!("stage", stage)
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
    async fn lock(&self, warehouse: &Warehouse, command: &str, run_id: &str) -> Result<RunLock> {
        let (lock, taken_over) = warehouse
            .lock(Holder::new(run_id, command), self.lock_stale_after)
            .await?;
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
            let started = Instant::now();
            let summary = self
                .ingest_locked(&warehouse)
                .instrument(stage_span("ingest"))
                .await;
            lock.release().await;
            if summary.is_ok() {
                StageTimes(vec![("ingest", started.elapsed())]).finished("ingest");
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
        let ctx = self.limits.session().map_err(PipelineError::Query)?;
        let mut versions = Vec::new();
        for table in warehouse.tables().await? {
            let version = warehouse.register(&ctx, &table, None).await?;
            versions.push((table, version));
        }
        if versions.is_empty() {
            return Err(PipelineError::EmptyWarehouse(warehouse.location()));
        }
        let views = match &self.views_dir {
            Some(dir) => register_views(&ctx, dir).await?,
            None => Vec::new(),
        };
        Ok((ctx, versions, views))
    }

    /// The indicator catalogue, narrowed by `--select` style selectors.
    pub fn indicators(&self, selectors: &[String]) -> Result<Vec<Indicator>> {
        let catalogue = load_catalogue(&self.indicators_dir)?;
        let picked =
            peerbench_indicators::select(&catalogue, selectors).map_err(PipelineError::Query)?;
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
            .await
            .map_err(PipelineError::Query)?;
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
            .map_err(|e| PipelineError::Query(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Writes a new indicator file with every metadata field.
    pub fn new_indicator(&self, id: &str, domain: &str) -> Result<PathBuf> {
        let d = peerbench_indicators::Domain::parse(domain).ok_or_else(|| {
            PipelineError::Query(format!(
                "unknown domain {domain:?} (domains: {})",
                peerbench_indicators::Domain::ALL
                    .map(|d| d.as_str())
                    .join(", ")
            ))
        })?;
        let text = peerbench_indicators::scaffold(id, d).map_err(PipelineError::Query)?;
        if load_catalogue(&self.indicators_dir)?
            .iter()
            .any(|i| i.id == id)
        {
            return Err(PipelineError::Query(format!(
                "an indicator {id:?} already exists"
            )));
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
            .map_err(|e| PipelineError::Query(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Runs read-only SQL against the warehouse (tables and shared views).
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let warehouse = self.open_warehouse()?;
        let (ctx, _, _) = self.session(&warehouse).await?;
        let df = ctx.sql_with_options(sql, sandbox()).await.map_err(|e| {
            let message = e.to_string();
            if message.contains("not supported") {
                PipelineError::Query(format!(
                    "queries are read-only: only SELECT is allowed ({message})"
                ))
            } else if peerbench_indicators::is_recursion_refused(&message) {
                PipelineError::Query(
                    peerbench_indicators::RECURSION_REFUSED.replace(" in indicators", ""),
                )
            } else {
                PipelineError::Query(message)
            }
        })?;
        df.collect().await.map_err(|e| {
            let root = e.find_root();
            if matches!(root, DataFusionError::ResourcesExhausted(_)) {
                PipelineError::Query(format!(
                    "the query needed more memory than memory_limit ({}) allows, even spilling to disk ({}): raise memory_limit under [limits] in the pipeline file, or use --memory-limit",
                    format_size(self.limits.memory_limit),
                    root.strip_backtrace()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("Resources exhausted: ")
                ))
            } else {
                PipelineError::Query(e.to_string())
            }
        })
    }

    async fn practices(&self, ctx: &SessionContext) -> Result<BTreeMap<String, PracticeInfo>> {
        let err = |message: String| PipelineError::Register {
            table: self.register.clone(),
            message,
        };
        let sql = format!(
            "SELECT practice_code, practice_name, pcn_code, pcn_name, federation, icb_code, \
             CAST(list_size AS DOUBLE) AS list_size FROM {} ORDER BY practice_code",
            self.register
        );
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(|e| err(e.to_string()))?
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut out = BTreeMap::new();
        for b in batches {
            let text: Vec<StringArray> = (0..6)
                .map(|i| {
                    cast(b.column(i), &DataType::Utf8)
                        .ok()
                        .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
                        .ok_or_else(|| err(format!("column {i} is not text")))
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
                        descriptors: BTreeMap::new(),
                    },
                );
            }
        }
        Ok(out)
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
        let err = |message: String| {
            PipelineError::Query(format!(
                "descriptors for similar practices ({}): {message}",
                self.descriptors
            ))
        };
        let batches = ctx
            .sql(&format!("SELECT * FROM {}", self.descriptors))
            .await
            .map_err(|e| err(e.to_string()))?
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?;
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
                    return Err(err(format!(
                        "no column {name:?}; available: {}",
                        have.join(", ")
                    )));
                }
            }
            let index = schema
                .index_of("practice_code")
                .map_err(|e| err(e.to_string()))?;
            let codes = cast(b.column(index), &DataType::Utf8).map_err(|e| err(e.to_string()))?;
            let codes = codes
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| err("practice_code is not text".into()))?;
            for name in &wanted {
                let index = schema.index_of(name).map_err(|e| err(e.to_string()))?;
                let col = cast(b.column(index), &DataType::Float64)
                    .map_err(|e| err(format!("{name}: {e}")))?;
                let col = col
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| err(format!("{name} is not numeric")))?;
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
    /// flagged rather than silently compared on less. Sources without a date
    /// column (annual QOF, survey years) or without a practice column have
    /// none. Table → (latest month as YYYY-MM, missing practice codes).
    async fn latest_completeness(
        &self,
        ctx: &SessionContext,
    ) -> HashMap<String, (String, Vec<String>)> {
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
            let latest = format!("(SELECT max({date}) FROM {t})");
            // A practice is expected if the register has it open that month.
            let open = format!(
                "(open_date IS NULL OR open_date <= {latest}) AND (close_date IS NULL OR close_date >= date_trunc('month', {latest}))"
            );
            let queries = [
                format!(
                    "SELECT practice_code FROM {r} WHERE {open} EXCEPT SELECT DISTINCT {practice} FROM {t} WHERE {date} >= date_trunc('month', {latest}) ORDER BY 1",
                    r = self.register
                ),
                // A register without open and close dates: every practice.
                format!(
                    "SELECT practice_code FROM {r} EXCEPT SELECT DISTINCT {practice} FROM {t} WHERE {date} >= date_trunc('month', {latest}) ORDER BY 1",
                    r = self.register
                ),
            ];
            let Ok(month) = self
                .strings(
                    ctx,
                    &format!("SELECT CAST(max({date}) AS VARCHAR) FROM {t}"),
                )
                .await
            else {
                continue;
            };
            let Some(month) = month.into_iter().next() else {
                continue;
            };
            for q in &queries {
                if let Ok(missing) = self.strings(ctx, q).await {
                    out.insert(t.clone(), (month.chars().take(7).collect(), missing));
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
    async fn strings(&self, ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for b in query(ctx, sql).await? {
            out.extend(text_column(&b, 0)?.into_iter().flatten());
        }
        Ok(out)
    }

    /// The whole journey: ingest, indicators, comparison, publication.
    /// The whole run (ingest, indicators, comparisons, publication),
    /// holding the warehouse's run lock throughout.
    pub async fn run(&self, out_override: Option<&Path>) -> Result<RunSummary> {
        let run_id = invocation_id();
        async {
            tracing::info!(pipeline = %self.file.display(), "run started");
            let warehouse = self.open_warehouse()?;
            let lock = self.lock(&warehouse, "run", &run_id).await?;
            let mut stages = StageTimes::default();
            let summary = self
                .run_locked(&warehouse, &lock, out_override, &mut stages)
                .await;
            lock.release().await;
            summary.map(|s| RunSummary {
                invocation_id: run_id.clone(),
                stages,
                ..s
            })
        }
        .instrument(run_span(&run_id, "run"))
        .await
    }

    async fn run_locked(
        &self,
        warehouse: &Warehouse,
        lock: &RunLock,
        out_override: Option<&Path>,
        stages: &mut StageTimes,
    ) -> Result<RunSummary> {
        let output = out_override
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.output.clone());
        let started = Instant::now();
        let ingest = self
            .ingest_locked(warehouse)
            .instrument(stage_span("ingest"))
            .await;
        stages.add("ingest", started.elapsed());
        let ingest = ingest?;
        stages.finished("ingest");
        // The indicators stage: the session, the register and each
        // indicator's SQL. Each indicator is compared as soon as it is
        // computed (the compare stage), so only one indicator's rows are
        // held at a time; the time goes to the stage doing the work.
        let started = Instant::now();
        let prepared = async {
            let (ctx, versions, _) = self.session(warehouse).await?;
            let mut practices = self.practices(&ctx).await?;
            self.add_descriptors(&ctx, &mut practices).await?;
            let catalogue: Vec<Indicator> = load_catalogue(&self.indicators_dir)?;
            Ok::<_, PipelineError>((ctx, versions, practices, catalogue))
        }
        .instrument(stage_span("indicators"))
        .await;
        stages.add("indicators", started.elapsed());
        let (ctx, versions, practices, catalogue) = prepared?;
        let practice_map: HashMap<String, PracticeInfo> = practices
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();

        let options = CompareOptions { spc: self.spc };
        let groups: Vec<_> = self
            .peer_groups
            .iter()
            .map(|g| g.resolve(&practice_map))
            .collect();
        let mut results: Vec<ResultRow> = Vec::new();
        let mut failures = Vec::new();
        let mut hasher = Sha256::new();
        for (t, v) in &versions {
            hasher.update(format!("{t}@{v};"));
        }
        for (i, ind) in catalogue.iter().enumerate() {
            hasher.update(ind.sql.as_bytes());
            progress("computing indicators", i, catalogue.len(), &ind.id);
            let started = Instant::now();
            let span = stage_span("indicators");
            let computed = run_indicator(&ctx, ind, self.limits.indicator_timeout)
                .instrument(span.clone())
                .await;
            stages.add("indicators", started.elapsed());
            match computed {
                Ok(rows) => {
                    span.in_scope(|| {
                        tracing::info!(indicator = ind.id, rows = rows.len(), "computed")
                    });
                    let started = Instant::now();
                    stage_span("compare").in_scope(|| {
                        results.extend(compare_indicator(
                            ind,
                            &rows,
                            &practice_map,
                            &groups,
                            &options,
                        ))
                    });
                    stages.add("compare", started.elapsed());
                }
                Err(e) => {
                    span.in_scope(|| tracing::error!(indicator = ind.id, "{e}"));
                    failures.push(e.to_string());
                }
            }
        }
        progress("computing indicators", catalogue.len(), catalogue.len(), "");
        stages.finished("indicators");
        if !failures.is_empty() {
            return Err(PipelineError::IndicatorsFailed {
                count: failures.len(),
                details: failures
                    .iter()
                    .map(|f| format!("  - {f}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        let run_id = hasher
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();

        let started = Instant::now();
        let compare = stage_span("compare");
        let mut quarantined_by_practice = BTreeMap::new();
        for q in &ingest.quarantined {
            if let Some(code) = q.raw.split(',').find(|f| practices.contains_key(*f)) {
                *quarantined_by_practice.entry(code.to_string()).or_insert(0) += 1;
            }
        }
        let completeness = self
            .latest_completeness(&ctx)
            .instrument(compare.clone())
            .await;
        let mut jumps = self.period_jumps(&ctx).instrument(compare).await;
        let outliers = outliers(&catalogue, &results, &self.primary_peer_group);
        stages.add("compare", started.elapsed());
        stages.finished("compare");
        let started = Instant::now();
        let publish = stage_span("publish");
        let _publishing = publish.enter();
        let provenance = Provenance {
            run_id: run_id.clone(),
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
                    latest_month: completeness.get(&s.table).map(|c| c.0.clone()),
                    missing_latest: completeness
                        .get(&s.table)
                        .map(|c| c.1.clone())
                        .unwrap_or_default(),
                    rows_replaced: s.rows_superseded(),
                    warning: s.warning.clone(),
                    jumps: jumps.remove(&s.table).unwrap_or_default(),
                })
                .collect(),
            quarantined_by_practice,
            unclaimed_files: ingest.unclaimed.clone(),
        };
        let input = ReportInput {
            title: self.name.clone(),
            indicators: &catalogue,
            practices: &practices,
            results: &results,
            primary_peer_group: self.primary_peer_group.clone(),
            provenance,
            changes: what_changed(&results, &self.primary_peer_group),
            peer_groups: self.peer_groups.clone(),
            disclosure: self.disclosure,
            keep_earlier: self.keep,
            extra_files: vec![(
                PathBuf::from("data/quarantine.csv"),
                quarantine_csv(&ingest)?,
            )],
        };
        // An object-store lock whose heartbeat stalled may have been taken
        // over: then another run owns the warehouse, and this one must not
        // publish what it computed.
        if lock.lost() {
            return Err(PipelineError::LockLost(lock.location().to_string()));
        }
        let published = peerbench_report::publish(&input, &output);
        stages.add("publish", started.elapsed());
        let published = published?;
        stages.finished("publish");
        tracing::info!(
            report = %published.index.display(),
            report_run_id = run_id,
            pages = published.pages,
            "published"
        );
        let quarantine_csv = output.join("data").join("quarantine.csv");
        Ok(RunSummary {
            ingest,
            indicators: catalogue.len(),
            published,
            run_id,
            invocation_id: String::new(),
            quarantine_csv,
            stages: StageTimes::default(),
            outliers,
        })
    }
}

/// Per indicator, the practices outside its 99.8% funnel limits (after the
/// overdispersion allowance) in its latest period, against the primary peer
/// group: the rows the board lists as outliers, before disclosure control.
/// Every indicator of the catalogue is named, with 0 where none is outside.
fn outliers(
    catalogue: &[Indicator],
    results: &[ResultRow],
    primary_peer_group: &str,
) -> BTreeMap<String, usize> {
    let primary = || {
        results
            .iter()
            .filter(|r| r.peer_group == primary_peer_group)
    };
    let mut latest: HashMap<&str, &str> = HashMap::new();
    for r in primary() {
        let e = latest.entry(&r.indicator_id).or_insert(&r.period);
        if r.period.as_str() > *e {
            *e = &r.period;
        }
    }
    let mut out: BTreeMap<String, usize> = catalogue.iter().map(|i| (i.id.clone(), 0)).collect();
    for r in primary() {
        if latest.get(r.indicator_id.as_str()) == Some(&r.period.as_str())
            && r.funnel_flag.is_some_and(|f| f.is_outlier())
        {
            *out.entry(r.indicator_id.clone()).or_default() += 1;
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
    .map_err(|e| peerbench_report::ReportError::Internal(format!("quarantine.csv: {e}")).into())
}

/// A query's rows.
async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    ctx.sql(sql)
        .await
        .map_err(|e| PipelineError::Query(e.to_string()))?
        .collect()
        .await
        .map_err(|e| PipelineError::Query(e.to_string()))
}

/// One column of a batch as text, whatever its type (nulls as None).
fn text_column(b: &arrow::record_batch::RecordBatch, i: usize) -> Result<Vec<Option<String>>> {
    let col = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8)
        .map_err(|e| PipelineError::Query(e.to_string()))?;
    let col = col
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .ok_or_else(|| PipelineError::Query("not text".into()))?;
    Ok((0..col.len())
        .map(|r| col.is_valid(r).then(|| col.value(r).to_string()))
        .collect())
}

/// One source's sudden changes since the previous period (see
/// `Pipeline::period_jumps`); None when the source has no period.
async fn source_jumps(ctx: &SessionContext, source: &Source) -> Result<Option<Vec<Jump>>> {
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
         periods AS (SELECT period, row_number() OVER (ORDER BY period DESC) AS k FROM (SELECT DISTINCT period FROM per)), \
         latest AS (SELECT per.* FROM per JOIN periods ON per.period = periods.period WHERE k = 1), \
         previous AS (SELECT per.* FROM per JOIN periods ON per.period = periods.period WHERE k = 2) \
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
        let number = |i: usize| -> Result<Vec<Option<i64>>> {
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
