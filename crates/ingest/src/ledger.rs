//! The load ledger: for each source's load, each file's content hash, what
//! became of its rows, the table version the load committed and the
//! definition it was checked under. Loading the same files under the same
//! definition again changes nothing; a change to either reloads.

use crate::PracticeCodes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use peerbench_warehouse::Warehouse;
use sha2::{Digest, Sha256};

use crate::extraction::hex;
use crate::outcome::{FileOutcome, IngestSummary, SourceOutcome, count_by_check};
use crate::quarantine::logged_rows;
use crate::source::rejection_warning;
use crate::tables::{int64s, strings};
use crate::{IngestError, QuarantinedRow, Result, Source};

pub const LEDGER_TABLE: &str = "load_ledger";

/// Bumped whenever a check changes what it accepts, so that files loaded
/// under the old checks are read again.
const CHECKS_REVISION: u32 = 2;

fn ledger_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
        Field::new("rows_loaded", DataType::Int64, false),
        Field::new("rows_quarantined", DataType::Int64, false),
        Field::new("table_version", DataType::Int64, false),
        // Added after the first release: older ledgers read them as null.
        Field::new("rows_superseded", DataType::Int64, true),
        Field::new("definition", DataType::Utf8, true),
        // rows_read = rows_loaded + rows_quarantined + rows_superseded, checked
        // before the load commits.
        Field::new("rows_read", DataType::Int64, true),
        // The file's real path (`FileOutcome::key`); `file` is as the
        // working directory saw it. Null in older ledgers, whose
        // loads are read again once rather than trusted by a name that
        // depended on where the run was started.
        Field::new("file_key", DataType::Utf8, true),
    ]))
}

/// `sql` over the ledger, None when there is none yet. A ledger written
/// before a column was added (`file_key`, and earlier `rows_superseded`,
/// `definition`, `rows_read`) reads that column as null until the next
/// load appends with it, rather than failing the query: `run --as-of` must
/// still read the ledger of a warehouse this release has not loaded into.
async fn query_ledger(warehouse: &Warehouse, sql: &str) -> Result<Option<Vec<RecordBatch>>> {
    use datafusion::prelude::{SessionContext, cast, lit};
    if warehouse.version(LEDGER_TABLE).await?.is_none() {
        return Ok(None);
    }
    let ctx = SessionContext::new();
    warehouse.register(&ctx, LEDGER_TABLE, None).await?;
    let mut ledger = ctx.table(LEDGER_TABLE).await?;
    let mut added = false;
    for field in ledger_schema().fields() {
        if !ledger
            .schema()
            .has_column_with_unqualified_name(field.name())
        {
            let null = cast(
                lit(datafusion::scalar::ScalarValue::Null),
                field.data_type().clone(),
            );
            ledger = ledger.with_column(field.name(), null)?;
            added = true;
        }
    }
    if added {
        ctx.deregister_table(LEDGER_TABLE)?;
        ctx.register_table(LEDGER_TABLE, ledger.into_view())?;
    }
    Ok(Some(ctx.sql(sql).await?.collect().await?))
}

