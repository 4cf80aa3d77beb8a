//! Indicators written in SQL by analysts.
//!
//! One `.sql` file per indicator, still runnable as plain SQL, with its
//! metadata as TOML inside the leading `/* … */` comment. The engine runs
//! each query read-only with DataFusion against the warehouse and checks the
//! output contract: `practice_code`, `period`, `numerator`, `denominator`.

mod check;
mod engine;
mod fixture;
mod limits;

use std::collections::HashMap;

/// The maps that take an output's every row (5.7 million strata nationally
/// at 24 months): foldhash, as SipHash was a fifth of reading them.
type RowMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Age band and sex labels already read, to the band and sex they name.
type StrataLabels<'a> = RowMap<(&'a str, &'a str), (usize, Sex)>;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use check::{Problem, check_indicator, check_metadata, check_output_schema};
pub use engine::{DEFAULT_SCHEDULER_PORT, Engine, EngineName, engine_of};
pub use fixture::{CaseOutcome, FixtureProblem, fixture_path, run_fixtures};
pub use limits::{
    DEFAULT_INDICATOR_TIMEOUT, DEFAULT_MEMORY_LIMIT, Limits, default_memory_limit, format_duration,
    format_size, parse_duration, parse_size,
};
// The catalogue's plain types, where they have always been found.
pub use peerbench_catalogue::{
    CatalogueError, Domain, ESP_BANDS, Indicator, IndicatorRow, SelectError, Sex, Stratum,
    UnknownDomain, ValueType, close_matches, did_you_mean, dsr_arrays, esp_band, load_catalogue,
    parse_catalogue, read_sql_files, select,
};

use arrow::array::{Array, ArrayRef, Date32Array, Float64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::memory_pool::{MemoryLimit, PeakRecordingPool};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::prelude::SessionContext;

#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    /// An indicator file, or the catalogue as a whole, is wrong.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("{path}: {message}")]
    Sql { path: PathBuf, message: String },
    /// SQL the sandbox refuses, located in the file.
    #[error("{path}:{line}:{column}: {message}")]
    Refused {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: did not finish within {limit} (indicator_timeout), so it was stopped: look for a join without a condition or on a key that repeats, or raise indicator_timeout under [limits] in the pipeline file"
    )]
    Timeout { path: PathBuf, limit: String },
    #[error(
        "{path}: needed more memory than memory_limit ({limit}) allows, even spilling to disk ({detail}), so it was stopped: look for a join without a condition or on a key that repeats, or raise memory_limit under [limits] in the pipeline file"
    )]
    OutOfMemory {
        path: PathBuf,
        limit: String,
        detail: String,
    },
    #[error("{path}: output contract: {message}")]
    Contract { path: PathBuf, message: String },
    /// A fixture file (`<id>.test.toml`) that is not TOML of the expected form.
    #[error("{path}: {message}")]
    FixtureSyntax { path: PathBuf, message: String },
    /// A fixture case whose tables cannot be filled as it says.
    #[error("{path}: case {case:?}: {problem}")]
    Fixture {
        path: PathBuf,
        case: String,
        #[source]
        problem: Box<FixtureProblem>,
    },
    /// `spill_dir` cannot be created.
    #[error("spill_dir {path}: cannot create it: {source}")]
    SpillDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// DataFusion's runtime (memory pool, spill files) cannot be set up.
    #[error("{}{source}", spill_dir.as_ref().map(|d| format!("spill_dir {}: ", d.display())).unwrap_or_default())]
    Runtime {
        spill_dir: Option<PathBuf>,
        #[source]
        source: DataFusionError,
    },
    /// The engine could not be used, or the cluster failed a query: the
    /// run stops and publishes nothing, whatever `on_indicator_error` says.
    #[error("engine {engine}: {message}")]
    Engine { engine: String, message: String },
    #[error("cannot define view {name:?} from {path}: {message}")]
    View {
        name: String,
        path: PathBuf,
        message: String,
    },
}

pub type Result<T, E = IndicatorError> = std::result::Result<T, E>;

/// Registers the shared views under `dir`: each `<name>.sql` holds one SELECT
/// that indicators can refer to as `<name>`. Views are project code, so they
/// are defined with DDL the indicators themselves may not use. A view may use
/// another: they are defined in rounds until no more can be.
pub async fn register_views(ctx: &SessionContext, dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    register_view_texts(ctx, read_sql_files(dir)?).await
}

/// Registers shared views from their files' paths and texts (each named
/// by its file's stem), as [`register_views`] does from a folder.
pub async fn register_view_texts(
    ctx: &SessionContext,
    files: Vec<(PathBuf, String)>,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pending = Vec::new();
    for (path, text) in files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        pending.push((name, path, text.trim().trim_end_matches(';').to_string()));
    }
    loop {
        let mut failed = Vec::new();
        let before = pending.len();
        for (name, path, select) in pending {
            match ctx.sql(&format!("CREATE VIEW {name} AS {select}")).await {
                Ok(_) => names.push(name),
                Err(e) => failed.push((name, path, select, first_line(&e.to_string()))),
            }
        }
        if failed.is_empty() {
            return Ok(names);
        }
        if failed.len() == before {
            let (name, path, _, message) = failed.swap_remove(0);
            return Err(IndicatorError::View {
                name,
                path,
                message,
            });
        }
        pending = failed.into_iter().map(|(n, p, s, _)| (n, p, s)).collect();
    }
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Indicator SQL may only read: no DDL, DML, SET or other statements.
pub fn sandbox() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// What analysts are told when DataFusion refuses `WITH RECURSIVE` (the
/// sessions of [`Limits::session`] do).
pub const RECURSION_REFUSED: &str = "recursive queries are not allowed in indicators: WITH RECURSIVE can loop without end (for a series of numbers or months, use generate_series, e.g. generate_series(DATE '2025-04-01', DATE '2026-03-01', INTERVAL '1 month'))";

/// Whether DataFusion refused a query because it is recursive.
pub fn is_recursion_refused(error: &str) -> bool {
    error.contains("Recursive CTEs are not enabled")
}

/// The memory pool's limit, written as in the pipeline file.
fn memory_limit_of(ctx: &SessionContext) -> String {
    match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(n) => format_size(n as u64),
        MemoryLimit::Infinite | MemoryLimit::Unknown => "none".into(),
    }
}

/// Turns an error from planning or running an indicator's query into one
/// that says what to do: recursion refused (located in the file), memory
/// exhausted (with the limit), or DataFusion's own first line.
fn query_error(ctx: &SessionContext, indicator: &Indicator, e: DataFusionError) -> IndicatorError {
    let text = e.to_string();
    if is_recursion_refused(&text) {
        let (line, column) = check::locate(indicator, "recursive");
        return IndicatorError::Refused {
            path: indicator.path.clone(),
            line,
            column,
            message: RECURSION_REFUSED.into(),
        };
    }
    let root = e.find_root();
    if matches!(root, DataFusionError::ResourcesExhausted(_))
        || text.contains("Resources exhausted")
    {
        let detail = first_line(&root.strip_backtrace());
        let detail = detail
            .trim_start_matches("Resources exhausted: ")
            .trim_end_matches('.')
            .to_string();
        return IndicatorError::OutOfMemory {
            path: indicator.path.clone(),
            limit: memory_limit_of(ctx),
            detail,
        };
    }
    IndicatorError::Sql {
        path: indicator.path.clone(),
        message: first_line(&text),
    }
}

/// Wraps every operator of `plan` so that it yields to the scheduler after a
/// few batches. DataFusion makes only the plan's leaves and exchanges yield,
/// and an operator that makes many batches from few (a cross join makes one
/// per row of its other side) can then run for minutes without yielding:
/// the time limit would not fire, and dropping the query would not stop its
/// tasks, which are only stopped when they yield.
fn yielding(plan: Arc<dyn ExecutionPlan>) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if node.is::<CooperativeExec>() {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(
            Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
        ))
    })
    .map(|t| t.data)
}

/// Bytes and files the plan's operators spilled to disk.
fn spilled(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize) {
    let (mut bytes, mut files) = plan.metrics().map_or((0, 0), |m| {
        (m.spilled_bytes().unwrap_or(0), m.spill_count().unwrap_or(0))
    });
    for child in plan.children() {
        let (b, f) = spilled(child);
        bytes += b;
        files += f;
    }
    (bytes, files)
}

/// Plans and runs an indicator's query, read-only, every operator yielding.
/// Returns its batches, and the bytes and files it spilled to disk.
async fn execute(
    ctx: &SessionContext,
    indicator: &Indicator,
) -> Result<(Computed, (usize, usize))> {
    let error = |e| query_error(ctx, indicator, e);
    let df = ctx
        .sql_with_options(&indicator.sql, sandbox())
        .await
        .map_err(error)?;
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.map_err(error)?;
    let plan = yielding(plan).map_err(error)?;
    let batches = datafusion::physical_plan::collect(Arc::clone(&plan), task)
        .await
        .map_err(|e| match engine_of(ctx) {
            // Planned here, run there: what fails now failed on the cluster.
            Some(engine) => IndicatorError::Engine {
                engine,
                message: format!(
                    "{}: the cluster failed the query: {}",
                    indicator.path.display(),
                    first_line(&e.strip_backtrace())
                ),
            },
            None => error(e),
        })?;
    let spilled = spilled(&plan);
    Ok((
        Computed {
            schema: plan.schema(),
            batches,
        },
        spilled,
    ))
}

/// The tables an indicator's SQL reads, through the shared views it uses
/// (a view is planned as its own SELECT, so its tables appear in its
/// place). What the result cache keys an indicator's output on: when none
/// of these tables changed, neither did the output.
pub async fn tables_read(
    ctx: &SessionContext,
    indicator: &Indicator,
) -> Result<std::collections::BTreeSet<String>> {
    let error = |e| query_error(ctx, indicator, e);
    let plan = ctx
        .sql_with_options(&indicator.sql, sandbox())
        .await
        .map_err(error)?
        .into_optimized_plan()
        .map_err(error)?;
    let mut tables = std::collections::BTreeSet::new();
    plan.apply_with_subqueries(|node| {
        if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
            tables.insert(scan.table_name.table().to_string());
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })
    .map_err(error)?;
    Ok(tables)
}