/// Records a committed load of `table`: one ledger row per file.
pub(crate) async fn record(
    warehouse: &Warehouse,
    table: &str,
    files: &[FileOutcome],
    version: u64,
    definition: &str,
) -> Result<()> {
    let n = files.len();
    let counts = |count: fn(&FileOutcome) -> usize| {
        Arc::new(Int64Array::from(
            files.iter().map(|f| count(f) as i64).collect::<Vec<_>>(),
        ))
    };
    let ledger = RecordBatch::try_new(
        ledger_schema(),
        vec![
            Arc::new(StringArray::from(vec![table.to_string(); n])),
            Arc::new(StringArray::from(
                files.iter().map(|f| f.file.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                files.iter().map(|f| f.sha256.clone()).collect::<Vec<_>>(),
            )),
            counts(|f| f.rows_loaded),
            counts(|f| f.rows_quarantined),
            Arc::new(Int64Array::from(vec![version as i64; n])),
            counts(|f| f.rows_superseded),
            Arc::new(StringArray::from(vec![definition.to_string(); n])),
            counts(|f| f.rows_read),
            Arc::new(StringArray::from(
                files.iter().map(|f| f.key.clone()).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(IngestError::arrow(format!(
        "table {LEDGER_TABLE}: building the rows of source {table}"
    )))?;
    warehouse
        .append(LEDGER_TABLE, ledger_schema(), vec![ledger], HashMap::new())
        .await?;
    Ok(())
}

/// The (file key, sha256) pairs of the source's latest recorded load.
pub(crate) async fn last_loaded(
    warehouse: &Warehouse,
    table: &str,
    definition: &str,
) -> Result<HashSet<(String, String)>> {
    let sql = format!(
        "SELECT file_key, sha256 FROM {LEDGER_TABLE} WHERE source = '{table}' \
         AND definition = '{definition}' AND table_version = \
         (SELECT max(table_version) FROM {LEDGER_TABLE} WHERE source = '{table}')"
    );
    // A ledger from before `definition` existed cannot vouch for the last
    // load: reload.
    let Ok(batches) = query_ledger(warehouse, &sql).await else {
        return Ok(HashSet::new());
    };
    let mut out = HashSet::new();
    for batch in batches.unwrap_or_default() {
        let keys = strings(LEDGER_TABLE, batch.column(0))?;
        let hashes = strings(LEDGER_TABLE, batch.column(1))?;
        for (key, hash) in keys.into_iter().zip(hashes) {
            // A load recorded before file keys: it cannot vouch for files
            // found from this working directory, so read them again.
            let (Some(key), Some(hash)) = (key, hash) else {
                return Ok(HashSet::new());
            };
            out.insert((key, hash));
        }
    }
    Ok(out)
}

/// What a load's outcome depends on besides its files: the checks, the
/// source's definition (columns, aliases, formats, thresholds) and, when rows
/// are checked against it, the practice register. A change to any of them
/// reloads files that are themselves unchanged.
pub(crate) fn load_definition(source: &Source, known_practices: Option<&PracticeCodes>) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "peerbench {} checks {CHECKS_REVISION}\n{:?}\n{} {} {} {}\n",
        env!("CARGO_PKG_VERSION"),
        source.shape,
        source.max_rejected_pct,
        source.warn_rejected_pct,
        source.check_register,
        source.max_quoted_lines
    ));
    if source.check_register
        && let Some(known) = known_practices
    {
        let mut codes: Vec<&String> = known.iter().collect();
        codes.sort();
        for code in codes {
            h.update(code.as_bytes());
            h.update(b",");
        }
    }
    hex(&h.finalize())
}

/// When each file content (by hash) was first loaded into `table`: the
/// table version of its first load. Files never loaded are absent.
pub(crate) async fn first_loaded(
    warehouse: &Warehouse,
    table: &str,
) -> Result<HashMap<String, i64>> {
    let sql = format!(
        "SELECT sha256, min(table_version) FROM {LEDGER_TABLE} WHERE source = '{table}' GROUP BY sha256"
    );
    let mut out = HashMap::new();
    for b in query_ledger(warehouse, &sql).await?.unwrap_or_default() {
        let versions = int64s(LEDGER_TABLE, b.column(1))?;
        for (h, v) in strings(LEDGER_TABLE, b.column(0))?
            .into_iter()
            .zip(versions)
        {
            if let Some(h) = h {
                out.insert(h, v);
            }
        }
    }
    Ok(out)
}

/// The source's latest load as the ledger records it, for `plan`.
#[derive(Debug, Default)]
pub(crate) struct LastLoad {
    /// File key → hash and the name the load gave the file.
    pub files: BTreeMap<String, (String, String)>,
    /// The definitions the files were checked under.
    pub definitions: BTreeSet<String>,
    /// Recorded before file keys: read again, as `last_loaded` has it.
    pub before_keys: bool,
}

/// The files of the source's latest load and what they were checked
/// under; empty when the ledger cannot say.
pub(crate) async fn latest_files(warehouse: &Warehouse, table: &str) -> Result<LastLoad> {
    let t = table;
    let sql = format!(
        "SELECT coalesce(file_key, file), sha256, definition, file, file_key IS NULL \
         FROM {LEDGER_TABLE} WHERE source = '{t}' AND table_version = \
         (SELECT max(table_version) FROM {LEDGER_TABLE} WHERE source = '{t}')"
    );
    let mut last = LastLoad::default();
    for b in query_ledger(warehouse, &sql)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
    {
        let (k, h, d, f) = (
            strings(LEDGER_TABLE, b.column(0))?,
            strings(LEDGER_TABLE, b.column(1))?,
            strings(LEDGER_TABLE, b.column(2))?,
            strings(LEDGER_TABLE, b.column(3))?,
        );
        let unkeyed = b
            .column(4)
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .is_none_or(|a| a.iter().any(|v| v != Some(false)));
        last.before_keys |= unkeyed;
        for r in 0..b.num_rows() {
            last.files.insert(
                k[r].clone().unwrap_or_default(),
                (
                    h[r].clone().unwrap_or_default(),
                    f[r].clone().unwrap_or_default(),
                ),
            );
            last.definitions.insert(d[r].clone().unwrap_or_default());
        }
    }
    Ok(last)
}

/// A file's rows as the ledger counts them: loaded, quarantined, superseded.
type Counts = [i64; 3];

/// A file of a recorded load: the name that load gave it and its rows.
struct Recorded {
    file: String,
    counts: Counts,
}

/// The source's latest load in the ledger: each file's counts by key and
/// the table version it committed. None when the ledger holds no load of
/// it. (A load from before `rows_superseded` superseded nothing: 0.)
async fn latest_load(
    warehouse: &Warehouse,
    table: &str,
    at: Option<u64>,
) -> Result<Option<(HashMap<String, Recorded>, i64)>> {
    let ledger = query_ledger(
        warehouse,
        &format!(
            "SELECT coalesce(file_key, file), rows_loaded, rows_quarantined, coalesce(rows_superseded, 0), \
             table_version, file \
             FROM {LEDGER_TABLE} WHERE source = '{table}' AND table_version = {}",
            load_at(table, at)
        ),
    )
    .await;
    // No ledger, or one that cannot be read: reload instead.
    let Ok(Some(ledger)) = ledger else {
        return Ok(None);
    };
    let mut counts: HashMap<String, Recorded> = HashMap::new();
    let mut version = None;
    for b in ledger {
        let files = strings(LEDGER_TABLE, b.column(5))?;
        let (loaded, quarantined, superseded) = (
            int64s(LEDGER_TABLE, b.column(1))?,
            int64s(LEDGER_TABLE, b.column(2))?,
            int64s(LEDGER_TABLE, b.column(3))?,
        );
        version = int64s(LEDGER_TABLE, b.column(4))?
            .first()
            .copied()
            .or(version);
        for (r, key) in strings(LEDGER_TABLE, b.column(0))?.into_iter().enumerate() {
            counts.insert(
                key.unwrap_or_default(),
                Recorded {
                    file: files[r].clone().unwrap_or_default(),
                    counts: [loaded[r], quarantined[r], superseded[r]],
                },
            );
        }
    }
    Ok(version.map(|v| (counts, v)))
}

/// The ledger's table version of the load in effect at version `at` of
/// `table` (the latest load when None), as SQL.
fn load_at(table: &str, at: Option<u64>) -> String {
    let bound = at.map_or(String::new(), |v| format!(" AND table_version <= {v}"));
    format!("(SELECT max(table_version) FROM {LEDGER_TABLE} WHERE source = '{table}'{bound})")
}

/// The sources' outcomes as a run that read these table versions saw them
/// (`run --as-of`): from the ledger and the quarantine log of the loads in
/// effect at those versions, reading no file. A source whose record is
/// missing or incomplete has a warning saying so instead of figures.
pub async fn outcome_at(
    warehouse: &Warehouse,
    sources: &[Source],
    versions: &BTreeMap<String, u64>,
) -> Result<IngestSummary> {
    let mut summary = IngestSummary {
        sources: Vec::new(),
        quarantined: Vec::new(),
        unclaimed: Vec::new(),
    };
    for source in sources {
        let Some(&version) = versions.get(&source.table) else {
            continue;
        };
        let t = &source.table;
        let sql = format!(
            "SELECT file, coalesce(file_key, file), sha256 FROM {LEDGER_TABLE} \
             WHERE source = '{t}' AND table_version = {} ORDER BY file",
            load_at(t, Some(version))
        );
        let mut files = Vec::new();
        for b in query_ledger(warehouse, &sql).await?.unwrap_or_default() {
            let (names, keys, hashes) = (
                strings(LEDGER_TABLE, b.column(0))?,
                strings(LEDGER_TABLE, b.column(1))?,
                strings(LEDGER_TABLE, b.column(2))?,
            );
            for ((file, key), sha256) in names.into_iter().zip(keys).zip(hashes) {
                files.push(FileOutcome::unread(
                    file.unwrap_or_default(),
                    key.unwrap_or_default(),
                    sha256.unwrap_or_default(),
                ));
            }
        }
        match unchanged_outcome(warehouse, source, files.clone(), Some(version)).await? {
            Some((outcome, rejected)) => {
                summary.sources.push(outcome);
                summary.quarantined.extend(rejected);
            }
            None => summary.sources.push(SourceOutcome {
                table: t.clone(),
                warning: Some(format!(
                    "the load record of version {version} is incomplete: its row counts are not shown"
                )),
                files,
                committed_version: None,
                quarantine_by_check: BTreeMap::new(),
                resubmissions: Vec::new(),
            }),
        }
    }
    Ok(summary)
}

/// An unchanged source's outcome, from the ledger and the quarantine log
/// of its last load: the files are not read again. None when the warehouse
/// predates what this needs (then the source is simply reloaded).
pub(crate) async fn unchanged_outcome(
    warehouse: &Warehouse,
    source: &Source,
    mut files: Vec<FileOutcome>,
    at: Option<u64>,
) -> Result<Option<(SourceOutcome, Vec<QuarantinedRow>)>> {
    let t = &source.table;
    let Some((counts, version)) = latest_load(warehouse, t, at).await? else {
        return Ok(None);
    };
    // The rows that load set aside, from the quarantine log: the
    // `quarantine` table may be from a later run that failed before
    // rewriting it, or from before this load.
    let Some(mut rejected) = logged_rows(warehouse, t, version).await? else {
        return Ok(None);
    };
    // A load killed between its ledger and its quarantine log, or a log
    // from before the log existed: the books do not balance, so reload.
    let logged: i64 = counts.values().map(|c| c.counts[1]).sum();
    if rejected.len() as i64 != logged {
        tracing::info!(
            target: crate::LOG_TARGET,
            table = t,
            "the quarantine log does not match the ledger; reloading"
        );
        return Ok(None);
    }
    // The rows are named as the run that loaded them named their files;
    // this run may have been started from another folder.
    let mut renamed: HashMap<&str, &str> = HashMap::new();
    for f in &files {
        let Some(recorded) = counts.get(&f.key) else {
            return Ok(None);
        };
        if recorded.file != f.file {
            renamed.insert(&recorded.file, &f.file);
        }
    }
    for q in &mut rejected {
        if let Some(now) = renamed.get(q.file.as_str()) {
            q.reason = q.reason.replace(&q.file, now);
            q.file = now.to_string();
        }
    }
    for f in &mut files {
        let Some(Recorded {
            counts: [loaded, quarantined, superseded],
            ..
        }) = counts.get(&f.key)
        else {
            return Ok(None);
        };
        f.rows_loaded = *loaded as usize;
        f.rows_quarantined = *quarantined as usize;
        f.rows_superseded = *superseded as usize;
        f.rows_read = f.rows_loaded + f.rows_quarantined + f.rows_superseded;
        f.error = rejected
            .iter()
            .find(|q| q.file == f.file && q.line == 0)
            .map(|q| q.reason.clone());
    }
    let by_check = count_by_check(&rejected);
    Ok(Some((
        SourceOutcome {
            table: t.clone(),
            warning: rejection_warning(source, &files),
            files,
            committed_version: None,
            quarantine_by_check: by_check,
            resubmissions: Vec::new(),
        },
        rejected,
    )))
}