/// One indicator's query output as the engine returned it, before the
/// output contract is checked: what the result cache keeps.
#[derive(Debug, Clone)]
pub struct Computed {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// Runs one indicator within `timeout` and checks its output contract. A
/// query still running at the time limit is dropped, which stops its work.
pub async fn run_indicator(
    ctx: &SessionContext,
    indicator: &Indicator,
    timeout: Duration,
) -> Result<Vec<IndicatorRow>> {
    let computed = compute(ctx, indicator, timeout).await?;
    rows_of(indicator, &computed.batches)
}

/// Runs one indicator's SQL within `timeout`, logging its time, memory and
/// spilling; the output is not yet checked (see [`rows_of`]).
pub async fn compute(
    ctx: &SessionContext,
    indicator: &Indicator,
    timeout: Duration,
) -> Result<Computed> {
    let started = Instant::now();
    let pool = Arc::clone(&ctx.runtime_env().memory_pool);
    let recorder = PeakRecordingPool::from_pool(pool.as_ref());
    if let Some(r) = recorder {
        r.reset_peak();
    }
    let (computed, (spilled_bytes, spill_files)) = match tokio::time::timeout(
        timeout,
        execute(ctx, indicator),
    )
    .await
    {
        Ok(done) => done?,
        // On a cluster the time limit is the engine's failure, not the
        // indicator's: Ballista 55 can lose track of a job whose
        // executor died and never end it, and it does not cancel a job
        // the driver gave up on, so the run stops there.
        Err(_) => match engine_of(ctx) {
            Some(engine) => {
                return Err(IndicatorError::Engine {
                    engine,
                    message: format!(
                        "{}: the cluster did not finish the query within {} (indicator_timeout); its job may still be running there: look for a lost executor in the scheduler's log",
                        indicator.path.display(),
                        format_duration(timeout)
                    ),
                });
            }
            None => {
                return Err(IndicatorError::Timeout {
                    path: indicator.path.clone(),
                    limit: format_duration(timeout),
                });
            }
        },
    };
    let took = started.elapsed();
    let mb = |bytes: usize| bytes as f64 / (1 << 20) as f64;
    tracing::info!(
        indicator = indicator.id,
        "ran in {:.1}s, peak memory {:.1} MB of memory_limit ({}){}",
        took.as_secs_f64(),
        recorder.map_or(0.0, |r| mb(r.peak_reserved())),
        memory_limit_of(ctx),
        if spill_files > 0 {
            format!(
                ", spilling {:.1} MB to disk in {spill_files} file(s)",
                mb(spilled_bytes)
            )
        } else {
            String::new()
        }
    );
    if took > timeout / 2 {
        tracing::warn!(
            indicator = indicator.id,
            "took {:.1}s, more than half its time limit ({} indicator_timeout)",
            took.as_secs_f64(),
            format_duration(timeout)
        );
    }
    Ok(computed)
}

/// An indicator's output rows, checked against the output contract
/// (columns, types, periods, strata) with messages naming the indicator's
/// file.
pub fn rows_of(indicator: &Indicator, batches: &[RecordBatch]) -> Result<Vec<IndicatorRow>> {
    let contract = |message: String| IndicatorError::Contract {
        path: indicator.path.clone(),
        message,
    };
    let standardised = indicator.value_type.is_standardised();
    let mut periods = Periods::default();
    // Every batch's columns are held until the end: a standardised
    // indicator's strata (5.7 million rows nationally at 24 months) are
    // grouped by practice codes borrowed from them, not copied.
    let outputs: Vec<OutputColumns> = batches
        .iter()
        .map(|batch| OutputColumns::of(indicator, batch, &mut periods))
        .collect::<std::result::Result<_, _>>()
        .map_err(contract)?;
    let mut rows = Vec::new();
    let mut strata: RowMap<(&str, u32), Vec<Stratum>> = RowMap::default();
    let mut strata_rows = 0;
    let mut labels = StrataLabels::default();
    for columns in &outputs {
        for i in 0..columns.codes.len() {
            if !columns.codes.is_valid(i) {
                return Err(contract(format!(
                    "row {} has no practice_code",
                    rows.len() + 1
                )));
            }
            let code = columns.codes.value(i);
            let Some(period) = columns.periods[i] else {
                return Err(contract(format!(
                    "row {} ({code}) has no period",
                    rows.len() + 1
                )));
            };
            let numerator = columns
                .numerators
                .is_valid(i)
                .then(|| columns.numerators.value(i));
            let denominator = columns
                .denominators
                .is_valid(i)
                .then(|| columns.denominators.value(i));
            if let Some(bands) = &columns.bands {
                strata_rows += 1;
                let (band, sex) = columns.stratum(bands, i, &mut labels).map_err(|e| {
                    contract(format!(
                        "row {strata_rows} ({code} {}){e}",
                        periods.names[period as usize]
                    ))
                })?;
                strata.entry((code, period)).or_default().push(Stratum {
                    band,
                    sex,
                    numerator,
                    denominator,
                });
                continue;
            }
            rows.push(IndicatorRow {
                practice_code: code.to_string(),
                period: periods.names[period as usize].clone(),
                numerator,
                denominator,
                strata: Vec::new(),
            });
        }
    }
    if standardised {
        // In practice and period order, as the checks name the first.
        let mut grouped: Vec<((&str, &str), Vec<Stratum>)> = strata
            .into_iter()
            .map(|((code, period), s)| ((code, periods.names[period as usize].as_str()), s))
            .collect();
        grouped.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows = group_strata(grouped).map_err(contract)?;
    }
    let mut seen = std::collections::HashSet::with_hasher(foldhash::fast::RandomState::default());
    for r in &rows {
        if !seen.insert((&r.practice_code, &r.period)) {
            return Err(contract(format!(
                "more than one row for practice {} in period {}: group by practice_code and period",
                r.practice_code, r.period
            )));
        }
    }
    rows.sort_by(|a, b| (&a.practice_code, &a.period).cmp(&(&b.practice_code, &b.period)));
    Ok(rows)
}

/// An output's periods as text, each distinct one made once: a national
/// output has millions of rows and a few dozen periods.
#[derive(Default)]
struct Periods {
    names: Vec<String>,
    /// Each period's id, by its name as the reports write it.
    ids: RowMap<String, u32>,
    /// Each period's id, by the text the query returned.
    written: RowMap<String, u32>,
    /// Months already named, by their DATE value.
    months: RowMap<i32, u32>,
}

impl Periods {
    fn id(&mut self, written: &str) -> std::result::Result<u32, String> {
        if let Some(&id) = self.written.get(written) {
            return Ok(id);
        }
        let name = period_name(written).ok_or_else(|| {
            format!(
                "period {written:?} is not one peerbench can put in order: return a DATE for a month, or text such as 2026-09 (a month), 2026-Q3 (a quarter), 2025-26 (a financial year) or 2026 (a year)"
            )
        })?;
        let id = match self.ids.get(&name) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                self.ids.insert(name.clone(), id);
                self.names.push(name);
                id
            }
        };
        self.written.insert(written.to_string(), id);
        Ok(id)
    }

    /// An output's period column: a DATE as its month (YYYY-MM), text and
    /// whole numbers as [`period_name`] writes them.
    fn of(&mut self, column: &ArrayRef) -> std::result::Result<Vec<Option<u32>>, String> {
        match column.data_type() {
            DataType::Date32 => {
                let a = column
                    .as_any()
                    .downcast_ref::<Date32Array>()
                    .ok_or_else(|| "period".to_string())?;
                Ok((0..a.len())
                    .map(|i| {
                        if !a.is_valid(i) {
                            return None;
                        }
                        let day = a.value(i);
                        if let Some(&id) = self.months.get(&day) {
                            return Some(id);
                        }
                        let month = a.value_as_date(i)?.format("%Y-%m").to_string();
                        // A month as YYYY-MM is always a period name.
                        let id = self.id(&month).ok()?;
                        self.months.insert(day, id);
                        Some(id)
                    })
                    .collect())
            }
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Int32
            | DataType::Int64 => {
                let a = cast(column, &DataType::Utf8).map_err(|e| format!("period: {e}"))?;
                let a = a
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| "period".to_string())?;
                (0..a.len())
                    .map(|i| a.is_valid(i).then(|| self.id(a.value(i))).transpose())
                    .collect()
            }
            other => Err(format!(
                "period must be a DATE (a month) or text (e.g. '2025-26'); found {other}"
            )),
        }
    }
}

/// A period as the reports name and order it: a month `YYYY-MM`, a
/// quarter `YYYY-Qn`, a financial year `YYYY-YY` or a calendar year `YYYY`.
/// Periods are ordered as text everywhere (the latest period, run charts,
/// what changed), and extracts write them many ways: as written, "Q3 2026"
/// would come before "Q4 2025" and "2026-9" after "2026-10", and a run
/// chart would run out of order without a word. Accepted as well: a
/// financial year as 2025/26 or 2025-2026, a quarter as 2026Q3 or Q3 2026,
/// a month as 202609 or a date (2026-09-01, 01/09/2026, 01SEP2026), which
/// is named by its month as a DATE is: every form the loader accepts in a
/// text period column (`peerbench_ingest`'s `period_from_text`, which reads
/// them as dates and is kept beside the extract formats), and YYYY-MM.
/// `None` for anything else.
fn period_name(written: &str) -> Option<String> {
    let s = written.trim();
    if !s.is_ascii() {
        return None;
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let month = |year: &str, month: &str| -> Option<String> {
        let m: u32 = month.parse().ok()?;
        (digits(year)
            && year.len() == 4
            && digits(month)
            && month.len() <= 2
            && (1..=12).contains(&m))
        .then(|| format!("{year}-{m:02}"))
    };
    // A calendar year.
    if s.len() == 4 && digits(s) {
        return Some(s.to_string());
    }
    // A month: 202609.
    if s.len() == 6 && digits(s) {
        return month(&s[..4], &s[4..]);
    }
    // A financial year (2025-26, 2025/26, 2025-2026), or a month (2026-09).
    if let Some((first, second)) = s.split_once(['-', '/'])
        && first.len() == 4
        && digits(first)
        && digits(second)
    {
        let year: u32 = first.parse().ok()?;
        let follows = match second.len() {
            2 => second.parse::<u32>().ok()? == (year + 1) % 100,
            4 => second.parse::<u32>().ok()? == year + 1,
            _ => false,
        };
        if follows {
            return Some(format!("{first}-{:02}", (year + 1) % 100));
        }
        return month(first, second);
    }
    // A date: 2026-09-01.
    if let [y, m, d] = s.split('-').collect::<Vec<_>>()[..]
        && y.len() == 4
        && digits(d)
        && d.len() == 2
    {
        return month(y, m);
    }
    // A date: 01/09/2026.
    if let [d, m, y] = s.split('/').collect::<Vec<_>>()[..]
        && digits(d)
        && d.len() <= 2
    {
        return month(y, m);
    }
    // A date: 01SEP2026.
    if s.len() == 9 && digits(&s[..2]) && digits(&s[5..]) {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        let m = MONTHS
            .iter()
            .position(|m| s[2..5].eq_ignore_ascii_case(m))?;
        return Some(format!("{}-{:02}", &s[5..], m + 1));
    }
    // A quarter: 2026Q3, 2026-Q3, Q3 2026.
    let compact: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    let (year, quarter) = match compact.split_once('Q')? {
        ("", rest) if rest.len() == 5 => (rest[1..].to_string(), rest[..1].to_string()),
        (year, quarter) => (year.to_string(), quarter.to_string()),
    };
    (year.len() == 4 && digits(&year) && matches!(quarter.as_str(), "1" | "2" | "3" | "4"))
        .then(|| format!("{year}-Q{quarter}"))
}

/// One batch of an indicator's output, its contract's columns read as the
/// types the engine works in. Errors are the contract's words.
struct OutputColumns {
    codes: StringArray,
    /// Each row's period (months as YYYY-MM, others as text) in `Periods`.
    periods: Vec<Option<u32>>,
    numerators: Float64Array,
    denominators: Float64Array,
    /// Standardised indicators only.
    bands: Option<StringArray>,
    sexes: Option<StringArray>,
}

impl OutputColumns {
    fn of(
        indicator: &Indicator,
        batch: &RecordBatch,
        period_names: &mut Periods,
    ) -> std::result::Result<Self, String> {
        let schema = batch.schema();
        let column = |name: &str| {
            schema
                .index_of(name)
                .map(|i| batch.column(i).clone())
                .map_err(|_| {
                    let found: Vec<String> =
                        schema.fields().iter().map(|f| f.name().clone()).collect();
                    format!(
                        "the query must return a column named {name:?}; it returns {}",
                        found.join(", ")
                    )
                })
        };
        let codes = cast(&column("practice_code")?, &DataType::Utf8)
            .map_err(|e| format!("practice_code: {e}"))?
            .as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| "practice_code must be text".to_string())?;
        let number = |name: &str| -> std::result::Result<Float64Array, String> {
            let c = column(name)?;
            if !c.data_type().is_numeric() && c.data_type() != &DataType::Null {
                return Err(format!("{name} must be a number; found {}", c.data_type()));
            }
            let c = cast(&c, &DataType::Float64).map_err(|e| format!("{name}: {e}"))?;
            c.as_any()
                .downcast_ref::<Float64Array>()
                .cloned()
                .ok_or_else(|| name.to_string())
        };
        let periods = period_names.of(&column("period")?)?;
        let (numerators, denominators) = (number("numerator")?, number("denominator")?);
        let text = |name: &str| -> std::result::Result<Option<StringArray>, String> {
            let Ok(i) = schema.index_of(name) else {
                return Ok(None);
            };
            let c = cast(batch.column(i), &DataType::Utf8).map_err(|e| format!("{name}: {e}"))?;
            Ok(c.as_any().downcast_ref::<StringArray>().cloned())
        };
        let (bands, sexes) = if indicator.value_type.is_standardised() {
            let bands = text("age_band")?.ok_or_else(|| {
                format!(
                    "a {} indicator returns one row per age band: add a column named \"age_band\" (0-4, 5-9, …, 85-89, 90+) and, optionally, \"sex\"",
                    indicator.value_type.as_str()
                )
            })?;
            (Some(bands), text("sex")?)
        } else {
            (None, None)
        };
        Ok(OutputColumns {
            codes,
            periods,
            numerators,
            denominators,
            bands,
            sexes,
        })
    }

    /// Row `i`'s age band and sex; an error is the rest of a sentence that
    /// starts with where the row is. Each distinct pair of labels is read
    /// once into `labels`: a national output has millions of rows and a few
    /// dozen pairs, and reading a label allocates (nationally over two
    /// years, a second of each standardised indicator's time).
    fn stratum<'a>(
        &'a self,
        bands: &'a StringArray,
        i: usize,
        labels: &mut StrataLabels<'a>,
    ) -> std::result::Result<(usize, Sex), String> {
        let both_given =
            bands.is_valid(i) && self.sexes.as_ref().is_none_or(|sexes| sexes.is_valid(i));
        let pair = both_given.then(|| {
            let sex = self.sexes.as_ref().map_or("", |sexes| sexes.value(i));
            (bands.value(i), sex)
        });
        if let Some(known) = pair.and_then(|pair| labels.get(&pair)) {
            return Ok(*known);
        }
        let read = self.read_stratum(bands, i)?;
        if let Some(pair) = pair {
            labels.insert(pair, read);
        }
        Ok(read)
    }

    fn read_stratum(
        &self,
        bands: &StringArray,
        i: usize,
    ) -> std::result::Result<(usize, Sex), String> {
        if !bands.is_valid(i) {
            return Err(" has no age_band".into());
        }
        let band = esp_band(bands.value(i)).map_err(|e| format!(": {e}"))?;
        let sex = match &self.sexes {
            None => Sex::Persons,
            Some(s) if !s.is_valid(i) => return Err(" has no sex".into()),
            Some(s) => Sex::parse(s.value(i)).ok_or_else(|| {
                format!(
                    ": sex {:?} is not one of male, female (or M, F, 1, 2)",
                    s.value(i)
                )
            })?,
        };
        Ok((band, sex))
    }
}

/// Gathers a standardised indicator's rows into one row per practice and
/// period, refusing a band (and sex) given twice.
fn group_strata(
    grouped: Vec<((&str, &str), Vec<Stratum>)>,
) -> std::result::Result<Vec<IndicatorRow>, String> {
    let mut rows = Vec::with_capacity(grouped.len());
    for ((practice_code, period), mut strata) in grouped {
        strata.sort_by_key(|s| (s.sex, s.band));
        if let Some(w) = strata
            .windows(2)
            .find(|w| (w[0].sex, w[0].band) == (w[1].sex, w[1].band))
        {
            return Err(format!(
                "more than one row for practice {practice_code} in period {period}, age band {}{}: group by practice_code, period, age_band{}",
                ESP_BANDS[w[0].band],
                if w[0].sex == Sex::Persons {
                    String::new()
                } else {
                    format!(", sex {:?}", w[0].sex)
                },
                if w[0].sex == Sex::Persons {
                    ""
                } else {
                    " and sex"
                },
            ));
        }
        let sexed = strata.iter().filter(|s| s.sex != Sex::Persons).count();
        if sexed != 0 && sexed != strata.len() {
            return Err(format!(
                "practice {practice_code} in period {period} mixes rows with and without a sex"
            ));
        }
        let total = |f: fn(&Stratum) -> Option<f64>| {
            strata
                .iter()
                .map(f)
                .try_fold(0.0, |acc, v| v.map(|v| acc + v))
        };
        rows.push(IndicatorRow {
            numerator: total(|s| s.numerator),
            denominator: total(|s| s.denominator),
            practice_code: practice_code.to_string(),
            period: period.to_string(),
            strata,
        });
    }
    Ok(rows)
}

/// An id `indicators new` cannot use: a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "indicator id {id:?}: use lower-case letters, digits and underscores, starting with a letter"
)]
pub struct InvalidId {
    pub id: String,
}

/// A new indicator file with every metadata field, to fill in.
pub fn scaffold(id: &str, domain: Domain) -> Result<String, InvalidId> {
    let valid = id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(InvalidId { id: id.to_string() });
    }
    Ok(format!(
        r#"/*
id = "{id}"
title = "TODO: a title a practice manager understands"
numerator = "TODO: what is counted"
denominator = "TODO: out of what"
domain = "{domain}"
value_type = "proportion"          # proportion (x100, Wilson), rate (x multiplier, Byar), ratio, dsr, isr
multiplier = 100                   # 100 for proportions; e.g. 1000 for "per 1,000 patients"
units = "%"
polarity = "high_is_good"          # high_is_good, low_is_good, no_judgement
definition = "TODO: the precise definition"
why_it_matters = "TODO: why a practice or board should care"
source = "TODO: which extract, and who publishes it"
caveats = "TODO: what this number cannot tell you"
owner = "TODO: who keeps this indicator"
reviewed = "2026-01-01"
next_review = "2027-01-01"
tags = []
draft = true                       # drafts are checked and tested but not published
min_denominator = 30               # below this a practice is not compared
seasonal = false                   # true: run charts on the seasonally adjusted series (a shared winter peak)
*/
-- One row per practice and period: practice_code, period (a DATE month or
-- text such as '2025-26'), numerator, denominator. A dsr or isr returns one
-- row per practice, period and age_band (0-4 … 85-89, 90+), optionally by sex.
SELECT
    practice_code,
    month AS period,
    SUM(CASE WHEN appt_status = 'DNA' THEN appointments ELSE 0 END) AS numerator,
    SUM(appointments) AS denominator
FROM appointments
GROUP BY practice_code, month
"#,
        domain = domain.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = DEFAULT_INDICATOR_TIMEOUT;

    const GOOD: &str = "/*\nid = \"dna_rate\"\ntitle = \"DNA\"\nnumerator = \"n\"\ndenominator = \"d\"\ndomain = \"demand\"\nvalue_type = \"proportion\"\npolarity = \"low_is_good\"\ndefinition = \"x\"\nsource = \"GPAD\"\n*/\nSELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, 5 AS numerator, 100 AS denominator\n";
    #[tokio::test]
    async fn tables_read_sees_through_views_and_subqueries() {
        let ctx = SessionContext::new();
        for t in ["appointments", "practices", "qof", "unused"] {
            ctx.sql(&format!(
                "CREATE TABLE {t} AS SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS month, 1 AS n"
            ))
            .await
            .unwrap();
        }
        ctx.sql("CREATE VIEW practice_list AS SELECT p.practice_code, a.month, a.n FROM practices p JOIN appointments a USING (practice_code)")
            .await
            .unwrap();
        let sql = GOOD.replace(
            "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, 5 AS numerator, 100 AS denominator",
            "SELECT practice_code, month AS period, n AS numerator, n AS denominator FROM practice_list WHERE practice_code IN (SELECT practice_code FROM qof)",
        );
        let ind = Indicator::parse(Path::new("dna_rate.sql"), &sql).unwrap();
        let read: Vec<String> = tables_read(&ctx, &ind).await.unwrap().into_iter().collect();
        assert_eq!(read, ["appointments", "practices", "qof"]);
    }

    /// Periods are ordered as text everywhere, so each is named in a form
    /// that orders as time does, whichever way the extract wrote it.
    #[test]
    fn periods_are_named_in_an_order_that_is_time() {
        for (written, name) in [
            ("2026", "2026"),
            ("2025-26", "2025-26"),
            ("2025/26", "2025-26"),
            ("2025-2026", "2025-26"),
            ("1999/2000", "1999-00"),
            ("2026-09", "2026-09"),
            ("2026-9", "2026-09"),
            ("202609", "2026-09"),
            ("2026-09-01", "2026-09"),
            ("01/09/2026", "2026-09"),
            ("1/9/2026", "2026-09"),
            ("01SEP2026", "2026-09"),
            ("01sep2026", "2026-09"),
            ("2026Q3", "2026-Q3"),
            ("2026-Q3", "2026-Q3"),
            ("Q3 2026", "2026-Q3"),
            (" q3-2026 ", "2026-Q3"),
        ] {
            assert_eq!(period_name(written).as_deref(), Some(name), "{written}");
        }
        for written in [
            "",
            "Sep 2026",
            "2026-13",
            "2026-00",
            "202613",
            "26",
            "2025-27",
            "2026Q5",
            "Q3",
            "2026-09-01T00:00",
            "3/2026",
            "é2026",
            "01SEPT2026",
            "20260",
        ] {
            assert_eq!(period_name(written), None, "{written:?}");
        }
        // What "latest" and run charts rely on.
        let mut quarters: Vec<String> = ["Q1 2027", "Q4 2026", "2026Q3"]
            .iter()
            .map(|q| period_name(q).unwrap())
            .collect();
        quarters.sort();
        assert_eq!(quarters, ["2026-Q3", "2026-Q4", "2027-Q1"]);
    }

    /// An output's periods written as an extract writes them are named as
    /// the reports order them; one that cannot be ordered fails the
    /// indicator, naming the value and what would do.
    #[tokio::test]
    async fn an_output_period_is_named_or_refused() {
        let ctx = SessionContext::new();
        let sql = |periods: &str| {
            let mut ind = Indicator::parse(Path::new("dna_rate.sql"), GOOD).unwrap();
            ind.sql = format!(
                "SELECT 'A81001' AS practice_code, p AS period, 5 AS numerator, 100 AS denominator FROM (VALUES {periods}) AS t(p)"
            );
            ind
        };
        let rows = run_indicator(&ctx, &sql("('Q4 2026'), ('2027Q1'), ('Q3 2026')"), LIMIT)
            .await
            .unwrap();
        let periods: Vec<&str> = rows.iter().map(|r| r.period.as_str()).collect();
        assert_eq!(periods, ["2026-Q3", "2026-Q4", "2027-Q1"]);
        // Two ways of writing one period are one period: two rows for it.
        let err = run_indicator(&ctx, &sql("('2025/26'), ('2025-26')"), LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than one row for practice A81001 in period 2025-26"),
            "{err}"
        );
        let err = run_indicator(&ctx, &sql("('Sep 2026')"), LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("period \"Sep 2026\" is not one peerbench can put in order: return a DATE for a month, or text such as 2026-09 (a month)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn runs_read_only_and_checks_the_contract() {
        let ctx = SessionContext::new();
        let ind = Indicator::parse(Path::new("dna_rate.sql"), GOOD).unwrap();
        let rows = run_indicator(&ctx, &ind, LIMIT).await.unwrap();
        assert_eq!(
            rows,
            vec![IndicatorRow {
                practice_code: "A81001".into(),
                period: "2026-09".into(),
                numerator: Some(5.0),
                denominator: Some(100.0),
                strata: Vec::new(),
            }]
        );

        let mut ddl = ind.clone();
        ddl.sql = "CREATE TABLE x AS SELECT 1".into();
        assert!(matches!(
            run_indicator(&ctx, &ddl, LIMIT).await,
            Err(IndicatorError::Sql { .. })
        ));

        // No reading of files or URLs, no SET or COPY: refused, not run.
        for sql in [
            "SELECT * FROM '/etc/passwd'",
            "SET datafusion.execution.batch_size = 1",
            "COPY (SELECT 1) TO '/tmp/peerbench-sandbox-test.csv'",
        ] {
            let mut bad = ind.clone();
            bad.sql = sql.into();
            assert!(
                matches!(
                    run_indicator(&ctx, &bad, LIMIT).await,
                    Err(IndicatorError::Sql { .. })
                ),
                "{sql} was not refused"
            );
        }
        assert!(!Path::new("/tmp/peerbench-sandbox-test.csv").exists());

        let mut missing = ind.clone();
        missing.sql = "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, 5 AS num, 100 AS denominator".into();
        let err = run_indicator(&ctx, &missing, LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"numerator\"") && err.contains("num, denominator"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn standardised_output_is_checked_band_by_band() {
        let ctx = SessionContext::new();
        let dsr = GOOD.replace("value_type = \"proportion\"", "value_type = \"dsr\"");
        let mut ind = Indicator::parse(Path::new("dna_rate.sql"), &dsr).unwrap();
        assert_eq!(
            (ind.multiplier, ind.units.as_str()),
            (100_000.0, "per 100,000 (age-standardised)")
        );
        let err = run_indicator(&ctx, &ind, LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"age_band\""), "{err}");

        let select = |band: &str, sex: &str| {
            format!(
                "SELECT 'A81001' AS practice_code, DATE '2026-09-01' AS period, '{band}' AS age_band, '{sex}' AS sex, 5 AS numerator, 100 AS denominator"
            )
        };
        ind.sql = format!("{} UNION ALL {}", select("0_4", "M"), select("90+", "F"));
        let rows = run_indicator(&ctx, &ind, LIMIT).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].numerator, rows[0].denominator),
            (Some(10.0), Some(200.0))
        );
        assert_eq!(
            rows[0]
                .strata
                .iter()
                .map(|s| (s.band, s.sex))
                .collect::<Vec<_>>(),
            vec![(0, Sex::Male), (18, Sex::Female)]
        );

        ind.sql = select("95+", "M");
        let err = run_indicator(&ctx, &ind, LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("fold 90-94 and 95+ into 90+"), "{err}");
        ind.sql = select("0-4", "X");
        let err = run_indicator(&ctx, &ind, LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("sex \"X\""), "{err}");
        ind.sql = format!("{} UNION ALL {}", select("0-4", "M"), select("0_4", "male"));
        let err = run_indicator(&ctx, &ind, LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("age band 0-4, sex Male"), "{err}");

        // Labels are read once per distinct pair: rows repeating a pair read
        // as the first did, and a row missing its sex after them is refused.
        let other = select("0-4", "M").replace("A81001", "A81002");
        ind.sql = format!("{} UNION ALL {other}", select("0-4", "M"));
        let rows = run_indicator(&ctx, &ind, LIMIT).await.unwrap();
        let strata: Vec<Vec<(usize, Sex)>> = rows
            .iter()
            .map(|r| r.strata.iter().map(|s| (s.band, s.sex)).collect())
            .collect();
        assert_eq!(strata, [[(0, Sex::Male)], [(0, Sex::Male)]]);
        let no_sex = select("0-4", "M").replace("'M' AS sex", "CAST(NULL AS VARCHAR) AS sex");
        ind.sql = format!(
            "{} UNION ALL {other} UNION ALL {no_sex}",
            select("0-4", "M")
        );
        let err = run_indicator(&ctx, &ind, LIMIT)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no sex"), "{err}");

        let isr = GOOD.replace(
            "value_type = \"proportion\"",
            "value_type = \"isr\"\nmultiplier = 1000",
        );
        let err = Indicator::parse(Path::new("dna_rate.sql"), &isr)
            .unwrap_err()
            .to_string();
        assert!(err.contains("O/E × 100"), "{err}");
    }
}
